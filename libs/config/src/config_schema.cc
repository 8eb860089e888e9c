#include "parallax/config/config_schema.h"

#include <cctype>
#include <charconv>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

extern char** environ;

namespace parallax::config {
namespace {

using nlohmann::json;

absl::Status TypeError(const std::string& key, const std::string& type) {
  return absl::InvalidArgumentError("config key '" + key + "' must be " + type);
}

template <class T>
absl::Status ParseInteger(const std::string& key, const std::string& text, T* out) {
  T value{};
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return TypeError(key, "an integer");
  *out = value;
  return absl::OkStatus();
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

absl::Status ParseDuration(const std::string& text, std::chrono::milliseconds* out) {
  if (text.empty()) return absl::InvalidArgumentError("empty duration");
  size_t digits = 0;
  while (digits < text.size() && (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.')) ++digits;
  if (digits == 0) return absl::InvalidArgumentError("duration must start with a number");
  double number = 0;
  try {
    number = std::stod(text.substr(0, digits));
  } catch (...) {
    return absl::InvalidArgumentError("duration must start with a number");
  }
  std::string unit = text.substr(digits);
  double ms;
  if (unit.empty() || unit == "ms") ms = number;
  else if (unit == "s") ms = number * 1000;
  else if (unit == "m") ms = number * 60'000;
  else if (unit == "h") ms = number * 3'600'000;
  else return absl::InvalidArgumentError("duration unit must be ms, s, m or h");
  *out = std::chrono::milliseconds(static_cast<int64_t>(ms));
  return absl::OkStatus();
}

namespace {

template <class T>
ConfigSchema::Binding IntegerBinding(const std::string& key, T* target, const std::string& help) {
  return {"integer", help,
          [key, target](const void* p) {
            const json& j = *static_cast<const json*>(p);
            if (!j.is_number_integer()) return TypeError(key, "an integer");
            const int64_t v = j.get<int64_t>();
            if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) {
              return TypeError(key, "an integer in range");
            }
            *target = static_cast<T>(v);
            return absl::OkStatus();
          },
          [key, target](const std::string& t) { return ParseInteger(key, t, target); }};
}

}  // namespace

void ConfigSchema::Field(const std::string& key, int* target, const std::string& help) {
  fields_[key] = IntegerBinding(key, target, help);
}

void ConfigSchema::Field(const std::string& key, int64_t* target, const std::string& help) {
  fields_[key] = IntegerBinding(key, target, help);
}

void ConfigSchema::Field(const std::string& key, double* target, const std::string& help) {
  fields_[key] = {"number", help,
                  [key, target](const void* p) {
                    const json& j = *static_cast<const json*>(p);
                    if (!j.is_number()) return TypeError(key, "a number");
                    *target = j.get<double>();
                    return absl::OkStatus();
                  },
                  [key, target](const std::string& t) {
                    try {
                      size_t used = 0;
                      double v = std::stod(t, &used);
                      if (used != t.size()) return TypeError(key, "a number");
                      *target = v;
                      return absl::OkStatus();
                    } catch (...) {
                      return TypeError(key, "a number");
                    }
                  }};
}

void ConfigSchema::Field(const std::string& key, bool* target, const std::string& help) {
  fields_[key] = {"boolean", help,
                  [key, target](const void* p) {
                    const json& j = *static_cast<const json*>(p);
                    if (!j.is_boolean()) return TypeError(key, "true or false");
                    *target = j.get<bool>();
                    return absl::OkStatus();
                  },
                  [key, target](const std::string& t) {
                    if (t == "true" || t == "1") *target = true;
                    else if (t == "false" || t == "0") *target = false;
                    else return TypeError(key, "true or false");
                    return absl::OkStatus();
                  }};
}

void ConfigSchema::Field(const std::string& key, std::string* target, const std::string& help) {
  fields_[key] = {"string", help,
                  [key, target](const void* p) {
                    const json& j = *static_cast<const json*>(p);
                    if (!j.is_string()) return TypeError(key, "a string");
                    *target = j.get<std::string>();
                    return absl::OkStatus();
                  },
                  [target](const std::string& t) {
                    *target = t;
                    return absl::OkStatus();
                  }};
}

void ConfigSchema::Field(const std::string& key, std::vector<std::string>* target, const std::string& help) {
  fields_[key] = {"list of strings (comma-separated in the environment)", help,
                  [key, target](const void* p) {
                    const json& j = *static_cast<const json*>(p);
                    if (!j.is_array()) return TypeError(key, "a list of strings");
                    std::vector<std::string> values;
                    for (const json& item : j) {
                      if (!item.is_string()) return TypeError(key, "a list of strings");
                      values.push_back(item.get<std::string>());
                    }
                    *target = std::move(values);
                    return absl::OkStatus();
                  },
                  [target](const std::string& t) {
                    std::vector<std::string> values;
                    std::stringstream in(t);
                    std::string item;
                    while (std::getline(in, item, ',')) {
                      if (!item.empty()) values.push_back(item);
                    }
                    *target = std::move(values);
                    return absl::OkStatus();
                  }};
}

void ConfigSchema::Field(const std::string& key, std::chrono::milliseconds* target, const std::string& help) {
  auto from_text = [key, target](const std::string& t) {
    absl::Status s = ParseDuration(t, target);
    if (!s.ok()) return TypeError(key, "a duration such as \"10s\" or \"250ms\"");
    return absl::OkStatus();
  };
  fields_[key] = {"duration", help,
                  [key, target, from_text](const void* p) {
                    const json& j = *static_cast<const json*>(p);
                    if (j.is_number()) {
                      *target = std::chrono::milliseconds(static_cast<int64_t>(j.get<double>()));
                      return absl::OkStatus();
                    }
                    if (j.is_string()) return from_text(j.get<std::string>());
                    return TypeError(key, "a duration such as \"10s\" or \"250ms\"");
                  },
                  from_text};
}

absl::Status ConfigSchema::ApplyJson(const std::string& json_text, const std::string& source_name) {
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::parse_error& e) {
    return absl::InvalidArgumentError(source_name + ": malformed JSON: " + e.what());
  }
  if (!doc.is_object()) return absl::InvalidArgumentError(source_name + ": the configuration must be a JSON object");
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    auto field = fields_.find(it.key());
    if (field == fields_.end()) {
      return absl::InvalidArgumentError(source_name + ": unknown config key '" + it.key() + "'");
    }
    absl::Status s = field->second.from_json(&it.value());
    if (!s.ok()) return absl::InvalidArgumentError(source_name + ": " + std::string(s.message()));
  }
  return absl::OkStatus();
}

absl::Status ConfigSchema::ApplyFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("cannot read config file " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return ApplyJson(buffer.str(), path);
}

absl::Status ConfigSchema::ApplyEnvironment(const std::string& prefix, char** envp) {
  if (!envp) return absl::OkStatus();
  const std::string lead = prefix + "_";
  std::map<std::string, std::string> by_upper;
  for (const auto& [key, _] : fields_) by_upper[Upper(key)] = key;
  for (char** e = envp; *e; ++e) {
    std::string entry(*e);
    if (entry.rfind(lead, 0) != 0) continue;
    auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    std::string name = entry.substr(lead.size(), eq - lead.size());
    auto field = by_upper.find(name);
    if (field == by_upper.end()) {
      return absl::InvalidArgumentError("environment variable " + entry.substr(0, eq) + " names no config key");
    }
    absl::Status s = Set(field->second, entry.substr(eq + 1));
    if (!s.ok()) return absl::InvalidArgumentError("environment " + entry.substr(0, eq) + ": " + std::string(s.message()));
  }
  return absl::OkStatus();
}

absl::Status ConfigSchema::Set(const std::string& key, const std::string& value) {
  auto field = fields_.find(key);
  if (field == fields_.end()) return absl::InvalidArgumentError("unknown config key '" + key + "'");
  return field->second.from_text(value);
}

std::string ConfigSchema::Describe() const {
  std::string out;
  for (const auto& [key, f] : fields_) out += key + " (" + f.type + "): " + f.help + "\n";
  return out;
}

absl::Status LoadConfig(ConfigSchema& schema, const std::string& path, const std::string& env_prefix) {
  if (!path.empty()) {
    absl::Status s = schema.ApplyFile(path);
    if (!s.ok()) return s;
  }
  return schema.ApplyEnvironment(env_prefix, environ);
}

}  // namespace parallax::config

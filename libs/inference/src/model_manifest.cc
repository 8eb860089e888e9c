#include "parallax/inference/model_manifest.h"

#include <algorithm>
#include <set>

#include <absl/strings/ascii.h>
#include <absl/strings/str_cat.h>
#include <absl/strings/str_join.h>
#include <absl/strings/str_split.h>
#include <absl/strings/string_view.h>
#include <nlohmann/json.hpp>

namespace parallax::inference {
namespace {

using nlohmann::json;

// Walks a JSON object, remembering where it is so that every error names the
// field by its path ("labels[2].operating_point"). The first error wins.
class FieldReader {
 public:
  FieldReader(const json& object, std::string path, absl::Status* error)
      : object_(object), path_(std::move(path)), error_(error) {}

  bool ok() const { return error_->ok(); }

  std::string Path(absl::string_view key) const {
    return path_.empty() ? std::string(key) : absl::StrCat(path_, ".", key);
  }

  void Fail(std::string message) {
    if (error_->ok()) *error_ = absl::InvalidArgumentError(std::move(message));
  }

  // Rejects keys not in `known`, so a misspelt optional field is an error.
  void OnlyKeys(std::initializer_list<absl::string_view> known) {
    for (const auto& [key, value] : object_.items()) {
      bool found = false;
      for (absl::string_view k : known) found = found || k == key;
      if (!found) Fail(absl::StrCat("unknown key ", Path(key)));
    }
  }

  bool Has(absl::string_view key) const { return object_.contains(std::string(key)); }

  const json* Get(absl::string_view key, json::value_t type, absl::string_view type_name) {
    auto it = object_.find(std::string(key));
    if (it == object_.end()) {
      Fail(absl::StrCat(Path(key), " is missing"));
      return nullptr;
    }
    bool matches = it->type() == type ||
                   (type == json::value_t::number_float && it->is_number()) ||
                   (type == json::value_t::number_integer && it->is_number_unsigned());
    if (!matches) {
      Fail(absl::StrCat(Path(key), " must be ", type_name));
      return nullptr;
    }
    return &*it;
  }

  std::string String(absl::string_view key) {
    const json* v = Get(key, json::value_t::string, "a string");
    if (v == nullptr) return "";
    std::string s = v->get<std::string>();
    if (absl::StripAsciiWhitespace(s).empty()) Fail(absl::StrCat(Path(key), " must not be empty"));
    return s;
  }

  double Number(absl::string_view key) {
    const json* v = Get(key, json::value_t::number_float, "a number");
    return v == nullptr ? 0.0 : v->get<double>();
  }

  int PositiveInt(absl::string_view key) {
    const json* v = Get(key, json::value_t::number_integer, "an integer");
    if (v == nullptr) return 0;
    int64_t n = v->get<int64_t>();
    if (n < 1 || n > 1'000'000) {
      Fail(absl::StrCat(Path(key), " must be a positive integer (got ", n, ")"));
      return 0;
    }
    return static_cast<int>(n);
  }

  std::vector<std::string> StringList(absl::string_view key, bool allow_empty) {
    std::vector<std::string> out;
    const json* v = Get(key, json::value_t::array, "an array of strings");
    if (v == nullptr) return out;
    if (v->empty() && !allow_empty) Fail(absl::StrCat(Path(key), " must list at least one value"));
    for (size_t i = 0; i < v->size(); ++i) {
      const json& e = (*v)[i];
      if (!e.is_string() || e.get<std::string>().empty()) {
        Fail(absl::StrCat(Path(key), "[", i, "] must be a non-empty string"));
        continue;
      }
      out.push_back(e.get<std::string>());
    }
    return out;
  }

  // Calls `read(element_reader)` for each object of the array `key`.
  template <typename Fn>
  void Objects(absl::string_view key, bool required, Fn read) {
    if (!required && !Has(key)) return;
    const json* v = Get(key, json::value_t::array, "an array");
    if (v == nullptr) return;
    for (size_t i = 0; i < v->size() && ok(); ++i) {
      std::string path = absl::StrCat(Path(key), "[", i, "]");
      if (!(*v)[i].is_object()) {
        Fail(absl::StrCat(path, " must be an object"));
        return;
      }
      FieldReader element((*v)[i], path, error_);
      read(element);
    }
  }

  // Calls `read(child_reader)` for the object `key`.
  template <typename Fn>
  void Object(absl::string_view key, Fn read) {
    const json* v = Get(key, json::value_t::object, "an object");
    if (v == nullptr) return;
    FieldReader child(*v, Path(key), error_);
    read(child);
  }

 private:
  const json& object_;
  std::string path_;
  absl::Status* error_;
};

// A DICOM UID (PS3.5 9.1): digits and dots, at most 64 characters, no empty
// component, no leading zero in a multi-digit component.
bool IsDicomUid(const std::string& uid) {
  if (uid.empty() || uid.size() > 64) return false;
  for (absl::string_view part : absl::StrSplit(uid, '.')) {
    if (part.empty()) return false;
    if (part.size() > 1 && part[0] == '0') return false;
    for (char c : part) {
      if (c < '0' || c > '9') return false;
    }
  }
  return true;
}

}  // namespace

const std::vector<std::string>& KnownSeriesRoles() {
  static const std::vector<std::string> roles = {"T1", "T1_POST_CONTRAST", "T2", "FLAIR", "DWI"};
  return roles;
}

std::vector<int64_t> InputSpec::Shape(int64_t batch) const {
  if (depth == 1) return {batch, channels, height, width};
  return {batch, channels, depth, height, width};
}

absl::StatusOr<ModelManifest> ParseModelManifest(const std::string& json_text) {
  json root = json::parse(json_text, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    // Re-parse with exceptions only to get the position for the message.
    try {
      root = json::parse(json_text);
    } catch (const json::parse_error& e) {
      return absl::InvalidArgumentError(absl::StrCat("manifest is not JSON: ", e.what()));
    }
    return absl::InvalidArgumentError("manifest is not JSON");
  }
  if (!root.is_object()) return absl::InvalidArgumentError("manifest must be a JSON object");

  absl::Status error;
  ModelManifest m;
  FieldReader r(root, "", &error);
  r.OnlyKeys({"id", "version", "device_uid", "applies_to", "input", "labels", "measurements"});
  m.id = r.String("id");
  m.version = r.String("version");
  m.device_uid = r.String("device_uid");
  if (r.ok() && !IsDicomUid(m.device_uid)) {
    r.Fail(absl::StrCat("device_uid must be a DICOM UID (digits and dots, at most 64 characters), got \"",
                        m.device_uid, "\""));
  }

  r.Object("applies_to", [&](FieldReader& a) {
    a.OnlyKeys({"modality", "body_part", "view_position"});
    m.applies_to.modality = a.StringList("modality", /*allow_empty=*/false);
    m.applies_to.body_part = a.StringList("body_part", /*allow_empty=*/true);
    m.applies_to.view_position = a.StringList("view_position", /*allow_empty=*/true);
  });

  r.Object("input", [&](FieldReader& in) {
    in.OnlyKeys({"channels", "height", "width", "depth", "windows", "normalisation", "series"});
    m.input.channels = in.PositiveInt("channels");
    m.input.height = in.PositiveInt("height");
    m.input.width = in.PositiveInt("width");
    m.input.depth = in.PositiveInt("depth");
    if (!in.ok()) return;
    if (in.Has("series")) {
      m.input.series = in.StringList("series", /*allow_empty=*/false);
      if (!in.ok()) return;
      const auto& known = KnownSeriesRoles();
      std::set<std::string> seen;
      for (size_t i = 0; i < m.input.series.size(); ++i) {
        const std::string& role = m.input.series[i];
        const std::string path = absl::StrCat(in.Path("series"), "[", i, "]");
        if (std::find(known.begin(), known.end(), role) == known.end()) {
          in.Fail(absl::StrCat(path, " \"", role, "\" is not a known series role (",
                               absl::StrJoin(known, ", "), ")"));
          return;
        }
        if (!seen.insert(role).second) {
          in.Fail(absl::StrCat(path, " \"", role, "\" is listed twice"));
          return;
        }
      }
      if (static_cast<int>(m.input.series.size()) != m.input.channels) {
        in.Fail(absl::StrCat(in.Path("series"), " must list one series role per channel (", m.input.channels,
                             "), got ", m.input.series.size()));
        return;
      }
    }
    bool has_windows = in.Has("windows");
    bool has_norm = in.Has("normalisation");
    if (has_windows == has_norm) {
      in.Fail(absl::StrCat(in.Path("windows"), " (CT, in HU) or ", in.Path("normalisation"),
                           " must be given, and not both"));
      return;
    }
    if (has_norm) {
      in.Object("normalisation", [&](FieldReader& n) {
        n.OnlyKeys({"mean", "std", "mode"});
        std::string mode = n.Has("mode") ? n.String("mode") : "fixed";
        if (!n.ok()) return;
        if (mode == "volume_zscore") {
          if (n.Has("mean") || n.Has("std")) {
            n.Fail(absl::StrCat(n.Path("mode"), " \"volume_zscore\" measures mean and std per volume; remove ",
                                n.Path(n.Has("mean") ? "mean" : "std")));
            return;
          }
          m.input.normalisation = Normalisation{.mode = NormalisationMode::kVolumeZScore};
          return;
        }
        if (mode != "fixed") {
          n.Fail(absl::StrCat(n.Path("mode"), " must be \"fixed\" or \"volume_zscore\" (got \"", mode, "\")"));
          return;
        }
        Normalisation norm{.mean = n.Number("mean"), .std = n.Number("std")};
        if (n.ok() && !(norm.std > 0)) n.Fail(absl::StrCat(n.Path("std"), " must be > 0"));
        m.input.normalisation = norm;
      });
      return;
    }
    in.Objects("windows", /*required=*/true, [&](FieldReader& w) {
      w.OnlyKeys({"center", "width"});
      Window window{.center = w.Number("center"), .width = w.Number("width")};
      if (w.ok() && !(window.width > 0)) w.Fail(absl::StrCat(w.Path("width"), " must be > 0"));
      m.input.windows.push_back(window);
    });
    if (in.ok() && static_cast<int>(m.input.windows.size()) != m.input.channels) {
      in.Fail(absl::StrCat(in.Path("windows"), " must list one window per channel (", m.input.channels,
                           "), got ", m.input.windows.size()));
    }
  });

  std::set<std::string> label_names;
  r.Objects("labels", /*required=*/true, [&](FieldReader& l) {
    l.OnlyKeys({"name", "code", "operating_point"});
    Label label;
    label.name = l.String("name");
    l.Object("code", [&](FieldReader& c) {
      c.OnlyKeys({"system", "code", "display"});
      label.code.system = c.String("system");
      label.code.code = c.String("code");
      label.code.display = c.String("display");
    });
    label.operating_point = l.Number("operating_point");
    if (l.ok() && !(label.operating_point >= 0.0 && label.operating_point <= 1.0)) {
      l.Fail(absl::StrCat(l.Path("operating_point"), " must be within [0,1] (got ", label.operating_point,
                          ")"));
    }
    if (l.ok() && !label_names.insert(label.name).second) {
      l.Fail(absl::StrCat(l.Path("name"), " \"", label.name, "\" is used by an earlier label"));
    }
    m.labels.push_back(std::move(label));
  });
  if (r.ok() && m.labels.empty()) r.Fail("labels must list at least one label");

  r.Objects("measurements", /*required=*/false, [&](FieldReader& e) {
    e.OnlyKeys({"name", "unit"});
    m.measurements.push_back(Measurement{.name = e.String("name"), .unit = e.String("unit")});
  });

  if (!error.ok()) return error;
  return m;
}

}  // namespace parallax::inference

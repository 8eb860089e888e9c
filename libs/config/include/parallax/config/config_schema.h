#pragma once
// Binds the fields of a service's typed config struct to names, so the
// struct can be filled from a JSON file and then from environment variables.
//
//   IngestConfig cfg;                       // defaults live in the struct
//   ConfigSchema schema;
//   schema.Field("dicom_port", &cfg.dicom_port, "C-STORE SCP port");
//   absl::Status s = LoadConfig(schema, "/etc/parallax/ingest.json", "PARALLAX_INGEST");
//
// A key in the file that no field declares is an error, and so is an
// environment variable PARALLAX_INGEST_<X> where <X> is no field: a typo
// fails at start-up instead of being silently ignored. Durations accept a
// number of milliseconds or a string such as "10s", "250ms", "2m".
//
// Not thread-safe; used once at start-up. The bound targets must outlive it.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <absl/status/status.h>

namespace parallax::config {

class ConfigSchema {
 public:
  void Field(const std::string& key, int* target, const std::string& help);
  void Field(const std::string& key, int64_t* target, const std::string& help);
  void Field(const std::string& key, double* target, const std::string& help);
  void Field(const std::string& key, bool* target, const std::string& help);
  void Field(const std::string& key, std::string* target, const std::string& help);
  void Field(const std::string& key, std::vector<std::string>* target, const std::string& help);
  void Field(const std::string& key, std::chrono::milliseconds* target, const std::string& help);

  // Applies the JSON object in `json_text`. INVALID_ARGUMENT naming the key
  // (and never its value) on an unknown key or a value of the wrong type;
  // INVALID_ARGUMENT with the parser's position on malformed JSON.
  absl::Status ApplyJson(const std::string& json_text, const std::string& source_name);

  // Reads and applies a JSON file. NOT_FOUND when it cannot be read.
  absl::Status ApplyFile(const std::string& path);

  // Applies every environment variable named <prefix>_<KEY> (KEY upper-cased).
  // INVALID_ARGUMENT on a variable with the prefix that names no field.
  absl::Status ApplyEnvironment(const std::string& prefix, char** envp);

  // Applies one textual value ("key=value" command-line overrides).
  absl::Status Set(const std::string& key, const std::string& value);

  // One line per field: key, type, help.
  std::string Describe() const;

 public:
  struct Binding {
    std::string type;
    std::string help;
    std::function<absl::Status(const void* json)> from_json;  // nlohmann::json*
    std::function<absl::Status(const std::string&)> from_text;
  };

 private:
  std::map<std::string, Binding> fields_;
};

// ApplyFile(path) when path is non-empty, then ApplyEnvironment(env_prefix, environ).
absl::Status LoadConfig(ConfigSchema& schema, const std::string& path, const std::string& env_prefix);

// Parses "250ms", "10s", "2m", "1h" or a plain number of milliseconds.
absl::Status ParseDuration(const std::string& text, std::chrono::milliseconds* out);

}  // namespace parallax::config

#pragma once
// Structured, line-oriented logging to stderr: one line per event,
//   2026-12-04T15:25:21.123Z INFO ingest stored sop=1.2.3 bytes=524288
// Thread-safe: each line is written with a single write(2).
//
// Patient data never goes into a log line: log internal ids and UIDs only.
// The Field type makes the key explicit so a reviewer can see what is logged.
#include <initializer_list>
#include <string>
#include <string_view>

namespace parallax::log {

enum class Level { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v ? v : "") {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, long long v) : key(k), value(std::to_string(v)) {}
  Field(std::string_view k, unsigned long long v) : key(k), value(std::to_string(v)) {}
  Field(std::string_view k, int v) : key(k), value(std::to_string(v)) {}
  Field(std::string_view k, unsigned v) : key(k), value(std::to_string(v)) {}
  Field(std::string_view k, long v) : key(k), value(std::to_string(v)) {}
  Field(std::string_view k, unsigned long v) : key(k), value(std::to_string(v)) {}
  Field(std::string_view k, double v) : key(k), value(std::to_string(v)) {}
  Field(std::string_view k, bool v) : key(k), value(v ? "true" : "false") {}
  std::string key;
  std::string value;
};

// Sets the minimum level written (default kInfo) and the component name that
// prefixes every line (the service name). Call once at start-up.
void Configure(std::string_view component, Level min_level);

// Parses "debug" | "info" | "warning" | "error"; returns false on anything else.
bool ParseLevel(std::string_view text, Level* out);

void Write(Level level, std::string_view message, std::initializer_list<Field> fields = {});

inline void Debug(std::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kDebug, m, f); }
inline void Info(std::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kInfo, m, f); }
inline void Warning(std::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kWarning, m, f); }
inline void Error(std::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kError, m, f); }

}  // namespace parallax::log

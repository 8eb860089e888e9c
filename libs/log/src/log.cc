#include "parallax/log/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace parallax::log {
namespace {

std::atomic<int> g_min_level{static_cast<int>(Level::kInfo)};
std::mutex g_component_mu;
std::string g_component = "parallax";

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "DEBUG";
    case Level::kInfo: return "INFO";
    case Level::kWarning: return "WARN";
    case Level::kError: return "ERROR";
  }
  return "?";
}

// Values with spaces, quotes or '=' are quoted so lines stay machine-parsable.
void AppendValue(std::string& out, const std::string& v) {
  bool plain = !v.empty();
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\n' || c == '\t') { plain = false; break; }
  }
  if (plain) { out += v; return; }
  out += '"';
  for (char c : v) {
    if (c == '"' || c == '\\') { out += '\\'; out += c; }
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  out += '"';
}

}  // namespace

void Configure(std::string_view component, Level min_level) {
  std::lock_guard lock(g_component_mu);
  g_component = std::string(component);
  g_min_level = static_cast<int>(min_level);
}

bool ParseLevel(std::string_view text, Level* out) {
  if (text == "debug") *out = Level::kDebug;
  else if (text == "info") *out = Level::kInfo;
  else if (text == "warning" || text == "warn") *out = Level::kWarning;
  else if (text == "error") *out = Level::kError;
  else return false;
  return true;
}

void Write(Level level, std::string_view message, std::initializer_list<Field> fields) {
  if (static_cast<int>(level) < g_min_level.load(std::memory_order_relaxed)) return;
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[64];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(millis));
  std::string line;
  line.reserve(128);
  line += stamp;
  line += ' ';
  line += LevelName(level);
  line += ' ';
  {
    std::lock_guard lock(g_component_mu);
    line += g_component;
  }
  line += ' ';
  line += message;
  for (const Field& f : fields) {
    line += ' ';
    line += f.key;
    line += '=';
    AppendValue(line, f.value);
  }
  line += '\n';
  // One write(2) per line keeps lines from concurrent threads whole.
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace parallax::log

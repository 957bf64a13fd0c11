#pragma once

#include <cstdio>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace camreg::app {

enum class LogLevel { debug, info, warn, error };
enum class LogFormat { text, json };

// A field of a log line: text, a number or a flag.
using LogValue = std::variant<std::string, long long, bool>;
using LogField = std::pair<std::string_view, LogValue>;

// One line per event on stdout (journald adds the time), or one JSON object per line
// with a "ts" field. Thread-safe; lines never interleave. out is for tests.
class Logger {
 public:
  Logger(LogLevel level, LogFormat format, std::FILE* out = stdout)
      : level_(level), format_(format), out_(out) {}
  void log(LogLevel level, std::string_view event, std::string_view message,
           std::initializer_list<LogField> fields = {}) const;

 private:
  LogLevel level_;
  LogFormat format_;
  std::FILE* out_;
};

// "debug", "info", "warn", "error"; "text", "json".
bool parse_log_level(std::string_view text, LogLevel& out);
bool parse_log_format(std::string_view text, LogFormat& out);

} // namespace camreg::app

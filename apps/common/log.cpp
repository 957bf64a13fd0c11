#include "common/log.hpp"

#include <cstdint>
#include <cstdio>
#include <mutex>

#include "camreg/clock.hpp"
#include "camreg/json_writer.hpp"

namespace camreg::app {

namespace {

std::mutex output_mutex;

std::string_view level_name(LogLevel level) {
  switch (level) {
  case LogLevel::debug: return "debug";
  case LogLevel::info: return "info";
  case LogLevel::warn: return "warn";
  case LogLevel::error: return "error";
  }
  return "info";
}

bool needs_quotes(std::string_view s) {
  if (s.empty()) return true;
  for (const char c : s) {
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) return true;
  }
  return false;
}

} // namespace

void Logger::log(LogLevel level, std::string_view event, std::string_view message,
                 std::initializer_list<LogField> fields) const {
  if (level < level_) return;
  std::string line;
  if (format_ == LogFormat::json) {
    JsonWriter json(line);
    json.begin_object();
    json.key("ts");
    json.string(format_rfc3339(SystemClock().now()));
    json.key("level");
    json.string(level_name(level));
    json.key("event");
    json.string(event);
    json.key("msg");
    json.string(message);
    for (const auto& [name, value] : fields) {
      json.key(name);
      if (const auto* s = std::get_if<std::string>(&value))
        json.string(*s);
      else if (const auto* n = std::get_if<long long>(&value))
        json.number(static_cast<std::int64_t>(*n));
      else
        json.boolean(std::get<bool>(value));
    }
    json.end_object();
  } else {
    line = std::string(level_name(level)) + " " + std::string(event) + ": " + std::string(message);
    for (const auto& [name, value] : fields) {
      line += ' ';
      line += name;
      line += '=';
      if (const auto* s = std::get_if<std::string>(&value)) {
        if (needs_quotes(*s))
          append_json_string(line, *s);
        else
          line += *s;
      } else if (const auto* n = std::get_if<long long>(&value)) {
        line += std::to_string(*n);
      } else {
        line += std::get<bool>(value) ? "true" : "false";
      }
    }
  }
  line += '\n';
  const std::lock_guard lock(output_mutex);
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

bool parse_log_level(std::string_view text, LogLevel& out) {
  if (text == "debug")
    out = LogLevel::debug;
  else if (text == "info")
    out = LogLevel::info;
  else if (text == "warn")
    out = LogLevel::warn;
  else if (text == "error")
    out = LogLevel::error;
  else
    return false;
  return true;
}

bool parse_log_format(std::string_view text, LogFormat& out) {
  if (text == "text")
    out = LogFormat::text;
  else if (text == "json")
    out = LogFormat::json;
  else
    return false;
  return true;
}

} // namespace camreg::app

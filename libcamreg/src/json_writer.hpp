#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "camreg/json.hpp"

namespace camreg::detail {

// Appends JSON text to a string. Strings are escaped and invalid UTF-8 is replaced
// by U+FFFD, so the output is always valid JSON (and valid for jsonb).
class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  void begin_object() { separate(), out_ += '{', first_ = true; }
  void end_object() { out_ += '}', first_ = false; }
  void begin_array() { separate(), out_ += '[', first_ = true; }
  void end_array() { out_ += ']', first_ = false; }
  void key(std::string_view name);
  void string(std::string_view value);
  void number(std::int64_t value);
  void number(std::uint64_t value);
  void boolean(bool value);
  void null();

 private:
  void separate();
  std::string& out_;
  bool first_ = true;
  bool after_key_ = false;
};

} // namespace camreg::detail

#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace camreg {

// Appends value as a JSON string literal. Control characters are escaped; invalid
// UTF-8 and NUL (which jsonb cannot store) become U+FFFD, so the output is always
// valid JSON and valid jsonb.
void append_json_string(std::string& out, std::string_view value);

// value with every invalid UTF-8 sequence and NUL replaced by U+FFFD: safe to store in
// a PostgreSQL text column, log or send.
std::string to_valid_utf8(std::string_view value);

// Appends JSON text to a string; the one way camreg writes JSON. Strings are escaped
// and invalid UTF-8 is replaced by U+FFFD, so the output is always valid JSON (and
// valid for jsonb). raw() appends an already serialised JSON value.
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
  void number(double value);
  void boolean(bool value);
  void null();
  void raw(std::string_view json);

 private:
  void separate();
  std::string& out_;
  bool first_ = true;
  bool after_key_ = false;
};

} // namespace camreg

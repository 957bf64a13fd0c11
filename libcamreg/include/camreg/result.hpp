#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace camreg {

// Why an operation failed, coarse enough for a caller to choose a reaction
// (retry, exit code, HTTP status) without parsing the message.
enum class ErrorKind {
  unavailable,      // peer refused, unreachable or dropped the connection
  timeout,          // a deadline passed
  auth,             // the peer rejected our credentials (401/403)
  protocol,         // the peer answered something we cannot accept
  too_large,        // a size or count limit was reached
  database,         // the database failed the statement or the transaction
  busy,             // another process holds the lock this operation needs
  invalid_argument, // the caller's input is malformed
  not_found,
  cancelled,
};

std::string_view to_string(ErrorKind kind) noexcept;

// An expected failure. The message names the field, page or statement and never
// carries a credential.
struct Error {
  ErrorKind kind;
  std::string message;
};

// Builds the error side of a Result; becomes std::unexpected once the compiler
// has std::expected.
inline Error fail(ErrorKind kind, std::string message) {
  return Error{kind, std::move(message)};
}

// Thrown by Result::value() when it holds an error: a bug in the caller.
class BadResultAccess : public std::logic_error {
 public:
  explicit BadResultAccess(const Error& error);
};

// A value or an Error, with std::expected's member names.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : storage_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : storage_(std::in_place_index<1>, std::move(error)) {}

  bool has_value() const noexcept { return storage_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { return check(), std::get<0>(storage_); }
  const T& value() const& { return check(), std::get<0>(storage_); }
  T&& value() && { return check(), std::get<0>(std::move(storage_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return std::get<1>(storage_); }
  Error&& error() && { return std::get<1>(std::move(storage_)); }

 private:
  void check() const {
    if (!has_value()) throw BadResultAccess(std::get<1>(storage_));
  }
  std::variant<T, Error> storage_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), failed_(true) {}

  bool has_value() const noexcept { return !failed_; }
  explicit operator bool() const noexcept { return has_value(); }
  void value() const {
    if (failed_) throw BadResultAccess(error_);
  }
  const Error& error() const& { return error_; }

 private:
  Error error_{ErrorKind::invalid_argument, {}};
  bool failed_ = false;
};

} // namespace camreg

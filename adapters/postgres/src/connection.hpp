#pragma once

#include <libpq-fe.h>

#include <soci/soci.h>
#include <memory>
#include <string>

#include "camreg/postgres/postgres.hpp"

namespace camreg::postgres::detail {

// The libpq connection string for options: the URL plus connect_timeout and TCP
// keepalives unless the URL sets them. Every connection camreg opens uses it.
std::string conninfo(const Options& options);

// One SOCI session opened on demand and dropped when the server is lost, so the
// next call reconnects. Turns SOCI exceptions into Errors at the port.
class Connection {
 public:
  explicit Connection(Options options);

  // Runs body(session) on an open session; what it throws becomes an Error whose
  // message starts with `what`.
  template <class T, class Body>
  Result<T> run(std::string_view what, Body&& body) {
    if (auto opened = open(); !opened) return opened.error();
    try {
      return body(*session_);
    } catch (const std::exception& e) {
      return failure(what, e);
    }
  }

  // The libpq connection behind the session; valid while open.
  PGconn* native();
  const std::string& redacted_url() const { return redacted_url_; }

 private:
  Result<void> open();
  Error failure(std::string_view what, const std::exception& e);

  Options options_;
  std::string conninfo_; // after options_: built from it
  std::string redacted_url_;
  std::unique_ptr<soci::session> session_;
};

// Runs SQL through libpq (several statements allowed); fails with the server's message.
Result<void> exec(PGconn* conn, const std::string& sql);

} // namespace camreg::postgres::detail

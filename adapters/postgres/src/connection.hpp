#pragma once

#include <libpq-fe.h>

#include <soci/soci.h>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "camreg/postgres/postgres.hpp"

namespace camreg::postgres::detail {

// The libpq connection string for options: the URL plus connect_timeout and TCP
// keepalives unless the URL sets them. Every connection camreg opens uses it.
std::string conninfo(const Options& options);

// The SET statements that give a fresh session the options' timeouts.
std::string session_settings(const Options& options);

// Cuts a socket (shutdown, so the blocked libpq call returns at once) when a deadline
// passes while armed: the bound on a server that stopped answering, which no
// server-side timeout can enforce. One thread, started on first arm.
class Watchdog {
 public:
  Watchdog() = default;
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  void arm(int socket, std::chrono::steady_clock::time_point deadline);
  // Disarms; true when the deadline passed and the socket was cut.
  bool disarm();

 private:
  void loop();

  std::mutex mutex_;
  std::condition_variable cv_;
  int socket_ = -1;
  std::chrono::steady_clock::time_point deadline_;
  bool fired_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

// Whether a call is bounded on the client side (see Options::client_grace).
enum class Bound { client, server_only };

// One SOCI session opened on demand and dropped when the server is lost, so the
// next call reconnects. Turns SOCI exceptions into Errors at the port.
class Connection {
 public:
  explicit Connection(Options options);

  // Runs body(session) on an open session; what it throws becomes an Error whose
  // message starts with `what`. With Bound::client, a call still waiting for the server
  // statement_timeout + client_grace after it began has its connection cut and fails
  // with ErrorKind::unavailable.
  template <class T, class Body>
  Result<T> run(std::string_view what, Body&& body, Bound bound = Bound::client) {
    if (auto opened = open(); !opened) return opened.error();
    bounded_ = bound == Bound::client;
    cut_ = false;
    if (bounded_) arm();
    try {
      configure();
      Result<T> result = body(*session_);
      if (watchdog_.disarm() || cut_) return cut(what);
      return result;
    } catch (const std::exception& e) {
      if (watchdog_.disarm() || cut_) return cut(what);
      return failure(what, e);
    }
  }

  // Inside run's body: calls wait() (no database call in flight) with the client-side
  // bound paused; the bound starts again after it, as for a new call.
  template <class Wait>
  void paused(Wait&& wait) {
    if (bounded_ && watchdog_.disarm()) {
      cut_ = true;
      throw std::runtime_error("the connection was cut before the wait");
    }
    wait();
    if (bounded_) arm();
  }

  // The libpq connection behind the session; valid while open.
  PGconn* native();
  const std::string& redacted_url() const { return redacted_url_; }

 private:
  Result<void> open();
  void arm();
  // Applies session_settings once per session; throws on failure.
  void configure();
  Error failure(std::string_view what, const std::exception& e);
  Error cut(std::string_view what);

  Options options_;
  std::string conninfo_; // after options_: built from it
  std::string redacted_url_;
  std::unique_ptr<soci::session> session_;
  bool configured_ = false;
  bool bounded_ = false; // the call in run is bounded on the client side
  bool cut_ = false;     // its connection was cut before a paused wait
  Watchdog watchdog_;
};

// Runs SQL through libpq (several statements allowed); fails with the server's message.
Result<void> exec(PGconn* conn, const std::string& sql);

} // namespace camreg::postgres::detail

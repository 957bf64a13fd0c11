#include "connection.hpp"

#include <libpq-fe.h>
#include <soci/postgresql/soci-postgresql.h>
#include <sys/socket.h>

#include <stdexcept>
#include <utility>

#include "camreg/url.hpp"

namespace camreg::postgres {

namespace {

bool is_uri(std::string_view url) {
  return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
}

// Keeps messages to one readable piece: SOCI appends the statement (and with it a
// whole round's parameters) to what the server said.
std::string shorten(std::string text) {
  if (const auto nl = text.find("\nwhile "); nl != std::string::npos) text.resize(nl);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  if (text.size() > 400) text = text.substr(0, 400) + "…";
  return text;
}

} // namespace

Result<void> check_database_url(std::string_view url) {
  char* error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(std::string(url).c_str(), &error);
  if (parsed) {
    PQconninfoFree(parsed);
    return {};
  }
  const std::string said = error ? error : "cannot be parsed";
  if (error) PQfreemem(error);
  // libpq quotes the piece it stumbled on, which may be a password: keep the words only.
  std::string message;
  bool quoted = false;
  for (const char c : said) {
    if (c == '"') {
      message += quoted ? "\"" : "\"…";
      quoted = !quoted;
    } else if (!quoted && c != '\n') {
      message += c;
    }
  }
  return fail(ErrorKind::invalid_argument, "not a libpq URI or key=value string (" + message + ")");
}

std::string redact_database_url(std::string_view url) {
  if (is_uri(url)) {
    std::string out(url);
    const auto authority = out.find("://") + 3;
    const auto end = out.find_first_of("/?", authority);
    const auto at = out.rfind('@', end == std::string::npos ? out.size() : end);
    if (at != std::string::npos && at >= authority) {
      const auto colon = out.find(':', authority);
      if (colon != std::string::npos && colon < at) out.replace(colon, at - colon, ":***");
    }
    // A password may also travel as a query parameter.
    for (auto pos = out.find("password=", authority); pos != std::string::npos;
         pos = out.find("password=", pos + 1)) {
      const auto value = pos + 9;
      const auto value_end = out.find('&', value);
      out.replace(value, (value_end == std::string::npos ? out.size() : value_end) - value, "***");
    }
    return out;
  }
  // key=value: values may be single-quoted with backslash escapes.
  std::string out;
  std::size_t i = 0;
  while (i < url.size()) {
    const auto key_start = i;
    const auto eq = url.find('=', i);
    if (eq == std::string_view::npos) {
      out.append(url.substr(i));
      break;
    }
    std::string_view key = url.substr(key_start, eq - key_start);
    while (!key.empty() && key.front() == ' ')
      key.remove_prefix(1);
    while (!key.empty() && key.back() == ' ')
      key.remove_suffix(1);
    std::size_t j = eq + 1;
    while (j < url.size() && url[j] == ' ')
      ++j;
    std::size_t value_end = j;
    if (value_end < url.size() && url[value_end] == '\'') {
      ++value_end;
      while (value_end < url.size() && url[value_end] != '\'') {
        if (url[value_end] == '\\') ++value_end;
        ++value_end;
      }
      if (value_end < url.size()) ++value_end;
    } else {
      while (value_end < url.size() && url[value_end] != ' ')
        ++value_end;
    }
    out.append(url.substr(key_start, j - key_start));
    out.append(key == "password" ? std::string_view("***") : url.substr(j, value_end - j));
    i = value_end;
  }
  return redact_userinfo(out);
}

namespace detail {

std::string conninfo(const Options& options) {
  std::string out = options.database_url;
  const bool uri = is_uri(out);
  const auto add = [&](std::string_view key, const std::string& value) {
    if (out.find(std::string(key) + "=") != std::string::npos) return; // the URL's own wins
    if (uri)
      out += (out.find('?') == std::string::npos ? "?" : "&");
    else if (!out.empty())
      out += ' ';
    out.append(key).append("=").append(value);
  };
  add("connect_timeout", std::to_string(options.connect_timeout.count()));
  if (!options.application_name.empty()) add("application_name", options.application_name);
  // A peer that vanished without a FIN or RST (a dropped NAT entry, a failed-over host)
  // is noticed within about a minute instead of the kernel's two hours.
  add("keepalives", "1");
  add("keepalives_idle", "30");
  add("keepalives_interval", "10");
  add("keepalives_count", "3");
  add("tcp_user_timeout", "60000"); // ms: unacknowledged data, e.g. a probe, gives up too
  return out;
}

std::string session_settings(const Options& options) {
  const auto ms = [](std::chrono::milliseconds d) {
    return "'" + std::to_string(d.count()) + "ms'";
  };
  return "SET statement_timeout = " + ms(options.statement_timeout) +
         "; SET lock_timeout = " + ms(options.lock_timeout) +
         "; SET idle_in_transaction_session_timeout = " + ms(options.idle_in_transaction_timeout);
}

Watchdog::~Watchdog() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Watchdog::arm(int socket, std::chrono::steady_clock::time_point deadline) {
  {
    const std::lock_guard lock(mutex_);
    socket_ = socket;
    deadline_ = deadline;
    fired_ = false;
    if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
  }
  cv_.notify_all();
}

bool Watchdog::disarm() {
  const std::lock_guard lock(mutex_);
  socket_ = -1;
  return std::exchange(fired_, false);
}

void Watchdog::loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (socket_ < 0) {
      cv_.wait(lock);
    } else if (cv_.wait_until(lock, deadline_) == std::cv_status::timeout && socket_ >= 0 &&
               std::chrono::steady_clock::now() >= deadline_) {
      // Under the lock: disarm() waits, so the socket cannot be closed meanwhile.
      ::shutdown(socket_, SHUT_RDWR);
      socket_ = -1;
      fired_ = true;
    }
  }
}

Connection::Connection(Options options)
    : options_(std::move(options)),
      conninfo_(conninfo(options_)),
      redacted_url_(redact_database_url(options_.database_url)) {}

Result<void> Connection::open() {
  if (session_) {
    if (PQstatus(native()) == CONNECTION_OK) return {};
    session_.reset();
  }
  try {
    session_ = std::make_unique<soci::session>(soci::postgresql, conninfo_);
    configured_ = false;
    return {};
  } catch (const std::exception& e) {
    session_.reset();
    return fail(ErrorKind::unavailable,
                "cannot connect to " + redacted_url_ + ": " + shorten(redact_userinfo(e.what())));
  }
}

PGconn* Connection::native() {
  auto* backend = static_cast<soci::postgresql_session_backend*>(session_->get_backend());
  return backend->conn_;
}

void Connection::arm() {
  if (options_.statement_timeout.count() <= 0) return; // no timeout asked for
  watchdog_.arm(PQsocket(native()), std::chrono::steady_clock::now() + options_.statement_timeout +
                                        options_.client_grace);
}

void Connection::configure() {
  if (configured_) return;
  // PostgreSQL 14+: a backend whose client died (kill -9 mid-round) aborts within a
  // second instead of finishing the statement and holding the round lock meanwhile.
  PQclear(PQexec(native(), "SET client_connection_check_interval = '1s'"));
  if (auto set = exec(native(), session_settings(options_)); !set) {
    throw std::runtime_error("setting timeouts: " + set.error().message);
  }
  configured_ = true;
}

Error Connection::cut(std::string_view what) {
  session_.reset();
  const auto bound = std::chrono::duration_cast<std::chrono::milliseconds>(
      options_.statement_timeout + options_.client_grace);
  return fail(ErrorKind::unavailable, std::string(what) + ": no answer from " + redacted_url_ +
                                          " within " + std::to_string(bound.count()) +
                                          " ms; connection cut");
}

Error Connection::failure(std::string_view what, const std::exception& e) {
  std::string message = std::string(what) + ": ";
  if (const auto* soci_error = dynamic_cast<const soci::soci_error*>(&e)) {
    message += shorten(soci_error->get_error_message());
  } else {
    message += shorten(e.what());
  }
  // A broken connection is dropped so the next call opens a fresh one.
  if (session_ && PQstatus(native()) != CONNECTION_OK) {
    session_.reset();
    return fail(ErrorKind::unavailable, message + " (connection to " + redacted_url_ + " lost)");
  }
  return fail(ErrorKind::database, std::move(message));
}

Result<void> exec(PGconn* conn, const std::string& sql) {
  PGresult* res = PQexec(conn, sql.c_str());
  const auto status = PQresultStatus(res);
  std::string message = PQresultErrorMessage(res);
  PQclear(res);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return {};
  while (!message.empty() && message.back() == '\n')
    message.pop_back();
  return fail(PQstatus(conn) == CONNECTION_OK ? ErrorKind::database : ErrorKind::unavailable,
              message);
}

} // namespace detail
} // namespace camreg::postgres

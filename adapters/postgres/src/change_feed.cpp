#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "camreg/postgres/postgres.hpp"
#include "camreg/url.hpp"
#include "connection.hpp"

namespace camreg::postgres {

namespace {

const std::string listen_sql =
    "LISTEN " + std::string(change_channel) + "; SELECT current_schema()";

// A LISTEN connection that died silently (NAT drop, a stopped backend) reads as "no
// change": a cheap query when idle this long proves it alive, within the timeout.
constexpr auto probe_interval = std::chrono::seconds(10);
constexpr auto probe_timeout = std::chrono::seconds(5);
using Steady = std::chrono::steady_clock;

// LISTEN on a libpq connection of its own (SOCI has no API for notifications).
class PostgresChangeFeed final : public ChangeFeed {
 public:
  explicit PostgresChangeFeed(Options options)
      : options_(std::move(options)), wake_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~PostgresChangeFeed() override {
    if (conn_) PQfinish(conn_);
    if (wake_fd_ >= 0) close(wake_fd_);
  }

  Result<bool> wait(Duration timeout) override {
    bool changed = false;
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
      if (auto opened = open(); !opened) return opened.error();
      changed = true; // whatever happened while we were away is unknown
    }
    if (drain(changed)) return true;
    if (changed) return true;
    if (Steady::now() - last_heard_ >= probe_interval) {
      if (auto probed = probe(); !probed) return probed.error();
      if (drain(changed)) return true;
    }
    pollfd fds[2] = {{PQsocket(conn_), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    const auto until_probe = std::chrono::duration_cast<std::chrono::milliseconds>(
        last_heard_ + probe_interval - Steady::now());
    const int ms = static_cast<int>(std::max<std::chrono::milliseconds::rep>(
        0, std::min(std::chrono::duration_cast<std::chrono::milliseconds>(timeout), until_probe)
               .count()));
    if (poll(fds, 2, ms) < 0) return false;
    if (fds[1].revents & POLLIN) {
      eventfd_t value = 0;
      (void)eventfd_read(wake_fd_, &value);
    }
    if (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) {
      if (PQconsumeInput(conn_) == 0) return lost();
      last_heard_ = Steady::now();
      bool any = false;
      drain(any);
      return any;
    }
    return false;
  }

  void wake() override {
    if (wake_fd_ >= 0) (void)eventfd_write(wake_fd_, 1);
  }

 private:
  Result<void> open() {
    if (conn_) PQfinish(conn_);
    conn_ = PQconnectdb(detail::conninfo(options_).c_str());
    if (PQstatus(conn_) != CONNECTION_OK) {
      std::string message = PQerrorMessage(conn_);
      while (!message.empty() && message.back() == '\n')
        message.pop_back();
      PQfinish(conn_);
      conn_ = nullptr;
      return fail(ErrorKind::unavailable, "change feed: cannot connect to " +
                                              redact_database_url(options_.database_url) + ": " +
                                              redact_userinfo(message));
    }
    PGresult* res = PQexec(conn_, listen_sql.c_str());
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
      schema_ = PQgetvalue(res, 0, 0);
    }
    const bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    PQclear(res);
    if (!ok) return lost().error();
    last_heard_ = Steady::now();
    return {};
  }

  // SELECT 1 on the feed's connection, answered within probe_timeout, or the feed is down.
  Result<void> probe() {
    if (PQsendQuery(conn_, "SELECT 1") == 0) return lost().error();
    const auto deadline = Steady::now() + probe_timeout;
    for (;;) {
      if (PQflush(conn_) < 0 || PQconsumeInput(conn_) == 0) return lost().error();
      if (!PQisBusy(conn_)) break;
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Steady::now());
      if (left.count() <= 0) {
        PQfinish(conn_);
        conn_ = nullptr;
        return fail(ErrorKind::unavailable, "change feed: no answer to a probe within " +
                                                std::to_string(probe_timeout.count()) + " s");
      }
      pollfd fd{PQsocket(conn_), POLLIN, 0};
      (void)poll(&fd, 1, static_cast<int>(left.count()));
    }
    bool ok = true;
    while (PGresult* res = PQgetResult(conn_)) {
      ok = ok && PQresultStatus(res) == PGRES_TUPLES_OK;
      PQclear(res);
    }
    if (!ok) return lost().error();
    last_heard_ = Steady::now();
    return {};
  }

  // Consumes queued notifications; sets changed when one is about our schema.
  bool drain(bool& changed) {
    while (PGnotify* note = PQnotifies(conn_)) {
      const std::string_view payload(note->extra);
      if (payload.substr(0, payload.find(' ')) == schema_) changed = true;
      PQfreemem(note);
    }
    return changed;
  }

  Result<bool> lost() {
    std::string message = conn_ ? PQerrorMessage(conn_) : "";
    while (!message.empty() && message.back() == '\n')
      message.pop_back();
    if (conn_) PQfinish(conn_);
    conn_ = nullptr;
    return fail(ErrorKind::unavailable, "change feed: connection lost: " + message);
  }

  Options options_;
  PGconn* conn_ = nullptr;
  int wake_fd_ = -1;
  std::string schema_;
  Steady::time_point last_heard_; // the server last answered or notified
};

} // namespace

std::unique_ptr<ChangeFeed> make_change_feed(Options options) {
  return std::make_unique<PostgresChangeFeed>(std::move(options));
}

} // namespace camreg::postgres

#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "camreg/postgres/postgres.hpp"
#include "camreg/url.hpp"
#include "connection.hpp"

namespace camreg::postgres {

namespace {

// A LISTEN connection that died silently (NAT drop, a stopped backend) reads as "no
// notification": a cheap query when idle this long proves it alive, within the timeout.
constexpr auto probe_interval = std::chrono::seconds(10);
constexpr auto probe_timeout = std::chrono::seconds(5);
// LISTEN/NOTIFY does not reach a hot standby: its feed asks for the marker this often,
// so a commit on the primary reaches readers within this plus the replay lag.
constexpr auto standby_poll_interval = std::chrono::milliseconds(250);
// The marker of a standby: the time of the last transaction (commit or abort) it
// replayed. What readers see changes only when a commit replays, so nothing visible
// changes without it, whatever wrote it (a round, a rename by hand, a migration); other
// WAL (checkpoints, vacuum, hint bits) leaves it alone, unlike pg_last_wal_replay_lsn().
// It reads shared memory only: no table, no lock, nothing for the standby to replay.
constexpr const char* connect_sql =
    "SELECT current_schema(), pg_is_in_recovery(), "
    "coalesce(pg_last_xact_replay_timestamp()::text, '')";
constexpr const char* standby_poll_sql =
    "SELECT pg_is_in_recovery(), coalesce(pg_last_xact_replay_timestamp()::text, '')";
using Steady = std::chrono::steady_clock;

// LISTEN on one channel over a libpq connection of its own (SOCI has no API for
// notifications), keeping the notifications about our schema: payload "<schema> <rest>".
// On a hot standby, where LISTEN is refused and nothing is notified, a poll of its replay
// marker instead. Both feeds below are one of these.
class Listener {
 public:
  // What the wait heard: whether the connection was (re)opened, so notifications may
  // have been missed, and the rest of each payload about our schema.
  struct Heard {
    bool reconnected = false;
    bool replayed = false; // a standby replayed a commit (notes stay empty there)
    std::vector<std::string> notes;
  };

  Listener(Options options, std::string_view channel, std::string name)
      : options_(std::move(options)),
        listen_sql_("LISTEN " + std::string(channel)),
        name_(std::move(name)),
        wake_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~Listener() {
    if (conn_) PQfinish(conn_);
    if (wake_fd_ >= 0) close(wake_fd_);
  }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Waits up to timeout for notifications; returns early on a (re)connection, on
  // notifications about our schema, or on wake().
  Result<Heard> wait(Duration timeout) {
    Heard heard;
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
      if (auto opened = open(); !opened) return opened.error();
      heard.reconnected = true; // whatever happened while we were away is unknown
    }
    if (role_ == ServerRole::standby) return poll_standby(timeout, heard);
    if (drain(heard) || heard.reconnected) return heard;
    if (Steady::now() - last_heard_ >= probe_interval) {
      if (auto probed = probe(); !probed) return probed.error();
      if (drain(heard)) return heard;
    }
    pollfd fds[2] = {{PQsocket(conn_), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    const auto until_probe = std::chrono::duration_cast<std::chrono::milliseconds>(
        last_heard_ + probe_interval - Steady::now());
    const int ms = static_cast<int>(std::max<std::chrono::milliseconds::rep>(
        0, std::min(std::chrono::duration_cast<std::chrono::milliseconds>(timeout), until_probe)
               .count()));
    if (poll(fds, 2, ms) < 0) return heard;
    if (fds[1].revents & POLLIN) {
      eventfd_t value = 0;
      (void)eventfd_read(wake_fd_, &value);
    }
    if (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) {
      if (PQconsumeInput(conn_) == 0) return lost();
      last_heard_ = Steady::now();
      drain(heard);
    }
    return heard;
  }

  void wake() {
    if (wake_fd_ >= 0) (void)eventfd_write(wake_fd_, 1);
  }

  ServerRole role() const { return role_; }

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
      return fail(ErrorKind::unavailable, name_ + ": cannot connect to " +
                                              redact_database_url(options_.database_url) + ": " +
                                              redact_userinfo(message));
    }
    auto row = ask(connect_sql);
    if (!row) return row.error();
    schema_ = (*row)[0];
    if ((*row)[1] == "t") {
      marker_ = (*row)[2];
      next_poll_ = Steady::now() + standby_poll_interval;
      role_ = ServerRole::standby;
      return {};
    }
    PGresult* res = PQexec(conn_, listen_sql_.c_str());
    const bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok) return lost();
    role_ = ServerRole::primary;
    last_heard_ = Steady::now();
    return {};
  }

  // A standby's wait: until the next poll of its marker (or the timeout, or wake()),
  // then the poll. A promoted standby is reconnected, to LISTEN as a primary does.
  Result<Heard> poll_standby(Duration timeout, Heard heard) {
    if (heard.reconnected) return heard;
    const auto now = Steady::now();
    if (now < next_poll_) {
      const auto ms = std::min(std::chrono::ceil<std::chrono::milliseconds>(timeout),
                               std::chrono::ceil<std::chrono::milliseconds>(next_poll_ - now));
      pollfd fd{wake_fd_, POLLIN, 0};
      if (poll(&fd, 1, static_cast<int>(std::max<std::int64_t>(ms.count(), 0))) > 0) {
        eventfd_t value = 0;
        (void)eventfd_read(wake_fd_, &value);
        return heard;
      }
      if (Steady::now() < next_poll_) return heard;
    }
    next_poll_ = Steady::now() + standby_poll_interval;
    auto row = ask(standby_poll_sql);
    if (!row) return row.error();
    if ((*row)[0] != "t") {
      PQfinish(conn_);
      conn_ = nullptr;
      role_ = ServerRole::unknown;
      heard.reconnected = true; // promoted: what it took in since the last poll is unknown
      return heard;
    }
    if ((*row)[1] != marker_) {
      marker_ = (*row)[1];
      heard.replayed = true;
    }
    return heard;
  }

  // SELECT 1 on the listener's connection, answered within probe_timeout, or it is down.
  Result<void> probe() {
    if (auto row = ask("SELECT 1"); !row) return row.error();
    return {};
  }

  // The first row of a query on the listener's connection (its values as text, NULL as
  // ""), answered within probe_timeout, or it is down.
  Result<std::vector<std::string>> ask(const char* sql) {
    if (PQsendQuery(conn_, sql) == 0) return lost();
    const auto deadline = Steady::now() + probe_timeout;
    for (;;) {
      if (PQflush(conn_) < 0 || PQconsumeInput(conn_) == 0) return lost();
      if (!PQisBusy(conn_)) break;
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Steady::now());
      if (left.count() <= 0) {
        PQfinish(conn_);
        conn_ = nullptr;
        role_ = ServerRole::unknown;
        return fail(ErrorKind::unavailable, name_ + ": no answer to a probe within " +
                                                std::to_string(probe_timeout.count()) + " s");
      }
      pollfd fd{PQsocket(conn_), POLLIN, 0};
      (void)poll(&fd, 1, static_cast<int>(left.count()));
    }
    bool ok = true;
    std::vector<std::string> row;
    while (PGresult* res = PQgetResult(conn_)) {
      ok = ok && PQresultStatus(res) == PGRES_TUPLES_OK;
      if (ok && row.empty() && PQntuples(res) > 0) {
        for (int i = 0; i < PQnfields(res); ++i)
          row.emplace_back(PQgetvalue(res, 0, i));
      }
      PQclear(res);
    }
    if (!ok || row.empty()) return lost();
    last_heard_ = Steady::now();
    return row;
  }

  // Consumes queued notifications, keeping those about our schema; true when any was.
  bool drain(Heard& heard) {
    while (PGnotify* note = PQnotifies(conn_)) {
      const std::string_view payload(note->extra);
      const auto space = payload.find(' ');
      if (payload.substr(0, space) == schema_) {
        heard.notes.emplace_back(space == std::string_view::npos ? std::string_view()
                                                                 : payload.substr(space + 1));
      }
      PQfreemem(note);
    }
    return !heard.notes.empty();
  }

  Error lost() {
    std::string message = conn_ ? PQerrorMessage(conn_) : "";
    while (!message.empty() && message.back() == '\n')
      message.pop_back();
    if (conn_) PQfinish(conn_);
    conn_ = nullptr;
    role_ = ServerRole::unknown;
    return fail(ErrorKind::unavailable, name_ + ": connection lost: " + message);
  }

  Options options_;
  std::string listen_sql_;
  std::string name_; // starts every error message
  PGconn* conn_ = nullptr;
  int wake_fd_ = -1;
  std::string schema_;
  Steady::time_point last_heard_; // the server last answered or notified
  std::atomic<ServerRole> role_{ServerRole::unknown};
  std::string marker_;           // a standby's, as last polled
  Steady::time_point next_poll_; // a standby's
};

class PostgresChangeFeed final : public ChangeFeed {
 public:
  explicit PostgresChangeFeed(Options options)
      : listener_(std::move(options), change_channel, "change feed") {}

  Result<bool> wait(Duration timeout) override {
    auto heard = listener_.wait(timeout);
    if (!heard) return heard.error();
    return heard->reconnected || heard->replayed || !heard->notes.empty();
  }
  void wake() override { listener_.wake(); }
  ServerRole role() const override { return listener_.role(); }

 private:
  Listener listener_;
};

// A (re)connection is not a request: one missed while the feed was down is covered by
// the worker's regular schedule.
class PostgresTriggerFeed final : public TriggerFeed {
 public:
  explicit PostgresTriggerFeed(Options options)
      : listener_(std::move(options), trigger_channel, "trigger feed") {}

  Result<std::vector<TriggerRequest>> wait(Duration timeout) override {
    auto heard = listener_.wait(timeout);
    if (!heard) return heard.error();
    std::vector<TriggerRequest> requests;
    for (auto& note : heard->notes) {
      // "<path>" for every site, "<site>@<path>" for one (as PostgresSyncTrigger sends).
      const auto at = note.find('@');
      if (at == std::string::npos)
        requests.push_back({std::move(note), {}});
      else
        requests.push_back({note.substr(at + 1), note.substr(0, at)});
    }
    return requests;
  }
  void wake() override { listener_.wake(); }

 private:
  Listener listener_;
};

} // namespace

std::unique_ptr<ChangeFeed> make_change_feed(Options options) {
  return std::make_unique<PostgresChangeFeed>(std::move(options));
}

std::unique_ptr<TriggerFeed> make_trigger_feed(Options options) {
  return std::make_unique<PostgresTriggerFeed>(std::move(options));
}

} // namespace camreg::postgres

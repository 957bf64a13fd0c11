#include "worker.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "common/options.hpp"

namespace camreg::app {

void StopSignal::request() {
  {
    const std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
}

bool StopSignal::requested() const {
  const std::lock_guard lock(mutex_);
  return stop_;
}

bool StopSignal::wait_until(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return cv_.wait_until(lock, deadline, [&] { return stop_; });
}

RoundSchedule::RoundSchedule(Duration interval, Duration min_trigger_interval, Time first_round)
    : interval_(interval), min_trigger_interval_(min_trigger_interval), scheduled_(first_round) {}

RoundSchedule::Time RoundSchedule::next_round() const {
  if (!pending_ || !triggered_before_) return pending_ ? Time::min() : scheduled_;
  const auto spaced =
      last_triggered_ + std::chrono::duration_cast<Time::duration>(min_trigger_interval_);
  return std::min(scheduled_, spaced);
}

bool RoundSchedule::start_round(Time now) {
  const bool triggered =
      pending_ &&
      (!triggered_before_ ||
       now >= last_triggered_ + std::chrono::duration_cast<Time::duration>(min_trigger_interval_));
  if (now >= scheduled_) scheduled_ = now + std::chrono::duration_cast<Time::duration>(interval_);
  if (triggered) {
    last_triggered_ = now;
    triggered_before_ = true;
  }
  pending_ = false; // a full round sees whatever the requests made before it were about
  return triggered;
}

int exit_code_for(const RoundReport& report) {
  if (report.write_error && report.write_error->kind != ErrorKind::busy) return exit_database;
  if (report.fetch_error) {
    return report.fetch_error->kind == ErrorKind::auth ? exit_mediamtx_auth : exit_mediamtx;
  }
  return exit_ok;
}

namespace {

void log_round(const Logger& log, const RoundReport& r, std::chrono::steady_clock::duration took) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(took).count();
  const auto& c = r.counts;
  if (r.write_error && r.write_error->kind == ErrorKind::busy) {
    log.log(LogLevel::info, "round",
            "skipped: another sync-worker is applying a round of this site",
            {{"ok", false}, {"skipped", true}, {"duration_ms", ms}});
    return;
  }
  if (r.write_error) {
    log.log(LogLevel::error, "round", "database: " + r.write_error->message,
            {{"ok", false},
             {"reason", r.write_error->message},
             {"duration_ms", ms},
             {"source", r.source}});
    return;
  }
  if (r.fetch_error) {
    log.log(LogLevel::warn, "round",
            "MediaMTX fetch failed, nothing written but expiry: " + r.fetch_error->message,
            {{"ok", false},
             {"reason", r.fetch_error->message},
             {"expired", static_cast<long long>(c.expired)},
             {"duration_ms", ms},
             {"source", r.source}});
    return;
  }
  log.log(LogLevel::info, "round", "synced " + std::to_string(c.paths_seen) + " paths",
          {{"ok", true},
           {"paths_seen", static_cast<long long>(c.paths_seen)},
           {"upserted", static_cast<long long>(c.inserted + c.updated)},
           {"inserted", static_cast<long long>(c.inserted)},
           {"newly_active", static_cast<long long>(c.newly_active)},
           {"removed", static_cast<long long>(c.removed)},
           {"expired", static_cast<long long>(c.expired)},
           {"changed", static_cast<long long>(r.transitions.size())},
           {"events", static_cast<long long>(r.events.size())},
           {"skipped_items", static_cast<long long>(c.skipped)},
           {"duration_ms", ms},
           {"source", r.source}});
}

// Retention, a batch per round so it never holds up a round for long.
void prune(DeviceRepository& repository, const Clock& clock, const WorkerConfig& config,
           const Logger& log) {
  const auto now = clock.now();
  const auto pruned = repository.prune(now - config.ledger_retention, now - config.runs_retention,
                                       config.prune_batch);
  if (!pruned)
    log.log(LogLevel::warn, "retention", "pruning history failed: " + pruned.error().message,
            {{"reason", pruned.error().message}});
  else if (*pruned > 0)
    log.log(LogLevel::info, "retention", "pruned " + std::to_string(*pruned) + " history rows",
            {{"pruned", static_cast<long long>(*pruned)}});
}

// The paths of the requests a round answers, for its log line.
class RequestedPaths {
 public:
  void add(std::string path) {
    ++requests_;
    if (path.empty() || std::find(paths_.begin(), paths_.end(), path) != paths_.end()) return;
    if (paths_.size() < max_named)
      paths_.push_back(std::move(path));
    else
      ++unnamed_;
  }
  void clear() { *this = {}; }
  long long requests() const { return requests_; }
  // "path cam-1", "paths cam-1, cam-2 and 3 more", "no path".
  std::string describe() const {
    if (paths_.empty()) return "no path";
    std::string out = paths_.size() == 1 && unnamed_ == 0 ? "path " : "paths ";
    for (std::size_t i = 0; i < paths_.size(); ++i)
      out += (i > 0 ? ", " : "") + paths_[i];
    if (unnamed_ > 0) out += " and " + std::to_string(unnamed_) + " more";
    return out;
  }

 private:
  static constexpr std::size_t max_named = 5;
  std::vector<std::string> paths_;
  std::size_t unnamed_ = 0;
  long long requests_ = 0;
};

// Waits for the next round the schedule asks for, hearing requests meanwhile; false
// when stopped. A feed that is down is retried every feed_retry, rounds go on meanwhile.
// Requests for another site's worker are not heard.
bool wait_for_round(RoundSchedule& schedule, RequestedPaths& paths, TriggerFeed* triggers,
                    const std::string& site, StopSignal& stop, const Logger& log, bool& feed_down) {
  using Steady = std::chrono::steady_clock;
  constexpr auto feed_retry = std::chrono::seconds(5);
  for (;;) {
    if (stop.requested()) return false;
    const auto now = Steady::now();
    const auto due = schedule.next_round();
    if (now >= due) return true;
    if (!triggers) {
      if (stop.wait_until(due)) return false;
      continue;
    }
    auto heard = triggers->wait(std::chrono::duration_cast<Duration>(due - now));
    if (!heard) {
      if (!feed_down) {
        log.log(LogLevel::warn, "trigger", heard.error().message + "; rounds go on every interval",
                {{"reason", heard.error().message}});
      }
      feed_down = true;
      if (stop.wait_until(std::min(due, Steady::now() + feed_retry))) return false;
      continue;
    }
    if (feed_down) log.log(LogLevel::info, "trigger", "listening for round requests again");
    feed_down = false;
    for (auto& request : *heard) {
      if (!request.site.empty() && request.site != site) continue;
      schedule.request();
      paths.add(std::move(request.path));
    }
  }
}

} // namespace

int run_worker(PathSource& source, DeviceRepository& repository, const Clock& clock,
               const WorkerConfig& config, StopSignal& stop, const Logger& log,
               TriggerFeed* triggers, const RoundObserver& on_round) {
  if (config.once) triggers = nullptr;
  RoundSchedule schedule(config.interval, config.min_trigger_interval,
                         std::chrono::steady_clock::now());
  RequestedPaths paths;
  bool feed_down = false;
  // Listening before the first round, so a request made during it is heard.
  if (triggers) {
    if (auto opened = triggers->wait(Duration::zero()); !opened) {
      feed_down = true;
      log.log(LogLevel::warn, "trigger", opened.error().message + "; rounds go on every interval",
              {{"reason", opened.error().message}});
    }
  }
  for (;;) {
    const auto started = std::chrono::steady_clock::now();
    if (schedule.start_round(started)) {
      log.log(LogLevel::info, "round", "round triggered (" + paths.describe() + ")",
              {{"requests", paths.requests()}});
    }
    paths.clear();
    const auto report = sync_round(source, repository, clock, config.sync);
    const auto took = std::chrono::steady_clock::now() - started;
    if (on_round) on_round(report, took);
    log_round(log, report, took);
    if (!report.write_error) prune(repository, clock, config, log);
    if (config.once) return exit_code_for(report);
    if (!wait_for_round(schedule, paths, triggers, config.sync.site, stop, log, feed_down))
      return exit_ok;
  }
}

} // namespace camreg::app

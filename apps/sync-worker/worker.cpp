#include "worker.hpp"

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
    log.log(LogLevel::info, "round", "skipped: another sync-worker is applying a round",
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

} // namespace

int run_worker(PathSource& source, DeviceRepository& repository, const Clock& clock,
               const WorkerConfig& config, StopSignal& stop, const Logger& log,
               const RoundObserver& on_round) {
  for (;;) {
    const auto started = std::chrono::steady_clock::now();
    const auto report = sync_round(source, repository, clock, config.sync);
    const auto took = std::chrono::steady_clock::now() - started;
    if (on_round) on_round(report, took);
    log_round(log, report, took);
    if (!report.write_error) prune(repository, clock, config, log);
    if (config.once) return exit_code_for(report);
    if (stop.requested() || stop.wait_until(started + config.interval)) return exit_ok;
  }
}

} // namespace camreg::app

#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>

#include "camreg/sync_round.hpp"
#include "camreg/sync_trigger.hpp"
#include "common/log.hpp"

namespace camreg::app {

// A stop request that a waiting loop sees at once.
class StopSignal {
 public:
  void request();
  bool requested() const;
  // Waits until the deadline or a stop request; true when stopped.
  bool wait_until(std::chrono::steady_clock::time_point deadline);

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
};

struct WorkerConfig {
  SyncOptions sync;
  Duration interval = std::chrono::seconds(60);
  bool once = false;
  // Triggered rounds start at most once per this (requests inside it wait for its end).
  Duration min_trigger_interval = std::chrono::seconds(1);
  // After every round, up to prune_batch rows of each are pruned: ledger intervals that
  // ended over ledger_retention ago and runs that finished over runs_retention ago.
  Duration ledger_retention = std::chrono::hours(24 * 400);
  Duration runs_retention = std::chrono::hours(24 * 30);
  std::size_t prune_batch = 1000;
};

// When the next round is due: the regular schedule (an interval after the previous
// scheduled round started), and requests for a round, all those made before a round
// starts satisfied by it, started at once unless a triggered round started less than
// min_trigger_interval ago. Pure: the caller tells the time.
class RoundSchedule {
 public:
  using Time = std::chrono::steady_clock::time_point;
  RoundSchedule(Duration interval, Duration min_trigger_interval, Time first_round);

  // A request for a round arrived.
  void request() { pending_ = true; }
  bool pending() const { return pending_; }
  // When the next round should start (maybe in the past: at once).
  Time next_round() const;
  // A round starts at now (no earlier than next_round()): it satisfies the pending
  // requests. Returns whether it is a triggered round (started for a request).
  bool start_round(Time now);

 private:
  Duration interval_;
  Duration min_trigger_interval_;
  Time scheduled_;
  bool pending_ = false;
  bool triggered_before_ = false;
  Time last_triggered_{};
};

// Told of every round when it has finished, with the time it took.
using RoundObserver = std::function<void(const RoundReport&, std::chrono::steady_clock::duration)>;

// The exit code of a --once run for its round (see options.hpp).
int exit_code_for(const RoundReport& report);

// Runs rounds until stopped (or one, with once). Rounds never overlap: the next starts
// an interval after the previous scheduled one started, or at once when a round took
// longer. With triggers (ignored with once), requests start rounds in between, as
// RoundSchedule says; stop.request() should also call triggers->wake().
// Returns the process exit code.
// on_round, when given, is called after each round, before its log line.
int run_worker(PathSource& source, DeviceRepository& repository, const Clock& clock,
               const WorkerConfig& config, StopSignal& stop, const Logger& log,
               TriggerFeed* triggers = nullptr, const RoundObserver& on_round = {});

} // namespace camreg::app

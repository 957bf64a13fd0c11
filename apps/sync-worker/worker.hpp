#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>

#include "camreg/sync_round.hpp"
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
  // After every round, up to prune_batch rows of each are pruned: ledger intervals that
  // ended over ledger_retention ago and runs that finished over runs_retention ago.
  Duration ledger_retention = std::chrono::hours(24 * 400);
  Duration runs_retention = std::chrono::hours(24 * 30);
  std::size_t prune_batch = 1000;
};

// Told of every round when it has finished, with the time it took.
using RoundObserver = std::function<void(const RoundReport&, std::chrono::steady_clock::duration)>;

// The exit code of a --once run for its round (see options.hpp).
int exit_code_for(const RoundReport& report);

// Runs rounds until stopped (or one, with once). Rounds never overlap: the next starts
// an interval after the previous started, or at once when a round took longer.
// Returns the process exit code.
// on_round, when given, is called after each round, before its log line.
int run_worker(PathSource& source, DeviceRepository& repository, const Clock& clock,
               const WorkerConfig& config, StopSignal& stop, const Logger& log,
               const RoundObserver& on_round = {});

} // namespace camreg::app

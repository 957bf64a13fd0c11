#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "camreg/change_feed.hpp"
#include "camreg/device_repository.hpp"

namespace camreg::testing {

// A ChangeFeed the test drives: announce() makes the reader's wait report a change,
// set_down() makes every wait fail until set_down(false). Thread-safe.
class FakeChangeFeed final : public ChangeFeed {
 public:
  void announce() {
    const std::lock_guard lock(mutex_);
    changed_ = true;
    cv_.notify_all();
  }
  void set_down(bool down) {
    const std::lock_guard lock(mutex_);
    down_ = down;
    cv_.notify_all();
  }
  Result<bool> wait(Duration timeout) override {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, timeout, [&] { return changed_ || woken_ || down_; });
    woken_ = false;
    if (down_) return fail(ErrorKind::unavailable, "change feed: connection lost");
    const bool changed = changed_;
    changed_ = false;
    return changed;
  }
  void wake() override {
    const std::lock_guard lock(mutex_);
    woken_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool changed_ = false;
  bool woken_ = false;
  bool down_ = false;
};

// The read side of a DeviceRepository, scripted by the test: the devices it lists, the
// runs it returns, whether it is ready; hold() makes listings block until release(),
// hold_runs() likewise the reads of the runs.
// Thread-safe. It writes nothing: commit_round fails.
class ScriptedReadRepository final : public DeviceRepository {
 public:
  void set_devices(std::vector<Device> devices) {
    const std::lock_guard lock(mutex_);
    devices_ = std::move(devices);
  }
  void set_runs(std::vector<SyncRun> runs) {
    const std::lock_guard lock(mutex_);
    runs_ = std::move(runs);
  }
  void set_sites(std::vector<SiteSummary> sites) {
    const std::lock_guard lock(mutex_);
    sites_ = std::move(sites);
  }
  // Not ready with this reason; nullopt: ready.
  void set_not_ready(std::optional<std::string> reason) {
    const std::lock_guard lock(mutex_);
    not_ready_ = std::move(reason);
  }
  // Listings fail (the database stays ready) until fail_listings(false).
  void fail_listings(bool fail) {
    const std::lock_guard lock(mutex_);
    fail_listings_ = fail;
  }
  void hold() {
    const std::lock_guard lock(mutex_);
    held_ = true;
  }
  // Makes reads of the runs block until release().
  void hold_runs() {
    const std::lock_guard lock(mutex_);
    runs_held_ = true;
  }
  void release() {
    const std::lock_guard lock(mutex_);
    held_ = false;
    runs_held_ = false;
    cv_.notify_all();
  }
  // Waits until a listing is blocked by hold().
  bool wait_for_held_listing(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return blocked_ > 0; });
  }
  int listings() const {
    const std::lock_guard lock(mutex_);
    return listings_;
  }

  using DeviceRepository::commit_round;
  Result<RoundPlan> commit_round(const std::string&, const std::string&, std::optional<TimePoint>,
                                 const RoundPlanner&) override {
    return fail(ErrorKind::database, "ScriptedReadRepository is read-only");
  }
  Result<std::vector<Device>> list_devices(const DeviceQuery& query) override {
    std::unique_lock lock(mutex_);
    ++listings_;
    ++blocked_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !held_; });
    --blocked_;
    if (not_ready_) return fail(ErrorKind::database, *not_ready_);
    if (fail_listings_) return fail(ErrorKind::database, "canceling statement due to timeout");
    std::vector<Device> out;
    for (const auto& d : devices_) {
      if (query.device_type && d.device_type != *query.device_type) continue;
      if (query.active_only && !d.is_active) continue;
      out.push_back(d);
    }
    return out;
  }
  Result<std::vector<SyncRun>> recent_sync_runs(std::size_t limit) override {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return !runs_held_; });
    if (not_ready_) return fail(ErrorKind::database, *not_ready_);
    return std::vector<SyncRun>(
        runs_.begin(), runs_.begin() + static_cast<std::ptrdiff_t>(std::min(limit, runs_.size())));
  }
  Result<std::vector<SiteSummary>> list_sites() override {
    const std::lock_guard lock(mutex_);
    if (not_ready_) return fail(ErrorKind::database, *not_ready_);
    return sites_;
  }
  Result<void> check_ready() override {
    const std::lock_guard lock(mutex_);
    if (not_ready_) return fail(ErrorKind::database, *not_ready_);
    return {};
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Device> devices_;
  std::vector<SyncRun> runs_;
  std::vector<SiteSummary> sites_;
  std::optional<std::string> not_ready_;
  bool held_ = false;
  bool runs_held_ = false;
  bool fail_listings_ = false;
  int blocked_ = 0;
  int listings_ = 0;
};

// A camera as the registry stores it.
inline Device camera(std::string key, bool active = true) {
  Device d;
  d.id = static_cast<std::int64_t>(key.size());
  d.device_key = key;
  d.device_type = "camera";
  d.name = std::move(key);
  d.is_active = active;
  d.metadata_json = R"({"state":"live"})";
  return d;
}

} // namespace camreg::testing

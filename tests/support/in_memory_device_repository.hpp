#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "camreg/device_repository.hpp"

namespace camreg::testing {

// DeviceRepository kept in memory: storage only, as the port asks (the rules are the
// core's plan_round), so the core's rounds run without a database. Not thread-safe.
class InMemoryDeviceRepository final : public DeviceRepository {
 public:
  using DeviceRepository::commit_round;
  Result<RoundPlan> commit_round(const std::string& device_type, const std::string& site,
                                 std::optional<TimePoint> at, const RoundPlanner& planner) override;
  Result<std::vector<PresenceInterval>> presence_history(const HistoryQuery& query) override;
  Result<std::size_t> prune(TimePoint ledger_before, TimePoint runs_before,
                            std::size_t batch) override;
  Result<std::vector<Device>> list_devices(const DeviceQuery& query) override;
  Result<std::vector<SyncRun>> recent_sync_runs(std::size_t limit) override;
  Result<std::vector<SiteSummary>> list_sites() override;
  Result<void> check_ready() override { return {}; }

  // Makes the next commit_round fail with a database error, writing nothing.
  void fail_next_commit() { fail_next_ = true; }
  // An operator renaming a camera by hand.
  bool rename(const std::string& device_type, const std::string& key, std::string name);
  // The stored row, or nullptr.
  const Device* find(const std::string& device_type, const std::string& key) const;
  std::size_t size() const { return rows_.size(); }
  // Every event committed, in id order.
  const std::vector<Event>& events() const { return events_; }

 private:
  struct Row {
    Device device;
    std::optional<DeviceState> state;
    std::optional<std::uint64_t> metadata_hash;
    int missed_listings = 0;
    std::optional<Presence> presence;
    bool online_announced = false;
    std::vector<PresenceInterval> ledger; // in order; the last may be open
  };
  std::map<std::pair<std::string, std::string>, Row> rows_; // (type, key)
  std::vector<SyncRun> runs_;
  std::vector<Event> events_;
  std::map<std::string, SiteStatus> sites_;
  std::int64_t next_event_id_ = 1;
  std::int64_t next_id_ = 1;
  std::int64_t next_run_id_ = 1;
  bool fail_next_ = false;
};

} // namespace camreg::testing

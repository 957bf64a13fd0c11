#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "camreg/device_repository.hpp"

namespace camreg::testing {

// DeviceRepository kept in memory, following the port's contract to the letter, so
// the sync rules can be tested without a database. Not thread-safe.
class InMemoryDeviceRepository final : public DeviceRepository {
 public:
  Result<RoundCounts> commit_round(const RoundWrite& round) override;
  Result<std::vector<Device>> list_devices(const DeviceQuery& query) override;
  Result<std::vector<SyncRun>> recent_sync_runs(std::size_t limit) override;
  Result<void> check_ready() override { return {}; }

  // Makes the next commit_round fail with a database error, writing nothing.
  void fail_next_commit() { fail_next_ = true; }
  // An operator renaming a camera by hand.
  bool rename(const std::string& device_type, const std::string& key, std::string name);
  // The stored row, or nullptr.
  const Device* find(const std::string& device_type, const std::string& key) const;
  std::size_t size() const { return devices_.size(); }

 private:
  std::map<std::pair<std::string, std::string>, Device> devices_; // (type, key)
  std::vector<SyncRun> runs_;
  std::int64_t next_id_ = 1;
  bool fail_next_ = false;
};

} // namespace camreg::testing

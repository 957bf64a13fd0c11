#include "in_memory_device_repository.hpp"

#include <algorithm>
#include <unordered_set>

#include "camreg/metadata.hpp"

namespace camreg::testing {

Result<RoundCounts> InMemoryDeviceRepository::commit_round(const RoundWrite& round) {
  if (fail_next_) {
    fail_next_ = false;
    return fail(ErrorKind::database, "injected failure");
  }
  // Work on a copy so a failure part-way leaves the stored state untouched, as a
  // transaction would.
  auto devices = devices_;
  RoundCounts counts;
  if (round.listed) {
    std::unordered_set<std::string> listed_keys;
    counts.paths_seen = round.listed->size();
    for (const auto& row : *round.listed) {
      listed_keys.insert(row.device_key);
      auto [it, inserted] = devices.try_emplace({round.device_type, row.device_key});
      Device& d = it->second;
      const bool was_active = !inserted && d.is_active;
      bool changed = false;
      if (inserted) {
        d.id = next_id_++;
        d.device_key = row.device_key;
        d.device_type = round.device_type;
        d.name = row.device_key;
        d.created_at = round.now;
        d.updated_at = round.now;
        ++counts.inserted;
      }
      if (d.metadata_json != row.metadata_json) {
        d.metadata_json = row.metadata_json;
        changed = true;
      }
      if (row.healthy) {
        d.last_seen = round.now;
        if (!d.is_active) changed = true;
        d.is_active = true;
        if (!was_active) ++counts.newly_active;
      }
      if (changed && !inserted) {
        d.updated_at = round.now;
        ++counts.updated;
      }
    }
    for (auto& [id, d] : devices) {
      if (id.first != round.device_type || listed_keys.count(id.second) != 0) continue;
      const auto removed = metadata_as_removed(d.metadata_json);
      if (removed != d.metadata_json) {
        d.metadata_json = removed;
        d.updated_at = round.now;
        ++counts.removed;
      }
    }
  }
  for (auto& [id, d] : devices) {
    if (id.first != round.device_type || !d.is_active) continue;
    if (!d.last_seen || *d.last_seen < round.stale_before) {
      d.is_active = false;
      d.updated_at = round.now;
      ++counts.expired;
    }
  }
  devices_ = std::move(devices);
  SyncRun run;
  run.id = static_cast<std::int64_t>(runs_.size()) + 1;
  run.started_at = round.started_at;
  run.finished_at = round.now;
  run.ok = round.listed.has_value();
  run.error = round.error;
  run.paths_seen = counts.paths_seen;
  run.upserted = counts.inserted + counts.updated;
  run.expired = counts.expired;
  run.source = round.source;
  runs_.push_back(run);
  return counts;
}

Result<std::vector<Device>> InMemoryDeviceRepository::list_devices(const DeviceQuery& query) {
  std::vector<Device> out;
  for (const auto& [id, d] : devices_) {
    if (query.device_type && d.device_type != *query.device_type) continue;
    if (query.active_only && !d.is_active) continue;
    out.push_back(d);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Device& a, const Device& b) { return a.device_key < b.device_key; });
  return out;
}

Result<std::vector<SyncRun>> InMemoryDeviceRepository::recent_sync_runs(std::size_t limit) {
  std::vector<SyncRun> out(
      runs_.rbegin(), runs_.rbegin() + static_cast<std::ptrdiff_t>(std::min(limit, runs_.size())));
  return out;
}

bool InMemoryDeviceRepository::rename(const std::string& device_type, const std::string& key,
                                      std::string name) {
  const auto it = devices_.find({device_type, key});
  if (it == devices_.end()) return false;
  it->second.name = std::move(name);
  return true;
}

const Device* InMemoryDeviceRepository::find(const std::string& device_type,
                                             const std::string& key) const {
  const auto it = devices_.find({device_type, key});
  return it == devices_.end() ? nullptr : &it->second;
}

} // namespace camreg::testing

#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "camreg/device.hpp"
#include "camreg/result.hpp"

namespace camreg {

// A listed path as the registry stores it.
struct DeviceUpsert {
  std::string device_key;
  std::string metadata_json; // a JSON object whose "state" member comes first
  bool healthy = false;      // sets last_seen = now and is_active = true
};

// Everything one sync round writes. A repository applies it in one transaction:
// either all of it is visible afterwards or none of it.
struct RoundWrite {
  std::string device_type = "camera";
  TimePoint started_at;
  TimePoint now;
  // Active devices of device_type whose last_seen is before this instant, or who were
  // never seen healthy, become inactive.
  TimePoint stale_before;
  // Every listed path, each key once. Absent when the fetch failed: then no device row
  // is written except by expiry.
  std::optional<std::vector<DeviceUpsert>> listed;
  std::string source; // redacted description of where the list came from
  std::string error;  // why the fetch failed; empty when it succeeded
};

// What a round changed.
struct RoundCounts {
  std::size_t paths_seen = 0;   // listed paths
  std::size_t inserted = 0;     // devices created
  std::size_t updated = 0;      // existing devices whose metadata or status changed
  std::size_t newly_active = 0; // devices that went from inactive (or absent) to active
  std::size_t removed = 0;      // devices newly marked state "removed"
  std::size_t expired = 0;      // devices that became inactive
};

// Port: the devices table and its sync history.
class DeviceRepository {
 public:
  virtual ~DeviceRepository() = default;

  // Applies one round atomically: upserts every listed device (name set on insert
  // only; metadata rewritten only when it changed), marks unlisted devices of the type
  // "removed", expires stale ones and records the run. Fails with ErrorKind::busy when
  // another process is applying a round, ErrorKind::database on any other failure; in
  // both cases nothing was written.
  virtual Result<RoundCounts> commit_round(const RoundWrite& round) = 0;

  // Devices matching the query, ordered by device_key.
  virtual Result<std::vector<Device>> list_devices(const DeviceQuery& query) = 0;

  // The most recent sync runs, newest first.
  virtual Result<std::vector<SyncRun>> recent_sync_runs(std::size_t limit) = 0;

  // Whether the store is reachable and its schema current; the error says why not.
  virtual Result<void> check_ready() = 0;
};

} // namespace camreg

#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "camreg/time.hpp"

namespace camreg {

// The reason behind a device's status, stored as device_metadata.state.
enum class DeviceState {
  live,      // MediaMTX reports the path available/ready
  not_ready, // a source is attached but not ready (connecting, failing, idle on-demand)
  no_source, // listed, nothing publishing
  removed,   // no longer listed by MediaMTX
};

std::string_view to_string(DeviceState state) noexcept;
// The state named by text as to_string writes it; nothing for any other text.
std::optional<DeviceState> parse_device_state(std::string_view text) noexcept;

// One row of the devices table.
struct Device {
  std::int64_t id = 0;
  std::string device_key;
  std::string device_type;
  std::string name;
  std::optional<TimePoint> last_seen; // absent: never seen healthy
  bool is_active = false;
  TimePoint created_at;
  TimePoint updated_at;
  std::string metadata_json; // a JSON object, as stored
};

// Which devices a listing returns; results are ordered by device_key.
struct DeviceQuery {
  std::optional<std::string> device_type;
  bool active_only = false;
};

// One sync round as recorded in sync_runs.
struct SyncRun {
  std::int64_t id = 0;
  TimePoint started_at;
  TimePoint finished_at;
  bool ok = false;
  std::string error; // empty when ok
  std::size_t paths_seen = 0;
  std::size_t upserted = 0;
  std::size_t expired = 0;
  std::string source; // the redacted URL the round read from
};

} // namespace camreg

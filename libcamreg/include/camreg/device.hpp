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
  live,        // available with a real source online (MediaMTX < 1.16: ready)
  standby,     // on demand and idle: plays when someone opens it; not a failure
  not_ready,   // a source is attached but not delivering (connecting, failing)
  placeholder, // an alwaysAvailable path playing its offline video: the camera is down
  no_source,   // listed, nothing publishing
  removed,     // absent from two consecutive successful listings
};

std::string_view to_string(DeviceState state) noexcept;
// The state named by text as to_string writes it; nothing for any other text.
std::optional<DeviceState> parse_device_state(std::string_view text) noexcept;

// A path's traffic counters as MediaMTX last listed them (bytes_received, bytes_sent and
// frames_in_error of device_metadata). They move every round on every live camera, so they
// are stored in columns of their own beside device_metadata, whose JSON a round then
// rewrites only when something else changed; readers serve them inside device_metadata.
// Each is at most 2^63 - 1 (what PostgreSQL's bigint holds: 9.2 exabytes, which no camera
// moves); a larger listed value is held as that.
struct TrafficCounters {
  std::uint64_t bytes_received = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t frames_in_error = 0;
  friend bool operator==(const TrafficCounters&, const TrafficCounters&) = default;
};
inline constexpr std::uint64_t max_traffic_counter = 9'223'372'036'854'775'807u; // 2^63 - 1

// One row of the devices table.
struct Device {
  std::int64_t id = 0;
  std::string device_key;
  std::string device_type;
  std::string site = "default"; // the MediaMTX server that lists it
  std::string name;
  std::optional<TimePoint> last_seen; // absent: never seen healthy
  bool is_active = false;
  TimePoint created_at;
  TimePoint updated_at;
  std::string metadata_json;               // a JSON object, as stored (without the counters)
  std::optional<TimePoint> state_since;    // when device_metadata.state last changed
  std::optional<TrafficCounters> counters; // absent: not listed since counters had columns
};

// Which devices a listing returns; results are ordered by device_key.
struct DeviceQuery {
  std::optional<std::string> device_type;
  bool active_only = false;
  std::optional<std::string> site = std::nullopt; // absent: every site
};

// One sync round as recorded in sync_runs.
struct SyncRun {
  std::int64_t id = 0;
  std::string site = "default"; // whose MediaMTX the round listed
  TimePoint started_at;
  TimePoint finished_at;
  bool ok = false;
  std::string error; // empty when ok
  std::size_t paths_seen = 0;
  std::size_t upserted = 0;
  std::size_t expired = 0;
  std::string source;          // the redacted URL the round read from
  std::size_t skipped = 0;     // listed items that could not be understood (kept as they were)
  std::string skipped_reasons; // why, for the first few: "name: reason; ..."
};

} // namespace camreg

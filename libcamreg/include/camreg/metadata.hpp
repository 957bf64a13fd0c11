#pragma once

#include <string>
#include <string_view>

#include "camreg/device.hpp"
#include "camreg/path_state.hpp"

namespace camreg {

// The state a listed path puts its device in.
DeviceState classify(const PathState& path);

// A path is healthy when it is live: available with a real source (not a placeholder).
// Only a healthy path refreshes last_seen.
inline bool is_healthy(const PathState& path) {
  return classify(path) == DeviceState::live;
}

// At most this many readers are listed in metadata; reader_count is always exact.
inline constexpr std::size_t max_listed_readers = 100;

// device_metadata for a listed path: a JSON object starting with "state" and "ready"
// (state is live), then ready_time, online, source_type, source_id, conf_name, on_demand
// and always_available (null when the configuration is unknown), tracks (codec + props),
// track_codecs, readers (the first max_listed_readers), reader_count and whep_url. Every URL
// inside has its userinfo removed; invalid UTF-8 becomes U+FFFD so the result is always
// valid JSON. The traffic counters are not in it (counters_of): they are stored
// beside it and served inside it.
std::string render_metadata(const PathState& path, std::string_view whep_url);
// The same into out (cleared first): a round renders every listed path into one buffer
// and keeps a copy only of the metadata it writes.
void render_metadata(const PathState& path, std::string_view whep_url, std::string& out);

// The traffic counters of a listed path (each at most 2^63 - 1).
TrafficCounters counters_of(const PathState& path);

} // namespace camreg

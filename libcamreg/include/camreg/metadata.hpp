#pragma once

#include <string>
#include <string_view>

#include "camreg/device.hpp"
#include "camreg/path_state.hpp"

namespace camreg {

// The state a listed path puts its device in.
DeviceState classify(const PathState& path);

// A path is healthy when MediaMTX reports it available (ready).
inline bool is_healthy(const PathState& path) {
  return path.available;
}

// At most this many readers are listed in metadata; reader_count is always exact.
inline constexpr std::size_t max_listed_readers = 100;

// device_metadata for a listed path: a JSON object starting with "state" and "ready",
// then ready_time, online, source_type, source_id, conf_name, tracks (codec + props),
// track_codecs, readers (the first max_listed_readers), reader_count, bytes_received,
// bytes_sent, frames_in_error and whep_url. Every URL inside has its userinfo removed; invalid
// UTF-8 becomes U+FFFD so the result is always valid JSON.
std::string render_metadata(const PathState& path, std::string_view whep_url);

} // namespace camreg

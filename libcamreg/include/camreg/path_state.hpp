#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace camreg {

// One codec property as MediaMTX reports it (width, profile, muLaw, ...).
using CodecPropValue = std::variant<std::int64_t, bool, std::string>;

struct Track {
  std::string codec;                                               // "H264", "Opus", ...
  std::vector<std::pair<std::string, CodecPropValue>> codec_props; // empty when unknown
};

// What publishes into a path ({type, id} in the API).
struct SourceRef {
  std::string type; // "rtspSource", "rtspSession", ...
  std::string id;   // a UUID for sessions, "" for static sources
};

// Who reads a path ({type, id} in the API).
struct ReaderRef {
  std::string type;
  std::string id;
};

// A camera path's live state as MediaMTX reports it, independent of the API version
// that reported it (ready/available, tracks/tracks2, bytesReceived/inboundBytes are
// folded together by the adapter).
struct PathState {
  std::string name;      // the path name; may contain '/' and '.'
  std::string conf_name; // the configuration key that matched (may be a regex)
  bool available = false;
  std::optional<std::string> available_time; // RFC 3339 as reported, absent when not available
  std::optional<bool> online;                // absent before MediaMTX v1.16
  std::optional<SourceRef> source;           // absent: nothing publishes
  std::vector<Track> tracks;
  std::vector<ReaderRef> readers;
  std::uint64_t inbound_bytes = 0;
  std::uint64_t outbound_bytes = 0;
  std::uint64_t inbound_frames_in_error = 0;
};

} // namespace camreg

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

// What a path's configuration says (GET /v3/config/paths/list, matched by confName).
// Only these booleans are ever read from that body: it carries source URLs with
// credentials.
struct PathConfig {
  bool source_on_demand = false; // sourceOnDemand: the source starts when someone reads
  bool run_on_demand = false;    // runOnDemand is set: a command starts when someone reads
  bool always_available = false; // alwaysAvailable: a placeholder plays while no source is there
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
  std::optional<PathConfig> config; // absent: the configuration is not known
  // Non-empty: MediaMTX listed this item but it could not be understood (why, naming
  // the field). Only name is meaningful, and it may be empty when it was the problem.
  // The registry keeps such a device as it was: not refreshed, not removed.
  std::string unreadable;
};

} // namespace camreg

#include "camreg/metadata.hpp"

#include <algorithm>
#include <span>

#include "camreg/json_writer.hpp"
#include "camreg/url.hpp"

namespace camreg {

std::string_view to_string(DeviceState state) noexcept {
  switch (state) {
  case DeviceState::live: return "live";
  case DeviceState::standby: return "standby";
  case DeviceState::not_ready: return "not_ready";
  case DeviceState::placeholder: return "placeholder";
  case DeviceState::no_source: return "no_source";
  case DeviceState::removed: return "removed";
  }
  return "unknown";
}

std::optional<DeviceState> parse_device_state(std::string_view text) noexcept {
  for (const auto state :
       {DeviceState::live, DeviceState::not_ready, DeviceState::no_source, DeviceState::removed}) {
    if (to_string(state) == text) return state;
  }
  return std::nullopt;
}

DeviceState classify(const PathState& path) {
  // "From fields to presence" (shared/mediamtx/README.md): available alone is not up.
  if (path.available) {
    // An alwaysAvailable path streams its offline slate with no source: online false.
    // (MediaMTX < 1.16 has no online field: ready means live.)
    if (path.online == false) return DeviceState::placeholder;
    return DeviceState::live;
  }
  if (path.config && (path.config->source_on_demand || path.config->run_on_demand))
    return DeviceState::standby;
  if (path.source) return DeviceState::not_ready;
  return DeviceState::no_source;
}
std::string render_metadata(const PathState& path, std::string_view whep) {
  std::string out;
  render_metadata(path, whep, out);
  return out;
}

void render_metadata(const PathState& path, std::string_view whep, std::string& out) {
  out.clear();
  JsonWriter w(out);
  const auto text = [&](std::string_view value) {
    // Only a URL can carry userinfo: most values are written without a copy.
    if (value.find("://") == std::string_view::npos)
      w.string(value);
    else
      w.string(redact_userinfo(value));
  };
  w.begin_object();
  const DeviceState state = classify(path);
  w.key("state");
  w.string(to_string(state));
  w.key("ready"); // playable live video from the camera itself
  w.boolean(state == DeviceState::live);
  w.key("ready_time");
  if (path.available_time)
    text(*path.available_time);
  else
    w.null();
  w.key("online");
  if (path.online)
    w.boolean(*path.online);
  else
    w.null();
  w.key("source_type");
  if (path.source)
    text(path.source->type);
  else
    w.null();
  w.key("source_id");
  if (path.source)
    text(path.source->id);
  else
    w.null();
  w.key("conf_name");
  text(path.conf_name);
  w.key("on_demand");
  if (path.config)
    w.boolean(path.config->source_on_demand || path.config->run_on_demand);
  else
    w.null();
  w.key("always_available");
  if (path.config)
    w.boolean(path.config->always_available);
  else
    w.null();
  w.key("tracks");
  w.begin_array();
  for (const auto& track : path.tracks) {
    w.begin_object();
    w.key("codec");
    text(track.codec);
    for (const auto& [name, value] : track.codec_props) {
      if (name == "codec") continue;
      w.key(name);
      if (const auto* i = std::get_if<std::int64_t>(&value))
        w.number(*i);
      else if (const auto* b = std::get_if<bool>(&value))
        w.boolean(*b);
      else
        text(std::get<std::string>(value));
    }
    w.end_object();
  }
  w.end_array();
  w.key("track_codecs");
  w.begin_array();
  for (const auto& track : path.tracks)
    text(track.codec);
  w.end_array();
  w.key("readers");
  w.begin_array();
  const auto shown = std::min(path.readers.size(), max_listed_readers);
  for (const auto& reader : std::span(path.readers).first(shown)) {
    w.begin_object();
    w.key("type");
    text(reader.type);
    w.key("id");
    text(reader.id);
    w.end_object();
  }
  w.end_array();
  w.key("reader_count");
  w.number(static_cast<std::uint64_t>(path.readers.size()));
  w.key("whep_url");
  text(whep);
  w.end_object();
}

TrafficCounters counters_of(const PathState& path) {
  return {std::min(path.inbound_bytes, max_traffic_counter),
          std::min(path.outbound_bytes, max_traffic_counter),
          std::min(path.inbound_frames_in_error, max_traffic_counter)};
}

} // namespace camreg

#include "camreg/event_store.hpp"

#include <algorithm>
#include <charconv>

namespace camreg {

bool matches(const EventFilter& filter, const Event& event) {
  if (!filter.types.empty() &&
      std::find(filter.types.begin(), filter.types.end(), event.type) == filter.types.end())
    return false;
  if (!filter.device_type.empty() && !event.device_key.empty() &&
      event.device_type != filter.device_type)
    return false;
  return filter.site.empty() || event.site == filter.site;
}

namespace {

std::optional<std::int64_t> parse_id(std::string_view text) {
  std::int64_t id = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, id);
  if (text.empty() || ec != std::errc() || ptr != end || id < 0) return std::nullopt;
  return id;
}

Result<std::vector<EventType>> parse_types(std::string_view list) {
  std::vector<EventType> types;
  for (;;) {
    const auto comma = list.find(',');
    const auto name = list.substr(0, comma);
    const auto type = parse_event_type(name);
    if (!type) {
      return fail(ErrorKind::invalid_argument,
                  "types: \"" + std::string(name.substr(0, 64)) +
                      "\" is not an event type (device.added, device.online, device.offline, "
                      "device.removed, device.state, site.unreachable, site.reachable)");
    }
    if (std::find(types.begin(), types.end(), *type) == types.end()) types.push_back(*type);
    if (comma == std::string_view::npos) return types;
    list.remove_prefix(comma + 1);
  }
}

} // namespace

Result<EventStreamRequest> parse_event_stream_query(const QueryParams& params,
                                                    std::optional<std::string_view> last_event_id) {
  EventStreamRequest request;
  std::vector<std::string_view> seen;
  for (const auto& [name, value] : params) {
    if (std::find(seen.begin(), seen.end(), name) != seen.end())
      return fail(ErrorKind::invalid_argument, name + ": given more than once");
    if (name == "types") {
      auto types = parse_types(value);
      if (!types) return types.error();
      request.filter.types = std::move(*types);
    } else if (name == "device_type" || name == "site") {
      if (!valid_device_type(value)) {
        return fail(ErrorKind::invalid_argument,
                    name + ": must be 1-64 characters of letters, digits, '_', '-' or '.'");
      }
      (name == "site" ? request.filter.site : request.filter.device_type) = value;
    } else if (name == "after") {
      request.after = parse_id(value);
      if (!request.after)
        return fail(ErrorKind::invalid_argument, "after: must be an event id (0 or more)");
    } else {
      return fail(ErrorKind::invalid_argument,
                  name.substr(0, 64) +
                      ": unknown query parameter (expected types, device_type, site, after)");
    }
    seen.push_back(name);
  }
  if (last_event_id && !last_event_id->empty()) {
    request.after = parse_id(*last_event_id);
    if (!request.after)
      return fail(ErrorKind::invalid_argument, "Last-Event-ID: must be an event id (0 or more)");
  }
  return request;
}

} // namespace camreg

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "camreg/time.hpp"

namespace camreg {

// What an event says happened (DESIGN.md "Events").
enum class EventType {
  device_added,     // first listed
  device_online,    // is_active turned true (after --online-after of health)
  device_offline,   // is_active turned false (no healthy sync for the stale window)
  device_removed,   // state turned "removed"
  device_state,     // any change of state, undebounced
  site_unreachable, // the site's listing has failed for the stale window
  site_reachable,   // the site's listing works again after site.unreachable
};
// "device.added", "site.unreachable", ...
std::string_view to_string(EventType type) noexcept;
std::optional<EventType> parse_event_type(std::string_view text) noexcept;

// One row of the events table: written in the transaction of the round that caused it.
struct Event {
  std::int64_t id = 0; // assigned by the store, in commit order
  EventType type = EventType::device_state;
  std::string site = "default";
  std::string device_type; // empty for site events
  std::string device_key;  // empty for site events
  TimePoint at;
  // The Standard Webhooks body: {"type", "timestamp", "data": {...}}, exactly as sent.
  std::string payload;
};

// What the events last said of a site, and when its listing last worked.
struct SiteStatus {
  std::optional<TimePoint> last_success;
  bool unreachable_announced = false;
};

} // namespace camreg

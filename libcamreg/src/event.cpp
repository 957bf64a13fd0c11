#include "camreg/event.hpp"

#include <array>
#include <utility>

namespace camreg {

namespace {

constexpr std::array<std::pair<EventType, std::string_view>, 7> names{{
    {EventType::device_added, "device.added"},
    {EventType::device_online, "device.online"},
    {EventType::device_offline, "device.offline"},
    {EventType::device_removed, "device.removed"},
    {EventType::device_state, "device.state"},
    {EventType::site_unreachable, "site.unreachable"},
    {EventType::site_reachable, "site.reachable"},
}};

} // namespace

std::string_view to_string(EventType type) noexcept {
  for (const auto& [t, name] : names)
    if (t == type) return name;
  return "unknown";
}

std::optional<EventType> parse_event_type(std::string_view text) noexcept {
  for (const auto& [t, name] : names)
    if (name == text) return t;
  return std::nullopt;
}

} // namespace camreg

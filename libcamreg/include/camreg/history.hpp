#pragma once

#include <optional>
#include <string>
#include <vector>

#include "camreg/device_query.hpp"
#include "camreg/device_repository.hpp"
#include "camreg/result.hpp"
#include "camreg/time.hpp"

namespace camreg {

// The longest window a history request may ask for.
inline constexpr Duration max_history_window = std::chrono::hours(24 * 400);

// Reads GET /api/devices/{key}/history and GET /api/history: from and to (RFC 3339,
// default the 24 hours before now; from before to; at most max_history_window apart)
// and, for the bulk form (allow_type), device_type (default "camera") and site (default
// every site). An unknown,
// repeated or malformed parameter fails with invalid_argument naming it.
Result<HistoryQuery> parse_history_query(const QueryParams& params, TimePoint now, bool allow_type);

// One device's presence over a window: its intervals clipped to [from, min(to, now)),
// the time in each kind, and availability = online / (online + offline), standby and
// unknown excluded (absent when there was neither online nor offline time).
struct DeviceHistory {
  std::string device_key;
  std::vector<PresenceInterval> intervals;
  Duration online{}, offline{}, standby{}, unknown{};
  std::optional<double> availability;
};

// Groups the ledger's intervals (ordered by device_key, then from) per device.
std::vector<DeviceHistory> summarize_history(const std::vector<PresenceInterval>& intervals,
                                             TimePoint from, TimePoint to, TimePoint now);

// {"device_key", "from", "to", "availability", "seconds": {online, offline, standby,
// unknown}, "intervals": [{"presence", "from", "to"}]} for one device; the bulk form is
// {"from", "to", "devices": [...]}.
std::string render_history_json(const DeviceHistory& history, TimePoint from, TimePoint to);
std::string render_histories_json(const std::vector<DeviceHistory>& histories, TimePoint from,
                                  TimePoint to);

} // namespace camreg

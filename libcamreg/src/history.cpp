#include "camreg/history.hpp"

#include <algorithm>

#include "camreg/json_writer.hpp"
#include "camreg/site.hpp"
#include "json_time.hpp"

namespace camreg {

using detail::write_time;

namespace {

double seconds(Duration d) {
  return std::chrono::duration<double>(d).count();
}

void write_history(JsonWriter& w, const DeviceHistory& h, TimePoint from, TimePoint to) {
  w.begin_object();
  w.key("device_key");
  w.string(h.device_key);
  w.key("from");
  write_time(w, from);
  w.key("to");
  write_time(w, to);
  w.key("availability");
  if (h.availability)
    w.number(*h.availability);
  else
    w.null();
  w.key("seconds");
  w.begin_object();
  w.key("online");
  w.number(seconds(h.online));
  w.key("offline");
  w.number(seconds(h.offline));
  w.key("standby");
  w.number(seconds(h.standby));
  w.key("unknown");
  w.number(seconds(h.unknown));
  w.end_object();
  w.key("intervals");
  w.begin_array();
  for (const auto& i : h.intervals) {
    w.begin_object();
    w.key("presence");
    w.string(to_string(i.presence));
    w.key("from");
    write_time(w, i.from);
    w.key("to");
    write_time(w, i.to); // null: still open, until now
    w.end_object();
  }
  w.end_array();
  w.end_object();
}

} // namespace

Result<HistoryQuery> parse_history_query(const QueryParams& params, TimePoint now,
                                         bool allow_type) {
  HistoryQuery query;
  std::optional<TimePoint> from, to;
  bool seen_type = false;
  for (const auto& [name, value] : params) {
    if (name == "from" || name == "to") {
      auto& slot = name == "from" ? from : to;
      if (slot) return fail(ErrorKind::invalid_argument, name + ": given more than once");
      auto t = parse_rfc3339(value);
      if (!t)
        return fail(ErrorKind::invalid_argument,
                    name + ": must be an RFC 3339 time such as 2026-11-30T14:02:00Z");
      slot = *t;
    } else if (allow_type && name == "device_type") {
      if (seen_type) return fail(ErrorKind::invalid_argument, "device_type: given more than once");
      seen_type = true;
      if (!valid_device_type(value))
        return fail(ErrorKind::invalid_argument,
                    "device_type: must be 1-64 characters of letters, digits, '_', '-' or '.'");
      query.device_type = value;
    } else if (allow_type && name == "site") {
      if (query.site) return fail(ErrorKind::invalid_argument, "site: given more than once");
      if (!valid_site_name(value))
        return fail(ErrorKind::invalid_argument, "site: must be " + std::string(site_name_rule));
      query.site = value;
    } else {
      return fail(ErrorKind::invalid_argument, name.substr(0, 64) +
                                                   ": unknown query parameter (expected from, to" +
                                                   (allow_type ? ", device_type, site)" : ")"));
    }
  }
  query.to = to.value_or(now);
  query.from = from.value_or(query.to - std::chrono::hours(24));
  if (query.from >= query.to) return fail(ErrorKind::invalid_argument, "from: must be before to");
  if (query.to - query.from > max_history_window)
    return fail(ErrorKind::invalid_argument, "from: the window may span at most 400 days");
  return query;
}

std::vector<DeviceHistory> summarize_history(const std::vector<PresenceInterval>& intervals,
                                             TimePoint from, TimePoint to, TimePoint now) {
  std::vector<DeviceHistory> out;
  const TimePoint end = std::min(to, now);
  for (const auto& interval : intervals) {
    if (out.empty() || out.back().device_key != interval.device_key)
      out.push_back(DeviceHistory{interval.device_key, {}, {}, {}, {}, {}, std::nullopt});
    auto& h = out.back();
    PresenceInterval clipped = interval;
    clipped.from = std::max(interval.from, from);
    const TimePoint until = interval.to ? std::min(*interval.to, to) : to;
    clipped.to = interval.to ? std::optional<TimePoint>(until) : std::nullopt;
    if (interval.to && until <= clipped.from) continue;
    const Duration counted = std::max(Duration{}, std::min(until, end) - clipped.from);
    switch (interval.presence) {
    case Presence::online: h.online += counted; break;
    case Presence::offline: h.offline += counted; break;
    case Presence::standby: h.standby += counted; break;
    case Presence::unknown: h.unknown += counted; break;
    }
    h.intervals.push_back(std::move(clipped));
  }
  for (auto& h : out) {
    const auto observed = h.online + h.offline;
    if (observed > Duration{}) h.availability = std::chrono::duration<double>(h.online) / observed;
  }
  return out;
}

std::string render_history_json(const DeviceHistory& history, TimePoint from, TimePoint to) {
  std::string out;
  JsonWriter w(out);
  write_history(w, history, from, to);
  return out;
}

std::string render_histories_json(const std::vector<DeviceHistory>& histories, TimePoint from,
                                  TimePoint to) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.key("from");
  write_time(w, from);
  w.key("to");
  write_time(w, to);
  w.key("devices");
  w.begin_array();
  for (const auto& h : histories)
    write_history(w, h, from, to);
  w.end_array();
  w.end_object();
  return out;
}

} // namespace camreg

#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "camreg/device_query.hpp"
#include "camreg/event.hpp"
#include "camreg/result.hpp"

namespace camreg {

// Which events a reader wants. Every part left empty matches everything.
struct EventFilter {
  std::vector<EventType> types; // empty: every type
  // Device events of this type only. Site events have no device type and always pass:
  // a site.unreachable stands for the devices it took offline. types= leaves them out.
  std::string device_type;
  std::string site; // empty: every site
};

bool matches(const EventFilter& filter, const Event& event);

// What GET /api/events asks for.
struct EventStreamRequest {
  EventFilter filter;
  std::optional<std::int64_t> after; // absent: from the newest event on
};

// Reads GET /api/events' query: types (a comma list of event types), device_type and
// site (1-64 characters of [A-Za-z0-9_.-]), after (an event id, 0 or more). The
// Last-Event-ID header, when given and not empty, wins over after: an EventSource reconnecting
// keeps its URL. An unknown, repeated or malformed parameter (or header) fails with
// invalid_argument whose message starts with its name.
Result<EventStreamRequest> parse_event_stream_query(const QueryParams& params,
                                                    std::optional<std::string_view> last_event_id);

// A page of the events table: ids above after, up to up_to when given, ascending.
struct EventQuery {
  std::int64_t after = 0;
  std::optional<std::int64_t> up_to;
  std::size_t limit = 500; // at least 1
  EventFilter filter;
};

// Port: reads the append-only events table. Ids become visible in id order (a reader
// that has seen id N has seen every id below it), so "after the last id seen" neither
// skips nor repeats an event.
class EventStore {
 public:
  virtual ~EventStore() = default;

  // The matching events of the query's range, ascending by id, at most limit.
  // ErrorKind::unavailable or database when the store cannot be read.
  virtual Result<std::vector<Event>> read_events(const EventQuery& query) = 0;
  // The highest event id committed, 0 when there is none.
  virtual Result<std::int64_t> last_event_id() = 0;
};

} // namespace camreg

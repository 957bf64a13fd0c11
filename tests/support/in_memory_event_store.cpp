#include "in_memory_event_store.hpp"

namespace camreg::testing {

std::int64_t InMemoryEventStore::append(EventType type, std::string device_key,
                                        std::string device_type, std::size_t payload_bytes) {
  const std::lock_guard lock(mutex_);
  Event e;
  e.id = static_cast<std::int64_t>(events_.size()) + 1;
  e.type = type;
  e.device_key = std::move(device_key);
  e.device_type = std::move(device_type);
  e.payload = "{\"type\":\"" + std::string(to_string(type)) + "\",\"id\":" + std::to_string(e.id) +
              ",\"pad\":\"" + std::string(payload_bytes, 'x') + "\"}";
  events_.push_back(std::move(e));
  return events_.back().id;
}

Result<std::vector<Event>> InMemoryEventStore::read_events(const EventQuery& query) {
  const std::lock_guard lock(mutex_);
  if (failing_) return camreg::fail(ErrorKind::unavailable, "store down");
  std::vector<Event> out;
  for (const auto& e : events_) {
    if (e.id <= query.after || (query.up_to && e.id > *query.up_to)) continue;
    if (!matches(query.filter, e)) continue;
    out.push_back(e);
    if (out.size() >= query.limit) break;
  }
  return out;
}

Result<std::int64_t> InMemoryEventStore::last_event_id() {
  const std::lock_guard lock(mutex_);
  if (failing_) return camreg::fail(ErrorKind::unavailable, "store down");
  return static_cast<std::int64_t>(events_.size());
}

void InMemoryEventStore::fail(bool failing) {
  const std::lock_guard lock(mutex_);
  failing_ = failing;
}

} // namespace camreg::testing

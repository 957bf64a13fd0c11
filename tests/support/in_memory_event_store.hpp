#pragma once

#include <mutex>
#include <vector>

#include "camreg/event_store.hpp"

namespace camreg::testing {

// An EventStore over a vector the test appends to; ids are given in append order.
// Thread-safe: a test appends while a hub reads.
class InMemoryEventStore final : public EventStore {
 public:
  // Appends an event of the type for the device; returns its id.
  std::int64_t append(EventType type, std::string device_key, std::string device_type = "camera",
                      std::size_t payload_bytes = 0);
  Result<std::vector<Event>> read_events(const EventQuery& query) override;
  Result<std::int64_t> last_event_id() override;
  // The next reads fail (unavailable) while set.
  void fail(bool failing);

 private:
  std::mutex mutex_;
  std::vector<Event> events_;
  bool failing_ = false;
};

} // namespace camreg::testing

#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "camreg/event_hub.hpp"

namespace camreg::http::detail {

class HttpMetrics;

// One GET /api/events stream between the hub and a session: the hub's subscription and
// the link by which the hub wakes the session, which is not known when the request is
// answered. Counted in camreg_sse_clients while it lives. Thread-safe.
class EventStream {
 public:
  explicit EventStream(HttpMetrics* metrics);
  ~EventStream();
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  // What the hub calls when events wait: the session's wake, or remembered until there
  // is one.
  void fire();
  // The session's wake, called from the hub's thread; at once when the hub fired before.
  void on_wake(std::function<void()> wake);
  void attach(std::shared_ptr<EventHub::Subscription> subscription);
  EventHub::Subscription::Batch take();
  EventHub::End ended();
  // Ends the subscription (the client went, or the server drains).
  void cancel();

 private:
  HttpMetrics* metrics_;
  std::mutex mutex_;
  std::function<void()> wake_;
  bool fired_ = false;
  std::shared_ptr<EventHub::Subscription> subscription_;
};

// An event in the text/event-stream format: id, event, one data line per line of the
// payload, a blank line.
void append_sse(std::string& out, const Event& event);

} // namespace camreg::http::detail

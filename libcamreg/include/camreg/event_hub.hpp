#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include "camreg/change_feed.hpp"
#include "camreg/event_store.hpp"
#include "camreg/result.hpp"
#include "camreg/time.hpp"

namespace camreg {

struct EventHubOptions {
  // New events are read when the change feed reports a change, and at least this often.
  Duration poll_interval = std::chrono::seconds(1);
  std::size_t page_size = 500;       // events per read of the store; at least 1
  std::size_t max_subscribers = 256; // subscribe() beyond it fails with busy
  // What one subscriber may have waiting: each event counts its payload plus
  // event_overhead bytes. A live subscriber with no room left falls behind: it is given
  // the rest from the store as it takes its queue, like a backlog, and is ended
  // (overflow) if it has not caught up within max_lag. A burst is absorbed; a reader
  // slower than the events is cut, and memory stays bounded either way.
  std::size_t max_queued_bytes = 1 << 20;
  Duration max_lag = std::chrono::seconds(10);
  static constexpr std::size_t event_overhead = 64;
};

// The one reader of new events in a process: a thread of its own reads the store after
// the last id it published, woken by the change feed or every poll_interval, and hands
// each event to every subscriber whose filter it matches. A subscriber resuming from an
// older id (or fallen behind) is given its backlog from the store, page by page as it
// takes them, then joins the live feed: ids ascend without gap or repeat. The store and feed are
// used by the hub's thread only.
class EventHub {
 public:
  enum class End {
    none,
    overflow, // a subscriber stayed behind the live events for max_lag: it must reconnect
    stopped,  // the hub is stopping
  };

  // One subscriber's queue. Thread-safe.
  class Subscription {
   public:
    // The events waiting, oldest first (empty when none), and why the stream is over
    // (none while it goes on; once ended, nothing more is queued).
    struct Batch {
      std::vector<std::shared_ptr<const Event>> events;
      End end = End::none;
    };
    Batch take();
    // Why the stream is over, without taking anything (none while it goes on).
    End ended() const;
    // Ends the subscription from the subscriber's side (it disconnected).
    void cancel();

   private:
    friend class EventHub;
    struct Impl;
    std::shared_ptr<Impl> impl_;
  };

  using Notify = std::function<void(bool ok, std::string_view message)>;
  using Published = std::function<void(const Event& event)>;

  // notify: the store could not be read (ok false, once per outage) or can again (true).
  // published: called on the hub's thread for every new event read, once.
  EventHub(std::unique_ptr<EventStore> store, std::unique_ptr<ChangeFeed> feed,
           EventHubOptions options = {}, Notify notify = {}, Published published = {});
  ~EventHub();
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // A subscription to the events matching filter with ids above after; without after,
  // from the newest event on (only events committed from now). wake is called (from the
  // hub's thread, or the caller's) whenever take() has something new; it must not block
  // nor call into the hub. Fails with busy beyond max_subscribers. Thread-safe.
  Result<std::shared_ptr<Subscription>> subscribe(EventFilter filter,
                                                  std::optional<std::int64_t> after,
                                                  std::function<void()> wake);
  // Blocks until the hub knows the newest event id (its first read), or the timeout
  // passes; true when it does. Until then a subscriber without after starts where the
  // first read finds the newest event.
  bool wait_started(Duration timeout) const;
  // Subscriptions not yet ended nor dropped.
  std::size_t subscribers() const;
  // Ends every subscription (End::stopped) and the hub's thread. Idempotent.
  void stop();

 private:
  struct Core;
  std::shared_ptr<Core> core_;
};

} // namespace camreg

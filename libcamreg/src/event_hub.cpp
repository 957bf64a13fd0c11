#include "camreg/event_hub.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <thread>

namespace camreg {

namespace {

using Steady = std::chrono::steady_clock;

std::size_t cost_of(const Event& event) {
  return event.payload.size() + EventHubOptions::event_overhead;
}

} // namespace

struct EventHub::Subscription::Impl {
  enum class Mode { awaiting_head, catching_up, live };

  EventFilter filter;
  std::function<void()> wake;
  std::weak_ptr<EventHub::Core> core;
  // The hub's thread's (and subscribe()'s, before the hub sees it).
  Mode mode = Mode::awaiting_head;
  std::int64_t cursor = 0; // every id up to it was queued or did not match
  // Since when a live subscriber's queue has been too full to take the live events.
  std::optional<Steady::time_point> behind_since;
  // Set when a backlog page stopped at the queue's bound: take() wakes the hub.
  std::atomic<bool> wants_more{false};

  std::mutex mutex;
  std::deque<std::shared_ptr<const Event>> queue;
  std::size_t queued_bytes = 0;
  End end = End::none;

  bool ended() {
    const std::lock_guard lock(mutex);
    return end != End::none;
  }
  // Ends with why; false when it had already ended.
  bool finish(End why) {
    const std::lock_guard lock(mutex);
    if (end != End::none) return false;
    end = why;
    queue.clear();
    queued_bytes = 0;
    return true;
  }
};

struct EventHub::Core {
  std::unique_ptr<EventStore> store;
  std::unique_ptr<ChangeFeed> feed;
  EventHubOptions options;
  Notify notify;
  Published published;

  using Sub = Subscription::Impl;
  mutable std::mutex mutex;
  std::condition_variable cv;
  mutable std::condition_variable started_cv;
  bool stopping = false;
  bool woken = false;
  std::vector<std::shared_ptr<Sub>> subs;
  std::optional<std::int64_t> head; // the last id published; written by the hub's thread
  std::thread thread;

  // The hub's thread's.
  bool store_ok = true;
  bool feed_ok = true;

  void wake() {
    {
      const std::lock_guard lock(mutex);
      woken = true;
    }
    cv.notify_all();
    if (feed) feed->wake();
  }

  bool is_stopping() const {
    const std::lock_guard lock(mutex);
    return stopping;
  }

  void report(bool ok, const std::string& message) {
    if (ok == store_ok) return;
    store_ok = ok;
    if (notify) notify(ok, message);
  }

  // Waits for a change, a wake or the timeout; true when the feed saw a change.
  bool wait(Duration timeout) {
    if (feed) {
      auto changed = feed->wait(timeout);
      if (changed) {
        if (!feed_ok && notify) notify(true, "change feed: back");
        feed_ok = true;
        return *changed;
      }
      if (feed_ok && notify) notify(false, changed.error().message + "; polling");
      feed_ok = false;
    }
    std::unique_lock lock(mutex);
    cv.wait_for(lock, timeout, [&] { return woken || stopping; });
    woken = false;
    return false;
  }

  void loop() {
    bool changed = true;
    auto last_read = Steady::time_point::min();
    while (!is_stopping()) {
      bool more = false;
      if (!head) {
        if (auto last = store->last_event_id(); !last) {
          report(false, last.error().message);
        } else {
          report(true, "events: readable");
          start_at(*last);
        }
        last_read = Steady::now();
      } else if (changed || Steady::now() - last_read >= options.poll_interval) {
        last_read = Steady::now();
        read_new();
      }
      if (head) more = serve_backlogs();
      if (more) {
        changed = wait(Duration::zero());
        continue;
      }
      const auto waited = std::chrono::duration_cast<Duration>(Steady::now() - last_read);
      changed = wait(std::max(Duration::zero(), options.poll_interval - waited));
    }
  }

  // The newest id is known: subscribers from now start there.
  void start_at(std::int64_t last) {
    {
      const std::lock_guard lock(mutex);
      head = last;
      for (auto& s : subs) {
        if (s->mode != Sub::Mode::awaiting_head) continue;
        s->mode = Sub::Mode::live;
        s->cursor = last;
      }
    }
    started_cv.notify_all();
  }

  // Publishes every event after head to the live subscribers, page by page.
  void read_new() {
    for (;;) {
      EventQuery query;
      query.after = *head;
      query.limit = options.page_size;
      auto page = store->read_events(query);
      if (!page) return report(false, page.error().message);
      report(true, "events: readable");
      if (page->empty()) return;
      std::vector<std::shared_ptr<const Event>> events;
      events.reserve(page->size());
      for (auto& e : *page) {
        if (published) published(e);
        events.push_back(std::make_shared<const Event>(std::move(e)));
      }
      std::vector<std::shared_ptr<Sub>> woke;
      {
        const std::lock_guard lock(mutex);
        for (auto& s : subs) {
          if (s->mode != Sub::Mode::live) continue;
          const auto pushed = push_live(*s, events);
          if (pushed.any) woke.push_back(s);
          if (pushed.full_at) {
            // Behind: the rest comes from the store at the subscriber's pace.
            s->mode = Sub::Mode::catching_up;
            s->cursor = *pushed.full_at - 1;
            if (!s->behind_since) s->behind_since = Steady::now();
          } else {
            s->cursor = std::max(s->cursor, events.back()->id);
          }
        }
        head = events.back()->id;
      }
      for (auto& s : woke)
        s->wake();
      if (events.size() < options.page_size) return;
    }
  }

  struct Pushed {
    bool any = false;                    // something new to take
    std::optional<std::int64_t> full_at; // the first event the queue had no room for
  };
  Pushed push_live(Sub& s, const std::vector<std::shared_ptr<const Event>>& events) {
    const std::lock_guard lock(s.mutex);
    Pushed pushed;
    if (s.end != End::none) return pushed;
    for (const auto& e : events) {
      if (e->id <= s.cursor || !matches(s.filter, *e)) continue;
      const auto cost = cost_of(*e);
      if (!s.queue.empty() && s.queued_bytes + cost > options.max_queued_bytes) {
        pushed.full_at = e->id;
        s.wants_more = true;
        return pushed;
      }
      s.queue.push_back(e);
      s.queued_bytes += cost;
      pushed.any = true;
    }
    return pushed;
  }

  // Gives each catching-up subscriber with room its next page; true when one of them
  // has room for more at once.
  bool serve_backlogs() {
    std::vector<std::shared_ptr<Sub>> catching_up;
    {
      const std::lock_guard lock(mutex);
      std::erase_if(subs, [](const auto& s) { return s->ended(); });
      for (auto& s : subs)
        if (s->mode == Sub::Mode::catching_up) catching_up.push_back(s);
    }
    bool more = false;
    for (auto& s : catching_up) {
      if (is_stopping()) return false;
      if (s->behind_since && Steady::now() - *s->behind_since > options.max_lag) {
        if (s->finish(End::overflow)) s->wake();
        continue;
      }
      {
        const std::lock_guard lock(s->mutex);
        if (s->end != End::none) continue;
        if (s->queued_bytes > options.max_queued_bytes / 2) {
          s->wants_more = true;
          continue;
        }
      }
      if (s->cursor >= *head) {
        join_live(*s);
        continue;
      }
      EventQuery query;
      query.after = s->cursor;
      query.up_to = *head;
      query.limit = options.page_size;
      query.filter = s->filter;
      auto page = store->read_events(query);
      if (!page) {
        report(false, page.error().message);
        return false;
      }
      bool complete = page->size() < options.page_size;
      bool pushed = false;
      {
        const std::lock_guard lock(s->mutex);
        if (s->end != End::none) continue;
        for (auto& e : *page) {
          const auto cost = cost_of(e);
          if (!s->queue.empty() && s->queued_bytes + cost > options.max_queued_bytes) {
            complete = false;
            s->wants_more = true;
            break;
          }
          s->cursor = e.id;
          s->queued_bytes += cost;
          s->queue.push_back(std::make_shared<const Event>(std::move(e)));
          pushed = true;
        }
      }
      if (complete) {
        s->cursor = *head;
        join_live(*s);
      } else if (!s->wants_more) {
        more = true;
      }
      if (pushed) s->wake();
    }
    return more;
  }

  void join_live(Sub& s) {
    const std::lock_guard lock(mutex);
    s.mode = Sub::Mode::live;
    s.behind_since.reset();
  }
};

EventHub::Subscription::Batch EventHub::Subscription::take() {
  Batch batch;
  {
    const std::lock_guard lock(impl_->mutex);
    batch.events.assign(std::make_move_iterator(impl_->queue.begin()),
                        std::make_move_iterator(impl_->queue.end()));
    impl_->queue.clear();
    impl_->queued_bytes = 0;
    batch.end = impl_->end;
  }
  if (impl_->wants_more.exchange(false)) {
    if (auto core = impl_->core.lock()) core->wake();
  }
  return batch;
}

EventHub::End EventHub::Subscription::ended() const {
  const std::lock_guard lock(impl_->mutex);
  return impl_->end;
}

void EventHub::Subscription::cancel() {
  if (impl_->finish(End::stopped)) {
    if (auto core = impl_->core.lock()) core->wake();
  }
}

EventHub::EventHub(std::unique_ptr<EventStore> store, std::unique_ptr<ChangeFeed> feed,
                   EventHubOptions options, Notify notify, Published published)
    : core_(std::make_shared<Core>()) {
  core_->store = std::move(store);
  core_->feed = std::move(feed);
  options.page_size = std::max<std::size_t>(options.page_size, 1);
  core_->options = options;
  core_->notify = std::move(notify);
  core_->published = std::move(published);
  core_->thread = std::thread([core = core_.get()] { core->loop(); });
}

EventHub::~EventHub() {
  stop();
}

void EventHub::stop() {
  std::vector<std::shared_ptr<Core::Sub>> ended;
  {
    const std::lock_guard lock(core_->mutex);
    core_->stopping = true;
    for (auto& s : core_->subs)
      if (s->finish(End::stopped)) ended.push_back(s);
    core_->subs.clear();
  }
  for (auto& s : ended)
    s->wake();
  core_->wake();
  if (core_->thread.joinable()) core_->thread.join();
}

Result<std::shared_ptr<EventHub::Subscription>> EventHub::subscribe(
    EventFilter filter, std::optional<std::int64_t> after, std::function<void()> wake) {
  auto impl = std::make_shared<Subscription::Impl>();
  impl->filter = std::move(filter);
  impl->wake = std::move(wake);
  impl->core = core_;
  bool backlog = false;
  {
    const std::lock_guard lock(core_->mutex);
    if (core_->stopping) return fail(ErrorKind::unavailable, "the server is stopping");
    std::erase_if(core_->subs, [](const auto& s) { return s->ended(); });
    if (core_->subs.size() >= core_->options.max_subscribers) {
      return fail(ErrorKind::busy, "too many event streams (" +
                                       std::to_string(core_->options.max_subscribers) + ")");
    }
    using Mode = Subscription::Impl::Mode;
    if (after) {
      impl->cursor = *after;
      backlog = !core_->head || *after < *core_->head;
      impl->mode = backlog ? Mode::catching_up : Mode::live;
    } else if (core_->head) {
      impl->cursor = *core_->head;
      impl->mode = Mode::live;
    }
    core_->subs.push_back(impl);
  }
  // A backlog to read: now rather than at the next poll.
  if (backlog) core_->wake();
  auto subscription = std::shared_ptr<Subscription>(new Subscription(), [](Subscription* s) {
    s->cancel();
    delete s;
  });
  subscription->impl_ = std::move(impl);
  return subscription;
}

bool EventHub::wait_started(Duration timeout) const {
  std::unique_lock lock(core_->mutex);
  return core_->started_cv.wait_for(lock, timeout, [&] { return core_->head.has_value(); });
}

std::size_t EventHub::subscribers() const {
  const std::lock_guard lock(core_->mutex);
  return static_cast<std::size_t>(std::count_if(core_->subs.begin(), core_->subs.end(),
                                                [](const auto& s) { return !s->ended(); }));
}

} // namespace camreg

#include "camreg/registry_view.hpp"

#include <algorithm>

namespace camreg {

namespace {

std::string query_key(const DeviceQuery& query) {
  return (query.device_type ? "t:" + *query.device_type : std::string("*")) +
         (query.active_only ? "|active" : "|all");
}

} // namespace

RegistryView::RegistryView(std::unique_ptr<DeviceRepository> repository,
                           std::unique_ptr<ChangeFeed> feed, Builder builder, ViewOptions options,
                           Notify notify)
    : repository_(std::move(repository)),
      feed_(std::move(feed)),
      builder_(std::move(builder)),
      options_(options),
      notify_(std::move(notify)) {
  options_.max_queries = std::max<std::size_t>(options_.max_queries, 1);
  thread_ = std::thread([this] { loop(); });
}

RegistryView::~RegistryView() {
  stop();
}

void RegistryView::stop() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  checked_cv_.notify_all();
  feed_->wake();
  if (thread_.joinable()) thread_.join();
}

void RegistryView::get(const DeviceQuery& query, Callback callback) {
  const auto key = query_key(query);
  SnapshotPtr ready;
  std::string error;
  {
    const std::lock_guard lock(mutex_);
    if (checked_ && !readiness_.ready) {
      error = readiness_.reason;
    } else if (auto it = entries_.find(key); it != entries_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      if (it->second.snapshot)
        ready = it->second.snapshot;
      else
        it->second.waiting.push_back(std::move(callback));
    } else {
      if (entries_.size() >= options_.max_queries) {
        for (auto victim = lru_.rbegin(); victim != lru_.rend(); ++victim) {
          auto e = entries_.find(*victim);
          if (e->second.waiting.empty()) {
            lru_.erase(e->second.lru);
            entries_.erase(e);
            break;
          }
        }
      }
      lru_.push_front(key);
      auto& entry = entries_[key];
      entry.query = query;
      entry.lru = lru_.begin();
      entry.waiting.push_back(std::move(callback));
    }
  }
  if (ready || !error.empty()) {
    callback(ready, error);
    return;
  }
  feed_->wake();
}

bool RegistryView::wait_first_check(Duration timeout) const {
  std::unique_lock lock(mutex_);
  return checked_cv_.wait_for(lock, timeout, [&] { return checked_; });
}

Readiness RegistryView::readiness() const {
  const std::lock_guard lock(mutex_);
  return readiness_;
}

std::shared_ptr<const std::vector<SyncRun>> RegistryView::recent_runs() const {
  const std::lock_guard lock(mutex_);
  if (!readiness_.ready) return nullptr;
  return runs_;
}

bool RegistryView::check_readiness() {
  const auto ready = repository_->check_ready();
  std::vector<Callback> failed;
  bool changed = false;
  {
    const std::lock_guard lock(mutex_);
    changed = readiness_.ready != ready.has_value() || !checked_;
    readiness_.ready = ready.has_value();
    readiness_.reason = ready ? "" : ready.error().message;
    if (!ready) {
      // Never serve what the database may no longer say: drop every snapshot.
      for (auto& [key, entry] : entries_) {
        entry.snapshot.reset();
        for (auto& cb : entry.waiting)
          failed.push_back(std::move(cb));
        entry.waiting.clear();
      }
      runs_.reset();
    }
  }
  if (changed && notify_) {
    if (ready)
      notify_(ViewNotice::database_ready, "");
    else
      notify_(ViewNotice::database_not_ready, ready.error().message);
  }
  for (auto& cb : failed)
    cb(nullptr, ready.error().message);
  return ready.has_value();
}

void RegistryView::refresh(bool everything) {
  std::vector<std::pair<std::string, DeviceQuery>> wanted;
  {
    const std::lock_guard lock(mutex_);
    for (const auto& [key, entry] : entries_) {
      if (everything || !entry.snapshot) wanted.emplace_back(key, entry.query);
    }
  }
  std::shared_ptr<const std::vector<SyncRun>> runs;
  if (everything) {
    auto listed = repository_->recent_sync_runs(options_.recent_runs);
    if (listed) runs = std::make_shared<const std::vector<SyncRun>>(std::move(*listed));
  }
  for (const auto& [key, query] : wanted) {
    auto devices = repository_->list_devices(query);
    SnapshotPtr snapshot;
    std::string error;
    if (devices)
      snapshot = builder_(*devices);
    else
      error = devices.error().message;
    std::vector<Callback> callbacks;
    {
      const std::lock_guard lock(mutex_);
      auto it = entries_.find(key);
      if (it == entries_.end()) continue;
      if (snapshot) it->second.snapshot = snapshot;
      callbacks.swap(it->second.waiting);
    }
    for (auto& cb : callbacks)
      cb(snapshot, error);
  }
  if (runs) {
    const std::lock_guard lock(mutex_);
    runs_ = std::move(runs);
  }
}

void RegistryView::loop() {
  bool dirty = true;
  bool feed_down = false; // no notifications: poll, one rebuild per readiness check
  auto next_check = std::chrono::steady_clock::now();
  for (;;) {
    {
      const std::lock_guard lock(mutex_);
      if (stopping_) break;
    }
    bool ready = readiness().ready;
    if (std::chrono::steady_clock::now() >= next_check) {
      next_check = std::chrono::steady_clock::now() + options_.readiness_interval;
      ready = check_readiness();
      if (!ready || feed_down) dirty = true;
    }
    if (ready) {
      refresh(dirty);
      dirty = false;
    }
    {
      const std::lock_guard lock(mutex_);
      if (!checked_) {
        checked_ = true;
        checked_cv_.notify_all();
      }
    }
    const auto wait =
        std::chrono::duration_cast<Duration>(next_check - std::chrono::steady_clock::now());
    const auto changed = feed_->wait(std::max(wait, Duration(0)));
    if (!changed) {
      if (!feed_down && notify_) notify_(ViewNotice::feed_down, changed.error().message);
      feed_down = true;
      // A feed failing at once would spin; reconnecting a few times a second is enough.
      const std::chrono::milliseconds backoff = std::chrono::milliseconds(200);
      std::unique_lock lock(mutex_);
      checked_cv_.wait_for(lock, std::min<Duration>(backoff, options_.readiness_interval),
                           [&] { return stopping_; });
    } else {
      feed_down = false;
      if (*changed) dirty = true; // a reconnected feed reports true: changes may be missed
    }
  }
}

} // namespace camreg

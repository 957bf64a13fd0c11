#include "camreg/registry_view.hpp"

#include <algorithm>
#include <iterator>
#include <map>

namespace camreg {

namespace {

std::string query_key(const DeviceQuery& query) {
  return (query.device_type ? "t:" + *query.device_type : std::string("*")) +
         (query.site ? "|s:" + *query.site : std::string("|*")) +
         (query.active_only ? "|active" : "|all");
}

// Keeps every batch, then builds from them all.
class WholeListing final : public RegistryView::SnapshotBuilder {
 public:
  explicit WholeListing(const std::function<RegistryView::SnapshotPtr(std::vector<Device>)>& build)
      : build_(build) {}
  void add(std::vector<Device>& batch) override {
    devices_.insert(devices_.end(), std::make_move_iterator(batch.begin()),
                    std::make_move_iterator(batch.end()));
  }
  RegistryView::SnapshotPtr finish() override { return build_(std::move(devices_)); }

 private:
  const std::function<RegistryView::SnapshotPtr(std::vector<Device>)>& build_;
  std::vector<Device> devices_;
};

} // namespace

RegistryView::Builder RegistryView::whole_listing(
    std::function<SnapshotPtr(std::vector<Device> devices)> build) {
  return [build = std::move(build)](const SnapshotPtr&) -> std::unique_ptr<SnapshotBuilder> {
    return std::make_unique<WholeListing>(build);
  };
}

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
  const auto now = Steady::now();
  SnapshotPtr ready;
  std::string error;
  {
    const std::lock_guard lock(mutex_);
    if (checked_ && !readiness_.ready) {
      error = readiness_.reason;
    } else if (auto it = entries_.find(key); it != entries_.end()) {
      auto& entry = it->second;
      lru_.splice(lru_.begin(), lru_, entry.lru);
      entry.asked = true;
      if (entry.snapshot && now - entry.built_at <= options_.max_snapshot_age) {
        ready = entry.snapshot;
      } else {
        entry.needs_refresh = true;
        entry.waiting.push_back(std::move(callback));
      }
    } else if (entries_.size() >= options_.max_queries && !evict_one()) {
      error = "too many distinct queries being built at once (" +
              std::to_string(options_.max_queries) + "); try again";
    } else {
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

bool RegistryView::evict_one() {
  for (auto victim = lru_.rbegin(); victim != lru_.rend(); ++victim) {
    auto e = entries_.find(*victim);
    if (e->second.waiting.empty()) {
      lru_.erase(e->second.lru);
      entries_.erase(e);
      return true;
    }
  }
  return false;
}

bool RegistryView::wait_first_check(Duration timeout) const {
  std::unique_lock lock(mutex_);
  return checked_cv_.wait_for(lock, timeout, [&] { return checked_; });
}

Readiness RegistryView::readiness() const {
  Readiness readiness;
  {
    const std::lock_guard lock(mutex_);
    readiness = readiness_;
  }
  readiness.role = feed_->role(); // as the feed last connected; thread-safe
  return readiness;
}

std::shared_ptr<const std::vector<SyncRun>> RegistryView::recent_runs() const {
  const std::lock_guard lock(mutex_);
  if (!readiness_.ready) return nullptr;
  return runs_;
}

std::shared_ptr<const std::vector<SiteSummary>> RegistryView::sites() const {
  const std::lock_guard lock(mutex_);
  if (!readiness_.ready) return nullptr;
  return sites_;
}

std::optional<TimePoint> RegistryView::last_ok_round() const {
  const auto runs = recent_runs();
  if (!runs) return std::nullopt;
  for (const auto& run : *runs) {
    if (run.ok) return run.finished_at;
  }
  return std::nullopt;
}

std::optional<TimePoint> RegistryView::synced_at(const std::optional<std::string>& site) const {
  std::shared_ptr<const std::vector<SyncRun>> runs;
  std::shared_ptr<const std::vector<SiteSummary>> sites;
  {
    const std::lock_guard lock(mutex_);
    if (!readiness_.ready || !runs_) return std::nullopt;
    runs = runs_;
    sites = sites_;
  }
  struct Synced {
    std::optional<TimePoint> at;
    bool counts = false; // part of an answer over every site
  };
  // Without the sites' record, every site that synced counts; with it, those holding
  // devices: a site retired (its devices deleted) is no part of any answer.
  const bool by_devices = sites && !sites->empty();
  std::map<std::string, Synced, std::less<>> by_site;
  for (const auto& run : *runs) { // newest first
    auto& s = by_site[run.site];
    if (run.ok && !s.at) s.at = run.finished_at, s.counts = !by_devices;
  }
  if (by_devices) {
    for (const auto& summary : *sites) {
      auto& s = by_site[summary.site];
      if (!s.at) s.at = summary.last_success;
      s.counts = summary.devices > 0;
    }
  }
  if (site) {
    const auto it = by_site.find(*site);
    return it == by_site.end() ? std::nullopt : it->second.at;
  }
  std::optional<TimePoint> oldest;
  for (const auto& [name, s] : by_site) {
    if (!s.counts) continue;
    if (!s.at) return std::nullopt; // devices never synced
    oldest = oldest ? std::min(*oldest, *s.at) : *s.at;
  }
  return oldest;
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
      sites_.reset();
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
  struct Wanted {
    std::string key;
    DeviceQuery query;
    SnapshotPtr previous;
  };
  std::vector<Wanted> wanted;
  {
    const std::lock_guard lock(mutex_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      auto& entry = it->second;
      if (everything) {
        // Only queries asked since their last build are rebuilt on a change; the others
        // go, so a change costs what is in use, not every query ever asked.
        if (!entry.asked && entry.waiting.empty()) {
          lru_.erase(entry.lru);
          it = entries_.erase(it);
          continue;
        }
        entry.needs_refresh = true;
      }
      if (entry.needs_refresh || !entry.snapshot)
        wanted.push_back({it->first, entry.query, entry.snapshot});
      ++it;
    }
  }
  for (auto& [key, query, previous] : wanted) {
    // Rendered as the rows arrive: the answer is ready soon after the last batch.
    auto building = builder_(previous);
    previous.reset();
    const auto scanned =
        repository_->scan_devices(query, [&](std::vector<Device>& batch) { building->add(batch); });
    SnapshotPtr snapshot;
    std::string error;
    if (scanned) {
      try {
        snapshot = building->finish();
      } catch (const std::exception& e) { // out of memory, or the builder's own fault:
        error = std::string("building the answer: ") + e.what(); // the previous one stays
      }
    } else {
      error = scanned.error().message;
    }
    building.reset();
    std::vector<Callback> callbacks;
    {
      const std::lock_guard lock(mutex_);
      auto it = entries_.find(key);
      if (it == entries_.end()) continue;
      auto& entry = it->second;
      if (snapshot) {
        entry.snapshot = snapshot;
        entry.built_at = Steady::now();
        entry.asked = false;
        entry.needs_refresh = false; // a failed rebuild keeps it: the next pass retries
      }
      callbacks.swap(entry.waiting);
    }
    for (auto& cb : callbacks)
      cb(snapshot, error);
  }
  // After the devices, which readers wait for: the runs and sites (tens of ms, up to
  // 0.2 s under a round's load at 20,000 cameras) no longer delay every change's answer.
  if (!everything) return;
  auto listed = repository_->recent_sync_runs(options_.recent_runs);
  auto found = repository_->list_sites();
  const std::lock_guard lock(mutex_);
  if (listed) runs_ = std::make_shared<const std::vector<SyncRun>>(std::move(*listed));
  if (found) sites_ = std::make_shared<const std::vector<SiteSummary>>(std::move(*found));
}

void RegistryView::loop() {
  bool dirty = true;
  bool feed_down = false; // no notifications: poll, one rebuild per readiness check
  auto next_check = Steady::now();
  auto next_refresh = next_check + options_.refresh_interval;
  for (;;) {
    {
      const std::lock_guard lock(mutex_);
      if (stopping_) break;
    }
    bool ready = readiness().ready;
    if (Steady::now() >= next_check) {
      next_check = Steady::now() + options_.readiness_interval;
      ready = check_readiness();
      if (!ready || feed_down) dirty = true;
    }
    if (Steady::now() >= next_refresh) dirty = true;
    if (ready) {
      if (dirty) next_refresh = Steady::now() + options_.refresh_interval;
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
        std::chrono::duration_cast<Duration>(std::min(next_check, next_refresh) - Steady::now());
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

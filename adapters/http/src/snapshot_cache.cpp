#include "snapshot_cache.hpp"

#include <zlib.h>

#include "camreg/api_json.hpp"
#include "camreg/hash.hpp"

namespace camreg::http::detail {

namespace {

std::string etag_of(std::string_view body) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "\"%016llx-%zx\"", static_cast<unsigned long long>(fnv1a_64(body)),
                body.size());
  return buf;
}

SnapshotPtr build_snapshot(const std::vector<Device>& devices) {
  auto snap = std::make_shared<Snapshot>();
  snap->json.reserve(devices.size() * 900 + 2);
  snap->json += '[';
  snap->objects.reserve(devices.size());
  for (const auto& d : devices) {
    if (snap->json.size() > 1) snap->json += ',';
    const auto start = snap->json.size();
    append_device_json(snap->json, d);
    snap->objects.try_emplace(d.device_key, start, snap->json.size() - start);
  }
  snap->json += ']';
  snap->gzip = gzip(snap->json);
  snap->etag = etag_of(snap->json);
  return snap;
}

} // namespace

std::string query_key(const DeviceQuery& query) {
  return (query.device_type ? "t:" + *query.device_type : std::string("*")) +
         (query.active_only ? "|active" : "|all");
}

std::string gzip(std::string_view data) {
  z_stream zs{};
  if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  std::string out(deflateBound(&zs, static_cast<uLong>(data.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return rc == Z_STREAM_END ? out : std::string();
}

SnapshotCache::SnapshotCache(std::unique_ptr<DeviceRepository> repository,
                             std::unique_ptr<ChangeFeed> feed, std::size_t max_queries, LogSink log)
    : repository_(std::move(repository)),
      feed_(std::move(feed)),
      max_queries_(std::max<std::size_t>(max_queries, 1)),
      log_(std::move(log)) {
  thread_ = std::thread([this] { loop(); });
}

SnapshotCache::~SnapshotCache() {
  stop();
}

void SnapshotCache::stop() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  feed_->wake();
  if (thread_.joinable()) thread_.join();
}

void SnapshotCache::get(const DeviceQuery& query, Callback callback) {
  const auto key = query_key(query);
  SnapshotPtr ready;
  std::string error;
  {
    const std::lock_guard lock(mutex_);
    if (checked_ && !health_.ready) {
      error = health_.reason;
    } else if (auto it = entries_.find(key); it != entries_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      if (it->second.snapshot)
        ready = it->second.snapshot;
      else
        it->second.waiting.push_back(std::move(callback));
    } else {
      if (entries_.size() >= max_queries_) {
        // Evict the least recently asked query with nobody waiting on it.
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

void SnapshotCache::wait_first_check(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  checked_cv_.wait_for(lock, timeout, [&] { return checked_; });
}

Health SnapshotCache::health() const {
  const std::lock_guard lock(mutex_);
  return health_;
}

std::optional<std::shared_ptr<const std::vector<SyncRun>>> SnapshotCache::runs() const {
  const std::lock_guard lock(mutex_);
  if (!health_.ready || !runs_) return std::nullopt;
  return runs_;
}

void SnapshotCache::refresh(bool everything) {
  std::vector<std::pair<std::string, DeviceQuery>> wanted;
  {
    const std::lock_guard lock(mutex_);
    for (const auto& [key, entry] : entries_) {
      if (everything || !entry.snapshot) wanted.emplace_back(key, entry.query);
    }
  }
  std::shared_ptr<const std::vector<SyncRun>> runs;
  if (everything) {
    auto listed = repository_->recent_sync_runs(20);
    if (listed) runs = std::make_shared<const std::vector<SyncRun>>(std::move(*listed));
  }
  for (const auto& [key, query] : wanted) {
    auto devices = repository_->list_devices(query);
    std::vector<Callback> callbacks;
    SnapshotPtr snap;
    std::string error;
    if (devices)
      snap = build_snapshot(*devices);
    else
      error = devices.error().message;
    {
      const std::lock_guard lock(mutex_);
      auto it = entries_.find(key);
      if (it == entries_.end()) continue;
      if (snap) it->second.snapshot = snap;
      callbacks.swap(it->second.waiting);
    }
    for (auto& cb : callbacks)
      cb(snap, error);
  }
  if (runs) {
    const std::lock_guard lock(mutex_);
    runs_ = std::move(runs);
  }
}

void SnapshotCache::loop() {
  bool dirty = true;
  bool feed_down = false; // no notifications: poll, one rebuild per readiness check
  auto next_check = std::chrono::steady_clock::now();
  for (;;) {
    {
      const std::lock_guard lock(mutex_);
      if (stopping_) break;
    }
    if (std::chrono::steady_clock::now() >= next_check) {
      next_check = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      const auto ready = repository_->check_ready();
      std::vector<Callback> failed;
      bool changed = false;
      {
        const std::lock_guard lock(mutex_);
        const bool was_ready = health_.ready;
        health_.ready = ready.has_value();
        health_.reason = ready ? "" : ready.error().message;
        changed = was_ready != health_.ready || !checked_;
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
      if (changed && log_) {
        if (ready)
          log_(LogLevel::info, "database", "ready");
        else
          log_(LogLevel::error, "database", "not ready: " + ready.error().message);
      }
      for (auto& cb : failed)
        cb(nullptr, ready ? std::string() : ready.error().message);
      if (!ready || feed_down) dirty = true;
    }
    if (health().ready) {
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
      if (!feed_down && log_) log_(LogLevel::warn, "change-feed", changed.error().message);
      feed_down = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    } else {
      feed_down = false;
      if (*changed) dirty = true; // a reconnected feed reports true: changes may be missed
    }
  }
}

} // namespace camreg::http::detail

#pragma once

#include <condition_variable>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "camreg/device.hpp"
#include "camreg/http/server.hpp"

namespace camreg::http::detail {

// One /api/devices answer, serialised once.
struct Snapshot {
  std::string json;
  std::string gzip;
  std::string etag; // strong, quoted
  // device_key -> the device's object inside json (the first of that key).
  std::unordered_map<std::string, std::pair<std::size_t, std::size_t>> objects;
};
using SnapshotPtr = std::shared_ptr<const Snapshot>;

struct Health {
  bool ready = false;
  std::string reason = "starting";
};

// Keeps snapshots per query and the recent sync runs, refreshed on a thread of its own.
class SnapshotCache {
 public:
  using Callback = std::function<void(SnapshotPtr, const std::string& error)>;

  SnapshotCache(std::unique_ptr<DeviceRepository> repository, std::unique_ptr<ChangeFeed> feed,
                std::size_t max_queries, LogSink log);
  ~SnapshotCache();

  // Calls back with the snapshot for the query, at once when cached, else from the
  // cache's thread when built; with an error (and no snapshot) while the database is
  // not ready.
  void get(const DeviceQuery& query, Callback callback);
  Health health() const;
  // Waits until readiness was checked once (or the timeout passes).
  void wait_first_check(std::chrono::milliseconds timeout);
  // Recent sync runs (newest first), or nothing while not ready.
  std::optional<std::shared_ptr<const std::vector<SyncRun>>> runs() const;
  void stop();

 private:
  struct Entry {
    DeviceQuery query;
    SnapshotPtr snapshot;
    std::vector<Callback> waiting;
    std::list<std::string>::iterator lru;
  };
  void loop();
  void refresh(bool everything);

  std::unique_ptr<DeviceRepository> repository_;
  std::unique_ptr<ChangeFeed> feed_;
  std::size_t max_queries_;
  LogSink log_;

  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
  std::list<std::string> lru_; // most recent first
  std::shared_ptr<const std::vector<SyncRun>> runs_;
  Health health_;
  bool checked_ = false; // until the first readiness check, requests wait instead of failing
  std::condition_variable checked_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

std::string query_key(const DeviceQuery& query);
std::string gzip(std::string_view data);

} // namespace camreg::http::detail

#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "camreg/change_feed.hpp"
#include "camreg/device.hpp"
#include "camreg/device_repository.hpp"
#include "camreg/time.hpp"

namespace camreg {

// Whether the registry can be read; reason says why not ("starting" before the first check).
struct Readiness {
  bool ready = false;
  std::string reason = "starting";
};

// What a RegistryView reports as it goes; message carries the repository's or feed's error.
enum class ViewNotice {
  database_ready,     // the first check passed, or the database came back
  database_not_ready, // the first check failed, or the database went away
  feed_down,          // the change feed failed: polling once per readiness check
};

struct ViewOptions {
  std::size_t max_queries = 64; // distinct queries kept; at least 1
  Duration readiness_interval = std::chrono::seconds(1);
  std::size_t recent_runs = 20; // sync runs kept for recent_runs()
};

// The read side of the registry: one immutable snapshot per query, kept by a thread of
// the view's own, which rebuilds them when the change feed reports a change and checks
// readiness every readiness_interval. What a snapshot holds is the caller's: the builder
// turns a query's devices into it (rendering, compressing), once per change, on the
// view's thread. The repository and feed are used by that thread only.
class RegistryView {
 public:
  // The builder's product; callers derive from it.
  struct Snapshot {
    virtual ~Snapshot() = default;
  };
  using SnapshotPtr = std::shared_ptr<const Snapshot>;
  using Builder = std::function<SnapshotPtr(const std::vector<Device>& devices)>;
  // A snapshot, or null and why not (the database is not ready, or the listing failed).
  using Callback = std::function<void(SnapshotPtr snapshot, const std::string& error)>;
  using Notify = std::function<void(ViewNotice notice, std::string_view message)>;

  RegistryView(std::unique_ptr<DeviceRepository> repository, std::unique_ptr<ChangeFeed> feed,
               Builder builder, ViewOptions options = {}, Notify notify = {});
  ~RegistryView();
  RegistryView(const RegistryView&) = delete;
  RegistryView& operator=(const RegistryView&) = delete;

  // Calls back with the query's snapshot: at once (on the caller's thread) when cached
  // or when the database is known not to be ready; else from the view's thread once
  // built. A new query beyond max_queries evicts the least recently asked one nobody
  // waits on. Thread-safe.
  void get(const DeviceQuery& query, Callback callback);
  Readiness readiness() const;
  // Blocks until readiness was checked once, or the timeout passes; true when checked.
  bool wait_first_check(Duration timeout) const;
  // The most recent sync runs (newest first), or null while not ready or not yet read.
  std::shared_ptr<const std::vector<SyncRun>> recent_runs() const;
  // Stops the view's thread; waiting callbacks are dropped uncalled. Idempotent.
  void stop();

 private:
  struct Entry {
    DeviceQuery query;
    SnapshotPtr snapshot;
    std::vector<Callback> waiting;
    std::list<std::string>::iterator lru;
  };
  void loop();
  bool check_readiness();
  void refresh(bool everything);

  std::unique_ptr<DeviceRepository> repository_;
  std::unique_ptr<ChangeFeed> feed_;
  Builder builder_;
  ViewOptions options_;
  Notify notify_;

  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
  std::list<std::string> lru_; // most recently asked first
  std::shared_ptr<const std::vector<SyncRun>> runs_;
  Readiness readiness_;
  bool checked_ = false; // until the first readiness check, requests wait instead of failing
  mutable std::condition_variable checked_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace camreg

#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
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
  // The server read from, as the change feed found it when it last connected.
  ServerRole role = ServerRole::unknown;
};

// What a RegistryView reports as it goes; message carries the repository's or feed's error.
enum class ViewNotice {
  database_ready,     // the first check passed, or the database came back
  database_not_ready, // the first check failed, or the database went away
  feed_down,          // the change feed failed: polling once per readiness check
};

struct ViewOptions {
  // Distinct queries kept, those being built included; at least 1. A new query beyond
  // it, when every kept one has requests waiting, is refused.
  std::size_t max_queries = 64;
  Duration readiness_interval = std::chrono::seconds(1);
  std::size_t recent_runs = 20; // sync runs kept for recent_runs(), per site
  // Rebuilds on a timer too, in case the feed is silently dead.
  Duration refresh_interval = std::chrono::seconds(30);
  // A snapshot older than this is rebuilt before it is served: never served as fresh.
  Duration max_snapshot_age = std::chrono::seconds(45);
};

// The read side of the registry: one immutable snapshot per query, kept by a thread of
// the view's own, which rebuilds them when the change feed reports a change and checks
// readiness every readiness_interval. What a snapshot holds is the caller's: a builder
// turns a query's devices into it (rendering, compressing), once per change, on the
// view's thread, batch by batch as the repository reads them (scan_devices). The
// repository and feed are used by that thread only.
class RegistryView {
 public:
  // The builder's product; callers derive from it.
  struct Snapshot {
    virtual ~Snapshot() = default;
  };
  using SnapshotPtr = std::shared_ptr<const Snapshot>;
  // Builds one snapshot from a listing handed over in order, a batch at a time.
  class SnapshotBuilder {
   public:
    virtual ~SnapshotBuilder() = default;
    // The listing's next devices; the vector and its devices are reused for the next
    // batch once this returns (move out what is kept).
    virtual void add(std::vector<Device>& batch) = 0;
    // The snapshot of every device added.
    virtual SnapshotPtr finish() = 0;
  };
  // A builder for one build; previous is the query's snapshot being replaced (null for
  // the first), a hint of the size to expect.
  using Builder = std::function<std::unique_ptr<SnapshotBuilder>(const SnapshotPtr& previous)>;
  // A Builder that collects the whole listing, then calls build with it.
  static Builder whole_listing(std::function<SnapshotPtr(std::vector<Device> devices)> build);
  // A snapshot, or null and why not (the database is not ready, or the listing failed).
  using Callback = std::function<void(SnapshotPtr snapshot, const std::string& error)>;
  using Notify = std::function<void(ViewNotice notice, std::string_view message)>;

  RegistryView(std::unique_ptr<DeviceRepository> repository, std::unique_ptr<ChangeFeed> feed,
               Builder builder, ViewOptions options = {}, Notify notify = {});
  ~RegistryView();
  RegistryView(const RegistryView&) = delete;
  RegistryView& operator=(const RegistryView&) = delete;

  // Calls back with the query's snapshot: at once (on the caller's thread) when cached
  // and younger than max_snapshot_age, or when the database is known not to be ready;
  // else from the view's thread once built. A new query beyond max_queries evicts the
  // least recently asked one nobody waits on; if every one has waiters, it is refused
  // at once (null and "too many distinct queries"). Thread-safe.
  void get(const DeviceQuery& query, Callback callback);
  Readiness readiness() const;
  // Blocks until readiness was checked once, or the timeout passes; true when checked.
  bool wait_first_check(Duration timeout) const;
  // The most recent sync runs of every site (newest first), or null while not ready or
  // not yet read.
  std::shared_ptr<const std::vector<SyncRun>> recent_runs() const;
  // Every site as last read (with the runs, on every change), or null likewise.
  std::shared_ptr<const std::vector<SiteSummary>> sites() const;
  // When the newest successful round among recent_runs() finished (database clock);
  // nullopt when none succeeded, or the runs are not known.
  std::optional<TimePoint> last_ok_round() const;
  // When the devices of site were last synced: its newest successful round among
  // recent_runs(), else its last success as sites() has it. Without a site, that of the
  // least recently synced site holding devices as sites() has them (without that
  // record, among the sites that synced): an answer over every site is as fresh as its
  // stalest part. nullopt when unknown or never (a site holding devices never synced).
  std::optional<TimePoint> synced_at(const std::optional<std::string>& site) const;
  // Stops the view's thread; waiting callbacks are dropped uncalled. Idempotent.
  void stop();

 private:
  using Steady = std::chrono::steady_clock;
  struct Entry {
    DeviceQuery query;
    SnapshotPtr snapshot;
    Steady::time_point built_at;
    bool needs_refresh = false; // a change (or a failed rebuild) since the snapshot
    bool asked = true;          // asked since the last build: worth rebuilding on a change
    std::vector<Callback> waiting;
    std::list<std::string>::iterator lru;
  };
  void loop();
  bool check_readiness();
  void refresh(bool everything);
  bool evict_one(); // the least recently asked entry nobody waits on; false if none

  std::unique_ptr<DeviceRepository> repository_;
  std::unique_ptr<ChangeFeed> feed_;
  Builder builder_;
  ViewOptions options_;
  Notify notify_;

  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
  std::list<std::string> lru_; // most recently asked first
  std::shared_ptr<const std::vector<SyncRun>> runs_;
  std::shared_ptr<const std::vector<SiteSummary>> sites_;
  Readiness readiness_;
  bool checked_ = false; // until the first readiness check, requests wait instead of failing
  mutable std::condition_variable checked_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace camreg

#pragma once

#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "camreg/clock.hpp"
#include "camreg/device_repository.hpp"
#include "camreg/path_source.hpp"
#include "camreg/sync_trigger.hpp"

namespace camreg::testing {

// A clock the test moves by hand.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start) : now_(start) {}
  TimePoint now() const override { return now_; }
  void advance(Duration d) { now_ += d; }

 private:
  TimePoint now_;
};

// A PathSource that answers from a script: each list_paths() takes the next queued
// answer, repeating the last one when the queue runs dry.
class FakePathSource final : public PathSource {
 public:
  void push(Result<std::vector<PathState>> answer) { answers_.push_back(std::move(answer)); }
  Result<std::vector<PathState>> list_paths() override {
    ++calls_;
    if (!answers_.empty()) {
      last_ = std::move(answers_.front());
      answers_.pop_front();
    }
    return last_;
  }
  std::string describe() const override { return "fake://paths"; }
  int calls() const { return calls_; }

 private:
  std::deque<Result<std::vector<PathState>>> answers_;
  Result<std::vector<PathState>> last_ = fail(ErrorKind::unavailable, "no scripted answer");
  int calls_ = 0;
};

// A SyncTrigger that records the paths it is asked for ("<site>@<path>" when a request
// names its site) and its connect() calls, or fails both while told to.
class FakeSyncTrigger final : public SyncTrigger {
 public:
  Result<void> request_round(std::string_view path, std::string_view site) override {
    const std::lock_guard lock(mutex_);
    if (failure_) return *failure_;
    paths_.push_back(site.empty() ? std::string(path)
                                  : std::string(site) + '@' + std::string(path));
    return {};
  }
  Result<void> connect() override {
    const std::lock_guard lock(mutex_);
    ++connects_;
    if (failure_) return *failure_;
    return {};
  }
  int connects() const {
    const std::lock_guard lock(mutex_);
    return connects_;
  }
  void fail_with(std::optional<Error> failure) {
    const std::lock_guard lock(mutex_);
    failure_ = std::move(failure);
  }
  std::vector<std::string> paths() const {
    const std::lock_guard lock(mutex_);
    return paths_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> paths_;
  std::optional<Error> failure_;
  int connects_ = 0;
};

// A path as MediaMTX lists a ready RTSP camera.
PathState live_path(std::string name);
// A configured static source that is not ready (connecting or on-demand idle).
PathState connecting_path(std::string name);
// A configured path with nothing publishing.
PathState idle_path(std::string name);

// One round of the core's rules over a listing (or why there is none), committed at
// now through repo for the site: started a second earlier, source
// "http://127.0.0.1:9997", WHEP URLs under http://localhost:8889.
Result<RoundPlan> commit_listing(DeviceRepository& repo,
                                 const Result<std::vector<PathState>>& listing, TimePoint now,
                                 const std::string& device_type = "camera",
                                 const std::string& site = "default");

} // namespace camreg::testing

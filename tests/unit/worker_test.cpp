// sync-worker's schedule: the regular interval, and requests for a round folded and spaced.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <future>
#include <mutex>

#include "camreg/clock.hpp"
#include "camreg/url.hpp"
#include "common/options.hpp"
#include "fakes.hpp"
#include "in_memory_device_repository.hpp"
#include "sync-worker/worker.hpp"

using namespace camreg;
using namespace camreg::app;
using namespace camreg::testing;
using namespace std::chrono_literals;
using Time = RoundSchedule::Time;

namespace {

const Time t0 = Time() + 1000h;

} // namespace

TEST_CASE("a request starts a round at once and the regular schedule goes on",
          "[worker][trigger]") {
  RoundSchedule schedule(60s, 1s, t0);
  CHECK(schedule.next_round() == t0);
  CHECK_FALSE(schedule.start_round(t0)); // the first round is a scheduled one
  CHECK(schedule.next_round() == t0 + 60s);
  schedule.request();
  CHECK(schedule.next_round() <= t0 + 10s);
  CHECK(schedule.start_round(t0 + 10s));
  CHECK_FALSE(schedule.pending());
  CHECK(schedule.next_round() == t0 + 60s); // not moved by the triggered round
  CHECK_FALSE(schedule.start_round(t0 + 60s));
  CHECK(schedule.next_round() == t0 + 120s);
}

TEST_CASE("requests during a round are folded into one following round", "[worker][trigger]") {
  RoundSchedule schedule(60s, 1s, t0);
  (void)schedule.start_round(t0);
  schedule.request();
  REQUIRE(schedule.start_round(t0 + 5s));
  for (int i = 0; i < 10; ++i) // while that round runs
    schedule.request();
  CHECK(schedule.next_round() == t0 + 6s);
  CHECK(schedule.start_round(t0 + 6s));
  CHECK_FALSE(schedule.pending());
  CHECK(schedule.next_round() == t0 + 60s); // and no more
}

TEST_CASE("triggered rounds start at most once per min trigger interval", "[worker][trigger]") {
  const auto [after, at_once] = GENERATE(table<std::chrono::milliseconds, bool>({
      {999ms, false},
      {1000ms, true},
      {1001ms, true},
  }));
  CAPTURE(after.count());
  RoundSchedule schedule(60s, 1s, t0);
  (void)schedule.start_round(t0);
  schedule.request();
  REQUIRE(schedule.start_round(t0 + 5s));
  const auto asked = t0 + 5s + after;
  schedule.request();
  // A request inside the interval waits for its end; one after it starts at once.
  CHECK((schedule.next_round() <= asked) == at_once);
  CHECK(schedule.next_round() <= t0 + 6s);
  CHECK(schedule.start_round(std::max(asked, schedule.next_round())));
}

TEST_CASE("a scheduled round answers the requests made before it", "[worker][trigger]") {
  RoundSchedule schedule(60s, 1s, t0);
  (void)schedule.start_round(t0);
  schedule.request();
  REQUIRE(schedule.start_round(t0 + 59500ms));
  schedule.request();
  CHECK(schedule.next_round() == t0 + 60s); // the schedule comes before the spacing ends
  CHECK_FALSE(schedule.start_round(t0 + 60s));
  CHECK_FALSE(schedule.pending());
  CHECK(schedule.next_round() == t0 + 120s);
}

TEST_CASE("with no spacing every request after a round starts the next", "[worker][trigger]") {
  RoundSchedule schedule(60s, 0s, t0);
  (void)schedule.start_round(t0);
  schedule.request();
  REQUIRE(schedule.start_round(t0 + 1ms));
  schedule.request();
  CHECK(schedule.next_round() <= t0 + 1ms);
}

namespace {

// A TriggerFeed the test feeds by hand, or that fails while told to.
class ScriptedTriggerFeed final : public TriggerFeed {
 public:
  Result<std::vector<TriggerRequest>> wait(Duration timeout) override {
    std::unique_lock lock(mutex_);
    ++waits_;
    if (failing_) return fail(ErrorKind::unavailable, "trigger feed: cannot connect");
    cv_.wait_for(lock, timeout, [&] { return woken_ || !queued_.empty(); });
    woken_ = false;
    std::vector<TriggerRequest> out(queued_.begin(), queued_.end());
    queued_.clear();
    return out;
  }
  void wake() override {
    const std::lock_guard lock(mutex_);
    woken_ = true;
    cv_.notify_all();
  }
  void push(std::string path, std::string site = {}) {
    const std::lock_guard lock(mutex_);
    queued_.push_back({std::move(path), std::move(site)});
    cv_.notify_all();
  }
  void set_failing(bool failing) {
    const std::lock_guard lock(mutex_);
    failing_ = failing;
  }
  int waits() const {
    const std::lock_guard lock(mutex_);
    return waits_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<TriggerRequest> queued_;
  bool woken_ = false;
  bool failing_ = false;
  int waits_ = 0;
};

// run_worker on a thread over in-memory parts, its log in a temporary file.
struct Loop {
  FakePathSource source;
  InMemoryDeviceRepository repository;
  SystemClock clock;
  ScriptedTriggerFeed feed;
  StopSignal stop;
  std::FILE* log_file = std::tmpfile();
  Logger log{LogLevel::info, LogFormat::text, log_file};
  WorkerConfig config;
  std::future<int> exited;

  Loop() {
    source.push(std::vector<PathState>{live_path("cam1")});
    config.sync.webrtc_base = parse_http_url("http://localhost:8889").value();
    config.sync.store_clock = false;
    config.interval = 60s;
  }
  ~Loop() {
    stop.request();
    feed.wake();
    if (exited.valid()) exited.wait();
    std::fclose(log_file);
  }
  void start() {
    exited = std::async(std::launch::async, [this] {
      return run_worker(source, repository, clock, config, stop, log, &feed);
    });
  }
  bool rounds_reach(int n, std::chrono::milliseconds within) {
    const auto until = std::chrono::steady_clock::now() + within;
    while (source.calls() < n) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }
  std::string logged() {
    std::fflush(log_file);
    std::rewind(log_file);
    std::string text;
    for (int c; (c = std::fgetc(log_file)) != EOF;)
      text += static_cast<char>(c);
    return text;
  }
};

} // namespace

TEST_CASE("the worker loop starts a round when its feed hears a request and stops on wake",
          "[worker][trigger]") {
  Loop loop;
  loop.start();
  REQUIRE(loop.rounds_reach(1, 5s));
  const auto asked = std::chrono::steady_clock::now();
  loop.feed.push("site-a/dock");
  REQUIRE(loop.rounds_reach(2, 5s));
  CHECK(std::chrono::steady_clock::now() - asked < 1s);
  CHECK_THAT(loop.logged(), Catch::Contains("round triggered (path site-a/dock) requests=1"));
  loop.stop.request();
  loop.feed.wake();
  REQUIRE(loop.exited.wait_for(2s) == std::future_status::ready);
  CHECK(loop.exited.get() == exit_ok);
}

TEST_CASE("a worker hears the requests for its own site and for every site, not another's",
          "[worker][trigger][sites]") {
  Loop loop;
  loop.config.sync.site = "north";
  loop.start();
  REQUIRE(loop.rounds_reach(1, 5s));
  loop.feed.push("cam1", "south");
  CHECK_FALSE(loop.rounds_reach(2, 500ms));
  loop.feed.push("cam2", "north");
  REQUIRE(loop.rounds_reach(2, 5s));
  CHECK_THAT(loop.logged(), Catch::Contains("round triggered (path cam2)"));
  std::this_thread::sleep_for(1100ms); // past --min-trigger-interval
  loop.feed.push("cam3");
  REQUIRE(loop.rounds_reach(3, 5s));
}

TEST_CASE("rounds go on every interval while the trigger feed is down", "[worker][trigger]") {
  Loop loop;
  loop.config.interval = 200ms;
  loop.feed.set_failing(true);
  loop.start();
  REQUIRE(loop.rounds_reach(3, 5s));
  CHECK_THAT(loop.logged(), Catch::Contains("trigger feed: cannot connect; rounds go on"));
  loop.feed.set_failing(false);
  REQUIRE(loop.rounds_reach(5, 5s)); // retried every 5 s at most; the rounds did not wait
  loop.feed.push("cam1");
  const auto calls = loop.source.calls();
  REQUIRE(loop.rounds_reach(calls + 1, 6s));
}

TEST_CASE("a --once worker never waits on the trigger feed", "[worker][trigger]") {
  Loop loop;
  loop.config.once = true;
  loop.feed.push("cam1");
  loop.start();
  REQUIRE(loop.exited.wait_for(5s) == std::future_status::ready);
  CHECK(loop.exited.get() == exit_ok);
  CHECK(loop.source.calls() == 1);
  CHECK(loop.feed.waits() == 0);
}

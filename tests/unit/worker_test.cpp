// sync-worker's schedule: the regular interval, and requests for a round folded and spaced.
#include <catch2/catch.hpp>

#include "sync-worker/worker.hpp"

using namespace camreg::app;
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

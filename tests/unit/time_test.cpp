#include <catch2/catch.hpp>

#include "camreg/time.hpp"

using namespace camreg;
using namespace std::chrono;

TEST_CASE("times print as RFC 3339 UTC with microseconds when present", "[time]") {
  const TimePoint t = sys_days{year{2026} / 11 / 24} + 21h + 45min + 56s;
  CHECK(format_rfc3339(t) == "2026-11-24T21:45:56Z");
  CHECK(format_rfc3339(t + 123456us) == "2026-11-24T21:45:56.123456Z");
  CHECK(format_rfc3339(t + 5us) == "2026-11-24T21:45:56.000005Z");
  CHECK(format_rfc3339(TimePoint{}) == "1970-01-01T00:00:00Z");
  CHECK(format_rfc3339(TimePoint{} - 1us) == "1969-12-31T23:59:59.999999Z");
  CHECK(format_rfc3339(sys_days{year{9999} / 12 / 31} + 86399s + 999999us) ==
        "9999-12-31T23:59:59.999999Z");
  CHECK(format_rfc3339(sys_days{year{0} / 1 / 1} + 10us) == "0000-01-01T00:00:00.000010Z");
  // PostgreSQL allows years past 9999 (and before 0): printed whole, never cut.
  CHECK(format_rfc3339(sys_days{year{12026} / 1 / 2} + 3h) == "12026-01-02T03:00:00Z");
}

TEST_CASE("every time from 1970 to 2100 prints and parses back to itself", "[time]") {
  // A walk in steps of a prime number of microseconds: every field takes many values.
  const TimePoint end = sys_days{year{2100} / 1 / 1};
  for (TimePoint t{}; t < end; t += 3'155'760'000'017us) {
    INFO(format_rfc3339(t));
    CHECK(parse_rfc3339(format_rfc3339(t)).value() == t);
  }
}

TEST_CASE("every RFC3339Nano variant Go emits parses to the same instant", "[time]") {
  const TimePoint expected = sys_days{year{2026} / 11 / 24} + 10h;
  const auto [text, extra] = GENERATE(table<std::string, Duration>({
      {"2026-11-24T10:00:00Z", 0us},
      {"2026-11-24T12:00:00+02:00", 0us},
      {"2026-11-24T05:30:00-04:30", 0us},
      {"2026-11-24T10:00:00.5Z", 500000us},
      {"2026-11-24T10:00:00.123456789Z", 123456us},
      {"2026-11-24t10:00:00.000001z", 1us},
  }));
  CAPTURE(text);
  CHECK(parse_rfc3339(text).value() == expected + extra);
}

TEST_CASE("malformed times are refused", "[time]") {
  const auto text =
      GENERATE(as<std::string>{}, "", "2026-11-24", "2026-11-24T10:00:00", "2026-13-01T00:00:00Z",
               "2026-02-30T00:00:00Z", "2026-11-24T10:00:00.Z", "2026-11-24T10:00:00+0200",
               "2026-11-24T10:00:00Zjunk");
  CAPTURE(text);
  CHECK_FALSE(parse_rfc3339(text));
}

TEST_CASE("a formatted time parses back to itself", "[time]") {
  const TimePoint t = sys_days{year{2031} / 2 / 28} + 23h + 59min + 59s + 999999us;
  CHECK(parse_rfc3339(format_rfc3339(t)).value() == t);
}

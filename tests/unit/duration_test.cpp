#include <catch2/catch.hpp>

#include "camreg/duration.hpp"

using namespace camreg;
using namespace std::chrono_literals;

TEST_CASE("durations take the units operators write", "[duration]") {
  const auto [text, expected] = GENERATE(table<std::string, Duration>({
      {"500ms", 500ms},
      {"2s", 2s},
      {"5m", 5min},
      {"1h", 1h},
      {"60", 60s},
      {"0", 0s},
      {"250us", 250us},
      {"400d", std::chrono::hours(24 * 400)},
  }));
  CAPTURE(text);
  CHECK(parse_duration(text).value() == expected);
  CHECK(parse_duration(format_duration(expected)).value() == expected);
}

TEST_CASE("malformed durations are refused", "[duration]") {
  const auto text = GENERATE(as<std::string>{}, "", "-1s", "1.5s", "5 m", "5min", "m", "s5",
                             "99999999999999999999", "90000h", "3661d");
  CAPTURE(text);
  const auto d = parse_duration(text);
  REQUIRE_FALSE(d);
  CHECK(d.error().kind == ErrorKind::invalid_argument);
  CHECK_THAT(d.error().message, Catch::Contains("invalid duration"));
}

TEST_CASE("durations print in their shortest exact unit", "[duration]") {
  CHECK(format_duration(300s) == "5m");
  CHECK(format_duration(90s) == "90s");
  CHECK(format_duration(1500ms) == "1500ms");
  CHECK(format_duration(2h) == "2h");
  CHECK(format_duration(0s) == "0s");
}

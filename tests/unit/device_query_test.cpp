#include <catch2/catch.hpp>

#include "camreg/device_query.hpp"

using namespace camreg;

TEST_CASE("the devices query reads device_type and active_only", "[query]") {
  SECTION("defaults: every type, inactive included") {
    const auto q = parse_device_query({}).value();
    CHECK_FALSE(q.device_type);
    CHECK_FALSE(q.active_only);
  }
  SECTION("the dashboard's query") {
    const auto q =
        parse_device_query({{"device_type", "camera"}, {"active_only", "false"}}).value();
    CHECK(q.device_type == "camera");
    CHECK_FALSE(q.active_only);
  }
  SECTION("every spelling of active_only") {
    const auto [text, value] = GENERATE(
        table<std::string, bool>({{"true", true}, {"1", true}, {"false", false}, {"0", false}}));
    CAPTURE(text);
    CHECK(parse_device_query({{"active_only", text}}).value().active_only == value);
  }
}

TEST_CASE("a malformed devices query names the parameter", "[query]") {
  const auto [params, name] = GENERATE(table<QueryParams, std::string>({
      {{{"active_only", "yes"}}, "active_only"},
      {{{"active_only", ""}}, "active_only"},
      {{{"active_only", "TRUE"}}, "active_only"},
      {{{"device_type", ""}}, "device_type"},
      {{{"device_type", "cam era"}}, "device_type"},
      {{{"device_type", "x'; DROP TABLE devices;--"}}, "device_type"},
      {{{"device_type", std::string(65, 'a')}}, "device_type"},
      {{{"device_type", "a"}, {"device_type", "b"}}, "device_type"},
      {{{"active_only", "1"}, {"active_only", "1"}}, "active_only"},
      {{{"limit", "10"}}, "limit"},
  }));
  const auto q = parse_device_query(params);
  REQUIRE_FALSE(q);
  CHECK(q.error().kind == ErrorKind::invalid_argument);
  CHECK(q.error().message.rfind(name + ":", 0) == 0);
}

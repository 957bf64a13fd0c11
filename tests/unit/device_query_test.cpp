#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "camreg/device_query.hpp"
#include "camreg/site.hpp"

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
      {{{"site", ""}}, "site"},
      {{{"site", "north@cam1"}}, "site"},
      {{{"site", "a.b"}}, "site"},
      {{{"site", std::string(65, 's')}}, "site"},
      {{{"site", "a"}, {"site", "b"}}, "site"},
  }));
  const auto q = parse_device_query(params);
  REQUIRE_FALSE(q);
  CHECK(q.error().kind == ErrorKind::invalid_argument);
  CHECK(q.error().message.rfind(name + ":", 0) == 0);
}

TEST_CASE("a site filter is taken as given", "[query][sites]") {
  const auto q = parse_device_query({{"site", "north-2_b"}, {"device_type", "camera"}}).value();
  CHECK(q.site == "north-2_b");
  CHECK_FALSE(parse_device_query({}).value().site.has_value());
}

TEST_CASE("a device's key is its path name in the default site and <site>@<path> elsewhere",
          "[sites]") {
  CHECK(device_key_for("default", "cam1") == "cam1");
  CHECK(device_key_for("default", "lobby/cam_1.b") == "lobby/cam_1.b");
  CHECK(device_key_for("north", "cam1") == "north@cam1");
  CHECK(device_key_for("north", "lobby/cam_1") == "north@lobby/cam_1");
  // Distinct (site, path) pairs never share a key: '@' is in no site or path name.
  CHECK(device_key_for("a", "b-c") != device_key_for("a-b", "c"));
  CHECK(device_key_for("default", "x") != device_key_for("x", ""));
  for (const auto* good : {"default", "north", "Site_2-b", "a"})
    CHECK(valid_site_name(good));
  for (const auto& bad : std::vector<std::string>{"", "a b", "a@b", "a/b", "a.b", "caf\xc3\xa9",
                                                  std::string(65, 'x')})
    CHECK_FALSE(valid_site_name(bad));
  CHECK(valid_site_name(std::string(64, 'x')));
}

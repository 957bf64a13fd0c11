#include <catch2/catch.hpp>

#include "camreg/json_writer.hpp"
#include "camreg/mediamtx/mediamtx.hpp"
#include "camreg/metadata.hpp"
#include "fake_mediamtx.hpp"
#include "paths_parser.hpp"

using namespace camreg;
using camreg::mediamtx::parse_paths_page;
using camreg::testing::test_data;

namespace {

// A single Path object (a /v3/paths/get body) as a one-item list page.
std::string as_list(const std::string& item) {
  return R"({"itemCount":1,"pageCount":1,"items":[)" + item + "]}";
}

std::int64_t int_prop(const Track& t, const std::string& key) {
  for (const auto& [k, v] : t.codec_props) {
    if (k == key) return std::get<std::int64_t>(v);
  }
  FAIL("no codec prop " << key);
  return 0;
}

std::string string_prop(const Track& t, const std::string& key) {
  for (const auto& [k, v] : t.codec_props) {
    if (k == key) return std::get<std::string>(v);
  }
  FAIL("no codec prop " << key);
  return {};
}

} // namespace

TEST_CASE("the v1.20 mixed sample gives live, not_ready and no_source", "[mediamtx][samples]") {
  const auto page = parse_paths_page(test_data("mediamtx/paths_list_mixed.json"), 0).value();
  CHECK(page.item_count == 3);
  CHECK(page.page_count == 1);
  REQUIRE(page.items.size() == 3);

  const auto& lobby = page.items[0];
  CHECK(lobby.name == "cam-lobby");
  CHECK(lobby.available);
  CHECK(lobby.available_time == "2026-08-20T09:14:03.512874301Z");
  CHECK(lobby.online == true);
  REQUIRE(lobby.source);
  CHECK(lobby.source->type == "rtspSession");
  CHECK(lobby.source->id == "5b0c2f7e-9a41-4c3e-8f0d-2d1e6a7b9c10");
  REQUIRE(lobby.tracks.size() == 2);
  CHECK(lobby.tracks[0].codec == "H264");
  CHECK(int_prop(lobby.tracks[0], "width") == 1920);
  CHECK(int_prop(lobby.tracks[0], "height") == 1080);
  CHECK(string_prop(lobby.tracks[0], "profile") == "High");
  CHECK(string_prop(lobby.tracks[0], "level") == "4.1");
  CHECK(lobby.tracks[1].codec == "Opus");
  CHECK(int_prop(lobby.tracks[1], "channelCount") == 2);
  REQUIRE(lobby.readers.size() == 2);
  CHECK(lobby.readers[1].type == "webRTCSession");
  CHECK(lobby.inbound_bytes == 187342915);
  CHECK(lobby.outbound_bytes == 351209876);
  CHECK(classify(lobby) == DeviceState::live);

  const auto& parking = page.items[1];
  CHECK_FALSE(parking.available);
  CHECK_FALSE(parking.available_time);
  REQUIRE(parking.source);
  CHECK(parking.source->type == "rtspSource");
  CHECK(parking.source->id.empty());
  CHECK(classify(parking) == DeviceState::not_ready); // online:true is the v1.19.3 quirk

  const auto& warehouse = page.items[2];
  CHECK_FALSE(warehouse.source);
  CHECK(warehouse.tracks.empty());
  CHECK(classify(warehouse) == DeviceState::no_source);
}

TEST_CASE("the pre-v1.16 shape is read through ready, tracks and bytesReceived",
          "[mediamtx][samples]") {
  const auto page = parse_paths_page(test_data("mediamtx/paths_list_legacy_v1.15.json"), 0).value();
  REQUIRE(page.items.size() == 2);
  const auto& lobby = page.items[0];
  CHECK(lobby.available);
  CHECK(lobby.available_time == "2025-10-21T11:14:03.512874301+02:00");
  CHECK_FALSE(lobby.online.has_value());
  REQUIRE(lobby.tracks.size() == 2);
  CHECK(lobby.tracks[0].codec == "H264");
  CHECK(lobby.tracks[0].codec_props.empty());
  CHECK(lobby.inbound_bytes == 187342915);
  CHECK(lobby.outbound_bytes == 351209876);
  REQUIRE(lobby.readers.size() == 2);
  CHECK(lobby.readers[1].type == "hlsMuxer");
  CHECK(lobby.readers[1].id.empty());
  CHECK(classify(page.items[1]) == DeviceState::not_ready);
}

TEST_CASE("nested names, regex confName and +02:00 times are kept as reported",
          "[mediamtx][samples]") {
  const auto page =
      parse_paths_page(as_list(test_data("mediamtx/paths_get_nested_name.json")), 0).value();
  REQUIRE(page.items.size() == 1);
  const auto& cam = page.items[0];
  CHECK(cam.name == "site-a/building.2/cam_1");
  CHECK(cam.conf_name == "~^site-a/.+$");
  CHECK(cam.available_time == "2026-08-20T11:02:47.04133081+02:00");
  CHECK(cam.source->type == "rtmpConn");
  CHECK(cam.tracks[1].codec == "MPEG-4 Audio");
  CHECK(int_prop(cam.tracks[1], "sampleRate") == 44100);
  CHECK(cam.inbound_frames_in_error == 2);
  CHECK(cam.readers.at(0).type == "hlsSession");
}

TEST_CASE("an always-available path with no publisher is live with a null source",
          "[mediamtx][samples]") {
  const auto page =
      parse_paths_page(as_list(test_data("mediamtx/paths_get_always_available_offline.json")), 0)
          .value();
  const auto& path = page.items.at(0);
  CHECK(path.available);
  CHECK(path.online == false);
  CHECK_FALSE(path.source);
  CHECK(string_prop(path.tracks[0], "profile") == "Baseline");
  CHECK(string_prop(path.tracks[0], "level") == "4");
  CHECK(classify(path) == DeviceState::live);
}

TEST_CASE("an empty list and a page of a longer list parse", "[mediamtx][samples]") {
  const auto empty = parse_paths_page(test_data("mediamtx/paths_list_empty.json"), 0).value();
  CHECK(empty.items.empty());
  CHECK(empty.page_count == 0);
  const auto page2 = parse_paths_page(test_data("mediamtx/paths_list_page2.json"), 1).value();
  CHECK(page2.item_count == 5);
  CHECK(page2.page_count == 3);
  CHECK(page2.items.size() == 2);
}

TEST_CASE("error and config bodies are not mistaken for a path list", "[mediamtx][samples]") {
  const auto error = parse_paths_page(test_data("mediamtx/error_path_not_found.json"), 0);
  REQUIRE_FALSE(error);
  CHECK_THAT(error.error().message, Catch::Contains("items: missing"));
  // The config list has items too, but no readiness: it must fail, not yield cameras.
  const auto config =
      parse_paths_page(test_data("mediamtx/config_paths_list_source_credentials.json"), 0);
  REQUIRE_FALSE(config);
  CHECK_THAT(config.error().message, Catch::Contains("available"));
  CHECK(config.error().message.find("pass") == std::string::npos);
}

TEST_CASE("unknown fields are ignored and newer fields win over deprecated ones", "[mediamtx]") {
  const auto page = parse_paths_page(
      R"({"pageCount":1,"futureField":{"x":[1,2]},"items":[{"name":"a","ready":false,"available":true,)"
      R"("bytesReceived":1,"inboundBytes":2,"tracks":["VP8"],"tracks2":[{"codec":"AV1","codecProps":)"
      R"({"width":640,"tier":1,"hdr":{"nested":true},"ratio":1.5}}],"source":{"type":"moqSource","id":"x","extra":1},)"
      R"("readers":[{"type":"moqSession","id":"r"}],"somethingNew":null}]})",
      0);
  REQUIRE(page);
  const auto& a = page->items.at(0);
  CHECK(a.available);
  CHECK(a.inbound_bytes == 2);
  REQUIRE(a.tracks.size() == 1);
  CHECK(a.tracks[0].codec == "AV1");
  CHECK(a.tracks[0].codec_props.size() == 2); // nested and fractional props skipped
  CHECK(a.source->type == "moqSource");
}

TEST_CASE("a missing or mistyped field names the page, the item and the field", "[mediamtx]") {
  const auto [body, words] = GENERATE(table<std::string, std::string>({
      {R"({"pageCount":1,"items":[{"ready":true}]})", "page 3, items[0].name: missing"},
      {R"({"pageCount":1,"items":[{"name":7,"ready":true}]})", "items[0].name: expected a string"},
      {R"({"pageCount":1,"items":[{"name":"","ready":true}]})", "items[0].name: empty"},
      {R"({"pageCount":1,"items":[{"name":"a","ready":"yes"}]})",
       R"(items[0] ("a").ready: expected a boolean)"},
      {R"({"pageCount":1,"items":[{"name":"a"}]})", R"(items[0] ("a").available: missing)"},
      {R"({"pageCount":1,"items":[{"name":"a","available":true},{"name":"b","available":true,"readers":{}}]})",
       R"(items[1] ("b").readers: expected an array)"},
      {R"({"pageCount":1,"items":[{"name":"a","available":true,"inboundBytes":-5}]})",
       "inboundBytes: expected a non-negative integer"},
      {R"({"pageCount":1,"items":[{"name":"a","available":true,"inboundBytes":1.5}]})",
       "inboundBytes: expected a non-negative integer"},
      {R"({"pageCount":1,"items":[{"name":"a","available":true,"source":"rtsp://x"}]})",
       "source: expected an object"},
      {R"({"pageCount":1,"items":[{"name":"a","available":true,"tracks2":[{"codecProps":null}]}]})",
       "tracks2[0].codec: missing"},
      {R"({"pageCount":1,"items":[{"name":"a","available":true,"readers":[{"id":"x"}]}]})",
       "readers[0].type: missing"},
      {R"({"pageCount":1,"items":[{"name":"a","available":true,"availableTime":5}]})",
       "availableTime: expected a string or null"},
      {R"({"items":[]})", "pageCount: missing"},
      {R"({"pageCount":-1,"items":[]})", "pageCount: expected a non-negative integer"},
      {R"({"pageCount":1,"items":{"cam":{}}})", "map shape"},
      {R"({"pageCount":1,"items":"x"})", "items: expected an array"},
      {R"([])", "expected an object"},
      {R"({"pageCount":1,"items":[)", "not valid JSON"},
      {"", "not valid JSON"},
      {"<html>", "not valid JSON"},
  }));
  CAPTURE(body);
  const auto page = parse_paths_page(body, 3);
  REQUIRE_FALSE(page);
  CHECK(page.error().kind == ErrorKind::protocol);
  CHECK_THAT(page.error().message, Catch::Contains(words));
  CHECK_THAT(page.error().message, Catch::Contains("page 3"));
}

TEST_CASE("hostile bodies are refused cleanly", "[mediamtx][hostile]") {
  SECTION("deep nesting") {
    const std::string deep = std::string(10000, '[') + std::string(10000, ']');
    const auto page = parse_paths_page(
        R"({"pageCount":1,"items":[{"name":"a","available":true,"x":)" + deep + "}]}", 0);
    REQUIRE_FALSE(page);
    CHECK_THAT(page.error().message, Catch::Contains("not valid JSON"));
  }
  SECTION("invalid UTF-8") {
    const auto page = parse_paths_page(
        "{\"pageCount\":1,\"items\":[{\"name\":\"a\xff\",\"available\":true}]}", 0);
    REQUIRE_FALSE(page);
    CHECK_THAT(page.error().message, Catch::Contains("not valid JSON"));
  }
  SECTION("a name at the limit is kept, one byte over or with a control character is refused") {
    const std::string limit(mediamtx::max_path_name_bytes, 'n');
    const auto ok = parse_paths_page(
        R"({"pageCount":1,"items":[{"name":")" + limit + R"(","available":true}]})", 0);
    REQUIRE(ok);
    CHECK(ok->items.at(0).name == limit);
    const auto over = parse_paths_page(
        R"({"pageCount":1,"items":[{"name":")" + limit + R"(n","available":true}]})", 0);
    REQUIRE_FALSE(over);
    CHECK_THAT(over.error().message, Catch::Contains("name: longer than 1024 bytes"));
    CHECK(over.error().message.size() < 300);
    const auto control =
        parse_paths_page(R"({"pageCount":1,"items":[{"name":"a\u0000b","available":true}]})", 0);
    REQUIRE_FALSE(control);
    CHECK_THAT(control.error().message, Catch::Contains("control character"));
  }
  SECTION("a long name in a message is shortened between characters") {
    // "a" and 40 two-byte letters: 81 bytes, so a cut at 80 would split the last one.
    std::string name = "a";
    for (int i = 0; i < 40; ++i)
      name += "\u00e9";
    const auto page = parse_paths_page(
        R"({"pageCount":1,"items":[{"name":")" + name + R"(","available":"yes"}]})", 0);
    REQUIRE_FALSE(page);
    const std::string& message = page.error().message;
    CHECK_THAT(message, Catch::Contains("(\"" + name.substr(0, 79) + "\").available"));
    CHECK(to_valid_utf8(message) == message);
  }
  SECTION("a megabyte field value is kept whole") {
    const std::string big(1 << 20, 'v');
    const auto page = parse_paths_page(
        R"({"pageCount":1,"items":[{"name":"a","available":true,"source":{"type":"rtspSession","id":")" +
            big + R"("}}]})",
        0);
    REQUIRE(page);
    CHECK(page->items.at(0).source->id.size() == big.size());
  }
  SECTION("a hundred thousand readers") {
    std::string readers = "[";
    for (int i = 0; i < 100'000; ++i)
      readers += std::string(i ? "," : "") + R"({"type":"rtspSession","id":"r"})";
    readers += "]";
    const auto page = parse_paths_page(
        R"({"pageCount":1,"items":[{"name":"a","available":true,"readers":)" + readers + "}]}", 0);
    REQUIRE(page);
    CHECK(page->items.at(0).readers.size() == 100'000);
  }
}

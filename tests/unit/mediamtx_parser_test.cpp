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

TEST_CASE("an always-available path with no publisher is a placeholder with a null source",
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
  CHECK(classify(path) == DeviceState::placeholder); // the offline slate, not the camera
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
  // The config list has items too, but no readiness: no camera comes out of it, and no
  // credential either.
  const auto config =
      parse_paths_page(test_data("mediamtx/config_paths_list_source_credentials.json"), 0);
  REQUIRE(config);
  REQUIRE(config->items.size() == 2);
  for (const auto& item : config->items) {
    CHECK_THAT(item.unreadable, Catch::Contains("available: missing"));
    CHECK(item.unreadable.find("Sup3rS3cret") == std::string::npos);
  }
}

TEST_CASE("the configuration sample gives each key its on-demand and placeholder flags",
          "[mediamtx][samples][config]") {
  const auto page = mediamtx::parse_config_page(
                        test_data("mediamtx/config_paths_list_source_credentials.json"), 0)
                        .value();
  CHECK(page.item_count == 2);
  CHECK(page.page_count == 1);
  CHECK(page.unreadable.empty());
  REQUIRE(page.items.size() == 2);
  CHECK(page.items[0].first == "all_others");
  CHECK_FALSE(page.items[0].second.source_on_demand);
  CHECK_FALSE(page.items[0].second.always_available);
  CHECK_FALSE(page.items[0].second.run_on_demand);
  CHECK(page.items[1].first == "cam-parking");
  CHECK(page.items[1].second.source_on_demand);
  CHECK_FALSE(page.items[1].second.always_available);

  const auto flags = mediamtx::parse_config_page(
      R"({"pageCount":1,"items":[{"name":"~^a/.+$","alwaysAvailable":true,"runOnDemand":"x"},)"
      R"({"name":"old"}]})",
      0);
  REQUIRE(flags);
  CHECK(flags->items.at(0).first == "~^a/.+$");
  CHECK(flags->items.at(0).second.always_available);
  CHECK(flags->items.at(0).second.run_on_demand);
  CHECK_FALSE(flags->items.at(1).second.always_available); // absent before the feature
}

TEST_CASE("no message about a configuration list quotes a value from it",
          "[mediamtx][config][credentials]") {
  const std::string url = "rtsp://admin:Sup3rS3cret@192.0.2.21/ch1";
  const auto [body, words] = GENERATE_REF(table<std::string, std::string>({
      {R"({"pageCount":1,"items":[{"name":"a","sourceOnDemand":")" + url + R"("}]})",
       "items[0].sourceOnDemand: expected a boolean, got a string"},
      {R"({"pageCount":1,"items":[{"name":"a","alwaysAvailable":[")" + url + R"("]}]})",
       "items[0].alwaysAvailable: expected a boolean, got an array"},
      {R"({"pageCount":1,"items":[{"name":"a","runOnDemand":{"u":")" + url + R"("}}]})",
       "items[0].runOnDemand: expected a string, got an object"},
      {R"({"pageCount":1,"items":[{"name":{"u":")" + url + R"("},"source":")" + url + R"("}]})",
       "items[0].name: expected a string"},
      {R"({"pageCount":1,"items":[")" + url + R"("]})", "items[0]: expected an object"},
      {R"({"pageCount":")" + url + R"(","items":[]})", "pageCount: expected a non-negative"},
      {R"({"pageCount":1,"items":")" + url + R"("})", "items: expected an array"},
      {R"({"pageCount":1,"items":[{"name":"a","source":")" + url + R"(")", "not valid JSON"},
  }));
  CAPTURE(body);
  const auto page = mediamtx::parse_config_page(body, 4);
  std::string messages;
  if (page) {
    for (const auto& m : page->unreadable)
      messages += m + "\n";
    CHECK(page->items.empty());
  } else {
    messages = page.error().message;
  }
  CHECK_THAT(messages, Catch::Contains(words));
  CHECK_THAT(messages, Catch::Contains("path config list page 4"));
  CHECK(messages.find("Sup3rS3cret") == std::string::npos);
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

TEST_CASE("a track with very many codec properties parses in linear time, the last twin winning",
          "[mediamtx]") {
  // A hostile or broken server's 3 MB of properties: searched pairwise, 200,000 of them
  // would take minutes while the round holds its lock.
  std::string props;
  for (int i = 0; i < 200'000; ++i)
    props += "\"p" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  props += R"("p7":"seven","p199999":true)";
  const auto started = std::chrono::steady_clock::now();
  const auto page = parse_paths_page(
      R"({"pageCount":1,"items":[{"name":"a","available":true,"tracks2":[{"codec":"H264","codecProps":{)" +
          props + "}}]}]}",
      0);
  const auto took = std::chrono::steady_clock::now() - started;
  REQUIRE(page);
  INFO(page->items.at(0).unreadable);
  const auto& props_read = page->items.at(0).tracks.at(0).codec_props;
  REQUIRE(props_read.size() == 200'000);
  CHECK(props_read[7].first == "p7"); // in the place of its first occurrence
  CHECK(std::get<std::string>(props_read[7].second) == "seven");
  CHECK(std::get<bool>(props_read.back().second));
  CHECK(std::get<std::int64_t>(props_read[123'456].second) == 123'456);
  CHECK(took < std::chrono::seconds(10));
}

TEST_CASE("a page whose envelope is wrong fails, naming the page and the field", "[mediamtx]") {
  const auto [body, words] = GENERATE(table<std::string, std::string>({
      {R"({"items":[]})", "pageCount: missing"},
      {R"({"pageCount":-1,"items":[]})", "pageCount: expected a non-negative integer"},
      {R"({"pageCount":1,"itemCount":"1","items":[]})",
       "itemCount: expected a non-negative integer"},
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

TEST_CASE(
    "an item that cannot be understood is unreadable, naming the page, the item and the "
    "field, and the others are read",
    "[mediamtx][unreadable]") {
  const auto [item, name, words] = GENERATE(table<std::string, std::string, std::string>({
      {R"({"ready":true})", "", "page 3, items[1].name: missing"},
      {R"({"name":7,"ready":true})", "", "items[1].name: expected a string"},
      {R"({"name":"","ready":true})", "", "items[1].name: empty"},
      {R"("cam")", "", "items[1]: expected an object, got a string"},
      {R"({"name":"a","ready":"yes"})", "a", R"(items[1] ("a").ready: expected a boolean)"},
      {R"({"name":"a"})", "a", R"(items[1] ("a").available: missing)"},
      {R"({"name":"b","available":true,"readers":{}})", "b",
       R"(items[1] ("b").readers: expected an array)"},
      {R"({"name":"a","available":true,"readers":[{"type":"rtspSession","id":7}]})", "a",
       "readers[0].id: expected a string, got a number"},
      {R"({"name":"a","available":true,"inboundBytes":-5})", "a",
       "inboundBytes: expected a non-negative integer"},
      {R"({"name":"a","available":true,"inboundBytes":1.5})", "a",
       "inboundBytes: expected a non-negative integer"},
      {R"({"name":"a","available":true,"bytesSent":"12"})", "a",
       "bytesSent: expected a non-negative integer, got a string"},
      {R"({"name":"a","available":true,"source":"rtsp://x"})", "a", "source: expected an object"},
      {R"({"name":"a","available":true,"tracks2":[{"codecProps":null}]})", "a",
       "tracks2[0].codec: missing"},
      {R"({"name":"a","available":true,"readers":[{"id":"x"}]})", "a", "readers[0].type: missing"},
      {R"({"name":"a","available":true,"availableTime":5})", "a",
       "availableTime: expected a string or null"},
      {R"({"name":"a","available":true,"online":"true"})", "a", "online: expected a boolean"},
  }));
  CAPTURE(item);
  const auto page = parse_paths_page(
      R"({"itemCount":3,"pageCount":1,"items":[{"name":"before","available":true},)" + item +
          R"(,{"name":"after","available":false}]})",
      3);
  REQUIRE(page);
  REQUIRE(page->items.size() == 3);
  CHECK(page->items[0].name == "before");
  CHECK(page->items[0].unreadable.empty());
  CHECK(page->items[0].available);
  CHECK(page->items[2].name == "after");
  CHECK(page->items[2].unreadable.empty());
  const auto& odd = page->items[1];
  CHECK(odd.name == name);
  CHECK_THAT(odd.unreadable, Catch::Contains(words));
  CHECK_THAT(odd.unreadable, Catch::Contains("page 3"));
  // Nothing but the name is kept from an unreadable item.
  CHECK_FALSE(odd.available);
  CHECK_FALSE(odd.source);
  CHECK(odd.readers.empty());
  CHECK(odd.inbound_bytes == 0);
  CHECK_FALSE(odd.config);
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
    REQUIRE(over);
    CHECK(over->items.at(0).name.empty());
    CHECK_THAT(over->items.at(0).unreadable, Catch::Contains("name: longer than 1024 bytes"));
    CHECK(over->items.at(0).unreadable.size() < 300);
    const auto control =
        parse_paths_page(R"({"pageCount":1,"items":[{"name":"a\u0000b","available":true}]})", 0);
    REQUIRE(control);
    CHECK(control->items.at(0).name.empty());
    CHECK_THAT(control->items.at(0).unreadable, Catch::Contains("control character"));
  }
  SECTION("a long name in a message is shortened between characters") {
    // "a" and 40 two-byte letters: 81 bytes, so a cut at 80 would split the last one.
    std::string name = "a";
    for (int i = 0; i < 40; ++i)
      name += "\u00e9";
    const auto page = parse_paths_page(
        R"({"pageCount":1,"items":[{"name":")" + name + R"(","available":"yes"}]})", 0);
    REQUIRE(page);
    CHECK(page->items.at(0).name == name);
    const std::string& message = page->items.at(0).unreadable;
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

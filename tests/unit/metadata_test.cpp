#include <catch2/catch.hpp>

#include "camreg/metadata.hpp"
#include "fakes.hpp"

using namespace camreg;
using namespace camreg::testing;

TEST_CASE("a path's state follows shared/mediamtx's table from fields to presence", "[metadata]") {
  CHECK(classify(live_path("a")) == DeviceState::live);
  CHECK(classify(connecting_path("a")) == DeviceState::not_ready);
  CHECK(classify(idle_path("a")) == DeviceState::no_source);

  SECTION("an alwaysAvailable path with the camera down plays a slate: placeholder, not live") {
    auto p = idle_path("a");
    p.available = true; // available from path start, online false, no source
    p.online = false;
    p.config = PathConfig{false, false, true};
    CHECK(classify(p) == DeviceState::placeholder);
    CHECK_FALSE(is_healthy(p));
    SECTION("and with the camera up it is live") {
      p.online = true;
      p.source = SourceRef{"rtspSource", ""};
      CHECK(classify(p) == DeviceState::live);
    }
  }
  SECTION("an idle on-demand source is standby; without the configuration, not_ready") {
    auto p = connecting_path("a"); // available false, online true (quirk), rtspSource
    CHECK(classify(p) == DeviceState::not_ready);
    p.config = PathConfig{true, false, false};
    CHECK(classify(p) == DeviceState::standby);
    p.config = PathConfig{false, true, false}; // runOnDemand
    CHECK(classify(p) == DeviceState::standby);
  }
  SECTION("MediaMTX before 1.16 has no online field: ready is live") {
    auto p = live_path("a");
    p.online.reset();
    CHECK(classify(p) == DeviceState::live);
  }
}

TEST_CASE("metadata carries the live state field by field", "[metadata]") {
  const auto json = render_metadata(live_path("cam1"), "http://localhost:8889/cam1/whep");
  CHECK(json ==
        R"({"state":"live","ready":true,"ready_time":"2026-11-24T10:00:00.5+01:00","online":true,)"
        R"("source_type":"rtspSource","source_id":"","conf_name":"cam1",)"
        R"("on_demand":null,"always_available":null,)"
        R"("tracks":[{"codec":"H264","width":1920,"height":1080,"profile":"High","level":"4.1"},)"
        R"({"codec":"Opus","channelCount":2}],"track_codecs":["H264","Opus"],)"
        R"("readers":[{"type":"webRTCSession","id":"6f1e6c1a-0000-4000-8000-000000000001"}],)"
        R"("reader_count":1,"whep_url":"http://localhost:8889/cam1/whep"})");
  // The counters, which move every round, are stored beside it.
  CHECK(counters_of(live_path("cam1")) == TrafficCounters{123456, 654321, 0});
}

TEST_CASE("metadata of a path with no source says so with nulls", "[metadata]") {
  auto p = idle_path("yard");
  p.online.reset(); // a MediaMTX older than v1.16 has no online field
  const auto json = render_metadata(p, "w");
  CHECK(json.rfind(R"({"state":"no_source","ready":false,"ready_time":null,"online":null,)"
                   R"("source_type":null,"source_id":null,)",
                   0) == 0);
}

TEST_CASE("metadata stays valid JSON whatever bytes a name holds", "[metadata]") {
  auto p = idle_path(std::string("q\"\\\n\x01\x7f\0z", 8));
  p.conf_name = std::string("\xff\xc3(\xe2\x82\xac", 6); // invalid, invalid, then a valid euro sign
  const auto json = render_metadata(p, "");
  CHECK(json.find(R"("conf_name":"\ufffd\ufffd(€")") == std::string::npos);
  CHECK(json.find("\"conf_name\":\"\xEF\xBF\xBD\xEF\xBF\xBD(\xE2\x82\xAC\"") != std::string::npos);
  const auto track_json = render_metadata(
      [] {
        PathState q;
        q.tracks = {Track{"H264", {{"note", std::string("a\"b\tc\x1f")}}}};
        return q;
      }(),
      "");
  CHECK(track_json.find(R"({"codec":"H264","note":"a\"b\tc\u001f"})") != std::string::npos);
}

TEST_CASE("a path with a hundred thousand readers lists a hundred and counts them all",
          "[metadata]") {
  auto p = live_path("cam1");
  p.readers.assign(100'000, ReaderRef{"webRTCSession", "0b6f6f1e-1d7c-4b59-a7a8-000000000000"});
  const auto json = render_metadata(p, "w");
  CHECK(json.find(R"("reader_count":100000)") != std::string::npos);
  std::size_t listed = 0;
  for (auto at = json.find("webRTCSession"); at != std::string::npos;
       at = json.find("webRTCSession", at + 1))
    ++listed;
  CHECK(listed == max_listed_readers);
  CHECK(json.size() < 10'000);
}

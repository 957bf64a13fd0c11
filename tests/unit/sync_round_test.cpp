#include <catch2/catch.hpp>

#include "camreg/duration.hpp"
#include "camreg/list_devices.hpp"
#include "camreg/metadata.hpp"
#include "camreg/sync_round.hpp"
#include "fakes.hpp"
#include "in_memory_device_repository.hpp"

using namespace camreg;
using namespace camreg::testing;
using namespace std::chrono_literals;

namespace {

const TimePoint t0 = std::chrono::sys_days{std::chrono::year{2026} / 11 / 24} + 8h;

SyncOptions default_options() {
  SyncOptions options;
  options.webrtc_base = parse_http_url("http://localhost:8889").value();
  return options;
}

// One sync world: a scripted MediaMTX, an in-memory table and a hand-moved clock.
struct World {
  FakePathSource source;
  InMemoryDeviceRepository repo;
  FakeClock clock{t0};
  SyncOptions options = default_options();

  RoundReport round(Result<std::vector<PathState>> answer) {
    source.push(std::move(answer));
    return sync_round(source, repo, clock, options);
  }
  const Device& camera(const std::string& key) {
    const Device* d = repo.find("camera", key);
    REQUIRE(d != nullptr);
    return *d;
  }
  std::string state_of(const std::string& key) {
    const auto& metadata = camera(key).metadata_json;
    const auto at = metadata.find("\"state\":\"");
    REQUIRE(at != std::string::npos);
    const auto start = at + 9;
    return metadata.substr(start, metadata.find('"', start) - start);
  }
};

std::vector<PathState> paths(std::initializer_list<PathState> list) {
  return list;
}

Error refused() {
  return fail(ErrorKind::unavailable, "connection refused");
}

} // namespace

TEST_CASE("a listed healthy camera appears active with last_seen now", "[sync]") {
  World w;
  const auto report = w.round(paths({live_path("cam1")}));
  REQUIRE(report.ok());
  CHECK(report.counts.paths_seen == 1);
  CHECK(report.counts.inserted == 1);
  CHECK(report.counts.newly_active == 1);
  const auto& cam = w.camera("cam1");
  CHECK(cam.is_active);
  CHECK(cam.last_seen == t0);
  CHECK(cam.name == "cam1");
  CHECK(cam.device_type == "camera");
  CHECK(w.state_of("cam1") == "live");
}

TEST_CASE("a listed camera that never was healthy is stored inactive with its reason", "[sync]") {
  World w;
  REQUIRE(w.round(paths({connecting_path("door"), idle_path("yard")})).ok());
  CHECK_FALSE(w.camera("door").is_active);
  CHECK_FALSE(w.camera("door").last_seen.has_value());
  CHECK(w.state_of("door") == "not_ready");
  CHECK_FALSE(w.camera("yard").is_active);
  CHECK(w.state_of("yard") == "no_source");
}

TEST_CASE("a camera going healthy, unhealthy, gone and back keeps one row and tells why",
          "[sync]") {
  World w;
  REQUIRE(w.round(paths({live_path("cam1")})).ok());
  const auto id = w.camera("cam1").id;

  SECTION("unhealthy within the stale window stays active, state not_ready") {
    w.clock.advance(1min);
    REQUIRE(w.round(paths({connecting_path("cam1")})).ok());
    CHECK(w.camera("cam1").is_active);
    CHECK(w.camera("cam1").last_seen == t0);
    CHECK(w.state_of("cam1") == "not_ready");

    w.clock.advance(4min + 1s); // 5:01 after the last healthy sync
    const auto report = w.round(paths({connecting_path("cam1")}));
    CHECK(report.counts.expired == 1);
    CHECK_FALSE(w.camera("cam1").is_active);
  }
  SECTION("gone from the list is marked removed, kept, and expires like any other") {
    w.clock.advance(1min);
    const auto gone = w.round(paths({}));
    CHECK(gone.counts.removed == 1);
    CHECK(w.state_of("cam1") == "removed");
    CHECK(w.camera("cam1").metadata_json.find("\"ready\":false") != std::string::npos);
    CHECK(w.camera("cam1").is_active);

    w.clock.advance(5min);
    REQUIRE(w.round(paths({})).ok());
    CHECK_FALSE(w.camera("cam1").is_active);
    CHECK(w.repo.size() == 1);

    SECTION("and comes back live in the same row") {
      w.clock.advance(1min);
      const auto back = w.round(paths({live_path("cam1")}));
      CHECK(back.counts.newly_active == 1);
      CHECK(back.counts.inserted == 0);
      CHECK(w.camera("cam1").id == id);
      CHECK(w.camera("cam1").is_active);
      CHECK(w.camera("cam1").last_seen == w.clock.now());
      CHECK(w.state_of("cam1") == "live");
    }
  }
}

TEST_CASE("the stale window boundary is exact", "[sync][boundary]") {
  const auto [elapsed, active] = GENERATE(table<Duration, bool>({
      {4min + 59s, true},
      {5min, true}, // "older than 5 minutes" is strict
      {5min + 1us, false},
      {5min + 1s, false},
  }));
  CAPTURE(format_duration(elapsed));
  World w;
  REQUIRE(w.round(paths({live_path("cam1")})).ok());
  w.clock.advance(elapsed);
  REQUIRE(w.round(paths({connecting_path("cam1")})).ok());
  CHECK(w.camera("cam1").is_active == active);
}

TEST_CASE("the stale window is an option", "[sync][boundary]") {
  World w;
  w.options.stale_after = 2s;
  REQUIRE(w.round(paths({live_path("cam1")})).ok());
  w.clock.advance(2s);
  REQUIRE(w.round(paths({connecting_path("cam1")})).ok());
  CHECK(w.camera("cam1").is_active);
  w.clock.advance(1ms);
  REQUIRE(w.round(paths({connecting_path("cam1")})).ok());
  CHECK_FALSE(w.camera("cam1").is_active);
}

TEST_CASE("a failed fetch writes no device rows but still expires and is recorded", "[sync]") {
  World w;
  REQUIRE(w.round(paths({live_path("cam1"), live_path("cam2")})).ok());
  w.clock.advance(3min);
  REQUIRE(w.round(paths({live_path("cam2")})).ok()); // cam1 now removed, cam2 refreshed
  const auto before = w.camera("cam2");

  w.clock.advance(2min + 30s); // cam1 unseen for 5:30, cam2 for 2:30
  const auto report = w.round(refused());
  CHECK_FALSE(report.ok());
  REQUIRE(report.fetch_error);
  CHECK(report.fetch_error->kind == ErrorKind::unavailable);
  CHECK(report.counts.paths_seen == 0);
  CHECK(report.counts.expired == 1);
  CHECK_FALSE(w.camera("cam1").is_active);
  // cam2 is untouched: same metadata, same last_seen, same updated_at.
  CHECK(w.camera("cam2").metadata_json == before.metadata_json);
  CHECK(w.camera("cam2").updated_at == before.updated_at);
  CHECK(w.camera("cam2").last_seen == before.last_seen);
  CHECK(w.camera("cam2").is_active);

  const auto runs = w.repo.recent_sync_runs(10).value();
  REQUIRE(runs.size() == 3);
  CHECK_FALSE(runs.front().ok);
  CHECK(runs.front().error == "connection refused");
  CHECK(runs.front().expired == 1);
  CHECK(runs.back().ok);
}

TEST_CASE("a failed fetch does not mark listed cameras removed", "[sync]") {
  World w;
  REQUIRE(w.round(paths({live_path("cam1")})).ok());
  REQUIRE_FALSE(w.round(refused()).ok());
  CHECK(w.state_of("cam1") == "live");
}

TEST_CASE("a database failure is reported and leaves the table as it was", "[sync]") {
  World w;
  REQUIRE(w.round(paths({live_path("cam1")})).ok());
  const auto before = w.camera("cam1");
  w.clock.advance(10min);
  w.repo.fail_next_commit();
  const auto report = w.round(paths({live_path("cam2")}));
  REQUIRE(report.write_error);
  CHECK(report.write_error->kind == ErrorKind::database);
  CHECK(w.repo.size() == 1);
  CHECK(w.camera("cam1").is_active == before.is_active);
  CHECK(w.camera("cam1").metadata_json == before.metadata_json);
}

TEST_CASE("zero paths is a successful round", "[sync]") {
  World w;
  const auto report = w.round(paths({}));
  CHECK(report.ok());
  CHECK(report.counts.paths_seen == 0);
  CHECK(w.repo.size() == 0);
  CHECK(w.repo.recent_sync_runs(1).value().at(0).ok);
}

TEST_CASE("ten thousand paths are all stored", "[sync][scale]") {
  World w;
  std::vector<PathState> many;
  for (int i = 0; i < 10'000; ++i) {
    many.push_back(i % 3 == 0 ? connecting_path("site/cam" + std::to_string(i))
                              : live_path("site/cam" + std::to_string(i)));
  }
  const auto report = w.round(many);
  REQUIRE(report.ok());
  CHECK(report.counts.paths_seen == 10'000);
  CHECK(report.counts.inserted == 10'000);
  const auto active = list_devices(w.repo, DeviceQuery{"camera", true}).value();
  CHECK(active.size() == 6'666);
  const auto all = list_devices(w.repo, DeviceQuery{"camera", false}).value();
  REQUIRE(all.size() == 10'000);
  CHECK(std::is_sorted(all.begin(), all.end(), [](const Device& a, const Device& b) {
    return a.device_key < b.device_key;
  }));

  // An identical second round changes nothing but last_seen.
  w.clock.advance(1min);
  const auto again = w.round(many);
  CHECK(again.counts.inserted == 0);
  CHECK(again.counts.updated == 0);
  CHECK(again.counts.newly_active == 0);
}

TEST_CASE("a name listed on two pages becomes one device with its later state", "[sync]") {
  World w;
  // The list changed between page requests: cam2 appears at the end of page 0 and
  // again at the start of page 1, ready by then.
  const auto report = w.round(
      paths({live_path("cam1"), connecting_path("cam2"), live_path("cam2"), live_path("cam3")}));
  REQUIRE(report.ok());
  CHECK(report.counts.paths_seen == 3);
  CHECK(report.counts.inserted == 3);
  CHECK(w.repo.size() == 3);
  CHECK(w.state_of("cam2") == "live");
  CHECK(w.camera("cam2").is_active);
}

TEST_CASE("names with slashes and dots are kept intact, in the key and the WHEP URL", "[sync]") {
  World w;
  w.options.webrtc_base = parse_http_url("https://video.example.org:8443/mtx/").value();
  REQUIRE(w.round(paths({live_path("site-a/building.2/cam_1")})).ok());
  const auto& cam = w.camera("site-a/building.2/cam_1");
  CHECK(cam.name == "site-a/building.2/cam_1");
  CHECK(cam.metadata_json.find(
            R"("whep_url":"https://video.example.org:8443/mtx/site-a/building.2/cam_1/whep")") !=
        std::string::npos);
}

TEST_CASE("credentials never reach device metadata", "[sync][security]") {
  World w;
  w.options.webrtc_base = parse_http_url("http://viewer:webrtc-secret@localhost:8889").value();
  auto path = connecting_path("cam1");
  path.source = SourceRef{"rtspSource", "rtsp://admin:cam-secret@10.1.2.3:554/stream1"};
  path.readers = {ReaderRef{"rtspSession", "rtsp://u:reader-secret@host/x"}};
  path.conf_name = "rtsp://x:conf-secret@y/";
  REQUIRE(w.round(paths({path})).ok());
  const auto& metadata = w.camera("cam1").metadata_json;
  CHECK(metadata.find("secret") == std::string::npos);
  CHECK(metadata.find("cam-secret") == std::string::npos);
  CHECK(metadata.find("rtsp://10.1.2.3:554/stream1") != std::string::npos);
  CHECK(metadata.find("http://localhost:8889/cam1/whep") != std::string::npos);
}

TEST_CASE("an operator's name survives later syncs", "[sync]") {
  World w;
  REQUIRE(w.round(paths({live_path("cam1")})).ok());
  REQUIRE(w.repo.rename("camera", "cam1", "Front door"));
  w.clock.advance(1min);
  REQUIRE(w.round(paths({live_path("cam1")})).ok());
  CHECK(w.camera("cam1").name == "Front door");
}

TEST_CASE("unchanged cameras are not rewritten beyond last_seen", "[sync]") {
  World w;
  REQUIRE(w.round(paths({live_path("cam1")})).ok());
  w.clock.advance(30s);
  const auto report = w.round(paths({live_path("cam1")}));
  CHECK(report.counts.updated == 0);
  CHECK(w.camera("cam1").updated_at == t0);
  CHECK(w.camera("cam1").last_seen == t0 + 30s);
}

TEST_CASE("a round's times come from the clock and its source is recorded", "[sync]") {
  World w;
  const auto report = w.round(paths({live_path("cam1")}));
  CHECK(report.started_at == t0);
  CHECK(report.finished_at == t0);
  CHECK(report.source == "fake://paths");
  CHECK(w.repo.recent_sync_runs(1).value().at(0).source == "fake://paths");
}

TEST_CASE("only devices of the synced type are touched", "[sync]") {
  World w;
  w.options.device_type = "sensor";
  REQUIRE(w.round(paths({live_path("s1")})).ok());
  w.options.device_type = "camera";
  w.clock.advance(10min);
  const auto report = w.round(paths({live_path("cam1")}));
  CHECK(report.counts.removed == 0);
  CHECK(report.counts.expired == 0);
  const Device* sensor = w.repo.find("sensor", "s1");
  REQUIRE(sensor != nullptr);
  CHECK(sensor->is_active);
}

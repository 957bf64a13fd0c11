// The repository contract: every sync rule and boundary, asserted once, against each
// DeviceRepository (in memory and PostgreSQL). The rules are the core's plan_round; a
// repository only stores what it decides, so both must end in the same rows.
#include <algorithm>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <map>

#include "camreg/api_json.hpp"
#include "camreg/history.hpp"
#include "contract_world.hpp"

using namespace camreg;
using namespace camreg::testing;
using namespace camreg::testing::contract;
using namespace std::chrono_literals;

TEMPLATE_TEST_CASE("a listed healthy camera appears active with last_seen now", "[sync]", InMemory,
                   Postgres) {
  World<TestType> w;
  const auto report = w.round(paths({live_path("cam1")}));
  REQUIRE(report.ok());
  CHECK(report.counts.paths_seen == 1);
  CHECK(report.counts.inserted == 1);
  CHECK(report.counts.newly_active == 1);
  const auto cam = w.camera("cam1");
  CHECK(cam.is_active);
  CHECK(cam.last_seen == t0);
  CHECK(cam.name == "cam1");
  CHECK(cam.device_type == "camera");
  CHECK(w.state_of("cam1") == "live");
}

TEMPLATE_TEST_CASE("a listed camera that never was healthy is stored inactive with its reason",
                   "[sync]", InMemory, Postgres) {
  World<TestType> w;
  REQUIRE(w.round(paths({connecting_path("door"), idle_path("yard")})).ok());
  CHECK_FALSE(w.camera("door").is_active);
  CHECK_FALSE(w.camera("door").last_seen.has_value());
  CHECK(w.state_of("door") == "not_ready");
  CHECK_FALSE(w.camera("yard").is_active);
  CHECK(w.state_of("yard") == "no_source");
}

TEMPLATE_TEST_CASE("a camera going healthy, unhealthy, gone and back keeps one row and tells why",
                   "[sync]", InMemory, Postgres) {
  World<TestType> w;
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
  SECTION("gone from two listings is marked removed, kept, and expires like any other") {
    w.clock.advance(1min);
    const auto once = w.round(paths({})); // one absence is not removal
    CHECK(once.counts.removed == 0);
    CHECK(once.transitions.empty());
    CHECK(w.state_of("cam1") == "live");
    const auto gone = w.round(paths({}));
    CHECK(gone.counts.removed == 1);
    CHECK(w.state_of("cam1") == "removed");
    CHECK(w.metadata("cam1").at("ready") == false);
    CHECK(w.camera("cam1").is_active);

    w.clock.advance(5min);
    REQUIRE(w.round(paths({})).ok());
    CHECK_FALSE(w.camera("cam1").is_active);
    CHECK(w.db.size() == 1);

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

TEMPLATE_TEST_CASE("the stale window boundary is exact", "[sync][boundary]", InMemory, Postgres) {
  const auto [elapsed, active] = GENERATE(table<Duration, bool>({
      {4min + 59s, true},
      {5min, true}, // "older than 5 minutes" is strict
      {5min + 1us, false},
      {5min + 1s, false},
  }));
  CAPTURE(format_duration(elapsed));
  World<TestType> w;
  REQUIRE(w.round(paths({live_path("cam1")})).ok());
  w.clock.advance(elapsed);
  REQUIRE(w.round(paths({connecting_path("cam1")})).ok());
  CHECK(w.camera("cam1").is_active == active);
}

TEMPLATE_TEST_CASE("the stale window is an option", "[sync][boundary]", InMemory, Postgres) {
  World<TestType> w;
  w.options.stale_after = 2s;
  REQUIRE(w.round(paths({live_path("cam1")})).ok());
  w.clock.advance(2s);
  REQUIRE(w.round(paths({connecting_path("cam1")})).ok());
  CHECK(w.camera("cam1").is_active);
  w.clock.advance(1ms);
  REQUIRE(w.round(paths({connecting_path("cam1")})).ok());
  CHECK_FALSE(w.camera("cam1").is_active);
}

TEMPLATE_TEST_CASE("a failed fetch writes no device rows but still expires and is recorded",
                   "[sync]", InMemory, Postgres) {
  World<TestType> w;
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

  const auto runs = w.runs(10);
  REQUIRE(runs.size() == 3);
  CHECK_FALSE(runs.front().ok);
  CHECK(runs.front().error == "connection refused");
  CHECK(runs.front().expired == 1);
  CHECK(runs.back().ok);
}

TEMPLATE_TEST_CASE("a failed fetch does not mark listed cameras removed", "[sync]", InMemory,
                   Postgres) {
  World<TestType> w;
  REQUIRE(w.round(paths({live_path("cam1")})).ok());
  REQUIRE_FALSE(w.round(refused()).ok());
  CHECK(w.state_of("cam1") == "live");
}

TEMPLATE_TEST_CASE("a database failure is reported and leaves the table as it was", "[sync]",
                   InMemory, Postgres) {
  World<TestType> w;
  REQUIRE(w.round(paths({live_path("cam1")})).ok());
  const auto before = w.camera("cam1");
  w.clock.advance(10min);
  w.db.break_next_commit();
  const auto report = w.round(paths({live_path("cam2")}));
  w.db.repair();
  REQUIRE(report.write_error);
  CHECK(report.write_error->kind == ErrorKind::database);
  CHECK(w.db.size() == 1);
  CHECK(w.camera("cam1").is_active == before.is_active);
  CHECK(w.camera("cam1").metadata_json == before.metadata_json);
}

TEMPLATE_TEST_CASE("zero paths is a successful round", "[sync]", InMemory, Postgres) {
  World<TestType> w;
  const auto report = w.round(paths({}));
  CHECK(report.ok());
  CHECK(report.counts.paths_seen == 0);
  CHECK(w.db.size() == 0);
  CHECK(w.runs(1).at(0).ok);
}

TEMPLATE_TEST_CASE("ten thousand paths are all stored", "[sync][scale]", InMemory, Postgres) {
  World<TestType> w;
  std::vector<PathState> many;
  for (int i = 0; i < 10'000; ++i) {
    many.push_back(i % 3 == 0 ? connecting_path("site/cam" + std::to_string(i))
                              : live_path("site/cam" + std::to_string(i)));
  }
  const auto report = w.round(many);
  REQUIRE(report.ok());
  CHECK(report.counts.paths_seen == 10'000);
  CHECK(report.counts.inserted == 10'000);
  const auto active = w.db.repo().list_devices(DeviceQuery{"camera", true}).value();
  CHECK(active.size() == 6'666);
  const auto all = w.db.repo().list_devices(DeviceQuery{"camera", false}).value();
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

TEMPLATE_TEST_CASE("a name listed on two pages becomes one device with its later state", "[sync]",
                   InMemory, Postgres) {
  World<TestType> w;
  // The list changed between page requests: cam2 appears at the end of page 0 and
  // again at the start of page 1, ready by then.
  const auto report = w.round(
      paths({live_path("cam1"), connecting_path("cam2"), live_path("cam2"), live_path("cam3")}));
  REQUIRE(report.ok());
  CHECK(report.counts.paths_seen == 3);
  CHECK(report.counts.inserted == 3);
  CHECK(w.db.size() == 3);
  CHECK(w.state_of("cam2") == "live");
  CHECK(w.camera("cam2").is_active);
}

TEMPLATE_TEST_CASE("names with slashes and dots are kept intact, in the key and the WHEP URL",
                   "[sync]", InMemory, Postgres) {
  World<TestType> w;
  w.options.webrtc_base = parse_http_url("https://video.example.org:8443/mtx/").value();
  REQUIRE(w.round(paths({live_path("site-a/building.2/cam_1")})).ok());
  const auto cam = w.camera("site-a/building.2/cam_1");
  CHECK(cam.name == "site-a/building.2/cam_1");
  CHECK(w.metadata("site-a/building.2/cam_1").at("whep_url") ==
        "https://video.example.org:8443/mtx/site-a/building.2/cam_1/whep");
}

TEMPLATE_TEST_CASE("credentials never reach device metadata", "[sync][security]", InMemory,
                   Postgres) {
  World<TestType> w;
  w.options.webrtc_base = parse_http_url("http://viewer:webrtc-secret@localhost:8889").value();
  auto path = connecting_path("cam1");
  path.source = SourceRef{"rtspSource", "rtsp://admin:cam-secret@10.1.2.3:554/stream1"};
  path.readers = {ReaderRef{"rtspSession", "rtsp://u:reader-secret@host/x"}};
  path.conf_name = "rtsp://x:conf-secret@y/";
  REQUIRE(w.round(paths({path})).ok());
  const auto metadata = w.camera("cam1").metadata_json;
  CHECK(metadata.find("secret") == std::string::npos);
  CHECK(metadata.find("cam-secret") == std::string::npos);
  CHECK(metadata.find("rtsp://10.1.2.3:554/stream1") != std::string::npos);
  CHECK(metadata.find("http://localhost:8889/cam1/whep") != std::string::npos);
}

TEMPLATE_TEST_CASE("an operator's name survives later syncs", "[sync]", InMemory, Postgres) {
  World<TestType> w;
  REQUIRE(w.round(paths({live_path("cam1")})).ok());
  REQUIRE(w.db.rename("camera", "cam1", "Front door"));
  w.clock.advance(1min);
  REQUIRE(w.round(paths({live_path("cam1")})).ok());
  CHECK(w.camera("cam1").name == "Front door");
}

TEMPLATE_TEST_CASE("unchanged cameras are not rewritten beyond last_seen", "[sync]", InMemory,
                   Postgres) {
  World<TestType> w;
  REQUIRE(w.round(paths({live_path("cam1")})).ok());
  w.clock.advance(30s);
  const auto report = w.round(paths({live_path("cam1")}));
  CHECK(report.counts.updated == 0);
  CHECK(w.camera("cam1").updated_at == t0);
  CHECK(w.camera("cam1").last_seen == t0 + 30s);
}

TEMPLATE_TEST_CASE("a round's times come from the clock and its source is recorded", "[sync]",
                   InMemory, Postgres) {
  World<TestType> w;
  const auto report = w.round(paths({live_path("cam1")}));
  CHECK(report.started_at == t0);
  CHECK(report.finished_at == t0);
  CHECK(report.source == "fake://paths");
  CHECK(w.runs(1).at(0).source == "fake://paths");
}

TEMPLATE_TEST_CASE("only devices of the synced type are touched", "[sync]", InMemory, Postgres) {
  World<TestType> w;
  w.options.device_type = "sensor";
  REQUIRE(w.round(paths({live_path("s1")})).ok());
  w.options.device_type = "camera";
  w.clock.advance(10min);
  const auto report = w.round(paths({live_path("cam1")}));
  CHECK(report.counts.removed == 0);
  CHECK(report.counts.expired == 0);
  const auto sensor = w.db.find("sensor", "s1");
  REQUIRE(sensor.has_value());
  CHECK(sensor->is_active);
}

TEMPLATE_TEST_CASE("a removed camera keeps its last metadata with state removed and ready false",
                   "[sync]", InMemory, Postgres) {
  World<TestType> w;
  REQUIRE(w.round(paths({live_path("cam1")})).ok());
  auto expected = w.metadata("cam1");
  expected["state"] = "removed";
  expected["ready"] = false;
  w.clock.advance(1min);
  REQUIRE(w.round(paths({})).counts.removed == 0);
  REQUIRE(w.round(paths({})).counts.removed == 1);
  CHECK(w.metadata("cam1") == expected);
  w.clock.advance(1min);
  CHECK(w.round(paths({})).counts.removed == 0); // removed once
  CHECK(w.metadata("cam1") == expected);
}

TEMPLATE_TEST_CASE("a round's outcome names each device whose presence changed, and why",
                   "[sync][transitions]", InMemory, Postgres) {
  World<TestType> w;
  using R = TransitionReason;
  const auto transitions_of = [](const RoundReport& report) {
    REQUIRE(report.ok());
    std::map<std::string, Transition> by_key;
    for (const auto& t : report.transitions)
      by_key[t.device_key] = t;
    CHECK(by_key.size() == report.transitions.size());
    return by_key;
  };

  auto first = transitions_of(w.round(paths({live_path("cam1"), connecting_path("cam2")})));
  REQUIRE(first.size() == 2);
  CHECK(first["cam1"].reason == R::added);
  CHECK_FALSE(first["cam1"].previous_state.has_value());
  CHECK(first["cam1"].state == DeviceState::live);
  CHECK((!first["cam1"].was_active && first["cam1"].is_active));
  CHECK(first["cam1"].at == t0);
  CHECK(first["cam2"].state == DeviceState::not_ready);
  CHECK_FALSE(first["cam2"].is_active);

  // Nothing changed: no transitions, whatever last_seen did.
  w.clock.advance(30s);
  CHECK(transitions_of(w.round(paths({live_path("cam1"), connecting_path("cam2")}))).empty());

  w.clock.advance(30s);
  auto second = transitions_of(w.round(paths({connecting_path("cam1"), live_path("cam3")})));
  REQUIRE(second.size() == 2); // cam2 missed once: not yet removed
  CHECK(second["cam1"].reason == R::listed);
  CHECK(second["cam1"].previous_state == DeviceState::live);
  CHECK(second["cam1"].state == DeviceState::not_ready);
  CHECK((second["cam1"].was_active && second["cam1"].is_active)); // within the window
  CHECK(second["cam3"].reason == R::added);
  CHECK(second["cam3"].at == t0 + 1min);

  w.clock.advance(4min + 31s); // cam1 last healthy 5:01 ago
  auto third = transitions_of(w.round(paths({connecting_path("cam1"), live_path("cam3")})));
  REQUIRE(third.size() == 2);
  CHECK(third["cam2"].reason == R::removed);
  CHECK(third["cam2"].previous_state == DeviceState::not_ready);
  CHECK(third["cam2"].state == DeviceState::removed);
  CHECK(third["cam1"].reason == R::expired);
  CHECK(third["cam1"].state == DeviceState::not_ready);
  CHECK((third["cam1"].was_active && !third["cam1"].is_active));

  // A failed listing only expires: cam3, unseen for 5:01, goes dark; nothing is removed.
  w.clock.advance(5min + 1s);
  auto fourth = w.round(refused());
  REQUIRE(fourth.fetch_error);
  REQUIRE(fourth.transitions.size() == 1);
  CHECK(fourth.transitions[0].device_key == "cam3");
  CHECK(fourth.transitions[0].reason == R::expired);
  CHECK(fourth.transitions[0].state == DeviceState::live);
  CHECK(fourth.counts.expired == 1);
}

TEMPLATE_TEST_CASE("a database failure reports no transitions", "[sync][transitions]", InMemory,
                   Postgres) {
  World<TestType> w;
  w.db.break_next_commit();
  const auto report = w.round(paths({live_path("cam1")}));
  w.db.repair();
  REQUIRE(report.write_error);
  CHECK(report.transitions.empty());
  CHECK(w.db.size() == 0);
}

TEMPLATE_TEST_CASE("an error text that is not UTF-8 is recorded, made valid", "[sync]", InMemory,
                   Postgres) {
  World<TestType> w;
  REQUIRE(w.round(paths({live_path("cam1")})).ok());
  w.clock.advance(6min);
  // A proxy's Latin-1 error page, cut in the middle of a multi-byte sequence.
  const auto report = w.round(fail(ErrorKind::protocol, "502 Bad Gateway: caf\xE9 \xE2\x82"));
  CHECK(report.fetch_error);
  CHECK_FALSE(report.write_error);
  CHECK_FALSE(w.camera("cam1").is_active); // expiry was committed
  const auto runs = w.runs(1);
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].error == "502 Bad Gateway: caf\xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD");
}

TEMPLATE_TEST_CASE("an item MediaMTX listed but we could not understand keeps its device as it was",
                   "[sync][presence]", InMemory, Postgres) {
  World<TestType> w;
  REQUIRE(w.round(paths({live_path("cam1"), live_path("cam2")})).ok());
  const auto before = w.camera("cam2");
  w.clock.advance(1min);
  PathState odd;
  odd.name = "cam2";
  odd.unreadable = "items[1] (\"cam2\").readers[0].id: expected a string, got a number";
  PathState nameless;
  nameless.unreadable = "items[2].name: longer than 1024 bytes";
  for (int round = 0; round < 3; ++round) { // never removed, however often
    const auto report = w.round(paths({live_path("cam1"), odd, nameless}));
    REQUIRE(report.ok());
    CHECK(report.counts.paths_seen == 1);
    CHECK(report.transitions.empty());
  }
  const auto after = w.camera("cam2");
  CHECK(after.last_seen == before.last_seen); // not refreshed
  CHECK(after.updated_at == before.updated_at);
  CHECK(w.state_of("cam2") == "live");
  CHECK(w.db.size() == 2); // the nameless item made no row
  const auto run = w.runs(1).at(0);
  CHECK(run.ok);
  CHECK(run.skipped == 2);
  CHECK_THAT(run.skipped_reasons, Catch::Contains("cam2: items[1]"));
  CHECK_THAT(run.skipped_reasons, Catch::Contains("(unnamed): items[2].name"));
}

TEMPLATE_TEST_CASE("a placeholder is not live: an alwaysAvailable camera that is down expires",
                   "[sync][presence]", InMemory, Postgres) {
  World<TestType> w;
  auto slate = idle_path("gate");
  slate.available = true; // MediaMTX streams its offline video
  slate.online = false;
  slate.config = PathConfig{false, false, true};
  slate.inbound_bytes = 123456; // counters grow with the slate too
  REQUIRE(w.round(paths({slate})).ok());
  CHECK(w.state_of("gate") == "placeholder");
  CHECK(w.metadata("gate").at("ready") == false);
  CHECK_FALSE(w.camera("gate").is_active);
  CHECK_FALSE(w.camera("gate").last_seen.has_value());
}

TEMPLATE_TEST_CASE("an idle on-demand camera is standby: never expired, keeps is_active",
                   "[sync][presence]", InMemory, Postgres) {
  World<TestType> w;
  auto idle = connecting_path("door");
  idle.config = PathConfig{true, false, false};
  auto playing = live_path("door");
  playing.config = idle.config;
  REQUIRE(w.round(paths({playing})).ok()); // someone watched: live
  w.clock.advance(1min);
  REQUIRE(w.round(paths({idle})).ok());
  CHECK(w.state_of("door") == "standby");
  w.clock.advance(1h); // far past the stale window
  const auto report = w.round(paths({idle}));
  CHECK(report.counts.expired == 0);
  CHECK(w.camera("door").is_active);

  auto never = connecting_path("attic");
  never.config = PathConfig{false, true, false}; // runOnDemand
  REQUIRE(w.round(paths({idle, never})).ok());
  CHECK(w.state_of("attic") == "standby");
  CHECK_FALSE(w.camera("attic").is_active);
}

TEMPLATE_TEST_CASE("state_since is when the state last changed, and last_seen never goes back",
                   "[sync][presence]", InMemory, Postgres) {
  World<TestType> w;
  REQUIRE(w.round(paths({live_path("cam1")})).ok());
  CHECK(w.camera("cam1").state_since == t0);
  w.clock.advance(1min);
  REQUIRE(w.round(paths({live_path("cam1")})).ok());
  CHECK(w.camera("cam1").state_since == t0);
  w.clock.advance(1min);
  REQUIRE(w.round(paths({connecting_path("cam1")})).ok());
  CHECK(w.camera("cam1").state_since == t0 + 2min);
  CHECK(w.camera("cam1").last_seen == t0 + 1min);
  // Another worker whose clock is behind sees it live: last_seen stays where it was.
  w.clock.advance(-90s);
  REQUIRE(w.round(paths({live_path("cam1")})).ok());
  CHECK(w.camera("cam1").last_seen == t0 + 1min);
}

TEMPLATE_TEST_CASE("the ledger tiles time from first sight, unknown while nobody could look",
                   "[sync][ledger]", InMemory, Postgres) {
  World<TestType> w;
  w.options.interval = 1min;
  const auto live = paths({live_path("cam1")});
  REQUIRE(w.round(live).ok()); // 0:00 online
  w.clock.advance(1min);
  REQUIRE(w.round(paths({connecting_path("cam1")})).ok()); // 1:00 offline
  w.clock.advance(1min);
  REQUIRE(w.round(refused()).fetch_error); // 2:00 unknown
  w.clock.advance(1min);
  REQUIRE(w.round(live).ok()); // 3:00 online
  w.clock.advance(10min);      // the worker stopped: no round for 10 intervals
  REQUIRE(w.round(live).ok()); // 13:00 online again

  const auto intervals =
      w.db.repo().presence_history(HistoryQuery{"camera", "cam1", t0 - 1h, t0 + 1h}).value();
  std::vector<std::tuple<Presence, TimePoint, std::optional<TimePoint>>> got;
  for (const auto& i : intervals)
    got.emplace_back(i.presence, i.from, i.to);
  using P = Presence;
  const std::vector<std::tuple<Presence, TimePoint, std::optional<TimePoint>>> expected{
      {P::online, t0, t0 + 1min},          {P::offline, t0 + 1min, t0 + 2min},
      {P::unknown, t0 + 2min, t0 + 3min},  {P::online, t0 + 3min, t0 + 3min},
      {P::unknown, t0 + 3min, t0 + 13min}, {P::online, t0 + 13min, std::nullopt}};
  // The zero-length online interval at 3:00 is not kept: the gap began where it did.
  std::vector<std::tuple<Presence, TimePoint, std::optional<TimePoint>>> want;
  for (const auto& e : expected)
    if (!std::get<2>(e) || *std::get<2>(e) > std::get<1>(e)) want.push_back(e);
  CHECK(got == want);

  const auto summary = summarize_history(intervals, t0, t0 + 14min, t0 + 14min).at(0);
  CHECK(summary.online == 1min + 1min);
  CHECK(summary.offline == 1min);
  CHECK(summary.unknown == 11min);
  REQUIRE(summary.availability);
  CHECK(*summary.availability == Approx(2.0 / 3.0));
}

TEMPLATE_TEST_CASE("retention prunes closed intervals, old runs and old events, a batch at a time",
                   "[sync][ledger]", InMemory, Postgres) {
  World<TestType> w;
  for (int i = 0; i < 6; ++i) {
    REQUIRE(w.round(paths({i % 2 ? live_path("cam1") : connecting_path("cam1")})).ok());
    w.clock.advance(1h);
  }
  auto all = [&] {
    return w.db.repo()
        .presence_history(HistoryQuery{"camera", "cam1", t0 - 24h, t0 + 24h})
        .value()
        .size();
  };
  REQUIRE(all() == 6);
  REQUIRE(w.db.events().size() == 11); // added; then state and online/offline each hour
  // Before the cutoff: intervals ending 3, runs 4, events 7.
  const auto cutoff = t0 + 3h + 30min;
  CHECK(w.db.repo().prune(cutoff, cutoff, 2).value() == 2 + 2 + 2);
  CHECK(w.db.repo().prune(cutoff, cutoff, 100).value() == 1 + 2 + 5);
  CHECK(w.db.repo().prune(cutoff, cutoff, 100).value() == 0);
  CHECK(all() == 3);
  CHECK(w.runs(100).size() == 2);
  CHECK(w.db.events().size() == 4);
}

TEMPLATE_TEST_CASE("with the store's clock, a worker whose own clock is wrong writes true times",
                   "[sync][presence]", InMemory, Postgres) {
  World<TestType> w;
  w.options.store_clock = true;
  w.clock = FakeClock{t0 - 24h * 365}; // this host's clock is a year behind
  const auto before = std::chrono::system_clock::now();
  REQUIRE(w.round(paths({live_path("cam1")})).ok());
  const auto after = std::chrono::system_clock::now();
  const auto seen = w.camera("cam1").last_seen.value();
  CHECK(seen >= std::chrono::time_point_cast<Duration>(before) - 1s);
  CHECK(seen <= std::chrono::time_point_cast<Duration>(after) + 1s);
  CHECK(w.runs(1).at(0).finished_at == seen);
}

TEMPLATE_TEST_CASE("counters are stored beside the metadata and served inside it",
                   "[sync][counters]", InMemory, Postgres) {
  World<TestType> w;
  auto cam = live_path("cam1");
  cam.inbound_bytes = 1000;
  cam.outbound_bytes = 10;
  cam.inbound_frames_in_error = 1;
  REQUIRE(w.round(paths({cam})).ok());
  const Device first = w.camera("cam1");
  CHECK(first.counters == TrafficCounters{1000, 10, 1});
  CHECK_FALSE(w.metadata("cam1").contains("bytes_received"));

  w.clock.advance(1min);
  cam.inbound_bytes = 18'446'744'073'709'551'615u; // 2^64 - 1: held as 2^63 - 1
  cam.outbound_bytes = 50;
  REQUIRE(w.round(paths({cam})).ok());
  const Device moved = w.camera("cam1");
  // The same listing again writes nothing: what is stored is what the core compares.
  w.clock.advance(1s);
  CHECK(w.round(paths({cam})).counts.updated == 0);
  CHECK(moved.counters == TrafficCounters{9'223'372'036'854'775'807u, 50, 1});
  CHECK(w.metadata("cam1") == boost::json::parse(first.metadata_json).as_object());
  CHECK(moved.updated_at == t0 + 1min);

  // The API's device_metadata has them, beside state_since and the stored fields.
  std::string json;
  append_device_json(json, moved);
  const auto served = boost::json::parse(json).at("device_metadata").as_object();
  CHECK(served.at("bytes_received") == 9'223'372'036'854'775'807);
  CHECK(served.at("bytes_sent") == 50);
  CHECK(served.at("frames_in_error") == 1);
  CHECK(served.at("state") == "live");
  CHECK(served.contains("state_since"));
  CHECK(served.at("whep_url") == "http://localhost:8889/cam1/whep");
  CHECK(served.size() == w.metadata("cam1").size() + 4);

  SECTION("a device no round has given counters is served without them") {
    Device bare = moved;
    bare.counters.reset();
    bare.state_since.reset();
    json.clear();
    append_device_json(json, bare);
    CHECK(boost::json::parse(json).at("device_metadata").as_object() == w.metadata("cam1"));
    bare.metadata_json = "{}";
    json.clear();
    append_device_json(json, bare);
    CHECK_THAT(json, Catch::EndsWith("\"device_metadata\":{}}"));
  }
}

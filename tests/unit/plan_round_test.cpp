// plan_round consuming its listing decides exactly what the const form decides, and
// gives back each path's tracks and readers as it goes.
#include <catch2/catch.hpp>

#include "camreg/metadata.hpp"
#include "camreg/sync_round.hpp"
#include "fakes.hpp"

using namespace camreg;
using namespace camreg::testing;
using namespace std::chrono_literals;

namespace {

std::vector<PathState> listing() {
  std::vector<PathState> paths;
  for (int i = 0; i < 40; ++i) {
    auto p = i % 4 == 0 ? connecting_path("cam" + std::to_string(i))
                        : live_path("cam" + std::to_string(i));
    p.readers = {ReaderRef{"webRTCSession", "r" + std::to_string(i)}};
    p.inbound_bytes = 1000u * static_cast<unsigned>(i);
    paths.push_back(std::move(p));
  }
  paths.push_back(live_path("cam3")); // listed twice: the last occurrence counts
  auto odd = live_path("bad");
  odd.unreadable = "tracks: not an array";
  paths.push_back(odd);
  return paths;
}

RegistryState stored_state(TimePoint now) {
  RegistryState state;
  state.now = now;
  for (const char* key : {"cam1", "cam2", "gone", "bad"}) {
    StoredPresence d;
    d.device_key = key;
    d.name = key;
    d.state = DeviceState::live;
    d.is_active = true;
    d.last_seen = now - 1min;
    d.metadata_hash = 42;
    state.devices.push_back(d);
  }
  return state;
}

// A device as a round's write left it in a store.
StoredPresence stored_as(const DeviceWrite& w) {
  StoredPresence d;
  d.device_key = d.name = w.device_key;
  d.state = w.state;
  d.is_active = w.is_active;
  d.last_seen = w.last_seen;
  if (w.metadata == DeviceWrite::Metadata::replace) d.metadata_hash = w.metadata_hash;
  d.state_since = w.state_since;
  d.missed_listings = w.missed_listings;
  d.presence = w.presence;
  d.online_announced = w.online_announced;
  d.counters = w.counters;
  return d;
}

} // namespace

TEST_CASE("a round that consumes its listing plans exactly what the const form plans",
          "[sync][memory]") {
  const TimePoint now = TimePoint{} + 1000h;
  SyncOptions options;
  options.webrtc_base = parse_http_url("http://localhost:8889").value();
  const auto stored = stored_state(now);
  const Result<std::vector<PathState>> kept_listing = listing();
  const auto expected = plan_round(kept_listing, stored, options, now, "test");
  Result<std::vector<PathState>> consumed_listing = listing();
  const auto consumed = plan_round(std::move(consumed_listing), stored, options, now, "test");

  REQUIRE(consumed.writes.size() == expected.writes.size());
  REQUIRE(expected.writes.size() > 40);
  for (std::size_t i = 0; i < expected.writes.size(); ++i) {
    const auto& a = expected.writes[i];
    const auto& b = consumed.writes[i];
    INFO(a.device_key);
    CHECK(b.device_key == a.device_key);
    CHECK(b.metadata == a.metadata);
    CHECK(b.metadata_json == a.metadata_json);
    CHECK(b.metadata_hash == a.metadata_hash);
    CHECK(b.state == a.state);
    CHECK(b.is_active == a.is_active);
    CHECK(b.missed_listings == a.missed_listings);
    CHECK(b.counters == a.counters);
  }
  CHECK(consumed.events.size() == expected.events.size());
  CHECK(consumed.ledger.size() == expected.ledger.size());
  CHECK(consumed.transitions.size() == expected.transitions.size());
  CHECK(consumed.run.paths_seen == expected.run.paths_seen);
  CHECK(consumed.run.skipped == 1);
  // The rendered metadata carries the tracks and readers the listing gave up.
  const auto cam5 = std::find_if(consumed.writes.begin(), consumed.writes.end(),
                                 [](const DeviceWrite& w) { return w.device_key == "cam5"; });
  REQUIRE(cam5 != consumed.writes.end());
  CHECK_THAT(cam5->metadata_json, Catch::Contains("\"r5\""));
  CHECK_THAT(cam5->metadata_json, Catch::Contains("\"track_codecs\":[\"H264\""));

  SECTION("the consumed listing keeps its names but has given up tracks and readers") {
    Result<std::vector<PathState>> own = listing();
    (void)plan_round(std::move(own), stored, options, now, "test");
    REQUIRE(own.value().size() == 42);
    CHECK(own.value()[5].name == "cam5");
    for (std::size_t i = 0; i + 1 < own.value().size(); ++i) {
      if (i == 3) continue; // superseded by its later occurrence, never rendered
      INFO(own.value()[i].name);
      CHECK(own.value()[i].tracks.empty());
      CHECK(own.value()[i].readers.empty());
    }
  }
}

TEST_CASE("a round where only a camera's counters moved writes them and keeps its metadata",
          "[sync][counters]") {
  const TimePoint now = TimePoint{} + 1000h;
  SyncOptions options;
  options.webrtc_base = parse_http_url("http://localhost:8889").value();
  auto path = live_path("cam1");
  const Result<std::vector<PathState>> first = std::vector{path};
  RegistryState stored;
  stored.now = now;
  const auto inserted = plan_round(first, stored, options, now - 1min, "test");
  REQUIRE(inserted.writes.size() == 1);
  const DeviceWrite& w0 = inserted.writes[0];
  CHECK(w0.metadata == DeviceWrite::Metadata::replace);
  CHECK(w0.counters == TrafficCounters{123456, 654321, 0});
  CHECK_THAT(w0.metadata_json, !Catch::Contains("bytes_"));

  stored.devices = {stored_as(w0)}; // as that round left it, one minute later

  path.inbound_bytes += 1'000'000;
  path.outbound_bytes += 5;
  path.inbound_frames_in_error = 3;
  const auto moved =
      plan_round(Result<std::vector<PathState>>(std::vector{path}), stored, options, now, "test");
  REQUIRE(moved.writes.size() == 1);
  CHECK(moved.writes[0].metadata == DeviceWrite::Metadata::keep);
  CHECK(moved.writes[0].metadata_json.empty());
  CHECK(moved.writes[0].counters == TrafficCounters{1'123'456, 654'326, 3});
  CHECK(moved.writes[0].touch); // an API reader sees device_metadata change

  SECTION("a change beside the counters rewrites the metadata, counters still apart") {
    path.readers.push_back({"rtspSession", "r2"});
    const auto changed =
        plan_round(Result<std::vector<PathState>>(std::vector{path}), stored, options, now, "test");
    REQUIRE(changed.writes.size() == 1);
    CHECK(changed.writes[0].metadata == DeviceWrite::Metadata::replace);
    CHECK_THAT(changed.writes[0].metadata_json, Catch::Contains("\"reader_count\":2"));
    CHECK_THAT(changed.writes[0].metadata_json, !Catch::Contains("bytes_"));
    CHECK(changed.writes[0].counters == TrafficCounters{1'123'456, 654'326, 3});
  }
  SECTION("a camera not live whose counters stand still is not written at all") {
    auto idle = connecting_path("cam1");
    stored.devices[0].is_active = false;
    const auto once =
        plan_round(Result<std::vector<PathState>>(std::vector{idle}), stored, options, now, "test");
    REQUIRE(once.writes.size() == 1);
    stored.devices = {stored_as(once.writes[0])};
    const auto again = plan_round(Result<std::vector<PathState>>(std::vector{idle}), stored,
                                  options, now + 1min, "test");
    CHECK(again.writes.empty());
  }
}

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

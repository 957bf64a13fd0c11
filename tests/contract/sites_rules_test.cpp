// The sites contract: several MediaMTX servers, each with its own rounds, in one
// registry, against each repository. A site's round concerns that site's devices only.
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "contract_world.hpp"

using namespace camreg;
using namespace camreg::testing;
using namespace camreg::testing::contract;
using namespace std::chrono_literals;

namespace {

// One registry, one clock, and a round of any site on demand.
template <class Backend>
struct Sites {
  Backend db;
  FakeClock clock{t0};
  std::optional<Duration> interval;

  RoundReport round(const std::string& site, Result<std::vector<PathState>> answer) {
    FakePathSource source;
    source.push(std::move(answer));
    auto options = default_options();
    options.site = site;
    options.interval = interval;
    auto report = sync_round(source, db.repo(), clock, options);
    if (report.write_error) WARN("write error: " << report.write_error->message);
    return report;
  }
  std::vector<std::string> keys(std::optional<std::string> site = std::nullopt) {
    std::vector<std::string> out;
    const auto devices = db.repo().list_devices(DeviceQuery{"camera", false, site}).value();
    for (const auto& d : devices)
      out.push_back(d.site + " " + d.device_key);
    return out;
  }
  Device camera(const std::string& key) {
    auto d = db.find("camera", key);
    REQUIRE(d.has_value());
    return *d;
  }
  // The presence intervals of the site's devices over the hour around t0, as
  // "key presence" for the open ones.
  std::vector<std::string> open_presence(const std::string& site) {
    HistoryQuery q{"camera", std::nullopt, t0 - 1h, t0 + 1h, site};
    std::vector<std::string> out;
    const auto intervals = db.repo().presence_history(q).value();
    for (const auto& i : intervals) {
      if (!i.to) out.push_back(i.device_key + " " + std::string(to_string(i.presence)));
    }
    return out;
  }
  const SiteSummary& site(const std::vector<SiteSummary>& sites, const std::string& name) {
    const auto it = std::find_if(sites.begin(), sites.end(),
                                 [&](const SiteSummary& s) { return s.site == name; });
    REQUIRE(it != sites.end());
    return *it;
  }
};

using Keys = std::vector<std::string>;

} // namespace

TEMPLATE_TEST_CASE("sites that share path names fill one table without a collision", "[sites]",
                   InMemory, Postgres) {
  Sites<TestType> w;
  REQUIRE(w.round("default", paths({live_path("cam1"), idle_path("yard")})).ok());
  REQUIRE(w.round("north", paths({live_path("cam1"), live_path("gate")})).ok());
  REQUIRE(w.round("south-2", paths({idle_path("cam1")})).ok());

  // The default site keeps the path name as its key; the others are <site>@<path>.
  CHECK(w.keys() == Keys{"default cam1", "north north@cam1", "north north@gate",
                         "south-2 south-2@cam1", "default yard"});
  CHECK(w.keys("north") == Keys{"north north@cam1", "north north@gate"});
  CHECK(w.keys("nowhere").empty());

  // Each is its own camera: its own state, and a WHEP URL of its own path name.
  CHECK(w.camera("cam1").is_active);
  CHECK(!w.camera("south-2@cam1").is_active);
  const auto north = boost::json::parse(w.camera("north@cam1").metadata_json).as_object();
  CHECK(north.at("whep_url") == "http://localhost:8889/cam1/whep");
  CHECK(north.at("state") == "live");

  // The events of a site name its site and its keys.
  const auto body = boost::json::parse(w.db.last_payload()).as_object();
  CHECK(body.at("type") == "device.added");
  CHECK(body.at("data").at("site") == "south-2");
  CHECK(body.at("data").at("device_key") == "south-2@cam1");

  // Every run records the site it listed; the recent runs are kept per site.
  const auto runs = w.db.repo().recent_sync_runs(1).value();
  REQUIRE(runs.size() == 3);
  CHECK(runs[0].site == "south-2");
  CHECK(runs[1].site == "north");
  CHECK(runs[2].site == "default");
}

TEMPLATE_TEST_CASE("a site whose MediaMTX is unreachable changes its own devices only", "[sites]",
                   InMemory, Postgres) {
  Sites<TestType> w;
  const auto both = [&](bool north_up) {
    REQUIRE(w.round("default", paths({live_path("cam1")})).ok());
    const auto north =
        north_up ? w.round("north", paths({live_path("cam1")})) : w.round("north", refused());
    CHECK(north.ok() == north_up);
  };
  both(true);
  w.clock.advance(1min);
  both(false);
  // Its presence is unknown at once; the other site's stays observed.
  CHECK(w.open_presence("north") == Keys{"north@cam1 unknown"});
  CHECK(w.open_presence("default") == Keys{"cam1 online"});
  CHECK(w.camera("north@cam1").is_active); // not yet past the stale window

  for (int i = 0; i < 5; ++i) {
    w.clock.advance(1min);
    both(false);
  }
  // Past the stale window: its cameras turn inactive, one site.unreachable says so.
  CHECK(!w.camera("north@cam1").is_active);
  CHECK(w.camera("cam1").is_active);
  const auto events = w.db.events();
  CHECK(std::count(events.begin(), events.end(), "site.unreachable ") == 1);
  CHECK(std::count(events.begin(), events.end(), "device.offline cam1") == 0);
  const auto body = boost::json::parse(w.db.last_payload()).as_object();
  CHECK(body.at("type") == "site.unreachable");
  CHECK(body.at("data").at("site") == "north");
  CHECK(body.at("data").at("devices").as_array().size() == 1);
  CHECK(body.at("data").at("devices").at(0).at("device_key") == "north@cam1");

  const auto sites = w.db.repo().list_sites().value();
  CHECK(w.site(sites, "north").unreachable_announced);
  CHECK(!w.site(sites, "default").unreachable_announced);
  CHECK(w.site(sites, "default").last_success == w.clock.now());
  CHECK(w.site(sites, "north").last_success == t0);
  CHECK(w.site(sites, "north").active == 0);
  CHECK(w.site(sites, "default").active == 1);

  // It comes back: its own site.reachable, nothing said of the other.
  w.clock.advance(1min);
  both(true);
  CHECK(w.camera("north@cam1").is_active);
  const auto back = boost::json::parse(w.db.last_payload()).as_object();
  CHECK(back.at("type") == "site.reachable");
  CHECK(back.at("data").at("site") == "north");
}

TEMPLATE_TEST_CASE("a path removed from one site removes that site's device only", "[sites]",
                   InMemory, Postgres) {
  Sites<TestType> w;
  REQUIRE(w.round("default", paths({live_path("cam1")})).ok());
  REQUIRE(w.round("north", paths({live_path("cam1"), live_path("gate")})).ok());
  for (int i = 0; i < 2; ++i) {
    w.clock.advance(1min);
    REQUIRE(w.round("north", paths({live_path("gate")})).ok());
  }
  CHECK(boost::json::parse(w.camera("north@cam1").metadata_json).at("state") == "removed");
  CHECK(boost::json::parse(w.camera("cam1").metadata_json).at("state") == "live");
  // A site listing nothing at all removes its own devices, never another site's.
  for (int i = 0; i < 2; ++i) {
    w.clock.advance(1min);
    REQUIRE(w.round("south", paths({})).ok());
  }
  CHECK(boost::json::parse(w.camera("cam1").metadata_json).at("state") == "live");
  CHECK(boost::json::parse(w.camera("north@gate").metadata_json).at("state") == "live");
}

TEMPLATE_TEST_CASE("a gap in one site's rounds is unknown time for that site only", "[sites]",
                   InMemory, Postgres) {
  Sites<TestType> w;
  w.interval = 1min;
  REQUIRE(w.round("default", paths({live_path("cam1")})).ok());
  REQUIRE(w.round("north", paths({live_path("cam1")})).ok());
  // The default site's worker goes on every minute; north's is stopped for ten.
  for (int i = 0; i < 10; ++i) {
    w.clock.advance(1min);
    REQUIRE(w.round("default", paths({live_path("cam1")})).ok());
  }
  REQUIRE(w.round("north", paths({live_path("cam1")})).ok());
  // Unknown from the site's own last round to its next, whatever the other site did.
  const auto unknown = [&](const std::string& key) {
    std::vector<std::pair<TimePoint, std::optional<TimePoint>>> out;
    const auto intervals =
        w.db.repo().presence_history(HistoryQuery{"camera", key, t0 - 1h, t0 + 1h}).value();
    for (const auto& i : intervals) {
      if (i.presence == Presence::unknown) out.emplace_back(i.from, i.to);
    }
    return out;
  };
  CHECK(unknown("north@cam1") ==
        std::vector<std::pair<TimePoint, std::optional<TimePoint>>>{{t0, t0 + 10min}});
  CHECK(unknown("cam1").empty());
}

TEMPLATE_TEST_CASE("a listed name holding '@' is not taken: it could pass for another site's",
                   "[sites]", InMemory, Postgres) {
  Sites<TestType> w;
  REQUIRE(w.round("north", paths({live_path("cam1")})).ok());
  const auto report = w.round("default", paths({live_path("north@cam1"), live_path("yard")}));
  REQUIRE(report.ok());
  CHECK(report.counts.skipped == 1);
  CHECK(w.keys() == Keys{"north north@cam1", "default yard"});
  CHECK(w.db.repo().recent_sync_runs(1).value().front().skipped_reasons.find("'@'") !=
        std::string::npos);
}

TEMPLATE_TEST_CASE("every site is listed with its devices counted by state", "[sites]", InMemory,
                   Postgres) {
  Sites<TestType> w;
  REQUIRE(w.round("default", paths({live_path("cam1"), idle_path("yard")})).ok());
  REQUIRE(w.round("north", paths({live_path("a"), live_path("b"), connecting_path("c")})).ok());
  REQUIRE(!w.round("west", refused()).ok());
  const auto sites = w.db.repo().list_sites().value();
  std::vector<std::string> names;
  for (const auto& s : sites)
    names.push_back(s.site);
  CHECK(names == Keys{"default", "north", "west"});
  const auto& north = w.site(sites, "north");
  CHECK(north.devices == 3);
  CHECK(north.active == 2);
  CHECK(north.by_state ==
        std::vector<std::pair<std::string, std::size_t>>{{"live", 2}, {"not_ready", 1}});
  const auto& west = w.site(sites, "west");
  CHECK(west.devices == 0);
  CHECK(!west.last_success);
  CHECK(w.site(sites, "default").by_state ==
        std::vector<std::pair<std::string, std::size_t>>{{"live", 1}, {"no_source", 1}});
}

// The events contract: what a round tells the world, debounced, against each repository.
// An event exists if and only if its round committed.
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "contract_world.hpp"

using namespace camreg;
using namespace camreg::testing;
using namespace camreg::testing::contract;
using namespace std::chrono_literals;

namespace {

using Events = std::vector<std::string>;

// The events committed since the last call.
template <class Backend>
struct Tail {
  Backend& db;
  std::size_t seen = 0;
  Events next() {
    auto all = db.events();
    Events out(all.begin() + static_cast<std::ptrdiff_t>(std::min(seen, all.size())), all.end());
    seen = all.size();
    return out;
  }
};

} // namespace

TEMPLATE_TEST_CASE("a new camera is one device.added event in the Standard Webhooks shape",
                   "[events]", InMemory, Postgres) {
  World<TestType> w;
  const auto report = w.round(paths({live_path("cam1"), idle_path("yard")}));
  REQUIRE(report.ok());
  CHECK(w.db.events() == Events{"device.added cam1", "device.added yard"});
  REQUIRE(report.events.size() == 2);
  CHECK(report.events[0].id > 0);
  CHECK(report.events[1].id == report.events[0].id + 1);

  const auto body = boost::json::parse(w.db.last_payload()).as_object();
  CHECK(body.at("type") == "device.added");
  CHECK(body.at("timestamp") == format_rfc3339(t0).c_str());
  const auto& data = body.at("data").as_object();
  CHECK(data.at("device_key") == "yard");
  CHECK(data.at("device_type") == "camera");
  CHECK(data.at("site") == "default");
  CHECK(data.at("name") == "yard");
  CHECK(data.at("state") == "no_source");
  CHECK(data.at("previous_state").is_null());
  CHECK(data.at("is_active") == false);
  CHECK(data.at("last_seen").is_null());
  CHECK(data.at("reason") == "added");
  // The stored body is exactly what the round returned (what a webhook signs).
  CHECK(boost::json::parse(report.events[1].payload) == body);
}

TEMPLATE_TEST_CASE(
    "an outage shorter than the stale window is no offline/online pair, and a longer "
    "one is exactly one",
    "[events]", InMemory, Postgres) {
  World<TestType> w;
  Tail<decltype(w.db)> tail{w.db};
  REQUIRE(w.round(paths({live_path("cam1")})).ok());
  CHECK(tail.next() == Events{"device.added cam1"});

  SECTION("below the window: only the state changes, undebounced") {
    for (int i = 0; i < 4; ++i) {
      w.clock.advance(1min);
      REQUIRE(w.round(paths({connecting_path("cam1")})).ok());
    }
    w.clock.advance(59s); // 4:59 after the last healthy sync
    REQUIRE(w.round(paths({connecting_path("cam1")})).ok());
    w.clock.advance(1s);
    REQUIRE(w.round(paths({live_path("cam1")})).ok());
    CHECK(tail.next() == Events{"device.state cam1", "device.state cam1"});
  }
  SECTION("above the window: one device.offline, then one device.online when it is back") {
    w.clock.advance(1min);
    REQUIRE(w.round(paths({connecting_path("cam1")})).ok());
    CHECK(tail.next() == Events{"device.state cam1"});
    w.clock.advance(4min + 1s);
    REQUIRE(w.round(paths({connecting_path("cam1")})).ok());
    CHECK(tail.next() == Events{"device.offline cam1"});
    const auto off = boost::json::parse(w.db.last_payload()).as_object();
    CHECK(off.at("data").at("reason") == "expired");
    CHECK(off.at("data").at("is_active") == false);
    CHECK(off.at("data").at("last_seen") == format_rfc3339(t0).c_str());
    for (int i = 0; i < 3; ++i) { // staying down says nothing more
      w.clock.advance(1min);
      REQUIRE(w.round(paths({connecting_path("cam1")})).ok());
    }
    CHECK(tail.next().empty());
    w.clock.advance(1min);
    REQUIRE(w.round(paths({live_path("cam1")})).ok());
    CHECK(tail.next() == Events{"device.state cam1", "device.online cam1"});
    w.clock.advance(1min);
    REQUIRE(w.round(paths({live_path("cam1")})).ok());
    CHECK(tail.next().empty());
  }
}

TEMPLATE_TEST_CASE("device.online waits until the camera has been healthy for --online-after",
                   "[events]", InMemory, Postgres) {
  World<TestType> w;
  w.options.online_after = 2min;
  Tail<decltype(w.db)> tail{w.db};
  REQUIRE(w.round(paths({connecting_path("cam1")})).ok());
  CHECK(tail.next() == Events{"device.added cam1"});
  w.clock.advance(1min);
  REQUIRE(w.round(paths({live_path("cam1")})).ok()); // active, healthy for 0 s
  CHECK(w.camera("cam1").is_active);
  CHECK(tail.next() == Events{"device.state cam1"});
  w.clock.advance(1min);
  REQUIRE(w.round(paths({live_path("cam1")})).ok()); // 1 min
  CHECK(tail.next().empty());
  w.clock.advance(1min);
  REQUIRE(w.round(paths({live_path("cam1")})).ok()); // 2 min: now
  CHECK(tail.next() == Events{"device.online cam1"});
  w.clock.advance(1min);
  REQUIRE(w.round(paths({live_path("cam1")})).ok());
  CHECK(tail.next().empty());

  SECTION("a flap shorter than online-after after an outage says nothing") {
    w.clock.advance(6min);
    REQUIRE(w.round(paths({connecting_path("cam1")})).ok()); // expired: offline
    CHECK(tail.next() == Events{"device.state cam1", "device.offline cam1"});
    w.clock.advance(1min);
    REQUIRE(w.round(paths({live_path("cam1")})).ok());
    w.clock.advance(1min);
    REQUIRE(w.round(paths({connecting_path("cam1")})).ok());
    CHECK(tail.next() == Events{"device.state cam1", "device.state cam1"});
  }
}

TEMPLATE_TEST_CASE(
    "an unreachable MediaMTX is one site.unreachable carrying its devices, not an "
    "alert storm",
    "[events]", InMemory, Postgres) {
  World<TestType> w;
  Tail<decltype(w.db)> tail{w.db};
  REQUIRE(w.round(paths({live_path("cam1"), live_path("cam2"), idle_path("yard")})).ok());
  tail.next();

  SECTION("a short outage says nothing") {
    for (int i = 0; i < 5; ++i) {
      w.clock.advance(1min);
      REQUIRE_FALSE(w.round(refused()).ok());
    }
    w.clock.advance(1min);
    REQUIRE(w.round(paths({live_path("cam1"), live_path("cam2"), idle_path("yard")})).ok());
    CHECK(tail.next().empty());
  }
  SECTION("a long one: unreachable once, reachable once, no per-camera events") {
    for (int i = 0; i < 5; ++i) {
      w.clock.advance(1min);
      REQUIRE_FALSE(w.round(refused()).ok());
    }
    CHECK(tail.next().empty()); // 5:00: not yet
    w.clock.advance(1s);
    REQUIRE_FALSE(w.round(refused()).ok());
    CHECK(tail.next() == Events{"site.unreachable "});
    const auto down = boost::json::parse(w.db.last_payload()).as_object();
    CHECK(down.at("type") == "site.unreachable");
    const auto& data = down.at("data").as_object();
    CHECK(data.at("site") == "default");
    CHECK(data.at("error").as_string().find("connection refused") != boost::json::string::npos);
    CHECK(data.at("last_success") == format_rfc3339(t0).c_str());
    const auto& devices = data.at("devices").as_array();
    REQUIRE(devices.size() == 2); // the two that went offline; yard never was online
    CHECK(devices[0].at("device_key") == "cam1");
    CHECK(devices[1].at("device_key") == "cam2");
    CHECK_FALSE(w.camera("cam1").is_active);

    for (int i = 0; i < 3; ++i) {
      w.clock.advance(1min);
      REQUIRE_FALSE(w.round(refused()).ok());
    }
    CHECK(tail.next().empty());
    w.clock.advance(1min);
    const auto back =
        w.round(paths({live_path("cam1"), connecting_path("cam2"), idle_path("yard")}));
    REQUIRE(back.ok());
    CHECK(tail.next() == Events{"site.reachable ", "device.state cam2"});
    REQUIRE(back.events.size() == 2);
    const auto up = boost::json::parse(back.events[0].payload).as_object();
    CHECK(up.at("type") == "site.reachable");
    const auto& returned = up.at("data").at("devices").as_array();
    REQUIRE(returned.size() == 1); // cam1: back online with the site
    CHECK(returned[0].at("device_key") == "cam1");
    // cam2 is back but not live: it stays announced offline until it is.
    w.clock.advance(1min);
    REQUIRE(w.round(paths({live_path("cam1"), live_path("cam2"), idle_path("yard")})).ok());
    CHECK(tail.next() == Events{"device.state cam2", "device.online cam2"});
  }
}

TEMPLATE_TEST_CASE("removal is device.state and device.removed, then offline when it expires",
                   "[events]", InMemory, Postgres) {
  World<TestType> w;
  Tail<decltype(w.db)> tail{w.db};
  REQUIRE(w.round(paths({live_path("cam1")})).ok());
  tail.next();
  w.clock.advance(1min);
  REQUIRE(w.round(paths({})).ok());
  CHECK(tail.next().empty()); // one absence is not removal
  REQUIRE(w.round(paths({})).ok());
  CHECK(tail.next() == Events{"device.state cam1", "device.removed cam1"});
  w.clock.advance(5min);
  REQUIRE(w.round(paths({})).ok());
  CHECK(tail.next() == Events{"device.offline cam1"});
}

TEMPLATE_TEST_CASE("events name the device as the operator named it", "[events]", InMemory,
                   Postgres) {
  World<TestType> w;
  REQUIRE(w.round(paths({live_path("cam1")})).ok());
  REQUIRE(w.db.rename("camera", "cam1", "Front door"));
  w.clock.advance(1min);
  REQUIRE(w.round(paths({connecting_path("cam1")})).ok());
  const auto body = boost::json::parse(w.db.last_payload()).as_object();
  CHECK(body.at("type") == "device.state");
  CHECK(body.at("data").at("name") == "Front door");
  CHECK(body.at("data").at("previous_state") == "live");
  CHECK(body.at("data").at("state") == "not_ready");
}

TEMPLATE_TEST_CASE("a round that does not commit leaves no event, and the next one tells it",
                   "[events]", InMemory, Postgres) {
  World<TestType> w;
  w.db.break_next_commit();
  const auto failed = w.round(paths({live_path("cam1")}));
  REQUIRE(failed.write_error);
  CHECK(failed.events.empty());
  CHECK(w.db.events().empty());
  w.db.repair();
  const auto report = w.round(paths({live_path("cam1")}));
  REQUIRE(report.ok());
  CHECK(w.db.events() == Events{"device.added cam1"});
}

TEST_CASE("each event is queued for every enabled webhook endpoint that wants its type",
          "[events][postgres]") {
  World<Postgres> w;
  auto& schema = w.db.schema;
  schema.exec(
      "INSERT INTO webhook_endpoints (url, types, secret) VALUES"
      " ('http://127.0.0.1:1/all', '{}', 'whsec_a'),"
      " ('http://127.0.0.1:1/offline', '{device.offline}', 'whsec_b');"
      "INSERT INTO webhook_endpoints (url, secret, enabled) VALUES"
      " ('http://127.0.0.1:1/off', 'whsec_c', false)");
  REQUIRE(w.round(paths({live_path("cam1"), live_path("cam2")})).ok());
  w.clock.advance(6min);
  REQUIRE(w.round(paths({live_path("cam2")})).ok()); // cam1 gone once
  REQUIRE(w.round(paths({live_path("cam2")})).ok()); // removed, expired: offline
  const auto per_endpoint = schema.scalar(
      "SELECT string_agg(x, ' ' ORDER BY x) FROM (SELECT w.url || '=' || count(d.event_id) AS x"
      " FROM webhook_endpoints w LEFT JOIN webhook_deliveries d ON d.endpoint_id = w.id"
      " GROUP BY w.url) s");
  // all: added ×2, state, removed, offline; offline-only: offline; disabled: none.
  CHECK(per_endpoint ==
        "http://127.0.0.1:1/all=5 http://127.0.0.1:1/off=0 "
        "http://127.0.0.1:1/offline=1");
  CHECK(schema.scalar("SELECT string_agg(DISTINCT ordering_key, ',') FROM webhook_deliveries") ==
        "camera/cam1,camera/cam2");
  CHECK(schema.scalar("SELECT count(*) FROM webhook_deliveries WHERE status <> 'pending'") == "0");
}

TEST_CASE("retention never prunes an event a webhook delivery still waits for",
          "[events][postgres]") {
  World<Postgres> w;
  auto& schema = w.db.schema;
  REQUIRE(w.round(paths({live_path("cam1")})).ok()); // device.added, before any endpoint
  schema.exec("INSERT INTO webhook_endpoints (url, secret) VALUES ('http://127.0.0.1:1/', 'x')");
  w.clock.advance(1min);
  REQUIRE(w.round(paths({connecting_path("cam1")})).ok()); // device.state, queued
  const auto later = t0 + 1h;
  // A closed interval, a run, device.added.
  CHECK(w.db.repo().prune(later, later, 100).value() == 1 + 1 + 1);
  CHECK(w.db.events() == std::vector<std::string>{"device.state cam1"});
  schema.exec("UPDATE webhook_deliveries SET status = 'delivered'");
  CHECK(w.db.repo().prune(later, later, 100).value() == 1);
  CHECK(w.db.events().empty());
  CHECK(schema.scalar("SELECT count(*) FROM webhook_deliveries") == "0");
}

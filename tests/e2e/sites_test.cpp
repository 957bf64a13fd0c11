// Several sites end to end: three fake MediaMTX servers (two of them sharing path names),
// one real sync-worker per site running in parallel, one PostgreSQL table and the real
// api-server reading it.
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "api_server_process.hpp"
#include "fake_mediamtx.hpp"
#include "pg_test_database.hpp"
#include "process.hpp"
#include "scrape.hpp"
#include "wait.hpp"

using namespace camreg::testing;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

// One site: its MediaMTX and its worker.
struct Site {
  std::string name;
  std::unique_ptr<FakeMediamtx> mediamtx = std::make_unique<FakeMediamtx>();
  std::unique_ptr<ChildProcess> worker;
};

struct Stack {
  TestSchema schema;
  std::map<std::string, Site> sites;
  std::unique_ptr<ApiServerProcess> api;

  Stack() {
    const auto migrated =
        run_command({SYNC_WORKER, "--migrate-only", "--database-url", schema.url()});
    INFO(migrated.output);
    REQUIRE(migrated.status == 0);
  }
  Site& add(const std::string& name, const std::vector<std::string>& cameras) {
    auto& site = sites[name];
    site.name = name;
    set_cameras(name, cameras);
    return site;
  }
  void set_cameras(const std::string& site, const std::vector<std::string>& cameras) {
    std::string items = "[";
    for (const auto& c : cameras)
      items += (items.size() > 1 ? "," : "") + path_item_json(c, true);
    sites.at(site).mediamtx->set_paths(items + "]");
  }
  // Every worker at once, each on its own MediaMTX, every second.
  void start_workers() {
    for (auto& [name, site] : sites) {
      site.worker = std::make_unique<ChildProcess>(std::vector<std::string>{
          SYNC_WORKER, "--database-url", schema.url(), "--site", name, "--mediamtx-url",
          site.mediamtx->url(), "--webrtc-url", "http://" + name + ".example:8889", "--interval",
          "1s", "--stale-after", "4s"});
    }
  }
  int runs(const std::string& site) const {
    return std::stoi(schema.scalar("SELECT count(*) FROM sync_runs WHERE site = '" + site + "'"));
  }
  json::value get_json(const std::string& target) const {
    const auto reply = api->get(target);
    INFO(target << " -> " << reply.status << " " << reply.body);
    REQUIRE(reply.status == 200);
    return json::parse(reply.body);
  }
  json::array get_array(const std::string& target) const { return get_json(target).as_array(); }
  // "site key active state" of every device the API lists.
  std::vector<std::string> devices(const std::string& query = "") const {
    std::vector<std::string> out;
    for (const auto& d : get_array("/api/devices" + query)) {
      out.push_back(std::string(d.at("site").as_string()) + " " +
                    std::string(d.at("device_key").as_string()) + " " +
                    (d.at("is_active").as_bool() ? "active " : "inactive ") +
                    std::string(d.at("device_metadata").at("state").as_string()));
    }
    return out;
  }
  json::object site_status(const std::string& name) const {
    for (const auto& s : get_array("/api/sites")) {
      if (s.at("site") == name.c_str()) return s.as_object();
    }
    FAIL("no site " << name << " in /api/sites");
    return {};
  }
  std::string logs() const {
    std::string out = api->process().output();
    for (const auto& [name, site] : sites)
      out += "\n--- worker " + name + "\n" + site.worker->output();
    return out;
  }
};

using Lines = std::vector<std::string>;

} // namespace

TEST_CASE("three sites sync in parallel into one table, and one going down touches only its own",
          "[e2e][sites]") {
  Stack s;
  s.add("default", {"cam1", "yard"});
  s.add("north", {"cam1", "gate"});
  s.add("south", {"cam1", "door"});
  s.api = std::make_unique<ApiServerProcess>(
      API_SERVER, s.schema.url(), std::vector<std::string>{"--registry-stale-after", "4s"});
  s.start_workers();

  // One table, no collision: cam1 of each site is a device of its own.
  const Lines all_live{"default cam1 active live",     "north north@cam1 active live",
                       "north north@gate active live", "south south@cam1 active live",
                       "south south@door active live", "default yard active live"};
  const bool filled = wait_until([&] { return s.devices() == all_live; }, 20s, 100ms);
  INFO(s.logs());
  REQUIRE(filled);
  CHECK(s.devices("?site=north") ==
        Lines{"north north@cam1 active live", "north north@gate active live"});
  const auto north_cam = s.get_array("/api/devices?site=north").at(0).as_object();
  CHECK(north_cam.at("name") == "north@cam1");
  CHECK(north_cam.at("device_metadata").at("whep_url") == "http://north.example:8889/cam1/whep");
  CHECK(s.api->get("/api/devices?site=no%20such").status == 400);
  for (const auto* name : {"default", "north", "south"}) {
    const auto site = s.site_status(name);
    CHECK(site.at("reachable") == true);
    CHECK(site.at("stale") == false);
    CHECK(site.at("devices").at("total") == 2);
    CHECK(site.at("devices").at("by_state").at("live") == 2);
  }

  // North's MediaMTX goes away: its cameras' presence turns unknown, then inactive; the
  // other sites keep syncing.
  s.sites.at("north").mediamtx.reset();
  const auto north_runs = s.runs("north");
  REQUIRE(wait_until([&] { return s.runs("north") >= north_runs + 1; }, 5s));
  const auto history = s.get_json("/api/history?site=north").at("devices").as_array();
  REQUIRE(history.size() == 2);
  for (const auto& h : history) {
    const auto& intervals = h.at("intervals").as_array();
    CHECK(intervals.back().at("presence") == "unknown");
  }
  const auto south = s.get_json("/api/history?site=south").at("devices").as_array();
  CHECK(south.size() == 2);
  for (const auto& h : south)
    CHECK(h.at("intervals").as_array().back().at("presence") == "online");
  CHECK(s.site_status("north").at("reachable") == false);

  const Lines north_down{"default cam1 active live",       "north north@cam1 inactive live",
                         "north north@gate inactive live", "south south@cam1 active live",
                         "south south@door active live",   "default yard active live"};
  const auto others = s.runs("default") + s.runs("south");
  REQUIRE(wait_until([&] { return s.devices() == north_down; }, 10s, 100ms));
  const auto north = s.site_status("north");
  CHECK(north.at("stale") == true);
  CHECK(north.at("unreachable_announced") == true);
  CHECK(north.at("devices").at("active") == 0);
  CHECK(north.at("last_run").at("ok") == false);
  CHECK(s.site_status("south").at("stale") == false);
  CHECK(s.runs("default") + s.runs("south") > others); // they went on meanwhile

  // Each answer says how old its site's part is: north's (no listing for over the 4 s
  // stale window), not the others' (a round a second); every site's, the stalest.
  const auto age = [&](const std::string& target) {
    const auto reply = s.api->get(target);
    INFO(target << " -> " << reply.status);
    REQUIRE(reply.status == 200);
    return std::stoi(reply.header("x-registry-age"));
  };
  CHECK(age("/api/devices?site=north") >= 4);
  CHECK(age("/api/devices/north@gate") >= 4);
  CHECK(age("/api/devices") >= 4);
  CHECK(age("/api/devices?site=south") <= 3);
  CHECK(age("/api/devices/yard") <= 3);
  CHECK(s.get_json("/api/sync/status").at("stale") == true);
  CHECK(s.get_json("/api/sync/status?site=north").at("stale") == true);
  CHECK(s.get_json("/api/sync/status?site=south").at("stale") == false);

  // /metrics says it per site too: north's last success stands where the database has
  // it while the others' go on, so an alert on the stalest site sees north.
  const auto scrape = [&] { return s.api->get("/metrics").body; };
  const auto last_success = [](const std::string& site) {
    return R"(camreg_sync_last_success_timestamp_seconds{site=")" + site + R"("})";
  };
  const auto north_last = metric_value(scrape(), last_success("north"));
  REQUIRE(north_last);
  CHECK(*north_last ==
        Approx(std::stod(s.schema.scalar(
                   "SELECT extract(epoch FROM last_success_at) FROM sites WHERE name = 'north'")))
            .margin(0.002));
  const auto south_last = metric_value(scrape(), last_success("south")).value_or(0);
  std::string text;
  CHECK(wait_until(
      [&] {
        text = scrape();
        return metric_value(text, last_success("south")).value_or(0) > south_last &&
               metric_value(text, last_success("default")).value_or(0) > south_last;
      },
      10s, 100ms));
  CAPTURE(text);
  CHECK(metric_value(text, last_success("north")) == north_last);
  CHECK(metric_value(text, R"(camreg_devices{device_type="camera",site="north",state="live"})") ==
        2);
  CHECK(metric_value(text, R"(camreg_devices{device_type="camera",site="south",state="live"})") ==
        2);
  CHECK(metric_value(
            text,
            R"(camreg_device_up{device_type="camera",device_key="south@door",site="south"})") == 1);
  const auto [verdict, findings] = promtool_check(text, s.schema.name() + "-sites");
  CAPTURE(findings);
  CHECK(verdict == 0);

  // A path removed from south goes from south only: north's cam1 is not "removed".
  s.set_cameras("south", {"door"});
  const Lines south_removed{"default cam1 active live",       "north north@cam1 inactive live",
                            "north north@gate inactive live", "south south@cam1 inactive removed",
                            "south south@door active live",   "default yard active live"};
  CHECK(wait_until([&] { return s.devices() == south_removed; }, 10s, 100ms));
  CHECK(s.site_status("south").at("devices").at("by_state").at("removed") == 1);

  // /api/sync/status of one site is that site's rounds only.
  const auto status = json::parse(s.api->get("/api/sync/status?site=south").body).as_object();
  for (const auto& run : status.at("runs").as_array())
    CHECK(run.at("site") == "south");
  CHECK(s.api->get("/api/sync/status?site=a@b").status == 400);
}

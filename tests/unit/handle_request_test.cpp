#include "handle_request.hpp"

#include <unistd.h>
#include <zlib.h>
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <future>

#include "camreg/api_json.hpp"
#include "devices_snapshot.hpp"
#include "event_stream.hpp"
#include "fake_registry.hpp"
#include "fakes.hpp"
#include "in_memory_event_store.hpp"
#include "listen_address.hpp"
#include "routes.hpp"
#include "take_source.hpp"
#include "trigger.hpp"
#include "wait.hpp"

using namespace camreg;
using namespace camreg::testing;
using namespace camreg::http::detail;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

// A gzip stream inflated whole (empty when it is not one).
std::string gunzip(std::string_view data) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) return {};
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  int rc = Z_OK;
  char buf[16384];
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof buf - zs.avail_out);
  }
  inflateEnd(&zs);
  return rc == Z_STREAM_END && zs.avail_in == 0 ? out : std::string();
}

// handle_request over a RegistryView of scripted devices, without sockets.
struct Api {
  FakeChangeFeed* feed = nullptr;
  ScriptedReadRepository* repo = nullptr;
  std::unique_ptr<RegistryView> view;
  Context ctx;

  explicit Api(std::vector<Device> devices = {camera("cam1"), camera("site-a/building.2/cam_1")},
               std::size_t objects_per_block = 256) {
    auto f = std::make_unique<FakeChangeFeed>();
    auto r = std::make_unique<ScriptedReadRepository>();
    feed = f.get();
    repo = r.get();
    repo->set_devices(std::move(devices));
    ViewOptions options;
    options.readiness_interval = 20ms;
    view = std::make_unique<RegistryView>(
        std::move(r), std::move(f),
        RegistryView::whole_listing([objects_per_block](const std::vector<Device>& d) {
          return build_devices_snapshot(d, objects_per_block);
        }),
        options);
    REQUIRE(view->wait_first_check(5s));
    ctx.view = view.get();
    ctx.web_root = std::filesystem::canonical(CAMREG_SOURCE_DIR "/tests/data/web");
    ctx.options.cors_origins = {"http://dash.example:3000"};
  }

  Reply answer(bhttp::verb method, const std::string& target,
               const std::vector<std::pair<bhttp::field, std::string>>& headers = {}) const {
    Request req{method, target, 11};
    for (const auto& [name, value] : headers)
      req.set(name, value);
    std::promise<Reply> promise;
    auto reply = promise.get_future();
    handle_request(req, ctx, [&](Reply r) { promise.set_value(std::move(r)); });
    REQUIRE(reply.wait_for(5s) == std::future_status::ready);
    auto got = reply.get();
    take_source(got);
    return got;
  }
  Reply get(const std::string& target,
            const std::vector<std::pair<bhttp::field, std::string>>& headers = {}) const {
    return answer(bhttp::verb::get, target, headers);
  }
};

int status(const Reply& reply) {
  return static_cast<int>(reply.res.result_int());
}

std::string header(const Reply& reply, bhttp::field name) {
  return std::string(reply.res[name]);
}
std::string header(const Reply& reply, std::string_view name) {
  return std::string(reply.res[name]);
}

// The error shape, parsed: a reply that is not valid JSON fails here.
void check_error(const Reply& reply, int expected, const std::string& code,
                 const std::string& detail_words) {
  CAPTURE(reply.body());
  CHECK(status(reply) == expected);
  CHECK(header(reply, bhttp::field::content_type) == "application/json");
  const auto body = json::parse(reply.body()).as_object();
  CHECK(body.size() == 2);
  CHECK(body.at("error") == code.c_str());
  CHECK_THAT(std::string(body.at("detail").as_string()), Catch::Contains(detail_words));
}

} // namespace

TEST_CASE("the device list is the snapshot's array with an ETag, and 304 when it matches",
          "[http]") {
  Api api;
  const auto all = api.get("/api/devices?device_type=camera");
  REQUIRE(status(all) == 200);
  CHECK(header(all, bhttp::field::content_type) == "application/json");
  CHECK(header(all, bhttp::field::cache_control) == "no-cache");
  const auto list = json::parse(all.body()).as_array();
  REQUIRE(list.size() == 2);
  CHECK(list[0].at("device_key") == "cam1");
  const auto etag = header(all, bhttp::field::etag);
  CHECK(etag == etag_of(all.body()));
  const auto again =
      api.get("/api/devices?device_type=camera", {{bhttp::field::if_none_match, etag}});
  CHECK(status(again) == 304);
  CHECK(again.body().empty());
  CHECK(header(again, bhttp::field::etag) == etag);
  CHECK(status(api.get("/api/devices?device_type=camera",
                       {{bhttp::field::if_none_match, "\"other\""}})) == 200);
  SECTION("gzip when the client accepts it") {
    const auto zipped =
        api.get("/api/devices?device_type=camera", {{bhttp::field::accept_encoding, "br, gzip"}});
    CHECK(header(zipped, bhttp::field::content_encoding) == "gzip");
    CHECK(gunzip(zipped.body()) == all.body());
    CHECK(header(api.get("/api/devices?device_type=camera",
                         {{bhttp::field::accept_encoding, "gzip;q=0"}}),
                 bhttp::field::content_encoding)
              .empty());
  }
}

TEST_CASE("a snapshot built batch by batch is the one built at once, whatever it expected",
          "[http]") {
  std::vector<Device> devices;
  for (int i = 0; i < 50; ++i) {
    devices.push_back(camera("cam" + std::to_string(100 + i)));
    devices.back().metadata_json = R"({"state":"live","n":)" + std::to_string(i) + "}";
  }
  const auto at_once = build_devices_snapshot(devices);
  // No previous snapshot (nothing reserved), then one twice the size: batches of 7 grow
  // the array, or fill what was reserved.
  std::shared_ptr<const DevicesSnapshot> bigger = at_once;
  for (auto previous : {RegistryView::SnapshotPtr(), RegistryView::SnapshotPtr(bigger)}) {
    auto builder = devices_snapshot_builder()(previous);
    for (std::size_t first = 0; first < devices.size(); first += 7) {
      std::vector<Device> batch(
          devices.begin() + static_cast<std::ptrdiff_t>(first),
          devices.begin() + static_cast<std::ptrdiff_t>(std::min(first + 7, devices.size())));
      builder->add(batch);
    }
    const auto built = std::static_pointer_cast<const DevicesSnapshot>(builder->finish());
    CHECK(gunzip(built->body->gzip) == gunzip(at_once->body->gzip));
    CHECK(built->etag == at_once->etag);
    CHECK(built->body->gzip == at_once->body->gzip);
    REQUIRE(built->objects.size() == devices.size());
    CHECK(built->objects[49].device_key == "cam149");
    CHECK(built->object_json(built->objects[49]) == at_once->object_json(at_once->objects[49]));
    CHECK(built->samples.size() == devices.size());
  }
}

TEST_CASE("one device by key, slashes plain or encoded, is its object of the array", "[http]") {
  Api api;
  const auto plain = api.get("/api/devices/site-a/building.2/cam_1");
  REQUIRE(status(plain) == 200);
  CHECK(json::parse(plain.body()).at("device_key") == "site-a/building.2/cam_1");
  CHECK(header(plain, bhttp::field::etag).empty());
  CHECK(api.get("/api/devices/site-a%2Fbuilding.2%2Fcam_1").body() == plain.body());
  CHECK(status(api.get("/api/devices/cam1?active_only=true")) == 200);
  check_error(api.get("/api/devices/cam1?active_only=maybe"), 400, "bad_request", "active_only");
  check_error(api.get("/api/devices/nope"), 404, "not_found", "no device with key nope");
  check_error(api.get("/api/devices/cam1?device_type=sensor"), 404, "not_found", "cam1");
  check_error(api.get("/api/devices/%zz"), 400, "bad_request", "malformed device key");
}

TEST_CASE("error bodies stay valid JSON whatever the request carried", "[http][errors]") {
  Api api;
  // A key with a quote, a backslash, a control character and a byte that is not UTF-8.
  const auto reply = api.get("/api/devices/%22%5C%01%FF");
  check_error(reply, 404, "not_found", "no device with key \"\\\x01\xEF\xBF\xBD");
  check_error(api.get("/api/devices?active_only=yes"), 400, "bad_request", "active_only");
  check_error(api.get("/api/devices?limit=0"), 400, "bad_request", "limit");
  check_error(api.get("/api/devices?device_type=%G1"), 400, "bad_request", "percent");
}

TEST_CASE("routes answer their methods, 405 names the others, OPTIONS is a preflight", "[http]") {
  Api api;
  for (const auto* target : {"/api/devices", "/api/devices/cam1", "/readyz", "/api/nothing", "/"}) {
    CAPTURE(target);
    const auto post = api.answer(bhttp::verb::post, target);
    check_error(post, 405, "method_not_allowed", "POST is not allowed here; use GET or HEAD");
    CHECK(header(post, bhttp::field::allow) == "GET, HEAD, OPTIONS");
  }
  CHECK(status(api.answer(bhttp::verb::head, "/api/devices")) == 200);
  const auto preflight = api.answer(bhttp::verb::options, "/api/devices",
                                    {{bhttp::field::origin, "http://dash.example:3000"}});
  CHECK(status(preflight) == 204);
  CHECK(header(preflight, bhttp::field::access_control_allow_methods) == "GET, HEAD, OPTIONS");
  CHECK(header(preflight, bhttp::field::access_control_allow_origin) == "http://dash.example:3000");
  const auto stranger =
      api.answer(bhttp::verb::options, "/api/devices", {{bhttp::field::origin, "http://evil"}});
  CHECK(header(stranger, bhttp::field::access_control_allow_methods).empty());
  CHECK(header(stranger, bhttp::field::access_control_allow_origin).empty());
}

TEST_CASE("every response names the server and allowed origins get CORS headers", "[http][cors]") {
  Api api;
  const auto allowed = api.get("/healthz", {{bhttp::field::origin, "http://dash.example:3000"}});
  CHECK(header(allowed, bhttp::field::server) == "camreg");
  CHECK(std::string(allowed.res["X-Content-Type-Options"]) == "nosniff");
  CHECK(header(allowed, bhttp::field::access_control_allow_origin) == "http://dash.example:3000");
  CHECK(header(allowed, bhttp::field::vary) == "Origin");
  const auto devices =
      api.get("/api/devices", {{bhttp::field::origin, "http://dash.example:3000"}});
  CHECK(header(devices, bhttp::field::vary) == "Accept-Encoding, Origin");
  const auto other = api.get("/healthz", {{bhttp::field::origin, "http://evil.example"}});
  CHECK(header(other, bhttp::field::access_control_allow_origin).empty());
  CHECK(header(other, bhttp::field::vary) == "Origin");
}

TEST_CASE("with CORS configured every answer varies by Origin, asked with one or not",
          "[http][cors]") {
  Api api;
  CHECK(header(api.get("/healthz"), bhttp::field::vary) == "Origin");
  CHECK(header(api.get("/api/devices"), bhttp::field::vary) == "Accept-Encoding, Origin");
  CHECK(header(api.get("/api/nothing"), bhttp::field::vary) == "Origin");
  SECTION("without CORS nothing varies by Origin") {
    api.ctx.options.cors_origins.clear();
    CHECK(header(api.get("/healthz"), bhttp::field::vary).empty());
    CHECK(header(api.get("/api/devices"), bhttp::field::vary) == "Accept-Encoding");
  }
  SECTION("any origin allowed: the answer is the same for all") {
    api.ctx.options.cors_origins = {"*"};
    CHECK(header(api.get("/healthz"), bhttp::field::vary).empty());
  }
}

TEST_CASE("health is the process, readiness and the data are the database", "[http]") {
  Api api;
  CHECK(api.get("/healthz").body() == R"({"status":"ok"})");
  CHECK(api.get("/readyz").body() ==
        R"({"status":"ready","role":"unknown","primary_configured":false,"read_only":false})");
  CHECK(status(api.get("/api/sync/status")) == 200);
  api.repo->set_not_ready("schema is behind: run --migrate");
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (api.view->readiness().ready && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  check_error(api.get("/readyz"), 503, "not_ready", "run --migrate");
  check_error(api.get("/api/devices"), 503, "database_unavailable", "run --migrate");
  check_error(api.get("/api/sync/status"), 503, "database_unavailable", "run --migrate");
  CHECK(status(api.get("/healthz")) == 200);
}

TEST_CASE("other paths are the dashboard's files, never from outside its root", "[http][static]") {
  Api api;
  const auto index = api.get("/");
  CHECK(status(index) == 200);
  CHECK(header(index, bhttp::field::content_type) == "text/html; charset=utf-8");
  CHECK_THAT(std::string(index.res["Content-Security-Policy"]),
             Catch::Contains("script-src 'self'"));
  check_error(api.get("/api/nothing"), 404, "not_found", "no such resource");
  for (const auto* evil : {"/../CMakeLists.txt", "/%2e%2e/CMakeLists.txt", "/..%2fCMakeLists.txt",
                           "/sub/../../x", "/./index.html", "/missing.js"}) {
    CAPTURE(evil);
    check_error(api.get(evil), 404, "not_found", "no such resource");
  }
  check_error(api.get("/index.html%00.js"), 400, "bad_request", "malformed path");
  SECTION("without a web root nothing but the API is served") {
    api.ctx.web_root.clear();
    check_error(api.get("/"), 404, "not_found", "no such resource");
    check_error(api.answer(bhttp::verb::post, "/"), 404, "not_found", "no such resource");
  }
}

TEST_CASE("a sibling directory sharing the web root's prefix is outside it", "[http][static]") {
  Api api;
  namespace fs = std::filesystem;
  const auto base = fs::temp_directory_path() / ("camreg-webroot-" + std::to_string(getpid()));
  fs::remove_all(base);
  fs::create_directories(base / "dash");
  fs::create_directories(base / "dash2");
  std::ofstream(base / "dash" / "index.html") << "inside";
  std::ofstream(base / "dash2" / "secret.txt") << "outside";
  fs::create_directory_symlink(base / "dash2", base / "dash" / "sibling");
  api.ctx.web_root = fs::canonical(base / "dash");
  CHECK(api.get("/").body() == "inside");
  check_error(api.get("/sibling/secret.txt"), 404, "not_found", "no such resource");
  fs::remove_all(base);
}

TEST_CASE("a path pattern captures one segment or the rest", "[http][routes]") {
  PathParams params;
  CHECK(match_path("/api/devices", "/api/devices", params));
  CHECK_FALSE(match_path("/api/devices", "/api/devices/", params));
  CHECK_FALSE(match_path("/api/devices", "/api/devicesx", params));
  CHECK(match_path("/api/devices/{key...}", "/api/devices/site-a/cam_1", params));
  CHECK(param(params, "key") == "site-a/cam_1");
  CHECK_FALSE(match_path("/api/devices/{key...}", "/api/devices/", params));
  CHECK_FALSE(match_path("/api/devices/{key...}", "/api/devices", params));
  CHECK(match_path("/api/devices/{key}/history", "/api/devices/cam1/history", params));
  CHECK(param(params, "key") == "cam1");
  CHECK_FALSE(match_path("/api/devices/{key}/history", "/api/devices/a/b/history", params));
  CHECK(param(params, "other").empty());
}

TEST_CASE("a listen address is host:port with an IP host", "[http][listen]") {
  using row = std::tuple<std::string, std::string, int, std::string>;
  const auto [listen, address, port, error] =
      GENERATE(table<std::string, std::string, int, std::string>({
          row{"127.0.0.1:8001", "127.0.0.1", 8001, ""},
          row{"[::1]:0", "::1", 0, ""},
          row{":9000", "0.0.0.0", 9000, ""},
          row{"0.0.0.0:65535", "0.0.0.0", 65535, ""},
          row{"127.0.0.1", "", 0, "expected host:port"},
          row{"127.0.0.1:65536", "", 0, "bad port"},
          row{"127.0.0.1:80x", "", 0, "bad port"},
          row{"127.0.0.1:", "", 0, "bad port"},
          row{"localhost:80", "", 0, "host must be an IP address"},
      }));
  CAPTURE(listen);
  const auto parsed = parse_listen_address(listen);
  if (error.empty()) {
    REQUIRE(parsed);
    CHECK(parsed->address().to_string() == address);
    CHECK(parsed->port() == port);
  } else {
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().kind == ErrorKind::invalid_argument);
    CHECK_THAT(parsed.error().message, Catch::Contains(listen) && Catch::Contains(error));
  }
}

namespace {

SyncRun run_finished(std::chrono::seconds ago, bool ok = true) {
  SyncRun run;
  run.ok = ok;
  run.finished_at = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now() - ago);
  return run;
}

// Makes the view read the runs now (as a committed round's NOTIFY would).
void runs_become(Api& api, std::vector<SyncRun> runs) {
  const auto ok = std::find_if(runs.begin(), runs.end(), [](const SyncRun& r) { return r.ok; });
  const bool none = ok == runs.end();
  const TimePoint last_ok = none ? TimePoint() : ok->finished_at;
  api.repo->set_runs(std::move(runs));
  api.feed->announce();
  REQUIRE(wait_until(
      [&] {
        const auto got = api.view->last_ok_round();
        return none ? !got.has_value() : got.has_value() && *got == last_ok;
      },
      5000ms));
}

} // namespace

TEST_CASE("every device answer says how old the registry is", "[http][freshness]") {
  Api api;
  CHECK(header(api.get("/api/devices"), "X-Registry-Age") == "unknown");
  runs_become(api, {run_finished(42s)});
  const auto age = std::stoi(header(api.get("/api/devices"), "X-Registry-Age"));
  CHECK((age >= 42 && age <= 44));
  CHECK(header(api.get("/api/devices/cam1"), "X-Registry-Age") == std::to_string(age));
  const auto etag = header(api.get("/api/devices"), bhttp::field::etag);
  const auto revalidated = api.get("/api/devices", {{bhttp::field::if_none_match, etag}});
  CHECK(status(revalidated) == 304);
  CHECK_FALSE(header(revalidated, "X-Registry-Age").empty());
}

TEST_CASE("a device answer is as old as its site's last round, all sites' as the stalest",
          "[http][freshness][sites]") {
  auto gate = camera("north@gate");
  gate.site = "north";
  Api api({camera("cam1"), gate});
  auto north = run_finished(600s);
  north.site = "north";
  runs_become(api, {run_finished(10s), north});
  const auto age = [&](const std::string& target) {
    const auto reply = api.get(target);
    CAPTURE(target, reply.body());
    CHECK(status(reply) == 200);
    return std::string(reply.res["X-Registry-Age"]);
  };
  const auto near = [](const std::string& got, int seconds) {
    CAPTURE(got, seconds);
    return got != "unknown" && std::stoi(got) >= seconds && std::stoi(got) <= seconds + 2;
  };
  CHECK(near(age("/api/devices?site=default"), 10));
  CHECK(near(age("/api/devices?site=north"), 600));
  CHECK(near(age("/api/devices"), 600)); // as fresh as its stalest site
  CHECK(near(age("/api/devices?limit=1"), 600));
  CHECK(near(age("/api/devices/cam1"), 10));
  CHECK(near(age("/api/devices/north@gate"), 600));
  CHECK(age("/api/devices?site=south") == "unknown");
  // So does the sync status: the registry is stale while one site is.
  const auto stale = [&](const std::string& target) {
    return json::parse(api.get(target).body()).at("stale").as_bool();
  };
  api.ctx.options.stale_after = std::chrono::minutes(5);
  CHECK(stale("/api/sync/status"));
  CHECK_FALSE(stale("/api/sync/status?site=default"));
  CHECK(stale("/api/sync/status?site=north"));

  // North's recent rounds all failed: its last success comes from the sites' record.
  // A site holding devices that never synced makes the whole answer's age unknown.
  SiteSummary north_site;
  north_site.site = "north";
  north_site.devices = 1;
  north_site.last_success = std::chrono::time_point_cast<Duration>(
      std::chrono::system_clock::now() - std::chrono::seconds(900));
  SiteSummary east;
  east.site = "east";
  east.devices = 3;
  SiteSummary west; // rounds that never listed, no devices: no part of any answer
  west.site = "west";
  api.repo->set_sites({east, north_site, west});
  auto failed = run_finished(5s, false);
  failed.site = "north";
  runs_become(api, {run_finished(3s), failed});
  CHECK(near(age("/api/devices?site=north"), 900));
  CHECK(age("/api/devices") == "unknown");
  CHECK(near(age("/api/devices/cam1"), 3));
  // A site retired (synced long ago, its devices deleted) is no part of any answer.
  SiteSummary retired;
  retired.site = "retired";
  retired.last_success = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now() -
                                                                std::chrono::hours(30));
  api.repo->set_sites({north_site, retired, west});
  runs_become(api, {run_finished(2s), failed});
  CHECK(near(age("/api/devices"), 900));
  CHECK(stale("/api/sync/status?site=retired"));
}

TEST_CASE("sync status says stale when no round succeeded within the bound", "[http][freshness]") {
  Api api;
  runs_become(api, {run_finished(10s)});
  CHECK(json::parse(api.get("/api/sync/status").body()).at("stale") == false);
  runs_become(api, {run_finished(5s, false), run_finished(600s)});
  CHECK(json::parse(api.get("/api/sync/status").body()).at("stale") == true);
  api.ctx.options.stale_after = std::chrono::hours(1);
  CHECK(json::parse(api.get("/api/sync/status").body()).at("stale") == false);
}

TEST_CASE("readiness can require a recent successful round", "[http][freshness]") {
  Api api;
  runs_become(api, {run_finished(600s)});
  CHECK(status(api.get("/readyz")) == 200); // off by default
  api.ctx.options.ready_max_sync_age = std::chrono::minutes(5);
  check_error(api.get("/readyz"), 503, "sync_stale", "--ready-max-sync-age");
  runs_become(api, {run_finished(1s)});
  CHECK(status(api.get("/readyz")) == 200);
  runs_become(api, {});
  check_error(api.get("/readyz"), 503, "sync_stale", "no sync round succeeded");
}

TEST_CASE("the dashboard may connect to its own origin and the WebRTC origins only",
          "[http][static]") {
  Api api;
  api.ctx.options.webrtc_origins = {"http://127.0.0.1:8889", "https://media.example"};
  const auto csp = std::string(api.get("/").res["Content-Security-Policy"]);
  CHECK_THAT(csp,
             Catch::Contains("connect-src 'self' http://127.0.0.1:8889 https://media.example;"));
  CHECK_THAT(csp, !Catch::Contains("http: https:"));
}

namespace {

// An Api whose trigger hands requests to a FakeSyncTrigger, with token "s3cret".
struct TriggerApi : Api {
  FakeSyncTrigger* port = nullptr;
  std::unique_ptr<TriggerRelay> relay;
  TriggerApi() {
    auto p = std::make_unique<FakeSyncTrigger>();
    port = p.get();
    relay = std::make_unique<TriggerRelay>(std::move(p));
    ctx.trigger = relay.get();
    ctx.options.trigger_token = "s3cret";
  }
  Reply post(const std::string& target, const std::string& authorization = "Bearer s3cret") const {
    if (authorization.empty()) return answer(bhttp::verb::post, target);
    return answer(bhttp::verb::post, target, {{bhttp::field::authorization, authorization}});
  }
};

} // namespace

TEST_CASE("a trigger with the right token is accepted and hands its path over", "[http][trigger]") {
  TriggerApi api;
  const auto named = api.post("/api/sync/trigger?path=site-a%2Fdock");
  CAPTURE(named.body());
  REQUIRE(status(named) == 202);
  CHECK(header(named, bhttp::field::content_type) == "application/json");
  CHECK(json::parse(named.body()) == json::parse(R"({"status":"accepted","path":"site-a/dock"})"));
  const auto bare = api.post("/api/sync/trigger", "bearer s3cret"); // the scheme is any case
  REQUIRE(status(bare) == 202);
  CHECK(json::parse(bare.body()).at("path").is_null());
  CHECK(api.port->paths() == std::vector<std::string>{"site-a/dock", ""});
}

TEST_CASE("without a trigger token the trigger is disabled, never open", "[http][trigger]") {
  TriggerApi api;
  api.ctx.options.trigger_token.clear();
  check_error(api.post("/api/sync/trigger", "Bearer "), 403, "forbidden", "--trigger-token");
  check_error(api.post("/api/sync/trigger", ""), 403, "forbidden", "disabled");
  Api plain; // no relay at all
  check_error(plain.answer(bhttp::verb::post, "/api/sync/trigger"), 403, "forbidden", "disabled");
  CHECK(api.port->paths().empty());
}

TEST_CASE("a missing or wrong trigger token is 401 with a Bearer challenge", "[http][trigger]") {
  TriggerApi api;
  const auto missing = api.post("/api/sync/trigger", "");
  check_error(missing, 401, "unauthorized", "Authorization: Bearer");
  CHECK(header(missing, bhttp::field::www_authenticate) == R"(Bearer realm="camreg")");
  for (const auto* wrong : {"Bearer s3cre", "Bearer s3crett", "Bearer S3CRET", "Basic s3cret",
                            "Bearer  s3cret", "s3cret", "Bearer"}) {
    CAPTURE(wrong);
    const auto refused = api.post("/api/sync/trigger", wrong);
    check_error(refused, 401, "unauthorized", "wrong trigger token");
    CHECK_THAT(header(refused, bhttp::field::www_authenticate),
               Catch::StartsWith("Bearer ") && Catch::Contains("invalid_token"));
  }
  CHECK(api.port->paths().empty());
}

TEST_CASE("a trigger with a bad parameter is 400 and asks nothing", "[http][trigger]") {
  TriggerApi api;
  check_error(api.post("/api/sync/trigger?colour=red"), 400, "bad_request",
              "unknown parameter colour");
  check_error(api.post("/api/sync/trigger?path=a&path=b"), 400, "bad_request", "more than once");
  check_error(api.post("/api/sync/trigger?path=%zz"), 400, "bad_request", "percent-encoding");
  check_error(api.post("/api/sync/trigger?path=cam%0A1"), 400, "bad_request", "printable UTF-8");
  check_error(api.post("/api/sync/trigger?path=cam%FF"), 400, "bad_request", "printable UTF-8");
  check_error(api.post("/api/sync/trigger?path=" + std::string(1025, 'x')), 400, "bad_request",
              "1024 bytes");
  CHECK(status(api.post("/api/sync/trigger?path=" + std::string(1024, 'x'))) == 202);
  CHECK(api.port->paths().size() == 1);
}

TEST_CASE("a trigger the database cannot take is 503", "[http][trigger]") {
  TriggerApi api;
  api.port->fail_with(fail(ErrorKind::unavailable, "trigger: cannot connect to postgresql://db"));
  check_error(api.post("/api/sync/trigger?path=cam1"), 503, "database_unavailable",
              "cannot connect");
  api.port->fail_with(std::nullopt);
  CHECK(status(api.post("/api/sync/trigger?path=cam1")) == 202);
}

TEST_CASE("the trigger connects from the start and retries while the database is away",
          "[http][trigger]") {
  auto owned = std::make_unique<FakeSyncTrigger>();
  auto* port = owned.get();
  port->fail_with(fail(ErrorKind::unavailable, "trigger: cannot connect to postgresql://db"));
  std::mutex mutex;
  std::vector<std::string> logged;
  TriggerRelay relay(
      std::move(owned),
      [&](camreg::http::LogLevel, std::string_view, std::string_view message) {
        const std::lock_guard lock(mutex);
        logged.emplace_back(message);
      },
      64, std::chrono::milliseconds(20));
  REQUIRE(wait_until([&] { return port->connects() >= 3; }, std::chrono::seconds(2), 5ms));
  CHECK_FALSE(relay.connected());
  port->fail_with(std::nullopt);
  REQUIRE(wait_until([&] { return relay.connected(); }, std::chrono::seconds(2), 5ms));
  const int made = port->connects();
  std::this_thread::sleep_for(200ms); // connected: no more attempts
  CHECK(port->connects() == made);
  const std::lock_guard lock(mutex);
  REQUIRE(logged.size() == 2); // the first failure, then the success; not every retry
  CHECK_THAT(logged[0], Catch::Contains("retrying") && Catch::Contains("cannot connect"));
  CHECK_THAT(logged[1], Catch::Contains("connected"));
}

TEST_CASE("the trigger takes POST only, and 405 says so", "[http][trigger]") {
  TriggerApi api;
  for (const auto method : {bhttp::verb::get, bhttp::verb::head, bhttp::verb::put}) {
    const auto refused = api.answer(method, "/api/sync/trigger");
    CHECK(status(refused) == 405);
    CHECK(header(refused, bhttp::field::allow) == "POST, OPTIONS");
  }
  CHECK(api.port->paths().empty());
}

TEST_CASE("a bearer token matches only itself", "[http][trigger]") {
  CHECK(bearer_matches("Bearer abc", "abc"));
  CHECK(bearer_matches("BEARER abc", "abc"));
  CHECK_FALSE(bearer_matches("Bearer abc", ""));
  CHECK_FALSE(bearer_matches("Bearer ", ""));
  CHECK_FALSE(bearer_matches("Bearer ab", "abc"));
  CHECK_FALSE(bearer_matches("Bearer abcd", "abc"));
  CHECK_FALSE(bearer_matches("Bearer abd", "abc"));
  CHECK_FALSE(bearer_matches("Bearerabc", "abc"));
  CHECK_FALSE(bearer_matches("", "abc"));
}

TEST_CASE("the webhook routes need the admin token: 403 without one configured, 401 when wrong",
          "[http][webhooks]") {
  Api api;
  SECTION("no admin token configured") {
    for (const auto& [method, target] : {std::pair{bhttp::verb::get, "/api/webhooks"},
                                         {bhttp::verb::post, "/api/webhooks"},
                                         {bhttp::verb::delete_, "/api/webhooks/1"},
                                         {bhttp::verb::post, "/api/webhooks/1/replay?after=0"}}) {
      const auto reply = api.answer(method, target, {{bhttp::field::authorization, "Bearer x"}});
      CHECK(status(reply) == 403);
      CHECK(json::parse(reply.body()).at("error") == "forbidden");
    }
  }
  SECTION("a wrong or missing token") {
    api.ctx.options.admin_token = "s3cret";
    for (const std::string given :
         {"", "Bearer s3cre", "Bearer s3cret2", "Basic s3cret", "s3cret"}) {
      CAPTURE(given);
      const auto reply = api.get("/api/webhooks", {{bhttp::field::authorization, given}});
      CHECK(status(reply) == 401);
      CHECK(header(reply, bhttp::field::www_authenticate).starts_with("Bearer"));
    }
    // The right token passes the check; with no store wired the routes are not here.
    CHECK(status(api.get("/api/webhooks", {{bhttp::field::authorization, "Bearer s3cret"}})) ==
          404);
    CHECK(status(api.get("/api/webhooks", {{bhttp::field::authorization, "bearer s3cret"}})) ==
          404);
  }
}

TEST_CASE("GET /api/events answers a stream, or 400, 404 and 503 as JSON", "[http][events]") {
  Api api;
  check_error(api.get("/api/events?types=device.nope"), 400, "bad_request", "types");
  check_error(api.get("/api/events"), 404, "not_found", "no events");
  auto store = std::make_unique<InMemoryEventStore>();
  auto* events = store.get();
  EventHubOptions options;
  options.max_subscribers = 1;
  options.poll_interval = 5ms;
  EventHub hub(std::move(store), nullptr, options);
  REQUIRE(hub.wait_started(2s));
  api.ctx.events = &hub;
  const auto head = api.answer(bhttp::verb::head, "/api/events");
  CHECK(status(head) == 200);
  CHECK(head.stream == nullptr);
  CHECK(hub.subscribers() == 0);
  auto reply = api.get("/api/events?device_type=camera");
  CHECK(status(reply) == 200);
  CHECK(header(reply, bhttp::field::content_type) == "text/event-stream");
  CHECK(header(reply, bhttp::field::cache_control) == "no-cache");
  CHECK(header(reply, "X-Accel-Buffering") == "no");
  REQUIRE(reply.stream);
  const auto busy = api.get("/api/events");
  check_error(busy, 503, "too_many_streams", "too many event streams");
  CHECK(header(busy, bhttp::field::retry_after) == "5");
  // The stream carries the events formatted for text/event-stream.
  events->append(EventType::device_offline, "cam1");
  std::vector<std::shared_ptr<const Event>> got;
  REQUIRE(wait_until(
      [&] {
        auto batch = reply.stream->take();
        got.insert(got.end(), batch.events.begin(), batch.events.end());
        return !got.empty();
      },
      2s));
  std::string text;
  append_sse(text, *got.front());
  CHECK(text == "id: 1\nevent: device.offline\ndata: " + got.front()->payload + "\n\n");
}

TEST_CASE("an event's payload with line breaks becomes several data lines", "[http][events]") {
  Event e;
  e.id = 7;
  e.type = EventType::site_unreachable;
  e.payload = "{\n\"a\": 1,\r\n\"b\": 2\r}";
  std::string text;
  append_sse(text, e);
  CHECK(text ==
        "id: 7\nevent: site.unreachable\ndata: {\ndata: \"a\": 1,\ndata: \"b\": 2\ndata: }\n\n");
}

namespace {

// The devices' array rendered whole, as the API has always answered it.
std::string array_of(const std::vector<Device>& devices) {
  std::string json = "[";
  for (std::size_t i = 0; i < devices.size(); ++i) {
    if (i != 0) json += ',';
    append_device_json(json, devices[i]);
  }
  return json + "]";
}

std::vector<Device> numbered_cameras(int count) {
  std::vector<Device> devices;
  for (int i = 0; i < count; ++i) {
    devices.push_back(camera("cam" + std::to_string(1000 + i)));
    devices.back().metadata_json = R"({"state":"live","n":)" + std::to_string(i) + R"(,"pad":")" +
                                   std::string(i % 17, 'p') + "\"}";
  }
  return devices;
}

} // namespace

TEST_CASE("a snapshot kept in gzip blocks gives back the array, its objects and its pages",
          "[http][snapshot]") {
  const auto count = GENERATE(0, 1, 2, 3, 7, 40);
  const auto per_block = GENERATE(std::size_t(1), std::size_t(3), std::size_t(256));
  CAPTURE(count, per_block);
  const auto devices = numbered_cameras(count);
  const auto expected = array_of(devices);
  const auto snapshot = build_devices_snapshot(devices, per_block);
  const auto& body = *snapshot->body;
  CHECK(gunzip(body.gzip) == expected);
  CHECK(body.json_size == expected.size());
  CHECK(snapshot->etag == etag_of(expected));
  CHECK(body.blocks.size() == static_cast<std::size_t>(count) / per_block + 1);
  std::string whole;
  body.read(0, body.json_size, whole);
  CHECK(whole == expected);
  REQUIRE(snapshot->objects.size() == devices.size());
  std::string objects = "[";
  for (const auto& o : snapshot->objects) {
    if (objects.size() > 1) objects += ',';
    objects += snapshot->object_json(o);
    CHECK(expected.substr(o.offset, o.size) == snapshot->object_json(o));
  }
  CHECK(objects + "]" == expected);
  // Pages of every size from every position, crossing blocks.
  for (std::size_t first = 0; first <= devices.size(); ++first) {
    for (std::size_t n : {std::size_t(1), std::size_t(2), std::size_t(5), devices.size()}) {
      CAPTURE(first, n);
      const auto end = std::min(first + n, devices.size());
      CHECK(page_json(*snapshot, first, n) ==
            array_of(std::vector<Device>(devices.begin() + static_cast<std::ptrdiff_t>(first),
                                         devices.begin() + static_cast<std::ptrdiff_t>(end))));
    }
  }
  // One reader going forward, back and across blocks, in pieces of any size.
  JsonReader reader(body);
  for (const auto& [from, to] : std::vector<std::pair<std::size_t, std::size_t>>{
           {0, 1}, {1, 50}, {30, 200}, {5, 6}, {200, 2000}, {0, 100000}, {expected.size(), 1}}) {
    std::string got;
    reader.read(from, to, got);
    const auto a = std::min(from, expected.size());
    CHECK(got == expected.substr(a, std::max(std::min(to, expected.size()), a) - a));
  }
}

TEST_CASE(
    "the whole list without gzip is its gzip inflated, across blocks, and devices and pages "
    "are cut from any block",
    "[http][snapshot]") {
  const auto devices = numbered_cameras(40);
  Api api(devices, 3); // 14 blocks
  const auto expected = array_of(devices);
  const auto plain = api.get("/api/devices?device_type=camera");
  REQUIRE(status(plain) == 200);
  CHECK(plain.body() == expected);
  CHECK(header(plain, bhttp::field::etag) == etag_of(expected));
  const auto zipped =
      api.get("/api/devices?device_type=camera", {{bhttp::field::accept_encoding, "gzip"}});
  CHECK(header(zipped, bhttp::field::content_encoding) == "gzip");
  CHECK(header(zipped, bhttp::field::etag) == etag_of(expected));
  CHECK(gunzip(zipped.body()) == plain.body());
  // The first, one in the middle of a block, the first of a block, and the last (alone
  // in the last block but the closing bracket's).
  for (const int i : {0, 19, 21, 39}) {
    CAPTURE(i);
    const auto one = api.get("/api/devices/cam" + std::to_string(1000 + i));
    REQUIRE(status(one) == 200);
    std::string object;
    append_device_json(object, devices[static_cast<std::size_t>(i)]);
    CHECK(one.body() == object);
  }
  // Pages of 4 walked by their Link, from the snapshot (no reader): every device once.
  std::vector<std::string> keys;
  std::string target = "/api/devices?device_type=camera&limit=4";
  for (int pages = 0; !target.empty() && pages < 20; ++pages) {
    const auto page = api.get(target);
    REQUIRE(status(page) == 200);
    const auto parsed = json::parse(page.body());
    for (const auto& d : parsed.as_array())
      keys.emplace_back(d.at("device_key").as_string());
    const auto link = header(page, bhttp::field::link);
    target = link.empty() ? "" : link.substr(1, link.find('>') - 1);
  }
  REQUIRE(keys.size() == devices.size());
  for (std::size_t i = 0; i < keys.size(); ++i)
    CHECK(keys[i] == devices[i].device_key);
}

TEST_CASE("a device past the block's byte bound closes its block early, and every read still holds",
          "[http][snapshot]") {
  // Small cameras around one whose metadata alone is over the 1 MB a block may hold: the
  // block closes after it (not after 256 objects), and the next starts with the next one.
  auto devices = numbered_cameras(9);
  devices[4].metadata_json = R"({"state":"live","big":")" + std::string(1'200'000, 'b') + "\"}";
  const auto expected = array_of(devices);
  const auto snapshot = build_devices_snapshot(devices);
  const auto& body = *snapshot->body;
  REQUIRE(snapshot->objects.size() == devices.size());
  // Two blocks: '[' and objects 0 to 4; then ',' and objects 5 to 8 and ']'.
  REQUIRE(body.blocks.size() == 2);
  CHECK(body.blocks[1].json_offset == snapshot->objects[5].offset - 1);
  CHECK(gunzip(body.gzip) == expected);
  for (const auto& o : snapshot->objects)
    CHECK(snapshot->object_json(o) == expected.substr(o.offset, o.size));
  for (std::size_t first = 0; first < devices.size(); ++first) {
    CAPTURE(first);
    CHECK(page_json(*snapshot, first, 3) ==
          array_of(std::vector<Device>(
              devices.begin() + static_cast<std::ptrdiff_t>(first),
              devices.begin() + static_cast<std::ptrdiff_t>(std::min(first + 3, devices.size())))));
  }
  std::string whole;
  body.read(0, body.json_size, whole);
  CHECK(whole == expected);
}

TEST_CASE("a snapshot listed out of order is indexed in order, each sample beside its object",
          "[http][snapshot]") {
  auto gate = camera("north@gate");
  gate.site = "north";
  gate.is_active = false;
  const auto snapshot = build_devices_snapshot({camera("zoo"), gate, camera("cam1")});
  std::vector<std::string> keys;
  for (const auto& o : snapshot->objects)
    keys.push_back(o.device_key);
  CHECK(keys == std::vector<std::string>{"cam1", "north@gate", "zoo"});
  REQUIRE(snapshot->samples.size() == 3);
  for (const auto& o : snapshot->objects) {
    const auto& sample = snapshot->samples[snapshot->index_of(o)];
    CHECK(sample.device_key == o.device_key);
    CHECK(json::parse(snapshot->object_json(o)).at("device_key") == o.device_key.c_str());
  }
  const auto& north = snapshot->samples[snapshot->index_of(*snapshot->find("north@gate"))];
  CHECK(north.site == "north");
  CHECK_FALSE(north.up);
}

#include "metrics.hpp"

#include "camreg/http/metrics_listener.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <future>
#include <locale>
#include <set>

#include "devices_snapshot.hpp"
#include "fake_registry.hpp"
#include "handle_request.hpp"
#include "metrics_reference.hpp"
#include "openapi.hpp"
#include "wait.hpp"

using namespace camreg;
using namespace camreg::testing;
using namespace camreg::http::detail;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

// handle_request with metrics over a RegistryView of scripted devices, without sockets.
struct MetricsApi {
  FakeChangeFeed* feed = nullptr;
  ScriptedReadRepository* repo = nullptr;
  HttpMetrics http;
  std::unique_ptr<RegistryView> view;
  Context ctx;

  explicit MetricsApi(std::vector<Device> devices) {
    auto f = std::make_unique<FakeChangeFeed>();
    auto r = std::make_unique<ScriptedReadRepository>();
    feed = f.get();
    repo = r.get();
    repo->set_devices(std::move(devices));
    ViewOptions options;
    options.readiness_interval = 20ms;
    view = std::make_unique<RegistryView>(
        std::move(r), std::move(f), RegistryView::whole_listing([](const std::vector<Device>& d) {
          return build_devices_snapshot(d);
        }),
        options);
    REQUIRE(view->wait_first_check(5s));
    ctx.view = view.get();
    ctx.metrics = &http;
  }

  Reply get(const std::string& target,
            const std::vector<std::pair<bhttp::field, std::string>>& headers = {}) const {
    Request req{bhttp::verb::get, target, 11};
    for (const auto& [name, value] : headers)
      req.set(name, value);
    std::promise<Reply> promise;
    auto reply = promise.get_future();
    handle_request(req, ctx, [&](Reply r) { promise.set_value(std::move(r)); });
    REQUIRE(reply.wait_for(5s) == std::future_status::ready);
    return reply.get();
  }
  std::string scrape() const { return std::string(get("/metrics").body()); }
};

Device with_state(Device d, std::string metadata) {
  d.metadata_json = std::move(metadata);
  return d;
}

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

// A numpunct that writes decimals with a comma, as de_DE does.
struct CommaDecimals : std::numpunct<char> {
  char do_decimal_point() const override { return ','; }
  char do_thousands_sep() const override { return '.'; }
  std::string do_grouping() const override { return "\3"; }
};

} // namespace

TEST_CASE("a device's state is read from its metadata as stored", "[metrics]") {
  const auto [metadata, state] = GENERATE(table<std::string, std::string>({
      {R"({"state":"live","ready":true})", "live"},
      // jsonb's own spelling: keys by length, a space after the colon.
      {R"({"ready": false, "state": "removed", "tracks": [{"codec": "H264"}]})", "removed"},
      {R"({"tracks": [{"state": "live"}], "readers": {"}": "state"}, "state": "no_source"})",
       "no_source"},
      {R"({"source_id": "a\"b,\"state\":\"live", "state": "not_ready"})", "not_ready"},
      {R"({"ready": true})", "unknown"},
      {R"({"state": 3})", "unknown"},
      {R"({"state": "Live\n"})", "unknown"},
      {R"([1, 2])", "unknown"},
      {R"({"state": "liv)", "unknown"},
      {"", "unknown"},
  }));
  CAPTURE(metadata);
  CHECK(metadata_state(metadata) == state);
}

TEST_CASE("label values are escaped and decimals written with a dot in any locale", "[metrics]") {
  auto odd = camera("site \"a\"\\cam\n1");
  odd.last_seen = TimePoint(std::chrono::microseconds(1'700'000'000'500'000));
  const std::vector<DeviceSample> devices{sample_of(odd)};
  HttpMetrics http;
  http.observe("/api/devices", 200, 0.25);
  MetricsInput input;
  input.devices = &devices;
  input.http = &http;

  const auto previous = std::locale::global(std::locale(std::locale::classic(), new CommaDecimals));
  const auto text = render_metrics(input);
  std::locale::global(previous);

  CAPTURE(text);
  CHECK(has_line(
      text,
      R"(camreg_device_up{device_type="camera",device_key="site \"a\"\\cam\n1",site="default"} 1)"));
  CHECK(has_line(
      text,
      R"(camreg_device_last_seen_timestamp_seconds{device_type="camera",device_key="site \"a\"\\cam\n1",site="default"} 1700000000.5)"));
  CHECK(has_line(text, R"(camreg_http_request_duration_seconds_sum{route="/api/devices"} 0.25)"));
  CHECK(text.find(",5") == std::string::npos);
}

TEST_CASE("per-device series are written as prometheus-cpp's serializer writes them", "[metrics]") {
  std::vector<DeviceSample> devices;
  SECTION("none") {}
  SECTION("odd keys, fractions of a second, inactive and never seen") {
    const std::vector<std::string> keys{"cam-1", "site \"b\"/cam\\1\ncaf\xC3\xA9", "x", ""};
    for (std::size_t i = 0; i < keys.size(); ++i) {
      auto d = camera(keys[i], i % 2 == 0);
      if (i == 1) d.site = "north";
      if (i == 2)
        d.last_seen.reset();
      else
        d.last_seen = TimePoint(std::chrono::microseconds(1'796'020'695'123'457 + 333'333 * i));
      devices.push_back(sample_of(d));
    }
  }
  MetricsInput input;
  input.devices = &devices;
  const auto text = render_metrics(input);
  const auto expected = per_device_through_prometheus_cpp(devices);
  CAPTURE(text, expected);
  const auto at = text.find("# HELP camreg_device_up ");
  REQUIRE(at != std::string::npos);
  CHECK(text.substr(at, expected.size()) == expected);
}

TEST_CASE("devices are counted by type, site and state, per device only when asked", "[metrics]") {
  auto gate = camera("north@gate");
  gate.site = "north";
  const std::vector<Device> stored{
      camera("a"), camera("b"), with_state(camera("c", false), R"({"state": "no_source"})"), gate};
  std::vector<DeviceSample> devices;
  for (const auto& d : stored)
    devices.push_back(sample_of(d));
  MetricsInput input;
  input.devices = &devices;
  input.per_device = GENERATE(true, false);
  CAPTURE(input.per_device);
  const auto text = render_metrics(input);
  CAPTURE(text);
  CHECK(has_line(text, R"(camreg_devices{device_type="camera",site="default",state="live"} 2)"));
  CHECK(
      has_line(text, R"(camreg_devices{device_type="camera",site="default",state="no_source"} 1)"));
  CHECK(has_line(text, R"(camreg_devices{device_type="camera",site="north",state="live"} 1)"));
  CHECK(has_line(text, "camreg_registry_readable 1"));
  CHECK(
      has_line(text, R"(camreg_device_up{device_type="camera",device_key="c",site="default"} 0)") ==
      input.per_device);
  CHECK(has_line(
            text,
            R"(camreg_device_up{device_type="camera",device_key="north@gate",site="north"} 1)") ==
        input.per_device);
  CHECK((text.find("device_key=") != std::string::npos) == input.per_device);
}

TEST_CASE("each site's last success is exported on its own, none for a site never listed",
          "[metrics]") {
  SiteSummary north;
  north.site = "north";
  north.last_success = TimePoint(std::chrono::seconds(1'700'000'000));
  SiteSummary south;
  south.site = "south"; // its rounds never listed MediaMTX
  SiteSummary fresh;
  fresh.site = "default";
  fresh.last_success = TimePoint(std::chrono::milliseconds(1'700'000'600'250));
  const std::vector<SiteSummary> sites{fresh, north, south};
  MetricsInput input;
  input.sites = &sites;
  const auto text = render_metrics(input);
  CAPTURE(text);
  CHECK(has_line(text, R"(camreg_sync_last_success_timestamp_seconds{site="north"} 1700000000)"));
  CHECK(has_line(text,
                 R"(camreg_sync_last_success_timestamp_seconds{site="default"} 1700000600.25)"));
  CHECK(text.find(R"({site="south"})") == std::string::npos);
  CHECK(has_line(text, "camreg_registry_readable 0"));
  CHECK(text.find("camreg_devices{") == std::string::npos);

  // No site with a success: no family at all (absent() in the alert sees it).
  const std::vector<SiteSummary> none{south};
  input.sites = &none;
  CHECK(render_metrics(input).find("camreg_sync_last_success") == std::string::npos);
}

TEST_CASE("/metrics follows the registry: a device gone inactive reads 0, a removed one is gone",
          "[metrics][http]") {
  MetricsApi api({camera("cam1"), camera("cam2")});
  const auto first = api.get("/metrics");
  CHECK(first.res.result_int() == 200);
  CHECK(first.res[bhttp::field::content_type] == metrics_content_type);
  const auto text = std::string(first.body());
  CHECK(has_line(text,
                 R"(camreg_device_up{device_type="camera",device_key="cam1",site="default"} 1)"));

  api.repo->set_devices({camera("cam1", false)});
  api.feed->announce();
  REQUIRE(wait_until(
      [&] {
        return has_line(
            api.scrape(),
            R"(camreg_device_up{device_type="camera",device_key="cam1",site="default"} 0)");
      },
      5000ms));
  CHECK(api.scrape().find(R"(device_key="cam2")") == std::string::npos);
}

TEST_CASE("/metrics is gzipped when the client accepts it", "[metrics][http]") {
  MetricsApi api({camera("cam1")});
  const auto zipped = api.get("/metrics", {{bhttp::field::accept_encoding, "gzip"}});
  CHECK(zipped.res[bhttp::field::content_encoding] == "gzip");
  CHECK(zipped.body().substr(0, 2) == "\x1f\x8b");
  const auto plain = api.get("/metrics", {{bhttp::field::accept_encoding, "gzip;q=0"}});
  CHECK(plain.res[bhttp::field::content_encoding] == "");
  CHECK(plain.body().starts_with("# HELP"));
}

TEST_CASE("requests are counted by route template, never by raw path", "[metrics][http]") {
  MetricsApi api({camera("site-a/cam_1")});
  CHECK(api.get("/api/devices/site-a/cam_1").res.result_int() == 200);
  CHECK(api.get("/api/devices/nope").res.result_int() == 404);
  CHECK(api.get("/api/elsewhere-secret").res.result_int() == 404);
  const auto text = api.scrape();
  CAPTURE(text);
  CHECK(
      has_line(text, R"(camreg_http_requests_total{code="200",route="/api/devices/{key...}"} 1)"));
  CHECK(
      has_line(text, R"(camreg_http_requests_total{code="404",route="/api/devices/{key...}"} 1)"));
  CHECK(has_line(text, R"(camreg_http_requests_total{code="404",route="unmatched"} 1)"));
  std::string http_lines;
  for (std::size_t at = text.find("\ncamreg_http"); at != std::string::npos;
       at = text.find("\ncamreg_http", at + 1))
    http_lines += text.substr(at, text.find('\n', at + 1) - at);
  CHECK(http_lines.find("route=") != std::string::npos);
  CHECK(http_lines.find("cam_1") == std::string::npos);
  CHECK(text.find("elsewhere-secret") == std::string::npos);
}

namespace {

// A round as sync_round reports it: ok, or failed where said.
RoundReport round_report(std::optional<ErrorKind> fetch, std::optional<ErrorKind> write,
                         RoundCounts counts = {}, std::int64_t finished_s = 1'700'000'000) {
  RoundReport r;
  if (fetch) r.fetch_error = Error{*fetch, "listing failed"};
  if (write) r.write_error = Error{*write, "write failed"};
  r.counts = counts;
  r.finished_at = TimePoint(std::chrono::seconds(finished_s));
  return r;
}

} // namespace

TEST_CASE("a round's result is ok, fetch_failed, write_failed or skipped", "[metrics][sync]") {
  using K = std::optional<ErrorKind>;
  const auto [fetch, write, result] = GENERATE(table<K, K, std::string>({
      {{}, {}, "ok"},
      {ErrorKind::unavailable, {}, "fetch_failed"},
      {ErrorKind::auth, {}, "fetch_failed"},
      {{}, ErrorKind::unavailable, "write_failed"},
      {ErrorKind::timeout, ErrorKind::unavailable, "write_failed"}, // nothing was written
      {{}, ErrorKind::busy, "skipped"}, // another worker held the round lock
      {ErrorKind::unavailable, ErrorKind::busy, "skipped"},
  }));
  CAPTURE(result);
  CHECK(camreg::http::round_result(round_report(fetch, write)) == result);
}

TEST_CASE("a worker's rounds are counted by result, each timed, the last success kept",
          "[metrics][sync]") {
  camreg::http::SyncMetrics metrics("north");
  const auto before = metrics.render();
  CAPTURE(before);
  // Every result is there from the start, so that the first failure is a rate.
  for (const auto* result : {"ok", "fetch_failed", "write_failed", "skipped"})
    CHECK(has_line(before, "camreg_sync_rounds_total{result=\"" + std::string(result) + "\"} 0"));
  CHECK(has_line(before, "camreg_sync_round_duration_seconds_count 0"));
  CHECK(before.find("camreg_sync_last_success_timestamp_seconds") == std::string::npos);

  RoundCounts first;
  first.paths_seen = 5;
  first.inserted = 5;
  first.newly_active = 4;
  first.skipped = 1;
  metrics.observe(round_report({}, {}, first, 1'700'000'000), 120ms);
  RoundCounts expiry;
  expiry.expired = 4;
  metrics.observe(round_report(ErrorKind::unavailable, {}, expiry, 1'700'000'060), 2s);
  metrics.observe(round_report({}, ErrorKind::busy, {}, 1'700'000'120), 3ms);
  metrics.observe(round_report({}, ErrorKind::unavailable, first, 1'700'000'180), 30s);
  RoundCounts second;
  second.paths_seen = 3;
  second.updated = 1;
  metrics.observe(round_report({}, {}, second, 1'700'000'240), 40ms);

  const auto text = metrics.render();
  CAPTURE(text);
  CHECK(has_line(text, R"(camreg_sync_rounds_total{result="ok"} 2)"));
  CHECK(has_line(text, R"(camreg_sync_rounds_total{result="fetch_failed"} 1)"));
  CHECK(has_line(text, R"(camreg_sync_rounds_total{result="skipped"} 1)"));
  CHECK(has_line(text, R"(camreg_sync_rounds_total{result="write_failed"} 1)"));
  CHECK(has_line(text, "camreg_sync_round_duration_seconds_count 5"));
  CHECK(has_line(text, R"(camreg_sync_round_duration_seconds_bucket{le="0.05"} 2)"));
  CHECK(has_line(text, R"(camreg_sync_round_duration_seconds_bucket{le="2.5"} 4)"));
  CHECK(has_line(text, R"(camreg_sync_round_duration_seconds_bucket{le="+Inf"} 5)"));
  CHECK(has_line(text, "camreg_sync_round_duration_seconds_sum 32.163"));
  // The last success, not the last round; what it listed.
  CHECK(has_line(text, R"(camreg_sync_last_success_timestamp_seconds{site="north"} 1700000240)"));
  CHECK(has_line(text, "camreg_sync_paths_seen 3"));
  CHECK(has_line(text, "camreg_sync_items_skipped 0"));
  // Changes of committed rounds only: the refused write's counts are not.
  CHECK(has_line(text, R"(camreg_sync_device_changes_total{change="inserted"} 5)"));
  CHECK(has_line(text, R"(camreg_sync_device_changes_total{change="expired"} 4)"));
  CHECK(has_line(text, R"(camreg_sync_device_changes_total{change="updated"} 1)"));
  CHECK(has_line(text, R"(camreg_sync_device_changes_total{change="newly_active"} 4)"));
  CHECK(text.find("# TYPE process_cpu_seconds_total counter") != std::string::npos);
}

TEST_CASE("the process's own metrics are exported by both servers", "[metrics]") {
  const auto text = render_process_metrics();
  CAPTURE(text);
  for (const auto* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_virtual_memory_bytes", "process_start_time_seconds",
                           "process_open_fds", "process_max_fds"}) {
    CHECK(text.find("\n" + std::string(name) + " ") != std::string::npos);
  }
  const auto started = text.find("\nprocess_start_time_seconds ");
  const double start = std::stod(text.substr(started + 28));
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  CHECK(start <= now + 1);
  CHECK(start > now - 24 * 3600);
  CHECK(render_metrics(MetricsInput{}).find("\nprocess_resident_memory_bytes ") !=
        std::string::npos);
}

TEST_CASE("the route table and the OpenAPI document's paths are the same set", "[openapi]") {
  std::set<std::pair<std::string, std::string>> table, document;
  for (const auto& r : route_table()) {
    std::string path(r.pattern);
    if (const auto rest = path.find("...}"); rest != std::string::npos) path.erase(rest, 3);
    std::string method(r.method);
    for (auto& c : method)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    table.emplace(method, path);
  }
  const auto doc = json::parse(openapi_document()).as_object();
  CHECK(doc.at("openapi").as_string().starts_with("3.1"));
  for (const auto& [path, item] : doc.at("paths").as_object()) {
    for (const auto& [method, operation] : item.as_object()) {
      if (method == "parameters" || method == "summary" || method == "description") continue;
      document.emplace(std::string(method), std::string(path));
    }
  }
  CHECK(table == document);
}

TEST_CASE("the OpenAPI document is served with an ETag and revalidated", "[openapi][http]") {
  MetricsApi api({});
  const auto first = api.get("/api/openapi.json");
  CHECK(first.res.result_int() == 200);
  CHECK(first.body() == openapi_document());
  const auto etag = std::string(first.res[bhttp::field::etag]);
  REQUIRE(!etag.empty());
  CHECK(api.get("/api/openapi.json", {{bhttp::field::if_none_match, etag}}).res.result_int() ==
        304);
}

TEST_CASE("webhook deliveries are counted by result, the backlog read from the last poll",
          "[metrics][webhooks]") {
  WebhookStats stats;
  MetricsInput input;
  input.webhooks = &stats;
  input.now = TimePoint(std::chrono::seconds(1'700'000'100));
  SECTION("before the deliverer's first poll only the counters show") {
    stats.count(AttemptResult::Kind::delivered);
    const auto text = render_metrics(input);
    CAPTURE(text);
    CHECK(has_line(text, "camreg_webhook_deliveries_total{result=\"delivered\"} 1"));
    CHECK(has_line(text, "camreg_webhook_deliveries_total{result=\"failed\"} 0"));
    CHECK(text.find("camreg_webhook_pending") == std::string::npos);
  }
  SECTION("after it, the pending count and the oldest one's age") {
    for (auto kind : {AttemptResult::Kind::retry, AttemptResult::Kind::retry,
                      AttemptResult::Kind::failed, AttemptResult::Kind::endpoint_gone})
      stats.count(kind);
    stats.set_backlog(7, TimePoint(std::chrono::seconds(1'700'000'040)));
    const auto text = render_metrics(input);
    CAPTURE(text);
    CHECK(has_line(text, "camreg_webhook_deliveries_total{result=\"retried\"} 2"));
    CHECK(has_line(text, "camreg_webhook_deliveries_total{result=\"endpoint_gone\"} 1"));
    CHECK(has_line(text, "camreg_webhook_pending 7"));
    CHECK(has_line(text, "camreg_webhook_oldest_pending_age_seconds 60"));
    stats.set_backlog(0, std::nullopt);
    CHECK(has_line(render_metrics(input), "camreg_webhook_oldest_pending_age_seconds 0"));
  }
  SECTION("a process that does not deliver has no webhook families") {
    input.webhooks = nullptr;
    CHECK(render_metrics(input).find("camreg_webhook") == std::string::npos);
  }
}

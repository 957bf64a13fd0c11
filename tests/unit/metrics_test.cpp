#include "metrics.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <future>
#include <locale>
#include <set>

#include "devices_snapshot.hpp"
#include "fake_registry.hpp"
#include "handle_request.hpp"
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
        std::move(r), std::move(f),
        [](const std::vector<Device>& d) { return build_devices_snapshot(d); }, options);
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
  CHECK(has_line(text,
                 R"(camreg_device_up{device_type="camera",device_key="site \"a\"\\cam\n1"} 1)"));
  CHECK(has_line(
      text,
      R"(camreg_device_last_seen_timestamp_seconds{device_type="camera",device_key="site \"a\"\\cam\n1"} 1700000000.5)"));
  CHECK(has_line(text, R"(camreg_http_request_duration_seconds_sum{route="/api/devices"} 0.25)"));
  CHECK(text.find(",5") == std::string::npos);
}

TEST_CASE("devices are counted by type and state, per device only when asked", "[metrics]") {
  const std::vector<Device> stored{camera("a"), camera("b"),
                                   with_state(camera("c", false), R"({"state": "no_source"})")};
  std::vector<DeviceSample> devices;
  for (const auto& d : stored)
    devices.push_back(sample_of(d));
  MetricsInput input;
  input.devices = &devices;
  input.per_device = GENERATE(true, false);
  CAPTURE(input.per_device);
  const auto text = render_metrics(input);
  CAPTURE(text);
  CHECK(has_line(text, R"(camreg_devices{device_type="camera",state="live"} 2)"));
  CHECK(has_line(text, R"(camreg_devices{device_type="camera",state="no_source"} 1)"));
  CHECK(has_line(text, "camreg_registry_readable 1"));
  CHECK(has_line(text, R"(camreg_device_up{device_type="camera",device_key="c"} 0)") ==
        input.per_device);
  CHECK((text.find("device_key=") != std::string::npos) == input.per_device);
}

TEST_CASE("the last successful round is exported, failed ones are not", "[metrics]") {
  SyncRun failed;
  failed.ok = false;
  failed.finished_at = TimePoint(std::chrono::seconds(1'700'000'100));
  SyncRun ok;
  ok.ok = true;
  ok.finished_at = TimePoint(std::chrono::seconds(1'700'000'000));
  const std::vector<SyncRun> runs{failed, ok};
  MetricsInput input;
  input.runs = &runs;
  const auto text = render_metrics(input);
  CAPTURE(text);
  CHECK(has_line(text, "camreg_sync_last_success_timestamp_seconds 1700000000"));
  CHECK(has_line(text, "camreg_registry_readable 0"));
  CHECK(text.find("camreg_devices{") == std::string::npos);
}

TEST_CASE("/metrics follows the registry: a device gone inactive reads 0, a removed one is gone",
          "[metrics][http]") {
  MetricsApi api({camera("cam1"), camera("cam2")});
  const auto first = api.get("/metrics");
  CHECK(first.res.result_int() == 200);
  CHECK(first.res[bhttp::field::content_type] == metrics_content_type);
  const auto text = std::string(first.body());
  CHECK(has_line(text, R"(camreg_device_up{device_type="camera",device_key="cam1"} 1)"));

  api.repo->set_devices({camera("cam1", false)});
  api.feed->announce();
  REQUIRE(wait_until(
      [&] {
        return has_line(api.scrape(),
                        R"(camreg_device_up{device_type="camera",device_key="cam1"} 0)");
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

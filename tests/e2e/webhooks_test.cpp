// Webhooks end to end: real api-server processes deliver the events of real rounds
// (committed to a real PostgreSQL through the repository) to a real receiver on
// loopback, which verifies every signature with the Standard Webhooks reference library.
#include <algorithm>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <csignal>
#include <cstdio>
#include <map>
#include <set>

#include "api_server_process.hpp"
#include "camreg/postgres/postgres.hpp"
#include "fakes.hpp"
#include "http_client.hpp"
#include "pg_test_database.hpp"
#include "process.hpp"
#include "wait.hpp"

using namespace camreg;
using namespace camreg::testing;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

constexpr const char* admin_token = "test-admin-token";
using Headers = std::vector<std::pair<std::string, std::string>>;
const Headers admin{{"Authorization", std::string("Bearer ") + admin_token}};

// The admin token, and delivery short enough that a test sees every retry; the lease
// outlives the timeout.
// clang-format off
const std::vector<std::string> fast_delivery{
    "--admin-token",            admin_token,
    "--webhook-retry-schedule", "0,300ms,300ms,300ms,300ms,300ms,300ms,300ms",
    "--webhook-lease",          "3s",
    "--webhook-timeout",        "2s",
    "--webhook-poll",           "200ms"};
// clang-format on

// The real api-server; its calls carry the admin token unless told otherwise.
struct ApiServer : ApiServerProcess {
  ApiServer(const std::string& database_url, const std::vector<std::string>& extra)
      : ApiServerProcess(API_SERVER, database_url, extra) {}
  HttpReply call(const std::string& method, const std::string& target, const std::string& body = {},
                 const Headers& headers = admin) const {
    return ApiServerProcess::call(method, target, body, headers);
  }
};

// tests/webhooks/receiver.mjs: records and verifies every delivery, answers as scripted.
class Receiver {
 public:
  Receiver() {
    const std::string dir = CAMREG_SOURCE_DIR "/tests/webhooks";
    process_ = std::make_unique<ChildProcess>(std::vector<std::string>{NODE, dir + "/receiver.mjs"},
                                              std::vector<std::string>{});
    const auto line = process_->wait_for("listening", 10s);
    if (!line) {
      FAIL("the receiver did not start (node, and npm ci in tests/webhooks?):\n"
           << process_->output());
    }
    port_ = std::stoi(line->substr(line->find(' ') + 1));
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  void control(const std::string& json_text) const {
    REQUIRE(http_request("PUT", "127.0.0.1", port_, "/control", json_text).status == 204);
  }
  json::array received() const {
    return json::parse(http_request("GET", "127.0.0.1", port_, "/received").body).as_array();
  }

 private:
  std::unique_ptr<ChildProcess> process_;
  int port_ = 0;
};

struct Registry {
  TestSchema schema;
  std::unique_ptr<DeviceRepository> repo;

  Registry() {
    postgres::Options options;
    options.database_url = schema.url();
    REQUIRE(postgres::migrate(options));
    repo = postgres::make_device_repository(options);
  }
  // One committed round: each camera listed live (true) or connecting (false).
  void round(const std::vector<std::pair<std::string, bool>>& cameras) {
    std::vector<PathState> listed;
    for (const auto& [key, healthy] : cameras)
      listed.push_back(healthy ? live_path(key) : connecting_path(key));
    REQUIRE(commit_listing(*repo, listed, SystemClock().now()));
  }
  long long count(const std::string& sql) const { return std::stoll(schema.scalar(sql)); }
  bool all_delivered(std::chrono::milliseconds timeout = 20s) const {
    return wait_until(
        [&] {
          return count("SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered'") == 0;
        },
        timeout);
  }
};

// Registers the receiver with the api-server and tells the receiver the secret.
std::int64_t add_endpoint(const ApiServer& api, const Receiver& receiver,
                          const std::string& types = "[]") {
  const auto created = api.call("POST", "/api/webhooks",
                                R"({"url": ")" + receiver.url() + R"(", "types": )" + types + "}");
  REQUIRE(created.status == 201);
  const auto body = json::parse(created.body).as_object();
  const auto secret = std::string(body.at("secret").as_string());
  receiver.control(R"({"secret": ")" + secret + R"("})");
  return body.at("id").as_int64();
}

std::string text(const json::value& v) {
  return v.is_string() ? std::string(v.as_string()) : "";
}

// webhook-id -> how many deliveries were answered 2xx.
std::map<std::string, int> processed(const json::array& received) {
  std::map<std::string, int> out;
  for (const auto& r : received) {
    const auto& o = r.as_object();
    if (o.at("status").is_int64() && o.at("status").as_int64() / 100 == 2) ++out[text(o.at("id"))];
  }
  return out;
}

} // namespace

TEST_CASE(
    "every event of real rounds reaches the receiver signed so that standardwebhooks verifies it",
    "[e2e][webhooks]") {
  Registry registry;
  Receiver receiver;
  ApiServer api(registry.schema.url(), fast_delivery);
  const auto id = add_endpoint(api, receiver);

  registry.round({{"cam_a", true}, {"cam_b", true}, {"cam_c", false}});
  registry.round({{"cam_a", false}, {"cam_b", true}, {"cam_c", true}});
  const auto events = registry.count("SELECT count(*) FROM events");
  REQUIRE(events >= 5);
  REQUIRE(registry.all_delivered());

  const auto received = receiver.received();
  CHECK(static_cast<long long>(received.size()) == events);
  std::set<std::string> ids;
  for (const auto& r : received) {
    const auto& o = r.as_object();
    CAPTURE(json::serialize(o));
    CHECK(o.at("verified").as_bool());
    CHECK(text(o.at("content_type")) == "application/json");
    ids.insert(text(o.at("id")));
    // The body is the stored payload, byte for byte, and the id is its event's.
    const auto event_id = std::stoll(text(o.at("id")).substr(4));
    CHECK(text(o.at("body")) == registry.schema.scalar("SELECT payload FROM events WHERE id = " +
                                                       std::to_string(event_id)));
  }
  CHECK(static_cast<long long>(ids.size()) == events);

  const auto deliveries = api.call("GET", "/api/webhooks/" + std::to_string(id) + "/deliveries");
  REQUIRE(deliveries.status == 200);
  const auto rows = json::parse(deliveries.body).as_array();
  CHECK(static_cast<long long>(rows.size()) == events);
  for (const auto& row : rows) {
    CHECK(text(row.at("status")) == "delivered");
    CHECK(row.at("attempts").as_int64() == 1);
    CHECK(row.at("last_status").as_int64() == 200);
  }
  const auto metrics = api.call("GET", "/metrics", {}, {});
  CHECK(metrics.body.find("camreg_webhook_deliveries_total{result=\"delivered\"} " +
                          std::to_string(events)) != std::string::npos);
  CHECK(wait_until(
      [&] {
        return api.call("GET", "/metrics", {}, {}).body.find("camreg_webhook_pending 0") !=
               std::string::npos;
      },
      5s));
}

TEST_CASE(
    "a receiver answering 503 for a while gets every event in order per device and each id "
    "processed once",
    "[e2e][webhooks]") {
  Registry registry;
  Receiver receiver;
  ApiServer api(registry.schema.url(), fast_delivery);
  add_endpoint(api, receiver);
  receiver.control(R"({"plan": [{"status": 503, "times": 8}]})");

  // Each camera changes state every round: several events per device, queued together.
  for (int i = 0; i < 4; ++i)
    registry.round({{"cam_a", i % 2 == 0}, {"cam_b", i % 2 == 1}, {"cam_c", true}});
  const auto events = registry.count("SELECT count(*) FROM events");
  REQUIRE(registry.all_delivered(30s));

  const auto received = receiver.received();
  const auto ok = processed(received);
  CHECK(static_cast<long long>(ok.size()) == events);
  for (const auto& [id, n] : ok) {
    CAPTURE(id);
    CHECK(n == 1);
  }
  // Per device, no event is sent before every earlier one of that device was delivered:
  // the attempts arrive in event order.
  std::map<std::string, std::vector<long long>> attempts_by_device;
  int refused = 0;
  for (const auto& r : received) {
    const auto& o = r.as_object();
    CHECK(o.at("verified").as_bool());
    if (o.at("status").as_int64() == 503) ++refused;
    const auto payload = json::parse(text(o.at("body"))).as_object();
    const auto& data = payload.at("data").as_object();
    const auto key = data.contains("device_key") ? text(data.at("device_key")) : std::string();
    attempts_by_device[key].push_back(std::stoll(text(o.at("id")).substr(4)));
  }
  CHECK(refused == 8);
  for (const auto& [device, ids] : attempts_by_device) {
    CAPTURE(device);
    CHECK(std::is_sorted(ids.begin(), ids.end()));
  }
}

TEST_CASE(
    "an outage shorter than the stale window sends no offline/online pair, a longer one "
    "exactly one",
    "[e2e][webhooks]") {
  Registry registry;
  Receiver receiver;
  ApiServer api(registry.schema.url(), fast_delivery);
  add_endpoint(api, receiver, R"(["device.offline", "device.online"])");
  // Rounds on a scripted clock, the default 5-minute window: cam_short is down for 5:00
  // (not "more than" the window), cam_long for 6:00.
  const auto t0 = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
  const auto round = [&](Duration at, bool short_up, bool long_up) {
    std::vector<PathState> listed{short_up ? live_path("cam_short") : connecting_path("cam_short"),
                                  long_up ? live_path("cam_long") : connecting_path("cam_long")};
    REQUIRE(commit_listing(*registry.repo, listed, t0 + at));
  };
  round(0s, true, true);
  round(1min, false, false);
  round(4min + 59s, false, false);
  round(5min, true, false);
  round(5min + 1s, true, false); // cam_long: offline
  round(6min, true, true);       // cam_long: online
  round(7min, true, true);
  REQUIRE(registry.all_delivered());
  std::vector<std::string> got;
  for (const auto& r : receiver.received()) {
    const auto body = json::parse(text(r.at("body"))).as_object();
    got.push_back(text(body.at("type")) + " " + text(body.at("data").at("device_key")));
  }
  CHECK(got == std::vector<std::string>{"device.offline cam_long", "device.online cam_long"});
}

TEST_CASE("429 with Retry-After: 3 means no attempt for 3 seconds", "[e2e][webhooks]") {
  Registry registry;
  Receiver receiver;
  ApiServer api(registry.schema.url(), fast_delivery);
  add_endpoint(api, receiver);
  receiver.control(R"({"plan": [{"status": 429, "retry_after": "3", "times": 1}]})");
  registry.round({{"cam_a", true}});
  REQUIRE(registry.all_delivered());
  const auto received = receiver.received();
  REQUIRE(received.size() >= 2);
  const auto& first = received[0].as_object();
  const auto& second = received[1].as_object();
  CHECK(first.at("status").as_int64() == 429);
  CHECK(text(first.at("id")) == text(second.at("id"))); // the same message, retried
  CHECK(text(first.at("timestamp")) != "");
  const auto waited = second.at("at_ms").as_int64() - first.at("at_ms").as_int64();
  CAPTURE(waited);
  CHECK(waited >= 2990);
  CHECK(waited < 6000);
}

TEST_CASE("a receiver answering 410 disables its endpoint", "[e2e][webhooks]") {
  Registry registry;
  Receiver receiver;
  ApiServer api(registry.schema.url(), fast_delivery);
  const auto id = add_endpoint(api, receiver);
  receiver.control(R"({"default": {"status": 410}})");
  registry.round({{"cam_a", true}});
  REQUIRE(wait_until([&] { return !receiver.received().empty(); }, 10s));
  json::object endpoint;
  REQUIRE(wait_until(
      [&] {
        endpoint = json::parse(api.call("GET", "/api/webhooks").body).as_array().at(0).as_object();
        return !endpoint.at("enabled").as_bool();
      },
      5s));
  CHECK(endpoint.at("id").as_int64() == id);
  CHECK(text(endpoint.at("disabled_reason")).find("410") != std::string::npos);
  // Nothing more is sent to it.
  registry.round({{"cam_a", false}, {"cam_b", true}});
  std::this_thread::sleep_for(1s);
  CHECK(receiver.received().size() == 1);
  const auto deliveries =
      json::parse(api.call("GET", "/api/webhooks/" + std::to_string(id) + "/deliveries").body)
          .as_array();
  REQUIRE(!deliveries.empty());
  CHECK(text(deliveries.back().at("status")) == "failed");
  CHECK(deliveries.back().at("last_status").as_int64() == 410);
}

TEST_CASE(
    "after a kill -9 mid-delivery another api-server resends the same webhook-id when the "
    "lease ends",
    "[e2e][webhooks]") {
  Registry registry;
  Receiver receiver;
  auto first = std::make_unique<ApiServer>(registry.schema.url(), fast_delivery);
  add_endpoint(*first, receiver);
  receiver.control(R"({"plan": [{"hold": true, "times": 1}]})");
  registry.round({{"cam_a", true}});
  REQUIRE(wait_until([&] { return !receiver.received().empty(); }, 10s));
  first->process().signal(SIGKILL);
  REQUIRE(first->process().wait(5s));
  const auto killed_at = std::chrono::steady_clock::now();
  ApiServer second(registry.schema.url(), fast_delivery);
  REQUIRE(registry.all_delivered());
  const auto took = std::chrono::steady_clock::now() - killed_at;
  const auto received = receiver.received();
  REQUIRE(received.size() >= 2);
  CHECK(text(received[0].at("id")) == text(received[1].at("id")));
  CHECK(received[1].at("status").as_int64() == 200);
  CHECK(received[1].at("verified").as_bool());
  // Not before the 3 s lease the killed one took (less what passed before the kill).
  CHECK(received[1].at("at_ms").as_int64() - received[0].at("at_ms").as_int64() >= 2900);
  CHECK(took < 10s);
  CHECK(processed(received).size() ==
        static_cast<std::size_t>(registry.count("SELECT count(*) FROM events")));
}

TEST_CASE("two api-servers deliver each event exactly once between them", "[e2e][webhooks]") {
  Registry registry;
  Receiver receiver;
  ApiServer one(registry.schema.url(), fast_delivery);
  ApiServer two(registry.schema.url(), fast_delivery);
  add_endpoint(one, receiver);
  std::vector<std::pair<std::string, bool>> cameras;
  for (int round = 0; round < 4; ++round) {
    cameras.clear();
    for (int i = 0; i < 25; ++i)
      cameras.emplace_back("cam_" + std::to_string(i), (i + round) % 2 == 0);
    registry.round(cameras);
  }
  const auto events = registry.count("SELECT count(*) FROM events");
  REQUIRE(events >= 100);
  REQUIRE(registry.all_delivered(30s));
  const auto received = receiver.received();
  CHECK(static_cast<long long>(received.size()) == events);
  const auto ok = processed(received);
  CHECK(static_cast<long long>(ok.size()) == events);
  for (const auto& [id, n] : ok) {
    CAPTURE(id);
    CHECK(n == 1);
  }
}

TEST_CASE("webhook administration needs the admin token and refuses bad input", "[e2e][webhooks]") {
  Registry registry;
  Receiver receiver;
  SECTION("no admin token configured: 403") {
    ApiServer api(registry.schema.url(), {"--no-deliver"});
    const auto reply = api.call("GET", "/api/webhooks");
    CHECK(reply.status == 403);
    CHECK(json::parse(reply.body).as_object().contains("detail"));
    CHECK(api.call("POST", "/api/webhooks", R"({"url": "http://x/"})").status == 403);
  }
  SECTION("a wrong or missing token: 401 with WWW-Authenticate") {
    ApiServer api(registry.schema.url(), {"--no-deliver", "--admin-token", admin_token});
    for (const auto& headers :
         {Headers{}, Headers{{"Authorization", "Bearer wrong"}},
          Headers{{"Authorization", std::string("Basic ") + admin_token}},
          Headers{{"Authorization", std::string("Bearer ") + admin_token + "x"}}}) {
      const auto reply = api.call("GET", "/api/webhooks", {}, headers);
      CHECK(reply.status == 401);
      CHECK(reply.header("www-authenticate").starts_with("Bearer"));
      CHECK(json::parse(reply.body).as_object().at("error") == "unauthorized");
    }
  }
  SECTION("with it: create, list (no secret), deliveries, replay, delete") {
    ApiServer api(registry.schema.url(), fast_delivery);
    for (const auto& bad :
         {std::string("not json"), std::string("[]"), std::string(R"({"types": []})"),
          std::string(R"({"url": "ftp://example.com/"})"), std::string(R"({"url": 5})"),
          std::string(R"({"url": "http://127.0.0.1/", "types": ["device.exploded"]})"),
          std::string(R"({"url": "http://127.0.0.1/", "types": "device.online"})"),
          std::string(R"({"url": "http://127.0.0.1/", "colour": "red"})")}) {
      CAPTURE(bad);
      const auto reply = api.call("POST", "/api/webhooks", bad);
      CHECK(reply.status == 400);
      const auto body = json::parse(reply.body).as_object();
      CHECK(body.at("error") == "bad_request");
      CHECK(body.contains("detail"));
    }
    const auto id = add_endpoint(api, receiver, R"(["device.online", "device.added"])");
    const auto list = api.call("GET", "/api/webhooks");
    REQUIRE(list.status == 200);
    const auto endpoints = json::parse(list.body).as_array();
    REQUIRE(endpoints.size() == 1);
    CHECK(!endpoints[0].as_object().contains("secret"));
    CHECK(endpoints[0].at("types").as_array().size() == 2);

    registry.round({{"cam_a", true}, {"cam_b", false}});
    registry.round({{"cam_a", false}, {"cam_b", false}}); // device.state: not wanted
    const auto wanted = registry.count(
        "SELECT count(*) FROM events WHERE type IN ('device.online', 'device.added')");
    REQUIRE(wanted >= 2);
    REQUIRE(registry.count("SELECT count(*) FROM events") > wanted);
    REQUIRE(registry.all_delivered());
    CHECK(static_cast<long long>(receiver.received().size()) == wanted);

    CHECK(api.call("POST", "/api/webhooks/" + std::to_string(id) + "/replay").status == 400);
    CHECK(api.call("POST", "/api/webhooks/" + std::to_string(id) + "/replay?after=x").status ==
          400);
    CHECK(api.call("POST", "/api/webhooks/999999/replay?after=0").status == 404);
    const auto replay = api.call("POST", "/api/webhooks/" + std::to_string(id) + "/replay?after=0");
    REQUIRE(replay.status == 202);
    CHECK(json::parse(replay.body).at("queued").as_int64() == wanted);
    REQUIRE(wait_until(
        [&] { return static_cast<long long>(receiver.received().size()) == 2 * wanted; }, 10s));
    REQUIRE(registry.all_delivered());
    const auto again = processed(receiver.received());
    for (const auto& [msg, n] : again) {
      CAPTURE(msg);
      CHECK(n == 2); // the same webhook-id, sent again on purpose
    }

    CHECK(api.call("GET", "/api/webhooks/x/deliveries").status == 400);
    CHECK(api.call("GET", "/api/webhooks/" + std::to_string(id) + "/deliveries?limit=0").status ==
          400);
    CHECK(api.call("GET", "/api/webhooks/999999/deliveries").status == 404);
    CHECK(api.call("DELETE", "/api/webhooks/" + std::to_string(id)).status == 204);
    CHECK(api.call("DELETE", "/api/webhooks/" + std::to_string(id)).status == 404);
    CHECK(json::parse(api.call("GET", "/api/webhooks").body).as_array().empty());
  }
}

// Not run by default: build/ci/tests/webhooks_test "[.bench]". Prints the time from a
// round's commit to each of its events at the receiver, with 1,000 cameras and 100 of them
// changing state per round.
TEST_CASE("webhook latency from a round's commit to the receiver", "[.bench][webhooks]") {
  Registry registry;
  Receiver receiver;
  ApiServer api(registry.schema.url(), {"--admin-token", admin_token});
  add_endpoint(api, receiver);
  const auto cameras = [](int round) {
    std::vector<std::pair<std::string, bool>> out;
    for (int i = 0; i < 1000; ++i) {
      char name[16];
      std::snprintf(name, sizeof name, "cam_%04d", i);
      // Round r takes cameras [100 (r-1), 100 r) down: a hundred state changes per round.
      out.emplace_back(name, i >= 100 * round);
    }
    return out;
  };
  registry.round(cameras(0));
  REQUIRE(registry.all_delivered(120s));
  std::vector<double> latencies_ms;
  for (int round = 1; round <= 5; ++round) {
    const auto before = receiver.received().size();
    registry.round(cameras(round));
    const auto committed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
    REQUIRE(registry.all_delivered(60s));
    const auto received = receiver.received();
    for (std::size_t i = before; i < received.size(); ++i)
      latencies_ms.push_back(
          static_cast<double>(received[i].at("at_ms").as_int64() - committed_ms));
  }
  REQUIRE(!latencies_ms.empty());
  std::sort(latencies_ms.begin(), latencies_ms.end());
  const auto at = [&](double q) {
    return latencies_ms[static_cast<std::size_t>(q * static_cast<double>(latencies_ms.size() - 1))];
  };
  std::printf("webhooks: %zu events, commit to receiver p50 %.0f ms, p99 %.0f ms, max %.0f ms\n",
              latencies_ms.size(), at(0.5), at(0.99), latencies_ms.back());
  CHECK(at(0.99) <= 1000);
}

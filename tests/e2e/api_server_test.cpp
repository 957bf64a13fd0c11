#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "camreg/metadata.hpp"
#include "camreg/postgres/postgres.hpp"
#include "camreg/time.hpp"
#include "fake_mediamtx.hpp"
#include "fakes.hpp"
#include "http_client.hpp"
#include "pg_test_database.hpp"
#include "private_cluster.hpp"
#include "process.hpp"
#include "scrape.hpp"
#include "wait.hpp"

using namespace camreg;
using namespace camreg::testing;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

// The real api-server on a free port, against a migrated schema.
class ApiServer {
 public:
  explicit ApiServer(const std::string& database_url, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{API_SERVER,
                                  "--database-url",
                                  database_url,
                                  "--listen",
                                  "127.0.0.1:0",
                                  "--web-root",
                                  CAMREG_SOURCE_DIR "/tests/data/web"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process_ = std::make_unique<ChildProcess>(argv);
    const auto line = process_->wait_for("listening", 10s);
    if (!line) FAIL("api-server did not start:\n" << process_->output());
    port_ = std::stoi(line->substr(line->find("port=") + 5));
  }
  HttpReply get(const std::string& target,
                const std::vector<std::pair<std::string, std::string>>& headers = {}) const {
    return http_request("GET", "127.0.0.1", port_, target, {}, headers);
  }
  HttpReply request(const std::string& method, const std::string& target) const {
    return http_request(method, "127.0.0.1", port_, target);
  }
  // Polls until pred holds for a GET of target, or the timeout passes.
  HttpReply wait_until(const std::string& target, const std::function<bool(const HttpReply&)>& pred,
                       std::chrono::milliseconds timeout = 5s) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto reply = get(target);
      if (pred(reply) || std::chrono::steady_clock::now() > deadline) return reply;
      std::this_thread::sleep_for(20ms);
    }
  }
  int port() const { return port_; }
  ChildProcess& process() { return *process_; }

 private:
  std::unique_ptr<ChildProcess> process_;
  int port_ = 0;
};

struct Registry {
  TestSchema schema;
  std::unique_ptr<DeviceRepository> repo;
  TimePoint now = SystemClock().now();

  Registry() {
    postgres::Options options;
    options.database_url = schema.url();
    REQUIRE(postgres::migrate(options));
    repo = postgres::make_device_repository(options);
  }
  void round(const std::vector<std::pair<std::string, bool>>& cameras,
             const std::string& type = "camera") {
    std::vector<PathState> listed;
    for (const auto& [key, healthy] : cameras)
      listed.push_back(healthy ? live_path(key) : connecting_path(key));
    now = SystemClock().now();
    REQUIRE(commit_listing(*repo, listed, now, type));
  }
};

// A keep-alive connection that has been answered one request (GET /healthz) and stays
// open, idle.
int served_keep_alive(int port) {
  const int fd = raw_connect(port);
  REQUIRE(fd >= 0);
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  REQUIRE(write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size()));
  std::string response;
  char buf[512];
  while (response.find(R"({"status":"ok"})") == std::string::npos) {
    const auto n = read(fd, buf, sizeof buf);
    REQUIRE(n > 0);
    response.append(buf, static_cast<std::size_t>(n));
  }
  CHECK(response.rfind("HTTP/1.1 200", 0) == 0);
  return fd;
}

void check_error(const HttpReply& reply, int status, const std::string& detail_words) {
  CAPTURE(reply.body);
  CHECK(reply.status == status);
  CHECK(reply.header("content-type") == "application/json");
  const auto body = json::parse(reply.body).as_object();
  CHECK(body.at("error").is_string());
  CHECK_THAT(std::string(body.at("detail").as_string()), Catch::Contains(detail_words));
}

} // namespace

TEST_CASE("devices come back with every field of the contract", "[e2e][api]") {
  Registry reg;
  reg.round({{"cam1", true}, {"site-a/building.2/cam_1", false}});
  ApiServer api(reg.schema.url());
  const auto reply = api.get("/api/devices?device_type=camera&active_only=false");
  REQUIRE(reply.status == 200);
  CHECK(reply.header("content-type") == "application/json");
  const auto list = json::parse(reply.body).as_array();
  REQUIRE(list.size() == 2);
  const auto& cam = list[0].as_object();
  CHECK(cam.size() == 11);
  CHECK(cam.at("site") == "default");
  CHECK(cam.at("id").is_int64());
  CHECK(cam.at("device_key") == "cam1");
  CHECK(cam.at("device_type") == "camera");
  CHECK(cam.at("name") == "cam1");
  CHECK(cam.at("is_active") == true);
  const auto last_seen = std::string(cam.at("last_seen").as_string());
  CHECK(parse_rfc3339(last_seen).value() == reg.now);
  CHECK(last_seen.back() == 'Z');
  CHECK(parse_rfc3339(std::string(cam.at("created_at").as_string())));
  CHECK(parse_rfc3339(std::string(cam.at("updated_at").as_string())));
  CHECK(parse_rfc3339(std::string(cam.at("state_since").as_string())).value() == reg.now);
  const auto& metadata = cam.at("device_metadata").as_object();
  CHECK(metadata.at("state") == "live");
  CHECK(metadata.at("whep_url") == "http://localhost:8889/cam1/whep");
  CHECK(metadata.at("tracks").as_array().size() == 2);
  const auto& dark = list[1].as_object();
  CHECK(dark.at("last_seen").is_null());
  CHECK(dark.at("is_active") == false);
  CHECK(dark.at("device_metadata").at("state") == "not_ready");
}

TEST_CASE("devices are ordered by key and filtered by type and activity", "[e2e][api]") {
  Registry reg;
  reg.round({{"b", true}, {"a/2", false}, {"A", true}, {"a.1", true}});
  reg.round({{"door-1", true}}, "sensor");
  ApiServer api(reg.schema.url());
  const auto keys = [&](const std::string& target) {
    std::vector<std::string> out;
    const auto reply = api.get(target);
    REQUIRE(reply.status == 200);
    const auto parsed = json::parse(reply.body);
    for (const auto& d : parsed.as_array())
      out.emplace_back(d.at("device_key").as_string());
    return out;
  };
  CHECK(keys("/api/devices?device_type=camera") ==
        std::vector<std::string>{"A", "a.1", "a/2", "b"});
  CHECK(keys("/api/devices?device_type=camera&active_only=true") ==
        std::vector<std::string>{"A", "a.1", "b"});
  CHECK(keys("/api/devices?device_type=camera&active_only=1") ==
        std::vector<std::string>{"A", "a.1", "b"});
  CHECK(keys("/api/devices?active_only=0").size() == 5);
  CHECK(keys("/api/devices?device_type=sensor") == std::vector<std::string>{"door-1"});
  CHECK(keys("/api/devices?device_type=nothing").empty());
}

TEST_CASE("one device by key, with slashes plain or encoded", "[e2e][api]") {
  Registry reg;
  reg.round({{"site-a/building.2/cam_1", true}, {"cam1", true}});
  ApiServer api(reg.schema.url());
  const auto plain = api.get("/api/devices/site-a/building.2/cam_1");
  REQUIRE(plain.status == 200);
  CHECK(json::parse(plain.body).at("device_key") == "site-a/building.2/cam_1");
  const auto encoded = api.get("/api/devices/site-a%2Fbuilding.2%2Fcam_1");
  CHECK(encoded.body == plain.body);
  check_error(api.get("/api/devices/nope"), 404, "nope");
  check_error(api.get("/api/devices/cam1?device_type=sensor"), 404, "cam1");
  check_error(api.get("/api/devices/%zz"), 400, "malformed");
}

TEST_CASE("every malformed request gets the documented status and a JSON body",
          "[e2e][api][errors]") {
  Registry reg;
  ApiServer api(reg.schema.url(), {"--read-timeout", "2s"});
  check_error(api.get("/api/devices?active_only=yes"), 400, "active_only");
  check_error(api.get("/api/devices?device_type="), 400, "device_type");
  check_error(api.get("/api/devices?device_type=x%27%3B%20DROP%20TABLE%20devices%3B--"), 400,
              "device_type");
  check_error(api.get("/api/devices?limit=0"), 400, "limit");
  check_error(api.get("/api/devices?device_type=%G1"), 400, "percent");
  check_error(api.get("/api/nothing"), 404, "no such resource");
  const auto post = api.request("POST", "/api/devices");
  check_error(post, 405, "POST");
  CHECK(post.header("allow") == "GET, HEAD, OPTIONS");
  check_error(api.request("DELETE", "/readyz"), 405, "DELETE");
  check_error(api.get("/api/devices", {{"X-Big", std::string(10000, 'x')}}), 431, "exceed");
  check_error(http_request("GET", "127.0.0.1", api.port(), "/api/devices", std::string(5000, 'b')),
              413, "exceed");
  check_error(api.get("/api/devices?" + std::string(9000, 'a')), 431, "exceed");
  // The database never saw any of it.
  CHECK(reg.schema.scalar("SELECT count(*) FROM devices") == "0");
  CHECK(api.get("/api/devices").status == 200);
}

TEST_CASE("health endpoints tell process and database apart", "[e2e][api]") {
  Registry reg;
  ApiServer api(reg.schema.url());
  CHECK(api.get("/healthz").body == R"({"status":"ok"})");
  // The role is known once the change feed has connected.
  CHECK(api.wait_until("/readyz",
                       [](const HttpReply& r) {
                         return r.body.find("\"role\":\"unknown\"") == std::string::npos;
                       })
            .body ==
        R"({"status":"ready","role":"primary","primary_configured":false,"read_only":false})");
  SECTION("a schema behind the code is not ready") {
    TestSchema empty;
    ApiServer unmigrated(empty.url());
    CHECK(unmigrated.get("/healthz").status == 200);
    check_error(
        unmigrated.wait_until("/readyz", [](const HttpReply& r) { return r.status == 503; }), 503,
        "migrate");
    check_error(unmigrated.get("/api/devices"), 503, "");
  }
}

TEST_CASE("a committed sync round is visible within a second", "[e2e][api][cache]") {
  Registry reg;
  reg.round({{"cam1", true}});
  ApiServer api(reg.schema.url());
  const auto first = api.get("/api/devices?device_type=camera");
  REQUIRE(json::parse(first.body).as_array().size() == 1);
  const auto committed = std::chrono::steady_clock::now();
  reg.round({{"cam1", true}, {"cam2", true}});
  const auto seen = api.wait_until("/api/devices?device_type=camera", [](const HttpReply& r) {
    return json::parse(r.body).as_array().size() == 2;
  });
  const auto took = std::chrono::steady_clock::now() - committed;
  CHECK(json::parse(seen.body).as_array().size() == 2);
  CHECK(took < 1s);
  SECTION("a change made by hand is seen too") {
    reg.schema.exec("UPDATE devices SET name = 'Front door' WHERE device_key = 'cam1'");
    const auto renamed = api.wait_until(
        "/api/devices/cam1",
        [](const HttpReply& r) { return r.body.find("Front door") != std::string::npos; }, 1s);
    CHECK_THAT(renamed.body, Catch::Contains("\"name\":\"Front door\""));
  }
}

TEST_CASE("ETag revalidation, gzip and HEAD", "[e2e][api][cache]") {
  Registry reg;
  std::vector<std::pair<std::string, bool>> cams;
  for (int i = 0; i < 50; ++i)
    cams.emplace_back("cam" + std::to_string(i), i % 2 == 0);
  reg.round(cams);
  ApiServer api(reg.schema.url());
  const auto plain = api.get("/api/devices?device_type=camera");
  const auto etag = plain.header("etag");
  REQUIRE(etag.size() > 2);
  CHECK(plain.header("vary").find("Accept-Encoding") != std::string::npos);
  const auto again = api.get("/api/devices?device_type=camera", {{"If-None-Match", etag}});
  CHECK(again.status == 304);
  CHECK(again.body.empty());
  CHECK(again.header("etag") == etag);
  CHECK(api.get("/api/devices?device_type=camera", {{"If-None-Match", "\"other\""}}).status == 200);

  const auto zipped =
      api.get("/api/devices?device_type=camera", {{"Accept-Encoding", "br, gzip;q=0.8"}});
  CHECK(zipped.header("content-encoding") == "gzip");
  CHECK(zipped.body.size() < plain.body.size() / 3);
  CHECK(gunzip(zipped.body) == plain.body);
  CHECK(api.get("/api/devices?device_type=camera", {{"Accept-Encoding", "gzip;q=0"}})
            .header("content-encoding")
            .empty());

  const auto head =
      http_request("HEAD", "127.0.0.1", api.port(), "/api/devices?device_type=camera");
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  CHECK(head.header("content-length") == std::to_string(plain.body.size()));

  reg.round({{"cam0", false}});
  const auto changed = api.wait_until("/api/devices?device_type=camera",
                                      [&](const HttpReply& r) { return r.header("etag") != etag; });
  CHECK(changed.header("etag") != etag);
  CHECK(api.get("/api/devices?device_type=camera", {{"If-None-Match", etag}}).status == 200);
}

TEST_CASE(
    "the whole list across many gzip blocks is the same plain, gzip, over HTTP/1.0 and by HEAD",
    "[e2e][api][cache]") {
  // 700 cameras: the answer spans blocks of the snapshot and pieces of the streamed body.
  Registry reg;
  std::vector<std::pair<std::string, bool>> cams;
  for (int i = 0; i < 700; ++i)
    cams.emplace_back("cam" + std::to_string(1000 + i), i % 3 != 0);
  reg.round(cams);
  ApiServer api(reg.schema.url());
  const auto plain = api.get("/api/devices?device_type=camera");
  REQUIRE(plain.status == 200);
  REQUIRE(plain.body.size() > 2 * (256 << 10)); // more than two of the session's pieces
  CHECK(plain.header("content-length") == std::to_string(plain.body.size()));
  const auto list = json::parse(plain.body).as_array();
  REQUIRE(list.size() == 700);
  CHECK(list[699].at("device_key") == "cam1699");
  const auto zipped = api.get("/api/devices?device_type=camera", {{"Accept-Encoding", "gzip"}});
  CHECK(zipped.header("content-encoding") == "gzip");
  CHECK(zipped.header("etag") == plain.header("etag"));
  CHECK(gunzip(zipped.body) == plain.body);
  // One device of the last block is its object of the array.
  const auto last = api.get("/api/devices/cam1699");
  REQUIRE(last.status == 200);
  CHECK(json::parse(last.body) == list[699]);

  const auto head =
      http_request("HEAD", "127.0.0.1", api.port(), "/api/devices?device_type=camera");
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  CHECK(head.header("content-length") == std::to_string(plain.body.size()));

  // HTTP/1.0: the same bytes with their Content-Length, then the connection closes.
  const int fd = raw_connect(api.port());
  REQUIRE(fd >= 0);
  const std::string request = "GET /api/devices?device_type=camera HTTP/1.0\r\n\r\n";
  REQUIRE(write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size()));
  std::string response;
  char buf[65536];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;)
    response.append(buf, static_cast<std::size_t>(n));
  close(fd);
  CHECK(response.rfind("HTTP/1.0 200", 0) == 0);
  const auto end = response.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  CHECK_THAT(response.substr(0, end),
             Catch::Contains("Content-Length: " + std::to_string(plain.body.size())));
  CHECK(response.substr(end + 4) == plain.body);

  // HTTP/1.1 keep-alive: after a streamed body the same connection answers the next
  // request (sent at once, behind the first).
  const int kept = raw_connect(api.port());
  REQUIRE(kept >= 0);
  const std::string two =
      "GET /api/devices?device_type=camera HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /api/devices/cam1699 HTTP/1.1\r\nHost: x\r\n"
      "Connection: close\r\n\r\n";
  REQUIRE(write(kept, two.data(), two.size()) == static_cast<ssize_t>(two.size()));
  std::string both;
  for (ssize_t n; (n = read(kept, buf, sizeof buf)) > 0;)
    both.append(buf, static_cast<std::size_t>(n));
  close(kept);
  const auto first_end = both.find("\r\n\r\n");
  REQUIRE(first_end != std::string::npos);
  CHECK(both.substr(first_end + 4, plain.body.size()) == plain.body);
  const auto second = both.substr(first_end + 4 + plain.body.size());
  CHECK(second.rfind("HTTP/1.1 200", 0) == 0);
  const auto second_end = second.find("\r\n\r\n");
  REQUIRE(second_end != std::string::npos);
  CHECK(json::parse(second.substr(second_end + 4)) == list[699]);
}

TEST_CASE("sync status tells when the registry last synced", "[e2e][api]") {
  Registry reg;
  ApiServer api(reg.schema.url());
  const auto none = json::parse(api.get("/api/sync/status").body).as_object();
  CHECK(none.at("last_run").is_null());
  CHECK(none.at("seconds_since_last_ok").is_null());
  reg.round({{"cam1", true}});
  REQUIRE(commit_listing(
      *reg.repo,
      fail(ErrorKind::unavailable, "GET http://127.0.0.1:9997/v3/paths/list: connection refused"),
      SystemClock().now()));
  const auto status = api.wait_until("/api/sync/status", [](const HttpReply& r) {
    return json::parse(r.body).at("runs").as_array().size() == 2;
  });
  const auto body = json::parse(status.body).as_object();
  CHECK(body.at("last_run").at("ok") == false);
  CHECK_THAT(std::string(body.at("last_run").at("error").as_string()), Catch::Contains("refused"));
  CHECK(body.at("last_ok_run").at("paths_seen") == 1);
  CHECK(body.at("seconds_since_last_ok").as_int64() <= 1);
}

TEST_CASE("two hundred concurrent clients are all served", "[e2e][api][load]") {
  Registry reg;
  std::vector<std::pair<std::string, bool>> cams;
  for (int i = 0; i < 100; ++i)
    cams.emplace_back("cam" + std::to_string(i), true);
  reg.round(cams);
  ApiServer api(reg.schema.url(), {"--threads", "2"});
  const auto expected = api.get("/api/devices?device_type=camera").body;
  std::atomic<int> ok{0}, bad{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 200; ++c) {
    clients.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        try {
          const auto r = api.get("/api/devices?device_type=camera");
          (r.status == 200 && r.body == expected ? ok : bad)++;
        } catch (...) {
          bad++;
        }
      }
    });
  }
  for (auto& t : clients)
    t.join();
  CHECK(ok == 1000);
  CHECK(bad == 0);
}

TEST_CASE("a client that sends half a request and stalls is cut off", "[e2e][api][slowloris]") {
  Registry reg;
  ApiServer api(reg.schema.url(), {"--read-timeout", "1s"});
  const int fd = raw_connect(api.port());
  const std::string half = "GET /api/devices HTTP/1.1\r\nHost: x\r\n";
  REQUIRE(write(fd, half.data(), half.size()) == static_cast<ssize_t>(half.size()));
  // Others are served meanwhile.
  CHECK(api.get("/healthz").status == 200);
  const auto started = std::chrono::steady_clock::now();
  char buf[64];
  const auto n = read(fd, buf, sizeof buf); // blocks until the server hangs up
  const auto took = std::chrono::steady_clock::now() - started;
  CHECK(n == 0);
  CHECK(took < 3s);
  close(fd);
}

TEST_CASE("connections beyond the cap are closed at once and served again when one frees",
          "[e2e][api][limits]") {
  Registry reg;
  ApiServer api(reg.schema.url(), {"--max-connections", "3"});
  std::vector<int> idle; // each answered once, so the server surely holds it
  for (int i = 0; i < 3; ++i)
    idle.push_back(served_keep_alive(api.port()));
  const int extra = raw_connect(api.port());
  char buf[16];
  CHECK(read(extra, buf, sizeof buf) == 0); // closed without a word
  close(extra);
  close(idle.back());
  idle.pop_back();
  // The server notices the close on its own time: until then a new client is refused.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  int served = 0;
  while (served != 200 && std::chrono::steady_clock::now() < deadline) {
    try {
      served = api.get("/healthz").status;
    } catch (const std::exception&) {
      std::this_thread::sleep_for(10ms);
    }
  }
  CHECK(served == 200);
  for (const int fd : idle)
    close(fd);
}

TEST_CASE("the dashboard's files are served with a strict policy and never from outside",
          "[e2e][api][static]") {
  Registry reg;
  ApiServer api(reg.schema.url());
  const auto index = api.get("/");
  CHECK(index.status == 200);
  CHECK(index.header("content-type") == "text/html; charset=utf-8");
  CHECK_THAT(index.header("content-security-policy"), Catch::Contains("script-src 'self'"));
  CHECK(index.body == test_data("web/index.html"));
  CHECK(api.get("/app.js").header("content-type") == "text/javascript; charset=utf-8");
  for (const auto* evil : {"/../CMakeLists.txt", "/%2e%2e/CMakeLists.txt", "/..%2fCMakeLists.txt",
                           "/%2E%2E%2F%2E%2E%2Fetc/passwd", "/sub/../../x", "/./index.html",
                           "/index.html%00.js", "/link-out"}) {
    CAPTURE(evil);
    const auto reply = api.get(evil);
    CHECK((reply.status == 404 || reply.status == 400));
    CHECK(reply.body.find("camreg") == std::string::npos);
  }
}

TEST_CASE("CORS answers only the allowed origins", "[e2e][api][cors]") {
  Registry reg;
  ApiServer api(reg.schema.url(), {"--cors-origin", "http://dash.example:3000"});
  const auto allowed = api.get("/api/devices", {{"Origin", "http://dash.example:3000"}});
  CHECK(allowed.header("access-control-allow-origin") == "http://dash.example:3000");
  CHECK_THAT(allowed.header("vary"), Catch::Contains("Origin"));
  const auto other = api.get("/api/devices", {{"Origin", "http://evil.example"}});
  CHECK(other.header("access-control-allow-origin").empty());
  const auto preflight = http_request(
      "OPTIONS", "127.0.0.1", api.port(), "/api/devices", {},
      {{"Origin", "http://dash.example:3000"}, {"Access-Control-Request-Method", "GET"}});
  CHECK(preflight.status == 204);
  CHECK(preflight.header("access-control-allow-methods") == "GET, HEAD, OPTIONS");
}

TEST_CASE("the database stopped and restarted under the running server", "[e2e][api][faults]") {
  PrivateCluster cluster;
  const auto& url = cluster.url();
  postgres::Options options;
  options.database_url = url;
  REQUIRE(postgres::migrate(options));
  {
    ApiServer api(url);
    CHECK(api.get("/readyz").status == 200);
    CHECK(api.get("/api/devices").status == 200);
    cluster.pause();
    check_error(api.wait_until(
                    "/readyz", [](const HttpReply& r) { return r.status == 503; }, 5s),
                503, "");
    check_error(api.get("/api/devices"), 503, "");
    CHECK(api.get("/healthz").status == 200);
    cluster.resume();
    CHECK(api.wait_until(
                 "/readyz", [](const HttpReply& r) { return r.status == 200; }, 10s)
              .status == 200);
    CHECK(api.wait_until(
                 "/api/devices", [](const HttpReply& r) { return r.status == 200; }, 5s)
              .body == "[]");
    CHECK(api.process().wait(0ms) == std::nullopt); // still running
  }
}

TEST_CASE("SIGTERM drains and exits 0", "[e2e][api][signals]") {
  Registry reg;
  ApiServer api(reg.schema.url(), {"--drain-timeout", "2s"});
  const int idle = raw_connect(api.port()); // a keep-alive client doing nothing
  CHECK(api.get("/healthz").status == 200);
  const auto sent = std::chrono::steady_clock::now();
  api.process().signal(SIGTERM);
  CHECK(api.process().wait(5s) == 0);
  CHECK(std::chrono::steady_clock::now() - sent < 2s);
  close(idle);
}

namespace {

bool has_metrics_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

// A connection whose receive buffer is small, so the server's writes wait on our reads.
int small_window_connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  const int size = 16 * 1024;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  const timeval patience{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

void send_all(int fd, const std::string& data) {
  REQUIRE(write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
}

// Reads until the server closes (or the receive timeout), pausing between reads.
std::string read_until_closed(int fd, std::size_t chunk = 64 * 1024,
                              std::chrono::milliseconds pause = 0ms) {
  std::string out;
  std::string buf(chunk, '\0');
  for (;;) {
    const auto n = read(fd, buf.data(), buf.size());
    if (n <= 0) return out;
    out.append(buf.data(), static_cast<std::size_t>(n));
    if (pause > 0ms) std::this_thread::sleep_for(pause);
  }
}

// The body length a response's head announces, and where its body starts.
std::pair<std::size_t, std::size_t> content_length_and_body(const std::string& stream,
                                                            std::size_t from) {
  const auto end = stream.find("\r\n\r\n", from);
  REQUIRE(end != std::string::npos);
  const auto head = stream.substr(from, end - from);
  const auto at = head.find("Content-Length: ");
  REQUIRE(at != std::string::npos);
  return {std::stoul(head.substr(at + 16)), end + 4};
}

} // namespace

TEST_CASE("a real scrape passes promtool and follows the registry", "[e2e][api][metrics]") {
  Registry reg;
  // Anything MediaMTX allows in a path name, and the characters a label must escape.
  const std::string odd = "site \"b\"/cam\\1 caf\xC3\xA9";
  reg.round({{"cam-lobby", true}, {"cam-yard", true}, {odd, true}});
  ApiServer server(reg.schema.url());

  const auto first = server.get("/metrics");
  REQUIRE(first.status == 200);
  CHECK(first.header("content-type") == "text/plain; version=0.0.4; charset=utf-8");
  const auto [verdict, findings] = promtool_check(first.body, reg.schema.name());
  CAPTURE(first.body, findings);
  CHECK(verdict == 0);
  CHECK(findings.empty());
  CHECK(has_metrics_line(
      first.body,
      R"(camreg_device_up{device_type="camera",device_key="site \"b\"/cam\\1 café",site="default"} 1)"));
  CHECK(has_metrics_line(
      first.body,
      R"(camreg_device_up{device_type="camera",device_key="cam-yard",site="default"} 1)"));
  CHECK(has_metrics_line(first.body,
                         R"(camreg_devices{device_type="camera",site="default",state="live"} 3)"));

  // cam-yard stops delivering; the next round after the stale window turns it inactive.
  REQUIRE(commit_listing(
      *reg.repo,
      std::vector<PathState>{live_path("cam-lobby"), connecting_path("cam-yard"), live_path(odd)},
      SystemClock().now() + 6min));
  auto down = server.wait_until("/metrics", [](const HttpReply& r) {
    return has_metrics_line(
        r.body, R"(camreg_device_up{device_type="camera",device_key="cam-yard",site="default"} 0)");
  });
  CAPTURE(down.body);
  CHECK(has_metrics_line(
      down.body,
      R"(camreg_device_up{device_type="camera",device_key="cam-yard",site="default"} 0)"));
  CHECK(has_metrics_line(
      down.body,
      R"(camreg_device_up{device_type="camera",device_key="cam-lobby",site="default"} 1)"));

  // An operator deletes the row: the device is gone from the next scrape.
  reg.schema.exec("DELETE FROM devices WHERE device_key = 'cam-yard'");
  const auto gone = server.wait_until(
      "/metrics", [](const HttpReply& r) { return r.body.find("cam-yard") == std::string::npos; });
  CHECK(gone.body.find("cam-yard") == std::string::npos);
  CHECK(has_metrics_line(gone.body,
                         R"(camreg_devices{device_type="camera",site="default",state="live"} 2)"));
  // Requests so far are labelled by route.
  CHECK(gone.body.find(R"(camreg_http_requests_total{code="200",route="/metrics"})") !=
        std::string::npos);
}

TEST_CASE("per-device series are left out with --metrics-per-device=false", "[e2e][api][metrics]") {
  Registry reg;
  reg.round({{"cam-lobby", true}});
  ApiServer server(reg.schema.url(), {"--metrics-per-device=false"});
  const auto scrape = server.get("/metrics");
  CAPTURE(scrape.body);
  CHECK(has_metrics_line(scrape.body,
                         R"(camreg_devices{device_type="camera",site="default",state="live"} 1)"));
  CHECK(scrape.body.find("device_key") == std::string::npos);
}

TEST_CASE("presence history answers per device and in bulk, and refuses a bad window",
          "[e2e][api][history]") {
  Registry reg;
  reg.round({{"site/cam1", true}, {"cam2", false}});
  ApiServer api(reg.schema.url());
  const auto one = api.get("/api/devices/site/cam1/history");
  REQUIRE(one.status == 200);
  const auto h = json::parse(one.body).as_object();
  CHECK(h.at("device_key") == "site/cam1");
  const auto& intervals = h.at("intervals").as_array();
  REQUIRE(intervals.size() == 1);
  CHECK(intervals[0].at("presence") == "online");
  CHECK(intervals[0].at("to").is_null());
  CHECK(h.at("availability").to_number<double>() == 1.0);
  const auto encoded = api.get("/api/devices/site%2Fcam1/history");
  REQUIRE(encoded.status == 200);
  CHECK(json::parse(encoded.body).at("device_key") == "site/cam1");

  const auto bulk = json::parse(api.get("/api/history?device_type=camera").body).as_object();
  const auto& devices = bulk.at("devices").as_array();
  REQUIRE(devices.size() == 2);
  CHECK(devices[0].at("device_key") == "cam2"); // ordered by key
  CHECK(devices[0].at("intervals").at(0).at("presence") == "offline");
  CHECK(devices[0].at("availability").to_number<double>() == 0.0);

  const auto never = json::parse(api.get("/api/devices/nobody/history").body).as_object();
  CHECK(never.at("intervals").as_array().empty());
  CHECK(never.at("availability").is_null());

  for (const auto* bad : {"/api/history?from=yesterday",
                          "/api/history?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
                          "/api/devices/cam2/history?device_type=camera",
                          "/api/history?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z"}) {
    CAPTURE(bad);
    const auto r = api.get(bad);
    CHECK(r.status == 400);
    CHECK(json::parse(r.body).at("error") == "bad_request");
  }
}

TEST_CASE("an unparsable request after a HEAD still gets its error body", "[e2e][api][errors]") {
  Registry reg;
  ApiServer api(reg.schema.url());
  const int fd = small_window_connect(api.port());
  send_all(fd, "HEAD /api/devices HTTP/1.1\r\nHost: x\r\n\r\nNOT HTTP AT ALL\r\n\r\n");
  const auto stream = read_until_closed(fd);
  close(fd);
  CAPTURE(stream);
  const auto second = stream.find("HTTP/1.1 400");
  REQUIRE(second != std::string::npos);
  const auto [length, body] = content_length_and_body(stream, second);
  REQUIRE(stream.size() == body + length);
  CHECK(json::parse(stream.substr(body)).at("error") == "bad_request");
}

TEST_CASE("a client reading a big list slowly but steadily gets all of it, one that stops is cut",
          "[e2e][api][slow-reader]") {
  Registry reg;
  std::vector<std::pair<std::string, bool>> cams;
  for (int i = 0; i < 10000; ++i)
    cams.emplace_back("camera-" + std::to_string(i), true);
  reg.round(cams);
  ApiServer api(reg.schema.url(), {"--read-timeout", "1s"});
  const std::string request = "GET /api/devices HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  SECTION("steady: 128 kB every 50 ms, several times the deadline in all") {
    const int fd = small_window_connect(api.port());
    send_all(fd, request);
    const auto started = std::chrono::steady_clock::now();
    const auto stream = read_until_closed(fd, 128 * 1024, 50ms);
    close(fd);
    const auto [length, body] = content_length_and_body(stream, 0);
    CHECK(length > 5'000'000);
    CHECK(stream.size() == body + length);
    CHECK(std::chrono::steady_clock::now() - started > 2s);
  }
  SECTION("stopped: the server gives up after the deadline") {
    const int fd = small_window_connect(api.port());
    send_all(fd, request);
    char first[1024];
    REQUIRE(read(fd, first, sizeof first) > 0);
    std::this_thread::sleep_for(3s); // not reading at all
    const auto rest = read_until_closed(fd);
    close(fd);
    const auto [length, body] = content_length_and_body(std::string(first, sizeof first) + rest, 0);
    CHECK(sizeof first + rest.size() < body + length);
  }
}

namespace {

// CPU time (user + system) a process has used so far.
std::chrono::milliseconds cpu_time(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  long long ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stoll(field); // utime, stime
  }
  return std::chrono::milliseconds(ticks * 1000 / sysconf(_SC_CLK_TCK));
}

} // namespace

TEST_CASE("out of descriptors the server neither spins nor stops serving", "[e2e][api][limits]") {
  Registry reg;
  ChildProcess server({"/usr/bin/prlimit", "--nofile=64:64", API_SERVER, "--database-url",
                       reg.schema.url(), "--listen", "127.0.0.1:0", "--max-connections", "1000"});
  const auto line = server.wait_for("listening", 10s);
  REQUIRE(line);
  const int port = std::stoi(line->substr(line->find("port=") + 5));
  CHECK_THAT(server.output(), Catch::Contains("capped at"));
  std::vector<int> burst;
  for (int i = 0; i < 200; ++i) {
    const int fd = raw_connect(port);
    if (fd >= 0) burst.push_back(fd);
  }
  CHECK(burst.size() == 200);
  std::this_thread::sleep_for(200ms); // let it take in the burst before measuring
  const auto before = cpu_time(server.pid());
  std::this_thread::sleep_for(1s);
  const auto used = cpu_time(server.pid()) - before;
  CHECK(used < 300ms);
  for (const int fd : burst)
    close(fd);
  CHECK(wait_until(
      [&] {
        try {
          return http_request("GET", "127.0.0.1", port, "/healthz", {}, {}, 2s).status == 200;
        } catch (const std::exception&) {
          return false;
        }
      },
      10s));
  CHECK(server.wait(0ms) == std::nullopt);
}

TEST_CASE("a silently dead change feed does not freeze the answers", "[e2e][api][faults]") {
  PrivateCluster cluster;
  postgres::Options options;
  options.database_url = cluster.url();
  REQUIRE(postgres::migrate(options));
  auto repo = postgres::make_device_repository(options);
  REQUIRE(commit_listing(*repo, std::vector<PathState>{live_path("cam1")}, SystemClock().now()));
  // No webhook deliverer: its LISTEN connection would be a second one to pick from.
  ApiServer api(cluster.url(), {"--refresh-interval", "1s", "--no-deliver"});
  const auto count = [](const HttpReply& r) { return json::parse(r.body).as_array().size(); };
  REQUIRE(count(api.get("/api/devices")) == 1);
  // The LISTEN backend stops answering: TCP stays up, no NOTIFY arrives, no error either.
  const auto psql = [&](const std::string& sql) {
    return run_command({"/usr/bin/psql", cluster.url(), "-qAt", "-c", sql}).output;
  };
  // Every LISTEN backend: the view's and the event hub's.
  std::vector<int> listeners;
  std::istringstream pids(psql("SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN%'"));
  for (int pid = 0; pids >> pid;)
    listeners.push_back(pid);
  REQUIRE(!listeners.empty());
  for (const int listener : listeners)
    REQUIRE(kill(listener, SIGSTOP) == 0);
  REQUIRE(commit_listing(*repo, std::vector<PathState>{live_path("cam1"), live_path("cam2")},
                         SystemClock().now()));
  const auto seen = api.wait_until(
      "/api/devices", [&](const HttpReply& r) { return r.status == 200 && count(r) == 2; }, 5s);
  for (const int listener : listeners)
    kill(listener, SIGCONT);
  CHECK(count(seen) == 2);
}

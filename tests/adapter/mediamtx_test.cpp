#include <unistd.h>
#include <catch2/catch.hpp>
#include <fstream>
#include <set>

#include "camreg/json_writer.hpp"
#include "camreg/mediamtx/mediamtx.hpp"
#include "camreg/metadata.hpp"
#include "fake_mediamtx.hpp"
#include "http_client.hpp"
#include "wait.hpp"

using namespace camreg;
using namespace camreg::testing;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<PathSource> source_for(const std::string& url, mediamtx::Options options = {}) {
  options.api_url = url;
  auto source = mediamtx::make_path_source(options);
  REQUIRE(source);
  return std::move(*source);
}

// prefix0000, as path_items_json names its items.
std::string camreg_name(const std::string& prefix, int i) {
  const std::string digits = std::to_string(i);
  return prefix + std::string(4 - digits.size(), '0') + digits;
}

// A fault answering every page with status and body, encoded as given.
std::string status_fault(int status, const std::string& content_type, const std::string& body,
                         const std::string& encoding = "utf-8") {
  std::string out;
  JsonWriter json(out);
  json.begin_object();
  json.key("mode");
  json.string("status");
  json.key("status");
  json.number(std::int64_t{status});
  json.key("content_type");
  json.string(content_type);
  json.key("encoding");
  json.string(encoding);
  json.key("body");
  json.string(body);
  json.end_object();
  return out;
}

std::set<std::string> names(const std::vector<PathState>& paths) {
  std::set<std::string> out;
  for (const auto& p : paths)
    out.insert(p.name);
  return out;
}

} // namespace

TEST_CASE("every sample list served by the fake reads back as its cameras", "[mediamtx][fake]") {
  FakeMediamtx fake(
      {"--paths-file", CAMREG_SOURCE_DIR "/tests/data/mediamtx/paths_list_mixed.json"});
  const auto paths = source_for(fake.url())->list_paths();
  REQUIRE(paths);
  REQUIRE(paths->size() == 3);
  CHECK(classify((*paths)[0]) == DeviceState::live);
  CHECK(classify((*paths)[1]) == DeviceState::not_ready);
  CHECK(classify((*paths)[2]) == DeviceState::no_source);

  fake.set_paths(test_data("mediamtx/paths_list_legacy_v1.15.json"));
  const auto legacy = source_for(fake.url())->list_paths();
  REQUIRE(legacy);
  CHECK(names(*legacy) == std::set<std::string>{"cam-lobby", "cam-parking"});
  CHECK(legacy->at(0).available);

  fake.set_paths("[" + test_data("mediamtx/paths_get_nested_name.json") + "," +
                 test_data("mediamtx/paths_get_always_available_offline.json") + "]");
  const auto nested = source_for(fake.url())->list_paths();
  REQUIRE(nested);
  CHECK(names(*nested) == std::set<std::string>{"signage/lobby", "site-a/building.2/cam_1"});

  fake.set_paths(test_data("mediamtx/paths_list_empty.json"));
  const auto empty = source_for(fake.url())->list_paths();
  REQUIRE(empty);
  CHECK(empty->empty());
}

TEST_CASE("250 paths come back from 3 pages of 100", "[mediamtx][fake]") {
  FakeMediamtx fake;
  fake.set_paths(path_items_json("cam", 250));
  mediamtx::Options options;
  options.items_per_page = 100;
  const auto paths = source_for(fake.url(), options)->list_paths();
  REQUIRE(paths);
  CHECK(paths->size() == 250);
  CHECK(names(*paths).size() == 250);
  CHECK(names(*paths).count("cam0249") == 1);
  const auto requests = fake.requests();
  CHECK_THAT(requests, Catch::Contains(R"("page":0,"itemsPerPage":100)"));
  CHECK_THAT(requests, Catch::Contains(R"("page":1,"itemsPerPage":100)"));
  CHECK_THAT(requests, Catch::Contains(R"("page":2,"itemsPerPage":100)"));
  CHECK(requests.find(R"("page":3)") == std::string::npos);
}

// tests/scale's churning MediaMTX: what each walk must find, whichever way the fake
// renders its pages (a name holding the fake's own placeholder digits included).
TEST_CASE("the fake's --churn grows every live path's counters and flips 1% a walk",
          "[mediamtx][fake]") {
  FakeMediamtx fake({"--churn"});
  auto items = path_items_json("cam", 250);
  items.insert(1, path_item_json("cam-4815162342900", true) + ",");
  fake.set_paths(items);
  mediamtx::Options options;
  options.items_per_page = 100;
  const auto source = source_for(fake.url(), options);
  std::vector<PathState> before;
  for (int i = 0; i < 251; ++i) { // as listed: by name, "cam-…" first
    PathState p;
    p.available = i == 0 || (i - 1) % 3 != 0;
    p.inbound_bytes = p.available ? 1000 : 0;
    before.push_back(p);
  }
  for (int walk = 1; walk <= 3; ++walk) {
    const auto paths = source->list_paths();
    REQUIRE(paths);
    REQUIRE(paths->size() == 251);
    for (std::size_t i = 0; i < paths->size(); ++i) {
      const auto& now = (*paths)[i];
      INFO("walk " << walk << ", path " << now.name);
      CHECK(now.unreadable.empty());
      const bool flipped = static_cast<int>(i % 100) == walk % 100;
      CHECK(now.available == (before[i].available != flipped));
      CHECK(now.inbound_bytes == (now.available ? before[i].inbound_bytes + 250000 + i % 1000
                                                : before[i].inbound_bytes));
      CHECK(now.available_time.has_value() == now.available);
    }
    before = *paths;
  }
}

TEST_CASE("a path that appears while the list is walked makes the walk start over",
          "[mediamtx][fake][shrink]") {
  FakeMediamtx fake;
  fake.set_paths(path_items_json("cam", 200));
  // Once page 0 is served, two paths that sort first appear: cam0098 and cam0099 would
  // move to page 1 and be listed twice. itemCount changed, so the list is read again.
  fake.mutate_after_page(
      0, "[" + path_item_json("aaa1", true) + "," + path_item_json("aaa2", true) + "]");
  mediamtx::Options options;
  options.items_per_page = 100;
  const auto paths = source_for(fake.url(), options)->list_paths();
  REQUIRE(paths);
  std::vector<std::string> listed;
  for (const auto& p : *paths)
    listed.push_back(p.name);
  std::vector<std::string> expected{"aaa1", "aaa2"};
  for (int i = 0; i < 200; ++i)
    expected.push_back(camreg_name("cam", i));
  CHECK(listed == expected);
}

TEST_CASE("a list that shrinks while it is walked is walked again and loses no live path",
          "[mediamtx][fake][shrink]") {
  FakeMediamtx fake;
  fake.set_paths(path_items_json("cam", 250));
  mediamtx::Options options;
  options.items_per_page = 100;

  SECTION("once: the second walk is complete") {
    // cam0000 vanishes after page 0: cam0100 slides onto page 0, already read.
    fake.shrink_after_page(0, 1);
    const auto paths = source_for(fake.url(), options)->list_paths();
    REQUIRE(paths);
    std::set<std::string> expected;
    for (int i = 1; i < 250; ++i)
      expected.insert(camreg_name("cam", i));
    CHECK(names(*paths) == expected);
    CHECK(paths->size() == 249);
    const auto requests = fake.requests();
    // Page 0 of the paths was read twice.
    const std::string page0 = R"("page":0,"itemsPerPage":100,"auth":null,"endpoint":"paths")";
    const auto first = requests.find(page0);
    REQUIRE(first != std::string::npos);
    CHECK(requests.find(page0, first + 1) != std::string::npos);
  }
  SECTION("every time: the listing fails and says why") {
    fake.shrink_after_page(0, 10);
    const auto paths = source_for(fake.url(), options)->list_paths();
    REQUIRE_FALSE(paths);
    CHECK(paths.error().kind == ErrorKind::unavailable);
    CHECK_THAT(paths.error().message, Catch::Contains("/v3/paths/list"));
    CHECK_THAT(paths.error().message,
               Catch::Contains("the list changed while its pages were read, 3 walks in a row"));
    CHECK_THAT(paths.error().message, Catch::Contains("itemCount 250 -> 249"));
  }
}

TEST_CASE("every fault fails the whole listing with a clear reason", "[mediamtx][fake][faults]") {
  FakeMediamtx fake;
  fake.set_paths(path_items_json("cam", 30));
  mediamtx::Options options;
  options.items_per_page = 10;
  options.total_timeout = 1500ms;
  options.max_response_bytes = 1 << 20;

  const auto [fault, kind, words] = GENERATE(table<std::string, ErrorKind, std::string>({
      {R"({"mode":"hang","pages":[1]})", ErrorKind::timeout, "timed out"},
      {R"({"mode":"drip"})", ErrorKind::timeout, "timed out"},
      {R"({"mode":"truncate","pages":[2]})", ErrorKind::protocol, "cut short"},
      {R"({"mode":"garbage"})", ErrorKind::protocol, "not valid JSON"},
      {R"({"mode":"oversize","bytes":2000000})", ErrorKind::too_large, "larger than 1048576"},
      {R"({"mode":"wrong_type"})", ErrorKind::protocol, "text/html"},
      {R"({"mode":"gzip"})", ErrorKind::protocol, "Content-Encoding"},
      {R"({"mode":"status_500","pages":[2]})", ErrorKind::protocol, "HTTP 500: terminated"},
  }));
  CAPTURE(fault);
  fake.set_fault(fault);
  const auto started = std::chrono::steady_clock::now();
  const auto paths = source_for(fake.url(), options)->list_paths();
  const auto took = std::chrono::steady_clock::now() - started;
  REQUIRE_FALSE(paths);
  CHECK(paths.error().kind == kind);
  CHECK_THAT(paths.error().message, Catch::Contains(words));
  CHECK_THAT(paths.error().message, Catch::Contains("/v3/paths/list?page="));
  CHECK(took < 3s); // within the timeout, not hanging
  fake.set_fault(R"({"mode":"none"})");
  CHECK(source_for(fake.url(), options)->list_paths());
}

TEST_CASE("MediaMTX error bodies are read as JSON, old shape and new", "[mediamtx][fake][faults]") {
  FakeMediamtx fake;
  fake.set_paths(path_items_json("cam", 3));
  const auto [body, words] = GENERATE(table<std::string, std::string>({
      {R"({"status":"error","error":"path \"cam\" is \"busy\""})",
       R"(HTTP 400: path "cam" is "busy")"},
      {R"({ "error" : "the older shape" })", "HTTP 400: the older shape"},
      {R"({"status":"error","error":"caf\u00e9 closed"})", "HTTP 400: caf\u00e9 closed"},
      {R"({"status":"error","detail":"no \"error\": here"})", R"(HTTP 400: {"status":"error")"},
      {"upstream said no", "HTTP 400: upstream said no"},
  }));
  CAPTURE(body);
  fake.set_fault(status_fault(400, "application/json", body));
  const auto paths = source_for(fake.url())->list_paths();
  REQUIRE_FALSE(paths);
  CHECK(paths.error().kind == ErrorKind::protocol);
  CHECK_THAT(paths.error().message, Catch::Contains(words));
}

TEST_CASE("an error page in Latin-1 or cut inside a character gives a valid UTF-8 message",
          "[mediamtx][fake][faults]") {
  FakeMediamtx fake;
  fake.set_paths(path_items_json("cam", 3));
  // A proxy's 502 page in ISO-8859-1 (every accented letter one invalid byte), and a
  // UTF-8 page whose 120th byte falls inside a two-byte letter.
  const auto [body, encoding] = GENERATE(table<std::string, std::string>({
      {"<html><head><title>502 Passerelle erron\u00e9e</title></head><body>Le serveur "
       "amont a r\u00e9pondu de fa\u00e7on invalide.</body></html>",
       "latin-1"},
      {std::string(119, 'x') + "\u00e9\u00e9\u00e9", "utf-8"},
  }));
  CAPTURE(encoding);
  fake.set_fault(status_fault(502, "text/html; charset=" + encoding, body, encoding));
  const auto paths = source_for(fake.url())->list_paths();
  REQUIRE_FALSE(paths);
  CHECK(paths.error().kind == ErrorKind::protocol);
  const std::string& message = paths.error().message;
  CHECK_THAT(message, Catch::Contains("HTTP 502: "));
  CHECK(to_valid_utf8(message) == message);
  if (encoding == "latin-1") CHECK_THAT(message, Catch::Contains("erron\uFFFDe"));
  if (encoding == "utf-8") CHECK_THAT(message, Catch::EndsWith(std::string(119, 'x')));
}

TEST_CASE("a list with more pages than the limit is refused whole", "[mediamtx][limits]") {
  FakeMediamtx fake;
  fake.set_paths(path_items_json("cam", 30));
  mediamtx::Options options;
  options.items_per_page = 10;
  options.max_pages = 2;
  const auto paths = source_for(fake.url(), options)->list_paths();
  REQUIRE_FALSE(paths);
  CHECK(paths.error().kind == ErrorKind::too_large);
  CHECK_THAT(paths.error().message, Catch::Contains("3 pages, more than the limit of 2"));
  options.max_pages = 3;
  CHECK(source_for(fake.url(), options)->list_paths().value().size() == 30);
}

TEST_CASE("a refused connection and an unresolvable host are unavailable", "[mediamtx][faults]") {
  const auto refused = source_for("http://127.0.0.1:1")->list_paths();
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind == ErrorKind::unavailable);
  CHECK_THAT(refused.error().message, Catch::Contains("refused"));
  const auto unknown = source_for("http://no-such-host.invalid:9997")->list_paths();
  REQUIRE_FALSE(unknown);
  CHECK((unknown.error().kind == ErrorKind::unavailable ||
         unknown.error().kind == ErrorKind::timeout));
}

TEST_CASE("API credentials work as basic or bearer or token and a refusal is clear",
          "[mediamtx][auth]") {
  FakeMediamtx fake({"--user", "camreg", "--password", "s3cret", "--token", "eyJ.jwt.sig"});
  fake.set_paths(path_items_json("cam", 3));

  SECTION("no credentials: 401 with the localhost hint") {
    const auto paths = source_for(fake.url())->list_paths();
    REQUIRE_FALSE(paths);
    CHECK(paths.error().kind == ErrorKind::auth);
    CHECK_THAT(paths.error().message, Catch::Contains("401"));
    CHECK_THAT(paths.error().message, Catch::Contains("authentication error"));
    CHECK_THAT(paths.error().message, Catch::Contains("localhost"));
  }
  SECTION("wrong password") {
    mediamtx::Options options;
    options.user = "camreg";
    options.password = "wrong";
    const auto paths = source_for(fake.url(), options)->list_paths();
    REQUIRE_FALSE(paths);
    CHECK(paths.error().kind == ErrorKind::auth);
    CHECK(paths.error().message.find("wrong") == std::string::npos);
  }
  SECTION("basic") {
    mediamtx::Options options;
    options.user = "camreg";
    options.password = "s3cret";
    CHECK(source_for(fake.url(), options)->list_paths().value().size() == 3);
  }
  SECTION("bearer user:pass") {
    mediamtx::Options options;
    options.token = "camreg:s3cret";
    CHECK(source_for(fake.url(), options)->list_paths().value().size() == 3);
  }
  SECTION("bearer JWT") {
    mediamtx::Options options;
    options.token = "eyJ.jwt.sig";
    CHECK(source_for(fake.url(), options)->list_paths().value().size() == 3);
  }
  SECTION("credentials in the URL are used and never shown") {
    const auto url = "http://camreg:s3cret@127.0.0.1:" + std::to_string(fake.port());
    auto source = source_for(url);
    CHECK(source->list_paths().value().size() == 3);
    CHECK(source->describe() == "http://127.0.0.1:" + std::to_string(fake.port()));
    auto bad = source_for("http://camreg:nope@127.0.0.1:" + std::to_string(fake.port()));
    const auto refused = bad->list_paths();
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message.find("nope") == std::string::npos);
  }
}

TEST_CASE("the fake speaks the upstream contract and not just what the client asks", "[fake]") {
  FakeMediamtx fake;
  fake.set_paths(path_items_json("cam", 5));
  const auto get = [&](const std::string& target) {
    return http_request("GET", "127.0.0.1", fake.port(), target);
  };
  const auto first = get("/v3/paths/list");
  CHECK(first.status == 200);
  CHECK(first.header("content-type") == "application/json; charset=utf-8");
  CHECK(first.body.rfind(R"({"itemCount":5,"pageCount":1,"items":[{"name":"cam0000")", 0) == 0);
  CHECK_THAT(get("/v3/paths/list?page=1&itemsPerPage=2").body,
             Catch::Contains(R"("pageCount":3,"items":[{"name":"cam0002")"));
  CHECK(get("/v3/paths/list?page=7&itemsPerPage=2").body ==
        R"({"itemCount":5,"pageCount":3,"items":[]})");
  const auto bad_page = get("/v3/paths/list?page=x");
  CHECK(bad_page.status == 400);
  CHECK(bad_page.body ==
        R"({"status":"error","error":"strconv.ParseUint: parsing \"x\": invalid syntax"})");
  CHECK(get("/v3/paths/list?itemsPerPage=0").body ==
        R"({"status":"error","error":"invalid items per page"})");
  CHECK(get("/v3/paths/list?page=-1").status == 400);
  CHECK(
      get("/v3/paths/list?page=2147483648").body ==
      R"({"status":"error","error":"strconv.ParseUint: parsing \"2147483648\": value out of range"})");
  const auto missing = get("/v3/paths/get/cam-missing");
  CHECK(missing.status == 404);
  CHECK(missing.body == R"({"status":"error","error":"path not found"})");
  CHECK(get("/v3/paths/get/cam0003").status == 200);
  const auto unknown = get("/v3/nothing");
  CHECK(unknown.status == 404);
  CHECK(unknown.body == "404 page not found");
  CHECK(http_request("DELETE", "127.0.0.1", fake.port(), "/v3/paths/get/cam0003").body ==
        "404 page not found");
  CHECK_THAT(get("/v3/info").body, Catch::Contains(R"("version":"v1.20.1")"));
  // The configuration list: every key, PathConf-shaped with the defaults merged (the
  // field set of the upstream sample), source URLs as configured, paginated alike.
  fake.set_config(
      R"([{"name":"cam-od","source":"rtsp://admin:pw@192.0.2.1/s","sourceOnDemand":true}])");
  const auto config = get("/v3/config/paths/list?page=0&itemsPerPage=2");
  CHECK(config.status == 200);
  CHECK_THAT(
      config.body,
      Catch::StartsWith(
          R"({"itemCount":6,"pageCount":3,"items":[{"name":"cam-od","source":"rtsp://admin:pw@192.0.2.1/s","sourceFingerprint":"","sourceOnDemand":true,)"));
  CHECK_THAT(config.body, Catch::Contains(R"("rpiCameraMJPEGQuality":60,)"));
  CHECK_THAT(config.body, Catch::Contains(R"("runOnRecordSegmentComplete":""})"));
  CHECK(get("/v3/config/paths/get/nope").body ==
        R"({"status":"error","error":"path configuration not found"})");
  CHECK_THAT(get("/v3/paths/get/cam-od").body,
             Catch::Contains(R"("available":false,"availableTime":null,"online":true,)"));

  FakeMediamtx locked({"--user", "u", "--password", "p"});
  const auto anonymous = http_request("GET", "127.0.0.1", locked.port(), "/v3/paths/list");
  CHECK(anonymous.status == 401);
  CHECK(anonymous.header("www-authenticate") == R"(Basic realm="mediamtx")");
  CHECK(anonymous.body == R"({"status":"error","error":"authentication error"})");
  const auto wrong = http_request("GET", "127.0.0.1", locked.port(), "/v3/paths/list", {},
                                  {{"Authorization", "Basic dTp4"}});
  CHECK(wrong.status == 401);
  CHECK(wrong.header("www-authenticate").empty());
}

TEST_CASE("https APIs are verified against the system or a given CA", "[mediamtx][tls]") {
  const auto dir = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") +
                   "/camreg-tls-" + std::to_string(::getpid());
  const auto made = run_command({"/bin/sh", "-c",
                                 "mkdir -p " + dir + " && cd " + dir +
                                     " && openssl req -x509 -newkey rsa:2048 -nodes -days 2 "
                                     "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
                                     "-keyout key.pem -out cert.pem"});
  REQUIRE(made.status == 0);
  std::ofstream(dir + "/paths.json") << path_items_json("cam", 4);
  // Over TLS the fake's plain-HTTP controls are out of reach: paths come from a file.
  FakeMediamtx fake({"--tls-cert", dir + "/cert.pem", "--tls-key", dir + "/key.pem", "--paths-file",
                     dir + "/paths.json"});
  const auto url = "https://127.0.0.1:" + std::to_string(fake.port());

  SECTION("an unknown CA is refused") {
    const auto paths = source_for(url)->list_paths();
    REQUIRE_FALSE(paths);
    CHECK(paths.error().kind == ErrorKind::unavailable);
    CHECK_THAT(paths.error().message, Catch::Contains("TLS"));
  }
  SECTION("the CA file makes it trusted") {
    mediamtx::Options options;
    options.ca_file = dir + "/cert.pem";
    CHECK(source_for(url, options)->list_paths().value().size() == 4);
  }
  SECTION("a certificate for another name is refused even with its CA") {
    mediamtx::Options options;
    options.ca_file = dir + "/cert.pem";
    const auto paths =
        source_for("https://localhost:" + std::to_string(fake.port()), options)->list_paths();
    REQUIRE_FALSE(paths);
    CHECK_THAT(paths.error().message, Catch::Contains("TLS"));
  }
  SECTION("verification can be turned off for a test bench") {
    mediamtx::Options options;
    options.verify_tls = false;
    CHECK(source_for(url, options)->list_paths().value().size() == 4);
  }
  run_command({"/bin/rm", "-rf", dir});
}

TEST_CASE("an unusable API URL or CA file is refused when the source is made", "[mediamtx]") {
  mediamtx::Options options;
  options.api_url = "ftp://mediamtx:9997";
  const auto bad = mediamtx::make_path_source(options);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().kind == ErrorKind::invalid_argument);
  CHECK_THAT(bad.error().message, Catch::Contains("MediaMTX API URL"));
  options.api_url = "https://127.0.0.1:9997";
  options.ca_file = "/nonexistent/ca.pem";
  const auto no_ca = mediamtx::make_path_source(options);
  REQUIRE_FALSE(no_ca);
  CHECK_THAT(no_ca.error().message, Catch::Contains("/nonexistent/ca.pem"));
}

namespace {

const PathState& path_named(const std::vector<PathState>& paths, const std::string& name) {
  for (const auto& p : paths) {
    if (p.name == name) return p;
  }
  FAIL("no path " << name);
  throw std::logic_error("unreachable");
}

} // namespace

TEST_CASE("an alwaysAvailable path whose camera is down is available but not online",
          "[mediamtx][fake][config]") {
  FakeMediamtx fake;
  fake.set_config(
      R"([{"name":"signage","alwaysAvailable":true},)"
      R"({"name":"gate","source":"rtsp://admin:pw@192.0.2.7/s","alwaysAvailable":true}])");
  auto source = source_for(fake.url());
  const auto paths = source->list_paths();
  REQUIRE(paths);
  for (const std::string name : {"signage", "gate"}) {
    CAPTURE(name);
    const auto& path = path_named(*paths, name);
    CHECK(path.unreadable.empty());
    CHECK(path.available);
    CHECK(path.online == false);
    REQUIRE(path.config);
    CHECK(path.config->always_available);
    CHECK_FALSE(path.config->source_on_demand);
    // The placeholder's track, not a camera's.
    REQUIRE(path.tracks.size() == 1);
    CHECK(path.tracks[0].codec == "H264");
  }
  // A publisher path has no source while nobody publishes; a static source is always
  // attached (upstream path.go), so source says nothing about the camera here.
  CHECK_FALSE(path_named(*paths, "signage").source);
  CHECK(path_named(*paths, "gate").source->type == "rtspSource");
  // The placeholder's counters grow like a camera's.
  const auto first = path_named(*paths, "signage").inbound_bytes;
  CHECK(wait_until(
      [&] {
        const auto again = source->list_paths();
        return again && path_named(*again, "signage").inbound_bytes > first;
      },
      5s));

  fake.set_cameras(R"({"signage":{"up":true},"gate":{"up":true}})");
  const auto up = source->list_paths();
  REQUIRE(up);
  for (const std::string name : {"signage", "gate"}) {
    CAPTURE(name);
    const auto& path = path_named(*up, name);
    CHECK(path.available);
    CHECK(path.online == true);
    CHECK(path.config->always_available);
  }
}

TEST_CASE("an idle on-demand camera is told apart by its configuration",
          "[mediamtx][fake][config]") {
  FakeMediamtx fake;
  fake.set_config(
      R"([{"name":"cam-od","source":"rtsp://admin:pw@192.0.2.21/ch1","sourceOnDemand":true},)"
      R"({"name":"cam-always","source":"rtsp://admin:pw@192.0.2.22/ch1"},)"
      R"({"name":"cam-run","runOnDemand":"ffmpeg -i rtsp://cam/x -f rtsp rtsp://localhost/cam-run"}])");
  // The on-demand camera and the always-on one are both up; only the latter runs.
  fake.set_cameras(R"({"cam-od":{"up":true},"cam-always":{"up":false}})");
  auto source = source_for(fake.url());
  const auto paths = source->list_paths();
  REQUIRE(paths);
  const auto& idle = path_named(*paths, "cam-od");
  const auto& failing = path_named(*paths, "cam-always");
  // /v3/paths/list cannot tell these two apart...
  for (const auto* path : {&idle, &failing}) {
    CHECK_FALSE(path->available);
    CHECK(path->online == true);
    REQUIRE(path->source);
    CHECK(path->source->type == "rtspSource");
  }
  // ...the configuration can.
  REQUIRE(idle.config);
  CHECK(idle.config->source_on_demand);
  CHECK_FALSE(idle.config->always_available);
  REQUIRE(failing.config);
  CHECK_FALSE(failing.config->source_on_demand);
  const auto& run = path_named(*paths, "cam-run");
  REQUIRE(run.config);
  CHECK(run.config->run_on_demand);
  CHECK_FALSE(run.config->source_on_demand);

  // A reader starts it.
  fake.set_cameras(R"({"cam-od":{"readers":1}})");
  const auto read = source->list_paths();
  REQUIRE(read);
  CHECK(path_named(*read, "cam-od").available);
  CHECK(path_named(*read, "cam-od").online == true);
  CHECK(path_named(*read, "cam-od").readers.size() == 1);
}

TEST_CASE("paths take the configuration of their confName, regex keys included",
          "[mediamtx][fake][config]") {
  FakeMediamtx fake;
  auto item = path_item_json("site-a/cam_1", false);
  const std::string conf = R"("confName":"site-a/cam_1")";
  item.replace(item.find(conf), conf.size(), R"("confName":"~^site-a/.+$")");
  fake.set_paths("[" + item + "," + path_item_json("plain", true) + "]");
  fake.set_config(R"([{"name":"~^site-a/.+$","sourceOnDemand":true},{"name":"all_others"}])");
  const auto paths = source_for(fake.url())->list_paths();
  REQUIRE(paths);
  const auto& regex = path_named(*paths, "site-a/cam_1");
  REQUIRE(regex.config);
  CHECK(regex.config->source_on_demand);
  // A raw item's own key gets the default configuration.
  REQUIRE(path_named(*paths, "plain").config);
  CHECK_FALSE(path_named(*paths, "plain").config->source_on_demand);
}

TEST_CASE("a configuration list that cannot be read leaves config absent, the list whole",
          "[mediamtx][fake][config]") {
  FakeMediamtx fake;
  fake.set_config(R"([{"name":"cam-od","source":"rtsp://u:p@h/x","sourceOnDemand":true}])");
  fake.set_paths(path_items_json("cam", 3));
  const auto fault = GENERATE(
      std::string(
          R"({"mode":"status","status":404,"content_type":"text/plain","body":"404 page not found"})"),
      std::string(
          R"({"mode":"status","status":401,"content_type":"application/json","body":"{\"status\":\"error\",\"error\":\"authentication error\"}"})"),
      std::string(
          R"({"mode":"status","status":403,"content_type":"application/json","body":"{}"})"),
      std::string(R"({"mode":"garbage"})"), std::string(R"({"mode":"truncate"})"));
  CAPTURE(fault);
  auto endpoints = fault;
  endpoints.insert(endpoints.size() - 1, R"(,"endpoints":["config"])");
  fake.set_fault(endpoints);
  const auto paths = source_for(fake.url())->list_paths();
  REQUIRE(paths);
  CHECK(paths->size() == 4);
  for (const auto& p : *paths) {
    CHECK(p.unreadable.empty());
    CHECK_FALSE(p.config);
  }
  CHECK_THAT(fake.requests(), Catch::Contains(R"("endpoint":"config")"));
}

TEST_CASE("a configuration list that shrinks while it is walked is walked again",
          "[mediamtx][fake][config][shrink]") {
  FakeMediamtx fake;
  std::string confs = "[";
  for (int i = 0; i < 25; ++i)
    confs += std::string(i ? "," : "") + R"({"name":")" + camreg_name("od", i) +
             R"(","source":"rtsp://u:p@h/x","sourceOnDemand":true})";
  fake.set_config(confs + "]");
  mediamtx::Options options;
  options.items_per_page = 10;

  SECTION("once: every path that is still configured has its configuration") {
    fake.shrink_after_page(0, 1, "config");
    const auto paths = source_for(fake.url(), options)->list_paths();
    REQUIRE(paths);
    REQUIRE(paths->size() == 25); // listed before the configuration changed
    for (const auto& p : *paths) {
      CAPTURE(p.name);
      // od0000 was deleted between the two lists: it has no configuration any more.
      CHECK(p.config.has_value() == (p.name != "od0000"));
    }
  }
  SECTION("every time: the configuration is dropped, the listing stands") {
    fake.shrink_after_page(0, 10, "config");
    const auto paths = source_for(fake.url(), options)->list_paths();
    REQUIRE(paths);
    CHECK(paths->size() == 25);
    for (const auto& p : *paths)
      CHECK_FALSE(p.config);
  }
}

TEST_CASE("one odd item is listed as unreadable and the others as usual",
          "[mediamtx][fake][unreadable]") {
  FakeMediamtx fake;
  auto reader_id = path_item_json("cam-reader", true);
  reader_id.replace(reader_id.find(R"("readers":[])"), 12,
                    R"("readers":[{"type":"webRTCSession","id":42}])");
  auto counter = path_item_json("cam-counter", true);
  counter.replace(counter.find(R"("outboundBytes":0)"), 17, R"("outboundBytes":"17")");
  const std::string long_name(mediamtx::max_path_name_bytes + 1, 'n');
  fake.set_paths("[" + path_item_json("cam-a", true) + "," + reader_id + "," + counter + "," +
                 path_item_json(long_name, true) + "," + path_item_json("cam-z", false) + "]");
  const auto paths = source_for(fake.url())->list_paths();
  REQUIRE(paths);
  REQUIRE(paths->size() == 5);
  CHECK(path_named(*paths, "cam-a").unreadable.empty());
  CHECK(path_named(*paths, "cam-a").available);
  CHECK(path_named(*paths, "cam-z").unreadable.empty());
  CHECK_THAT(path_named(*paths, "cam-reader").unreadable,
             Catch::Contains(R"(("cam-reader").readers[0].id: expected a string, got a number)"));
  CHECK_THAT(path_named(*paths, "cam-counter").unreadable,
             Catch::Contains("outboundBytes: expected a non-negative integer, got a string"));
  // The over-long name is not a name: the entry is nameless and says why.
  const auto& nameless = path_named(*paths, "");
  CHECK_THAT(nameless.unreadable, Catch::Contains("name: longer than 1024 bytes"));
  CHECK_FALSE(nameless.config);
  CHECK_FALSE(path_named(*paths, "cam-reader").config);
}

TEST_CASE("credentials in the configuration list reach no path state and no message",
          "[mediamtx][fake][config][credentials]") {
  FakeMediamtx fake;
  const std::string secret = "Sup3rS3cret";
  fake.set_config(
      R"([{"name":"cam-parking","source":"rtsp://admin:)" + secret +
      R"(@192.0.2.21:554/ch1","sourceOnDemand":true,"whepBearerToken":")" + secret +
      R"(","srtReadPassphrase":")" + secret + R"("},)" +
      // Unreadable items: the credential sits where a boolean is expected.
      R"({"name":"cam-odd","alwaysAvailable":"rtsp://admin:)" + secret +
      R"(@192.0.2.22/ch1"},{"name":"cam-num","sourceOnDemand":1,"source":"rtsp://admin:)" + secret +
      R"(@192.0.2.23/ch1"}])");
  const auto everything = [&](const std::vector<PathState>& paths) {
    std::string out;
    for (const auto& p : paths)
      out += p.name + p.conf_name + p.unreadable + render_metadata(p, "http://localhost:8889/x");
    return out;
  };
  auto source = source_for(fake.url());
  const auto paths = source->list_paths();
  REQUIRE(paths);
  CHECK(path_named(*paths, "cam-parking").config->source_on_demand);
  CHECK_FALSE(path_named(*paths, "cam-odd").config); // its configuration could not be read
  CHECK(everything(*paths).find(secret) == std::string::npos);

  // The configuration served as a paths list (a proxy routing wrong): items unreadable,
  // messages free of it.
  fake.set_fault(R"({"mode":"raw","body":")" + [&] {
    std::string escaped;
    for (const char c : http_request("GET", "127.0.0.1", fake.port(), "/v3/config/paths/list").body)
      escaped += c == '"' ? std::string("\\\"") : std::string(1, c);
    return escaped;
  }() + "\"}");
  const auto confused = source->list_paths();
  REQUIRE(confused);
  for (const auto& p : *confused)
    CHECK_FALSE(p.unreadable.empty());
  CHECK(everything(*confused).find(secret) == std::string::npos);
}

#include <unistd.h>
#include <catch2/catch.hpp>
#include <fstream>
#include <set>

#include "camreg/json_writer.hpp"
#include "camreg/mediamtx/mediamtx.hpp"
#include "camreg/metadata.hpp"
#include "fake_mediamtx.hpp"
#include "http_client.hpp"

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

TEST_CASE("a path that shifts onto the next page while the list is walked is returned as listed",
          "[mediamtx][fake]") {
  FakeMediamtx fake;
  fake.set_paths(path_items_json("cam", 200));
  // Once page 0 is served, two paths that sort first appear: cam0098 and cam0099 move
  // to page 1 and are listed again; the new ones are missed until the next round. Which
  // occurrence counts is the core's rule (plan_round), not the adapter's.
  fake.mutate_after_page(
      0, "[" + path_item_json("aaa1", true) + "," + path_item_json("aaa2", true) + "]");
  mediamtx::Options options;
  options.items_per_page = 100;
  const auto paths = source_for(fake.url(), options)->list_paths();
  REQUIRE(paths);
  std::vector<std::string> listed;
  for (const auto& p : *paths)
    listed.push_back(p.name);
  std::vector<std::string> expected;
  for (int i = 0; i < 100; ++i)
    expected.push_back(camreg_name("cam", i));
  for (int i = 98; i < 200; ++i)
    expected.push_back(camreg_name("cam", i));
  CHECK(listed == expected);
  // pageCount grew from 2 to 3 on page 1; the walk followed it.
  CHECK_THAT(fake.requests(), Catch::Contains(R"("page":2)"));
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

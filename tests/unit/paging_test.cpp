// Paged reads of /api/devices (?limit=, the cursor in a Link header) through
// handle_request, without sockets, over a RegistryView of scripted devices.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <future>
#include <set>

#include "devices_snapshot.hpp"
#include "fake_registry.hpp"
#include "handle_request.hpp"
#include "paging.hpp"
#include "take_source.hpp"
#include "wait.hpp"

using namespace camreg;
using namespace camreg::testing;
using namespace camreg::http::detail;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

struct Api {
  FakeChangeFeed* feed = nullptr;
  ScriptedReadRepository* repo = nullptr;
  std::unique_ptr<RegistryView> view;
  Context ctx;

  explicit Api(std::vector<Device> devices) {
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
    auto got = reply.get();
    take_source(got);
    return got;
  }
};

int status(const Reply& reply) {
  return static_cast<int>(reply.res.result_int());
}

std::string link(const Reply& reply) {
  return std::string(reply.res[bhttp::field::link]);
}

// The target of a Link: <target>; rel="next", or "" when there is none.
std::string next_target(const Reply& reply) {
  const auto value = link(reply);
  if (value.empty()) return {};
  REQUIRE(value.front() == '<');
  const auto end = value.find(">; rel=\"next\"");
  REQUIRE(end != std::string::npos);
  return value.substr(1, end - 1);
}

std::vector<std::string> keys_of(const Reply& reply) {
  std::vector<std::string> keys;
  const auto parsed = json::parse(reply.body());
  for (const auto& d : parsed.as_array())
    keys.emplace_back(d.at("device_key").as_string());
  return keys;
}

void check_bad_request(const Reply& reply, const std::string& parameter) {
  CAPTURE(reply.body());
  CHECK(status(reply) == 400);
  CHECK(reply.res[bhttp::field::content_type] == "application/json");
  const auto body = json::parse(reply.body()).as_object();
  CHECK(body.at("error") == "bad_request");
  CHECK(std::string(body.at("detail").as_string()).rfind(parameter + ":", 0) == 0);
}

std::vector<Device> cameras(int n) {
  std::vector<Device> devices;
  for (int i = 0; i < n; ++i) {
    char key[16];
    std::snprintf(key, sizeof key, "cam-%02d", i);
    devices.push_back(camera(key));
  }
  return devices;
}

} // namespace

TEST_CASE("pages walk the list by key, each with a Link to the next but the last",
          "[http][paging]") {
  Api api(cameras(5));
  const auto whole = api.get("/api/devices?device_type=camera");
  const auto first = api.get("/api/devices?device_type=camera&limit=2");
  REQUIRE(status(first) == 200);
  CHECK(keys_of(first) == std::vector<std::string>{"cam-00", "cam-01"});
  // The page is the bare array of the same objects, byte for byte.
  const auto all = json::parse(whole.body()).as_array();
  CHECK(json::parse(first.body()) == json::array{all[0], all[1]});
  const auto next = next_target(first);
  CAPTURE(next);
  CHECK(next.rfind("/api/devices?device_type=camera&limit=2&cursor=", 0) == 0);
  const auto second = api.get(next);
  CHECK(keys_of(second) == std::vector<std::string>{"cam-02", "cam-03"});
  const auto last = api.get(next_target(second));
  CHECK(keys_of(last) == std::vector<std::string>{"cam-04"});
  CHECK(link(last).empty());
  SECTION("a limit as large as the list is one page, without a Link") {
    const auto one = api.get("/api/devices?limit=5");
    CHECK(keys_of(one).size() == 5);
    CHECK(link(one).empty());
    CHECK(keys_of(api.get("/api/devices?limit=10000")).size() == 5);
  }
  SECTION("the cursor replaces the one of the request and keeps every other parameter") {
    const auto again = api.get(next + "&active_only=false");
    CHECK(next_target(again).find("active_only=false&cursor=") != std::string::npos);
    CHECK(next_target(again).find(next.substr(next.find("cursor="))) == std::string::npos);
  }
  SECTION("without limit nothing changes") {
    CHECK(link(whole).empty());
    CHECK(keys_of(whole).size() == 5);
  }
}

TEST_CASE("a page has its own ETag, 304 and gzip", "[http][paging]") {
  Api api(cameras(5));
  const auto page = api.get("/api/devices?limit=2");
  const auto etag = std::string(page.res[bhttp::field::etag]);
  CHECK(etag == etag_of(page.body()));
  CHECK(etag != std::string(api.get("/api/devices").res[bhttp::field::etag]));
  const auto again = api.get("/api/devices?limit=2", {{bhttp::field::if_none_match, etag}});
  CHECK(status(again) == 304);
  CHECK(again.body().empty());
  CHECK(link(again) == link(page));
  const auto zipped = api.get("/api/devices?limit=2", {{bhttp::field::accept_encoding, "gzip"}});
  CHECK(zipped.res[bhttp::field::content_encoding] == "gzip");
  CHECK(zipped.body() == gzip(page.body()));
}

TEST_CASE("a cursor resumes after its device even when that device is gone", "[http][paging]") {
  Api api(cameras(6));
  const auto first = api.get("/api/devices?limit=3");
  REQUIRE(keys_of(first) == std::vector<std::string>{"cam-00", "cam-01", "cam-02"});
  // cam-02 (the cursor's device) and cam-04 go, cam-01a and cam-03a arrive.
  auto devices = cameras(6);
  devices.erase(devices.begin() + 4);
  devices.erase(devices.begin() + 2);
  devices.push_back(camera("cam-01a"));
  devices.push_back(camera("cam-03a"));
  std::sort(devices.begin(), devices.end(),
            [](const Device& a, const Device& b) { return a.device_key < b.device_key; });
  api.repo->set_devices(devices);
  api.feed->announce();
  REQUIRE(wait_until(
      [&] {
        return keys_of(api.get("/api/devices")).size() == 6 &&
               keys_of(api.get("/api/devices"))[2] == "cam-01a";
      },
      5s));
  const auto rest = api.get(next_target(first));
  CHECK(keys_of(rest) == std::vector<std::string>{"cam-03", "cam-03a", "cam-05"});
  CHECK(link(rest).empty());
}

TEST_CASE("the same key of two types is two positions of the walk", "[http][paging]") {
  auto sensor = camera("cam-01");
  sensor.device_type = "sensor";
  Api api({camera("cam-00"), camera("cam-01"), sensor, camera("cam-02")});
  std::vector<std::string> seen;
  std::string target = "/api/devices?limit=1";
  while (!target.empty()) {
    const auto page = api.get(target);
    REQUIRE(status(page) == 200);
    const auto parsed = json::parse(page.body());
    for (const auto& d : parsed.as_array())
      seen.push_back(std::string(d.at("device_key").as_string()) + "/" +
                     std::string(d.at("device_type").as_string()));
    target = next_target(page);
    REQUIRE(seen.size() < 10);
  }
  CHECK(seen == std::vector<std::string>{"cam-00/camera", "cam-01/camera", "cam-01/sensor",
                                         "cam-02/camera"});
}

TEST_CASE("a bad limit or cursor is a 400 naming it", "[http][paging][errors]") {
  Api api(cameras(3));
  for (const auto* limit : {"0", "10001", "abc", "-1", "1.5", "", "+2", "99999999999999999999"}) {
    CAPTURE(limit);
    check_bad_request(api.get(std::string("/api/devices?limit=") + limit), "limit");
  }
  check_bad_request(api.get("/api/devices?limit=1&limit=2"), "limit");
  const auto valid = encode_cursor({"cam-00", "camera"});
  for (const auto& cursor :
       {std::string("!!!"), std::string("AAAA"), std::string("A"), std::string("Y2FtLTAw"),
        valid + "=", valid.substr(1), encode_cursor({"cam-00", "bad type"})}) {
    CAPTURE(cursor);
    check_bad_request(api.get("/api/devices?limit=1&cursor=" + cursor), "cursor");
  }
  check_bad_request(api.get("/api/devices?cursor=" + valid), "cursor");
  check_bad_request(api.get("/api/devices?limit=1&cursor=" + valid + "&cursor=" + valid), "cursor");
  // One device is no list: it takes no paging.
  check_bad_request(api.get("/api/devices/cam-00?limit=1"), "limit");
  CHECK(keys_of(api.get("/api/devices?limit=1&cursor=" + valid)) ==
        std::vector<std::string>{"cam-01"});
}

TEST_CASE("a cursor is the position it was made of, and nothing else decodes", "[http][paging]") {
  const PagePosition position{"site-a/building.2/cam_1\xc3\xa9", "camera"};
  for (std::size_t extra = 0; extra < 3; ++extra) {
    PagePosition p = position;
    p.device_key += std::string(extra, 'x');
    const auto cursor = encode_cursor(p);
    CAPTURE(cursor);
    CHECK(cursor.find_first_not_of(
              "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
          std::string::npos);
    const auto back = decode_cursor(cursor);
    REQUIRE(back);
    CHECK(back->device_key == p.device_key);
    CHECK(back->device_type == "camera");
  }
}

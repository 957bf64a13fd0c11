// Reading past one machine, with the real api-server: on a streaming-replication hot
// standby (where LISTEN/NOTIFY does not reach), and in pages while rounds run.
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "api_server_process.hpp"
#include "camreg/postgres/postgres.hpp"
#include "camreg/time.hpp"
#include "fakes.hpp"
#include "http_client.hpp"
#include "pg_test_database.hpp"
#include "private_cluster.hpp"
#include "process.hpp"
#include "wait.hpp"

using namespace camreg;
using namespace camreg::testing;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

using Steady = std::chrono::steady_clock;

// The real api-server (tests/support/api_server_process.hpp).
struct ApiServer : ApiServerProcess {
  explicit ApiServer(const std::string& database_url, const std::vector<std::string>& extra = {})
      : ApiServerProcess(API_SERVER, database_url, extra) {}
};

// The first column of the first row of sql on url, as text; "" for NULL or no row.
std::string scalar(const std::string& url, const std::string& sql) {
  PGconn* conn = PQconnectdb(url.c_str());
  std::string value;
  if (PQstatus(conn) == CONNECTION_OK) {
    PGresult* res = PQexec(conn, sql.c_str());
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
      value = PQgetvalue(res, 0, 0);
    else if (PQresultStatus(res) != PGRES_COMMAND_OK)
      value = std::string("error: ") + PQerrorMessage(conn);
    PQclear(res);
  } else {
    value = std::string("error: ") + PQerrorMessage(conn);
  }
  PQfinish(conn);
  return value;
}

std::vector<std::string> keys_of(const std::string& body) {
  std::vector<std::string> keys;
  const auto parsed = json::parse(body);
  for (const auto& d : parsed.as_array())
    keys.emplace_back(d.at("device_key").as_string());
  return keys;
}

bool lists(const HttpReply& reply, const std::string& key) {
  if (reply.status != 200) return false;
  const auto keys = keys_of(reply.body);
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

// The target of a Link: <target>; rel="next", or "" when there is none.
std::string next_target(const HttpReply& reply) {
  const auto value = reply.header("link");
  if (value.empty()) return {};
  const auto end = value.find(">; rel=\"next\"");
  REQUIRE((value.front() == '<' && end != std::string::npos));
  return value.substr(1, end - 1);
}

void check_bad_request(const HttpReply& reply, const std::string& parameter) {
  CAPTURE(reply.body);
  CHECK(reply.status == 400);
  CHECK(reply.header("content-type") == "application/json");
  const auto body = json::parse(reply.body).as_object();
  CHECK(body.at("error") == "bad_request");
  CHECK(std::string(body.at("detail").as_string()).rfind(parameter + ":", 0) == 0);
}

std::string key(const char* format, int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, format, i);
  return buf;
}

} // namespace

TEST_CASE("api-server on a hot standby serves a round committed on the primary within a second",
          "[e2e][scale][standby]") {
  PrivateCluster primary;
  postgres::Options options;
  options.database_url = primary.url();
  REQUIRE(postgres::migrate(options));
  auto repo = postgres::make_device_repository(options);
  REQUIRE(commit_listing(*repo, std::vector<PathState>{live_path("cam-a")}, SystemClock().now()));
  StandbyCluster standby(primary.url());
  REQUIRE(scalar(standby.url(), "SELECT pg_is_in_recovery()") == "t");

  ApiServer api(standby.url());
  const auto ready = [&](const ApiServer& server) {
    HttpReply reply;
    wait_until(
        [&] {
          reply = server.get("/readyz");
          return reply.status == 200 && reply.body.find("unknown") == std::string::npos;
        },
        10s);
    return reply;
  };
  // Standby only: it reads, and says it cannot write.
  const auto readiness = ready(api);
  CAPTURE(readiness.body);
  REQUIRE(readiness.status == 200);
  const auto said = json::parse(readiness.body).as_object();
  CHECK(said.at("role") == "standby");
  CHECK(said.at("primary_configured") == false);
  CHECK(said.at("read_only") == true);
  REQUIRE(lists(api.get("/api/devices"), "cam-a"));

  // Each round on the primary reaches the standby's API within 1 s plus the replay lag.
  std::vector<double> api_ms, replay_ms;
  for (int round = 0; round < 3; ++round) {
    const auto camera = "cam-" + std::to_string(round);
    std::vector<PathState> listing{live_path("cam-a")};
    for (int i = 0; i <= round; ++i)
      listing.push_back(live_path("cam-" + std::to_string(i)));
    REQUIRE(commit_listing(*repo, listing, SystemClock().now()));
    const auto committed = Steady::now();
    std::optional<Steady::time_point> replayed, served;
    wait_until(
        [&] {
          if (!replayed &&
              scalar(standby.url(),
                     "SELECT count(*) FROM devices WHERE device_key = '" + camera + "'") == "1")
            replayed = Steady::now();
          if (!served && lists(api.get("/api/devices"), camera)) served = Steady::now();
          return replayed && served;
        },
        10s, 5ms);
    REQUIRE(replayed);
    REQUIRE(served);
    const auto ms = [&](Steady::time_point t) {
      return std::chrono::duration<double, std::milli>(t - committed).count();
    };
    replay_ms.push_back(ms(*replayed));
    api_ms.push_back(ms(*served));
    CHECK(*served - committed < 1s + (*replayed - committed));
  }
  std::cout << "standby: commit on the primary -> replayed on the standby";
  for (const auto v : replay_ms)
    std::cout << " " << v << " ms";
  std::cout << "; -> served by api-server on the standby";
  for (const auto v : api_ms)
    std::cout << " " << v << " ms";
  std::cout << "\n";

  {
    INFO("a rename by hand on the primary is seen too");
    REQUIRE(
        scalar(primary.url(), "UPDATE devices SET name = 'Front door' WHERE device_key = 'cam-a'")
            .rfind("error", 0) != 0);
    const auto renamed = [&] {
      return api.get("/api/devices/cam-a").body.find("Front door") != std::string::npos;
    };
    CHECK(wait_until(renamed, 2s));
  }
  {
    INFO("with a primary configured it says so; on the primary it says primary");
    ApiServer with_primary(standby.url(), {"--primary-database-url", primary.url()});
    const auto both = json::parse(ready(with_primary).body).as_object();
    CHECK(both.at("role") == "standby");
    CHECK(both.at("primary_configured") == true);
    CHECK(both.at("read_only") == false);
    ApiServer on_primary(primary.url());
    const auto own = json::parse(ready(on_primary).body).as_object();
    CHECK(own.at("role") == "primary");
    CHECK(own.at("read_only") == false);
  }
  {
    INFO("a promoted standby is noticed, and its own commits are then notified");
    standby.promote();
    const auto promoted = [&] {
      return api.get("/readyz").body.find("\"role\":\"primary\"") != std::string::npos;
    };
    CHECK(wait_until(promoted, 5s));
    postgres::Options own;
    own.database_url = standby.url();
    auto writer = postgres::make_device_repository(own);
    REQUIRE(commit_listing(*writer, std::vector<PathState>{live_path("cam-promoted")},
                           SystemClock().now()));
    const auto committed = Steady::now();
    CHECK(wait_until([&] { return lists(api.get("/api/devices"), "cam-promoted"); }, 2s));
    CHECK(Steady::now() - committed < 1s);
  }
}

TEST_CASE("a paged walk returns every device present throughout exactly once while rounds run",
          "[e2e][scale][paging]") {
  TestSchema schema;
  postgres::Options options;
  options.database_url = schema.url();
  REQUIRE(postgres::migrate(options));
  auto repo = postgres::make_device_repository(options);
  // Steady devices cam-000, cam-002, …; every round adds new ones between them (cam-001-r7
  // sorts after cam-001 and before cam-002) and deletes the previous round's.
  constexpr int steady = 150;
  std::vector<PathState> base;
  std::set<std::string> expected;
  for (int i = 0; i < steady; ++i) {
    base.push_back(live_path(key("cam-%03d", 2 * i)));
    expected.insert(key("cam-%03d", 2 * i));
  }
  REQUIRE(commit_listing(*repo, base, SystemClock().now()));
  ApiServer api(schema.url());
  REQUIRE(api.get("/api/devices").status == 200);

  std::atomic<bool> stop{false};
  std::atomic<int> rounds{0};
  std::atomic<int> failures{0};
  std::thread writer([&] {
    for (int round = 1; !stop; ++round) {
      auto listing = base;
      for (int i = round % 5; i < 2 * steady; i += 5)
        listing.push_back(live_path(key("cam-%03d", i) + "-r" + std::to_string(round)));
      if (!commit_listing(*repo, listing, SystemClock().now())) ++failures;
      schema.exec("DELETE FROM devices WHERE device_key LIKE '%-r" + std::to_string(round - 1) +
                  "'");
      ++rounds;
      std::this_thread::sleep_for(30ms);
    }
  });

  std::map<std::string, int> seen;
  std::vector<std::string> order;
  int pages = 0;
  const int rounds_before = rounds;
  for (std::string target = "/api/devices?device_type=camera&limit=7"; !target.empty();) {
    const auto page = api.get(target, {{"Accept-Encoding", "identity"}});
    CAPTURE(target, page.body);
    REQUIRE(page.status == 200);
    const auto keys = keys_of(page.body);
    REQUIRE(keys.size() <= 7);
    for (const auto& k : keys) {
      ++seen[k];
      order.push_back(k);
    }
    target = next_target(page);
    if (!target.empty()) REQUIRE(keys.size() == 7);
    REQUIRE(++pages < 1000);
    // Every fourth page waits for another round, so the walk spans several.
    if (pages % 4 == 0) {
      const int now = rounds;
      REQUIRE(wait_until([&] { return rounds > now; }, 10s, 5ms));
    }
  }
  const int rounds_during = rounds - rounds_before;
  stop = true;
  writer.join();
  CHECK(failures == 0);
  std::cout << "paged walk: " << pages << " pages of 7, " << order.size() << " devices, "
            << rounds_during << " rounds committed meanwhile\n";
  CHECK(rounds_during >= 5);
  for (const auto& k : expected) {
    CAPTURE(k);
    CHECK(seen[k] == 1);
  }
  int churned = 0;
  for (const auto& [k, n] : seen) {
    CAPTURE(k);
    CHECK(n == 1);
    churned += expected.count(k) ? 0 : 1;
  }
  CHECK(churned > 0); // the walk did see the registry change under it
  CHECK(std::is_sorted(order.begin(), order.end()));

  SECTION("a bad limit or cursor is a 400 with a JSON body; the last page has no Link") {
    check_bad_request(api.get("/api/devices?limit=0"), "limit");
    check_bad_request(api.get("/api/devices?limit=10001"), "limit");
    check_bad_request(api.get("/api/devices?limit=ten"), "limit");
    check_bad_request(api.get("/api/devices?limit=5&cursor=not-a-cursor"), "cursor");
    check_bad_request(api.get("/api/devices?limit=5&cursor=%25"), "cursor");
    const auto all = api.get("/api/devices?limit=10000");
    CHECK(all.status == 200);
    CHECK(all.header("link").empty());
    CHECK(keys_of(all.body).size() >= steady);
  }
}

TEST_CASE("a page is read from the database: a change no snapshot holds yet is on it",
          "[e2e][scale][paging]") {
  TestSchema schema;
  postgres::Options options;
  options.database_url = schema.url();
  REQUIRE(postgres::migrate(options));
  auto repo = postgres::make_device_repository(options);
  const std::vector<PathState> listing{live_path("cam-1"), live_path("cam-2")};
  REQUIRE(commit_listing(*repo, listing, SystemClock().now()));
  ApiServer api(schema.url());
  const auto whole = "/api/devices?device_type=camera";
  const auto first = "/api/devices?device_type=camera&limit=1";
  REQUIRE(api.get(whole).status == 200);
  const auto before = api.get(first);
  REQUIRE(before.status == 200);
  const auto etag = before.header("etag");
  REQUIRE_FALSE(etag.empty());
  CHECK(api.get(first, {{"If-None-Match", etag}}).status == 304);

  // A rename that notifies nobody: the snapshots stay as they were (until the 30 s timer),
  // while a page, read from the database, has it at once.
  schema.exec("ALTER TABLE devices DISABLE TRIGGER devices_notify_change");
  schema.exec("UPDATE devices SET name = 'renamed' WHERE device_key = 'cam-1'");
  const auto after = api.get(first, {{"If-None-Match", etag}});
  CAPTURE(after.body);
  REQUIRE(after.status == 200);
  CHECK(json::parse(after.body).as_array().at(0).at("name") == "renamed");
  CHECK(after.header("etag") != etag);
  CHECK(api.get(first, {{"If-None-Match", after.header("etag")}}).status == 304);
  CHECK(json::parse(api.get(whole).body).as_array().at(0).at("name") == "cam-1");

  // The next page follows the cursor from the database too; the last has no Link.
  const auto second = api.get(next_target(after));
  REQUIRE(second.status == 200);
  CHECK(keys_of(second.body) == std::vector<std::string>{"cam-2"});
  CHECK(second.header("link").empty());
}

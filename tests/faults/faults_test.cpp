// The reliability campaign: real processes, a real PostgreSQL, the fake MediaMTX; each
// fault is applied for real (kill -9, a stopped server, a flapping source, hostile
// input, abusive clients) and what a user would check is asserted.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>
#include <optional>
#include <thread>

#include "fake_mediamtx.hpp"
#include "http_client.hpp"
#include "pg_test_database.hpp"
#include "private_cluster.hpp"
#include "process.hpp"
#include "wait.hpp"

using namespace camreg::testing;
using namespace std::chrono_literals;

namespace {

std::string scalar(const std::string& url, const std::string& sql) {
  const auto r = run_command({"/usr/bin/psql", url, "-qAt", "-c", sql});
  REQUIRE(r.status == 0);
  auto out = r.output;
  while (!out.empty() && out.back() == '\n')
    out.pop_back();
  return out;
}

std::string fingerprint(const TestSchema& schema) {
  return schema.scalar(
      "SELECT count(*) || ':' || md5(coalesce(string_agg(d::text, '|' ORDER BY id), '')) FROM "
      "devices d");
}

std::vector<std::string> worker_args(const std::string& db, const FakeMediamtx& fake,
                                     std::vector<std::string> extra) {
  std::vector<std::string> args{SYNC_WORKER, "--database-url", db, "--mediamtx-url", fake.url()};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// n path items named cam000000…, every one with the given readiness.
std::string many_paths(int n, bool available) {
  std::string out = "[";
  for (int i = 0; i < n; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "cam%06d", i);
    if (i) out += ',';
    out += path_item_json(name, available);
  }
  return out + "]";
}

// A transaction of another connection holding ACCESS EXCLUSIVE on the schema's devices
// table from construction (once granted) until release() or destruction.
class TableLock {
 public:
  explicit TableLock(const TestSchema& schema)
      : schema_(schema),
        holder_({"/usr/bin/psql", schema.url(), "-qAt", "-c",
                 "BEGIN; LOCK TABLE devices IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3600)"}) {
    REQUIRE(wait_until([&] { return !holder_pid().empty(); }, 10s));
  }
  ~TableLock() { release(); }
  void release() {
    if (released_) return;
    released_ = true;
    schema_.scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE relation = "
        "'devices'::regclass AND mode = 'AccessExclusiveLock' AND granted");
  }

 private:
  std::string holder_pid() const {
    return schema_.scalar(
        "SELECT string_agg(pid::text, ',') FROM pg_locks WHERE relation = "
        "'devices'::regclass AND mode = 'AccessExclusiveLock' AND granted");
  }
  const TestSchema& schema_;
  ChildProcess holder_;
  bool released_ = false;
};

// A PostgreSQL backend stopped with SIGSTOP until the object goes.
struct StoppedBackend {
  explicit StoppedBackend(pid_t backend) : pid(backend) { REQUIRE(kill(pid, SIGSTOP) == 0); }
  ~StoppedBackend() { kill(pid, SIGCONT); }
  pid_t pid;
};

// Reads the child's lines until one contains any of texts; returns it.
std::optional<std::string> wait_for_any(ChildProcess& child, const std::vector<std::string>& texts,
                                        std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto line = child.read_line(std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now()));
    if (!line) return std::nullopt;
    for (const auto& text : texts) {
      if (line->find(text) != std::string::npos) return line;
    }
  }
  return std::nullopt;
}

} // namespace

TEST_CASE("kill -9 in the middle of a 100,000-camera round leaves the table as before it",
          "[faults][kill]") {
  TestSchema schema;
  FakeMediamtx fake;
  fake.set_paths(many_paths(100'000, false));
  REQUIRE(run_command(worker_args(schema.url(), fake, {"--once", "--migrate", "--timeout", "60s"}),
                      {}, 120s)
              .status == 0);
  const auto before = fingerprint(schema);
  CHECK(before.rfind("100000:", 0) == 0);

  // Every camera turns live: the next round rewrites every row.
  fake.set_paths(many_paths(100'000, true));
  ChildProcess worker(worker_args(schema.url(), fake, {"--once", "--timeout", "60s"}));
  // Wait until the round is inside its transaction, writing.
  REQUIRE(wait_until(
      [&] {
        return schema.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = '" +
                             schema.name() +
                             "' AND state = 'active' AND (query LIKE 'COPY camreg_round_writes%' "
                             "OR query LIKE '%camreg_round_writes i%')") != "0";
      },
      30s, 50ms));
  kill(worker.pid(), SIGKILL);
  CHECK(worker.wait(5s) == 128 + SIGKILL);
  // The server notices the lost client and rolls back; nothing of the round remains.
  CHECK(wait_until(
      [&] {
        return schema.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = '" +
                             schema.name() + "' AND pid <> pg_backend_pid() AND state <> 'idle'") ==
               "0";
      },
      10s, 50ms));
  CHECK(fingerprint(schema) == before);
  CHECK(schema.scalar("SELECT count(*) FROM sync_runs") == "1");

  const auto next =
      run_command(worker_args(schema.url(), fake, {"--once", "--timeout", "60s"}), {}, 120s);
  INFO(next.output);
  CHECK(next.status == 0);
  CHECK(schema.scalar("SELECT count(*) FROM devices WHERE is_active") == "100000");
  CHECK(schema.scalar("SELECT count(*) FROM sync_runs") == "2");
}

TEST_CASE("PostgreSQL down for a while under load: both processes report it, stay up and recover",
          "[faults][outage]") {
  const auto outage = std::chrono::seconds(
      std::getenv("CAMREG_OUTAGE_SECONDS") ? std::atoi(std::getenv("CAMREG_OUTAGE_SECONDS")) : 30);
  PrivateCluster db;
  FakeMediamtx fake;
  fake.set_paths(path_items_json("cam", 50));
  REQUIRE(run_command({SYNC_WORKER, "--database-url", db.url(), "--migrate-only"}).status == 0);
  ChildProcess worker(worker_args(db.url(), fake, {"--interval", "1s", "--stale-after", "10m"}));
  ChildProcess api(
      {API_SERVER, "--database-url", db.url(), "--listen", "127.0.0.1:0", "--web-root", ""});
  const auto listening = api.wait_for("listening", 10s);
  REQUIRE(listening);
  const int port = std::stoi(listening->substr(listening->find("port=") + 5));
  REQUIRE(worker.wait_for("synced 50 paths", 10s));

  // Clients hammer the API through the whole outage.
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, unavailable{0}, other{0};
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&] {
      while (!stop) {
        try {
          const auto r = http_request("GET", "127.0.0.1", port, "/api/devices?device_type=camera");
          (r.status == 200 ? ok : r.status == 503 ? unavailable : other)++;
        } catch (...) {
          other++;
        }
        std::this_thread::sleep_for(5ms); // a steady load, not a flood
      }
    });
  }
  // The outage starts once the load is being served.
  REQUIRE(wait_until([&] { return ok >= 20; }, 10s));
  db.pause();
  const auto down_at = std::chrono::steady_clock::now();
  int readyz_503 = 0;
  // The outage lasting is the point: probe readiness twice a second until it is over.
  while (std::chrono::steady_clock::now() - down_at < outage) {
    if (http_request("GET", "127.0.0.1", port, "/readyz").status == 503) ++readyz_503;
    std::this_thread::sleep_for(500ms);
  }
  CHECK(readyz_503 > 0);
  CHECK(api.wait_for("database: not ready", 2s));
  CHECK(worker.wait_for("round: database:", 2s));
  CHECK_FALSE(worker.wait(0ms).has_value());
  CHECK_FALSE(api.wait(0ms).has_value());
  db.resume();
  CHECK(wait_until([&] { return http_request("GET", "127.0.0.1", port, "/readyz").status == 200; },
                   10s, 100ms));
  // The worker's next rounds commit again.
  REQUIRE(worker.wait_for("synced 50 paths", 15s));
  stop = true;
  for (auto& t : load)
    t.join();
  INFO("ok " << ok << " unavailable " << unavailable << " other " << other);
  CHECK(unavailable > 0);
  CHECK(other == 0);
  CHECK(ok > 0);
  CHECK(api.wait_for("database: ready", 2s));
  // No round is half applied: every recorded run wrote all 50 paths or none.
  CHECK(scalar(db.url(), "SELECT count(*) FROM sync_runs WHERE ok AND paths_seen <> 50") == "0");
  CHECK(scalar(db.url(), "SELECT count(*) FROM devices") == "50");
  worker.signal(SIGTERM);
  api.signal(SIGTERM);
  CHECK(worker.wait(5s) == 0);
  CHECK(api.wait(10s) == 0);
}

TEST_CASE("a flapping MediaMTX converges within two rounds once it settles", "[faults][flap]") {
  TestSchema schema;
  FakeMediamtx fake;
  const auto once = [&] {
    return run_command(worker_args(
        schema.url(), fake,
        {"--once", "--migrate", "--stale-after", "1s", "--interval", "1s", "--timeout", "2s"}));
  };
  const std::string a_live =
      "[" + path_item_json("a", true) + "," + path_item_json("b", true) + "]";
  const std::string a_dark =
      "[" + path_item_json("a", false) + "," + path_item_json("b", true) + "]";
  for (int round = 0; round < 6; ++round) {
    fake.set_paths(round % 2 ? a_dark : a_live);
    if (round == 2) fake.set_fault(R"({"mode":"status_500"})");
    if (round == 3) fake.set_fault(R"({"mode":"none"})");
    if (round == 4) fake.mutate_after_page(0, "[" + path_item_json("0-new", true) + "]");
    once();
    if (round == 1) {
      // The API gone altogether for a round: connection refused.
      CHECK(run_command(worker_args(schema.url(), fake,
                                    {"--once", "--stale-after", "1s", "--interval", "1s",
                                     "--mediamtx-url", "http://127.0.0.1:1"}))
                .status == 3);
    }
  }
  // MediaMTX settles: c appears, b goes away, a is dark.
  fake.set_fault(R"({"mode":"none"})");
  fake.set_paths("[" + path_item_json("a", false) + "," + path_item_json("c", true) + "]");
  // Until every camera was last seen over the 1 s stale window ago: the next round expires
  // what it does not see live.
  REQUIRE(wait_until(
      [&] {
        return schema.scalar(
                   "SELECT coalesce(bool_and(now() - last_seen > interval '1 s'), "
                   "true) FROM devices") == "t";
      },
      10s));
  REQUIRE(once().status == 0);
  // One absence is not removal (MediaMTX drops a path from one listing while it recreates
  // it): b is removed by the second listing without it.
  REQUIRE(once().status == 0);
  const auto state = [&](const std::string& key) {
    return schema.scalar(
        "SELECT device_metadata->>'state' || ' ' || is_active FROM devices WHERE device_key = '" +
        key + "'");
  };
  CHECK(state("a") == "not_ready false");
  CHECK(state("b") == "removed false");
  CHECK(state("c") == "live true");
  CHECK(schema.scalar("SELECT count(*) FROM devices WHERE is_active") == "1");
}

TEST_CASE("hostile MediaMTX replies are a clear error or a stored row, never a crash",
          "[faults][hostile]") {
  TestSchema schema;
  FakeMediamtx fake;
  const auto once = [&] {
    return run_command(worker_args(schema.url(), fake, {"--once", "--migrate"}), {}, 60s);
  };
  SECTION("a name at the length limit is stored, one over is skipped and the rest stored") {
    const std::string limit(1024, 'n');
    fake.set_paths("[" + path_item_json(limit, true) + "]");
    CHECK(once().status == 0);
    CHECK(schema.scalar("SELECT length(device_key) FROM devices") == "1024");
    fake.set_paths("[" + path_item_json(limit + "n", true) + "," + path_item_json("ok", true) +
                   "]");
    const auto r = once();
    INFO(r.output);
    CHECK(r.status == 0); // one odd item does not sink the round
    CHECK(schema.scalar("SELECT count(*) FROM devices WHERE device_key = 'ok'") == "1");
    CHECK(schema.scalar("SELECT count(*) FROM devices") == "2");
    CHECK(schema.scalar("SELECT skipped FROM sync_runs ORDER BY id DESC LIMIT 1") == "1");
    CHECK_THAT(schema.scalar("SELECT skipped_reasons FROM sync_runs ORDER BY id DESC LIMIT 1"),
               Catch::Contains("longer than 1024 bytes"));
  }
  SECTION("a one-megabyte field value is stored whole") {
    auto item = path_item_json("big", true);
    const std::string empty_id = R"("source":{"type":"rtspSource","id":"")";
    item.replace(item.find(empty_id), empty_id.size(),
                 R"("source":{"type":"rtspSource","id":")" + std::string(1 << 20, 'x') + "\"");
    fake.set_paths("[" + item + "]");
    CHECK(once().status == 0);
    CHECK(schema.scalar("SELECT length(device_metadata->>'source_id') FROM devices") == "1048576");
  }
  SECTION("deeply nested JSON is refused, nothing written") {
    auto deep = path_item_json("deep", true);
    deep.insert(deep.size() - 1,
                R"(,"x":)" + std::string(100'000, '[') + std::string(100'000, ']'));
    // Served verbatim: the fake itself would not parse it back.
    std::string body = R"({"itemCount":1,"pageCount":1,"items":[)" + deep + "]}";
    std::string escaped;
    for (const char c : body)
      escaped += c == '"' ? std::string("\\\"") : std::string(1, c);
    fake.set_fault(R"({"mode":"raw","body":")" + escaped + "\"}");
    const auto r = once();
    CHECK(r.status == 3);
    CHECK_THAT(r.output, Catch::Contains("not valid JSON"));
    CHECK(schema.scalar("SELECT count(*) FROM devices") == "0");
  }
  SECTION("a hundred thousand readers make one bounded row") {
    auto item = path_item_json("popular", true);
    std::string readers = R"("readers":[)";
    for (int i = 0; i < 100'000; ++i)
      readers += std::string(i ? "," : "") + R"({"type":"webRTCSession","id":"r)" +
                 std::to_string(i) + "\"}";
    const std::string no_readers = R"("readers":[])";
    item.replace(item.find(no_readers), no_readers.size(), readers + "]");
    fake.set_paths("[" + item + "]");
    CHECK(once().status == 0);
    CHECK(schema.scalar("SELECT (device_metadata->>'reader_count') || ' ' || "
                        "jsonb_array_length(device_metadata->'readers') "
                        "FROM devices") == "100000 100");
  }
}

TEST_CASE("invalid UTF-8 from MediaMTX is refused with nothing written", "[faults][hostile]") {
  TestSchema schema;
  FakeMediamtx fake;
  fake.set_fault(R"({"mode":"invalid_utf8"})");
  const auto r = run_command(worker_args(schema.url(), fake, {"--once", "--migrate"}));
  CHECK(r.status == 3);
  CHECK_THAT(r.output, Catch::Contains("not valid JSON"));
  CHECK(schema.scalar("SELECT count(*) FROM devices") == "0");
}

// Timeouts are given through the environment so that a build without the options (which
// ignores unknown variables) shows the hang instead of refusing an unknown option.
TEST_CASE(
    "a held ACCESS EXCLUSIVE lock on devices fails the round and the reads within the "
    "lock timeout",
    "[faults][timeouts]") {
  TestSchema schema;
  FakeMediamtx fake;
  fake.set_paths(path_items_json("cam", 5));
  REQUIRE(run_command(worker_args(schema.url(), fake, {"--once", "--migrate"})).status == 0);
  const std::vector<std::string> env{"CAMREG_DB_LOCK_TIMEOUT=1s", "CAMREG_DB_STATEMENT_TIMEOUT=3s"};
  ChildProcess api(
      {API_SERVER, "--database-url", schema.url(), "--listen", "127.0.0.1:0", "--web-root", ""},
      env);
  const auto listening = api.wait_for("listening", 10s);
  REQUIRE(listening);
  const int port = std::stoi(listening->substr(listening->find("port=") + 5));
  TableLock lock(schema);

  auto started = std::chrono::steady_clock::now();
  const auto round = run_command(worker_args(schema.url(), fake, {"--once"}), env, 30s);
  const auto round_took = std::chrono::steady_clock::now() - started;
  INFO(round.output);
  CHECK(round.status == 5);
  CHECK_THAT(round.output, Catch::Contains("lock timeout"));
  CHECK(round_took < 8s);

  // A query no snapshot holds yet goes to the database and meets the lock.
  started = std::chrono::steady_clock::now();
  const auto devices =
      http_request("GET", "127.0.0.1", port, "/api/devices?device_type=camera", {}, {}, 20s);
  const auto read_took = std::chrono::steady_clock::now() - started;
  CHECK(devices.status == 503);
  CHECK(read_took < 8s);
  started = std::chrono::steady_clock::now();
  CHECK_NOTHROW(http_request("GET", "127.0.0.1", port, "/readyz", {}, {}, 5s));
  CHECK(std::chrono::steady_clock::now() - started < 5s);

  lock.release();
  CHECK(wait_until(
      [&] {
        return http_request("GET", "127.0.0.1", port, "/api/devices?device_type=camera").status ==
               200;
      },
      10s, 100ms));
  CHECK(run_command(worker_args(schema.url(), fake, {"--once"}), env).status == 0);
  api.signal(SIGTERM);
  CHECK(api.wait(10s) == 0);
}

TEST_CASE(
    "a stopped PostgreSQL backend fails a round of the worker within the bound and the "
    "worker keeps looping",
    "[faults][timeouts]") {
  TestSchema schema;
  FakeMediamtx fake;
  fake.set_paths(path_items_json("cam", 5));
  REQUIRE(run_command(worker_args(schema.url(), fake, {"--migrate-only"})).status == 0);
  ChildProcess worker(worker_args(schema.url(), fake, {"--interval", "1s", "--stale-after", "10m"}),
                      {"CAMREG_DB_STATEMENT_TIMEOUT=2s"});
  REQUIRE(worker.wait_for("synced 5 paths", 10s));
  // The test schema's URL names its connections after the schema; the worker's other
  // connection listens for round requests (LISTEN, then probes of SELECT 1).
  const auto backends = schema.scalar(
      "SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE "
      "application_name = '" +
      schema.name() +
      "' AND pid <> pg_backend_pid() AND query NOT LIKE 'LISTEN %' AND query <> 'SELECT 1'");
  INFO("backends " << backends);
  REQUIRE(!backends.empty());
  REQUIRE(backends.find(',') == std::string::npos);
  {
    const StoppedBackend stopped(std::stoi(backends));
    const auto stopped_at = std::chrono::steady_clock::now();
    const auto cut = worker.wait_for("connection cut", 20s);
    INFO(worker.output());
    REQUIRE(cut);
    // 2 s statement timeout + 2 s grace, after at most one interval.
    CHECK(std::chrono::steady_clock::now() - stopped_at < 7s);
    // The next round opens a new connection; the stopped backend may hold the round's
    // lock if it was stopped mid-round, which skips rounds without failing them.
    CHECK(wait_for_any(worker, {"synced 5 paths", "skipped"}, 10s));
    CHECK_FALSE(worker.wait(0ms).has_value());
  }
  CHECK(worker.wait_for("synced 5 paths", 15s));
  worker.signal(SIGTERM);
  CHECK(worker.wait(5s) == 0);
}

TEST_CASE("API abuse gets the documented statuses while normal clients are served",
          "[faults][abuse]") {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 8192);
  setrlimit(RLIMIT_NOFILE, &limit); // the api-server child inherits it
  TestSchema schema;
  FakeMediamtx fake;
  fake.set_paths(path_items_json("cam", 20));
  REQUIRE(run_command(worker_args(schema.url(), fake, {"--once", "--migrate"})).status == 0);
  ChildProcess api({API_SERVER, "--database-url", schema.url(), "--listen", "127.0.0.1:0",
                    "--web-root", CAMREG_SOURCE_DIR "/apps/dashboard", "--read-timeout", "30s"});
  const auto listening = api.wait_for("listening", 10s);
  REQUIRE(listening);
  const int port = std::stoi(listening->substr(listening->find("port=") + 5));
  const auto expected =
      http_request("GET", "127.0.0.1", port, "/api/devices?device_type=camera").body;

  std::vector<int> idle;
  for (int i = 0; i < 1000; ++i) {
    const int fd = raw_connect(port);
    REQUIRE(fd >= 0);
    idle.push_back(fd);
  }
  for (int i = 0; i < 20; ++i) {
    const auto r = http_request("GET", "127.0.0.1", port, "/api/devices?device_type=camera");
    CHECK(r.status == 200);
    CHECK(r.body == expected);
  }
  const auto status = [&](const std::string& target,
                          const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    return http_request("GET", "127.0.0.1", port, target, {}, headers).status;
  };
  CHECK(status("/" + std::string(20'000, 'a')) == 431);
  CHECK(status("/api/devices", {{"X-Filler", std::string(20'000, 'h')}}) == 431);
  for (const auto* path :
       {"/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc%2fpasswd",
        "/%2E%2E/CMakeLists.txt", "/static/..%5c..%5cwin.ini"}) {
    CAPTURE(path);
    const auto s = status(path);
    CHECK((s == 404 || s == 400));
  }
  for (const auto* query :
       {"device_type=camera'%20OR%201=1--", "device_type=camera%3B%20DROP%20TABLE%20devices",
        "active_only=1%20OR%201=1", "device_type=%00"}) {
    CAPTURE(query);
    CHECK(status(std::string("/api/devices?") + query) == 400);
  }
  CHECK(http_request("GET", "127.0.0.1", port, "/api/devices?device_type=camera").body == expected);
  for (const int fd : idle)
    close(fd);
  CHECK_FALSE(api.wait(0ms).has_value());
}

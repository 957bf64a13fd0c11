#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <thread>

#include "fake_mediamtx.hpp"
#include "http_client.hpp"
#include "pg_test_database.hpp"
#include "process.hpp"
#include "scrape.hpp"
#include "wait.hpp"

using namespace camreg::testing;
using namespace std::chrono_literals;

namespace {

// The real executable against a real PostgreSQL schema and the fake MediaMTX.
struct Stack {
  TestSchema schema;
  FakeMediamtx fake;

  std::vector<std::string> argv(std::vector<std::string> extra) const {
    std::vector<std::string> args{SYNC_WORKER, "--database-url", schema.url(), "--mediamtx-url",
                                  fake.url()};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  CommandResult once(std::vector<std::string> extra = {}) const {
    extra.insert(extra.begin(), "--once");
    return run_command(argv(extra));
  }
  std::string q(const std::string& sql) const { return schema.scalar(sql); }
  std::string active(const std::string& key) const {
    return q("SELECT is_active FROM devices WHERE device_key = '" + key + "'");
  }
  std::string state(const std::string& key) const {
    return q("SELECT device_metadata->>'state' FROM devices WHERE device_key = '" + key + "'");
  }
  std::string table() const {
    return q("SELECT coalesce(string_agg(d::text, '|' ORDER BY id), '') FROM devices d");
  }
  // Waits until every camera was last seen longer ago than window (a PostgreSQL
  // interval), so the next round expires the ones it does not see live again.
  bool wait_stale(const std::string& window) const {
    return wait_until(
        [&] {
          return q("SELECT coalesce(bool_and(now() - last_seen > interval '" + window +
                   "'), true) FROM devices") == "t";
        },
        10s);
  }
  // The number of list requests the fake MediaMTX has received.
  std::size_t requests_seen() const {
    const auto log = fake.requests();
    std::size_t n = 0;
    for (auto at = log.find("\"page\""); at != std::string::npos; at = log.find("\"page\"", at + 1))
      ++n;
    return n;
  }
};

std::string two_cameras(bool first_ready) {
  return "[" + path_item_json("cam1", first_ready) + "," + path_item_json("site/cam2", true) + "]";
}

} // namespace

TEST_CASE("cameras appear after one round", "[e2e][sync-worker]") {
  Stack s;
  s.fake.set_paths(two_cameras(true) /* plus one idle */);
  const auto r = s.once({"--migrate"});
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(s.q("SELECT count(*) FROM devices WHERE is_active") == "2");
  CHECK(s.q("SELECT device_metadata->>'whep_url' FROM devices WHERE device_key = 'site/cam2'") ==
        "http://localhost:8889/site/cam2/whep");
  CHECK_THAT(r.output, Catch::Contains("round: synced 2 paths"));
  CHECK_THAT(r.output, Catch::Contains("newly_active=2"));
  CHECK(s.q("SELECT ok FROM sync_runs") == "t");
}

TEST_CASE("a camera that stops being ready stays active until the stale window passes",
          "[e2e][sync-worker]") {
  Stack s;
  s.fake.set_paths(two_cameras(true));
  REQUIRE(s.once({"--migrate", "--stale-after", "2s", "--interval", "1s"}).status == 0);
  s.fake.set_paths(two_cameras(false));
  REQUIRE(s.once({"--stale-after", "2s", "--interval", "1s"}).status == 0);
  CHECK(s.active("cam1") == "t");
  CHECK(s.state("cam1") == "not_ready");
  REQUIRE(s.wait_stale("2 s"));
  const auto r = s.once({"--stale-after", "2s", "--interval", "1s"});
  REQUIRE(r.status == 0);
  CHECK(s.active("cam1") == "f");
  CHECK(s.active("site/cam2") == "t");
  CHECK_THAT(r.output, Catch::Contains("expired=1"));
}

TEST_CASE("a camera removed from MediaMTX expires the same way and its row stays",
          "[e2e][sync-worker]") {
  Stack s;
  s.fake.set_paths(two_cameras(true));
  REQUIRE(s.once({"--migrate", "--stale-after", "2s", "--interval", "1s"}).status == 0);
  s.fake.set_paths("[" + path_item_json("site/cam2", true) + "]");
  REQUIRE(s.once({"--stale-after", "2s", "--interval", "1s"}).status == 0);
  CHECK(s.state("cam1") == "live"); // one absence is not removal
  REQUIRE(s.once({"--stale-after", "2s", "--interval", "1s"}).status == 0);
  CHECK(s.state("cam1") == "removed");
  CHECK(s.active("cam1") == "t");
  REQUIRE(s.wait_stale("2 s"));
  REQUIRE(s.once({"--stale-after", "2s", "--interval", "1s"}).status == 0);
  CHECK(s.active("cam1") == "f");
  CHECK(s.q("SELECT count(*) FROM devices") == "2");
}

TEST_CASE("MediaMTX down writes nothing but still expires", "[e2e][sync-worker]") {
  Stack s;
  s.fake.set_paths(two_cameras(true));
  REQUIRE(s.once({"--migrate", "--stale-after", "1s", "--interval", "1s"}).status == 0);
  REQUIRE(s.wait_stale("1 s"));
  const auto before = s.q("SELECT string_agg(device_metadata::text, '|' ORDER BY id) FROM devices");
  auto args = s.argv({"--once", "--stale-after", "1s", "--interval", "1s", "--mediamtx-url",
                      "http://127.0.0.1:1"});
  const auto r = run_command(args);
  INFO(r.output);
  CHECK(r.status == 3);
  CHECK_THAT(r.output, Catch::Contains("MediaMTX fetch failed"));
  CHECK_THAT(r.output, Catch::Contains("refused"));
  CHECK(s.q("SELECT count(*) FROM devices WHERE is_active") == "0");
  CHECK(s.q("SELECT string_agg(device_metadata::text, '|' ORDER BY id) FROM devices") == before);
  CHECK(s.q("SELECT ok::text || ' ' || expired FROM sync_runs ORDER BY id DESC LIMIT 1") ==
        "false 2");
}

TEST_CASE(
    "a proxy answering 502 with a Latin-1 HTML body is a MediaMTX failure: recorded in UTF-8, "
    "expiry commits",
    "[e2e][sync-worker]") {
  Stack s;
  s.fake.set_paths(two_cameras(true));
  REQUIRE(s.once({"--migrate", "--stale-after", "1s", "--interval", "1s"}).status == 0);
  REQUIRE(s.wait_stale("1 s"));
  // Long enough to be cut, with a Latin-1 byte (0xE9) in every sentence.
  std::string page = "<html><head><title>502 Passerelle erron\u00e9e</title></head><body>";
  for (int i = 0; i < 80; ++i)
    page += "<p>Le serveur amont a r\u00e9pondu de fa\u00e7on invalide.</p>";
  page += "</body></html>";
  s.fake.set_fault(R"({"mode": "status", "status": 502, "encoding": "latin-1",)"
                   R"( "content_type": "text/html; charset=iso-8859-1", "body": ")" +
                   page + "\"}");
  const auto r = s.once({"--stale-after", "1s", "--interval", "1s"});
  INFO(r.output);
  CHECK(r.status == 3);
  CHECK_THAT(r.output, Catch::Contains("502"));
  // PostgreSQL refuses text that is not UTF-8: a stored error is a valid one.
  CHECK(s.q("SELECT ok::text || ' ' || expired || ' ' || (error LIKE '%502%')::text FROM "
            "sync_runs ORDER BY id DESC LIMIT 1") == "false 2 true");
  CHECK(s.q("SELECT count(*) FROM devices WHERE is_active") == "0");
}

TEST_CASE("MediaMTX answering 401 exits with the authentication code", "[e2e][sync-worker]") {
  TestSchema schema;
  FakeMediamtx fake({"--user", "camreg", "--password", "right"});
  const std::vector<std::string> base{SYNC_WORKER,  "--once",         "--migrate", "--database-url",
                                      schema.url(), "--mediamtx-url", fake.url()};
  const auto denied =
      run_command(base, {"CAMREG_MEDIAMTX_USER=camreg", "CAMREG_MEDIAMTX_PASSWORD=wrong"});
  INFO(denied.output);
  CHECK(denied.status == 4);
  CHECK_THAT(denied.output, Catch::Contains("authentication failed"));
  CHECK(denied.output.find("wrong") == std::string::npos);
  auto with_option = base;
  with_option.insert(with_option.end(), {"--mediamtx-password", "right"});
  // The command line wins over the environment.
  CHECK(run_command(with_option, {"CAMREG_MEDIAMTX_USER=camreg", "CAMREG_MEDIAMTX_PASSWORD=wrong"})
            .status == 0);
}

TEST_CASE("a database that cannot be reached exits with the database code", "[e2e][sync-worker]") {
  FakeMediamtx fake;
  const auto r = run_command({SYNC_WORKER, "--once", "--mediamtx-url", fake.url(), "--database-url",
                              "postgresql://camreg:pw@127.0.0.1:1/camreg"});
  INFO(r.output);
  CHECK(r.status == 5);
  CHECK(r.output.find(":pw@") == std::string::npos);
  const auto migrate = run_command({SYNC_WORKER, "--migrate-only", "--database-url",
                                    "postgresql://camreg:pw@127.0.0.1:1/camreg"});
  CHECK(migrate.status == 5);
}

TEST_CASE("two rounds started together leave the state one round would", "[e2e][sync-worker]") {
  Stack s;
  s.fake.set_paths(path_items_json("cam", 500));
  REQUIRE(run_command(s.argv({"--migrate-only"})).status == 0);
  ChildProcess a(s.argv({"--once"}));
  ChildProcess b(s.argv({"--once"}));
  const auto ra = a.wait(30s);
  const auto rb = b.wait(30s);
  INFO(a.output() << b.output());
  CHECK(ra == 0);
  CHECK(rb == 0);
  CHECK(s.q("SELECT count(*) FROM devices") == "500");
  CHECK(s.q("SELECT count(DISTINCT device_key) FROM devices") == "500");
  CHECK(s.q("SELECT count(*) FROM devices WHERE is_active") == "333");
  const auto runs = std::stoi(s.q("SELECT count(*) FROM sync_runs"));
  CHECK((runs == 1 || runs == 2));
}

TEST_CASE("SIGTERM in the middle of a round leaves the database as before it",
          "[e2e][sync-worker][signals]") {
  Stack s;
  s.fake.set_paths(two_cameras(true));
  REQUIRE(s.once({"--migrate"}).status == 0);
  const auto before = s.table();
  s.fake.set_paths(two_cameras(false));
  s.fake.set_fault(R"({"mode":"hang"})");
  const auto requests_before = s.requests_seen();
  ChildProcess worker(s.argv({"--timeout", "30s"}));
  REQUIRE(worker.wait_for("start:", 10s));
  // The round is waiting on MediaMTX once the fake has its request.
  REQUIRE(wait_until([&] { return s.requests_seen() > requests_before; }, 10s));
  const auto sent = std::chrono::steady_clock::now();
  worker.signal(SIGTERM);
  const auto code = worker.wait(5s);
  INFO(worker.output());
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(std::chrono::steady_clock::now() - sent < 2s);
  CHECK(s.table() == before);
  CHECK(s.q("SELECT count(*) FROM sync_runs") == "1");
}

TEST_CASE("the loop runs a round per interval and stops at once on SIGTERM",
          "[e2e][sync-worker][signals]") {
  Stack s;
  s.fake.set_paths(two_cameras(true));
  ChildProcess worker(
      s.argv({"--migrate", "--interval", "1s", "--stale-after", "5s", "--log-format", "json"}));
  REQUIRE(worker.wait_for(R"("event":"round")", 10s));
  const auto second = worker.wait_for(R"("event":"round")", 3s);
  REQUIRE(second);
  CHECK_THAT(*second, Catch::Contains(R"("ok":true,"paths_seen":2)"));
  CHECK(second->rfind("{\"ts\":\"", 0) == 0);
  const auto sent = std::chrono::steady_clock::now();
  worker.signal(SIGTERM);
  CHECK(worker.wait(3s) == 0);
  CHECK(std::chrono::steady_clock::now() - sent < 1s);
  CHECK(std::stoi(s.q("SELECT count(*) FROM sync_runs")) >= 2);
}

TEST_CASE("a round slower than the interval delays the next instead of overlapping it",
          "[e2e][sync-worker]") {
  Stack s;
  s.fake.set_paths(two_cameras(true));
  REQUIRE(s.once({"--migrate"}).status == 0);
  s.fake.set_fault(R"({"mode":"delay","seconds":1.5})"); // each round takes 1.5 s
  ChildProcess worker(s.argv({"--interval", "1s", "--stale-after", "10s"}));
  for (int i = 0; i < 3; ++i)
    REQUIRE(worker.wait_for("round: synced", 5s));
  worker.signal(SIGTERM);
  CHECK(worker.wait(5s) == 0);
  // Each run started after the previous one finished, and right after it (no idle wait).
  CHECK(s.q("SELECT count(*) FROM (SELECT started_at, lag(finished_at) OVER (ORDER BY id) AS prev "
            "FROM sync_runs) r WHERE prev IS NOT NULL AND started_at < prev") == "0");
  CHECK(s.q("SELECT count(*) FROM (SELECT started_at - lag(finished_at) OVER (ORDER BY id) AS gap "
            "FROM sync_runs ORDER BY id OFFSET 2) r WHERE gap > interval '0.5 s'") == "0");
  CHECK(std::stoi(s.q("SELECT count(*) FROM sync_runs")) >= 4);
}

namespace {

// The file's whole text ("" when unreadable).
std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Whether a piece of the process's heap is advised to the kernel for huge pages
// (glibc's first, small piece never is: every piece is looked at).
bool heap_advised(pid_t pid) {
  const auto smaps = read_text("/proc/" + std::to_string(pid) + "/smaps");
  for (auto heap = smaps.find("[heap]"); heap != std::string::npos;
       heap = smaps.find("[heap]", heap + 1)) {
    const auto flags = smaps.find("VmFlags:", heap);
    if (smaps.substr(flags, smaps.find('\n', flags) - flags).find(" hg") != std::string::npos)
      return true;
  }
  return false;
}

} // namespace

TEST_CASE("sync-worker runs with malloc asking for huge pages unless GLIBC_TUNABLES says no",
          "[e2e][sync-worker]") {
  const auto modes = read_text("/sys/kernel/mm/transparent_hugepage/enabled");
#if defined(__SANITIZE_ADDRESS__)
  const bool asks = false; // the sanitizer's allocator replaces glibc's
#else
  const bool asks = modes.find("[madvise]") != std::string::npos;
#endif
  INFO("transparent_hugepage/enabled: " << modes);
  Stack s;
  s.fake.set_paths(two_cameras(true));
  REQUIRE(s.once({"--migrate"}).status == 0);
  // A tunable of the operator's own does not stop it; a round has run on the heap.
  for (const auto& [tunables, expected] :
       {std::pair<std::string, bool>{"glibc.malloc.arena_max=1", asks},
        std::pair<std::string, bool>{"glibc.malloc.hugetlb=0", false}}) {
    INFO("GLIBC_TUNABLES=" << tunables);
    ChildProcess worker(s.argv({"--interval", "1s"}), {"GLIBC_TUNABLES=" + tunables});
    const auto started = worker.wait_for("start:", 10s);
    REQUIRE(worker.wait_for("round: synced", 10s));
    INFO(worker.output());
    REQUIRE(started);
    CHECK(heap_advised(worker.pid()) == expected);
    // Started again under its own path: ps and pgrep still know it by its name.
    CHECK(read_text("/proc/" + std::to_string(worker.pid()) + "/comm") == "sync-worker\n");
    if (expected) {
      CHECK_THAT(*started, Catch::Contains("malloc_huge_pages=asked"));
    } else if (tunables.find("hugetlb") != std::string::npos) {
      CHECK_THAT(*started, Catch::Contains("off by GLIBC_TUNABLES"));
    } else {
      CHECK_THAT(*started, !Catch::Contains("malloc_huge_pages=asked"));
    }
    worker.signal(SIGTERM);
    CHECK(worker.wait(5s) == 0);
  }
}

TEST_CASE("invalid options are refused at start naming the option", "[e2e][sync-worker]") {
  const auto [args, env, words] =
      GENERATE(table<std::vector<std::string>, std::vector<std::string>, std::string>({
          {{"--interval", "-1s"}, {}, "--interval"},
          {{"--interval", "0s"}, {}, "--interval: must be longer than 0s"},
          {{"--interval", "10m"}, {}, "--stale-after: 5m is shorter than --interval 10m"},
          {{"--timeout", "2m"}, {}, "--timeout: 2m is longer than --db-idle-in-transaction"},
          {{"--stale-after", "soon"}, {}, "--stale-after"},
          {{"--mediamtx-url", "localhost:9997"}, {}, "--mediamtx-url"},
          {{"--webrtc-url", "ftp://x"}, {}, "--webrtc-url"},
          {{"--log-format", "xml"}, {}, "--log-format"},
          {{"--no-such-option"}, {}, "no-such-option"},
          {{}, {"CAMREG_INTERVAL=fast"}, "--interval"},
          {{}, {"CAMREG_MEDIAMTX_URL=ftp://nope"}, "--mediamtx-url"},
          {{"--db-statement-timeout", "soon"}, {}, "--db-statement-timeout"},
          {{}, {"CAMREG_DB_LOCK_TIMEOUT=never"}, "--db-lock-timeout"},
          {{"--metrics-listen", "localhost:9464"}, {}, "--metrics-listen"},
          {{}, {"CAMREG_METRICS_LISTEN=127.0.0.1"}, "--metrics-listen"},
      }));
  auto argv = std::vector<std::string>{SYNC_WORKER, "--once"};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto r = run_command(argv, env);
  INFO(r.output);
  CHECK(r.status == 2);
  CHECK_THAT(r.output, Catch::Contains(words));
}

TEST_CASE("help lists every option with its environment variable and the exit codes",
          "[e2e][sync-worker]") {
  const auto r = run_command({SYNC_WORKER, "--help"});
  CHECK(r.status == 0);
  for (const auto* env : {"CAMREG_DATABASE_URL", "CAMREG_MEDIAMTX_URL", "CAMREG_MEDIAMTX_USER",
                          "CAMREG_MEDIAMTX_PASSWORD", "CAMREG_MEDIAMTX_TOKEN", "CAMREG_WEBRTC_URL",
                          "CAMREG_INTERVAL", "CAMREG_STALE_AFTER"}) {
    CHECK_THAT(r.output, Catch::Contains(env));
  }
  CHECK_THAT(r.output, Catch::Contains("4 MediaMTX authentication failed"));
}

namespace {

// One ledger interval as stored: presence over [from, to) in seconds since the epoch
// (to < 0: still open).
struct Stretch {
  std::string presence;
  double from = 0, to = -1;
};

std::vector<Stretch> ledger_of(const Stack& s, const std::string& key) {
  const auto text =
      s.q("SELECT string_agg(p.presence || ' ' || extract(epoch FROM lower(p.period)) || ' ' || "
          "coalesce(extract(epoch FROM upper(p.period)), -1), ';' ORDER BY lower(p.period)) "
          "FROM device_presence p JOIN devices d ON d.id = p.device_id WHERE d.device_key = '" +
          key + "'");
  std::vector<Stretch> out;
  std::size_t at = 0;
  while (at < text.size()) {
    auto end = text.find(';', at);
    if (end == std::string::npos) end = text.size();
    std::istringstream row(text.substr(at, end - at));
    Stretch st;
    row >> st.presence >> st.from >> st.to;
    out.push_back(st);
    at = end + 1;
  }
  return out;
}

std::string presence_at(const std::vector<Stretch>& ledger, double t) {
  for (const auto& st : ledger)
    if (st.from <= t && (st.to < 0 || t < st.to)) return st.presence;
  return "none";
}

} // namespace

TEST_CASE("a scripted timeline: the ledger matches the truth within one round",
          "[e2e][sync-worker][ledger]") {
  Stack s;
  // door: an always-on camera; gate: alwaysAvailable (a slate plays while it is down);
  // attic: on demand, nobody watching.
  s.fake.set_config(R"([{"name":"door","source":"rtsp://192.0.2.1/s"},)"
                    R"({"name":"gate","source":"rtsp://192.0.2.2/s","alwaysAvailable":true},)"
                    R"({"name":"attic","source":"rtsp://192.0.2.3/s","sourceOnDemand":true}])");
  s.fake.set_cameras(R"({"door":{"up":true},"gate":{"up":true},"attic":{"up":true}})");
  REQUIRE(s.once({"--migrate-only"}).status == 0);
  const auto worker_args =
      s.argv({"--interval", "1s", "--stale-after", "2s", "--log-format", "json"});
  const auto db_now = [&] { return std::stod(s.q("SELECT extract(epoch FROM now())")); };
  // What really happened, in the database's time: (from, door, gate, attic).
  struct Phase {
    double from;
    std::string door, gate, attic;
  };
  std::vector<Phase> truth;
  const auto phase = [&](std::string door, std::string gate, std::string attic) {
    truth.push_back({db_now(), std::move(door), std::move(gate), std::move(attic)});
  };
  const auto hold = [](auto d) { std::this_thread::sleep_for(d); }; // the timeline itself

  auto worker = std::make_unique<ChildProcess>(worker_args);
  REQUIRE(worker->wait_for(R"("event":"round")", 10s));
  phase("online", "online", "standby");
  hold(3s);
  s.fake.set_cameras(R"({"door":{"up":false},"gate":{"up":false}})");
  phase("offline", "offline", "standby"); // door not_ready, gate placeholder
  hold(3s);
  s.fake.set_fault(R"({"mode":"status_500"})");
  phase("unknown", "unknown", "unknown"); // MediaMTX answers nothing usable
  hold(3s);
  s.fake.set_fault(R"({"mode":"none"})");
  s.fake.set_cameras(R"({"door":{"up":true},"gate":{"up":true}})");
  phase("online", "online", "standby");
  hold(3s);
  worker->signal(SIGTERM);
  REQUIRE(worker->wait(5s) == 0);
  phase("unknown", "unknown", "unknown"); // no worker: nobody looks
  hold(4s);
  worker = std::make_unique<ChildProcess>(worker_args);
  REQUIRE(worker->wait_for(R"("event":"round")", 10s));
  phase("online", "online", "standby");
  hold(3s);
  worker->signal(SIGTERM);
  REQUIRE(worker->wait(5s) == 0);
  const double end = db_now();

  CHECK(s.state("gate") == "live");
  CHECK(s.state("attic") == "standby");
  const auto truth_at = [&](double t, int device) {
    const Phase* current = &truth.front();
    for (const auto& p : truth)
      if (p.from <= t) current = &p;
    return device == 0 ? current->door : device == 1 ? current->gate : current->attic;
  };
  int device = 0;
  for (const auto* key : {"door", "gate", "attic"}) {
    CAPTURE(key);
    const auto ledger = ledger_of(s, key);
    REQUIRE(!ledger.empty());
    // The intervals tile time from first sight: each ends where the next begins.
    for (std::size_t i = 0; i + 1 < ledger.size(); ++i) {
      CHECK(ledger[i].to == Approx(ledger[i + 1].from).margin(1e-6));
      CHECK(ledger[i].to > ledger[i].from);
    }
    CHECK(ledger.back().to < 0);
    CHECK(ledger.front().from <= truth.front().from + 1.5);
    // Anywhere more than a round (1 s, plus slack) from a change, the ledger tells the truth.
    for (double t = truth.front().from; t < end; t += 0.25) {
      bool near_change = false;
      for (const auto& p : truth)
        near_change = near_change || (t >= p.from - 1.2 && t < p.from + 1.6);
      if (near_change) continue;
      CAPTURE(t - truth.front().from);
      CHECK(presence_at(ledger, t) == truth_at(t, device));
    }
    ++device;
  }
}

TEST_CASE("with --metrics-listen the loop counts its rounds by result on /metrics",
          "[e2e][sync-worker][metrics]") {
  Stack s;
  s.fake.set_paths(two_cameras(true));
  // Three good rounds, then MediaMTX fails every listing.
  s.fake.set_fault(R"({"mode": "status_500", "after": 3})");
  ChildProcess worker(s.argv({"--migrate", "--interval", "200ms", "--stale-after", "1h",
                              "--metrics-listen", "127.0.0.1:0"}));
  const auto listening = worker.wait_for("listening on /metrics", 10s);
  if (!listening) FAIL("no metrics listener:\n" << worker.output());
  const int port = std::stoi(listening->substr(listening->find("port=") + 5));
  const auto scrape = [&](std::vector<std::pair<std::string, std::string>> headers = {}) {
    return http_request("GET", "127.0.0.1", port, "/metrics", {}, headers);
  };
  const std::string failed = R"(camreg_sync_rounds_total{result="fetch_failed"})";
  HttpReply r;
  REQUIRE(wait_until(
      [&] {
        r = scrape();
        return metric_value(r.body, failed).value_or(0) >= 2;
      },
      15s));
  CAPTURE(r.body);
  CHECK(r.status == 200);
  CHECK(r.header("content-type") == "text/plain; version=0.0.4; charset=utf-8");
  const auto [verdict, findings] = promtool_check(r.body, s.schema.name() + "-worker");
  CAPTURE(findings);
  CHECK(verdict == 0);
  CHECK(findings.empty());

  // The counters say what happened: three rounds listed, the rest failed; one scrape sees
  // every round it counts in the histogram too.
  const auto value = [&](const std::string& series) { return metric_value(r.body, series); };
  CHECK(value(R"(camreg_sync_rounds_total{result="ok"})") == 3);
  CHECK(value(R"(camreg_sync_rounds_total{result="write_failed"})") == 0);
  CHECK(value(R"(camreg_sync_rounds_total{result="skipped"})") == 0);
  const auto fetch_failed = value(failed).value_or(0);
  CHECK(value("camreg_sync_round_duration_seconds_count") == 3 + fetch_failed);
  CHECK(value(R"(camreg_sync_round_duration_seconds_bucket{le="+Inf"})") == 3 + fetch_failed);
  CHECK(value(R"(camreg_sync_device_changes_total{change="inserted"})") == 2);
  CHECK(value("camreg_sync_paths_seen") == 2);
  // The database agrees, to the millisecond of the last good round's end.
  CHECK(s.q("SELECT count(*) FROM sync_runs WHERE ok") == "3");
  const auto last_ok =
      std::stod(s.q("SELECT extract(epoch FROM max(finished_at)) FROM sync_runs "
                    "WHERE ok"));
  CHECK(value(R"(camreg_sync_last_success_timestamp_seconds{site="default"})").value_or(0) ==
        Approx(last_ok).margin(0.002));
  // The process's own.
  CHECK(value("process_resident_memory_bytes").value_or(0) > 0);
  CHECK(value("process_start_time_seconds").value_or(0) > last_ok - 60);
  CHECK(value("process_open_fds").value_or(0) > 0);

  // gzip when asked, as api-server's /metrics.
  const auto zipped = scrape({{"Accept-Encoding", "gzip"}});
  CHECK(zipped.header("content-encoding") == "gzip");
  CHECK(zipped.header("vary") == "Accept-Encoding");
  CHECK(gunzip(zipped.body).rfind("# HELP camreg_sync_rounds_total", 0) == 0);
  // Nothing else is served.
  const auto other = http_request("GET", "127.0.0.1", port, "/api/devices");
  CHECK(other.status == 404);
  CHECK_THAT(other.body, Catch::Contains(R"("error":"not_found")"));
  const auto post = http_request("POST", "127.0.0.1", port, "/metrics");
  CHECK(post.status == 405);
  CHECK(post.header("allow") == "GET, HEAD");

  const auto sent = std::chrono::steady_clock::now();
  worker.signal(SIGTERM);
  CHECK(worker.wait(3s) == 0);
  CHECK(std::chrono::steady_clock::now() - sent < 2s);
}

TEST_CASE("without --metrics-listen nothing is served and with --once the option is ignored",
          "[e2e][sync-worker][metrics]") {
  Stack s;
  s.fake.set_paths(two_cameras(true));
  const auto plain = s.once({"--migrate"});
  CHECK(plain.status == 0);
  CHECK(plain.output.find("metrics") == std::string::npos);
  const auto once = s.once({"--metrics-listen", "127.0.0.1:0"});
  CHECK(once.status == 0);
  CHECK_THAT(once.output, Catch::Contains("--metrics-listen is ignored with --once"));
}

#include <libpq-fe.h>

#include <unistd.h>
#include <catch2/catch.hpp>
#include <fstream>
#include <thread>

#include <boost/json.hpp>

#include "camreg/api_json.hpp"
#include "camreg/metadata.hpp"
#include "camreg/postgres/postgres.hpp"
#include "camreg/sync_round.hpp"
#include "fakes.hpp"
#include "pg_test_database.hpp"
#include "private_cluster.hpp"

using namespace camreg;
using namespace camreg::testing;
using namespace std::chrono_literals;

namespace {

const TimePoint t0 = std::chrono::sys_days{std::chrono::year{2026} / 11 / 24} + 8h + 123456us;

postgres::Options options_for(const TestSchema& schema) {
  postgres::Options options;
  options.database_url = schema.url();
  return options;
}

// What an earlier release left in the schema: migrations 1 to up_to applied and recorded
// in its table of applied migrations (release 0.1 named it schema_migrations).
void install_release(const TestSchema& schema, int up_to,
                     const std::string& table = "camreg_schema_migrations") {
  schema.exec("CREATE TABLE " + table +
              " (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT "
              "NULL DEFAULT now())");
  for (const auto& m : postgres::migrations()) {
    if (m.version > up_to) break;
    schema.exec(std::string(m.sql));
    schema.exec("INSERT INTO " + table + " (version, name) VALUES (" + std::to_string(m.version) +
                ", '" + std::string(m.name) + "')");
  }
}

// A migrated schema with a repository on it.
struct Db {
  TestSchema schema;
  std::unique_ptr<DeviceRepository> repo;

  Db() {
    REQUIRE(postgres::migrate(options_for(schema)));
    repo = postgres::make_device_repository(options_for(schema));
  }

  // One round of the core's rules over rows, committed at now.
  Result<RoundPlan> apply(std::vector<PathState> rows, TimePoint now,
                          const std::string& type = "camera") {
    return apply_to(*repo, std::move(rows), now, type);
  }
  static Result<RoundPlan> apply_to(DeviceRepository& to, std::vector<PathState> rows,
                                    TimePoint now, const std::string& type = "camera") {
    return commit_listing(to, std::move(rows), now, type);
  }
  RoundCounts commit(std::vector<PathState> rows, TimePoint now) {
    auto plan = apply(std::move(rows), now);
    REQUIRE(plan);
    return count(*plan);
  }
  std::vector<Device> all() { return repo->list_devices(DeviceQuery{}).value(); }
  Device one(const std::string& key) {
    for (auto& d : all()) {
      if (d.device_key == key) return d;
    }
    FAIL("no device " << key);
    return {};
  }
  // A table-wide fingerprint: every column of every row.
  std::string fingerprint() {
    return schema.scalar(
        "SELECT coalesce(string_agg(d::text, '|' ORDER BY id), '') FROM devices d");
  }
};

PathState camera(const std::string& key, bool healthy, const std::string& extra = "") {
  PathState p = healthy ? live_path(key) : connecting_path(key);
  if (!extra.empty()) p.conf_name = extra;
  return p;
}

std::string metadata_of(const PathState& p) {
  return render_metadata(p, "http://localhost:8889/" + p.name + "/whep");
}

} // namespace

TEST_CASE("migrations apply from empty and a re-run applies nothing", "[postgres][migrate]") {
  TestSchema schema;
  auto repo = postgres::make_device_repository(options_for(schema));
  const auto before = repo->check_ready();
  REQUIRE_FALSE(before);

  const auto first = postgres::migrate(options_for(schema));
  REQUIRE(first);
  CHECK(first->applied.size() == postgres::migrations().size());
  CHECK(first->applied.front() == "0001_create_devices.sql");
  CHECK(first->version == postgres::migrations().back().version);
  CHECK(schema.scalar("SELECT count(*) FROM camreg_schema_migrations") ==
        std::to_string(postgres::migrations().size()));

  const auto again = postgres::migrate(options_for(schema));
  REQUIRE(again);
  CHECK(again->applied.empty());
  CHECK(again->version == first->version);
  CHECK(repo->check_ready());
}

TEST_CASE("two processes migrating at once apply each migration once", "[postgres][migrate]") {
  TestSchema schema;
  Result<postgres::MigrationReport> a = fail(ErrorKind::cancelled, "");
  Result<postgres::MigrationReport> b = fail(ErrorKind::cancelled, "");
  std::thread ta([&] { a = postgres::migrate(options_for(schema)); });
  std::thread tb([&] { b = postgres::migrate(options_for(schema)); });
  ta.join();
  tb.join();
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->applied.size() + b->applied.size() == postgres::migrations().size());
  CHECK(schema.scalar("SELECT count(*) FROM camreg_schema_migrations") ==
        std::to_string(postgres::migrations().size()));
}

TEST_CASE("a failing migration is rolled back and named", "[postgres][migrate]") {
  TestSchema schema;
  // A table in the way of 0001 makes it fail part-way.
  schema.exec("CREATE TABLE sync_runs (x int)");
  const auto report = postgres::migrate(options_for(schema));
  REQUIRE_FALSE(report);
  CHECK_THAT(report.error().message, Catch::Contains("0001_create_devices.sql"));
  CHECK(schema.scalar("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() "
                      "AND tablename = 'devices'") == "0");
  CHECK(schema.scalar("SELECT count(*) FROM camreg_schema_migrations") == "0");
}

TEST_CASE("a schema_migrations table of ours is renamed and one of another tool is left alone",
          "[postgres][migrate]") {
  TestSchema schema;
  const auto table_exists = [&](const std::string& name) {
    return schema.scalar("SELECT to_regclass('" + name + "') IS NOT NULL") == "t";
  };
  const auto all = std::to_string(postgres::migrations().size());
  SECTION("a deployment from before the rename keeps its history under the new name") {
    REQUIRE(postgres::migrate(options_for(schema)));
    schema.exec(
        "ALTER TABLE camreg_schema_migrations RENAME TO schema_migrations;"
        "ALTER INDEX camreg_schema_migrations_pkey RENAME TO schema_migrations_pkey");
    const auto again = postgres::migrate(options_for(schema));
    REQUIRE(again);
    CHECK(again->applied.empty());
    CHECK_FALSE(table_exists("schema_migrations"));
    CHECK(schema.scalar("SELECT count(*) FROM camreg_schema_migrations") == all);
    CHECK(postgres::make_device_repository(options_for(schema))->check_ready());
  }
  SECTION("another tool's table of another shape") {
    schema.exec(
        "CREATE TABLE schema_migrations (version bigint PRIMARY KEY, dirty boolean "
        "NOT NULL); INSERT INTO schema_migrations VALUES (20240101, false)");
    const auto report = postgres::migrate(options_for(schema));
    REQUIRE(report);
    CHECK(std::to_string(report->applied.size()) == all);
    CHECK(schema.scalar("SELECT string_agg(version::text, ',') FROM schema_migrations") ==
          "20240101");
    CHECK(schema.scalar("SELECT count(*) FROM camreg_schema_migrations") == all);
  }
  SECTION("another tool's table of our shape but not our rows") {
    schema.exec(
        "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now());"
        "INSERT INTO schema_migrations (version, name) VALUES (1, '0001_init.sql')");
    const auto report = postgres::migrate(options_for(schema));
    REQUIRE(report);
    CHECK(std::to_string(report->applied.size()) == all);
    CHECK(schema.scalar("SELECT string_agg(name, ',') FROM schema_migrations") == "0001_init.sql");
  }
}

TEST_CASE("a round stores every field and reads it back exactly", "[postgres]") {
  Db db;
  const auto counts = db.commit({camera("cam1", true), camera("cam2", false)}, t0);
  CHECK(counts.paths_seen == 2);
  CHECK(counts.inserted == 2);
  CHECK(counts.newly_active == 1);

  const auto devices = db.all();
  REQUIRE(devices.size() == 2);
  const auto& cam1 = devices[0];
  CHECK(cam1.device_key == "cam1");
  CHECK(cam1.device_type == "camera");
  CHECK(cam1.name == "cam1");
  CHECK(cam1.is_active);
  CHECK(cam1.last_seen == t0);
  CHECK(cam1.created_at == t0);
  CHECK(cam1.updated_at == t0);
  CHECK(cam1.id > 0);
  // jsonb normalises key order; compare as jsonb.
  CHECK(db.schema.scalar("SELECT device_metadata = '" + metadata_of(camera("cam1", true)) +
                         "'::jsonb FROM devices WHERE device_key = 'cam1'") == "t");
  CHECK(
      db.schema.scalar("SELECT device_metadata->>'state' FROM devices WHERE device_key = 'cam2'") ==
      "not_ready");
  CHECK_FALSE(devices[1].is_active);
  CHECK_FALSE(devices[1].last_seen.has_value());

  const auto runs = db.repo->recent_sync_runs(5).value();
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].ok);
  CHECK(runs[0].paths_seen == 2);
  CHECK(runs[0].upserted == 2);
  CHECK(runs[0].started_at == t0 - 1s);
  CHECK(runs[0].finished_at == t0);
  CHECK(runs[0].source == "http://127.0.0.1:9997");
}

TEST_CASE("quotes, SQL metacharacters and non-ASCII survive byte for byte", "[postgres]") {
  Db db;
  const std::string nasty = "cam'); DROP TABLE devices;--\"\\ %_ é日本 \t";
  const std::string conf = "conf ' \" \\ $1 :name \xF0\x9F\x93\xB7";
  REQUIRE(db.commit({camera(nasty, true, conf)}, t0).inserted == 1);
  const auto d = db.one(nasty);
  CHECK(d.device_key == nasty);
  CHECK(d.name == nasty);
  CHECK(d.metadata_json.find("\"conf_name\": \"conf ' \\\" \\\\ $1 :name \xF0\x9F\x93\xB7\"") !=
        std::string::npos);
  CHECK(db.repo->list_devices(DeviceQuery{"camera", true}).value().size() == 1);
}

TEST_CASE("devices are listed in byte order of device_key, filtered as asked", "[postgres]") {
  Db db;
  db.commit({camera("b", true), camera("B", false), camera("a/2", true), camera("a.1", false),
             camera("_z", true)},
            t0);
  REQUIRE(db.apply({camera("s1", true)}, t0, "sensor"));

  std::vector<std::string> keys;
  const auto cameras = db.repo->list_devices(DeviceQuery{"camera", false}).value();
  for (const auto& d : cameras) {
    keys.push_back(d.device_key);
  }
  CHECK(keys == std::vector<std::string>{"B", "_z", "a.1", "a/2", "b"});
  CHECK(db.repo->list_devices(DeviceQuery{"camera", true}).value().size() == 3);
  CHECK(db.repo->list_devices(DeviceQuery{"sensor", false}).value().size() == 1);
  CHECK(db.repo->list_devices(DeviceQuery{}).value().size() == 6);
  CHECK(db.repo->list_devices(DeviceQuery{"nothing", false}).value().empty());
}

TEST_CASE("a page of devices starts after a key and type, both in byte order",
          "[postgres][paging]") {
  Db db;
  db.commit({camera("b", true), camera("B", false), camera("a/2", true), camera("a.1", false),
             camera("_z", true)},
            t0);
  REQUIRE(db.apply({camera("s1", true)}, t0, "sensor"));
  REQUIRE(db.apply({camera("b", true)}, t0, "Zeta"));
  REQUIRE(db.apply({camera("b", true)}, t0, "a-b"));
  using Position = std::pair<std::string, std::string>;
  const auto page = [&](DeviceQuery query, std::size_t limit, std::optional<Position> after) {
    std::vector<Position> got;
    const auto listed = db.repo->list_device_page(query, DevicePage{limit, after});
    if (!listed) FAIL(listed.error().message);
    for (const auto& d : listed.value())
      got.emplace_back(d.device_key, d.device_type);
    return got;
  };
  // A walk of pages of 3, each after the last of the one before.
  std::vector<Position> walked;
  std::optional<Position> after;
  for (int pages = 0; pages < 10; ++pages) {
    const auto got = page(DeviceQuery{}, 3, after);
    walked.insert(walked.end(), got.begin(), got.end());
    if (got.size() < 3) break;
    after = got.back();
  }
  CHECK(walked == std::vector<Position>{{"B", "camera"},
                                        {"_z", "camera"},
                                        {"a.1", "camera"},
                                        {"a/2", "camera"},
                                        {"b", "Zeta"},
                                        {"b", "a-b"},
                                        {"b", "camera"},
                                        {"s1", "sensor"}});
  CHECK(page(DeviceQuery{}, 2, Position{"b", "Zeta"}) ==
        std::vector<Position>{{"b", "a-b"}, {"b", "camera"}});
  CHECK(page(DeviceQuery{"camera", true}, 10, Position{"a.1", "camera"}) ==
        std::vector<Position>{{"a/2", "camera"}, {"b", "camera"}});
  CHECK(page(DeviceQuery{}, 5, Position{"s1", "sensor"}).empty());
  const auto full = db.repo->list_device_page(DeviceQuery{"camera", false}, DevicePage{1, {}});
  REQUIRE(full.value().size() == 1);
  CHECK(full.value()[0].metadata_json == db.one("B").metadata_json);
}

TEST_CASE("a round that fails part-way changes nothing", "[postgres][atomicity]") {
  Db db;
  db.commit({camera("cam1", true), camera("cam2", false)}, t0);
  const auto before = db.fingerprint();
  // The run record is written last; making it fail aborts a round whose upserts,
  // removals and expiry have already run inside the transaction.
  db.schema.exec(
      "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS "
      "$$BEGIN RAISE EXCEPTION 'injected failure'; END$$;"
      "CREATE TRIGGER boom BEFORE INSERT ON sync_runs FOR EACH ROW EXECUTE FUNCTION boom();");
  const auto result = db.apply({camera("cam2", true), camera("cam3", true)}, t0 + 10min);
  REQUIRE_FALSE(result);
  CHECK(result.error().kind == ErrorKind::database);
  CHECK_THAT(result.error().message, Catch::Contains("injected failure"));
  CHECK(db.fingerprint() == before);
  CHECK(db.schema.scalar("SELECT count(*) FROM sync_runs") == "1");

  db.schema.exec("DROP TRIGGER boom ON sync_runs");
  REQUIRE(db.apply({camera("cam3", true)}, t0 + 11min));
  CHECK(db.all().size() == 3);
}

TEST_CASE("a round waits for no one: a second writer is told busy and writes nothing",
          "[postgres][concurrency]") {
  Db db;
  db.commit({camera("cam1", true)}, t0);
  const auto before = db.fingerprint();
  // Another sync-worker in the middle of its round holds the lock.
  PGconn* other = PQconnectdb(db.schema.url().c_str());
  REQUIRE(PQstatus(other) == CONNECTION_OK);
  PQclear(PQexec(other,
                 "BEGIN; SELECT pg_advisory_xact_lock(hashtext(current_schema() || "
                 "'.camreg.sync'))"));
  const auto result = db.apply({camera("cam2", true)}, t0 + 1min);
  REQUIRE_FALSE(result);
  CHECK(result.error().kind == ErrorKind::busy);
  CHECK(db.fingerprint() == before);
  PQclear(PQexec(other, "COMMIT"));
  PQfinish(other);
  CHECK(db.apply({camera("cam2", true)}, t0 + 2min));
}

TEST_CASE("sites sync in parallel: a round of one site never waits for another's lock",
          "[postgres][concurrency][sites]") {
  Db db;
  // The default site's worker is in the middle of its round.
  PGconn* other = PQconnectdb(db.schema.url().c_str());
  REQUIRE(PQstatus(other) == CONNECTION_OK);
  PQclear(PQexec(other,
                 "BEGIN; SELECT pg_advisory_xact_lock(hashtext(current_schema() || "
                 "'.camreg.sync'))"));
  CHECK(!db.apply({camera("cam1", true)}, t0));
  const auto north =
      commit_listing(*db.repo, std::vector{camera("cam1", true)}, t0, "camera", "north");
  REQUIRE(north);
  CHECK(db.schema.scalar("SELECT string_agg(site || ' ' || device_key, ',') FROM devices") ==
        "north north@cam1");
  CHECK(db.schema.scalar("SELECT string_agg(site, ',') FROM sync_runs") == "north");
  PQclear(PQexec(other, "COMMIT"));
  // A second round of the same site at once is told busy.
  PQclear(PQexec(other,
                 "BEGIN; SELECT pg_advisory_xact_lock(hashtext(current_schema() || "
                 "'.camreg.sync.north'))"));
  const auto busy =
      commit_listing(*db.repo, std::vector{camera("cam1", true)}, t0, "camera", "north");
  REQUIRE_FALSE(busy);
  CHECK(busy.error().kind == ErrorKind::busy);
  CHECK(busy.error().message.find("north") != std::string::npos);
  CHECK(db.apply({camera("cam1", true)}, t0));
  PQclear(PQexec(other, "COMMIT"));
  PQfinish(other);
}

TEST_CASE("the database itself refuses a site name outside [A-Za-z0-9_-]{1,64}",
          "[postgres][sites]") {
  Db db;
  PGconn* conn = PQconnectdb(db.schema.url().c_str());
  REQUIRE(PQstatus(conn) == CONNECTION_OK);
  const auto accepted = [&](const std::string& table, const std::string& site) {
    const std::string sql =
        table == "devices"
            ? "INSERT INTO devices (device_key, device_type, name, site) VALUES ('k' || "
              "(SELECT count(*) FROM devices), 'camera', 'n', $1)"
            : "INSERT INTO sync_runs (site, started_at, finished_at, ok) VALUES ($1, now(), "
              "now(), true)";
    const char* params[] = {site.c_str()};
    PGresult* res = PQexecParams(conn, sql.c_str(), 1, nullptr, params, nullptr, nullptr, 0);
    const bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok) CHECK_THAT(PQresultErrorMessage(res), Catch::Contains("site_check"));
    PQclear(res);
    return ok;
  };
  for (const std::string table : {"devices", "sync_runs"}) {
    INFO(table);
    for (const std::string& site :
         std::vector<std::string>{"a", "North_1-b", std::string(64, 'z')}) {
      INFO(site);
      CHECK(accepted(table, site));
    }
    for (const std::string& site : std::vector<std::string>{"", std::string(65, 'z'), "a b", "x@y",
                                                            "caf\xc3\xa9", "a\nb", "a/b", "a.b"}) {
      INFO(site);
      CHECK_FALSE(accepted(table, site));
    }
  }
  PQfinish(conn);
}

TEST_CASE("two concurrent rounds leave the state one round would", "[postgres][concurrency]") {
  Db db;
  std::vector<PathState> rows;
  for (int i = 0; i < 2000; ++i)
    rows.push_back(camera("cam" + std::to_string(i), i % 2 == 0));
  auto second = postgres::make_device_repository(options_for(db.schema));
  Result<RoundPlan> a = fail(ErrorKind::cancelled, "");
  Result<RoundPlan> b = fail(ErrorKind::cancelled, "");
  std::thread ta([&] { a = db.apply(rows, t0); });
  std::thread tb([&] { b = Db::apply_to(*second, rows, t0); });
  ta.join();
  tb.join();
  REQUIRE((a || b));
  for (const auto* r : {&a, &b}) {
    if (!*r) CHECK(r->error().kind == ErrorKind::busy);
  }
  const auto devices = db.all();
  CHECK(devices.size() == 2000);
  CHECK(db.schema.scalar("SELECT count(*) FROM devices WHERE is_active") == "1000");
  CHECK(db.schema.scalar("SELECT count(DISTINCT device_key) FROM devices") == "2000");
}

TEST_CASE("ten thousand cameras go up in one round", "[postgres][scale]") {
  Db db;
  std::vector<PathState> rows;
  for (int i = 0; i < 10'000; ++i)
    rows.push_back(camera("site/cam" + std::to_string(i), i % 4 != 0));
  const auto counts = db.commit(rows, t0);
  CHECK(counts.inserted == 10'000);
  CHECK(counts.newly_active == 7'500);
  CHECK(db.all().size() == 10'000);
  const auto again = db.commit(rows, t0 + 1min);
  CHECK(again.inserted == 0);
  CHECK(again.updated == 0);
  CHECK(again.paths_seen == 10'000);
}

TEST_CASE("a round that moves every camera's counters rewrites each row on its own page",
          "[postgres][scale]") {
  // An update that stays on its page (HOT) touches no index: what keeps a realistic round
  // of 100,000 cameras cheap. The first rewrite of 3,000 imported rows finds room on every
  // page (at fillfactor 70 it found room for 3 rows in 7). Later rounds also need the
  // previous versions pruned, which any older snapshot in the cluster (a test running
  // beside this one) may delay: those rounds are only checked to rewrite every row.
  Db db;
  const auto listing = [](int round) {
    std::vector<PathState> rows;
    for (int i = 0; i < 3'000; ++i) {
      auto p = camera("site/cam" + std::to_string(i), true);
      p.inbound_bytes = static_cast<std::uint64_t>(round) * 1'000'000 + static_cast<unsigned>(i);
      rows.push_back(std::move(p));
    }
    return rows;
  };
  REQUIRE(db.commit(listing(0), t0).inserted == 3'000);
  const auto pages = [&] {
    return db.schema.scalar(
        "SELECT string_agg(device_key || '@' || (ctid::text::point)[0], ',' "
        "ORDER BY device_key) FROM devices");
  };
  const auto placed = pages();
  CHECK(db.commit(listing(1), t0 + 1min).updated == 3'000);
  CHECK(pages() == placed);
  for (int round = 2; round <= 3; ++round)
    CHECK(db.commit(listing(round), t0 + round * 1min).updated == 3'000);
  CHECK(db.schema.scalar("SELECT bytes_received FROM devices WHERE device_key = 'site/cam7'") ==
        "3000007");
}

TEST_CASE("a round reads what it stores while its listing is fetched, and ends after the listing",
          "[postgres][sync]") {
  Db db;
  // A source that answers only once the round holds its site's lock (the store being
  // read), then takes 300 ms more: a round that fetched before locking never gets a list.
  class AnswersDuringTheRound final : public PathSource {
   public:
    explicit AnswersDuringTheRound(const TestSchema& schema) : schema_(schema) {}
    Result<std::vector<PathState>> list_paths() override {
      const auto deadline = std::chrono::steady_clock::now() + 10s;
      while (schema_.scalar(
                 "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                 " AND objsubid = 1 AND database = (SELECT oid FROM pg_database"
                 " WHERE datname = current_database()) AND (classid::bigint << 32 | objid::bigint)"
                 " = hashtext(current_schema() || '.camreg.sync')::bigint") == "0") {
        if (std::chrono::steady_clock::now() > deadline)
          return fail(ErrorKind::timeout, "the round never held its lock during the listing");
        std::this_thread::sleep_for(5ms);
      }
      std::this_thread::sleep_for(300ms);
      answered_at = schema_.scalar("SELECT clock_timestamp()");
      return std::vector{camera("cam1", true)};
    }
    std::string answered_at; // the database's clock as the listing was returned
    std::string describe() const override { return "http://127.0.0.1:9997"; }

   private:
    const TestSchema& schema_;
  } source(db.schema);
  SyncOptions options;
  options.webrtc_base = parse_http_url("http://localhost:8889").value();
  const auto report = sync_round(source, *db.repo, SystemClock(), options);
  REQUIRE_FALSE(report.fetch_error);
  REQUIRE_FALSE(report.write_error);
  CHECK(report.counts.inserted == 1);
  // The round's time is read after the listing: its run ends, and the camera is seen,
  // no earlier than the listing's answer.
  CHECK(db.schema.scalar("SELECT finished_at >= '" + source.answered_at +
                         "' AND started_at <= finished_at - interval '300 ms' FROM sync_runs") ==
        "t");
  CHECK(db.schema.scalar("SELECT last_seen >= '" + source.answered_at +
                         "' FROM devices WHERE device_key = 'cam1'") == "t");
}

TEST_CASE("a scan hands the listing over in batches, in order, as list_devices has it",
          "[postgres][scale]") {
  Db db;
  std::vector<PathState> rows;
  for (int i = 0; i < 4'500; ++i)
    rows.push_back(camera("site/cam" + std::to_string(i), i % 4 != 0));
  db.commit(rows, t0);
  const auto listed = db.repo->list_devices(DeviceQuery{"camera", false}).value();
  std::vector<std::size_t> sizes;
  std::vector<Device> scanned;
  REQUIRE(db.repo->scan_devices(DeviceQuery{"camera", false}, [&](std::vector<Device>& batch) {
    sizes.push_back(batch.size());
    scanned.insert(scanned.end(), batch.begin(), batch.end());
  }));
  CHECK(sizes == std::vector<std::size_t>{2'000, 2'000, 500});
  REQUIRE(scanned.size() == listed.size());
  for (std::size_t i = 0; i < listed.size(); ++i) {
    CAPTURE(i);
    CHECK(scanned[i].device_key == listed[i].device_key);
    CHECK(scanned[i].metadata_json == listed[i].metadata_json);
    CHECK(scanned[i].last_seen == listed[i].last_seen);
    CHECK(scanned[i].state_since == listed[i].state_since);
  }
}

TEST_CASE("a lost connection fails one call clearly and the next reconnects",
          "[postgres][faults]") {
  Db db;
  db.commit({camera("cam1", true)}, t0);
  // What a server restart does to a client: its backend goes away.
  TestSchema killer;
  killer.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '" +
              db.schema.name() + "'");
  const auto failed = db.repo->list_devices(DeviceQuery{});
  REQUIRE_FALSE(failed);
  CHECK(failed.error().kind == ErrorKind::unavailable);
  CHECK_THAT(failed.error().message, Catch::Contains("list devices"));
  const auto again = db.repo->list_devices(DeviceQuery{});
  REQUIRE(again);
  CHECK(again->size() == 1);
  CHECK(db.apply({camera("cam1", true)}, t0 + 1min));
}

TEST_CASE("a server restart between rounds fails one call and the next round goes through",
          "[postgres][faults]") {
  PrivateCluster cluster;
  postgres::Options options;
  options.database_url = cluster.url();
  REQUIRE(postgres::migrate(options));
  auto repo = postgres::make_device_repository(options);
  const auto round = [&](TimePoint now) {
    return Db::apply_to(*repo, {camera("cam1", true)}, now);
  };
  REQUIRE(round(t0));
  cluster.pause();
  const auto down = round(t0 + 1min);
  REQUIRE_FALSE(down);
  CHECK(down.error().kind == ErrorKind::unavailable);
  cluster.resume();
  // The connection the server dropped fails at most one more call, clearly; then the
  // repository reconnects by itself.
  auto after = round(t0 + 2min);
  if (!after) {
    CHECK(after.error().kind == ErrorKind::unavailable);
    after = round(t0 + 2min);
  }
  REQUIRE(after);
  CHECK(repo->list_devices(DeviceQuery{}).value().at(0).last_seen == t0 + 2min);
}

TEST_CASE("an unreachable database is an error, not a crash, and names no password",
          "[postgres][faults]") {
  postgres::Options options;
  options.database_url = "postgresql://camreg:s3cret@127.0.0.1:1/camreg";
  options.connect_timeout = 1s;
  auto repo = postgres::make_device_repository(options);
  const auto result = repo->list_devices(DeviceQuery{});
  REQUIRE_FALSE(result);
  CHECK(result.error().kind == ErrorKind::unavailable);
  CHECK(result.error().message.find("s3cret") == std::string::npos);
  CHECK_THAT(result.error().message, Catch::Contains("127.0.0.1:1"));
  const auto migrated = postgres::migrate(options);
  REQUIRE_FALSE(migrated);
  CHECK(migrated.error().message.find("s3cret") == std::string::npos);
  CHECK_FALSE(repo->check_ready());
}

TEST_CASE("a committed round notifies listeners, a failed one does not", "[postgres]") {
  Db db;
  PGconn* listener = PQconnectdb(db.schema.url().c_str());
  REQUIRE(PQstatus(listener) == CONNECTION_OK);
  PQclear(PQexec(listener, "LISTEN camreg_changes"));
  const auto drain = [&] {
    int n = 0;
    PQconsumeInput(listener);
    while (PGnotify* note = PQnotifies(listener)) {
      if (std::string(note->extra) == db.schema.name() + " devices") ++n;
      PQfreemem(note);
    }
    return n;
  };
  db.commit({camera("cam1", true)}, t0);
  std::this_thread::sleep_for(100ms);
  CHECK(drain() == 1);
  db.schema.exec(
      "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS "
      "$$BEGIN RAISE EXCEPTION 'no'; END$$;"
      "CREATE TRIGGER boom BEFORE INSERT ON sync_runs FOR EACH ROW EXECUTE FUNCTION boom();");
  REQUIRE_FALSE(db.apply({camera("cam2", true)}, t0 + 1min));
  std::this_thread::sleep_for(100ms);
  CHECK(drain() == 0);
  PQfinish(listener);
}

TEST_CASE("a round request reaches the trigger feeds of its schema only", "[postgres][trigger]") {
  TestSchema mine, other;
  auto feed = postgres::make_trigger_feed(options_for(mine));
  auto second = postgres::make_trigger_feed(options_for(mine));
  REQUIRE(feed->wait(0s)); // connects and listens; a (re)connection is not a request
  REQUIRE(second->wait(0s));
  REQUIRE(postgres::make_sync_trigger(options_for(other))->request_round("elsewhere", ""));
  auto trigger = postgres::make_sync_trigger(options_for(mine));
  REQUIRE(trigger->request_round("site-a/dock", ""));
  REQUIRE(trigger->request_round("", ""));
  REQUIRE(trigger->request_round("lobby/cam_1", "north"));
  // The requests a feed hears ("<site>@<path>" when one names its site) until it has n,
  // for up to 2 s.
  const auto collect = [](TriggerFeed& from, std::size_t n) {
    std::vector<std::string> paths;
    const auto until = std::chrono::steady_clock::now() + 2s;
    while (paths.size() < n && std::chrono::steady_clock::now() < until) {
      auto got = from.wait(200ms);
      REQUIRE(got);
      for (const auto& request : *got)
        paths.push_back(request.site.empty() ? request.path : request.site + "@" + request.path);
    }
    return paths;
  };
  const auto started = std::chrono::steady_clock::now();
  // Nothing of the other schema; every worker of this one hears it.
  const std::vector<std::string> sent{"site-a/dock", "", "north@lobby/cam_1"};
  CHECK(collect(*feed, 3) == sent);
  CHECK(std::chrono::steady_clock::now() - started < 1s);
  CHECK(collect(*second, 3) == sent);
  CHECK(feed->wait(200ms)->empty());
}

TEST_CASE("a trigger feed's wait ends early on wake", "[postgres][trigger]") {
  TestSchema schema;
  auto feed = postgres::make_trigger_feed(options_for(schema));
  REQUIRE(feed->wait(0s));
  std::thread waker([&] {
    std::this_thread::sleep_for(100ms);
    feed->wake();
  });
  const auto started = std::chrono::steady_clock::now();
  const auto got = feed->wait(10s);
  waker.join();
  REQUIRE(got);
  CHECK(got->empty());
  CHECK(std::chrono::steady_clock::now() - started < 2s);
}

TEST_CASE("a round request to an unreachable database fails clearly, naming no password",
          "[postgres][trigger][faults]") {
  postgres::Options options;
  options.database_url = "postgresql://camreg:s3cret@127.0.0.1:1/camreg";
  options.connect_timeout = 1s;
  const auto sent = postgres::make_sync_trigger(options)->request_round("cam1", "");
  REQUIRE_FALSE(sent);
  CHECK(sent.error().kind == ErrorKind::unavailable);
  CHECK(sent.error().message.find("s3cret") == std::string::npos);
  const auto heard = postgres::make_trigger_feed(options)->wait(100ms);
  REQUIRE_FALSE(heard);
  CHECK(heard.error().kind == ErrorKind::unavailable);
  CHECK_THAT(heard.error().message, Catch::StartsWith("trigger feed: cannot connect"));
  CHECK(heard.error().message.find("s3cret") == std::string::npos);
}

TEST_CASE("database URLs are logged without their password", "[postgres][security]") {
  using postgres::redact_database_url;
  CHECK(redact_database_url("postgresql://camreg:pw@db:5432/camreg") ==
        "postgresql://camreg:***@db:5432/camreg");
  CHECK(redact_database_url("postgres://u@db/x?password=pw&sslmode=require") ==
        "postgres://u@db/x?password=***&sslmode=require");
  CHECK(redact_database_url("postgresql://camreg@127.0.0.1/camreg") ==
        "postgresql://camreg@127.0.0.1/camreg");
  CHECK(redact_database_url("host=db user=camreg password=pw dbname=camreg") ==
        "host=db user=camreg password=*** dbname=camreg");
  CHECK(redact_database_url("host=db password = 'p w\\'x' dbname=camreg") ==
        "host=db password = *** dbname=camreg");
}

// cam1's ledger in the upgrade tests: offline 2 h to 1 h ago, online since.
#define CAM1_HISTORY_SQL                                                             \
  "INSERT INTO device_presence (device_id, presence, period) "                       \
  "SELECT id, 'offline', tstzrange(now() - interval '2 h', now() - interval '1 h') " \
  "FROM devices WHERE device_key = 'cam1';"                                          \
  "INSERT INTO device_presence (device_id, presence, period) "                       \
  "SELECT id, 'online', tstzrange(now() - interval '1 h', NULL) FROM devices "       \
  "WHERE device_key = 'cam1';"

TEST_CASE("a database of the previous release upgrades in place and keeps its rows",
          "[postgres][migrate]") {
  TestSchema schema;
  // What release 0.1 left: migrations 0001 and 0002, recorded in schema_migrations, and
  // rows its rounds wrote (metadata state in jsonb only, no state column, no ledger).
  install_release(schema, 2, "schema_migrations");
  schema.exec(
      "INSERT INTO devices (device_key, device_type, name, last_seen, is_active, "
      "device_metadata, updated_at) VALUES "
      "('cam1', 'camera', 'Front door', now() - interval '1 min', true, "
      " '{\"state\": \"live\", \"ready\": true}', now() - interval '1 h'), "
      "('cam2', 'camera', 'cam2', NULL, false, '{\"state\": \"not_ready\", \"ready\": false}', "
      " now() - interval '2 h');"
      "INSERT INTO sync_runs (started_at, finished_at, ok, paths_seen, upserted, expired, source) "
      "VALUES (now() - interval '1 min', now() - interval '1 min', true, 2, 2, 0, 'x')");
  const auto before_ids = schema.scalar(
      "SELECT string_agg(id || device_key, ',' ORDER BY id) "
      "FROM devices");

  const auto upgraded = postgres::migrate(options_for(schema));
  REQUIRE(upgraded);
  CHECK(upgraded->version == postgres::migrations().back().version);
  CHECK(upgraded->applied.size() == postgres::migrations().size() - 2);
  auto repo = postgres::make_device_repository(options_for(schema));
  REQUIRE(repo->check_ready());
  // Every row kept, its state column and state_since filled from what was there.
  CHECK(schema.scalar("SELECT string_agg(id || device_key, ',' ORDER BY id) FROM devices") ==
        before_ids);
  CHECK(schema.scalar("SELECT string_agg(state, ',' ORDER BY id) FROM devices") ==
        "live,not_ready");
  CHECK(schema.scalar("SELECT count(*) FROM devices WHERE state_since = updated_at") == "2");
  CHECK(schema.scalar("SELECT count(*) FROM device_presence") == "0");
  const auto listed = repo->list_devices(DeviceQuery{"camera", false}).value();
  REQUIRE(listed.size() == 2);
  CHECK(listed[0].name == "Front door");
  CHECK(listed[0].state_since.has_value());
  // The active camera counts as announced online (no device.online storm at upgrade) and
  // the site remembers its last successful listing.
  CHECK(schema.scalar("SELECT string_agg(device_key, ',') FROM devices WHERE online_announced") ==
        "cam1");
  CHECK(schema.scalar("SELECT count(*) FROM sites WHERE name = 'default' AND last_success_at = "
                      "(SELECT finished_at FROM sync_runs)") == "1");

  // The first round after the upgrade: no spurious transition or event for an unchanged
  // camera, the ledger starts, an operator's name survives.
  const auto now = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
  const auto plan = Db::apply_to(*repo, {camera("cam1", true), camera("cam2", false)}, now);
  REQUIRE(plan);
  CHECK(plan->transitions.empty());
  CHECK(plan->events.empty());
  CHECK(schema.scalar("SELECT count(*) FROM events") == "0");
  CHECK(schema.scalar("SELECT string_agg(presence, ',' ORDER BY device_id) FROM device_presence "
                      "WHERE upper_inf(period)") == "online,offline");
  CHECK(schema.scalar("SELECT name FROM devices WHERE device_key = 'cam1'") == "Front door");
  CHECK(schema.scalar("SELECT count(*) FROM sync_runs") == "2");
}

TEST_CASE("a single-site database upgrades to sites: keys, ids and history unchanged",
          "[postgres][migrate][sites]") {
  TestSchema schema;
  // The release before sites: every migration up to 0005, and a history its rounds wrote.
  postgres::Options options = options_for(schema);
  install_release(schema, 5);
  schema.exec(
      "INSERT INTO devices (device_key, device_type, name, state, is_active, last_seen, "
      "presence, online_announced) VALUES "
      "('cam1', 'camera', 'Front door', 'live', true, now(), 'online', true), "
      "('lobby/cam_2', 'camera', 'lobby/cam_2', 'no_source', false, NULL, 'offline', false);"
      "INSERT INTO device_presence (device_id, presence, period) "
      "SELECT id, 'offline', tstzrange(now() - interval '3 h', NULL) FROM devices "
      "WHERE device_key = 'lobby/cam_2';" CAM1_HISTORY_SQL
      "INSERT INTO sync_runs (started_at, finished_at, ok, paths_seen, upserted, expired, source) "
      "VALUES (now() - interval '1 min', now() - interval '1 min', true, 2, 2, 0, 'x')");
  const auto fingerprint = [&] {
    return schema.scalar(
               "SELECT string_agg(d.id || ' ' || d.device_key || ' ' || d.name, ',' "
               "ORDER BY d.id) FROM devices d") +
           " | " +
           schema.scalar(
               "SELECT string_agg(device_id || ' ' || presence || ' ' || "
               "lower(period), ',' ORDER BY device_id, lower(period)) "
               "FROM device_presence");
  };
  const auto before = fingerprint();

  const auto upgraded = postgres::migrate(options);
  REQUIRE(upgraded);
  CHECK(upgraded->applied.size() == postgres::migrations().size() - 5);
  CHECK(fingerprint() == before);
  CHECK(schema.scalar("SELECT string_agg(DISTINCT site, ',') FROM devices") == "default");
  CHECK(schema.scalar("SELECT string_agg(DISTINCT site, ',') FROM sync_runs") == "default");

  // The default site's next round finds its devices under the same keys and ids: no
  // device is added, the open interval goes on; another site's cam1 is a device of its own.
  auto repo = postgres::make_device_repository(options);
  REQUIRE(repo->check_ready());
  const auto now = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
  const auto plan =
      commit_listing(*repo, std::vector{camera("cam1", true), camera("lobby/cam_2", false)}, now);
  REQUIRE(plan);
  for (const auto& t : plan->transitions)
    CHECK(t.reason != TransitionReason::added);
  CHECK(fingerprint() == before);
  REQUIRE(commit_listing(*repo, std::vector{camera("cam1", true)}, now, "camera", "north"));
  CHECK(
      schema.scalar("SELECT string_agg(device_key || ' ' || site, ',' ORDER BY id) FROM devices") ==
      "cam1 default,lobby/cam_2 default,north@cam1 north");
  const auto listed = repo->list_devices(DeviceQuery{"camera", false, "default"}).value();
  REQUIRE(listed.size() == 2);
  CHECK(listed[0].name == "Front door");
  CHECK(listed[0].site == "default");
}

TEST_CASE("a database with sites upgrades to the cheaper site checks and keeps every row",
          "[postgres][migrate][sites]") {
  TestSchema schema;
  // The release with sites (0006): rows of several sites, names at both ends of the rule.
  install_release(schema, 6);
  const std::string longest(64, 'z');
  schema.exec(
      "INSERT INTO devices (device_key, device_type, name, site) VALUES "
      "('cam1', 'camera', 'cam1', 'default'), ('north@cam1', 'camera', 'cam1', 'north'), "
      "('" +
      longest + "@cam1', 'camera', 'cam1', '" + longest +
      "'), "
      "('a@cam1', 'camera', 'cam1', 'a');"
      "INSERT INTO sync_runs (site, started_at, finished_at, ok) VALUES "
      "('north', now(), now(), true), ('" +
      longest + "', now(), now(), true)");
  const auto rows = [&] {
    return schema.scalar(
               "SELECT string_agg(id || ' ' || device_key || ' ' || site, ',' "
               "ORDER BY id) FROM devices") +
           " | " + schema.scalar("SELECT string_agg(site, ',' ORDER BY id) FROM sync_runs");
  };
  const auto before = rows();

  const auto upgraded = postgres::migrate(options_for(schema));
  REQUIRE(upgraded);
  CHECK(upgraded->applied.size() == postgres::migrations().size() - 6);
  CHECK(rows() == before);
  // 0008 respaces the table's future pages, rows untouched.
  CHECK_THAT(schema.scalar("SELECT array_to_string(reloptions, ',') FROM pg_class "
                           "WHERE oid = 'devices'::regclass"),
             Catch::Contains("fillfactor=45"));
  // The new checks hold the same rule: a round of another site still writes, a bad name
  // is still refused.
  auto repo = postgres::make_device_repository(options_for(schema));
  REQUIRE(repo->check_ready());
  const auto now = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
  REQUIRE(commit_listing(*repo, std::vector{camera("cam2", true)}, now, "camera", "north"));
  CHECK(schema.scalar("SELECT count(*) FROM devices WHERE site = 'north'") == "2");
  PGconn* conn = PQconnectdb(schema.url().c_str());
  REQUIRE(PQstatus(conn) == CONNECTION_OK);
  PGresult* res = PQexec(conn,
                         "INSERT INTO devices (device_key, device_type, name, site) "
                         "VALUES ('x', 'camera', 'x', 'no such site!')");
  CHECK(PQresultStatus(res) == PGRES_FATAL_ERROR);
  CHECK_THAT(PQresultErrorMessage(res), Catch::Contains("devices_site_check"));
  PQclear(res);
  PQfinish(conn);
}

TEST_CASE("a database with counters in its metadata upgrades to counter columns, no row lost",
          "[postgres][migrate][counters]") {
  TestSchema schema;
  // The release before (0008): counters inside device_metadata, as its rounds wrote them,
  // one past what a bigint holds; an operator's row without any; one with a counter that
  // is not a number; one with a number and a non-number. cam1 has a history: two ledger
  // intervals and a run.
  install_release(schema, 8);
  schema.exec(
      "INSERT INTO devices (device_key, device_type, name, device_metadata, metadata_hash, "
      "state, is_active) VALUES "
      "('cam1', 'camera', 'Gate', '{\"state\": \"live\", \"reader_count\": 2, "
      "\"bytes_received\": 123456, \"bytes_sent\": 99999999999999999999, "
      "\"frames_in_error\": 4, \"whep_url\": \"w\"}', 77, 'live', true), "
      "('hand', 'camera', 'hand', '{\"note\": \"by hand\"}', NULL, NULL, false), "
      "('odd', 'camera', 'odd', '{\"bytes_received\": \"lots\"}', 5, NULL, false), "
      "('part', 'camera', 'part', '{\"bytes_received\": \"x\", \"bytes_sent\": 5.7}', 6, "
      "NULL, false);"
      "UPDATE devices SET presence = 'online', online_announced = true, last_seen = now(), "
      "state_since = now() - interval '1 h' WHERE device_key = 'cam1';" CAM1_HISTORY_SQL
      "INSERT INTO sync_runs (started_at, finished_at, ok, paths_seen, upserted, expired, source) "
      "VALUES (now() - interval '1 min', now() - interval '1 min', true, 1, 1, 0, 'x')");
  const auto ids =
      schema.scalar("SELECT string_agg(id || ' ' || name, ',' ORDER BY id) FROM devices");
  const auto ledger = [&] {
    return schema.scalar(
        "SELECT string_agg(x.presence || ' ' || lower(x.period) || ' ' || "
        "coalesce(upper(x.period)::text, 'open'), ',' ORDER BY lower(x.period)) "
        "FROM device_presence x JOIN devices d ON d.id = x.device_id "
        "WHERE d.device_key = 'cam1'");
  };
  const auto ledger_before = ledger();
  const auto runs_before = schema.scalar("SELECT string_agg(id::text, ',') FROM sync_runs");

  const auto upgraded = postgres::migrate(options_for(schema));
  REQUIRE(upgraded);
  CHECK(upgraded->applied.size() == postgres::migrations().size() - 8);
  CHECK(schema.scalar("SELECT string_agg(id || ' ' || name, ',' ORDER BY id) FROM devices") == ids);
  CHECK(ledger() == ledger_before);
  CHECK(schema.scalar("SELECT string_agg(id::text, ',') FROM sync_runs") == runs_before);
  const auto row = [&](const std::string& key) {
    return schema.scalar(
        "SELECT concat_ws(' | ', device_metadata::text, bytes_received, "
        "bytes_sent, frames_in_error, coalesce(metadata_hash::text, 'no hash')) "
        "FROM devices WHERE device_key = '" +
        key + "'");
  };
  CHECK(row("cam1") == R"({"state": "live", "whep_url": "w", "reader_count": 2} | 123456 | )"
                       "9223372036854775807 | 4 | no hash");
  CHECK(row("hand") == R"({"note": "by hand"} | no hash)");
  CHECK(row("odd") == "{} | no hash");
  CHECK(row("part") == "{} | 0 | 5 | 0 | no hash"); // counters come in threes

  // The API serves cam1's counters inside its metadata, as before the upgrade.
  auto repo = postgres::make_device_repository(options_for(schema));
  const auto devices = repo->list_devices(DeviceQuery{}).value();
  REQUIRE(devices.size() == 4);
  std::string json;
  append_device_json(json, devices[0]);
  const auto served = boost::json::parse(json).at("device_metadata").as_object();
  CHECK(served.at("bytes_received") == 123456);
  CHECK(served.at("bytes_sent") == 9223372036854775807);
  CHECK(served.at("frames_in_error") == 4);
  CHECK(served.at("reader_count") == 2);
  CHECK_FALSE(devices[1].counters.has_value());

  // The next round writes cam1's metadata anew (its hash was of the old text) and its
  // counters; later rounds where only counters move leave the metadata alone: an edit made
  // to it by hand stays until something in it changes.
  const auto now = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
  auto cam1 = live_path("cam1");
  REQUIRE(commit_listing(*repo, std::vector{cam1}, now));
  CHECK(schema.scalar("SELECT device_metadata = '" + metadata_of(cam1) +
                      "'::jsonb FROM devices WHERE device_key = 'cam1'") == "t");
  // Still live: its open interval goes on; the round is recorded after the old run.
  CHECK(ledger() == ledger_before);
  CHECK(schema.scalar("SELECT count(*) FROM sync_runs") == "2");
  schema.exec(
      "UPDATE devices SET device_metadata = device_metadata || '{\"mark\": 1}' "
      "WHERE device_key = 'cam1'");
  cam1.inbound_bytes += 500;
  REQUIRE(commit_listing(*repo, std::vector{cam1}, now + 1min));
  CHECK(schema.scalar("SELECT concat_ws(' ', device_metadata->>'mark', bytes_received) "
                      "FROM devices WHERE device_key = 'cam1'") == "1 123956");
  cam1.readers.push_back({"rtspSession", "r2"});
  REQUIRE(commit_listing(*repo, std::vector{cam1}, now + 2min));
  CHECK(schema.scalar("SELECT concat_ws(' ', device_metadata->>'mark', "
                      "device_metadata->>'reader_count') FROM devices WHERE device_key = 'cam1'") ==
        "2");
}

#include <libpq-fe.h>

#include <unistd.h>
#include <catch2/catch.hpp>
#include <fstream>
#include <thread>

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

// A migrated schema with a repository on it.
struct Db {
  TestSchema schema;
  std::unique_ptr<DeviceRepository> repo;

  Db() {
    REQUIRE(postgres::migrate(options_for(schema)));
    repo = postgres::make_device_repository(options_for(schema));
  }

  RoundWrite round(std::vector<DeviceUpsert> rows, TimePoint now,
                   Duration stale_after = std::chrono::minutes(5)) {
    RoundWrite r;
    r.started_at = now - 1s;
    r.now = now;
    r.stale_before = now - stale_after;
    r.listed = std::move(rows);
    r.source = "http://127.0.0.1:9997";
    return r;
  }
  RoundCounts commit(std::vector<DeviceUpsert> rows, TimePoint now) {
    auto counts = repo->commit_round(round(std::move(rows), now));
    REQUIRE(counts);
    return *counts;
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

DeviceUpsert camera(const std::string& key, bool healthy, const std::string& extra = "") {
  PathState p = healthy ? live_path(key) : connecting_path(key);
  if (!extra.empty()) p.conf_name = extra;
  return DeviceUpsert{key, render_metadata(p, "http://localhost:8889/" + key + "/whep"), healthy};
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
  CHECK(schema.scalar("SELECT count(*) FROM schema_migrations") ==
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
  CHECK(schema.scalar("SELECT count(*) FROM schema_migrations") ==
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
  CHECK(schema.scalar("SELECT count(*) FROM schema_migrations") == "0");
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
  CHECK(db.schema.scalar("SELECT device_metadata = '" + camera("cam1", true).metadata_json +
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
  RoundWrite sensors = db.round({camera("s1", true)}, t0);
  sensors.device_type = "sensor";
  REQUIRE(db.repo->commit_round(sensors));

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

TEST_CASE("the stale boundary holds in the database", "[postgres][boundary]") {
  const auto [elapsed, active] = GENERATE(table<Duration, bool>({
      {4min + 59s, true},
      {5min, true},
      {5min + 1us, false},
      {5min + 1s, false},
  }));
  CAPTURE(elapsed.count());
  Db db;
  db.commit({camera("cam1", true)}, t0);
  const auto counts = db.commit({camera("cam1", false)}, t0 + elapsed);
  CHECK(db.one("cam1").is_active == active);
  CHECK(counts.expired == (active ? 0u : 1u));
}

TEST_CASE("a failed fetch only expires, marks nothing removed and is recorded", "[postgres]") {
  Db db;
  db.commit({camera("cam1", true), camera("cam2", true)}, t0);
  db.commit({camera("cam2", true)}, t0 + 3min);
  const auto cam2 = db.one("cam2");

  RoundWrite failed = db.round({}, t0 + 5min + 30s);
  failed.listed.reset();
  failed.error = "MediaMTX: connection refused";
  const auto counts = db.repo->commit_round(failed);
  REQUIRE(counts);
  CHECK(counts->expired == 1);
  CHECK(counts->paths_seen == 0);
  CHECK_FALSE(db.one("cam1").is_active);
  const auto cam2_after = db.one("cam2");
  CHECK(cam2_after.metadata_json == cam2.metadata_json);
  CHECK(cam2_after.updated_at == cam2.updated_at);
  CHECK(cam2_after.is_active);

  const auto runs = db.repo->recent_sync_runs(1).value();
  REQUIRE(runs.size() == 1);
  CHECK_FALSE(runs[0].ok);
  CHECK(runs[0].error == "MediaMTX: connection refused");
  CHECK(runs[0].expired == 1);
}

TEST_CASE("an unlisted camera is marked removed once and keeps its row", "[postgres]") {
  Db db;
  db.commit({camera("cam1", true), camera("cam2", true)}, t0);
  const auto first = db.commit({camera("cam2", true)}, t0 + 1min);
  CHECK(first.removed == 1);
  CHECK(db.schema.scalar("SELECT device_metadata->>'state' || ',' || (device_metadata->>'ready') "
                         "|| ',' || (device_metadata->>'whep_url') FROM devices WHERE "
                         "device_key = 'cam1'") == "removed,false,http://localhost:8889/cam1/whep");
  CHECK(db.one("cam1").is_active);
  const auto second = db.commit({camera("cam2", true)}, t0 + 2min);
  CHECK(second.removed == 0);
  db.commit({camera("cam2", true)}, t0 + 7min);
  CHECK_FALSE(db.one("cam1").is_active);
  CHECK(db.all().size() == 2);

  // Listed again with the very metadata it had before removal: live again, same row.
  const auto id = db.one("cam1").id;
  const auto back = db.commit({camera("cam1", true), camera("cam2", true)}, t0 + 8min);
  CHECK(back.updated == 1);
  CHECK(back.newly_active == 1);
  CHECK(db.one("cam1").id == id);
  CHECK(db.one("cam1").is_active);
  CHECK(db.schema.scalar(
            "SELECT device_metadata->>'state' FROM devices WHERE device_key = 'cam1'") == "live");
}

TEST_CASE("an operator's name survives syncs", "[postgres]") {
  Db db;
  db.commit({camera("cam1", true)}, t0);
  db.schema.exec("UPDATE devices SET name = 'Entrée nord' WHERE device_key = 'cam1'");
  db.commit({camera("cam1", true, "changed")}, t0 + 1min);
  CHECK(db.one("cam1").name == "Entrée nord");
}

TEST_CASE("unchanged rows are not rewritten beyond last_seen", "[postgres]") {
  Db db;
  db.commit({camera("live", true), camera("dark", false)}, t0);
  const auto dark_version = db.schema.scalar("SELECT xmin FROM devices WHERE device_key = 'dark'");
  const auto counts = db.commit({camera("live", true), camera("dark", false)}, t0 + 30s);
  CHECK(counts.updated == 0);
  CHECK(counts.inserted == 0);
  CHECK(db.schema.scalar("SELECT xmin FROM devices WHERE device_key = 'dark'") == dark_version);
  const auto live = db.one("live");
  CHECK(live.updated_at == t0);
  CHECK(live.last_seen == t0 + 30s);

  const auto changed =
      db.commit({camera("live", true, "new-conf"), camera("dark", false)}, t0 + 1min);
  CHECK(changed.updated == 1);
  CHECK(db.one("live").updated_at == t0 + 1min);
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
  const auto result =
      db.repo->commit_round(db.round({camera("cam2", true), camera("cam3", true)}, t0 + 10min));
  REQUIRE_FALSE(result);
  CHECK(result.error().kind == ErrorKind::database);
  CHECK_THAT(result.error().message, Catch::Contains("injected failure"));
  CHECK(db.fingerprint() == before);
  CHECK(db.schema.scalar("SELECT count(*) FROM sync_runs") == "1");

  db.schema.exec("DROP TRIGGER boom ON sync_runs");
  REQUIRE(db.repo->commit_round(db.round({camera("cam3", true)}, t0 + 11min)));
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
  const auto result = db.repo->commit_round(db.round({camera("cam2", true)}, t0 + 1min));
  REQUIRE_FALSE(result);
  CHECK(result.error().kind == ErrorKind::busy);
  CHECK(db.fingerprint() == before);
  PQclear(PQexec(other, "COMMIT"));
  PQfinish(other);
  CHECK(db.repo->commit_round(db.round({camera("cam2", true)}, t0 + 2min)));
}

TEST_CASE("two concurrent rounds leave the state one round would", "[postgres][concurrency]") {
  Db db;
  std::vector<DeviceUpsert> rows;
  for (int i = 0; i < 2000; ++i)
    rows.push_back(camera("cam" + std::to_string(i), i % 2 == 0));
  auto second = postgres::make_device_repository(options_for(db.schema));
  Result<RoundCounts> a = fail(ErrorKind::cancelled, "");
  Result<RoundCounts> b = fail(ErrorKind::cancelled, "");
  std::thread ta([&] { a = db.repo->commit_round(db.round(rows, t0)); });
  std::thread tb([&] { b = second->commit_round(db.round(rows, t0)); });
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
  std::vector<DeviceUpsert> rows;
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
  CHECK(db.repo->commit_round(db.round({camera("cam1", true)}, t0 + 1min)));
}

TEST_CASE("a server restart between rounds fails one call and the next round goes through",
          "[postgres][faults]") {
  PrivateCluster cluster;
  postgres::Options options;
  options.database_url = cluster.url();
  REQUIRE(postgres::migrate(options));
  auto repo = postgres::make_device_repository(options);
  const auto round = [&](TimePoint now) {
    RoundWrite r;
    r.now = r.started_at = now;
    r.stale_before = now - std::chrono::minutes(5);
    r.listed = std::vector<DeviceUpsert>{camera("cam1", true)};
    return repo->commit_round(r);
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
  REQUIRE_FALSE(db.repo->commit_round(db.round({camera("cam2", true)}, t0 + 1min)));
  std::this_thread::sleep_for(100ms);
  CHECK(drain() == 0);
  PQfinish(listener);
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

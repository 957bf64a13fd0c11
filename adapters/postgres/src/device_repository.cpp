#include <soci/soci.h>

#include "camreg/hash.hpp"
#include "connection.hpp"

namespace camreg::postgres {

namespace {

// A whole round goes up by COPY (libpq; SOCI has no COPY) into a session-local table:
// one stream for any number of cameras, and a real table (not a CTE over a parameter)
// so the planner knows its size and hash-joins it against devices.
constexpr const char* stage_sql = R"SQL(
CREATE TEMP TABLE IF NOT EXISTS camreg_round_input (
  device_key text COLLATE "C" NOT NULL,
  metadata text NOT NULL,
  metadata_hash bigint NOT NULL,
  healthy boolean NOT NULL
) ON COMMIT DELETE ROWS
)SQL";

constexpr const char* copy_sql =
    "COPY camreg_round_input (device_key, metadata, metadata_hash, healthy) FROM STDIN";

// Listed devices that exist but are inactive, and are about to be seen healthy.
constexpr const char* activating_sql = R"SQL(
SELECT count(*)
FROM camreg_round_input i JOIN devices d ON d.device_key = i.device_key
WHERE d.device_type = CAST(:type AS text) AND i.healthy AND NOT d.is_active
)SQL";

// Existing devices: metadata is parsed and rewritten only when its hash changed, a
// healthy path refreshes last_seen. SET reads the old row, so updated_at moves exactly
// when something an API reader sees changed. "p" names every parameter once, because
// SOCI binds each :name to one position.
constexpr const char* update_sql = R"SQL(
WITH p AS (
  SELECT CAST(:type AS text) AS type,
         timestamptz 'epoch' + CAST(:now AS bigint) * interval '1 microsecond' AS now
), upd AS (
  UPDATE devices d SET
    device_metadata = CASE WHEN d.metadata_hash IS DISTINCT FROM i.metadata_hash
                           THEN CAST(i.metadata AS jsonb) ELSE d.device_metadata END,
    metadata_hash = i.metadata_hash,
    last_seen = CASE WHEN i.healthy THEN p.now ELSE d.last_seen END,
    is_active = d.is_active OR i.healthy,
    updated_at = CASE WHEN d.metadata_hash IS DISTINCT FROM i.metadata_hash
                        OR (i.healthy AND NOT d.is_active) THEN p.now
                      ELSE d.updated_at END
  FROM camreg_round_input i, p
  WHERE d.device_type = p.type AND d.device_key = i.device_key
    AND (i.healthy OR d.metadata_hash IS DISTINCT FROM i.metadata_hash)
  RETURNING d.updated_at = p.now AS updated
)
SELECT count(*) FILTER (WHERE updated) FROM upd
)SQL";

// New devices: name starts as the path name and is never overwritten by a sync.
constexpr const char* insert_sql = R"SQL(
WITH p AS (
  SELECT CAST(:type AS text) AS type,
         timestamptz 'epoch' + CAST(:now AS bigint) * interval '1 microsecond' AS now
), ins AS (
  INSERT INTO devices (device_key, device_type, name, device_metadata, metadata_hash, last_seen,
                       is_active, created_at, updated_at)
  SELECT i.device_key, p.type, i.device_key, CAST(i.metadata AS jsonb), i.metadata_hash,
         CASE WHEN i.healthy THEN p.now END, i.healthy, p.now, p.now
  FROM camreg_round_input i, p
  WHERE NOT EXISTS (SELECT 1 FROM devices d WHERE d.device_type = p.type
                                            AND d.device_key = i.device_key)
  RETURNING is_active
)
SELECT count(*), count(*) FILTER (WHERE is_active) FROM ins
)SQL";

constexpr const char* remove_sql = R"SQL(
WITH p AS (
  SELECT CAST(:type AS text) AS type,
         timestamptz 'epoch' + CAST(:now AS bigint) * interval '1 microsecond' AS now
), gone AS (
  UPDATE devices d
  SET device_metadata = d.device_metadata || '{"state": "removed", "ready": false}',
      metadata_hash = NULL,
      updated_at = p.now
  FROM p
  WHERE d.device_type = p.type
    AND d.device_metadata ->> 'state' IS DISTINCT FROM 'removed'
    AND NOT EXISTS (SELECT 1 FROM camreg_round_input i WHERE i.device_key = d.device_key)
  RETURNING 1
)
SELECT count(*) FROM gone
)SQL";

constexpr const char* expire_sql = R"SQL(
WITH p AS (
  SELECT CAST(:type AS text) AS type,
         timestamptz 'epoch' + CAST(:now AS bigint) * interval '1 microsecond' AS now,
         timestamptz 'epoch' + CAST(:stale AS bigint) * interval '1 microsecond' AS stale_before
), expired AS (
  UPDATE devices d SET is_active = false, updated_at = p.now
  FROM p
  WHERE d.device_type = p.type AND d.is_active
    AND (d.last_seen IS NULL OR d.last_seen < p.stale_before)
  RETURNING 1
)
SELECT count(*) FROM expired
)SQL";

constexpr const char* record_run_sql = R"SQL(
INSERT INTO sync_runs (started_at, finished_at, ok, error, paths_seen, upserted, expired, source)
SELECT timestamptz 'epoch' + CAST(:started AS bigint) * interval '1 microsecond',
       timestamptz 'epoch' + CAST(:finished AS bigint) * interval '1 microsecond',
       CAST(:ok AS integer) = 1, NULLIF(CAST(:error AS text), ''),
       CAST(:seen AS integer), CAST(:upserted AS integer), CAST(:expired AS integer),
       CAST(:source AS text)
)SQL";

constexpr const char* micros = "CAST(extract(epoch FROM %) * 1000000 AS bigint)";

std::string as_micros(std::string_view column) {
  std::string sql(micros);
  sql.replace(sql.find('%'), 1, column);
  return sql;
}

long long micros_of(TimePoint t) {
  return t.time_since_epoch().count();
}
TimePoint time_of(long long us) {
  return TimePoint{Duration{us}};
}

// Appends a value in COPY's text format.
void append_copy_field(std::string& out, std::string_view value) {
  for (const char c : value) {
    switch (c) {
    case '\\': out += "\\\\"; break;
    case '\t': out += "\\t"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    default: out += c;
    }
  }
}

// Streams the listed paths into camreg_round_input. Runs inside the caller's
// transaction (same connection); throws on failure so the transaction rolls back.
void copy_round(PGconn* conn, const std::vector<DeviceUpsert>& rows) {
  const auto fail_with = [&](const std::string& what) {
    throw std::runtime_error("COPY of the round: " + what + PQerrorMessage(conn));
  };
  PGresult* res = PQexec(conn, copy_sql);
  const bool started = PQresultStatus(res) == PGRES_COPY_IN;
  PQclear(res);
  if (!started) fail_with("");
  constexpr std::size_t chunk = 1 << 20;
  std::string buffer;
  buffer.reserve(chunk + 4096);
  for (const auto& row : rows) {
    append_copy_field(buffer, row.device_key);
    buffer += '\t';
    append_copy_field(buffer, row.metadata_json);
    buffer += '\t';
    buffer += std::to_string(static_cast<long long>(fnv1a_64(row.metadata_json)));
    buffer += row.healthy ? "\tt\n" : "\tf\n";
    if (buffer.size() >= chunk) {
      if (PQputCopyData(conn, buffer.data(), static_cast<int>(buffer.size())) != 1) fail_with("");
      buffer.clear();
    }
  }
  if (!buffer.empty() && PQputCopyData(conn, buffer.data(), static_cast<int>(buffer.size())) != 1) {
    fail_with("");
  }
  if (PQputCopyEnd(conn, nullptr) != 1) fail_with("");
  std::string error;
  while (PGresult* r = PQgetResult(conn)) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK) error = PQresultErrorMessage(r);
    PQclear(r);
  }
  if (!error.empty()) throw std::runtime_error("COPY of the round: " + error);
}

class PostgresDeviceRepository final : public DeviceRepository {
 public:
  explicit PostgresDeviceRepository(Options options) : connection_(std::move(options)) {}

  Result<RoundCounts> commit_round(const RoundWrite& round) override {
    return connection_.run<
        RoundCounts>("sync round", [&](soci::session& sql) -> Result<RoundCounts> {
      soci::transaction tx(sql);
      int locked = 0;
      sql << "SELECT CAST(pg_try_advisory_xact_lock(hashtext(current_schema() || '.camreg.sync'))"
             " AS integer)",
          soci::into(locked);
      if (locked != 1) {
        return fail(ErrorKind::busy, "another process is applying a sync round; skipped");
      }
      const auto now = micros_of(round.now);
      RoundCounts counts;
      if (round.listed) {
        sql << "SET LOCAL client_min_messages = warning";
        sql << "SET LOCAL work_mem = '64MB'";
        sql << stage_sql;
        copy_round(connection_.native(), *round.listed);
        long long updated = 0, activated = 0, inserted = 0, born_active = 0;
        long long removed = 0;
        sql << activating_sql, soci::use(round.device_type, "type"), soci::into(activated);
        sql << update_sql, soci::use(round.device_type, "type"), soci::use(now, "now"),
            soci::into(updated);
        sql << insert_sql, soci::use(round.device_type, "type"), soci::use(now, "now"),
            soci::into(inserted), soci::into(born_active);
        sql << remove_sql, soci::use(round.device_type, "type"), soci::use(now, "now"),
            soci::into(removed);
        counts.paths_seen = round.listed->size();
        counts.inserted = static_cast<std::size_t>(inserted);
        counts.updated = static_cast<std::size_t>(updated);
        counts.newly_active = static_cast<std::size_t>(activated + born_active);
        counts.removed = static_cast<std::size_t>(removed);
      }
      const auto stale = micros_of(round.stale_before);
      long long expired = 0;
      sql << expire_sql, soci::use(round.device_type, "type"), soci::use(now, "now"),
          soci::use(stale, "stale"), soci::into(expired);
      counts.expired = static_cast<std::size_t>(expired);

      const auto started = micros_of(round.started_at);
      const int ok = round.listed ? 1 : 0;
      const int seen = static_cast<int>(counts.paths_seen);
      const int upserted = static_cast<int>(counts.inserted + counts.updated);
      const int expired_count = static_cast<int>(counts.expired);
      sql << record_run_sql, soci::use(started, "started"), soci::use(now, "finished"),
          soci::use(ok, "ok"), soci::use(round.error, "error"), soci::use(seen, "seen"),
          soci::use(upserted, "upserted"), soci::use(expired_count, "expired"),
          soci::use(round.source, "source");
      tx.commit();
      return counts;
    });
  }

  Result<std::vector<Device>> list_devices(const DeviceQuery& query) override {
    return connection_.run<std::vector<Device>>(
        "list devices", [&](soci::session& sql) -> Result<std::vector<Device>> {
          std::string text = "SELECT id, device_key, device_type, name, " + as_micros("last_seen") +
                             ", CAST(is_active AS integer), " + as_micros("created_at") + ", " +
                             as_micros("updated_at") +
                             ", CAST(device_metadata AS text) FROM devices WHERE true";
          const std::string type = query.device_type.value_or("");
          if (query.device_type) text += " AND device_type = :type";
          if (query.active_only) text += " AND is_active";
          text += " ORDER BY device_key, device_type";
          soci::rowset<soci::row> rows = query.device_type
                                             ? (sql.prepare << text, soci::use(type, "type"))
                                             : (sql.prepare << text);
          std::vector<Device> out;
          for (const auto& r : rows) {
            Device d;
            d.id = r.get<long long>(0);
            d.device_key = r.get<std::string>(1);
            d.device_type = r.get<std::string>(2);
            d.name = r.get<std::string>(3);
            if (r.get_indicator(4) == soci::i_ok) d.last_seen = time_of(r.get<long long>(4));
            d.is_active = r.get<int>(5) != 0;
            d.created_at = time_of(r.get<long long>(6));
            d.updated_at = time_of(r.get<long long>(7));
            d.metadata_json = r.get<std::string>(8);
            out.push_back(std::move(d));
          }
          return out;
        });
  }

  Result<std::vector<SyncRun>> recent_sync_runs(std::size_t limit) override {
    return connection_.run<std::vector<SyncRun>>(
        "recent sync runs", [&](soci::session& sql) -> Result<std::vector<SyncRun>> {
          const long long n = static_cast<long long>(limit);
          soci::rowset<soci::row> rows =
              (sql.prepare
                   << "SELECT id, " + as_micros("started_at") + ", " + as_micros("finished_at") +
                          ", CAST(ok AS integer), COALESCE(error, ''), paths_seen, upserted,"
                          " expired, source FROM sync_runs ORDER BY id DESC LIMIT :n",
               soci::use(n, "n"));
          std::vector<SyncRun> out;
          for (const auto& r : rows) {
            SyncRun run;
            run.id = r.get<long long>(0);
            run.started_at = time_of(r.get<long long>(1));
            run.finished_at = time_of(r.get<long long>(2));
            run.ok = r.get<int>(3) != 0;
            run.error = r.get<std::string>(4);
            run.paths_seen = static_cast<std::size_t>(r.get<int>(5));
            run.upserted = static_cast<std::size_t>(r.get<int>(6));
            run.expired = static_cast<std::size_t>(r.get<int>(7));
            run.source = r.get<std::string>(8);
            out.push_back(std::move(run));
          }
          return out;
        });
  }

  Result<void> check_ready() override {
    return connection_.run<void>("readiness", [&](soci::session& sql) -> Result<void> {
      int present = 0;
      sql << "SELECT CAST(to_regclass('schema_migrations') IS NOT NULL AS integer)",
          soci::into(present);
      if (present != 1) {
        return fail(ErrorKind::database,
                    "schema not migrated (no schema_migrations table): run with --migrate");
      }
      int version = 0;
      soci::indicator ind = soci::i_ok;
      sql << "SELECT max(version) FROM schema_migrations", soci::into(version, ind);
      const int latest = migrations().empty() ? 0 : migrations().back().version;
      if (ind != soci::i_ok || version < latest) {
        return fail(ErrorKind::database,
                    "schema is at version " + std::to_string(ind == soci::i_ok ? version : 0) +
                        ", expected " + std::to_string(latest) + ": run with --migrate");
      }
      return {};
    });
  }

 private:
  detail::Connection connection_;
};

} // namespace

std::unique_ptr<DeviceRepository> make_device_repository(Options options) {
  return std::make_unique<PostgresDeviceRepository>(std::move(options));
}

} // namespace camreg::postgres

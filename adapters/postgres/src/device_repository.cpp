#include <soci/soci.h>

#include "camreg/json.hpp"
#include "connection.hpp"

namespace camreg::postgres {

namespace {

// A whole round goes up as one jsonb parameter, unpacked by jsonb_to_recordset: one
// statement for any number of cameras. "p" names every parameter once, because SOCI
// binds each :name to one position.
constexpr const char* upsert_sql = R"SQL(
WITH p AS (
  SELECT CAST(:type AS text) AS type,
         timestamptz 'epoch' + CAST(:now AS bigint) * interval '1 microsecond' AS now,
         CAST(:doc AS jsonb) AS doc
), input AS MATERIALIZED (
  SELECT x.k AS device_key, x.m AS metadata, x.h AS healthy
  FROM p, jsonb_to_recordset(p.doc) AS x(k text, m jsonb, h boolean)
), old AS (
  SELECT d.device_key, d.is_active
  FROM devices d JOIN input i ON i.device_key = d.device_key, p
  WHERE d.device_type = p.type
), up AS (
  INSERT INTO devices AS d (device_key, device_type, name, device_metadata, last_seen,
                            is_active, created_at, updated_at)
  SELECT i.device_key, p.type, i.device_key, i.metadata,
         CASE WHEN i.healthy THEN p.now END, i.healthy, p.now, p.now
  FROM input i, p
  ON CONFLICT (device_type, device_key) DO UPDATE SET
    device_metadata = excluded.device_metadata,
    last_seen = COALESCE(excluded.last_seen, d.last_seen),
    is_active = d.is_active OR excluded.is_active,
    updated_at = CASE
      WHEN d.device_metadata IS DISTINCT FROM excluded.device_metadata
        OR (excluded.is_active AND NOT d.is_active) THEN excluded.updated_at
      ELSE d.updated_at END
  WHERE d.device_metadata IS DISTINCT FROM excluded.device_metadata OR excluded.is_active
  RETURNING d.device_key, d.is_active, d.updated_at
), gone AS (
  UPDATE devices d
  SET device_metadata = d.device_metadata || '{"state": "removed", "ready": false}',
      updated_at = p.now
  FROM p
  WHERE d.device_type = p.type
    AND d.device_metadata ->> 'state' IS DISTINCT FROM 'removed'
    AND NOT EXISTS (SELECT 1 FROM input i WHERE i.device_key = d.device_key)
  RETURNING 1
)
SELECT (SELECT count(*) FROM input),
       (SELECT count(*) FROM up LEFT JOIN old USING (device_key) WHERE old.device_key IS NULL),
       (SELECT count(*) FROM up JOIN old USING (device_key), p WHERE up.updated_at = p.now),
       (SELECT count(*) FROM up LEFT JOIN old USING (device_key)
         WHERE up.is_active AND NOT COALESCE(old.is_active, false)),
       (SELECT count(*) FROM gone)
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

// The round's listed paths as [{"k": key, "m": metadata, "h": healthy}, …].
std::string round_document(const std::vector<DeviceUpsert>& rows) {
  std::size_t size = 2;
  for (const auto& row : rows)
    size += row.device_key.size() + row.metadata_json.size() + 32;
  std::string doc;
  doc.reserve(size);
  doc += '[';
  for (const auto& row : rows) {
    if (doc.size() > 1) doc += ',';
    doc += "{\"k\":";
    append_json_string(doc, row.device_key);
    doc += ",\"m\":";
    doc += row.metadata_json;
    doc += row.healthy ? ",\"h\":true}" : ",\"h\":false}";
  }
  doc += ']';
  return doc;
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
        const std::string doc = round_document(*round.listed);
        long long seen = 0, inserted = 0, updated = 0, newly_active = 0, removed = 0;
        sql << upsert_sql, soci::use(round.device_type, "type"), soci::use(now, "now"),
            soci::use(doc, "doc"), soci::into(seen), soci::into(inserted), soci::into(updated),
            soci::into(newly_active), soci::into(removed);
        counts.paths_seen = static_cast<std::size_t>(seen);
        counts.inserted = static_cast<std::size_t>(inserted);
        counts.updated = static_cast<std::size_t>(updated);
        counts.newly_active = static_cast<std::size_t>(newly_active);
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
      // Delivered at commit only: listeners never see a round that did not happen.
      // Channels are database-wide, so the payload names the schema: "<schema> <type>".
      sql << "SELECT pg_notify('camreg_changes', current_schema() || ' ' || CAST(:type AS text))",
          soci::use(round.device_type, "type");
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

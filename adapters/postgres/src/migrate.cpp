#include <set>

#include "connection.hpp"

namespace camreg::postgres {

namespace {

constexpr const char* lock_sql =
    "SELECT pg_advisory_lock(hashtext(current_schema() || '.camreg.migrate'))";
constexpr const char* unlock_sql =
    "SELECT pg_advisory_unlock(hashtext(current_schema() || '.camreg.migrate'))";

// The name we record migrations under; "schema_migrations" is what many tools use.
constexpr const char* table = "camreg_schema_migrations";

Result<std::string> scalar(PGconn* conn, const std::string& sql) {
  PGresult* res = PQexec(conn, sql.c_str());
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    std::string message = PQresultErrorMessage(res);
    PQclear(res);
    return fail(ErrorKind::database, message);
  }
  std::string value = PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "";
  PQclear(res);
  return value;
}

// Before the rename, camreg recorded migrations in schema_migrations. That table is
// ours when it has exactly our columns and every row names one of our migrations;
// then (and only when camreg_schema_migrations does not exist yet) it is renamed.
// Anyone else's schema_migrations is left as it is.
Result<void> adopt_old_table(PGconn* conn) {
  auto shape = scalar(conn, R"SQL(
SELECT coalesce(string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ','
                           ORDER BY a.attnum), '')
FROM pg_attribute a
WHERE a.attrelid = to_regclass(quote_ident(current_schema()) || '.schema_migrations')
  AND a.attnum > 0 AND NOT a.attisdropped
  AND to_regclass(quote_ident(current_schema()) || '.camreg_schema_migrations') IS NULL
)SQL");
  if (!shape) return shape.error();
  if (*shape != "version integer,name text,applied_at timestamp with time zone") return {};
  std::string ours = "VALUES ";
  for (const auto& m : migrations()) {
    if (ours.size() > 7) ours += ',';
    ours += "(" + std::to_string(m.version) + ", '" + std::string(m.name) + "')";
  }
  if (migrations().empty()) return {};
  // Ours: every row one of our migrations, and 0001 among them.
  auto rows = scalar(conn, "SELECT count(*) FILTER (WHERE (s.version, s.name) NOT IN (" + ours +
                               ")) || ',' || count(*) FILTER (WHERE s.version = 1) FROM"
                               " schema_migrations s");
  if (!rows) return rows.error();
  if (*rows != "0,1") return {};
  return detail::exec(conn,
                      "ALTER TABLE schema_migrations RENAME TO camreg_schema_migrations;"
                      " ALTER INDEX IF EXISTS schema_migrations_pkey"
                      " RENAME TO camreg_schema_migrations_pkey");
}

Result<std::set<int>> applied_versions(PGconn* conn) {
  PGresult* res = PQexec(conn, (std::string("SELECT version FROM ") + table).c_str());
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    std::string message = PQresultErrorMessage(res);
    PQclear(res);
    return fail(ErrorKind::database, std::string("reading ") + table + ": " + message);
  }
  std::set<int> versions;
  for (int row = 0; row < PQntuples(res); ++row)
    versions.insert(std::stoi(PQgetvalue(res, row, 0)));
  PQclear(res);
  return versions;
}

Result<MigrationReport> apply_pending(PGconn* conn) {
  if (auto adopted = adopt_old_table(conn); !adopted) {
    return fail(adopted.error().kind, "renaming schema_migrations: " + adopted.error().message);
  }
  if (auto r = detail::exec(conn, std::string("CREATE TABLE IF NOT EXISTS ") + table +
                                      " (version integer PRIMARY KEY, name text NOT NULL,"
                                      " applied_at timestamptz NOT NULL DEFAULT now())");
      !r) {
    return r.error();
  }
  auto applied = applied_versions(conn);
  if (!applied) return applied.error();
  MigrationReport report;
  for (const auto& m : migrations()) {
    if (applied->count(m.version) != 0) continue;
    const std::string record = std::string("INSERT INTO ") + table + " (version, name) VALUES (" +
                               std::to_string(m.version) + ", '" + std::string(m.name) + "')";
    auto done = detail::exec(conn, "BEGIN");
    if (done) done = detail::exec(conn, std::string(m.sql));
    if (done) done = detail::exec(conn, record);
    if (done) done = detail::exec(conn, "COMMIT");
    if (!done) {
      (void)detail::exec(conn, "ROLLBACK");
      return fail(done.error().kind,
                  "migration " + std::string(m.name) + ": " + done.error().message);
    }
    report.applied.emplace_back(m.name);
  }
  report.version = migrations().empty() ? 0 : migrations().back().version;
  return report;
}

} // namespace

Result<MigrationReport> migrate(const Options& options) {
  detail::Connection connection(options);
  return connection.run<MigrationReport>(
      "migrate",
      [&](soci::session&) -> Result<MigrationReport> {
        PGconn* conn = connection.native();
        // A migration may rewrite a large table: no statement bound. Waiting for another
        // migrator is expected; waiting for a table lock is bounded by lock_timeout.
        if (auto r = detail::exec(conn, "SET statement_timeout = 0; SET lock_timeout = 0"); !r) {
          return r.error();
        }
        if (auto locked = detail::exec(conn, lock_sql); !locked) return locked.error();
        auto report = detail::exec(
            conn, "SET lock_timeout = '" + std::to_string(options.lock_timeout.count()) + "ms'");
        auto applied = report ? apply_pending(conn) : Result<MigrationReport>(report.error());
        (void)detail::exec(conn, unlock_sql);
        return applied;
      },
      detail::Bound::server_only);
}

} // namespace camreg::postgres

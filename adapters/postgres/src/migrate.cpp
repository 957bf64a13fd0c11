#include <set>

#include "connection.hpp"

namespace camreg::postgres {

namespace {

constexpr const char* lock_sql =
    "SELECT pg_advisory_lock(hashtext(current_schema() || '.camreg.migrate'))";
constexpr const char* unlock_sql =
    "SELECT pg_advisory_unlock(hashtext(current_schema() || '.camreg.migrate'))";

Result<std::set<int>> applied_versions(PGconn* conn) {
  PGresult* res = PQexec(conn, "SELECT version FROM schema_migrations");
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    std::string message = PQresultErrorMessage(res);
    PQclear(res);
    return fail(ErrorKind::database, "reading schema_migrations: " + message);
  }
  std::set<int> versions;
  for (int row = 0; row < PQntuples(res); ++row)
    versions.insert(std::stoi(PQgetvalue(res, row, 0)));
  PQclear(res);
  return versions;
}

Result<MigrationReport> apply_pending(PGconn* conn) {
  if (auto r = detail::exec(conn,
                            "CREATE TABLE IF NOT EXISTS schema_migrations ("
                            " version integer PRIMARY KEY, name text NOT NULL,"
                            " applied_at timestamptz NOT NULL DEFAULT now())");
      !r) {
    return r.error();
  }
  auto applied = applied_versions(conn);
  if (!applied) return applied.error();
  MigrationReport report;
  for (const auto& m : migrations()) {
    if (applied->count(m.version) != 0) continue;
    const std::string record = "INSERT INTO schema_migrations (version, name) VALUES (" +
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
  return connection.run<MigrationReport>("migrate", [&](soci::session&) -> Result<MigrationReport> {
    PGconn* conn = connection.native();
    if (auto locked = detail::exec(conn, lock_sql); !locked) return locked.error();
    auto report = apply_pending(conn);
    (void)detail::exec(conn, unlock_sql);
    return report;
  });
}

} // namespace camreg::postgres

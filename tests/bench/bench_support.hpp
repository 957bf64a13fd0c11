#pragma once
// What the PostgreSQL benchmarks share: running SQL that must succeed, and a fresh,
// migrated schema of their own.
#include <libpq-fe.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "camreg/postgres/postgres.hpp"

namespace camreg::bench {

// Runs SQL on conn; on failure prints it and exits.
inline void exec(PGconn* conn, const std::string& sql) {
  PGresult* res = PQexec(conn, sql.c_str());
  if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
    std::fprintf(stderr, "%s: %s\n", sql.substr(0, 200).c_str(), PQresultErrorMessage(res));
    std::exit(1);
  }
  PQclear(res);
}

// Drops and creates schema, points conn's search_path at it, migrates it, and returns the
// repository options for it; exits on failure.
inline postgres::Options fresh_schema(PGconn* conn, const std::string& url,
                                      const std::string& schema) {
  exec(conn, "SET client_min_messages = warning; DROP SCHEMA IF EXISTS " + schema +
                 " CASCADE; CREATE SCHEMA " + schema + "; SET search_path = " + schema);
  postgres::Options options;
  options.database_url =
      url + (url.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" + schema;
  if (auto m = postgres::migrate(options); !m) {
    std::fprintf(stderr, "migrate: %s\n", m.error().message.c_str());
    std::exit(1);
  }
  return options;
}

} // namespace camreg::bench

#include "pg_test_database.hpp"

#include <libpq-fe.h>

#include <unistd.h>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>

namespace camreg::testing {

namespace {

using PgConn = std::unique_ptr<PGconn, decltype(&PQfinish)>;

PgConn connect(const std::string& url) {
  PgConn conn(PQconnectdb(url.c_str()), &PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    FAIL("cannot connect to the test database: " << PQerrorMessage(conn.get()));
  }
  return conn;
}

std::string run(const std::string& url, const std::string& sql) {
  auto conn = connect(url);
  PGresult* res = PQexec(conn.get(), sql.c_str());
  const auto status = PQresultStatus(res);
  std::string value;
  if (status == PGRES_TUPLES_OK && PQntuples(res) > 0) value = PQgetvalue(res, 0, 0);
  const std::string error = PQresultErrorMessage(res);
  PQclear(res);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) FAIL(sql << "\n" << error);
  return value;
}

} // namespace

std::string test_database_url() {
  if (const char* url = std::getenv("CAMREG_TEST_DATABASE_URL"); url && *url) return url;
  const char* file = std::getenv("CAMREG_TEST_PG_URL_FILE");
  if (!file) FAIL("set CAMREG_TEST_DATABASE_URL or run through ctest (CAMREG_TEST_PG_URL_FILE)");
  std::ifstream in(file);
  std::string url;
  if (!std::getline(in, url) || url.empty()) FAIL("no URL in " << file);
  return url;
}

TestSchema::TestSchema() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  name_ = "t_" + std::to_string(getpid()) + "_" + std::to_string(counter++) + "_" +
          std::to_string(rd() % 100000);
  base_ = test_database_url();
  const auto& base = base_;
  run(base, "CREATE SCHEMA " + name_);
  const bool uri = base.rfind("postgres", 0) == 0 && base.find("://") != std::string::npos;
  if (uri) {
    url_ = base + (base.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" +
           name_ + "&application_name=" + name_;
  } else {
    url_ = base + " options='-csearch_path=" + name_ + "' application_name=" + name_;
  }
}

TestSchema::~TestSchema() {
  PgConn conn(PQconnectdb(base_.c_str()), &PQfinish);
  if (PQstatus(conn.get()) == CONNECTION_OK) {
    PQclear(PQexec(conn.get(), ("SET client_min_messages = warning; DROP SCHEMA IF EXISTS " +
                                name_ + " CASCADE")
                                   .c_str()));
  }
}

void TestSchema::exec(const std::string& sql) const {
  run(url_, sql);
}

std::string TestSchema::scalar(const std::string& sql) const {
  return run(url_, sql);
}

} // namespace camreg::testing

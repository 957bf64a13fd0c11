#pragma once

#include <string>

namespace camreg::testing {

// The PostgreSQL the tests use: CAMREG_TEST_DATABASE_URL, or the throwaway cluster
// the CTest fixture started (its URL file named by CAMREG_TEST_PG_URL_FILE).
std::string test_database_url();

// A schema of its own for one test, dropped when the test ends: every test starts
// from an empty database whatever ran before or runs beside it.
class TestSchema {
 public:
  TestSchema();
  ~TestSchema();
  TestSchema(const TestSchema&) = delete;
  TestSchema& operator=(const TestSchema&) = delete;

  // A connection URL whose search_path is this schema and whose application_name is
  // the schema's name (to find its connections in pg_stat_activity).
  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }
  // Runs SQL in the schema (several statements allowed); fails the test on error.
  void exec(const std::string& sql) const;
  // The first column of the first row of a query, as text ("" for NULL).
  std::string scalar(const std::string& sql) const;

 private:
  std::string base_;
  std::string name_;
  std::string url_;
};

} // namespace camreg::testing

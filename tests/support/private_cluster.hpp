#pragma once

#include <string>

namespace camreg::testing {

// A PostgreSQL cluster of one test's own (tests/support/pg-cluster), for tests that stop
// and restart the server: doing that to the shared cluster would fail every other test.
// Removed when the object goes.
class PrivateCluster {
 public:
  PrivateCluster();
  ~PrivateCluster();
  PrivateCluster(const PrivateCluster&) = delete;
  PrivateCluster& operator=(const PrivateCluster&) = delete;

  // A libpq URI of its database camreg_test.
  const std::string& url() const { return url_; }
  // Stops the server, keeping its data; resume() starts it again on the same port.
  void pause() const;
  void resume() const;

 private:
  std::string state_;
  std::string url_;
};

// A streaming-replication hot standby of a cluster (tests/support/pg-cluster standby:
// pg_basebackup -R), on a port of its own; the primary_url's user must be allowed to
// replicate (the superuser of PrivateCluster and of the suite's cluster is). Removed when
// the object goes.
class StandbyCluster {
 public:
  explicit StandbyCluster(const std::string& primary_url);
  ~StandbyCluster();
  StandbyCluster(const StandbyCluster&) = delete;
  StandbyCluster& operator=(const StandbyCluster&) = delete;

  // primary_url with the standby's host and port: the same database, read-only.
  const std::string& url() const { return url_; }
  // Ends recovery: the standby becomes a primary of its own (pg_ctl promote).
  void promote() const;

 private:
  std::string state_;
  std::string url_;
};

} // namespace camreg::testing

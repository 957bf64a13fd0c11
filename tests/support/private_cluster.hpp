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

} // namespace camreg::testing

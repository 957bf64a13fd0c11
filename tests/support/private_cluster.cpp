#include "private_cluster.hpp"

#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>

#include "process.hpp"

namespace camreg::testing {

namespace {

const std::string script = CAMREG_SOURCE_DIR "/tests/support/pg-cluster";

} // namespace

PrivateCluster::PrivateCluster() {
  static std::atomic<int> counter{0};
  state_ = "/tmp/camreg-private-pg-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  // An empty CAMREG_TEST_DATABASE_URL: start a cluster even when the suite uses a given server.
  const auto started = run_command({script, "start", state_}, {"CAMREG_TEST_DATABASE_URL="},
                                   std::chrono::seconds(60));
  if (started.status != 0) FAIL("private cluster did not start:\n" << started.output);
  std::getline(std::ifstream(state_ + "/url"), url_);
}

PrivateCluster::~PrivateCluster() {
  run_command({script, "stop", state_});
  run_command({"/bin/rm", "-rf", state_});
}

void PrivateCluster::pause() const {
  REQUIRE(run_command({script, "pause", state_}).status == 0);
}

void PrivateCluster::resume() const {
  REQUIRE(run_command({script, "resume", state_}, {}, std::chrono::seconds(60)).status == 0);
}

StandbyCluster::StandbyCluster(const std::string& primary_url) {
  static std::atomic<int> counter{0};
  state_ = "/tmp/camreg-standby-pg-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  const auto started =
      run_command({script, "standby", state_, primary_url}, {}, std::chrono::seconds(90));
  if (started.status != 0) FAIL("standby cluster did not start:\n" << started.output);
  std::getline(std::ifstream(state_ + "/url"), url_);
}

void StandbyCluster::promote() const {
  REQUIRE(run_command({script, "promote", state_}, {}, std::chrono::seconds(60)).status == 0);
}

StandbyCluster::~StandbyCluster() {
  run_command({script, "stop", state_});
  run_command({"/bin/rm", "-rf", state_});
}

} // namespace camreg::testing

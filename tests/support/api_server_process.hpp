#pragma once
// The real api-server as a child process on a free loopback port, for end-to-end tests.
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "http_client.hpp"
#include "process.hpp"

namespace camreg::testing {

class ApiServerProcess {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  // Starts binary with --database-url, --listen 127.0.0.1:0, no dashboard, then extra;
  // fails the test when it does not say it listens within 10 s.
  ApiServerProcess(const std::string& binary, const std::string& database_url,
                   const std::vector<std::string>& extra) {
    std::vector<std::string> argv{
        binary, "--database-url", database_url, "--listen", "127.0.0.1:0", "--web-root", ""};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process_ = std::make_unique<ChildProcess>(argv);
    const auto line = process_->wait_for("listening", std::chrono::seconds(10));
    if (!line) FAIL("api-server did not start:\n" << process_->output());
    port_ = std::stoi(line->substr(line->find("port=") + 5));
  }

  HttpReply call(const std::string& method, const std::string& target, const std::string& body = {},
                 const Headers& headers = {}) const {
    return http_request(method, "127.0.0.1", port_, target, body, headers);
  }
  HttpReply get(const std::string& target, const Headers& headers = {}) const {
    return call("GET", target, {}, headers);
  }
  // The value of a sample without labels on /metrics, or -1.
  double metric(const std::string& name) const {
    const auto body = get("/metrics").body;
    const auto at = body.find("\n" + name + " ");
    if (at == std::string::npos) return -1;
    return std::stod(body.substr(at + name.size() + 2));
  }
  // Its resident set, from /proc; -1 when it cannot be read.
  long rss_kib() const {
    std::ifstream status("/proc/" + std::to_string(process_->pid()) + "/status");
    for (std::string line; std::getline(status, line);)
      if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
  }
  int port() const { return port_; }
  ChildProcess& process() { return *process_; }

 private:
  std::unique_ptr<ChildProcess> process_;
  int port_ = 0;
};

} // namespace camreg::testing

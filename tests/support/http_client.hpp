#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace camreg::testing {

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers; // names lower-cased
  std::string body;
  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// One HTTP/1.1 request to host:port over loopback; throws on a transport failure.
HttpReply http_request(const std::string& method, const std::string& host, int port,
                       const std::string& target, const std::string& body = {},
                       const std::vector<std::pair<std::string, std::string>>& headers = {},
                       std::chrono::milliseconds timeout = std::chrono::seconds(10));

// A bare TCP connection to 127.0.0.1:port (for clients that misbehave on purpose), or -1.
int raw_connect(int port);

} // namespace camreg::testing

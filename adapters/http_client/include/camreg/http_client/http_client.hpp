#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "camreg/result.hpp"
#include "camreg/url.hpp"

// camreg's one outbound HTTP(S) client, shared by the adapters that call other services
// (MediaMTX, webhooks). Internal to the project: neither installed nor a component.
namespace camreg::http_client {

struct Options {
  // The server, http:// or https://; its path is the caller's to use in targets. Its
  // userinfo is never sent by the client itself (see basic_authorization).
  std::string url;
  std::chrono::milliseconds connect_timeout{2000}; // TCP connect, within the deadline
  std::size_t max_response_bytes = 8u << 20;       // the body; headers are capped at 64 KiB
  std::string ca_file;    // an extra CA for https (PEM); system CAs are always trusted
  bool verify_tls = true; // false only for tests against self-signed servers
  std::string user_agent = "camreg";
};

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method = "GET"; // any token Beast knows: GET, POST, PUT, DELETE, ...
  std::string target = "/";   // origin-form: path and query
  Headers headers;            // sent as given, after Host, User-Agent and Connection
  std::string body;           // sent with Content-Length when non-empty or not a GET
};

struct Response {
  int status = 0;
  Headers headers;
  std::string body;

  // The first value of a header, case-insensitively; empty when absent.
  std::string_view header(std::string_view name) const;
};

// "Basic base64(user:password)" and "Bearer token", for an Authorization header.
std::string basic_authorization(std::string_view user, std::string_view password);
std::string bearer_authorization(std::string_view token);

// Text from a peer (a body, a header) made fit for an error message, a log or a text
// column: valid UTF-8 (invalid bytes become U+FFFD), control characters as spaces, at
// most max_bytes long and never cut inside a character.
std::string excerpt(std::string_view text, std::size_t max_bytes);

// One connection per request (Connection: close), run on a private io_context, so
// requests from several threads never share state. Copies share the TLS context.
class Client {
 public:
  // Fails with invalid_argument on an unusable URL or CA file.
  static Result<Client> make(Options options);

  // Sends request and reads the whole response, whatever its status, before deadline
  // (connecting also within connect_timeout). Fails with timeout, unavailable (refused,
  // reset, DNS, TLS), protocol (malformed or cut-short reply), too_large (body over
  // max_response_bytes, headers over 64 KiB) or invalid_argument (unknown method); the
  // message names the step ("connecting: ...") but not the URL.
  Result<Response> send(const Request& request,
                        std::chrono::steady_clock::time_point deadline) const;

  const HttpUrl& url() const;
  // scheme://host:port/path without userinfo: the only form of the URL to show.
  const std::string& redacted_url() const;
  const Options& options() const;

 private:
  struct State;
  explicit Client(std::shared_ptr<const State> state) : state_(std::move(state)) {}
  std::shared_ptr<const State> state_;
};

} // namespace camreg::http_client

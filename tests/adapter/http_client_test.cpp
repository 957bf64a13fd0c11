#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>
#include <functional>
#include <future>
#include <optional>
#include <thread>

#include "camreg/http_client/http_client.hpp"
#include "camreg/json_writer.hpp"

using namespace camreg;
using namespace std::chrono_literals;

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Reply = std::optional<http::response<http::string_body>>;

// A loopback server for one connection: it reads one request, hands it to the test and
// answers with what reply returns; nullopt keeps the connection silent until the client
// gives up.
class OneShotServer {
 public:
  explicit OneShotServer(std::function<Reply(const http::request<http::string_body>&)> reply)
      : acceptor_(ioc_, {net::ip::make_address("127.0.0.1"), 0}), reply_(std::move(reply)) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { serve(); });
  }
  ~OneShotServer() {
    if (!accepted_) {
      // Nobody came: a connection that closes at once lets accept() and the read return.
      beast::error_code ec;
      tcp::socket poke(ioc_);
      poke.connect(acceptor_.local_endpoint(), ec);
      poke.close(ec);
    }
    thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

  // The request the server read; waits for it, a few seconds at most.
  http::request<http::string_body> request() {
    REQUIRE(seen_.wait_for(5s) == std::future_status::ready);
    return seen_.get();
  }

 private:
  void serve() {
    beast::error_code ec;
    tcp::socket socket(ioc_);
    acceptor_.accept(socket, ec);
    accepted_ = true;
    if (ec) return;
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::read(socket, buffer, request, ec);
    if (ec) return;
    auto response = reply_(request);
    promise_.set_value(request);
    if (response) {
      response->prepare_payload();
      http::write(socket, *response, ec);
      socket.shutdown(tcp::socket::shutdown_both, ec);
      return;
    }
    char byte = 0;
    while (!ec)
      socket.read_some(net::buffer(&byte, 1), ec);
  }

  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::function<Reply(const http::request<http::string_body>&)> reply_;
  int port_ = 0;
  std::atomic<bool> accepted_{false};
  std::promise<http::request<http::string_body>> promise_;
  std::future<http::request<http::string_body>> seen_ = promise_.get_future();
  std::thread thread_;
};

http::response<http::string_body> reply(http::status status, std::string body) {
  http::response<http::string_body> response{status, 11};
  response.body() = std::move(body);
  return response;
}

http_client::Client client_for(const std::string& url, http_client::Options options = {}) {
  options.url = url;
  auto client = http_client::Client::make(std::move(options));
  REQUIRE(client);
  return std::move(*client);
}

std::chrono::steady_clock::time_point in(std::chrono::milliseconds ms) {
  return std::chrono::steady_clock::now() + ms;
}

} // namespace

TEST_CASE("a POST carries its body and headers and the whole reply comes back", "[http_client]") {
  OneShotServer server([](const auto&) {
    auto response = reply(http::status::created, R"({"ok":true})");
    response.set("X-Reply", "yes");
    return response;
  });
  http_client::Request request;
  request.method = "POST";
  request.target = "/hooks/camreg?attempt=1";
  request.headers = {{"Content-Type", "application/json"},
                     {"webhook-id", "msg_1"},
                     {"Authorization", http_client::bearer_authorization("t0ken")}};
  request.body = R"({"type":"device.online"})";
  http_client::Options options;
  options.user_agent = "camreg-test";
  const auto response = client_for(server.url(), options).send(request, in(5s));
  REQUIRE(response);
  CHECK(response->status == 201);
  CHECK(response->header("x-reply") == "yes");
  CHECK(response->header("X-Missing").empty());
  CHECK(response->body == R"({"ok":true})");

  const auto seen = server.request();
  CHECK(seen.method() == http::verb::post);
  CHECK(seen.target() == "/hooks/camreg?attempt=1");
  CHECK(seen.body() == request.body);
  CHECK(seen[http::field::content_length] == std::to_string(request.body.size()));
  CHECK(seen[http::field::content_type] == "application/json");
  CHECK(seen["webhook-id"] == "msg_1");
  CHECK(seen[http::field::authorization] == "Bearer t0ken");
  CHECK(seen[http::field::host] == "127.0.0.1:" + std::to_string(server.port()));
  CHECK(seen[http::field::user_agent] == "camreg-test");
}

TEST_CASE("a server that never answers fails with timeout at the deadline", "[http_client]") {
  OneShotServer server([](const auto&) { return Reply{}; });
  const auto client = client_for(server.url());
  const auto started = std::chrono::steady_clock::now();
  const auto response = client.send({}, in(300ms));
  const auto took = std::chrono::steady_clock::now() - started;
  REQUIRE_FALSE(response);
  CHECK(response.error().kind == ErrorKind::timeout);
  CHECK_THAT(response.error().message, Catch::Contains("reading the reply: timed out"));
  CHECK(took >= 250ms);
  CHECK(took < 2s);
  CHECK(server.request().method() == http::verb::get);

  const auto late = client.send({}, in(-1ms));
  REQUIRE_FALSE(late);
  CHECK(late.error().kind == ErrorKind::timeout);
}

TEST_CASE("a body over the limit is too_large, one at the limit is read", "[http_client]") {
  const auto [limit, ok] = GENERATE(table<std::size_t, bool>({{1999, false}, {2000, true}}));
  CAPTURE(limit);
  OneShotServer server([](const auto&) { return reply(http::status::ok, std::string(2000, 'b')); });
  http_client::Options options;
  options.max_response_bytes = limit;
  const auto response = client_for(server.url(), options).send({}, in(5s));
  CHECK(response.has_value() == ok);
  if (ok) CHECK(response->body.size() == 2000);
  if (!ok) {
    CHECK(response.error().kind == ErrorKind::too_large);
    CHECK_THAT(response.error().message, Catch::Contains("larger than 1999 bytes"));
  }
}

TEST_CASE("a refused connection is unavailable and a bad method or URL is refused",
          "[http_client]") {
  int port = 0;
  {
    // A port that was just free: nothing listens there now.
    net::io_context ioc;
    tcp::acceptor probe(ioc, {net::ip::make_address("127.0.0.1"), 0});
    port = probe.local_endpoint().port();
  }
  const auto client = client_for("http://user:secret@127.0.0.1:" + std::to_string(port) + "/base");
  CHECK(client.redacted_url() == "http://127.0.0.1:" + std::to_string(port) + "/base");
  CHECK(client.url().path == "/base");
  const auto refused = client.send({}, in(5s));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind == ErrorKind::unavailable);
  CHECK_THAT(refused.error().message, Catch::Contains("connecting: "));
  CHECK(refused.error().message.find("secret") == std::string::npos);

  http_client::Request bad;
  bad.method = "FETCH";
  CHECK(client.send(bad, in(5s)).error().kind == ErrorKind::invalid_argument);
  http_client::Options options;
  options.url = "ftp://127.0.0.1";
  CHECK(http_client::Client::make(options).error().kind == ErrorKind::invalid_argument);
  options.url = "https://127.0.0.1";
  options.ca_file = "/nonexistent/ca.pem";
  const auto no_ca = http_client::Client::make(options);
  REQUIRE_FALSE(no_ca);
  CHECK_THAT(no_ca.error().message, Catch::Contains("/nonexistent/ca.pem"));
}

TEST_CASE("basic and bearer credentials become Authorization values", "[http_client]") {
  CHECK(http_client::basic_authorization("camreg", "s3cret") == "Basic Y2FtcmVnOnMzY3JldA==");
  CHECK(http_client::basic_authorization("a", "") == "Basic YTo=");
  CHECK(http_client::basic_authorization("", "ab") == "Basic OmFi");
  CHECK(http_client::bearer_authorization("eyJ.jwt.sig") == "Bearer eyJ.jwt.sig");
}

TEST_CASE(
    "an excerpt of peer text is valid UTF-8, without control characters, cut between "
    "characters",
    "[http_client]") {
  const auto [text, max_bytes, expected] = GENERATE(table<std::string, std::size_t, std::string>({
      {"plain", 10, "plain"},
      {"plain text", 5, "plain"},
      {"caf\xe9 latin-1", 20, "caf\xef\xbf\xbd latin-1"},
      {"line\r\nnext\tx\x7f", 20, "line  next x "},
      {"ab\xc3\xa9", 3, "ab"},                         // é would be cut in two
      {"\xe2\x82\xac\xe2\x82\xac", 5, "\xe2\x82\xac"}, // so would the second €
      {"\xe9\xe9", 4, "\xef\xbf\xbd"},                 // each invalid byte grows into three
      {"", 5, ""},
  }));
  CAPTURE(text, max_bytes);
  const auto out = http_client::excerpt(text, max_bytes);
  CHECK(out == expected);
  CHECK(out.size() <= max_bytes);
  CHECK(to_valid_utf8(out) == out);
}

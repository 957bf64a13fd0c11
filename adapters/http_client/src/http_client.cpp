#include "camreg/http_client/http_client.hpp"

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>

#include "camreg/json_writer.hpp"

namespace camreg::http_client {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using SteadyTime = std::chrono::steady_clock::time_point;

struct Client::State {
  Options options;
  HttpUrl url;
  std::string redacted_url;
  std::unique_ptr<ssl::context> tls; // null for http
};

namespace {

constexpr std::size_t max_header_bytes = 64 * 1024;

char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

std::string base64(std::string_view in) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned n = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += alphabet[n & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned n = static_cast<unsigned char>(in[i]) << 16;
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const unsigned n =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

bool is_continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// Shortens s to at most max_bytes, backing off to the start of a character. Stops after
// three continuation bytes: past that the text is not UTF-8 and any cut will do.
std::string_view cut(std::string_view s, std::size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  std::size_t n = max_bytes;
  for (int i = 0; i < 3 && n > 0 && is_continuation(s[n]); ++i)
    --n;
  return s.substr(0, n);
}

std::string host_header(const HttpUrl& url) {
  std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  const bool default_port = url.port == (url.scheme == "https" ? 443 : 80);
  return default_port ? host : host + ":" + std::to_string(url.port);
}

// One request on a private io_context: resolve, connect, (TLS), write, read, each
// bounded by the deadline; connect also by the connect timeout.
class Exchange {
 public:
  Exchange(const Options& options, const HttpUrl& url, ssl::context* tls)
      : options_(options), url_(url), tls_(tls) {}

  Result<Response> run(http::request<http::string_body>& request, SteadyTime deadline) {
    net::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::tcp_stream tcp_stream(ioc);
    std::optional<beast::ssl_stream<beast::tcp_stream&>> tls_stream;
    http::response_parser<http::string_body> parser;
    parser.body_limit(options_.max_response_bytes);
    parser.header_limit(max_header_bytes);
    // Beast reads at most what the buffer can hold, and no less than 512 bytes: as the
    // parser empties the buffer into the body after every read, an unreserved buffer would
    // read a 700 kB page 500 bytes (one syscall and one timer update) at a time.
    beast::flat_buffer buffer;
    buffer.reserve(64 * 1024);

    std::optional<Error> error;
    bool done = false;
    const auto stop = [&](Error e) {
      if (!error) error = std::move(e);
    };
    net::steady_timer resolve_timer(ioc);

    const auto on_read = [&](beast::error_code ec, std::size_t) {
      if (ec) return stop(classify(ec, "reading the reply"));
      done = true;
    };
    const auto on_write = [&](beast::error_code ec, std::size_t) {
      if (ec) return stop(classify(ec, "sending the request"));
      if (tls_stream)
        http::async_read(*tls_stream, buffer, parser, on_read);
      else
        http::async_read(tcp_stream, buffer, parser, on_read);
    };
    const auto on_connect = [&](beast::error_code ec, const tcp::endpoint&) {
      if (ec) return stop(classify(ec, "connecting"));
      tcp_stream.expires_at(deadline);
      if (!tls_) return http::async_write(tcp_stream, request, on_write);
      tls_stream.emplace(tcp_stream, *tls_);
      // SNI, and the certificate must name the host we asked for.
      if (!SSL_set_tlsext_host_name(tls_stream->native_handle(), url_.host.c_str())) {
        return stop(fail(ErrorKind::protocol, "cannot set TLS server name"));
      }
      if (options_.verify_tls) {
        tls_stream->set_verify_mode(ssl::verify_peer);
        tls_stream->set_verify_callback(ssl::host_name_verification(url_.host));
      } else {
        tls_stream->set_verify_mode(ssl::verify_none);
      }
      tls_stream->async_handshake(ssl::stream_base::client, [&](beast::error_code hec) {
        if (hec) return stop(classify(hec, "TLS handshake"));
        http::async_write(*tls_stream, request, on_write);
      });
    };
    const auto connect = [&](const auto& endpoints) {
      tcp_stream.expires_at(
          std::min(deadline, std::chrono::steady_clock::now() + options_.connect_timeout));
      tcp_stream.async_connect(endpoints, on_connect);
    };
    // An address needs no resolver (whose asynchronous form starts a thread per io_context).
    beast::error_code literal_ec;
    const auto literal = net::ip::make_address(url_.host, literal_ec);
    if (!literal_ec) {
      connect(std::array{tcp::endpoint(literal, url_.port)});
    } else {
      resolve_timer.expires_at(deadline);
      resolve_timer.async_wait([&](beast::error_code ec) {
        if (!ec) resolver.cancel();
      });
      resolver.async_resolve(
          url_.host, std::to_string(url_.port),
          [&](beast::error_code ec, const tcp::resolver::results_type& results) {
            resolve_timer.cancel();
            if (ec) {
              if (ec == net::error::operation_aborted) {
                return stop(fail(ErrorKind::timeout, "resolving " + url_.host + ": timed out"));
              }
              return stop(
                  fail(ErrorKind::unavailable, "resolving " + url_.host + ": " + ec.message()));
            }
            connect(results);
          });
    }
    ioc.run();
    if (error) return *error;
    if (!done) return fail(ErrorKind::protocol, "no reply");

    auto message = parser.release();
    Response response;
    response.status = static_cast<int>(message.result_int());
    for (const auto& field : message) {
      response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    response.body = std::move(message.body());
    return response;
  }

 private:
  Error classify(const beast::error_code& ec, const char* step) const {
    const std::string what = std::string(step) + ": ";
    if (ec == beast::error::timeout) return fail(ErrorKind::timeout, what + "timed out");
    if (ec == http::error::body_limit) {
      return fail(ErrorKind::too_large, what + "body larger than " +
                                            std::to_string(options_.max_response_bytes) + " bytes");
    }
    if (ec == http::error::header_limit)
      return fail(ErrorKind::too_large, what + "headers too large");
    if (ec == http::error::partial_message || ec == net::error::eof ||
        ec == net::ssl::error::stream_truncated) {
      return fail(ErrorKind::protocol, what + "the reply was cut short");
    }
    if (ec.category() == http::make_error_code(http::error::bad_version).category()) {
      return fail(ErrorKind::protocol, what + "malformed HTTP (" + ec.message() + ")");
    }
    if (ec.category() == net::error::get_ssl_category()) {
      return fail(ErrorKind::unavailable, what + "TLS: " + ec.message());
    }
    return fail(ErrorKind::unavailable, what + ec.message());
  }

  const Options& options_;
  const HttpUrl& url_;
  ssl::context* tls_;
};

} // namespace

std::string_view Response::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) return value;
  }
  return {};
}

std::string basic_authorization(std::string_view user, std::string_view password) {
  std::string credentials(user);
  credentials += ':';
  credentials += password;
  return "Basic " + base64(credentials);
}

std::string bearer_authorization(std::string_view token) {
  return "Bearer " + std::string(token);
}

std::string excerpt(std::string_view text, std::size_t max_bytes) {
  // Invalid bytes grow into three-byte U+FFFD, hence the second cut.
  std::string out = to_valid_utf8(cut(text, max_bytes));
  for (auto& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  out.resize(cut(out, max_bytes).size());
  return out;
}

Result<Client> Client::make(Options options) {
  auto url = parse_http_url(options.url);
  if (!url) return url.error();
  if (options.max_response_bytes == 0) {
    return fail(ErrorKind::invalid_argument, "the response body limit must be positive");
  }
  auto state = std::make_shared<State>();
  if (url->scheme == "https") {
    state->tls = std::make_unique<ssl::context>(ssl::context::tls_client);
    beast::error_code ec;
    state->tls->set_default_verify_paths(ec);
    if (!options.ca_file.empty()) {
      state->tls->load_verify_file(options.ca_file, ec);
      if (ec) {
        return fail(ErrorKind::invalid_argument,
                    "CA file " + options.ca_file + ": " + ec.message());
      }
    }
  }
  state->redacted_url = url->redacted();
  state->url = std::move(*url);
  state->options = std::move(options);
  return Client(std::move(state));
}

Result<Response> Client::send(const Request& request, SteadyTime deadline) const {
  const auto verb = http::string_to_verb(request.method);
  if (verb == http::verb::unknown) {
    return fail(ErrorKind::invalid_argument, "unknown HTTP method \"" + request.method + "\"");
  }
  if (std::chrono::steady_clock::now() >= deadline) {
    return fail(ErrorKind::timeout, "timed out before the request was sent");
  }
  http::request<http::string_body> message{verb, request.target, 11};
  message.set(http::field::host, host_header(state_->url));
  message.set(http::field::user_agent, state_->options.user_agent);
  message.set(http::field::connection, "close");
  for (const auto& [name, value] : request.headers)
    message.insert(name, value);
  message.body() = request.body;
  message.prepare_payload();
  Exchange exchange(state_->options, state_->url, state_->tls.get());
  return exchange.run(message, deadline);
}

const HttpUrl& Client::url() const {
  return state_->url;
}

const std::string& Client::redacted_url() const {
  return state_->redacted_url;
}

const Options& Client::options() const {
  return state_->options;
}

} // namespace camreg::http_client

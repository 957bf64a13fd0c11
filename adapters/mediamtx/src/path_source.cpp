#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/version.hpp>
#include <unordered_map>

#include "camreg/mediamtx/mediamtx.hpp"
#include "camreg/url.hpp"

namespace camreg::mediamtx {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using SteadyTime = std::chrono::steady_clock::time_point;

namespace {

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

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

// The JSON error MediaMTX sends ({"status":"error","error":"…"}), or a snippet of the body.
std::string error_text(const std::string& body) {
  const auto key = body.find("\"error\"");
  if (key != std::string::npos) {
    const auto start = body.find('"', body.find(':', key) + 1);
    const auto end = start == std::string::npos ? start : body.find('"', start + 1);
    if (end != std::string::npos)
      return body.substr(start + 1, std::min<std::size_t>(end - start - 1, 200));
  }
  std::string snippet = body.substr(0, 120);
  for (auto& c : snippet) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return snippet;
}

using Response = http::response<http::string_body>;

// One GET on a private io_context: resolve, connect, (TLS), write, read, each bounded
// by the listing's deadline; connect also by the connect timeout.
class Exchange {
 public:
  Exchange(const Options& options, const HttpUrl& url, ssl::context* tls)
      : options_(options), url_(url), tls_(tls) {}

  Result<Response> get(const std::string& target, const std::string& authorization,
                       SteadyTime deadline) {
    net::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::tcp_stream tcp_stream(ioc);
    std::optional<beast::ssl_stream<beast::tcp_stream&>> tls_stream;
    http::request<http::empty_body> request{http::verb::get, target, 11};
    request.set(http::field::host, host_header());
    request.set(http::field::user_agent, "camreg-sync-worker");
    request.set(http::field::accept, "application/json");
    request.set(http::field::connection, "close");
    if (!authorization.empty()) request.set(http::field::authorization, authorization);
    http::response_parser<http::string_body> parser;
    parser.body_limit(options_.max_response_bytes);
    parser.header_limit(64 * 1024);
    beast::flat_buffer buffer;

    std::optional<Error> error;
    bool done = false;
    const auto stop = [&](Error e) {
      if (!error) error = std::move(e);
    };
    net::steady_timer resolve_timer(ioc);
    resolve_timer.expires_at(deadline);
    resolve_timer.async_wait([&](beast::error_code ec) {
      if (!ec) resolver.cancel();
    });

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
          tcp_stream.expires_at(
              std::min(deadline, std::chrono::steady_clock::now() + options_.connect_timeout));
          tcp_stream.async_connect(results, on_connect);
        });
    ioc.run();
    if (error) return *error;
    if (!done) return fail(ErrorKind::protocol, "no reply");
    return parser.release();
  }

 private:
  std::string host_header() const {
    std::string host = url_.host.find(':') != std::string::npos ? "[" + url_.host + "]" : url_.host;
    const bool default_port = url_.port == (url_.scheme == "https" ? 443 : 80);
    return default_port ? host : host + ":" + std::to_string(url_.port);
  }

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

class MediamtxPathSource final : public PathSource {
 public:
  MediamtxPathSource(Options options, HttpUrl url, std::unique_ptr<ssl::context> tls)
      : options_(std::move(options)), url_(std::move(url)), tls_(std::move(tls)) {
    std::string user = options_.user, password = options_.password;
    if (user.empty() && password.empty()) {
      user = url_.user;
      password = url_.password;
    }
    if (!options_.token.empty())
      authorization_ = "Bearer " + options_.token;
    else if (!user.empty() || !password.empty())
      authorization_ = "Basic " + base64(user + ":" + password);
    describe_ = url_.redacted();
  }

  Result<std::vector<PathState>> list_paths() override {
    const SteadyTime deadline = std::chrono::steady_clock::now() + options_.total_timeout;
    std::vector<PathState> paths;
    std::unordered_map<std::string, std::size_t> index;
    std::size_t page_count = 1;
    for (std::size_t page = 0; page < page_count; ++page) {
      if (page >= options_.max_pages) {
        return fail(ErrorKind::too_large, "MediaMTX path list has " + std::to_string(page_count) +
                                              " pages, more than the limit of " +
                                              std::to_string(options_.max_pages));
      }
      auto body = fetch_page(page, deadline);
      if (!body) return body.error();
      auto parsed = parse_paths_page(*body, page);
      if (!parsed)
        return fail(parsed.error().kind, "GET " + page_url(page) + ": " + parsed.error().message);
      // pageCount is re-read on every page: the list may grow or shrink while we walk it.
      // Loops are bounded by it, never by an empty page (older servers repeat the last one).
      page_count = parsed->page_count;
      for (auto& path : parsed->items) {
        // A path seen on two pages (the list shifted between requests) counts once,
        // with its later state.
        if (const auto [it, inserted] = index.try_emplace(path.name, paths.size()); !inserted) {
          paths[it->second] = std::move(path);
        } else {
          paths.push_back(std::move(path));
        }
      }
    }
    return paths;
  }

  std::string describe() const override { return describe_; }

 private:
  std::string page_target(std::size_t page) const {
    return url_.path + "/v3/paths/list?page=" + std::to_string(page) +
           "&itemsPerPage=" + std::to_string(options_.items_per_page);
  }
  std::string page_url(std::size_t page) const { return describe_ + page_target(page); }

  Result<std::string> fetch_page(std::size_t page, SteadyTime deadline) {
    const std::string target = page_target(page);
    const std::string where = "GET " + page_url(page) + ": ";
    if (std::chrono::steady_clock::now() >= deadline) {
      return fail(ErrorKind::timeout, where + "timed out (total timeout " +
                                          std::to_string(options_.total_timeout.count()) + " ms)");
    }
    Exchange exchange(options_, url_, tls_.get());
    auto response = exchange.get(target, authorization_, deadline);
    if (!response) return fail(response.error().kind, where + response.error().message);
    const auto status = response->result_int();
    if (status == 401 || status == 403) {
      return fail(ErrorKind::auth,
                  where + "authentication failed (" + std::to_string(status) + ": " +
                      error_text(response->body()) +
                      "). MediaMTX serves its API without credentials only to localhost: give "
                      "camreg a user with the api permission in authInternalUsers "
                      "(--mediamtx-user/--mediamtx-password) or a token (--mediamtx-token)");
    }
    if (status != 200) {
      return fail(ErrorKind::protocol,
                  where + "HTTP " + std::to_string(status) + ": " + error_text(response->body()));
    }
    const auto type = lower((*response)[http::field::content_type]);
    if (type.rfind("application/json", 0) != 0) {
      return fail(ErrorKind::protocol,
                  where + "expected Content-Type application/json, got \"" +
                      std::string((*response)[http::field::content_type].substr(0, 60)) + "\"");
    }
    if (const auto encoding = lower((*response)[http::field::content_encoding]);
        !encoding.empty() && encoding != "identity") {
      return fail(ErrorKind::protocol, where + "unexpected Content-Encoding \"" + encoding + "\"");
    }
    return std::move(response->body());
  }

  Options options_;
  HttpUrl url_;
  std::unique_ptr<ssl::context> tls_;
  std::string authorization_;
  std::string describe_;
};

} // namespace

Result<std::unique_ptr<PathSource>> make_path_source(Options options) {
  auto url = parse_http_url(options.api_url);
  if (!url) return fail(ErrorKind::invalid_argument, "MediaMTX API URL: " + url.error().message);
  if (options.items_per_page == 0 || options.max_pages == 0 || options.max_response_bytes == 0) {
    return fail(ErrorKind::invalid_argument, "MediaMTX limits must be positive");
  }
  std::unique_ptr<ssl::context> tls;
  if (url->scheme == "https") {
    tls = std::make_unique<ssl::context>(ssl::context::tls_client);
    beast::error_code ec;
    tls->set_default_verify_paths(ec);
    if (!options.ca_file.empty()) {
      tls->load_verify_file(options.ca_file, ec);
      if (ec) {
        return fail(ErrorKind::invalid_argument,
                    "MediaMTX CA file " + options.ca_file + ": " + ec.message());
      }
    }
  }
  return std::unique_ptr<PathSource>(
      std::make_unique<MediamtxPathSource>(std::move(options), std::move(*url), std::move(tls)));
}

} // namespace camreg::mediamtx

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "camreg/api_json.hpp"
#include "camreg/clock.hpp"
#include "camreg/http/server.hpp"
#include "camreg/json_writer.hpp"
#include "camreg/device_query.hpp"
#include "camreg/url.hpp"
#include "snapshot_cache.hpp"

namespace camreg::http {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
namespace fs = std::filesystem;

namespace {

using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::span_body<const char>>;

// A response and what keeps its body's bytes alive.
struct Reply {
  Response res;
  std::shared_ptr<const void> owner;
};

constexpr const char* content_security_policy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob: mediastream:; connect-src 'self' http: https:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool parse_query(std::string_view query, QueryParams& params) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    std::string name, value;
    if (!percent_decode(pair.substr(0, eq), name, true)) return false;
    if (eq != std::string_view::npos && !percent_decode(pair.substr(eq + 1), value, true))
      return false;
    params.emplace_back(std::move(name), std::move(value));
  }
  return true;
}

std::string_view mime_type(const fs::path& path) {
  const auto ext = lower(path.extension().string());
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

bool accepts_gzip(std::string_view header) {
  const auto value = lower(header);
  for (std::size_t pos = value.find("gzip"); pos != std::string::npos;
       pos = value.find("gzip", pos + 4)) {
    auto rest = std::string_view(value).substr(pos + 4);
    while (!rest.empty() && rest.front() == ' ')
      rest.remove_prefix(1);
    if (rest.empty() || rest.front() == ',') return true;
    if (rest.front() == ';') {
      const auto q = rest.find("q=");
      if (q == std::string_view::npos) return true;
      double weight = 1;
      const auto digits = rest.substr(q + 2);
      std::from_chars(digits.data(), digits.data() + digits.size(), weight);
      return weight > 0;
    }
  }
  return false;
}

bool etag_matches(std::string_view if_none_match, std::string_view etag) {
  if (if_none_match.empty()) return false;
  if (if_none_match.find('*') != std::string_view::npos) return true;
  // A weak comparison, as If-None-Match asks: W/"x" matches "x".
  return if_none_match.find(etag) != std::string_view::npos;
}

// Everything the sessions share.
struct Shared {
  Options options;
  detail::SnapshotCache* cache = nullptr;
  fs::path web_root;
  std::atomic<std::size_t> connections{0};
  std::atomic<bool> draining{false};
  LogSink log;
};

class Router {
 public:
  explicit Router(Shared& shared) : shared_(shared) {}

  Reply text(bhttp::status status, std::string body, std::string_view type,
             const Request& req) const {
    auto owner = std::make_shared<std::string>(std::move(body));
    Reply reply{Response{status, req.version()}, owner};
    reply.res.set(bhttp::field::content_type, type);
    reply.res.body() = {owner->data(), owner->size()};
    decorate(reply, req);
    return reply;
  }

  Reply json(bhttp::status status, std::string body, const Request& req) const {
    auto reply = text(status, std::move(body), "application/json", req);
    reply.res.set(bhttp::field::cache_control, "no-cache");
    return reply;
  }

  Reply error(bhttp::status status, std::string_view code, std::string_view detail,
              const Request& req) const {
    std::string body = "{\"error\":";
    append_json_string(body, code);
    body += ",\"detail\":";
    append_json_string(body, detail);
    body += '}';
    return json(status, std::move(body), req);
  }

  Reply method_not_allowed(const Request& req) const {
    auto reply =
        error(bhttp::status::method_not_allowed, "method_not_allowed",
              std::string(req.method_string()) + " is not allowed here; use GET or HEAD", req);
    reply.res.set(bhttp::field::allow, "GET, HEAD, OPTIONS");
    return reply;
  }

  Reply snapshot(const detail::SnapshotPtr& snap, std::string_view part, const Request& req) const {
    const bool whole = part.data() == snap->json.data() && part.size() == snap->json.size();
    std::string etag = whole ? snap->etag : std::string();
    if (whole && etag_matches(req[bhttp::field::if_none_match], etag)) {
      Reply reply{Response{bhttp::status::not_modified, req.version()}, snap};
      reply.res.set(bhttp::field::etag, etag);
      reply.res.set(bhttp::field::cache_control, "no-cache");
      reply.res.set(bhttp::field::vary, "Accept-Encoding");
      decorate(reply, req);
      return reply;
    }
    Reply reply{Response{bhttp::status::ok, req.version()}, snap};
    reply.res.set(bhttp::field::content_type, "application/json");
    reply.res.set(bhttp::field::cache_control, "no-cache");
    if (whole) {
      reply.res.set(bhttp::field::etag, etag);
      reply.res.set(bhttp::field::vary, "Accept-Encoding");
      if (!snap->gzip.empty() && accepts_gzip(req[bhttp::field::accept_encoding])) {
        reply.res.set(bhttp::field::content_encoding, "gzip");
        part = snap->gzip;
      }
    }
    reply.res.body() = {part.data(), part.size()};
    decorate(reply, req);
    return reply;
  }

  // Answers at once, or hands the request to the cache (then returns nothing and calls
  // done later, from any thread).
  std::optional<Reply> route(const Request& req, std::function<void(Reply)> done) const {
    const auto target = std::string_view(req.target());
    const auto qmark = target.find('?');
    const auto path = target.substr(0, qmark);
    const auto query =
        qmark == std::string_view::npos ? std::string_view() : target.substr(qmark + 1);
    const bool get = req.method() == bhttp::verb::get || req.method() == bhttp::verb::head;

    if (req.method() == bhttp::verb::options) return preflight(req);
    const bool api = path.rfind("/api/", 0) == 0 || path == "/healthz" || path == "/readyz";
    if (!get) {
      if (api || !shared_.web_root.empty()) return method_not_allowed(req);
      return error(bhttp::status::not_found, "not_found", "no such resource", req);
    }
    if (path == "/healthz") return json(bhttp::status::ok, R"({"status":"ok"})", req);
    if (path == "/readyz") {
      const auto health = shared_.cache->health();
      if (health.ready) return json(bhttp::status::ok, R"({"status":"ready"})", req);
      return error(bhttp::status::service_unavailable, "not_ready", health.reason, req);
    }
    if (path == "/api/sync/status") return sync_status(req);
    if (path == "/api/devices" || path.rfind("/api/devices/", 0) == 0) {
      QueryParams params;
      if (!parse_query(query, params)) {
        return error(bhttp::status::bad_request, "bad_request",
                     "malformed percent-encoding in the query", req);
      }
      std::string key;
      if (path != "/api/devices") {
        // Keys contain '/': everything after /api/devices/ is the key, percent-decoded
        // ("site-a/cam_1" and "site-a%2Fcam_1" are the same device).
        if (!percent_decode(path.substr(13), key, false) || key.empty()) {
          return error(bhttp::status::bad_request, "bad_request", "malformed device key", req);
        }
        std::erase_if(params, [](const auto& p) { return p.first == "active_only"; });
      }
      auto parsed = parse_device_query(params);
      if (!parsed)
        return error(bhttp::status::bad_request, "bad_request", parsed.error().message, req);
      const auto reply_for = [this, req, key](const detail::SnapshotPtr& snap,
                                              const std::string& err) {
        if (!snap)
          return error(bhttp::status::service_unavailable, "database_unavailable", err, req);
        if (key.empty()) return snapshot(snap, snap->json, req);
        const auto it = snap->objects.find(key);
        if (it == snap->objects.end()) {
          return error(bhttp::status::not_found, "not_found",
                       "no device with key " + key.substr(0, 200), req);
        }
        return snapshot(
            snap, std::string_view(snap->json).substr(it->second.first, it->second.second), req);
      };
      shared_.cache->get(*parsed, [done = std::move(done), reply_for](detail::SnapshotPtr snap,
                                                                      const std::string& err) {
        done(reply_for(snap, err));
      });
      return std::nullopt;
    }
    if (path.rfind("/api/", 0) == 0 || shared_.web_root.empty()) {
      return error(bhttp::status::not_found, "not_found", "no such resource", req);
    }
    return static_file(path, req);
  }

 private:
  void decorate(Reply& reply, const Request& req) const {
    auto& res = reply.res;
    res.set(bhttp::field::server, "camreg");
    res.set("X-Content-Type-Options", "nosniff");
    const auto origin = req[bhttp::field::origin];
    if (!origin.empty() && origin_allowed(origin)) {
      const bool any =
          std::find(shared_.options.cors_origins.begin(), shared_.options.cors_origins.end(),
                    "*") != shared_.options.cors_origins.end();
      res.set(bhttp::field::access_control_allow_origin,
              any ? std::string("*") : std::string(origin));
      res.set(bhttp::field::access_control_expose_headers, "ETag");
      if (!any)
        res.set(bhttp::field::vary, res[bhttp::field::vary].empty()
                                        ? std::string("Origin")
                                        : std::string(res[bhttp::field::vary]) + ", Origin");
    }
  }

  bool origin_allowed(std::string_view origin) const {
    for (const auto& allowed : shared_.options.cors_origins) {
      if (allowed == "*" || allowed == origin) return true;
    }
    return false;
  }

  Reply preflight(const Request& req) const {
    auto owner = std::make_shared<std::string>();
    Reply reply{Response{bhttp::status::no_content, req.version()}, owner};
    reply.res.set(bhttp::field::allow, "GET, HEAD, OPTIONS");
    decorate(reply, req);
    if (!req[bhttp::field::origin].empty() && origin_allowed(req[bhttp::field::origin])) {
      reply.res.set(bhttp::field::access_control_allow_methods, "GET, HEAD, OPTIONS");
      reply.res.set(bhttp::field::access_control_allow_headers, "If-None-Match, Content-Type");
      reply.res.set(bhttp::field::access_control_max_age, "600");
    }
    return reply;
  }

  Reply sync_status(const Request& req) const {
    const auto runs = shared_.cache->runs();
    if (!runs) {
      return error(bhttp::status::service_unavailable, "database_unavailable",
                   shared_.cache->health().reason, req);
    }
    return json(bhttp::status::ok, render_sync_status_json(**runs, SystemClock().now()), req);
  }

  Reply static_file(std::string_view target_path, const Request& req) const {
    std::string path;
    if (!percent_decode(target_path, path, false) || path.find('\0') != std::string::npos ||
        path.find('\\') != std::string::npos) {
      return error(bhttp::status::bad_request, "bad_request", "malformed path", req);
    }
    // No "." or ".." segment may appear, encoded or not.
    for (std::size_t start = 1; start <= path.size();) {
      const auto end = std::min(path.find('/', start), path.size());
      const auto segment = std::string_view(path).substr(start, end - start);
      if (segment == "." || segment == "..") {
        return error(bhttp::status::not_found, "not_found", "no such resource", req);
      }
      start = end + 1;
    }
    if (path.empty() || path.back() == '/') path += "index.html";
    std::error_code ec;
    const auto file = fs::weakly_canonical(shared_.web_root / fs::path(path).relative_path(), ec);
    const auto root = shared_.web_root.native();
    if (ec || file.native().compare(0, root.size(), root) != 0 || !fs::is_regular_file(file, ec)) {
      return error(bhttp::status::not_found, "not_found", "no such resource", req);
    }
    std::ifstream in(file, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    auto reply = text(bhttp::status::ok, content.str(), mime_type(file), req);
    reply.res.set(bhttp::field::cache_control, "no-cache");
    reply.res.set("Content-Security-Policy", content_security_policy);
    reply.res.set("Referrer-Policy", "no-referrer");
    return reply;
  }

  Shared& shared_;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, Shared& shared)
      : stream_(std::move(socket)), shared_(shared), router_(shared) {
    ++shared_.connections;
  }
  ~Session() { --shared_.connections; }

  void run() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::do_read, shared_from_this()));
  }
  // Closes the connection if it is waiting for a request (drain).
  void close_if_idle() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (self->reading_) self->stream_.cancel();
    });
  }

 private:
  void do_read() {
    if (shared_.draining) return close();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(shared_.options.header_limit));
    parser_->body_limit(shared_.options.body_limit);
    stream_.expires_after(shared_.options.read_timeout);
    reading_ = true;
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    reading_ = false;
    if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout ||
        ec == net::error::operation_aborted) {
      return close();
    }
    Request bare;
    if (ec == bhttp::error::header_limit) {
      return send(router_.error(bhttp::status::request_header_fields_too_large, "header_too_large",
                                "request line and headers exceed " +
                                    std::to_string(shared_.options.header_limit) + " bytes",
                                bare),
                  true);
    }
    if (ec == bhttp::error::body_limit) {
      return send(router_.error(bhttp::status::payload_too_large, "body_too_large",
                                "request body exceeds " +
                                    std::to_string(shared_.options.body_limit) + " bytes",
                                bare),
                  true);
    }
    if (ec) {
      if (buffer_.size() == 0 && !parser_->got_some()) return close();
      return send(router_.error(bhttp::status::bad_request, "bad_request",
                                "malformed HTTP request: " + ec.message(), bare),
                  true);
    }
    request_ = parser_->release();
    const bool close_after = !request_.keep_alive();
    try {
      auto immediate =
          router_.route(request_, [self = shared_from_this(), close_after](Reply reply) {
            net::post(self->stream_.get_executor(),
                      [self, reply = std::move(reply), close_after]() mutable {
                        self->send(std::move(reply), close_after);
                      });
          });
      if (immediate) send(std::move(*immediate), close_after);
    } catch (const std::exception& e) {
      // A bug, not an expected failure: answer 500 and keep serving others.
      if (shared_.log)
        shared_.log(LogLevel::error, "request", std::string("internal error: ") + e.what());
      send(router_.error(bhttp::status::internal_server_error, "internal_error",
                         "unexpected server error", request_),
           true);
    }
  }

  void send(Reply reply, bool close_after) {
    reply_ = std::move(reply);
    auto& res = reply_->res;
    const bool close_conn = close_after || shared_.draining;
    res.keep_alive(!close_conn);
    const auto size = res.body().size();
    if (request_.method() == bhttp::verb::head) {
      res.body() = {};
      res.content_length(size);
    } else if (res.result() == bhttp::status::not_modified ||
               res.result() == bhttp::status::no_content) {
      res.body() = {};
    } else {
      res.content_length(size);
    }
    stream_.expires_after(shared_.options.read_timeout);
    bhttp::async_write(stream_, res,
                       [self = shared_from_this(), close_conn](beast::error_code ec, std::size_t) {
                         self->reply_.reset();
                         if (ec || close_conn) return self->close();
                         self->do_read();
                       });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  Shared& shared_;
  Router router_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  Request request_;
  std::optional<Reply> reply_;
  bool reading_ = false;

 public:
  std::weak_ptr<Session> weak() { return weak_from_this(); }
};

class BeastServer final : public Server {
 public:
  BeastServer(Options options, std::unique_ptr<detail::SnapshotCache> cache, LogSink log)
      : ioc_(static_cast<int>(std::max<std::size_t>(options.threads, 1))),
        acceptor_(net::make_strand(ioc_)),
        drain_timer_(ioc_),
        cache_(std::move(cache)) {
    shared_.options = std::move(options);
    shared_.cache = cache_.get();
    shared_.log = std::move(log);
  }

  Result<void> bind(const tcp::endpoint& endpoint, fs::path web_root) {
    shared_.web_root = std::move(web_root);
    beast::error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return fail(ErrorKind::unavailable, "cannot listen on " + endpoint.address().to_string() +
                                              ":" + std::to_string(endpoint.port()) + ": " +
                                              ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    do_accept();
    return {};
  }

  std::uint16_t port() const override { return port_; }

  void run() override {
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < shared_.options.threads; ++i)
      threads.emplace_back([this] { ioc_.run(); });
    ioc_.run();
    for (auto& t : threads)
      t.join();
    cache_->stop();
  }

  void stop() override {
    net::post(acceptor_.get_executor(), [this] {
      if (shared_.draining.exchange(true)) return;
      beast::error_code ec;
      acceptor_.close(ec);
      std::vector<std::shared_ptr<Session>> live;
      {
        const std::lock_guard lock(sessions_mutex_);
        for (auto& w : sessions_) {
          if (auto s = w.lock()) live.push_back(std::move(s));
        }
        sessions_.clear();
      }
      for (auto& s : live)
        s->close_if_idle();
      drain_timer_.expires_after(shared_.options.drain_timeout);
      drain_timer_.async_wait([this](beast::error_code timer_ec) {
        if (!timer_ec) ioc_.stop();
      });
      // Once the last connection has gone, nothing is left to wait for.
      poll_drained();
    });
  }

 private:
  void poll_drained() {
    if (shared_.connections == 0) {
      drain_timer_.cancel();
      return;
    }
    auto timer = std::make_shared<net::steady_timer>(ioc_, std::chrono::milliseconds(20));
    timer->async_wait([this, timer](beast::error_code) { poll_drained(); });
  }

  void do_accept() {
    acceptor_.async_accept(net::make_strand(ioc_),
                           beast::bind_front_handler(&BeastServer::on_accept, this));
  }

  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (shared_.draining) return;
    if (ec) {
      if (ec != net::error::operation_aborted && shared_.log)
        shared_.log(LogLevel::warn, "accept", ec.message());
      if (ec == net::error::operation_aborted) return;
    } else if (shared_.connections >= shared_.options.max_connections) {
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      auto session = std::make_shared<Session>(std::move(socket), shared_);
      {
        const std::lock_guard lock(sessions_mutex_);
        if (++accepted_ % 256 == 0)
          std::erase_if(sessions_, [](const auto& w) { return w.expired(); });
        sessions_.push_back(session->weak());
      }
      session->run();
    }
    do_accept();
  }

  net::io_context ioc_;
  tcp::acceptor acceptor_;
  net::steady_timer drain_timer_;
  std::unique_ptr<detail::SnapshotCache> cache_;
  Shared shared_;
  std::uint16_t port_ = 0;
  std::mutex sessions_mutex_;
  std::vector<std::weak_ptr<Session>> sessions_;
  std::size_t accepted_ = 0;
};

} // namespace

Result<std::unique_ptr<Server>> Server::start(Options options,
                                              std::unique_ptr<DeviceRepository> repository,
                                              std::unique_ptr<ChangeFeed> feed, LogSink log) {
  const auto colon = options.listen.rfind(':');
  if (colon == std::string::npos) {
    return fail(ErrorKind::invalid_argument,
                "listen address \"" + options.listen + "\": expected host:port");
  }
  std::string host = options.listen.substr(0, colon);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  const auto port_text = std::string_view(options.listen).substr(colon + 1);
  const auto [end, perr] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (perr != std::errc{} || end != port_text.data() + port_text.size() || port > 65535) {
    return fail(ErrorKind::invalid_argument, "listen address \"" + options.listen + "\": bad port");
  }
  beast::error_code ec;
  const auto address = net::ip::make_address(host.empty() ? "0.0.0.0" : host, ec);
  if (ec) {
    return fail(ErrorKind::invalid_argument,
                "listen address \"" + options.listen + "\": host must be an IP address");
  }
  fs::path root;
  if (!options.web_root.empty()) {
    std::error_code fec;
    root = fs::canonical(options.web_root, fec);
    if (fec || !fs::is_directory(root)) {
      return fail(ErrorKind::invalid_argument,
                  "web root \"" + options.web_root + "\": not a directory");
    }
  }
  auto cache = std::make_unique<detail::SnapshotCache>(std::move(repository), std::move(feed),
                                                       options.max_cached_queries, log);
  // Start ready when the database is: /readyz then never reports a transient "starting".
  cache->wait_first_check(std::chrono::seconds(2));
  auto server = std::make_unique<BeastServer>(std::move(options), std::move(cache), std::move(log));
  if (auto bound = server->bind(tcp::endpoint(address, static_cast<std::uint16_t>(port)), root);
      !bound) {
    return bound.error();
  }
  return std::unique_ptr<Server>(std::move(server));
}

} // namespace camreg::http

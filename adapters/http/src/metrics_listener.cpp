// A listener serving /metrics alone, on the API server's listener and sessions.
#include "camreg/http/metrics_listener.hpp"

#include <thread>

#include "metrics.hpp"
#include "session.hpp"

namespace camreg::http {

namespace {

using detail::bhttp::field;
using detail::bhttp::status;
using detail::bhttp::verb;

// GET or HEAD /metrics: render's text; any other path 404, any other method 405.
detail::Reply answer(const detail::Request& req, const std::function<std::string()>& render) {
  const auto version = req.version();
  const auto target = std::string_view(req.target());
  if (target.substr(0, target.find('?')) != "/metrics") {
    return detail::error_reply(status::not_found, "not_found", "this listener serves /metrics only",
                               version);
  }
  if (req.method() != verb::get && req.method() != verb::head) {
    auto reply = detail::error_reply(
        status::method_not_allowed, "method_not_allowed",
        std::string(req.method_string()) + " is not allowed here; use GET or HEAD", version);
    reply.res.set(field::allow, "GET, HEAD");
    return reply;
  }
  return detail::metrics_reply(render(), detail::accepts_gzip(req[field::accept_encoding]),
                               version);
}

class ThreadedListener final : public MetricsListener {
 public:
  explicit ThreadedListener(std::unique_ptr<Server> server)
      : server_(std::move(server)), thread_([this] { server_->run(); }) {}
  ~ThreadedListener() override {
    server_->stop();
    thread_.join();
  }
  std::uint16_t port() const override { return server_->port(); }

 private:
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

} // namespace

Result<std::unique_ptr<MetricsListener>> MetricsListener::start(MetricsListenerOptions options,
                                                                std::function<std::string()> render,
                                                                LogSink log) {
  Options settings;
  settings.listen = std::move(options.listen);
  settings.max_connections = options.max_connections;
  settings.read_timeout = options.read_timeout;
  settings.drain_timeout = options.drain_timeout;
  auto handle = [render = std::move(render), log](const detail::Request& req,
                                                  detail::Responder done) {
    detail::Reply reply;
    try {
      reply = answer(req, render);
    } catch (const std::exception& e) {
      if (log) log(LogLevel::error, "metrics", std::string("internal error: ") + e.what());
      reply = detail::error_reply(status::internal_server_error, "internal_error",
                                  "unexpected server error", req.version());
      reply.close = true;
    }
    detail::decorate(reply, {}, {});
    done(std::move(reply));
  };
  auto server = detail::start_server(std::move(settings), std::move(handle), std::move(log));
  if (!server) return server.error();
  return std::unique_ptr<MetricsListener>(std::make_unique<ThreadedListener>(std::move(*server)));
}

} // namespace camreg::http

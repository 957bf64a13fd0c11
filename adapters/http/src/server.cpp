// The listener: accepts under the connection cap, runs the io threads, drains on stop().
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <mutex>
#include <thread>

#include "camreg/http/server.hpp"
#include "database_reader.hpp"
#include "devices_snapshot.hpp"
#include "listen_address.hpp"
#include "session.hpp"
#include "trigger.hpp"
#include "webhook_admin.hpp"

namespace camreg::http {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;
namespace fs = std::filesystem;
using detail::Session;

namespace {

class BeastServer final : public Server {
 public:
  // Without handle, requests go to handle_request; view may then be null only when
  // handle is given.
  BeastServer(Options options, std::unique_ptr<RegistryView> view, fs::path web_root, LogSink log,
              std::unique_ptr<detail::DatabaseReader> history,
              std::unique_ptr<detail::TriggerRelay> trigger,
              std::unique_ptr<detail::WebhookAdmin> webhooks, std::unique_ptr<EventStore> events,
              std::unique_ptr<ChangeFeed> events_feed, detail::RequestHandler handle = {})
      : ioc_(static_cast<int>(std::max<std::size_t>(options.threads, 1))),
        acceptor_(net::make_strand(ioc_)),
        drain_timer_(ioc_),
        accept_timer_(acceptor_.get_executor()),
        view_(std::move(view)),
        history_(std::move(history)),
        trigger_(std::move(trigger)),
        webhooks_(std::move(webhooks)) {
    shared_.ctx.options = std::move(options);
    shared_.ctx.view = view_.get();
    shared_.ctx.reader = history_.get();
    shared_.ctx.trigger = trigger_.get();
    shared_.ctx.webhooks = webhooks_.get();
    shared_.ctx.web_root = std::move(web_root);
    shared_.ctx.log = std::move(log);
    shared_.ctx.metrics = &metrics_;
    shared_.handle = std::move(handle);
    if (!shared_.handle) {
      shared_.handle = [this](const detail::Request& req, detail::Responder done) {
        detail::handle_request(req, shared_.ctx, std::move(done));
      };
    }
    if (events) {
      EventHubOptions hub;
      hub.max_subscribers = shared_.ctx.options.sse_max_clients;
      hub.max_queued_bytes = shared_.ctx.options.sse_queue_bytes;
      hub.max_lag = std::chrono::duration_cast<Duration>(shared_.ctx.options.read_timeout);
      hub_ = std::make_unique<EventHub>(
          std::move(events), std::move(events_feed), hub,
          [this](bool ok, std::string_view message) {
            if (shared_.ctx.log)
              shared_.ctx.log(ok ? LogLevel::info : LogLevel::warn, "events", message);
          },
          [this](const Event& e) { metrics_.event_published(to_string(e.type)); });
      shared_.ctx.events = hub_.get();
      // A stream opened once the server listens starts after every event committed before.
      (void)hub_->wait_started(std::chrono::seconds(2));
    }
  }

  Result<void> bind(const tcp::endpoint& endpoint) {
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
    for (std::size_t i = 1; i < shared_.ctx.options.threads; ++i)
      threads.emplace_back([this] { ioc_.run(); });
    ioc_.run();
    for (auto& t : threads)
      t.join();
    if (view_) view_->stop();
    if (hub_) hub_->stop();
  }

  void stop() override {
    net::post(acceptor_.get_executor(), [this] {
      if (shared_.draining.exchange(true)) return;
      beast::error_code ec;
      acceptor_.close(ec);
      accept_timer_.cancel();
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
      drain_timer_.expires_after(shared_.ctx.options.drain_timeout);
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
      if (ec == net::error::operation_aborted) return;
      return back_off(ec);
    }
    if (accept_errors_ > 0) {
      if (shared_.ctx.log) {
        shared_.ctx.log(LogLevel::info, "accept",
                        "accepting again after " + std::to_string(accept_errors_) + " errors");
      }
      accept_errors_ = 0;
      accept_backoff_ = min_accept_backoff;
    }
    if (shared_.connections >= shared_.ctx.options.max_connections) {
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      auto session = std::make_shared<Session>(std::move(socket), shared_);
      {
        const std::lock_guard lock(sessions_mutex_);
        if (++accepted_ % 256 == 0)
          std::erase_if(sessions_, [](const auto& w) { return w.expired(); });
        sessions_.push_back(session);
      }
      session->run();
    }
    do_accept();
  }

  // The failed connection stays in the backlog (EMFILE, ENFILE, ENOBUFS): re-arming at
  // once would spin. Waits 50 ms, doubling to 1 s; one log line per burst.
  void back_off(const beast::error_code& ec) {
    if (accept_errors_++ == 0 && shared_.ctx.log) {
      shared_.ctx.log(LogLevel::warn, "accept", ec.message() + "; backing off");
    }
    accept_timer_.expires_after(accept_backoff_);
    accept_backoff_ = std::min(accept_backoff_ * 2, max_accept_backoff);
    accept_timer_.async_wait([this](beast::error_code timer_ec) {
      if (!timer_ec && !shared_.draining) do_accept();
    });
  }

  net::io_context ioc_;
  tcp::acceptor acceptor_;
  net::steady_timer drain_timer_;
  static constexpr std::chrono::milliseconds min_accept_backoff{50};
  static constexpr std::chrono::milliseconds max_accept_backoff{1000};
  net::steady_timer accept_timer_; // on the acceptor's strand
  std::chrono::milliseconds accept_backoff_ = min_accept_backoff;
  std::size_t accept_errors_ = 0;
  std::unique_ptr<RegistryView> view_;
  std::unique_ptr<detail::DatabaseReader> history_; // joined before the io_context goes
  std::unique_ptr<detail::TriggerRelay> trigger_;   // likewise
  std::unique_ptr<detail::WebhookAdmin> webhooks_;  // likewise
  detail::HttpMetrics metrics_;
  detail::Shared shared_;
  std::unique_ptr<EventHub> hub_; // its callbacks use metrics_ and shared_
  std::uint16_t port_ = 0;
  std::mutex sessions_mutex_;
  std::vector<std::weak_ptr<Session>> sessions_;
  std::size_t accepted_ = 0;
};

void log_notice(const LogSink& log, ViewNotice notice, std::string_view message) {
  if (!log) return;
  switch (notice) {
  case ViewNotice::database_ready: return log(LogLevel::info, "database", "ready");
  case ViewNotice::database_not_ready:
    return log(LogLevel::error, "database", "not ready: " + std::string(message));
  case ViewNotice::feed_down: return log(LogLevel::warn, "change-feed", message);
  }
}

} // namespace

Result<std::unique_ptr<Server>> detail::start_server(Options options, RequestHandler handle,
                                                     LogSink log) {
  const auto endpoint = parse_listen_address(options.listen);
  if (!endpoint) return endpoint.error();
  options.threads = 1;
  auto server =
      std::make_unique<BeastServer>(std::move(options), nullptr, fs::path(), std::move(log),
                                    nullptr, nullptr, nullptr, nullptr, nullptr, std::move(handle));
  if (auto bound = server->bind(*endpoint); !bound) return bound.error();
  return std::unique_ptr<Server>(std::move(server));
}

Result<std::unique_ptr<Server>> Server::start(
    Options options, std::unique_ptr<DeviceRepository> repository, std::unique_ptr<ChangeFeed> feed,
    LogSink log, std::unique_ptr<DeviceRepository> history, std::unique_ptr<SyncTrigger> trigger,
    WebhookServices webhooks, std::unique_ptr<EventStore> events,
    std::unique_ptr<ChangeFeed> events_feed) {
  const auto endpoint = detail::parse_listen_address(options.listen);
  if (!endpoint) return endpoint.error();
  fs::path root;
  if (!options.web_root.empty()) {
    std::error_code ec;
    root = fs::canonical(options.web_root, ec);
    if (ec || !fs::is_directory(root)) {
      return fail(ErrorKind::invalid_argument,
                  "web root \"" + options.web_root + "\": not a directory");
    }
  }
  ViewOptions view_options;
  view_options.max_queries = options.max_cached_queries;
  view_options.refresh_interval = options.refresh_interval;
  view_options.max_snapshot_age = options.refresh_interval + options.refresh_interval / 2;
  auto view = std::make_unique<RegistryView>(
      std::move(repository), std::move(feed), detail::devices_snapshot_builder(), view_options,
      [log](ViewNotice notice, std::string_view message) { log_notice(log, notice, message); });
  // Start ready when the database is: /readyz then never reports a transient "starting".
  (void)view->wait_first_check(std::chrono::seconds(2));
  auto reader = history ? std::make_unique<detail::DatabaseReader>(std::move(history)) : nullptr;
  auto relay = trigger && !options.trigger_token.empty()
                   ? std::make_unique<detail::TriggerRelay>(std::move(trigger), log)
                   : nullptr;
  auto admin =
      webhooks.store ? std::make_unique<detail::WebhookAdmin>(std::move(webhooks)) : nullptr;
  auto server = std::make_unique<BeastServer>(
      std::move(options), std::move(view), root, std::move(log), std::move(reader),
      std::move(relay), std::move(admin), std::move(events), std::move(events_feed));
  if (auto bound = server->bind(*endpoint); !bound) return bound.error();
  return std::unique_ptr<Server>(std::move(server));
}

} // namespace camreg::http

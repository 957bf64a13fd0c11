// api-server: serves the registry (HTTP API, health, dashboard) from PostgreSQL.
#include <atomic>

#include "api-server/descriptors.hpp"
#include "api-server/options.hpp"
#include "camreg/http/server.hpp"
#include "camreg/postgres/postgres.hpp"
#include "camreg/webhooks/sender.hpp"
#include "common/signals.hpp"

using namespace camreg;
using namespace camreg::app;

int main(int argc, char** argv) {
  CLI::App app{
      "api-server: serves the camreg registry over HTTP, with health endpoints and the dashboard"};
  app.footer(
      "Exit codes: 0 stopped by SIGTERM/SIGINT, 2 bad usage (or cannot listen), 5 database "
      "failure during --migrate. Durations: 500ms, 2s, 5m, 1h or seconds.");
  api_server::Options options;
  api_server::add_options(app, options);
  if (const int code = parse_or_exit(app, argc, argv, options.common); code >= 0) return code;
  if (const auto valid = api_server::validate(options); !valid) {
    return usage_error("api-server", valid.error());
  }
  auto server = api_server::server_options(options);

  const auto& common = options.common;
  const Logger log(common.level, common.format);
  const auto fit = api_server::fit_descriptor_limit(server.max_connections);
  if (!fit.warning.empty()) log.log(LogLevel::warn, "limits", fit.warning);
  server.max_connections = fit.max_connections;
  const auto db = database_options(common);
  if (const auto code = migrate_if_asked(common, log)) return *code;

  const auto sink = [&log](http::LogLevel level, std::string_view event, std::string_view message) {
    const auto mapped = level == http::LogLevel::error  ? LogLevel::error
                        : level == http::LogLevel::warn ? LogLevel::warn
                                                        : LogLevel::info;
    log.log(mapped, event, message);
  };
  // The signal thread must exist before the server's threads so they inherit the mask.
  std::atomic<http::Server*> target{nullptr};
  handle_stop_signals(
      [&] {
        log.log(LogLevel::info, "stop", "draining connections");
        if (auto* s = target.load()) s->stop();
      },
      [&] { log.log(LogLevel::warn, "stop", "drain timed out; exiting"); },
      server.drain_timeout + std::chrono::seconds(2));
  const bool trigger = !server.trigger_token.empty();
  // Writes (triggers, webhook claims and results, endpoints) go to the primary when one is
  // given: a standby refuses them.
  const auto writes = api_server::primary_database_options(options).value_or(db);
  // Webhooks: the routes' store, and unless --no-deliver the deliverer's threads.
  auto stats = std::make_shared<WebhookStats>();
  std::unique_ptr<WebhookDeliverer> deliverer;
  if (!options.no_deliver) {
    WebhookDeliverer::Options delivery;
    delivery.schedule = api_server::parse_schedule(options.webhook_schedule).value();
    delivery.lease = duration_of(options.webhook_lease);
    delivery.timeout = duration_of(options.webhook_timeout);
    delivery.poll_interval = duration_of(options.webhook_poll);
    webhooks::SenderOptions sending;
    sending.ca_file = options.webhook_ca_file;
    deliverer = std::make_unique<WebhookDeliverer>(
        delivery, postgres::make_webhook_store(writes), webhooks::make_sender(sending),
        postgres::make_change_feed(writes), stats, [&log](bool error, std::string_view message) {
          log.log(error ? LogLevel::error : LogLevel::warn, "webhook", message);
        });
  }
  auto started = http::Server::start(
      server, postgres::make_device_repository(db), postgres::make_change_feed(db), sink,
      postgres::make_device_repository(db), trigger ? postgres::make_sync_trigger(writes) : nullptr,
      {postgres::make_webhook_store(writes), &webhooks::new_secret, stats},
      postgres::make_event_store(db), postgres::make_change_feed(db));
  if (!started) {
    return usage_error("api-server", started.error());
  }
  target = started->get();
  log.log(LogLevel::info, "start", "listening",
          {{"port", static_cast<long long>((*started)->port())},
           {"web_root", server.web_root},
           {"trigger", trigger},
           {"database", postgres::redact_database_url(common.database_url)}});
  (*started)->run();
  if (deliverer) deliverer->stop();
  log.log(LogLevel::info, "stop", "exiting", {{"exit_code", 0LL}});
  return exit_ok;
}

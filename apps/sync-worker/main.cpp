// sync-worker: keeps the devices table true to MediaMTX's path list.
#include "camreg/mediamtx/mediamtx.hpp"
#include "camreg/postgres/postgres.hpp"
#include "options.hpp"
#include "signals.hpp"
#include "worker.hpp"

using namespace camreg;
using namespace camreg::app;

int main(int argc, char** argv) {
  CLI::App app{"sync-worker: polls MediaMTX's path list and keeps the camreg devices table true"};
  app.footer(
      "Exit codes: 0 ok (or a --once round skipped because another worker held the lock), "
      "2 bad usage, 3 MediaMTX unreachable or invalid reply, 4 MediaMTX authentication "
      "failed, 5 database failure. Durations: 500ms, 2s, 5m, 1h or seconds.");
  CommonOptions common;
  mediamtx::Options mtx;
  std::string webrtc_url = "http://localhost:8889";
  std::string interval = "60s", stale_after = "5m", connect_timeout = "2s", timeout = "10s";
  bool once = false;
  add_common_options(app, common);
  app.add_option("--mediamtx-url", mtx.api_url, "MediaMTX control API base URL")
      ->envname("CAMREG_MEDIAMTX_URL")
      ->capture_default_str();
  app.add_option("--mediamtx-user", mtx.user, "API user (HTTP Basic)")
      ->envname("CAMREG_MEDIAMTX_USER");
  app.add_option("--mediamtx-password", mtx.password, "API password")
      ->envname("CAMREG_MEDIAMTX_PASSWORD");
  app.add_option("--mediamtx-token", mtx.token, "API bearer token (JWT or user:pass)")
      ->envname("CAMREG_MEDIAMTX_TOKEN");
  app.add_option("--mediamtx-ca-file", mtx.ca_file, "extra CA (PEM) for an https API")
      ->envname("CAMREG_MEDIAMTX_CA_FILE");
  app.add_option("--webrtc-url", webrtc_url, "WebRTC (WHEP) base URL used to build whep_url")
      ->envname("CAMREG_WEBRTC_URL")
      ->capture_default_str();
  add_duration_option(app, "--interval", interval, "time between round starts", "CAMREG_INTERVAL");
  add_duration_option(app, "--stale-after", stale_after, "no healthy sync for longer: inactive",
                      "CAMREG_STALE_AFTER");
  add_duration_option(app, "--connect-timeout", connect_timeout, "MediaMTX connect timeout",
                      "CAMREG_CONNECT_TIMEOUT");
  add_duration_option(app, "--timeout", timeout, "MediaMTX timeout for a whole listing",
                      "CAMREG_TIMEOUT");
  app.add_flag("--once", once, "run one round and exit (for cron)");
  if (const int code = parse_or_exit(app, argc, argv, common); code >= 0) return code;

  const auto usage = [](const std::string& message) {
    std::fprintf(stderr, "sync-worker: %s\n", message.c_str());
    return exit_usage;
  };
  WorkerConfig config;
  config.once = once;
  config.interval = duration_of(interval);
  config.sync.stale_after = duration_of(stale_after);
  mtx.connect_timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(duration_of(connect_timeout));
  mtx.total_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(duration_of(timeout));
  if (config.interval.count() <= 0) return usage("--interval: must be longer than 0s");
  if (config.sync.stale_after < config.interval) {
    return usage("--stale-after: " + stale_after + " is shorter than --interval " + interval +
                 "; every camera would expire between two rounds");
  }
  if (mtx.connect_timeout.count() <= 0 || mtx.total_timeout.count() <= 0) {
    return usage("--connect-timeout/--timeout: must be longer than 0s");
  }
  auto webrtc = parse_http_url(webrtc_url);
  if (!webrtc) return usage("--webrtc-url: " + webrtc.error().message);
  config.sync.webrtc_base = *webrtc;
  auto source = mediamtx::make_path_source(mtx);
  if (!source) return usage("--mediamtx-url: " + source.error().message);

  const Logger log(common.level, common.format);
  postgres::Options db;
  db.database_url = common.database_url;
  if (const auto code = migrate_if_asked(common, log)) return *code;

  StopSignal stop;
  handle_stop_signals([&] { stop.request(); },
                      [&] { log.log(LogLevel::warn, "stop", "abandoning the round in progress"); },
                      std::chrono::milliseconds(1500));
  log.log(LogLevel::info, "start", once ? "one round" : "syncing every " + interval,
          {{"mediamtx", (*source)->describe()},
           {"database", postgres::redact_database_url(common.database_url)},
           {"stale_after", stale_after}});
  auto repository = postgres::make_device_repository(db);
  const SystemClock clock;
  const int code = run_worker(**source, *repository, clock, config, stop, log);
  log.log(LogLevel::info, "stop", "exiting", {{"exit_code", static_cast<long long>(code)}});
  return code;
}

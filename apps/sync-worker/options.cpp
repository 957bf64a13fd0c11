#include "sync-worker/options.hpp"

#include "camreg/http/metrics_listener.hpp"
#include "camreg/site.hpp"
#include "camreg/url.hpp"

namespace camreg::app::sync_worker {

namespace {

std::chrono::milliseconds milliseconds_of(const std::string& text) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(duration_of(text));
}

Result<void> positive(std::string_view name, const std::string& text) {
  const auto d = duration_option(name, text);
  if (!d) return d.error();
  // The client counts in milliseconds: 500us would be no deadline at all.
  if (std::chrono::duration_cast<std::chrono::milliseconds>(*d).count() <= 0) {
    return fail(ErrorKind::invalid_argument, std::string(name) + ": must be longer than 0s");
  }
  return {};
}

} // namespace

void add_options(CLI::App& app, Options& options) {
  add_common_options(app, options.common);
  auto& mtx = options.mediamtx;
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
  app.add_option("--webrtc-url", options.webrtc_url,
                 "WebRTC (WHEP) base URL used to build whep_url")
      ->envname("CAMREG_WEBRTC_URL")
      ->capture_default_str();
  app.add_option("--site", options.site,
                 "the site this worker syncs: one MediaMTX server, one worker each (1-64 of "
                 "letters, digits, '_', '-'); its devices' keys are <site>@<path> except in "
                 "site default")
      ->envname("CAMREG_SITE")
      ->capture_default_str();
  add_duration_option(app, "--interval", options.interval, "time between round starts",
                      "CAMREG_INTERVAL");
  add_duration_option(app, "--stale-after", options.stale_after,
                      "no healthy sync for longer: inactive", "CAMREG_STALE_AFTER");
  add_duration_option(app, "--online-after", options.online_after,
                      "device.online is sent once a camera has been healthy this long",
                      "CAMREG_ONLINE_AFTER");
  add_duration_option(app, "--connect-timeout", options.connect_timeout, "MediaMTX connect timeout",
                      "CAMREG_CONNECT_TIMEOUT");
  add_duration_option(app, "--timeout", options.timeout, "MediaMTX timeout for a whole listing",
                      "CAMREG_TIMEOUT");
  add_duration_option(app, "--ledger-retention", options.ledger_retention,
                      "presence history kept (intervals that ended longer ago are pruned)",
                      "CAMREG_LEDGER_RETENTION");
  add_duration_option(app, "--runs-retention", options.runs_retention, "sync run records kept",
                      "CAMREG_RUNS_RETENTION");
  add_duration_option(app, "--min-trigger-interval", options.min_trigger_interval,
                      "rounds requested through POST /api/sync/trigger start at most this often "
                      "(a request inside it waits for its end)",
                      "CAMREG_MIN_TRIGGER_INTERVAL");
  app.add_flag("--once", options.once,
               "run one round and exit (for cron); ignores POST /api/sync/trigger requests");
  app.add_option("--metrics-listen", options.metrics_listen,
                 "host:port to serve the worker's Prometheus /metrics on while it loops "
                 "(default: none)")
      ->envname("CAMREG_METRICS_LISTEN");
}

Result<void> validate(const Options& options) {
  if (auto common = validate(options.common); !common) return common;
  if (!valid_site_name(options.site)) {
    return fail(ErrorKind::invalid_argument,
                "--site: '" + options.site.substr(0, 80) +
                    "' is not a site name (1-64 of letters, digits, '_' or '-')");
  }
  const auto interval = duration_option("--interval", options.interval);
  if (!interval) return interval.error();
  if (interval->count() <= 0) {
    return fail(ErrorKind::invalid_argument, "--interval: must be longer than 0s");
  }
  const auto stale_after = duration_option("--stale-after", options.stale_after);
  if (!stale_after) return stale_after.error();
  if (*stale_after < *interval) {
    return fail(ErrorKind::invalid_argument, "--stale-after: " + options.stale_after +
                                                 " is shorter than --interval " + options.interval +
                                                 "; every camera would expire between two rounds");
  }
  if (const auto d = duration_option("--online-after", options.online_after); !d) return d.error();
  if (auto ok = positive("--connect-timeout", options.connect_timeout); !ok) return ok;
  if (auto ok = positive("--timeout", options.timeout); !ok) return ok;
  // A round's transaction opens while its listing is fetched and waits for it (less than
  // --timeout): a shorter idle-in-transaction timeout would end it first.
  const auto& idle_text = options.common.db_idle_in_transaction_timeout;
  if (const auto idle = duration_option("--db-idle-in-transaction-timeout", idle_text);
      idle && idle->count() > 0 && *duration_option("--timeout", options.timeout) > *idle) {
    return fail(ErrorKind::invalid_argument, "--timeout: " + options.timeout + " is longer than " +
                                                 "--db-idle-in-transaction-timeout " + idle_text +
                                                 "; a round's transaction waits for the listing");
  }
  if (const auto url = parse_http_url(options.mediamtx.api_url); !url) {
    return fail(ErrorKind::invalid_argument, "--mediamtx-url: " + url.error().message);
  }
  if (const auto url = parse_http_url(options.webrtc_url); !url) {
    return fail(ErrorKind::invalid_argument, "--webrtc-url: " + url.error().message);
  }
  for (const auto& [name, text] :
       {std::pair{"--ledger-retention", &options.ledger_retention},
        std::pair{"--runs-retention", &options.runs_retention},
        std::pair{"--min-trigger-interval", &options.min_trigger_interval}}) {
    if (auto d = duration_option(name, *text); !d) return d.error();
  }
  if (!options.metrics_listen.empty()) {
    if (auto ok = http::check_listen_address(options.metrics_listen); !ok) {
      return fail(ErrorKind::invalid_argument, "--metrics-listen: " + ok.error().message);
    }
  }
  return {};
}

WorkerConfig worker_config(const Options& options) {
  WorkerConfig config;
  config.once = options.once;
  config.interval = duration_of(options.interval);
  config.sync.stale_after = duration_of(options.stale_after);
  config.sync.interval = config.interval;
  config.sync.online_after = duration_of(options.online_after);
  config.ledger_retention = duration_of(options.ledger_retention);
  config.runs_retention = duration_of(options.runs_retention);
  config.min_trigger_interval = duration_of(options.min_trigger_interval);
  config.sync.webrtc_base = parse_http_url(options.webrtc_url).value();
  config.sync.site = options.site;
  return config;
}

mediamtx::Options mediamtx_options(const Options& options) {
  auto mtx = options.mediamtx;
  mtx.connect_timeout = milliseconds_of(options.connect_timeout);
  mtx.total_timeout = milliseconds_of(options.timeout);
  return mtx;
}

} // namespace camreg::app::sync_worker

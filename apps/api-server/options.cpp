#include "api-server/options.hpp"

#include <cctype>
#include <cstdlib>
#include <filesystem>

namespace camreg::app::api_server {

namespace {

constexpr int max_threads = 64;
constexpr int max_connections = 1'000'000;
constexpr int max_sse_queue_bytes = 1 << 30;

bool in_range(std::size_t value, int max) {
  return value >= 1 && value <= static_cast<std::size_t>(max);
}

std::chrono::milliseconds milliseconds_of(const std::string& text) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(duration_of(text));
}

} // namespace

std::string default_web_root() {
  for (const char* candidate : {CAMREG_INSTALLED_WEB_ROOT, CAMREG_SOURCE_WEB_ROOT}) {
    if (std::filesystem::is_directory(candidate)) return candidate;
  }
  return {};
}

std::string origin_of(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return {};
  const auto scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") return {};
  const auto rest = url.substr(scheme_end + 3);
  const auto authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.empty() || authority.find('@') != std::string_view::npos) return {};
  for (const char c : authority) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' ||
          c == '[' || c == ']'))
      return {};
  }
  return std::string(scheme) + "://" + std::string(authority);
}

std::string default_webrtc_origin() {
  const char* url = std::getenv("CAMREG_WEBRTC_URL");
  if (url) {
    if (auto origin = origin_of(url); !origin.empty()) return origin;
  }
  return "http://localhost:8889";
}

void add_options(CLI::App& app, Options& options) {
  add_common_options(app, options.common);
  auto& server = options.server;
  app.add_option("--listen", server.listen, "address:port to listen on")
      ->envname("CAMREG_LISTEN")
      ->capture_default_str();
  app.add_option("--web-root", server.web_root, "directory of the dashboard (empty: none)")
      ->envname("CAMREG_WEB_ROOT")
      ->capture_default_str();
  app.add_option("--cors-origin", server.cors_origins, "an allowed Origin (repeat; * for any)")
      ->envname("CAMREG_CORS_ORIGINS")
      ->delimiter(',')
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--threads", server.threads, "I/O threads")
      ->envname("CAMREG_THREADS")
      ->check(CLI::Range(1, max_threads))
      ->capture_default_str();
  app.add_option("--max-connections", server.max_connections, "concurrent connections")
      ->envname("CAMREG_MAX_CONNECTIONS")
      ->check(CLI::Range(1, max_connections))
      ->capture_default_str();
  app.add_flag("--metrics-per-device", server.metrics_per_device,
               "/metrics: a camreg_device_up series per device (=false: counts only)")
      ->envname("CAMREG_METRICS_PER_DEVICE")
      ->capture_default_str();
  add_duration_option(app, "--read-timeout", options.read_timeout,
                      "time a client has to send a request", "CAMREG_READ_TIMEOUT");
  add_duration_option(app, "--drain-timeout", options.drain_timeout,
                      "time in-flight requests get on SIGTERM", "CAMREG_DRAIN_TIMEOUT");
  add_duration_option(app, "--refresh-interval", options.refresh_interval,
                      "rebuild cached answers at least this often, whatever the change feed says",
                      "CAMREG_REFRESH_INTERVAL");
  add_duration_option(app, "--registry-stale-after", options.stale_after,
                      "/api/sync/status says stale when no round succeeded within this",
                      "CAMREG_REGISTRY_STALE_AFTER");
  add_duration_option(app, "--ready-max-sync-age", options.ready_max_sync_age,
                      "/readyz fails when no round succeeded within this (0: off)",
                      "CAMREG_READY_MAX_SYNC_AGE");
  app.add_option("--admin-token", server.admin_token,
                 "Bearer token of the webhook administration routes (empty: they answer 403)")
      ->envname("CAMREG_ADMIN_TOKEN");
  app.add_flag("--no-deliver", options.no_deliver,
               "do not deliver webhooks from this process (another replica does)")
      ->envname("CAMREG_NO_DELIVER");
  app.add_option("--webhook-retry-schedule", options.webhook_schedule,
                 "delay before each delivery attempt, comma-separated; after the last the "
                 "delivery fails")
      ->envname("CAMREG_WEBHOOK_RETRY_SCHEDULE")
      ->capture_default_str();
  add_duration_option(app, "--webhook-lease", options.webhook_lease,
                      "a claimed delivery is another deliverer's to retry after this",
                      "CAMREG_WEBHOOK_LEASE");
  add_duration_option(app, "--webhook-timeout", options.webhook_timeout,
                      "time a receiver has to answer one delivery", "CAMREG_WEBHOOK_TIMEOUT");
  add_duration_option(app, "--webhook-poll", options.webhook_poll,
                      "look for due deliveries at least this often, whatever the change feed says",
                      "CAMREG_WEBHOOK_POLL");
  app.add_option("--webhook-ca-file", options.webhook_ca_file,
                 "extra CA (PEM) for https webhook receivers")
      ->envname("CAMREG_WEBHOOK_CA_FILE");
  add_duration_option(app, "--sse-heartbeat", options.sse_heartbeat,
                      "/api/events: a comment this often keeps idle streams and proxies open",
                      "CAMREG_SSE_HEARTBEAT");
  app.add_option("--sse-max-clients", server.sse_max_clients,
                 "/api/events: concurrent streams (more are answered 503)")
      ->envname("CAMREG_SSE_MAX_CLIENTS")
      ->check(CLI::Range(1, max_connections))
      ->capture_default_str();
  app.add_option("--sse-queue-bytes", server.sse_queue_bytes,
                 "/api/events: events a client may let wait before it is disconnected")
      ->envname("CAMREG_SSE_QUEUE_BYTES")
      ->check(CLI::Range(1024, max_sse_queue_bytes))
      ->capture_default_str();
  app.add_option("--webrtc-origin", server.webrtc_origins,
                 "origin of MediaMTX's WebRTC (WHEP) the dashboard may connect to (repeat); "
                 "default: the origin of CAMREG_WEBRTC_URL, else http://localhost:8889")
      ->envname("CAMREG_WEBRTC_ORIGINS")
      ->delimiter(',')
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--trigger-token", server.trigger_token,
                 "Bearer token of POST /api/sync/trigger, which MediaMTX hooks call to ask the "
                 "sync-workers for a round now (unset: that endpoint answers 403)")
      ->envname("CAMREG_TRIGGER_TOKEN");
  app.add_option("--primary-database-url", options.primary_database_url,
                 "the primary's libpq URI or key=value string, for api-server's writes when "
                 "--database-url is a hot standby (default: none)")
      ->envname("CAMREG_PRIMARY_DATABASE_URL");
}

Result<void> validate(const Options& options) {
  if (auto common = validate(options.common); !common) return common;
  const auto read_timeout = duration_option("--read-timeout", options.read_timeout);
  if (!read_timeout) return read_timeout.error();
  // The server counts in milliseconds: 500us would be no deadline at all.
  if (std::chrono::duration_cast<std::chrono::milliseconds>(*read_timeout).count() <= 0) {
    return fail(ErrorKind::invalid_argument, "--read-timeout: must be longer than 0s");
  }
  if (const auto drain = duration_option("--drain-timeout", options.drain_timeout); !drain) {
    return drain.error();
  }
  const auto refresh = duration_option("--refresh-interval", options.refresh_interval);
  if (!refresh) return refresh.error();
  if (std::chrono::duration_cast<std::chrono::milliseconds>(*refresh).count() <= 0) {
    return fail(ErrorKind::invalid_argument, "--refresh-interval: must be longer than 0s");
  }
  if (const auto stale = duration_option("--registry-stale-after", options.stale_after); !stale) {
    return stale.error();
  }
  if (const auto age = duration_option("--ready-max-sync-age", options.ready_max_sync_age); !age) {
    return age.error();
  }
  const auto heartbeat = duration_option("--sse-heartbeat", options.sse_heartbeat);
  if (!heartbeat) return heartbeat.error();
  if (std::chrono::duration_cast<std::chrono::milliseconds>(*heartbeat).count() <= 0) {
    return fail(ErrorKind::invalid_argument, "--sse-heartbeat: must be longer than 0s");
  }
  if (!in_range(options.server.sse_max_clients, max_connections)) {
    return fail(ErrorKind::invalid_argument,
                "--sse-max-clients: must be between 1 and " + std::to_string(max_connections));
  }
  if (options.server.sse_queue_bytes < 1024 ||
      options.server.sse_queue_bytes > static_cast<std::size_t>(max_sse_queue_bytes)) {
    return fail(ErrorKind::invalid_argument, "--sse-queue-bytes: must be between 1024 and " +
                                                 std::to_string(max_sse_queue_bytes));
  }
  for (const auto& origin : options.server.webrtc_origins) {
    if (origin_of(origin) != origin) {
      return fail(ErrorKind::invalid_argument,
                  "--webrtc-origin: \"" + origin + "\" is not an http(s)://host[:port] origin");
    }
  }
  for (const char c : options.server.trigger_token) {
    // What a client can send in an Authorization header, and no space to trim away.
    if (c <= ' ' || c == 0x7f) {
      return fail(ErrorKind::invalid_argument,
                  "--trigger-token: must be printable ASCII without spaces");
    }
  }
  if (!options.primary_database_url.empty()) {
    if (auto url = postgres::check_database_url(options.primary_database_url); !url) {
      return fail(ErrorKind::invalid_argument, "--primary-database-url: " + url.error().message);
    }
  }
  if (auto schedule = parse_schedule(options.webhook_schedule); !schedule) return schedule.error();
  const auto lease = duration_option("--webhook-lease", options.webhook_lease);
  if (!lease) return lease.error();
  const auto timeout = duration_option("--webhook-timeout", options.webhook_timeout);
  if (!timeout) return timeout.error();
  if (timeout->count() <= 0 || *timeout >= *lease) {
    return fail(ErrorKind::invalid_argument,
                "--webhook-timeout: must be longer than 0s and shorter than --webhook-lease");
  }
  const auto poll = duration_option("--webhook-poll", options.webhook_poll);
  if (!poll) return poll.error();
  if (poll->count() <= 0)
    return fail(ErrorKind::invalid_argument, "--webhook-poll: must be longer than 0s");
  if (!in_range(options.server.threads, max_threads)) {
    return fail(ErrorKind::invalid_argument,
                "--threads: must be between 1 and " + std::to_string(max_threads));
  }
  if (!in_range(options.server.max_connections, max_connections)) {
    return fail(ErrorKind::invalid_argument,
                "--max-connections: must be between 1 and " + std::to_string(max_connections));
  }
  return {};
}

Result<std::vector<Duration>> parse_schedule(std::string_view text) {
  std::vector<Duration> schedule;
  while (true) {
    const auto comma = text.find(',');
    const auto item = text.substr(0, comma);
    auto delay = duration_option("--webhook-retry-schedule", item);
    if (!delay) return delay.error();
    schedule.push_back(*delay);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  if (schedule.size() > 32)
    return fail(ErrorKind::invalid_argument, "--webhook-retry-schedule: more than 32 attempts");
  return schedule;
}

http::Options server_options(const Options& options) {
  auto server = options.server;
  server.read_timeout = milliseconds_of(options.read_timeout);
  server.drain_timeout = milliseconds_of(options.drain_timeout);
  server.refresh_interval = milliseconds_of(options.refresh_interval);
  server.stale_after = milliseconds_of(options.stale_after);
  server.ready_max_sync_age = milliseconds_of(options.ready_max_sync_age);
  server.sse_heartbeat = milliseconds_of(options.sse_heartbeat);
  if (server.webrtc_origins.empty()) server.webrtc_origins = {default_webrtc_origin()};
  server.primary_configured = !options.primary_database_url.empty();
  return server;
}

std::optional<postgres::Options> primary_database_options(const Options& options) {
  if (options.primary_database_url.empty()) return std::nullopt;
  auto db = database_options(options.common);
  db.database_url = options.primary_database_url;
  return db;
}

} // namespace camreg::app::api_server

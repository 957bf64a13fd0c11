#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "camreg/change_feed.hpp"
#include "camreg/device_repository.hpp"
#include "camreg/event_store.hpp"
#include "camreg/result.hpp"
#include "camreg/sync_trigger.hpp"
#include "camreg/webhooks.hpp"

namespace camreg::http {

struct Options {
  std::string listen = "127.0.0.1:8001";         // host:port; port 0 picks a free one
  std::size_t threads = 2;                       // io threads sharing one io_context
  std::string web_root;                          // the dashboard's directory; empty: none
  std::vector<std::string> cors_origins;         // allowed Origin values ("*": any); empty: none
  std::size_t max_connections = 4096;            // more are closed on accept
  std::chrono::milliseconds read_timeout{10000}; // a request's arrival, and keep-alive idle
  std::size_t header_limit = 8 * 1024;           // request line + headers; over: 431
  std::size_t body_limit = 4 * 1024;             // over: 413
  std::chrono::milliseconds drain_timeout{5000}; // after stop(), then connections are cut
  std::size_t max_cached_queries = 64;           // distinct /api/devices queries kept
  bool metrics_per_device = true; // /metrics: camreg_device_up etc. per device (off: counts only)
  // Snapshots are rebuilt at least this often, whatever the change feed says; one older
  // than 1.5 times this is rebuilt before it is served.
  std::chrono::milliseconds refresh_interval{30000};
  // /api/sync/status says "stale": true when no round succeeded within this.
  std::chrono::milliseconds stale_after{180000};
  // /readyz fails when no round succeeded within this; 0: off.
  std::chrono::milliseconds ready_max_sync_age{0};
  // Origins (scheme://host[:port]) of MediaMTX's WebRTC endpoints: the dashboard's
  // Content-Security-Policy lets it connect there and to its own origin only.
  std::vector<std::string> webrtc_origins;
  // The Bearer token POST /api/sync/trigger requires; empty: that endpoint answers 403.
  std::string trigger_token;
  // A primary is configured for writes (api-server --primary-database-url): /readyz says
  // so, and a server reading from a standby without one says it is read-only.
  bool primary_configured = false;
  // Bearer token of the /api/webhooks routes; empty: they answer 403.
  std::string admin_token;
  // GET /api/events: a comment line this often keeps an idle stream (and proxies) open;
  // at most sse_max_clients streams at once (more: 503); at most sse_queue_bytes of
  // events wait for a client: beyond, it is fed from the database at its own pace, and
  // disconnected if still behind after read_timeout (it resumes with Last-Event-ID).
  std::chrono::milliseconds sse_heartbeat{15000};
  std::size_t sse_max_clients = 256;
  std::size_t sse_queue_bytes = 1 << 20;
};

// What the webhook routes (/api/webhooks...) and /metrics' webhook families use: a store
// of their own (used on a thread of the server's), how to make a whsec_ secret, and the
// deliverer's figures (null: no deliverer here, no webhook families).
struct WebhookServices {
  std::unique_ptr<WebhookStore> store;
  std::function<std::string()> new_secret;
  std::shared_ptr<const WebhookStats> stats;
};

enum class LogLevel { info, warn, error };
using LogSink = std::function<void(LogLevel, std::string_view event, std::string_view message)>;

// The HTTP API and the dashboard. Reads come from pre-serialised snapshots (plain and
// gzip, with an ETag) kept by a thread of the server's own, which refreshes them when
// the feed reports a change, every refresh_interval, and checks readiness every second;
// no request waits on the database except the first of a new query, one whose
// snapshot outlived its bound, and a page (see history below). Device answers carry
// X-Registry-Age: seconds since the last successful sync round, or "unknown" when none
// is on record. The repository and feed are used by that thread only.
class Server {
 public:
  // Binds the listen address; fails with invalid_argument (bad address or web root) or
  // unavailable (bind failed).
  // history, when given, answers the presence history routes and the pages of
  // /api/devices (?limit=) from the database, on a connection of its own (without it the
  // history routes answer 404 and pages are cut from the snapshot). trigger, when given
  // with options.trigger_token, takes POST /api/sync/trigger requests on a thread of its
  // own.
  // webhooks, when its store is given, answers the webhook
  // routes (without it they answer 404 once authorised).
  // events, when given, feeds GET /api/events through one
  // reader woken by events_feed (or polling every second without it); without it that
  // route answers 404.
  static Result<std::unique_ptr<Server>> start(Options options,
                                               std::unique_ptr<DeviceRepository> repository,
                                               std::unique_ptr<ChangeFeed> feed, LogSink log,
                                               std::unique_ptr<DeviceRepository> history = nullptr,
                                               std::unique_ptr<SyncTrigger> trigger = nullptr,
                                               WebhookServices webhooks = {},
                                               std::unique_ptr<EventStore> events = nullptr,
                                               std::unique_ptr<ChangeFeed> events_feed = nullptr);
  virtual ~Server() = default;

  virtual std::uint16_t port() const = 0;
  // Serves until stop() and the drain that follows; blocks.
  virtual void run() = 0;
  // Stops accepting, lets requests in flight finish, closes idle connections; after the
  // drain timeout cuts the rest. Thread-safe; run() returns when done.
  virtual void stop() = 0;
};

} // namespace camreg::http

#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "camreg/change_feed.hpp"
#include "camreg/result.hpp"
#include "camreg/time.hpp"

namespace camreg {

// A receiver of events (DESIGN.md "Events"): signed POSTs of each event's payload.
struct WebhookEndpoint {
  std::int64_t id = 0;
  std::string url;                // as given; may hold userinfo (never logged, see redacted)
  std::vector<std::string> types; // empty: every type
  bool enabled = true;
  std::string disabled_reason; // why not enabled (a receiver's 410)
  TimePoint created_at;
};

// One event's delivery to one endpoint.
struct WebhookDelivery {
  std::int64_t event_id = 0;
  std::string event_type;
  std::string status = "pending"; // pending, delivered, failed
  int attempts = 0;
  TimePoint next_attempt_at;
  std::optional<TimePoint> last_attempt_at;
  std::optional<int> last_status; // HTTP status of the last attempt; none: no answer
  std::string last_error;
  std::optional<TimePoint> delivered_at;
};

// A delivery a deliverer has leased: it alone sends it until lease_until.
struct ClaimedDelivery {
  std::int64_t endpoint_id = 0;
  std::int64_t event_id = 0;
  std::string url;
  std::string secret;  // whsec_...
  std::string payload; // the body, exactly as stored
  int attempt = 1;     // this attempt's number, from 1
  std::string lease;   // the claim's token: its result is recorded only while it holds
};

// What became of one attempt, decided by plan_attempt_result.
struct AttemptResult {
  enum class Kind { delivered, retry, failed, endpoint_gone } kind = Kind::retry;
  std::optional<int> status; // HTTP status; none: no answer
  std::string error;         // empty when delivered
  Duration retry_in{0};      // for retry: from now
};

// Port: the webhook tables (endpoints, deliveries). One connection: not thread-safe.
class WebhookStore {
 public:
  virtual ~WebhookStore() = default;

  virtual Result<WebhookEndpoint> create_endpoint(const std::string& url,
                                                  const std::vector<std::string>& types,
                                                  const std::string& secret) = 0;
  virtual Result<std::vector<WebhookEndpoint>> list_endpoints() = 0;
  // not_found when no such endpoint.
  virtual Result<void> delete_endpoint(std::int64_t id) = 0;
  // The newest deliveries of the endpoint first, at most limit; not_found when no such endpoint.
  virtual Result<std::vector<WebhookDelivery>> deliveries(std::int64_t id, std::size_t limit) = 0;
  // Queues again every event with an id above after for the endpoint (delivered and failed
  // ones again from their first attempt; events from before the endpoint existed too);
  // returns how many were queued. not_found when no such endpoint.
  virtual Result<std::size_t> replay(std::int64_t id, std::int64_t after) = 0;

  // Leases at most limit due deliveries of enabled endpoints for lease, each the oldest
  // pending one of its (endpoint, ordering key): never one behind another still pending.
  // Committed before it returns: no lock is held while they are sent.
  virtual Result<std::vector<ClaimedDelivery>> claim(std::size_t limit, Duration lease) = 0;
  // Records an attempt's result, unless the lease was lost (then it is dropped: another
  // deliverer owns the delivery now). endpoint_gone also disables the endpoint.
  virtual Result<void> record(const ClaimedDelivery& claimed, const AttemptResult& result) = 0;

  struct Backlog {
    std::size_t pending = 0;
    std::optional<TimePoint> oldest;   // when the oldest pending event occurred
    std::optional<TimePoint> next_due; // the earliest next attempt of a claimable delivery
  };
  virtual Result<Backlog> backlog() = 0;
};

// What a receiver answered.
struct WebhookAnswer {
  int status = 0;
  std::string retry_after; // the Retry-After header, as sent
  std::string body_excerpt;
};

// Port: sends one claimed delivery, signed (Standard Webhooks), before deadline.
class WebhookSender {
 public:
  virtual ~WebhookSender() = default;
  // An error when no answer came (refused, timeout, TLS...).
  virtual Result<WebhookAnswer> send(const ClaimedDelivery& delivery,
                                     std::chrono::steady_clock::time_point deadline) = 0;
};

// Standard Webhooks' retry schedule: the delay before each attempt (the first is now).
std::vector<Duration> default_webhook_schedule();

// Parses a Retry-After value: delay-seconds or an HTTP date, relative to now; none when
// absent or malformed. Never negative.
std::optional<Duration> parse_retry_after(std::string_view text, TimePoint now);

// The rules after an attempt: 2xx delivered; 410 the endpoint is gone; otherwise a retry
// after the schedule's next delay scaled by jitter (in [0.8, 1.2]) — or after Retry-After
// on 429 and 503 — until the schedule's attempts are spent, then failed.
AttemptResult plan_attempt_result(const ClaimedDelivery& claimed,
                                  const Result<WebhookAnswer>& answer,
                                  const std::vector<Duration>& schedule, double jitter,
                                  TimePoint now);

// Every type is an event type ("device.online", ...); fails with invalid_argument naming
// the first that is not.
Result<void> validate_event_types(const std::vector<std::string>& types);

// What /metrics says of webhooks, kept by the deliverer. Thread-safe.
class WebhookStats {
 public:
  void count(AttemptResult::Kind kind);
  void set_backlog(std::size_t pending, std::optional<TimePoint> oldest);

  struct Snapshot {
    std::uint64_t delivered = 0, retried = 0, failed = 0, endpoint_gone = 0;
    std::size_t pending = 0;
    std::optional<TimePoint> oldest; // none: nothing pending, or not known yet
    bool known = false;              // a backlog poll has succeeded
  };
  Snapshot snapshot() const;

 private:
  mutable std::mutex mutex_;
  Snapshot state_;
};

// Delivers webhooks: claims due deliveries, sends them on a few threads, records the
// results; woken by the change feed and polled every poll_interval.
class WebhookDeliverer {
 public:
  struct Options {
    std::vector<Duration> schedule = default_webhook_schedule();
    Duration lease = std::chrono::seconds(60);        // > timeout, or sends overlap
    Duration timeout = std::chrono::seconds(15);      // one attempt
    Duration poll_interval = std::chrono::seconds(5); // whatever the feed says
    Duration error_backoff = std::chrono::seconds(2); // after a failed claim
    // Claimed at once, each sent on a thread of its own: a batch takes at most one
    // timeout, so its leases (longer) never lapse while it is being sent.
    std::size_t batch = 8;
  };
  using Log = std::function<void(bool error, std::string_view message)>;

  // The store serves the loop's thread only; the sender is shared by the send threads.
  WebhookDeliverer(Options options, std::unique_ptr<WebhookStore> store,
                   std::unique_ptr<WebhookSender> sender, std::unique_ptr<ChangeFeed> feed,
                   std::shared_ptr<WebhookStats> stats, Log log);
  ~WebhookDeliverer(); // stops, abandoning attempts in flight (their leases expire)
  WebhookDeliverer(const WebhookDeliverer&) = delete;
  WebhookDeliverer& operator=(const WebhookDeliverer&) = delete;

  void stop();

 private:
  void loop();
  std::size_t round();

  Options options_;
  std::unique_ptr<WebhookStore> store_;
  std::unique_ptr<WebhookSender> sender_;
  std::unique_ptr<ChangeFeed> feed_;
  std::shared_ptr<WebhookStats> stats_;
  Log log_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

} // namespace camreg

#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "camreg/device.hpp"
#include "camreg/device_repository.hpp"
#include "camreg/webhooks.hpp"
#include "reply.hpp"

namespace camreg::http::detail {

// What /metrics says of one device, taken when the device's snapshot is built.
struct DeviceSample {
  std::string device_key; // valid UTF-8
  std::string device_type;
  std::string site;
  std::string state; // device_metadata.state; "unknown" when absent or odd
  bool up = false;   // is_active
  std::optional<TimePoint> last_seen;
};

DeviceSample sample_of(const Device& device);

// The top-level "state" of a device_metadata object when it is a short [a-z_] word,
// else "unknown". Reads jsonb's and render_metadata's spelling alike, in one pass.
std::string metadata_state(std::string_view metadata_json);

// Counts and times HTTP requests by route template (never the raw path) and status.
// Thread-safe.
class HttpMetrics {
 public:
  HttpMetrics();
  ~HttpMetrics();
  HttpMetrics(const HttpMetrics&) = delete;
  HttpMetrics& operator=(const HttpMetrics&) = delete;

  void observe(std::string_view route, unsigned status, double seconds);
  // camreg_sse_clients: event streams open, moved by delta.
  void sse_clients(int delta);
  // camreg_events_total{type}: an event the hub read and published.
  void event_published(std::string_view type);

 private:
  friend struct MetricsRenderer;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// What one scrape shows.
struct MetricsInput {
  const std::vector<DeviceSample>* devices = nullptr; // null: the registry is not readable
  bool per_device = true; // camreg_device_up and _last_seen_timestamp_seconds per device
  const std::vector<SiteSummary>* sites = nullptr; // each site's last success; null: unknown
  const HttpMetrics* http = nullptr;
  const WebhookStats* webhooks = nullptr; // null: no deliverer in this process
  TimePoint now{};                        // for ages
};

// The Prometheus text exposition (format 0.0.4) of input: '.' decimals in any locale,
// label values escaped.
std::string render_metrics(const MetricsInput& input);

inline constexpr std::string_view metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

// The /metrics answer of body: the exposition's Content-Type, gzipped when gzip_ok (and
// zlib succeeds), never cached.
Reply metrics_reply(std::string body, bool gzip_ok, unsigned version);

// The process's own metrics, as Prometheus's client libraries name them, from /proc:
// process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_start_time_seconds, process_open_fds,
// process_max_fds. A file that cannot be read leaves its metrics out.
std::string render_process_metrics();

} // namespace camreg::http::detail

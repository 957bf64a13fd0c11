#include "metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <tuple>
#include <utility>

#include "camreg/http/metrics_listener.hpp"
#include "camreg/json_writer.hpp"
#include "devices_snapshot.hpp"

namespace camreg::http::detail {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

double seconds_since_epoch(TimePoint t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

void skip_space(std::string_view s, std::size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
    ++i;
}

// Past the string starting at s[i] == '"'; false when unterminated.
bool skip_string(std::string_view s, std::size_t& i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      ++i;
      return true;
    }
  }
  return false;
}

// Past one value starting at s[i]; strings inside containers are skipped whole so
// their brackets do not count.
bool skip_value(std::string_view s, std::size_t& i) {
  int depth = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '"') {
      if (!skip_string(s, i)) return false;
      if (depth == 0) return true;
      continue;
    }
    if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (depth == 0) return true; // the end of the enclosing object
      if (--depth == 0) {
        ++i;
        return true;
      }
    } else if (c == ',' && depth == 0) {
      return true;
    }
    ++i;
  }
  return depth == 0;
}

bool is_state_word(std::string_view word) {
  if (word.empty() || word.size() > 32) return false;
  for (const char c : word) {
    if (!((c >= 'a' && c <= 'z') || c == '_')) return false;
  }
  return true;
}

ClientMetric gauge(double value, std::vector<ClientMetric::Label> labels) {
  ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = value;
  return m;
}

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

ClientMetric counter(double value, std::vector<ClientMetric::Label> labels) {
  ClientMetric m;
  m.label = std::move(labels);
  m.counter.value = value;
  return m;
}

// The fields of /proc/self/stat after the command name (which may hold spaces and
// parentheses): fields()[0] is the state, field n of proc(5) is fields()[n - 3].
std::vector<std::string> self_stat_fields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  std::getline(in, line);
  const auto paren = line.rfind(')');
  if (paren == std::string::npos) return {};
  std::istringstream rest(line.substr(paren + 1));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;)
    fields.push_back(std::move(f));
  return fields;
}

// Seconds since the epoch at boot (/proc/stat btime), or 0 when unknown.
double boot_time() {
  std::ifstream in("/proc/stat");
  for (std::string word; in >> word;) {
    if (word == "btime") {
      double t = 0;
      in >> t;
      return t;
    }
  }
  return 0;
}

std::vector<MetricFamily> process_families() {
  std::vector<MetricFamily> families;
  const auto single = [&](std::string name, std::string help, MetricType type, double value) {
    auto f = family(std::move(name), std::move(help), type);
    f.metric.push_back(type == MetricType::Counter ? counter(value, {}) : gauge(value, {}));
    families.push_back(std::move(f));
  };
  const auto fields = self_stat_fields();
  if (fields.size() > 21) {
    static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    static const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    // The start time does not change: read once.
    static const double started = boot_time() + std::stod(fields[19]) / ticks;
    single("process_cpu_seconds_total", "User and system CPU time spent, in seconds",
           MetricType::Counter, (std::stod(fields[11]) + std::stod(fields[12])) / ticks);
    single("process_resident_memory_bytes", "Resident memory size, in bytes", MetricType::Gauge,
           std::stod(fields[21]) * page);
    single("process_virtual_memory_bytes", "Virtual memory size, in bytes", MetricType::Gauge,
           std::stod(fields[20]));
    single("process_start_time_seconds", "When the process started, in seconds since the epoch",
           MetricType::Gauge, started);
  }
  std::error_code ec;
  std::size_t open = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec))
    ++open;
  if (!ec) single("process_open_fds", "Open file descriptors", MetricType::Gauge, open);
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    single("process_max_fds", "The limit of open file descriptors", MetricType::Gauge,
           static_cast<double>(limit.rlim_cur));
  }
  return families;
}

// A sample value as TextSerializer writes it: 16 significant digits, '.' in any locale.
void append_value(std::string& out, double value) {
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::general, 16).ptr;
  out.append(buf, end);
}

void append_label_value(std::string& out, std::string_view value) {
  for (const char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

// A gauge family with a series per device that value gives one for.
template <class Value>
void append_per_device(std::string& out, std::string_view name, std::string_view help,
                       const std::vector<DeviceSample>& devices, Value value) {
  out.reserve(out.size() + devices.size() * (name.size() + 80));
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" gauge\n");
  for (const auto& d : devices) {
    const std::optional<double> v = value(d);
    if (!v) continue;
    out.append(name).append("{device_type=\"");
    append_label_value(out, d.device_type);
    out.append("\",device_key=\"");
    append_label_value(out, d.device_key);
    out.append("\",site=\"");
    append_label_value(out, d.site);
    out.append("\"} ");
    append_value(out, *v);
    out += '\n';
  }
}

} // namespace

std::string metadata_state(std::string_view s) {
  constexpr std::string_view unknown = "unknown";
  std::size_t i = 0;
  skip_space(s, i);
  if (i >= s.size() || s[i] != '{') return std::string(unknown);
  ++i;
  for (;;) {
    skip_space(s, i);
    if (i >= s.size() || s[i] != '"') return std::string(unknown);
    const auto key_start = i + 1;
    if (!skip_string(s, i)) return std::string(unknown);
    const auto key = s.substr(key_start, i - key_start - 1);
    skip_space(s, i);
    if (i >= s.size() || s[i] != ':') return std::string(unknown);
    ++i;
    skip_space(s, i);
    if (key == "state") {
      if (i >= s.size() || s[i] != '"') return std::string(unknown);
      const auto value_start = i + 1;
      if (!skip_string(s, i)) return std::string(unknown);
      const auto value = s.substr(value_start, i - value_start - 1);
      return std::string(is_state_word(value) ? value : unknown);
    }
    if (!skip_value(s, i)) return std::string(unknown);
    skip_space(s, i);
    if (i >= s.size() || s[i] != ',') return std::string(unknown);
    ++i;
  }
}

DeviceSample sample_of(const Device& device) {
  return {to_valid_utf8(device.device_key),
          to_valid_utf8(device.device_type),
          device.site,
          metadata_state(device.metadata_json),
          device.is_active,
          device.last_seen};
}

struct HttpMetrics::Impl {
  prometheus::Registry registry;
  prometheus::Family<prometheus::Counter>& requests =
      prometheus::BuildCounter()
          .Name("camreg_http_requests_total")
          .Help("HTTP requests answered, by route template and status code")
          .Register(registry);
  prometheus::Family<prometheus::Histogram>& durations =
      prometheus::BuildHistogram()
          .Name("camreg_http_request_duration_seconds")
          .Help("Time from a request's arrival to its answer, by route template")
          .Register(registry);
  prometheus::Gauge& sse_clients = prometheus::BuildGauge()
                                       .Name("camreg_sse_clients")
                                       .Help("Event streams (GET /api/events) open")
                                       .Register(registry)
                                       .Add({});
  prometheus::Family<prometheus::Counter>& events =
      prometheus::BuildCounter()
          .Name("camreg_events_total")
          .Help("Events this api-server read from the registry and published, by type")
          .Register(registry);
};

HttpMetrics::HttpMetrics() : impl_(std::make_unique<Impl>()) {}
HttpMetrics::~HttpMetrics() = default;

void HttpMetrics::observe(std::string_view route, unsigned status, double seconds) {
  static const prometheus::Histogram::BucketBoundaries buckets{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
  const std::string r(route);
  impl_->requests.Add({{"route", r}, {"code", std::to_string(status)}}).Increment();
  impl_->durations.Add({{"route", r}}, buckets).Observe(seconds);
}

void HttpMetrics::sse_clients(int delta) {
  impl_->sse_clients.Increment(static_cast<double>(delta));
}

void HttpMetrics::event_published(std::string_view type) {
  impl_->events.Add({{"type", std::string(type)}}).Increment();
}

// Reaches HttpMetrics' registry for render_metrics.
struct MetricsRenderer {
  static std::vector<MetricFamily> collect(const HttpMetrics& http) {
    return http.impl_->registry.Collect();
  }
};

std::string render_metrics(const MetricsInput& input) {
  std::vector<MetricFamily> families;
  auto readable = family("camreg_registry_readable",
                         "Whether the registry could be read for this scrape (1) or not (0)",
                         MetricType::Gauge);
  readable.metric.push_back(gauge(input.devices ? 1 : 0, {}));
  families.push_back(std::move(readable));
  if (input.devices) {
    auto counts = family("camreg_devices", "Devices in the registry, by type, site and state",
                         MetricType::Gauge);
    std::map<std::tuple<std::string_view, std::string_view, std::string_view>, std::size_t>
        by_state;
    for (const auto& d : *input.devices)
      ++by_state[{d.device_type, d.site, d.state}];
    for (const auto& [key, n] : by_state) {
      const auto& [type, site, state] = key;
      counts.metric.push_back(gauge(static_cast<double>(n), {{"device_type", std::string(type)},
                                                             {"site", std::string(site)},
                                                             {"state", std::string(state)}}));
    }
    families.push_back(std::move(counts));
  }
  // The per-device families are most of a scrape: written directly, as TextSerializer
  // would (tested against it), without a ClientMetric and its label strings per series.
  auto text = prometheus::TextSerializer().Serialize(families);
  families.clear();
  if (input.devices && input.per_device) {
    append_per_device(text, "camreg_device_up", "Whether the device is active (1) or not (0)",
                      *input.devices, [](const DeviceSample& d) { return d.up ? 1.0 : 0.0; });
    append_per_device(text, "camreg_device_last_seen_timestamp_seconds",
                      "When the device was last seen healthy, in seconds since the epoch",
                      *input.devices, [](const DeviceSample& d) {
                        return d.last_seen ? std::optional(seconds_since_epoch(*d.last_seen))
                                           : std::nullopt;
                      });
  }
  if (input.sites) {
    // Per site, so that one site's silence shows while another syncs (a worker's own
    // gauge says the same of its site).
    auto last = family("camreg_sync_last_success_timestamp_seconds",
                       "When each site's last successful sync round listed MediaMTX, in seconds "
                       "since the epoch (none for a site never listed)",
                       MetricType::Gauge);
    for (const auto& site : *input.sites) {
      if (site.last_success)
        last.metric.push_back(
            gauge(seconds_since_epoch(*site.last_success), {{"site", site.site}}));
    }
    if (!last.metric.empty()) families.push_back(std::move(last));
  }
  if (input.webhooks) {
    // The deliverer's own counts and its last poll of the backlog: no query per scrape.
    const auto stats = input.webhooks->snapshot();
    auto total = family("camreg_webhook_deliveries_total",
                        "Webhook delivery attempts by this process, by result (delivered, retried, "
                        "failed: the last attempt failed, endpoint_gone: answered 410)",
                        MetricType::Counter);
    const std::pair<const char*, std::uint64_t> results[] = {
        {"delivered", stats.delivered},
        {"retried", stats.retried},
        {"failed", stats.failed},
        {"endpoint_gone", stats.endpoint_gone}};
    for (const auto& [result, n] : results) {
      ClientMetric m;
      m.label = {{"result", result}};
      m.counter.value = static_cast<double>(n);
      total.metric.push_back(std::move(m));
    }
    families.push_back(std::move(total));
    if (stats.known) {
      auto pending = family("camreg_webhook_pending",
                            "Webhook deliveries waiting (enabled endpoints), at the last poll",
                            MetricType::Gauge);
      pending.metric.push_back(gauge(static_cast<double>(stats.pending), {}));
      families.push_back(std::move(pending));
      auto age = family("camreg_webhook_oldest_pending_age_seconds",
                        "Age of the event of the oldest waiting webhook delivery (0: none)",
                        MetricType::Gauge);
      const double seconds =
          stats.oldest
              ? std::max(0.0, std::chrono::duration<double>(input.now - *stats.oldest).count())
              : 0.0;
      age.metric.push_back(gauge(seconds, {}));
      families.push_back(std::move(age));
    }
  }
  if (input.http) {
    auto http = MetricsRenderer::collect(*input.http);
    families.insert(families.end(), std::make_move_iterator(http.begin()),
                    std::make_move_iterator(http.end()));
  }
  auto process = process_families();
  families.insert(families.end(), std::make_move_iterator(process.begin()),
                  std::make_move_iterator(process.end()));
  text += prometheus::TextSerializer().Serialize(families);
  return text;
}

std::string render_process_metrics() {
  return prometheus::TextSerializer().Serialize(process_families());
}

Reply metrics_reply(std::string body, bool gzip_ok, unsigned version) {
  auto zipped = gzip_ok ? gzip(body) : std::string();
  const bool compressed = !zipped.empty();
  auto reply = text_reply(bhttp::status::ok, compressed ? std::move(zipped) : std::move(body),
                          metrics_content_type, version);
  reply.res.set(bhttp::field::cache_control, "no-store");
  reply.res.set(bhttp::field::vary, "Accept-Encoding");
  if (compressed) reply.res.set(bhttp::field::content_encoding, "gzip");
  return reply;
}

} // namespace camreg::http::detail

namespace camreg::http {

using detail::counter;
using detail::family;
using detail::gauge;
using prometheus::MetricType;

std::string_view round_result(const RoundReport& report) {
  if (report.write_error)
    return report.write_error->kind == ErrorKind::busy ? "skipped" : "write_failed";
  if (report.fetch_error) return "fetch_failed";
  return "ok";
}

struct SyncMetrics::Impl {
  std::string site;
  mutable std::mutex mutex;
  // Every result from the start, at 0, so that rate() sees the first failure.
  std::map<std::string_view, std::uint64_t> rounds{
      {"ok", 0}, {"fetch_failed", 0}, {"write_failed", 0}, {"skipped", 0}};
  prometheus::Histogram durations{{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}};
  std::map<std::string_view, std::uint64_t> changes{
      {"inserted", 0}, {"updated", 0}, {"newly_active", 0}, {"expired", 0}, {"removed", 0}};
  std::optional<double> last_success; // seconds since the epoch
  std::size_t paths_seen = 0;
  std::size_t items_skipped = 0;
};

SyncMetrics::SyncMetrics(std::string site) : impl_(std::make_unique<Impl>()) {
  impl_->site = std::move(site);
}
SyncMetrics::~SyncMetrics() = default;

void SyncMetrics::observe(const RoundReport& report, std::chrono::steady_clock::duration took) {
  const auto& c = report.counts;
  const std::lock_guard lock(impl_->mutex);
  ++impl_->rounds[round_result(report)];
  impl_->durations.Observe(std::chrono::duration<double>(took).count());
  if (report.write_error) return; // nothing was written
  impl_->changes["inserted"] += c.inserted;
  impl_->changes["updated"] += c.updated;
  impl_->changes["newly_active"] += c.newly_active;
  impl_->changes["expired"] += c.expired;
  impl_->changes["removed"] += c.removed;
  if (report.fetch_error) return;
  impl_->last_success = detail::seconds_since_epoch(report.finished_at);
  impl_->paths_seen = c.paths_seen;
  impl_->items_skipped = c.skipped;
}

std::string SyncMetrics::render() const {
  std::vector<prometheus::MetricFamily> families;
  {
    const std::lock_guard lock(impl_->mutex);
    auto rounds = family("camreg_sync_rounds_total",
                         "Sync rounds this worker ran, by result: ok, fetch_failed (MediaMTX "
                         "could not be listed), write_failed (the database refused the round), "
                         "skipped (another worker held the round lock)",
                         MetricType::Counter);
    for (const auto& [result, n] : impl_->rounds)
      rounds.metric.push_back(counter(static_cast<double>(n), {{"result", std::string(result)}}));
    families.push_back(std::move(rounds));
    auto durations = family("camreg_sync_round_duration_seconds",
                            "Time a round took, listing and writing, whatever its result",
                            MetricType::Histogram);
    durations.metric.push_back(impl_->durations.Collect());
    families.push_back(std::move(durations));
    auto changes = family("camreg_sync_device_changes_total",
                          "Devices the committed rounds changed, by change", MetricType::Counter);
    for (const auto& [change, n] : impl_->changes)
      changes.metric.push_back(counter(static_cast<double>(n), {{"change", std::string(change)}}));
    families.push_back(std::move(changes));
    if (impl_->last_success) {
      auto last = family("camreg_sync_last_success_timestamp_seconds",
                         "When this worker's last successful sync round finished, in seconds "
                         "since the epoch",
                         MetricType::Gauge);
      last.metric.push_back(gauge(*impl_->last_success, {{"site", impl_->site}}));
      families.push_back(std::move(last));
      auto paths = family("camreg_sync_paths_seen",
                          "Paths MediaMTX listed in the last successful round", MetricType::Gauge);
      paths.metric.push_back(gauge(static_cast<double>(impl_->paths_seen), {}));
      families.push_back(std::move(paths));
      auto skipped = family("camreg_sync_items_skipped",
                            "Listed items the last successful round could not understand (their "
                            "devices kept as they were)",
                            MetricType::Gauge);
      skipped.metric.push_back(gauge(static_cast<double>(impl_->items_skipped), {}));
      families.push_back(std::move(skipped));
    }
  }
  auto process = detail::process_families();
  families.insert(families.end(), std::make_move_iterator(process.begin()),
                  std::make_move_iterator(process.end()));
  return prometheus::TextSerializer().Serialize(families);
}

} // namespace camreg::http

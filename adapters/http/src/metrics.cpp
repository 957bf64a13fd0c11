#include "metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <map>
#include <utility>

#include "camreg/json_writer.hpp"

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
  return {to_valid_utf8(device.device_key), to_valid_utf8(device.device_type),
          metadata_state(device.metadata_json), device.is_active, device.last_seen};
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
    auto counts =
        family("camreg_devices", "Devices in the registry, by type and state", MetricType::Gauge);
    std::map<std::pair<std::string_view, std::string_view>, std::size_t> by_state;
    for (const auto& d : *input.devices)
      ++by_state[{d.device_type, d.state}];
    for (const auto& [key, n] : by_state) {
      counts.metric.push_back(
          gauge(static_cast<double>(n),
                {{"device_type", std::string(key.first)}, {"state", std::string(key.second)}}));
    }
    families.push_back(std::move(counts));
    if (input.per_device) {
      auto up = family("camreg_device_up", "Whether the device is active (1) or not (0)",
                       MetricType::Gauge);
      auto seen = family("camreg_device_last_seen_timestamp_seconds",
                         "When the device was last seen healthy, in seconds since the epoch",
                         MetricType::Gauge);
      up.metric.reserve(input.devices->size());
      seen.metric.reserve(input.devices->size());
      for (const auto& d : *input.devices) {
        up.metric.push_back(
            gauge(d.up ? 1 : 0, {{"device_type", d.device_type}, {"device_key", d.device_key}}));
        if (d.last_seen) {
          seen.metric.push_back(
              gauge(seconds_since_epoch(*d.last_seen),
                    {{"device_type", d.device_type}, {"device_key", d.device_key}}));
        }
      }
      families.push_back(std::move(up));
      families.push_back(std::move(seen));
    }
  }
  if (input.runs) {
    for (const auto& run : *input.runs) {
      if (!run.ok) continue;
      auto last = family("camreg_sync_last_success_timestamp_seconds",
                         "When the last successful sync round finished, in seconds since the epoch",
                         MetricType::Gauge);
      last.metric.push_back(gauge(seconds_since_epoch(run.finished_at), {}));
      families.push_back(std::move(last));
      break;
    }
  }
  if (input.http) {
    auto http = MetricsRenderer::collect(*input.http);
    families.insert(families.end(), std::make_move_iterator(http.begin()),
                    std::make_move_iterator(http.end()));
  }
  return prometheus::TextSerializer().Serialize(families);
}

} // namespace camreg::http::detail

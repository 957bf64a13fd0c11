#pragma once

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <chrono>
#include <string>
#include <vector>

#include "metrics.hpp"

namespace camreg::testing {

// camreg_device_up and camreg_device_last_seen_timestamp_seconds of devices through
// prometheus-cpp's TextSerializer, as render_metrics wrote them before it wrote them
// itself: what its output is held to (metrics_test) and the benchmark's "before".
inline std::string per_device_through_prometheus_cpp(
    const std::vector<http::detail::DeviceSample>& devices) {
  using prometheus::ClientMetric;
  prometheus::MetricFamily up{"camreg_device_up",
                              "Whether the device is active (1) or not (0)",
                              prometheus::MetricType::Gauge,
                              {}};
  prometheus::MetricFamily seen{"camreg_device_last_seen_timestamp_seconds",
                                "When the device was last seen healthy, in seconds since the epoch",
                                prometheus::MetricType::Gauge,
                                {}};
  for (const auto& d : devices) {
    ClientMetric m;
    m.label = {{"device_type", d.device_type}, {"device_key", d.device_key}, {"site", d.site}};
    m.gauge.value = d.up ? 1 : 0;
    up.metric.push_back(m);
    if (d.last_seen) {
      m.gauge.value = std::chrono::duration<double>(d.last_seen->time_since_epoch()).count();
      seen.metric.push_back(std::move(m));
    }
  }
  return prometheus::TextSerializer().Serialize({up, seen});
}

} // namespace camreg::testing

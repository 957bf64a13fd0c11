// How long a /metrics scrape takes to render with N cameras (default 5,000), beside the
// rendering of /api/devices' JSON for the same devices, measured in the same run.
// Prints figures; asserts nothing.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "camreg/api_json.hpp"
#include "devices_snapshot.hpp"
#include "metrics.hpp"
#include "metrics_reference.hpp"

using namespace camreg;
using namespace camreg::http::detail;
using Clock = std::chrono::steady_clock;

namespace {

// A live camera's device_metadata as jsonb prints it, about as long as a real one.
std::string metadata(std::size_t i) {
  return R"({"ready": true, "state": "live", "online": true, "tracks": [{"codec": "H264", "props": {"width": 1920, "height": 1080, "profile": "High"}}, {"codec": "MPEG-4 Audio", "props": {"sample_rate": 48000, "channels": 2}}], "readers": [{"id": "5e1d", "type": "webRTCSession"}], "source_id": "", "conf_name": "cam-)" +
         std::to_string(i) +
         R"(", "ready_time": "2026-11-24T10:00:00Z", "bytes_sent": 9182736455, "source_type": "rtspSource", "reader_count": 1, "track_codecs": ["H264", "MPEG-4 Audio"], "bytes_received": 81726354, "frames_in_error": 0, "whep_url": "http://localhost:8889/site-a/building.2/cam-)" +
         std::to_string(i) + R"(/whep"})";
}

// Median and worst of runs of f, in milliseconds.
std::pair<double, double> measure(int runs, const std::function<void()>& f) {
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto start = Clock::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.back()};
}

} // namespace

int main(int argc, char** argv) {
  const std::size_t cameras = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 5000;
  constexpr int runs = 21;
  std::vector<Device> devices;
  const auto now = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
  for (std::size_t i = 0; i < cameras; ++i) {
    Device d;
    d.id = static_cast<std::int64_t>(i + 1);
    d.device_key = "site-a/building.2/cam-" + std::to_string(i);
    d.device_type = "camera";
    d.name = d.device_key;
    d.is_active = i % 10 != 0;
    if (d.is_active) d.last_seen = now;
    d.created_at = d.updated_at = now;
    d.metadata_json = metadata(i);
    devices.push_back(std::move(d));
  }
  const auto snapshot = build_devices_snapshot(devices);
  HttpMetrics http;
  for (int i = 0; i < 1000; ++i)
    http.observe(i % 3 ? "/api/devices" : "/api/devices/{key...}", i % 7 ? 200 : 304, 0.001 * i);
  std::vector<SiteSummary> sites(1);
  sites[0].site = "default";
  sites[0].last_success = now;
  MetricsInput input;
  input.devices = &snapshot->samples;
  input.sites = &sites;
  input.http = &http;

  std::size_t bytes = 0, gzip_bytes = 0, json_bytes = 0;
  const auto api = measure(runs, [&] {
    std::string json = "[";
    for (const auto& d : devices) {
      if (json.size() > 1) json += ',';
      append_device_json(json, d);
    }
    json += ']';
    json_bytes = json.size();
  });
  // Before: the per-device families through prometheus-cpp's serializer, as render_metrics
  // wrote them up to commit 8ebf240 (the rest of a scrape is under 0.3 ms, "counts only").
  std::size_t before_bytes = 0;
  const auto before = measure(runs, [&] {
    before_bytes = testing::per_device_through_prometheus_cpp(snapshot->samples).size();
  });
  const auto scrape = measure(runs, [&] { bytes = render_metrics(input).size(); });
  const auto scrape_gzip = measure(runs, [&] { gzip_bytes = gzip(render_metrics(input)).size(); });
  input.per_device = false;
  std::size_t counts_bytes = 0;
  const auto counts = measure(runs, [&] { counts_bytes = render_metrics(input).size(); });
  const auto snapshot_build = measure(5, [&] { (void)build_devices_snapshot(devices); });

  std::printf("cameras: %zu (median / worst of %d runs)\n", cameras, runs);
  std::printf("baseline: /api/devices JSON of the same devices  %7.2f / %7.2f ms  %zu bytes\n",
              api.first, api.second, json_bytes);
  std::printf("before: per-device series via prometheus-cpp     %7.2f / %7.2f ms  %zu bytes\n",
              before.first, before.second, before_bytes);
  std::printf("/metrics render, per device                     %7.2f / %7.2f ms  %zu bytes\n",
              scrape.first, scrape.second, bytes);
  std::printf("/metrics render + gzip, per device              %7.2f / %7.2f ms  %zu bytes\n",
              scrape_gzip.first, scrape_gzip.second, gzip_bytes);
  std::printf("/metrics render, counts only                    %7.2f / %7.2f ms  %zu bytes\n",
              counts.first, counts.second, counts_bytes);
  std::printf("snapshot build once per change (JSON+gzip+samples, median of 5) %7.2f ms\n",
              snapshot_build.first);
  std::printf("target: a scrape renders in <= 50 ms: %s\n",
              scrape_gzip.second <= 50 ? "met (worst run)" : "NOT met (worst run)");
  return 0;
}

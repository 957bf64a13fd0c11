#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "camreg/http/server.hpp"
#include "camreg/result.hpp"
#include "camreg/sync_round.hpp"

namespace camreg::http {

// The label camreg_sync_rounds_total{result} gives a round: "ok"; "skipped" when another
// worker held the round lock (nothing done); "write_failed" when the database refused
// the round (whatever the fetch did); "fetch_failed" when MediaMTX could not be listed
// (expiry and the run record were still written).
std::string_view round_result(const RoundReport& report);

// What a sync-worker exports about its own rounds, with the process's own metrics
// (process_cpu_seconds_total, process_resident_memory_bytes, ...). Thread-safe: a
// scrape sees every observed round or none of one.
class SyncMetrics {
 public:
  // site: the one this worker syncs, the label of its last success.
  explicit SyncMetrics(std::string site = "default");
  ~SyncMetrics();
  SyncMetrics(const SyncMetrics&) = delete;
  SyncMetrics& operator=(const SyncMetrics&) = delete;

  // Counts a finished round under round_result(report), its duration (took) in the
  // histogram, its device changes; on success also the time it finished (the report's
  // clock: the database's; camreg_sync_last_success_timestamp_seconds{site}) and what it
  // listed.
  void observe(const RoundReport& report, std::chrono::steady_clock::duration took);
  // The Prometheus text exposition (format 0.0.4) of what was observed so far.
  std::string render() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct MetricsListenerOptions {
  std::string listen = "127.0.0.1:9464";         // host:port; port 0 picks a free one
  std::size_t max_connections = 64;              // more are closed on accept
  std::chrono::milliseconds read_timeout{10000}; // a request's arrival, and keep-alive idle
  std::chrono::milliseconds drain_timeout{500};  // on destruction, then connections are cut
};

// A small HTTP server on a thread of its own that answers GET (and HEAD) /metrics with
// render()'s text, as api-server's /metrics does (Content-Type, gzip when accepted, not
// cached), and everything else with a JSON 404 or 405. render is called on that thread.
class MetricsListener {
 public:
  // Binds and starts serving; fails with invalid_argument (bad address) or unavailable
  // (bind failed).
  static Result<std::unique_ptr<MetricsListener>> start(MetricsListenerOptions options,
                                                        std::function<std::string()> render,
                                                        LogSink log = {});
  // Stops, drains for the drain timeout and joins the thread.
  virtual ~MetricsListener() = default;
  virtual std::uint16_t port() const = 0;
};

// Whether listen is an address a listener can be given: "host:port", the host an IP
// address (IPv6 in brackets) or empty (every IPv4 address), the port 0 to 65535.
// Fails with invalid_argument naming the address and what is wrong.
Result<void> check_listen_address(std::string_view listen);

} // namespace camreg::http

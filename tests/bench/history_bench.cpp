// Presence history at the size issue #14 names: 1,000 cameras over 90 days at 20 state
// changes a day (1.8 M ledger intervals). Times GET /api/devices/{key}/history's read
// (one camera, 24 h and 90 days) and GET /api/history's (every camera, 24 h) beside a
// baseline measured in the same run: reading the same cameras' rows of `devices`.
// Prints figures; asserts nothing. Database from CAMREG_TEST_DATABASE_URL.
#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "camreg/history.hpp"
#include "camreg/postgres/postgres.hpp"

using namespace camreg;
using camreg::bench::exec;
using Stopwatch = std::chrono::steady_clock;

namespace {

template <class F>
std::pair<double, double> p50_p95_ms(int runs, F&& f) {
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto start = Stopwatch::now();
    f(i);
    ms.push_back(std::chrono::duration<double, std::milli>(Stopwatch::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 95 / 100)]};
}

} // namespace

int main(int argc, char** argv) {
  const char* url = std::getenv("CAMREG_TEST_DATABASE_URL");
  if (!url) {
    std::fprintf(stderr, "set CAMREG_TEST_DATABASE_URL\n");
    return 2;
  }
  const int cameras = argc > 1 ? std::atoi(argv[1]) : 1000;
  const int days = argc > 2 ? std::atoi(argv[2]) : 90;
  const int per_day = 20;
  PGconn* conn = PQconnectdb(url);
  if (PQstatus(conn) != CONNECTION_OK) return 1;
  const std::string schema = "bench_history";
  const auto options = bench::fresh_schema(conn, url, schema);
  const auto seed_start = Stopwatch::now();
  const std::string step = std::to_string(86400 / per_day) + " seconds";
  exec(conn,
       "INSERT INTO devices (device_key, device_type, name, state, is_active) "
       "SELECT 'site/cam' || lpad(i::text, 5, '0'), 'camera', 'cam' || i, 'live', true "
       "FROM generate_series(1, " +
           std::to_string(cameras) + ") i");
  // Alternating online/offline intervals of 72 minutes, ending at now; the last open.
  exec(conn,
       "INSERT INTO device_presence (device_id, presence, period) "
       "SELECT d.id, CASE WHEN k % 2 = 0 THEN 'online' ELSE 'offline' END, "
       "tstzrange(now() - (" +
           std::to_string(days * per_day) + " - k) * interval '" + step +
           "', CASE WHEN k = " + std::to_string(days * per_day - 1) + " THEN NULL ELSE now() - (" +
           std::to_string(days * per_day) + " - k - 1) * interval '" + step +
           "' END, '[)') "
           "FROM devices d, generate_series(0, " +
           std::to_string(days * per_day - 1) + ") k");
  exec(conn, "ANALYZE devices; ANALYZE device_presence");
  const double seed_s = std::chrono::duration<double>(Stopwatch::now() - seed_start).count();
  std::printf("seeded %d cameras x %d days x %d changes/day = %d intervals in %.1f s\n", cameras,
              days, per_day, cameras * days * per_day, seed_s);

  auto repo = postgres::make_device_repository(options);
  const auto now = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
  const auto key = [&](int i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "site/cam%05d", 1 + (i * 7919) % cameras);
    return std::string(buf);
  };
  const auto one = [&](Duration window) {
    return [&, window](int i) {
      HistoryQuery q{"camera", key(i), now - window, now};
      auto read = repo->presence_history(q);
      if (!read) std::exit(1);
      const auto h = summarize_history(*read, q.from, q.to, now);
      (void)render_history_json(h.at(0), q.from, q.to);
    };
  };
  const auto [d1_50, d1_95] = p50_p95_ms(200, one(std::chrono::hours(24)));
  const auto [d90_50, d90_95] = p50_p95_ms(50, one(std::chrono::hours(24 * days)));
  const auto [all_50, all_95] = p50_p95_ms(20, [&](int) {
    HistoryQuery q{"camera", std::nullopt, now - std::chrono::hours(24), now};
    auto read = repo->presence_history(q);
    if (!read) std::exit(1);
    (void)render_histories_json(summarize_history(*read, q.from, q.to, now), q.from, q.to);
  });
  // Baseline: the same cameras' rows of devices, as /api/devices reads them.
  const auto [base_50, base_95] = p50_p95_ms(20, [&](int) {
    if (!repo->list_devices(DeviceQuery{"camera", false})) std::exit(1);
  });
  std::printf("%-44s %9s %9s\n", "read (incl. summary and JSON)", "p50_ms", "p95_ms");
  std::printf("%-44s %9.2f %9.2f\n", "one camera, last 24 h", d1_50, d1_95);
  std::printf("%-44s %9.2f %9.2f\n", ("one camera, " + std::to_string(days) + " days").c_str(),
              d90_50, d90_95);
  std::printf("%-44s %9.2f %9.2f\n",
              ("every camera (" + std::to_string(cameras) + "), last 24 h").c_str(), all_50,
              all_95);
  std::printf("%-44s %9.2f %9.2f\n", "baseline: list_devices of the same cameras", base_50,
              base_95);
  exec(conn, "DROP SCHEMA " + schema + " CASCADE");
  PQfinish(conn);
  return 0;
}

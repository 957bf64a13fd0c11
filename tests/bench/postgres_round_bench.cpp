// One sync round of N cameras against a bare COPY of the same rows, in the same run
// on the same server. Prints figures; asserts nothing. Usage:
//   postgres_round_bench [N...]      (database from CAMREG_TEST_DATABASE_URL)
#include <libpq-fe.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "camreg/json_writer.hpp"
#include "camreg/metadata.hpp"
#include "camreg/postgres/postgres.hpp"
#include "camreg/sync_round.hpp"
#include "camreg/url.hpp"

using namespace camreg;
using camreg::bench::exec;
using Stopwatch = std::chrono::steady_clock;

namespace {

std::vector<PathState> make_rows(int n) {
  std::vector<PathState> rows;
  rows.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    PathState p;
    p.name = "site-" + std::to_string(i / 100) + "/cam_" + std::to_string(i);
    p.conf_name = p.name;
    p.available = i % 10 != 0;
    if (p.available) p.available_time = "2026-11-24T10:00:00.123456789Z";
    p.online = true;
    p.source = SourceRef{"rtspSource", ""};
    if (p.available) {
      p.tracks = {Track{"H264",
                        {{"width", std::int64_t{1920}},
                         {"height", std::int64_t{1080}},
                         {"profile", std::string("High")},
                         {"level", std::string("4.1")}}},
                  Track{"Opus", {{"channelCount", std::int64_t{2}}}}};
      p.readers = {ReaderRef{"webRTCSession", "0b6f6f1e-1d7c-4b59-a7a8-" + std::to_string(i)}};
    }
    p.inbound_bytes = 1'000'000ULL * static_cast<unsigned>(i);
    rows.push_back(std::move(p));
  }
  return rows;
}

double seconds_since(Stopwatch::time_point start) {
  return std::chrono::duration<double>(Stopwatch::now() - start).count();
}

// COPY of the same rows into a scratch table shaped like devices.
double copy_rows(PGconn* conn, const std::vector<PathState>& paths) {
  const auto base = parse_http_url("http://localhost:8889").value();
  exec(conn, "DROP TABLE IF EXISTS copy_scratch");
  exec(conn,
       "CREATE TABLE copy_scratch (LIKE devices INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
       "INCLUDING INDEXES)");
  const auto start = Stopwatch::now();
  exec(conn, "BEGIN");
  PGresult* res = PQexec(conn,
                         "COPY copy_scratch (device_key, device_type, name, device_metadata, "
                         "last_seen, is_active) FROM STDIN");
  if (PQresultStatus(res) != PGRES_COPY_IN) {
    std::fprintf(stderr, "COPY: %s\n", PQresultErrorMessage(res));
    std::exit(1);
  }
  PQclear(res);
  std::string buffer;
  const auto escape = [&](const std::string& v) {
    for (char c : v) {
      if (c == '\\' || c == '\t' || c == '\n' || c == '\r') buffer += '\\';
      buffer += c;
    }
  };
  for (const auto& path : paths) {
    escape(path.name);
    buffer += "\tcamera\t";
    escape(path.name);
    buffer += '\t';
    escape(render_metadata(path, whep_url(base, path.name)));
    buffer += path.available ? "\t2026-11-24 10:00:00+00\tt\n" : "\t\\N\tf\n";
    if (buffer.size() > (1 << 20)) {
      PQputCopyData(conn, buffer.data(), static_cast<int>(buffer.size()));
      buffer.clear();
    }
  }
  PQputCopyData(conn, buffer.data(), static_cast<int>(buffer.size()));
  PQputCopyEnd(conn, nullptr);
  res = PQgetResult(conn);
  if (PQresultStatus(res) != PGRES_COMMAND_OK) {
    std::fprintf(stderr, "COPY: %s\n", PQresultErrorMessage(res));
    std::exit(1);
  }
  PQclear(res);
  exec(conn, "COMMIT");
  return seconds_since(start);
}

} // namespace

int main(int argc, char** argv) {
  const char* url = std::getenv("CAMREG_TEST_DATABASE_URL");
  if (!url) {
    std::fprintf(stderr, "set CAMREG_TEST_DATABASE_URL\n");
    return 2;
  }
  std::vector<int> sizes;
  for (int i = 1; i < argc; ++i)
    sizes.push_back(std::atoi(argv[i]));
  if (sizes.empty()) sizes = {1'000, 10'000, 100'000};

  std::printf("%9s %12s %12s %12s %10s %10s\n", "cameras", "copy_ms", "round1_ms", "round2_ms",
              "r1/copy", "r2/copy");
  for (const int n : sizes) {
    const auto rows = make_rows(n);
    PGconn* conn = PQconnectdb(url);
    if (PQstatus(conn) != CONNECTION_OK) {
      std::fprintf(stderr, "%s\n", PQerrorMessage(conn));
      return 1;
    }
    const std::string schema = "bench_" + std::to_string(n);
    const auto options = bench::fresh_schema(conn, url, schema);
    auto repo = postgres::make_device_repository(options);
    if (auto ready = repo->check_ready(); !ready) {
      std::fprintf(stderr, "not ready: %s\n", ready.error().message.c_str());
      return 1;
    }

    // A round is the core's plan (rendering every listed path's metadata) and its
    // commit; the COPY renders the same metadata, so both sides do the same work.
    SyncOptions sync;
    sync.webrtc_base = parse_http_url("http://localhost:8889").value();
    const Result<std::vector<PathState>> listing(rows);
    auto now = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
    const auto round = [&]() {
      return repo->commit_round("camera", sync.site, now, [&](const RegistryState& stored) {
        return plan_round(listing, stored, sync, now, "bench");
      });
    };

    const double copy = copy_rows(conn, rows);
    auto start = Stopwatch::now();
    if (auto r = round(); !r) {
      std::fprintf(stderr, "round: %s\n", r.error().message.c_str());
      return 1;
    }
    const double first = seconds_since(start);
    now += std::chrono::seconds(60);
    start = Stopwatch::now();
    if (auto r = round(); !r || count(*r).updated != 0) {
      std::fprintf(stderr, "second round: %s\n",
                   r ? "rows were rewritten" : r.error().message.c_str());
      return 1;
    }
    const double second = seconds_since(start);
    std::printf("%9d %12.1f %12.1f %12.1f %10.2f %10.2f\n", n, copy * 1e3, first * 1e3,
                second * 1e3, first / copy, second / copy);
    std::fflush(stdout);
    exec(conn, "DROP SCHEMA " + schema + " CASCADE");
    PQfinish(conn);
  }
  return 0;
}

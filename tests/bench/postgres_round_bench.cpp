// One sync round of N cameras against a bare COPY of the same rows, in the same run
// on the same server, then an identical round, then realistic rounds: every live
// camera's byte counters move (as on a real MediaMTX) and about 1% of the cameras
// change state. Prints figures; asserts nothing. Usage:
//   postgres_round_bench [N...]      (database from CAMREG_TEST_DATABASE_URL)
// Each realistic round is split into read (lock, clock, the stored presence: until the
// planner is called), plan (the core's plan_round) and write (the rest, to the commit).
#include <libpq-fe.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
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

// The next realistic round's listing: counters of every available camera grow, and
// cameras i with i % 100 == round % 100 flip between live and not ready (1%).
void advance(std::vector<PathState>& rows, int round) {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    auto& p = rows[i];
    if (static_cast<int>(i % 100) == round % 100) {
      p.available = !p.available;
      p.available_time =
          p.available ? std::optional<std::string>("2026-11-24T10:05:00Z") : std::nullopt;
    }
    if (p.available) {
      p.inbound_bytes += 250'000 + i % 1000;
      p.outbound_bytes += 40'000 * p.readers.size();
    }
  }
}

// CPU seconds (user + system) of this process, and of the cluster's client backends but
// conn's own (the repository's backend): on a shared machine wall time says little, CPU
// time says what a round costs.
double own_cpu() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto s = [](timeval t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(usage.ru_utime) + s(usage.ru_stime);
}
double cluster_cpu(PGconn* conn) {
  PGresult* res = PQexec(conn,
                         "SELECT pid FROM pg_stat_activity"
                         " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()");
  double total = 0;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  for (int r = 0; r < PQntuples(res); ++r) {
    std::ifstream stat(std::string("/proc/") + PQgetvalue(res, r, 0) + "/stat");
    std::string line;
    if (!std::getline(stat, line) || line.rfind(')') == std::string::npos) continue;
    std::istringstream fields(line.substr(line.rfind(')') + 2));
    std::string field;
    double ticks = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) // fields 14 and 15: utime, stime
      if (i >= 14) ticks += std::stod(field);
    total += ticks / tick;
  }
  PQclear(res);
  return total;
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

  const int realistic_rounds = 3;
  std::printf("%9s %12s %12s %12s %10s %10s %14s %8s %8s %8s %9s %8s %9s\n", "cameras", "copy_ms",
              "round1_ms", "round2_ms", "r1/copy", "r2/copy", "realistic_ms", "read", "plan",
              "write", "written", "cpu_ms", "db_cpu_ms");
  for (const int n : sizes) {
    auto rows = make_rows(n);
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
    Result<std::vector<PathState>> listing(rows);
    auto now = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
    Stopwatch::time_point plan_start, plan_end;
    const auto round = [&]() {
      return repo->commit_round("camera", sync.site, now, [&](const RegistryState& stored) {
        plan_start = Stopwatch::now();
        auto plan = plan_round(listing, stored, sync, now, "bench");
        plan_end = Stopwatch::now();
        return plan;
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
    std::printf("%9d %12.1f %12.1f %12.1f %10.2f %10.2f", n, copy * 1e3, first * 1e3, second * 1e3,
                first / copy, second / copy);
    for (int r = 0; r < realistic_rounds; ++r) {
      advance(rows, r);
      listing = Result<std::vector<PathState>>(rows);
      now += std::chrono::seconds(60);
      const double cpu_before = own_cpu(), db_before = cluster_cpu(conn);
      start = Stopwatch::now();
      const auto done = round();
      const auto end = Stopwatch::now();
      if (!done) {
        std::fprintf(stderr, "realistic round: %s\n", done.error().message.c_str());
        return 1;
      }
      const auto ms = [](auto from, auto to) {
        return std::chrono::duration<double, std::milli>(to - from).count();
      };
      const double cpu = own_cpu() - cpu_before, db_cpu = cluster_cpu(conn) - db_before;
      std::printf("%s%14.1f %8.1f %8.1f %8.1f %9zu %8.0f %9.0f\n",
                  r == 0 ? " " : std::string(71, ' ').c_str(), ms(start, end),
                  ms(start, plan_start), ms(plan_start, plan_end), ms(plan_end, end),
                  done->writes.size(), cpu * 1e3, db_cpu * 1e3);
    }
    std::fflush(stdout);
    exec(conn, "DROP SCHEMA " + schema + " CASCADE");
    PQfinish(conn);
  }
  return 0;
}

// What sync-worker's listing of MediaMTX paths costs at N cameras (default 100,000, pages
// of 1,000 items shaped as run-worker-round-bench's): parsing every page from memory
// (parse_paths_page), then the whole list_paths() against pages served over loopback by a
// forked process (so its CPU is not counted). Prints wall and CPU time (median and best
// of the runs), heap allocations per listing and a digest of what was read, so two builds
// of this file (run-listing-bench) can be compared; asserts nothing.
// Usage: listing_bench [CAMERAS] [RUNS]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <new>
#include <string>
#include <variant>
#include <vector>

#include "camreg/mediamtx/mediamtx.hpp"
#include "paths_parser.hpp"

namespace {

std::atomic<std::uint64_t> allocations{0};

} // namespace

// Every heap allocation of the process is counted (Boost.JSON's resources and the
// standard containers all come through here).
void* operator new(std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
  return operator new(size);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

namespace {

using namespace camreg;
using Clock = std::chrono::steady_clock;

constexpr std::size_t per_page = 1000;

// Page p of a list of n paths, as run-worker-round-bench's generator writes walk 1.
std::string page_body(std::size_t n, std::size_t p) {
  const std::size_t pages = (n + per_page - 1) / per_page;
  std::string out = "{\"itemCount\":" + std::to_string(n) +
                    ",\"pageCount\":" + std::to_string(pages) + ",\"items\":[";
  char buf[4096];
  for (std::size_t i = p * per_page; i < std::min(n, (p + 1) * per_page); ++i) {
    const bool live = (i % 10 != 0) != (i % 100 == 1);
    char name[64];
    std::snprintf(name, sizeof name, "site-%zu/cam_%06zu", i / 100, i);
    const char* stamp = live ? "\"2026-11-30T10:00:00Z\"" : "null";
    const char* flag = live ? "true" : "false";
    const unsigned long long grown = i * 1000 + (250000 + i % 1000);
    char readers[128] = "[]";
    if (live && i % 3 == 0) {
      std::snprintf(readers, sizeof readers,
                    "[{\"type\":\"webRTCSession\",\"id\":\"0b6f6f1e-1d7c-4b59-a7a8-%012zu\"}]", i);
    }
    std::snprintf(
        buf, sizeof buf,
        "%s{\"name\":\"%s\",\"confName\":\"%s\",\"source\":{\"type\":\"rtspSource\",\"id\":\"\"},"
        "\"available\":%s,\"availableTime\":%s,\"online\":true,\"onlineTime\":%s,\"ready\":%s,"
        "\"readyTime\":%s,\"tracks\":%s,\"tracks2\":%s,\"inboundBytes\":%llu,"
        "\"bytesReceived\":%llu,\"inboundRTPPackets\":0,\"inboundRTPPacketsLost\":0,"
        "\"inboundRTPPacketsInError\":0,\"inboundRTPPacketsJitter\":0,"
        "\"inboundFramesInError\":0,\"outboundBytes\":0,\"bytesSent\":0,"
        "\"outboundRTPPackets\":0,\"outboundFramesDiscarded\":0,\"readers\":%s}",
        i == p * per_page ? "" : ",", name, name, flag, stamp, stamp, flag, stamp,
        live ? "[\"H264\",\"Opus\"]" : "[]",
        live ? "[{\"codec\":\"H264\",\"codecProps\":{\"width\":1920,\"height\":1080,\"profile\":"
               "\"High\",\"level\":\"4.1\"}},{\"codec\":\"Opus\",\"codecProps\":{"
               "\"channelCount\":2}}]"
             : "[]",
        grown, grown, readers);
    out += buf;
  }
  return out + "]}";
}

// FNV-1a over everything a PathState holds, so two builds can be shown to read the same.
struct Digest {
  std::uint64_t h = 1469598103934665603ull;
  void bytes(std::string_view s) {
    for (const char c : s)
      h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
  }
  void number(std::uint64_t v) { bytes(std::to_string(v)); }
  void path(const PathState& p) {
    bytes(p.name);
    bytes(p.conf_name);
    number(p.available);
    bytes(p.available_time.value_or("-"));
    number(p.online ? 1 + *p.online : 0);
    if (p.source) {
      bytes(p.source->type);
      bytes(p.source->id);
    }
    for (const auto& t : p.tracks) {
      bytes(t.codec);
      for (const auto& [key, value] : t.codec_props) {
        bytes(key);
        if (const auto* i = std::get_if<std::int64_t>(&value))
          number(static_cast<std::uint64_t>(*i));
        if (const auto* b = std::get_if<bool>(&value)) bytes(*b ? "true" : "false");
        if (const auto* s = std::get_if<std::string>(&value)) bytes(*s);
      }
    }
    for (const auto& r : p.readers) {
      bytes(r.type);
      bytes(r.id);
    }
    number(p.inbound_bytes);
    number(p.outbound_bytes);
    number(p.inbound_frames_in_error);
    number(p.config ? 1 : 0);
    bytes(p.unreadable);
  }
};

struct Run {
  double wall_ms = 0, cpu_ms = 0;
  std::uint64_t allocations = 0;
};

double cpu_ms() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 +
         (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

// Runs f runs times (after one unmeasured warm-up) and prints median and best.
void measure(const char* label, int runs, const std::function<void()>& f) {
  f();
  std::vector<Run> all;
  for (int i = 0; i < runs; ++i) {
    const auto allocs = allocations.load();
    const double cpu = cpu_ms();
    const auto start = Clock::now();
    f();
    all.push_back(Run{std::chrono::duration<double, std::milli>(Clock::now() - start).count(),
                      cpu_ms() - cpu, allocations.load() - allocs});
  }
  const auto by = [&](auto field) {
    std::vector<double> v;
    for (const auto& r : all)
      v.push_back(static_cast<double>(r.*field));
    std::sort(v.begin(), v.end());
    return std::pair{v[v.size() / 2], v.front()};
  };
  const auto [wall, wall_best] = by(&Run::wall_ms);
  const auto [cpu, cpu_best] = by(&Run::cpu_ms);
  const auto [allocs, allocs_best] = by(&Run::allocations);
  std::printf("  %-26s wall %7.1f ms (best %7.1f)  cpu %7.1f ms (best %7.1f)  allocations %9.0f\n",
              label, wall, wall_best, cpu, cpu_best, allocs);
  std::fflush(stdout);
}

// Serves GET /v3/paths/list?page=N from pages and an empty /v3/config/paths/list, one
// request per connection, until killed.
[[noreturn]] void serve(int listener, const std::vector<std::string>& pages) {
  signal(SIGPIPE, SIG_IGN);
  const std::string empty = R"({"itemCount":0,"pageCount":0,"items":[]})";
  for (;;) {
    const int c = accept(listener, nullptr, nullptr);
    if (c < 0) continue;
    std::string request;
    char buf[8192];
    while (request.find("\r\n\r\n") == std::string::npos) {
      const ssize_t got = read(c, buf, sizeof buf);
      if (got <= 0) break;
      request.append(buf, static_cast<std::size_t>(got));
    }
    const std::string target = request.substr(0, request.find("\r\n"));
    const std::string* body = &empty;
    std::string status = "200 OK";
    if (target.find(" /v3/paths/list?") != std::string::npos) {
      const auto at = target.find("page=");
      const std::size_t page =
          at == std::string::npos ? 0 : std::strtoul(target.c_str() + at + 5, nullptr, 10);
      if (page < pages.size())
        body = &pages[page];
      else
        status = "404 Not Found";
    }
    const std::string head =
        "HTTP/1.1 " + status +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body->size()) +
        "\r\nConnection: close\r\n\r\n";
    for (const std::string* part : {&head, body}) {
      std::size_t sent = 0;
      while (sent < part->size()) {
        const ssize_t n = write(c, part->data() + sent, part->size() - sent);
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
      }
    }
    close(c);
  }
}

} // namespace

int main(int argc, char** argv) {
  const std::size_t cameras = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 100'000;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 7;
  std::vector<std::string> pages;
  std::size_t bytes = 0;
  for (std::size_t p = 0; p * per_page < cameras; ++p) {
    pages.push_back(page_body(cameras, p));
    bytes += pages.back().size();
  }
  std::printf("%zu cameras, %zu pages of %zu, %.1f MB; median and best of %d runs\n", cameras,
              pages.size(), per_page, static_cast<double>(bytes) / 1e6, runs);

  Digest parsed;
  measure("parse every page", runs, [&] {
    Digest d;
    for (std::size_t p = 0; p < pages.size(); ++p) {
      auto page = mediamtx::parse_paths_page(pages[p], p);
      if (!page) {
        std::fprintf(stderr, "page %zu: %s\n", p, page.error().message.c_str());
        std::exit(1);
      }
      for (const auto& path : page->items)
        d.path(path);
    }
    parsed = d;
  });

  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      listen(listener, 64) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    std::perror("listen");
    return 1;
  }
  const pid_t server = fork();
  if (server == 0) serve(listener, pages);
  close(listener);

  mediamtx::Options options;
  options.api_url = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port));
  options.total_timeout = std::chrono::seconds(60);
  auto source = mediamtx::make_path_source(options);
  if (!source) {
    std::fprintf(stderr, "%s\n", source.error().message.c_str());
    return 1;
  }
  Digest listed;
  measure("list_paths over loopback", runs, [&] {
    auto paths = (*source)->list_paths();
    if (!paths) {
      std::fprintf(stderr, "list_paths: %s\n", paths.error().message.c_str());
      std::exit(1);
    }
    Digest d;
    for (const auto& path : *paths)
      d.path(path);
    listed = d;
  });
  kill(server, SIGTERM);
  waitpid(server, nullptr, 0);
  std::printf("  digest: parsed %016llx, listed %016llx\n",
              static_cast<unsigned long long>(parsed.h), static_cast<unsigned long long>(listed.h));
}

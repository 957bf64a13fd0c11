// api-server: serves the registry (HTTP API, health, dashboard) from PostgreSQL.
#include <atomic>
#include <filesystem>

#include "camreg/http/server.hpp"
#include "camreg/postgres/postgres.hpp"
#include "options.hpp"
#include "signals.hpp"

using namespace camreg;
using namespace camreg::app;

namespace {

// The dashboard: the option, else the installed copy, else the source tree's.
std::string default_web_root() {
  for (const char* candidate : {CAMREG_INSTALLED_WEB_ROOT, CAMREG_SOURCE_WEB_ROOT}) {
    if (std::filesystem::is_directory(candidate)) return candidate;
  }
  return {};
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "api-server: serves the camreg registry over HTTP, with health endpoints and the dashboard"};
  app.footer(
      "Exit codes: 0 stopped by SIGTERM/SIGINT, 2 bad usage (or cannot listen), 5 database "
      "failure during --migrate. Durations: 500ms, 2s, 5m, 1h or seconds.");
  CommonOptions common;
  http::Options server;
  server.web_root = default_web_root();
  std::string read_timeout = "10s", drain_timeout = "5s";
  add_common_options(app, common);
  app.add_option("--listen", server.listen, "address:port to listen on")
      ->envname("CAMREG_LISTEN")
      ->capture_default_str();
  app.add_option("--web-root", server.web_root, "directory of the dashboard (empty: none)")
      ->envname("CAMREG_WEB_ROOT")
      ->capture_default_str();
  app.add_option("--cors-origin", server.cors_origins, "an allowed Origin (repeat; * for any)")
      ->envname("CAMREG_CORS_ORIGINS")
      ->delimiter(',')
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--threads", server.threads, "I/O threads")
      ->envname("CAMREG_THREADS")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--max-connections", server.max_connections, "concurrent connections")
      ->envname("CAMREG_MAX_CONNECTIONS")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  add_duration_option(app, "--read-timeout", read_timeout, "time a client has to send a request",
                      "CAMREG_READ_TIMEOUT");
  add_duration_option(app, "--drain-timeout", drain_timeout,
                      "time in-flight requests get on SIGTERM", "CAMREG_DRAIN_TIMEOUT");
  if (const int code = parse_or_exit(app, argc, argv, common); code >= 0) return code;
  server.read_timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(duration_of(read_timeout));
  server.drain_timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(duration_of(drain_timeout));
  if (server.read_timeout.count() <= 0) {
    std::fprintf(stderr, "api-server: --read-timeout: must be longer than 0s\n");
    return exit_usage;
  }

  const Logger log(common.level, common.format);
  postgres::Options db;
  db.database_url = common.database_url;
  if (const auto code = migrate_if_asked(common, log)) return *code;

  const auto sink = [&log](http::LogLevel level, std::string_view event, std::string_view message) {
    const auto mapped = level == http::LogLevel::error  ? LogLevel::error
                        : level == http::LogLevel::warn ? LogLevel::warn
                                                        : LogLevel::info;
    log.log(mapped, event, message);
  };
  // The signal thread must exist before the server's threads so they inherit the mask.
  std::atomic<http::Server*> target{nullptr};
  handle_stop_signals(
      [&] {
        log.log(LogLevel::info, "stop", "draining connections");
        if (auto* s = target.load()) s->stop();
      },
      [&] { log.log(LogLevel::warn, "stop", "drain timed out; exiting"); },
      server.drain_timeout + std::chrono::seconds(2));
  auto started = http::Server::start(server, postgres::make_device_repository(db),
                                     postgres::make_change_feed(db), sink);
  if (!started) {
    std::fprintf(stderr, "api-server: %s\n", started.error().message.c_str());
    return exit_usage;
  }
  target = started->get();
  log.log(LogLevel::info, "start", "listening",
          {{"port", static_cast<long long>((*started)->port())},
           {"web_root", server.web_root},
           {"database", postgres::redact_database_url(common.database_url)}});
  (*started)->run();
  log.log(LogLevel::info, "stop", "exiting", {{"exit_code", 0LL}});
  return exit_ok;
}

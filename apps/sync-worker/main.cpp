// sync-worker: keeps the devices table true to MediaMTX's path list.
#include <malloc.h>

#include <cstdlib>

#include "camreg/http/metrics_listener.hpp"
#include "camreg/mediamtx/mediamtx.hpp"
#include "camreg/postgres/postgres.hpp"
#include "common/huge_pages.hpp"
#include "common/signals.hpp"
#include "sync-worker/options.hpp"
#include "sync-worker/worker.hpp"

using namespace camreg;
using namespace camreg::app;

int main(int argc, char** argv) {
  exec_with_huge_pages(argv);
  // One malloc arena for every thread: a round's listing is parsed on a thread of its own
  // while the main thread reads the store, and in a second arena of its own (glibc's
  // default) it stayed resident beside the first: +63 MB at 100,000 cameras.
  // An operator's MALLOC_ARENA_MAX wins.
#ifdef M_ARENA_MAX
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 1);
#endif
  CLI::App app{"sync-worker: polls MediaMTX's path list and keeps the camreg devices table true"};
  app.footer(
      "Exit codes: 0 ok (or a --once round skipped because another worker held the lock), "
      "2 bad usage (or cannot listen on --metrics-listen), 3 MediaMTX unreachable or invalid "
      "reply, 4 MediaMTX authentication "
      "failed, 5 database failure. Durations: 500ms, 2s, 5m, 1h or seconds.");
  sync_worker::Options options;
  sync_worker::add_options(app, options);
  if (const int code = parse_or_exit(app, argc, argv, options.common); code >= 0) return code;
  if (const auto valid = sync_worker::validate(options); !valid) {
    return usage_error("sync-worker", valid.error());
  }
  const auto config = sync_worker::worker_config(options);
  auto source = mediamtx::make_path_source(sync_worker::mediamtx_options(options));
  if (!source) return usage_error("sync-worker", source.error());

  const auto& common = options.common;
  const Logger log(common.level, common.format);
  const auto db = database_options(common);
  if (const auto code = migrate_if_asked(common, log)) return *code;

  StopSignal stop;
  // --once ignores requests for a round: no listening connection at all.
  const auto triggers = options.once ? nullptr : postgres::make_trigger_feed(db);
  handle_stop_signals(
      [&] {
        stop.request();
        if (triggers) triggers->wake();
      },
      [&] { log.log(LogLevel::warn, "stop", "abandoning the round in progress"); },
      std::chrono::milliseconds(1500));
  log.log(LogLevel::info, "start", options.once ? "one round" : "syncing every " + options.interval,
          {{"mediamtx", (*source)->describe()},
           {"database", postgres::redact_database_url(common.database_url)},
           {"stale_after", options.stale_after},
           {"malloc_huge_pages", huge_pages_status()}});
  // The worker's own /metrics, on a thread of its own (after the signal thread, so that it
  // inherits the mask); a --once run has nothing to serve.
  http::SyncMetrics metrics(options.site);
  std::unique_ptr<http::MetricsListener> listener;
  if (!options.metrics_listen.empty() && options.once) {
    log.log(LogLevel::warn, "metrics", "--metrics-listen is ignored with --once");
  } else if (!options.metrics_listen.empty()) {
    http::MetricsListenerOptions metrics_options;
    metrics_options.listen = options.metrics_listen;
    const auto sink = [&log](http::LogLevel level, std::string_view event, std::string_view text) {
      log.log(level == http::LogLevel::error  ? LogLevel::error
              : level == http::LogLevel::warn ? LogLevel::warn
                                              : LogLevel::info,
              event, text);
    };
    auto started = http::MetricsListener::start(
        metrics_options, [&metrics] { return metrics.render(); }, sink);
    if (!started) return usage_error("sync-worker", started.error());
    listener = std::move(*started);
    log.log(LogLevel::info, "metrics", "listening on /metrics",
            {{"port", static_cast<long long>(listener->port())}});
  }
  auto repository = postgres::make_device_repository(db);
  const SystemClock clock;
  RoundObserver observe;
  if (listener) {
    observe = [&metrics](const RoundReport& report, std::chrono::steady_clock::duration took) {
      metrics.observe(report, took);
    };
  }
  const int code =
      run_worker(**source, *repository, clock, config, stop, log, triggers.get(), observe);
  log.log(LogLevel::info, "stop", "exiting", {{"exit_code", static_cast<long long>(code)}});
  return code;
}

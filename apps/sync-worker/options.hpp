#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "camreg/mediamtx/mediamtx.hpp"
#include "camreg/result.hpp"
#include "common/options.hpp"
#include "sync-worker/worker.hpp"

namespace camreg::app::sync_worker {

// Every option of sync-worker as given; durations and URLs stay text until validate()
// has accepted them.
struct Options {
  Options() { common.application_name = "camreg-sync-worker"; }
  CommonOptions common;       // a round's statements: 30 s, its lock waits: 10 s
  mediamtx::Options mediamtx; // the URL and credentials; timeouts come from the texts below
  std::string webrtc_url = "http://localhost:8889";
  std::string site = "default"; // the MediaMTX server this worker syncs
  std::string interval = "60s";
  std::string stale_after = "5m";
  std::string online_after = "0s"; // device.online once healthy this long
  std::string connect_timeout = "2s";
  std::string timeout = "10s";
  std::string ledger_retention = "400d";   // presence intervals that ended longer ago go
  std::string runs_retention = "30d";      // sync runs that finished longer ago go
  std::string min_trigger_interval = "1s"; // triggered rounds start at most this often
  bool once = false;
  std::string metrics_listen; // host:port of the worker's own /metrics; empty: none
};

// Adds every option, each also read from its CAMREG_* variable (the command line wins; a
// repeated option takes its last value).
void add_options(CLI::App& app, Options& options);

// The rules between and within options: durations and URLs parse, the interval and the
// timeouts are positive, the site is a site name, the stale window is no shorter than the interval,
// the metrics address is host:port with an IP address. Fails with invalid_argument, the message
// starting with the option it names.
Result<void> validate(const Options& options);

// What the worker and the MediaMTX client run with, from options validate() accepted
// (throws BadResultAccess for others).
WorkerConfig worker_config(const Options& options);
mediamtx::Options mediamtx_options(const Options& options);

} // namespace camreg::app::sync_worker

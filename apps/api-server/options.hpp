#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "camreg/http/server.hpp"
#include "camreg/postgres/postgres.hpp"
#include "camreg/result.hpp"
#include "common/options.hpp"

namespace camreg::app::api_server {

// The dashboard when --web-root is not given: the installed copy, else the source
// tree's, else none ("").
std::string default_web_root();

// Every option of api-server as given; durations stay text until validate() has
// accepted them.
struct Options {
  Options() {
    server.web_root = default_web_root();
    // Reads answer clients that wait: give up on the database sooner than a round does.
    common.db_statement_timeout = "5s";
    common.db_lock_timeout = "2s";
    common.application_name = "camreg-api-server";
  }
  CommonOptions common;
  http::Options server; // timeouts come from the texts below
  std::string read_timeout = "10s";
  std::string drain_timeout = "5s";
  std::string refresh_interval = "30s";
  std::string stale_after = "3m";
  std::string ready_max_sync_age = "0"; // off
  // Where api-server's writes go (webhook deliveries, triggers) when --database-url is a
  // hot standby; empty: none, writes go to --database-url.
  std::string primary_database_url;
  // Webhook delivery (the admin token is server.admin_token).
  bool no_deliver = false;
  std::string webhook_schedule = "0,5s,5m,30m,2h,5h,10h,10h"; // Standard Webhooks'
  std::string webhook_lease = "60s";
  std::string webhook_timeout = "15s";
  std::string webhook_poll = "5s";
  std::string webhook_ca_file;
  std::string sse_heartbeat = "15s";
};

// The webhook retry schedule: comma-separated durations, the delay before each attempt.
Result<std::vector<Duration>> parse_schedule(std::string_view text);

// The dashboard's WebRTC origin when --webrtc-origin is not given: the origin of
// CAMREG_WEBRTC_URL (the variable sync-worker builds whep_url from), else
// http://localhost:8889, sync-worker's default.
std::string default_webrtc_origin();

// scheme://host[:port] of an http or https URL; empty when url is not one.
std::string origin_of(std::string_view url);

// Adds every option, each also read from its CAMREG_* variable (the command line wins; a
// repeated option takes its last value, except --cors-origin, which adds up).
void add_options(CLI::App& app, Options& options);

// The rules within options: durations parse, the read timeout and refresh interval are
// positive, thread and connection counts are in range, WebRTC origins are origins. Fails with
// invalid_argument, the message starting with the option it names. The listen address and web root
// are checked by the server.
Result<void> validate(const Options& options);

// What the server runs with, from options validate() accepted (throws BadResultAccess
// for others).
http::Options server_options(const Options& options);

// The database options of the primary (those of --database-url, its URL replaced), or
// nullopt when --primary-database-url is not given. From options validate() accepted.
std::optional<postgres::Options> primary_database_options(const Options& options);

} // namespace camreg::app::api_server

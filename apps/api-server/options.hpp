#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "camreg/http/server.hpp"
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
};

// Adds every option, each also read from its CAMREG_* variable (the command line wins; a
// repeated option takes its last value, except --cors-origin, which adds up).
void add_options(CLI::App& app, Options& options);

// The rules within options: durations parse, the read timeout is positive, thread and
// connection counts are in range. Fails with invalid_argument, the message starting with
// the option it names. The listen address and web root are checked by the server.
Result<void> validate(const Options& options);

// What the server runs with, from options validate() accepted (throws BadResultAccess
// for others).
http::Options server_options(const Options& options);

} // namespace camreg::app::api_server

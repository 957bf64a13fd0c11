#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "camreg/result.hpp"
#include "camreg/time.hpp"
#include "common/log.hpp"

namespace camreg::postgres {
struct Options;
}

namespace camreg::app {

// Exit codes shared by both executables.
inline constexpr int exit_ok = 0;
inline constexpr int exit_usage = 2;         // a bad option or value
inline constexpr int exit_mediamtx = 3;      // MediaMTX unreachable, timed out or answered garbage
inline constexpr int exit_mediamtx_auth = 4; // MediaMTX refused the credentials
inline constexpr int exit_database = 5;      // the database failed (connect, migrate, write)

// Options both executables take.
struct CommonOptions {
  std::string database_url = "postgresql://camreg@127.0.0.1:5432/camreg";
  bool migrate = false;
  bool migrate_only = false;
  // Database timeouts (see postgres::Options); each executable sets its own defaults
  // before add_common_options. "0s" turns one off.
  std::string db_statement_timeout = "30s";
  std::string db_lock_timeout = "10s";
  std::string db_idle_in_transaction_timeout = "60s";
  std::string application_name = "camreg"; // in pg_stat_activity, unless the URL sets it
  std::string log_level = "info";
  std::string log_format = "text";
  LogLevel level = LogLevel::info;    // log_level parsed by parse_or_exit
  LogFormat format = LogFormat::text; // log_format parsed by parse_or_exit
};

// Adds the common options; call first, as it also sets defaults for later options (a
// repeated option takes its last value).
void add_common_options(CLI::App& app, CommonOptions& options);

// Fails with invalid_argument naming the option: an unknown --log-level or --log-format,
// a database timeout that is no duration.
Result<void> validate(const CommonOptions& options);

// Adds a duration option ("500ms", "2s", "5m", "1h", seconds) read also from env.
CLI::Option* add_duration_option(CLI::App& app, const std::string& name, std::string& value,
                                 const std::string& description, const std::string& env);
// Parses the text of the duration option name; the error names the option.
Result<Duration> duration_option(std::string_view name, std::string_view text);
// Parses a duration the validator already accepted.
Duration duration_of(const std::string& text);

// The database options of accepted common options.
postgres::Options database_options(const CommonOptions& options);

// Applies pending migrations when --migrate or --migrate-only was given. Returns the
// exit code to stop with (a failure, or --migrate-only done), or nothing to go on.
std::optional<int> migrate_if_asked(const CommonOptions& common, const Logger& log);

// Parses argv; on --help prints and returns exit_ok, on a bad option prints the message
// (naming the option) and returns exit_usage; returns -1 to go on.
int parse_or_exit(CLI::App& app, int argc, char** argv, CommonOptions& common);

// Prints "program: message" on stderr and returns exit_usage.
int usage_error(std::string_view program, const Error& error);

} // namespace camreg::app

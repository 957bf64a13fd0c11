#include "common/options.hpp"

#include <cstdio>

#include "camreg/duration.hpp"
#include "camreg/postgres/postgres.hpp"

namespace camreg::app {

void add_common_options(CLI::App& app, CommonOptions& options) {
  // A repeated option takes its last value, so a script can override a unit file's.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--database-url", options.database_url, "PostgreSQL libpq URI or key=value string")
      ->envname("CAMREG_DATABASE_URL")
      ->capture_default_str();
  app.add_flag("--migrate", options.migrate, "apply pending migrations, then run as usual");
  app.add_flag("--migrate-only", options.migrate_only, "apply pending migrations and exit");
  add_duration_option(app, "--db-statement-timeout", options.db_statement_timeout,
                      "longest database statement (a round, a read); a server that stops "
                      "answering is cut off 2s later",
                      "CAMREG_DB_STATEMENT_TIMEOUT");
  add_duration_option(app, "--db-lock-timeout", options.db_lock_timeout,
                      "longest wait for a database lock", "CAMREG_DB_LOCK_TIMEOUT");
  add_duration_option(app, "--db-idle-in-transaction-timeout",
                      options.db_idle_in_transaction_timeout,
                      "the server ends a session idle this long inside a transaction",
                      "CAMREG_DB_IDLE_IN_TRANSACTION_TIMEOUT");
  app.add_option("--log-level", options.log_level, "debug, info, warn or error")
      ->envname("CAMREG_LOG_LEVEL")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->capture_default_str();
  app.add_option("--log-format", options.log_format, "text (one line per event) or json")
      ->envname("CAMREG_LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
}

Result<void> validate(const CommonOptions& options) {
  for (const auto& [name, text] :
       {std::pair<std::string_view, const std::string&>{"--db-statement-timeout",
                                                        options.db_statement_timeout},
        {"--db-lock-timeout", options.db_lock_timeout},
        {"--db-idle-in-transaction-timeout", options.db_idle_in_transaction_timeout}}) {
    if (const auto d = duration_option(name, text); !d) return d.error();
  }
  LogLevel level{};
  if (!parse_log_level(options.log_level, level)) {
    return fail(ErrorKind::invalid_argument,
                "--log-level: " + options.log_level + " is not one of debug, info, warn, error");
  }
  LogFormat format{};
  if (!parse_log_format(options.log_format, format)) {
    return fail(ErrorKind::invalid_argument,
                "--log-format: " + options.log_format + " is not one of text, json");
  }
  return {};
}

CLI::Option* add_duration_option(CLI::App& app, const std::string& name, std::string& value,
                                 const std::string& description, const std::string& env) {
  const CLI::Validator valid_duration(
      [](std::string& text) -> std::string {
        const auto d = parse_duration(text);
        return d ? std::string() : d.error().message;
      },
      "DURATION");
  return app.add_option(name, value, description)
      ->envname(env)
      ->check(valid_duration)
      ->capture_default_str();
}

Result<Duration> duration_option(std::string_view name, std::string_view text) {
  auto d = parse_duration(text);
  if (!d) return fail(ErrorKind::invalid_argument, std::string(name) + ": " + d.error().message);
  return d;
}

Duration duration_of(const std::string& text) {
  return parse_duration(text).value();
}

postgres::Options database_options(const CommonOptions& options) {
  const auto ms = [](const std::string& text) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(duration_of(text));
  };
  postgres::Options db;
  db.database_url = options.database_url;
  db.statement_timeout = ms(options.db_statement_timeout);
  db.lock_timeout = ms(options.db_lock_timeout);
  db.idle_in_transaction_timeout = ms(options.db_idle_in_transaction_timeout);
  db.application_name = options.application_name;
  return db;
}

std::optional<int> migrate_if_asked(const CommonOptions& common, const Logger& log) {
  if (!common.migrate && !common.migrate_only) return std::nullopt;
  const auto migrated = postgres::migrate(database_options(common));
  if (!migrated) {
    log.log(LogLevel::error, "migrate", migrated.error().message);
    return exit_database;
  }
  log.log(LogLevel::info, "migrate", "schema at version " + std::to_string(migrated->version),
          {{"applied", static_cast<long long>(migrated->applied.size())}});
  if (common.migrate_only) return exit_ok;
  return std::nullopt;
}

int parse_or_exit(CLI::App& app, int argc, char** argv, CommonOptions& common) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? exit_ok : exit_usage;
  }
  parse_log_level(common.log_level, common.level);
  parse_log_format(common.log_format, common.format);
  return -1;
}

int usage_error(std::string_view program, const Error& error) {
  std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(program.size()), program.data(),
               error.message.c_str());
  return exit_usage;
}

} // namespace camreg::app

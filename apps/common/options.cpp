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

std::optional<int> migrate_if_asked(const CommonOptions& common, const Logger& log) {
  if (!common.migrate && !common.migrate_only) return std::nullopt;
  postgres::Options db;
  db.database_url = common.database_url;
  const auto migrated = postgres::migrate(db);
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

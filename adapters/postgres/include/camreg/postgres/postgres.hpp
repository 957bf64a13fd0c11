#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "camreg/change_feed.hpp"
#include "camreg/device_repository.hpp"
#include "camreg/result.hpp"

namespace camreg::postgres {

struct Options {
  // A libpq URI (postgresql://user:pass@host:port/db?…) or key=value string.
  std::string database_url = "postgresql://camreg@127.0.0.1:5432/camreg";
  // Applied unless the URL sets connect_timeout itself.
  std::chrono::seconds connect_timeout{5};
};

// The URL with its password removed, for logs and error messages: the userinfo
// password of a URI, a password=… pair of a key=value string.
std::string redact_database_url(std::string_view url);

// The migrations under migrations/, embedded at build time, ascending by version.
struct Migration {
  int version;
  std::string_view name; // file name, e.g. "0001_create_devices.sql"
  std::string_view sql;
};
const std::vector<Migration>& migrations();

struct MigrationReport {
  std::vector<std::string> applied; // file names applied by this call, in order
  int version = 0;                  // the schema version afterwards
};

// Applies every pending migration, each in its own transaction, recording it in
// schema_migrations. Processes migrating the same schema at once are serialised by
// an advisory lock; the later one finds nothing left to do.
Result<MigrationReport> migrate(const Options& options);

// The channel every committed change to devices or sync_runs notifies (triggers of
// migration 0002), with payload "<schema> <table>".
inline constexpr std::string_view change_channel = "camreg_changes";

// A ChangeFeed on that channel, for the schema the URL's search_path selects, over a
// libpq connection of its own (opened on first wait, re-opened after a loss).
std::unique_ptr<ChangeFeed> make_change_feed(Options options);

// A DeviceRepository on PostgreSQL. Connects on first use; a lost connection fails
// the call that finds it (ErrorKind::unavailable) and is re-opened by the next one.
// One connection per repository: not thread-safe.
std::unique_ptr<DeviceRepository> make_device_repository(Options options);

} // namespace camreg::postgres

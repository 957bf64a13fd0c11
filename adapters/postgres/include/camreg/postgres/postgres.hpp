#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "camreg/change_feed.hpp"
#include "camreg/device_repository.hpp"
#include "camreg/event_store.hpp"
#include "camreg/result.hpp"
#include "camreg/sync_trigger.hpp"
#include "camreg/webhooks.hpp"

namespace camreg::postgres {

struct Options {
  // A libpq URI (postgresql://user:pass@host:port/db?…) or key=value string.
  std::string database_url = "postgresql://camreg@127.0.0.1:5432/camreg";
  // Applied unless the URL sets connect_timeout itself.
  std::chrono::seconds connect_timeout{5};
  // Set on every connection after it opens (SET, so a URL's own options= stays). The
  // server cancels a statement running longer than statement_timeout or waiting longer
  // than lock_timeout for a lock (ErrorKind::database), and ends a session left idle in
  // a transaction for longer than idle_in_transaction_timeout. 0 turns one off.
  std::chrono::milliseconds statement_timeout{30000};
  std::chrono::milliseconds lock_timeout{10000};
  std::chrono::milliseconds idle_in_transaction_timeout{60000};
  // A server that stops answering (a stopped backend, a host gone silent) cannot time
  // itself out: a repository call with no answer for statement_timeout plus this grace
  // has its connection cut on the client side and fails with ErrorKind::unavailable.
  std::chrono::milliseconds client_grace{2000};
  // Shown in pg_stat_activity, unless the URL sets application_name itself.
  std::string application_name = "camreg";
};

// The URL with its password removed, for logs and error messages: the userinfo
// password of a URI, a password=… pair of a key=value string.
std::string redact_database_url(std::string_view url);

// Whether libpq can parse url (a URI or key=value string); the error says why not,
// with nothing of the URL itself (a password could be in it). Connects to nothing.
Result<void> check_database_url(std::string_view url);

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
// camreg_schema_migrations (a schema_migrations table of ours from before the rename
// is renamed; anyone else's is left alone). Processes migrating the same schema at
// once are serialised by an advisory lock; the later one finds nothing left to do.
// Migrations run under lock_timeout but not statement_timeout nor the client bound.
Result<MigrationReport> migrate(const Options& options);

// The channel every committed change to devices or sync_runs notifies (triggers of
// migration 0002), with payload "<schema> <table>".
inline constexpr std::string_view change_channel = "camreg_changes";

// A ChangeFeed on that channel, for the schema the URL's search_path selects, over a
// libpq connection of its own (opened on first wait, re-opened after a loss).
std::unique_ptr<ChangeFeed> make_change_feed(Options options);

// The channel a SyncTrigger notifies and a TriggerFeed listens on, with payload
// "<schema> <path>": every api-server replica can ask, every worker of the schema hears.
inline constexpr std::string_view trigger_channel = "camreg_trigger";

// A SyncTrigger that sends pg_notify on that channel over a connection of its own
// (opened on first use, re-opened after a loss), under the options' statement timeout
// and client grace.
std::unique_ptr<SyncTrigger> make_sync_trigger(Options options);

// A TriggerFeed on that channel for the schema the URL's search_path selects, over a
// libpq connection of its own, probed and re-opened as the change feed is.
std::unique_ptr<TriggerFeed> make_trigger_feed(Options options);

// A DeviceRepository on PostgreSQL. Connects on first use; a lost connection fails
// the call that finds it (ErrorKind::unavailable) and is re-opened by the next one.
// One connection per repository: not thread-safe.
std::unique_ptr<DeviceRepository> make_device_repository(Options options);

// A WebhookStore on PostgreSQL (webhook_endpoints, webhook_deliveries of migration 0005),
// over a connection of its own, like the device repository. Not thread-safe.
std::unique_ptr<WebhookStore> make_webhook_store(Options options);

// An EventStore on the events table, over a connection of its own, under the options'
// statement timeout and client bound. Not thread-safe.
std::unique_ptr<EventStore> make_event_store(Options options);

} // namespace camreg::postgres

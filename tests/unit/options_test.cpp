// The executables' options in-process, through argv and the environment (as CLI11's own
// tests do): defaults, precedence and every rule of validate().
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api-server/options.hpp"
#include "sync-worker/options.hpp"

using namespace camreg;
using namespace camreg::app;
using namespace std::chrono_literals;

namespace {

// Unsets every CAMREG_* variable for the test's lifetime and restores them after, so
// neither the caller's environment nor another test leaks in.
class CleanEnvironment {
 public:
  CleanEnvironment() {
    for (char** e = environ; *e; ++e) {
      const std::string entry = *e;
      if (entry.rfind("CAMREG_", 0) != 0) continue;
      const auto eq = entry.find('=');
      saved_.emplace_back(entry.substr(0, eq), entry.substr(eq + 1));
    }
    for (const auto& [name, value] : saved_)
      ::unsetenv(name.c_str());
  }
  ~CleanEnvironment() {
    for (const char* name : set_)
      ::unsetenv(name);
    for (const auto& [name, value] : saved_)
      ::setenv(name.c_str(), value.c_str(), 1);
  }
  CleanEnvironment(const CleanEnvironment&) = delete;
  CleanEnvironment& operator=(const CleanEnvironment&) = delete;

  void set(const char* name, const std::string& value) {
    ::setenv(name, value.c_str(), 1);
    set_.push_back(name);
  }

 private:
  std::vector<std::pair<std::string, std::string>> saved_;
  std::vector<const char*> set_;
};

void parse(CLI::App& app, std::vector<std::string> args) {
  args.insert(args.begin(), "program");
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  app.parse(static_cast<int>(argv.size()), argv.data());
}

sync_worker::Options worker_options(std::vector<std::string> args) {
  CLI::App app;
  sync_worker::Options options;
  sync_worker::add_options(app, options);
  parse(app, std::move(args));
  return options;
}

api_server::Options server_options(std::vector<std::string> args) {
  CLI::App app;
  api_server::Options options;
  api_server::add_options(app, options);
  parse(app, std::move(args));
  return options;
}

// The message validate() fails with, or nothing when it accepts.
template <class Options>
std::optional<std::string> refusal(const Options& options) {
  const auto valid = validate(options);
  if (valid) return std::nullopt;
  CHECK(valid.error().kind == ErrorKind::invalid_argument);
  return valid.error().message;
}

using WorkerField = std::function<std::string(const sync_worker::Options&)>;

} // namespace

TEST_CASE("sync-worker options default to the documented values", "[options][sync-worker]") {
  CleanEnvironment env;
  const auto options = worker_options({});
  REQUIRE_FALSE(refusal(options));
  CHECK(options.common.database_url == "postgresql://camreg@127.0.0.1:5432/camreg");
  CHECK(options.mediamtx.api_url == "http://127.0.0.1:9997");
  CHECK(options.mediamtx.user.empty());
  CHECK(options.mediamtx.password.empty());
  CHECK(options.mediamtx.token.empty());
  CHECK_FALSE(options.once);
  CHECK(options.metrics_listen.empty());
  CHECK_FALSE(options.common.migrate);
  CHECK_FALSE(options.common.migrate_only);
  CHECK(options.common.level == LogLevel::info);
  CHECK(options.common.format == LogFormat::text);
  const auto config = sync_worker::worker_config(options);
  CHECK(config.interval == 60s);
  CHECK(config.min_trigger_interval == 1s);
  CHECK(config.sync.stale_after == 5min);
  CHECK(config.sync.online_after == 0s);
  CHECK(config.sync.site == "default");
  CHECK(config.sync.webrtc_base.redacted() == "http://localhost:8889");
  CHECK_FALSE(config.once);
  const auto mtx = sync_worker::mediamtx_options(options);
  CHECK(mtx.connect_timeout == 2s);
  CHECK(mtx.total_timeout == 10s);
}

TEST_CASE("a sync-worker option comes from its variable unless the command line gives it",
          "[options][sync-worker]") {
  const auto [option, variable, field] = GENERATE(table<std::string, const char*, WorkerField>({
      {"--database-url", "CAMREG_DATABASE_URL", [](auto& o) { return o.common.database_url; }},
      {"--mediamtx-url", "CAMREG_MEDIAMTX_URL", [](auto& o) { return o.mediamtx.api_url; }},
      {"--mediamtx-user", "CAMREG_MEDIAMTX_USER", [](auto& o) { return o.mediamtx.user; }},
      {"--mediamtx-password", "CAMREG_MEDIAMTX_PASSWORD",
       [](auto& o) { return o.mediamtx.password; }},
      {"--mediamtx-token", "CAMREG_MEDIAMTX_TOKEN", [](auto& o) { return o.mediamtx.token; }},
      {"--mediamtx-ca-file", "CAMREG_MEDIAMTX_CA_FILE", [](auto& o) { return o.mediamtx.ca_file; }},
      {"--webrtc-url", "CAMREG_WEBRTC_URL", [](auto& o) { return o.webrtc_url; }},
      {"--interval", "CAMREG_INTERVAL", [](auto& o) { return o.interval; }},
      {"--stale-after", "CAMREG_STALE_AFTER", [](auto& o) { return o.stale_after; }},
      {"--online-after", "CAMREG_ONLINE_AFTER", [](auto& o) { return o.online_after; }},
      {"--connect-timeout", "CAMREG_CONNECT_TIMEOUT", [](auto& o) { return o.connect_timeout; }},
      {"--timeout", "CAMREG_TIMEOUT", [](auto& o) { return o.timeout; }},
      {"--min-trigger-interval", "CAMREG_MIN_TRIGGER_INTERVAL",
       [](auto& o) { return o.min_trigger_interval; }},
      {"--metrics-listen", "CAMREG_METRICS_LISTEN", [](auto& o) { return o.metrics_listen; }},
      {"--site", "CAMREG_SITE", [](auto& o) { return o.site; }},
  }));
  CAPTURE(option, variable);
  // Values every one of these options accepts at parse time.
  const std::string from_env = "http://env.example:1", from_line = "http://line.example:2";
  const bool is_duration = option == "--interval" || option == "--stale-after" ||
                           option == "--online-after" || option == "--connect-timeout" ||
                           option == "--timeout" || option == "--min-trigger-interval";
  const std::string env_value = is_duration ? "7m" : from_env;
  const std::string line_value = is_duration ? "9m" : from_line;
  const std::string last_value = is_duration ? "11m" : "http://last.example:3";
  CleanEnvironment env;
  env.set(variable, env_value);
  SECTION("the environment alone") {
    CHECK(field(worker_options({})) == env_value);
  }
  SECTION("the command line wins") {
    CHECK(field(worker_options({option, line_value})) == line_value);
  }
  SECTION("a repeated option takes its last value") {
    CHECK(field(worker_options({option, line_value, option, last_value})) == last_value);
  }
}

TEST_CASE("sync-worker takes its log options and flags from the command line",
          "[options][sync-worker]") {
  CleanEnvironment env;
  env.set("CAMREG_LOG_FORMAT", "json");
  SECTION("the log format comes from the environment") {
    CLI::App app;
    sync_worker::Options options;
    sync_worker::add_options(app, options);
    std::vector<std::string> args{"sync-worker"};
    std::vector<char*> argv{args[0].data()};
    REQUIRE(parse_or_exit(app, 1, argv.data(), options.common) == -1);
    CHECK(options.common.format == LogFormat::json);
  }
  SECTION("flags") {
    const auto options = worker_options({"--once", "--migrate", "--log-level", "warn"});
    CHECK(options.once);
    CHECK(options.common.migrate);
    CHECK(options.common.log_level == "warn");
    CHECK(sync_worker::worker_config(options).once);
  }
}

TEST_CASE("sync-worker refuses bad values at parse time naming the option",
          "[options][sync-worker]") {
  const auto [args, variable, value, words] =
      GENERATE(table<std::vector<std::string>, const char*, std::string, std::string>({
          {{"--interval", "-1s"}, nullptr, "", "--interval"},
          {{"--stale-after", "soon"}, nullptr, "", "--stale-after"},
          {{"--online-after", "-5s"}, nullptr, "", "--online-after"},
          {{"--timeout", "10 s"}, nullptr, "", "--timeout"},
          {{"--log-format", "xml"}, nullptr, "", "--log-format"},
          {{"--log-level", "loud"}, nullptr, "", "--log-level"},
          {{"--no-such-option"}, nullptr, "", "--no-such-option"},
          {{}, "CAMREG_INTERVAL", "fast", "--interval"},
          {{}, "CAMREG_CONNECT_TIMEOUT", "1.5s", "--connect-timeout"},
      }));
  CAPTURE(args, words);
  CleanEnvironment env;
  if (variable) env.set(variable, value);
  REQUIRE_THROWS_WITH(worker_options(args), Catch::Contains(words));
}

TEST_CASE("sync-worker syncs the site it is given, and refuses a name that is not one",
          "[options][sync-worker][sites]") {
  CleanEnvironment env;
  const auto north = worker_options({"--site", "north-2"});
  REQUIRE_FALSE(refusal(north));
  CHECK(sync_worker::worker_config(north).sync.site == "north-2");
  for (const std::string bad : {"north@1", "a b", "", "a.b"}) {
    const auto why = refusal(worker_options({"--site", bad}));
    REQUIRE(why.has_value());
    CHECK(why->rfind("--site: ", 0) == 0);
  }
}

TEST_CASE("sync-worker's stale window may not be shorter than its interval",
          "[options][sync-worker]") {
  const auto [interval, stale_after, accepted] = GENERATE(table<std::string, std::string, bool>({
      {"5m", "299s", false},
      {"5m", "300s", true},
      {"5m", "301s", true},
      {"60s", "5m", true},
      {"10m", "5m", false},
      {"1500ms", "1s", false},
  }));
  CAPTURE(interval, stale_after);
  CleanEnvironment env;
  const auto why = refusal(worker_options({"--interval", interval, "--stale-after", stale_after}));
  CHECK(why.has_value() != accepted);
  if (why) {
    CHECK(*why == "--stale-after: " + stale_after + " is shorter than --interval " + interval +
                      "; every camera would expire between two rounds");
  }
}

TEST_CASE("sync-worker's validate names the option it refuses", "[options][sync-worker]") {
  using Change = std::function<void(sync_worker::Options&)>;
  const auto [change, message] = GENERATE(table<Change, std::string>({
      {[](auto& o) { o.interval = "0s"; }, "--interval: must be longer than 0s"},
      {[](auto& o) { o.interval = "soon"; }, "--interval: invalid duration"},
      {[](auto& o) { o.stale_after = "later"; }, "--stale-after: invalid duration"},
      {[](auto& o) { o.connect_timeout = "0s"; }, "--connect-timeout: must be longer than 0s"},
      {[](auto& o) { o.connect_timeout = "500us"; }, "--connect-timeout: must be longer than 0s"},
      {[](auto& o) { o.timeout = "0s"; }, "--timeout: must be longer than 0s"},
      {[](auto& o) { o.timeout = "x"; }, "--timeout: invalid duration"},
      {[](auto& o) { o.mediamtx.api_url = "localhost:9997"; }, "--mediamtx-url: "},
      {[](auto& o) { o.mediamtx.api_url = "ftp://nope"; }, "--mediamtx-url: "},
      {[](auto& o) { o.webrtc_url = "ftp://x"; }, "--webrtc-url: "},
      {[](auto& o) { o.common.log_level = "loud"; }, "--log-level: loud"},
      {[](auto& o) { o.common.log_format = "xml"; }, "--log-format: xml"},
      {[](auto& o) { o.min_trigger_interval = "often"; }, "--min-trigger-interval: invalid"},
      {[](auto& o) { o.metrics_listen = "localhost:9464"; },
       "--metrics-listen: listen address \"localhost:9464\": host must be an IP address"},
      {[](auto& o) { o.metrics_listen = "127.0.0.1"; }, "--metrics-listen: "},
      {[](auto& o) { o.metrics_listen = "127.0.0.1:65536"; }, "--metrics-listen: "},
      {[](auto& o) { o.metrics_listen = "[::1:9464"; }, "--metrics-listen: "},
  }));
  CAPTURE(message);
  sync_worker::Options options;
  REQUIRE_FALSE(refusal(options));
  change(options);
  const auto why = refusal(options);
  REQUIRE(why);
  CHECK(why->rfind(message, 0) == 0);
}

TEST_CASE("sync-worker's metrics address is host:port with an IP address, or none",
          "[options][sync-worker]") {
  const auto [address, accepted] = GENERATE(table<std::string, bool>({
      {"", true},
      {"127.0.0.1:9464", true},
      {"0.0.0.0:0", true},
      {":9464", true},
      {"[::1]:9464", true},
      {"127.0.0.1:", false},
      {"127.0.0.1:http", false},
      {"camreg.example:9464", false},
      {"9464", false},
  }));
  CAPTURE(address);
  CleanEnvironment env;
  const auto why = refusal(worker_options({"--metrics-listen", address}));
  CHECK(why.has_value() != accepted);
  if (why) CHECK(why->rfind("--metrics-listen: ", 0) == 0);
}

TEST_CASE("sync-worker's settings carry the validated values", "[options][sync-worker]") {
  CleanEnvironment env;
  const auto options = worker_options(
      {"--interval", "1500ms", "--stale-after", "2m", "--online-after", "90s", "--connect-timeout",
       "250ms", "--timeout", "3s", "--webrtc-url", "https://u:p@webrtc.example:8443/base/",
       "--mediamtx-url", "http://mtx.example:9997", "--mediamtx-token", "t",
       "--min-trigger-interval", "250ms"});
  REQUIRE_FALSE(refusal(options));
  const auto config = sync_worker::worker_config(options);
  CHECK(config.interval == 1500ms);
  CHECK(config.min_trigger_interval == 250ms);
  CHECK(config.sync.stale_after == 2min);
  CHECK(config.sync.online_after == 90s);
  CHECK(config.sync.webrtc_base.redacted() == "https://webrtc.example:8443/base");
  const auto mtx = sync_worker::mediamtx_options(options);
  CHECK(mtx.connect_timeout == 250ms);
  CHECK(mtx.total_timeout == 3s);
  CHECK(mtx.api_url == "http://mtx.example:9997");
  CHECK(mtx.token == "t");
}

TEST_CASE("api-server options default to the documented values", "[options][api-server]") {
  CleanEnvironment env;
  const auto options = server_options({});
  REQUIRE_FALSE(refusal(options));
  CHECK(options.common.database_url == "postgresql://camreg@127.0.0.1:5432/camreg");
  CHECK(options.server.listen == "127.0.0.1:8001");
  CHECK(options.server.threads == 2);
  CHECK(options.server.max_connections == 4096);
  CHECK(options.server.cors_origins.empty());
  // The build tree always has the source tree's dashboard.
  CHECK(options.server.web_root == api_server::default_web_root());
  CHECK(std::filesystem::exists(std::filesystem::path(options.server.web_root) / "index.html"));
  const auto server = api_server::server_options(options);
  CHECK(server.read_timeout == 10s);
  CHECK(server.drain_timeout == 5s);
  CHECK(server.trigger_token.empty()); // the trigger is disabled
}

TEST_CASE("an api-server option comes from its variable unless the command line gives it",
          "[options][api-server]") {
  CleanEnvironment env;
  SECTION("--listen") {
    env.set("CAMREG_LISTEN", "127.0.0.1:9000");
    CHECK(server_options({}).server.listen == "127.0.0.1:9000");
    CHECK(server_options({"--listen", "0.0.0.0:80"}).server.listen == "0.0.0.0:80");
    CHECK(server_options({"--listen", "[::1]:1", "--listen", "[::1]:2"}).server.listen ==
          "[::1]:2");
  }
  SECTION("--web-root, which may be set empty") {
    env.set("CAMREG_WEB_ROOT", "/srv/dashboard");
    CHECK(server_options({}).server.web_root == "/srv/dashboard");
    CHECK(server_options({"--web-root", ""}).server.web_root.empty());
  }
  SECTION("--threads and --max-connections") {
    env.set("CAMREG_THREADS", "8");
    env.set("CAMREG_MAX_CONNECTIONS", "100");
    CHECK(server_options({}).server.threads == 8);
    CHECK(server_options({}).server.max_connections == 100);
    CHECK(server_options({"--threads", "3"}).server.threads == 3);
  }
  SECTION("--read-timeout and --drain-timeout") {
    env.set("CAMREG_READ_TIMEOUT", "2s");
    env.set("CAMREG_DRAIN_TIMEOUT", "1s");
    CHECK(api_server::server_options(server_options({})).read_timeout == 2s);
    CHECK(api_server::server_options(server_options({})).drain_timeout == 1s);
    CHECK(api_server::server_options(server_options({"--drain-timeout", "0s"})).drain_timeout ==
          0s);
  }
  SECTION("--trigger-token") {
    env.set("CAMREG_TRIGGER_TOKEN", "from-env");
    CHECK(server_options({}).server.trigger_token == "from-env");
    CHECK(server_options({"--trigger-token", "from-line"}).server.trigger_token == "from-line");
    CHECK(api_server::server_options(server_options({})).trigger_token == "from-env");
  }
  SECTION("the event stream's heartbeat, stream cap and queue bound") {
    const auto defaults = api_server::server_options(server_options({}));
    CHECK(defaults.sse_heartbeat == 15s);
    CHECK(defaults.sse_max_clients == 256);
    CHECK(defaults.sse_queue_bytes == 1u << 20);
    env.set("CAMREG_SSE_HEARTBEAT", "500ms");
    env.set("CAMREG_SSE_MAX_CLIENTS", "3");
    env.set("CAMREG_SSE_QUEUE_BYTES", "65536");
    const auto set = api_server::server_options(server_options({}));
    CHECK(set.sse_heartbeat == 500ms);
    CHECK(set.sse_max_clients == 3);
    CHECK(set.sse_queue_bytes == 65536);
    CHECK(api_server::server_options(server_options({"--sse-heartbeat", "2s"})).sse_heartbeat ==
          2s);
  }
  SECTION("--cors-origin adds up; the variable is a comma-separated list") {
    env.set("CAMREG_CORS_ORIGINS", "https://a.example,https://b.example");
    CHECK(server_options({}).server.cors_origins ==
          std::vector<std::string>{"https://a.example", "https://b.example"});
    CHECK(server_options({"--cors-origin", "*", "--cors-origin", "https://c.example"})
              .server.cors_origins == std::vector<std::string>{"*", "https://c.example"});
  }
}

TEST_CASE("api-server refuses bad values naming the option", "[options][api-server]") {
  CleanEnvironment env;
  SECTION("at parse time") {
    const auto [args, words] = GENERATE(table<std::vector<std::string>, std::string>({
        {{"--threads", "0"}, "--threads"},
        {{"--threads", "65"}, "--threads"},
        {{"--max-connections", "0"}, "--max-connections"},
        {{"--read-timeout", "soon"}, "--read-timeout"},
        {{"--log-format", "xml"}, "--log-format"},
    }));
    CAPTURE(args);
    REQUIRE_THROWS_WITH(server_options(args), Catch::Contains(words));
  }
  SECTION("by validate") {
    using Change = std::function<void(api_server::Options&)>;
    const auto [change, message] = GENERATE(table<Change, std::string>({
        {[](auto& o) { o.read_timeout = "0s"; }, "--read-timeout: must be longer than 0s"},
        {[](auto& o) { o.read_timeout = "999us"; }, "--read-timeout: must be longer than 0s"},
        {[](auto& o) { o.read_timeout = "soon"; }, "--read-timeout: invalid duration"},
        {[](auto& o) { o.drain_timeout = "later"; }, "--drain-timeout: invalid duration"},
        {[](auto& o) { o.server.threads = 0; }, "--threads: must be between 1 and 64"},
        {[](auto& o) { o.server.threads = 65; }, "--threads: must be between 1 and 64"},
        {[](auto& o) { o.server.max_connections = 0; }, "--max-connections: must be between 1"},
        {[](auto& o) { o.common.log_level = "loud"; }, "--log-level: loud"},
        {[](auto& o) { o.server.trigger_token = "two words"; }, "--trigger-token: must be"},
        {[](auto& o) { o.server.trigger_token = "line\n"; }, "--trigger-token: must be"},
        {[](auto& o) { o.sse_heartbeat = "0s"; }, "--sse-heartbeat: must be longer than 0s"},
        {[](auto& o) { o.server.sse_max_clients = 0; }, "--sse-max-clients: must be between 1"},
        {[](auto& o) { o.server.sse_queue_bytes = 100; }, "--sse-queue-bytes: must be between"},
    }));
    CAPTURE(message);
    api_server::Options options;
    REQUIRE_FALSE(refusal(options));
    change(options);
    const auto why = refusal(options);
    REQUIRE(why);
    CHECK(why->rfind(message, 0) == 0);
  }
  SECTION("a read timeout of one millisecond and a drain of none are accepted") {
    CHECK_FALSE(refusal(server_options({"--read-timeout", "1ms", "--drain-timeout", "0s"})));
  }
}

TEST_CASE("api-server's primary for writes comes from its option or variable and must parse",
          "[options][api-server]") {
  CleanEnvironment env;
  CHECK(server_options({}).primary_database_url.empty());
  CHECK_FALSE(api_server::primary_database_options(server_options({})));
  CHECK_FALSE(api_server::server_options(server_options({})).primary_configured);

  const std::string primary = "postgresql://camreg:secret@db-primary:5432/camreg";
  env.set("CAMREG_PRIMARY_DATABASE_URL", primary);
  const auto options = server_options({});
  CHECK(options.primary_database_url == primary);
  CHECK_FALSE(refusal(options));
  CHECK(api_server::server_options(options).primary_configured);
  const auto db = api_server::primary_database_options(options);
  REQUIRE(db);
  CHECK(db->database_url == primary);
  CHECK(db->statement_timeout == 5s); // api-server's own database settings
  CHECK(server_options({"--primary-database-url", "host=db2 dbname=camreg"}).primary_database_url ==
        "host=db2 dbname=camreg");

  for (const auto* bad : {"postgresql://camreg:secret@db/x?bogus=1", "host=db2 secret"}) {
    CAPTURE(bad);
    const auto why = refusal(server_options({"--primary-database-url", bad}));
    REQUIRE(why);
    CHECK(why->rfind("--primary-database-url: ", 0) == 0);
    CHECK(why->find("secret") == std::string::npos);
  }
}

TEST_CASE("api-server's webhook options: token, delivery switch, schedule and timings",
          "[options][api-server]") {
  CleanEnvironment env;
  SECTION("defaults: no admin token, delivering on Standard Webhooks' schedule") {
    const auto options = server_options({});
    CHECK(options.server.admin_token.empty());
    CHECK_FALSE(options.no_deliver);
    CHECK(api_server::parse_schedule(options.webhook_schedule).value() ==
          default_webhook_schedule());
    CHECK(options.webhook_lease == "60s");
    CHECK(options.webhook_timeout == "15s");
  }
  SECTION("from the environment, the command line winning") {
    env.set("CAMREG_ADMIN_TOKEN", "from-env");
    env.set("CAMREG_NO_DELIVER", "true");
    env.set("CAMREG_WEBHOOK_RETRY_SCHEDULE", "0,1s");
    CHECK(server_options({}).server.admin_token == "from-env");
    CHECK(server_options({}).no_deliver);
    CHECK(server_options({"--admin-token", "cli"}).server.admin_token == "cli");
    CHECK(api_server::parse_schedule(server_options({}).webhook_schedule).value() ==
          std::vector<Duration>{0s, 1s});
  }
  SECTION("refused by validate, naming the option") {
    using Change = std::function<void(api_server::Options&)>;
    const auto [change, message] = GENERATE(table<Change, std::string>({
        {[](auto& o) { o.webhook_schedule = "0,soon"; }, "--webhook-retry-schedule"},
        {[](auto& o) { o.webhook_schedule = ""; }, "--webhook-retry-schedule"},
        {[](auto& o) { o.webhook_timeout = "0s"; }, "--webhook-timeout"},
        {[](auto& o) { o.webhook_timeout = "2m"; }, "--webhook-timeout"}, // not under the lease
        {[](auto& o) { o.webhook_lease = "x"; }, "--webhook-lease"},
        {[](auto& o) { o.webhook_poll = "0s"; }, "--webhook-poll"},
    }));
    CAPTURE(message);
    api_server::Options options;
    change(options);
    const auto why = refusal(options);
    REQUIRE(why);
    CHECK(why->rfind(message, 0) == 0);
  }
}

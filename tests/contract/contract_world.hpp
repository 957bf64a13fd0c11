// The world the repository contract runs in: a scripted MediaMTX, each repository
// (in memory and PostgreSQL) and a hand-moved clock.
#pragma once

#include <algorithm>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <map>

#include "camreg/duration.hpp"
#include "camreg/history.hpp"
#include "camreg/postgres/postgres.hpp"
#include "camreg/sync_round.hpp"
#include "fakes.hpp"
#include "in_memory_device_repository.hpp"
#include "pg_test_database.hpp"

namespace camreg::testing::contract {

using namespace std::chrono_literals;

const TimePoint t0 = std::chrono::sys_days{std::chrono::year{2026} / 11 / 24} + 8h + 123456us;

inline SyncOptions default_options() {
  SyncOptions options;
  options.webrtc_base = parse_http_url("http://localhost:8889").value();
  options.store_clock = false; // the test's clock, so both stores see the same times
  return options;
}

// The in-memory repository of tests/support.
struct InMemory {
  InMemoryDeviceRepository store;
  DeviceRepository& repo() { return store; }
  std::optional<Device> find(const std::string& type, const std::string& key) {
    const Device* d = store.find(type, key);
    return d ? std::optional<Device>(*d) : std::nullopt;
  }
  bool rename(const std::string& type, const std::string& key, const std::string& name) {
    return store.rename(type, key, name);
  }
  std::size_t size() { return store.size(); }
  void break_next_commit() { store.fail_next_commit(); }
  // Every committed event as "type key" (key empty for site events), in id order.
  std::vector<std::string> events() {
    std::vector<std::string> out;
    for (const auto& e : store.events())
      out.push_back(std::string(to_string(e.type)) + " " + e.device_key);
    return out;
  }
  std::string last_payload() { return store.events().back().payload; }
  void repair() {}
};

// PostgreSQL: a migrated schema of its own per test.
struct Postgres {
  TestSchema schema;
  std::unique_ptr<DeviceRepository> store;
  Postgres() {
    postgres::Options options;
    options.database_url = schema.url();
    REQUIRE(postgres::migrate(options));
    store = postgres::make_device_repository(options);
  }
  DeviceRepository& repo() { return *store; }
  std::optional<Device> find(const std::string& type, const std::string& key) {
    const auto devices = store->list_devices(DeviceQuery{type, false});
    REQUIRE(devices);
    const auto it = std::find_if(devices->begin(), devices->end(),
                                 [&](const Device& d) { return d.device_key == key; });
    return it == devices->end() ? std::nullopt : std::optional<Device>(*it);
  }
  bool rename(const std::string& type, const std::string& key, const std::string& name) {
    schema.exec("UPDATE devices SET name = '" + name + "' WHERE device_type = '" + type +
                "' AND device_key = '" + key + "'");
    return find(type, key).has_value();
  }
  std::size_t size() { return std::stoul(schema.scalar("SELECT count(*) FROM devices")); }
  // The run record cannot be written: the round fails at its very end.
  void break_next_commit() { schema.exec("ALTER TABLE sync_runs RENAME TO sync_runs_away"); }
  std::vector<std::string> events() {
    const auto all = schema.scalar(
        "SELECT string_agg(type || ' ' || coalesce(device_key, ''), E'\\n' ORDER BY id)"
        " FROM events");
    std::vector<std::string> out;
    std::size_t start = 0;
    while (!all.empty() && start <= all.size()) {
      const auto end = std::min(all.find('\n', start), all.size());
      out.push_back(all.substr(start, end - start));
      start = end + 1;
    }
    return out;
  }
  std::string last_payload() {
    return schema.scalar("SELECT payload FROM events ORDER BY id DESC LIMIT 1");
  }
  void repair() { schema.exec("ALTER TABLE sync_runs_away RENAME TO sync_runs"); }
};

// One sync world: a scripted MediaMTX, a repository and a hand-moved clock.
template <class Backend>
struct World {
  Backend db;
  FakePathSource source;
  FakeClock clock{t0};
  SyncOptions options = default_options();

  RoundReport round(Result<std::vector<PathState>> answer) {
    source.push(std::move(answer));
    auto report = sync_round(source, db.repo(), clock, options);
    if (report.write_error) WARN("write error: " << report.write_error->message);
    return report;
  }
  Device camera(const std::string& key) {
    auto d = db.find("camera", key);
    REQUIRE(d.has_value());
    return *d;
  }
  // device_metadata as JSON (PostgreSQL's jsonb text differs from ours in spacing).
  boost::json::object metadata(const std::string& key) {
    return boost::json::parse(camera(key).metadata_json).as_object();
  }
  std::string state_of(const std::string& key) {
    return std::string(metadata(key).at("state").as_string());
  }
  std::vector<SyncRun> runs(std::size_t n) { return db.repo().recent_sync_runs(n).value(); }
};

inline std::vector<PathState> paths(std::initializer_list<PathState> list) {
  return list;
}

inline Error refused() {
  return fail(ErrorKind::unavailable, "connection refused");
}

} // namespace camreg::testing::contract

#include "camreg/registry_view.hpp"

#include <catch2/catch.hpp>
#include <future>
#include <thread>

#include "fake_registry.hpp"
#include "wait.hpp"

using namespace camreg;
using namespace camreg::testing;
using namespace std::chrono_literals;

namespace {

// What these tests build from a listing: the keys, in order.
struct Keys final : RegistryView::Snapshot {
  std::vector<std::string> keys;
};

// The view over fakes the test controls.
struct World {
  FakeChangeFeed* feed = nullptr;
  ScriptedReadRepository* repo = nullptr;
  std::mutex notices_mutex;
  std::condition_variable notices_cv;
  std::vector<std::pair<ViewNotice, std::string>> notices;
  std::unique_ptr<RegistryView> view;

  explicit World(ViewOptions options = {}, std::vector<Device> devices = {camera("cam1")}) {
    auto f = std::make_unique<FakeChangeFeed>();
    auto r = std::make_unique<ScriptedReadRepository>();
    feed = f.get();
    repo = r.get();
    repo->set_devices(std::move(devices));
    view = std::make_unique<RegistryView>(
        std::move(r), std::move(f),
        RegistryView::whole_listing([](const std::vector<Device>& devices) {
          auto snapshot = std::make_shared<Keys>();
          for (const auto& d : devices)
            snapshot->keys.push_back(d.device_key);
          return snapshot;
        }),
        options, [this](ViewNotice notice, std::string_view message) {
          const std::lock_guard lock(notices_mutex);
          notices.emplace_back(notice, std::string(message));
          notices_cv.notify_all();
        });
  }

  struct Answer {
    std::shared_ptr<const Keys> snapshot;
    std::string error;
    bool from_cache = false; // called back on the asking thread, before get returned
  };
  // Asks for a query and waits for the answer.
  Answer get(const DeviceQuery& query = {}) {
    std::promise<Answer> promise;
    auto answered = promise.get_future();
    const auto asker = std::this_thread::get_id();
    view->get(query, [&, asker](RegistryView::SnapshotPtr snapshot, const std::string& error) {
      promise.set_value({std::static_pointer_cast<const Keys>(snapshot), error,
                         std::this_thread::get_id() == asker});
    });
    REQUIRE(answered.wait_for(5s) == std::future_status::ready);
    return answered.get();
  }
  // Asks until the answer satisfies pred (the view refreshes on its own thread).
  template <class Pred>
  Answer get_until(Pred pred, const DeviceQuery& query = {}) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    for (;;) {
      auto answer = get(query);
      if (pred(answer) || std::chrono::steady_clock::now() > deadline) return answer;
      std::this_thread::sleep_for(5ms);
    }
  }
  bool noticed(ViewNotice notice, const std::string& words) {
    std::unique_lock lock(notices_mutex);
    return notices_cv.wait_for(lock, 5s, [&] {
      for (const auto& [n, message] : notices) {
        if (n == notice && message.find(words) != std::string::npos) return true;
      }
      return false;
    });
  }
};

std::vector<std::string> keys(const World::Answer& answer) {
  return answer.snapshot ? answer.snapshot->keys : std::vector<std::string>{"<none>"};
}

ViewOptions checking_every(Duration interval) {
  ViewOptions options;
  options.readiness_interval = interval;
  return options;
}

} // namespace

TEST_CASE("the first request of a query waits for its build, later ones get the snapshot",
          "[view]") {
  World world(checking_every(1h));
  REQUIRE(world.view->wait_first_check(5s));
  CHECK(world.view->readiness().ready);
  const auto first = world.get();
  CHECK(keys(first) == std::vector<std::string>{"cam1"});
  CHECK_FALSE(first.from_cache);
  const auto second = world.get();
  CHECK(second.from_cache);
  CHECK(second.snapshot == first.snapshot);
  CHECK(world.repo->listings() == 1);
  CHECK(world.noticed(ViewNotice::database_ready, ""));
}

TEST_CASE("a change reported by the feed rebuilds the snapshots, and nothing else does", "[view]") {
  World world(checking_every(1h));
  DeviceQuery cameras;
  cameras.device_type = "camera";
  CHECK(keys(world.get(cameras)) == std::vector<std::string>{"cam1"});
  world.repo->set_devices({camera("cam1"), camera("cam2")});
  // Without a notification the snapshot stands.
  const auto unchanged = world.get(cameras);
  CHECK(unchanged.from_cache);
  CHECK(keys(unchanged) == std::vector<std::string>{"cam1"});
  world.feed->announce();
  const auto changed = world.get_until(
      [](const World::Answer& a) { return a.snapshot && a.snapshot->keys.size() == 2; }, cameras);
  CHECK(keys(changed) == std::vector<std::string>{"cam1", "cam2"});
}

TEST_CASE("a change's devices are served before the runs and sites are read again", "[view]") {
  World world(checking_every(1h));
  CHECK(keys(world.get()) == std::vector<std::string>{"cam1"});
  CHECK(world.get().from_cache); // asked since built: rebuilt on a change
  // The first build's runs and sites are read after its devices are served: held now,
  // they would stop the view's thread before the change.
  REQUIRE(wait_until([&] { return world.view->recent_runs() != nullptr; }, 5000ms));
  world.repo->hold_runs();
  struct Release {
    ScriptedReadRepository* repo;
    ~Release() { repo->release(); } // the view's thread may be held: let it go first
  } release{world.repo};
  world.repo->set_devices({camera("cam1"), camera("cam2")});
  world.feed->announce();
  const auto changed = world.get_until(
      [](const World::Answer& a) { return a.snapshot && a.snapshot->keys.size() == 2; });
  CHECK(keys(changed) == std::vector<std::string>{"cam1", "cam2"});
}

TEST_CASE("a rebuild's builder is handed the snapshot it replaces", "[view]") {
  std::mutex mutex;
  std::vector<RegistryView::SnapshotPtr> handed;
  auto feed = std::make_unique<FakeChangeFeed>();
  auto* announcer = feed.get();
  RegistryView view(
      std::make_unique<ScriptedReadRepository>(), std::move(feed),
      [&, inner = RegistryView::whole_listing([](std::vector<Device>) {
            return std::make_shared<Keys>();
          })](const RegistryView::SnapshotPtr& previous) {
        const std::lock_guard lock(mutex);
        handed.push_back(previous);
        return inner(previous);
      },
      checking_every(1h));
  const auto get = [&] {
    std::promise<RegistryView::SnapshotPtr> got;
    view.get({}, [&](RegistryView::SnapshotPtr s, const std::string&) { got.set_value(s); });
    return got.get_future().get();
  };
  const auto first = get();
  CHECK(get() == first); // asked since built: rebuilt on a change
  announcer->announce();
  REQUIRE(wait_until([&] { return get() != first; }, 5000ms));
  const std::lock_guard lock(mutex);
  REQUIRE(handed.size() == 2);
  CHECK(handed[0] == nullptr);
  CHECK(handed[1] == first);
}

TEST_CASE("while the change feed is down the view polls once per readiness check", "[view]") {
  World world(checking_every(20ms));
  CHECK(keys(world.get()) == std::vector<std::string>{"cam1"});
  world.feed->set_down(true);
  CHECK(world.noticed(ViewNotice::feed_down, "connection lost"));
  world.repo->set_devices({camera("cam1"), camera("cam2")});
  const auto polled = world.get_until(
      [](const World::Answer& a) { return a.snapshot && a.snapshot->keys.size() == 2; });
  CHECK(keys(polled) == std::vector<std::string>{"cam1", "cam2"});
}

TEST_CASE("a failed readiness check drops every snapshot, says why, and the view recovers",
          "[view]") {
  World world(checking_every(20ms));
  world.repo->set_runs({SyncRun{}});
  const auto before = world.get();
  REQUIRE(before.snapshot);
  REQUIRE(
      world.get_until([&](const World::Answer&) { return world.view->recent_runs() != nullptr; })
          .snapshot);

  world.repo->set_not_ready("schema version 3 is behind the code's 4: run --migrate");
  CHECK(world.noticed(ViewNotice::database_not_ready, "run --migrate"));
  const auto readiness = world.view->readiness();
  CHECK_FALSE(readiness.ready);
  CHECK_THAT(readiness.reason, Catch::Contains("run --migrate"));
  const auto refused = world.get();
  CHECK(refused.snapshot == nullptr);
  CHECK_THAT(refused.error, Catch::Contains("run --migrate"));
  CHECK(world.view->recent_runs() == nullptr);

  // Back: while the first rebuild is under way, a request waits for it rather than
  // getting the snapshot from before the outage.
  world.repo->hold();
  world.repo->set_not_ready(std::nullopt);
  REQUIRE(world.repo->wait_for_held_listing(5s));
  REQUIRE(world.view->readiness().ready);
  std::promise<RegistryView::SnapshotPtr> promise;
  auto answer = promise.get_future();
  world.view->get({}, [&](RegistryView::SnapshotPtr snapshot, const std::string&) {
    promise.set_value(std::move(snapshot));
  });
  CHECK(answer.wait_for(0s) == std::future_status::timeout);
  world.repo->release();
  REQUIRE(answer.wait_for(5s) == std::future_status::ready);
  const auto recovered = answer.get();
  REQUIRE(recovered != nullptr);
  CHECK(std::static_pointer_cast<const Keys>(recovered)->keys == std::vector<std::string>{"cam1"});
  CHECK(recovered != before.snapshot); // rebuilt, not the dropped one
  CHECK(world.view->readiness().ready);
  CHECK(world.noticed(ViewNotice::database_ready, ""));
}

TEST_CASE("the cached queries are capped, the least recently asked one goes first", "[view]") {
  ViewOptions options = checking_every(1h);
  options.max_queries = 2;
  World world(options, {camera("cam1"), camera("cam2", false)});
  DeviceQuery all, active, sensors;
  active.active_only = true;
  sensors.device_type = "sensor";
  CHECK(keys(world.get(all)) == std::vector<std::string>{"cam1", "cam2"});
  CHECK(keys(world.get(active)) == std::vector<std::string>{"cam1"});
  CHECK(world.get(all).from_cache);                 // all is now the most recent
  CHECK(world.get(sensors).snapshot->keys.empty()); // evicts active
  CHECK(world.get(all).from_cache);
  CHECK(world.get(sensors).from_cache);
  const int listings = world.repo->listings();
  const auto again = world.get(active); // evicts all
  CHECK_FALSE(again.from_cache);
  CHECK(world.repo->listings() == listings + 1);
  CHECK_FALSE(world.get(all).from_cache);
}

TEST_CASE("every request waiting for a build gets the built snapshot", "[view]") {
  World world(checking_every(1h));
  REQUIRE(world.view->wait_first_check(5s));
  world.repo->hold();
  std::vector<std::promise<RegistryView::SnapshotPtr>> promises(3);
  std::vector<std::future<RegistryView::SnapshotPtr>> answers;
  for (auto& p : promises)
    answers.push_back(p.get_future());
  const auto ask = [&](std::size_t i) {
    world.view->get({}, [&, i](RegistryView::SnapshotPtr snapshot, const std::string&) {
      promises[i].set_value(std::move(snapshot));
    });
  };
  ask(0);
  REQUIRE(world.repo->wait_for_held_listing(5s)); // the build is under way
  ask(1);
  ask(2);
  for (auto& a : answers)
    CHECK(a.wait_for(0s) == std::future_status::timeout);
  world.repo->release();
  std::vector<RegistryView::SnapshotPtr> got;
  for (auto& a : answers) {
    REQUIRE(a.wait_for(5s) == std::future_status::ready);
    got.push_back(a.get());
  }
  REQUIRE(got[0] != nullptr);
  CHECK(got[1] == got[0]);
  CHECK(got[2] == got[0]);
  CHECK(keys({std::static_pointer_cast<const Keys>(got[0]), "", false}) ==
        std::vector<std::string>{"cam1"});
  CHECK(world.repo->listings() == 1);
}

TEST_CASE("snapshots are rebuilt on the timer even when the feed stays silent", "[view]") {
  ViewOptions options = checking_every(1h);
  options.refresh_interval = 50ms;
  World world(options);
  CHECK(keys(world.get()) == std::vector<std::string>{"cam1"});
  world.repo->set_devices({camera("cam1"), camera("cam2")}); // no announce: a dead feed
  const auto rebuilt = world.get_until(
      [](const World::Answer& a) { return a.snapshot && a.snapshot->keys.size() == 2; });
  CHECK(keys(rebuilt) == std::vector<std::string>{"cam1", "cam2"});
}

TEST_CASE("a snapshot older than its bound is rebuilt before it is served", "[view]") {
  ViewOptions options = checking_every(1h);
  options.max_snapshot_age = Duration(0);
  World world(options);
  CHECK(keys(world.get()) == std::vector<std::string>{"cam1"});
  world.repo->set_devices({camera("cam1"), camera("cam2")});
  const auto again = world.get();
  CHECK_FALSE(again.from_cache);
  CHECK(keys(again) == std::vector<std::string>{"cam1", "cam2"});
  CHECK(world.repo->listings() == 2);
}

TEST_CASE("beyond the cap, with every cached query awaited, a new query is refused at once",
          "[view]") {
  ViewOptions options = checking_every(1h);
  options.max_queries = 2;
  World world(options);
  REQUIRE(world.view->wait_first_check(5s));
  world.repo->hold();
  std::vector<std::promise<RegistryView::SnapshotPtr>> held(2);
  const auto ask = [&](const std::string& type, std::promise<RegistryView::SnapshotPtr>& p) {
    DeviceQuery query;
    query.device_type = type;
    world.view->get(query, [&p](RegistryView::SnapshotPtr snapshot, const std::string&) {
      p.set_value(std::move(snapshot));
    });
  };
  ask("a", held[0]);
  REQUIRE(world.repo->wait_for_held_listing(5s));
  ask("b", held[1]);
  DeviceQuery third;
  third.device_type = "c";
  std::string refused;
  bool answered = false;
  world.view->get(third, [&](RegistryView::SnapshotPtr snapshot, const std::string& error) {
    answered = snapshot == nullptr;
    refused = error;
  });
  CHECK(answered);
  CHECK_THAT(refused, Catch::Contains("too many distinct queries"));
  world.repo->release();
  for (auto& p : held)
    CHECK(p.get_future().wait_for(5s) == std::future_status::ready);
}

TEST_CASE("a failed rebuild is retried without another change", "[view]") {
  World world(checking_every(20ms));
  CHECK(keys(world.get()) == std::vector<std::string>{"cam1"});
  CHECK(world.get().from_cache); // asked again: kept across changes
  world.repo->fail_listings(true);
  world.repo->set_devices({camera("cam1"), camera("cam2")});
  const int before = world.repo->listings();
  world.feed->announce();
  REQUIRE(wait_until([&] { return world.repo->listings() > before; }, 5000ms));
  world.repo->fail_listings(false); // the database answers again; no NOTIFY follows
  const auto retried = world.get_until(
      [](const World::Answer& a) { return a.snapshot && a.snapshot->keys.size() == 2; });
  CHECK(keys(retried) == std::vector<std::string>{"cam1", "cam2"});
}

TEST_CASE("a change rebuilds only the queries asked since their last build", "[view]") {
  World world(checking_every(1h));
  DeviceQuery used, forgotten;
  forgotten.active_only = true;
  CHECK(keys(world.get(used)) == std::vector<std::string>{"cam1"});
  CHECK(keys(world.get(forgotten)) == std::vector<std::string>{"cam1"});
  CHECK(world.get(used).from_cache);
  const int before = world.repo->listings();
  world.repo->set_devices({camera("cam1"), camera("cam2")});
  world.feed->announce();
  const auto changed = world.get_until(
      [](const World::Answer& a) { return a.snapshot && a.snapshot->keys.size() == 2; }, used);
  CHECK(keys(changed) == std::vector<std::string>{"cam1", "cam2"});
  CHECK(world.repo->listings() == before + 1);
  CHECK_FALSE(world.get(forgotten).from_cache);
}

TEST_CASE("the last successful round is the newest ok run", "[view]") {
  World world(checking_every(20ms));
  const auto now = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
  SyncRun failed, ok;
  failed.ok = false;
  failed.finished_at = now;
  ok.ok = true;
  ok.finished_at = now - std::chrono::minutes(2);
  world.repo->set_runs({failed, ok});
  world.feed->announce();
  REQUIRE(wait_until([&] { return world.view->last_ok_round().has_value(); }, 5000ms));
  CHECK(*world.view->last_ok_round() == ok.finished_at);
}

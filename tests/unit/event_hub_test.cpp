// The event hub over an in-memory store, and the query of GET /api/events.
#include <catch2/catch.hpp>

#include "camreg/event_hub.hpp"
#include "in_memory_event_store.hpp"
#include "wait.hpp"

using namespace camreg;
using namespace camreg::testing;
using namespace std::chrono_literals;

namespace {

// A hub polling a store the test appends to; no change feed.
struct World {
  InMemoryEventStore* store = nullptr;
  std::unique_ptr<EventHub> hub;

  explicit World(EventHubOptions options = {}, std::size_t existing = 0) {
    auto owned = std::make_unique<InMemoryEventStore>();
    store = owned.get();
    for (std::size_t i = 0; i < existing; ++i)
      store->append(EventType::device_state, "cam" + std::to_string(i));
    options.poll_interval = 5ms;
    hub = std::make_unique<EventHub>(std::move(owned), nullptr, options);
    REQUIRE(hub->wait_started(2s));
  }
};

// What a subscriber received, taken as a session would.
struct Reader {
  std::shared_ptr<EventHub::Subscription> sub;
  std::vector<std::int64_t> ids;
  EventHub::End end = EventHub::End::none;

  Reader(EventHub& hub, EventFilter filter, std::optional<std::int64_t> after) {
    auto s = hub.subscribe(std::move(filter), after, [] {});
    REQUIRE(s);
    sub = std::move(*s);
  }
  void take() {
    auto batch = sub->take();
    for (const auto& e : batch.events)
      ids.push_back(e->id);
    end = batch.end;
  }
  // Takes until n ids came; true when they did in time.
  bool take_until(std::size_t n, std::chrono::milliseconds timeout = 3s) {
    return wait_until(
        [&] {
          take();
          return ids.size() >= n;
        },
        timeout, 1ms);
  }
};

std::vector<std::int64_t> range(std::int64_t from, std::int64_t to) {
  std::vector<std::int64_t> out;
  for (auto i = from; i <= to; ++i)
    out.push_back(i);
  return out;
}

} // namespace

TEST_CASE("a subscriber without after gets only the events committed from then on",
          "[events][hub]") {
  World world({}, 5);
  Reader reader(*world.hub, {}, std::nullopt);
  world.store->append(EventType::device_added, "new");
  world.store->append(EventType::device_offline, "new");
  REQUIRE(reader.take_until(2));
  CHECK(reader.ids == std::vector<std::int64_t>{6, 7});
}

TEST_CASE("a subscriber resuming from an old id gets its backlog then the live events, each once",
          "[events][hub]") {
  EventHubOptions options;
  options.page_size = 7; // many pages
  World world(options, 50);
  Reader reader(*world.hub, {}, 10);
  // Events keep coming while the backlog is read.
  for (int i = 0; i < 50; ++i)
    world.store->append(EventType::device_state, "cam");
  REQUIRE(reader.take_until(90));
  for (int i = 0; i < 10; ++i)
    world.store->append(EventType::device_state, "cam");
  REQUIRE(reader.take_until(100));
  CHECK(reader.ids == range(11, 110));
}

TEST_CASE("filters choose the events a subscriber gets, site events passing device_type",
          "[events][hub]") {
  World world;
  EventFilter offline;
  offline.types = {EventType::device_offline};
  EventFilter sensors;
  sensors.device_type = "sensor";
  Reader a(*world.hub, offline, std::nullopt);
  Reader b(*world.hub, sensors, std::nullopt);
  world.store->append(EventType::device_offline, "cam1");           // 1
  world.store->append(EventType::device_online, "door", "sensor");  // 2
  world.store->append(EventType::device_offline, "door", "sensor"); // 3
  world.store->append(EventType::site_unreachable, "", "");         // 4
  REQUIRE(a.take_until(2));
  REQUIRE(b.take_until(3));
  CHECK(a.ids == std::vector<std::int64_t>{1, 3});
  CHECK(b.ids == std::vector<std::int64_t>{2, 3, 4});
}

TEST_CASE("subscribers beyond the cap are refused as busy", "[events][hub]") {
  EventHubOptions options;
  options.max_subscribers = 2;
  World world(options);
  auto one = world.hub->subscribe({}, std::nullopt, [] {});
  auto two = world.hub->subscribe({}, std::nullopt, [] {});
  REQUIRE(one);
  REQUIRE(two);
  auto three = world.hub->subscribe({}, std::nullopt, [] {});
  REQUIRE_FALSE(three);
  CHECK(three.error().kind == ErrorKind::busy);
  one->reset(); // a subscriber that goes frees its place
  auto four = world.hub->subscribe({}, std::nullopt, [] {});
  CHECK(four);
  CHECK(world.hub->subscribers() == 2);
}

TEST_CASE("a subscriber with no room falls behind, catches up from the store, or is ended",
          "[events][hub]") {
  EventHubOptions options;
  options.max_queued_bytes = 4096; // a few events of 1 KiB
  options.max_lag = 300ms;
  World world(options);
  Reader reader(*world.hub, {}, std::nullopt);
  for (int i = 0; i < 40; ++i)
    world.store->append(EventType::device_state, "cam", "camera", 1000);
  SECTION("a reader that takes its queue gets every event, in order, once") {
    REQUIRE(reader.take_until(40));
    CHECK(reader.ids == range(1, 40));
    CHECK(reader.end == EventHub::End::none);
  }
  SECTION("a reader that stops taking is ended after max_lag, its queue dropped") {
    CHECK(wait_until([&] { return reader.sub->ended() == EventHub::End::overflow; }, 2s));
    reader.take();
    CHECK(reader.ids.empty());
    CHECK(reader.end == EventHub::End::overflow);
  }
}

TEST_CASE("stopping the hub ends every subscription", "[events][hub]") {
  World world;
  Reader reader(*world.hub, {}, std::nullopt);
  world.hub->stop();
  reader.take();
  CHECK(reader.end == EventHub::End::stopped);
  CHECK_FALSE(world.hub->subscribe({}, std::nullopt, [] {}));
}

TEST_CASE("the query of an event stream", "[events][query]") {
  SECTION("accepted") {
    const auto r =
        parse_event_stream_query({{"types", "device.offline,device.online,device.offline"},
                                  {"device_type", "camera"},
                                  {"site", "site-b"},
                                  {"after", "42"}},
                                 std::nullopt);
    REQUIRE(r);
    CHECK(r->filter.types ==
          std::vector<EventType>{EventType::device_offline, EventType::device_online});
    CHECK(r->filter.device_type == "camera");
    CHECK(r->filter.site == "site-b");
    CHECK(r->after == 42);
    CHECK_FALSE(parse_event_stream_query({}, std::nullopt)->after.has_value());
    CHECK(parse_event_stream_query({{"after", "1"}}, "7")->after == 7);
    CHECK(parse_event_stream_query({{"after", "1"}}, "")->after == 1); // empty: none
  }
  SECTION("refused, naming the parameter") {
    using Params = QueryParams;
    const auto [params, header, words] =
        GENERATE(table<Params, std::optional<std::string>, std::string>({
            {{{"types", "device.nope"}}, std::nullopt, "types: \"device.nope\""},
            {{{"types", ""}}, std::nullopt, "types"},
            {{{"types", "device.added,"}}, std::nullopt, "types"},
            {{{"after", "-1"}}, std::nullopt, "after"},
            {{{"after", "1e3"}}, std::nullopt, "after"},
            {{{"after", ""}}, std::nullopt, "after"},
            {{{"device_type", ""}}, std::nullopt, "device_type"},
            {{{"site", "a b"}}, std::nullopt, "site"},
            {{{"site", "a"}, {"site", "b"}}, std::nullopt, "site: given more than once"},
            {{{"active_only", "true"}}, std::nullopt, "active_only: unknown"},
            {{}, std::string("abc"), "Last-Event-ID"},
        }));
    CAPTURE(words);
    std::optional<std::string_view> last;
    if (header) last = *header;
    const auto r = parse_event_stream_query(params, last);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::invalid_argument);
    CHECK_THAT(r.error().message, Catch::StartsWith(words));
  }
}

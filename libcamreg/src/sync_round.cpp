#include "camreg/sync_round.hpp"

#include <algorithm>
#include <deque>
#include <future>
#include <unordered_map>

#include "camreg/hash.hpp"
#include "camreg/json_writer.hpp"
#include "camreg/metadata.hpp"
#include "camreg/site.hpp"
#include "camreg/time.hpp"
#include "json_time.hpp"

namespace camreg {

using detail::write_time;

std::string_view to_string(TransitionReason reason) noexcept {
  switch (reason) {
  case TransitionReason::added: return "added";
  case TransitionReason::listed: return "listed";
  case TransitionReason::removed: return "removed";
  case TransitionReason::expired: return "expired";
  }
  return "unknown";
}

namespace {

// The listing with each name once, at the position of its first occurrence and with
// the state of its last (the list changed between pages: the later state is fresher).
std::vector<const PathState*> unique_paths(const std::vector<PathState>& paths) {
  std::vector<const PathState*> out;
  out.reserve(paths.size());
  std::unordered_map<std::string_view, std::size_t> index;
  index.reserve(paths.size());
  for (const auto& path : paths) {
    const auto [it, inserted] = index.try_emplace(path.name, out.size());
    if (inserted)
      out.push_back(&path);
    else
      out[it->second] = &path;
  }
  return out;
}

// A device's row as the round found it and as it leaves it.
struct Change {
  const StoredPresence* before = nullptr; // nullptr: a new device
  DeviceWrite after;
  bool written = false;
  bool expired = false;
};

TransitionReason reason_of(const Change& change) {
  if (!change.before) return TransitionReason::added;
  if (change.expired) return TransitionReason::expired;
  if (change.after.state == DeviceState::removed && change.before->state != DeviceState::removed)
    return TransitionReason::removed;
  return TransitionReason::listed;
}

void add_transition(RoundPlan& plan, const Change& change, TimePoint now) {
  const auto* before = change.before;
  const auto& after = change.after;
  const bool was_active = before && before->is_active;
  const auto previous = before ? before->state : std::nullopt;
  if (before && previous == after.state && was_active == after.is_active) return;
  Transition t;
  t.device_key = after.device_key;
  t.previous_state = previous;
  t.state = after.state;
  t.was_active = was_active;
  t.is_active = after.is_active;
  t.at = now;
  t.reason = reason_of(change);
  plan.transitions.push_back(std::move(t));
}

// An event's Standard Webhooks body: {"type", "timestamp", "data": {...}}; data_fields
// writes the members of data.
template <class DataFields>
Event make_event(EventType type, const std::string& device_type, const std::string& device_key,
                 TimePoint at, DataFields&& data_fields) {
  Event e;
  e.type = type;
  e.device_type = device_type;
  e.device_key = device_key;
  e.at = at;
  JsonWriter json(e.payload);
  json.begin_object();
  json.key("type");
  json.string(to_string(type));
  json.key("timestamp");
  write_time(json, at);
  json.key("data");
  json.begin_object();
  data_fields(json);
  json.end_object();
  json.end_object();
  return e;
}

// The fields naming a device in an event's data.
void device_fields(JsonWriter& json, const std::string& site, const std::string& device_type,
                   std::string_view key, std::string_view name) {
  json.key("site");
  json.string(site);
  json.key("device_type");
  json.string(device_type);
  json.key("device_key");
  json.string(key);
  json.key("name");
  json.string(name);
}

std::string_view name_of(const Change& c) {
  return c.before ? c.before->name : c.after.device_key;
}

Event device_event(EventType type, const std::string& site, const std::string& device_type,
                   const Change& c, TimePoint now) {
  return make_event(type, device_type, c.after.device_key, now, [&](JsonWriter& json) {
    device_fields(json, site, device_type, c.after.device_key, name_of(c));
    json.key("state");
    json.string(to_string(c.after.state));
    json.key("previous_state");
    if (c.before && c.before->state)
      json.string(to_string(*c.before->state));
    else
      json.null();
    json.key("is_active");
    json.boolean(c.after.is_active);
    json.key("last_seen");
    write_time(json, c.after.last_seen);
    json.key("state_since");
    write_time(json, c.after.state_since);
    json.key("reason");
    json.string(to_string(reason_of(c)));
  });
}

Change from_stored(const StoredPresence& stored) {
  Change c;
  c.before = &stored;
  c.after.device_key = stored.device_key;
  c.after.state = stored.state.value_or(DeviceState::no_source);
  c.after.last_seen = stored.last_seen;
  c.after.is_active = stored.is_active;
  c.after.metadata_hash = stored.metadata_hash.value_or(0);
  c.after.state_since = stored.state_since;
  c.after.missed_listings = stored.missed_listings;
  c.after.presence = stored.presence;
  c.after.online_announced = stored.online_announced;
  c.after.counters = stored.counters;
  return c;
}

Presence presence_of(DeviceState state) {
  switch (state) {
  case DeviceState::live: return Presence::online;
  case DeviceState::standby: return Presence::standby;
  default: return Presence::offline;
  }
}

// At most this many reasons for skipped items go into the run record.
constexpr std::size_t max_skipped_reasons = 5;

} // namespace

std::string_view to_string(Presence presence) noexcept {
  switch (presence) {
  case Presence::online: return "online";
  case Presence::offline: return "offline";
  case Presence::standby: return "standby";
  case Presence::unknown: return "unknown";
  }
  return "unknown";
}

std::optional<Presence> parse_presence(std::string_view text) noexcept {
  for (const auto p : {Presence::online, Presence::offline, Presence::standby, Presence::unknown})
    if (to_string(p) == text) return p;
  return std::nullopt;
}

namespace {

// The hash of each listed path's metadata, by its place in the listing.
std::vector<std::uint64_t> metadata_hashes(const std::vector<PathState>& paths,
                                           const SyncOptions& options) {
  std::vector<std::uint64_t> hashes;
  hashes.reserve(paths.size());
  std::string metadata;
  metadata.reserve(1024);
  for (const auto& path : paths) {
    render_metadata(path, whep_url(options.webrtc_base, path.name), metadata);
    hashes.push_back(fnv1a_64(metadata));
  }
  return hashes;
}

// plan_round; with owned (the listing itself, not const), each path's tracks and readers
// are released once its metadata is rendered. hashes, when given, are metadata_hashes of
// the listing: only the metadata of a path whose hash changed is rendered.
RoundPlan plan_of(const Result<std::vector<PathState>>& fetched, std::vector<PathState>* owned,
                  const RegistryState& stored, const SyncOptions& options, TimePoint started_at,
                  const std::string& source, const std::vector<std::uint64_t>* hashes = nullptr) {
  const TimePoint now = stored.now;
  RoundPlan plan;
  // Each stored device by key, with what the listing said of it: observed (listed and
  // understood) or kept as it was (listed, not understood).
  struct Stored {
    const StoredPresence* device;
    bool listed = false;
    bool kept = false;
  };
  std::unordered_map<std::string_view, Stored> by_key;
  by_key.reserve(stored.devices.size());
  for (const auto& d : stored.devices)
    by_key.emplace(d.device_key, Stored{&d});

  std::vector<Change> changes;  // listed devices first, in listing order, then the rest
  std::vector<char> listed;     // per change: observed this round
  std::deque<std::string> keys; // device keys made for another site (the map views them)
  std::string metadata;         // each listed path's, rendered in turn
  // A listed name's device key: the name itself in the default site (no copy per path).
  const auto key_of = [&](const std::string& name) -> std::string_view {
    if (options.site == default_site) return name;
    return keys.emplace_back(device_key_for(options.site, name));
  };
  std::size_t paths_seen = 0, skipped = 0;
  std::string skipped_reasons;
  if (fetched) {
    const auto paths = unique_paths(fetched.value());
    changes.reserve(stored.devices.size() + paths.size());
    listed.reserve(stored.devices.size() + paths.size());
    metadata.reserve(1024);
    for (const PathState* path : paths) {
      // A name MediaMTX never allows could pass for another site's device: not taken.
      const bool foreign = path->name.find(site_separator) != std::string::npos;
      if (!path->unreadable.empty() || foreign) {
        // Kept as it was: listed (so not removed), not refreshed.
        if (!path->name.empty() && !foreign) {
          if (const auto found = by_key.find(key_of(path->name)); found != by_key.end())
            found->second.kept = true;
        }
        if (++skipped <= max_skipped_reasons) {
          if (!skipped_reasons.empty()) skipped_reasons += "; ";
          skipped_reasons +=
              (path->name.empty() ? std::string("(unnamed)") : path->name) + ": " +
              (foreign ? std::string("'@' is not allowed in a path name") : path->unreadable);
        }
        continue;
      }
      const std::string_view key = key_of(path->name);
      ++paths_seen;
      const auto render = [&] {
        render_metadata(*path, whep_url(options.webrtc_base, path->name), metadata);
      };
      const auto at = static_cast<std::size_t>(path - fetched.value().data());
      if (!hashes) render();
      const std::uint64_t hash = hashes ? (*hashes)[at] : fnv1a_64(metadata);
      const auto found = by_key.find(key);
      Change c;
      if (found == by_key.end()) {
        c.after.device_key = std::string(key);
        c.after.insert = true;
        c.after.touch = true;
        c.written = true;
      } else {
        found->second.listed = true;
        c = from_stored(*found->second.device);
      }
      if (c.after.insert || c.before->metadata_hash != hash) {
        if (hashes) render();
        c.after.metadata = DeviceWrite::Metadata::replace;
        c.after.metadata_json = metadata; // a copy of its own size, the buffer stays
        c.after.metadata_hash = hash;
        c.after.touch = c.written = true;
      }
      // The counters (moving every round on a live camera) are written beside the
      // metadata: a round where only they moved leaves the metadata's JSON as it is.
      if (const auto counters = counters_of(*path); c.after.counters != counters) {
        c.after.counters = counters;
        c.after.touch = c.written = true;
      }
      c.after.state = classify(*path);
      if (owned) {
        auto& done = (*owned)[at];
        std::vector<Track>().swap(done.tracks);
        std::vector<ReaderRef>().swap(done.readers);
      }
      if (c.after.missed_listings != 0) {
        c.after.missed_listings = 0;
        c.written = true;
      }
      if (c.after.state == DeviceState::live) {
        // Never backwards, whatever the clocks of earlier writers said.
        if (!c.after.last_seen || *c.after.last_seen < now) c.after.last_seen = now;
        if (!c.after.is_active) c.after.touch = true;
        c.after.is_active = true;
        c.written = true;
      }
      changes.push_back(std::move(c));
      listed.push_back(true);
    }
  }
  for (const auto& d : stored.devices) {
    const auto& seen = by_key.find(d.device_key)->second;
    if (fetched && seen.listed) continue;
    const bool keep = fetched && seen.kept;
    Change c = from_stored(d);
    if (fetched && !keep && d.state != DeviceState::removed) {
      // One absence is not removal: MediaMTX drops a path from a listing while it
      // recreates it.
      c.written = true;
      if (++c.after.missed_listings >= 2) {
        c.after.metadata = DeviceWrite::Metadata::mark_removed;
        c.after.state = DeviceState::removed;
        c.after.touch = true;
      }
    }
    changes.push_back(std::move(c));
    listed.push_back(false);
  }

  const TimePoint stale_before = now - options.stale_after;
  // A ledger entry never starts before the last recorded round (a writer whose clock is
  // behind would otherwise reopen time already closed).
  const TimePoint ledger_now = stored.last_round_at ? std::max(now, *stored.last_round_at) : now;
  const bool gap = options.interval && stored.last_round_at &&
                   now - *stored.last_round_at > 2 * *options.interval;
  // The site's events are debounced like its devices': unreachable once its listing has
  // failed for longer than the stale window (as its devices expire), reachable again at
  // the first listing that works after that was said.
  const auto& site = stored.site;
  const bool site_down = !fetched && !site.unreachable_announced &&
                         (!site.last_success || *site.last_success < stale_before);
  const bool site_up = fetched && site.unreachable_announced;
  // Carried by the site's event, not one event each: (key, name).
  std::vector<std::pair<std::string, std::string>> site_devices;
  std::size_t inserted = 0, updated = 0, expired = 0;
  // At most one write a change (a realistic round writes nearly every one): no growth by
  // doubling, which moved every write again and touched twice the memory.
  plan.writes.reserve(changes.size());
  for (std::size_t i = 0; i < changes.size(); ++i) {
    auto& c = changes[i];
    auto& after = c.after;
    if (after.is_active && after.state != DeviceState::standby &&
        (!after.last_seen || *after.last_seen < stale_before)) {
      after.is_active = false;
      after.touch = c.written = c.expired = true;
      ++expired;
    }
    if (!c.before || c.before->state != after.state) {
      after.state_since = now;
      c.written = true;
    }
    // The ledger. A device kept as it was (unreadable, or missed once) keeps its kind.
    std::optional<Presence> kind;
    if (!fetched)
      kind = Presence::unknown;
    else if (!c.before || listed[i] || after.state == DeviceState::removed)
      kind = presence_of(after.state);
    if (gap && after.presence && *after.presence != Presence::unknown) {
      // Nobody observed anything between the last recorded round and now.
      plan.ledger.push_back({after.device_key, Presence::unknown, *stored.last_round_at});
      after.presence = Presence::unknown;
      c.written = true;
    }
    if (kind && kind != after.presence) {
      plan.ledger.push_back({after.device_key, *kind, ledger_now});
      after.presence = kind;
      c.written = true;
    }
    // Events.
    const auto emit = [&](EventType type) {
      plan.events.push_back(device_event(type, options.site, options.device_type, c, now));
    };
    const auto previous = c.before ? c.before->state : std::nullopt;
    bool announced = after.online_announced;
    const bool healthy = after.is_active &&
                         (after.state == DeviceState::live || after.state == DeviceState::standby);
    const bool healthy_long_enough =
        healthy && (options.online_after <= Duration::zero() ||
                    (after.state_since && now - *after.state_since >= options.online_after));
    if (!c.before) {
      emit(EventType::device_added); // carries is_active: no device.online beside it
      announced = healthy_long_enough;
    } else {
      if (previous != after.state) emit(EventType::device_state);
      if (after.state == DeviceState::removed && previous != DeviceState::removed)
        emit(EventType::device_removed);
      if (announced && !after.is_active) {
        if (site_down)
          site_devices.emplace_back(after.device_key, name_of(c));
        else
          emit(EventType::device_offline);
        announced = false;
      } else if (!announced && healthy_long_enough) {
        if (site_up)
          site_devices.emplace_back(after.device_key, name_of(c));
        else
          emit(EventType::device_online);
        announced = true;
      }
    }
    if (announced != after.online_announced) {
      after.online_announced = announced;
      c.written = true;
    }
    if (!c.written) continue;
    add_transition(plan, c, now);
    if (after.insert)
      ++inserted;
    else if (after.metadata == DeviceWrite::Metadata::replace ||
             after.counters != c.before->counters || (after.is_active && !c.before->is_active))
      ++updated;
    plan.writes.push_back(std::move(after));
  }

  plan.site = site;
  if (fetched) plan.site.last_success = now;
  if (site_down || site_up) {
    plan.site.unreachable_announced = site_down;
    const auto type = site_down ? EventType::site_unreachable : EventType::site_reachable;
    auto event = make_event(type, "", "", now, [&](JsonWriter& json) {
      json.key("site");
      json.string(options.site);
      if (site_down) {
        json.key("error");
        json.string(fetched.error().message);
      }
      json.key("last_success");
      write_time(json, site.last_success);
      json.key("devices");
      json.begin_array();
      for (const auto& [key, name] : site_devices) {
        json.begin_object();
        device_fields(json, options.site, options.device_type, key, name);
        json.end_object();
      }
      json.end_array();
    });
    // Before the devices' own events of this round (their state changes).
    plan.events.insert(plan.events.begin(), std::move(event));
  }
  for (auto& e : plan.events)
    e.site = options.site;

  plan.run.started_at = started_at;
  plan.run.finished_at = now;
  plan.run.ok = fetched.has_value();
  if (!fetched) plan.run.error = to_valid_utf8(fetched.error().message);
  plan.run.paths_seen = paths_seen;
  plan.run.upserted = inserted + updated;
  plan.run.expired = expired;
  plan.run.source = to_valid_utf8(source);
  plan.run.skipped = skipped;
  plan.run.skipped_reasons = to_valid_utf8(skipped_reasons);
  return plan;
}

} // namespace

RoundPlan plan_round(const Result<std::vector<PathState>>& fetched, const RegistryState& stored,
                     const SyncOptions& options, TimePoint started_at, const std::string& source) {
  return plan_of(fetched, nullptr, stored, options, started_at, source);
}

RoundPlan plan_round(Result<std::vector<PathState>>&& fetched, const RegistryState& stored,
                     const SyncOptions& options, TimePoint started_at, const std::string& source) {
  return plan_of(fetched, fetched ? &fetched.value() : nullptr, stored, options, started_at,
                 source);
}

RoundCounts count(const RoundPlan& plan) {
  RoundCounts counts;
  counts.paths_seen = plan.run.paths_seen;
  counts.expired = plan.run.expired;
  counts.skipped = plan.run.skipped;
  for (const auto& w : plan.writes)
    counts.inserted += w.insert ? 1 : 0;
  counts.updated = plan.run.upserted - counts.inserted;
  for (const auto& t : plan.transitions) {
    if (t.is_active && !t.was_active) ++counts.newly_active;
    if (t.state == DeviceState::removed && t.previous_state != DeviceState::removed)
      ++counts.removed;
  }
  return counts;
}

RoundReport sync_round(PathSource& source, DeviceRepository& repository, const Clock& clock,
                       const SyncOptions& options) {
  RoundReport report;
  const auto began = std::chrono::steady_clock::now();
  report.started_at = clock.now();
  report.source = source.describe();
  // The listing is fetched, and each path's metadata hashed, while the repository takes
  // the round's lock and reads what it stores (at 100,000 cameras ~1 s each, in different
  // processes): the plan then renders only the metadata that changed. The repository
  // waits for it before reading its clock. The wait is bounded by the source's timeouts.
  struct Listing {
    Result<std::vector<PathState>> paths;
    std::vector<std::uint64_t> hashes;
  };
  auto listing = std::async(std::launch::async, [&source, &options] {
    Listing out{source.list_paths(), {}};
    if (out.paths) out.hashes = metadata_hashes(out.paths.value(), options);
    return out;
  });
  std::optional<Result<std::vector<PathState>>> fetched;
  std::vector<std::uint64_t> hashes;
  const auto await_listing = [&] {
    if (fetched) return;
    try {
      auto got = listing.get();
      fetched.emplace(std::move(got.paths));
      hashes = std::move(got.hashes);
    } catch (const std::exception& e) { // a source that throws (out of memory) failed to list
      fetched.emplace(fail(ErrorKind::unavailable, std::string("listing the paths: ") + e.what()));
    }
    if (!*fetched) report.fetch_error = fetched->error();
  };
  std::optional<TimePoint> at;
  if (!options.store_clock) { // the caller's clock: read once the listing is in
    await_listing();
    at = clock.now();
  }
  auto committed = repository.commit_round(
      options.device_type, options.site, at,
      [&](const RegistryState& stored) {
        if (options.store_clock) {
          // The round began this long before the store's now.
          const auto took =
              std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - began);
          report.started_at = stored.now - took;
        }
        // The listing is not needed once planned (the planner is asked once).
        await_listing(); // in case the store did not
        auto& paths = *fetched;
        return plan_of(paths, paths ? &paths.value() : nullptr, stored, options, report.started_at,
                       report.source, paths ? &hashes : nullptr);
      },
      await_listing);
  await_listing(); // in case the store failed or was busy before asking for it
  if (committed) {
    report.counts = count(*committed);
    report.transitions = std::move(committed->transitions);
    report.events = std::move(committed->events);
    report.finished_at = committed->run.finished_at;
  } else {
    report.write_error = committed.error();
    report.finished_at = clock.now();
  }
  return report;
}

} // namespace camreg

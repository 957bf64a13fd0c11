#include "in_memory_device_repository.hpp"

#include <algorithm>

#include "camreg/clock.hpp"

namespace camreg::testing {

namespace {

constexpr std::string_view removed_prefix = R"({"state":"removed","ready":false)";

// What PostgreSQL's `metadata || {"state":"removed","ready":false}` makes of metadata
// rendered by render_metadata (which starts with those two members): the same object
// with those two values swapped in.
std::string metadata_as_removed(std::string_view rendered) {
  // render_metadata writes {"state":"<s>","ready":<b>, first; swap exactly that prefix.
  constexpr std::string_view head = R"({"state":")";
  if (rendered.substr(0, head.size()) == head) {
    const auto ready = rendered.find(R"(","ready":)", head.size());
    if (ready != std::string_view::npos) {
      auto rest = rendered.substr(ready + 10);
      if (rest.substr(0, 4) == "true")
        rest.remove_prefix(4);
      else if (rest.substr(0, 5) == "false")
        rest.remove_prefix(5);
      else
        return std::string(removed_prefix) + "}";
      return std::string(removed_prefix) + std::string(rest);
    }
  }
  return std::string(removed_prefix) + "}";
}

} // namespace

Result<RoundPlan> InMemoryDeviceRepository::commit_round(const std::string& device_type,
                                                         const std::string& site,
                                                         std::optional<TimePoint> at,
                                                         const RoundPlanner& planner) {
  const TimePoint now = at.value_or(SystemClock().now());
  if (fail_next_) {
    fail_next_ = false;
    return fail(ErrorKind::database, "injected failure");
  }
  RegistryState state;
  state.now = now;
  for (const auto& [id, row] : rows_) {
    if (id.first != device_type || row.device.site != site) continue;
    state.devices.push_back({row.device.device_key, row.state, row.device.is_active,
                             row.device.last_seen, row.metadata_hash, row.device.state_since,
                             row.missed_listings, row.presence, row.device.name,
                             row.online_announced, row.device.counters});
  }
  for (const auto& run : runs_) {
    if (run.site == site) state.last_round_at = run.finished_at;
  }
  state.site = sites_[site];
  RoundPlan plan = planner(state);
  for (const auto& w : plan.writes) {
    auto [it, inserted] = rows_.try_emplace({device_type, w.device_key});
    Row& row = it->second;
    Device& d = row.device;
    if (w.insert) {
      d.id = next_id_++;
      d.device_key = w.device_key;
      d.device_type = device_type;
      d.site = site;
      d.name = w.device_key;
      d.created_at = now;
    }
    switch (w.metadata) {
    case DeviceWrite::Metadata::keep: break;
    case DeviceWrite::Metadata::replace:
      d.metadata_json = w.metadata_json;
      row.metadata_hash = w.metadata_hash;
      break;
    case DeviceWrite::Metadata::mark_removed:
      d.metadata_json = metadata_as_removed(d.metadata_json);
      row.metadata_hash.reset();
      break;
    }
    row.state = w.state;
    d.state_since = w.state_since;
    row.missed_listings = w.missed_listings;
    row.presence = w.presence;
    row.online_announced = w.online_announced;
    d.counters = w.counters;
    d.last_seen = w.last_seen;
    d.is_active = w.is_active;
    if (w.touch) d.updated_at = now;
  }
  for (const auto& entry : plan.ledger) {
    auto& ledger = rows_.at({device_type, entry.device_key}).ledger;
    if (!ledger.empty() && !ledger.back().to) {
      ledger.back().to = entry.from;
      if (ledger.back().to <= ledger.back().from) ledger.pop_back(); // empty
    }
    ledger.push_back({entry.device_key, entry.presence, entry.from, std::nullopt});
  }
  for (auto& event : plan.events) {
    event.id = next_event_id_++;
    events_.push_back(event);
  }
  sites_[site] = plan.site;
  SyncRun run = plan.run;
  run.id = next_run_id_++;
  run.site = site;
  runs_.push_back(std::move(run));
  return plan;
}

Result<std::vector<Device>> InMemoryDeviceRepository::list_devices(const DeviceQuery& query) {
  std::vector<Device> out;
  for (const auto& [id, row] : rows_) {
    const Device& d = row.device;
    if (query.device_type && d.device_type != *query.device_type) continue;
    if (query.site && d.site != *query.site) continue;
    if (query.active_only && !d.is_active) continue;
    out.push_back(d);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Device& a, const Device& b) { return a.device_key < b.device_key; });
  return out;
}

Result<std::vector<SyncRun>> InMemoryDeviceRepository::recent_sync_runs(std::size_t limit) {
  std::vector<SyncRun> out;
  std::map<std::string, std::size_t> taken; // per site
  for (auto run = runs_.rbegin(); run != runs_.rend(); ++run) {
    if (taken[run->site]++ < limit) out.push_back(*run);
  }
  return out;
}

Result<std::vector<SiteSummary>> InMemoryDeviceRepository::list_sites() {
  std::map<std::string, SiteSummary> sites;
  for (const auto& [name, status] : sites_) {
    auto& site = sites[name];
    site.last_success = status.last_success;
    site.unreachable_announced = status.unreachable_announced;
  }
  std::map<std::pair<std::string, std::string>, std::size_t> by_state;
  for (const auto& [id, row] : rows_) {
    auto& site = sites[row.device.site];
    ++site.devices;
    if (row.device.is_active) ++site.active;
    ++by_state[{row.device.site,
                row.state ? std::string(to_string(*row.state)) : std::string("unknown")}];
  }
  std::vector<SiteSummary> out;
  for (auto& [name, site] : sites) {
    site.site = name;
    for (const auto& [key, n] : by_state) {
      if (key.first == name) site.by_state.emplace_back(key.second, n);
    }
    out.push_back(std::move(site));
  }
  return out;
}

Result<std::vector<PresenceInterval>> InMemoryDeviceRepository::presence_history(
    const HistoryQuery& query) {
  std::vector<PresenceInterval> out;
  for (const auto& [id, row] : rows_) { // ordered by (type, key)
    if (id.first != query.device_type) continue;
    if (query.device_key && id.second != *query.device_key) continue;
    if (query.site && row.device.site != *query.site) continue;
    for (const auto& interval : row.ledger) {
      if (interval.from < query.to && (!interval.to || *interval.to > query.from))
        out.push_back(interval);
    }
  }
  return out;
}

Result<std::size_t> InMemoryDeviceRepository::prune(TimePoint ledger_before, TimePoint runs_before,
                                                    std::size_t batch) {
  std::size_t gone = 0;
  for (auto& [id, row] : rows_) {
    auto& ledger = row.ledger;
    while (gone < batch && !ledger.empty() && ledger.front().to &&
           *ledger.front().to < ledger_before) {
      ledger.erase(ledger.begin());
      ++gone;
    }
  }
  for (std::size_t runs = 0;
       runs < batch && runs_.size() > 1 && runs_.front().finished_at < runs_before; ++runs) {
    runs_.erase(runs_.begin()); // the latest run always stays
    ++gone;
  }
  for (std::size_t events = 0;
       events < batch && !events_.empty() && events_.front().at < runs_before; ++events) {
    events_.erase(events_.begin());
    ++gone;
  }
  return gone;
}

bool InMemoryDeviceRepository::rename(const std::string& device_type, const std::string& key,
                                      std::string name) {
  const auto it = rows_.find({device_type, key});
  if (it == rows_.end()) return false;
  it->second.device.name = std::move(name);
  return true;
}

const Device* InMemoryDeviceRepository::find(const std::string& device_type,
                                             const std::string& key) const {
  const auto it = rows_.find({device_type, key});
  return it == rows_.end() ? nullptr : &it->second.device;
}

} // namespace camreg::testing

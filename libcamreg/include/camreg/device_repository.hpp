#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "camreg/device.hpp"
#include "camreg/event.hpp"
#include "camreg/result.hpp"

namespace camreg {

// What the ledger records of a device over time.
enum class Presence {
  online,  // live
  offline, // listed but not live, or removed
  standby, // on demand and idle
  unknown, // the registry could not observe it (MediaMTX unreachable, no round ran)
};
std::string_view to_string(Presence presence) noexcept;
std::optional<Presence> parse_presence(std::string_view text) noexcept;

// What the sync rules need to know of a stored device.
struct StoredPresence {
  std::string device_key;
  std::optional<DeviceState> state; // absent: not written by a sync (or unknown text)
  bool is_active = false;
  std::optional<TimePoint> last_seen;
  std::optional<std::uint64_t> metadata_hash; // of the metadata a sync last wrote
  std::optional<TimePoint> state_since;
  int missed_listings = 0;          // successful listings in a row without it
  std::optional<Presence> presence; // its open ledger interval's kind; absent: none yet
  std::string name;                 // as an operator may have renamed it
  bool online_announced = false;    // the last of device.online / device.offline was online
  std::optional<TrafficCounters> counters;
};

// The stored state of one device type in one site at the start of a round, read inside
// the round's transaction.
struct RegistryState {
  TimePoint now;                       // the round's commit time: every timestamp the round writes
  std::vector<StoredPresence> devices; // every device of the type and site, in no set order
  std::optional<TimePoint> last_round_at; // when the site's latest recorded round finished
  SiteStatus site;                        // of the site the round lists
};

// One device row as a round leaves it. The core decides every value; a repository
// stores them as given.
struct DeviceWrite {
  enum class Metadata {
    keep,         // device_metadata unchanged
    replace,      // device_metadata = metadata_json (a JSON object), hash = metadata_hash
    mark_removed, // "state" becomes "removed" and "ready" false, the rest kept; no hash
  };
  std::string device_key;
  bool insert = false; // a new row of the round's site: name = device_key, created_at = now
  Metadata metadata = Metadata::keep;
  std::string metadata_json;
  std::uint64_t metadata_hash = 0;
  DeviceState state = DeviceState::no_source; // the state the row is in afterwards
  std::optional<TimePoint> last_seen;         // the value afterwards (may be unchanged)
  bool is_active = false;
  bool touch = false; // updated_at = now: something an API reader sees changed
  std::optional<TimePoint> state_since;
  int missed_listings = 0;
  std::optional<Presence> presence;
  bool online_announced = false;
  std::optional<TrafficCounters> counters; // the value afterwards (may be unchanged)
};

// The ledger: from `from` on, the device's presence is `presence`. A repository closes the
// device's open interval at `from` and opens a new one; entries apply in order.
struct LedgerEntry {
  std::string device_key;
  Presence presence = Presence::unknown;
  TimePoint from;
};

// Why a device's presence changed in a round.
enum class TransitionReason {
  added,   // first listed
  listed,  // MediaMTX reports it in another state (or healthy again)
  removed, // no longer listed by a successful listing
  expired, // no healthy sync for longer than the stale window
};
std::string_view to_string(TransitionReason reason) noexcept;

// A device whose state or is_active changed in a round: what the ledger, events and
// metrics consume.
struct Transition {
  std::string device_key;
  std::optional<DeviceState> previous_state; // absent for a device first listed
  DeviceState state = DeviceState::no_source;
  bool was_active = false;
  bool is_active = false;
  TimePoint at;
  TransitionReason reason = TransitionReason::listed;
};

// Everything one round writes, decided by the core (plan_round) from the listing and
// the registry's state.
struct RoundPlan {
  std::vector<DeviceWrite> writes;     // only rows that change
  std::vector<Transition> transitions; // devices whose state or is_active changed
  std::vector<LedgerEntry> ledger;     // presence intervals to open, in order
  std::vector<Event> events;           // in order (ids assigned by the store)
  SiteStatus site;                     // the site's status afterwards
  SyncRun run;                         // the run record (id assigned by the store)
};

// One interval of a device's presence, as the ledger holds it.
struct PresenceInterval {
  std::string device_key;
  Presence presence = Presence::unknown;
  TimePoint from;
  std::optional<TimePoint> to; // absent: still open (it lasts until now)
};

// Which presence intervals to read: those overlapping [from, to) of one device, or of
// every device of a type.
struct HistoryQuery {
  std::string device_type = "camera";
  std::optional<std::string> device_key; // absent: every device of the type
  TimePoint from;
  TimePoint to;
  std::optional<std::string> site = std::nullopt; // absent: every site
};

// One site as the registry knows it: its status and its devices by state.
struct SiteSummary {
  std::string site;
  std::optional<TimePoint> last_success; // its listing last worked (database clock)
  bool unreachable_announced = false;    // site.unreachable was the last said of it
  std::size_t devices = 0;
  std::size_t active = 0;
  std::vector<std::pair<std::string, std::size_t>> by_state; // state text, count; by state
};

// A page of a device listing: up to limit devices after a position.
struct DevicePage {
  std::size_t limit = 0;
  // (device_key, device_type) of the device before the page; absent: from the first.
  std::optional<std::pair<std::string, std::string>> after;
};

// Decides a round's writes from the stored state; called inside the round's
// transaction, once.
using RoundPlanner = std::function<RoundPlan(const RegistryState&)>;

// Awaits a round's input (its listing). A store calls it once, before the planner: after
// it has read what it holds and before it reads its clock, so that the caller fetches the
// input meanwhile and the round's now still comes after it. Runs on the caller's thread,
// with no database call in flight; it may take as long as the input's own timeouts.
using RoundInput = std::function<void()>;

// Port: the devices table and its sync history. Storage only: the rules of a round
// live in the core's plan_round.
class DeviceRepository {
 public:
  virtual ~DeviceRepository() = default;

  // Applies one round of one site atomically: takes the site's round lock (sites sync in
  // parallel), reads the stored presence of every device of device_type in the site and
  // when the site's last round finished, asks planner once for the plan (RegistryState::now = at,
  // or the store's own clock when at is absent, so that every process writing the registry agrees
  // on time), writes it, its ledger entries, its events (ids assigned in commit order, each with a
  // pending delivery to every enabled webhook endpoint of its type), the site's status and its run
  // record, and returns it with the event ids filled in. Rows of other sites are neither read nor
  // written. Fails with ErrorKind::busy when another process is applying a round of the site,
  // ErrorKind::database (or unavailable) on any other failure; then nothing was written.
  virtual Result<RoundPlan> commit_round(const std::string& device_type, const std::string& site,
                                         std::optional<TimePoint> at,
                                         const RoundPlanner& planner) = 0;
  // The same, calling await_input (may be empty) before the planner as RoundInput says; a
  // round that fails or is busy before that does not call it. This default awaits the
  // input first, then runs the round: a store that overlaps its reads with the wait
  // overrides it.
  virtual Result<RoundPlan> commit_round(const std::string& device_type, const std::string& site,
                                         std::optional<TimePoint> at, const RoundPlanner& planner,
                                         const RoundInput& await_input) {
    if (await_input) await_input();
    return commit_round(device_type, site, at, planner);
  }

  // Devices matching the query, ordered by device_key.
  virtual Result<std::vector<Device>> list_devices(const DeviceQuery& query) = 0;

  // The same devices in the same order, read in one snapshot of the store but handed to
  // batch a few thousand at a time as they arrive, so the caller works while the store
  // reads on. The vector and its devices' storage are reused for the next batch: move
  // out what is kept. On failure batch may have been called for the devices before it.
  virtual Result<void> scan_devices(const DeviceQuery& query,
                                    const std::function<void(std::vector<Device>&)>& batch) {
    auto devices = list_devices(query);
    if (!devices) return devices.error();
    batch(*devices);
    return {};
  }

  // Devices matching the query that sort after page.after, up to page.limit, ordered by
  // device_key then device_type byte by byte; read in one statement, so a page is one
  // state of the store, as fresh as the store. A store that cannot page fails with
  // not_found.
  virtual Result<std::vector<Device>> list_device_page(const DeviceQuery& query,
                                                       const DevicePage& page) {
    (void)query, (void)page;
    return fail(ErrorKind::not_found, "this registry reads no pages of its own");
  }

  // The most recent sync runs of each site, up to limit each, newest first.
  virtual Result<std::vector<SyncRun>> recent_sync_runs(std::size_t limit) = 0;

  // Every site that ever ran a round or holds a device, ordered by name.
  virtual Result<std::vector<SiteSummary>> list_sites() { return std::vector<SiteSummary>{}; }

  // Whether the store is reachable and its schema current; the error says why not.
  virtual Result<void> check_ready() = 0;

  // The ledger's intervals overlapping [query.from, query.to), ordered by device_key
  // then from, not clipped. A store without a ledger fails with not_found.
  virtual Result<std::vector<PresenceInterval>> presence_history(const HistoryQuery& query) {
    (void)query;
    return fail(ErrorKind::not_found, "this registry keeps no presence history");
  }

  // Deletes up to batch closed ledger intervals that ended before ledger_before, up to
  // batch sync runs that finished before runs_before (never the latest run) and up to
  // batch events that happened before runs_before and no webhook delivery still waits
  // for; returns how many rows went.
  virtual Result<std::size_t> prune(TimePoint ledger_before, TimePoint runs_before,
                                    std::size_t batch) {
    (void)ledger_before, (void)runs_before, (void)batch;
    return std::size_t{0};
  }
};

} // namespace camreg

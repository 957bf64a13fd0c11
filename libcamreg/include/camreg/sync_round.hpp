#pragma once

#include <optional>
#include <string>
#include <vector>

#include "camreg/clock.hpp"
#include "camreg/device_repository.hpp"
#include "camreg/path_source.hpp"
#include "camreg/url.hpp"

namespace camreg {

struct SyncOptions {
  HttpUrl webrtc_base;                            // base of every whep_url
  Duration stale_after = std::chrono::minutes(5); // no healthy sync for longer: inactive
  std::string device_type = "camera";
  std::string site = "default"; // the MediaMTX server the round lists
  // Rounds are expected this often: a gap over twice this since the last recorded round
  // is written to the ledger as unknown. Absent: gaps are not detected.
  std::optional<Duration> interval;
  // Timestamps come from the repository's clock (PostgreSQL's), so several workers and
  // api-servers agree; false: from the Clock passed to sync_round (tests).
  bool store_clock = true;
  // device.online fires once a device has been healthy this long (0: at once).
  Duration online_after{0};
};

// What a round changed, derived from its plan.
struct RoundCounts {
  std::size_t paths_seen = 0;   // listed paths (each name once)
  std::size_t inserted = 0;     // devices created
  std::size_t updated = 0;      // existing devices whose metadata or status changed
  std::size_t newly_active = 0; // devices that went from inactive (or absent) to active
  std::size_t removed = 0;      // devices newly marked state "removed"
  std::size_t expired = 0;      // devices that became inactive
  std::size_t skipped = 0;      // listed items that could not be understood (kept as they were)
};
RoundCounts count(const RoundPlan& plan);

// How one round went. A failed fetch still commits expiry and the run record.
struct RoundReport {
  TimePoint started_at;
  TimePoint finished_at;
  std::string source;
  std::optional<Error> fetch_error;    // the list could not be had: no device rows written
  std::optional<Error> write_error;    // the database refused the round: nothing written
  std::vector<Transition> transitions; // committed presence changes (empty on write_error)
  std::vector<Event> events;           // committed events, with their ids
  RoundCounts counts;

  bool ok() const { return !fetch_error && !write_error; }
};

// The sync rules (DESIGN.md), in one place: from what MediaMTX listed (or why it could
// not), the stored state of the device type and the options, every row the round
// writes, the transitions, the ledger entries and the run record. Pure.
// - a name listed more than once keeps its last occurrence;
// - a listed device is inserted (name = key) or updated; its metadata is rewritten only
//   when its hash differs; a live one gets last_seen = now (never earlier than stored)
//   and is_active;
// - an item MediaMTX listed that could not be understood keeps its device as it was
//   (not refreshed, not removed) and is counted in the run record;
// - a stored device absent from two consecutive successful listings is marked
//   "removed" (once);
// - after any round, active devices whose last_seen is older than now - stale_after
//   (strictly), or absent, become inactive, except standby ones (on demand, idle), which
//   keep is_active as last observed; a failed listing writes nothing else;
// - the ledger: live is online, standby standby, anything else offline; a failed
//   listing is unknown for every device, and so is a gap of over twice the interval
//   since the last recorded round;
// - events (DESIGN.md "Events"): device.added, device.state on any change of state,
//   device.removed; device.offline when is_active turns false and device.online when a
//   device is active and has been healthy (live or standby) for online_after, each only
//   if the last of them said otherwise; a listing failing for longer than the stale
//   window is one site.unreachable carrying the devices it took offline, and the first
//   listing that works after it one site.reachable carrying those back online.
RoundPlan plan_round(const Result<std::vector<PathState>>& fetched, const RegistryState& stored,
                     const SyncOptions& options, TimePoint started_at, const std::string& source);
// The same, consuming the listing: each path's tracks and readers are released as soon as
// its metadata is rendered, so a round never holds a large listing and the metadata it
// writes in full at once. The listing is left with every path's other fields.
RoundPlan plan_round(Result<std::vector<PathState>>&& fetched, const RegistryState& stored,
                     const SyncOptions& options, TimePoint started_at, const std::string& source);

// One sync round: list every path, then plan and write it, expiry and the run record
// in one transaction through the repository.
RoundReport sync_round(PathSource& source, DeviceRepository& repository, const Clock& clock,
                       const SyncOptions& options);

} // namespace camreg

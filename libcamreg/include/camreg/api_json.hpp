#pragma once

#include <optional>
#include <string>
#include <vector>

#include "camreg/device.hpp"
#include "camreg/device_repository.hpp"

namespace camreg {

// The API's DeviceResponse: {"id", "device_key", "device_type", "site", "name", "last_seen"
// (RFC 3339 UTC or null), "is_active", "created_at", "updated_at", "state_since" (when
// device_metadata.state began; null when unknown), "device_metadata"}.
void append_device_json(std::string& out, const Device& device);

// GET /api/sync/status: {"now", "last_run", "last_ok_run", "seconds_since_last_ok"
// (null when none), "stale" (true when synced, when the registry's part in question was
// last synced, is not within stale_after, or is nullopt: never or unknown), "runs":
// [...newest first]}; each run {"id", "site", "started_at", "finished_at", "ok", "error"
// (null when ok), "paths_seen", "upserted", "expired", "source"}.
std::string render_sync_status_json(const std::vector<SyncRun>& runs, TimePoint now,
                                    Duration stale_after, std::optional<TimePoint> synced);

// GET /api/sites: [{"site", "reachable" (the last round's listing worked; null before
// any round), "stale" (no listing worked within stale_after), "unreachable_announced",
// "last_success_at" (null when never), "last_run" (a run as above, or null), "devices":
// {"total", "active", "by_state": {"<state>": n, ...}}}], ordered by site. runs are the
// recent runs of every site, newest first.
std::string render_sites_json(const std::vector<SiteSummary>& sites,
                              const std::vector<SyncRun>& runs, TimePoint now,
                              Duration stale_after);

} // namespace camreg

#pragma once

#include <string>
#include <vector>

#include "camreg/device.hpp"

namespace camreg {

// The API's DeviceResponse: {"id", "device_key", "device_type", "name", "last_seen"
// (RFC 3339 UTC or null), "is_active", "created_at", "updated_at", "state_since" (when
// device_metadata.state began; null when unknown), "device_metadata"}.
void append_device_json(std::string& out, const Device& device);

// GET /api/sync/status: {"now", "last_run", "last_ok_run", "seconds_since_last_ok"
// (null when none), "stale" (true when no round succeeded within stale_after),
// "runs": [...newest first]}; each run {"id", "started_at",
// "finished_at", "ok", "error" (null when ok), "paths_seen", "upserted", "expired",
// "source"}.
std::string render_sync_status_json(const std::vector<SyncRun>& runs, TimePoint now,
                                    Duration stale_after = std::chrono::minutes(3));

} // namespace camreg

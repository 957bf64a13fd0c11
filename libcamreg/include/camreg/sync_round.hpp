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
};

// How one round went. A failed fetch still commits expiry and the run record.
struct RoundReport {
  TimePoint started_at;
  TimePoint finished_at;
  std::string source;
  std::optional<Error> fetch_error; // the list could not be had: no device rows written
  std::optional<Error> write_error; // the database refused the round: nothing written
  RoundCounts counts;

  bool ok() const { return !fetch_error && !write_error; }
};

// The write a round makes from a fetch result (pure; the rules of DESIGN.md):
// duplicate names keep their last occurrence, healthy paths refresh last_seen.
RoundWrite plan_round(const Result<std::vector<PathState>>& fetched, const SyncOptions& options,
                      TimePoint started_at, TimePoint now, std::string source);

// One sync round: list every path, then write it, expiry and the run record in one
// transaction through the repository.
RoundReport sync_round(PathSource& source, DeviceRepository& repository, const Clock& clock,
                       const SyncOptions& options);

} // namespace camreg

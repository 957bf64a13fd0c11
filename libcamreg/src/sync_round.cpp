#include "camreg/sync_round.hpp"

#include <unordered_map>

#include "camreg/metadata.hpp"

namespace camreg {

RoundWrite plan_round(const Result<std::vector<PathState>>& fetched, const SyncOptions& options,
                      TimePoint started_at, TimePoint now, std::string source) {
  RoundWrite round;
  round.device_type = options.device_type;
  round.started_at = started_at;
  round.now = now;
  round.stale_before = now - options.stale_after;
  round.source = std::move(source);
  if (!fetched) {
    round.error = fetched.error().message;
    return round;
  }
  const auto& paths = fetched.value();
  std::vector<DeviceUpsert> listed;
  listed.reserve(paths.size());
  std::unordered_map<std::string_view, std::size_t> index;
  index.reserve(paths.size());
  for (const auto& path : paths) {
    DeviceUpsert row{path.name, render_metadata(path, whep_url(options.webrtc_base, path.name)),
                     is_healthy(path)};
    // A name listed twice (the list changed between pages) keeps its later, fresher state.
    if (const auto [it, inserted] = index.try_emplace(path.name, listed.size()); !inserted) {
      listed[it->second] = std::move(row);
    } else {
      listed.push_back(std::move(row));
    }
  }
  round.listed = std::move(listed);
  return round;
}

RoundReport sync_round(PathSource& source, DeviceRepository& repository, const Clock& clock,
                       const SyncOptions& options) {
  RoundReport report;
  report.started_at = clock.now();
  report.source = source.describe();
  auto fetched = source.list_paths();
  if (!fetched) report.fetch_error = fetched.error();
  const auto now = clock.now();
  const auto round = plan_round(fetched, options, report.started_at, now, report.source);
  auto committed = repository.commit_round(round);
  if (committed)
    report.counts = committed.value();
  else
    report.write_error = committed.error();
  report.finished_at = clock.now();
  return report;
}

} // namespace camreg

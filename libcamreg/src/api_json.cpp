#include "camreg/api_json.hpp"

#include <algorithm>

#include "camreg/json_writer.hpp"
#include "json_time.hpp"

namespace camreg {

using detail::write_time;

namespace {

void run_object(JsonWriter& w, const SyncRun& run) {
  w.begin_object();
  w.key("id");
  w.number(static_cast<std::int64_t>(run.id));
  w.key("site");
  w.string(run.site);
  w.key("started_at");
  write_time(w, run.started_at);
  w.key("finished_at");
  write_time(w, run.finished_at);
  w.key("ok");
  w.boolean(run.ok);
  w.key("error");
  if (run.ok && run.error.empty())
    w.null();
  else
    w.string(run.error);
  w.key("paths_seen");
  w.number(static_cast<std::uint64_t>(run.paths_seen));
  w.key("upserted");
  w.number(static_cast<std::uint64_t>(run.upserted));
  w.key("expired");
  w.number(static_cast<std::uint64_t>(run.expired));
  w.key("source");
  w.string(run.source);
  w.key("skipped");
  w.number(static_cast<std::uint64_t>(run.skipped));
  w.key("skipped_reasons");
  if (run.skipped_reasons.empty())
    w.null();
  else
    w.string(run.skipped_reasons);
  w.end_object();
}

// The stored metadata object with what is stored beside it: state_since first (DESIGN.md:
// device_metadata.state_since sits beside the state it dates), the traffic counters last.
// Stored metadata that is not an object (no sync wrote it) is served as it is.
void write_metadata(JsonWriter& w, const Device& d) {
  std::string_view metadata = d.metadata_json;
  auto first = metadata.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) metadata = "{}", first = 0; // none stored
  const auto last = metadata.find_last_not_of(" \t\r\n");
  if (metadata[first] != '{' || metadata[last] != '}') {
    w.raw(metadata);
    return;
  }
  auto members = metadata.substr(first + 1, last - first - 1);
  if (members.find_first_not_of(" \t\r\n") == std::string_view::npos) members = {};
  w.begin_object();
  if (d.state_since) {
    w.key("state_since");
    write_time(w, d.state_since);
  }
  if (!members.empty()) w.raw(members); // the members of an object, after a comma if any
  if (d.counters) {
    w.key("bytes_received");
    w.number(d.counters->bytes_received);
    w.key("bytes_sent");
    w.number(d.counters->bytes_sent);
    w.key("frames_in_error");
    w.number(d.counters->frames_in_error);
  }
  w.end_object();
}

} // namespace

void append_device_json(std::string& out, const Device& d) {
  JsonWriter w(out);
  w.begin_object();
  w.key("id");
  w.number(static_cast<std::int64_t>(d.id));
  w.key("device_key");
  w.string(d.device_key);
  w.key("device_type");
  w.string(d.device_type);
  w.key("site");
  w.string(d.site);
  w.key("name");
  w.string(d.name);
  w.key("last_seen");
  write_time(w, d.last_seen);
  w.key("is_active");
  w.boolean(d.is_active);
  w.key("created_at");
  write_time(w, d.created_at);
  w.key("updated_at");
  write_time(w, d.updated_at);
  w.key("state_since");
  write_time(w, d.state_since);
  w.key("device_metadata");
  write_metadata(w, d);
  w.end_object();
}

std::string render_sync_status_json(const std::vector<SyncRun>& runs, TimePoint now,
                                    Duration stale_after, std::optional<TimePoint> synced) {
  const SyncRun* last_ok = nullptr;
  for (const auto& run : runs) {
    if (run.ok) {
      last_ok = &run;
      break;
    }
  }
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.key("now");
  write_time(w, now);
  w.key("last_run");
  if (runs.empty())
    w.null();
  else
    run_object(w, runs.front());
  w.key("last_ok_run");
  if (last_ok)
    run_object(w, *last_ok);
  else
    w.null();
  w.key("seconds_since_last_ok");
  if (last_ok)
    w.number(static_cast<std::int64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(now - last_ok->finished_at).count()));
  else
    w.null();
  w.key("stale");
  w.boolean(!synced || now - *synced > stale_after);
  w.key("runs");
  w.begin_array();
  for (const auto& run : runs)
    run_object(w, run);
  w.end_array();
  w.end_object();
  return out;
}

std::string render_sites_json(const std::vector<SiteSummary>& sites,
                              const std::vector<SyncRun>& runs, TimePoint now,
                              Duration stale_after) {
  std::string out;
  JsonWriter w(out);
  w.begin_array();
  for (const auto& site : sites) {
    const auto last_run = std::find_if(runs.begin(), runs.end(),
                                       [&](const SyncRun& run) { return run.site == site.site; });
    w.begin_object();
    w.key("site");
    w.string(site.site);
    w.key("reachable");
    if (last_run == runs.end())
      w.null();
    else
      w.boolean(last_run->ok);
    w.key("stale");
    w.boolean(!site.last_success || now - *site.last_success > stale_after);
    w.key("unreachable_announced");
    w.boolean(site.unreachable_announced);
    w.key("last_success_at");
    write_time(w, site.last_success);
    w.key("last_run");
    if (last_run == runs.end())
      w.null();
    else
      run_object(w, *last_run);
    w.key("devices");
    w.begin_object();
    w.key("total");
    w.number(static_cast<std::uint64_t>(site.devices));
    w.key("active");
    w.number(static_cast<std::uint64_t>(site.active));
    w.key("by_state");
    w.begin_object();
    for (const auto& [state, n] : site.by_state) {
      w.key(state);
      w.number(static_cast<std::uint64_t>(n));
    }
    w.end_object();
    w.end_object();
    w.end_object();
  }
  w.end_array();
  return out;
}

} // namespace camreg

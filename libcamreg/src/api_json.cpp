#include "camreg/api_json.hpp"

#include "camreg/json_writer.hpp"

namespace camreg {

namespace {

void append_time(std::string& out, TimePoint t) {
  out += '"';
  out += format_rfc3339(t);
  out += '"';
}

void append_run(std::string& out, const SyncRun& run) {
  out += "{\"id\":" + std::to_string(run.id) + ",\"started_at\":";
  append_time(out, run.started_at);
  out += ",\"finished_at\":";
  append_time(out, run.finished_at);
  out += run.ok ? ",\"ok\":true,\"error\":" : ",\"ok\":false,\"error\":";
  if (run.ok && run.error.empty())
    out += "null";
  else
    append_json_string(out, run.error);
  out += ",\"paths_seen\":" + std::to_string(run.paths_seen) +
         ",\"upserted\":" + std::to_string(run.upserted) +
         ",\"expired\":" + std::to_string(run.expired) + ",\"source\":";
  append_json_string(out, run.source);
  out += '}';
}

} // namespace

void append_device_json(std::string& out, const Device& d) {
  out += "{\"id\":" + std::to_string(d.id) + ",\"device_key\":";
  append_json_string(out, d.device_key);
  out += ",\"device_type\":";
  append_json_string(out, d.device_type);
  out += ",\"name\":";
  append_json_string(out, d.name);
  out += ",\"last_seen\":";
  if (d.last_seen)
    append_time(out, *d.last_seen);
  else
    out += "null";
  out +=
      d.is_active ? ",\"is_active\":true,\"created_at\":" : ",\"is_active\":false,\"created_at\":";
  append_time(out, d.created_at);
  out += ",\"updated_at\":";
  append_time(out, d.updated_at);
  out += ",\"device_metadata\":";
  out += d.metadata_json.empty() ? std::string_view("{}") : std::string_view(d.metadata_json);
  out += '}';
}

std::string render_devices_json(const std::vector<Device>& devices) {
  std::string out;
  std::size_t size = 2;
  for (const auto& d : devices)
    size += 256 + d.metadata_json.size() + 2 * d.device_key.size();
  out.reserve(size);
  out += '[';
  for (const auto& d : devices) {
    if (out.size() > 1) out += ',';
    append_device_json(out, d);
  }
  out += ']';
  return out;
}

std::string render_sync_status_json(const std::vector<SyncRun>& runs, TimePoint now) {
  std::string out = "{\"now\":";
  append_time(out, now);
  out += ",\"last_run\":";
  if (runs.empty())
    out += "null";
  else
    append_run(out, runs.front());
  const SyncRun* last_ok = nullptr;
  for (const auto& run : runs) {
    if (run.ok) {
      last_ok = &run;
      break;
    }
  }
  out += ",\"last_ok_run\":";
  if (last_ok)
    append_run(out, *last_ok);
  else
    out += "null";
  out += ",\"seconds_since_last_ok\":";
  if (last_ok) {
    out += std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(now - last_ok->finished_at).count());
  } else {
    out += "null";
  }
  out += ",\"runs\":[";
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (i) out += ',';
    append_run(out, runs[i]);
  }
  out += "]}";
  return out;
}

} // namespace camreg

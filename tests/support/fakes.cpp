#include "fakes.hpp"

#include "camreg/sync_round.hpp"

namespace camreg::testing {

PathState live_path(std::string name) {
  PathState p;
  p.conf_name = name;
  p.name = std::move(name);
  p.available = true;
  p.available_time = "2026-11-24T10:00:00.5+01:00";
  p.online = true;
  p.source = SourceRef{"rtspSource", ""};
  p.tracks = {Track{"H264",
                    {{"width", std::int64_t{1920}},
                     {"height", std::int64_t{1080}},
                     {"profile", std::string("High")},
                     {"level", std::string("4.1")}}},
              Track{"Opus", {{"channelCount", std::int64_t{2}}}}};
  p.readers = {ReaderRef{"webRTCSession", "6f1e6c1a-0000-4000-8000-000000000001"}};
  p.inbound_bytes = 123456;
  p.outbound_bytes = 654321;
  return p;
}

PathState connecting_path(std::string name) {
  PathState p;
  p.conf_name = name;
  p.name = std::move(name);
  p.online = true;
  p.source = SourceRef{"rtspSource", ""};
  return p;
}

PathState idle_path(std::string name) {
  PathState p;
  p.conf_name = name;
  p.name = std::move(name);
  p.online = false;
  return p;
}

Result<RoundPlan> commit_listing(DeviceRepository& repo,
                                 const Result<std::vector<PathState>>& listing, TimePoint now,
                                 const std::string& device_type, const std::string& site) {
  SyncOptions options;
  options.webrtc_base = parse_http_url("http://localhost:8889").value();
  options.device_type = device_type;
  options.site = site;
  return repo.commit_round(device_type, site, now, [&](const RegistryState& stored) {
    return plan_round(listing, stored, options, now - std::chrono::seconds(1),
                      "http://127.0.0.1:9997");
  });
}

} // namespace camreg::testing

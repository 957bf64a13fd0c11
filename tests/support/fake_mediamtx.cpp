#include "fake_mediamtx.hpp"

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "camreg/json_writer.hpp"
#include "http_client.hpp"

namespace camreg::testing {

FakeMediamtx::FakeMediamtx(std::vector<std::string> args) {
  std::vector<std::string> argv{"/usr/bin/python3",
                                CAMREG_SOURCE_DIR "/tests/fake_mediamtx/fake_mediamtx.py",
                                "--listen", "127.0.0.1:0"};
  argv.insert(argv.end(), args.begin(), args.end());
  process_ = std::make_unique<ChildProcess>(argv);
  const auto line = process_->wait_for("\"port\"", std::chrono::seconds(20));
  if (!line) FAIL("fake MediaMTX did not start:\n" << process_->output());
  std::sscanf(line->c_str(), "{\"port\":%d}", &port_);
  REQUIRE(port_ > 0);
}

void FakeMediamtx::put(const std::string& target, const std::string& body) const {
  const auto reply = http_request("PUT", "127.0.0.1", port_, target, body);
  if (reply.status != 200)
    FAIL("fake MediaMTX " << target << ": " << reply.status << " " << reply.body);
}

void FakeMediamtx::set_paths(const std::string& items_json) {
  put("/_fake/paths", items_json);
}
void FakeMediamtx::set_fault(const std::string& fault_json) {
  put("/_fake/fault", fault_json);
}
void FakeMediamtx::mutate_after_page(int page, const std::string& items_json) {
  put("/_fake/mutate",
      "{\"after_page\":" + std::to_string(page) + ",\"items\":" + items_json + "}");
}
void FakeMediamtx::set_config(const std::string& confs_json) {
  put("/_fake/config", confs_json);
}
void FakeMediamtx::set_cameras(const std::string& cameras_json) {
  put("/_fake/cameras", cameras_json);
}
void FakeMediamtx::shrink_after_page(int page, int times, const std::string& endpoint) {
  std::string body;
  JsonWriter json(body);
  json.begin_object();
  json.key("after_page");
  json.number(std::int64_t{page});
  json.key("remove_first");
  json.number(std::int64_t{1});
  json.key("times");
  json.number(std::int64_t{times});
  json.key("endpoint");
  json.string(endpoint);
  json.end_object();
  put("/_fake/mutate", body);
}
void FakeMediamtx::set_hook(const std::string& url, const std::string& token) {
  std::string body;
  JsonWriter json(body);
  json.begin_object();
  json.key("url");
  json.string(url);
  json.key("token");
  json.string(token);
  json.end_object();
  put("/_fake/hook", body);
}
std::string FakeMediamtx::hook_calls() const {
  return http_request("GET", "127.0.0.1", port_, "/_fake/hooks").body;
}
std::string FakeMediamtx::requests() const {
  return http_request("GET", "127.0.0.1", port_, "/_fake/requests").body;
}

std::string path_item_json(const std::string& name, bool available) {
  std::ostringstream o;
  const char* ready = available ? "true" : "false";
  o << R"({"name":")" << name << R"(","confName":")" << name << R"(","ready":)" << ready
    << R"(,"readyTime":)" << (available ? R"("2026-11-24T10:00:00.123456789+01:00")" : "null")
    << R"(,"available":)" << ready << R"(,"availableTime":)"
    << (available ? R"("2026-11-24T10:00:00.123456789+01:00")" : "null")
    << R"(,"online":true,"onlineTime":"0001-01-01T00:00:00Z","source":{"type":"rtspSource","id":""},)"
    << R"("tracks":)" << (available ? R"(["H264"])" : "[]") << R"(,"tracks2":)"
    << (available
            ? R"([{"codec":"H264","codecProps":{"width":1280,"height":720,"profile":"Main","level":"3.1"}}])"
            : "[]")
    << R"(,"readers":[],"inboundBytes":)" << (available ? 1000 : 0)
    << R"(,"outboundBytes":0,"inboundFramesInError":0,"bytesReceived":)" << (available ? 1000 : 0)
    << R"(,"bytesSent":0})";
  return o.str();
}

std::string path_items_json(const std::string& prefix, int n) {
  std::string out = "[";
  for (int i = 0; i < n; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "%04d", i);
    if (i > 0) out += ',';
    out += path_item_json(prefix + name, i % 3 != 0);
  }
  return out + "]";
}

std::string test_data(const std::string& relative) {
  std::ifstream in(CAMREG_SOURCE_DIR "/tests/data/" + relative, std::ios::binary);
  if (!in) FAIL("missing test data " << relative);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

} // namespace camreg::testing

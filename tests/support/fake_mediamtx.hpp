#pragma once

#include <memory>
#include <string>
#include <vector>

#include "process.hpp"

namespace camreg::testing {

// The project's fake MediaMTX (tests/fake_mediamtx) on a free loopback port, for the
// lifetime of the object. The controls change what it serves between requests.
class FakeMediamtx {
 public:
  explicit FakeMediamtx(std::vector<std::string> args = {});

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  void set_paths(const std::string& items_json); // an array of path items
  void set_fault(const std::string& fault_json); // {"mode": ..., "pages": [...]}
  void mutate_after_page(int page, const std::string& items_json);
  // Path configurations ({"name": key, PathConf field: value}) whose runtime state the
  // fake derives, and the state of the cameras behind them ({"name": {"up", "readers"}}).
  void set_config(const std::string& confs_json);
  void set_cameras(const std::string& cameras_json);
  // Once page n of endpoint ("paths" or "config") was served, delete the path that sorts
  // first, on this walk and the next times-1 ones.
  void shrink_after_page(int page, int times, const std::string& endpoint = "paths");
  std::string requests() const; // JSON array of list requests seen
  // From now on, a control above that changes a path's availability POSTs
  // url?path=NAME with Authorization: Bearer token, as mediamtx.yml's hooks do.
  void set_hook(const std::string& url, const std::string& token);
  std::string hook_calls() const; // JSON array of {"path", "event", "status", "ms"}

 private:
  void put(const std::string& target, const std::string& body) const;
  std::unique_ptr<ChildProcess> process_;
  int port_ = 0;
};

// A path item as MediaMTX v1.20 lists it: available with H264, or configured and idle.
std::string path_item_json(const std::string& name, bool available);
// A JSON array of n items named prefix0000…, every third one not available.
std::string path_items_json(const std::string& prefix, int n);
// The text of a file under tests/data.
std::string test_data(const std::string& relative);

} // namespace camreg::testing

#pragma once

#include <string>
#include <vector>

#include "camreg/path_state.hpp"
#include "camreg/result.hpp"

namespace camreg {

// Port: where the live path list comes from (MediaMTX's API in production).
class PathSource {
 public:
  virtual ~PathSource() = default;

  // Every path the source knows, each name once, or the reason the list could not
  // be had completely. A partial list is never returned. Blocks; not thread-safe:
  // sync_round calls it on a thread of its own, one call at a time.
  virtual Result<std::vector<PathState>> list_paths() = 0;

  // Where the paths come from, safe to log and store (credentials removed).
  virtual std::string describe() const = 0;
};

} // namespace camreg

#pragma once

#include "camreg/result.hpp"
#include "camreg/time.hpp"

namespace camreg {

// What the server a reader reads from is, as its change feed last found it.
enum class ServerRole {
  unknown, // not connected yet
  primary, // takes writes; changes are notified
  standby, // a hot standby (read-only, replaying a primary): changes are polled for
};

// Port: tells a reader that the registry changed, so caches refresh on change instead
// of on every request.
class ChangeFeed {
 public:
  virtual ~ChangeFeed() = default;

  // Waits up to timeout. true: something changed, or the feed (re)connected and may have
  // missed changes; false: the timeout passed or wake() was called. An error means the
  // feed is down; the next call tries to reconnect. Call from one thread.
  virtual Result<bool> wait(Duration timeout) = 0;

  // Makes a wait in progress return early. Thread-safe.
  virtual void wake() = 0;

  // The role of the feed's server as of its last connection. Thread-safe.
  virtual ServerRole role() const { return ServerRole::unknown; }
};

} // namespace camreg

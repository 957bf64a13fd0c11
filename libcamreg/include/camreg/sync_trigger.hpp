#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "camreg/result.hpp"
#include "camreg/time.hpp"

namespace camreg {

// Port, the asking side: requests a round now from the looping sync-workers of the
// registry (a MediaMTX hook saw a path change): those of one site, or every one. Blocks until the
// request is handed over, bounded by the adapter's timeouts; unavailable when it cannot be. Not
// thread-safe: one caller at a time.
class SyncTrigger {
 public:
  virtual ~SyncTrigger() = default;

  // path: the path that changed, for the workers' logs; may be empty. site: the site
  // whose worker should run a round (its MediaMTX saw the change); empty: every site's.
  virtual Result<void> request_round(std::string_view path, std::string_view site) = 0;

  // Opens what request_round needs (a database connection) ahead of the first request,
  // so that one is as quick as the rest; request_round opens it anyway when this was
  // not called or failed. Bounded like request_round; the same one-caller rule.
  virtual Result<void> connect() { return {}; }
};

// One request for a round, as a worker receives it.
struct TriggerRequest {
  std::string path; // empty when the request named none
  std::string site; // the site it is for; empty: every site
};

// Port, the worker's side: the requests made through a SyncTrigger of the same registry.
class TriggerFeed {
 public:
  virtual ~TriggerFeed() = default;

  // Waits up to timeout; returns the requests that arrived (empty: none, or wake() was
  // called). Requests made while the feed was down are lost (the regular schedule
  // covers them). An error means the feed is down; the next call tries to reconnect.
  // Call from one thread.
  virtual Result<std::vector<TriggerRequest>> wait(Duration timeout) = 0;

  // Makes a wait in progress return early. Thread-safe.
  virtual void wake() = 0;
};

} // namespace camreg

#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "camreg/device_query.hpp"
#include "camreg/sync_trigger.hpp"
#include "handle_request.hpp"
#include "job_thread.hpp"

namespace camreg::http::detail {

// Hands requests for a round to the SyncTrigger port on a thread of its own (the port
// blocks on the database). At most max_pending requests wait; more are refused (busy).
// From its start it has the port connect, so the first request is as quick as the next
// (opening a connection took 30-60 ms); while that fails it tries again after
// first_retry, doubling up to 30 s, until it succeeds or a request opened it. log (may
// be empty) hears of the first failure and of the success after it.
class TriggerRelay {
 public:
  using Callback = std::function<void(Result<void>)>;

  explicit TriggerRelay(std::unique_ptr<SyncTrigger> trigger, LogSink log = {},
                        std::size_t max_pending = 64,
                        std::chrono::milliseconds first_retry = std::chrono::seconds(1));
  ~TriggerRelay();
  TriggerRelay(const TriggerRelay&) = delete;
  TriggerRelay& operator=(const TriggerRelay&) = delete;

  // Calls back from the relay's thread, or at once with busy when too many wait. site:
  // the site whose worker should run a round; empty: every site's.
  void request(std::string path, std::string site, Callback callback);

  // Whether the port's connect() has succeeded (a request may have opened it anyway).
  bool connected() const;

 private:
  void connect_until_done();

  std::unique_ptr<SyncTrigger> trigger_;
  LogSink log_;
  std::chrono::milliseconds first_retry_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool connected_ = false;
  std::optional<Result<void>> attempt_; // a connect() just done, for connect_until_done
  JobThread thread_;                    // after the above: joined before they go
  std::thread connector_;               // last: joined first
};

// POST /api/sync/trigger, its query already decoded: 403 when no trigger token is
// configured, 401 (WWW-Authenticate: Bearer) without the right one, 400 for a bad
// parameter, 503 when the request cannot be handed over, else 202.
void trigger_round(const Request& req, const QueryParams& params, const Context& ctx,
                   Responder done);

} // namespace camreg::http::detail

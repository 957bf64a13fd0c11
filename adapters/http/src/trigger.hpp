#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "camreg/device_query.hpp"
#include "camreg/sync_trigger.hpp"
#include "handle_request.hpp"
#include "job_thread.hpp"

namespace camreg::http::detail {

// Hands requests for a round to the SyncTrigger port on a thread of its own (the port
// blocks on the database). At most max_pending requests wait; more are refused (busy).
class TriggerRelay {
 public:
  using Callback = std::function<void(Result<void>)>;

  explicit TriggerRelay(std::unique_ptr<SyncTrigger> trigger, std::size_t max_pending = 64);

  // Calls back from the relay's thread, or at once with busy when too many wait.
  void request(std::string path, Callback callback);

 private:
  std::unique_ptr<SyncTrigger> trigger_;
  JobThread thread_; // after trigger_: joined before it goes
};

// POST /api/sync/trigger, its query already decoded: 403 when no trigger token is
// configured, 401 (WWW-Authenticate: Bearer) without the right one, 400 for a bad
// parameter, 503 when the request cannot be handed over, else 202.
void trigger_round(const Request& req, const QueryParams& params, const Context& ctx,
                   Responder done);

} // namespace camreg::http::detail

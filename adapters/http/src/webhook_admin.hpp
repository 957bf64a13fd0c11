#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>

#include "camreg/http/server.hpp"
#include "reply.hpp"

namespace camreg::http::detail {

struct Context;

// The webhook administration routes' store, used on a thread of its own (no request
// holds up an io thread on the database), and how they make secrets.
class WebhookAdmin {
 public:
  explicit WebhookAdmin(WebhookServices services, std::size_t max_pending = 64);
  ~WebhookAdmin();
  WebhookAdmin(const WebhookAdmin&) = delete;
  WebhookAdmin& operator=(const WebhookAdmin&) = delete;

  using Job = std::function<void(WebhookStore&)>;
  // Runs job on the admin thread; false (and nothing run) when too many wait.
  bool post(Job job);
  std::string new_secret() const { return services_.new_secret(); }
  const WebhookStats* stats() const { return services_.stats.get(); }

 private:
  void loop();

  WebhookServices services_;
  std::size_t max_pending_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Job> pending_;
  bool stopping_ = false;
  std::thread thread_;
};

// The routes under /api/webhooks; id is the {id} capture (empty for the collection).
enum class WebhookRoute { list, create, remove, deliveries, replay };
void webhook_route(WebhookRoute route, const Request& req, const Context& ctx,
                   std::string_view query, std::string_view id, std::function<void(Reply)> done);

} // namespace camreg::http::detail

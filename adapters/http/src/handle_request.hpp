#pragma once

#include <filesystem>
#include <functional>
#include <string_view>
#include <vector>

#include "camreg/event_hub.hpp"
#include "camreg/http/server.hpp"
#include "camreg/registry_view.hpp"
#include "database_reader.hpp"
#include "metrics.hpp"
#include "reply.hpp"
#include "webhook_admin.hpp"

namespace camreg::http::detail {

class TriggerRelay;

// What requests are answered from; outlives every request in flight.
struct Context {
  Options options;
  RegistryView* view = nullptr;
  std::filesystem::path web_root; // canonical; empty: no dashboard
  LogSink log;
  HttpMetrics* metrics = nullptr; // null: requests are not counted
  // null: no presence history, and pages are cut from the snapshot
  DatabaseReader* reader = nullptr;
  TriggerRelay* trigger = nullptr;  // null: POST /api/sync/trigger answers 403
  WebhookAdmin* webhooks = nullptr; // null: no webhook routes
  EventHub* events = nullptr;       // null: no event stream
};

using Responder = std::function<void(Reply)>;

// Answers one request. done is called exactly once: on the calling thread, or later on
// the view's thread when the answer waits for a snapshot being built. A handler that
// throws is a bug: it is logged and answered 500 (reply.close set). Never blocks.
void handle_request(const Request& req, const Context& ctx, Responder done);

// The method ("GET" also answers HEAD) and path pattern of every route in the table;
// the OpenAPI document describes the same set.
struct RouteInfo {
  std::string_view method;
  std::string_view pattern;
};
std::vector<RouteInfo> route_table();

} // namespace camreg::http::detail

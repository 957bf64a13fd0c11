#include "handle_request.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <optional>

#include "camreg/api_json.hpp"
#include "camreg/clock.hpp"
#include "camreg/device_query.hpp"
#include "camreg/event_store.hpp"
#include "camreg/history.hpp"
#include "camreg/json_writer.hpp"
#include "camreg/url.hpp"
#include "devices_snapshot.hpp"
#include "event_stream.hpp"
#include "openapi.hpp"
#include "routes.hpp"
#include "static_files.hpp"

namespace camreg::http::detail {

namespace {

// One request on its way through a handler.
struct Call {
  const Request& req;
  const Context& ctx;
  std::string_view query; // after '?', still percent-encoded
  PathParams params;
};
using Handler = void (*)(const Call& call, Responder& done);

struct Route {
  bhttp::verb method; // get also answers head
  std::string_view pattern;
  Handler handler;
};

Reply status_reply(std::string_view status, unsigned version) {
  std::string body;
  JsonWriter out(body);
  out.begin_object();
  out.key("status");
  out.string(status);
  out.end_object();
  return json_reply(bhttp::status::ok, std::move(body), version);
}

void healthz(const Call& call, Responder& done) {
  done(status_reply("ok", call.req.version()));
}

// Whole seconds since the last successful round, or "unknown" when none is on record.
std::string registry_age(const RegistryView& view) {
  const auto last_ok = view.last_ok_round();
  if (!last_ok) return "unknown";
  const auto age = std::chrono::duration_cast<std::chrono::seconds>(SystemClock().now() - *last_ok);
  return std::to_string(std::max<std::int64_t>(age.count(), 0));
}

void readyz(const Call& call, Responder& done) {
  const auto version = call.req.version();
  const auto readiness = call.ctx.view->readiness();
  if (!readiness.ready) {
    return done(
        error_reply(bhttp::status::service_unavailable, "not_ready", readiness.reason, version));
  }
  if (const auto bound = call.ctx.options.ready_max_sync_age; bound.count() > 0) {
    const auto last_ok = call.ctx.view->last_ok_round();
    if (!last_ok || SystemClock().now() - *last_ok > bound) {
      return done(error_reply(bhttp::status::service_unavailable, "sync_stale",
                              "no sync round succeeded within " + std::to_string(bound.count()) +
                                  " ms (--ready-max-sync-age)",
                              version));
    }
  }
  done(status_reply("ready", version));
}

void sync_status(const Call& call, Responder& done) {
  const auto runs = call.ctx.view->recent_runs();
  if (!runs) {
    return done(error_reply(bhttp::status::service_unavailable, "database_unavailable",
                            call.ctx.view->readiness().reason, call.req.version()));
  }
  done(json_reply(
      bhttp::status::ok,
      render_sync_status_json(*runs, SystemClock().now(),
                              std::chrono::duration_cast<Duration>(call.ctx.options.stale_after)),
      call.req.version()));
}

bool parse_query(std::string_view query, QueryParams& params) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    std::string name, value;
    if (!percent_decode(pair.substr(0, eq), name, true)) return false;
    if (eq != std::string_view::npos && !percent_decode(pair.substr(eq + 1), value, true))
      return false;
    params.emplace_back(std::move(name), std::move(value));
  }
  return true;
}

bool accepts_gzip(std::string_view header) {
  std::string value(header);
  for (auto& c : value)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (std::size_t pos = value.find("gzip"); pos != std::string::npos;
       pos = value.find("gzip", pos + 4)) {
    auto rest = std::string_view(value).substr(pos + 4);
    while (!rest.empty() && rest.front() == ' ')
      rest.remove_prefix(1);
    if (rest.empty() || rest.front() == ',') return true;
    if (rest.front() == ';') {
      const auto q = rest.find("q=");
      if (q == std::string_view::npos) return true;
      double weight = 1;
      const auto digits = rest.substr(q + 2);
      std::from_chars(digits.data(), digits.data() + digits.size(), weight);
      return weight > 0;
    }
  }
  return false;
}

bool etag_matches(std::string_view if_none_match, std::string_view etag) {
  if (if_none_match.empty()) return false;
  if (if_none_match.find('*') != std::string_view::npos) return true;
  // A weak comparison, as If-None-Match asks: W/"x" matches "x".
  return if_none_match.find(etag) != std::string_view::npos;
}

// What a devices answer needs of its request once the snapshot is there.
struct Revalidation {
  unsigned version;
  std::string if_none_match;
  std::string accept_encoding;
};

// The snapshot's whole array (with ETag, 304 and gzip), or one object of it.
Reply snapshot_reply(const std::shared_ptr<const DevicesSnapshot>& snapshot, std::string_view part,
                     const Revalidation& req) {
  const bool whole = part.data() == snapshot->json.data() && part.size() == snapshot->json.size();
  Reply reply{Response{bhttp::status::ok, req.version}, snapshot};
  reply.res.set(bhttp::field::cache_control, "no-cache");
  if (whole) {
    reply.res.set(bhttp::field::etag, snapshot->etag);
    reply.res.set(bhttp::field::vary, "Accept-Encoding");
    if (etag_matches(req.if_none_match, snapshot->etag)) {
      reply.res.result(bhttp::status::not_modified);
      return reply;
    }
    if (!snapshot->gzip.empty() && accepts_gzip(req.accept_encoding)) {
      reply.res.set(bhttp::field::content_encoding, "gzip");
      part = snapshot->gzip;
    }
  }
  reply.res.set(bhttp::field::content_type, "application/json");
  reply.res.body() = {part.data(), part.size()};
  return reply;
}

// The query's parameters and the device key a {key...} pattern captured, both
// percent-decoded ("site-a/cam_1" and "site-a%2Fcam_1" are the same device); or the 400
// to answer.
std::optional<Reply> decode_request(const Call& call, QueryParams& params, std::string& key) {
  const auto version = call.req.version();
  if (!parse_query(call.query, params)) {
    return error_reply(bhttp::status::bad_request, "bad_request",
                       "malformed percent-encoding in the query", version);
  }
  const auto raw_key = param(call.params, "key");
  if (!raw_key.empty() && (!percent_decode(raw_key, key, false) || key.empty()))
    return error_reply(bhttp::status::bad_request, "bad_request", "malformed device key", version);
  return std::nullopt;
}

// GET /api/devices and /api/devices/{key...}: answered from the view's snapshot of the
// query; one device is its object cut out of the array.
void devices(const Call& call, Responder& done) {
  const auto version = call.req.version();
  QueryParams params;
  std::string key;
  if (auto refused = decode_request(call, params, key)) return done(std::move(*refused));
  auto query = parse_device_query(params);
  if (!query) {
    return done(
        error_reply(bhttp::status::bad_request, "bad_request", query.error().message, version));
  }
  // One device is found whatever its activity: active_only is checked, then not applied.
  if (!key.empty()) query->active_only = false;
  Revalidation req{version, std::string(call.req[bhttp::field::if_none_match]),
                   std::string(call.req[bhttp::field::accept_encoding])};
  auto* view = call.ctx.view;
  view->get(*query, [done = std::move(done), req = std::move(req), key = std::move(key), view](
                        RegistryView::SnapshotPtr built, const std::string& error) {
    if (!built) {
      return done(error_reply(bhttp::status::service_unavailable, "database_unavailable", error,
                              req.version));
    }
    const auto snapshot = std::static_pointer_cast<const DevicesSnapshot>(built);
    const auto answer = [&](Reply reply) {
      // The devices may be only as fresh as the last round: say how old that is.
      reply.res.set("X-Registry-Age", registry_age(*view));
      done(std::move(reply));
    };
    if (key.empty()) return answer(snapshot_reply(snapshot, snapshot->json, req));
    const auto it = snapshot->objects.find(key);
    if (it == snapshot->objects.end()) {
      return answer(error_reply(bhttp::status::not_found, "not_found",
                                "no device with key " + key.substr(0, 200), req.version));
    }
    const auto [offset, size] = it->second;
    answer(snapshot_reply(snapshot, std::string_view(snapshot->json).substr(offset, size), req));
  });
}

// GET /metrics: the devices of the all-devices snapshot (the one /api/devices serves, so
// no query per scrape), the last successful round and the requests counted so far. The
// registry's families are left out while it cannot be read; the rest still answers.
void metrics(const Call& call, Responder& done) {
  const auto version = call.req.version();
  const bool gzip_ok = accepts_gzip(call.req[bhttp::field::accept_encoding]);
  const auto& ctx = call.ctx;
  ctx.view->get(DeviceQuery{}, [&ctx, done = std::move(done), version, gzip_ok](
                                   RegistryView::SnapshotPtr built, const std::string&) {
    const auto snapshot = std::static_pointer_cast<const DevicesSnapshot>(built);
    const auto runs = ctx.view->recent_runs();
    MetricsInput input;
    input.devices = snapshot ? &snapshot->samples : nullptr;
    input.per_device = ctx.options.metrics_per_device;
    input.runs = runs.get();
    input.http = ctx.metrics;
    auto body = render_metrics(input);
    auto zipped = gzip_ok ? gzip(body) : std::string();
    const bool compressed = !zipped.empty();
    auto reply = text_reply(bhttp::status::ok, compressed ? std::move(zipped) : std::move(body),
                            metrics_content_type, version);
    reply.res.set(bhttp::field::cache_control, "no-store");
    reply.res.set(bhttp::field::vary, "Accept-Encoding");
    if (compressed) reply.res.set(bhttp::field::content_encoding, "gzip");
    done(std::move(reply));
  });
}

// GET /api/openapi.json: the embedded document, revalidated by its ETag.
void openapi(const Call& call, Responder& done) {
  static const auto document = std::make_shared<const std::string>(openapi_document());
  static const auto etag = etag_of(*document);
  Reply reply{Response{bhttp::status::ok, call.req.version()}, document};
  reply.res.set(bhttp::field::cache_control, "no-cache");
  reply.res.set(bhttp::field::etag, etag);
  if (etag_matches(call.req[bhttp::field::if_none_match], etag)) {
    reply.res.result(bhttp::status::not_modified);
    return done(std::move(reply));
  }
  reply.res.set(bhttp::field::content_type, "application/json");
  reply.res.body() = {document->data(), document->size()};
  done(std::move(reply));
}

// GET /api/devices/{key...}/history and GET /api/history: presence intervals and
// availability over a window, read on the history reader's thread.
void history(const Call& call, Responder& done) {
  const auto version = call.req.version();
  QueryParams params;
  std::string key;
  if (auto refused = decode_request(call, params, key)) return done(std::move(*refused));
  auto query = parse_history_query(params, SystemClock().now(), key.empty());
  if (!query) {
    return done(
        error_reply(bhttp::status::bad_request, "bad_request", query.error().message, version));
  }
  if (!call.ctx.history) {
    return done(error_reply(bhttp::status::not_found, "not_found",
                            "this server keeps no presence history", version));
  }
  if (!key.empty()) query->device_key = key;
  call.ctx.history->read(*query, [done = std::move(done), version, key, from = query->from,
                                  to = query->to](Result<std::vector<DeviceHistory>> read) {
    if (!read) {
      return done(
          error_reply(bhttp::status::service_unavailable,
                      read.error().kind == ErrorKind::busy ? "busy" : "database_unavailable",
                      read.error().message, version));
    }
    if (key.empty())
      return done(json_reply(bhttp::status::ok, render_histories_json(*read, from, to), version));
    if (read->empty()) {
      // No interval in the window: a device never seen, or one seen only outside it.
      DeviceHistory none;
      none.device_key = key;
      return done(json_reply(bhttp::status::ok, render_history_json(none, from, to), version));
    }
    done(json_reply(bhttp::status::ok, render_history_json(read->front(), from, to), version));
  });
}

// GET /api/events: Server-Sent Events from the hub, after Last-Event-ID (or ?after=), or
// from the newest event on; the session writes the stream after this header.
void events(const Call& call, Responder& done) {
  const auto version = call.req.version();
  QueryParams params;
  std::string key;
  if (auto refused = decode_request(call, params, key)) return done(std::move(*refused));
  const auto header = call.req.find("Last-Event-ID");
  std::optional<std::string_view> last_event_id;
  if (header != call.req.end()) last_event_id = header->value();
  auto request = parse_event_stream_query(params, last_event_id);
  if (!request) {
    return done(
        error_reply(bhttp::status::bad_request, "bad_request", request.error().message, version));
  }
  if (!call.ctx.events) {
    return done(error_reply(bhttp::status::not_found, "not_found",
                            "this server publishes no events", version));
  }
  Reply reply{Response{bhttp::status::ok, version}, nullptr};
  reply.res.set(bhttp::field::content_type, "text/event-stream");
  reply.res.set(bhttp::field::cache_control, "no-cache");
  reply.res.set("X-Accel-Buffering", "no");
  if (call.req.method() == bhttp::verb::head) return done(std::move(reply));
  auto stream = std::make_shared<EventStream>(call.ctx.metrics);
  auto subscribed = call.ctx.events->subscribe(std::move(request->filter), request->after,
                                               [weak = std::weak_ptr<EventStream>(stream)] {
                                                 if (auto s = weak.lock()) s->fire();
                                               });
  if (!subscribed) {
    const bool busy = subscribed.error().kind == ErrorKind::busy;
    auto refused =
        error_reply(bhttp::status::service_unavailable, busy ? "too_many_streams" : "unavailable",
                    subscribed.error().message, version);
    refused.res.set(bhttp::field::retry_after, "5");
    return done(std::move(refused));
  }
  stream->attach(std::move(*subscribed));
  reply.stream = std::move(stream);
  done(std::move(reply));
}

// Every endpoint but the dashboard's files. A new endpoint is a line here.
constexpr Route routes[] = {
    {bhttp::verb::get, "/healthz", healthz},
    {bhttp::verb::get, "/readyz", readyz},
    {bhttp::verb::get, "/api/sync/status", sync_status},
    {bhttp::verb::get, "/api/devices", devices},
    {bhttp::verb::get, "/api/devices/{key...}/history", history},
    {bhttp::verb::get, "/api/devices/{key...}", devices},
    {bhttp::verb::get, "/api/history", history},
    {bhttp::verb::get, "/metrics", metrics},
    {bhttp::verb::get, "/api/openapi.json", openapi},
    {bhttp::verb::get, "/api/events", events},
};

constexpr std::string_view allow_get = "GET, HEAD, OPTIONS";

Reply preflight(const Request& req, const Context& ctx) {
  Reply reply{Response{bhttp::status::no_content, req.version()}, nullptr};
  reply.res.set(bhttp::field::allow, allow_get);
  const auto origin = req[bhttp::field::origin];
  if (!origin.empty() && origin_allowed(origin, ctx.options.cors_origins)) {
    reply.res.set(bhttp::field::access_control_allow_methods, allow_get);
    reply.res.set(bhttp::field::access_control_allow_headers,
                  "If-None-Match, Content-Type, Last-Event-ID");
    reply.res.set(bhttp::field::access_control_max_age, "600");
  }
  return reply;
}

Reply method_not_allowed(const Request& req) {
  auto reply = error_reply(
      bhttp::status::method_not_allowed, "method_not_allowed",
      std::string(req.method_string()) + " is not allowed here; use GET or HEAD", req.version());
  reply.res.set(bhttp::field::allow, allow_get);
  return reply;
}

// matched: the pattern of the route the path matched, left as is when none did.
void route(const Request& req, const Context& ctx, Responder& done, std::string_view& matched) {
  if (req.method() == bhttp::verb::options) return done(preflight(req, ctx));
  const auto target = std::string_view(req.target());
  const auto qmark = target.find('?');
  const auto path = target.substr(0, qmark);
  const auto query =
      qmark == std::string_view::npos ? std::string_view() : target.substr(qmark + 1);
  const auto method = req.method() == bhttp::verb::head ? bhttp::verb::get : req.method();
  bool path_known = false;
  Call call{req, ctx, query, {}};
  for (const auto& r : routes) {
    if (!match_path(r.pattern, path, call.params)) continue;
    matched = r.pattern;
    if (r.method == method) return r.handler(call, done);
    path_known = true;
  }
  const bool api = path.starts_with("/api/");
  if (method != bhttp::verb::get) {
    if (path_known || api || !ctx.web_root.empty()) return done(method_not_allowed(req));
  }
  if (api || ctx.web_root.empty()) {
    return done(
        error_reply(bhttp::status::not_found, "not_found", "no such resource", req.version()));
  }
  matched = "static";
  done(serve_static_file(ctx.web_root, path, req.version(), ctx.options.webrtc_origins));
}

} // namespace

std::vector<RouteInfo> route_table() {
  std::vector<RouteInfo> table;
  for (const auto& r : routes)
    table.push_back({bhttp::to_string(r.method), r.pattern});
  return table;
}

void handle_request(const Request& req, const Context& ctx, Responder done) {
  auto answered = std::make_shared<std::atomic<bool>>(false);
  // The route template labels the request's metrics; anything unrouted is one label so
  // that raw paths never become series.
  auto matched = std::make_shared<std::string_view>("unmatched");
  Responder finish = [answered, origin = std::string(req[bhttp::field::origin]), &ctx,
                      done = std::move(done), matched,
                      arrived = std::chrono::steady_clock::now()](Reply reply) {
    if (answered->exchange(true)) return;
    if (ctx.metrics) {
      const std::chrono::duration<double> took = std::chrono::steady_clock::now() - arrived;
      ctx.metrics->observe(*matched, reply.res.result_int(), took.count());
    }
    decorate(reply, origin, ctx.options.cors_origins);
    done(std::move(reply));
  };
  try {
    Responder handler_done = finish;
    route(req, ctx, handler_done, *matched);
  } catch (const std::exception& e) {
    if (ctx.log) ctx.log(LogLevel::error, "request", std::string("internal error: ") + e.what());
    auto reply = error_reply(bhttp::status::internal_server_error, "internal_error",
                             "unexpected server error", req.version());
    reply.close = true;
    finish(std::move(reply));
  }
}

} // namespace camreg::http::detail

#include "handle_request.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>

#include "camreg/api_json.hpp"
#include "camreg/clock.hpp"
#include "camreg/device_query.hpp"
#include "camreg/json_writer.hpp"
#include "camreg/url.hpp"
#include "devices_snapshot.hpp"
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

// GET /api/devices and /api/devices/{key...}: answered from the view's snapshot of the
// query; one device is its object cut out of the array.
void devices(const Call& call, Responder& done) {
  const auto version = call.req.version();
  QueryParams params;
  if (!parse_query(call.query, params)) {
    return done(error_reply(bhttp::status::bad_request, "bad_request",
                            "malformed percent-encoding in the query", version));
  }
  std::string key;
  if (const auto raw_key = param(call.params, "key"); !raw_key.empty()) {
    // "site-a/cam_1" and "site-a%2Fcam_1" are the same device.
    if (!percent_decode(raw_key, key, false) || key.empty()) {
      return done(
          error_reply(bhttp::status::bad_request, "bad_request", "malformed device key", version));
    }
  }
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

// Every endpoint but the dashboard's files. A new endpoint is a line here.
constexpr Route routes[] = {
    {bhttp::verb::get, "/healthz", healthz},
    {bhttp::verb::get, "/readyz", readyz},
    {bhttp::verb::get, "/api/sync/status", sync_status},
    {bhttp::verb::get, "/api/devices", devices},
    {bhttp::verb::get, "/api/devices/{key...}", devices},
};

constexpr std::string_view allow_get = "GET, HEAD, OPTIONS";

Reply preflight(const Request& req, const Context& ctx) {
  Reply reply{Response{bhttp::status::no_content, req.version()}, nullptr};
  reply.res.set(bhttp::field::allow, allow_get);
  const auto origin = req[bhttp::field::origin];
  if (!origin.empty() && origin_allowed(origin, ctx.options.cors_origins)) {
    reply.res.set(bhttp::field::access_control_allow_methods, allow_get);
    reply.res.set(bhttp::field::access_control_allow_headers, "If-None-Match, Content-Type");
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

void route(const Request& req, const Context& ctx, Responder& done) {
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
  done(serve_static_file(ctx.web_root, path, req.version(), ctx.options.webrtc_origins));
}

} // namespace

void handle_request(const Request& req, const Context& ctx, Responder done) {
  auto answered = std::make_shared<std::atomic<bool>>(false);
  Responder finish = [answered, origin = std::string(req[bhttp::field::origin]), &ctx,
                      done = std::move(done)](Reply reply) {
    if (answered->exchange(true)) return;
    decorate(reply, origin, ctx.options.cors_origins);
    done(std::move(reply));
  };
  try {
    Responder handler_done = finish;
    route(req, ctx, handler_done);
  } catch (const std::exception& e) {
    if (ctx.log) ctx.log(LogLevel::error, "request", std::string("internal error: ") + e.what());
    auto reply = error_reply(bhttp::status::internal_server_error, "internal_error",
                             "unexpected server error", req.version());
    reply.close = true;
    finish(std::move(reply));
  }
}

} // namespace camreg::http::detail

#include "handle_request.hpp"

#include <algorithm>
#include <atomic>
#include <optional>

#include "camreg/api_json.hpp"
#include "camreg/clock.hpp"
#include "camreg/device_query.hpp"
#include "camreg/event_store.hpp"
#include "camreg/history.hpp"
#include "camreg/json_writer.hpp"
#include "camreg/site.hpp"
#include "camreg/url.hpp"
#include "devices_snapshot.hpp"
#include "event_stream.hpp"
#include "openapi.hpp"
#include "paging.hpp"
#include "routes.hpp"
#include "static_files.hpp"
#include "trigger.hpp"

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

// Whole seconds since the devices of site (every site: the stalest) were last synced, or
// "unknown" when that is not on record.
std::string registry_age(const RegistryView& view, const std::optional<std::string>& site) {
  const auto last_ok = view.synced_at(site);
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
  // Where reads come from, and whether this server can write at all: a standby-only
  // api-server serves reads and says so.
  const auto role = readiness.role;
  const bool primary = call.ctx.options.primary_configured;
  std::string body;
  JsonWriter out(body);
  out.begin_object();
  out.key("status");
  out.string("ready");
  out.key("role");
  out.string(role == ServerRole::primary   ? "primary"
             : role == ServerRole::standby ? "standby"
                                           : "unknown");
  out.key("primary_configured");
  out.boolean(primary);
  out.key("read_only");
  out.boolean(role == ServerRole::standby && !primary);
  out.end_object();
  done(json_reply(bhttp::status::ok, std::move(body), version));
}

bool parse_query(std::string_view query, QueryParams& params);

// ?site=NAME of /api/sync/status, the only parameter it takes; or the 400 to answer.
Result<std::optional<std::string>> sync_status_site(std::string_view raw_query) {
  QueryParams params;
  if (!parse_query(raw_query, params))
    return fail(ErrorKind::invalid_argument, "malformed percent-encoding in the query");
  std::optional<std::string> site;
  for (auto& [name, value] : params) {
    if (name != "site")
      return fail(ErrorKind::invalid_argument,
                  name.substr(0, 64) + ": unknown query parameter (expected site)");
    if (site) return fail(ErrorKind::invalid_argument, "site: given more than once");
    if (!valid_site_name(value))
      return fail(ErrorKind::invalid_argument, "site: must be " + std::string(site_name_rule));
    site = std::move(value);
  }
  return site;
}

// GET /api/sync/status[?site=]: the recent rounds of every site, or of one, and whether
// that part of the registry is stale.
constexpr std::size_t shown_runs = 20;
void sync_status(const Call& call, Responder& done) {
  const auto version = call.req.version();
  const auto site = sync_status_site(call.query);
  if (!site) {
    return done(
        error_reply(bhttp::status::bad_request, "bad_request", site.error().message, version));
  }
  const auto runs = call.ctx.view->recent_runs();
  if (!runs) {
    return done(error_reply(bhttp::status::service_unavailable, "database_unavailable",
                            call.ctx.view->readiness().reason, version));
  }
  std::vector<SyncRun> chosen;
  for (const auto& run : *runs) {
    if (chosen.size() == shown_runs) break;
    if (!*site || run.site == **site) chosen.push_back(run);
  }
  done(json_reply(
      bhttp::status::ok,
      // Stale when the site's devices (every site: the stalest site's) were not synced
      // within the bound, whatever the runs shown say.
      render_sync_status_json(chosen, SystemClock().now(),
                              std::chrono::duration_cast<Duration>(call.ctx.options.stale_after),
                              call.ctx.view->synced_at(*site)),
      version));
}

// GET /api/sites: every site with its last round, reachability and devices by state.
void sites(const Call& call, Responder& done) {
  const auto version = call.req.version();
  if (!call.query.empty()) {
    return done(error_reply(bhttp::status::bad_request, "bad_request",
                            "/api/sites takes no query parameters", version));
  }
  const auto runs = call.ctx.view->recent_runs();
  const auto found = call.ctx.view->sites();
  if (!runs || !found) {
    return done(error_reply(bhttp::status::service_unavailable, "database_unavailable",
                            call.ctx.view->readiness().reason, version));
  }
  done(json_reply(
      bhttp::status::ok,
      render_sites_json(*found, *runs, SystemClock().now(),
                        std::chrono::duration_cast<Duration>(call.ctx.options.stale_after)),
      version));
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

// The whole JSON of a snapshot, inflated a piece at a time as the session sends it:
// at 100,000 cameras 86 MB that no request holds whole.
class JsonSource final : public BodySource {
 public:
  explicit JsonSource(std::shared_ptr<const CompressedJson> json)
      : json_(std::move(json)), reader_(*json_) {}
  std::size_t size() const override { return json_->json_size; }
  std::string_view next() override {
    constexpr std::size_t piece = 256 << 10;
    piece_.clear();
    const auto to = std::min(json_->json_size, position_ + piece);
    reader_.read(position_, to, piece_);
    position_ = to;
    return piece_;
  }

 private:
  std::shared_ptr<const CompressedJson> json_;
  JsonReader reader_;
  std::size_t position_ = 0;
  std::string piece_;
};

// The snapshot's whole array (with ETag, 304 and gzip): a reply keeps only the gzip
// alive, not the snapshot's index.
Reply whole_reply(const DevicesSnapshot& snapshot, const Revalidation& req) {
  Reply reply{Response{bhttp::status::ok, req.version}, snapshot.body};
  reply.res.set(bhttp::field::cache_control, "no-cache");
  reply.res.set(bhttp::field::etag, snapshot.etag);
  reply.res.set(bhttp::field::vary, "Accept-Encoding");
  if (etag_matches(req.if_none_match, snapshot.etag)) {
    reply.res.result(bhttp::status::not_modified);
    return reply;
  }
  reply.res.set(bhttp::field::content_type, "application/json");
  if (accepts_gzip(req.accept_encoding)) {
    reply.res.set(bhttp::field::content_encoding, "gzip");
    reply.res.body() = {snapshot.body->gzip.data(), snapshot.body->gzip.size()};
  } else {
    reply.source = std::make_shared<JsonSource>(snapshot.body);
  }
  return reply;
}

// One device's object of the snapshot.
Reply object_reply(const DevicesSnapshot& snapshot, const DevicesSnapshot::Object& object,
                   const Revalidation& req) {
  auto json = std::make_shared<const std::string>(snapshot.object_json(object));
  Reply reply{Response{bhttp::status::ok, req.version}, json};
  reply.res.set(bhttp::field::cache_control, "no-cache");
  reply.res.set(bhttp::field::content_type, "application/json");
  reply.res.body() = {json->data(), json->size()};
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

// A page's body: a JSON array of its own, and its gzip when asked for.
struct PageBody {
  std::string json, gzip;
};

// A page (with its ETag, 304 and gzip), and a Link to the next page, after next, when
// devices remain after it.
Reply page_reply(std::shared_ptr<PageBody> body, const std::optional<PagePosition>& next,
                 std::string_view path, std::string_view raw_query, const Revalidation& req) {
  Reply reply{Response{bhttp::status::ok, req.version}, body};
  reply.res.set(bhttp::field::cache_control, "no-cache");
  if (next) {
    reply.res.set(
        bhttp::field::link,
        "<" + next_page_target(path, raw_query, encode_cursor(*next)) + ">; rel=\"next\"");
  }
  const auto etag = etag_of(body->json);
  reply.res.set(bhttp::field::etag, etag);
  reply.res.set(bhttp::field::vary, "Accept-Encoding");
  if (etag_matches(req.if_none_match, etag)) {
    reply.res.result(bhttp::status::not_modified);
    return reply;
  }
  reply.res.set(bhttp::field::content_type, "application/json");
  std::string_view sent = body->json;
  if (accepts_gzip(req.accept_encoding)) {
    body->gzip = gzip(body->json);
    if (!body->gzip.empty()) {
      reply.res.set(bhttp::field::content_encoding, "gzip");
      sent = body->gzip;
    }
  }
  reply.res.body() = {sent.data(), sent.size()};
  return reply;
}

// A page cut from the snapshot (a server without a reader of its own).
Reply snapshot_page_reply(const DevicesSnapshot& snapshot, const PageQuery& page,
                          std::string_view path, std::string_view raw_query,
                          const Revalidation& req) {
  const auto first =
      page.after ? snapshot.after(page.after->device_key, page.after->device_type) : 0;
  const auto count = std::min(page.limit, snapshot.objects.size() - first);
  auto body = std::make_shared<PageBody>();
  body->json = page_json(snapshot, first, count);
  std::optional<PagePosition> next;
  if (first + count < snapshot.objects.size()) {
    const auto& last = snapshot.objects[first + count - 1];
    next = PagePosition{last.device_key, last.device_type};
  }
  return page_reply(std::move(body), next, path, raw_query, req);
}

// A page read from the database: up to limit + 1 devices, the one past the page saying
// that another page follows.
Reply database_page_reply(const std::vector<Device>& devices, std::size_t limit,
                          std::string_view path, std::string_view raw_query,
                          const Revalidation& req) {
  const auto count = std::min(limit, devices.size());
  auto body = std::make_shared<PageBody>();
  JsonWriter out(body->json);
  std::string object;
  out.begin_array();
  for (std::size_t i = 0; i < count; ++i) {
    object.clear();
    append_device_json(object, devices[i]);
    out.raw(object);
  }
  out.end_array();
  std::optional<PagePosition> next;
  if (devices.size() > limit)
    next = PagePosition{devices[count - 1].device_key, devices[count - 1].device_type};
  return page_reply(std::move(body), next, path, raw_query, req);
}

// GET /api/devices and /api/devices/{key...}: answered from the view's snapshot of the
// query, one device being its object cut out of the array; a page (?limit=) is read
// from the database, so it is as fresh as the database the server reads (without a
// reader, a copy of the snapshot's objects).
void devices(const Call& call, Responder& done) {
  const auto version = call.req.version();
  QueryParams params;
  std::string key;
  if (auto refused = decode_request(call, params, key)) return done(std::move(*refused));
  std::optional<PageQuery> page;
  if (key.empty()) {
    auto taken = take_page_query(params);
    if (!taken) {
      return done(
          error_reply(bhttp::status::bad_request, "bad_request", taken.error().message, version));
    }
    page = std::move(*taken);
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
  std::string path, raw_query;
  if (page) {
    const auto target = std::string_view(call.req.target());
    path = target.substr(0, target.find('?'));
    raw_query = call.query;
  }
  auto* view = call.ctx.view;
  if (page && call.ctx.reader) {
    DevicePage wanted{page->limit + 1, std::nullopt};
    if (page->after) wanted.after.emplace(page->after->device_key, page->after->device_type);
    return call.ctx.reader->read_page(
        *query, wanted,
        [done = std::move(done), req = std::move(req), view, limit = page->limit,
         path = std::move(path), raw_query = std::move(raw_query),
         site = query->site](Result<std::vector<Device>> read) {
          if (!read) {
            return done(
                error_reply(bhttp::status::service_unavailable,
                            read.error().kind == ErrorKind::busy ? "busy" : "database_unavailable",
                            read.error().message, req.version));
          }
          auto reply = database_page_reply(*read, limit, path, raw_query, req);
          reply.res.set("X-Registry-Age", registry_age(*view, site));
          done(std::move(reply));
        });
  }
  view->get(
      *query, [done = std::move(done), req = std::move(req), key = std::move(key), view,
               page = std::move(page), path = std::move(path), raw_query = std::move(raw_query),
               site = query->site](RegistryView::SnapshotPtr built, const std::string& error) {
        if (!built) {
          return done(error_reply(bhttp::status::service_unavailable, "database_unavailable", error,
                                  req.version));
        }
        const auto snapshot = std::static_pointer_cast<const DevicesSnapshot>(built);
        // The devices may be only as fresh as their site's last round: say how old that
        // is (one device: its own site's).
        std::optional<std::string> synced = site;
        const auto answer = [&](Reply reply) {
          reply.res.set("X-Registry-Age", registry_age(*view, synced));
          done(std::move(reply));
        };
        // Cutting a page or a device inflates part of the snapshot; this may run on
        // the view's thread, where nothing else would catch a failure.
        std::optional<Reply> reply;
        try {
          if (page) {
            reply = snapshot_page_reply(*snapshot, *page, path, raw_query, req);
          } else if (key.empty()) {
            reply = whole_reply(*snapshot, req);
          } else if (const auto* object = snapshot->find(key)) {
            synced = snapshot->samples.at(snapshot->index_of(*object)).site;
            reply = object_reply(*snapshot, *object, req);
          } else {
            reply = error_reply(bhttp::status::not_found, "not_found",
                                "no device with key " + key.substr(0, 200), req.version);
          }
        } catch (const std::exception& e) {
          return done(error_reply(bhttp::status::internal_server_error, "internal_error",
                                  std::string("reading the answer: ") + e.what(), req.version));
        }
        answer(std::move(*reply));
      });
}

// GET /metrics: the devices of the all-devices snapshot (the one /api/devices serves, so
// no query per scrape), each site's last successful round and the requests counted so
// far. The registry's families are left out while it cannot be read; the rest answers.
void metrics(const Call& call, Responder& done) {
  const auto version = call.req.version();
  const bool gzip_ok = accepts_gzip(call.req[bhttp::field::accept_encoding]);
  const auto& ctx = call.ctx;
  ctx.view->get(DeviceQuery{}, [&ctx, done = std::move(done), version, gzip_ok](
                                   RegistryView::SnapshotPtr built, const std::string&) {
    const auto snapshot = std::static_pointer_cast<const DevicesSnapshot>(built);
    const auto sites = ctx.view->sites();
    MetricsInput input;
    input.devices = snapshot ? &snapshot->samples : nullptr;
    input.per_device = ctx.options.metrics_per_device;
    input.sites = sites.get();
    input.http = ctx.metrics;
    input.webhooks = ctx.webhooks ? ctx.webhooks->stats() : nullptr;
    input.now = SystemClock().now();
    done(metrics_reply(render_metrics(input), gzip_ok, version));
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
  if (!call.ctx.reader) {
    return done(error_reply(bhttp::status::not_found, "not_found",
                            "this server keeps no presence history", version));
  }
  if (!key.empty()) query->device_key = key;
  call.ctx.reader->read(*query, [done = std::move(done), version, key, from = query->from,
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

// POST /api/sync/trigger: asks the sync-workers for a round now (trigger.cpp).
void sync_trigger(const Call& call, Responder& done) {
  QueryParams params;
  std::string key;
  if (auto refused = decode_request(call, params, key)) return done(std::move(*refused));
  trigger_round(call.req, params, call.ctx, std::move(done));
}

// /api/webhooks...: admin token, then the webhook store's thread (webhook_admin.cpp).
template <WebhookRoute which>
void webhooks(const Call& call, Responder& done) {
  webhook_route(which, call.req, call.ctx, call.query, param(call.params, "id"), std::move(done));
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
    {bhttp::verb::get, "/api/sites", sites},
    {bhttp::verb::get, "/api/devices", devices},
    {bhttp::verb::get, "/api/devices/{key...}/history", history},
    {bhttp::verb::get, "/api/devices/{key...}", devices},
    {bhttp::verb::get, "/api/history", history},
    {bhttp::verb::get, "/metrics", metrics},
    {bhttp::verb::get, "/api/openapi.json", openapi},
    {bhttp::verb::post, "/api/sync/trigger", sync_trigger},
    {bhttp::verb::get, "/api/webhooks", webhooks<WebhookRoute::list>},
    {bhttp::verb::post, "/api/webhooks", webhooks<WebhookRoute::create>},
    {bhttp::verb::delete_, "/api/webhooks/{id}", webhooks<WebhookRoute::remove>},
    {bhttp::verb::get, "/api/webhooks/{id}/deliveries", webhooks<WebhookRoute::deliveries>},
    {bhttp::verb::post, "/api/webhooks/{id}/replay", webhooks<WebhookRoute::replay>},
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

// allow_post: the path takes POST (and not GET).
Reply method_not_allowed(const Request& req, bool allow_post = false) {
  auto reply = error_reply(bhttp::status::method_not_allowed, "method_not_allowed",
                           std::string(req.method_string()) + " is not allowed here; use " +
                               (allow_post ? "POST" : "GET or HEAD"),
                           req.version());
  reply.res.set(bhttp::field::allow, allow_post ? "POST, OPTIONS" : allow_get);
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
  bool post_only = true; // of the routes the path matched
  Call call{req, ctx, query, {}};
  for (const auto& r : routes) {
    if (!match_path(r.pattern, path, call.params)) continue;
    matched = r.pattern;
    if (r.method == method) return r.handler(call, done);
    path_known = true;
    post_only = post_only && r.method == bhttp::verb::post;
  }
  if (path_known && post_only) return done(method_not_allowed(req, true));
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

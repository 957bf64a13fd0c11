#include "webhook_admin.hpp"

#include <boost/json.hpp>

#include <charconv>

#include "camreg/json_writer.hpp"
#include "camreg/url.hpp"
#include "handle_request.hpp"

namespace camreg::http::detail {

namespace {

using Done = std::function<void(Reply)>;

// Bounds GET /api/webhooks/{id}/deliveries.
constexpr std::size_t default_deliveries = 100;
constexpr std::size_t max_deliveries = 1000;

Reply bad_request(std::string_view detail, unsigned version) {
  return error_reply(bhttp::status::bad_request, "bad_request", detail, version);
}

std::optional<std::int64_t> parse_id(std::string_view text) {
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}

// The value of name in a raw query (no percent-decoding: the values asked for are digits).
std::optional<std::string_view> query_value(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == name)
      return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
  }
  return std::nullopt;
}

void optional_time(JsonWriter& out, std::string_view key, const std::optional<TimePoint>& t) {
  out.key(key);
  if (t) {
    out.string(format_rfc3339(*t));
  } else {
    out.null();
  }
}

// An endpoint as the API shows it: never its secret, never its URL's userinfo.
void write_endpoint(JsonWriter& out, const WebhookEndpoint& e) {
  out.key("id");
  out.number(e.id);
  out.key("url");
  const auto parsed = parse_http_url(e.url);
  out.string(parsed ? parsed->redacted() : redact_userinfo(e.url));
  out.key("types");
  out.begin_array();
  for (const auto& t : e.types)
    out.string(t);
  out.end_array();
  out.key("enabled");
  out.boolean(e.enabled);
  out.key("disabled_reason");
  if (e.enabled) {
    out.null();
  } else {
    out.string(e.disabled_reason);
  }
  out.key("created_at");
  out.string(format_rfc3339(e.created_at));
}

Reply store_error(const Error& error, unsigned version) {
  if (error.kind == ErrorKind::not_found)
    return error_reply(bhttp::status::not_found, "not_found", error.message, version);
  return error_reply(bhttp::status::service_unavailable, "database_unavailable", error.message,
                     version);
}

// POST /api/webhooks' body: {"url": "http(s)://...", "types": ["device.offline", ...]}.
struct NewEndpoint {
  std::string url;
  std::vector<std::string> types;
};
Result<NewEndpoint> parse_new_endpoint(std::string_view body) {
  boost::system::error_code ec;
  const auto value = boost::json::parse(body, ec);
  if (ec) return fail(ErrorKind::invalid_argument, "the body is not JSON: " + ec.message());
  const auto* object = value.if_object();
  if (!object) return fail(ErrorKind::invalid_argument, "the body is not a JSON object");
  NewEndpoint out;
  for (const auto& [key, field] : *object) {
    if (key == "url") {
      if (!field.is_string()) return fail(ErrorKind::invalid_argument, "url: not a string");
      out.url = std::string(field.get_string());
    } else if (key == "types") {
      const auto* list = field.if_array();
      if (!list) return fail(ErrorKind::invalid_argument, "types: not an array of strings");
      for (const auto& t : *list) {
        if (!t.is_string())
          return fail(ErrorKind::invalid_argument, "types: not an array of strings");
        out.types.emplace_back(t.get_string());
      }
    } else {
      return fail(ErrorKind::invalid_argument,
                  "unknown field \"" + std::string(key.substr(0, 64)) + "\" (url, types)");
    }
  }
  if (out.url.empty()) return fail(ErrorKind::invalid_argument, "url: missing");
  if (out.url.size() > 2048)
    return fail(ErrorKind::invalid_argument, "url: longer than 2048 bytes");
  if (auto url = parse_http_url(out.url); !url)
    return fail(ErrorKind::invalid_argument, "url: " + url.error().message);
  if (auto valid = validate_event_types(out.types); !valid) return valid.error();
  std::sort(out.types.begin(), out.types.end());
  out.types.erase(std::unique(out.types.begin(), out.types.end()), out.types.end());
  return out;
}

} // namespace

WebhookAdmin::WebhookAdmin(WebhookServices services, std::size_t max_pending)
    : services_(std::move(services)), max_pending_(max_pending), thread_([this] { loop(); }) {}

WebhookAdmin::~WebhookAdmin() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool WebhookAdmin::post(Job job) {
  const std::lock_guard lock(mutex_);
  if (pending_.size() >= max_pending_) return false;
  pending_.push_back(std::move(job));
  cv_.notify_one();
  return true;
}

void WebhookAdmin::loop() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      if (stopping_) return;
      job = std::move(pending_.front());
      pending_.pop_front();
    }
    job(*services_.store);
  }
}

void webhook_route(WebhookRoute route, const Request& req, const Context& ctx,
                   std::string_view query, std::string_view id_text, Done done) {
  const auto version = req.version();
  if (ctx.options.admin_token.empty()) {
    return done(error_reply(bhttp::status::forbidden, "forbidden",
                            "webhook administration is disabled: no admin token is configured "
                            "(--admin-token, CAMREG_ADMIN_TOKEN)",
                            version));
  }
  if (!bearer_matches(req[bhttp::field::authorization], ctx.options.admin_token)) {
    auto reply = error_reply(bhttp::status::unauthorized, "unauthorized",
                             "Authorization: Bearer <admin token> is missing or wrong", version);
    reply.res.set(bhttp::field::www_authenticate, "Bearer realm=\"camreg\"");
    return done(std::move(reply));
  }
  auto* admin = ctx.webhooks;
  if (!admin) {
    return done(error_reply(bhttp::status::not_found, "not_found",
                            "this server manages no webhooks", version));
  }
  std::int64_t id = 0;
  if (!id_text.empty()) {
    const auto parsed = parse_id(id_text);
    if (!parsed) return done(bad_request("the webhook id is not a non-negative integer", version));
    id = *parsed;
  }
  WebhookAdmin::Job job;
  switch (route) {
  case WebhookRoute::list:
    job = [done, version](WebhookStore& store) {
      auto endpoints = store.list_endpoints();
      if (!endpoints) return done(store_error(endpoints.error(), version));
      std::string body;
      JsonWriter out(body);
      out.begin_array();
      for (const auto& e : *endpoints) {
        out.begin_object();
        write_endpoint(out, e);
        out.end_object();
      }
      out.end_array();
      done(json_reply(bhttp::status::ok, std::move(body), version));
    };
    break;
  case WebhookRoute::create: {
    auto parsed = parse_new_endpoint(req.body());
    if (!parsed) return done(bad_request(parsed.error().message, version));
    job = [done, version, secret = admin->new_secret(),
           wanted = std::move(*parsed)](WebhookStore& store) {
      auto created = store.create_endpoint(wanted.url, wanted.types, secret);
      if (!created) return done(store_error(created.error(), version));
      std::string body;
      JsonWriter out(body);
      out.begin_object();
      write_endpoint(out, *created);
      out.key("secret"); // shown this once
      out.string(secret);
      out.end_object();
      auto reply = json_reply(bhttp::status::created, std::move(body), version);
      reply.res.set(bhttp::field::location, "/api/webhooks/" + std::to_string(created->id));
      reply.res.set(bhttp::field::cache_control, "no-store");
      done(std::move(reply));
    };
    break;
  }
  case WebhookRoute::remove:
    job = [done, version, id](WebhookStore& store) {
      auto removed = store.delete_endpoint(id);
      if (!removed) return done(store_error(removed.error(), version));
      Reply reply{Response{bhttp::status::no_content, version}, nullptr};
      done(std::move(reply));
    };
    break;
  case WebhookRoute::deliveries: {
    std::size_t limit = default_deliveries;
    if (const auto text = query_value(query, "limit")) {
      const auto n = parse_id(*text);
      if (!n || *n < 1 || static_cast<std::size_t>(*n) > max_deliveries)
        return done(bad_request("limit: an integer from 1 to 1000", version));
      limit = static_cast<std::size_t>(*n);
    }
    job = [done, version, id, limit](WebhookStore& store) {
      auto rows = store.deliveries(id, limit);
      if (!rows) return done(store_error(rows.error(), version));
      std::string body;
      JsonWriter out(body);
      out.begin_array();
      for (const auto& d : *rows) {
        out.begin_object();
        out.key("event_id");
        out.number(d.event_id);
        out.key("webhook_id");
        out.string("msg_" + std::to_string(d.event_id));
        out.key("type");
        out.string(d.event_type);
        out.key("status");
        out.string(d.status);
        out.key("attempts");
        out.number(static_cast<std::int64_t>(d.attempts));
        out.key("next_attempt_at");
        if (d.status == "pending") {
          out.string(format_rfc3339(d.next_attempt_at));
        } else {
          out.null();
        }
        optional_time(out, "last_attempt_at", d.last_attempt_at);
        out.key("last_status");
        if (d.last_status) {
          out.number(static_cast<std::int64_t>(*d.last_status));
        } else {
          out.null();
        }
        out.key("last_error");
        if (d.last_error.empty()) {
          out.null();
        } else {
          out.string(d.last_error);
        }
        optional_time(out, "delivered_at", d.delivered_at);
        out.end_object();
      }
      out.end_array();
      done(json_reply(bhttp::status::ok, std::move(body), version));
    };
    break;
  }
  case WebhookRoute::replay: {
    const auto text = query_value(query, "after");
    const auto after = text ? parse_id(*text) : std::nullopt;
    if (!after)
      return done(bad_request("after: required, the event id to replay after (0: all)", version));
    job = [done, version, id, after = *after](WebhookStore& store) {
      auto queued = store.replay(id, after);
      if (!queued) return done(store_error(queued.error(), version));
      std::string body;
      JsonWriter out(body);
      out.begin_object();
      out.key("queued");
      out.number(static_cast<std::uint64_t>(*queued));
      out.end_object();
      done(json_reply(bhttp::status::accepted, std::move(body), version));
    };
    break;
  }
  }
  if (!admin->post(std::move(job))) {
    done(error_reply(bhttp::status::service_unavailable, "busy",
                     "too many webhook requests are waiting; try again", version));
  }
}

} // namespace camreg::http::detail

#include "trigger.hpp"

#include <cctype>

#include "camreg/json_writer.hpp"
#include "camreg/site.hpp"

namespace camreg::http::detail {

namespace {

// The bound the MediaMTX adapter puts on path names (mediamtx::max_path_name_bytes, not
// included: adapters stay apart); a NOTIFY payload may not exceed 8000 bytes.
constexpr std::size_t max_path_bytes = 1024;

bool printable_utf8(std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return false;
  }
  return to_valid_utf8(text) == text;
}

Reply unauthorized(std::string_view detail, bool token_sent, unsigned version) {
  auto reply = error_reply(bhttp::status::unauthorized, "unauthorized", detail, version);
  reply.res.set(
      bhttp::field::www_authenticate,
      token_sent ? R"(Bearer realm="camreg", error="invalid_token")" : R"(Bearer realm="camreg")");
  return reply;
}

std::string accepted_body(const std::string& path) {
  std::string body;
  JsonWriter out(body);
  out.begin_object();
  out.key("status");
  out.string("accepted");
  out.key("path");
  if (path.empty())
    out.null();
  else
    out.string(path);
  out.end_object();
  return body;
}

} // namespace

TriggerRelay::TriggerRelay(std::unique_ptr<SyncTrigger> trigger, LogSink log,
                           std::size_t max_pending, std::chrono::milliseconds first_retry)
    : trigger_(std::move(trigger)),
      log_(std::move(log)),
      first_retry_(first_retry),
      thread_(max_pending),
      connector_([this] { connect_until_done(); }) {}

TriggerRelay::~TriggerRelay() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  connector_.join();
}

bool TriggerRelay::connected() const {
  const std::lock_guard lock(mutex_);
  return connected_;
}

void TriggerRelay::connect_until_done() {
  auto delay = first_retry_;
  bool warned = false;
  for (;;) {
    // On the relay's thread: the port has one caller at a time.
    const bool posted = thread_.post([this] {
      auto made = trigger_->connect();
      {
        const std::lock_guard lock(mutex_);
        attempt_ = std::move(made);
      }
      cv_.notify_all();
    });
    if (!posted) return; // requests are queued: they open the connection themselves
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return stopping_ || attempt_.has_value(); });
    if (stopping_) return;
    const auto made = std::move(*attempt_);
    attempt_.reset();
    connected_ = made.has_value();
    lock.unlock();
    if (made) {
      if (warned && log_) log_(LogLevel::info, "trigger", "connected for round requests");
      return;
    }
    if (!warned && log_) {
      log_(LogLevel::warn, "trigger",
           "cannot connect for round requests yet (retrying): " + made.error().message);
    }
    warned = true;
    lock.lock();
    if (cv_.wait_for(lock, delay, [&] { return stopping_; })) return;
    delay = std::min<std::chrono::milliseconds>(delay * 2, std::chrono::seconds(30));
  }
}

void TriggerRelay::request(std::string path, std::string site, Callback callback) {
  auto shared = std::make_shared<Callback>(std::move(callback));
  const bool queued = thread_.post([this, path = std::move(path), site = std::move(site), shared] {
    (*shared)(trigger_->request_round(path, site));
  });
  if (!queued) (*shared)(fail(ErrorKind::busy, "too many round requests are waiting; try again"));
}

void trigger_round(const Request& req, const QueryParams& params, const Context& ctx,
                   Responder done) {
  const auto version = req.version();
  const auto& token = ctx.options.trigger_token;
  if (token.empty() || !ctx.trigger) {
    return done(error_reply(bhttp::status::forbidden, "forbidden",
                            "the trigger is disabled: api-server has no --trigger-token", version));
  }
  const auto authorization = req[bhttp::field::authorization];
  if (authorization.empty())
    return done(
        unauthorized("a trigger token is required (Authorization: Bearer)", false, version));
  if (!bearer_matches(authorization, token))
    return done(unauthorized("wrong trigger token", true, version));
  std::string path, site;
  bool seen_path = false, seen_site = false;
  for (const auto& [name, value] : params) {
    if (name != "path" && name != "site") {
      return done(error_reply(
          bhttp::status::bad_request, "bad_request",
          "unknown parameter " + name.substr(0, 100) + "; only path and site are known", version));
    }
    if (std::exchange(name == "path" ? seen_path : seen_site, true)) {
      return done(error_reply(bhttp::status::bad_request, "bad_request",
                              name + " is given more than once", version));
    }
    (name == "path" ? path : site) = value;
  }
  if (seen_site && !valid_site_name(site)) {
    return done(error_reply(bhttp::status::bad_request, "bad_request",
                            "site must be " + std::string(site_name_rule), version));
  }
  if (path.size() > max_path_bytes || !printable_utf8(path)) {
    return done(error_reply(
        bhttp::status::bad_request, "bad_request",
        "path must be printable UTF-8 of at most " + std::to_string(max_path_bytes) + " bytes",
        version));
  }
  std::string named = path.empty() ? std::string("no path") : "path " + path;
  if (!site.empty()) named += ", site " + site;
  ctx.trigger->request(
      path, site, [&ctx, done = std::move(done), path, named, version](Result<void> sent) {
        if (!sent) {
          const bool busy = sent.error().kind == ErrorKind::busy;
          if (ctx.log)
            ctx.log(LogLevel::warn, "trigger", "round request failed: " + sent.error().message);
          return done(error_reply(bhttp::status::service_unavailable,
                                  busy ? "busy" : "database_unavailable", sent.error().message,
                                  version));
        }
        if (ctx.log) {
          ctx.log(LogLevel::info, "trigger", "round requested (" + named + ")");
        }
        done(json_reply(bhttp::status::accepted, accepted_body(path), version));
      });
}

} // namespace camreg::http::detail

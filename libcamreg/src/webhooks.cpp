#include "camreg/webhooks.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <random>

#include "camreg/event.hpp"

namespace camreg {

namespace {

using namespace std::chrono_literals;

// The longest delay a Retry-After may ask for: a day, so a silly value cannot park a
// delivery for ever.
constexpr Duration max_retry_after = std::chrono::hours(24);

bool parse_int(std::string_view text, int& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110's IMF-fixdate).
std::optional<TimePoint> parse_http_date(std::string_view text) {
  constexpr std::array<std::string_view, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto comma = text.find(", ");
  if (comma == std::string_view::npos) return std::nullopt;
  const auto rest = text.substr(comma + 2); // "06 Nov 1994 08:49:37 GMT"
  if (rest.size() != 24 || rest[2] != ' ' || rest[6] != ' ' || rest[11] != ' ' || rest[14] != ':' ||
      rest[17] != ':' || rest.substr(20) != " GMT")
    return std::nullopt;
  int day = 0, year = 0, hour = 0, minute = 0, second = 0;
  if (!parse_int(rest.substr(0, 2), day) || !parse_int(rest.substr(7, 4), year) ||
      !parse_int(rest.substr(12, 2), hour) || !parse_int(rest.substr(15, 2), minute) ||
      !parse_int(rest.substr(18, 2), second))
    return std::nullopt;
  const auto month = std::find(months.begin(), months.end(), rest.substr(3, 3));
  if (month == months.end() || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  const std::chrono::year_month_day date{
      std::chrono::year(year),
      std::chrono::month(static_cast<unsigned>(month - months.begin() + 1)),
      std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok()) return std::nullopt;
  return TimePoint(std::chrono::sys_days(date)) + std::chrono::hours(hour) +
         std::chrono::minutes(minute) + std::chrono::seconds(second);
}

} // namespace

std::vector<Duration> default_webhook_schedule() {
  return {0s, 5s, 5min, 30min, 2h, 5h, 10h, 10h};
}

std::optional<Duration> parse_retry_after(std::string_view text, TimePoint now) {
  while (!text.empty() && text.front() == ' ')
    text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ')
    text.remove_suffix(1);
  if (text.empty()) return std::nullopt;
  if (text.find_first_not_of("0123456789") == std::string_view::npos) {
    if (text.size() > 9) return max_retry_after;
    int seconds = 0;
    if (!parse_int(text, seconds)) return std::nullopt;
    return std::min<Duration>(std::chrono::seconds(seconds), max_retry_after);
  }
  const auto at = parse_http_date(text);
  if (!at) return std::nullopt;
  return std::clamp<Duration>(*at - now, Duration(0), max_retry_after);
}

AttemptResult plan_attempt_result(const ClaimedDelivery& claimed,
                                  const Result<WebhookAnswer>& answer,
                                  const std::vector<Duration>& schedule, double jitter,
                                  TimePoint now) {
  AttemptResult result;
  std::optional<Duration> asked; // the receiver's Retry-After
  if (!answer) {
    result.error = answer.error().message;
  } else {
    const int status = answer->status;
    result.status = status;
    if (status >= 200 && status < 300) {
      result.kind = AttemptResult::Kind::delivered;
      return result;
    }
    result.error = "HTTP " + std::to_string(status);
    if (!answer->body_excerpt.empty()) result.error += ": " + answer->body_excerpt;
    if (status == 410) {
      result.kind = AttemptResult::Kind::endpoint_gone;
      return result;
    }
    if (status == 429 || status == 503) asked = parse_retry_after(answer->retry_after, now);
  }
  const auto next = static_cast<std::size_t>(std::max(claimed.attempt, 1));
  if (next >= schedule.size()) {
    result.kind = AttemptResult::Kind::failed;
    return result;
  }
  result.kind = AttemptResult::Kind::retry;
  if (asked) {
    result.retry_in = *asked;
  } else {
    const double scaled =
        static_cast<double>(schedule[next].count()) * std::clamp(jitter, 0.8, 1.2);
    result.retry_in = Duration(static_cast<Duration::rep>(scaled));
  }
  return result;
}

Result<void> validate_event_types(const std::vector<std::string>& types) {
  for (const auto& type : types) {
    if (!parse_event_type(type)) {
      return fail(ErrorKind::invalid_argument,
                  "types: \"" + type.substr(0, 64) +
                      "\" is not an event type (device.added, device.online, device.offline, "
                      "device.removed, device.state, site.unreachable, site.reachable)");
    }
  }
  return {};
}

void WebhookStats::count(AttemptResult::Kind kind) {
  const std::lock_guard lock(mutex_);
  switch (kind) {
  case AttemptResult::Kind::delivered: ++state_.delivered; break;
  case AttemptResult::Kind::retry: ++state_.retried; break;
  case AttemptResult::Kind::failed: ++state_.failed; break;
  case AttemptResult::Kind::endpoint_gone: ++state_.endpoint_gone; break;
  }
}

void WebhookStats::set_backlog(std::size_t pending, std::optional<TimePoint> oldest) {
  const std::lock_guard lock(mutex_);
  state_.pending = pending;
  state_.oldest = oldest;
  state_.known = true;
}

WebhookStats::Snapshot WebhookStats::snapshot() const {
  const std::lock_guard lock(mutex_);
  return state_;
}

WebhookDeliverer::WebhookDeliverer(Options options, std::unique_ptr<WebhookStore> store,
                                   std::unique_ptr<WebhookSender> sender,
                                   std::unique_ptr<ChangeFeed> feed,
                                   std::shared_ptr<WebhookStats> stats, Log log)
    : options_(std::move(options)),
      store_(std::move(store)),
      sender_(std::move(sender)),
      feed_(std::move(feed)),
      stats_(std::move(stats)),
      log_(std::move(log)) {
  if (options_.schedule.empty()) options_.schedule = default_webhook_schedule();
  options_.batch = std::max<std::size_t>(options_.batch, 1);
  thread_ = std::thread([this] { loop(); });
}

WebhookDeliverer::~WebhookDeliverer() {
  stop();
}

void WebhookDeliverer::stop() {
  if (stopping_.exchange(true)) return;
  feed_->wake();
  if (thread_.joinable()) thread_.join();
}

// Claims a batch, sends each of it on a thread of its own, records every result; returns
// how many were claimed.
std::size_t WebhookDeliverer::round() {
  auto claimed = store_->claim(options_.batch, options_.lease);
  if (!claimed) {
    log_(true, "claiming deliveries: " + claimed.error().message);
    return 0;
  }
  auto& batch = *claimed;
  std::vector<std::optional<Result<WebhookAnswer>>> answers(batch.size());
  std::atomic<std::size_t> next{0};
  const auto work = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < batch.size();)
      answers[i].emplace(
          sender_->send(batch[i], std::chrono::steady_clock::now() + options_.timeout));
  };
  std::vector<std::thread> helpers;
  for (std::size_t t = 1; t < batch.size(); ++t)
    helpers.emplace_back(work);
  work();
  for (auto& h : helpers)
    h.join();
  thread_local std::mt19937 random{std::random_device{}()};
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  const auto now = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const auto result =
        plan_attempt_result(batch[i], *answers[i], options_.schedule, jitter(random), now);
    if (result.kind != AttemptResult::Kind::delivered) {
      log_(result.kind != AttemptResult::Kind::retry,
           "event " + std::to_string(batch[i].event_id) + " to endpoint " +
               std::to_string(batch[i].endpoint_id) + ", attempt " +
               std::to_string(batch[i].attempt) + ": " + result.error);
    }
    if (auto recorded = store_->record(batch[i], result); !recorded) {
      log_(true, "recording a delivery: " + recorded.error().message);
      continue;
    }
    if (stats_) stats_->count(result.kind);
  }
  return batch.size();
}

void WebhookDeliverer::loop() {
  auto polled = std::chrono::steady_clock::time_point::min();
  while (!stopping_) {
    const auto claimed = round();
    if (stopping_) return;
    // More may be due at once: claim again, reading the backlog (for the metrics) only
    // every poll interval meanwhile.
    const auto now_steady = std::chrono::steady_clock::now();
    if (claimed == options_.batch && now_steady - polled < options_.poll_interval) continue;
    polled = now_steady;
    if (claimed == options_.batch) {
      if (auto backlog = store_->backlog(); backlog && stats_)
        stats_->set_backlog(backlog->pending, backlog->oldest);
      continue;
    }
    Duration wait = options_.poll_interval;
    if (auto backlog = store_->backlog()) {
      if (stats_) stats_->set_backlog(backlog->pending, backlog->oldest);
      if (backlog->next_due) {
        const auto now = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
        wait = std::clamp<Duration>(*backlog->next_due - now, Duration(0), wait);
      }
    } else {
      wait = options_.error_backoff;
    }
    // The database's clock may run a little ahead of ours: never spin on it.
    wait = std::max<Duration>(wait, std::chrono::milliseconds(10));
    if (auto woke = feed_->wait(wait); !woke) {
      // The feed is down: poll on the backoff until it is back.
      std::this_thread::sleep_for(std::min(options_.error_backoff, options_.poll_interval));
    }
  }
}

} // namespace camreg

#include <catch2/catch.hpp>

#include "camreg/webhooks.hpp"
#include "camreg/webhooks/sender.hpp"

using namespace camreg;
using namespace std::chrono_literals;

namespace {

TimePoint at(std::int64_t seconds) {
  return TimePoint(std::chrono::seconds(seconds));
}

ClaimedDelivery attempt(int n) {
  ClaimedDelivery c;
  c.attempt = n;
  return c;
}

Result<WebhookAnswer> answered(int status, std::string retry_after = {}) {
  WebhookAnswer a;
  a.status = status;
  a.retry_after = std::move(retry_after);
  return a;
}

} // namespace

TEST_CASE("signatures reproduce the Standard Webhooks test vector", "[webhooks]") {
  // The vector the specification's reference libraries test against.
  const auto signature =
      webhooks::sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                     1614265330, R"({"test": 2432232314})");
  REQUIRE(signature);
  CHECK(*signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  SECTION("the whsec_ prefix is optional") {
    CHECK(webhooks::sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                         1614265330, R"({"test": 2432232314})")
              .value() == *signature);
  }
  SECTION("a different body, id or time gives another signature") {
    CHECK(webhooks::sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                         1614265331, R"({"test": 2432232314})")
              .value() != *signature);
    CHECK(webhooks::sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_1", 1614265330,
                         R"({"test": 2432232314})")
              .value() != *signature);
  }
}

TEST_CASE("a secret that is not base64 is refused, not used", "[webhooks]") {
  CHECK_FALSE(webhooks::sign("whsec_not base64!", "msg_1", 1, "{}"));
  CHECK_FALSE(webhooks::sign("whsec_", "msg_1", 1, "{}"));
}

TEST_CASE("new secrets are whsec_ and 32 random bytes, never twice the same", "[webhooks]") {
  const auto a = webhooks::new_secret();
  const auto b = webhooks::new_secret();
  CHECK(a.starts_with("whsec_"));
  CHECK(a.size() == 6 + 44); // base64 of 32 bytes
  CHECK(a != b);
  CHECK(webhooks::sign(a, "msg_1", 1, "{}"));
}

TEST_CASE("the webhook id is the event's, the same on every attempt", "[webhooks]") {
  CHECK(webhooks::message_id(42) == "msg_42");
}

TEST_CASE("the default schedule is Standard Webhooks' eight attempts", "[webhooks]") {
  CHECK(default_webhook_schedule() == std::vector<Duration>{0s, 5s, 5min, 30min, 2h, 5h, 10h, 10h});
}

TEST_CASE("Retry-After is read as seconds or as an HTTP date", "[webhooks]") {
  const auto now = at(784111777); // Sun, 06 Nov 1994 08:49:37 GMT
  CHECK(parse_retry_after("3", now) == Duration(3s));
  CHECK(parse_retry_after(" 120 ", now) == Duration(120s));
  CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now) == Duration(10s));
  CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:27 GMT", now) == Duration(0s)); // past
  CHECK(parse_retry_after("99999999999", now) == Duration(24h));                  // capped
  CHECK_FALSE(parse_retry_after("", now));
  CHECK_FALSE(parse_retry_after("soon", now));
  CHECK_FALSE(parse_retry_after("-3", now));
  CHECK_FALSE(parse_retry_after("Sun, 06 Xyz 1994 08:49:47 GMT", now));
}

TEST_CASE("after an attempt: delivered, retried on the schedule, or failed at its end",
          "[webhooks]") {
  const auto schedule = default_webhook_schedule();
  const auto now = at(1000);
  SECTION("any 2xx is delivered") {
    for (int status : {200, 201, 204, 299})
      CHECK(plan_attempt_result(attempt(1), answered(status), schedule, 1.0, now).kind ==
            AttemptResult::Kind::delivered);
  }
  SECTION("the next delay is the schedule's, scaled by the jitter") {
    auto r = plan_attempt_result(attempt(1), answered(500), schedule, 1.0, now);
    CHECK(r.kind == AttemptResult::Kind::retry);
    CHECK(r.retry_in == Duration(5s));
    CHECK(r.status == 500);
    CHECK(plan_attempt_result(attempt(2), answered(500), schedule, 1.2, now).retry_in ==
          Duration(6min));
    CHECK(plan_attempt_result(attempt(3), answered(500), schedule, 0.5, now).retry_in ==
          Duration(24min)); // jitter clamped to 0.8
  }
  SECTION("no answer is retried too, with why") {
    Result<WebhookAnswer> refused = fail(ErrorKind::unavailable, "connecting: refused");
    const auto r = plan_attempt_result(attempt(1), refused, schedule, 1.0, now);
    CHECK(r.kind == AttemptResult::Kind::retry);
    CHECK_FALSE(r.status);
    CHECK(r.error == "connecting: refused");
  }
  SECTION("the eighth attempt failing fails the delivery") {
    CHECK(plan_attempt_result(attempt(7), answered(500), schedule, 1.0, now).kind ==
          AttemptResult::Kind::retry);
    CHECK(plan_attempt_result(attempt(8), answered(500), schedule, 1.0, now).kind ==
          AttemptResult::Kind::failed);
  }
  SECTION("429 and 503 wait for Retry-After; other statuses ignore it") {
    CHECK(plan_attempt_result(attempt(1), answered(429, "3"), schedule, 1.0, now).retry_in ==
          Duration(3s));
    CHECK(plan_attempt_result(attempt(1), answered(503, "600"), schedule, 1.0, now).retry_in ==
          Duration(600s));
    CHECK(plan_attempt_result(attempt(1), answered(500, "600"), schedule, 1.0, now).retry_in ==
          Duration(5s));
  }
  SECTION("410 means the endpoint is gone") {
    CHECK(plan_attempt_result(attempt(1), answered(410), schedule, 1.0, now).kind ==
          AttemptResult::Kind::endpoint_gone);
  }
}

TEST_CASE("endpoint types must be event types", "[webhooks]") {
  CHECK(validate_event_types({}));
  CHECK(validate_event_types({"device.offline", "device.online", "site.unreachable"}));
  const auto bad = validate_event_types({"device.offline", "device.exploded"});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().kind == ErrorKind::invalid_argument);
  CHECK(bad.error().message.find("device.exploded") != std::string::npos);
}

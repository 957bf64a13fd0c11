#include <soci/soci.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "camreg/webhooks.hpp"
#include "connection.hpp"

namespace camreg::postgres {

namespace {

// Times cross as microseconds since the epoch (bigint): exact, whatever the session's
// DateStyle or TimeZone.
#define CAMREG_US(expr) "CAST(extract(epoch FROM " expr ") * 1000000 AS bigint)"

constexpr const char* create_sql =
    "INSERT INTO webhook_endpoints (url, types, secret)"
    " VALUES ($1, CAST($2 AS text[]), $3)"
    " RETURNING id, " CAMREG_US("created_at");

constexpr const char* list_sql =
    "SELECT id, url, array_to_string(types, ','), CAST(enabled AS integer),"
    " coalesce(disabled_reason, ''), " CAMREG_US(
        "created_at") " FROM webhook_endpoints ORDER BY id";

constexpr const char* exists_sql = "SELECT 1 FROM webhook_endpoints WHERE id = $1";

constexpr const char* deliveries_sql =
    "SELECT d.event_id, e.type, d.status, d.attempts, " CAMREG_US("d.next_attempt_at") ", " CAMREG_US(
        "d.last_attempt_at") ", d.last_status, coalesce(d.last_error, ''), " CAMREG_US("d.delivered_at")
    " FROM webhook_deliveries d JOIN events e ON e.id = d.event_id"
    " WHERE d.endpoint_id = $1 ORDER BY d.event_id DESC LIMIT $2";

// Every event after $2 the endpoint wants, pending again from its first attempt; one
// pending already keeps its place and its attempts.
constexpr const char* replay_sql = R"SQL(
INSERT INTO webhook_deliveries (endpoint_id, event_id, ordering_key)
SELECT w.id, e.id, coalesce(e.device_type || '/' || e.device_key, '')
FROM webhook_endpoints w JOIN events e
  ON e.id > $2 AND (cardinality(w.types) = 0 OR e.type = ANY (w.types))
WHERE w.id = $1
ORDER BY e.id
ON CONFLICT (endpoint_id, event_id) DO UPDATE
SET status = 'pending', attempts = 0, next_attempt_at = now(), lease_until = NULL,
    delivered_at = NULL
WHERE webhook_deliveries.status <> 'pending'
)SQL";

// Leases the due head of each (endpoint, ordering key): a delivery is never claimed
// while an earlier one of its key is pending (waiting, leased or being retried). Rows
// another deliverer is claiming right now are skipped, not waited for.
constexpr const char* claim_sql = R"SQL(
UPDATE webhook_deliveries d
SET lease_until = now() + CAST($2 AS bigint) * interval '1 microsecond', attempts = d.attempts + 1,
    last_attempt_at = now()
FROM webhook_endpoints w, events e
WHERE (d.endpoint_id, d.event_id) IN (
    SELECT c.endpoint_id, c.event_id
    FROM webhook_deliveries c JOIN webhook_endpoints cw ON cw.id = c.endpoint_id AND cw.enabled
    WHERE c.status = 'pending' AND c.next_attempt_at <= now()
      AND (c.lease_until IS NULL OR c.lease_until <= now())
      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p
                      WHERE p.endpoint_id = c.endpoint_id AND p.ordering_key = c.ordering_key
                        AND p.status = 'pending' AND p.event_id < c.event_id)
    ORDER BY c.event_id
    LIMIT $1
    FOR UPDATE OF c SKIP LOCKED)
  AND w.id = d.endpoint_id AND e.id = d.event_id
RETURNING d.endpoint_id, d.event_id, w.url, w.secret, CAST(e.payload AS text), d.attempts,
          CAST(extract(epoch FROM d.lease_until) * 1000000 AS bigint)
)SQL";

// $1 endpoint, $2 event, $3 the lease (µs), $4 status or NULL, $5 the error, $6 the
// retry's delay (µs); the row is changed only while the lease is still ours.
constexpr const char* delivered_sql = R"SQL(
UPDATE webhook_deliveries
SET status = 'delivered', delivered_at = now(), lease_until = NULL, last_status = $4,
    last_error = NULL
WHERE endpoint_id = $1 AND event_id = $2 AND status = 'pending'
  AND CAST(extract(epoch FROM lease_until) * 1000000 AS bigint) = CAST($3 AS bigint)
)SQL";
constexpr const char* retry_sql = R"SQL(
UPDATE webhook_deliveries
SET next_attempt_at = now() + CAST($6 AS bigint) * interval '1 microsecond', lease_until = NULL,
    last_status = $4, last_error = $5
WHERE endpoint_id = $1 AND event_id = $2 AND status = 'pending'
  AND CAST(extract(epoch FROM lease_until) * 1000000 AS bigint) = CAST($3 AS bigint)
)SQL";
constexpr const char* failed_sql = R"SQL(
UPDATE webhook_deliveries
SET status = 'failed', lease_until = NULL, last_status = $4, last_error = $5
WHERE endpoint_id = $1 AND event_id = $2 AND status = 'pending'
  AND CAST(extract(epoch FROM lease_until) * 1000000 AS bigint) = CAST($3 AS bigint)
)SQL";
constexpr const char* disable_sql =
    "UPDATE webhook_endpoints SET enabled = false,"
    " disabled_reason = 'the receiver answered 410 Gone at ' || CAST(now() AS text)"
    " WHERE id = $1";

// Pending deliveries of enabled endpoints, when the oldest one's event occurred, and when
// the earliest head of a key becomes claimable.
constexpr const char* backlog_sql = R"SQL(
WITH pending AS (
  SELECT d.endpoint_id, d.event_id, d.ordering_key, d.next_attempt_at, d.lease_until
  FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id AND w.enabled
  WHERE d.status = 'pending'
), heads AS (
  SELECT DISTINCT ON (endpoint_id, ordering_key) next_attempt_at, lease_until
  FROM pending ORDER BY endpoint_id, ordering_key, event_id
)
SELECT (SELECT count(*) FROM pending),
       (SELECT CAST(extract(epoch FROM min(e.occurred_at)) * 1000000 AS bigint)
        FROM events e WHERE e.id = (SELECT min(event_id) FROM pending)),
       (SELECT CAST(extract(epoch FROM min(greatest(next_attempt_at,
                                                   coalesce(lease_until, next_attempt_at))))
                    * 1000000 AS bigint) FROM heads)
)SQL";

TimePoint time_of(const char* us) {
  return TimePoint(Duration(std::atoll(us)));
}

// One statement's result, cleared when it goes.
struct Rows {
  PGresult* res = nullptr;
  ~Rows() { PQclear(res); }
  int size() const { return PQntuples(res); }
  bool null(int row, int col) const { return PQgetisnull(res, row, col) != 0; }
  const char* get(int row, int col) const { return PQgetvalue(res, row, col); }
  long long number(int row, int col) const { return std::atoll(get(row, col)); }
  long long changed() const { return std::atoll(PQcmdTuples(res)); }
};

// Runs sql with text parameters (nullptr: NULL); throws with the server's message.
std::unique_ptr<Rows> run_sql(PGconn* conn, const char* sql,
                              std::initializer_list<const char*> params) {
  std::vector<const char*> values(params);
  auto rows = std::make_unique<Rows>();
  rows->res = PQexecParams(conn, sql, static_cast<int>(values.size()), nullptr, values.data(),
                           nullptr, nullptr, 0);
  const auto status = PQresultStatus(rows->res);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
    throw std::runtime_error(PQresultErrorMessage(rows->res));
  return rows;
}

std::vector<std::string> split_types(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    out.emplace_back(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
  }
  return out;
}

class PostgresWebhookStore final : public WebhookStore {
 public:
  explicit PostgresWebhookStore(Options options) : connection_(std::move(options)) {}

  Result<WebhookEndpoint> create_endpoint(const std::string& url,
                                          const std::vector<std::string>& types,
                                          const std::string& secret) override {
    return connection_.run<WebhookEndpoint>(
        "creating a webhook endpoint", [&](soci::session&) -> Result<WebhookEndpoint> {
          // Types are event names (validated): no quoting needed in the array literal.
          std::string array = "{";
          for (const auto& t : types)
            array += (array.size() > 1 ? "," : "") + t;
          array += "}";
          const auto rows = run_sql(connection_.native(), create_sql,
                                    {url.c_str(), array.c_str(), secret.c_str()});
          WebhookEndpoint endpoint;
          endpoint.id = rows->number(0, 0);
          endpoint.url = url;
          endpoint.types = types;
          endpoint.created_at = time_of(rows->get(0, 1));
          return endpoint;
        });
  }

  Result<std::vector<WebhookEndpoint>> list_endpoints() override {
    return connection_.run<std::vector<WebhookEndpoint>>(
        "listing webhook endpoints", [&](soci::session&) -> Result<std::vector<WebhookEndpoint>> {
          const auto rows = run_sql(connection_.native(), list_sql, {});
          std::vector<WebhookEndpoint> out(static_cast<std::size_t>(rows->size()));
          for (int r = 0; r < rows->size(); ++r) {
            auto& e = out[static_cast<std::size_t>(r)];
            e.id = rows->number(r, 0);
            e.url = rows->get(r, 1);
            e.types = split_types(rows->get(r, 2));
            e.enabled = rows->number(r, 3) != 0;
            e.disabled_reason = rows->get(r, 4);
            e.created_at = time_of(rows->get(r, 5));
          }
          return out;
        });
  }

  Result<void> delete_endpoint(std::int64_t id) override {
    return connection_.run<void>(
        "deleting a webhook endpoint", [&](soci::session&) -> Result<void> {
          const auto key = std::to_string(id);
          const auto rows = run_sql(connection_.native(),
                                    "DELETE FROM webhook_endpoints WHERE id = $1", {key.c_str()});
          if (rows->changed() == 0) return not_found(id);
          return {};
        });
  }

  Result<std::vector<WebhookDelivery>> deliveries(std::int64_t id, std::size_t limit) override {
    return connection_.run<std::vector<WebhookDelivery>>(
        "reading webhook deliveries", [&](soci::session&) -> Result<std::vector<WebhookDelivery>> {
          const auto key = std::to_string(id);
          const auto n = std::to_string(limit);
          if (run_sql(connection_.native(), exists_sql, {key.c_str()})->size() == 0)
            return not_found(id);
          const auto rows = run_sql(connection_.native(), deliveries_sql, {key.c_str(), n.c_str()});
          std::vector<WebhookDelivery> out(static_cast<std::size_t>(rows->size()));
          for (int r = 0; r < rows->size(); ++r) {
            auto& d = out[static_cast<std::size_t>(r)];
            d.event_id = rows->number(r, 0);
            d.event_type = rows->get(r, 1);
            d.status = rows->get(r, 2);
            d.attempts = static_cast<int>(rows->number(r, 3));
            d.next_attempt_at = time_of(rows->get(r, 4));
            if (!rows->null(r, 5)) d.last_attempt_at = time_of(rows->get(r, 5));
            if (!rows->null(r, 6)) d.last_status = static_cast<int>(rows->number(r, 6));
            d.last_error = rows->get(r, 7);
            if (!rows->null(r, 8)) d.delivered_at = time_of(rows->get(r, 8));
          }
          return out;
        });
  }

  Result<std::size_t> replay(std::int64_t id, std::int64_t after) override {
    return connection_.run<std::size_t>(
        "replaying webhook deliveries", [&](soci::session&) -> Result<std::size_t> {
          const auto key = std::to_string(id);
          const auto from = std::to_string(after);
          if (run_sql(connection_.native(), exists_sql, {key.c_str()})->size() == 0)
            return not_found(id);
          const auto rows = run_sql(connection_.native(), replay_sql, {key.c_str(), from.c_str()});
          return static_cast<std::size_t>(rows->changed());
        });
  }

  Result<std::vector<ClaimedDelivery>> claim(std::size_t limit, Duration lease) override {
    return connection_.run<std::vector<ClaimedDelivery>>(
        "claiming webhook deliveries",
        [&](soci::session& sql) -> Result<std::vector<ClaimedDelivery>> {
          const auto n = std::to_string(limit);
          const auto us = std::to_string(lease.count());
          soci::transaction tx(sql);
          // A claim or result lost to a server crash only means the delivery is sent
          // again, same webhook-id (at least once): no need to wait for the WAL flush.
          sql << "SET LOCAL synchronous_commit = off";
          const auto rows = run_sql(connection_.native(), claim_sql, {n.c_str(), us.c_str()});
          std::vector<ClaimedDelivery> out(static_cast<std::size_t>(rows->size()));
          for (int r = 0; r < rows->size(); ++r) {
            auto& c = out[static_cast<std::size_t>(r)];
            c.endpoint_id = rows->number(r, 0);
            c.event_id = rows->number(r, 1);
            c.url = rows->get(r, 2);
            c.secret = rows->get(r, 3);
            c.payload = rows->get(r, 4);
            c.attempt = static_cast<int>(rows->number(r, 5));
            c.lease = rows->get(r, 6);
          }
          tx.commit();
          std::sort(out.begin(), out.end(),
                    [](const auto& a, const auto& b) { return a.event_id < b.event_id; });
          return out;
        });
  }

  Result<void> record(const ClaimedDelivery& claimed, const AttemptResult& result) override {
    return connection_.run<
        void>("recording a webhook attempt", [&](soci::session& sql) -> Result<void> {
      soci::transaction tx(sql);
      sql << "SET LOCAL synchronous_commit = off"; // as in claim
      const auto endpoint = std::to_string(claimed.endpoint_id);
      const auto event = std::to_string(claimed.event_id);
      const auto status = result.status ? std::to_string(*result.status) : std::string();
      const auto delay = std::to_string(result.retry_in.count());
      const char* status_param = result.status ? status.c_str() : nullptr;
      auto* conn = connection_.native();
      const auto lease = claimed.lease.c_str();
      std::unique_ptr<Rows> rows;
      // Each statement gets exactly the parameters it uses.
      switch (result.kind) {
      case AttemptResult::Kind::delivered:
        rows = run_sql(conn, delivered_sql, {endpoint.c_str(), event.c_str(), lease, status_param});
        break;
      case AttemptResult::Kind::retry:
        rows = run_sql(conn, retry_sql,
                       {endpoint.c_str(), event.c_str(), lease, status_param, result.error.c_str(),
                        delay.c_str()});
        break;
      case AttemptResult::Kind::failed:
      case AttemptResult::Kind::endpoint_gone:
        rows =
            run_sql(conn, failed_sql,
                    {endpoint.c_str(), event.c_str(), lease, status_param, result.error.c_str()});
        break;
      }
      if (result.kind == AttemptResult::Kind::endpoint_gone && rows->changed() > 0)
        run_sql(connection_.native(), disable_sql, {endpoint.c_str()});
      tx.commit();
      return {};
    });
  }

  Result<Backlog> backlog() override {
    return connection_.run<Backlog>(
        "reading the webhook backlog", [&](soci::session&) -> Result<Backlog> {
          const auto rows = run_sql(connection_.native(), backlog_sql, {});
          Backlog b;
          b.pending = static_cast<std::size_t>(rows->number(0, 0));
          if (!rows->null(0, 1)) b.oldest = time_of(rows->get(0, 1));
          if (!rows->null(0, 2)) b.next_due = time_of(rows->get(0, 2));
          return b;
        });
  }

 private:
  static Error not_found(std::int64_t id) {
    return fail(ErrorKind::not_found, "no webhook endpoint with id " + std::to_string(id));
  }

  detail::Connection connection_;
};

} // namespace

std::unique_ptr<WebhookStore> make_webhook_store(Options options) {
  return std::make_unique<PostgresWebhookStore>(std::move(options));
}

} // namespace camreg::postgres

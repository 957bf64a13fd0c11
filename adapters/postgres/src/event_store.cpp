#include "camreg/event_store.hpp"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include "camreg/postgres/postgres.hpp"
#include "connection.hpp"

namespace camreg::postgres {

namespace {

// The site and device type filters are plain equality; a site event (no device type)
// passes a device type filter (EventFilter).
constexpr const char* read_sql = R"SQL(
SELECT id, type, site, coalesce(device_type, ''), coalesce(device_key, ''),
       CAST(extract(epoch FROM occurred_at) * 1000000 AS bigint), payload
FROM events
WHERE id > CAST($1 AS bigint)
  AND ($2 = '' OR id <= CAST($2 AS bigint))
  AND (cardinality(CAST($3 AS text[])) = 0 OR type = ANY (CAST($3 AS text[])))
  AND ($4 = '' OR device_type IS NULL OR device_type = $4)
  AND ($5 = '' OR site = $5)
ORDER BY id
LIMIT CAST($6 AS bigint)
)SQL";

constexpr const char* last_id_sql = "SELECT coalesce(max(id), 0) FROM events";

std::string text_of(PGresult* res, int row, int column) {
  return {PQgetvalue(res, row, column), static_cast<std::size_t>(PQgetlength(res, row, column))};
}

// Runs a query that returns rows; throws with the server's message otherwise.
PGresult* query(PGconn* conn, const char* sql, int n, const char* const* params) {
  PGresult* res = PQexecParams(conn, sql, n, nullptr, params, nullptr, nullptr, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    std::string error = PQresultErrorMessage(res);
    PQclear(res);
    throw std::runtime_error(error);
  }
  return res;
}

class PostgresEventStore final : public EventStore {
 public:
  explicit PostgresEventStore(Options options) : connection_(std::move(options)) {}

  Result<std::vector<Event>> read_events(const EventQuery& q) override {
    return connection_.run<std::vector<Event>>(
        "reading events", [&](soci::session&) -> Result<std::vector<Event>> {
          const auto after = std::to_string(q.after);
          const auto up_to = q.up_to ? std::to_string(*q.up_to) : std::string();
          std::string types = "{";
          for (const auto type : q.filter.types) {
            if (types.size() > 1) types += ',';
            types += to_string(type); // [a-z.] only: no quoting needed
          }
          types += '}';
          const auto limit = std::to_string(std::max<std::size_t>(q.limit, 1));
          const char* params[] = {after.c_str(),         up_to.c_str(),
                                  types.c_str(),         q.filter.device_type.c_str(),
                                  q.filter.site.c_str(), limit.c_str()};
          PGresult* res = query(connection_.native(), read_sql, 6, params);
          std::vector<Event> out;
          out.reserve(static_cast<std::size_t>(PQntuples(res)));
          for (int r = 0; r < PQntuples(res); ++r) {
            // A type a newer camreg writes and this one does not know is left out.
            const auto type = parse_event_type(text_of(res, r, 1));
            if (!type) continue;
            Event e;
            e.id = std::atoll(PQgetvalue(res, r, 0));
            e.type = *type;
            e.site = text_of(res, r, 2);
            e.device_type = text_of(res, r, 3);
            e.device_key = text_of(res, r, 4);
            e.at = TimePoint(Duration(std::atoll(PQgetvalue(res, r, 5))));
            e.payload = text_of(res, r, 6);
            out.push_back(std::move(e));
          }
          PQclear(res);
          return out;
        });
  }

  Result<std::int64_t> last_event_id() override {
    return connection_.run<std::int64_t>(
        "reading events", [&](soci::session&) -> Result<std::int64_t> {
          PGresult* res = query(connection_.native(), last_id_sql, 0, nullptr);
          const auto id = std::atoll(PQgetvalue(res, 0, 0));
          PQclear(res);
          return static_cast<std::int64_t>(id);
        });
  }

 private:
  detail::Connection connection_;
};

} // namespace

std::unique_ptr<EventStore> make_event_store(Options options) {
  return std::make_unique<PostgresEventStore>(std::move(options));
}

} // namespace camreg::postgres

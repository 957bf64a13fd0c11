#include <soci/soci.h>

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <unordered_map>

#include "camreg/metadata.hpp"
#include "connection.hpp"

namespace camreg::postgres {

namespace {

// The stored presence of every device of a type in a site: what the core plans a round
// from. state is a column of its own so this never detoasts metadata. Read in binary
// (see load_presence): no timestamp arithmetic or number text for 100,000 rows.
constexpr const char* load_sql = R"SQL(
SELECT device_key, state, is_active, last_seen, metadata_hash, state_since, missed_listings,
       presence, name, online_announced, bytes_received, bytes_sent, frames_in_error
FROM devices WHERE device_type = $1 AND site = $2
)SQL";

// The store's clock (read once the round's input is in: the start of this statement, not
// of the transaction, which began before the listing was awaited) and when the site's
// latest recorded round finished.
constexpr const char* clock_sql = R"SQL(
SELECT CAST(extract(epoch FROM statement_timestamp()) * 1000000 AS bigint),
       (SELECT CAST(extract(epoch FROM max(finished_at)) * 1000000 AS bigint) FROM sync_runs
        WHERE site = $1)
)SQL";

// One round of a site at a time; sites sync in parallel. The default site keeps the
// lock of the releases before sites, so an old and a new worker never overlap.
constexpr const char* round_lock_sql =
    "SELECT CAST(pg_try_advisory_xact_lock(hashtext(current_schema() || CAST(:lock AS text)))"
    " AS integer)";
std::string round_lock_name(const std::string& site) {
  return site == "default" ? ".camreg.sync" : ".camreg.sync." + site;
}

// A round's writes, exactly as the core decided them, go up by COPY (libpq; SOCI has
// no COPY) into a session-local table: one stream for any number of cameras, and a
// real table (not a CTE over a parameter) so the planner knows its size and
// hash-joins it against devices.
constexpr const char* stage_sql = R"SQL(
CREATE TEMP TABLE IF NOT EXISTS camreg_round_writes (
  device_key text COLLATE "C" NOT NULL,
  ins boolean NOT NULL,
  meta "char" NOT NULL,
  metadata text NULL,
  metadata_hash bigint NULL,
  state text NOT NULL,
  last_seen bigint NULL,
  is_active boolean NOT NULL,
  touch boolean NOT NULL,
  state_since bigint NULL,
  missed_listings integer NOT NULL,
  presence text NULL,
  online_announced boolean NOT NULL,
  bytes_received bigint NULL,
  bytes_sent bigint NULL,
  frames_in_error bigint NULL
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS camreg_round_ledger (
  seq integer NOT NULL,
  device_key text COLLATE "C" NOT NULL,
  presence text NOT NULL,
  from_us bigint NOT NULL
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS camreg_round_events (
  seq integer NOT NULL,
  type text NOT NULL,
  site text NOT NULL,
  device_type text NULL,
  device_key text NULL,
  at_us bigint NOT NULL,
  payload text NOT NULL
) ON COMMIT DELETE ROWS
)SQL";

constexpr const char* copy_sql =
    "COPY camreg_round_writes (device_key, ins, meta, metadata, metadata_hash, state, last_seen,"
    " is_active, touch, state_since, missed_listings, presence, online_announced,"
    " bytes_received, bytes_sent, frames_in_error) FROM STDIN";

constexpr const char* copy_events_sql =
    "COPY camreg_round_events (seq, type, site, device_type, device_key, at_us, payload)"
    " FROM STDIN";

// Events get their ids in commit order: every writer holds this lock from before it
// takes an id until it commits, so a reader that sees id N sees every id below it.
// Each event gets a pending delivery to every enabled endpoint that wants its type.
constexpr const char* events_lock_sql =
    "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.camreg.events'))";
constexpr const char* insert_events_sql = R"SQL(
WITH ins AS (
  INSERT INTO events (type, site, device_type, device_key, occurred_at, payload)
  SELECT type, site, device_type, device_key,
         timestamptz 'epoch' + at_us * interval '1 microsecond', CAST(payload AS json)
  FROM camreg_round_events ORDER BY seq
  RETURNING id, type, device_type, device_key
), deliveries AS (
  INSERT INTO webhook_deliveries (endpoint_id, event_id, ordering_key)
  SELECT w.id, ins.id, coalesce(ins.device_type || '/' || ins.device_key, '')
  FROM ins JOIN webhook_endpoints w
    ON w.enabled AND (cardinality(w.types) = 0 OR ins.type = ANY (w.types))
)
SELECT id FROM ins ORDER BY id
)SQL";

constexpr const char* read_site_sql = R"SQL(
SELECT CAST(extract(epoch FROM last_success_at) * 1000000 AS bigint), unreachable_announced
FROM sites WHERE name = $1
)SQL";

constexpr const char* write_site_sql = R"SQL(
INSERT INTO sites (name, last_success_at, unreachable_announced)
SELECT CAST(:name AS text),
       timestamptz 'epoch' + NULLIF(CAST(:success AS bigint), -1) * interval '1 microsecond',
       CAST(:announced AS integer) = 1
ON CONFLICT (name) DO UPDATE
SET last_success_at = EXCLUDED.last_success_at,
    unreachable_announced = EXCLUDED.unreachable_announced
)SQL";

constexpr const char* copy_ledger_sql =
    "COPY camreg_round_ledger (seq, device_key, presence, from_us) FROM STDIN";

// The ledger, one step (seq) at a time, in three statements (the sub-statements of one
// would run in no set order, and the exclusion constraint is checked row by row): a
// device's open interval goes if the next would begin at or before its start, else ends
// where the next begins; then the next opens. The round's keys are its site's (a key
// names its site), so no site filter: one steers the planner off the (device_type,
// device_key) index while devices has no statistics yet (a nested loop over 100,000).
#define CAMREG_LEDGER_STEP                                                     \
  "WITH e AS (SELECT d.id, l.presence,"                                        \
  "  timestamptz 'epoch' + l.from_us * interval '1 microsecond' AS at"         \
  "  FROM camreg_round_ledger l JOIN devices d ON d.device_key = l.device_key" \
  "  WHERE d.device_type = CAST(:type AS text) AND l.seq = CAST(:seq AS integer)) "
constexpr const char* ledger_drop_sql = CAMREG_LEDGER_STEP
    "DELETE FROM device_presence x USING e"
    " WHERE x.device_id = e.id AND upper_inf(x.period) AND lower(x.period) >= e.at";
constexpr const char* ledger_close_sql = CAMREG_LEDGER_STEP
    "UPDATE device_presence x SET period = tstzrange(lower(x.period), e.at, '[)')"
    " FROM e WHERE x.device_id = e.id AND upper_inf(x.period)";
constexpr const char* ledger_open_sql = CAMREG_LEDGER_STEP
    "INSERT INTO device_presence (device_id, presence, period)"
    " SELECT e.id, e.presence, tstzrange(e.at, NULL, '[)') FROM e";
#undef CAMREG_LEDGER_STEP

// Storage only: every value comes from the plan. meta: k keep, r replace, x mark
// removed (the stored metadata with state "removed" and ready false). "p" names every
// parameter once, because SOCI binds each :name to one position. One statement per kind
// of metadata write: only the removal reads the stored metadata, so the others never
// carry a device's old metadata through the join (at 100,000 cameras that copy was most
// of a round's write), and a kept row's update leaves its metadata as it is. Keys name
// their site: no site filter, as in the ledger's steps.
#define CAMREG_UPDATE_DEVICES(METADATA, META)                                        \
  "WITH p AS (SELECT CAST(:type AS text) AS type,"                                   \
  "  timestamptz 'epoch' + CAST(:now AS bigint) * interval '1 microsecond' AS now) " \
  "UPDATE devices d SET " METADATA                                                   \
  "  state = i.state,"                                                               \
  "  last_seen = timestamptz 'epoch' + i.last_seen * interval '1 microsecond',"      \
  "  is_active = i.is_active,"                                                       \
  "  updated_at = CASE WHEN i.touch THEN p.now ELSE d.updated_at END,"               \
  "  state_since = timestamptz 'epoch' + i.state_since * interval '1 microsecond',"  \
  "  missed_listings = i.missed_listings,"                                           \
  "  presence = i.presence,"                                                         \
  "  online_announced = i.online_announced,"                                         \
  "  bytes_received = i.bytes_received,"                                             \
  "  bytes_sent = i.bytes_sent,"                                                     \
  "  frames_in_error = i.frames_in_error "                                           \
  "FROM camreg_round_writes i, p "                                                   \
  "WHERE NOT i.ins AND i.meta = '" META                                              \
  "' AND d.device_type = p.type"                                                     \
  "  AND d.device_key = i.device_key"
constexpr const char* update_kept_sql = CAMREG_UPDATE_DEVICES("", "k");
constexpr const char* update_replaced_sql = CAMREG_UPDATE_DEVICES(
    "device_metadata = CAST(i.metadata AS jsonb), metadata_hash = i.metadata_hash,", "r");
constexpr const char* update_removed_sql = CAMREG_UPDATE_DEVICES(
    "device_metadata = d.device_metadata || '{\"state\": \"removed\", \"ready\": false}',"
    " metadata_hash = NULL,",
    "x");
#undef CAMREG_UPDATE_DEVICES

// New devices: name starts as the path name and is never overwritten by a sync.
constexpr const char* insert_sql = R"SQL(
WITH p AS (
  SELECT CAST(:type AS text) AS type, CAST(:site AS text) AS site,
         timestamptz 'epoch' + CAST(:now AS bigint) * interval '1 microsecond' AS now
)
INSERT INTO devices (device_key, device_type, site, name, device_metadata, metadata_hash, state,
                     last_seen, is_active, created_at, updated_at, state_since,
                     missed_listings, presence, online_announced, bytes_received, bytes_sent,
                     frames_in_error)
SELECT i.device_key, p.type, p.site, i.device_key, CAST(i.metadata AS jsonb), i.metadata_hash,
       i.state,
       timestamptz 'epoch' + i.last_seen * interval '1 microsecond', i.is_active, p.now, p.now,
       timestamptz 'epoch' + i.state_since * interval '1 microsecond', i.missed_listings,
       i.presence, i.online_announced, i.bytes_received, i.bytes_sent, i.frames_in_error
FROM camreg_round_writes i, p
WHERE i.ins
)SQL";

constexpr const char* record_run_sql = R"SQL(
INSERT INTO sync_runs (site, started_at, finished_at, ok, error, paths_seen, upserted, expired,
                       source, skipped, skipped_reasons)
SELECT CAST(:site AS text), timestamptz 'epoch' + CAST(:started AS bigint) * interval '1 microsecond',
       timestamptz 'epoch' + CAST(:finished AS bigint) * interval '1 microsecond',
       CAST(:ok AS integer) = 1, NULLIF(CAST(:error AS text), ''),
       CAST(:seen AS integer), CAST(:upserted AS integer), CAST(:expired AS integer),
       CAST(:source AS text), CAST(:skipped AS integer), NULLIF(CAST(:reasons AS text), '')
)SQL";

// The ledger's intervals overlapping [$2, $3) (microseconds), of one device ($4) or of
// every device of the type ($4 empty), in one site ($5) or every one ($5 empty). Per device, two
// range scans of the (device_id, lower(period)) index: the interval that began last at or before
// the window (intervals tile, so it covers the window's start), then those that begin in it.
constexpr const char* history_sql = R"SQL(
WITH w AS (
  SELECT timestamptz 'epoch' + CAST($2 AS bigint) * interval '1 microsecond' AS from_ts,
         timestamptz 'epoch' + CAST($3 AS bigint) * interval '1 microsecond' AS to_ts
)
SELECT d.device_key, x.presence, CAST(extract(epoch FROM x.lo) * 1000000 AS bigint),
       CAST(extract(epoch FROM x.hi) * 1000000 AS bigint)
FROM w CROSS JOIN devices d
CROSS JOIN LATERAL (
  SELECT coalesce(max(lower(z.period)), '-infinity') AS start
  FROM device_presence z WHERE z.device_id = d.id AND lower(z.period) <= w.from_ts
) s
CROSS JOIN LATERAL (
  SELECT y.presence, lower(y.period) AS lo, upper(y.period) AS hi
  FROM device_presence y
  WHERE y.device_id = d.id AND lower(y.period) >= s.start AND lower(y.period) < w.to_ts
    AND (upper_inf(y.period) OR upper(y.period) > w.from_ts)
  OFFSET 0 -- a fence: kept per device (an index range), never flattened into a scan of all
) x
WHERE d.device_type = $1 AND ($4 = '' OR d.device_key = $4) AND ($5 = '' OR d.site = $5)
ORDER BY d.device_key, x.lo
)SQL";

// Every site with its status and its devices by state: one row per (site, state), a
// site without devices once with a NULL state.
constexpr const char* sites_sql = R"SQL(
WITH c AS (
  SELECT site, coalesce(state, 'unknown') AS state, count(*) AS n,
         count(*) FILTER (WHERE is_active) AS active
  FROM devices GROUP BY 1, 2
)
SELECT coalesce(s.name, c.site), CAST(extract(epoch FROM s.last_success_at) * 1000000 AS bigint),
       coalesce(s.unreachable_announced, false), c.state, coalesce(c.n, 0), coalesce(c.active, 0)
FROM sites s FULL JOIN c ON c.site = s.name
ORDER BY 1, 4
)SQL";

// Retention, a batch at a time so no statement holds locks for long.
constexpr const char* prune_ledger_sql = R"SQL(
WITH old AS (
  SELECT ctid FROM device_presence
  WHERE NOT upper_inf(period)
    AND upper(period) < timestamptz 'epoch' + CAST(:before AS bigint) * interval '1 microsecond'
  LIMIT CAST(:batch AS bigint)
), gone AS (DELETE FROM device_presence WHERE ctid IN (SELECT ctid FROM old) RETURNING 1)
SELECT count(*) FROM gone
)SQL";

constexpr const char* prune_runs_sql = R"SQL(
WITH old AS (
  SELECT id FROM sync_runs
  WHERE finished_at < timestamptz 'epoch' + CAST(:before AS bigint) * interval '1 microsecond'
    AND id <> (SELECT max(id) FROM sync_runs)
  ORDER BY id LIMIT CAST(:batch AS bigint)
), gone AS (DELETE FROM sync_runs WHERE id IN (SELECT id FROM old) RETURNING 1)
SELECT count(*) FROM gone
)SQL";

constexpr const char* prune_events_sql = R"SQL(
WITH old AS (
  SELECT e.id FROM events e
  WHERE e.occurred_at < timestamptz 'epoch' + CAST(:before AS bigint) * interval '1 microsecond'
    AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                    WHERE d.event_id = e.id AND d.status = 'pending')
  ORDER BY e.id LIMIT CAST(:batch AS bigint)
), gone AS (DELETE FROM events WHERE id IN (SELECT id FROM old) RETURNING 1)
SELECT count(*) FROM gone
)SQL";

constexpr const char* micros = "CAST(extract(epoch FROM %) * 1000000 AS bigint)";

std::string as_micros(std::string_view column) {
  std::string sql(micros);
  sql.replace(sql.find('%'), 1, column);
  return sql;
}

// A string as an SQL literal (text for a statement that takes no parameters).
std::string quote_literal(PGconn* conn, std::string_view value) {
  char* quoted = PQescapeLiteral(conn, value.data(), value.size());
  if (!quoted) throw std::runtime_error(PQerrorMessage(conn));
  std::string out(quoted);
  PQfreemem(quoted);
  return out;
}

long long micros_of(TimePoint t) {
  return t.time_since_epoch().count();
}
TimePoint time_of(long long us) {
  return TimePoint{Duration{us}};
}

// Appends a value in COPY's text format: runs without a special character are appended
// whole (a camera's metadata is hundreds of bytes with few or none).
void append_copy_field(std::string& out, std::string_view value) {
  std::size_t run = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c != '\\' && c != '\t' && c != '\n' && c != '\r') continue;
    out.append(value.substr(run, i - run));
    out += '\\';
    out += c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : '\\';
    run = i + 1;
  }
  out.append(value.substr(run));
}

// Streams rows into a table by COPY (text format), append_row(buffer, row) writing one
// line each. Runs inside the caller's transaction (same connection); throws on failure
// so the transaction rolls back.
template <class Rows, class AppendRow>
void copy_in(PGconn* conn, const char* sql, const Rows& rows, AppendRow&& append_row) {
  const auto fail_with = [&](const std::string& what) {
    throw std::runtime_error("COPY of the round: " + what + PQerrorMessage(conn));
  };
  PGresult* res = PQexec(conn, sql);
  const bool started = PQresultStatus(res) == PGRES_COPY_IN;
  PQclear(res);
  if (!started) fail_with("");
  constexpr std::size_t chunk = 1 << 20;
  std::string buffer;
  buffer.reserve(chunk + 4096);
  for (const auto& row : rows) {
    append_row(buffer, row);
    if (buffer.size() >= chunk) {
      if (PQputCopyData(conn, buffer.data(), static_cast<int>(buffer.size())) != 1) fail_with("");
      buffer.clear();
    }
  }
  if (!buffer.empty() && PQputCopyData(conn, buffer.data(), static_cast<int>(buffer.size())) != 1) {
    fail_with("");
  }
  if (PQputCopyEnd(conn, nullptr) != 1) fail_with("");
  std::string error;
  while (PGresult* r = PQgetResult(conn)) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK) error = PQresultErrorMessage(r);
    PQclear(r);
  }
  if (!error.empty()) throw std::runtime_error("COPY of the round: " + error);
}

// A counter as its bigint column holds it (the core never plans one past the bound; a
// write made elsewhere is held to it too, not refused by the COPY).
long long stored_counter(std::uint64_t value) {
  return static_cast<long long>(std::min(value, max_traffic_counter));
}

// One line of camreg_round_writes.
void append_write(std::string& buffer, const DeviceWrite& w) {
  append_copy_field(buffer, w.device_key);
  buffer += w.insert ? "\tt\t" : "\tf\t";
  switch (w.metadata) {
  case DeviceWrite::Metadata::keep: buffer += "k\t\\N\t\\N\t"; break;
  case DeviceWrite::Metadata::mark_removed: buffer += "x\t\\N\t\\N\t"; break;
  case DeviceWrite::Metadata::replace:
    buffer += "r\t";
    append_copy_field(buffer, w.metadata_json);
    buffer += '\t';
    buffer += std::to_string(static_cast<long long>(w.metadata_hash));
    buffer += '\t';
    break;
  }
  buffer += to_string(w.state);
  buffer += '\t';
  buffer += w.last_seen ? std::to_string(micros_of(*w.last_seen)) : std::string("\\N");
  buffer += w.is_active ? "\tt" : "\tf";
  buffer += w.touch ? "\tt\t" : "\tf\t";
  buffer += w.state_since ? std::to_string(micros_of(*w.state_since)) : std::string("\\N");
  buffer += '\t';
  buffer += std::to_string(w.missed_listings);
  buffer += '\t';
  buffer += w.presence ? std::string(to_string(*w.presence)) : std::string("\\N");
  buffer += w.online_announced ? "\tt" : "\tf";
  if (w.counters) {
    for (const auto counter :
         {w.counters->bytes_received, w.counters->bytes_sent, w.counters->frames_in_error}) {
      buffer += '\t';
      buffer += std::to_string(stored_counter(counter));
    }
    buffer += '\n';
  } else {
    buffer += "\t\\N\t\\N\t\\N\n";
  }
}

// One line of camreg_round_ledger: seq is the entry's place among its device's entries.
struct SequencedEntry {
  int seq;
  const LedgerEntry* entry;
};
void append_ledger(std::string& buffer, const SequencedEntry& e) {
  buffer += std::to_string(e.seq);
  buffer += '\t';
  append_copy_field(buffer, e.entry->device_key);
  buffer += '\t';
  buffer += to_string(e.entry->presence);
  buffer += '\t';
  buffer += std::to_string(micros_of(e.entry->from));
  buffer += '\n';
}

// One line of camreg_round_events: seq is the event's place in the round.
struct SequencedEvent {
  int seq;
  const Event* event;
};
void append_event(std::string& buffer, const SequencedEvent& e) {
  buffer += std::to_string(e.seq);
  buffer += '\t';
  buffer += to_string(e.event->type);
  buffer += '\t';
  append_copy_field(buffer, e.event->site);
  buffer += '\t';
  if (e.event->device_key.empty()) {
    buffer += "\\N\t\\N\t";
  } else {
    append_copy_field(buffer, e.event->device_type);
    buffer += '\t';
    append_copy_field(buffer, e.event->device_key);
    buffer += '\t';
  }
  buffer += std::to_string(micros_of(e.event->at));
  buffer += '\t';
  append_copy_field(buffer, e.event->payload);
  buffer += '\n';
}

// A big-endian integer of PostgreSQL's binary format (int4, int8, timestamptz).
template <class Int>
Int binary_int(const char* bytes) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < sizeof(Int); ++i)
    v = (v << 8) | static_cast<unsigned char>(bytes[i]);
  return static_cast<Int>(v);
}

// A value's bytes as the server sent them (text, or a binary result's raw value).
std::string_view bytes_at(const PGresult* res, int row, int column) {
  return {PQgetvalue(res, row, column), static_cast<std::size_t>(PQgetlength(res, row, column))};
}

// A timestamptz in binary: microseconds since 2000-01-01 UTC.
TimePoint binary_time(const char* bytes) {
  constexpr long long unix_to_2000_us = 946'684'800LL * 1'000'000;
  return time_of(binary_int<long long>(bytes) + unix_to_2000_us);
}

// The counters of a row of a binary result whose bytes_received is at column, the two
// others after it; nothing when no round wrote them. A negative value (not written by a
// round) reads as 0.
std::optional<TrafficCounters> binary_counters(const PGresult* res, int row, int column) {
  if (PQgetisnull(res, row, column)) return std::nullopt;
  const auto at = [&](int c) -> std::uint64_t {
    if (PQgetisnull(res, row, c)) return 0;
    return static_cast<std::uint64_t>(
        std::max(0LL, binary_int<long long>(PQgetvalue(res, row, c))));
  };
  return TrafficCounters{at(column), at(column + 1), at(column + 2)};
}

// The columns read_device reads, and the filter of a listing (no ORDER BY).
std::string list_sql(PGconn* conn, const DeviceQuery& query) {
  std::string text =
      "SELECT id, device_key, device_type, name, last_seen, is_active,"
      " created_at, updated_at, device_metadata, state_since, site, bytes_received,"
      " bytes_sent, frames_in_error"
      " FROM devices WHERE true";
  if (query.device_type) text += " AND device_type = " + quote_literal(conn, *query.device_type);
  if (query.site) text += " AND site = " + quote_literal(conn, *query.site);
  if (query.active_only) text += " AND is_active";
  return text;
}

// Row r of a binary result of list_sql's columns into d, reusing its strings' storage;
// throws on an unknown jsonb format.
void read_device(const PGresult* res, int r, Device& d) {
  d.id = binary_int<long long>(PQgetvalue(res, r, 0));
  d.device_key = bytes_at(res, r, 1);
  d.device_type = bytes_at(res, r, 2);
  d.name = bytes_at(res, r, 3);
  d.last_seen.reset();
  if (!PQgetisnull(res, r, 4)) d.last_seen = binary_time(PQgetvalue(res, r, 4));
  d.is_active = PQgetvalue(res, r, 5)[0] != 0;
  d.created_at = binary_time(PQgetvalue(res, r, 6));
  d.updated_at = binary_time(PQgetvalue(res, r, 7));
  // jsonb in binary: a version byte (1), then the text.
  const auto metadata = bytes_at(res, r, 8);
  if (metadata.empty() || metadata[0] != 1)
    throw std::runtime_error("device_metadata: unknown jsonb binary version");
  d.metadata_json = metadata.substr(1);
  d.state_since.reset();
  if (!PQgetisnull(res, r, 9)) d.state_since = binary_time(PQgetvalue(res, r, 9));
  d.site = bytes_at(res, r, 10);
  d.counters = binary_counters(res, r, 11);
}

// Reads the stored presence of every device of the type in the site, inside the
// caller's transaction; throws on failure.
std::vector<StoredPresence> load_presence(PGconn* conn, const std::string& device_type,
                                          const std::string& site) {
  const char* params[] = {device_type.c_str(), site.c_str()};
  PGresult* res = PQexecParams(conn, load_sql, 2, nullptr, params, nullptr, nullptr, 1);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    std::string error = PQresultErrorMessage(res);
    PQclear(res);
    throw std::runtime_error("reading device presence: " + error);
  }
  const int n = PQntuples(res);
  std::vector<StoredPresence> out(static_cast<std::size_t>(n));
  for (int r = 0; r < n; ++r) {
    auto& d = out[static_cast<std::size_t>(r)];
    d.device_key = bytes_at(res, r, 0);
    if (!PQgetisnull(res, r, 1)) d.state = parse_device_state(bytes_at(res, r, 1));
    d.is_active = PQgetvalue(res, r, 2)[0] != 0;
    if (!PQgetisnull(res, r, 3)) d.last_seen = binary_time(PQgetvalue(res, r, 3));
    if (!PQgetisnull(res, r, 4)) d.metadata_hash = binary_int<std::uint64_t>(PQgetvalue(res, r, 4));
    if (!PQgetisnull(res, r, 5)) d.state_since = binary_time(PQgetvalue(res, r, 5));
    d.missed_listings = binary_int<std::int32_t>(PQgetvalue(res, r, 6));
    if (!PQgetisnull(res, r, 7)) d.presence = parse_presence(bytes_at(res, r, 7));
    d.name = bytes_at(res, r, 8);
    d.online_announced = PQgetvalue(res, r, 9)[0] != 0;
    d.counters = binary_counters(res, r, 10);
  }
  PQclear(res);
  return out;
}

// The store's now and the site's latest round's end, inside the caller's transaction.
void read_clock(PGconn* conn, const std::string& site, RegistryState& state, bool use_store_now) {
  const char* params[] = {site.c_str()};
  PGresult* res = PQexecParams(conn, clock_sql, 1, nullptr, params, nullptr, nullptr, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
    std::string error = PQresultErrorMessage(res);
    PQclear(res);
    throw std::runtime_error("reading the clock: " + error);
  }
  if (use_store_now) state.now = time_of(std::atoll(PQgetvalue(res, 0, 0)));
  if (!PQgetisnull(res, 0, 1)) state.last_round_at = time_of(std::atoll(PQgetvalue(res, 0, 1)));
  PQclear(res);
}

// What the events last said of the site, inside the caller's transaction.
SiteStatus read_site(PGconn* conn, const std::string& site) {
  const char* params[] = {site.c_str()};
  PGresult* res = PQexecParams(conn, read_site_sql, 1, nullptr, params, nullptr, nullptr, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    std::string error = PQresultErrorMessage(res);
    PQclear(res);
    throw std::runtime_error("reading the site: " + error);
  }
  SiteStatus status;
  if (PQntuples(res) == 1) {
    if (!PQgetisnull(res, 0, 0)) status.last_success = time_of(std::atoll(PQgetvalue(res, 0, 0)));
    status.unreachable_announced = PQgetvalue(res, 0, 1)[0] == 't';
  }
  PQclear(res);
  return status;
}

// Appends the round's events in order and gives each its id.
void insert_events(PGconn* conn, std::vector<Event>& events) {
  std::vector<SequencedEvent> rows;
  rows.reserve(events.size());
  for (const auto& e : events)
    rows.push_back({static_cast<int>(rows.size()), &e});
  copy_in(conn, copy_events_sql, rows, append_event);
  PGresult* res = PQexec(conn, insert_events_sql);
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != static_cast<int>(events.size())) {
    std::string error = PQresultErrorMessage(res);
    PQclear(res);
    throw std::runtime_error("writing the round's events: " + error);
  }
  for (int r = 0; r < PQntuples(res); ++r)
    events[static_cast<std::size_t>(r)].id = std::atoll(PQgetvalue(res, r, 0));
  PQclear(res);
}

// Updates the existing devices a round writes (staged in camreg_round_writes), one
// statement per kind of metadata write present.
void update_devices(soci::session& sql, const std::vector<DeviceWrite>& writes,
                    const std::string& device_type, long long now_us) {
  bool kept = false, replaced = false, removed = false;
  for (const auto& w : writes) {
    if (w.insert) continue;
    kept |= w.metadata == DeviceWrite::Metadata::keep;
    replaced |= w.metadata == DeviceWrite::Metadata::replace;
    removed |= w.metadata == DeviceWrite::Metadata::mark_removed;
  }
  for (const auto& [present, statement] :
       {std::pair{kept, update_kept_sql}, std::pair{replaced, update_replaced_sql},
        std::pair{removed, update_removed_sql}}) {
    if (present) sql << statement, soci::use(device_type, "type"), soci::use(now_us, "now");
  }
}

class PostgresDeviceRepository final : public DeviceRepository {
 public:
  explicit PostgresDeviceRepository(Options options) : connection_(std::move(options)) {}

  Result<RoundPlan> commit_round(const std::string& device_type, const std::string& site_name,
                                 std::optional<TimePoint> at,
                                 const RoundPlanner& planner) override {
    return commit_round(device_type, site_name, at, planner, {});
  }

  Result<RoundPlan> commit_round(const std::string& device_type, const std::string& site_name,
                                 std::optional<TimePoint> at, const RoundPlanner& planner,
                                 const RoundInput& await_input) override {
    return connection_.run<RoundPlan>("sync round", [&](soci::session& sql) -> Result<RoundPlan> {
      soci::transaction tx(sql);
      int locked = 0;
      const std::string lock = round_lock_name(site_name);
      sql << round_lock_sql, soci::use(lock, "lock"), soci::into(locked);
      if (locked != 1) {
        return fail(ErrorKind::busy,
                    "another process is applying a sync round of site " + site_name + "; skipped");
      }
      RegistryState state;
      state.devices = load_presence(connection_.native(), device_type, site_name);
      state.site = read_site(connection_.native(), site_name);
      // No database call is in flight while the input is awaited: the client-side bound
      // (statement timeout + grace) is paused and starts again after it.
      if (await_input) connection_.paused(await_input);
      if (at) state.now = *at;
      read_clock(connection_.native(), site_name, state, !at);
      RoundPlan plan = planner(state);
      state.devices = {};
      const auto now_us = micros_of(state.now);
      if (!plan.writes.empty() || !plan.ledger.empty() || !plan.events.empty()) {
        sql << "SET LOCAL client_min_messages = warning";
        sql << "SET LOCAL work_mem = '64MB'";
        sql << stage_sql;
      }
      if (!plan.writes.empty()) {
        copy_in(connection_.native(), copy_sql, plan.writes, append_write);
        update_devices(sql, plan.writes, device_type, now_us);
        sql << insert_sql, soci::use(device_type, "type"), soci::use(site_name, "site"),
            soci::use(now_us, "now");
      }
      if (!plan.ledger.empty()) {
        std::vector<SequencedEntry> entries;
        entries.reserve(plan.ledger.size());
        std::unordered_map<std::string_view, int> seen_key;
        int steps = 0;
        for (const auto& entry : plan.ledger) {
          const int seq = seen_key[entry.device_key]++;
          steps = std::max(steps, seq + 1);
          entries.push_back({seq, &entry});
        }
        copy_in(connection_.native(), copy_ledger_sql, entries, append_ledger);
        for (int seq = 0; seq < steps; ++seq) {
          for (const char* step : {ledger_drop_sql, ledger_close_sql, ledger_open_sql})
            sql << step, soci::use(device_type, "type"), soci::use(seq, "seq");
        }
      }
      if (!plan.events.empty()) {
        sql << events_lock_sql;
        insert_events(connection_.native(), plan.events);
      }
      const long long success = plan.site.last_success ? micros_of(*plan.site.last_success) : -1;
      const int announced = plan.site.unreachable_announced ? 1 : 0;
      sql << write_site_sql, soci::use(site_name, "name"), soci::use(success, "success"),
          soci::use(announced, "announced");
      const auto& run = plan.run;
      const auto started = micros_of(run.started_at);
      const auto finished = micros_of(run.finished_at);
      const int ok = run.ok ? 1 : 0;
      const int seen = static_cast<int>(run.paths_seen);
      const int upserted = static_cast<int>(run.upserted);
      const int expired = static_cast<int>(run.expired);
      const int skipped = static_cast<int>(run.skipped);
      sql << record_run_sql, soci::use(site_name, "site"), soci::use(started, "started"),
          soci::use(finished, "finished"), soci::use(ok, "ok"), soci::use(run.error, "error"),
          soci::use(seen, "seen"), soci::use(upserted, "upserted"), soci::use(expired, "expired"),
          soci::use(run.source, "source"), soci::use(skipped, "skipped"),
          soci::use(run.skipped_reasons, "reasons");
      tx.commit();
      return plan;
    });
  }

  Result<std::vector<Device>> list_devices(const DeviceQuery& query) override {
    std::vector<Device> out;
    auto scanned = scan_devices(query, [&](std::vector<Device>& batch) {
      out.insert(out.end(), std::make_move_iterator(batch.begin()),
                 std::make_move_iterator(batch.end()));
    });
    if (!scanned) return scanned.error();
    return out;
  }

  Result<void> scan_devices(const DeviceQuery& query,
                            const std::function<void(std::vector<Device>&)>& batch) override {
    return connection_.run<void>("list devices", [&](soci::session& sql) -> Result<void> {
      std::string text = list_sql(connection_.native(), query);
      text += " ORDER BY device_key, device_type";
      // Through a cursor, a batch at a time: the whole result at once would be held
      // twice, as libpq's rows and as devices (~100 MB each at 100,000 cameras). In
      // binary (no timestamp arithmetic or number text), and one batch ahead: the
      // server reads the next batch while the caller takes this one.
      soci::transaction tx(sql);
      sql << "DECLARE camreg_list NO SCROLL CURSOR FOR " + text;
      PGconn* conn = connection_.native();
      const auto send_fetch = [&] {
        if (PQsendQueryParams(conn, "FETCH 2000 FROM camreg_list", 0, nullptr, nullptr, nullptr,
                              nullptr, 1) != 1)
          throw std::runtime_error(PQerrorMessage(conn));
      };
      // The fetch's rows, once the connection is free for the next command.
      const auto take_batch = [&] {
        PGresult* res = PQgetResult(conn);
        while (PGresult* more = PQgetResult(conn))
          PQclear(more);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
          std::string error = res ? PQresultErrorMessage(res) : PQerrorMessage(conn);
          PQclear(res);
          throw std::runtime_error(error);
        }
        return res;
      };
      std::vector<Device> devices;
      send_fetch();
      for (;;) {
        PGresult* res = take_batch();
        const int n = PQntuples(res);
        try {
          if (n > 0) send_fetch();
          devices.resize(static_cast<std::size_t>(n));
          for (int r = 0; r < n; ++r)
            read_device(res, r, devices[static_cast<std::size_t>(r)]);
          PQclear(res);
          res = nullptr;
          if (n > 0) batch(devices);
        } catch (...) {
          PQclear(res);
          while (PGresult* pending = PQgetResult(conn)) // the batch sent ahead
            PQclear(pending);
          throw;
        }
        if (n == 0) break;
      }
      tx.commit();
      return {};
    });
  }

  Result<std::vector<Device>> list_device_page(const DeviceQuery& query,
                                               const DevicePage& page) override {
    return connection_.run<std::vector<Device>>(
        "list a page of devices", [&](soci::session&) -> Result<std::vector<Device>> {
          PGconn* conn = connection_.native();
          // Keyset: an index scan from the position on (devices_type_key for a type,
          // devices_by_key without), whatever the page's depth. Types compare byte by byte ("C"),
          // as the cursor promises.
          std::string text = list_sql(conn, query);
          std::vector<const char*> params;
          if (page.after) {
            text += " AND device_key >= $1 AND (device_key > $1 OR device_type COLLATE \"C\" > $2)";
            params = {page.after->first.c_str(), page.after->second.c_str()};
          }
          text +=
              " ORDER BY device_key, device_type COLLATE \"C\" LIMIT " + std::to_string(page.limit);
          PGresult* res = PQexecParams(conn, text.c_str(), static_cast<int>(params.size()), nullptr,
                                       params.data(), nullptr, nullptr, 1);
          if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            std::string error = PQresultErrorMessage(res);
            PQclear(res);
            throw std::runtime_error(error);
          }
          std::vector<Device> out;
          try {
            out.resize(static_cast<std::size_t>(PQntuples(res)));
            for (int r = 0; r < PQntuples(res); ++r)
              read_device(res, r, out[static_cast<std::size_t>(r)]);
          } catch (...) {
            PQclear(res);
            throw;
          }
          PQclear(res);
          return out;
        });
  }

  Result<std::vector<SyncRun>> recent_sync_runs(std::size_t limit) override {
    return connection_.run<std::vector<SyncRun>>(
        "recent sync runs", [&](soci::session& sql) -> Result<std::vector<SyncRun>> {
          const long long n = static_cast<long long>(limit);
          soci::rowset<soci::row> rows =
              (sql.prepare
                   << "SELECT r.id, " + as_micros("r.started_at") + ", " +
                          as_micros("r.finished_at") +
                          ", CAST(r.ok AS integer), COALESCE(r.error, ''), r.paths_seen,"
                          " r.upserted, r.expired, r.source, r.skipped,"
                          " COALESCE(r.skipped_reasons, ''), r.site"
                          " FROM (SELECT name FROM sites UNION SELECT 'default') s"
                          " CROSS JOIN LATERAL (SELECT * FROM sync_runs x WHERE x.site = s.name"
                          "   ORDER BY x.id DESC LIMIT :n) r"
                          " ORDER BY r.id DESC",
               soci::use(n, "n"));
          std::vector<SyncRun> out;
          for (const auto& r : rows) {
            SyncRun run;
            run.id = r.get<long long>(0);
            run.started_at = time_of(r.get<long long>(1));
            run.finished_at = time_of(r.get<long long>(2));
            run.ok = r.get<int>(3) != 0;
            run.error = r.get<std::string>(4);
            run.paths_seen = static_cast<std::size_t>(r.get<int>(5));
            run.upserted = static_cast<std::size_t>(r.get<int>(6));
            run.expired = static_cast<std::size_t>(r.get<int>(7));
            run.source = r.get<std::string>(8);
            run.skipped = static_cast<std::size_t>(r.get<int>(9));
            run.skipped_reasons = r.get<std::string>(10);
            run.site = r.get<std::string>(11);
            out.push_back(std::move(run));
          }
          return out;
        });
  }

  Result<std::vector<PresenceInterval>> presence_history(const HistoryQuery& query) override {
    return connection_.run<std::vector<PresenceInterval>>(
        "presence history", [&](soci::session&) -> Result<std::vector<PresenceInterval>> {
          const std::string from = std::to_string(micros_of(query.from));
          const std::string to = std::to_string(micros_of(query.to));
          const std::string key = query.device_key.value_or("");
          const std::string site = query.site.value_or("");
          const char* params[] = {query.device_type.c_str(), from.c_str(), to.c_str(), key.c_str(),
                                  site.c_str()};
          PGresult* res = PQexecParams(connection_.native(), history_sql, 5, nullptr, params,
                                       nullptr, nullptr, 0);
          if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            std::string error = PQresultErrorMessage(res);
            PQclear(res);
            throw std::runtime_error(error);
          }
          std::vector<PresenceInterval> out(static_cast<std::size_t>(PQntuples(res)));
          for (int r = 0; r < PQntuples(res); ++r) {
            auto& i = out[static_cast<std::size_t>(r)];
            i.device_key = bytes_at(res, r, 0);
            i.presence = parse_presence(PQgetvalue(res, r, 1)).value_or(Presence::unknown);
            i.from = time_of(std::atoll(PQgetvalue(res, r, 2)));
            if (!PQgetisnull(res, r, 3)) i.to = time_of(std::atoll(PQgetvalue(res, r, 3)));
          }
          PQclear(res);
          return out;
        });
  }

  Result<std::size_t> prune(TimePoint ledger_before, TimePoint runs_before,
                            std::size_t batch) override {
    return connection_.run<std::size_t>("prune", [&](soci::session& sql) -> Result<std::size_t> {
      const long long ledger_us = micros_of(ledger_before), runs_us = micros_of(runs_before);
      const long long limit = static_cast<long long>(batch);
      long long intervals = 0, runs = 0, events = 0;
      sql << prune_ledger_sql, soci::use(ledger_us, "before"), soci::use(limit, "batch"),
          soci::into(intervals);
      sql << prune_runs_sql, soci::use(runs_us, "before"), soci::use(limit, "batch"),
          soci::into(runs);
      sql << prune_events_sql, soci::use(runs_us, "before"), soci::use(limit, "batch"),
          soci::into(events);
      return static_cast<std::size_t>(intervals + runs + events);
    });
  }

  Result<std::vector<SiteSummary>> list_sites() override {
    return connection_.run<std::vector<SiteSummary>>(
        "list sites", [&](soci::session&) -> Result<std::vector<SiteSummary>> {
          PGresult* res = PQexec(connection_.native(), sites_sql);
          if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            std::string error = PQresultErrorMessage(res);
            PQclear(res);
            throw std::runtime_error(error);
          }
          std::vector<SiteSummary> out;
          for (int r = 0; r < PQntuples(res); ++r) {
            const std::string_view name = bytes_at(res, r, 0);
            if (out.empty() || out.back().site != name) {
              auto& site = out.emplace_back();
              site.site = name;
              if (!PQgetisnull(res, r, 1))
                site.last_success = time_of(std::atoll(PQgetvalue(res, r, 1)));
              site.unreachable_announced = PQgetvalue(res, r, 2)[0] == 't';
            }
            if (PQgetisnull(res, r, 3)) continue;
            auto& site = out.back();
            const auto n = static_cast<std::size_t>(std::atoll(PQgetvalue(res, r, 4)));
            site.devices += n;
            site.active += static_cast<std::size_t>(std::atoll(PQgetvalue(res, r, 5)));
            site.by_state.emplace_back(PQgetvalue(res, r, 3), n);
          }
          PQclear(res);
          return out;
        });
  }

  Result<void> check_ready() override {
    return connection_.run<void>("readiness", [&](soci::session& sql) -> Result<void> {
      int present = 0;
      sql << "SELECT CAST(to_regclass('camreg_schema_migrations') IS NOT NULL AS integer)",
          soci::into(present);
      if (present != 1) {
        return fail(ErrorKind::database,
                    "schema not migrated (no camreg_schema_migrations table): run with --migrate");
      }
      int version = 0;
      soci::indicator ind = soci::i_ok;
      sql << "SELECT max(version) FROM camreg_schema_migrations", soci::into(version, ind);
      const int latest = migrations().empty() ? 0 : migrations().back().version;
      if (ind != soci::i_ok || version < latest) {
        return fail(ErrorKind::database,
                    "schema is at version " + std::to_string(ind == soci::i_ok ? version : 0) +
                        ", expected " + std::to_string(latest) + ": run with --migrate");
      }
      return {};
    });
  }

 private:
  detail::Connection connection_;
};

} // namespace

std::unique_ptr<DeviceRepository> make_device_repository(Options options) {
  return std::make_unique<PostgresDeviceRepository>(std::move(options));
}

} // namespace camreg::postgres

-- The registry: one row per device, the single source of truth for camera presence.
CREATE TABLE devices (
    id              bigserial   PRIMARY KEY,
    device_key      text        COLLATE "C" NOT NULL CHECK (device_key <> ''),
    device_type     text        NOT NULL CHECK (device_type <> ''),
    name            text        NOT NULL,
    last_seen       timestamptz NULL,
    is_active       boolean     NOT NULL DEFAULT false,
    device_metadata jsonb       NOT NULL DEFAULT '{}'::jsonb
                                CHECK (jsonb_typeof(device_metadata) = 'object'),
    -- A hash of the metadata text the last sync wrote (NULL once anything else wrote
    -- it): a round re-parses and rewrites metadata only for rows whose hash differs.
    metadata_hash   bigint      NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT devices_type_key UNIQUE (device_type, device_key)
) WITH (fillfactor = 70, toast_tuple_target = 128);
-- Every sync round refreshes last_seen of every live camera. No index covers
-- last_seen and pages keep free space, so those updates are HOT: no index is touched.

-- GET /api/devices?device_type=…&active_only=true, ordered by device_key (byte order:
-- device_key is COLLATE "C", so the order never depends on the server's locale).
CREATE INDEX devices_active_by_type ON devices (device_type, device_key) WHERE is_active;
-- GET /api/devices without a type filter, ordered by device_key.
CREATE INDEX devices_by_key ON devices (device_key);

-- One row per sync round, successful or not.
CREATE TABLE sync_runs (
    id          bigserial   PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    ok          boolean     NOT NULL,
    error       text        NULL,
    paths_seen  integer     NOT NULL DEFAULT 0,
    upserted    integer     NOT NULL DEFAULT 0,
    expired     integer     NOT NULL DEFAULT 0,
    source      text        NOT NULL DEFAULT ''
);

CREATE INDEX sync_runs_recent ON sync_runs (started_at DESC);

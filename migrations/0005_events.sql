-- Events: every change of presence a round commits, kept in order, and the webhook
-- endpoints they are delivered to.

-- Whether the events told the world this device is online (device.online) or not
-- (device.offline): the debounce remembers what it last said. Devices active at upgrade
-- count as announced online, so an upgrade sends no storm of device.online.
ALTER TABLE devices ADD COLUMN online_announced boolean NOT NULL DEFAULT false;
UPDATE devices SET online_announced = is_active;

-- A site is one MediaMTX server. What the events last said of it, and when its listing
-- last worked (sync_runs are pruned; this is not).
CREATE TABLE sites (
    name                   text        PRIMARY KEY,
    last_success_at        timestamptz NULL,
    unreachable_announced  boolean     NOT NULL DEFAULT false
);
INSERT INTO sites (name, last_success_at)
SELECT 'default', max(finished_at) FROM sync_runs WHERE ok;
INSERT INTO sites (name) VALUES ('default') ON CONFLICT DO NOTHING;

-- Append only. id is the event id of SSE and of webhook-id. Writers take the
-- transaction-level advisory lock '<schema>.camreg.events' before they insert, so ids
-- become visible in id order: a reader that has seen id N has seen every id below it.
-- payload is the exact body a webhook sends (json keeps its text; jsonb would not).
CREATE TABLE events (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type        text        NOT NULL,
    site        text        NOT NULL DEFAULT 'default',
    device_type text        NULL, -- NULL for site events
    device_key  text        NULL, -- NULL for site events
    occurred_at timestamptz NOT NULL,
    payload     json        NOT NULL
);
CREATE INDEX events_occurred ON events (occurred_at);

CREATE TABLE webhook_endpoints (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url             text        NOT NULL,
    types           text[]      NOT NULL DEFAULT '{}', -- empty: every type
    secret          text        NOT NULL,              -- whsec_<base64 of the key bytes>
    enabled         boolean     NOT NULL DEFAULT true,
    disabled_reason text        NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per (endpoint, event), created in the transaction that writes the event (or
-- by a replay). Delivered in order per (endpoint, ordering_key): ordering_key is
-- '<device_type>/<device_key>' for device events, '' for site events.
CREATE TABLE webhook_deliveries (
    endpoint_id     bigint      NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id        bigint      NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    ordering_key    text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz NULL, -- claimed by a deliverer until then
    last_attempt_at timestamptz NULL,
    last_status     integer     NULL, -- HTTP status of the last attempt; NULL: no answer
    last_error      text        NULL,
    delivered_at    timestamptz NULL,
    PRIMARY KEY (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (endpoint_id, ordering_key, event_id)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

-- New events wake every listener (SSE, deliverers) as devices and sync_runs do.
CREATE TRIGGER events_notify_change
    AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION camreg_notify_change();
CREATE TRIGGER webhook_deliveries_notify_change
    AFTER INSERT ON webhook_deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION camreg_notify_change();

-- Sites: one registry over several MediaMTX servers, each synced by a worker of its own.
-- A device is (site, path name). Its device_key stays the path name in the site
-- 'default' (every row so far: no key, id or ledger row changes) and is
-- '<site>@<path name>' in any other, so the unique (device_type, device_key) holds
-- across sites.
ALTER TABLE devices ADD COLUMN site text NOT NULL DEFAULT 'default'
    CHECK (site ~ '^[A-Za-z0-9_-]{1,64}$');
-- A round reads and writes the rows of its own type and site only. No index on site:
-- a round reads every row of its type anyway (a seq scan), and one would lure the
-- planner away from (device_type, device_key) when it joins a round's rows by key.

-- Each round records the site it listed; a site's last round is found by this index.
ALTER TABLE sync_runs ADD COLUMN site text NOT NULL DEFAULT 'default'
    CHECK (site ~ '^[A-Za-z0-9_-]{1,64}$');
CREATE INDEX sync_runs_by_site ON sync_runs (site, id DESC);
CREATE INDEX sync_runs_site_finished ON sync_runs (site, finished_at);

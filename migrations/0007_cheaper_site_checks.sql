-- The site-name checks of 0006, same rule, cheaper to test. PostgreSQL re-checks every
-- CHECK constraint on every row an UPDATE writes, and the bounded repetition {1,64}
-- makes its regular expression engine slow: at 100,000 cameras that check alone took
-- about 300 ms of each round's UPDATE. A length test and an unbounded class accept
-- exactly the same names ([A-Za-z0-9_-], 1 to 64 of them) at a fraction of the cost.
ALTER TABLE devices DROP CONSTRAINT devices_site_check,
    ADD CONSTRAINT devices_site_check CHECK (length(site) <= 64 AND site ~ '^[A-Za-z0-9_-]+$');
ALTER TABLE sync_runs DROP CONSTRAINT sync_runs_site_check,
    ADD CONSTRAINT sync_runs_site_check CHECK (length(site) <= 64 AND site ~ '^[A-Za-z0-9_-]+$');

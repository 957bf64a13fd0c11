-- Every committed change to devices or sync_runs, by a sync round or by hand, notifies
-- channel camreg_changes with "<schema> <table>", so api-server's cached snapshots are
-- refreshed within a second of any change. Notifications of a rolled-back transaction
-- are never delivered; identical ones in one transaction are folded into one.
CREATE FUNCTION camreg_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('camreg_changes', TG_TABLE_SCHEMA || ' ' || TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER devices_notify_change
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON devices
    FOR EACH STATEMENT EXECUTE FUNCTION camreg_notify_change();

CREATE TRIGGER sync_runs_notify_change
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sync_runs
    FOR EACH STATEMENT EXECUTE FUNCTION camreg_notify_change();

-- metadata_hash names the metadata text a sync round wrote; readers (api-server) keep
-- the text by its hash and read again only the metadata whose hash they do not hold.
-- So the hash must never outlive its text: any write of device_metadata that leaves the
-- hash as it was (an edit by hand, another tool) clears it. A round writes the two
-- together, with a new hash, and is left alone; so is every update that does not set
-- device_metadata (the trigger is not even called for those: a round's many
-- counters-only updates cost nothing more). The next round writes such metadata anew.
CREATE FUNCTION camreg_metadata_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.metadata_hash := NULL;
    RETURN NEW;
END
$$;

CREATE TRIGGER devices_metadata_hash
    BEFORE UPDATE OF device_metadata ON devices
    FOR EACH ROW
    WHEN (NEW.metadata_hash IS NOT NULL
          AND NEW.metadata_hash IS NOT DISTINCT FROM OLD.metadata_hash
          AND NEW.device_metadata IS DISTINCT FROM OLD.device_metadata)
    EXECUTE FUNCTION camreg_metadata_written();

-- Before this, an edit by hand could leave a hash beside text it was not computed from:
-- no hash is trusted from before. The next round writes each listed camera's metadata
-- once more, with its hash (rows are locked one by one here, the table never).
UPDATE devices SET metadata_hash = NULL WHERE metadata_hash IS NOT NULL;

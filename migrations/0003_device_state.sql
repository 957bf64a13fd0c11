-- The state a sync last gave each device (device_metadata.state), as a column of its
-- own: a round reads every device's presence without detoasting its metadata.
ALTER TABLE devices ADD COLUMN state text NULL;
UPDATE devices SET state = device_metadata ->> 'state';

-- A camera's traffic counters (bytes_received, bytes_sent, frames_in_error) move every
-- round on every live camera. Inside device_metadata, every round rewrote each live
-- camera's whole metadata for those three numbers, and PostgreSQL parsed it into jsonb
-- again: at 100,000 cameras about 0.45 s of a round's UPDATE, and most of what a round
-- sends. They get columns of their own: device_metadata keeps what changes rarely, and
-- the API still serves the counters inside device_metadata. NULL: no round has written
-- them yet. A counter past 2^63 - 1 (no camera moves 9.2 exabytes) is held as 2^63 - 1.
ALTER TABLE devices ADD COLUMN bytes_received bigint, ADD COLUMN bytes_sent bigint,
    ADD COLUMN frames_in_error bigint;

-- Counters already in device_metadata move to the columns. The stored hash was of the
-- metadata with them, so it is cleared: the next round writes each listed camera's
-- metadata once more, without them.
UPDATE devices SET
    bytes_received = c.bytes_received,
    bytes_sent = c.bytes_sent,
    frames_in_error = c.frames_in_error,
    device_metadata = devices.device_metadata - ARRAY['bytes_received', 'bytes_sent', 'frames_in_error'],
    metadata_hash = NULL
FROM (
  SELECT d.id, n.*
  FROM devices d
  CROSS JOIN LATERAL (
    SELECT
      -- a number, whole and within 0 .. 2^63 - 1; anything else is no counter
      max(CASE WHEN f.key = 'bytes_received' THEN f.value END) AS bytes_received,
      max(CASE WHEN f.key = 'bytes_sent' THEN f.value END) AS bytes_sent,
      max(CASE WHEN f.key = 'frames_in_error' THEN f.value END) AS frames_in_error
    FROM (
      SELECT key, CAST(least(greatest(trunc(CAST(value AS numeric)), 0), 9223372036854775807)
                       AS bigint) AS value
      FROM jsonb_each(d.device_metadata)
      WHERE key IN ('bytes_received', 'bytes_sent', 'frames_in_error')
        AND jsonb_typeof(value) = 'number'
    ) f
  ) n
  WHERE d.device_metadata ?| ARRAY['bytes_received', 'bytes_sent', 'frames_in_error']
) c
WHERE devices.id = c.id;

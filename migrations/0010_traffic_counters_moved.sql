-- The counters already in device_metadata move to 0009's columns (a transaction of its
-- own: it locks the rows it rewrites, never the table, so readers go on reading).
-- Counters come in threes: when any of the three is a number, the others read 0 when
-- they are not; when none is, the row keeps no counters (NULL) and only loses the odd
-- values from its metadata. A number is truncated to a whole one and held within
-- 0 .. 2^63 - 1. The stored hash was of the metadata with them, so it is cleared: the
-- next round writes each listed camera's metadata once more, without them.
UPDATE devices SET
    bytes_received = CASE WHEN c.numbers > 0 THEN coalesce(c.bytes_received, 0) END,
    bytes_sent = CASE WHEN c.numbers > 0 THEN coalesce(c.bytes_sent, 0) END,
    frames_in_error = CASE WHEN c.numbers > 0 THEN coalesce(c.frames_in_error, 0) END,
    device_metadata = devices.device_metadata - ARRAY['bytes_received', 'bytes_sent', 'frames_in_error'],
    metadata_hash = NULL
FROM (
  SELECT d.id, n.*
  FROM devices d
  CROSS JOIN LATERAL (
    SELECT max(CASE WHEN f.key = 'bytes_received' THEN f.value END) AS bytes_received,
           max(CASE WHEN f.key = 'bytes_sent' THEN f.value END) AS bytes_sent,
           max(CASE WHEN f.key = 'frames_in_error' THEN f.value END) AS frames_in_error,
           count(*) AS numbers
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


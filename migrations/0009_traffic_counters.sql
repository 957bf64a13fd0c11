-- A camera's traffic counters (bytes_received, bytes_sent, frames_in_error) move every
-- round on every live camera. Inside device_metadata, every round rewrote each live
-- camera's whole metadata for those three numbers, and PostgreSQL parsed it into jsonb
-- again: at 100,000 cameras about 0.45 s of a round's UPDATE, and most of what a round
-- sends. They get columns of their own: device_metadata keeps what changes rarely, and
-- the API still serves the counters inside device_metadata. NULL: no round has written
-- them yet. A counter past 2^63 - 1 (no camera moves 9.2 exabytes) is held as 2^63 - 1.
-- Columns without a default: no row is rewritten, the table's lock is held a moment.
-- 0010 moves the counters already stored, in a migration of its own.
ALTER TABLE devices ADD COLUMN bytes_received bigint, ADD COLUMN bytes_sent bigint,
    ADD COLUMN frames_in_error bigint;

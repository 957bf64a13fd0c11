-- Every round rewrites the row of every live camera (its byte counters move), and an
-- updated row stays on its page, touching no index (a HOT update), only when the page
-- has room for the new version beside the old one. At fillfactor 70 a page keeps room
-- for 3 of its 7 rows: at 100,000 cameras 45 to 66% of a round's updates were HOT, the
-- others inserted into all four indexes. At 45 a page keeps room for a copy of every
-- row it holds, and the previous round's versions are pruned when the next round reads
-- the page: every update of a realistic round is HOT. Pages filled before this keep
-- their spacing until their rows move (VACUUM FULL devices respaces them at once, under
-- an exclusive lock).
ALTER TABLE devices SET (fillfactor = 45);

-- Fills devices with :n cameras shaped like sync-worker's (a live H264+Opus path with a
-- WebRTC reader; every tenth not ready; its counters in their columns), then records one
-- sync run. psql -v n=1000
INSERT INTO devices (device_key, device_type, name, device_metadata, last_seen, is_active,
                     bytes_received, bytes_sent, frames_in_error)
SELECT format('site-%s/cam_%s', g / 100, g), 'camera', format('site-%s/cam_%s', g / 100, g),
       jsonb_build_object(
         'state', CASE WHEN g % 10 = 0 THEN 'not_ready' ELSE 'live' END,
         'ready', g % 10 <> 0,
         'ready_time', CASE WHEN g % 10 = 0 THEN NULL ELSE '2026-11-24T10:00:00.123456789Z' END,
         'online', true, 'source_type', 'rtspSource', 'source_id', '',
         'conf_name', format('site-%s/cam_%s', g / 100, g),
         'tracks', CASE WHEN g % 10 = 0 THEN '[]'::jsonb ELSE
           '[{"codec":"H264","width":1920,"height":1080,"profile":"High","level":"4.1"},{"codec":"Opus","channelCount":2}]'::jsonb END,
         'track_codecs', CASE WHEN g % 10 = 0 THEN '[]'::jsonb ELSE '["H264","Opus"]'::jsonb END,
         'readers', jsonb_build_array(jsonb_build_object('type', 'webRTCSession', 'id', md5(g::text))),
         'reader_count', 1,
         'whep_url', format('http://localhost:8889/site-%s/cam_%s/whep', g / 100, g)),
       CASE WHEN g % 10 = 0 THEN NULL ELSE now() END, g % 10 <> 0,
       g::bigint * 1000003, g::bigint * 77, 0
FROM generate_series(1, :n) AS g;
INSERT INTO sync_runs (started_at, finished_at, ok, paths_seen, upserted, expired, source)
VALUES (now(), now(), true, :n, :n, 0, 'seed');

// The dashboard's pure helpers, without a browser.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ago, describeTracks, downSince, statusOf, stripOf, whepUrlOf } from '../../apps/dashboard/cameras.js';

const here = { protocol: 'http:', hostname: 'wall.example' };

test('the WHEP URL comes from metadata, else MediaMTX default port on this host', () => {
  assert.equal(whepUrlOf({ device_key: 'a', device_metadata: { whep_url: 'https://m:8889/a/whep' } }, here),
    'https://m:8889/a/whep');
  assert.equal(whepUrlOf({ device_key: 'site-a/cam 1', device_metadata: {} }, here),
    'http://wall.example:8889/site-a/cam%201/whep');
  assert.equal(whepUrlOf({ device_key: 'x', device_metadata: { whep_url: 'javascript:alert(1)' } }, here),
    'http://wall.example:8889/x/whep');
});

test('status follows activity first, then the state from metadata', () => {
  assert.equal(statusOf({ is_active: true, device_metadata: { state: 'live' } }).label, 'Live');
  assert.equal(statusOf({ is_active: true, device_metadata: { state: 'not_ready' } }).state, 'not_ready');
  const offline = statusOf({ is_active: false, device_metadata: { state: 'no_source' } });
  assert.equal(offline.state, 'offline');
  assert.match(offline.reason, /nothing is publishing/);
  assert.equal(statusOf({ is_active: false, device_metadata: {} }).reason, 'not seen recently');
});

test('tracks and ages read as a person would say them', () => {
  assert.equal(describeTracks({ device_metadata: { tracks: [{ codec: 'H264', width: 1920, height: 1080 }, { codec: 'Opus' }] } }),
    'H264 1920×1080 · Opus');
  assert.equal(describeTracks({ device_metadata: {} }), '');
  assert.equal(ago(12), '12 s ago');
  assert.equal(ago(420), '7 min ago');
  assert.equal(ago(7200), '2 h ago');
});

test('standby and placeholder cameras say what they are', () => {
  const standby = statusOf({ is_active: false, device_metadata: { state: 'standby' } });
  assert.equal(standby.label, 'On demand');
  assert.match(standby.reason, /click to play/);
  const slate = statusOf({ is_active: false, device_metadata: { state: 'placeholder' } });
  assert.equal(slate.label, 'Offline');
  assert.match(slate.reason, /offline placeholder/);
});

test('an offline camera says since when, from state_since', () => {
  const now = Date.parse('2026-11-30T17:14:00Z');
  const since = new Date('2026-11-30T14:02:00Z');
  const text = downSince({ state_since: since.toISOString(), device_metadata: { state: 'not_ready' } }, now);
  const hh = String(since.getHours()).padStart(2, '0');
  assert.equal(text, `offline since ${hh}:02 (3 h 12 min)`);
  assert.equal(downSince({ state_since: since.toISOString(), device_metadata: { state: 'live' } }, now), '');
  assert.equal(downSince({ device_metadata: { state: 'no_source' } }, now), '');
});

test('the availability strip divides the window by presence', () => {
  const strip = stripOf({
    from: '2026-11-29T00:00:00Z', to: '2026-11-29T04:00:00Z',
    intervals: [
      { presence: 'online', from: '2026-11-28T22:00:00Z', to: '2026-11-29T01:00:00Z' },
      { presence: 'offline', from: '2026-11-29T01:00:00Z', to: '2026-11-29T02:00:00Z' },
      { presence: 'online', from: '2026-11-29T02:00:00Z', to: null },
    ],
  });
  assert.deepEqual(strip, [
    { presence: 'online', share: 0.25 }, { presence: 'offline', share: 0.25 },
    { presence: 'online', share: 0.5 },
  ]);
  assert.deepEqual(stripOf(undefined), []);
});

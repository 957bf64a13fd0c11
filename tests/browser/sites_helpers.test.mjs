// What a site group's header says of its site's sync (GET /api/sites), without a browser.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { siteSyncOf } from '../../apps/dashboard/cameras.js';

const now = Date.parse('2026-11-30T10:00:00Z');
const run = (ok, error = null) => ({ id: 7, started_at: '2026-11-30T09:59:58Z', finished_at: '2026-11-30T09:59:59Z', ok, error });
const site = (fields) => ({
  site: 'north', reachable: true, stale: false, last_run: run(true), last_success_at: '2026-11-30T09:59:50Z',
  devices: { total: 2, active: 2, by_state: { live: 2 } }, ...fields,
});

test('a site that syncs is not flagged and says when it last synced', () => {
  assert.deepEqual(siteSyncOf(site({}), now), { state: 'ok', flagged: false, text: 'Last sync 10 s ago' });
});

test('an unreachable MediaMTX is flagged with the error and the last success', () => {
  const s = siteSyncOf(site({ reachable: false, last_run: run(false, 'connection refused') }), now);
  assert.equal(s.state, 'unreachable');
  assert.equal(s.flagged, true);
  assert.equal(s.text, 'MediaMTX unreachable (connection refused); last success 10 s ago');
  const long = siteSyncOf(site({ reachable: false, stale: true, last_run: run(false, 'timeout'),
    last_success_at: '2026-11-30T09:50:00Z' }), now);
  assert.equal(long.text, 'MediaMTX unreachable (timeout); stale: last success 10 min ago');
});

test('a stale site is flagged even when its last round worked', () => {
  const s = siteSyncOf(site({ stale: true, last_success_at: '2026-11-30T09:40:00Z' }), now);
  assert.deepEqual(s, { state: 'stale', flagged: true, text: 'Stale: last success 20 min ago' });
});

test('a failed round of a reachable site is flagged as failing', () => {
  const s = siteSyncOf(site({ last_run: run(false, 'database: statement timeout') }), now);
  assert.equal(s.state, 'failing');
  assert.equal(s.flagged, true);
  assert.match(s.text, /^Last sync failed \(database: statement timeout\); last success 10 s ago$/);
});

test('a site with no run, or not listed by the server, is flagged; one that cannot be asked is not', () => {
  assert.equal(siteSyncOf(site({ last_run: null, last_success_at: null }), now).state, 'never');
  assert.equal(siteSyncOf(undefined, now).flagged, true);
  assert.deepEqual(siteSyncOf(null, now), { state: 'unknown', flagged: false, text: 'Sync status unknown' });
  assert.equal(siteSyncOf(site({ reachable: false, last_run: run(false), last_success_at: null }), now).text,
    'MediaMTX unreachable; no sync has succeeded yet');
});

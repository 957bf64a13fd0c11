// The wall's pure parts, without a browser: the session cap and its waiting line, the
// filter, the grouping by site, event presence, and when the page pushes or polls.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { groupBySite, matchesFilter, presenceFromEvent, siteOf } from '../../apps/dashboard/cameras.js';
import { SessionPool, sessionCap } from '../../apps/dashboard/sessions.js';
import { Updates } from '../../apps/dashboard/updates.js';

test('the cap comes from ?max-sessions, a whole number 1..256, else 16', () => {
  assert.equal(sessionCap(null), 16);
  assert.equal(sessionCap('4'), 4);
  assert.equal(sessionCap('256'), 256);
  for (const bad of ['0', '257', '-1', '2.5', 'many', '']) assert.equal(sessionCap(bad), 16, bad);
});

test('the pool starts at most max sessions; the others wait in line and start as slots free', () => {
  const started = [];
  const pool = new SessionPool(2);
  const ask = (name, opts) => pool.request(name, () => started.push(name), opts);
  assert.equal(ask('a'), true);
  assert.equal(ask('b'), true);
  assert.equal(ask('c'), false);
  assert.equal(ask('d'), false);
  assert.equal(ask('c'), false, 'asking again keeps its place');
  assert.deepEqual(started, ['a', 'b']);
  assert.equal(pool.queued, 2);
  ask('e', { first: true }); // a click goes first
  pool.release('a');
  assert.deepEqual(started, ['a', 'b', 'e']);
  pool.release('c'); // leaves the line without ever starting
  pool.release('b');
  assert.deepEqual(started, ['a', 'b', 'e', 'd']);
  assert.equal(pool.playing, 2);
  assert.equal(pool.queued, 0);
  pool.release('nobody');
  assert.equal(pool.playing, 2);
});

test('a start that gives its slot back at once passes it on', () => {
  const pool = new SessionPool(1);
  const started = [];
  pool.request('x', () => started.push('x'));
  pool.request('gone', () => {
    started.push('gone');
    pool.release('gone'); // a card that no longer wants it
  });
  pool.request('y', () => started.push('y'));
  pool.release('x');
  assert.deepEqual(started, ['x', 'gone', 'y']);
  assert.equal(pool.holds('y'), true);
});

test('the filter matches state (or "not live") and text in name, key or site', () => {
  const live = { device_key: 'gate/cam-1', name: 'Front Gate', is_active: true, device_metadata: { state: 'live' } };
  const dark = { device_key: 'yard', name: 'yard', site: 'north', is_active: false, device_metadata: { state: 'not_ready' } };
  assert.equal(matchesFilter(live, {}), true);
  assert.equal(matchesFilter(live, { state: 'live' }), true);
  assert.equal(matchesFilter(dark, { state: 'live' }), false);
  assert.equal(matchesFilter(dark, { state: 'offline' }), true);
  assert.equal(matchesFilter(dark, { state: 'not_live' }), true);
  assert.equal(matchesFilter(live, { state: 'not_live' }), false);
  assert.equal(matchesFilter(live, { text: 'front g' }), true);
  assert.equal(matchesFilter(live, { text: 'CAM-1' }), true);
  assert.equal(matchesFilter(dark, { text: 'NORTH' }), true);
  assert.equal(matchesFilter(live, { text: 'north' }), false);
  assert.equal(matchesFilter(live, { state: 'offline', text: 'gate' }), false);
});

test('devices group by site, a missing site being "default", sites by name, order kept', () => {
  const list = [{ device_key: 'a' }, { device_key: 'b', site: 'west' }, { device_key: 'c', site: '' },
    { device_key: 'd', site: 'east' }, { device_key: 'e', site: 'west' }];
  assert.equal(siteOf(list[0]), 'default');
  assert.deepEqual(groupBySite(list).map((g) => [g.site, g.cameras.map((c) => c.device_key)]),
    [['default', ['a', 'c']], ['east', ['d']], ['west', ['b', 'e']]]);
  assert.deepEqual(groupBySite([]), []);
});

test('a device event gives the camera presence; other events none', () => {
  const body = {
    type: 'device.offline', timestamp: '2026-11-30T07:00:00.123456Z',
    data: { site: 'default', device_type: 'camera', device_key: 'cam-1', name: 'cam-1', state: 'not_ready',
      previous_state: 'live', is_active: false, last_seen: '2026-11-30T06:55:00Z', state_since: '2026-11-30T06:55:01Z', reason: 'stale' },
  };
  assert.deepEqual(presenceFromEvent(body), {
    device_key: 'cam-1', is_active: false, last_seen: '2026-11-30T06:55:00Z', state_since: '2026-11-30T06:55:01Z',
    state: 'not_ready', at: '2026-11-30T07:00:00.123456Z',
  });
  assert.equal(presenceFromEvent({ type: 'site.unreachable', data: { site: 'default', devices: [] } }), null);
  assert.equal(presenceFromEvent(null), null);
});

// An EventSource the test drives.
class FakeSource {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;
  static made = [];
  constructor(url) {
    this.url = url;
    this.readyState = FakeSource.CONNECTING;
    this.listeners = {};
    FakeSource.made.push(this);
  }

  addEventListener(type, fn) {
    (this.listeners[type] ??= []).push(fn);
  }

  emit(type, event = {}) {
    for (const fn of this.listeners[type] ?? []) fn(event);
  }

  open() {
    this.readyState = FakeSource.OPEN;
    this.emit('open');
  }

  close() {
    this.readyState = FakeSource.CLOSED;
  }
}

test('push while the stream is open, polling while refused, back to push with no gap', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  FakeSource.made = [];
  const log = [];
  const updates = new Updates({
    path: '/api/events?device_type=camera',
    EventSourceImpl: FakeSource,
    onEvent: (type, body) => log.push(['event', type, body?.data?.device_key]),
    onResync: () => log.push(['resync']),
    onMode: (mode) => log.push(['mode', mode]),
  });
  updates.start();
  const first = FakeSource.made[0];
  assert.equal(first.url, '/api/events?device_type=camera');
  first.open();
  assert.deepEqual(log.splice(0), [['mode', 'push'], ['resync']], 'a stream from the newest event: refetch the list');
  first.emit('device.state', { lastEventId: '41', data: '{"data":{"device_key":"cam-1"}}' });
  assert.deepEqual(log.splice(0), [['event', 'device.state', 'cam-1']]);

  // A proxy answers 502: EventSource gives up (CLOSED). Poll, try again after 1 s, 2 s.
  first.readyState = FakeSource.CLOSED;
  first.emit('error');
  assert.deepEqual(log.splice(0), [['mode', 'polling']]);
  t.mock.timers.tick(999);
  assert.equal(FakeSource.made.length, 1);
  t.mock.timers.tick(1);
  const second = FakeSource.made[1];
  assert.equal(second.url, '/api/events?device_type=camera&after=41', 'resumes after the last event');
  second.readyState = FakeSource.CLOSED;
  second.emit('error');
  t.mock.timers.tick(1999);
  assert.equal(FakeSource.made.length, 2);
  t.mock.timers.tick(1);
  const third = FakeSource.made[2];
  third.open();
  assert.deepEqual(log.splice(0), [['mode', 'push']], 'resumed: no refetch needed');

  // Lost mid-stream: EventSource reconnects by itself; polling meanwhile.
  third.readyState = FakeSource.CONNECTING;
  third.emit('error');
  third.open();
  assert.deepEqual(log.splice(0), [['mode', 'polling'], ['mode', 'push']]);
  updates.stop();
});

test('a stream that never delivered an event refetches the list whenever it opens', () => {
  FakeSource.made = [];
  const log = [];
  const updates = new Updates({
    path: '/api/events', EventSourceImpl: FakeSource, onEvent: () => {},
    onResync: () => log.push('resync'), onMode: (mode) => log.push(mode),
  });
  updates.start();
  FakeSource.made[0].open();
  FakeSource.made[0].readyState = FakeSource.CONNECTING;
  FakeSource.made[0].emit('error');
  FakeSource.made[0].open();
  assert.deepEqual(log, ['push', 'resync', 'polling', 'push', 'resync']);
  updates.stop();
});

test('without EventSource the page polls', () => {
  const modes = [];
  new Updates({ path: '/api/events', EventSourceImpl: null, onEvent: () => {}, onResync: () => {},
    onMode: (mode) => modes.push(mode) }).start();
  assert.deepEqual(modes, ['polling']);
});

// A wall of many cameras in a real browser against the real services: only the cards on
// screen play, never more than the cap of peer connections at once (counted in the page
// by wrapping RTCPeerConnection), scrolling moves the sessions, a hidden tab holds none;
// the filter and the grouping by site work.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  apiServer, artifacts, browser, countPeerConnections, fakeMediamtx, pathItem, schemaUrl, sleep, syncOnce,
} from './harness.mjs';

const COUNT = 60;
const CAP = 4;
const key = (i) => `cam-${String(i).padStart(3, '0')}`;
const offline = (i) => i % 10 === 9; // cam-009, cam-019, ...: a source, nothing delivered
let fake, db, api, chrome, page;

const pcs = (p = page) => p.evaluate(() => ({ ...window.__pc }));

// The cards by status, and whether each is within the viewport.
async function cardStates(p = page) {
  return p.locator('[data-testid="camera"]').evaluateAll((nodes) => nodes.map((n) => {
    const r = n.getBoundingClientRect();
    return {
      key: n.dataset.key,
      status: n.dataset.status,
      hidden: n.hidden,
      visible: !n.hidden && r.bottom > 0 && r.top < window.innerHeight,
      stream: Boolean(n.querySelector('video')?.srcObject),
    };
  }));
}

async function waitPlaying(count, p = page, timeout = 30000) {
  await p.waitForFunction((n) => document.querySelectorAll('[data-testid="camera"][data-status="playing"]').length >= n,
    count, { timeout });
}

// What a hidden tab tells the page (headless Chromium never hides one by itself).
async function setHidden(hidden) {
  await page.evaluate((h) => {
    if (h) {
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
    } else {
      delete document.visibilityState;
      delete document.hidden;
    }
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

before(async () => {
  fake = await fakeMediamtx();
  const items = [];
  for (let i = 0; i < COUNT; i++) items.push(offline(i) ? pathItem(key(i), { available: false }) : pathItem(key(i)));
  await fake.control('paths', items);
  db = schemaUrl('browser_many');
  syncOnce(db, fake);
  api = await apiServer(db, fake.webrtc);
  chrome = await browser();
  page = await chrome.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('pageerror', (error) => console.error('page error:', error));
  await page.addInitScript(countPeerConnections);
  await page.goto(`${api.url}/?max-sessions=${CAP}&refresh=1000`);
});

after(async () => {
  await chrome?.close();
  api?.process.kill();
  fake?.process.kill();
});

test(`with ${COUNT} cameras and a cap of ${CAP}, only ${CAP} on-screen cards play and the others on screen wait`, async () => {
  await page.locator('[data-testid="camera"]').nth(COUNT - 1).waitFor({ state: 'attached' });
  await waitPlaying(CAP);
  await sleep(1500); // time for anything wrong to open more
  const states = await cardStates();
  const playing = states.filter((c) => c.status === 'playing');
  assert.deepEqual(playing.map((c) => c.key), [key(0), key(1), key(2), key(3)], 'the first cards on screen play');
  const waiting = states.filter((c) => c.status === 'queued');
  assert.ok(waiting.length >= 4, `more cards are on screen than the cap, and wait (${waiting.length})`);
  assert.ok(waiting.every((c) => c.visible || c.key <= key(20)), 'only cards on (or near) the screen wait');
  assert.ok(states.filter((c) => !c.visible).every((c) => !c.stream), 'no card off screen has a stream');
  assert.match(await page.locator(`[data-key="${waiting[0].key}"] .overlay-message`).textContent(), /Waiting for a free video slot/);
  const stats = await pcs();
  assert.equal(stats.open, CAP);
  assert.ok(stats.max <= CAP, `never more than ${CAP} peer connections (${stats.max})`);
  assert.match(await page.locator('[data-testid="sessions"]').textContent(), new RegExp(`^Video: ${CAP} of ${CAP} playing · \\d+ waiting$`));
  assert.equal(await page.locator('[data-testid="site-group"]').count(), 0, 'one site: no groups');
  await page.screenshot({ path: path.join(artifacts, 'wall-many.png') });
});

test('the cards play the camera\'s own packets, as MediaMTX forwards them: H264 from a keyframe', async () => {
  await waitPlaying(CAP);
  // What each open peer connection decoded (the browser's own statistics).
  const received = await page.evaluate(async () => Promise.all([...window.__peers].map(async (pc) => {
    const stats = [...(await pc.getStats()).values()];
    const video = stats.find((s) => s.type === 'inbound-rtp' && s.kind === 'video');
    const codec = stats.find((s) => s.id === video?.codecId);
    return { codec: codec?.mimeType, frames: video?.framesDecoded, keyframes: video?.keyFramesDecoded };
  })));
  assert.equal(received.length, CAP);
  for (const r of received) {
    assert.equal(r.codec, 'video/H264', 'the stream is H264, as most cameras send');
    assert.ok(r.frames > 0 && r.keyframes >= 1, `decoded from a keyframe on (${JSON.stringify(r)})`);
  }
  // The fake answered every session in the codec of the clip it forwards, and holds one
  // encoded clip per tint, not an encoder per session.
  const server = await fake.control('whep');
  assert.ok(server.codecs.H264 >= CAP, JSON.stringify(server.codecs));
  assert.deepEqual(server.clips, ['H264/0', 'H264/1', 'H264/2']);
});

test('scrolling plays the newly visible cards and closes the ones scrolled away', async () => {
  const before = await fake.control('whep');
  await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
  await page.waitForFunction(() => {
    const playing = [...document.querySelectorAll('[data-testid="camera"][data-status="playing"]')];
    return playing.length >= 4 && playing.every((n) => n.getBoundingClientRect().bottom > 0);
  }, null, { timeout: 30000 });
  const states = await cardStates();
  const playing = states.filter((c) => c.status === 'playing');
  assert.equal(playing.length, CAP);
  assert.ok(playing.every((c) => c.visible && c.key > key(40)), `the bottom cards play: ${playing.map((c) => c.key)}`);
  for (const k of [key(0), key(1), key(2), key(3)]) {
    const top = states.find((c) => c.key === k);
    assert.equal(top.status, 'paused', `${k} was paused`);
    assert.equal(top.stream, false, `${k} holds no stream`);
  }
  assert.match(await page.locator(`[data-key="${key(0)}"] .overlay-message`).textContent(), /Paused \(off screen\)/);
  const stats = await pcs();
  assert.equal(stats.open, CAP);
  assert.ok(stats.max <= CAP, `never more than ${CAP} peer connections (${stats.max})`);
  // Their WHEP sessions were deleted on the server, not left to time out.
  for (let i = 0; i < 50 && (await fake.control('whep')).deletes < before.deletes + CAP; i++) await sleep(100);
  assert.ok((await fake.control('whep')).deletes >= before.deletes + CAP);
  // And back up: the first ones play again.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.locator(`[data-key="${key(0)}"][data-status="playing"]`).waitFor({ timeout: 30000 });
  assert.ok((await pcs()).max <= CAP);
});

test('a hidden tab closes every session and a visible one resumes', async () => {
  await waitPlaying(CAP);
  await setHidden(true);
  await page.waitForFunction(() => window.__pc.open === 0, null, { timeout: 5000 });
  assert.equal(await page.locator('[data-testid="camera"][data-status="playing"]').count(), 0);
  assert.match(await page.locator(`[data-key="${key(0)}"] .overlay-message`).textContent(), /Paused \(tab hidden\)/);
  for (let i = 0; i < 50 && (await fake.control('whep')).sessions > 0; i++) await sleep(100);
  assert.equal((await fake.control('whep')).sessions, 0, 'the server holds no session either');
  await setHidden(false);
  await waitPlaying(CAP);
  const stats = await pcs();
  assert.equal(stats.open, CAP);
  assert.ok(stats.max <= CAP);
});

test('the filter narrows the wall by state and by name or key', async () => {
  const shown = async () => (await cardStates()).filter((c) => !c.hidden).map((c) => c.key);
  await page.locator('[data-testid="filter-state"]').selectOption('offline');
  const dark = await shown();
  assert.deepEqual(dark, [9, 19, 29, 39, 49, 59].map(key));
  assert.equal(await page.locator('#summary').textContent(), `${COUNT} cameras · ${COUNT - 6} live · 6 shown`);
  assert.equal(new URL(page.url()).searchParams.get('state'), 'offline', 'the filter is in the address, to share');
  await page.waitForFunction(() => window.__pc.open === 0, null, { timeout: 5000 }); // nothing shown plays

  await page.locator('[data-testid="filter-state"]').selectOption('');
  await page.locator('[data-testid="filter-text"]').fill('CAM-05');
  assert.deepEqual(await shown(), [50, 51, 52, 53, 54, 55, 56, 57, 58, 59].map(key));
  await waitPlaying(CAP); // the shown cards are on screen now, and play
  const playing = (await cardStates()).filter((c) => c.status === 'playing').map((c) => c.key);
  assert.deepEqual(playing, [50, 51, 52, 53].map(key));

  await page.locator('[data-testid="filter-state"]').selectOption('live');
  assert.deepEqual(await shown(), [50, 51, 52, 53, 54, 55, 56, 57, 58].map(key));
  await page.locator('[data-testid="filter-text"]').fill('');
  await page.locator('[data-testid="filter-state"]').selectOption('');
  assert.equal((await shown()).length, COUNT);
  assert.equal(await page.locator('#summary').textContent(), `${COUNT} cameras · ${COUNT - 6} live`);
  assert.ok((await pcs()).max <= CAP);
});

test('cameras of two sites are grouped by site, and the filter applies within', async () => {
  const fresh = await chrome.newPage({ viewport: { width: 1400, height: 900 } });
  // Devices carry no site yet: give the first twenty one, the rest stay "default".
  await fresh.route('**/api/devices?*', async (route) => {
    const response = await route.fetch();
    if (response.status() !== 200) return route.fulfill({ response });
    const devices = await response.json();
    for (const d of devices) if (d.device_key < key(20)) d.site = 'north';
    return route.fulfill({
      status: 200,
      headers: { 'content-type': 'application/json', etag: response.headers().etag ?? '' },
      body: JSON.stringify(devices),
    });
  });
  await fresh.goto(`${api.url}/?max-sessions=2`);
  const groups = fresh.locator('[data-testid="site-group"]');
  await groups.nth(1).waitFor();
  await fresh.locator('[data-testid="camera"]').nth(COUNT - 1).waitFor({ state: 'attached' }); // every card made
  assert.deepEqual(await groups.evaluateAll((nodes) => nodes.map((n) => n.dataset.site)), ['default', 'north']);
  assert.equal(await groups.nth(0).locator('h2.site-name').textContent(), 'default · 40 cameras');
  assert.equal(await groups.nth(1).locator('h2.site-name').textContent(), 'north · 20 cameras');
  const northKeys = await groups.nth(1).locator('[data-testid="camera"]').evaluateAll((n) => n.map((c) => c.dataset.key));
  assert.deepEqual(northKeys, Array.from({ length: 20 }, (_, i) => key(i)), 'in key order within the site');
  await fresh.locator('[data-testid="filter-text"]').fill('north');
  await fresh.waitForFunction(() => document.querySelector('[data-site="default"]').hidden);
  assert.equal(await groups.nth(1).isVisible(), true);
  await fresh.locator('[data-testid="filter-text"]').fill('cam-01');
  assert.equal(await groups.nth(0).locator('h2.site-name').textContent(), 'default · 40 cameras · 0 shown');
  assert.equal(await groups.nth(1).locator('h2.site-name').textContent(), 'north · 20 cameras · 10 shown');
  await fresh.screenshot({ path: path.join(artifacts, 'wall-sites.png') });
  await fresh.close();
});

test('a wall of hundreds plays its first screen before it has made every card', async () => {
  const many = 300;
  await fake.control('paths', Array.from({ length: many }, (_, i) => pathItem(key(i))));
  const db300 = schemaUrl('browser_many_300');
  syncOnce(db300, fake);
  const api300 = await apiServer(db300, fake.webrtc);
  const fresh = await chrome.newPage({ viewport: { width: 1400, height: 900 } });
  try {
    // How many cards the page held when it made its first peer connection.
    await fresh.addInitScript(() => {
      const Native = window.RTCPeerConnection;
      window.RTCPeerConnection = class extends Native {
        constructor(...args) {
          super(...args);
          window.__cardsAtFirstSession ??= document.querySelectorAll('[data-testid="camera"]').length;
        }
      };
    });
    await fresh.goto(`${api300.url}/?max-sessions=16`);
    // Every card on screen plays (fewer than the cap are on screen) ...
    await fresh.waitForFunction(() => {
      const onScreen = [...document.querySelectorAll('[data-testid="camera"]')].filter((n) => {
        const r = n.getBoundingClientRect();
        return r.bottom > 0 && r.top < window.innerHeight;
      });
      return onScreen.length > 0 && onScreen.every((n) => n.dataset.status === 'playing');
    }, null, { timeout: 30000 });
    // ... the wall is whole, in key order ...
    await fresh.locator('[data-testid="camera"]').nth(many - 1).waitFor({ state: 'attached' });
    const keys = await fresh.locator('[data-testid="camera"]').evaluateAll((n) => n.map((c) => c.dataset.key));
    assert.deepEqual(keys, Array.from({ length: many }, (_, i) => key(i)));
    // ... and its first session did not wait for the last card to be made.
    const atFirst = await fresh.evaluate(() => window.__cardsAtFirstSession);
    assert.ok(atFirst > 0 && atFirst < many, `the first session started with ${atFirst} of ${many} cards made`);
  } finally {
    await fresh.close();
    api300.process.kill();
  }
});

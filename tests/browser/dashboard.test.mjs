// The dashboard in a real browser against the real services: every camera gets a card,
// live ones play real frames over WebRTC, offline ones say why, and the loading, error
// and empty states, HTML-inert keys and WHEP retry all hold.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { apiServer, artifacts, browser, fakeMediamtx, pathItem, psql, schemaUrl, sleep, syncOnce } from './harness.mjs';

const EVIL = '<img src=x onerror="window.__pwned=1">';
let fake, db, api, chrome, page;

// Frames the <video> of a card has decoded so far, and its size.
async function videoStats(key) {
  return page.evaluate((k) => {
    const card = [...document.querySelectorAll('[data-testid="camera"]')].find((c) => c.dataset.key === k);
    const video = card?.querySelector('video');
    if (!video) return null;
    return { width: video.videoWidth, height: video.videoHeight, frames: video.getVideoPlaybackQuality().totalVideoFrames };
  }, key);
}

function card(key) {
  return page.locator(`[data-testid="camera"][data-key="${key.replace(/["\\]/g, '\\$&')}"]`);
}

before(async () => {
  fake = await fakeMediamtx();
  await fake.control('paths', [
    pathItem('cam-lobby'),
    pathItem('cam-parking', { available: false, source: 'rtspSource' }),
    pathItem('site-a/building.2/cam_1'),
    pathItem(EVIL, { available: false, source: null }),
  ]);
  db = schemaUrl('browser_wall');
  syncOnce(db, fake);
  // A camera that was live ten minutes ago and went dark.
  psql(db, `INSERT INTO devices (device_key, device_type, name, last_seen, is_active, device_metadata)
            VALUES ('cam-yard', 'camera', 'Yard', now() - interval '10 minutes', false,
                    '{"state": "removed", "ready": false, "whep_url": "http://127.0.0.1:9/cam-yard/whep"}')`);
  api = await apiServer(db, fake.webrtc);
  chrome = await browser();
  page = await chrome.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('pageerror', (error) => console.error('page error:', error));
  await page.goto(`${api.url}/?refresh=1000`);
});

after(async () => {
  await chrome?.close();
  api?.process.kill();
  fake?.process.kill();
});

test('the wall shows a card for every camera, in key order', async () => {
  await page.locator('[data-testid="camera"]').nth(4).waitFor();
  const keys = await page.locator('[data-testid="camera"]').evaluateAll((cards) => cards.map((c) => c.dataset.key));
  assert.deepEqual(keys, [EVIL, 'cam-lobby', 'cam-parking', 'cam-yard', 'site-a/building.2/cam_1']);
  assert.equal(await page.locator('#summary').textContent(), '5 cameras · 2 live');
  assert.equal(await page.locator('[data-testid="loading"]').isHidden(), true);
});

test('live cameras play real, moving frames', async () => {
  for (const key of ['cam-lobby', 'site-a/building.2/cam_1']) {
    await card(key).and(page.locator('[data-status="playing"]')).waitFor({ timeout: 20000 });
    const first = await videoStats(key);
    assert.equal(first.width, 320, `${key} has real dimensions`);
    assert.equal(first.height, 240);
    await sleep(1500);
    const later = await videoStats(key);
    assert.ok(later.frames > first.frames + 5, `${key} keeps decoding frames (${first.frames} -> ${later.frames})`);
    assert.equal(await card(key).locator('.badge').textContent(), 'Live');
  }
  await page.screenshot({ path: path.join(artifacts, 'dashboard-wall.png'), fullPage: true });
});

test('offline cameras say why and when they were last seen', async () => {
  const parking = card('cam-parking');
  assert.equal(await parking.getAttribute('data-status'), 'offline');
  assert.equal(await parking.locator('.badge').textContent(), 'Offline');
  assert.match(await parking.locator('.reason').textContent(), /source is attached but not ready.*never seen live/);
  const yard = card('cam-yard');
  assert.equal(await yard.locator('.name').textContent(), 'Yard');
  assert.match(await yard.locator('.reason').textContent(), /no longer listed by MediaMTX; last seen 10 min ago/);
  assert.equal(await yard.locator('video').count(), 0, 'no stream is opened for it (a card has a <video> only while it has one)');
});

test('a device key made of HTML stays text', async () => {
  const evil = card(EVIL);
  assert.equal(await evil.locator('.name').textContent(), EVIL);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.equal(await page.locator('[data-testid="grid"] img').count(), 0);
});

test('the sync status says when the registry last synced', async () => {
  await page.waitForFunction(() => document.getElementById('sync-status').dataset.state === 'ok');
  assert.match(await page.locator('#sync-status').textContent(), /^Last sync \d+ s ago$/);
});

test('a failing WHEP endpoint shows the retry UI and recovers when it comes back', async () => {
  await fake.control('whep', { mode: 'fail', drop: true });
  const lobby = card('cam-lobby');
  await lobby.and(page.locator('[data-status="failed"]')).waitFor({ timeout: 15000 });
  assert.equal(await lobby.locator('button.retry').isVisible(), true);
  assert.match(await lobby.locator('.overlay-message').textContent(), /Stream unavailable \(.*\)\. Retrying in \d+ s\./);
  await fake.control('whep', { mode: 'ok' });
  await lobby.locator('button.retry').click();
  await lobby.and(page.locator('[data-status="playing"]')).waitFor({ timeout: 20000 });
  const first = await videoStats('cam-lobby');
  await sleep(1000);
  assert.ok((await videoStats('cam-lobby')).frames > first.frames, 'frames flow again');
  // The other live camera recovers by itself, with back-off.
  await card('site-a/building.2/cam_1').and(page.locator('[data-status="playing"]')).waitFor({ timeout: 20000 });
});

test('a WHEP server that never answers: the card gives up after 10 s, says so, and recovers', async () => {
  await fake.control('whep', { mode: 'hang', drop: true });
  const lobby = card('cam-lobby');
  // Dropped, the card retries; its POST then hangs until whep.js gives up on it.
  await lobby.locator('.overlay-message').filter({ hasText: 'no answer within 10 s' }).waitFor({ timeout: 30000 });
  assert.equal(await lobby.getAttribute('data-status'), 'failed');
  assert.match(await lobby.locator('.overlay-message').textContent(), /Stream unavailable \(no answer within 10 s\)\. Retrying in \d+ s\./);
  assert.equal(await lobby.locator('button.retry').isVisible(), true);
  assert.ok((await fake.control('whep')).hung >= 1, 'the POST reached the server and hung there');
  await fake.control('whep', { mode: 'ok' });
  await lobby.locator('button.retry').click();
  await lobby.and(page.locator('[data-status="playing"]')).waitFor({ timeout: 20000 });
  await card('site-a/building.2/cam_1').and(page.locator('[data-status="playing"]')).waitFor({ timeout: 40000 });
});

test('the browser trickles its ICE candidates to the session it opened (RFC 9725 PATCH)', async () => {
  // Only where the browser has an address to offer (it gathers none on loopback alone).
  const candidates = await page.evaluate(async () => {
    const pc = new RTCPeerConnection();
    pc.createDataChannel('probe');
    await pc.setLocalDescription(await pc.createOffer());
    for (let i = 0; i < 50 && pc.iceGatheringState !== 'complete'; i++) await new Promise((r) => setTimeout(r, 100));
    const n = pc.localDescription.sdp.split('\r\n').filter((l) => l.startsWith('a=candidate:')).length;
    pc.close();
    return n;
  });
  const whep = await fake.control('whep');
  if (candidates === 0) return;
  // The fake refuses a PATCH without the offer's ICE credentials or a candidate under an
  // m= line (as MediaMTX would), and counts the others.
  assert.ok(whep.patches >= 1, `sessions PATCHed their candidates (${JSON.stringify(whep)})`);
  assert.ok(whep.trickled >= whep.patches);
});

test('a camera that goes away is torn down and its WHEP session deleted', async () => {
  const before = await fake.control('whep');
  psql(db, "DELETE FROM devices WHERE device_key = 'site-a/building.2/cam_1'");
  // A deleted row is not an event: a pushed wall sees it at its next revalidation of the
  // list (every 6 refresh periods, 6 s here).
  await card('site-a/building.2/cam_1').waitFor({ state: 'detached', timeout: 10000 });
  for (let i = 0; i < 50 && (await fake.control('whep')).deletes === before.deletes; i++) await sleep(100);
  assert.ok((await fake.control('whep')).deletes > before.deletes);
});

test('loading, then the API-down error, then recovery', async () => {
  const other = await apiServer(db, fake.webrtc);
  const fresh = await chrome.newPage();
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  await fresh.route('**/api/devices*', async (route) => { await held; await route.continue(); });
  await fresh.goto(`${other.url}/?refresh=500`);
  assert.equal(await fresh.locator('[data-testid="loading"]').isVisible(), true);
  release();
  await fresh.locator('[data-testid="camera"]').first().waitFor();
  await fresh.unroute('**/api/devices*');
  other.process.kill();
  await fresh.locator('[data-testid="error"]').waitFor({ state: 'visible', timeout: 5000 });
  assert.match(await fresh.locator('[data-testid="error"] h2').textContent(), /cannot be reached/);
  await fresh.close();
});

test('an empty registry says how to add cameras', async () => {
  const emptyDb = schemaUrl('browser_empty');
  const emptyFake = await fakeMediamtx();
  syncOnce(emptyDb, emptyFake);
  const server = await apiServer(emptyDb, emptyFake.webrtc);
  const fresh = await chrome.newPage();
  await fresh.goto(server.url);
  await fresh.locator('[data-testid="empty"]').waitFor({ state: 'visible' });
  assert.match(await fresh.locator('[data-testid="empty"]').textContent(), /Add paths to mediamtx\.yml/);
  await fresh.close();
  server.process.kill();
  emptyFake.process.kill();
});

test('a link cannot point the wall at another API', async () => {
  const fresh = await chrome.newPage();
  const elsewhere = [];
  fresh.on('request', (request) => {
    if (new URL(request.url()).origin !== api.url) elsewhere.push(request.url());
  });
  await fresh.goto(`${api.url}/?api=http://127.0.0.1:1&refresh=500`);
  await fresh.locator('[data-testid="camera"]').first().waitFor();
  await fresh.waitForFunction(() => document.getElementById('sync-status').dataset.state === 'ok');
  assert.deepEqual(elsewhere.filter((url) => new URL(url).port === '1'), []);
  assert.equal(await fresh.locator('[data-testid="error"]').isHidden(), true);
  const csp = (await fresh.request.get(`${api.url}/`)).headers()['content-security-policy'];
  assert.match(csp, new RegExp(`connect-src 'self' ${fake.webrtc};`));
  await fresh.close();
});

test('the wall says stale when the server does, and cannot tell when it cannot ask', async () => {
  const fresh = await chrome.newPage();
  let answer = 'stale';
  const asked = [];
  await fresh.route((url) => url.pathname === '/api/sync/status', async (route) => {
    asked.push(new URL(route.request().url()).searchParams.get('site'));
    if (answer === 'fail') return route.abort();
    await route.fulfill({
      contentType: 'application/json',
      body: JSON.stringify({ last_run: { ok: true }, last_ok_run: { ok: true }, seconds_since_last_ok: 30, stale: true, runs: [] }),
    });
  });
  await fresh.goto(`${api.url}/?refresh=500`);
  await fresh.waitForFunction(() => document.getElementById('sync-status').dataset.state === 'stale');
  assert.match(await fresh.locator('#sync-status').textContent(), /Registry stale/);
  // The wall of the default site asks for that site's status, never every site's.
  assert.deepEqual([...new Set(asked)], ['default']);
  answer = 'fail';
  await fresh.waitForFunction(() => document.getElementById('sync-status').dataset.state === 'unknown');
  assert.match(await fresh.locator('#sync-status').textContent(), /Cannot tell whether the registry is up to date/);
  await fresh.close();
});

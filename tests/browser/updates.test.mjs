// The wall pushed, not polled, against the real services: a change a round commits
// reaches the card over GET /api/events (SSE) without waiting for a poll (the time is
// printed); when a proxy refuses the stream the page polls and says so, and it returns
// to the stream when the stream comes back.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { apiServer, browser, fakeMediamtx, pathItem, schemaUrl, sleep, syncOnce } from './harness.mjs';

const KEYS = ['cam-a', 'cam-b', 'cam-c'];
let fake, db, api, chrome, page;
const down = new Set();

// Commits a round where the cameras in `down` have a source that delivers nothing.
async function round() {
  await fake.control('paths', KEYS.map((k) => (down.has(k) ? pathItem(k, { available: false, source: 'rtspSource' }) : pathItem(k))));
  syncOnce(db, fake);
}

const badge = (p, key) => p.locator(`[data-testid="camera"][data-key="${key}"] .badge`);

async function waitBadge(p, key, text, timeout) {
  await p.waitForFunction(([k, t]) => document.querySelector(`[data-testid="camera"][data-key="${k}"] .badge`)?.textContent === t,
    [key, text], { timeout, polling: 20 });
}

before(async () => {
  fake = await fakeMediamtx();
  db = schemaUrl('browser_push');
  await round();
  api = await apiServer(db, fake.webrtc);
  chrome = await browser();
  // A poll every minute: anything faster came over the stream.
  page = await chrome.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('pageerror', (error) => console.error('page error:', error));
  await page.goto(`${api.url}/?refresh=60000&max-sessions=1`);
});

after(async () => {
  await chrome?.close();
  api?.process.kill();
  fake?.process.kill();
});

test('the wall follows the event stream and says so', async () => {
  await page.locator('[data-testid="updates"][data-mode="push"]').waitFor({ timeout: 10000 });
  assert.equal(await page.locator('[data-testid="updates"]').textContent(), 'Live updates');
  assert.equal(await badge(page, 'cam-b').textContent(), 'Live');
});

test('a state change committed by a round shows on the card without waiting for a poll', async () => {
  const times = [];
  for (let i = 0; i < 6; i++) {
    const goingDown = i % 2 === 0;
    if (goingDown) down.add('cam-b');
    else down.delete('cam-b');
    await round(); // returns once the round has committed
    const committed = performance.now();
    await waitBadge(page, 'cam-b', goingDown ? 'Not ready' : 'Live', 5000);
    times.push(performance.now() - committed);
  }
  times.sort((a, b) => a - b);
  console.log(`commit -> card over SSE: ${times.map((t) => t.toFixed(0)).join(', ')} ms (max ${times.at(-1).toFixed(0)} ms; the poll is 60 s)`);
  assert.ok(times.at(-1) < 5000);
  assert.equal(await page.locator('[data-testid="updates"]').getAttribute('data-mode'), 'push');
});

test('a proxy refusing /api/events makes the wall poll and say so; it returns to the stream', async () => {
  const fresh = await chrome.newPage({ viewport: { width: 1400, height: 900 } });
  let refused = 0;
  await fresh.route('**/api/events*', (route) => {
    refused += 1;
    return route.fulfill({ status: 502, contentType: 'text/html', body: '<h1>502 Bad Gateway</h1>' });
  });
  await fresh.goto(`${api.url}/?refresh=1000&max-sessions=1`);
  await fresh.locator('[data-testid="updates"][data-mode="polling"]').waitFor({ timeout: 10000 });
  assert.equal(await fresh.locator('[data-testid="updates"]').textContent(), 'Polling every 1 s');
  // Changes still arrive, by polling.
  down.add('cam-c');
  await round();
  await waitBadge(fresh, 'cam-c', 'Not ready', 5000);
  await sleep(2500); // it keeps trying the stream, backing off
  assert.ok(refused >= 2, `the stream was tried again (${refused} times)`);
  assert.equal(await fresh.locator('[data-testid="updates"]').getAttribute('data-mode'), 'polling');

  // The proxy lets it through again: back to push within the back-off (at most 15 s).
  await fresh.unroute('**/api/events*');
  const back = performance.now();
  await fresh.locator('[data-testid="updates"][data-mode="push"]').waitFor({ timeout: 20000 });
  console.log(`stream recovered ${(performance.now() - back).toFixed(0)} ms after the proxy let it through`);
  assert.equal(await fresh.locator('[data-testid="updates"]').textContent(), 'Live updates');
  // Pushed for sure: with the list unreachable, the card still changes, from the event.
  await fresh.route('**/api/devices*', (route) => route.abort());
  down.delete('cam-c');
  await round();
  await waitBadge(fresh, 'cam-c', 'Live', 5000);
  await fresh.unroute('**/api/devices*');
  await fresh.close();
});

// Several sites on one wall, against the real services: three fake MediaMTX servers (two
// share the path name cam1), a looping sync-worker per site, api-server and PostgreSQL.
// Each site's group says its own sync status (GET /api/sites); when one site's MediaMTX
// stops, only that site's group is flagged, the page is not, and the flag clears when it
// comes back.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { apiServer, artifacts, browser, pathItem, root, schemaUrl, start, syncOnce } from './harness.mjs';

const buildDir = process.env.CAMREG_BUILD_DIR ?? path.join(root, 'build/ci');
const PATHS = { default: ['cam1', 'cam2'], north: ['cam1', 'cam3'], south: ['cam1'] };
const STALE_AFTER = '4s';
const fakes = {};
const workers = {};
let db, api, chrome, page;

// A fake MediaMTX (no WebRTC) on `listen`, serving the site's paths.
async function fakeMediamtx(site, listen = '127.0.0.1:0') {
  const p = start('/usr/bin/python3', [path.join(root, 'tests/fake_mediamtx/fake_mediamtx.py'), '--listen', listen],
    /\{"port":(\d+)/, `fake MediaMTX of ${site}`);
  const port = (await p.matched)[1];
  const api = `http://127.0.0.1:${port}`;
  const r = await fetch(`${api}/_fake/paths`, { method: 'PUT', body: JSON.stringify(PATHS[site].map((n) => pathItem(n))) });
  assert.equal(r.status, 200);
  return { process: p.child, api, port, webrtc: 'http://127.0.0.1:9' };
}

function worker(site) {
  return start(path.join(buildDir, 'apps/sync-worker/sync-worker'),
    ['--database-url', db, '--site', site, '--mediamtx-url', fakes[site].api, '--webrtc-url', fakes[site].webrtc,
      '--interval', '1s', '--stale-after', '1m'],
    /round/, `sync-worker of ${site}`);
}

const groupOf = (site) => page.locator(`[data-testid="site-group"][data-site="${site}"]`);
const syncText = (site) => groupOf(site).locator('[data-testid="site-sync"]').textContent();
const flags = () => page.locator('[data-testid="site-group"]').evaluateAll((nodes) =>
  Object.fromEntries(nodes.map((n) => [n.dataset.site, `${n.dataset.sync}/${n.dataset.flagged}`])));

async function waitSync(site, state, timeout = 15000) {
  await page.waitForFunction(([s, st]) => document.querySelector(`[data-testid="site-group"][data-site="${s}"]`)?.dataset.sync === st,
    [site, state], { timeout, polling: 50 });
}

before(async () => {
  db = schemaUrl('browser_sites');
  for (const site of Object.keys(PATHS)) fakes[site] = await fakeMediamtx(site);
  syncOnce(db, fakes.default, ['--site', 'default']); // migrates
  api = await apiServer(db, null, ['--registry-stale-after', STALE_AFTER]);
  for (const site of Object.keys(PATHS)) workers[site] = worker(site);
  await Promise.all(Object.values(workers).map((w) => w.matched));
  chrome = await browser();
  page = await chrome.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('pageerror', (error) => console.error('page error:', error));
  await page.goto(`${api.url}/?refresh=1000&max-sessions=1`);
});

after(async () => {
  await chrome?.close();
  for (const w of Object.values(workers)) w.child.kill();
  api?.process.kill();
  for (const f of Object.values(fakes)) f.process.kill();
});

test('each site is a group of its cameras, headed by its own sync status', async () => {
  for (const site of Object.keys(PATHS)) await waitSync(site, 'ok');
  const groups = page.locator('[data-testid="site-group"]');
  assert.deepEqual(await groups.evaluateAll((nodes) => nodes.map((n) => n.dataset.site)), ['default', 'north', 'south']);
  const keys = (site) => groupOf(site).locator('[data-testid="camera"]').evaluateAll((n) => n.map((c) => c.dataset.key));
  assert.deepEqual(await keys('default'), ['cam1', 'cam2'], 'the default site keeps plain path names');
  assert.deepEqual(await keys('north'), ['north@cam1', 'north@cam3']);
  assert.deepEqual(await keys('south'), ['south@cam1']);
  for (const site of Object.keys(PATHS)) assert.match(await syncText(site), /^Last sync \d+ s ago$/);
  assert.deepEqual(await flags(), { default: 'ok/false', north: 'ok/false', south: 'ok/false' });
  assert.equal(await page.locator('#sync-status').getAttribute('data-state'), 'by-site');
  assert.equal(await page.locator('#sync-status').textContent(), 'Sync status by site: 3 of 3 up to date');
});

test('a site whose MediaMTX stops is flagged on its group only, not on the page', async () => {
  fakes.north.process.kill();
  const stopped = performance.now();
  await waitSync('north', 'unreachable');
  console.log(`north's MediaMTX stopped -> its group flagged: ${(performance.now() - stopped).toFixed(0)} ms` +
    ' (worker every 1 s, the wall polls /api/sites every 1 s)');
  assert.match(await syncText('north'), /^MediaMTX unreachable.*; last success \d+ s ago$/);
  assert.equal(await groupOf('north').getAttribute('data-flagged'), 'true');
  // Past the registry's stale window: north is stale too, the others still are not.
  await page.waitForFunction(() => /stale: last success/.test(
    document.querySelector('[data-site="north"] [data-testid="site-sync"]')?.textContent ?? ''), null, { timeout: 15000 });
  assert.deepEqual(await flags(), { default: 'ok/false', north: 'unreachable/true', south: 'ok/false' });
  for (const site of ['default', 'south']) assert.match(await syncText(site), /^Last sync \d+ s ago$/);
  assert.notEqual(await page.locator('#sync-status').getAttribute('data-state'), 'stale', 'the page is not flagged');
  assert.equal(await page.locator('#sync-status').textContent(), 'Sync status by site: 2 of 3 up to date');
  // The north group's cameras are still on the wall, in their group.
  assert.equal(await groupOf('north').locator('[data-testid="camera"]').count(), 2);
  await page.screenshot({ path: path.join(artifacts, 'wall-site-down.png') });
});

test('the flag clears when the site\'s MediaMTX is back', async () => {
  fakes.north = await fakeMediamtx('north', `127.0.0.1:${fakes.north.port}`);
  await waitSync('north', 'ok');
  assert.deepEqual(await flags(), { default: 'ok/false', north: 'ok/false', south: 'ok/false' });
  assert.equal(await page.locator('#sync-status').textContent(), 'Sync status by site: 3 of 3 up to date');
});

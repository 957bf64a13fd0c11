// The camera wall: loading, error and empty states, a card per camera, the sync status.
import { Registry, ago } from './cameras.js';
import { CameraCard } from './camera-card.js';

const params = new URLSearchParams(window.location.search);
const refreshMs = Math.max(500, Number(params.get('refresh')) || 5000);
const STALE_AFTER_S = 180; // only when the server does not say (before "stale" existed)

// The API is this page's origin, always: a link must not point the wall at another one
// (the server's Content-Security-Policy forbids it too).
const registry = new Registry('');
const cards = new Map();
const HISTORY_MS = 60000;
let histories = new Map(); // device_key -> its last 24 hours (GET /api/history)
const $ = (id) => document.getElementById(id);
let timer = null;

function showOnly(section) {
  for (const id of ['loading', 'error', 'empty']) $(id).hidden = id !== section;
}

function render(cameras) {
  const seen = new Set();
  for (const camera of cameras) {
    seen.add(camera.device_key);
    const card = cards.get(camera.device_key);
    if (card) card.update(camera);
    else {
      const created = new CameraCard(camera);
      created.setHistory(histories.get(camera.device_key));
      cards.set(camera.device_key, created);
    }
  }
  for (const [key, card] of cards) {
    if (!seen.has(key)) {
      card.destroy();
      cards.delete(key);
    }
  }
  // Keep the API's order (by device_key).
  const grid = $('grid');
  cameras.forEach((camera, index) => {
    const node = cards.get(camera.device_key).root;
    if (grid.children[index] !== node) grid.insertBefore(node, grid.children[index] ?? null);
  });
  const live = cameras.filter((c) => c.is_active && c.device_metadata?.state === 'live').length;
  $('summary').textContent = `${cameras.length} camera${cameras.length === 1 ? '' : 's'} · ${live} live`;
}

function renderSync(status) {
  const node = $('sync-status');
  const last = status.last_run;
  if (!last) {
    node.dataset.state = 'stale';
    node.textContent = 'No sync has run yet: is sync-worker running?';
  } else if (status.stale ?? (status.seconds_since_last_ok === null || status.seconds_since_last_ok > STALE_AFTER_S)) {
    node.dataset.state = 'stale';
    node.textContent = status.last_ok_run
      ? `Registry stale: last successful sync ${ago(status.seconds_since_last_ok)}`
      : 'Registry stale: no sync has succeeded yet';
  } else if (!last.ok) {
    node.dataset.state = 'failing';
    node.textContent = `Last sync failed (${last.error}); last success ${ago(status.seconds_since_last_ok)}`;
  } else {
    node.dataset.state = 'ok';
    node.textContent = `Last sync ${ago(status.seconds_since_last_ok)}`;
  }
}

async function refresh() {
  clearTimeout(timer);
  try {
    const { cameras, changed } = await registry.fetchCameras();
    $('error').hidden = true;
    if (changed || $('loading').hidden === false) {
      render(cameras);
      showOnly(cameras.length === 0 ? 'empty' : null);
    }
  } catch (error) {
    $('error-detail').textContent = error.message;
    $('loading').hidden = true;
    $('error').hidden = false;
  }
  try {
    renderSync(await registry.fetchSyncStatus());
  } catch (error) {
    // Never blank a warning for lack of news: say freshness cannot be told.
    $('sync-status').dataset.state = 'unknown';
    $('sync-status').textContent = `Cannot tell whether the registry is up to date (${error.message})`;
  }
  timer = setTimeout(refresh, refreshMs);
}

// One request for every card's availability strip, once a minute.
async function refreshHistory() {
  try {
    const res = await fetch('/api/history?device_type=camera', {
      headers: { accept: 'application/json' },
    });
    if (res.ok) {
      const body = await res.json();
      histories = new Map(body.devices.map((d) => [d.device_key, d]));
      for (const [key, card] of cards) card.setHistory(histories.get(key));
    }
  } catch {
    // The strips keep what they showed until the next try.
  }
  setTimeout(refreshHistory, HISTORY_MS);
}

$('error-retry').addEventListener('click', refresh);
refresh();
refreshHistory();

// The camera wall: loading, error and empty states, a card per camera, the sync status;
// live updates over SSE with polling as the fallback; only the cards on screen play,
// at most ?max-sessions=N (16) at once; a filter, and groups when there are 2+ sites,
// each with its site's sync status (GET /api/sites).
import {
  Registry, ago, groupBySite, matchesFilter, presenceFromEvent, siteOf, siteSyncOf,
} from './cameras.js';
import { CameraCard } from './camera-card.js';
import { SessionPool, sessionCap } from './sessions.js';
import { Updates } from './updates.js';

const params = new URLSearchParams(window.location.search);
const refreshMs = Math.max(500, Number(params.get('refresh')) || 5000);
// In push mode the list is still revalidated now and then (a 304 when nothing changed):
// renames and deleted rows are not events.
const pushResyncMs = 6 * refreshMs;
const STALE_AFTER_S = 180; // only when the server does not say (before "stale" existed)

// The API is this page's origin, always: a link must not point the wall at another one
// (the server's Content-Security-Policy forbids it too).
const registry = new Registry('');
const cards = new Map();
const HISTORY_MS = 60000;
let histories = new Map(); // device_key -> its last 24 hours (GET /api/history)
const $ = (id) => document.getElementById(id);
let listTimer = null;
let cameras = []; // the last list, with the presence events since applied
const patches = new Map(); // device_key -> presence from an event the list may not have yet
const PATCH_RETRY_MS = 500;
const PATCH_TRIES = 20;
const filter = { state: params.get('state') ?? '', text: params.get('q') ?? '' };
// Each site's sync status (GET /api/sites) while the wall is grouped: a Map site ->
// entry, or null when the server cannot say (then the page-wide line speaks instead).
let sites = null;
let sitesFetchedAt = 0;

const pool = new SessionPool(sessionCap(params.get('max-sessions')), () => {
  const waiting = pool.queued ? ` · ${pool.queued} waiting` : '';
  $('sessions').textContent = `Video: ${pool.playing} of ${pool.max} playing${waiting}`;
});
pool.onChange();

// Cards play while on screen, give or take a little margin so a slow scroll finds them
// already connecting.
// Cards leaving the screen give their slots back before those entering ask, so a slot
// never goes to a card that is leaving too.
const observer = new IntersectionObserver((entries) => {
  const changed = [];
  for (const entry of entries) {
    const card = entry.target.card;
    if (card && card.onScreen !== entry.isIntersecting) {
      card.onScreen = entry.isIntersecting;
      changed.push(card);
    }
  }
  for (const card of changed) if (!card.onScreen) card.reconcile();
  for (const card of changed) if (card.onScreen) card.reconcile();
}, { rootMargin: '100px 0px' });

document.addEventListener('visibilitychange', () => {
  const visible = document.visibilityState !== 'hidden';
  for (const card of cards.values()) card.setPageVisible(visible);
});

function showOnly(section) {
  for (const id of ['loading', 'error', 'empty']) $(id).hidden = id !== section;
}

// The grid holds the cards directly, or one section per site when there are 2+ sites.
function groupNode(site) {
  const grid = $('grid');
  let group = [...grid.children].find((n) => n.classList.contains('site-group') && n.dataset.site === site);
  if (!group) {
    group = document.createElement('section');
    group.className = 'site-group';
    group.dataset.site = site;
    group.dataset.testid = 'site-group';
    const header = document.createElement('header');
    header.className = 'site-header';
    const heading = document.createElement('h2');
    heading.className = 'site-name';
    const sync = document.createElement('p');
    sync.className = 'site-sync';
    sync.dataset.testid = 'site-sync';
    sync.setAttribute('aria-live', 'polite');
    header.append(heading, sync);
    const cardsNode = document.createElement('div');
    cardsNode.className = 'grid';
    group.append(header, cardsNode);
  }
  return group;
}

// A site's sync status on its group: a stale or unreachable site is flagged there, and
// only there.
function renderSiteSync(group) {
  const sync = group.querySelector('.site-sync');
  if (!sites) {
    delete group.dataset.sync;
    delete group.dataset.flagged;
    sync.hidden = true;
    return;
  }
  const status = siteSyncOf(sites.get(group.dataset.site));
  group.dataset.sync = status.state;
  group.dataset.flagged = String(status.flagged);
  sync.hidden = false;
  sync.textContent = status.text;
}

const isGrouped = () => new Set(cameras.map(siteOf)).size >= 2;

function place(container, nodes) {
  nodes.forEach((node, index) => {
    if (container.children[index] !== node) container.insertBefore(node, container.children[index] ?? null);
  });
  while (container.children.length > nodes.length) container.lastElementChild.remove();
}

// The cards made so far, in the API's order (by device_key) within each site.
function layout() {
  const grid = $('grid');
  const groups = groupBySite(cameras);
  const nodes = (list) => list.map((camera) => cards.get(camera.device_key)?.root).filter(Boolean);
  if (groups.length < 2) {
    grid.classList.remove('grouped');
    place(grid, nodes(cameras));
    return;
  }
  grid.classList.add('grouped');
  const sections = groups.map(({ site, cameras: list }) => {
    const group = groupNode(site);
    place(group.querySelector('.grid'), nodes(list));
    const shown = list.filter((c) => matchesFilter(c, filter)).length;
    group.querySelector('.site-name').textContent =
      `${site} · ${list.length} camera${list.length === 1 ? '' : 's'}${shown === list.length ? '' : ` · ${shown} shown`}`;
    group.hidden = shown === 0;
    renderSiteSync(group);
    return group;
  });
  place(grid, sections);
}

function applyFilter() {
  for (const camera of cameras) cards.get(camera.device_key)?.setShown(matchesFilter(camera, filter));
  summarise();
  if (isGrouped()) layout();
}

function summarise() {
  const live = cameras.filter((c) => c.is_active && c.device_metadata?.state === 'live').length;
  const shown = cameras.filter((c) => matchesFilter(c, filter)).length;
  const filtered = shown === cameras.length ? '' : ` · ${shown} shown`;
  $('summary').textContent = `${cameras.length} camera${cameras.length === 1 ? '' : 's'} · ${live} live${filtered}`;
}

// Cards are made in the order they are shown (by site when grouped, cards the filter
// shows first): the first screenful at once, then the rest a chunk per task at background
// priority, so the first sessions start while the rest of a wall of hundreds is built
// and laid out, instead of after it.
const CHUNK = 100;
let filling = false;

// More than a screenful: cards are at least 320 px wide and 240 px tall.
const screenful = () => Math.max(24, Math.ceil(window.innerWidth / 320) * Math.ceil(window.innerHeight / 240));

function shownOrder() {
  const ordered = isGrouped() ? groupBySite(cameras).flatMap((g) => g.cameras) : cameras;
  return [...ordered.filter((c) => matchesFilter(c, filter)), ...ordered.filter((c) => !matchesFilter(c, filter))];
}

function makeCard(camera) {
  const created = new CameraCard(camera, pool);
  created.root.card = created;
  created.setPageVisible(document.visibilityState !== 'hidden');
  created.setHistory(histories.get(camera.device_key));
  created.setShown(matchesFilter(camera, filter));
  cards.set(camera.device_key, created);
  observer.observe(created.root);
  return created;
}

// Makes up to `count` of the cards not made yet, and lays them out; returns them.
function makeCards(count) {
  const made = [];
  for (const camera of shownOrder()) {
    if (made.length >= count) break;
    if (!cards.has(camera.device_key)) made.push(makeCard(camera));
  }
  if (made.length > 0) layout();
  return made;
}

const background = (task) => (globalThis.scheduler?.postTask
  ? globalThis.scheduler.postTask(task, { priority: 'background' }) : setTimeout(task, 0));

function fillLater() {
  if (filling) return;
  filling = true;
  background(function fill() {
    if (makeCards(CHUNK).length > 0) background(fill);
    else filling = false;
  });
}

// Cards just made that are on screen play now, rather than at the observer's first
// report (which waits for a frame): their places are read in one layout, before any of
// them changes the page. The observer has the last word, with the same margin.
function playOnScreen(made) {
  const margin = 100;
  const onScreen = made.filter((card) => {
    if (card.root.hidden) return false;
    const r = card.root.getBoundingClientRect();
    return r.width > 0 && r.bottom > -margin && r.top < window.innerHeight + margin;
  });
  for (const card of onScreen) card.setOnScreen(true);
}

function render(list) {
  cameras = list;
  const listed = new Set();
  for (const camera of cameras) {
    listed.add(camera.device_key);
    cards.get(camera.device_key)?.update(camera);
  }
  for (const [key, card] of cards) {
    if (!listed.has(key)) {
      observer.unobserve(card.root);
      card.destroy();
      cards.delete(key);
    }
  }
  layout();
  applyFilter();
  playOnScreen(makeCards(screenful()));
  if (cards.size < cameras.length) fillLater();
}

// A camera's presence as an event told it, over what the list says.
function withPresence(camera, p) {
  return {
    ...camera,
    is_active: p.is_active,
    last_seen: p.last_seen,
    state_since: p.state_since,
    device_metadata: { ...camera.device_metadata, state: p.state, state_since: p.state_since ?? undefined },
  };
}

// A list may be older than the events already applied (api-server rebuilds its snapshot
// on the same notification that wakes the stream): keep an event's presence until the
// list has that device updated at or after the event.
function reconcilePatches(list) {
  let behind = false;
  const out = list.map((camera) => {
    const p = patches.get(camera.device_key);
    if (!p) return camera;
    // Caught up, or still not after 10 s (the list is then the better guess).
    if (!p.at || Date.parse(camera.updated_at) >= Date.parse(p.at) || p.tries++ >= PATCH_TRIES) {
      patches.delete(camera.device_key);
      return camera;
    }
    behind = true;
    return withPresence(camera, p);
  });
  const keys = new Set(list.map((c) => c.device_key));
  for (const [key, p] of patches) {
    if (!keys.has(key)) {
      behind = true; // an added camera the list does not have yet
      if (p.tries++ >= PATCH_TRIES) patches.delete(key);
    }
  }
  return { list: out, behind };
}

// One list request at a time; asked again meanwhile, it runs once more when done.
let listing = false;
let listAgain = false;
async function refreshList() {
  if (listing) {
    listAgain = true;
    return;
  }
  listing = true;
  clearTimeout(listTimer);
  listTimer = null;
  let behind = false;
  try {
    const { cameras: listed, changed } = await registry.fetchCameras();
    $('error').hidden = true;
    const reconciled = reconcilePatches(listed);
    behind = reconciled.behind;
    if (changed || $('loading').hidden === false || patches.size > 0) {
      render(reconciled.list);
      showOnly(reconciled.list.length === 0 ? 'empty' : null);
    }
  } catch (error) {
    $('error-detail').textContent = error.message;
    $('loading').hidden = true;
    $('error').hidden = false;
  }
  listing = false;
  // Each list (an SSE batch's refetch, a poll) brings the sites' status along.
  if (isGrouped()) refreshSites(true);
  if (listAgain) {
    listAgain = false;
    refreshList();
    return;
  }
  const next = behind ? PATCH_RETRY_MS : updates.mode === 'push' ? pushResyncMs : refreshMs;
  listTimer = setTimeout(refreshList, next);
}

// Many events at once (a switch dies, a site comes back) make one refetch.
let resyncTimer = null;
function resyncSoon(delay = 150) {
  if (resyncTimer) return;
  resyncTimer = setTimeout(() => {
    resyncTimer = null;
    refreshList();
  }, delay);
}

function onEvent(type, body) {
  if (type.startsWith('device.') && body?.data?.device_type && body.data.device_type !== 'camera') return;
  const presence = presenceFromEvent(body);
  if (presence && type !== 'device.added') {
    patches.set(presence.device_key, { ...presence, tries: 0 });
    const index = cameras.findIndex((c) => c.device_key === presence.device_key);
    if (index >= 0) {
      cameras[index] = withPresence(cameras[index], presence);
      cards.get(presence.device_key)?.update(cameras[index]);
      cards.get(presence.device_key)?.setShown(matchesFilter(cameras[index], filter));
      summarise();
    }
  } else if (presence) {
    patches.set(presence.device_key, { ...presence, tries: 0 });
  }
  // The rest of the device (tracks, readers, URL) and site events come with the list.
  resyncSoon();
}

function onMode(mode, detail) {
  const node = $('updates');
  node.dataset.mode = mode;
  node.textContent = mode === 'push' ? 'Live updates'
    : mode === 'polling' ? `Polling every ${refreshMs % 1000 ? (refreshMs / 1000).toFixed(1) : refreshMs / 1000} s`
      : 'Connecting to live updates…';
  node.title = detail;
  // Polling again: the next poll is due a poll period from now, not a push period.
  if (mode === 'polling' && listTimer) {
    clearTimeout(listTimer);
    listTimer = setTimeout(refreshList, refreshMs);
  }
}

const updates = new Updates({
  path: '/api/events?device_type=camera',
  onEvent,
  onResync: () => resyncSoon(0),
  onMode,
});

// everySite: status is every site's (no ?site=), not the one site's the wall shows.
function renderSync(status, everySite = false) {
  const node = $('sync-status');
  const last = status.last_run;
  if (!last) {
    node.dataset.state = 'stale';
    node.textContent = 'No sync has run yet: is sync-worker running?';
  } else if (status.stale ?? (status.seconds_since_last_ok === null || status.seconds_since_last_ok > STALE_AFTER_S)) {
    node.dataset.state = 'stale';
    // Every site's status is stale when one site is, whatever another's last round:
    // then its last success says nothing of the site behind.
    node.textContent = !status.last_ok_run
      ? 'Registry stale: no sync has succeeded yet'
      : everySite
        ? 'Registry stale: a site has not synced lately (see /api/sites)'
        : `Registry stale: last successful sync ${ago(status.seconds_since_last_ok)}`;
  } else if (!last.ok) {
    node.dataset.state = 'failing';
    node.textContent = `Last sync failed (${last.error}); last success ${ago(status.seconds_since_last_ok)}`;
  } else {
    node.dataset.state = 'ok';
    node.textContent = `Last sync ${ago(status.seconds_since_last_ok)}`;
  }
}

// With several sites the page-wide line only sums up: each group says its own.
function renderSitesSummary() {
  const node = $('sync-status');
  const shown = groupBySite(cameras).map((g) => siteSyncOf(sites.get(g.site)));
  const fine = shown.filter((s) => !s.flagged).length;
  node.dataset.state = 'by-site';
  node.textContent = `Sync status by site: ${fine} of ${shown.length} up to date`;
}

// One GET /api/sites at a time. force: asked by a list refresh; else (the timer) skipped
// when a recent list refresh already brought it.
let sitesBusy = false;
async function refreshSites(force) {
  if (sitesBusy || (!force && Date.now() - sitesFetchedAt < refreshMs / 2)) return;
  sitesBusy = true;
  try {
    sites = await registry.fetchSites();
  } catch {
    sites = null; // an older server, or none: the page-wide line says what it can
  }
  sitesFetchedAt = Date.now();
  sitesBusy = false;
  if (isGrouped()) {
    for (const group of $('grid').querySelectorAll('.site-group')) renderSiteSync(group);
    if (sites) renderSitesSummary();
  }
}

// The sync status line is read every refresh period in both modes (a small answer): it
// says how old the registry is, which no event does. Grouped by site, each group says
// its site's (GET /api/sites); else the line is the one site's.
async function refreshSync() {
  try {
    if (isGrouped()) await refreshSites(false);
    if (!isGrouped() || !sites) {
      const only = cameras.length ? siteOf(cameras[0]) : 'default';
      const everySite = isGrouped();
      const status = await registry.fetchSyncStatus(everySite ? null : only);
      // A forced /api/sites read may have come back meanwhile: its summary stands.
      if (isGrouped() && sites) renderSitesSummary();
      else renderSync(status, everySite);
    } else {
      renderSitesSummary();
    }
  } catch (error) {
    // Never blank a warning for lack of news: say freshness cannot be told.
    $('sync-status').dataset.state = 'unknown';
    $('sync-status').textContent = `Cannot tell whether the registry is up to date (${error.message})`;
  }
  setTimeout(refreshSync, refreshMs);
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

function setupFilter() {
  const state = $('filter-state');
  const text = $('filter-text');
  state.value = [...state.options].some((o) => o.value === filter.state) ? filter.state : '';
  filter.state = state.value;
  text.value = filter.text;
  const changed = () => {
    filter.state = state.value;
    filter.text = text.value;
    const url = new URL(window.location.href);
    for (const [name, value] of [['state', filter.state], ['q', filter.text]]) {
      if (value) url.searchParams.set(name, value);
      else url.searchParams.delete(name);
    }
    window.history.replaceState(null, '', url);
    applyFilter();
  };
  state.addEventListener('change', changed);
  text.addEventListener('input', changed);
}

$('error-retry').addEventListener('click', refreshList);
setupFilter();
onMode('connecting', '');
refreshList();
refreshSync();
refreshHistory();
updates.start();

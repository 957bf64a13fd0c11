// The registry, as the dashboard reads it: GET /api/devices with ETag revalidation,
// GET /api/sync/status and GET /api/sites.

export class Registry {
  constructor(apiBase) {
    this.apiBase = apiBase.replace(/\/+$/, '');
    this.etag = null;
    this.cameras = null;
  }

  // Resolves with {cameras, changed}; rejects when the API is unreachable or fails.
  async fetchCameras() {
    const headers = {};
    if (this.etag && this.cameras) headers['If-None-Match'] = this.etag;
    const response = await fetch(`${this.apiBase}/api/devices?device_type=camera&active_only=false`,
                                 { headers, cache: 'no-store' });
    if (response.status === 304) return { cameras: this.cameras, changed: false };
    if (!response.ok) {
      let detail = `HTTP ${response.status}`;
      try {
        const body = await response.json();
        if (body.detail) detail += `: ${body.detail}`;
      } catch { /* not JSON */ }
      throw new Error(detail);
    }
    const cameras = await response.json();
    if (!Array.isArray(cameras)) throw new Error('the API did not answer a list');
    this.etag = response.headers.get('ETag');
    this.cameras = cameras;
    return { cameras, changed: true };
  }

  // site: the one site the wall shows, named even when "default"; null: every site's
  // (stale when any site holding devices is).
  async fetchSyncStatus(site = 'default') {
    const query = site === null ? '' : `?site=${encodeURIComponent(site)}`;
    const response = await fetch(`${this.apiBase}/api/sync/status${query}`, { cache: 'no-store' });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return response.json();
  }

  // Each site's sync status (GET /api/sites): a Map site -> entry. Rejects when the
  // server cannot say (unreachable, an error, or a server without the route: 404).
  async fetchSites() {
    const response = await fetch(`${this.apiBase}/api/sites`, { cache: 'no-store' });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const sites = await response.json();
    if (!Array.isArray(sites)) throw new Error('the API did not answer a list of sites');
    return new Map(sites.filter((s) => typeof s?.site === 'string').map((s) => [s.site, s]));
  }
}

// The WHEP endpoint of a camera: its metadata's, else MediaMTX's default on this host.
export function whepUrlOf(camera, location = window.location) {
  const fromMetadata = camera.device_metadata?.whep_url;
  if (typeof fromMetadata === 'string' && /^https?:\/\//.test(fromMetadata)) return fromMetadata;
  const key = camera.device_key.split('/').map(encodeURIComponent).join('/');
  return `${location.protocol}//${location.hostname}:8889/${key}/whep`;
}

const STATES = {
  live: 'Live',
  standby: 'On demand',
  not_ready: 'Not ready',
  placeholder: 'Placeholder',
  no_source: 'No source',
  removed: 'Removed',
};

// What a card shows about status: {state, label, reason}.
export function statusOf(camera) {
  const state = camera.device_metadata?.state;
  // On demand and idle: not a failure; it plays when someone opens it.
  if (state === 'standby') {
    return { state, label: STATES.standby, reason: 'idle until someone watches; click to play' };
  }
  if (!camera.is_active) {
    const why = {
      not_ready: 'the source is attached but not ready (connecting or failing)',
      placeholder: 'the camera is down; MediaMTX is playing its offline placeholder',
      no_source: 'nothing is publishing to this path',
      removed: 'no longer listed by MediaMTX',
      live: 'no healthy sync recently',
    }[state] ?? 'not seen recently';
    return { state: 'offline', label: 'Offline', reason: why };
  }
  if (state === 'live') return { state, label: STATES.live, reason: '' };
  const reason = {
    not_ready: 'source not ready: reconnecting',
    placeholder: 'camera down: MediaMTX plays its offline placeholder',
    no_source: 'nothing publishing right now',
    removed: 'no longer listed by MediaMTX',
  }[state] ?? '';
  return { state: state in STATES ? state : 'offline', label: STATES[state] ?? 'Unknown', reason };
}

// "offline since 14:02 (3 h 12 min)" for a camera that is not live, from state_since.
export function downSince(camera, now = Date.now()) {
  const state = camera.device_metadata?.state;
  if (state === 'live' || state === 'standby' || !camera.state_since) return '';
  const since = Date.parse(camera.state_since);
  if (Number.isNaN(since)) return '';
  const minutes = Math.max(0, Math.floor((now - since) / 60000));
  const span = minutes < 60 ? `${minutes} min`
    : minutes < 1440 ? `${Math.floor(minutes / 60)} h ${minutes % 60} min`
      : `${Math.floor(minutes / 1440)} d ${Math.floor((minutes % 1440) / 60)} h`;
  const at = new Date(since);
  const clock = `${String(at.getHours()).padStart(2, '0')}:${String(at.getMinutes()).padStart(2, '0')}`;
  const day = now - since >= 86400000 ? `${at.toLocaleDateString()} ` : '';
  return `offline since ${day}${clock} (${span})`;
}

// The segments of a 24-hour availability strip from a device's history (GET
// /api/history): [{presence, share}] in time order, shares summing to 1 over the window.
export function stripOf(history) {
  if (!history) return [];
  const from = Date.parse(history.from);
  const to = Math.min(Date.parse(history.to), Date.now());
  if (!(to > from)) return [];
  const out = [];
  for (const i of history.intervals ?? []) {
    const start = Math.max(from, Date.parse(i.from));
    const end = Math.min(to, i.to ? Date.parse(i.to) : to);
    if (end > start) out.push({ presence: i.presence, share: (end - start) / (to - from) });
  }
  return out;
}

export function describeTracks(camera) {
  const tracks = camera.device_metadata?.tracks;
  if (!Array.isArray(tracks) || tracks.length === 0) return '';
  return tracks.map((t) => {
    const size = t.width && t.height ? ` ${t.width}×${t.height}` : '';
    return `${t.codec ?? '?'}${size}`;
  }).join(' · ');
}

export function ago(seconds) {
  if (seconds < 60) return `${Math.max(0, Math.round(seconds))} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

// The site a device belongs to (one MediaMTX server); devices without one are "default".
export function siteOf(camera) {
  return typeof camera.site === 'string' && camera.site !== '' ? camera.site : 'default';
}

// The wall's filter: {state} is a statusOf() state, "not_live", or "" for any; {text}
// matches the name, key or site, case-insensitively.
export function matchesFilter(camera, { state = '', text = '' } = {}) {
  if (state) {
    const actual = statusOf(camera).state;
    if (state === 'not_live' ? actual === 'live' : actual !== state) return false;
  }
  const needle = text.trim().toLowerCase();
  if (!needle) return true;
  return [camera.name, camera.device_key, siteOf(camera)]
    .some((field) => typeof field === 'string' && field.toLowerCase().includes(needle));
}

// What a site group's header says of the site's sync, from its GET /api/sites entry
// (undefined: the server did not list it, null: it could not be asked): {state, text,
// flagged}. state: ok, failing, stale, unreachable, never or unknown; flagged: the
// group needs a look (its cameras' status may be out of date). now in ms.
export function siteSyncOf(entry, now = Date.now()) {
  if (entry === null) return { state: 'unknown', flagged: false, text: 'Sync status unknown' };
  if (!entry || !entry.last_run) {
    return { state: 'never', flagged: true, text: 'No sync has run yet: is its sync-worker running?' };
  }
  const since = Date.parse(entry.last_success_at ?? '');
  const success = Number.isNaN(since) ? 'no sync has succeeded yet' : `last success ${ago((now - since) / 1000)}`;
  const why = entry.last_run.error ? ` (${entry.last_run.error})` : '';
  if (entry.reachable === false) {
    return { state: 'unreachable', flagged: true, text: `MediaMTX unreachable${why}; ${entry.stale ? 'stale: ' : ''}${success}` };
  }
  if (entry.stale) return { state: 'stale', flagged: true, text: `Stale: ${success}` };
  if (!entry.last_run.ok) return { state: 'failing', flagged: true, text: `Last sync failed${why}; ${success}` };
  const last = Number.isNaN(since) ? Date.parse(entry.last_run.finished_at) : since;
  return { state: 'ok', flagged: false, text: `Last sync ${ago((now - last) / 1000)}` };
}

// Cameras by site, sites by name, each keeping the list's order: [{site, cameras}].
export function groupBySite(cameras) {
  const groups = new Map();
  for (const camera of cameras) {
    const site = siteOf(camera);
    if (!groups.has(site)) groups.set(site, []);
    groups.get(site).push(camera);
  }
  return [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([site, list]) => ({ site, cameras: list }));
}

// What a device event says of a camera's presence, as fields of a DeviceResponse, or
// null when the event is not about one camera's presence.
export function presenceFromEvent(body) {
  const d = body?.data;
  if (!d || typeof d.device_key !== 'string' || typeof d.state !== 'string') return null;
  return {
    device_key: d.device_key,
    is_active: Boolean(d.is_active),
    last_seen: d.last_seen ?? null,
    state_since: d.state_since ?? null,
    state: d.state,
    at: body.timestamp ?? null,
  };
}

// The registry, as the dashboard reads it: GET /api/devices with ETag revalidation,
// and GET /api/sync/status.

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

  async fetchSyncStatus() {
    const response = await fetch(`${this.apiBase}/api/sync/status`, { cache: 'no-store' });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return response.json();
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
  not_ready: 'Not ready',
  no_source: 'No source',
  removed: 'Removed',
};

// What a card shows about status: {state, label, reason}.
export function statusOf(camera) {
  const state = camera.device_metadata?.state;
  if (!camera.is_active) {
    const why = {
      not_ready: 'the source is attached but not ready (connecting or failing)',
      no_source: 'nothing is publishing to this path',
      removed: 'no longer listed by MediaMTX',
      live: 'no healthy sync recently',
    }[state] ?? 'not seen recently';
    return { state: 'offline', label: 'Offline', reason: why };
  }
  if (state === 'live') return { state, label: STATES.live, reason: '' };
  const reason = {
    not_ready: 'source not ready: reconnecting',
    no_source: 'nothing publishing right now',
    removed: 'no longer listed by MediaMTX',
  }[state] ?? '';
  return { state: state in STATES ? state : 'offline', label: STATES[state] ?? 'Unknown', reason };
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

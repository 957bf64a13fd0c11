// One camera: name, status badge, tracks, and its live feed over WHEP, with a spinner
// while connecting and a retry (manual, and automatic with back-off) when it fails.
// Every value from the API is set as text, never parsed as HTML.
import { openWhep } from './whep.js';
import { ago, describeTracks, downSince, statusOf, stripOf, whepUrlOf } from './cameras.js';

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30000;

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export class CameraCard {
  constructor(camera) {
    this.root = element('article', 'card');
    this.root.dataset.testid = 'camera';
    this.media = element('div', 'media');
    this.video = element('video');
    this.video.muted = true;
    this.video.autoplay = true;
    this.video.playsInline = true;
    this.overlay = element('div', 'overlay');
    this.spinner = element('div', 'spinner');
    this.message = element('p', 'overlay-message');
    this.retryButton = element('button', 'retry', 'Retry');
    this.retryButton.type = 'button';
    this.retryButton.addEventListener('click', () => this.connect());
    this.overlay.append(this.spinner, this.message, this.retryButton);
    this.media.append(this.video, this.overlay);

    const info = element('div', 'info');
    const title = element('div', 'title');
    this.name = element('h2', 'name');
    this.badge = element('span', 'badge');
    title.append(this.name, this.badge);
    this.key = element('div', 'key');
    this.reason = element('p', 'reason');
    this.details = element('p', 'details');
    this.strip = element('div', 'strip');
    this.strip.dataset.testid = 'availability';
    this.availability = element('p', 'availability');
    info.append(title, this.key, this.reason, this.details, this.strip, this.availability);
    this.root.append(this.media, info);

    this.session = null;
    this.attempt = 0;
    this.retryTimer = null;
    this.url = null;
    this.generation = 0;
    this.update(camera);
  }

  update(camera) {
    this.camera = camera;
    this.root.dataset.key = camera.device_key;
    this.name.textContent = camera.name || camera.device_key;
    this.key.textContent = camera.name && camera.name !== camera.device_key ? camera.device_key : '';
    const status = statusOf(camera);
    this.badge.textContent = status.label;
    this.badge.dataset.state = status.state;
    this.root.dataset.state = status.state;
    const readers = camera.device_metadata?.reader_count;
    const parts = [describeTracks(camera)];
    if (typeof readers === 'number') parts.push(`${readers} viewer${readers === 1 ? '' : 's'}`);
    this.details.textContent = parts.filter(Boolean).join(' · ');

    if (status.state === 'standby') {
      // On demand: nothing plays until someone asks, then MediaMTX starts the source.
      this.reason.textContent = status.reason;
      if (!this.session && !this.connecting) {
        this.stop();
        this.url = whepUrlOf(camera);
        this.show('standby', 'On demand', false, true, 'Play');
      }
      return;
    }
    if (!camera.is_active) {
      const since = downSince(camera);
      const seen = camera.last_seen
        ? `last seen ${ago((Date.now() - Date.parse(camera.last_seen)) / 1000)} (${new Date(camera.last_seen).toLocaleString()})`
        : 'never seen live';
      this.reason.textContent = [status.reason, since, seen].filter(Boolean).join('; ');
      this.stop();
      this.show('offline', `Offline: ${status.reason}`, false, false);
      return;
    }
    this.reason.textContent = status.reason;
    if (status.state !== 'live') {
      this.stop();
      this.show('waiting', status.reason || 'Waiting for the stream', true, false);
      return;
    }
    const url = whepUrlOf(camera);
    if (url !== this.url || (!this.session && !this.connecting && !this.retryTimer && this.root.dataset.status !== 'failed')) {
      this.url = url;
      this.connect();
    }
  }

  show(status, text, spinning, retry, label = 'Retry') {
    this.root.dataset.status = status;
    this.overlay.hidden = status === 'playing';
    this.spinner.hidden = !spinning;
    this.message.textContent = text;
    this.retryButton.hidden = !retry;
    this.retryButton.textContent = label;
  }

  // The last 24 hours from GET /api/history: a strip of online / offline / standby /
  // unknown time and the availability (online over observed time).
  setHistory(history) {
    const segments = stripOf(history);
    this.strip.replaceChildren(...segments.map((seg) => {
      const node = element('span', 'segment');
      node.dataset.presence = seg.presence;
      node.style.flexGrow = String(seg.share);
      node.title = seg.presence;
      return node;
    }));
    const a = history?.availability;
    this.availability.textContent = typeof a === 'number'
      ? `${(a * 100).toFixed(a === 1 ? 0 : 1)}% available in 24 h` : '';
  }

  async connect() {
    this.stop();
    const generation = ++this.generation;
    this.connecting = true;
    this.show('connecting', 'Connecting…', true, false);
    try {
      const session = await openWhep(this.url, {
        onFailure: (error) => {
          if (generation === this.generation) this.failed(error);
        },
      });
      if (generation !== this.generation) {
        session.close();
        return;
      }
      this.session = session;
      this.video.srcObject = session.stream;
      this.video.addEventListener('playing', () => {
        if (generation === this.generation) {
          this.attempt = 0;
          this.show('playing', '', false, false);
        }
      }, { once: true });
      this.video.play().catch(() => {});
    } catch (error) {
      if (generation === this.generation) this.failed(error);
    } finally {
      if (generation === this.generation) this.connecting = false;
    }
  }

  failed(error) {
    this.stop();
    const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.attempt);
    this.attempt += 1;
    this.show('failed', `Stream unavailable (${error.message}). Retrying in ${Math.round(delay / 1000)} s.`, false, true);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.camera.is_active) this.connect();
    }, delay);
  }

  stop() {
    this.generation += 1;
    this.connecting = false;
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    if (this.session) {
      this.session.close();
      this.session = null;
    }
    this.video.srcObject = null;
  }

  destroy() {
    this.stop();
    this.root.remove();
  }
}

// One camera: name, status badge, tracks, and its live feed over WHEP, with a spinner
// while connecting and a retry (manual, and automatic with back-off) when it fails.
// Every value from the API is set as text, never parsed as HTML.
//
// A card plays only while it is wanted: live (or standby and asked to play), on screen
// (the wall's IntersectionObserver), in a visible tab, and holding one of the wall's
// session slots (sessions.js); otherwise it holds no peer connection at all.
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
  // pool: the wall's SessionPool; a card opens a session only while it holds a slot.
  constructor(camera, pool) {
    this.pool = pool;
    this.onScreen = false;
    this.pageVisible = true;
    this.shown = true;
    this.userPlay = false; // a standby camera the user asked to play
    this.root = element('article', 'card');
    this.root.dataset.testid = 'camera';
    this.media = element('div', 'media');
    // A <video> exists only while a session does: inserting one costs about a
    // millisecond, too much for hundreds of cards that mostly play nothing.
    this.video = null;
    this.overlay = element('div', 'overlay');
    this.spinner = element('div', 'spinner');
    this.message = element('p', 'overlay-message');
    this.retryButton = element('button', 'retry', 'Retry');
    this.retryButton.type = 'button';
    this.retryButton.addEventListener('click', () => this.playNow());
    this.overlay.append(this.spinner, this.message, this.retryButton);
    this.media.append(this.overlay);

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
    this.abort = null;
    this.mode = null; // live | standby | offline | waiting
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
      this.mode = 'standby';
      this.url = whepUrlOf(camera);
      if (!this.busy()) this.idle();
      this.reconcile();
      return;
    }
    this.userPlay = false;
    if (!camera.is_active) {
      const since = downSince(camera);
      const seen = camera.last_seen
        ? `last seen ${ago((Date.now() - Date.parse(camera.last_seen)) / 1000)} (${new Date(camera.last_seen).toLocaleString()})`
        : 'never seen live';
      this.reason.textContent = [status.reason, since, seen].filter(Boolean).join('; ');
      this.mode = 'offline';
      this.stop();
      this.show('offline', `Offline: ${status.reason}`, false, false);
      return;
    }
    this.reason.textContent = status.reason;
    if (status.state !== 'live') {
      this.mode = 'waiting';
      this.stop();
      this.show('waiting', status.reason || 'Waiting for the stream', true, false);
      return;
    }
    const url = whepUrlOf(camera);
    const was = this.mode;
    this.mode = 'live';
    if (url !== this.url) {
      this.url = url;
      this.stop();
    }
    if (was !== 'live' && !this.busy()) this.idle();
    this.reconcile();
  }

  // Whether the card should hold a session now.
  wanted() {
    const plays = this.mode === 'live' || (this.mode === 'standby' && this.userPlay);
    return plays && this.onScreen && this.pageVisible && this.shown;
  }

  // Holding, asking for or about to retry a session.
  busy() {
    return Boolean(this.session || this.connecting || this.retryTimer || this.pool.isWaiting(this));
  }

  // Opens (through the pool) or closes the session to match wanted().
  reconcile() {
    if (!this.wanted()) {
      if (this.busy() || this.pool.holds(this)) {
        this.stop();
        this.idle();
      }
      return;
    }
    if (this.busy()) return;
    this.request(false);
  }

  request(first) {
    const granted = this.pool.request(this, () => this.granted(), { first });
    if (!granted) this.show('queued', 'Waiting for a free video slot', true, false);
  }

  // A slot came free for this card: it may have stopped wanting one meanwhile.
  granted() {
    if (this.wanted()) this.connect();
    else {
      this.pool.release(this);
      this.idle();
    }
  }

  // The overlay of a card that plays nothing now, by its mode.
  idle() {
    if (this.mode === 'standby' && !this.userPlay) this.show('standby', 'On demand', false, true, 'Play');
    else if (this.mode === 'live' || this.mode === 'standby') {
      const why = !this.pageVisible ? 'tab hidden' : !this.onScreen ? 'off screen' : 'filtered out';
      this.show('paused', `Paused (${why})`, false, false);
    }
  }

  // The Retry or Play button: play now, first in line for a slot.
  playNow() {
    if (this.mode === 'standby') this.userPlay = true;
    this.stop();
    if (this.wanted()) this.request(true);
    else this.idle();
  }

  setOnScreen(onScreen) {
    if (onScreen === this.onScreen) return;
    this.onScreen = onScreen;
    this.reconcile();
  }

  setPageVisible(visible) {
    if (visible === this.pageVisible) return;
    this.pageVisible = visible;
    this.reconcile();
  }

  // The wall's filter: a card filtered out is not displayed and plays nothing.
  setShown(shown) {
    this.root.hidden = !shown;
    if (shown === this.shown) return;
    this.shown = shown;
    if (!shown) this.onScreen = false; // the observer will say so too, later
    this.reconcile();
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

  // Called by the pool once this card holds a slot.
  async connect() {
    this.closeSession();
    const generation = ++this.generation;
    this.connecting = true;
    this.abort = new AbortController();
    this.show('connecting', 'Connecting…', true, false);
    try {
      const session = await openWhep(this.url, {
        signal: this.abort.signal,
        onFailure: (error) => {
          if (generation === this.generation) this.failed(error);
        },
      });
      if (generation !== this.generation) {
        session.close();
        return;
      }
      this.session = session;
      this.video = element('video');
      this.video.muted = true;
      this.video.autoplay = true;
      this.video.playsInline = true;
      this.media.prepend(this.video);
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
      this.reconcile();
    }, delay);
  }

  // Closes the session (or the one being opened) and cancels any retry; gives the slot
  // back, or leaves the line.
  stop() {
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    this.closeSession();
    this.pool.release(this);
  }

  closeSession() {
    this.generation += 1;
    this.connecting = false;
    if (this.abort) {
      this.abort.abort();
      this.abort = null;
    }
    if (this.session) {
      this.session.close();
      this.session = null;
    }
    if (this.video) {
      this.video.srcObject = null;
      this.video.remove();
      this.video = null;
    }
  }

  destroy() {
    this.stop();
    this.root.remove();
  }
}

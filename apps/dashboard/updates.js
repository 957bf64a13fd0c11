// How the wall hears of changes: pushed over GET /api/events (Server-Sent Events) while
// the stream can be had, polled otherwise.
//
// - mode "push": the stream is open; every event is handed to onEvent(type, body).
// - mode "polling": the stream is refused (a proxy's 502, 503 when api-server has too
//   many streams, 404 from a server without it) or lost; the page polls the list, and a
//   new stream is tried after a back-off (1 s doubling to 15 s) until one opens.
// A stream that opens knowing no event id (the first, or after losing one that never
// delivered an event) starts at the newest event, so whatever happened before it is
// only in the list: onResync() asks the page to refetch it. A stream reopened after
// an id resumes right after it (?after=ID; EventSource's own reconnects send
// Last-Event-ID), and needs no refetch.

export const EVENT_TYPES = ['device.added', 'device.online', 'device.offline', 'device.removed',
  'device.state', 'site.unreachable', 'site.reachable'];

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 15000;

export class Updates {
  constructor({ path, onEvent, onResync, onMode, EventSourceImpl = globalThis.EventSource }) {
    this.path = path;
    this.onEvent = onEvent;
    this.onResync = onResync;
    this.onMode = onMode;
    this.EventSourceImpl = EventSourceImpl;
    this.source = null;
    this.lastId = null;
    this.retryTimer = null;
    this.attempt = 0;
    this.mode = 'connecting';
  }

  start() {
    if (typeof this.EventSourceImpl !== 'function') {
      this.setMode('polling', 'this browser has no EventSource');
      return;
    }
    this.open();
  }

  open() {
    this.retryTimer = null;
    const separator = this.path.includes('?') ? '&' : '?';
    const url = this.lastId === null ? this.path : `${this.path}${separator}after=${encodeURIComponent(this.lastId)}`;
    const source = new this.EventSourceImpl(url);
    this.source = source;
    source.addEventListener('open', () => {
      if (source !== this.source) return;
      this.attempt = 0;
      const resumed = this.lastId !== null;
      this.setMode('push', '');
      if (!resumed) this.onResync('the stream starts at the newest event');
    });
    source.addEventListener('error', () => {
      if (source !== this.source) return;
      if (source.readyState === this.EventSourceImpl.CLOSED) {
        // Refused for good (not text/event-stream, or an HTTP error): try a new one later.
        this.source = null;
        const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.attempt);
        this.attempt += 1;
        this.setMode('polling', 'the event stream was refused');
        this.retryTimer = setTimeout(() => this.open(), delay);
      } else {
        // Lost: EventSource reconnects by itself, sending Last-Event-ID; poll meanwhile.
        this.setMode('polling', 'the event stream was lost; reconnecting');
      }
    });
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (message) => {
        if (source !== this.source) return;
        if (message.lastEventId) this.lastId = message.lastEventId;
        let body = null;
        try {
          body = JSON.parse(message.data);
        } catch {
          // Not JSON: the type alone still says something changed.
        }
        this.onEvent(type, body);
      });
    }
  }

  setMode(mode, detail) {
    if (mode === this.mode) return;
    this.mode = mode;
    this.onMode(mode, detail);
  }

  stop() {
    clearTimeout(this.retryTimer);
    this.source?.close();
    this.source = null;
  }
}

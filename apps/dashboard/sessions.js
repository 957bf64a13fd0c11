// The wall's cap on concurrent WebRTC sessions. A card asks for a slot before it opens
// a session and gives it back when it closes it (at once: whep.js closes its peer
// connection synchronously), so the page never holds more than `max` peer connections.
// Cards over the cap wait in line, first come first served (a click goes to the front),
// and start as a slot frees. Pure: no DOM, tested in node.

export const DEFAULT_MAX_SESSIONS = 16;

// The cap from the page's ?max-sessions=N: a whole number 1..256, else the default.
export function sessionCap(text, fallback = DEFAULT_MAX_SESSIONS) {
  if (text === null || text === undefined || !/^\d+$/.test(String(text).trim())) return fallback;
  const n = Number(text);
  return n >= 1 && n <= 256 ? n : fallback;
}

export class SessionPool {
  // onChange() is called after every change of who plays or waits (for a status line).
  constructor(max = DEFAULT_MAX_SESSIONS, onChange = () => {}) {
    this.max = max;
    this.onChange = onChange;
    this.holders = new Set();
    this.waiting = new Map(); // owner -> start, in arrival order (Map keeps it)
    this.pumping = false;
  }

  get playing() {
    return this.holders.size;
  }

  get queued() {
    return this.waiting.size;
  }

  holds(owner) {
    return this.holders.has(owner);
  }

  isWaiting(owner) {
    return this.waiting.has(owner);
  }

  // Asks for a slot for `owner`; start() is called when it is granted: now (before this
  // returns true) when one is free, else later. Asking again while holding or waiting
  // changes nothing, except that `first` moves a waiting owner to the front.
  request(owner, start, { first = false } = {}) {
    if (this.holders.has(owner)) return true;
    if (this.waiting.has(owner) && !first) return false;
    this.waiting.delete(owner);
    if (first) {
      const rest = [...this.waiting];
      this.waiting = new Map([[owner, start], ...rest]);
    } else {
      this.waiting.set(owner, start);
    }
    this.pump();
    this.onChange();
    return this.holders.has(owner);
  }

  // Gives the slot back, or leaves the line; the next in line starts.
  release(owner) {
    const had = this.holders.delete(owner) || this.waiting.delete(owner);
    if (!had) return;
    this.pump();
    this.onChange();
  }

  pump() {
    if (this.pumping) return; // a start() that releases or requests re-enters here
    this.pumping = true;
    try {
      while (this.holders.size < this.max && this.waiting.size > 0) {
        const [owner, start] = this.waiting.entries().next().value;
        this.waiting.delete(owner);
        this.holders.add(owner);
        start();
      }
    } finally {
      this.pumping = false;
    }
  }
}

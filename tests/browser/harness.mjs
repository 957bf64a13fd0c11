// What the dashboard tests run against: a PostgreSQL schema of their own, the fake
// MediaMTX with its WHEP peer, the real sync-worker and api-server, and Debian's
// Chromium driven by playwright-core. Nothing listens beyond 127.0.0.1.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const build = process.env.CAMREG_BUILD_DIR ?? path.join(root, 'build/ci');
export const artifacts = process.env.CAMREG_ARTIFACTS ?? path.join(build, 'test-artifacts');
mkdirSync(artifacts, { recursive: true });

export function databaseUrl() {
  if (process.env.CAMREG_TEST_DATABASE_URL) return process.env.CAMREG_TEST_DATABASE_URL;
  const file = process.env.CAMREG_TEST_PG_URL_FILE;
  if (!file) throw new Error('set CAMREG_TEST_DATABASE_URL or run through ctest');
  return readFileSync(file, 'utf8').trim();
}

export function psql(url, sql) {
  return execFileSync('psql', [url, '-qAt', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' }).trim();
}

// A fresh schema; returns a URL whose search_path is it.
export function schemaUrl(name) {
  const base = databaseUrl();
  psql(base, `SET client_min_messages = warning; DROP SCHEMA IF EXISTS ${name} CASCADE; CREATE SCHEMA ${name}`);
  return `${base}${base.includes('?') ? '&' : '?'}options=-csearch_path%3D${name}`;
}

// Starts a child process; resolves once a stdout line matches `ready`, with the match.
export function start(command, args, ready, label) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const matched = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label} did not start:\n${output}`)), 20000);
    const onData = (chunk) => {
      output += chunk;
      const m = output.match(ready);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk) => { output += chunk; });
    child.on('exit', (code) => reject(new Error(`${label} exited ${code}:\n${output}`)));
  });
  return { child, matched, output: () => output };
}

export async function fakeMediamtx() {
  const p = start('/usr/bin/python3', [path.join(root, 'tests/fake_mediamtx/fake_mediamtx.py'),
    '--listen', '127.0.0.1:0', '--webrtc-listen', '127.0.0.1:0'], /\{"port":(\d+),"webrtc_port":(\d+)\}/, 'fake MediaMTX');
  const m = await p.matched;
  const api = `http://127.0.0.1:${m[1]}`;
  const control = async (what, body) => {
    const r = await fetch(`${api}/_fake/${what}`, body === undefined ? {} : { method: 'PUT', body: JSON.stringify(body) });
    if (!r.ok) throw new Error(`fake ${what}: ${r.status} ${await r.text()}`);
    return r.json();
  };
  return { process: p.child, api, webrtc: `http://127.0.0.1:${m[2]}`, control };
}

export function syncOnce(dbUrl, fake, extra = []) {
  return execFileSync(path.join(build, 'apps/sync-worker/sync-worker'),
    ['--once', '--migrate', '--database-url', dbUrl, '--mediamtx-url', fake.api, '--webrtc-url', fake.webrtc, ...extra],
    { encoding: 'utf8' });
}

// webrtc: the fake MediaMTX's WebRTC origin, the one other origin the page may connect to.
export async function apiServer(dbUrl, webrtc, extra = []) {
  const p = start(path.join(build, 'apps/api-server/api-server'),
    ['--database-url', dbUrl, '--listen', '127.0.0.1:0', '--web-root', path.join(root, 'apps/dashboard'),
      ...(webrtc ? ['--webrtc-origin', webrtc] : []), ...extra],
    /listening port=(\d+)/, 'api-server');
  const m = await p.matched;
  return { process: p.child, url: `http://127.0.0.1:${m[1]}` };
}

// A path item as MediaMTX v1.20 lists it.
export function pathItem(name, { available = true, source = available ? 'rtspSource' : null } = {}) {
  return {
    name, confName: name, ready: available, readyTime: available ? '2026-11-24T10:00:00Z' : null,
    available, availableTime: available ? '2026-11-24T10:00:00Z' : null, online: source !== null,
    onlineTime: null, source: source ? { type: source, id: '' } : null,
    tracks: available ? ['VP8'] : [], tracks2: available ? [{ codec: 'VP8', codecProps: null }] : [],
    readers: [], inboundBytes: 0, outboundBytes: 0, inboundFramesInError: 0, bytesReceived: 0, bytesSent: 0,
  };
}

export async function browser() {
  return chromium.launch({
    executablePath: process.env.CAMREG_CHROMIUM ?? '/usr/lib/chromium/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-quic',
      '--autoplay-policy=no-user-gesture-required',
      '--disable-features=WebRtcHideLocalIpsWithMdns',
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
    ],
  });
}

// An init script (page.addInitScript) counting the page's peer connections in
// window.__pc: open now, the most open at once, made in all; the open ones themselves
// are in window.__peers (a Set).
export function countPeerConnections() {
  const Native = window.RTCPeerConnection;
  const stats = { open: 0, max: 0, created: 0 };
  const peers = new Set();
  window.__pc = stats;
  window.__peers = peers;
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      stats.created += 1;
      stats.open += 1;
      stats.max = Math.max(stats.max, stats.open);
      this.counted = true;
      peers.add(this);
    }

    close() {
      if (this.counted) {
        this.counted = false;
        stats.open -= 1;
        peers.delete(this);
      }
      return super.close();
    }
  };
}

// An init script (page.addInitScript) keeping window.__onScreen, the set of camera cards
// on screen (any part in the viewport), as an IntersectionObserver reports them: a check
// run every few milliseconds reads it instead of every card's place, which would force
// a layout of the whole wall each time while the page is busy starting its sessions.
export function trackCardsOnScreen() {
  const onScreen = new Set();
  window.__onScreen = onScreen;
  const io = new IntersectionObserver((entries) => {
    for (const e of entries) {
      if (e.isIntersecting) onScreen.add(e.target);
      else onScreen.delete(e.target);
    }
  });
  const watch = (node) => {
    if (node.nodeType !== 1) return;
    if (node.matches('[data-testid="camera"]')) io.observe(node);
    else for (const card of node.querySelectorAll('[data-testid="camera"]')) io.observe(card);
  };
  document.addEventListener('DOMContentLoaded', () => {
    const grid = document.querySelector('[data-testid="grid"]');
    watch(grid);
    new MutationObserver((records) => {
      for (const r of records) {
        for (const n of r.addedNodes) watch(n);
        for (const n of r.removedNodes) if (n.nodeType === 1 && !n.isConnected) onScreen.delete(n);
      }
    }).observe(grid, { childList: true, subtree: true });
  });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// An init script (page.addInitScript) timing the first 64 WHEP sessions the page opens, in
// window.__whep: per peer connection the milliseconds since navigation at which it was
// made, its offer created, its local description set, its first ICE candidate, ICE
// gathering complete, the POST sent and answered, the answer applied, connected, its
// video track's first packet (unmute) and its video's first frame.
export function timeWhepSessions() {
  const Native = window.RTCPeerConnection;
  const sessions = [];
  window.__whep = sessions;
  const byTrack = new WeakMap();
  const KEPT = 64; // the first sessions only: the heap of a long run stays the page's own
  const now = () => performance.now();
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      if (sessions.length >= KEPT) return;
      const t = { made: now() };
      this.timing = t;
      sessions.push(t);
      this.addEventListener('icegatheringstatechange', () => {
        if (this.iceGatheringState === 'complete' && !t.gathered) t.gathered = now();
      });
      this.addEventListener('icecandidate', (e) => {
        if (e.candidate && !t.candidate) t.candidate = now();
      });
      this.addEventListener('connectionstatechange', () => {
        if (this.connectionState === 'connected' && !t.connected) t.connected = now();
      });
      this.addEventListener('track', (e) => {
        byTrack.set(e.track, t);
        if (e.track.kind === 'video') e.track.addEventListener('unmute', () => { t.unmuted ??= now(); });
      });
    }

    async createOffer(...args) {
      const offer = await super.createOffer(...args);
      if (this.timing) this.timing.offer ??= now();
      return offer;
    }

    async setLocalDescription(...args) {
      await super.setLocalDescription(...args);
      if (this.timing) this.timing.local ??= now();
    }

    async setRemoteDescription(...args) {
      if (this.timing) this.timing.answered ??= now();
      await super.setRemoteDescription(...args);
      if (this.timing) this.timing.applied ??= now();
    }
  };
  const nativeFetch = window.fetch;
  const peers = sessions;
  window.fetch = async function (input, init) {
    const url = String(input?.url ?? input);
    const posting = init?.method === 'POST' && /\/whep$/.test(url);
    // The POST of a session follows its gathering: the latest peer without a POST.
    const t = posting ? [...peers].reverse().find((p) => p.local && !p.posted) : null;
    if (t) {
      t.posted = now();
      t.url = url;
    }
    const response = await nativeFetch.call(this, input, init);
    if (t) t.response = now();
    return response;
  };
  const play = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function (...args) {
    const track = this.srcObject?.getVideoTracks?.()[0];
    const t = track && byTrack.get(track);
    if (t && this.requestVideoFrameCallback) {
      this.requestVideoFrameCallback(() => { t.frame ??= now(); });
    }
    return play.apply(this, args);
  };
}

// Summarises window.__whep: for each step, its median, p95 and max over the sessions
// that reached it, in ms from the step before; and the sessions' start times.
export function summariseWhepTimings(sessions) {
  const steps = [['made', 'offer'], ['offer', 'local'], ['local', 'candidate'], ['local', 'gathered'],
    ['local', 'posted'], ['posted', 'response'], ['response', 'applied'], ['applied', 'connected'],
    ['connected', 'unmuted'], ['unmuted', 'frame'], ['made', 'frame']];
  const q = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  const lines = [];
  for (const [from, to] of steps) {
    const d = sessions.filter((s) => s[from] !== undefined && s[to] !== undefined).map((s) => s[to] - s[from]).sort((a, b) => a - b);
    if (d.length === 0) continue;
    lines.push(`  ${`${from} -> ${to}`.padEnd(22)} n=${String(d.length).padStart(3)}  median ${q(d, 0.5).toFixed(0).padStart(5)} ms` +
      `  p95 ${q(d, 0.95).toFixed(0).padStart(5)} ms  max ${d[d.length - 1].toFixed(0).padStart(5)} ms`);
  }
  return lines;
}

// The wall benchmark (tests/bench/run-wall-bench): N live cameras in the fake MediaMTX,
// the real sync-worker and api-server, the dashboard in Chromium with the default cap.
// Prints the time to the first frames, the most peer connections held at once (in the
// page and on the WHEP server) and the JS heap (after a forced GC) over S seconds of
// scrolling down and back up. Asserts nothing.
import {
  apiServer, browser, countPeerConnections, fakeMediamtx, pathItem, schemaUrl, sleep, summariseWhepTimings, syncOnce,
  timeWhepSessions, trackCardsOnScreen,
} from './harness.mjs';

const cameras = Number(process.argv[2] ?? 500);
const seconds = Number(process.argv[3] ?? 300);
const cap = Number(process.env.WALL_MAX_SESSIONS ?? 16);
const mib = (bytes) => (bytes / 1048576).toFixed(1);

const fake = await fakeMediamtx();
let api, chrome;
try {
  const items = Array.from({ length: cameras }, (_, i) => pathItem(`cam-${String(i).padStart(4, '0')}`));
  await fake.control('paths', items);
  const db = schemaUrl('wall_bench');
  syncOnce(db, fake);
  api = await apiServer(db, fake.webrtc);
  chrome = await browser();
  const page = await chrome.newPage({ viewport: { width: 1600, height: 1000 } });
  await page.addInitScript(countPeerConnections);
  await page.addInitScript(timeWhepSessions);
  await page.addInitScript(trackCardsOnScreen);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const metrics = async () => {
    await cdp.send('HeapProfiler.collectGarbage');
    const { metrics: list } = await cdp.send('Performance.getMetrics');
    return Object.fromEntries(list.map((m) => [m.name, m.value]));
  };

  console.log(`${cameras} cameras, cap ${cap} sessions, viewport 1600x1000, ${seconds} s of scrolling`);
  const started = performance.now();
  await page.goto(`${api.url}/?max-sessions=${cap}`);
  await page.waitForFunction(() => [...document.querySelectorAll('video')].some((v) => v.getVideoPlaybackQuality().totalVideoFrames > 0),
    null, { timeout: 60000, polling: 20 });
  const first = performance.now() - started;
  // Every slot the screen can use shows frames: min(cap, cards on screen). The cards on
  // screen are the IntersectionObserver's (trackCardsOnScreen): reading each card's place
  // here cost the page up to ~50 ms a check (a forced layout of 500 cards) while it starts
  // its sessions.
  await page.waitForFunction((limit) => {
    const onScreen = [...window.__onScreen];
    const framing = onScreen.filter((n) => n.querySelector('video')?.getVideoPlaybackQuality().totalVideoFrames > 0);
    return onScreen.length > 0 && framing.length >= Math.min(limit, onScreen.length);
  }, cap, { timeout: 60000, polling: 50 });
  const full = performance.now() - started;
  // The same check by every card's place, once, to confirm the observer's set.
  const confirmed = await page.evaluate(() => {
    const onScreen = [...document.querySelectorAll('[data-testid="camera"]')].filter((n) => {
      const r = n.getBoundingClientRect();
      return !n.hidden && r.bottom > 0 && r.top < window.innerHeight;
    });
    return { onScreen: onScreen.length, framing: onScreen.filter((n) => n.querySelector('video')?.getVideoPlaybackQuality().totalVideoFrames > 0).length };
  });
  console.log(`first frame on the wall:            ${first.toFixed(0)} ms after navigation`);
  console.log(`every playable card on screen framing: ${full.toFixed(0)} ms` +
    ` (${confirmed.framing} of ${confirmed.onScreen} cards on screen framing)`);
  // Where the time to the full screen went: each session's steps (page clock, ms).
  const timings = (await page.evaluate(() => window.__whep)).filter((t) => t.made <= full);
  const made = timings.map((t) => t.made).sort((a, b) => a - b);
  const framed = timings.filter((t) => t.frame !== undefined).map((t) => t.frame).sort((a, b) => a - b);
  console.log(`sessions made before then: ${timings.length}; first made at ${made[0]?.toFixed(0)} ms, ` +
    `${Math.min(cap, made.length)}th at ${made[Math.min(cap, made.length) - 1]?.toFixed(0)} ms; ` +
    `first frames at ${framed[0]?.toFixed(0)} .. ${framed[Math.min(cap, framed.length) - 1]?.toFixed(0)} ms (page clock)`);
  const page0 = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const list = performance.getEntriesByType('resource').find((e) => /\/api\/devices/.test(e.name));
    return { dom: nav?.domContentLoadedEventEnd, list: list?.responseEnd };
  });
  console.log(`page: DOMContentLoaded at ${page0.dom?.toFixed(0)} ms, /api/devices read at ${page0.list?.toFixed(0)} ms`);
  for (const line of summariseWhepTimings(timings)) console.log(line);
  const server = await fake.control('whep');
  if (server.post_ms?.length) {
    const d = [...server.post_ms].sort((a, b) => a - b);
    console.log(`  WHEP server's POST handling (fake, aiortc): n=${d.length} median ${d[d.length >> 1].toFixed(0)} ms, max ${d[d.length - 1].toFixed(0)} ms`);
  }

  const base = await metrics();
  console.log(`heap after first frames: ${mib(base.JSHeapUsedSize)} MiB used, ${base.Nodes} DOM nodes, ${base.JSEventListeners} listeners`);
  let serverMax = 0;
  let step = 0;
  const samples = [];
  const end = performance.now() + seconds * 1000;
  let nextSample = performance.now() + 30000;
  while (performance.now() < end) {
    // Down a screen at a time, then back to the top.
    await page.evaluate(() => {
      const bottom = document.documentElement.scrollHeight - window.innerHeight;
      if (window.scrollY >= bottom - 1) window.scrollTo(0, 0);
      else window.scrollBy(0, Math.round(window.innerHeight * 0.8));
    });
    step += 1;
    await sleep(1000);
    serverMax = Math.max(serverMax, (await fake.control('whep')).sessions);
    if (performance.now() >= nextSample) {
      const m = await metrics();
      const pc = await page.evaluate(() => ({ ...window.__pc }));
      const at = Math.round((performance.now() - end) / 1000 + seconds);
      samples.push(m.JSHeapUsedSize);
      console.log(`t=${String(at).padStart(4)} s  heap ${mib(m.JSHeapUsedSize)} MiB  nodes ${m.Nodes}  listeners ${m.JSEventListeners}` +
        `  peer connections open ${pc.open}, max ${pc.max}, made ${pc.created}`);
      nextSample += 30000;
    }
  }
  // Sessions opened while scrolling (a few at a time, not a screenful at once).
  const later = (await page.evaluate(() => window.__whep)).filter((t) => t.made > full);
  if (later.length > 0) {
    console.log(`sessions opened while scrolling (the next ${later.length} timed):`);
    for (const line of summariseWhepTimings(later)) console.log(line);
  }
  const last = await metrics();
  const pc = await page.evaluate(() => ({ ...window.__pc }));
  console.log(`after ${step} scroll steps: heap ${mib(base.JSHeapUsedSize)} -> ${mib(last.JSHeapUsedSize)} MiB` +
    ` (min ${mib(Math.min(...samples, last.JSHeapUsedSize))}, max ${mib(Math.max(...samples, last.JSHeapUsedSize))})`);
  console.log(`peer connections: at most ${pc.max} open at once in the page (cap ${cap}), ${pc.created} made;` +
    ` at most ${serverMax} sessions on the WHEP server (sampled each second)`);
} finally {
  await chrome?.close();
  api?.process.kill();
  fake.process.kill();
}

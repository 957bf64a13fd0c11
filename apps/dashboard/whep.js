// A WHEP client (RFC 9725): receive-only WebRTC from MediaMTX's /{path}/whep.
//
// The offer is posted at once, before ICE gathering (which took 150-500 ms a session on
// the wall of 500); the browser's candidates follow in one PATCH
// (application/trickle-ice-sdpfrag) once gathering is done and the answer has named
// the session. That is how MediaMTX's own reader.js works: MediaMTX (pion, full ICE)
// answers with its own candidates, learns the browser's address from the browser's
// connectivity checks (peer-reflexive) and adds trickled ones; a server without
// trickle refuses the PATCH (405/501), which changes nothing. Every session of the page
// uses one DTLS certificate, made once, instead of one generated per peer connection.

// The POST and reading its answer: MediaMTX answers within milliseconds once the path
// is ready, so a server silent for this long is treated as failed (the card retries).
export const ANSWER_TIMEOUT_MS = 10000;
const TRICKLE_TIMEOUT_MS = 5000;
const DAY_MS = 86400000;

let certificate = null; // a promise of the page's certificate, or of null when none can be made

// The page's DTLS certificate (ECDSA P-256, as Chromium makes by default), renewed a day
// before it expires (30 days after it was made); null: each session makes its own.
async function pageCertificate() {
  certificate ??= RTCPeerConnection.generateCertificate({ name: 'ECDSA', namedCurve: 'P-256' }).catch(() => null);
  const current = await certificate;
  if (current && current.expires <= Date.now() + DAY_MS) {
    certificate = null;
    return pageCertificate();
  }
  return current;
}
// Made while the page loads, not when the first card asks (~120 ms then, on the wall).
pageCertificate();

// The offer's ICE credentials and its m-lines by mid, for the trickle fragments.
function offerParts(sdp) {
  const lines = sdp.split('\r\n');
  const value = (prefix) => lines.find((l) => l.startsWith(prefix))?.slice(prefix.length) ?? '';
  const media = new Map();
  let mline = null;
  for (const line of lines) {
    if (line.startsWith('m=')) mline = line;
    else if (line.startsWith('a=mid:') && mline) media.set(line.slice(6), mline);
  }
  return { ufrag: value('a=ice-ufrag:'), pwd: value('a=ice-pwd:'), media };
}

// An RFC 8840 SDP fragment carrying the last candidates (RTCIceCandidates) of a session,
// under the offer's credentials (other ones would ask MediaMTX for an ICE restart).
function sdpFragment(parts, candidates) {
  let frag = `a=ice-ufrag:${parts.ufrag}\r\na=ice-pwd:${parts.pwd}\r\n`;
  for (const mid of new Set(candidates.map((c) => c.sdpMid))) {
    if (!parts.media.has(mid)) continue;
    frag += `${parts.media.get(mid)}\r\na=mid:${mid}\r\n`;
    for (const c of candidates.filter((x) => x.sdpMid === mid)) frag += `a=${c.candidate}\r\n`;
    frag += 'a=end-of-candidates\r\n';
  }
  return frag;
}

// Sends the candidates the offer did not carry in one PATCH once gathering is done (each
// PATCH is a request on the same few connections the wall's POSTs need). gathered: the
// RTCIceCandidates found so far, and later ones as they come.
function trickle(pc, offer, gathered, resource, etag) {
  const send = () => {
    const later = gathered.filter((c) => !offer.includes(`a=${c.candidate}\r\n`));
    if (later.length === 0 || pc.connectionState === 'closed') return;
    fetch(resource, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': etag ?? '*' },
      body: sdpFragment(offerParts(offer), later),
      signal: AbortSignal.timeout(TRICKLE_TIMEOUT_MS),
    }).catch(() => {});
  };
  if (pc.iceGatheringState === 'complete') send();
  else {
    pc.addEventListener('icegatheringstatechange', function done() {
      if (pc.iceGatheringState !== 'complete') return;
      pc.removeEventListener('icegatheringstatechange', done);
      send();
    });
  }
}

// Opens a session; resolves with {stream, close} once the answer is applied. onFailure
// is called (once) when the connection fails or drops after that. Aborting `signal`
// closes the peer connection at once, even mid-negotiation (the wall's session cap
// counts on a released slot holding no connection), and rejects. A server that does not
// answer the POST within answerTimeoutMs rejects it with a timeout error.
export async function openWhep(url, { onFailure, signal, answerTimeoutMs = ANSWER_TIMEOUT_MS } = {}) {
  signal?.throwIfAborted();
  const cert = await pageCertificate();
  signal?.throwIfAborted();
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', ...(cert ? { certificates: [cert] } : {}) });
  let resource = null;
  let closed = false;
  const stream = new MediaStream();
  const close = () => {
    if (closed) return;
    closed = true;
    signal?.removeEventListener('abort', close);
    pc.close();
    // The session resource is deleted so the server frees it at once.
    if (resource) fetch(resource, { method: 'DELETE' }).catch(() => {});
  };
  signal?.addEventListener('abort', close);
  const check = () => {
    if (closed) throw signal?.reason ?? new Error('closed');
  };
  // Bounds the negotiation up to the answer's body, without closing: a session closed
  // meanwhile still reads the answer's Location to delete what the server made.
  const answering = new AbortController();
  const timer = setTimeout(() => answering.abort(
    new Error(`no answer within ${Math.round(answerTimeoutMs / 1000)} s`)), answerTimeoutMs);
  try {
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.addEventListener('track', (event) => stream.addTrack(event.track));
    const gathered = [];
    pc.addEventListener('icecandidate', (event) => {
      if (event.candidate?.candidate) gathered.push(event.candidate);
    });
    await pc.setLocalDescription(await pc.createOffer());
    check();
    const offer = pc.localDescription.sdp;
    let response, answer;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp' },
        body: offer,
        signal: answering.signal,
      });
      const location = response.headers.get('Location');
      if (response.status === 201 && location) {
        resource = new URL(location, url).toString();
        // Closed while the answer was on its way: the server made a session; free it.
        if (closed) fetch(resource, { method: 'DELETE' }).catch(() => {});
      }
      check();
      if (response.status !== 201) {
        const detail = (await response.text()).slice(0, 200);
        throw new Error(`WHEP ${response.status}${detail ? `: ${detail}` : ''}`);
      }
      answer = await response.text();
    } catch (error) {
      if (answering.signal.aborted && !closed) throw answering.signal.reason;
      throw error;
    }
    check();
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    check();
    trickle(pc, offer, gathered, resource, response.headers.get('ETag'));
  } catch (error) {
    close();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  let reported = false;
  const fail = (why) => {
    if (reported || closed) return;
    reported = true;
    onFailure?.(new Error(why));
  };
  let dropTimer = null;
  pc.addEventListener('connectionstatechange', () => {
    const state = pc.connectionState;
    if (state === 'failed' || state === 'closed') fail(`connection ${state}`);
    else if (state === 'disconnected') dropTimer = setTimeout(() => fail('connection lost'), 3000);
    else if (state === 'connected' && dropTimer) clearTimeout(dropTimer);
  });
  return { stream, close, peer: pc };
}

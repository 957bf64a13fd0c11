// A WHEP client (RFC 9725): receive-only WebRTC from MediaMTX's /{path}/whep.

const GATHERING_TIMEOUT_MS = 2000;

function waitForGathering(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, GATHERING_TIMEOUT_MS);
    function done() {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    }
    function check() {
      if (pc.iceGatheringState === 'complete') done();
    }
    pc.addEventListener('icegatheringstatechange', check);
  });
}

// Opens a session; resolves with {stream, close} once the answer is applied. onFailure
// is called (once) when the connection fails or drops after that. Aborting `signal`
// closes the peer connection at once, even mid-negotiation (the wall's session cap
// counts on a released slot holding no connection), and rejects.
export async function openWhep(url, { onFailure, signal } = {}) {
  signal?.throwIfAborted();
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
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
  try {
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.addEventListener('track', (event) => stream.addTrack(event.track));
    await pc.setLocalDescription(await pc.createOffer());
    check();
    await waitForGathering(pc);
    check();
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp' },
      body: pc.localDescription.sdp,
    }); // not aborted: if closed meanwhile, the answer's Location is still read and deleted
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
    const answer = await response.text();
    check();
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    check();
  } catch (error) {
    close();
    throw error;
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

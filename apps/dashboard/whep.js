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
// is called (once) when the connection fails or drops after that.
export async function openWhep(url, { onFailure, signal } = {}) {
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  let resource = null;
  let closed = false;
  const stream = new MediaStream();
  const close = () => {
    if (closed) return;
    closed = true;
    pc.close();
    // The session resource is deleted so the server frees it at once.
    if (resource) fetch(resource, { method: 'DELETE' }).catch(() => {});
  };
  try {
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.addEventListener('track', (event) => stream.addTrack(event.track));
    await pc.setLocalDescription(await pc.createOffer());
    await waitForGathering(pc);
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp' },
      body: pc.localDescription.sdp,
      signal,
    });
    if (response.status !== 201) {
      const detail = (await response.text()).slice(0, 200);
      throw new Error(`WHEP ${response.status}${detail ? `: ${detail}` : ''}`);
    }
    const location = response.headers.get('Location');
    if (location) resource = new URL(location, url).toString();
    await pc.setRemoteDescription({ type: 'answer', sdp: await response.text() });
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

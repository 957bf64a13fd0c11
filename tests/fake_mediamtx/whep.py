"""A WHEP endpoint (as MediaMTX's :8889) that plays a moving test pattern per path, over
real WebRTC (aiortc), for the dashboard's browser tests and the demo.

Only 127.0.0.1 ICE candidates are offered and the browser's candidates are dropped
from its offer: the browser's checks reach 127.0.0.1 and are learned as peer-reflexive,
so nothing ever leaves the machine.
"""
import asyncio
import fractions
import time
import uuid

import aioice.ice
import av
import numpy
from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "OPTIONS, POST, PATCH, DELETE",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
    "Access-Control-Expose-Headers": "Location, Link, ETag",
}


class TestPattern(MediaStreamTrack):
    """320x240 at 15 fps: colour bars tinted per path, and a bar sweeping across."""

    kind = "video"

    def __init__(self, seed):
        super().__init__()
        self.seed = seed
        self.count = 0
        self.start = None
        base = numpy.zeros((240, 320, 3), numpy.uint8)
        colours = [(192, 192, 192), (192, 192, 0), (0, 192, 192), (0, 192, 0),
                   (192, 0, 192), (192, 0, 0), (0, 0, 192)]
        for i, colour in enumerate(colours):
            base[:, i * 46:(i + 1) * 46] = colour
        base[:, :, (seed % 3)] //= 2
        self.base = base

    async def recv(self):
        if self.start is None:
            self.start = time.time()
        self.count += 1
        target = self.start + self.count / 15
        await asyncio.sleep(max(0, target - time.time()))
        frame = self.base.copy()
        x = (self.count * 8) % 320
        frame[:, x:x + 12] = 255
        frame[200:240, :] = 0
        frame[210:230, 10:10 + (self.count % 300)] = (255, 255, 0)
        video = av.VideoFrame.from_ndarray(frame, format="rgb24")
        video.pts = self.count
        video.time_base = fractions.Fraction(1, 15)
        return video


def loopback_only(sdp):
    """Drops every candidate line that is not 127.0.0.1 (mDNS and LAN ones)."""
    lines = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:") and " 127.0.0.1 " not in line:
            continue
        lines.append(line)
    return "\r\n".join(lines) + "\r\n"


class Whep:
    def __init__(self, fake):
        self.fake = fake
        self.sessions = {}
        self.mode = "ok"
        self.posts = 0
        self.deletes = 0
        self.post_ms = []  # how long each answered POST took here, for the wall bench
        self.patches = 0
        self.hung = 0
        self.trickled = 0

    def path_ready(self, name):
        for item in self.fake.runtime_items():
            if item.get("name") == name:
                return item.get("available", item.get("ready", False))
        return False

    async def options(self, request):
        return web.Response(status=204, headers=CORS)

    async def post(self, request):
        self.posts += 1
        began = time.monotonic()
        name = request.match_info["path"]
        if self.mode == "fail":
            return web.Response(status=503, text="stream unavailable (test fault)", headers=CORS)
        if self.mode == "hang":
            # Says nothing while hanging (at most a minute), then refuses: a client that
            # gave up meanwhile must not leave a session behind.
            self.hung += 1
            for _ in range(600):
                if self.mode != "hang":
                    break
                await asyncio.sleep(0.1)
            return web.Response(status=503, text="stream unavailable (hung)", headers=CORS)
        if not self.path_ready(name):
            return web.json_response({"status": "error", "error": "no stream is available on path '%s'" % name},
                                     status=404, headers=CORS)
        if request.content_type != "application/sdp":
            return web.Response(status=400, text="expected application/sdp", headers=CORS)
        sdp = await request.text()
        offer = RTCSessionDescription(sdp=loopback_only(sdp), type="offer")
        pc = RTCPeerConnection()
        pc.offer_ufrag = next((l[len("a=ice-ufrag:"):] for l in sdp.splitlines() if l.startswith("a=ice-ufrag:")), "")
        session = str(uuid.uuid4())
        self.sessions[session] = pc
        seed = sum(name.encode("utf-8"))

        @pc.on("connectionstatechange")
        async def closed():
            if pc.connectionState in ("failed", "closed"):
                self.sessions.pop(session, None)
                await pc.close()

        await pc.setRemoteDescription(offer)
        # The browser offers recvonly video (+ audio); answer the video with the pattern.
        pc.addTrack(TestPattern(seed))
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
        headers = dict(CORS)
        headers["Location"] = "/%s/whep/%s" % (name, session)
        headers["Content-Type"] = "application/sdp"
        self.post_ms.append((time.monotonic() - began) * 1000)
        return web.Response(status=201, text=loopback_only(pc.localDescription.sdp), headers=headers)

    async def patch(self, request):
        """Trickle ICE (RFC 9725), checked as MediaMTX does: an SDP fragment whose
        credentials are the offer's (others would be an ICE restart, which MediaMTX answers
        with a new fragment and this fake does not do). The candidates are counted, not
        used: the browser's checks reach the fake's loopback candidate anyway."""
        session = self.sessions.get(request.match_info["session"])
        if session is None:
            return web.Response(status=404, text="session not found", headers=CORS)
        if request.content_type != "application/trickle-ice-sdpfrag":
            return web.Response(status=400, text="invalid Content-Type", headers=CORS)
        lines = (await request.text()).splitlines()
        ufrag = next((l[len("a=ice-ufrag:"):] for l in lines if l.startswith("a=ice-ufrag:")), "")
        if ufrag and ufrag != session.offer_ufrag:
            return web.Response(status=400, text="ICE restart is not supported here", headers=CORS)
        candidates = [l for l in lines if l.startswith("a=candidate:")]
        if not candidates or not any(l.startswith("m=") for l in lines):
            return web.Response(status=400, text="no candidate under an m= line", headers=CORS)
        self.patches += 1
        self.trickled += len(candidates)
        return web.Response(status=204, headers=CORS)

    async def delete(self, request):
        self.deletes += 1
        pc = self.sessions.pop(request.match_info["session"], None)
        if pc is None:
            return web.Response(status=404, text="session not found", headers=CORS)
        await pc.close()
        return web.Response(status=200, headers=CORS)

    async def drop_all(self):
        for session, pc in list(self.sessions.items()):
            self.sessions.pop(session, None)
            await pc.close()

    # controls, served on the API port under /_fake/whep
    async def put_control(self, request):
        body = await request.json()
        self.mode = body.get("mode", "ok")
        if body.get("drop"):
            await self.drop_all()
        return web.json_response({"status": "ok"})

    async def get_control(self, request):
        return web.json_response({"mode": self.mode, "sessions": len(self.sessions),
                                  "posts": self.posts, "deletes": self.deletes,
                                  "patches": self.patches, "trickled": self.trickled, "hung": self.hung,
                                  "post_ms": self.post_ms[-1000:]})

    def app(self):
        app = web.Application()
        app.router.add_route("OPTIONS", "/{path:.+}/whep", self.options)
        app.router.add_route("OPTIONS", "/{path:.+}/whep/{session}", self.options)
        app.router.add_post("/{path:.+}/whep", self.post)
        app.router.add_patch("/{path:.+}/whep/{session}", self.patch)
        app.router.add_delete("/{path:.+}/whep/{session}", self.delete)
        return app

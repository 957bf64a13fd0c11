"""A WHEP endpoint (as MediaMTX's :8889) that plays a moving test pattern per path, over
real WebRTC (aiortc), for the dashboard's browser tests and the demo.

It forwards, as MediaMTX does: MediaMTX never encodes video for a reader, it hands each
WebRTC reader the packets its camera already encoded. So this fake encodes a short
looping test-pattern clip once, at start-up (H264 Constrained Baseline with libx264,
VP8 when a browser offers no H264, made on first use), and every session forwards those
packets from the clip's first keyframe (a new reader frames at once), paced at the
clip's 15 fps and looped; no session encodes anything. Encoding per session instead cost
each one an encoder's start and a core's share per camera on screen, which MediaMTX
never pays, and made the wall's time to first frames the fake's, not the page's.

Only 127.0.0.1 ICE candidates are offered, no STUN server is asked, and the browser's
candidates are dropped from its offer: the browser's checks reach 127.0.0.1 and are
learned as peer-reflexive, so nothing ever leaves the machine.
"""
import asyncio
import fractions
import time
import uuid

import aioice.ice
import av
import numpy
from aiohttp import web
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "OPTIONS, POST, PATCH, DELETE",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
    "Access-Control-Expose-Headers": "Location, Link, ETag",
}

WIDTH, HEIGHT = 320, 240
FPS = 15
CLIP_FRAMES = 45  # 3 s, looped: the bar sweeps across once per loop
GOP = 15  # a keyframe every second: a reader that lost packets recovers within one
TINTS = 3  # the colour bars are tinted one of three ways, by path


def pattern(tint, index):
    """Frame `index` of the clip: colour bars tinted by `tint`, a white bar sweeping
    across and a yellow bar growing along the bottom."""
    frame = numpy.zeros((HEIGHT, WIDTH, 3), numpy.uint8)
    colours = [(192, 192, 192), (192, 192, 0), (0, 192, 192), (0, 192, 0),
               (192, 0, 192), (192, 0, 0), (0, 0, 192)]
    for i, colour in enumerate(colours):
        frame[:, i * 46:(i + 1) * 46] = colour
    frame[:, :, tint] //= 2
    x = index * WIDTH // CLIP_FRAMES
    frame[:, x:x + 12] = 255
    frame[200:240, :] = 0
    frame[210:230, 10:10 + (index + 1) * 300 // CLIP_FRAMES] = (255, 255, 0)
    return frame


def encode_clip(codec, tint):
    """The clip's packets (bytes, in decoding order, which is also display order: no
    B-frames), the first one a keyframe."""
    if codec == "H264":
        ctx = av.CodecContext.create("libx264", "w")
        ctx.options = {"preset": "veryfast", "tune": "zerolatency", "profile": "baseline",
                       "level": "31", "x264-params": "keyint=%d:min-keyint=%d:scenecut=0:log=-1" % (GOP, GOP)}
    else:
        ctx = av.CodecContext.create("libvpx", "w")
        ctx.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0",
                       "auto-alt-ref": "0", "kf-max-dist": str(GOP)}
    ctx.width, ctx.height, ctx.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    ctx.framerate = fractions.Fraction(FPS, 1)
    ctx.time_base = fractions.Fraction(1, FPS)
    ctx.gop_size = GOP
    ctx.bit_rate = 600_000
    packets = []
    for index in range(CLIP_FRAMES):
        frame = av.VideoFrame.from_ndarray(pattern(tint, index), format="rgb24").reformat(format="yuv420p")
        frame.pts = index
        frame.time_base = ctx.time_base
        packets += [(bytes(p), p.is_keyframe) for p in ctx.encode(frame)]
    packets += [(bytes(p), p.is_keyframe) for p in ctx.encode(None)]
    if len(packets) != CLIP_FRAMES or not packets[0][1]:
        raise RuntimeError("%s clip: %d packets, first keyframe %s" % (codec, len(packets), packets[0][1]))
    return packets


class Clips:
    """The encoded clips, by (codec, tint): H264 at start-up, VP8 when first wanted."""

    def __init__(self):
        self.h264 = "libx264" in av.codecs_available
        self.clips = {}
        if self.h264:
            for tint in range(TINTS):
                self.get("H264", tint)

    def get(self, codec, tint):
        if (codec, tint) not in self.clips:
            self.clips[(codec, tint)] = encode_clip(codec, tint)
        return self.clips[(codec, tint)]

    def codec_for(self, offer_sdp):
        """H264 (packetization-mode 1, which aiortc sends) when the browser takes it, else VP8."""
        if self.h264 and any(l.startswith("a=fmtp:") and "packetization-mode=1" in l
                             and "profile-level-id=42" in l for l in offer_sdp.splitlines()):
            return "H264"
        return "VP8"


class ForwardedClip(MediaStreamTrack):
    """One reader's copy of a clip: its packets (not frames: aiortc's sender only
    packetizes them), from the first keyframe, at FPS, looped, with timestamps that keep
    growing across loops."""

    kind = "video"

    def __init__(self, packets):
        super().__init__()
        self.packets = packets
        self.count = 0
        self.start = None

    async def recv(self):
        if self.start is None:
            self.start = time.monotonic()
        await asyncio.sleep(max(0, self.start + self.count / FPS - time.monotonic()))
        data, _ = self.packets[self.count % len(self.packets)]
        packet = av.Packet(data)
        packet.pts = self.count
        packet.time_base = fractions.Fraction(1, FPS)
        self.count += 1
        return packet


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
        self.clips = Clips()
        self.codecs = {}  # sessions answered, by codec

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
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.offer_ufrag = next((l[len("a=ice-ufrag:"):] for l in sdp.splitlines() if l.startswith("a=ice-ufrag:")), "")
        session = str(uuid.uuid4())
        self.sessions[session] = pc

        @pc.on("connectionstatechange")
        async def closed():
            if pc.connectionState in ("failed", "closed"):
                self.sessions.pop(session, None)
                await pc.close()

        # The browser offers recvonly video (+ audio): the video is answered with the
        # clip of this path's tint, in the one codec the clip is encoded in.
        codec = self.clips.codec_for(sdp)
        self.codecs[codec] = self.codecs.get(codec, 0) + 1
        track = ForwardedClip(self.clips.get(codec, sum(name.encode("utf-8")) % TINTS))
        video = pc.addTransceiver(track, direction="sendonly")
        video.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("video").codecs
                                   if c.mimeType == "video/" + codec])
        await pc.setRemoteDescription(offer)
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
                                  "post_ms": self.post_ms[-1000:], "codecs": self.codecs,
                                  "clips": sorted("%s/%d" % key for key in self.clips.clips)})

    def app(self):
        app = web.Application()
        app.router.add_route("OPTIONS", "/{path:.+}/whep", self.options)
        app.router.add_route("OPTIONS", "/{path:.+}/whep/{session}", self.options)
        app.router.add_post("/{path:.+}/whep", self.post)
        app.router.add_patch("/{path:.+}/whep/{session}", self.patch)
        app.router.add_delete("/{path:.+}/whep/{session}", self.delete)
        return app

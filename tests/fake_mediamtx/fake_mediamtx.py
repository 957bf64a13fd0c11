#!/usr/bin/python3
"""A loopback stand-in for MediaMTX's control API (v3), built from the contract in
shared/mediamtx (OpenAPI v1.20.1 and its field notes), for camreg's tests and demo.

What it serves, as upstream does:
  GET /v3/paths/list   zero-based ?page, ?itemsPerPage (default 100), unsigned 31-bit
                       decimals, 400 with Go's strconv message when malformed,
                       400 "invalid items per page" for 0, items sorted by name,
                       itemCount/pageCount, an empty page past the end
  GET /v3/paths/get/N  one item, or 404 {"status":"error","error":"path not found"}
  GET /v3/config/paths/list  the configuration of every paths: key, PathConf-shaped (all
                       fields, defaults merged, source URLs with their credentials as
                       upstream returns them), sorted by key, paginated as paths/list
  GET /v3/config/paths/get/N  one, or 404 "path configuration not found"
  GET /v3/info         {"version": ..., "started": ...}
  anything else        plain-text "404 page not found" (gin's default)
  auth                 none, or users (Basic, or Bearer "user:pass") and/or a bearer
                       token; 401 {"status":"error","error":"authentication error"},
                       WWW-Authenticate only when no credentials were sent

Two ways to say what is served:
  raw items            /_fake/paths: runtime items served as given; each confName gets a
                       default configuration (a publisher path) in the config list
  modelled paths       /_fake/config: path configurations (PathConf fields over the
                       defaults), whose runtime state is derived as upstream v1.20.1 does
                       (internal/core/path.go) from the configuration and the state of
                       the camera behind it (/_fake/cameras):
                       - static source (rtsp://...): source {rtspSource,""} always; camera
                         up: available and online; down: available false, online true
                       - sourceOnDemand: started only while readers > 0; idle it is
                         available false, online true (the quirk), source {rtspSource,""}
                       - publisher: up = publishing (rtspSession), down = source null
                       - alwaysAvailable: available from start; camera down: online
                         false, the offline placeholder's tracks (H264 1920x1080 Baseline
                         4) and growing inboundBytes; camera up: online, real tracks
                       Regex keys (~..., all_others, all) are listed in the config only.

Test controls (not MediaMTX), under /_fake/:
  PUT /_fake/paths     body: an array of path items (or {"items": [...]}) to serve
  PUT /_fake/config    body: an array of path configurations ({"name": key, field: value})
  PUT /_fake/cameras   body: {"name": {"up": bool, "readers": n}, ...}, merged
  PUT /_fake/fault     body: {"mode": hang|drip|truncate|garbage|oversize|wrong_type|
                       gzip|status_500|invalid_utf8|raw|status|delay|none, "body": "…" (raw,
                       status), "status": n, "content_type": "…", "encoding": "latin-1"
                       (status: answer n with body encoded so, e.g. a proxy's 502 page),
                       "seconds": n (delay: answer normally after n seconds), "pages": [n, ...] (default all),
                       "bytes": n (oversize), "endpoints": ["paths", "config"] (the list
                       endpoints it applies to; default ["paths"]), "after": n (spare
                       the first n requests it would apply to, e.g. n good rounds first)}
  PUT /_fake/mutate    body: {"after_page": n, "items": [...]}: once page n was served,
                       add these items (the list changes between page requests);
                       "remove_first": k removes the k paths that sort first instead (raw
                       items and modelled paths alike, as if deleted from the config);
                       "times": t repeats it on the next t-1 walks too (default 1);
                       "endpoint": "paths" (default) or "config": the list that triggers it
  GET /_fake/requests  the list requests seen so far: [{"page", "itemsPerPage", "auth"}]
  PUT /_fake/whep      body: {"mode": "ok"|"fail"|"hang", "drop": true}: WHEP answers 503
                       while failing, and nothing while hanging (up to a minute, then
                       503); drop closes every playing session
  GET /_fake/whep      {"mode", "sessions", "posts", "deletes", "patches", "trickled",
                       "hung", "post_ms", "codecs", "clips"}: PATCHes are trickle ICE,
                       checked and counted; codecs: sessions answered per codec; clips:
                       the encoded clips held ("H264/0": codec/tint)
  PUT /_fake/hook      body: {"url": "http://…/api/sync/trigger", "token": "…", "events":
                       ["available", "unavailable"] (default; also "online", "offline")}:
                       when a control above changes a path's available (or online) state,
                       POST url?path=NAME with Authorization: Bearer token, as the
                       runOnAvailable/runOnUnavailable (runOnOnline/runOnOffline) hook of
                       mediamtx.yml does with curl; without waiting, 2 s timeout
  GET /_fake/hooks     the hook calls made: [{"path", "event", "status", "ms"}] (status 0:
                       no answer; ms: from the change to the answer)

With --churn each walk of /v3/paths/list (its page 0) grows every available raw item's
byte counters and flips 1% of the items' availability, as a busy MediaMTX would.

With --webrtc-listen it also answers WHEP (whep.py: aiortc, a moving test pattern
per available path), as MediaMTX does on :8889: like MediaMTX it forwards packets
encoded once (a looping clip) to every reader, and encodes nothing per session.

Prints {"port": N} on stdout once listening.
"""
import argparse
import asyncio
import base64
import datetime
import gzip
import json
import ssl
import zlib

from aiohttp import web

VERSION = "v1.20.1"
MAX_UINT31 = (1 << 31) - 1


def go_parse_uint31(text):
    """strconv.ParseUint(text, 10, 31) with Go's error messages."""
    if text == "" or not all("0" <= c <= "9" for c in text):
        raise ValueError('strconv.ParseUint: parsing "%s": invalid syntax' % text)
    value = int(text)
    if value > MAX_UINT31:
        raise ValueError('strconv.ParseUint: parsing "%s": value out of range' % text)
    return value


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


COUNTERS = ("inboundBytes", "bytesReceived")


def counter_template(item):
    """compact(item) cut around its byte counters: [text, key, text, key, text], or None
    when the counters are not plain integers or their text cannot be found once each."""
    if not isinstance(item, dict) or any(
            type(item.get(k)) is not int for k in COUNTERS):  # noqa: E721 (bool is no counter)
        return None
    marks = {k: "-48151623429%02d" % n for n, k in enumerate(COUNTERS)}
    text = compact(dict(item, **{k: int(m) for k, m in marks.items()}))
    found = sorted((text.find(":" + m), k) for k, m in marks.items())
    if any(at < 0 or text.count(marks[k]) != 1 for at, k in found):
        return None
    parts, start = [], 0
    for at, k in found:
        parts += [text[start:at + 1], k]
        start = at + 1 + len(marks[k])
    parts.append(text[start:])
    return parts


def json_response(obj, status=200, headers=None):
    return web.Response(status=status, text=compact(obj), headers=headers,
                        content_type="application/json", charset="utf-8")


def error_response(status, message, headers=None):
    return json_response({"status": "error", "error": message}, status, headers)


def not_found():
    return web.Response(status=404, text="404 page not found", content_type="text/plain")


def config_paths(config_file):
    """The concrete path names of a mediamtx.yml (regex keys and all_others excluded)."""
    import yaml  # python3-yaml; only the demo needs it
    with open(config_file, encoding="utf-8") as f:
        config = yaml.safe_load(f) or {}
    return [str(name) for name in (config.get("paths") or {})
            if not str(name).startswith("~") and str(name) not in ("all", "all_others")]


def live_item(name):
    """A path as MediaMTX v1.20 lists a ready RTSP source."""
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    return {
        "name": name, "confName": name, "ready": True, "readyTime": now, "available": True,
        "availableTime": now, "online": True, "onlineTime": now,
        "source": {"type": "rtspSource", "id": ""}, "tracks": ["VP8"],
        "tracks2": [{"codec": "VP8", "codecProps": None}], "readers": [],
        "inboundBytes": 0, "outboundBytes": 0, "inboundFramesInError": 0,
        "bytesReceived": 0, "bytesSent": 0,
    }


# PathConf as /v3/config/paths/list returns it (v1.20.1), the defaults merged: the field
# set and order of upstream's pathDefaults (see tests/data/mediamtx).
PATH_CONF_DEFAULTS = json.loads("""
{"source": "publisher", "sourceFingerprint": "", "sourceOnDemand": false,
"sourceOnDemandStartTimeout": "10s", "sourceOnDemandCloseAfter": "10s", "maxReaders": 0,
"srtReadPassphrase": "", "useAbsoluteTimestamp": false, "alwaysAvailable": false,
"alwaysAvailableTracks": [], "alwaysAvailableFile": "", "forward": [], "record": false,
"recordPath": "./recordings/%path/%Y-%m-%d_%H-%M-%S-%f", "recordFormat": "fmp4",
"recordPartDuration": "1s", "recordMaxPartSize": "50M", "recordSegmentDuration": "1h0m0s",
"recordDeleteAfter": "1d", "overridePublisher": true, "srtPublishPassphrase": "",
"rtspDemuxMpegts": false, "rtspTransport": "automatic", "rtspAnyPort": false, "rtspRangeType":
"", "rtspRangeStart": "", "rtspScale": "", "rtspUDPSourcePortRange": [32768, 60999], "rtpSDP":
"", "moqTransport": "quic", "whepBearerToken": "", "whepSTUNGatherTimeout": "5s",
"whepHandshakeTimeout": "10s", "whepTrackGatherTimeout": "2s", "sourceRedirect": "",
"rpiCameraCamID": 0, "rpiCameraSecondary": false, "rpiCameraWidth": 1920, "rpiCameraHeight":
1080, "rpiCameraHFlip": false, "rpiCameraVFlip": false, "rpiCameraBrightness": 0,
"rpiCameraContrast": 1, "rpiCameraSaturation": 1, "rpiCameraSharpness": 1, "rpiCameraExposure":
"normal", "rpiCameraAWB": "auto", "rpiCameraAWBGains": [0, 0], "rpiCameraDenoise": "off",
"rpiCameraShutter": 0, "rpiCameraMetering": "centre", "rpiCameraGain": 0, "rpiCameraEV": 0,
"rpiCameraROI": "", "rpiCameraHDR": false, "rpiCameraTuningFile": "", "rpiCameraMode": "",
"rpiCameraFPS": 30, "rpiCameraAfMode": "continuous", "rpiCameraAfRange": "normal",
"rpiCameraAfSpeed": "normal", "rpiCameraLensPosition": 0, "rpiCameraAfWindow": "",
"rpiCameraFlickerPeriod": 0, "rpiCameraTextOverlayEnable": false, "rpiCameraTextOverlay":
"%Y-%m-%d %H:%M:%S - MediaMTX", "rpiCameraCodec": "auto", "rpiCameraIDRPeriod": 60,
"rpiCameraBitrate": 5000000, "rpiCameraH264Profile": "auto", "rpiCameraH264Level": "4.1",
"rpiCameraMJPEGQuality": 60, "runOnInit": "", "runOnInitRestart": false, "runOnDemand": "",
"runOnDemandRestart": false, "runOnDemandStartTimeout": "10s", "runOnDemandCloseAfter": "10s",
"runOnUnDemand": "", "runOnAvailable": "", "runOnAvailableRestart": false, "runOnUnavailable":
"", "runOnOnline": "", "runOnOnlineRestart": false, "runOnOffline": "", "runOnRead": "",
"runOnReadRestart": false, "runOnUnread": "", "runOnRecordSegmentCreate": "",
"runOnRecordSegmentComplete": ""}
""")

STATIC_SOURCE_TYPES = {"rtsp": "rtspSource", "rtsps": "rtspSource", "rtmp": "rtmpSource",
                       "rtmps": "rtmpSource", "http": "hlsSource", "https": "hlsSource",
                       "srt": "srtSource", "udp": "mpegtsSource", "udp+mpegts": "mpegtsSource",
                       "udp+rtp": "rtpSource", "whep": "webRTCSource", "wheps": "webRTCSource"}

# The built-in offline placeholder (upstream's offline segment) and a camera's tracks.
PLACEHOLDER_TRACK = {"codec": "H264", "codecProps": {"width": 1920, "height": 1080,
                                                     "profile": "Baseline", "level": "4"}}
CAMERA_TRACK = {"codec": "H264", "codecProps": {"width": 1280, "height": 720,
                                                "profile": "Main", "level": "3.1"}}


def is_regex_key(name):
    return name.startswith("~") or name in ("all", "all_others")


def go_time(moment):
    return moment.isoformat().replace("+00:00", "Z")


class Fake:
    def __init__(self, args):
        self.items = []
        self.churn = getattr(args, "churn", False)
        self.walks = 0
        self.templates = {}  # --churn: id(item) -> (item, its text around its byte counters)
        self.users = {}
        if args.user is not None:
            self.users[args.user] = args.password or ""
        self.token = args.token
        self.auth_fail_delay = args.auth_fail_delay
        self.confs = {}    # paths: key -> PathConf (modelled paths)
        self.cameras = {}  # path name -> {"up": bool, "readers": n}
        self.since = {}    # (path name, "available"|"online") -> when that began
        self.fault = {"mode": "none"}
        self.mutation = None
        self.requests = []
        self.whep = None
        self.hook = {"url": args.hook_url, "token": args.hook_token,
                     "events": ["available", "unavailable"]} if args.hook_url else None
        self.hook_calls = []
        self.hook_tasks = set()
        self.started = datetime.datetime.now(datetime.timezone.utc).isoformat()
        if args.paths_file:
            with open(args.paths_file, encoding="utf-8") as f:
                self.set_items(json.load(f))
        if args.config:
            self.set_items([live_item(name) for name in config_paths(args.config)])

    def set_items(self, doc):
        items = doc["items"] if isinstance(doc, dict) else doc
        if not isinstance(items, list):
            raise ValueError("items must be an array")
        # Upstream sorts by name in Go byte order.
        self.items = sorted(items, key=lambda i: str(i.get("name", "")).encode("utf-8"))
        self.templates = {}  # of the items before: made again as pages are asked for

    def set_confs(self, confs):
        if not isinstance(confs, list):
            raise ValueError("configurations must be an array")
        self.confs = {}
        for conf in confs:
            full = {"name": str(conf["name"])}
            full.update(PATH_CONF_DEFAULTS)
            full.update({k: v for k, v in conf.items() if k != "name"})
            self.confs[full["name"]] = full

    # --- the model --------------------------------------------------------------
    def camera(self, name):
        return self.cameras.get(name, {"up": False, "readers": 0})

    def runtime_item(self, conf):
        """The /v3/paths/list item of a configured (non-regex) path, as path.go derives it."""
        name = conf["name"]
        camera = self.camera(name)
        readers = int(camera.get("readers", 0))
        scheme = conf["source"].split("://", 1)[0] if "://" in conf["source"] else ""
        static = scheme in STATIC_SOURCE_TYPES
        always = bool(conf["alwaysAvailable"])
        if static:
            source = {"type": STATIC_SOURCE_TYPES[scheme], "id": ""}
            started = readers > 0 or not conf["sourceOnDemand"]
            delivering = started and bool(camera.get("up"))
        else:
            delivering = bool(camera.get("up"))
            source = {"type": "rtspSession", "id": "6f1c1e0a-0000-4000-8000-%012x"
                      % zlib.crc32(name.encode("utf-8"))} if delivering else None
        available = delivering or always
        online = (delivering and always) or (source is not None and not always)
        now = datetime.datetime.now(datetime.timezone.utc)

        def since(what, holds):
            if holds:
                return self.since.setdefault((name, what), now)
            self.since.pop((name, what), None)
            return None

        available_since = since("available", available)
        online_since = since("online", delivering)
        if delivering:
            tracks2 = [CAMERA_TRACK]
        elif always:
            tracks2 = [PLACEHOLDER_TRACK]
        else:
            tracks2 = []
        # Counters grow while a stream exists, the placeholder's too.
        inbound = (int((now - available_since).total_seconds() * 250000) + 1000
                   if available else 0)
        stamp = go_time(available_since) if available else None
        reader_list = [{"type": "webRTCSession", "id": "0e7d4c1a-0000-4000-8000-%012x" % i}
                       for i in range(readers)] if available else []
        return {
            "name": name, "confName": name, "ready": available, "readyTime": stamp,
            "available": available, "availableTime": stamp, "online": online,
            "onlineTime": ((go_time(online_since) if delivering else "0001-01-01T00:00:00Z")
                           if online else None),
            "source": source, "tracks": [t["codec"] for t in tracks2], "tracks2": tracks2,
            "readers": reader_list, "inboundBytes": inbound, "outboundBytes": 0,
            "inboundFramesInError": 0, "bytesReceived": inbound, "bytesSent": 0,
        }

    def runtime_items(self):
        if not self.confs:
            return self.items  # kept sorted by put_paths
        items = list(self.items)
        items += [self.runtime_item(c) for n, c in self.confs.items() if not is_regex_key(n)]
        return sorted(items, key=lambda i: str(i.get("name", "")).encode("utf-8"))

    def config_items(self):
        # Every page request asks again; a 100,000-path list must not be rebuilt each time.
        # The memo holds the very list and dict it was built from (never a reused id).
        memo = getattr(self, "_config_memo", None)
        if (memo is not None and memo[0] is self.items and memo[1] is self.confs
                and memo[2] == len(self.confs)):
            return memo[3]
        # memo[4]: the pages' text, by (page, itemsPerPage), for as long as the list lasts.
        self._config_memo = (self.items, self.confs, len(self.confs), self._config_items(), {})
        return self._config_memo[3]

    def _config_items(self):
        confs = dict(self.confs)
        for item in self.items:
            key = item.get("confName") if isinstance(item, dict) else None
            if isinstance(key, str) and key not in confs:
                confs[key] = dict({"name": key}, **PATH_CONF_DEFAULTS)
        return [confs[k] for k in sorted(confs, key=lambda k: k.encode("utf-8"))]

    def remove_first(self, count):
        names = sorted([str(i.get("name", "")) for i in self.items] +
                       [n for n in self.confs if not is_regex_key(n)],
                       key=lambda n: n.encode("utf-8"))[:count]
        self.items = [i for i in self.items if str(i.get("name", "")) not in names]
        self.templates = {}
        for name in names:
            self.confs.pop(name, None)

    # --- auth -----------------------------------------------------------------
    def check_auth(self, request):
        if not self.users and self.token is None:
            return None
        header = request.headers.get("Authorization")
        if header is None:
            return error_response(401, "authentication error",
                                  {"WWW-Authenticate": 'Basic realm="mediamtx"'})
        scheme, _, value = header.partition(" ")
        ok = False
        if scheme == "Basic":
            try:
                user, _, password = base64.b64decode(value).decode("utf-8").partition(":")
                ok = self.users.get(user) == password and user in self.users
            except Exception:
                ok = False
        elif scheme == "Bearer":
            if self.token is not None and value == self.token:
                ok = True
            else:
                user, sep, password = value.partition(":")
                ok = bool(sep) and user in self.users and self.users[user] == password
        return None if ok else "wrong"

    async def authorize(self, request):
        verdict = self.check_auth(request)
        if verdict is None:
            return None
        if verdict == "wrong":
            await asyncio.sleep(self.auth_fail_delay)
            return error_response(401, "authentication error")
        return verdict

    # --- MediaMTX routes ------------------------------------------------------
    def paginate(self, request):
        """(page, itemsPerPage), or an error response, as upstream's paginate.go."""
        try:
            page = 0
            per_page = 100
            if request.query.get("itemsPerPage", "") != "":
                per_page = go_parse_uint31(request.query["itemsPerPage"])
                if per_page == 0:
                    raise ValueError("invalid items per page")
            if request.query.get("page", "") != "":
                page = go_parse_uint31(request.query["page"])
        except ValueError as e:
            return None, error_response(400, str(e))
        return (page, per_page), None

    async def list_endpoint(self, request, endpoint, items_of):
        denied = await self.authorize(request)
        if denied is not None:
            return denied
        paging, error = self.paginate(request)
        if error is not None:
            return error
        page, per_page = paging
        self.requests.append({"page": page, "itemsPerPage": per_page,
                              "auth": request.headers.get("Authorization"),
                              "endpoint": endpoint})
        if endpoint == "paths" and page == 0 and self.churn:
            self.churn_items()
        items = items_of()
        count = len(items)
        page_count = (count + per_page - 1) // per_page
        chosen = items[page * per_page:(page + 1) * per_page]
        if endpoint == "paths" and self.churn and items is self.items:
            # The same text as compact() below, from each item's template.
            body = '{"itemCount":%d,"pageCount":%d,"items":[%s]}' % (
                count, page_count, ",".join(self.churned_json(item) for item in chosen))
        else:
            # The configuration list's pages are kept with it: 100,000 configurations of
            # ~90 fields are ~250 MB of JSON a walk.
            kept = (self._config_memo[4] if endpoint == "config"
                    and items is self._config_memo[3] else {})
            body = kept.get((page, per_page))
            if body is None:
                body = compact({"itemCount": count, "pageCount": page_count, "items": chosen})
                kept[(page, per_page)] = body
        mutation = self.mutation
        if (mutation is not None and mutation["after_page"] == page
                and mutation.get("endpoint", "paths") == endpoint):
            mutation["times"] = int(mutation.get("times", 1)) - 1
            if mutation["times"] <= 0:
                self.mutation = None
            if "remove_first" in mutation:
                self.remove_first(int(mutation["remove_first"]))
            else:
                self.set_items(self.items + mutation["items"])
        return await self.faulty(request, endpoint, page, body)

    def churn_items(self):
        """--churn: a new walk of the list (page 0) finds every available raw item's byte
        counters grown, as on a real MediaMTX, and 1% of the items (a different 1% each
        walk) switched between available and not."""
        self.walks += 1
        stamp = go_time(datetime.datetime.now(datetime.timezone.utc))
        for i, item in enumerate(self.items):
            if i % 100 == self.walks % 100:
                self.templates.pop(id(item), None)
                up = not item.get("available", False)
                item.update({"available": up, "ready": up, "availableTime": stamp if up else None,
                             "readyTime": stamp if up else None})
            if item.get("available"):
                grown = int(item.get("inboundBytes", 0)) + 250000 + i % 1000
                item.update({"inboundBytes": grown, "bytesReceived": grown})

    def churned_json(self, item):
        """compact(item) for --churn's walks, which change little but the byte counters of
        most items: each item's text around its counters is kept from walk to walk (json
        would take ~25 ms a page of 1,000, seconds a listing of 100,000)."""
        kept = self.templates.get(id(item))
        if kept is None or kept[0] is not item:
            kept = (item, counter_template(item))
            self.templates[id(item)] = kept
        parts = kept[1]
        if parts is None:
            return compact(item)
        out = [parts[0]]
        for k in range(1, len(parts), 2):
            out.append(str(item[parts[k]]))
            out.append(parts[k + 1])
        return "".join(out)

    async def paths_list(self, request):
        return await self.list_endpoint(request, "paths", self.runtime_items)

    async def config_paths_list(self, request):
        return await self.list_endpoint(request, "config", self.config_items)

    async def config_paths_get(self, request):
        denied = await self.authorize(request)
        if denied is not None:
            return denied
        for conf in self.config_items():
            if conf["name"] == request.match_info["name"]:
                return json_response(conf)
        return error_response(404, "path configuration not found")

    async def paths_get(self, request):
        denied = await self.authorize(request)
        if denied is not None:
            return denied
        name = request.match_info["name"]
        if name == "":
            return error_response(400, "invalid name")
        for item in self.runtime_items():
            if item.get("name") == name:
                return json_response(item)
        return error_response(404, "path not found")

    async def info(self, request):
        denied = await self.authorize(request)
        if denied is not None:
            return denied
        return json_response({"version": VERSION, "started": self.started})

    # --- faults ---------------------------------------------------------------
    async def faulty(self, request, endpoint, page, body):
        mode = self.fault.get("mode", "none")
        pages = self.fault.get("pages")
        if (mode == "none" or (pages is not None and page not in pages)
                or endpoint not in self.fault.get("endpoints", ["paths"])):
            return web.Response(text=body, content_type="application/json", charset="utf-8")
        if self.fault.get("after", 0) > 0:
            self.fault["after"] -= 1
            return web.Response(text=body, content_type="application/json", charset="utf-8")
        data = body.encode("utf-8")
        if mode == "hang":
            await asyncio.sleep(3600)
        if mode == "delay":
            await asyncio.sleep(float(self.fault.get("seconds", 1)))
            return web.Response(text=body, content_type="application/json", charset="utf-8")
        if mode == "status_500":
            return error_response(500, "terminated")
        if mode == "garbage":
            return web.Response(body=b'{"itemCount": 1, "items": [{"name": "cam', status=200,
                                headers={"Content-Type": "application/json"})
        if mode == "raw":
            return web.Response(body=self.fault["body"].encode("utf-8"),
                                headers={"Content-Type": "application/json; charset=utf-8"})
        if mode == "status":
            return web.Response(
                status=int(self.fault.get("status", 502)),
                body=self.fault.get("body", "").encode(self.fault.get("encoding", "utf-8")),
                headers={"Content-Type": self.fault.get("content_type", "text/html")})
        if mode == "invalid_utf8":
            return web.Response(body=b'{"itemCount":1,"pageCount":1,"items":[{"name":"cam\xff","available":true}]}',
                                headers={"Content-Type": "application/json; charset=utf-8"})
        if mode == "wrong_type":
            return web.Response(text="<html><body>MediaMTX</body></html>", content_type="text/html")
        if mode == "gzip":
            return web.Response(body=gzip.compress(data), headers={
                "Content-Type": "application/json; charset=utf-8", "Content-Encoding": "gzip"})
        if mode == "oversize":
            size = int(self.fault.get("bytes", 65 << 20))
            padded = data[:-1] + b"," + b'"pad":"' + b"x" * size + b'"}'
            return web.Response(body=padded, headers={"Content-Type": "application/json"})
        response = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
        response.content_length = len(data)
        await response.prepare(request)
        if mode == "truncate":
            await response.write(data[: len(data) // 2])
            request.transport.close()
            return response
        if mode == "drip":
            for i in range(len(data)):
                await response.write(data[i:i + 1])
                await asyncio.sleep(0.2)
            await response.write_eof()
            return response
        raise web.HTTPBadRequest(text="unknown fault " + mode)

    # --- hooks ----------------------------------------------------------------
    def path_states(self):
        """name -> (available, online) of every listed path, for the hooks."""
        if self.hook is None:
            return {}
        states = {}
        for item in self.runtime_items():
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                available = bool(item.get("available", item.get("ready")))
                states[item["name"]] = (available, bool(item.get("online", available)))
        return states

    def fire_hooks(self, before):
        """Calls the hook for every path whose state changed since before, as MediaMTX
        runs runOnAvailable/runOnUnavailable (runOnOnline/runOnOffline): not waited for."""
        if self.hook is None:
            return
        changed_at = asyncio.get_running_loop().time()
        for name, (available, online) in self.path_states().items():
            was_available, was_online = before.get(name, (False, False))
            events = []
            if available != was_available:
                events.append("available" if available else "unavailable")
            if online != was_online:
                events.append("online" if online else "offline")
            for event in events:
                if event in self.hook.get("events", ["available", "unavailable"]):
                    task = asyncio.create_task(self.call_hook(name, event, changed_at))
                    self.hook_tasks.add(task)
                    task.add_done_callback(self.hook_tasks.discard)

    async def call_hook(self, name, event, changed_at):
        import aiohttp
        url = self.hook["url"] + ("&" if "?" in self.hook["url"] else "?") + "path=" + name
        headers = {"Authorization": "Bearer " + self.hook["token"]} if self.hook.get("token") else {}
        status = 0
        try:
            timeout = aiohttp.ClientTimeout(total=2)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.post(url, headers=headers) as response:
                    await response.read()
                    status = response.status
        except Exception:
            status = 0
        took = (asyncio.get_running_loop().time() - changed_at) * 1000
        self.hook_calls.append({"path": name, "event": event, "status": status, "ms": round(took, 1)})

    # --- test controls --------------------------------------------------------
    async def put_paths(self, request):
        before = self.path_states()
        self.set_items(await request.json())
        self.fire_hooks(before)
        return json_response({"status": "ok", "itemCount": len(self.items)})

    async def put_config(self, request):
        before = self.path_states()
        self.set_confs(await request.json())
        self.fire_hooks(before)
        return json_response({"status": "ok", "itemCount": len(self.confs)})

    async def put_cameras(self, request):
        before = self.path_states()
        for name, state in (await request.json()).items():
            self.cameras[name] = dict(self.camera(name), **state)
        self.fire_hooks(before)
        return json_response({"status": "ok"})

    async def put_hook(self, request):
        self.hook = await request.json()
        return json_response({"status": "ok"})

    async def get_hooks(self, request):
        return json_response(self.hook_calls)

    async def put_fault(self, request):
        self.fault = await request.json()
        return json_response({"status": "ok"})

    async def put_mutate(self, request):
        self.mutation = await request.json()
        return json_response({"status": "ok"})

    async def get_requests(self, request):
        return json_response(self.requests)

    async def put_whep(self, request):
        if self.whep is None:
            return error_response(404, "WHEP is not served (start with --webrtc-listen)")
        return await self.whep.put_control(request)

    async def get_whep(self, request):
        if self.whep is None:
            return error_response(404, "WHEP is not served (start with --webrtc-listen)")
        return await self.whep.get_control(request)


@web.middleware
async def plain_404(request, handler):
    try:
        return await handler(request)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        return not_found()


def build_app(fake):
    app = web.Application(middlewares=[plain_404], client_max_size=256 << 20)
    app.router.add_get("/v3/paths/list", fake.paths_list, allow_head=False)
    app.router.add_get("/v3/paths/get/{name:.*}", fake.paths_get, allow_head=False)
    app.router.add_get("/v3/info", fake.info, allow_head=False)
    app.router.add_get("/v3/config/paths/list", fake.config_paths_list, allow_head=False)
    app.router.add_get("/v3/config/paths/get/{name:.*}", fake.config_paths_get, allow_head=False)
    app.router.add_put("/_fake/config", fake.put_config)
    app.router.add_put("/_fake/cameras", fake.put_cameras)
    app.router.add_put("/_fake/paths", fake.put_paths)
    app.router.add_put("/_fake/fault", fake.put_fault)
    app.router.add_put("/_fake/mutate", fake.put_mutate)
    app.router.add_get("/_fake/requests", fake.get_requests, allow_head=False)
    app.router.add_put("/_fake/whep", fake.put_whep)
    app.router.add_get("/_fake/whep", fake.get_whep, allow_head=False)
    app.router.add_put("/_fake/hook", fake.put_hook)
    app.router.add_get("/_fake/hooks", fake.get_hooks, allow_head=False)
    return app


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:0", help="host:port (port 0: any free)")
    parser.add_argument("--paths-file", help="a path list body or an array of path items")
    parser.add_argument("--config", help="serve the paths of this mediamtx.yml as live cameras (demo)")
    parser.add_argument("--user", help="require this API user (Basic or Bearer user:pass)")
    parser.add_argument("--password")
    parser.add_argument("--token", help="accept Authorization: Bearer TOKEN")
    parser.add_argument("--auth-fail-delay", type=float, default=0.0,
                        help="seconds to wait before a 401 for wrong credentials")
    parser.add_argument("--webrtc-listen", help="also serve WHEP on host:port (needs aiortc)")
    parser.add_argument("--hook-url", help="call this URL as mediamtx.yml's hooks do (see PUT /_fake/hook)")
    parser.add_argument("--hook-token", help="the Bearer token of the hook calls")
    parser.add_argument("--churn", action="store_true",
                        help="each walk of the raw items grows their counters, 1%% change state")
    parser.add_argument("--tls-cert", help="serve https with this PEM certificate chain")
    parser.add_argument("--tls-key", help="and this PEM private key")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    fake = Fake(args)
    runner = web.AppRunner(build_app(fake), access_log=None, handle_signals=True)
    await runner.setup()
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    site = web.TCPSite(runner, host or "127.0.0.1", int(port), ssl_context=tls)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]
    announce = {"port": bound}
    if args.webrtc_listen:
        import whep  # aiortc is needed only for this
        peer = whep.Whep(fake)
        fake.whep = peer
        whep_runner = web.AppRunner(peer.app(), access_log=None)
        await whep_runner.setup()
        whost, _, wport = args.webrtc_listen.rpartition(":")
        whep_site = web.TCPSite(whep_runner, whost or "127.0.0.1", int(wport))
        await whep_site.start()
        announce["webrtc_port"] = whep_site._server.sockets[0].getsockname()[1]
    print(compact(announce), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass

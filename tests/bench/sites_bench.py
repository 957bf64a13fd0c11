#!/usr/bin/python3
"""Several sites syncing at once: SITES sites x CAMERAS cameras, a fake MediaMTX each
(tests/fake_mediamtx), the real sync-worker --once --site S against one PostgreSQL schema.
Each site's round alone (the others idle), then the sites' rounds started together, for
REPS repetitions; a round's time is the worker's own duration_ms (listing every page and
writing in one transaction). Prints alone vs together and the ratio (goal <= 1.5x).
Usage: sites_bench.py BUILD_DIR DATABASE_URL [--sites 3] [--cameras 10000] [--reps 5]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def path_item(name, available=True):
    when = "2026-11-30T10:00:00Z" if available else None
    return {"name": name, "confName": name, "ready": available, "readyTime": when, "available": available,
            "availableTime": when, "online": True, "onlineTime": when,
            "source": {"type": "rtspSource", "id": ""},
            "tracks": ["H264"] if available else [],
            "tracks2": [{"codec": "H264", "codecProps": {"width": 1920, "height": 1080, "profile": "Main",
                                                         "level": "4.1"}}] if available else [],
            "readers": [], "inboundBytes": 1000, "outboundBytes": 0, "inboundFramesInError": 0,
            "bytesReceived": 1000, "bytesSent": 0}


def start_fake():
    p = subprocess.Popen(["/usr/bin/python3", os.path.join(ROOT, "tests/fake_mediamtx/fake_mediamtx.py"),
                          "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        if line.startswith("{"):
            return p, f"http://127.0.0.1:{json.loads(line)['port']}"
    p.kill()
    raise RuntimeError("the fake MediaMTX did not start")


def serve(api, items):
    request = urllib.request.Request(f"{api}/_fake/paths", data=json.dumps(items).encode(), method="PUT")
    with urllib.request.urlopen(request, timeout=60) as r:
        assert r.status == 200


def worker(build, db, site, api):
    return subprocess.Popen([os.path.join(build, "apps/sync-worker/sync-worker"), "--once", "--site", site,
                             "--database-url", db, "--mediamtx-url", api, "--webrtc-url", "http://127.0.0.1:8889",
                             "--log-format", "json"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def cpu_ms(pid):
    """CPU time (user + system) a live process has used so far, in ms."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def tree_cpu_ms(pid):
    """CPU time of a live process and its reaped children (PostgreSQL's postmaster: the
    backends that exited), in ms."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return sum(int(x) for x in fields[11:15]) * 1000 / os.sysconf("SC_CLK_TCK")


def round_ms(process, site):
    """(the round's duration_ms from a finished worker's log, the worker's CPU ms); fails
    on anything but a successful round (a skipped one would mean the sites share a lock)."""
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    cpu = (usage.ru_utime + usage.ru_stime) * 1000
    for line in output.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "round":
            if not entry.get("ok") or entry.get("skipped"):
                raise RuntimeError(f"site {site}: round not ok: {line}")
            return entry["duration_ms"], cpu
    raise RuntimeError(f"site {site}: no round in the log (exit {process.returncode}):\n{output}")


class LockWaits:
    """Samples pg_stat_activity every 50 ms from one psql session while running: how long
    backends of this database waited on a lock, by lock type (advisory: the round and
    events locks), summed over backends, in ms."""
    PERIOD = 0.05

    def __init__(self, database_url):
        self.psql = subprocess.Popen(["psql", database_url, "-qAt", "-v", "ON_ERROR_STOP=1"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.waits = {}
        self.running = False
        self.thread = None

    def sample(self):
        self.psql.stdin.write("SELECT coalesce(string_agg(wait_event, ','), '') FROM pg_stat_activity"
                              " WHERE datname = current_database() AND wait_event_type = 'Lock';\n")
        self.psql.stdin.flush()
        for event in filter(None, self.psql.stdout.readline().strip().split(",")):
            self.waits[event] = self.waits.get(event, 0) + self.PERIOD * 1000

    def __enter__(self):
        self.running = True

        def loop():
            while self.running:
                self.sample()
                time.sleep(self.PERIOD)

        self.thread = threading.Thread(target=loop, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()

    def close(self):
        self.psql.stdin.close()
        self.psql.wait(timeout=10)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("build")
    parser.add_argument("database_url")
    parser.add_argument("--sites", type=int, default=3)
    parser.add_argument("--cameras", type=int, default=10000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--postmaster-pid", type=int, help="count PostgreSQL's CPU too (a private cluster)")
    args = parser.parse_args()
    sites = [f"site{i + 1}" for i in range(args.sites)]
    fakes = {}
    try:
        for site in sites:
            fakes[site] = start_fake()
        # The same path names in every site: their keys differ by the site prefix only.
        names = [f"cam-{i:05d}" for i in range(args.cameras)]
        states = {}

        def change(site, rep):
            # A round with work to do: a tenth of the cameras flips state each repetition.
            states[site] = [path_item(n, available=(i % 10 != rep % 10)) for i, n in enumerate(names)]
            serve(fakes[site][1], states[site])

        for site in sites:
            change(site, 0)
        # First rounds insert every row (and migrate): not measured.
        subprocess.run([os.path.join(args.build, "apps/sync-worker/sync-worker"), "--migrate-only",
                        "--database-url", args.database_url], check=True, capture_output=True, timeout=120)
        for site in sites:
            round_ms(worker(args.build, args.database_url, site, fakes[site][1]), site)
        alone = {s: [] for s in sites}
        together = {s: [] for s in sites}
        cpu = {s: [] for s in sites}  # a round alone: CPU ms of its worker, its MediaMTX, PostgreSQL
        walls = []
        lock_waits = LockWaits(args.database_url)
        for rep in range(1, args.reps + 1):
            for site in sites:
                change(site, rep)
                fake_before = cpu_ms(fakes[site][0].pid)
                pg_before = tree_cpu_ms(args.postmaster_pid) if args.postmaster_pid else 0
                took, worker_cpu = round_ms(worker(args.build, args.database_url, site, fakes[site][1]), site)
                alone[site].append(took)
                time.sleep(0.2)  # the worker's backend exits (and is reaped) just after it
                pg = tree_cpu_ms(args.postmaster_pid) - pg_before if args.postmaster_pid else 0
                cpu[site].append((worker_cpu, cpu_ms(fakes[site][0].pid) - fake_before, pg))
            for site in sites:
                change(site, rep + args.reps)
            began = time.monotonic()
            with lock_waits:
                running = {s: worker(args.build, args.database_url, s, fakes[s][1]) for s in sites}
                for site, process in running.items():
                    together[site].append(round_ms(process, site)[0])
            walls.append((time.monotonic() - began) * 1000)
            print(f"rep {rep}: alone " + ", ".join(f"{s} {alone[s][-1]} ms" for s in sites)
                  + "; together " + ", ".join(f"{s} {together[s][-1]} ms" for s in sites), flush=True)
        print()
        print(f"{args.sites} sites x {args.cameras} cameras, {args.reps} repetitions, a tenth of each site's "
              f"cameras changing state every round; medians:")
        worst = 0.0
        for site in sites:
            a, t = statistics.median(alone[site]), statistics.median(together[site])
            worst = max(worst, t / a)
            w = statistics.median(c[0] for c in cpu[site])
            f = statistics.median(c[1] for c in cpu[site])
            pg = (f"PostgreSQL {statistics.median(c[2] for c in cpu[site]):.0f} ms" if args.postmaster_pid
                  else "PostgreSQL not counted")
            print(f"  {site}: alone {a:.0f} ms, together {t:.0f} ms, ratio {t / a:.2f}x"
                  f" (CPU of a round alone: sync-worker {w:.0f} ms, fake MediaMTX {f:.0f} ms, {pg})")
        serial = sum(statistics.median(alone[s]) for s in sites)
        print(f"  the {args.sites} rounds one after another would take {serial:.0f} ms; together they took "
              f"{statistics.median(walls):.0f} ms from start to last exit (processes included)")
        lock_waits.close()
        waited = ", ".join(f"{event} {ms / args.reps:.0f} ms" for event, ms in sorted(lock_waits.waits.items()))
        print(f"  time backends waited on locks while the {args.sites} ran together, per repetition "
              f"(sampled every 50 ms): {waited or 'none seen'}")
        demand = sum(statistics.median(sum(c) for c in cpu[s]) for s in sites)
        print(f"  CPU the {args.sites} rounds need: {demand:.0f} ms; on {os.cpu_count()} cores "
              f"no schedule finishes them in under {demand / os.cpu_count():.0f} ms")
        print(f"worst ratio {worst:.2f}x (goal <= 1.5x) on {os.cpu_count()} cores; "
              f"load average now {os.getloadavg()[0]:.2f}")
    finally:
        for process, _ in fakes.values():
            process.kill()


if __name__ == "__main__":
    main()

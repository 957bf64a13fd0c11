#!/usr/bin/python3
"""deploy/ and mediamtx.yml stay consistent with the executables' real options.

Docker cannot run here, so every command a unit, cron line, compose service or image
would run is run for real with its arguments and environment, plus --migrate-only and
a database that cannot be reached: exit 5 (database) proves the options parsed, exit 2
(usage) would not. Usage: deploy_files_test.py BUILD_DIR
"""
import http.server
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = sys.argv.pop(1) if len(sys.argv) > 1 else os.path.join(ROOT, "build", "ci")
BINARIES = {
    "sync-worker": os.path.join(BUILD, "apps", "sync-worker", "sync-worker"),
    "api-server": os.path.join(BUILD, "apps", "api-server", "api-server"),
}
UNREACHABLE = "postgresql://camreg:secret@127.0.0.1:1/camreg"
EXIT_DATABASE = 5


def read(relative):
    with open(os.path.join(ROOT, relative), encoding="utf-8") as f:
        return f.read()


def run_like(argv, env=None):
    """Runs argv (program name first) as the deployment would, against no database."""
    program = os.path.basename(argv[0])
    args = [a for a in argv[1:] if a not in ("--migrate", "--once")]
    environment = {"PATH": os.environ.get("PATH", "")}
    environment.update(env or {})
    environment["CAMREG_DATABASE_URL"] = UNREACHABLE
    result = subprocess.run([BINARIES[program], *args, "--migrate-only"], env=environment,
                            capture_output=True, text=True, timeout=30)
    return result.returncode, result.stdout + result.stderr


def env_file(relative):
    values = {}
    for line in read(relative).splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


class DeployFiles(unittest.TestCase):
    def assert_accepted(self, argv, env=None, where=""):
        code, output = run_like(argv, env)
        self.assertEqual(code, EXIT_DATABASE, f"{where}: {argv} was refused:\n{output}")
        self.assertNotIn("secret", output, f"{where}: a password reached the output")

    def test_systemd_units_run_with_the_example_environment(self):
        env = env_file("deploy/systemd/camreg.env.example")
        for unit in ("camreg-sync-worker.service", "camreg-api-server.service"):
            text = read(f"deploy/systemd/{unit}")
            exec_start = re.search(r"^ExecStart=(.+)$", text, re.M).group(1)
            self.assert_accepted(shlex.split(exec_start), env, unit)
            for hardening in ("DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes",
                              "Restart=on-failure", "Type=simple"):
                self.assertIn(hardening, text, unit)

    def test_site_template_unit_runs_each_example_site(self):
        text = read("deploy/systemd/camreg-sync-worker@.service")
        self.assertEqual(re.findall(r"^EnvironmentFile=(.+)$", text, re.M), ["/etc/camreg/sites/%i.env"],
                         "the site's own file, and no other")
        exec_start = re.search(r"^ExecStart=(.+)$", text, re.M).group(1)
        self.assertIn("--site %i", exec_start, "the instance name is the site")
        for hardening in ("DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes",
                          "Restart=on-failure", "Type=simple"):
            self.assertIn(hardening, text)
        sites = site_env_files()
        self.assertGreaterEqual(len(sites), 2, "an example per site, two sites at least")
        self.assertIn("default", sites)
        for site, relative in sites.items():
            with self.subTest(site=site):
                env = env_file(relative)
                self.assertRegex(site, r"^[A-Za-z0-9_-]{1,64}$")
                self.assertEqual(env.get("CAMREG_SITE"), site, f"{relative} names its own site")
                for name in ("CAMREG_DATABASE_URL", "CAMREG_MEDIAMTX_URL", "CAMREG_WEBRTC_URL"):
                    self.assertIn(name, env, f"{relative} alone runs the worker: {name}")
                self.assert_accepted(shlex.split(exec_start.replace("%i", site)), env,
                                     f"camreg-sync-worker@{site}")
        envs = [env_file(relative) for relative in sites.values()]
        for name in ("CAMREG_MEDIAMTX_URL", "CAMREG_WEBRTC_URL"):
            self.assertEqual(len({env[name] for env in envs}), len(envs), f"each site its own {name}")

    def test_systemd_analyze_verifies_the_units(self):
        if not os.path.exists("/usr/bin/systemd-analyze"):
            self.skipTest("systemd-analyze is not installed")
        with tempfile.TemporaryDirectory() as tmp:
            # verify wants ExecStart's program and the instance's environment file to exist:
            # point them at the build's binaries and the examples.
            for site, relative in site_env_files().items():
                with open(os.path.join(tmp, f"{site}.env"), "w") as f:
                    f.write(read(relative))
            names = []
            for unit in ("camreg-sync-worker.service", "camreg-api-server.service",
                         "camreg-sync-worker@.service"):
                text = read(f"deploy/systemd/{unit}")
                for program, binary in BINARIES.items():
                    text = text.replace(f"/usr/local/bin/{program}", os.path.abspath(binary))
                text = text.replace("/etc/camreg/sites/", f"{tmp}/").replace(
                    "/etc/camreg/camreg.env", os.path.join(ROOT, "deploy/systemd/camreg.env.example"))
                with open(os.path.join(tmp, unit), "w") as f:
                    f.write(text)
                names += [unit] if "@" not in unit else [f"camreg-sync-worker@{s}.service" for s in site_env_files()]
            result = subprocess.run(["/usr/bin/systemd-analyze", "verify", "--man=no",
                                     *(os.path.join(tmp, n) for n in names)],
                                    capture_output=True, text=True, timeout=60, cwd=tmp)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            self.assertEqual(result.stderr.strip(), "", "no warning either")

    def test_cron_line_runs_once(self):
        line = next(l for l in read("deploy/cron/camreg-sync-worker.cron").splitlines()
                    if l and not l.startswith(("#", "SHELL")))
        command = line.split("&&")[-1].split(">>")[0]
        argv = shlex.split(command)
        self.assertIn("--once", argv)
        self.assert_accepted(argv, env_file("deploy/systemd/camreg.env.example"), "cron")

    def test_compose_has_the_stack_and_its_commands_parse(self):
        compose = yaml.safe_load(read("deploy/docker-compose.yml"))
        services = compose["services"]
        self.assertEqual(set(services), {"mediamtx", "mediamtx-north", "postgres", "migrate", "sync-worker",
                                         "sync-worker-north", "api-server"})
        self.assertEqual(services["mediamtx"]["network_mode"], "host")
        self.assertTrue(any("postgres-data:" in v for v in services["postgres"]["volumes"]))
        self.assertIn("postgres-data", compose["volumes"])
        self.assertEqual(services["migrate"]["command"][-1], "--migrate-only")
        self.assertEqual(services["migrate"]["build"]["dockerfile"], "deploy/Dockerfile")
        self.assertIn("/readyz", " ".join(services["api-server"]["healthcheck"]["test"]))
        for name in ("migrate", "sync-worker", "sync-worker-north", "api-server"):
            service = services[name]
            self.assertEqual(service.get("image"), "camreg:latest", name)
            self.assert_accepted(service["command"], {k: str(v) for k, v in service["environment"].items()},
                                 f"compose {name}")
        for name in ("sync-worker", "sync-worker-north"):
            self.assertEqual(services[name]["depends_on"]["migrate"]["condition"],
                             "service_completed_successfully", name)

    def test_compose_runs_two_sites_each_with_its_own_mediamtx(self):
        services = yaml.safe_load(read("deploy/docker-compose.yml"))["services"]
        config = yaml.safe_load(read("mediamtx.yml"))
        # Each MediaMTX's listeners: mediamtx.yml's, or the MTX_* variables overriding it.
        listeners = ("apiAddress", "rtspAddress", "rtpAddress", "rtcpAddress", "webrtcAddress",
                     "webrtcLocalUDPAddress")
        defaults = {"rtpAddress": ":8000", "rtcpAddress": ":8001", "webrtcLocalUDPAddress": ":8189"}

        def address(service, key):
            env = services[service].get("environment", {})
            return str(env.get(f"MTX_{key.upper()}", config.get(key, defaults.get(key))))

        for key in listeners:
            self.assertNotEqual(address("mediamtx", key), address("mediamtx-north", key),
                                f"two MediaMTX on one host network cannot share {key}")
        for worker, mediamtx, site in (("sync-worker", "mediamtx", "default"),
                                       ("sync-worker-north", "mediamtx-north", "north")):
            with self.subTest(worker=worker):
                service = services[worker]
                env = service["environment"]
                self.assertEqual(env.get("CAMREG_SITE", "default"), site)
                self.assertEqual(env["CAMREG_MEDIAMTX_URL"].rsplit(":", 1)[1],
                                 address(mediamtx, "apiAddress").lstrip(":"), "its own MediaMTX's API")
                self.assertEqual(env["CAMREG_WEBRTC_URL"].rsplit(":", 1)[1],
                                 address(mediamtx, "webrtcAddress").lstrip(":"), "its own MediaMTX's WHEP")
                self.assertEqual(service["depends_on"][mediamtx]["condition"], "service_started")

    def test_dockerfile_is_multi_stage_non_root_and_its_command_parses(self):
        text = read("deploy/Dockerfile")
        self.assertEqual(len(re.findall(r"^FROM debian:12", text, re.M)), 2)
        self.assertRegex(text, r"(?m)^USER camreg$")
        cmd = re.search(r'^CMD (\[.*\])$', text, re.M).group(1)
        self.assert_accepted(yaml.safe_load(cmd), {"CAMREG_WEB_ROOT": "/opt/camreg/share/camreg/dashboard"},
                             "Dockerfile")

    def test_nginx_site_is_valid(self):
        if not os.path.exists("/usr/sbin/nginx"):
            self.skipTest("nginx is not installed")
        with tempfile.TemporaryDirectory() as tmp:
            # nginx -t binds the listen address: move port 80 to a free one so the check
            # also works for an ordinary user.
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            site = os.path.join(tmp, "camreg.conf")
            with open(site, "w") as f:
                f.write(re.sub(r"listen 80;", f"listen 127.0.0.1:{port};", read("deploy/nginx/camreg.conf")))
            conf = os.path.join(tmp, "nginx.conf")
            with open(conf, "w") as f:
                f.write(f"pid {tmp}/nginx.pid; error_log {tmp}/error.log;\n"
                        f"events {{}}\nhttp {{ access_log off; include {site}; }}\n")
            result = subprocess.run(["/usr/sbin/nginx", "-t", "-c", conf, "-e", f"{tmp}/error.log"],
                                    capture_output=True, text=True)
            self.assertEqual(result.returncode, 0, result.stderr)

    def test_nginx_streams_events_unbuffered(self):
        text = read("deploy/nginx/camreg.conf")
        block = re.search(r"location = /api/events \{(.*?)\n    \}", text, re.S)
        self.assertIsNotNone(block, "a location for /api/events")
        body = block.group(1)
        self.assertRegex(body, r"proxy_buffering off;")
        self.assertRegex(body, r"proxy_http_version 1\.1;")
        self.assertRegex(body, r'proxy_set_header Connection "";')
        timeout = re.search(r"proxy_read_timeout (\d+)(s|m|h);", body)
        seconds = int(timeout.group(1)) * {"s": 1, "m": 60, "h": 3600}[timeout.group(2)]
        self.assertGreater(seconds, 15, "longer than api-server's 15 s heartbeat")

    def test_nginx_spreads_over_replicas_and_retries_only_idempotent_requests(self):
        text = read("deploy/nginx/camreg.conf")
        upstream = re.search(r"upstream camreg_api \{(.*?)\n\}", text, re.S).group(1)
        servers = re.findall(r"^\s*server (\S+) max_fails=\d+ fail_timeout=\d+s;", upstream, re.M)
        self.assertGreaterEqual(len(servers), 2, "several api-server replicas")
        self.assertEqual(len(set(servers)), len(servers))
        self.assertRegex(upstream, r"keepalive \d+;")
        retry = re.search(r"^\s*proxy_next_upstream ([^;]*);", text, re.M)
        self.assertIsNotNone(retry, "retries on the next replica")
        self.assertEqual(set(retry.group(1).split()), {"error", "timeout", "http_502", "http_503", "http_504"})
        self.assertNotIn("non_idempotent", re.sub(r"#.*", "", text), "a POST is never sent twice")
        self.assertRegex(text, r"proxy_next_upstream_tries \d+;")
        # The scale run starts nginx from this very file, not from a copy.
        self.assertIn("deploy/nginx/camreg.conf", read("tests/scale/run"))

    def test_mediamtx_yml_is_what_the_run_issue_asks(self):
        config = yaml.safe_load(read("mediamtx.yml"))
        self.assertIs(config["api"], True)
        self.assertEqual(config["apiAddress"], ":9997")
        self.assertEqual(config["webrtcAddress"], ":8889")
        self.assertEqual(config["rtspAddress"], ":8554")
        self.assertEqual(len(config["paths"]), 2)
        for name, path in config["paths"].items():
            self.assertTrue(re.fullmatch(r"[0-9A-Za-z_\-/.]+", name), name)
            self.assertTrue(path["source"].startswith("rtsp://"), name)
            self.assertEqual(path["rtspTransport"], "tcp")
            self.assertIs(path["sourceOnDemand"], False)
        remote_api = [u for u in config["authInternalUsers"]
                      if {"action": "api"} in u["permissions"] and u["user"] != "any"]
        self.assertTrue(remote_api, "a user that may call the API from another host")
        for user in config["authInternalUsers"]:
            self.assertIn("ips", user, "every entry lists ips explicitly")


    def test_mediamtx_hooks_call_the_trigger_as_mediamtx_runs_them(self):
        config = yaml.safe_load(read("mediamtx.yml"))
        defaults = config["pathDefaults"]
        for section in [defaults, *config["paths"].values()]:
            for key, value in section.items():
                # A one-shot command with *Restart: yes would re-run every 5 s.
                if key.startswith("runOn") and key.endswith("Restart"):
                    self.assertIs(value, False, key)
                self.assertNotIn(key, ("runOnReady", "runOnNotReady"), "deprecated hook names")
        for hook in ("runOnAvailable", "runOnUnavailable"):
            with self.subTest(hook=hook):
                seen, code = run_hook(defaults[hook], "site-a/dock", "tok-123", 202)
                self.assertEqual(code, 0)
                self.assertEqual(seen["method"], "POST")
                self.assertEqual(seen["target"], "/api/sync/trigger?path=site-a/dock")
                self.assertEqual(seen["authorization"], "Bearer tok-123")
                _, refused = run_hook(defaults[hook], "cam-front", "wrong", 401)
                self.assertNotEqual(refused, 0, "curl -f fails on a refusal, so MediaMTX logs it")


def site_env_files():
    """The example environment file of each site, by site name: {site: relative path}."""
    folder = "deploy/systemd/sites"
    return {name.removesuffix(".env.example"): f"{folder}/{name}"
            for name in sorted(os.listdir(os.path.join(ROOT, folder))) if name.endswith(".env.example")}


def run_hook(command, path, token, status):
    """Runs a hook command as MediaMTX v1.20 does (internal/externalcmd: split shell-style,
    $VAR and ${VAR} expanded from the hook's variables, else MediaMTX's environment, no
    shell), against a loopback receiver answering status in place of api-server's
    127.0.0.1:8001. Returns (the request it received, the command's exit status)."""
    seen = {}

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            seen.update(method="POST", target=self.path,
                        authorization=self.headers.get("Authorization"))
            body = b'{"status":"accepted"}' if status == 202 else b'{"error":"unauthorized","detail":"x"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hook_env = {"MTX_PATH": path, "RTSP_PORT": "8554"}
        own_env = {"PATH": os.environ.get("PATH", ""), "CAMREG_TRIGGER_TOKEN": token}

        def expand(part):
            return re.sub(r"\$(?:\{(\w+)\}|(\w+))",
                          lambda m: hook_env.get(m.group(1) or m.group(2),
                                                 own_env.get(m.group(1) or m.group(2), "")), part)

        argv = [expand(part).replace("127.0.0.1:8001", f"127.0.0.1:{server.server_port}")
                for part in shlex.split(command)]
        result = subprocess.run(argv, env=own_env, capture_output=True, text=True, timeout=10)
        return seen, result.returncode
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    unittest.main(verbosity=2)

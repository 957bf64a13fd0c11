#!/usr/bin/env bash
# The README's run command end to end, against the demo source: deploy/dev/up, the API
# lists the cameras of mediamtx.yml, the dashboard loads, a second up says it is
# running, deploy/dev/down, and no process is left behind. up builds its own binaries,
# as on a fresh machine (the packages are already there: CAMREG_SKIP_INSTALL=1).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
unset CAMREG_BUILD_DIR
export CAMREG_STATE_DIR=$(mktemp -d /tmp/camreg-stack.XXXXXX)
chmod 755 "$CAMREG_STATE_DIR"
export CAMREG_SKIP_INSTALL=1
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export CAMREG_LISTEN=127.0.0.1:$(free_port) CAMREG_DEV_PG_PORT=$(free_port)
export CAMREG_DEMO_API_PORT=$(free_port) CAMREG_DEMO_WEBRTC_PORT=$(free_port)
export CAMREG_MEDIAMTX_URL=http://127.0.0.1:1 CAMREG_INTERVAL=2s
unset CAMREG_DATABASE_URL
fail() { echo "FAIL: $*"; "$top/deploy/dev/down" || true; exit 1; }
trap 'rm -rf "$CAMREG_STATE_DIR"' EXIT

"$top/deploy/dev/up" | tee "$CAMREG_STATE_DIR/up.out"
grep -q "running the DEMO source" "$CAMREG_STATE_DIR/up.out" || fail "up did not say it runs the demo"
grep -q "Dashboard:  http://$CAMREG_LISTEN/" "$CAMREG_STATE_DIR/up.out" || fail "up did not print the dashboard URL"

expected=$(/usr/bin/python3 -c "import yaml; print(' '.join(sorted(yaml.safe_load(open('$top/mediamtx.yml'))['paths'])))")
for _ in $(seq 1 100); do
  listed=$(curl -fs "http://$CAMREG_LISTEN/api/devices?device_type=camera&active_only=true" |
    /usr/bin/python3 -c "import json,sys; print(' '.join(sorted(d['device_key'] for d in json.load(sys.stdin))))" || true)
  [[ "$listed" == "$expected" ]] && break
  sleep 0.2
done
[[ "$listed" == "$expected" ]] || fail "API listed '$listed', expected '$expected'"
echo "ok: the API lists the cameras of mediamtx.yml: $listed"
curl -fs "http://$CAMREG_LISTEN/" | grep -q "<title>Cameras" || fail "the dashboard page did not load"
curl -fs "http://$CAMREG_LISTEN/app.js" >/dev/null || fail "the dashboard's script did not load"
echo "ok: the dashboard loads"
again=$("$top/deploy/dev/up")
grep -q "already running" <<<"$again" || fail "a second up did not say camreg is running: $again"
echo "ok: a second up says it is already running"

pids=$(cat "$CAMREG_STATE_DIR"/pids/* 2>/dev/null)
"$top/deploy/dev/down"
sleep 0.5
for pid in $pids; do
  kill -0 "$pid" 2>/dev/null && fail "process $pid is still running after down"
done
if pgrep -f "$CAMREG_STATE_DIR" >/dev/null; then fail "a process under $CAMREG_STATE_DIR is left: $(pgrep -af "$CAMREG_STATE_DIR")"; fi
echo "ok: down left no process behind"
echo "run stack: 4 passed, 0 failed"

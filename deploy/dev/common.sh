# Shared by deploy/dev/up and deploy/dev/down (sourced; expects $top).
state=${CAMREG_STATE_DIR:-$top/.state}
pg_bin=/usr/lib/postgresql/15/bin

die() { echo "camreg: $*" >&2; exit 1; }
redact() { sed -E 's#(://[^:/@]+):[^@/]*@#\1:***@#' <<<"$1"; }

alive() { [[ -f "$state/pids/$1" ]] && kill -0 "$(cat "$state/pids/$1")" 2>/dev/null; }
running() { alive api-server || alive sync-worker; }

print_urls() {
  echo "  Dashboard:  $(cat "$state/dashboard-url" 2>/dev/null)"
  echo "  Cameras:    $(cat "$state/dashboard-url" 2>/dev/null)api/devices?device_type=camera&active_only=false"
  echo "  Sync:       $(cat "$state/dashboard-url" 2>/dev/null)api/sync/status"
  echo "  Logs:       $state/logs/"
  grep -qx demo "$state/mode" 2>/dev/null && echo "  Source:     DEMO (fake MediaMTX with test patterns; no MediaMTX was found)"
  return 0
}

# spawn NAME COMMAND...: starts a detached process logging to logs/NAME.log.
spawn() {
  local name=$1
  shift
  setsid "$@" >>"$state/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$state/pids/$name"
  sleep 0.3
  alive "$name" || die "$name exited at once: see $state/logs/$name.log"
}

# wait_for WHAT COMMAND...: retries COMMAND for up to 30 s.
wait_for() {
  local what=$1
  shift
  for _ in $(seq 1 150); do
    "$@" && return 0
    sleep 0.2
  done
  echo "camreg: $what did not come up in 30 s" >&2
  return 1
}

stop_process() {
  local name=$1 pid
  [[ -f "$state/pids/$name" ]] || return 1
  pid=$(cat "$state/pids/$name")
  rm -f "$state/pids/$name"
  kill -0 "$pid" 2>/dev/null || return 1
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  return 0
}

as_pg_owner() {
  if ((EUID == 0)); then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_data() {
  # As root the server runs as "postgres", which must be able to reach the directory.
  if ((EUID == 0)) && ! runuser -u postgres -- test -x "$state" 2>/dev/null; then
    echo "/var/lib/camreg-dev/pg"
  else
    echo "$state/pg"
  fi
}

start_private_cluster() {
  local data port
  data=$(pg_data)
  port=${CAMREG_DEV_PG_PORT:-55432}
  # The camreg role's password: made once, kept in .state with mode 600, handed to libpq
  # through a password file (never on a command line). Every connection, local or TCP,
  # authenticates with it (scram-sha-256): no other local user gets in.
  if [[ ! -s "$state/pg-password" ]]; then
    (umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$state/pg-password")
  fi
  chmod 600 "$state/pg-password"
  (umask 077 && echo "127.0.0.1:*:*:camreg:$(cat "$state/pg-password")" >"$state/pgpass")
  export PGPASSFILE=$state/pgpass
  if [[ ! -f "$data/PG_VERSION" ]]; then
    echo "== initialising a private PostgreSQL cluster in $data"
    mkdir -p "$data"
    ((EUID == 0)) && chown postgres: "$data" && chmod 700 "$data"
    # initdb reads the password from a file its user can read, removed right after.
    local pwfile
    pwfile=$(dirname "$data")/.initdb-password
    (umask 077 && cp "$state/pg-password" "$pwfile")
    ((EUID == 0)) && chown postgres: "$pwfile"
    as_pg_owner "$pg_bin/initdb" -D "$data" -U camreg --auth=scram-sha-256 --pwfile="$pwfile" \
      --encoding=UTF8 --locale=C.UTF-8 >"$state/logs/initdb.log" 2>&1 ||
      { rm -f "$pwfile"; die "initdb failed: see $state/logs/initdb.log"; }
    rm -f "$pwfile"
  elif grep -Eq '^[^#]*\btrust\b' "$data/pg_hba.conf" 2>/dev/null; then
    echo "camreg: warning: $data was initialised with trust authentication by an older" \
      "deploy/dev; remove it (deploy/dev/down, then delete it) to get a password-protected one" >&2
  fi
  if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is taken; set CAMREG_DEV_PG_PORT to a free one"
  fi
  echo "$data" >"$state/pg-data"
  echo "$port" >"$state/pg-port"
  as_pg_owner "$pg_bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 30 \
    -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$data" start >/dev/null ||
    die "PostgreSQL did not start: see $data/server.log"
  # As the invoking user (over TCP, with the password file), not as the server's owner.
  "$pg_bin/psql" -h 127.0.0.1 -p "$port" -U camreg -d postgres -qAt \
    -c "SELECT 1 FROM pg_database WHERE datname = 'camreg'" | grep -q 1 ||
    "$pg_bin/psql" -h 127.0.0.1 -p "$port" -U camreg -d postgres -q -c "CREATE DATABASE camreg"
}

stop_private_cluster() {
  [[ -f "$state/pg-data" ]] || return 1
  local data
  data=$(cat "$state/pg-data")
  rm -f "$state/pg-data"
  [[ -f "$data/postmaster.pid" ]] || return 1
  as_pg_owner "$pg_bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
  return 0
}

#!/usr/bin/env bash
# Starts and stops the Parallax ingest service for benchmarks. Sourced by
# scripts/bench/ingest; kept apart so it can follow the service's interface.
#
#   start_parallax_ingest <workdir> <dicom_port>
#   stop_parallax_ingest  <workdir>
#
# start_parallax_ingest writes <workdir>/parallax-ingest.json, starts
# $BUILD_DIR/services/ingest/parallax-ingest --config <that file> with its log
# in <workdir>/parallax-ingest.log and pid in <workdir>/parallax-ingest.pid,
# and returns once the service answers a C-ECHO. Everything it stores goes
# under <workdir>/store, so a fresh workdir is a wiped store.
#
# Environment:
#   BUILD_DIR                    build tree (default <repo>/build)
#   PARALLAX_INGEST_BIN          overrides the binary path
#   PARALLAX_AET                 AE title of the service (default PARALLAX)
#   PARALLAX_DATABASE_URL        PostgreSQL URL; when unset a private cluster is
#                                started in <workdir>/pg (port PARALLAX_BENCH_PG_PORT, default 55499)
#   PARALLAX_INGEST_START_TIMEOUT seconds to wait for C-ECHO (default 30)
#   TCP_NODELAY                  passed on (default 1), as for every DCMTK peer

_parallax_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

parallax_ingest_bin() {
  echo "${PARALLAX_INGEST_BIN:-${BUILD_DIR:-$_parallax_repo/build}/services/ingest/parallax-ingest}"
}

_parallax_is_ours() {
  local pid=$1 config=$2
  [[ -n "$pid" && -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' 2>/dev/null </proc/"$pid"/cmdline | grep -qF -- "$config"
}

start_parallax_ingest() {
  if (($# != 2)); then
    echo "usage: start_parallax_ingest <workdir> <dicom_port>" >&2
    return 2
  fi
  local workdir=$1 dicom_port=$2
  local bin aet=${PARALLAX_AET:-PARALLAX}
  local timeout=${PARALLAX_INGEST_START_TIMEOUT:-30}
  bin=$(parallax_ingest_bin)
  if [[ ! -x "$bin" ]]; then
    echo "start_parallax_ingest: $bin not found; build the parallax-ingest target" >&2
    return 1
  fi
  mkdir -p "$workdir/store" || return 1
  workdir=$(cd "$workdir" && pwd) || return 1
  local config=$workdir/parallax-ingest.json
  local log=$workdir/parallax-ingest.log pidfile=$workdir/parallax-ingest.pid

  # The index lives in a private PostgreSQL cluster with fsync and
  # synchronous_commit on (scripts/lib/postgres.sh), as in production,
  # unless PARALLAX_DATABASE_URL names one.
  local db_url=${PARALLAX_DATABASE_URL:-}
  if [[ -z "$db_url" ]]; then
    # shellcheck source=../lib/postgres.sh
    source "$_parallax_repo/scripts/lib/postgres.sh"
    local pg_port=${PARALLAX_BENCH_PG_PORT:-55499}
    mkdir -p "$workdir/pg" && chown postgres:postgres "$workdir/pg" 2>/dev/null
    pg_start "$workdir/pg/data" "$pg_port" >/dev/null || return 1
    echo "$workdir/pg/data" >"$workdir/parallax-pg.dir"
    db_url=$(pg_url "$pg_port" postgres)
  fi

  PX_CONFIG=$config PX_WORKDIR=$workdir PX_PORT=$dicom_port PX_AET=$aet PX_DB=$db_url \
  python3 - <<'EOF' || return 1
import json, os, socket
env = os.environ
def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
config = {
    "ae_title": env["PX_AET"],
    "dicom_port": int(env["PX_PORT"]),
    "http_port": free_port(),
    "grpc_address": "127.0.0.1:%d" % free_port(),
    "metrics_address": "127.0.0.1:%d" % free_port(),
    "triage_address": "127.0.0.1:%d" % free_port(),
    "store_root": os.path.join(env["PX_WORKDIR"], "store"),
    "database_url": env["PX_DB"],
    "min_free_bytes": 0,
}
with open(env["PX_CONFIG"], "w") as f:
    json.dump(config, f, indent=2)
EOF

  TCP_NODELAY=${TCP_NODELAY:-1} "$bin" --config "$config" >"$log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$pidfile"

  local deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "start_parallax_ingest: parallax-ingest exited during start-up; last lines of $log:" >&2
      tail -n 20 "$log" >&2
      rm -f "$pidfile"
      return 1
    fi
    if TCP_NODELAY=1 echoscu -aec "$aet" -to 2 127.0.0.1 "$dicom_port" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.2
  done
  echo "start_parallax_ingest: no C-ECHO answer on port $dicom_port within ${timeout}s; see $log" >&2
  stop_parallax_ingest "$workdir"
  return 1
}

stop_parallax_ingest() {
  if (($# != 1)); then
    echo "usage: stop_parallax_ingest <workdir>" >&2
    return 2
  fi
  local workdir=$1
  local pidfile=$workdir/parallax-ingest.pid
  [[ -f "$pidfile" ]] || return 0
  workdir=$(cd "$workdir" && pwd) || return 1
  local pid config=$workdir/parallax-ingest.json i
  pid=$(cat "$pidfile")
  if _parallax_is_ours "$pid" "$config"; then
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 100; i++)); do
      _parallax_is_ours "$pid" "$config" || break
      sleep 0.1
    done
    if _parallax_is_ours "$pid" "$config"; then
      echo "stop_parallax_ingest: pid $pid ignored SIGTERM for 10s; sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null
    fi
  fi
  rm -f "$pidfile"
  if [[ -f "$workdir/parallax-pg.dir" ]]; then
    # shellcheck source=../lib/postgres.sh
    source "$_parallax_repo/scripts/lib/postgres.sh"
    pg_stop "$(cat "$workdir/parallax-pg.dir")" >/dev/null 2>&1
    rm -f "$workdir/parallax-pg.dir"
  fi
  return 0
}

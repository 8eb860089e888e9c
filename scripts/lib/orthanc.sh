#!/usr/bin/env bash
# Private Orthanc instances for tests and benchmarks.
#
# Source it and call the functions, or run it directly:
#   source scripts/lib/orthanc.sh
#   orthanc_start <workdir> <http_port> <dicom_port> [extra-json-fragment-file]
#   orthanc_stop  <workdir>
#   scripts/lib/orthanc.sh start <workdir> <http_port> <dicom_port> [fragment]
#   scripts/lib/orthanc.sh stop  <workdir>
#
# orthanc_start writes <workdir>/orthanc.json (storage and index inside
# <workdir>/storage, no compression, no plugins, loopback only, no
# authentication), starts /usr/sbin/Orthanc in the background with its log in
# <workdir>/orthanc.log and its pid in <workdir>/orthanc.pid, and returns once
# GET /system answers. It never touches the packaged system instance.
#
# Environment:
#   ORTHANC_BIN                 Orthanc binary (default /usr/sbin/Orthanc)
#   ORTHANC_DICOM_MODALITIES    JSON object for "DicomModalities", e.g.
#                               '{"parallax": ["PARALLAX", "127.0.0.1", 11112]}'
#   ORTHANC_AET                 Orthanc's own AE title (default ORTHANC)
#   ORTHANC_START_TIMEOUT       seconds to wait for /system (default 30)
#   TCP_NODELAY                 passed to Orthanc; defaults to 1. DCMTK (which
#                               Orthanc uses for DICOM) leaves Nagle's
#                               algorithm on unless TCP_NODELAY is a non-zero
#                               integer, which costs ~40 ms per C-STORE on
#                               loopback (delayed ACK). Set 0 to measure that.
# The optional fragment file is a JSON object merged over the generated
# configuration (top-level keys replace, objects merge one level deep).

# Returns 0 if <pid> is alive and is an Orthanc started with <config>.
_orthanc_is_ours() {
  local pid=$1 config=$2
  [[ -n "$pid" && -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' 2>/dev/null </proc/"$pid"/cmdline | grep -qF -- "$config"
}

orthanc_start() {
  if (($# < 3 || $# > 4)); then
    echo "usage: orthanc_start <workdir> <http_port> <dicom_port> [extra-json-fragment-file]" >&2
    return 2
  fi
  local workdir=$1 http_port=$2 dicom_port=$3 fragment=${4:-}
  local bin=${ORTHANC_BIN:-/usr/sbin/Orthanc}
  local timeout=${ORTHANC_START_TIMEOUT:-30}
  if [[ ! -x "$bin" ]]; then
    echo "orthanc_start: $bin not found or not executable" >&2
    return 1
  fi
  if [[ -n "$fragment" && ! -r "$fragment" ]]; then
    echo "orthanc_start: fragment file $fragment is not readable" >&2
    return 1
  fi
  mkdir -p "$workdir/storage" || return 1
  workdir=$(cd "$workdir" && pwd) || return 1
  local config=$workdir/orthanc.json log=$workdir/orthanc.log
  local pidfile=$workdir/orthanc.pid

  if [[ -f "$pidfile" ]] && _orthanc_is_ours "$(cat "$pidfile")" "$config"; then
    echo "orthanc_start: an Orthanc (pid $(cat "$pidfile")) already runs from $workdir" >&2
    return 1
  fi
  if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$http_port/"; then
    echo "orthanc_start: something already answers on HTTP port $http_port" >&2
    return 1
  fi

  ORTHANC_CONFIG_FILE=$config ORTHANC_WORKDIR=$workdir \
  ORTHANC_HTTP_PORT=$http_port ORTHANC_DICOM_PORT=$dicom_port \
  ORTHANC_FRAGMENT=$fragment python3 - <<'EOF' || { echo "orthanc_start: cannot write $config" >&2; return 1; }
import json, os, sys

env = os.environ
workdir = env["ORTHANC_WORKDIR"]
try:
    modalities = json.loads(env.get("ORTHANC_DICOM_MODALITIES") or "{}")
except json.JSONDecodeError as e:
    sys.exit(f"ORTHANC_DICOM_MODALITIES is not valid JSON: {e}")
config = {
    "Name": "parallax-private-orthanc",
    "StorageDirectory": os.path.join(workdir, "storage"),
    "IndexDirectory": os.path.join(workdir, "storage"),
    "StorageCompression": False,
    "RemoteAccessAllowed": False,
    "AuthenticationEnabled": False,
    "HttpPort": int(env["ORTHANC_HTTP_PORT"]),
    "DicomPort": int(env["ORTHANC_DICOM_PORT"]),
    "DicomAet": env.get("ORTHANC_AET") or "ORTHANC",
    "DicomCheckCalledAet": False,
    "DicomModalities": modalities,
    "Plugins": [],
    "LuaScripts": [],
    "ConcurrentJobs": 2,
    "SaveJobs": False,
    "WebDavEnabled": False,
}
fragment = env.get("ORTHANC_FRAGMENT")
if fragment:
    with open(fragment) as f:
        extra = json.load(f)
    if not isinstance(extra, dict):
        sys.exit(f"{fragment}: expected a JSON object")
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
with open(env["ORTHANC_CONFIG_FILE"], "w") as f:
    json.dump(config, f, indent=2)
EOF

  TCP_NODELAY=${TCP_NODELAY:-1} "$bin" --no-jobs "$config" >"$log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$pidfile"

  local deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "orthanc_start: Orthanc exited during start-up; last lines of $log:" >&2
      tail -n 20 "$log" >&2
      rm -f "$pidfile"
      return 1
    fi
    if curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$http_port/system"; then
      return 0
    fi
    sleep 0.2
  done
  echo "orthanc_start: Orthanc (pid $pid) did not answer GET http://127.0.0.1:$http_port/system within ${timeout}s; see $log" >&2
  orthanc_stop "$workdir"
  return 1
}

orthanc_stop() {
  if (($# != 1)); then
    echo "usage: orthanc_stop <workdir>" >&2
    return 2
  fi
  local workdir=$1
  local pidfile=$workdir/orthanc.pid
  [[ -f "$pidfile" ]] || return 0
  workdir=$(cd "$workdir" && pwd) || return 1
  local pid config=$workdir/orthanc.json
  pid=$(cat "$pidfile")
  if _orthanc_is_ours "$pid" "$config"; then
    kill -TERM "$pid" 2>/dev/null
    local i
    for ((i = 0; i < 100; i++)); do
      _orthanc_is_ours "$pid" "$config" || break
      sleep 0.1
    done
    if _orthanc_is_ours "$pid" "$config"; then
      echo "orthanc_stop: Orthanc (pid $pid) ignored SIGTERM for 10s; sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null
    fi
  fi
  rm -f "$pidfile"
  return 0
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  case "${1:-}" in
    start) shift; orthanc_start "$@" ;;
    stop) shift; orthanc_stop "$@" ;;
    *)
      echo "usage: $0 start <workdir> <http_port> <dicom_port> [extra-json-fragment-file]" >&2
      echo "       $0 stop <workdir>" >&2
      exit 2
      ;;
  esac
fi

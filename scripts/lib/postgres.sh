#!/usr/bin/env bash
# A private PostgreSQL 15 cluster for tests, benchmarks and local runs.
#
# Source it and call the functions:
#   source scripts/lib/postgres.sh
#   pg_start /tmp/pg-parallax 55432      # initdb if needed, start, wait until ready
#   url=$(pg_url 55432 parallax)          # postgresql://postgres@127.0.0.1:55432/parallax
#   pg_stop /tmp/pg-parallax
# or run it:
#   scripts/lib/postgres.sh start <datadir> <port>
#   scripts/lib/postgres.sh stop  <datadir>
#   scripts/lib/postgres.sh url   <port> [dbname]      (or: url <datadir> <port>)
#   scripts/lib/postgres.sh status <datadir>
#
# The cluster listens only on 127.0.0.1:<port> and on a unix socket inside the
# data directory, trusts local connections (it is a private, loopback-only
# cluster: never expose it), and keeps fsync=on and synchronous_commit=on
# because Parallax promises durability. The server log is
# <datadir>/postgresql.log.
#
# PostgreSQL refuses to run as root: when called as root the server runs as
# the `postgres` OS user, which then owns the data directory.
#
# Environment:
#   PG_BIN            server binaries (default /usr/lib/postgresql/15/bin)
#   PG_START_TIMEOUT  seconds to wait for the server to accept connections (default 60)
#
# Functions return non-zero with a message on stderr on failure; sourcing this
# file changes no shell options.

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"

# Runs a command as the cluster's owner: `postgres` when we are root, else ourselves.
_pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

_pg_err() {
  echo "postgres.sh: $*" >&2
}

# pg_running <datadir>: success when a server is running on that data directory.
pg_running() {
  local datadir="$1"
  [ -f "$datadir/PG_VERSION" ] || return 1
  _pg_as_owner "$PG_BIN/pg_ctl" status -D "$datadir" >/dev/null 2>&1
}

# pg_start <datadir> <port>: initialises the cluster if absent, starts it and
# waits until it accepts connections. Nothing to do when it already runs.
pg_start() {
  local datadir="$1" port="$2"
  local timeout="${PG_START_TIMEOUT:-60}"
  if [ -z "$datadir" ] || [ -z "$port" ]; then
    _pg_err "usage: pg_start <datadir> <port>"
    return 2
  fi
  case "$port" in
    ''|*[!0-9]*) _pg_err "port must be a number, got '$port'"; return 2 ;;
  esac
  if [ ! -x "$PG_BIN/postgres" ]; then
    _pg_err "no PostgreSQL server at $PG_BIN (install postgresql-15 or set PG_BIN)"
    return 1
  fi
  case "$datadir" in
    /*) ;;
    *) datadir="$(pwd)/$datadir" ;;
  esac

  if pg_running "$datadir"; then
    local running_port
    running_port="$(sed -n 4p "$datadir/postmaster.pid" 2>/dev/null)"
    if [ -n "$running_port" ] && [ "$running_port" != "$port" ]; then
      _pg_err "a server already runs on $datadir but on port $running_port, not $port; stop it first"
      return 1
    fi
    return 0
  fi

  if ! mkdir -p "$datadir"; then
    _pg_err "cannot create $datadir"
    return 1
  fi
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$datadir" || return 1
  fi
  chmod 700 "$datadir" || return 1
  if ! _pg_as_owner test -w "$datadir" -a -x "$datadir"; then
    _pg_err "the postgres user cannot write to $datadir (is a parent directory private?)"
    return 1
  fi

  if [ ! -f "$datadir/PG_VERSION" ]; then
    if [ -n "$(ls -A "$datadir")" ]; then
      _pg_err "$datadir is neither empty nor a PostgreSQL data directory"
      return 1
    fi
    local initlog
    if ! initlog="$(_pg_as_owner "$PG_BIN/initdb" -D "$datadir" -U postgres \
        --auth=trust --encoding=UTF8 --locale=C.UTF-8 2>&1)"; then
      echo "$initlog" >&2
      _pg_err "initdb failed for $datadir"
      return 1
    fi
    # Our settings live in one file that every start rewrites.
    echo "include_if_exists = 'parallax.conf'" | _pg_as_owner tee -a "$datadir/postgresql.conf" >/dev/null
  fi

  # Trust is acceptable only because the server listens on loopback and on a
  # socket inside a directory only the owner can enter.
  _pg_as_owner tee "$datadir/pg_hba.conf" >/dev/null <<EOF || return 1
# Written by scripts/lib/postgres.sh: private loopback-only cluster.
local   all             all                                     trust
host    all             all             127.0.0.1/32            trust
local   replication     all                                     trust
host    replication     all             127.0.0.1/32            trust
EOF
  _pg_as_owner tee "$datadir/parallax.conf" >/dev/null <<EOF || return 1
# Written by scripts/lib/postgres.sh on every start.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$datadir'
max_connections = 200
fsync = on
synchronous_commit = on
full_page_writes = on
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
EOF

  if ! _pg_as_owner "$PG_BIN/pg_ctl" start -D "$datadir" -l "$datadir/postgresql.log" \
      -w -t "$timeout" </dev/null >/dev/null 2>&1; then
    _pg_err "PostgreSQL failed to start on $datadir port $port; end of $datadir/postgresql.log:"
    tail -n 20 "$datadir/postgresql.log" >&2 2>/dev/null
    return 1
  fi

  local waited=0
  until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -d postgres -U postgres -t 1; do
    waited=$((waited + 1))
    if [ "$waited" -ge "$timeout" ]; then
      _pg_err "PostgreSQL on 127.0.0.1:$port did not accept connections within ${timeout}s; end of $datadir/postgresql.log:"
      tail -n 20 "$datadir/postgresql.log" >&2 2>/dev/null
      return 1
    fi
    sleep 1
  done
  return 0
}

# pg_stop <datadir>: fast shutdown (open transactions roll back, committed
# data stays durable). Nothing to do when the server is not running.
pg_stop() {
  local datadir="$1"
  if [ -z "$datadir" ]; then
    _pg_err "usage: pg_stop <datadir>"
    return 2
  fi
  pg_running "$datadir" || return 0
  if ! _pg_as_owner "$PG_BIN/pg_ctl" stop -D "$datadir" -m fast -w -t 60 >/dev/null 2>&1; then
    _pg_err "PostgreSQL on $datadir did not stop within 60s"
    return 1
  fi
}

# pg_url <port> [dbname]: the libpq URL of the cluster's database (default postgres).
pg_url() {
  local port="$1" db="${2:-postgres}"
  if [ -z "$port" ]; then
    _pg_err "usage: pg_url <port> [dbname]"
    return 2
  fi
  echo "postgresql://postgres@127.0.0.1:${port}/${db}"
}

_pg_main() {
  local cmd="${1:-}"
  shift || true
  case "$cmd" in
    start) pg_start "$@" ;;
    stop) pg_stop "$@" ;;
    status)
      if pg_running "$1"; then echo running; else echo stopped; return 3; fi ;;
    url)
      # Accept both `url <port> [dbname]` and `url <datadir> <port> [dbname]`.
      case "${1:-}" in
        ''|*[!0-9]*) shift; pg_url "$@" ;;
        *) pg_url "$@" ;;
      esac ;;
    *)
      echo "usage: $0 start <datadir> <port> | stop <datadir> | status <datadir> | url <port> [dbname]" >&2
      return 2 ;;
  esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  _pg_main "$@"
  exit $?
fi

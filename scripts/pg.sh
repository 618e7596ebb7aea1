#!/usr/bin/env bash
# scripts/pg.sh start|stop|url|status
#
# Why this exists: the test suite runs a second time against PostgreSQL, and no machine
# keeps a server running between sessions, so tests bring their own throwaway cluster:
#   start   initdb a fresh cluster (data dir .pg/data in the repo, or a mktemp dir when the
#           postgres user cannot reach the repo), on a free 127.0.0.1 port with its unix
#           socket inside the data dir, durability off (it is thrown away), start it, create
#           database zhili_test, and print its SQLAlchemy URL on stdout.
#           A cluster left over from an earlier start is stopped and removed first.
#   stop    stop it and delete the data dir (fine to call when nothing runs).
#   url     print postgresql+psycopg://postgres@127.0.0.1:PORT/zhili_test
#   status  exit 0 when the cluster recorded in .pg/state is running.
# As root the server runs as the `postgres` OS user (pg_ctl refuses root); otherwise as
# the current user. Progress goes to stderr, so `url=$(scripts/pg.sh start)` works.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="$REPO/.pg"
STATE="$STATE_DIR/state" # two lines: data dir, port
DB=zhili_test

say() { echo "pg: $*" >&2; }
die() {
  echo "pg: $*" >&2
  exit 1
}

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Run a server-side command as the cluster's owner.
as_owner() {
  if ((EUID == 0)); then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

read_state() {
  [[ -f "$STATE" ]] || return 1
  { read -r DATA && read -r PORT; } <"$STATE" || return 1
  [[ -n "$DATA" && -n "$PORT" ]]
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop_cluster() {
  local DATA PORT
  read_state || {
    say "no cluster recorded; nothing to stop"
    rm -f "$STATE"
    return 0
  }
  local bin
  bin="$(pg_bin_dir)" || die "initdb/pg_ctl not found (run scripts/setup.sh --test)"
  if [[ -f "$DATA/postmaster.pid" ]]; then
    as_owner "$bin/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 \
      || as_owner "$bin/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 \
      || say "pg_ctl stop failed (server already gone?)"
  fi
  # The data dir is ours: either .pg/data or a zhili-pg.* mktemp dir.
  case "$DATA" in
    "$STATE_DIR"/data | /tmp/zhili-pg.*) rm -rf "$DATA" ;;
    *) say "not deleting unexpected data dir $DATA" ;;
  esac
  rm -f "$STATE"
  say "stopped cluster on port $PORT"
}

# Make an empty data dir the cluster owner can write; prints its path.
make_data_dir() {
  local dir="$STATE_DIR/data"
  rm -rf "$dir"
  mkdir -p "$dir"
  chmod 700 "$dir"
  if ((EUID == 0)); then chown postgres:postgres "$dir"; fi
  # postgres must reach it through every parent, and the socket path must fit in 107 bytes.
  if as_owner test -w "$dir" && ((${#dir} + 20 < 100)); then
    echo "$dir"
    return 0
  fi
  rm -rf "$dir"
  dir="$(mktemp -d /tmp/zhili-pg.XXXXXX)"
  chmod 700 "$dir"
  if ((EUID == 0)); then chown postgres:postgres "$dir"; fi
  echo "$dir"
}

start_cluster() {
  local bin DATA PORT t=$SECONDS
  bin="$(pg_bin_dir)" || die "initdb/pg_ctl not found (run scripts/setup.sh --test)"
  if ((EUID == 0)) && ! id -u postgres >/dev/null 2>&1; then
    die "running as root but there is no postgres OS user (run scripts/setup.sh --test)"
  fi
  if [[ -f "$STATE" ]]; then
    say "a cluster from an earlier start is recorded; stopping it first"
    stop_cluster
  elif [[ -f "$STATE_DIR/data/postmaster.pid" ]]; then
    say "a server without a state file runs in $STATE_DIR/data; stopping it first"
    as_owner "$bin/pg_ctl" -D "$STATE_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  mkdir -p "$STATE_DIR"

  DATA="$(make_data_dir)"
  as_owner "$bin/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
    >"$STATE_DIR/initdb.log" 2>&1 || {
    cat "$STATE_DIR/initdb.log" >&2
    die "initdb failed"
  }
  cat >>"$DATA/postgresql.conf" <<EOF

# --- scripts/pg.sh: throwaway test cluster ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DATA'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF

  # The port is free when picked; another process may grab it before the server binds, so
  # try a few.
  local attempt
  for attempt in 1 2 3; do
    PORT="$(free_port)"
    printf '%s\n%s\n' "$DATA" "$PORT" >"$STATE"
    if as_owner "$bin/pg_ctl" -D "$DATA" -o "-p $PORT" -l "$DATA/server.log" -w -t 60 \
      start >/dev/null; then
      break
    fi
    say "start on port $PORT failed (attempt $attempt):"
    tail -n 5 "$DATA/server.log" >&2 || true
    if ((attempt == 3)); then
      stop_cluster
      die "could not start PostgreSQL"
    fi
  done

  # createdb is a client: any user may run it over TCP with trust auth.
  "$bin/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB" \
    || {
      stop_cluster
      die "createdb $DB failed"
    }
  say "started PostgreSQL $("$bin/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$PORT" \
    "(data $DATA) in $((SECONDS - t))s"
  print_url
}

print_url() {
  local DATA PORT
  read_state || die "no cluster running (scripts/pg.sh start)"
  echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/$DB"
}

case "${1:-}" in
  start) start_cluster ;;
  stop) stop_cluster ;;
  url) print_url ;;
  status)
    read_state || exit 1
    bin="$(pg_bin_dir)" || exit 1
    as_owner "$bin/pg_ctl" -D "$DATA" status >/dev/null
    ;;
  *)
    echo "usage: scripts/pg.sh start|stop|url|status" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# A throwaway PostgreSQL for the tests that run on both databases (tests/conftest.py reads its URL from
# PERIMETER_TEST_POSTGRES_URL). Its own cluster in a new temporary directory: no TCP (the socket is in
# that directory), trust authentication, fsync off; the system's clusters are not touched.
#
#   postgres.sh with COMMAND...  start one, run COMMAND with PERIMETER_TEST_POSTGRES_URL set, stop it;
#                                with PERIMETER_TEST_POSTGRES_URL already set, just run COMMAND
#   postgres.sh start DIR        start one in DIR (new or empty) and print its URL
#   postgres.sh stop DIR         stop it and remove DIR
#   postgres.sh bindir           where the server's programs are (exit 1: PostgreSQL is not installed)
#
# PostgreSQL refuses to run as root: as root, the server runs as the user postgres, which Debian's
# package creates (.ci/test-needs installs it).
set -euo pipefail

bindir() {
  local dir
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    dirname "$(command -v pg_ctl)"
    return 0
  fi
  dir=$( (ls -d /usr/lib/postgresql/*/bin 2>/dev/null || true) | sort -V | tail -n 1)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && echo "$dir"
}

as_server() {  # run a server program as the user the server may run as
  if [ "$(id -u)" -ne 0 ]; then
    "$@"
  elif command -v runuser >/dev/null; then
    runuser -u postgres -- "$@"
  else
    su -s /bin/sh postgres -c "$(printf '%q ' "$@")"
  fi
}

start() {
  local dir=$1 bin
  bin=$(bindir) || { echo "postgres.sh: PostgreSQL's server is not installed" >&2; return 1; }
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || { echo "postgres.sh: no user postgres to run the server as" >&2; return 1; }
    chown postgres "$dir"
  fi
  if ! as_server "$bin/initdb" -D "$dir/data" -U perimeter --auth=trust --no-sync -E UTF8 --locale=C \
      >"$dir/initdb.log" 2>&1; then
    echo "postgres.sh: initdb failed:" >&2
    tail -n 20 "$dir/initdb.log" >&2
    return 1
  fi
  if ! as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
      -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      >/dev/null; then
    echo "postgres.sh: the server did not start:" >&2
    tail -n 20 "$dir/server.log" >&2
    return 1
  fi
  echo "postgresql+psycopg://perimeter@/postgres?host=$dir"
}

stop() {
  local dir=$1 bin
  if [ -d "$dir/data" ] && bin=$(bindir); then
    as_server "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

with() {
  if [ -n "${PERIMETER_TEST_POSTGRES_URL:-}" ]; then
    exec "$@"
  fi
  local status=0
  PG_DIR=$(mktemp -d /tmp/perimeter-pg.XXXXXX)
  trap 'stop "$PG_DIR"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  PERIMETER_TEST_POSTGRES_URL=$(start "$PG_DIR")
  export PERIMETER_TEST_POSTGRES_URL
  "$@" || status=$?
  return "$status"
}

command=${1:-}
shift || true
case "$command" in
  with) [ $# -gt 0 ] || { echo "usage: postgres.sh with COMMAND..." >&2; exit 2; }; with "$@" ;;
  start) [ $# -eq 1 ] || { echo "usage: postgres.sh start DIR" >&2; exit 2; }; start "$1" ;;
  stop) [ $# -eq 1 ] || { echo "usage: postgres.sh stop DIR" >&2; exit 2; }; stop "$1" ;;
  bindir) bindir ;;
  *) echo "usage: postgres.sh with COMMAND... | start DIR | stop DIR | bindir" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# A throwaway PostgreSQL server for the integration tests' PostgreSQL pass (tests/run.sh), on 127.0.0.1 only, with
# trust authentication, fsync off and its data in a temporary folder that `stop` deletes. Installs Debian's
# postgresql first if no server binaries are found (needs root, as CI has).
#
#   bash tests/postgres.sh start STATE_FILE   # prints the admin connection string (BOTSERVICE_TEST_POSTGRES)
#   bash tests/postgres.sh stop STATE_FILE
#   bash tests/postgres.sh restart STATE_FILE [DOWN_SECONDS]   # fast shutdown and start again, same port and data
#                                               # (the soak's fault run, tests/load/soak.sh); DOWN_SECONDS stopped between
set -euo pipefail
state=${2:?usage: bash tests/postgres.sh start|stop STATE_FILE}

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pgbin() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "tests/postgres.sh: no PostgreSQL server binaries; install Debian's postgresql (as root: apt-get install postgresql)" >&2
      return 1
    fi
    echo "tests/postgres.sh: installing Debian's postgresql" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  fi
  echo "$bin"
}

case "${1:-}" in
start)
  bin=$(pgbin)
  root=$(mktemp -d "${TMPDIR:-/tmp}/botservice-pg.XXXXXX")
  chmod 755 "$root"
  mkdir "$root/data" "$root/sock"
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$root/data" "$root/sock"; fi
  port=55432   # the first port that refuses a TCP connection
  while (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do port=$((port + 1)); done
  as_postgres "$bin/initdb" -D "$root/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$root/initdb.log"
  opts="-p $port -k $root/sock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
  as_postgres "$bin/pg_ctl" -D "$root/data" -l "$root/data/server.log" -w -t 30 -o "$opts" start >/dev/null
  printf 'PG_ROOT=%s\nPG_BIN=%s\nPG_PORT=%s\nPG_OPTS="%s"\n' "$root" "$bin" "$port" "$opts" >"$state"
  echo "Host=127.0.0.1;Port=$port;Username=postgres;Database=postgres" ;;
stop)
  [ -f "$state" ] || exit 0
  . "$state"
  as_postgres "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -m fast -w stop >/dev/null || true
  rm -rf "$PG_ROOT" "$state" ;;
restart)
  . "$state"
  # -m fast: open sessions are ended (clients see 57P01 "terminating connection due to administrator command"), as in
  # a real restart or failover; then the server starts again with the same options, port and data.
  as_postgres "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -m fast -w -t 60 stop >/dev/null
  sleep "${3:-0}"
  as_postgres "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -l "$PG_ROOT/data/server.log" -w -t 60 -o "$PG_OPTS" start >/dev/null ;;
*)
  sed -n '2,9p' "$0"; exit 2 ;;
esac

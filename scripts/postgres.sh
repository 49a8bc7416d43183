#!/usr/bin/env bash
# Starts a PostgreSQL cluster of the project's own (Debian's postgresql server binaries), in a
# temporary folder, on a free loopback port, owned by the `postgres` user when run as root.
#   scripts/postgres.sh start      prints the cluster's URL (postgresql://...), then its folder
#   scripts/postgres.sh stop DIR   stops the cluster of that folder
# Tests read the URL from SEMREC_TEST_POSTGRES; without it they start a cluster with this script.
set -euo pipefail
cd /  # the postgres user may not enter the caller's folder
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "postgres.sh: no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)" >&2
  exit 1
fi
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "${1:-}" in
start)
  dir=$(mktemp -d -t semrec-pg.XXXXXX)  # under /tmp, which the postgres user can reach
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-locale >"$dir/initdb.log" 2>&1
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
  echo "postgresql://postgres@127.0.0.1:$port/postgres"
  echo "$dir"
  ;;
stop)
  as_owner "$bin/pg_ctl" -D "$2/data" -m fast -w stop >/dev/null
  ;;
*)
  echo "usage: $0 start [DIR] | stop DIR" >&2
  exit 2
  ;;
esac

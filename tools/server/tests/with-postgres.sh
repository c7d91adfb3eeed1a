#!/usr/bin/env bash
# with-postgres.sh CMD [ARGS...]: runs CMD with a throwaway PostgreSQL from
# Debian's postgresql package (initdb + pg_ctl in a temp dir, loopback only,
# a free port, as a non-root user), then removes it.
#   LP_TEST_POSTGRES_URL  postgresql://lptest@127.0.0.1:PORT/  (append a database name)
#   LP_TEST_POSTGRES_CTL  "pg_ctl -D ..." prefix, e.g. "$LP_TEST_POSTGRES_CTL stop -m fast"
# Set LP_PG_FSYNC=on to keep PostgreSQL's durable defaults (benchmarks), and
# LP_PG_CONF to lines appended to postgresql.conf (a benchmark's tuning).
set -euo pipefail
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
[[ -x $PGBIN/initdb ]] || { echo "with-postgres: no initdb (apt-get install postgresql)" >&2; exit 1; }
W=$(mktemp -d /tmp/lp-pg.XXXXXX)
as_user=()
if [[ $(id -u) -eq 0 ]]; then
  chown nobody "$W"
  as_user=(runuser -u nobody --)
fi
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ctl=("${as_user[@]}" "$PGBIN/pg_ctl" -D "$W/data" -l "$W/log")
cleanup() { "${ctl[@]}" stop -m immediate > /dev/null 2>&1 || true; rm -rf "$W"; }
trap cleanup EXIT
"${as_user[@]}" "$PGBIN/initdb" -D "$W/data" -U lptest --auth=trust -E UTF8 > "$W/initdb.log" 2>&1 || { cat "$W/initdb.log"; exit 1; }
cat >> "$W/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$W'
max_connections = 200
fsync = ${LP_PG_FSYNC:-off}
${LP_PG_CONF:-}
CONF
"${ctl[@]}" -w start > /dev/null || { cat "$W/log"; exit 1; }
export PGOPTIONS="-c client_min_messages=warning"
export LP_TEST_POSTGRES_URL="postgresql://lptest@127.0.0.1:$port/"
export LP_TEST_POSTGRES_CTL="${ctl[*]}"
export LP_TEST_POSTGRES_PSQL="$PGBIN/psql -h 127.0.0.1 -p $port -U lptest"
"$@"

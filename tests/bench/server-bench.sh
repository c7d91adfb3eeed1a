#!/usr/bin/env bash
# tests/bench/server-bench.sh BUILD_DIR [SIZES="10000 100000"] [SECONDS=10]
# Check-in throughput and latency of livepatch-server with SIZES machines
# bulk-loaded, on SQLite and on PostgreSQL (a throwaway one, durable
# defaults), driven by wrk + tests/bench/checkin.lua over plain HTTP, one
# connection per request (as agents do). The upper bound is nginx serving a
# static file of the same size in the same run. Output: a Markdown table
# for tests/bench/RESULTS.md.
#   LP_BENCH_DATABASES  "sqlite postgresql" (default) or one of them
#   LP_BENCH_SERVER_ARGS  more livepatch-server options (experiments)
#   LP_PG_CONF  lines for postgresql.conf (tools/server/tests/with-postgres.sh)
set -euo pipefail
BUILD=$(cd "$1" && pwd)
SIZES=${2:-"10000 100000"}
DUR=${3:-10}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$BUILD/bin
if [[ -z ${LP_TEST_POSTGRES_URL:-} ]]; then
  # PostgreSQL set up as the README says for a fleet: durable (fsync on),
  # shared_buffers that hold the machines table and its indexes (about
  # 420 MB for 1M machines), in huge pages. Without huge pages every
  # backend maps that memory 4 KiB at a time: on this VM (a page fault
  # costs 13 us) that alone made a check-in with 1M machines 1.3-1.5x the
  # cost of one with 10k; with them, 0.94-1.10x (RESULTS.md).
  hp=/proc/sys/vm/nr_hugepages
  conf=${LP_PG_CONF-"shared_buffers = 1GB"}
  if [[ -z ${LP_PG_CONF+set} && -w $hp ]]; then
    old_hp=$(cat "$hp")
    trap 'echo "$old_hp" > "$hp"' EXIT   # the machine's setting back, however the run ends
    (( old_hp >= 600 )) || echo 600 > "$hp"   # 1 GiB of buffers + PostgreSQL's other shared memory
    [[ $(cat "$hp") -ge 600 ]] && conf+=$'\nhuge_pages = on' || echo "server-bench: no huge pages; PostgreSQL uses 4 KiB pages" >&2
  fi
  LP_PG_FSYNC=on LP_PG_CONF=$conf "$SRC/tools/server/tests/with-postgres.sh" "$0" "$@"
  exit  # with the run's status (set -e), after the EXIT trap
fi
W=$(mktemp -d /tmp/lp-srvbench.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"' EXIT
export LP_BENCH_ARCH=$(uname -m)
LIVEPATCH_BIN=$BIN "$SRC/tools/server/make-demo-data.sh" "$W/demo" > /dev/null
BENCH=server-bench
source "$SRC/tests/bench/lib.sh"
source "$SRC/tests/lib/nginx.sh"

# wrk PORT PATH -> "req/s p50 p99 errors"
run_wrk() {
  local out
  out=$(wrk -t2 -c16 -d"${DUR}s" --latency -s "$SRC/tests/bench/checkin.lua" "http://127.0.0.1:$1$2")
  $PY - "$out" <<'PYEOF'
import re, sys
out = sys.argv[1]
def ms(label):
    m = re.search(r"^\s*" + label + r"\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    v = float(m.group(1)); return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
errs = re.search(r"Socket errors:.*", out)
print(f"{rps:.0f} {ms('50%'):.2f} {ms('99%'):.2f} {int(bad.group(1)) if bad else 0}{' (' + errs.group(0) + ')' if errs else ''}")
PYEOF
}

# The upper bound: nginx, a static file the size of an updates answer.
mkdir -p "$W/nginx/html"
head -c 600 /dev/zero | tr '\0' x > "$W/nginx/html/updates"
nport=$(free_port)
start_nginx "$W/nginx" "access_log off; keepalive_timeout 0;
  server { listen 127.0.0.1:$nport; root $W/nginx/html; location / { try_files /updates =404; } }" ||
  die "nginx did not start"
pids+=("$NGINX_PID")
read -r nrps np50 np99 nbad <<< "$(LP_BENCH_METHOD=GET run_wrk "$nport" /)"
rows+=("| nginx static file (upper bound) | - | $nrps | $np50 | $np99 | $nbad | 1.00 |")

start_server() { # start_server DB-ARG... -> SPORT
  rm -f "$W/port"
  "$BIN/livepatch-server" --data-dir "$W/demo/server" --listen 127.0.0.1:0 --plain --port-file "$W/port" "$@" \
    ${LP_BENCH_SERVER_ARGS:-} > "$W/server.log" 2>&1 &
  SPID=$!
  pids+=($SPID)
  for _ in $(seq 100); do [[ -s "$W/port" ]] && break; sleep 0.05; done
  [[ -s "$W/port" ]] || { cat "$W/server.log"; exit 1; }
  SPORT=$(cat "$W/port")
}
stop_server() { kill "$SPID"; wait "$SPID" 2>/dev/null || true; }

for size in $SIZES; do
  for db in ${LP_BENCH_DATABASES:-sqlite postgresql}; do
    if [[ $db == sqlite ]]; then
      rm -f "$W/bench.db"*
      arg=(--database "sqlite:$W/bench.db")
    else
      $LP_TEST_POSTGRES_PSQL -q -d postgres -c "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench" > /dev/null
      arg=(--database "${LP_TEST_POSTGRES_URL}bench")
    fi
    start_server "${arg[@]}"   # creates the schema
    stop_server
    t0=$(date +%s.%N)
    if [[ $db == sqlite ]]; then
      $PY - "$W/bench.db" "$size" <<'PYEOF'
import hashlib, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
n = int(sys.argv[2])
db.executemany("INSERT INTO machines (id, kind, credential_sha256, tier, registered) VALUES (?, 'auth-token', ?, 'stable', 0)",
               ((f"{i:032x}", hashlib.sha256(f"bench-token-{i}".encode()).hexdigest()) for i in range(n)))
db.commit()
PYEOF
    else
      $LP_TEST_POSTGRES_PSQL -q -d bench -c "INSERT INTO machines (id, kind, credential_sha256, tier, registered)
        SELECT lpad(to_hex(i), 32, '0'), 'auth-token', encode(sha256(('bench-token-' || i)::bytea), 'hex'), 'stable', 0
        FROM generate_series(0, $size - 1) AS i" -c "VACUUM ANALYZE machines" -c "CHECKPOINT" > /dev/null
    fi
    load=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
    start_server "${arg[@]}"
    export LP_BENCH_MACHINES=$size
    # Steady state, as a server that has run for a while: the bulk load is
    # vacuumed and checkpointed (above), and a short unmeasured run warms
    # the server's and the database's caches first.
    DUR=3 run_wrk "$SPORT" / > /dev/null
    read -r rps p50 p99 bad <<< "$(run_wrk "$SPORT" /)"
    stop_server
    rows+=("| livepatch-server, $db | $size (loaded in ${load} s) | $rps | $p50 | $p99 | $bad | $(awk -v a="$rps" -v b="$nrps" 'BEGIN {printf "%.2f", a / b}') |")
  done
done

echo "| server | machines registered | check-ins/s | p50 ms | p99 ms | non-200 | vs nginx |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "wrk -t2 -c16 -d${DUR}s, $(nproc) cores, $(date -u +%F); PostgreSQL: fsync on, $(tr '\n' ',' <<< "${LP_PG_CONF:-defaults}" | sed 's/,$//; s/,/, /g')"

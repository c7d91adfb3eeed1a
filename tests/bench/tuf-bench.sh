#!/usr/bin/env bash
# tests/bench/tuf-bench.sh BUILD_DIR: the agent with a pinned TUF trust root
# (issue 15), against baselines measured in the same run. Prints a Markdown
# table (tests/bench/RESULTS.md). run-bench.sh runs it after its own table.
#   1. full refresh cycle with the signed catalogue (every metadata file
#      fetched and verified: the trusted timestamp/snapshot/targets are
#      removed before each run) vs the shell baseline of run-bench.sh
#      (curl + sha256sum + tar + openssl cms + cp);
#   2. bytes per idle check including timestamp.json, HTTP layer, of a
#      static mirror and of a server source (the reference server behind an
#      nginx TLS front): nginx's own count of request and response bytes;
#   3. CPU per metadata verification: bench-tuf (Google Benchmark).
# RUNS=N (default 11) for a quick try; KEEP=1 keeps the work directory.
set -euo pipefail
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$BUILD/bin
W=$(mktemp -d /tmp/lp-tufbench.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [[ -n ${KEEP:-} ]] || rm -rf "$W"' EXIT
unset SSL_CERT_FILE SSL_CERT_DIR  # as run-bench.sh: as under systemd
BENCH=tuf-bench
source "$SRC/tests/bench/lib.sh"
source "$SRC/tests/lib/nginx.sh"
source "$SRC/tests/bench/shell-baseline.sh"

LIVEPATCH_BIN=$BIN "$SRC/tools/server/make-demo-data.sh" "$W/demo" > /dev/null
ROOTJSON=$W/demo/tuf/repo/metadata/1.root.json
"$BIN/livepatch-server" --data-dir "$W/demo/server" --listen 127.0.0.1:0 --tls-cert "$W/demo/tls/server.pem" \
  --tls-key "$W/demo/tls/server.key" --port-file "$W/port" --tuf-repo "$W/demo/tuf/repo" > "$W/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -s $W/port ]] && break; sleep 0.05; done
[[ -s $W/port ]] || { cat "$W/server.log" >&2; die "the reference server did not start"; }
port=$(cat "$W/port")

# 1. full refresh cycle, TUF on
A=("$BIN/livepatch-agent" --root-dir "$W/agent")
"${A[@]}" config remote-server="https://127.0.0.1:$port" loader=loader-simulated simulated-kernel-root="$W/sim" \
  keyring-dir="$W/demo/keyring" check-interval=60 run-mode=no-apply > /dev/null
"${A[@]}" config ca-certs=@stdin < "$W/demo/tls/ca.pem" > /dev/null
"${A[@]}" config trust-root=@stdin < "$ROOTJSON" > /dev/null
"${A[@]}" enable - < "$W/demo/auth-token" > /dev/null
"${A[@]}" config run-mode=normal > /dev/null
rm -f "$W/agent/state/tuf/timestamp.json" "$W/agent/state/tuf/snapshot.json" "$W/agent/state/tuf/targets.json"
cp -a "$W/agent" "$W/agent.snap"; cp -a "$W/sim" "$W/sim.snap"
reset="rm -rf '$W/agent' '$W/sim' && cp -a '$W/agent.snap' '$W/agent' && cp -a '$W/sim.snap' '$W/sim'"
agent_ms=$(T --runs ${RUNS:-11} --setup "$reset" -- "${A[@]}" refresh)
grep -q "live patched" "$W/sim/proc/cmdline" || die "refresh did not apply the patch"
"${A[@]}" status | grep -q "^catalogue: signed" || die "the cycle did not use the signed catalogue"
token=$("${A[@]}" status --format json --show-secrets | $PY -c 'import json, sys; print(json.load(sys.stdin)["Credential"])')
manual_ms=$(shell_cycle_ms "$W" "$port" "$token" ${RUNS:-11})
# The same cycle without a trust root, same run: what the signed catalogue adds.
cp -a "$W/agent.snap" "$W/agent.unsigned"
"$BIN/livepatch-agent" --root-dir "$W/agent.unsigned" config trust-root= > /dev/null
reset_u="rm -rf '$W/agent' '$W/sim' && cp -a '$W/agent.unsigned' '$W/agent' && cp -a '$W/sim.snap' '$W/sim'"
unsigned_ms=$(T --runs ${RUNS:-11} --setup "$reset_u" -- "${A[@]}" refresh)
"${A[@]}" status | grep -q "^catalogue: unsigned" || die "the unsigned cycle used a catalogue"
row "full refresh cycle without a trust root (unsigned, same run), median of 11" "$unsigned_ms ms" \
  "curl + sha256sum + tar + openssl cms + cp: $manual_ms ms" "$(ratio "$unsigned_ms" "$manual_ms")" "<= 1.2"
row "signed catalogue's share of the cycle: signed / unsigned cycle" "$agent_ms ms" "$unsigned_ms ms" "$(ratio "$agent_ms" "$unsigned_ms")" "context"
row "full refresh cycle with the signed catalogue (updates + root/timestamp/snapshot/targets fetched and verified + download + verifyTarget + unpack + verify + load + report), median of 11" \
  "$agent_ms ms" "curl + sha256sum + tar + openssl cms + cp: $manual_ms ms" "$(ratio "$agent_ms" "$manual_ms")" "<= 1.2"

# 2. bytes per idle check of a static mirror, HTTP layer: nginx (the static
# server such a mirror runs on) logs each request's length and the bytes it
# sent (headers + body), loopback over HTTPS with the demo CA.
N=$W/nginx
nport=$(free_port)
fport=$(free_port)
start_nginx "$N" "
  log_format bytes '\$request_length \$bytes_sent \$status \$uri';
  access_log $N/access.log bytes;
  server {
    listen 127.0.0.1:$nport ssl;
    ssl_certificate $W/demo/tls/server.pem;
    ssl_certificate_key $W/demo/tls/server.key;
    location /lp/ { alias $W/demo/tuf/repo/; }
  }
  # A TLS front for the reference server: the same byte count for a server
  # source's idle check (updates + the signed catalogue's requests).
  server {
    listen 127.0.0.1:$fport ssl;
    ssl_certificate $W/demo/tls/server.pem;
    ssl_certificate_key $W/demo/tls/server.key;
    location / { proxy_pass https://127.0.0.1:$port; proxy_http_version 1.1; proxy_set_header Connection \"\"; }
  }" || die "nginx did not start"
pids+=("$NGINX_PID")
S=("$BIN/livepatch-agent" --root-dir "$W/agent-static")
"${S[@]}" config source-type=static remote-server="https://127.0.0.1:$nport/lp/" loader=loader-simulated \
  simulated-kernel-root="$W/sim-static" keyring-dir="$W/demo/keyring" check-interval=60 > /dev/null
"${S[@]}" config ca-certs=@stdin < "$W/demo/tls/ca.pem" > /dev/null
"${S[@]}" config trust-root=@stdin < "$ROOTJSON" > /dev/null
"${S[@]}" enable static > /dev/null
grep -q "live patched" "$W/sim-static/proc/cmdline" || die "the static mirror did not apply the patch"
# idle AGENT...: one refresh; prints "REQUESTS REQUEST_BYTES RESPONSE_BYTES STATUS:URI,..." of its requests.
idle() {
  local before
  before=$(wc -l < "$N/access.log")
  "$@" refresh > /dev/null
  sleep 0.2
  tail -n +$((before + 1)) "$N/access.log" | awk '{n++; up += $1; down += $2; s = s $3 ":" $4 ","} END {print n, up, down, s}'
}
read -r _ _ _ _ <<< "$(idle "${S[@]}")"  # the first check after the apply
read -r n up down reqs <<< "$(idle "${S[@]}")"
[[ $n == 2 && $reqs == *"404:/lp/metadata/"*".root.json"* && $reqs == *"200:/lp/metadata/timestamp.json"* ]] ||
  die "a static idle check should be N+1.root.json (404) + timestamp.json, got: $n $reqs"
total=$((up + down))
ts=$(stat -c %s "$W/demo/tuf/repo/metadata/timestamp.json")
row "bytes per idle check including timestamp.json ($ts B), static mirror (nginx), HTTP layer: GET N+1.root.json -> 404, GET timestamp.json -> 200 (no If-None-Match: nginx's ETag is mtime + size)" \
  "$total ($up request + $down response)" "goal 1.5 KiB" "$(ratio "$total" 1536)" "<= 1.0"

# The same for a server source (the reference server behind nginx as its
# TLS front): its updates exchange (304) and the catalogue's two requests.
P=("$BIN/livepatch-agent" --root-dir "$W/agent-front")
"${P[@]}" config remote-server="https://127.0.0.1:$fport" loader=loader-simulated simulated-kernel-root="$W/sim-front" \
  keyring-dir="$W/demo/keyring" check-interval=60 > /dev/null
"${P[@]}" config ca-certs=@stdin < "$W/demo/tls/ca.pem" > /dev/null
"${P[@]}" config trust-root=@stdin < "$ROOTJSON" > /dev/null
"${P[@]}" enable - < "$W/demo/auth-token" > /dev/null
grep -q "live patched" "$W/sim-front/proc/cmdline" || die "the server source behind nginx did not apply the patch"
read -r _ _ _ _ <<< "$(idle "${P[@]}")"
read -r n up down reqs <<< "$(idle "${P[@]}")"
[[ $reqs == *"304:/v1/client/"*"/updates"* && $reqs == *"304:/v1/tuf/metadata/timestamp.json"* ]] ||
  die "a server-source idle check should be updates (304) + the catalogue's requests, got: $n $reqs"
total=$((up + down))
row "bytes per idle check including timestamp.json, server source (reference server behind an nginx TLS front), HTTP layer: $n requests ($reqs), timestamp.json with If-None-Match" \
  "$total ($up request + $down response)" "goal 1.5 KiB" "$(ratio "$total" 1536)" "<= 1.0"

# 3. CPU per metadata verification (timestamp + snapshot + targets, 100 targets)
"$BIN/bench-tuf" --benchmark_filter='BM_TufVerifyTopLevel|BM_Ed25519Floor' --benchmark_repetitions=5 \
  --benchmark_report_aggregates_only=true --benchmark_format=json > "$W/tuf.json" 2> "$W/tuf.err" ||
  { cat "$W/tuf.err" >&2; die "bench-tuf failed"; }
read -r verify_ms bare_ms <<< "$($PY - "$W/tuf.json" <<'PY'
import json, sys
b = [x for x in json.load(open(sys.argv[1]))["benchmarks"] if x.get("aggregate_name") == "median"]
def ms(prefix):
    m = [x for x in b if x["run_name"].startswith(prefix)]
    if not m: sys.exit(f"no median for {prefix}: {[x['run_name'] for x in b]}")
    x = m[0]; scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0}[x["time_unit"]]
    return x["cpu_time"] * scale
print(f"{ms('BM_TufVerifyTopLevel'):.3f} {ms('BM_Ed25519Floor'):.3f}")
PY
)"
row "CPU per metadata verification: timestamp + snapshot + targets, 100 targets (bench-tuf, median of 5)" "$verify_ms ms" \
  "3 bare ed25519 verifications: $bare_ms ms" "$(ratio "$verify_ms" "$bare_ms")" "< 1 ms"

echo "Machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); date: $(date -u '+%F %H:%M') UTC"
echo
echo "| measurement | agent | baseline (same run) | ratio | goal |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"

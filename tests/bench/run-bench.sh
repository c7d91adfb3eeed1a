#!/usr/bin/env bash
# tests/bench/run-bench.sh BUILD_DIR [DAEMON_IDLE_SECONDS=60]
# Every number is a ratio against a baseline measured in this same run on
# this machine; absolute times are printed for context only. Results go to
# stdout as a Markdown table (paste into tests/bench/RESULTS.md).
# Any failure (a tool's exit status, a Google Benchmark error_occurred, a
# missing number) stops the run with the tool's own stderr: a benchmark of
# something that did not work measures nothing.
set -euo pipefail
BUILD=$(cd "$1" && pwd)
IDLE=${2:-60}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$BUILD/bin
W=$(mktemp -d /tmp/lp-bench.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$W"' EXIT
# As under systemd or snapd: no SSL_CERT_FILE/SSL_CERT_DIR. Set (as in some
# shells and CI images), OpenSSL semantics make the agent parse that whole
# bundle at start (~15 ms here), which `curl --cacert` in the baseline skips;
# unset, the host pool is the hashed /etc/ssl/certs, read lazily.
unset SSL_CERT_FILE SSL_CERT_DIR
signfile=$(ls /usr/lib/linux-kbuild-*/scripts/sign-file | head -1)
BENCH=run-bench
source "$SRC/tests/bench/lib.sh"
source "$SRC/tests/bench/shell-baseline.sh"
# gbench NAME FIELD: run one bench-micro benchmark on $module and print FIELD
# of the median of its 5 repetitions (one slow repetition on a shared
# machine moves a mean, not a median). A non-zero exit, error_occurred, or
# no result fails.
gbench() {
  local out=$W/gbench.json err=$W/gbench.err
  "$BIN/bench-micro" --module "$module" --keyring "$W/demo/keyring" --certfile "$W/demo/keyring/signing.pem" \
      --benchmark_filter="^$1\$" --benchmark_format=json --benchmark_min_time=1 \
      --benchmark_repetitions=5 --benchmark_report_aggregates_only=true > "$out" 2> "$err" ||
    { cat "$err" >&2; die "bench-micro $1 exited with $?"; }
  $PY - "$out" "$1" "$2" <<'PY' || { cat "$err" >&2; die "bench-micro $1 failed"; }
import json, sys
runs = json.load(open(sys.argv[1])).get("benchmarks", [])
for b in runs:
    if b.get("error_occurred"):
        sys.exit(f"{sys.argv[2]}: {b.get('error_message', 'error')}")
median = [b for b in runs if b.get("aggregate_name") == "median"]
if not median:
    sys.exit(f"{sys.argv[2]}: no median result")
value = median[0].get(sys.argv[3])
if not isinstance(value, (int, float)) or value <= 0:
    sys.exit(f"{sys.argv[2]}: {sys.argv[3]} is {value!r}")
print(value)
PY
}

LIVEPATCH_BIN=$BIN "$SRC/tools/server/make-demo-data.sh" "$W/demo" > /dev/null
key=$W/demo/work/signing.key
openssl x509 -in "$W/demo/keyring/signing.pem" -outform DER -out "$W/cert.der"

# 1. verify pipeline on 1 MiB and 16 MiB signed modules
for mib in 1 16; do
  head -c $((mib * 1024 * 1024)) /dev/urandom > "$W/m$mib.ko"
  "$signfile" sha512 "$key" "$W/cert.der" "$W/m$mib.ko"
  size=$(stat -c %s "$W/m$mib.ko")
  $PY - "$W/m$mib.ko" "$W/m$mib" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
siglen = struct.unpack(">I", data[-28 - 4:-28])[0]
body_end = len(data) - 28 - 12 - siglen
open(sys.argv[2] + ".body", "wb").write(data[:body_end])
open(sys.argv[2] + ".p7s", "wb").write(data[body_end:body_end + siglen])
PY
  module=$W/m$mib.ko
  agent_ms=$(gbench BM_VerifyPipeline real_time)
  inproc_ms=$(gbench BM_OpensslCallsInProcess real_time)
  tools_ms=$(T --runs 15 -- sha256sum "$W/m$mib.ko" --- openssl cms -verify -binary -inform DER -in "$W/m$mib.p7s" \
      -content "$W/m$mib.body" -certfile "$W/demo/keyring/signing.pem" -nointern -noverify -out /dev/null)
  r_tools=$(ratio "$agent_ms" "$tools_ms")
  r_inproc=$(ratio "$agent_ms" "$inproc_ms")
  row "verify ${mib} MiB module (SHA-256 + PKCS#7), in-process vs processes" "$(printf %.2f "$agent_ms") ms" \
    "sha256sum + openssl cms -verify (two process starts): $tools_ms ms" "$r_tools" "<= 1.0"
  row "verify ${mib} MiB module, like for like (one process each)" "$(printf %.2f "$agent_ms") ms" \
    "the same OpenSSL calls in-process (EVP SHA-256, PEM cert, CMS_verify): $(printf %.2f "$inproc_ms") ms" "$r_inproc" "<= 1.1"
done

# 2. SHA-256 throughput vs openssl speed -evp sha256 (16 KiB blocks)
module=$W/m16.ko
sha_bps=$(gbench BM_Sha256 bytes_per_second)
sha_mbs=$(awk -v b="$sha_bps" 'BEGIN {print b / 1e6}')
openssl speed -evp sha256 -bytes 16384 -seconds 2 > "$W/speed.out" 2> "$W/speed.err" || { cat "$W/speed.err" >&2; die "openssl speed failed"; }
ossl_mbs=$(awk '/^sha256/ {v=$NF; sub("k","",v); print v*1000/1e6}' "$W/speed.out")
r_sha=$(ratio "$ossl_mbs" "$sha_mbs")
row "SHA-256 throughput" "$(printf %.0f "$sha_mbs") MB/s" "openssl speed -evp sha256: $(printf %.0f "$ossl_mbs") MB/s" "$r_sha" "<= 1.1 (time ratio)"

# 3. status --format json: wall time and peak RSS vs /bin/true
A=("$BIN/livepatch-agent" --root-dir "$W/agent")
"${A[@]}" config remote-server=https://127.0.0.1:9 > /dev/null
status_ms=$(T --runs 31 --ok-exit 1 -- "${A[@]}" status --format json)   # 1: not enabled yet
true_ms=$(T --runs 31 -- /bin/true)
# Peak RSS with GNU time (a small parent: Python's getrusage would count the
# Python image the child was cloned from). Median of 5, and /bin/true's as floor.
# rss_mb OK_EXIT CMD...: the command must exit with OK_EXIT.
rss_mb() {
  local ok=$1 v=() rc
  shift
  for _ in 1 2 3 4 5; do
    rc=0
    /usr/bin/time -f %M -o "$W/rss" "$@" > /dev/null 2> "$W/rss.err" || rc=$?
    [[ $rc == "$ok" ]] || { cat "$W/rss.err" >&2; die "$* exited with $rc under /usr/bin/time"; }
    v+=("$(tail -n 1 "$W/rss")")
    [[ ${v[-1]} =~ ^[0-9]+$ ]] || die "no peak RSS for $*"
  done
  printf '%s\n' "${v[@]}" | sort -n | awk 'NR == 3 {printf "%.1f", $1 / 1024}'
}
rss=$(rss_mb 1 "${A[@]}" status --format json)
true_rss=$(rss_mb 0 /bin/true)
r_status=$(ratio "$status_ms" "$true_ms")
row "status --format json, median of 31" "$status_ms ms, peak RSS $rss MB" "/bin/true: $true_ms ms, $true_rss MB" "$r_status" "median < 10 ms, RSS < 10 MB"

# 4. reference server + a full refresh cycle vs curl + sha256sum + openssl + cp
"$BIN/livepatch-server" --data-dir "$W/demo/server" --listen 127.0.0.1:0 --tls-cert "$W/demo/tls/server.pem" \
  --tls-key "$W/demo/tls/server.key" --port-file "$W/port" > "$W/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -s $W/port ]] && break; sleep 0.05; done
[[ -s $W/port ]] || { cat "$W/server.log" >&2; die "the reference server did not start"; }
port=$(cat "$W/port")
"${A[@]}" config remote-server="https://127.0.0.1:$port" loader=loader-simulated simulated-kernel-root="$W/sim" \
  keyring-dir="$W/demo/keyring" check-interval=60 run-mode=no-apply > /dev/null
"${A[@]}" config ca-certs=@stdin < "$W/demo/tls/ca.pem" > /dev/null
"${A[@]}" enable - < "$W/demo/auth-token" > /dev/null   # registered, offer seen, nothing downloaded
# Back to normal mode: a policy change, so the next check sends no ETag and
# gets the full offer. Every timed run starts from this snapshot: enabled,
# empty cache, nothing in the (simulated) kernel.
"${A[@]}" config run-mode=normal > /dev/null
cp -a "$W/agent" "$W/agent.snap"; cp -a "$W/sim" "$W/sim.snap"
reset="rm -rf '$W/agent' '$W/sim' && cp -a '$W/agent.snap' '$W/agent' && cp -a '$W/sim.snap' '$W/sim'"
agent_cycle_ms=$(T --runs 11 --setup "$reset" -- "${A[@]}" refresh)
grep -q "live patched" "$W/sim/proc/cmdline" || { echo "bench: refresh did not apply the patch" >&2; exit 1; }
# Downloads are authenticated (the machine's token, as the agent sends it):
# the baseline's curl sends the same header.
token=$("${A[@]}" status --format json --show-secrets | $PY -c 'import json, sys; print(json.load(sys.stdin)["Credential"])')
[[ -n $token ]] || die "no machine token for the baseline download"
manual_ms=$(shell_cycle_ms "$W" "$port" "$token" 11)
r_cycle=$(ratio "$agent_cycle_ms" "$manual_ms")
row "full refresh cycle (check + download + SHA-256 + unpack + verify + load + report), median of 11" "$agent_cycle_ms ms" \
  "curl + sha256sum + tar + openssl cms + cp: $manual_ms ms" "$r_cycle" "<= 1.2"

# 5. bytes per idle check: the agent's own exchange, counted by a relay
# between the real agent and the reference server (tests/bench/byte_relay.py).
# A second agent is enabled through the relay (the server URL is fixed at
# enable). After the apply and one settling check, every `refresh` is an idle
# check: If-None-Match -> 304. "wire" counts TCP payload both ways (TLS
# handshake + records: each check is a fresh worker process, which resumes
# the TLS session the previous one stored, so no certificate chain); "http"
# terminates TLS in the relay and counts the HTTP bytes.
echo wire > "$W/relay.mode"
$PY "$SRC/tests/bench/byte_relay.py" --upstream "$port" --port-file "$W/relay.port" --log "$W/relay.log" \
  --mode-file "$W/relay.mode" --cert "$W/demo/tls/server.pem" --key "$W/demo/tls/server.key" --ca "$W/demo/tls/ca.pem" \
  2> "$W/relay.err" &
pids+=($!)
for _ in $(seq 100); do [[ -s $W/relay.port ]] && break; sleep 0.05; done
[[ -s $W/relay.port ]] || { cat "$W/relay.err" >&2; die "the byte relay did not start"; }
B=("$BIN/livepatch-agent" --root-dir "$W/agentB")
"${B[@]}" config remote-server="https://127.0.0.1:$(cat "$W/relay.port")" loader=loader-simulated \
  simulated-kernel-root="$W/simB" keyring-dir="$W/demo/keyring" check-interval=60 > /dev/null
"${B[@]}" config ca-certs=@stdin < "$W/demo/tls/ca.pem" > /dev/null
"${B[@]}" enable - < "$W/demo/auth-token" > /dev/null
"${B[@]}" refresh > /dev/null   # after an apply the next check carries no ETag; this one takes it
# idle_check MODE: run one refresh in MODE, print the relay's line for it.
idle_check() {
  echo "$1" > "$W/relay.mode"
  local before
  before=0
  [[ ! -f $W/relay.log ]] || before=$(wc -l < "$W/relay.log")
  "${B[@]}" refresh > /dev/null
  for _ in $(seq 100); do (( $(wc -l < "$W/relay.log") > before )) && break; sleep 0.05; done
  (( $(wc -l < "$W/relay.log") == before + 1 )) || { cat "$W/relay.err" "$W/relay.log" >&2; die "expected one connection per idle check"; }
  tail -n 1 "$W/relay.log"
}
# (Each result into a variable first: a failure inside $(...) only ends the
# run when it is an assignment's.)
line=$(idle_check http)
read -r _ http_up http_down http_status <<< "$line"
# The first check on the wire has no session to resume (the one stored is
# the relay's own, from the http check, so it is dropped first): a full
# handshake. The next one resumes the session the first stored.
rm -rf "$W/agentB/state/transport-https"
line=$(idle_check wire)
read -r _ full_up full_down _ <<< "$line"
line=$(idle_check wire)
read -r _ wire_up wire_down _ <<< "$line"
line=$(idle_check http)
read -r _ _ _ http_status2 <<< "$line"
[[ $http_status == HTTP/1.1_304_* && $http_status2 == HTTP/1.1_304_* ]] ||
  die "the idle check was not answered 304 ($http_status, $http_status2)"
http_bytes=$((http_up + http_down))
wire_bytes=$((wire_up + wire_down))
r_http=$(ratio "$http_bytes" 1024)
row "bytes per idle check (If-None-Match -> 304), HTTP layer, the agent's own exchange" \
  "$http_bytes ($http_up request + $http_down response)" "goal 1 KiB" "$r_http" "<= 1.0"
full_bytes=$((full_up + full_down))
r_full=$(ratio "$full_bytes" "$http_bytes")
r_wire=$(ratio "$wire_bytes" "$http_bytes")
row "bytes per idle check on the wire, TLS session resumed (every check after the first)" \
  "$wire_bytes ($wire_up sent + $wire_down received)" "HTTP layer: $http_bytes" "$r_wire" "context"
row "bytes of the first check on the wire (full TLS handshake: certificate chain)" \
  "$full_bytes ($full_up sent + $full_down received)" "HTTP layer: $http_bytes" "$r_full" "context"

# 6. daemon idle: RSS and wakeups beyond the check timer
# The daemon re-applies at once and spreads its first check over
# first-check-window: a day here, so the measured minute holds no check
# (asserted from its log), only the idle supervisor.
"${A[@]}" config first-check-window=1440 > /dev/null
"${A[@]}" daemon > "$W/daemon.log" 2>&1 &
dpid=$!; pids+=($dpid)
for _ in $(seq 100); do grep -q "first check in" "$W/daemon.log" && break; sleep 0.05; done
first_s=$(sed -n 's/.*first check in \([0-9]*\) s.*/\1/p' "$W/daemon.log")
[[ -n $first_s ]] || { cat "$W/daemon.log" >&2; die "the daemon did not start"; }
(( first_s > IDLE + 5 )) || die "the daemon's first check (in $first_s s) falls inside the idle window; run again"
sleep 2
switches() { cat /proc/"$dpid"/task/*/status | awk '/^voluntary_ctxt_switches/ {n += $2} END {print n}'; }
c0=$(switches)
sleep "$IDLE"
c1=$(switches)
kill -0 "$dpid" 2> /dev/null || { cat "$W/daemon.log" >&2; die "the daemon died while idle"; }
drss=$(awk '/VmRSS/ {print $2/1024}' "/proc/$dpid/status")
threads=$(ls "/proc/$dpid/task" | wc -l)
per_min=$(awk -v a="$c0" -v b="$c1" -v s="$IDLE" 'BEGIN {printf "%.0f", (b - a) * 60 / s}')
row "daemon idle ${IDLE}s" "RSS $(printf %.1f "$drss") MB, $per_min wakeups/min over $threads threads" "goal: RSS < 10 MB; wakeups only from the timer" "-" "see notes"

# 7. fleet check-ins per minute, every minute of the day counted (the reboot minute too)
fleet=$("$BIN/bench-fleet" 100000 24)
[[ $(wc -l <<< "$fleet") == 2 ]] || die "bench-fleet printed no result: $fleet"
while read -r line; do
  sc=$($PY -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["scenario"], d["peak_per_minute"], d["peak_minute"], d["minute0"], round(d["mean_per_minute"],1), d["peak_over_mean"])' "$line")
  read -r name peak at m0 mean r <<< "$sc"
  row "fleet check-ins, 100k agents x 24 h, $name start, every minute counted" "peak $peak/min (minute $at), minute 0: $m0, mean $mean/min" "mean = baseline" "$r" "<= 1.2"
done <<< "$fleet"

# 8. login notice: the update-motd.d snippet as login runs it (a shell
# script starting the agent's front-end), with the state present (agent A,
# patched by section 4), absent, and corrupt. Goal 50 ms, absolute: logins
# wait for it. Baseline: a shell starting /bin/true, the floor of any snippet.
motd=$BUILD/test-motd/91-livepatch-agent
[[ -x $motd ]] || die "no MOTD snippet at $motd (built with the tests)"
sh_ms=$(T --runs 31 -- /bin/sh -c /bin/true)
mkdir -p "$W/motd-absent" "$W/motd-corrupt"
"$BIN/livepatch-agent" --root-dir "$W/motd-absent" config remote-server=https://127.0.0.1:9 > /dev/null
cp -a "$W/agent/." "$W/motd-corrupt/"
state=$(find "$W/motd-corrupt" -type f -name state | head -1)
[[ -n $state ]] || die "agent A has no state file to corrupt"
printf 'LPSTATE 1 garbage\n{' > "$state"
for case in present:"$W/agent" absent:"$W/motd-absent" corrupt:"$W/motd-corrupt"; do
  m_ms=$(LIVEPATCH_AGENT_ROOT=${case#*:} T --runs 31 -- "$motd")
  row "MOTD snippet, state ${case%%:*}, median of 31" "$m_ms ms" "sh -c true: $sh_ms ms" "$(ratio "$m_ms" "$sh_ms")" "< 50 ms"
done

echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); date: $(date -u +%F)"
echo
echo "| measurement | agent | baseline (same run) | ratio | goal |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "## The agent with a pinned TUF trust root (tests/bench/tuf-bench.sh)"
"$SRC/tests/bench/tuf-bench.sh" "$BUILD"

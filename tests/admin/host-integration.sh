#!/usr/bin/env bash
# The agent and the host's tooling, against the reference server: plugins
# JSON, the CVE view, reboot-required, Prometheus metrics (promtool), and
# structured journald fields read back with journalctl from a real
# systemd-journald started in a private mount namespace (the host's journal
# is never touched).
set -euo pipefail
if [[ -z ${LP_ADMIN_NS:-} ]]; then
  exec unshare --mount --propagation private env LP_ADMIN_NS=1 "$0" "$@"
fi
source "$(dirname "$0")/../integration/lib.sh"
JOURNALD_PID=
trap 'kill $JOURNALD_PID 2>/dev/null || true; cleanup' EXIT
for d in /run/systemd /run/log /var/log/journal; do mkdir -p "$d" && mount -t tmpfs tmpfs "$d"; done
mkdir -p /run/systemd/journal /run/log/journal
/lib/systemd/systemd-journald > "$WORK/journald.log" 2>&1 &
JOURNALD_PID=$!
for _ in $(seq 100); do [[ -S /run/systemd/journal/socket ]] && break; sleep 0.05; done
[[ -S /run/systemd/journal/socket ]] || { cat "$WORK/journald.log"; fail "journald did not start"; }
journal() { journalctl -D /run/log/journal --no-pager "$@"; }
promcheck() { promtool check metrics < "$1" || fail "promtool check metrics refused $1: $(cat "$1")"; }

export LIVEPATCH_AGENT_HOST_ROOT=$WORK/host
mkdir -p "$WORK/host/etc" "$WORK/host/run" "$WORK/metrics"
cp /etc/machine-id "$WORK/host/etc/machine-id"
catalogue 1 --supported kernel-upgrade-required
start_server
configure_agent
agent config metrics-dir="$WORK/metrics" > /dev/null

step "plugins --format json is described by schemas/plugins.schema.json"
agent plugins --format json > "$WORK/plugins.json"
$PY -m jsonschema -i "$WORK/plugins.json" "$SRC/schemas/plugins.schema.json" || fail "plugins JSON invalid"
json_get '" ".join(p["Name"] for p in d["Plugins"])' < "$WORK/plugins.json" | grep -qw loader-simulated || fail "plugins JSON"
set +e; out=$(agent plugins --format yaml 2>&1); rc=$?; set -e
[[ $rc == 2 && $out == *"expected humane|json"* ]] || fail "plugins --format yaml: $rc $out"

step "enable: patch 1 applied; the server requires a kernel upgrade -> /run/reboot-required"
token=$(cat "$WORK/demo/auth-token")
agent enable - <<< "$token" > /dev/null
assert_state applied 1
[[ $(cat "$WORK/host/run/reboot-required") == "*** System restart required ***" ]] || fail "reboot-required not written"
[[ $(grep -cx livepatch-agent "$WORK/host/run/reboot-required.pkgs") == 1 ]] || fail "reboot-required.pkgs"
[[ $(stat -c %a "$WORK/host/run/reboot-required") == 644 ]] || fail "reboot-required mode"
grep -q "live patch 1 applied" <<< "$(journal MESSAGE_ID=0c631205989647a6b6065d5f4d56e1c1 LIVEPATCH_PATCH_VERSION=1 -o cat)" ||
  fail "CLI enable did not log the applied event: $(journal -o cat)"

step "status --cves / --cve"
agent status --cves > "$WORK/cves.out"
grep -q "^cve-2024-1086 *yes *nf_tables" "$WORK/cves.out" || fail "cves: $(cat "$WORK/cves.out")"
agent status --cve CVE-2024-1086 > /dev/null || fail "--cve patched must exit 0"
set +e; agent status --cve CVE-2099-0001 > /dev/null; rc=$?; set -e
[[ $rc == 1 ]] || fail "--cve not patched must exit 1, got $rc"
set +e; out=$(agent status --cve 'x$(id)' 2>&1); rc=$?; set -e
[[ $rc == 2 && $out == *"expected an id like CVE-2024-1086"* ]] || fail "--cve malformed: $rc $out"

step "status --format prometheus passes promtool"
agent status --format prometheus > "$WORK/status.prom"
promcheck "$WORK/status.prom"
grep -qx 'livepatch_agent_patch_version_info{version="1"} 1' "$WORK/status.prom" || fail "version_info: $(cat "$WORK/status.prom")"
grep -qx 'livepatch_agent_kernel_upgrade_required 1' "$WORK/status.prom" || fail "upgrade gauge"

step "daemon: metrics file after each check, failures counted, events in the journal"
# The daemon checks once at start (check-interval=0: no periodic checks after
# that); patch 2 is offered with a wrong checksum, so that check fails.
catalogue 1 2
fault wrong-checksum
INVOCATION_ID=lp-admin-test "$BIN/livepatch-agent" --root-dir "$ROOT" daemon 2> "$WORK/daemon.err" &
DAEMON_PID=$!
METRICS=$WORK/metrics/livepatch-agent.prom
for _ in $(seq 200); do grep -qx 'livepatch_agent_check_failures_total 1' "$METRICS" 2> /dev/null && break; sleep 0.05; done
grep -qx 'livepatch_agent_check_failures_total 1' "$METRICS" || fail "the daemon's failed first check is not in $METRICS: $(cat "$METRICS" "$WORK/daemon.err")"
[[ $(stat -c %a "$METRICS") == 644 ]] || fail "metrics file mode"
promcheck "$METRICS"
set +e; out=$(agent refresh 2>&1); rc=$?; set -e
[[ $rc == 6 ]] || fail "refresh with a wrong checksum: $rc $out"
grep -qx 'livepatch_agent_check_failures_total 2' "$METRICS" || fail "refresh failure not counted: $(cat "$METRICS")"
grep -qx 'livepatch_agent_patch_version_info{version="1"} 1' "$METRICS" || fail "the kept patch 1 is not in the metrics"
journal LIVEPATCH_ERROR_CODE=checksum-mismatch -o json > "$WORK/refused.json"
$PY - "$WORK/refused.json" "$DAEMON_PID" <<'PY' || fail "refusal event: $(cat "$WORK/refused.json")"
import json, sys
entries = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
daemon = [e for e in entries if e.get("_PID") == sys.argv[2]]
assert len(daemon) == 2, entries  # the first check and the refresh
e = daemon[-1]
assert e["MESSAGE_ID"] == "1d2d06f985c148d3a85c67a9c6f43057", e
assert e["SYSLOG_IDENTIFIER"] == "livepatch-agent" and e["PRIORITY"] == "4", e
assert e["MESSAGE"].startswith("patch refused: "), e
PY

fault none
agent refresh > /dev/null
assert_state applied 2
grep -qx 'livepatch_agent_patch_version_info{version="2"} 1' "$WORK/metrics/livepatch-agent.prom" || fail "metrics not updated"
grep -q "live patch 2 applied" <<< "$(journal MESSAGE_ID=0c631205989647a6b6065d5f4d56e1c1 LIVEPATCH_PATCH_VERSION=2 _PID="$DAEMON_PID" -o cat)" ||
  fail "daemon did not log the applied event"
kill "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null || true; DAEMON_PID=

step "disable logs the revert; no secret reaches the journal"
agent disable > /dev/null
grep -q "reverted" <<< "$(journal MESSAGE_ID=9e759210d214489a8eb6917c67026cb1 LIVEPATCH_PATCH_VERSION=2 -o cat)" || fail "revert event"
machine_token=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1])).get("machine-token",""))' "$WORK/rec/"*register*response*.json 2>/dev/null | head -1 || true)
journal -o export > "$WORK/journal.export"
! grep -aqF "$token" "$WORK/journal.export" || fail "the auth token reached the journal"
[[ -z $machine_token ]] || ! grep -aqF "$machine_token" "$WORK/journal.export" || fail "the machine token reached the journal"
echo "host-integration: 1 passed, 0 failed"

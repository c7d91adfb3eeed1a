#!/usr/bin/env bash
# Policy: run modes, cutoff-date / patch-delay (sent to the server and
# enforced locally), and the crash-safety guard.
source "$(dirname "$0")/lib.sh"
catalogue 1
start_server
configure_agent
token=$(cat "$WORK/demo/auth-token")
edit_state() { # edit_state 'python statements on d'
  $PY - "$ROOT/state/state" "$1" <<'PYEOF'
import hashlib, json, sys
path, code = sys.argv[1], sys.argv[2]
d = json.loads(open(path).read().split("\n", 1)[1])
exec(code)
payload = json.dumps(d).encode()
open(path, "wb").write(b"LPSTATE 1 %s %d\n" % (hashlib.sha256(payload).hexdigest().encode(), len(payload)) + payload)
PYEOF
}

step "run-mode stop: nothing is checked or applied"
agent config run-mode=stop > /dev/null
agent enable "$token" | grep -q 'run-mode is "stop"' || fail "stop mode"
[[ ! -e $SIM/proc/cmdline ]] || lacks "live patched" "$SIM/proc/cmdline"   # nothing applied in stop mode

step "run-mode no-apply: checks, reports the available patch, applies nothing"
agent config run-mode=no-apply > /dev/null
agent refresh | grep -q 'patch 1 is available, not applied' || fail "no-apply"
agent status --format json --verbose | grep -q '"Available-Version": "1"' || fail "available version not in status"
lacks "live patched" "$SIM/proc/cmdline"   # nothing applied in no-apply mode

step "patch-delay and cutoff-date are enforced locally and sent to the server"
agent config run-mode=normal patch-delay=1000w > /dev/null
agent refresh | grep -q "newer than patch-delay" || fail "patch-delay not enforced"
agent config patch-delay= cutoff-date=2025-06-01T00:00:00Z > /dev/null
agent refresh > "$WORK/cut.out" 2>&1 || { cat "$WORK/cut.out"; fail "cutoff refresh rc"; }; grep -q "published after cutoff-date" "$WORK/cut.out" || fail "cutoff-date not enforced"
grep -l '"cutoff-date":"2025-06-01T00:00:00Z"' "$WORK/rec/"*updates-request.json > /dev/null || fail "cutoff-date not reported"
grep -l '"patch-delay":"1000w"' "$WORK/rec/"*updates-request.json > /dev/null || fail "patch-delay not reported"
agent config cutoff-date= > /dev/null
agent refresh > /dev/null
assert_state applied 1

step "run-mode no-refresh: server down, cached patch re-applied without contacting it"
stop_server
rm -rf "$SIM/sys/kernel/livepatch/"* "$SIM/sys/module/"*
cp "$SIM/state/cmdline.orig" "$SIM/proc/cmdline"; rm -f "$SIM/state/cmdline.orig"
agent config run-mode=no-refresh > /dev/null
agent refresh | grep -q "cached patches re-applied" || fail "no-refresh"
grep -q "live patched" "$SIM/proc/cmdline" || fail "not re-applied from cache"
agent config run-mode= > /dev/null

step "crash guard: a reboot during a load stops automatic loading"
rm -rf "$SIM/sys/kernel/livepatch/"* "$SIM/sys/module/"*
cp "$SIM/state/cmdline.orig" "$SIM/proc/cmdline"; rm -f "$SIM/state/cmdline.orig"
old_boot=$(cat "$SIM/proc/sys/kernel/random/boot_id")
edit_state "d['loading-patch'] = 'lp_demo 1'; d['loading-boot-id'] = '$old_boot'; d['loading-at'] = '2026-11-24T00:00:00Z'"
cat /proc/sys/kernel/random/uuid > "$SIM/proc/sys/kernel/random/boot_id"   # the "crash" reboot
start_daemon "$WORK/daemon.log"
for _ in $(seq 50); do agent status 2>/dev/null | grep -q "crash guard: set" && break; sleep 0.1; done
agent status | grep -q "crash guard: set" || { cat "$WORK/daemon.log"; fail "crash guard not set"; }
lacks "live patched" "$SIM/proc/cmdline"   # not loaded despite the crash guard
SERVER_PORT=$PORT start_server   # a refresh checks in first: with the server down it would be exit 5
set +e; out=$(agent refresh 2>&1); rc=$?; set -e
[[ $rc == 7 && $out == *"clear-lock"* ]] || fail "refresh through the daemon with the guard set: expected exit 7, rc=$rc $out"
lacks "live patched" "$SIM/proc/cmdline"
stop_server
stop_daemon
agent status | grep -q "clear-lock" || fail "status does not say how to clear the guard"
agent clear-lock | grep -q "crash guard cleared" || fail "clear-lock"
start_daemon "$WORK/daemon2.log"
for _ in $(seq 50); do grep -q "live patched" "$SIM/proc/cmdline" && break; sleep 0.1; done
grep -q "live patched" "$SIM/proc/cmdline" || { cat "$WORK/daemon2.log"; fail "not re-applied after clear-lock"; }
stop_daemon
step "SIGTERM in the middle of a slow cycle: clean exit, state intact"
SERVER_PORT=$PORT start_server --fault slow=3000   # the agent is registered with this port
start_daemon "$WORK/daemon3.log"
sleep 1   # the start-up check is now waiting on the slow server
stop_daemon
agent status > /dev/null || fail "state unreadable after SIGTERM"
stop_server

step "SIGTERM while a worker waits out a Retry-After: the wait is cut short"
SERVER_PORT=$PORT start_server --fault retry-after=120
start_daemon "$WORK/daemon4.log"
for _ in $(seq 100); do grep -q "retrying in 120000 ms" "$WORK/daemon4.log" && break; sleep 0.1; done
grep -q "retrying in 120000 ms" "$WORK/daemon4.log" || { cat "$WORK/daemon4.log"; fail "the check never waited for Retry-After"; }
kill -TERM $DAEMON_PID
# Far below the 120 s wait: a worker that only noticed the cancel when its
# sleep ended would still be waiting when this gives up.
for _ in $(seq 150); do kill -0 $DAEMON_PID 2>/dev/null || break; sleep 0.1; done
kill -0 $DAEMON_PID 2>/dev/null && { cat "$WORK/daemon4.log"; fail "daemon still waiting 15 s after SIGTERM"; }
set +e; wait $DAEMON_PID; rc=$?; set -e
DAEMON_PID=
[[ $rc == 0 ]] || { cat "$WORK/daemon4.log"; fail "daemon exit code $rc after SIGTERM"; }
echo "policy: 1 passed, 0 failed"

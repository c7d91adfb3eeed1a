#!/usr/bin/env bash
# Issue 20.3: SIGTERM stops the daemon within 2 s from any phase but a
# kernel transition, even while a request waits on a silent server; a second
# signal is honoured while a transition holds the first one up; systemd
# waits longer than the transition bound before it SIGKILLs.
source "$(dirname "$0")/lib.sh"

wait_daemon() { # wait_daemon SINCE_NS: wait for the daemon; STOP_MS = ms since SINCE_NS
  local since=$1 rc=0
  wait "$DAEMON_PID" || rc=$?
  STOP_MS=$(( ($(date +%s%N) - since) / 1000000 ))
  DAEMON_PID=
  (( rc == 0 )) || { cat "$WORK/daemon.log"; fail "daemon exit code $rc"; }
}
start_daemon() {
  "$BIN/livepatch-agent" --root-dir "$ROOT" daemon > "$WORK/daemon.log" 2>&1 &
  DAEMON_PID=$!
}

step "the unit gives a kernel transition time to finish before systemd's SIGKILL"
stop_sec=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s$/\1/p' "$SRC/core/systemd/livepatch-agent.service")
# The restore of a reverted version is not cancelled: at most two
# transitions of transition-timeout (default 60 s) and 10 s of module removal.
[[ -n $stop_sec ]] && (( stop_sec > 2 * 60 + 10 )) || fail "TimeoutStopSec=${stop_sec:-unset} is not above the transition bound"

catalogue 1
start_server
configure_agent
agent enable - < "$WORK/demo/auth-token" > /dev/null

step "SIGTERM while a check waits on a server that answers after 20 s"
catalogue 1 2
fault slow=20000
start_daemon
sleep 2  # the start job is done; the scheduled check waits on the server
[[ -n $(pgrep -P "$DAEMON_PID") ]] || { cat "$WORK/daemon.log"; fail "no worker is running"; }
t0=$(date +%s%N)
kill -TERM "$DAEMON_PID"
wait_daemon "$t0"
echo "daemon stopped ${STOP_MS} ms after SIGTERM (server wait of 20 s)"
(( STOP_MS < 2500 )) || fail "the daemon took ${STOP_MS} ms to stop"
grep -q "daemon stopped" "$WORK/daemon.log" || { cat "$WORK/daemon.log"; fail "no clean stop"; }
fault none

step "a second SIGTERM is honoured while a kernel transition holds the first"
agent refresh > /dev/null   # patch 2 (same livepatch name as 1)
catalogue 1 2 3
echo 4000 > "$SIM/control/transition-delay-ms"
start_daemon
for _ in $(seq 200); do [[ $(cat "$SIM/sys/kernel/livepatch/lp_demo/enabled" 2>/dev/null) == 0 ]] && break; sleep 0.05; done
[[ $(cat "$SIM/sys/kernel/livepatch/lp_demo/enabled" 2>/dev/null) == 0 ]] || { cat "$WORK/daemon.log"; fail "version 2 was not being reverted"; }
kill -TERM "$DAEMON_PID"   # cancels the revert; version 2 is put back, which is not cancelled
sleep 2
kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon stopped during the restore: the second signal was not exercised"
t0=$(date +%s%N)
kill -TERM "$DAEMON_PID"
wait_daemon "$t0"
echo "daemon stopped ${STOP_MS} ms after the second SIGTERM"
(( STOP_MS < 2000 )) || fail "the second signal was not honoured (${STOP_MS} ms)"

step "what the stop left converges: status equals the kernel, refresh applies 3"
set +e; agent status > "$WORK/status.out" 2>&1; rc=$?; set -e
[[ $rc == 0 ]] || fail "status after the stop: rc=$rc $(cat "$WORK/status.out")"
echo 50 > "$SIM/control/transition-delay-ms"
agent refresh > /dev/null
[[ $(status_json | json_get 'd["Status"][0]["Livepatch"]["State"]') == applied ]] || fail "not applied after the stop"
tar -xOf "$WORK/demo/server/patches/lp_demo-3.tar.xz" lp_demo.ko | cmp -s - "$SIM/modules/lp_demo.ko" ||
  fail "the kernel does not hold version 3"
echo "daemon-stop: 1 passed, 0 failed"

#!/usr/bin/env bash
# The daemon outlives its workers: with an engine that crashes on every job
# (as a parser bug would), the daemon logs each crash, keeps serving the
# control socket, answers `refresh` with the reason, and stops cleanly.
# The real front-end runs from a copy of the install layout whose
# lib/livepatch-agent/livepatch-agent-engine is the crashing stand-in.
set -euo pipefail
BUILD=$1
W=$(mktemp -d /tmp/lp-wc.XXXXXX)
DAEMON_PID=
trap '[[ -n $DAEMON_PID ]] && kill -9 $DAEMON_PID 2>/dev/null; rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; [[ -f $W/daemon.log ]] && cat "$W/daemon.log" >&2; exit 1; }

P=$W/prefix
mkdir -p "$P/bin" "$P/lib/livepatch-agent"
chmod 755 "$W" "$P" "$P/bin" "$P/lib" "$P/lib/livepatch-agent"
cp "$BUILD/bin/livepatch-agent" "$P/bin/"
cat > "$P/lib/livepatch-agent/livepatch-agent-engine" <<'SH'
#!/bin/sh
echo "progress check 0 0"
kill -SEGV $$
SH
chmod 755 "$P/lib/livepatch-agent/livepatch-agent-engine"
# Config through the real build (a config change runs in the engine binary).
"$BUILD/bin/livepatch-agent" --root-dir "$W/root" config check-interval=0 > /dev/null
a() { "$P/bin/livepatch-agent" --root-dir "$W/root" "$@"; }

"$P/bin/livepatch-agent" --root-dir "$W/root" daemon > "$W/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 100); do grep -q "check failed" "$W/daemon.log" && break; sleep 0.05; done
grep -q "re-applying cached patches: the engine worker (start) was killed by signal 11" "$W/daemon.log" || fail "start crash not logged"
grep -q "check failed: the engine worker (scheduled) was killed by signal 11; nothing was recorded" "$W/daemon.log" ||
  fail "check crash not logged"
kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon died with its worker"

set +e; out=$(a refresh 2>&1); rc=$?; set -e
[[ $rc == 1 && $out == *"error: the engine worker (refresh) was killed by signal 11"* ]] || fail "refresh via daemon: rc=$rc $out"
kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon died after a refresh worker crashed"

kill -TERM "$DAEMON_PID"
set +e; wait "$DAEMON_PID"; rc=$?; set -e
DAEMON_PID=
[[ $rc == 0 ]] || fail "daemon exit code $rc after SIGTERM"
grep -q "daemon stopped" "$W/daemon.log" || fail "no clean stop"

# As root the engine binary must be root-only, like a plugin.
if [[ $(id -u) == 0 ]]; then
  chmod 775 "$P/lib/livepatch-agent/livepatch-agent-engine"
  set +e; out=$(a enable 00000000-0000-4000-8000-000000000000 2>&1); rc=$?; set -e
  [[ $rc == 3 && $out == *"refusing to run $P/lib/livepatch-agent/livepatch-agent-engine as root: the binary is group/world-writable (mode 0775)"* ]] ||
    fail "writable engine binary: rc=$rc $out"
fi
echo "worker-crash: 1 passed, 0 failed"

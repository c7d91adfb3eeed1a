#!/usr/bin/env bash
# What an unprivileged user meets, and exit codes 3 and 4 at the CLI:
# every root command refuses with exit 3 before touching anything,
# `status --show-secrets` refuses, the control socket refuses a non-root peer
# even when the socket's file mode would let it connect, and a daemon that
# took a `refresh` and died without answering is exit 4 (while with no
# daemon listening at all, `refresh` runs the cycle itself).
source "$(dirname "$0")/lib.sh"
[[ $(id -u) == 0 ]] || fail "needs root: it drops to uid 65534 to test what an unprivileged user meets"
# as_nobody CMD...: uid/gid 65534, no groups, and no LIVEPATCH_AGENT_ROOT
# (a test root counts as privileged, so it must not leak in).
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- env -u LIVEPATCH_AGENT_ROOT "$@"; }
recordings() { find "$WORK/rec" -type f | wc -l; }
catalogue 1
start_server
configure_agent
agent enable - < "$WORK/demo/auth-token" > /dev/null
assert_state applied 1
secret=$($PY -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().split("\n", 1)[1])["secret"])' "$ROOT/state/credential")
[[ -n $secret ]] || fail "no credential to look for"

step "root commands as uid 65534: exit 3, nothing touched"
system_state_before=$(ls -d /var/lib/livepatch-agent /run/livepatch-agent 2> /dev/null || true)
for cmd in "refresh" "enable 00000000-0000-4000-8000-000000000000" "disable" "clear-lock" "daemon" "config log-level=debug"; do
  set +e; out=$(as_nobody "$BIN/livepatch-agent" $cmd 2>&1); rc=$?; set -e
  [[ $rc == 3 && $out == *"must be run as root [permission]"* ]] || fail "$cmd as uid 65534: expected exit 3, rc=$rc $out"
done
[[ $(ls -d /var/lib/livepatch-agent /run/livepatch-agent 2> /dev/null || true) == "$system_state_before" ]] ||
  fail "an unprivileged command created system state directories"

step "status --show-secrets as uid 65534: exit 3, no secret"
set +e; out=$(as_nobody "$BIN/livepatch-agent" status --show-secrets --format json 2>&1); rc=$?; set -e
[[ $rc == 3 && $out == *"--show-secrets requires root"* && $out != *"$secret"* ]] || fail "--show-secrets as uid 65534: rc=$rc $out"
out=$(agent status --show-secrets --format json)   # root sees it: the check above can fail
[[ $out == *"$secret"* ]] || fail "root does not see the credential with --show-secrets"

step "control socket: a non-root peer is refused even if the socket mode lets it connect"
agent config check-interval=60 first-check-window=1440 > /dev/null   # the daemon sends nothing on its own
start_daemon "$WORK/daemon.log"
# After its start-up job (whose worker sets the state directories back to
# 0700) the daemon logs when its first check is due.
for _ in $(seq 200); do grep -q "first check in" "$WORK/daemon.log" && break; sleep 0.05; done
grep -q "first check in" "$WORK/daemon.log" || { cat "$WORK/daemon.log"; fail "the daemon did not finish its start-up job"; }
[[ -S $ROOT/run/agent.sock ]] || { cat "$WORK/daemon.log"; fail "no control socket"; }
# Open the way for uid 65534 (the front-end reads config.yaml for its log
# level first): only the daemon's own peer-uid check is left to refuse.
chmod 711 "$WORK" "$ROOT" "$ROOT/run" "$ROOT/state"
chmod 644 "$ROOT/state/config.yaml"
chmod 666 "$ROOT/run/agent.sock"
before=$(recordings)
set +e; out=$(as_nobody "$BIN/livepatch-agent" --root-dir "$ROOT" refresh 2>&1); rc=$?; set -e
[[ $rc == 3 && $out == *"permission denied: only root may control the agent"* ]] || fail "non-root peer: rc=$rc $out"
[[ $(recordings) == "$before" ]] || fail "the daemon ran a refresh for a non-root peer"
agent refresh > /dev/null
(( $(recordings) > before )) || fail "a root refresh through the daemon reached no server (so the check above proves nothing)"

step "the daemon takes a refresh and dies without answering: exit 4"
fault slow=4000
agent refresh > "$WORK/refresh4.out" 2>&1 &
refresh_pid=$!
for _ in $(seq 100); do pgrep -P "$DAEMON_PID" -f "__worker refresh" > /dev/null && break; sleep 0.05; done
worker=$(pgrep -P "$DAEMON_PID" -f "__worker refresh") || fail "the daemon never started the refresh worker"
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2> /dev/null || true   # killed on purpose: its status is 137 by construction
DAEMON_PID=
set +e; wait "$refresh_pid"; rc=$?; set -e
out=$(cat "$WORK/refresh4.out")
[[ $rc == 4 && $out == *"closed the connection without an answer"* ]] || fail "refresh through a dying daemon: rc=$rc $out"
for _ in $(seq 200); do kill -0 "$worker" 2> /dev/null || break; sleep 0.05; done   # the orphaned worker finishes
fault none

step "a stale socket with no daemon behind it: refresh runs the cycle itself"
[[ -S $ROOT/run/agent.sock ]] || fail "expected the killed daemon's socket to be left behind"
agent refresh > /dev/null || fail "refresh with no daemon listening did not run the cycle itself"
no_sanitizer_report "$WORK/daemon.log"
echo "privileges: 1 passed, 0 failed"

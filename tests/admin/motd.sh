#!/usr/bin/env bash
# The update-motd.d snippet reads only the local state: with the daemon
# stopped and the state absent, present or corrupt it prints at most one
# line, exits 0 and returns at once. The issue's budget is 50 ms; the
# assertion is a generous hang guard (1 s) and the measured times are printed.
set -euo pipefail
BUILD=$1
SNIPPET=$BUILD/test-motd/91-livepatch-agent
W=$(mktemp -d /tmp/lp-motd.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export LIVEPATCH_AGENT_ROOT=$W/root
[[ -x $SNIPPET ]] || fail "snippet not built at $SNIPPET"
grep -q "^agent=$BUILD/bin/livepatch-agent$" "$SNIPPET" || fail "test snippet does not run the build tree's agent"

# run_motd LABEL: runs the snippet 5 times; OUT = its output, MS = slowest run.
run_motd() {
  MS=0
  for _ in 1 2 3 4 5; do
    local start end rc
    start=$(date +%s%N)
    set +e; OUT=$("$SNIPPET"); rc=$?; set -e
    end=$(date +%s%N)
    [[ $rc == 0 ]] || fail "$1: snippet exited $rc"
    (( (end - start) / 1000000 > MS )) && MS=$(( (end - start) / 1000000 ))
  done
  echo "motd $1: slowest of 5 runs ${MS} ms (budget 50 ms; a bare sh + true on this machine now: ${BASE} ms)"
  (( MS < 1000 )) || fail "$1: the snippet took ${MS} ms: it must never wait"
  [[ $(printf '%s' "$OUT" | wc -l) -le 1 ]] || fail "$1: more than one line: $OUT"
}

# Baseline of the same run: what starting a shell snippet costs on this
# machine right now (a loaded CI box can make any process start slow).
BASE=0
for _ in 1 2 3 4 5; do
  start=$(date +%s%N); /bin/sh -c /bin/true; end=$(date +%s%N)
  (( (end - start) / 1000000 > BASE )) && BASE=$(( (end - start) / 1000000 ))
done

# An unroutable server and no daemon: neither may be waited for.
"$BUILD/bin/livepatch-agent" config remote-server=https://192.0.2.1:9 > /dev/null
run_motd "state absent"
[[ -z $OUT ]] || fail "never enabled: expected no notice, got: $OUT"

write_state() { /usr/bin/python3 - "$W/root/state/state" "$1" <<'PY'
import hashlib, sys
path, supported = sys.argv[1], sys.argv[2]
payload = ('{"format":1,"enabled":true,"supported":"%s","upgrade-required-date":"2026-12-31T00:00:00Z",'
           '"check-state":"checked","patch-state":"applied","applied":{"kernel":"k","name":"lp_demo","version":"3","tarball-sha256":"","cache-path":"","fixes":[]},'
           '"fixes":[{"name":"cve-2024-1086","description":"nf_tables","bug":"","patched":true}]}' % supported).encode()
open(path, "wb").write(b"LPSTATE 1 %s %d\n" % (hashlib.sha256(payload).hexdigest().encode(), len(payload)) + payload)
PY
}
write_state supported
"$BUILD/bin/livepatch-agent" status --format json > /dev/null || fail "crafted state not accepted by status"
run_motd "state present"
[[ $OUT == "Live patching is active: patch 3 applied, 1 fixes." ]] || fail "present: $OUT"
write_state kernel-upgrade-required
run_motd "upgrade required"
[[ $OUT == *"Kernel upgrade required by 2026-12-31T00:00:00Z." ]] || fail "upgrade: $OUT"

printf 'LPSTATE 1 0000 5\nhello' > "$W/root/state/state"
run_motd "state corrupt"
[[ $OUT == *"state file is unreadable"* ]] || fail "corrupt: $OUT"
[[ -f $W/root/state/state ]] || fail "corrupt state removed"
echo "motd: 1 passed, 0 failed"

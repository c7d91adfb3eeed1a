#!/usr/bin/env bash
# The CLI as a user meets it: exit codes, exact messages, nothing lost on
# bad input, status bounded and offline.
set -euo pipefail
BIN=$1/bin
SRC=$2
W=$(mktemp -d /tmp/lp-cli.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
a() { "$BIN/livepatch-agent" --root-dir "$W/root" "$@"; }
run() { set +e; OUT=$(a "$@" 2>&1); RC=$?; set -e; }

# The front-end stays light: `status` and the idle daemon must not load the
# TLS stack, libarchive or Poco Net (tests/bench/RESULTS.md); those belong to
# the engine binary it execs for enable/disable/refresh/config changes;
# libsystemd (and its six dependencies) is loaded only when used; PocoUtil
# (with PocoXML and expat) is not needed: getopt_long parses the options.
needed=$(readelf -d "$BIN/livepatch-agent" | awk '/NEEDED/ {print $NF}')
for heavy in libcrypto libssl libarchive libPocoNet libPocoCrypto libPocoUtil libsystemd; do
  [[ $needed != *"[$heavy"* ]] || fail "livepatch-agent links $heavy; keep it in livepatch-agent-engine"
done
engine=$BIN/../lib/livepatch-agent/livepatch-agent-engine
[[ -x $engine ]] || fail "engine binary missing at $engine"
[[ $(readelf -d "$engine" | awk '/NEEDED/ {print $NF}') == *"[libcrypto"* ]] || fail "engine does not link libcrypto?"

run version
[[ $RC == 0 && $OUT == "livepatch-agent "* ]] || fail "version: $RC $OUT"
run --help
[[ $RC == 0 && $OUT == *"Exit codes"* ]] || fail "--help: $RC"
run frobnicate
[[ $RC == 2 && $OUT == *'unknown command "frobnicate"'* ]] || fail "unknown command: $RC $OUT"
run __worker scheduled   # the daemon's worker jobs exist only in the engine binary
[[ $RC == 2 && $OUT == *'unknown command "__worker"'* ]] || fail "__worker reachable from the front-end: $RC $OUT"
run status --format xml
[[ $RC == 2 && $OUT == *"expected humane|json|yaml"* ]] || fail "bad format: $RC $OUT"

# Never enabled: exit 1, a hint, valid JSON, and fast (no network, no daemon).
run status
[[ $RC == 1 && $OUT == *"livepatch-agent enable <token>"* ]] || fail "status not enabled: $RC $OUT"
set +e; a status --format json > "$W/s.json" 2>/dev/null; rc=$?; set -e
[[ $rc == 1 ]] || fail "status json rc $rc"
/usr/bin/python3 -m jsonschema -i "$W/s.json" "$SRC/schemas/status.schema.json" || fail "never-enabled JSON invalid"
set +e; a status --format yaml > "$W/s.yaml" 2>/dev/null; set -e
/usr/bin/python3 -c 'import sys,yaml; d=yaml.safe_load(open(sys.argv[1])); assert d["Status"]==[], d' "$W/s.yaml" || fail "yaml"
a config remote-server=https://192.0.2.1:9 > /dev/null   # unroutable: must not matter
start=$(date +%s%N); run status; end=$(date +%s%N)
[[ $RC == 1 ]] || fail "status (not enabled) with an unroutable server: $RC $OUT"
(( (end - start) < 2000000000 )) || fail "status took $(( (end - start) / 1000000 )) ms"
run kernel-upgrade-required
[[ $RC == 0 ]] || fail "kernel-upgrade-required when never enabled: $RC"

# config: exact messages, all-or-nothing, file unchanged on error.
a config check-interval=30 log-level=debug > /dev/null
before=$(cat "$W/root/state/config.yaml")
run config check-interval=abc
[[ $RC == 2 && $OUT == *'check-interval: expected minutes >= 0, got "abc"'* ]] || fail "config msg: $OUT"
run config log-level=warning check-interval=-5
[[ $RC == 2 ]] || fail "partial config accepted"
[[ "$(cat "$W/root/state/config.yaml")" == "$before" ]] || fail "invalid config changed the file"
run config nope=1
[[ $RC == 2 && $OUT == *'unknown config key "nope"'* ]] || fail "unknown key: $OUT"
a config log-level= > /dev/null
a config | grep -qx "log-level: info" || fail "key= did not clear"
a config | grep -qx "check-interval: 30" || fail "config print"
[[ $(stat -c %a "$W/root/state/config.yaml") == 600 ]] || fail "config mode"
a config https-proxy=http://user:pa55word@proxy.example:3128 > /dev/null
run config
[[ $RC == 0 && $OUT == *"https-proxy: http://"* && $OUT != *"pa55word"* ]] || fail "proxy password printed by config: $RC $OUT"
run config ca-certs=@stdin <<< "not a certificate"
[[ $RC == 2 && $OUT == *"PEM"* ]] || fail "ca-certs stdin: $OUT"

# Corrupt state: exit 8, names the file, leaves it in place.
printf 'LPSTATE 1 0000 5\nhello' > "$W/root/state/state"
run status
[[ $RC == 8 && $OUT == *"$W/root/state/state"* && $OUT == *corrupt* ]] || fail "corrupt state: $RC $OUT"
[[ -f "$W/root/state/state" ]] || fail "corrupt state removed"

# kernel-upgrade-required from a crafted state document.
write_state() { /usr/bin/python3 - "$W/root/state/state" "$1" <<'PY'
import hashlib, sys
path, supported = sys.argv[1], sys.argv[2]
payload = ('{"format":1,"enabled":true,"supported":"%s","upgrade-required-date":"2026-12-31T00:00:00Z",'
           '"check-state":"checked","patch-state":"applied","fixes":[]}' % supported).encode()
open(path, "wb").write(b"LPSTATE 1 %s %d\n" % (hashlib.sha256(payload).hexdigest().encode(), len(payload)) + payload)
PY
}
write_state kernel-upgrade-required
run kernel-upgrade-required
[[ $RC == 1 && $OUT == *"kernel upgrade is required"* && $OUT == *2026-12-31* ]] || fail "kur: $RC $OUT"
write_state supported
run kernel-upgrade-required
[[ $RC == 0 ]] || fail "kur supported: $RC"
run status --format json
[[ $RC == 0 ]] || fail "status enabled: $RC"

# The crash guard is part of the plain JSON, not only of --verbose (issue 20.5).
write_state supported
/usr/bin/python3 - "$W/root/state/state" <<'PY'
import hashlib, re, sys
path = sys.argv[1]
payload = open(path, "rb").read().split(b"\n", 1)[1].replace(b'"fixes":[]', b'"fixes":[],"crash-guard":true')
open(path, "wb").write(b"LPSTATE 1 %s %d\n" % (hashlib.sha256(payload).hexdigest().encode(), len(payload)) + payload)
PY
[[ $(a status --format json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["Crash-Guard"])') == True ]] \
  || fail "status --format json hides the crash guard without --verbose"

# --root-dir "" is refused, not read as "the real machine" (issue 20.5).
set +e; OUT=$("$BIN/livepatch-agent" --root-dir "" status 2>&1); RC=$?; set -e
[[ $RC == 2 && $OUT == *"--root-dir: expected a directory, got an empty value"* ]] || fail "empty --root-dir: $RC $OUT"

# As another user, changing the config is a permission error (3), not an
# invalid value (2), even where that user cannot read root's config.
if command -v setpriv > /dev/null; then
  set +e
  OUT=$(LIVEPATCH_AGENT_STATE_DIR="$W/root/state" setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$BIN/livepatch-agent" config log-level=debug 2>&1)
  RC=$?
  set -e
  [[ $RC == 3 && $OUT == *"must be run as root"* ]] || fail "config as non-root: $RC $OUT"
fi

# plugins lists what was built.
run plugins
[[ $OUT == *$'transport-https\ttransport'* && $OUT == *$'verify-module-signature\tverification'* && $OUT == *$'loader-simulated\tloading'* ]] || fail "plugins: $OUT"

# Commands that need arguments / refuse extras.
run enable
[[ $RC == 2 ]] || fail "enable without token"
run disable extra
[[ $RC == 2 ]] || fail "disable extra"
echo "cli: 1 passed, 0 failed"

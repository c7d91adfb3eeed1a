# Shared helpers for the integration scripts (sourced).
set -euo pipefail
BUILD=${1:?build dir}
SRC=${2:?source dir}
BIN=$BUILD/bin
export LIVEPATCH_BIN=$BIN
WORK=$(mktemp -d /tmp/lp-it.XXXXXX)
chmod 700 "$WORK"
SERVER_PID=
DAEMON_PID=
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
# no_sanitizer_report LOG...: the sanitizer pass of CI builds everything with
# ASan + UBSan; a report in the log of a process whose exit status nobody
# waits for (server, daemon, its workers) must still fail the test.
# (stop_server, stop_daemon and this return 1 rather than exit, so cleanup
# can use them too; under `set -e` a plain call still ends the test.)
no_sanitizer_report() {
  local f
  for f; do
    [[ -f $f ]] || continue
    if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer' "$f"; then
      cat "$f" >&2
      echo "FAIL: sanitizer report in $f" >&2
      return 1
    fi
  done
}
# lacks TEXT FILE...: every FILE exists and none contains TEXT. (Never
# `grep -q TEXT FILE && fail`: that passes when FILE is missing.)
lacks() {
  local text=$1 f
  shift
  for f; do
    [[ -f $f ]] || fail "$f is missing, so it cannot be checked for \"$text\""
    if grep -qF -- "$text" "$f"; then fail "\"$text\" found in $f"; fi
  done
}
# A test that passed also needs its server and daemon to stop cleanly (exit
# 0 on SIGTERM) and every log under $WORK to be free of sanitizer reports.
# cleanup [RC]: RC is the test's exit status when a script's own EXIT trap
# ran other commands first (their status would otherwise be taken for it).
cleanup() {
  local rc=${1:-$?}
  trap - EXIT
  if [[ $rc == 0 ]]; then
    if [[ -n $DAEMON_PID ]]; then stop_daemon || rc=1; fi
    if [[ -n $SERVER_PID ]]; then stop_server || rc=1; fi
    no_sanitizer_report "$WORK"/*.log || rc=1
  fi
  [[ -z $SERVER_PID ]] || kill "$SERVER_PID" 2> /dev/null
  [[ -z $DAEMON_PID ]] || kill "$DAEMON_PID" 2> /dev/null
  wait 2> /dev/null
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
PY=/usr/bin/python3
json_get() { # json_get 'expr on d' < json
  $PY -c "import json,sys; d=json.load(sys.stdin); print($1)"
}
start_server() { # start_server [extra args...]; SERVER_PORT=N to come back on the port the agent registered with
  rm -f "$WORK/port"
  "$BIN/livepatch-server" --data-dir "$WORK/demo/server" --listen "127.0.0.1:${SERVER_PORT:-0}" \
    --tls-cert "$WORK/demo/tls/${SERVER_CERT:-server}.pem" --tls-key "$WORK/demo/tls/${SERVER_CERT:-server}.key" \
    --port-file "$WORK/port" --record-dir "$WORK/rec" "$@" > "$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do [[ -s "$WORK/port" ]] && break; sleep 0.05; done
  [[ -s "$WORK/port" ]] || { cat "$WORK/server.log"; fail "server did not start"; }
  PORT=$(cat "$WORK/port")
}
stop_server() { # SIGTERM: the server must exit 0, and its log (rewritten by the next start) be clean
  local rc=0
  kill "$SERVER_PID" 2> /dev/null
  wait "$SERVER_PID" || rc=$?
  SERVER_PID=
  if [[ $rc != 0 ]]; then
    cat "$WORK/server.log" >&2
    echo "FAIL: the server exited with $rc on SIGTERM" >&2
    return 1
  fi
  no_sanitizer_report "$WORK/server.log"
}
start_daemon() { # start_daemon LOG: the daemon in the background, DAEMON_PID set
  DAEMON_LOG=$1
  "$BIN/livepatch-agent" --root-dir "$ROOT" daemon > "$DAEMON_LOG" 2>&1 &
  DAEMON_PID=$!
}
stop_daemon() { # SIGTERM: the daemon must exit 0, log its stop, and have a clean log
  local rc=0
  kill -TERM "$DAEMON_PID" 2> /dev/null
  wait "$DAEMON_PID" || rc=$?
  DAEMON_PID=
  if [[ $rc != 0 ]] || ! grep -q "daemon stopped" "$DAEMON_LOG"; then
    cat "$DAEMON_LOG" >&2
    echo "FAIL: the daemon exited with $rc on SIGTERM, or without logging its stop" >&2
    return 1
  fi
  no_sanitizer_report "$DAEMON_LOG"
}
fault() { # fault NAME[=VALUE]
  $PY - "$PORT" "$1" "$WORK/demo/tls/ca.pem" <<'PYEOF'
import base64, json, ssl, sys, urllib.request
port, fault, ca = sys.argv[1:4]
ctx = ssl.create_default_context(cafile=ca)
req = urllib.request.Request(f"https://127.0.0.1:{port}/admin/faults", data=json.dumps({"fault": fault}).encode(),
                             headers={"Authorization": "Basic " + base64.b64encode(b"admin:admin-demo").decode(),
                                      "Content-Type": "application/json"}, method="POST")
urllib.request.urlopen(req, context=ctx).read()
PYEOF
}
# make_mirror DIR FILE...: a file:// mirror (plugins/transport-file/README.md)
# holding these demo patches; mirror_offer DIR FILE VERSION: what it offers.
make_mirror() {
  local m=$1 f
  shift
  mkdir -p "$m/v1/patches" "$m/v1/updates/5.15.0-100.110-generic"
  for f; do cp "$WORK/demo/server/patches/$f" "$m/v1/patches/"; done
  echo '{"machine-token": "offline-mirror-token-0001", "tier": "stable"}' > "$m/v1/register.json"
}
mirror_offer() {
  local m=$1 sha size
  sha=$(sha256sum "$m/v1/patches/$2" | cut -d' ' -f1)
  size=$(stat -c %s "$m/v1/patches/$2")
  cat > "$m/v1/updates/5.15.0-100.110-generic/$(uname -m).json" <<EOJ
{"supported": "supported", "upgrade-required-date": null, "tier": "stable",
 "patches": [{"version": "$3", "name": "lp_demo", "filename": "$2", "url": "/v1/patches/$2",
   "sha256": "$sha", "size": $size, "published": "2026-01-01T00:00:00Z", "replace": true,
   "fixes": [{"name": "cve-2024-1086", "description": "nf_tables", "bug": "lp#1", "patched": true}]}]}
EOJ
}
mkdir -p "$WORK/rec"
"$SRC/tools/server/make-demo-data.sh" "$WORK/demo" > /dev/null  # LP_DEMO_VERSIONS from the caller, if set
ROOT=$WORK/agent
SIM=$WORK/sim
agent() { "$BIN/livepatch-agent" --root-dir "$ROOT" "$@"; }
configure_agent() {
  agent config remote-server="https://127.0.0.1:$PORT" loader=loader-simulated simulated-kernel-root="$SIM" \
    keyring-dir="$WORK/demo/keyring" check-interval=0 > /dev/null
  agent config ca-certs=@stdin < "$WORK/demo/tls/ca.pem" > /dev/null
}
catalogue() { # catalogue VERSIONS... [--supported STATE]
  local supported=supported versions=()
  while (($#)); do
    if [[ $1 == --supported ]]; then supported=$2; shift 2; else versions+=("$1"); shift; fi
  done
  {
    echo "kernels:"
    echo "  - kernel: 5.15.0-100.110-generic"
    echo "    architecture: $(uname -m)"
    echo "    supported: $supported"
    [[ $supported == kernel-upgrade-required ]] && echo "    upgrade-required-date: 2026-12-31T00:00:00Z"
    echo "    patches:"
    for v in "${versions[@]}"; do
      local file=lp_demo-$v.tar.xz num=${v%%-*}
      echo "      - {file: $file, name: lp_demo, version: \"$num\", published: 2026-01-0${num}T00:00:00Z,"
      echo "         fixes: [{name: cve-2024-1086, description: nf_tables, bug: lp#1, patched: true}]}"
    done
  } > "$WORK/demo/server/catalogue.yaml.tmp"
  mv "$WORK/demo/server/catalogue.yaml.tmp" "$WORK/demo/server/catalogue.yaml"
}
status_json() { agent status --format json; }
assert_state() { # assert_state STATE VERSION
  local got
  got=$(status_json | json_get 'd["Status"][0]["Livepatch"]["State"] + " " + d["Status"][0]["Livepatch"]["Version"]')
  [[ "$got" == "$1 $2" ]] || fail "expected state '$1 $2', got '$got'"
}
validate_status_schema() { # status exits 0, or 1 when not enabled: both print the document
  local rc=0
  status_json > "$WORK/status.json" || rc=$?
  [[ $rc == 0 || $rc == 1 ]] || fail "status --format json exited with $rc"
  $PY -m jsonschema -i "$WORK/status.json" "$SRC/schemas/status.schema.json" || fail "status JSON does not match schemas/status.schema.json"
}
# handmade NAME VERSION MODULE OUT: lying metadata around MODULE (tests/handmade-patch.sh).
handmade() { "$SRC/tests/handmade-patch.sh" "$1" "$2" "$3" 5.15.0-100.110-generic "$(uname -m)" "$4"; }

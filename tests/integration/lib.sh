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
cleanup() {
  [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null || true
  [[ -n "$DAEMON_PID" ]] && kill "$DAEMON_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
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
stop_server() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=; }
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
validate_status_schema() {
  status_json > "$WORK/status.json" || true
  $PY -m jsonschema -i "$WORK/status.json" "$SRC/schemas/status.schema.json" || fail "status JSON does not match schemas/status.schema.json"
}
# handmade NAME VERSION MODULE OUT: lying metadata around MODULE (tests/handmade-patch.sh).
handmade() { "$SRC/tests/handmade-patch.sh" "$1" "$2" "$3" 5.15.0-100.110-generic "$(uname -m)" "$4"; }

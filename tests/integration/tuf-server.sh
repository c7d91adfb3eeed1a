#!/usr/bin/env bash
# The reference server as a TUF source (issue 15): it serves the repository
# livepatch-repo wrote under /v1/tuf/, and re-signs timestamp.json with its
# online key only; the agent (source-type=server, trust-root pinned) still
# registers and reports, but loads what the signed catalogue says, not what
# the unsigned updates answer offers.
source "$(dirname "$0")/lib.sh"
REPO=$WORK/repo
repo() { "$BIN/livepatch-repo" "$1" --repo "$REPO" --offline-keys "$WORK/offline" --online-keys "$WORK/online" "${@:2}"; }
tuf_args=(--tuf-repo "$REPO" --tuf-online-keys "$WORK/online")

step "a repository with patch 1; the server's own catalogue offers 1 too"
repo init > /dev/null
repo add "$WORK/demo/server/patches/lp_demo-1.tar.xz" > /dev/null
catalogue 1
start_server "${tuf_args[@]}"
configure_agent
agent config trust-root=@stdin < "$REPO/metadata/1.root.json" > /dev/null

step "enable: registered, and patch 1 applied from /v1/tuf/"
agent enable "$(cat "$WORK/demo/auth-token")" > /dev/null
assert_state applied 1
agent status | grep -q "^catalogue: signed" || fail "status does not say signed"
ls "$WORK/rec" | grep -q register || fail "no registration recorded: a server source still registers"

step "the unsigned answer offers 2, the signed catalogue does not: nothing is loaded"
catalogue 1 2
agent refresh > /dev/null
assert_state applied 1

step "patch 3 signed into the repository: the agent follows the signed catalogue"
repo add "$WORK/demo/server/patches/lp_demo-3.tar.xz" > /dev/null
agent refresh > /dev/null
assert_state applied 3

step "timestamp.json carries an ETag; If-None-Match with it is a 304 without a body"
ts_url="https://127.0.0.1:$PORT/v1/tuf/metadata/timestamp.json"
etag=$(curl -sS --cacert "$WORK/demo/tls/ca.pem" -D - -o /dev/null "$ts_url" | tr -d '\r' | awk -F': ' 'tolower($1) == "etag" {print $2}')
[[ $etag =~ ^\"[0-9a-f]{32}\"$ ]] || fail "no ETag on timestamp.json: \"$etag\""
code=$(curl -sS --cacert "$WORK/demo/tls/ca.pem" -H "If-None-Match: $etag" -o "$WORK/ts-304" -w '%{http_code}' "$ts_url")
[[ $code == 304 && ! -s $WORK/ts-304 ]] || fail "If-None-Match: HTTP $code, $(stat -c %s "$WORK/ts-304") bytes"
code=$(curl -sS --cacert "$WORK/demo/tls/ca.pem" -H 'If-None-Match: "other"' -o "$WORK/ts-200" -w '%{http_code}' "$ts_url")
[[ $code == 200 ]] && cmp -s "$WORK/ts-200" "$REPO/metadata/timestamp.json" || fail "another ETag: HTTP $code"
agent refresh > /dev/null
[[ -s $ROOT/state/tuf/timestamp.validator ]] || fail "the agent kept no validator for timestamp.json"
assert_state applied 3

step "the server re-signs an old timestamp at start, with its online key only"
stop_server
"$BIN/livepatch-repo" timestamp --repo "$REPO" --online-keys "$WORK/online" --now "$(date -u -d '-3 days' +%Y-%m-%dT%H:%M:%SZ)" > /dev/null
mv "$WORK/offline" "$WORK/offline.away"  # root and targets keys are not on the server
SERVER_PORT=$PORT start_server "${tuf_args[@]}"
grep -q "TUF: re-signed the online metadata" "$WORK/server.log" || fail "no re-signing at start: $(cat "$WORK/server.log")"
agent refresh > /dev/null
status_json | json_get 'd["Status"][0]["Livepatch"]["CheckState"]' | grep -qx checked || fail "not checked after the server re-signed"

step "without its online keys the server does not serve a frozen repository silently"
stop_server
"$BIN/livepatch-repo" timestamp --repo "$REPO" --online-keys "$WORK/online" --now "$(date -u -d '-3 days' +%Y-%m-%dT%H:%M:%SZ)" > /dev/null
SERVER_PORT=$PORT start_server --tuf-repo "$REPO"
set +e; out=$(agent refresh 2>&1); rc=$?; set -e
[[ $rc == 9 && "$out" == *"timestamp.json expired at"* ]] || fail "frozen repository: rc=$rc $out"
assert_state applied 3
agent disable > /dev/null
echo "tuf-server: passed"

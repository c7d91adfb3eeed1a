#!/usr/bin/env bash
# Resource tokens (macaroons) end to end: minted by the reference server,
# parsed locally by auth-resource-token, verified by the server on every call.
source "$(dirname "$0")/lib.sh"
catalogue 1
start_server
configure_agent
mint() { # mint JSON -> token
  $PY - "$PORT" "$1" "$WORK/demo/tls/ca.pem" <<'PYEOF'
import base64, json, ssl, sys, urllib.request
port, body, ca = sys.argv[1:4]
req = urllib.request.Request(f"https://127.0.0.1:{port}/admin/resource-tokens", data=body.encode(), method="POST",
      headers={"Authorization": "Basic " + base64.b64encode(b"admin:admin-demo").decode(), "Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(req, context=ssl.create_default_context(cafile=ca)))["token"])
PYEOF
}
step "an expired resource token is refused before any network call"
expired=$(mint '{"tier": "stable", "expires": "2020-01-01T00:00:00Z"}')
set +e; out=$(agent enable "$expired" 2>&1); rc=$?; set -e
[[ $rc == 2 && "$out" == *"expired"* && "$out" != *"$expired"* ]] || fail "expired: rc=$rc $out"

step "a tampered resource token is refused by the server"
good=$(mint '{"tier": "stable", "expires": "2099-01-01T00:00:00Z"}')
tampered="${good:0:40}$( [[ ${good:40:1} == A ]] && echo B || echo A )${good:41}"
set +e; out=$(agent enable "$tampered" 2>&1); rc=$?; set -e
[[ $rc != 0 && "$out" != *"$tampered"* ]] || fail "tampered token accepted: $out"

step "a valid resource token enables, applies and is the credential"
agent enable "$good" > /dev/null
assert_state applied 1
agent status --verbose | grep -q "token kind: auth-resource-token" || fail "token kind"
out=$(agent status --verbose --format json)
[[ $out != *"$good"* ]] || fail "resource token shown without --show-secrets"
agent status --format json --show-secrets | grep -q "$good" || fail "--show-secrets does not show the credential"
lacks "Macaroon" "$WORK/server.log"   # the server never logs the token
agent disable > /dev/null
echo "resource-token: 1 passed, 0 failed"

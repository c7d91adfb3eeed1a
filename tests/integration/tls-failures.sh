#!/usr/bin/env bash
# Each TLS failure is refused with its own message, and never reaches the
# point of sending anything: unknown CA, expired, wrong host, TLS 1.1-only
# server, pin mismatch (the server's recordings of request bodies stay empty
# until the first good connection); plain http refused unless allowed.
source "$(dirname "$0")/lib.sh"
catalogue 1
token=$(cat "$WORK/demo/auth-token")

nothing_sent() {
  local sent
  sent=$(find "$WORK/rec" -type f)
  [[ -z $sent ]] || fail "a request reached the server despite the TLS failure: $sent"
}
expect_enable_fails() { # expect_enable_fails PATTERN
  set +e; out=$(agent enable "$token" 2>&1); rc=$?; set -e
  [[ $rc == 5 && "$out" == *"$1"* ]] || fail "expected '$1', got rc=$rc: $out"
  [[ "$out" != *"$token"* ]] || fail "token in error output"
  nothing_sent
  echo "refused as expected: $(echo "$out" | tail -1)"
}

step "unknown CA (no ca-certs configured)"
start_server
agent config remote-server="https://127.0.0.1:$PORT" loader=loader-simulated simulated-kernel-root="$SIM" \
  keyring-dir="$WORK/demo/keyring" check-interval=0 > /dev/null
expect_enable_fails "unknown certificate authority"
stop_server

step "certificate from another CA"
agent config ca-certs=@stdin < "$WORK/demo/tls/ca.pem" > /dev/null
SERVER_CERT=untrusted start_server
agent config remote-server="https://127.0.0.1:$PORT" > /dev/null
expect_enable_fails "unknown certificate authority"
stop_server

step "expired certificate"
SERVER_CERT=expired start_server
agent config remote-server="https://127.0.0.1:$PORT" > /dev/null
expect_enable_fails "expired"
stop_server

step "certificate for another host name"
SERVER_CERT=wronghost start_server
agent config remote-server="https://127.0.0.1:$PORT" > /dev/null
expect_enable_fails "does not match the host name"
stop_server

step "server that only speaks TLS 1.1"
start_server --tls-max-version 1.1
agent config remote-server="https://127.0.0.1:$PORT" > /dev/null
expect_enable_fails "TLS 1.2"
stop_server

step "SPKI pin mismatch, then match"
start_server
agent config remote-server="https://127.0.0.1:$PORT" server-pins=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= > /dev/null
expect_enable_fails "server-pins"
pin=$(openssl x509 -in "$WORK/demo/tls/server.pem" -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary | base64)
agent config server-pins="$pin" > /dev/null
agent enable "$token" > /dev/null || fail "enable with the right pin failed"
[[ -n $(find "$WORK/rec" -type f) ]] || fail "the good connection recorded nothing: the nothing-sent checks prove nothing"
agent disable > /dev/null
stop_server

step "plain http is refused unless allowed"
set +e; out=$(agent config remote-server=http://127.0.0.1:1 2>&1); rc=$?; set -e
[[ $rc == 2 && "$out" == *"allow-insecure-http"* ]] || fail "http accepted: $out"
echo "tls-failures: 1 passed, 0 failed"

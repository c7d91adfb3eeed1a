#!/usr/bin/env bash
# HTTPS through a real authenticating proxy on loopback (tinyproxy, CONNECT
# + Basic auth): right credentials work, wrong ones give a one-line 407,
# no-proxy bypasses it, and the proxy password never shows in config output.
source "$(dirname "$0")/lib.sh"
command -v tinyproxy > /dev/null || fail "tinyproxy not installed (tools/install-deps.sh installs it)"
catalogue 1
start_server
pport=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$WORK/tinyproxy.conf" <<EOC
Port $pport
Listen 127.0.0.1
Timeout 30
MaxClients 10
LogLevel Info
LogFile "$WORK/tinyproxy.log"
PidFile "$WORK/tinyproxy.pid"
BasicAuth lpuser lp-proxy-pass
Allow 127.0.0.1
EOC
tinyproxy -d -c "$WORK/tinyproxy.conf" > /dev/null 2>&1 &
PROXY_PID=$!
trap 'kill $PROXY_PID 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$pport) 2>/dev/null && break; sleep 0.1; done
configure_agent
token=$(cat "$WORK/demo/auth-token")

step "wrong proxy password: refused with the proxy's status, one line"
agent config https-proxy="http://lpuser:wrong@127.0.0.1:$pport" > /dev/null
set +e; out=$(agent enable "$token" 2>&1); rc=$?; set -e
[[ $rc == 2 && "$out" =~ "refused the tunnel: HTTP 40"[17] ]] || fail "wrong proxy auth: rc=$rc $out"
[[ "$out" != *wrong* ]] || fail "proxy password in error"

step "right credentials: CONNECT tunnel, enable and apply"
agent config https-proxy="http://lpuser:lp-proxy-pass@127.0.0.1:$pport" > /dev/null
agent enable "$token" > /dev/null
assert_state applied 1
grep -q "CONNECT" "$WORK/tinyproxy.log" || fail "request did not go through the proxy"
agent config | grep -q "lp-proxy-pass" && fail "proxy password shown by config"

step "no-proxy bypasses the proxy"
kill $PROXY_PID; wait $PROXY_PID 2>/dev/null || true
agent config no-proxy=127.0.0.1 > /dev/null
agent refresh > /dev/null || fail "no-proxy did not bypass the (now stopped) proxy"
echo "proxy: 1 passed, 0 failed"

#!/usr/bin/env bash
# replicas.sh BUILD_DIR: two livepatch-server processes on one PostgreSQL
# behind nginx (round-robin, plain HTTP on loopback) serve one fleet: a
# machine registered on one replica checks in on the other, and ETags/304s
# agree across replicas; a replica killed (SIGKILL) while registrations run
# on both loses none that it answered 200 (issue 19, item 8). Run under
# with-postgres.sh (ctest does).
set -euo pipefail
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/../../.." && pwd)
[[ -n ${LP_TEST_POSTGRES_URL:-} ]] || exec "$SRC/tools/server/tests/with-postgres.sh" "$0" "$@"
W=$(mktemp -d /tmp/lp-replicas.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
LIVEPATCH_BIN=$BUILD/bin "$SRC/tools/server/make-demo-data.sh" "$W/demo" > /dev/null
$LP_TEST_POSTGRES_PSQL -q -d postgres -c "CREATE DATABASE replicas" > /dev/null
replica() { # replica NAME: starts it, sets PORT_NAME
  "$BUILD/bin/livepatch-server" --data-dir "$W/demo/server" --plain --listen 127.0.0.1:0 --port-file "$W/$1.port" \
    --database "${LP_TEST_POSTGRES_URL}replicas" > "$W/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [[ -s "$W/$1.port" ]] && break; sleep 0.05; done
  [[ -s "$W/$1.port" ]] || { cat "$W/$1.log"; fail "replica $1 did not start"; }
}
replica a   # imports the demo state.json (the auth token) into the shared database
replica b
nport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$W/nginx/logs"
cat > "$W/nginx/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; pid $W/nginx/nginx.pid; error_log $W/nginx/logs/error.log;
events { worker_connections 64; }
http { access_log off; client_body_temp_path $W/nginx; proxy_temp_path $W/nginx;
  fastcgi_temp_path $W/nginx; uwsgi_temp_path $W/nginx; scgi_temp_path $W/nginx;
  upstream replicas { server 127.0.0.1:$(cat "$W/a.port"); server 127.0.0.1:$(cat "$W/b.port"); }
  server { listen 127.0.0.1:$nport; location / { proxy_pass http://replicas; proxy_next_upstream off; } } }
CONF
nginx -p "$W/nginx" -c "$W/nginx/nginx.conf" &
pids+=($!)
for _ in $(seq 50); do [[ -s "$W/nginx/nginx.pid" ]] && break; sleep 0.1; done
/usr/bin/python3 - "$(cat "$W/a.port")" "$(cat "$W/b.port")" "$nport" "$(cat "$W/demo/auth-token")" "$(uname -m)" "${pids[0]}" <<'PY'
import json, sys, urllib.request, urllib.error
a, b, lb, token, arch, pid_a = sys.argv[1:7]
mid = "0123456789abcdef0123456789abcdef"
report = json.dumps({"kernel": "5.15.0-100.110-generic", "architecture": arch}).encode()
def call(port, method, path, body=None, headers=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method, headers=headers or {})
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers
def check(cond, msg):
    if not cond:
        print("FAIL:", msg, file=sys.stderr); sys.exit(1)
st, body, _ = call(a, "POST", f"/v1/client/{mid}", report, {"Authorization": f"Bearer {token}"})
check(st == 200, f"register on replica a: {st} {body}")
mt = json.loads(body)["machine-token"]
auth = {"Authorization": f"Bearer {mt}"}
st, body, h = call(b, "POST", f"/v1/client/{mid}/updates", report, auth)
check(st == 200, f"check-in on replica b: {st} {body}")
etag = h["ETag"]
check(etag, "no ETag from replica b")
st, _, h = call(a, "POST", f"/v1/client/{mid}/updates", report, {**auth, "If-None-Match": etag})
check(st == 304, f"replica a did not honour replica b's ETag: {st}")
st, _, _ = call(b, "POST", f"/v1/client/{mid}", report, {"Authorization": f"Bearer {token}"})
check(st == 409, f"re-registration on the other replica: {st}")
# Through nginx (round-robin): every call lands somewhere and agrees.
for i in range(6):
    st, body, h = call(lb, "POST", f"/v1/client/{mid}/updates", report, {**auth, "If-None-Match": etag})
    check(st == 304, f"via nginx, request {i}: {st} {body}")
other = "fedcba9876543210fedcba9876543210"
st, body, _ = call(lb, "POST", f"/v1/client/{other}", report, {"Authorization": f"Bearer {token}"})
check(st == 200, f"register via nginx: {st}")
mt2 = json.loads(body)["machine-token"]
for port in (a, b):
    st, _, _ = call(port, "POST", f"/v1/client/{other}/updates", report, {"Authorization": f"Bearer {mt2}"})
    check(st == 200, f"machine registered via nginx, check-in on {port}: {st}")
st, _, _ = call(a, "DELETE", f"/v1/client/{other}", None, {"Authorization": f"Bearer {mt2}"})
check(st == 204, f"deregister on a: {st}")
st, _, _ = call(b, "POST", f"/v1/client/{other}/updates", report, {"Authorization": f"Bearer {mt2}"})
check(st == 401, f"replica b still accepts a machine deregistered on a: {st}")
# A replica killed (SIGKILL) while registrations run on both: every
# registration that was answered 200 was committed, so the surviving
# replica knows its machine token.
import os, signal, threading
from concurrent.futures import ThreadPoolExecutor
answered, failed_on_a, lock = {}, [0], threading.Lock()
done = threading.Semaphore(0)
def register(i):
    mid_i = "%032x" % (0xa000 + i)
    port = a if i % 2 == 0 else b
    try:
        st, body, _ = call(port, "POST", f"/v1/client/{mid_i}", report, {"Authorization": f"Bearer {token}"})
        if st == 200:
            with lock: answered[mid_i] = json.loads(body)["machine-token"]
        elif port == a:
            with lock: failed_on_a[0] += 1
    except OSError:  # refused or reset: the killed replica
        with lock: failed_on_a[0] += 1
    done.release()
with ThreadPoolExecutor(4) as pool:
    futures = [pool.submit(register, i) for i in range(400)]
    for _ in range(120): done.acquire()
    os.kill(int(pid_a), signal.SIGKILL)  # mid-load: requests to a are in flight
check(failed_on_a[0] > 0, "no request to replica a failed: it was not killed mid-load")
check(len(answered) >= 180, f"only {len(answered)} registrations answered 200")
lost = []
for mid_i, mt_i in answered.items():
    st, _, _ = call(b, "POST", f"/v1/client/{mid_i}/updates", report, {"Authorization": f"Bearer {mt_i}"})
    if st != 200: lost.append((mid_i, st))
check(not lost, f"{len(lost)} registrations answered 200 are unknown to the surviving replica: {lost[:3]}")
print(f"replica killed mid-load: {len(answered)} registrations answered, none lost ({failed_on_a[0]} refused by the killed replica)")
print("replicas: 1 passed, 0 failed")
PY

#!/usr/bin/env bash
# replicas.sh BUILD_DIR: two livepatch-server processes on one PostgreSQL
# behind nginx (round-robin, plain HTTP on loopback) serve one fleet: a
# machine registered on one replica checks in on the other, and ETags/304s
# agree across replicas; PostgreSQL restarted under load is 503 + Retry-After
# then recovery, and a replica killed (SIGKILL) while registrations run on
# both loses none that it answered 200 (issue 19, item 8). Two more replicas
# with their own data dirs, --patch-store database and --catalogue-store
# database (sharing nothing but PostgreSQL) serve each other's uploads and
# catalogue edits: same bytes, a damaged cache file is fetched again and never
# served, an upload cut off mid-body leaves no row, no file and no catalogue
# entry. Run under with-postgres.sh (ctest does).
set -euo pipefail
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/../../.." && pwd)
[[ -n ${LP_TEST_POSTGRES_URL:-} ]] || exec "$SRC/tools/server/tests/with-postgres.sh" "$0" "$@"
W=$(mktemp -d /tmp/lp-replicas.XXXXXX)
source "$SRC/tests/lib/nginx.sh"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
LIVEPATCH_BIN=$BUILD/bin "$SRC/tools/server/make-demo-data.sh" "$W/demo" > /dev/null
$LP_TEST_POSTGRES_PSQL -q -d postgres -c "CREATE DATABASE replicas" > /dev/null
replica() { # replica NAME [ARGS...]: starts it on $W/NAME.port (data dir: the demo's unless ARGS say)
  local name=$1
  shift
  "$BUILD/bin/livepatch-server" --data-dir "$W/demo/server" --plain --listen 127.0.0.1:0 --port-file "$W/$name.port" \
    --database "${LP_TEST_POSTGRES_URL}replicas" "$@" > "$W/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [[ -s "$W/$name.port" ]] && break; sleep 0.05; done
  [[ -s "$W/$name.port" ]] || { cat "$W/$name.log"; fail "replica $name did not start"; }
}
replica a   # imports the demo state.json (the auth token) into the shared database
replica b
# c and d: their own data dirs (admin password and macaroon key copied),
# patch files and the catalogue in the database. c starts with lp_demo-1 in
# its patches/ and the demo's catalogue.yaml (both imported into the database
# at start); d with neither.
mkdir -p "$W/c/patches" "$W/d"
cp "$W/demo/server/catalogue.yaml" "$W/c/"
cp "$W/demo/server/patches/lp_demo-1.tar.xz" "$W/c/patches/"
for r in c d; do cp "$W/demo/server/admin-password" "$W/demo/server/macaroon-key" "$W/$r/"; done
replica c --data-dir "$W/c" --patch-store database --catalogue-store database
replica d --data-dir "$W/d" --patch-store database --catalogue-store database
grep -q "imported $W/c/catalogue.yaml into the database" "$W/c.log" || { cat "$W/c.log"; fail "c did not import its catalogue"; }
nport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_nginx "$W/nginx" "access_log off;
  upstream replicas { server 127.0.0.1:$(cat "$W/a.port"); server 127.0.0.1:$(cat "$W/b.port"); }
  server { listen 127.0.0.1:$nport; location / { proxy_pass http://replicas; proxy_next_upstream off; } }" ||
  { echo "FAIL: nginx did not start" >&2; exit 1; }
pids+=("$NGINX_PID")
/usr/bin/python3 - "$(cat "$W/a.port")" "$(cat "$W/b.port")" "$nport" "$(cat "$W/demo/auth-token")" "$(uname -m)" "${pids[0]}" \
  "$(cat "$W/c.port")" "$(cat "$W/d.port")" "$W" <<'PY'
import json, sys, urllib.request, urllib.error
a, b, lb, token, arch, pid_a, c, d, W = sys.argv[1:10]
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
# --patch-store database: a patch uploaded through c is served by d, whose
# data dir never had it, byte for byte and as the updates answer announces.
import base64, hashlib, os, socket, subprocess, time
basic = {"Authorization": "Basic " + base64.b64encode(b"admin:admin-demo").decode()}
patch = open(f"{W}/demo/server/patches/lp_demo-2.tar.xz", "rb").read()
st, body, _ = call(c, "PUT", "/admin/patches/lp_demo-2.tar.xz", patch, basic)
check(st == 201, f"upload through replica c: {st} {body}")
def offered_by(port, want, seconds=5):
    """The patches a replica offers, once `want` is among them (another
    replica's catalogue edit shows within its poll interval, 1 s)."""
    for _ in range(seconds * 10):
        st, body, _ = call(port, "POST", f"/v1/client/{mid}/updates", report, auth)
        check(st == 200, f"check-in on replica {port}: {st} {body}")
        answer = json.loads(body)
        if want(answer):
            return answer
        time.sleep(0.1)
    check(False, f"replica {port} never offered what was expected: {answer}")
offered = {p["filename"]: p for p in
           offered_by(d, lambda a: "lp_demo-2.tar.xz" in [p["filename"] for p in a["patches"]])["patches"]}
check("lp_demo-1.tar.xz" in offered, "replica d does not offer the patch c imported from its patches/ at start")
check(offered.get("lp_demo-2.tar.xz", {}).get("sha256") == hashlib.sha256(patch).hexdigest(),
      f"replica d announces lp_demo-2 with another digest: {offered.get('lp_demo-2.tar.xz')}")
st, got, _ = call(d, "GET", "/v1/patches/lp_demo-2.tar.xz", None, auth)
check(st == 200 and got == patch, f"download through replica d: {st}, {len(got)} bytes, same: {got == patch}")
check(not os.path.exists(f"{W}/d/patches/lp_demo-2.tar.xz"), "replica d wrote the patch into its patches/")
cached = f"{W}/d/patch-cache/{hashlib.sha256(patch).hexdigest()}"
check(open(cached, "rb").read() == patch, "replica d keeps no cache file of the patch")
st, got, h = call(d, "GET", "/v1/patches/lp_demo-2.tar.xz", None, {**auth, "Range": "bytes=100-"})
check(st == 206 and got == patch[100:], f"a Range download through replica d: {st}")
# A damaged cache file (same length, one byte flipped) is noticed by its
# sha256 and fetched again from the database: never served.
damaged = bytearray(patch)
damaged[len(damaged) // 2] ^= 0xff
open(cached, "wb").write(bytes(damaged))
st, got, _ = call(d, "GET", "/v1/patches/lp_demo-2.tar.xz", None, auth)
check(st == 200 and got == patch, f"replica d served its damaged cache file: {st}, same: {got == patch}")
check(open(cached, "rb").read() == patch, "replica d did not repair its cache file")
check("does not match its sha256" in open(f"{W}/d.log").read(), "replica d did not say its cache was damaged")
# An upload cut off mid-body: the client stops sending (its end shut, which
# the server sees as a killed client's EOF). Its answer says the handler is
# done; then no row, no file, no catalogue entry, and the name stays free.
patch3 = open(f"{W}/demo/server/patches/lp_demo-3.tar.xz", "rb").read()
s = socket.create_connection(("127.0.0.1", int(c)))
s.sendall((f"PUT /admin/patches/lp_demo-3.tar.xz HTTP/1.1\r\nHost: x\r\nAuthorization: {basic['Authorization']}\r\n"
           f"Content-Length: {len(patch3)}\r\n\r\n").encode() + patch3[: len(patch3) // 2])
s.shutdown(socket.SHUT_WR)
s.settimeout(30)
answer = b""
while chunk := s.recv(4096): answer += chunk
s.close()
check(answer.startswith(b"HTTP/1.1 400") and b"ended before its Content-Length" in answer,
      f"the cut-off upload was answered {answer[:200]!r}")
psql = os.environ["LP_TEST_POSTGRES_PSQL"]
def rows(name):
    return subprocess.run(f"{psql} -d replicas -tAc \"SELECT COUNT(*) FROM patch_files WHERE name = '{name}'\"",
                          shell=True, check=True, capture_output=True, text=True).stdout.strip()
leftovers = [f for f in os.listdir(f"{W}/c/patch-cache") if f.startswith(".")]
check(not leftovers, f"files left by the cut-off upload: {leftovers}")
check(rows("lp_demo-3.tar.xz") == "0", "a row for the cut-off upload")
def catalogue_row():
    return subprocess.run(f"{psql} -d replicas -tAc \"SELECT document FROM catalogue ORDER BY generation DESC LIMIT 1\"",
                          shell=True, check=True, capture_output=True, text=True).stdout
check("lp_demo-2.tar.xz" in catalogue_row(), "the database's catalogue does not list c's upload")
check("lp_demo-3.tar.xz" not in catalogue_row(), "the cut-off upload is in the catalogue")
st, body, _ = call(d, "PUT", "/admin/patches/lp_demo-3.tar.xz", patch3, basic)
check(st == 201, f"the complete upload after the cut-off one: {st} {body}")
check(rows("lp_demo-3.tar.xz") == "1", "no row for the complete upload")
offered_by(c, lambda a: "lp_demo-3.tar.xz" in [p["filename"] for p in a["patches"]])
st, got, _ = call(c, "GET", "/v1/patches/lp_demo-3.tar.xz", None, auth)
check(st == 200 and got == patch3, f"download of d's upload through c: {st}")
# The catalogue edited by hand through d (GET, change, PUT with If-Match):
# c answers from the new document; a PUT from a stale copy is refused.
st, doc, h = call(d, "GET", "/admin/catalogue", None, basic)
check(st == 200 and b"lp_demo-3.tar.xz" in doc, f"GET /admin/catalogue on d: {st}")
edited = doc.replace(b"supported: supported", b"supported: kernel-upgrade-required", 1)
check(edited != doc, "the demo catalogue has no supported: supported line")
st, body, _ = call(d, "PUT", "/admin/catalogue", edited, {**basic, "If-Match": h["ETag"]})
check(st == 200, f"PUT /admin/catalogue on d: {st} {body}")
st, body, _ = call(c, "PUT", "/admin/catalogue", doc, {**basic, "If-Match": h["ETag"]})
check(st == 412, f"a PUT from a copy older than d's edit, on c: {st} {body}")
offered_by(c, lambda a: a["supported"] == "kernel-upgrade-required")
print("patch store and catalogue in the database: uploads and catalogue edits on one replica seen by the other,"
      " damaged cache refetched, cut-off upload left nothing")

# PostgreSQL stopped and started again while registrations run on both
# replicas: the outage is answered 503 with Retry-After (never a 500 or a
# hang), both replicas recover without a restart, and every registration
# answered 200 is there afterwards.
import signal, threading
from concurrent.futures import ThreadPoolExecutor
def register_all(first, count, after, at):
    answers = {}
    lock, done = threading.Lock(), threading.Semaphore(0)
    def one(i):
        mid_i = "%032x" % (first + i)
        port = a if i % 2 == 0 else b
        try:
            answers_i = call(port, "POST", f"/v1/client/{mid_i}", report, {"Authorization": f"Bearer {token}"})
        except OSError as e:  # refused or reset
            answers_i = (None, str(e).encode(), {})
        with lock: answers[mid_i] = (port,) + answers_i
        done.release()
    with ThreadPoolExecutor(4) as pool:
        for i in range(count): pool.submit(one, i)
        if after:
            for _ in range(at): done.acquire()
            after()
    return answers
ctl = os.environ["LP_TEST_POSTGRES_CTL"]
def outage():
    subprocess.run(ctl + " stop -m fast > /dev/null", shell=True, check=True)
    time.sleep(0.5)
    subprocess.run(ctl + " -w start > /dev/null", shell=True, check=True)
answers = register_all(0xb000, 300, outage, 60)
ok = {m: json.loads(r[2])["machine-token"] for m, r in answers.items() if r[1] == 200}
unavailable = [m for m, r in answers.items() if r[1] == 503]
other = [(m, r[1], r[2][:80]) for m, r in answers.items() if r[1] not in (200, 503)]
check(not other, f"answers other than 200/503 during the outage: {other[:3]}")
check(unavailable, "no 503 while PostgreSQL was down: the outage was not mid-load")
check(all(answers[m][3].get("Retry-After") for m in unavailable), "a 503 without Retry-After")
for m in unavailable:  # what an agent does after Retry-After
    st, body, _ = call(a if int(m, 16) % 2 == 0 else b, "POST", f"/v1/client/{m}", report, {"Authorization": f"Bearer {token}"})
    check(st in (200, 409), f"retried registration after the outage: {st} {body}")
    if st == 200: ok[m] = json.loads(body)["machine-token"]
for m, mt_i in ok.items():
    for port in (a, b):
        st, _, _ = call(port, "POST", f"/v1/client/{m}/updates", report, {"Authorization": f"Bearer {mt_i}"})
        check(st == 200, f"registration answered 200 unknown after the outage on {port}: {st}")
print(f"PostgreSQL restarted mid-load: {len(unavailable)} answered 503 with Retry-After, {len(ok)} registered, none lost")

# A replica killed (SIGKILL) while registrations run on both: every
# registration that was answered 200 was committed, so the surviving
# replica knows its machine token.
answers = register_all(0xa000, 400, lambda: os.kill(int(pid_a), signal.SIGKILL), 120)
answered = {m: json.loads(r[2])["machine-token"] for m, r in answers.items() if r[1] == 200}
failed_on_a = sum(1 for r in answers.values() if r[0] == a and r[1] != 200)
check(failed_on_a > 0, "no request to replica a failed: it was not killed mid-load")
check(len(answered) >= 180, f"only {len(answered)} registrations answered 200")
lost = []
for mid_i, mt_i in answered.items():
    st, _, _ = call(b, "POST", f"/v1/client/{mid_i}/updates", report, {"Authorization": f"Bearer {mt_i}"})
    if st != 200: lost.append((mid_i, st))
check(not lost, f"{len(lost)} registrations answered 200 are unknown to the surviving replica: {lost[:3]}")
print(f"replica killed mid-load: {len(answered)} registrations answered, none lost ({failed_on_a} refused by the killed replica)")
print("replicas: 1 passed, 0 failed")
PY

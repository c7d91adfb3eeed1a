#!/usr/bin/env bash
# downloads.sh BUILD_DIR: a download is streamed from the patch file, never
# held whole in memory (issue 19). A 48 MiB patch is downloaded serially and
# 4 at a time from a livepatch-server process, on either patch store; its
# peak resident memory (VmHWM) must grow by far less than 4 copies of the
# file, and every body, a Range one included, must be the exact bytes.
# SQLite, or PostgreSQL under with-postgres.sh.
set -euo pipefail
BUILD=$(cd "$1" && pwd)
W=$(mktemp -d /tmp/lp-downloads.XXXXXX)
pid=
trap '[[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# (And a --patch-store the server does not know is refused before it starts.)
if out=$("$BUILD/bin/livepatch-server" --data-dir "$W" --plain --patch-store s3 2>&1); then fail "--patch-store s3 started"; fi
[[ $out == "--patch-store: expected filesystem or database" ]] || fail "--patch-store s3: $out"
head -c $((48 << 20)) /dev/urandom > "$W/lp_big-1.tar.xz"
token=$(cat /proc/sys/kernel/random/uuid)
db=0
serve() { # serve STORE DATADIR: starts the server (pid in $pid) on $W/port
  rm -f "$W/port"
  local database=()
  if [[ -n ${LP_TEST_POSTGRES_URL:-} ]]; then database=(--database "${LP_TEST_POSTGRES_URL}downloads$db"); fi
  "$BUILD/bin/livepatch-server" --data-dir "$2" --plain --listen 127.0.0.1:0 --port-file "$W/port" \
    --patch-store "$1" "${database[@]}" >> "$W/$1.log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do [[ -s "$W/port" ]] && break; sleep 0.05; done
  [[ -s "$W/port" ]] || { cat "$W/$1.log"; fail "the server ($1) did not start"; }
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }
for store in filesystem database; do
  # The patch is placed in patches/ (the database store imports it at start).
  data="$W/$store"
  mkdir -p "$data/patches"
  cp "$W/lp_big-1.tar.xz" "$data/patches/"
  cat > "$data/catalogue.yaml" <<EOF
kernels:
  - kernel: 5.15.0-100.110-generic
    architecture: x86_64
    supported: supported
    patches:
      - {file: lp_big-1.tar.xz, name: lp_big, version: "1", published: 2026-01-01T00:00:00Z, fixes: []}
EOF
  echo "{\"auth-tokens\": {\"$token\": \"stable\"}, \"machines\": {}}" > "$data/state.json"
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$data/macaroon-key"
  chmod 600 "$data/state.json" "$data/macaroon-key"
  if [[ -n ${LP_TEST_POSTGRES_URL:-} ]]; then
    db=$((db + 1))
    $LP_TEST_POSTGRES_PSQL -q -d postgres -c "CREATE DATABASE downloads$db" > /dev/null
  fi
  if [[ $store == database ]]; then
    # Started once to import the file into the database, then again: the
    # measured process starts with the file in its cache, not in memory.
    serve "$store" "$data"
    stop
    rm "$data/patches/lp_big-1.tar.xz"
  fi
  serve "$store" "$data"
  /usr/bin/python3 - "$(cat "$W/port")" "$token" "$pid" "$W/lp_big-1.tar.xz" "$store" <<'PY' || fail "$store store"
import hashlib, json, sys, threading, urllib.request
port, token, pid, big, store = sys.argv[1:6]
def call(method, path, body=None, headers=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method, headers=headers or {})
    req.add_header("Content-Type", "application/json")
    return urllib.request.urlopen(req)
def check(cond, msg):
    if not cond:
        print(f"FAIL ({store}):", msg, file=sys.stderr); sys.exit(1)
def vmhwm():  # the server's peak resident memory, in bytes
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"): return int(line.split()[1]) * 1024
report = json.dumps({"kernel": "5.15.0-100.110-generic", "architecture": "x86_64"}).encode()
mid = "0123456789abcdef0123456789abcdef"
with call("POST", f"/v1/client/{mid}", report, {"Authorization": f"Bearer {token}"}) as r:
    auth = {"Authorization": "Bearer " + json.loads(r.read())["machine-token"]}
data = open(big, "rb").read()
want = hashlib.sha256(data).hexdigest()
def download(headers=None, started=None):  # (status, sha256, length) of a body read in 64 KiB pieces
    with call("GET", "/v1/patches/lp_big-1.tar.xz", None, {**auth, **(headers or {})}) as r:
        h, n = hashlib.sha256(), 0
        chunk = r.read(1 << 16)
        if started:  # every download under way before any goes on: the server serves them at once
            started.wait()
        while chunk:
            h.update(chunk); n += len(chunk)
            chunk = r.read(1 << 16)
        return r.status, h.hexdigest(), n
check(download() == (200, want, len(data)), "the first download is not the file")
before = vmhwm()
for i in range(3):
    check(download() == (200, want, len(data)), f"serial download {i} is not the file")
results, started = [None] * 4, threading.Barrier(4, timeout=60)
def parallel(i): results[i] = download(started=started)
threads = [threading.Thread(target=parallel, args=(i,)) for i in range(4)]
for t in threads: t.start()
for t in threads: t.join()
check(all(r == (200, want, len(data)) for r in results), f"a parallel download is not the file: {results}")
at = len(data) - (5 << 20) - 12345
status, digest, n = download({"Range": f"bytes={at}-"})
check((status, digest, n) == (206, hashlib.sha256(data[at:]).hexdigest(), len(data) - at),
      f"the Range download is not the file's tail: {status}, {n} bytes")
grew = vmhwm() - before
check(grew < 32 << 20, f"VmHWM grew by {grew >> 20} MiB over 8 downloads of a 48 MiB file (4 at a time)")
print(f"{store} store: 8 downloads of 48 MiB, 4 at a time, and a Range one: VmHWM grew by {grew >> 10} KiB")
PY
  stop
done

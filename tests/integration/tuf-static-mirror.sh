#!/usr/bin/env bash
# A static mirror (issue 15): the directory livepatch-repo writes, served by a
# real nginx on loopback over HTTPS (demo CA), is a patch source for the real
# agent with source-type=static and a pinned trust root: check, download,
# verify and load on the simulated kernel, with no registration and no
# report. Then the TUF attack classes against the agent binary, each with its
# exit code and message: arbitrary install, freeze (exit 9, status stale),
# rollback of a role and of the patch version, mix-and-match, endless data,
# slow retrieval (bounded by request-timeout), malicious mirror, wrong
# threshold, and key compromise recovered by root rotation. Last, the same
# repository as a file:// mirror.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../lib/nginx.sh"
command -v nginx > /dev/null || fail "nginx is missing (Debian package nginx-light, tools/install-deps.sh)"
REPO=$WORK/repo
repo() { "$BIN/livepatch-repo" "$1" --repo "$REPO" --offline-keys "$WORK/offline" --online-keys "$WORK/online" "${@:2}"; }
online() { "$BIN/livepatch-repo" "$1" --repo "$REPO" --online-keys "$WORK/online" "${@:2}"; }
KERNEL=5.15.0-100.110-generic
ARCH=$(uname -m)

step "a repository with patch 1 (root keys: 2 of 3)"
repo init --root-keys 3 > /dev/null
repo add "$WORK/demo/server/patches/lp_demo-1.tar.xz" > /dev/null

step "nginx serves it unchanged on loopback (HTTPS, demo CA)"
N=$WORK/nginx
NGINX_PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_nginx "$N" "
  access_log $N/access.log;
  server {
    listen 127.0.0.1:$NGINX_PORT ssl;
    ssl_certificate $WORK/demo/tls/server.pem;
    ssl_certificate_key $WORK/demo/tls/server.key;
    location /lp/ { alias $REPO/; }
    location /evil/ { alias $WORK/evil/; }
    location /slow/ { alias $REPO/; limit_rate 1; }
  }" || fail "nginx did not start"
trap 'rc=$?; kill "$NGINX_PID" 2> /dev/null; cleanup "$rc"' EXIT
MIRROR=https://127.0.0.1:$NGINX_PORT

step "configure: source-type=static, trust-root=@stdin (root-only)"
agent config source-type=static remote-server="$MIRROR/lp/" loader=loader-simulated simulated-kernel-root="$SIM" \
  keyring-dir="$WORK/demo/keyring" check-interval=0 request-timeout=20 > /dev/null
agent config ca-certs=@stdin < "$WORK/demo/tls/ca.pem" > /dev/null
agent config trust-root=@stdin < "$REPO/metadata/1.root.json" > /dev/null
[[ $(stat -c %a "$ROOT/state/tuf/root.json") == 600 && $(stat -c %a "$ROOT/state/tuf") == 700 ]] || fail "the pinned root is not root-only"
cmp -s "$ROOT/state/tuf/root.json" "$REPO/metadata/1.root.json" || fail "the pinned root differs from 1.root.json"
agent config | grep -qx "trust-root: pinned" || fail "config does not show trust-root: pinned"
set +e; out=$(echo '{"signed": {}}' | agent config trust-root=@stdin 2>&1); rc=$?; set -e
[[ $rc == 2 && "$out" == *"trust-root: expected a TUF root.json"* ]] || fail "a non-root was pinned: rc=$rc $out"
cmp -s "$ROOT/state/tuf/root.json" "$REPO/metadata/1.root.json" || fail "a refused pin changed the pinned root"

step "enable (no registration) and apply patch 1 from nginx"
agent enable static > "$WORK/enable.out"
assert_state applied 1
grep -q "this has been live patched" "$SIM/proc/cmdline" || fail "not patched"
agent status > "$WORK/status.txt"
grep -q "^catalogue: signed (TUF, timestamp version" "$WORK/status.txt" || fail "status does not say signed: $(cat "$WORK/status.txt")"
validate_status_schema
lacks "POST" "$N/access.log"
grep -q "GET /lp/metadata/timestamp.json" "$N/access.log" || fail "timestamp.json not fetched"
grep -q "GET /lp/targets/$KERNEL/$ARCH/[0-9a-f]\{64\}.lp_demo-1.tar.xz" "$N/access.log" || fail "hash-prefixed target not fetched"

step "a static mirror's timestamp.json is fetched whole at every check, never with If-None-Match"
# nginx's ETag is the mtime in seconds and the size: a timestamp re-signed
# twice in one second would keep the same ETag, and a conditional request
# would keep the agent on the older copy (rollback step below shows it).
agent refresh > /dev/null
tail -n 1 "$N/access.log" | grep -q '"GET /lp/metadata/timestamp.json HTTP/1.1" 200 ' ||
  fail "the idle check did not fetch timestamp.json whole: $(tail -n 2 "$N/access.log")"
[[ ! -e $ROOT/state/tuf/timestamp.validator ]] || fail "a validator was kept for a static mirror"
assert_state applied 1

step "patch 2 signed and published: the agent upgrades"
repo add "$WORK/demo/server/patches/lp_demo-2.tar.xz" > /dev/null
agent refresh > /dev/null
assert_state applied 2

APPLIED=2
expect_refresh() { # expect_refresh RC TEXT: refresh fails with RC and says TEXT; patch $APPLIED stays
  local out rc=0
  out=$(agent refresh 2>&1) || rc=$?
  [[ $rc == "$1" && "$out" == *"$2"* ]] || fail "expected exit $1 with \"$2\", got $rc: $out"
  # The patch in the kernel is untouched (a refused download says apply-failed beside it).
  local v
  v=$(status_json | json_get 'd["Status"][0]["Livepatch"]["Version"]')
  [[ $v == "$APPLIED" ]] || fail "patch version $v in the kernel, expected $APPLIED"
  grep -q "this has been live patched" "$SIM/proc/cmdline" || fail "no longer patched"
}
# Run a mirror edit, refresh and expect a refusal, then put the file back.
saved() { cp -a "$1" "$WORK/saved"; }
restore() { cp -a "$WORK/saved" "$1"; }

step "arbitrary install: other bytes under the signed name"
repo add "$WORK/demo/server/patches/lp_demo-3.tar.xz" > /dev/null
T3=$(ls "$REPO/targets/$KERNEL/$ARCH/"*.lp_demo-3.tar.xz)
saved "$T3"
$PY - "$T3" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 0x55; open(p, "wb").write(bytes(b))
PY
expect_refresh 6 "does not match the signed catalogue"
restore "$T3"
agent refresh > /dev/null
assert_state applied 3
APPLIED=3

step "freeze: a timestamp nobody re-signs expires: exit 9, status stale"
online timestamp --now "$(date -u -d '-3 days' +%Y-%m-%dT%H:%M:%SZ)" > /dev/null
set +e; out=$(agent refresh 2>&1); rc=$?; set -e
[[ $rc == 9 && "$out" == *"timestamp.json expired at"* ]] || fail "freeze: rc=$rc $out"
status_json | json_get 'd["Status"][0]["Livepatch"]["CheckState"]' | grep -qx stale || fail "check state is not stale"
agent status | grep -q "server check-in: stale (.*expired at" || fail "status does not show stale with the expiry"
assert_state applied 3
online timestamp > /dev/null
agent refresh > /dev/null
status_json | json_get 'd["Status"][0]["Livepatch"]["CheckState"]' | grep -qx checked || fail "not checked after re-signing"

step "rollback of a role: an older timestamp.json served again"
saved "$REPO/metadata/timestamp.json"
online timestamp > /dev/null
agent refresh > /dev/null
cp -a "$REPO/metadata/timestamp.json" "$WORK/newest"
restore "$REPO/metadata/timestamp.json"
expect_refresh 6 "is lower than the trusted"
cp -a "$WORK/newest" "$REPO/metadata/timestamp.json"

step "rollback of the patch version: the new catalogue lists only an older patch"
repo remove "$KERNEL/$ARCH/lp_demo-3.tar.xz" > /dev/null
online publish > /dev/null
expect_refresh 6 "the signed catalogue offers patch 2, lower than applied 3: rollback refused"
repo add "$WORK/demo/server/patches/lp_demo-3.tar.xz" > /dev/null

step "mix-and-match: targets.json of another release under the current name"
cur=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["signed"]["meta"]["snapshot.json"]["version"])' "$REPO/metadata/timestamp.json")
tv=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["signed"]["meta"]["targets.json"]["version"])' "$REPO/metadata/$cur.snapshot.json")
online publish > /dev/null  # a new snapshot + timestamp naming the same targets version, not yet fetched
saved "$REPO/metadata/$tv.targets.json"
cp "$REPO/metadata/$((tv - 1)).targets.json" "$REPO/metadata/$tv.targets.json"
rm -f "$ROOT/state/tuf/targets.json"  # so the agent fetches it again, as a new machine would
set +e; out=$(agent refresh 2>&1); rc=$?; set -e
[[ $rc == 6 && ( "$out" == *"does not match the signed metadata"* || "$out" == *"mix-and-match"* ) ]] || fail "mix-and-match: rc=$rc $out"
restore "$REPO/metadata/$tv.targets.json"
agent refresh > /dev/null

step "endless data: timestamp.json beyond its 16 KiB limit"
saved "$REPO/metadata/timestamp.json"
head -c 40000 /dev/zero | tr '\0' ' ' >> "$REPO/metadata/timestamp.json"
expect_refresh 5 "is larger than 16384 bytes"
restore "$REPO/metadata/timestamp.json"

step "slow retrieval: a mirror trickling one byte a second is cut at request-timeout"
agent config remote-server="$MIRROR/slow/" request-timeout=3 > /dev/null
start=$(date +%s)
set +e; out=$(agent refresh 2>&1); rc=$?; set -e
took=$(($(date +%s) - start))
[[ $rc == 5 && "$out" == *"request-timeout"* ]] || fail "slow retrieval: rc=$rc $out"
((took < 30)) || fail "slow retrieval took $took s"
agent config remote-server="$MIRROR/lp/" request-timeout=20 > /dev/null

step "malicious mirror: metadata signed by other keys is refused; the good mirror works on"
"$BIN/livepatch-repo" init --repo "$WORK/evil" --offline-keys "$WORK/evil-offline" --online-keys "$WORK/evil-online" > /dev/null
# The attacker copies the real root but signs the rest with its own keys.
for v in $(seq 1 10); do [[ -f $REPO/metadata/$v.root.json ]] && cp "$REPO/metadata/$v.root.json" "$WORK/evil/metadata/"; done
cp "$REPO/metadata/root.json" "$WORK/evil/metadata/root.json"
agent config remote-server="$MIRROR/evil/" > /dev/null
set +e; out=$(agent refresh 2>&1); rc=$?; set -e
[[ $rc == 6 && "$out" == *"required signatures are valid"* ]] || fail "malicious mirror: rc=$rc $out"
agent config remote-server="$MIRROR/lp/" > /dev/null
agent refresh > /dev/null

step "wrong threshold: a root rotation signed by 1 of the 2 required root keys"
repo rotate --role timestamp > /dev/null
rv=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["signed"]["version"])' "$REPO/metadata/root.json")
saved "$REPO/metadata/$rv.root.json"
$PY - "$REPO/metadata/$rv.root.json" <<'PY'
import json, sys
p = sys.argv[1]; d = json.load(open(p))
one = [s for s in d["signatures"] if s["keyid"] in d["signed"]["roles"]["root"]["keyids"]][0]
d["signatures"] = [one, one]   # the same key twice counts once
json.dump(d, open(p, "w"))
PY
expect_refresh 6 "1 of 2 required signatures are valid"
restore "$REPO/metadata/$rv.root.json"
agent refresh > /dev/null

step "key compromise: stolen online keys push versions ahead; a root rotation recovers"
cp -a "$REPO" "$WORK/stolen"
cp -a "$WORK/online" "$WORK/stolen-online"
for _ in 1 2 3 4 5; do "$BIN/livepatch-repo" timestamp --repo "$WORK/stolen" --online-keys "$WORK/stolen-online" > /dev/null; done
rm -rf "$WORK/evil" && cp -a "$WORK/stolen" "$WORK/evil"
agent config remote-server="$MIRROR/evil/" > /dev/null
agent refresh > /dev/null  # the stolen key is still trusted: the agent takes the inflated version
agent config remote-server="$MIRROR/lp/" > /dev/null
expect_refresh 6 "is lower than the trusted"
repo rotate --role timestamp > /dev/null
repo rotate --role snapshot > /dev/null
agent refresh > /dev/null
status_json | json_get 'd["Status"][0]["Livepatch"]["CheckState"]' | grep -qx checked || fail "not recovered by the rotation"
"$BIN/livepatch-repo" timestamp --repo "$WORK/stolen" --online-keys "$WORK/stolen-online" > /dev/null
rm -rf "$WORK/evil" && cp -a "$WORK/stolen" "$WORK/evil"
for f in "$REPO"/metadata/*.root.json; do cp "$f" "$WORK/evil/metadata/"; done
agent config remote-server="$MIRROR/evil/" > /dev/null
set +e; out=$(agent refresh 2>&1); rc=$?; set -e
[[ $rc == 6 && "$out" == *"required signatures are valid"* ]] || fail "the stolen key still works after the rotation: rc=$rc $out"
agent config remote-server="$MIRROR/lp/" > /dev/null
agent refresh > /dev/null
assert_state applied 3

step "no registration and no report ever went to the mirror"
lacks "POST" "$N/access.log"
lacks "DELETE" "$N/access.log"

step "the same repository as a file:// mirror"
agent disable > /dev/null
agent config remote-server="file://$REPO" > /dev/null
agent config trust-root=@stdin < "$REPO/metadata/1.root.json" > /dev/null
agent enable static > /dev/null
assert_state applied 3
agent disable > /dev/null
echo "tuf-static-mirror: passed"

#!/usr/bin/env bash
# sync.sh BUILD_DIR SOURCE_DIR: upstream sync end to end with real server
# processes (SQLite; PostgreSQL when run under with-postgres.sh):
#   upstream --(sync token, stable)--> on-prem --(sync token, canary)--> chained
# A sync token made upstream lets on-prem mirror lp_demo 1 into its first tier,
# where a real agent (simulated kernel) applies it; a listing that does not
# match the file (fault wrong-checksum), a patch damaged at rest and an
# unsigned patch are refused with nothing published; an interrupted transfer
# resumes with Range; expired and revoked tokens get 401 and the reports say
# so; a third server (--patch-store database) mirrors on-prem on its
# interval, honouring filters. A
# server with --upstream-trust-root mirrors only what the upstream's TUF-signed
# catalogue lists, and nothing while that catalogue is frozen. No sync token
# appears in any server log.
source "$(dirname "$0")/../../../tests/integration/lib.sh"
A=$BIN/livepatch-admin
CA=$WORK/demo/tls/ca.pem
UP=$WORK/demo/server
arch=$(uname -m)
KERNEL=5.15.0-100.110-generic
declare -A PIDS=() PORTS=()
sync_cleanup() {
  local rc=$? name
  for name in "${!PIDS[@]}"; do
    kill "${PIDS[$name]}" 2> /dev/null || true
    if ! wait "${PIDS[$name]}" && [[ $rc == 0 ]]; then
      cat "$WORK/$name.log" >&2
      echo "FAIL: server $name did not stop cleanly" >&2
      rc=1
    fi
  done
  cleanup "$rc"
}
trap sync_cleanup EXIT

db() { # db NAME: --database arguments for server NAME (PostgreSQL run only)
  if [[ -n ${LP_TEST_POSTGRES_URL:-} ]]; then
    $LP_TEST_POSTGRES_PSQL -q -d postgres -c "CREATE DATABASE sync_$1" > /dev/null 2>&1 || true
    echo "--database ${LP_TEST_POSTGRES_URL}sync_$1"
  fi
}
start() { # start NAME DATADIR [ARGS...]: a TLS server, its port in PORTS[NAME]
  local name=$1 dir=$2
  shift 2
  rm -f "$WORK/$name.port"
  # shellcheck disable=SC2046
  "$BIN/livepatch-server" --data-dir "$dir" --listen 127.0.0.1:0 --tls-cert "$WORK/demo/tls/server.pem" --tls-key "$WORK/demo/tls/server.key" \
    --port-file "$WORK/$name.port" $(db "$name") "$@" >> "$WORK/$name.log" 2>&1 &
  PIDS[$name]=$!
  for _ in $(seq 200); do [[ -s "$WORK/$name.port" ]] && break; sleep 0.05; done
  [[ -s "$WORK/$name.port" ]] || { cat "$WORK/$name.log"; fail "server $name did not start"; }
  PORTS[$name]=$(cat "$WORK/$name.port")
}
stop() { # stop NAME: SIGTERM, must exit 0
  kill "${PIDS[$1]}"
  wait "${PIDS[$1]}" || { cat "$WORK/$1.log"; fail "server $1 exited with $? on SIGTERM"; }
  unset "PIDS[$1]"
}
adm() { # adm NAME ARGS...: livepatch-admin with the session of server NAME
  LIVEPATCH_ADMIN_DIR=$WORK/admin-$1 "$A" "${@:2}"
}
login() { adm "$1" login --server "https://127.0.0.1:${PORTS[$1]}" --ca-file "$CA" --auth admin:admin-demo > /dev/null; }
# run RC OUT NAME ARGS...: adm NAME ARGS with output in $WORK/OUT, exit code RC.
run() {
  local want=$1 out=$2 rc=0
  shift 2
  adm "$@" > "$WORK/$out" 2>&1 < /dev/null || rc=$?
  [[ $rc == "$want" ]] || { cat "$WORK/$out" >&2; fail "livepatch-admin ${*:2} on $1 exited $rc, expected $want"; }
}
has() { grep -q -- "$2" "$WORK/$1" || { cat "$WORK/$1" >&2; fail "$1 lacks \"$2\""; }; }
published() { # published DATADIR FILE: the file is in the catalogue
  grep -q "file: $2" "$1/catalogue.yaml"
}
no_part_files() { ! ls -A "$1/patches" | grep -q '^\.' || fail "files left in $1/patches: $(ls -A "$1/patches" | grep '^\.')"; }
private_dir() { # a data dir without patches: its own tiers, the demo's admin password and macaroon key
  mkdir -p "$1/patches"
  cp "$UP/admin-password" "$UP/macaroon-key" "$1/"
  printf 'tiers: [{name: canary}, stable]\nkernels: []\n' > "$1/catalogue.yaml"
}

step "upstream: lp_demo 1 published; a sync token for stable, shown once"
catalogue 1
mv "$UP/patches/lp_demo-2.tar.xz" "$WORK/lp_demo-2.tar.xz"   # uploaded later
start up "$UP" --record-dir "$WORK/rec"
login up
TOKEN=$(adm up sync-tokens add stable onprem)
[[ $TOKEN =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]] || fail "sync-tokens add printed no UUIDv4: $TOKEN"
EXPIRED=$(adm up sync-tokens add stable old --valid-until 2020-01-01T00:00:00Z)
run 1 dup up sync-tokens add stable onprem
has dup "409"
run 1 badtier up sync-tokens add nightly x
has badtier "400: tier: no such tier"
run 1 badname up sync-tokens add stable 'a/b'
has badname "400: name: expected"
run 0 tokens up sync-tokens list
has tokens "^onprem  *stable  *-  *false"
has tokens "^old  *stable  *2020-01-01T00:00:00Z  *true"
grep -qF "$TOKEN" "$WORK/tokens" && fail "sync-tokens list shows the token"
run 1 noupstream up sync trigger --wait
has noupstream "400: this server has no upstream"
umask 077
echo "$TOKEN" > "$WORK/onprem.token"

step "on-prem mirrors upstream into its first tier (canary); the agent applies it"
ONP=$WORK/onprem
private_dir "$ONP"
start onprem "$ONP" --upstream "https://127.0.0.1:${PORTS[up]}" --upstream-ca-file "$CA" --sync-token-file "$WORK/onprem.token" \
  --sync-interval 0 --sync-filter "kernels=$KERNEL,architectures=$arch"
login onprem
run 0 first onprem sync trigger --wait
has first "ok  added 1"
published "$ONP" lp_demo-1.tar.xz || fail "lp_demo-1 not published on-prem"
cmp "$UP/patches/lp_demo-1.tar.xz" "$ONP/patches/lp_demo-1.tar.xz" || fail "the mirrored file differs"
run 0 tiers onprem tier list
has tiers "^canary .*lp_demo@1($KERNEL)"
run 0 again onprem sync trigger --wait
has again "ok  added 0"
CANARY=$(adm onprem auth-token add canary)
PORT=${PORTS[onprem]}
configure_agent
agent enable "$CANARY" > /dev/null
assert_state applied 1

step "a listing that does not match the file is refused; nothing is published"
adm up patch upload "$WORK/lp_demo-2.tar.xz" > /dev/null
PORT=${PORTS[up]} fault wrong-checksum
run 1 tamper onprem sync trigger --wait
has tamper "failed"
has tamper "lp_demo-2.tar.xz: refused: its sha256 differs from the upstream's listing"
published "$ONP" lp_demo-2.tar.xz && fail "a patch with a wrong checksum was published"
[[ ! -e $ONP/patches/lp_demo-2.tar.xz ]] || fail "a refused patch was stored"
no_part_files "$ONP"

step "an interrupted transfer resumes from its .part file with a Range request"
PORT=${PORTS[up]} fault none
PORT=${PORTS[up]} fault truncate
run 1 cut onprem sync trigger --wait
has cut "interrupted"
part=$ONP/patches/.sync-lp_demo-2.tar.xz.part
[[ -s $part ]] || fail "no partial download kept"
have=$(stat -c %s "$part")
[[ $have -lt $(stat -c %s "$UP/patches/lp_demo-2.tar.xz") ]] || fail "the part is not partial ($have bytes)"
PORT=${PORTS[up]} fault none
run 0 resumed onprem sync trigger --wait
has resumed "ok  added 1"
grep -q "sync: resuming lp_demo-2.tar.xz at byte $have" "$WORK/onprem.log" || { cat "$WORK/onprem.log"; fail "the transfer did not resume at byte $have"; }
cmp "$UP/patches/lp_demo-2.tar.xz" "$ONP/patches/lp_demo-2.tar.xz" || fail "the resumed file differs"
no_part_files "$ONP"

step "a patch damaged at rest upstream and an unsigned patch are refused"
cp "$UP/patches/lp_demo-3.tar.xz" "$WORK/lp_demo-3.tar.xz"
size=$(stat -c %s "$UP/patches/lp_demo-3.tar.xz")
printf '\xff\xff\xff\xff' | dd of="$UP/patches/lp_demo-3.tar.xz" bs=1 seek=$((size / 2)) conv=notrunc status=none
cc -c -O1 -DLP_VERSION=4 -DLP_RELEASE='"5.15.0-100-generic"' -o "$WORK/unsigned.ko" "$WORK/demo/work/lp_demo.c"
handmade lp_demo 4 "$WORK/unsigned.ko" "$UP/patches/lp_demo-4.tar.xz"
catalogue 1 2 3 4
run 1 atrest onprem sync trigger --wait
has atrest "failed"
grep -q "sync: lp_demo-3.tar.xz: refused: " "$WORK/onprem.log" || { cat "$WORK/onprem.log"; fail "the damaged patch was not refused"; }
grep -q "sync: lp_demo-4.tar.xz: refused: the module in the patch is not signed" "$WORK/onprem.log" || { cat "$WORK/onprem.log"; fail "the unsigned patch was not refused"; }
published "$ONP" lp_demo-3.tar.xz && fail "a damaged patch was published"
published "$ONP" lp_demo-4.tar.xz && fail "an unsigned patch was published"
[[ ! -e $ONP/patches/lp_demo-3.tar.xz && ! -e $ONP/patches/lp_demo-4.tar.xz ]] || fail "a refused patch was stored"
no_part_files "$ONP"
cp "$WORK/lp_demo-3.tar.xz" "$UP/patches/lp_demo-3.tar.xz"
rm "$UP/patches/lp_demo-4.tar.xz"
catalogue 1 2

step "a third server mirrors on-prem (chained, its patch files in its database): filters, then on its interval"
CHAIN_TOKEN=$(adm onprem sync-tokens add canary chain)
echo "$CHAIN_TOKEN" > "$WORK/chain.token"
CH=$WORK/chain
private_dir "$CH"
start chain "$CH" --patch-store database --upstream "https://127.0.0.1:${PORTS[onprem]}" --upstream-ca-file "$CA" --sync-token-file "$WORK/chain.token" \
  --sync-interval 0 --sync-filter "kernels=6.1.0-1-other"
login chain
run 0 filtered chain sync trigger --wait
has filtered "ok  added 0"
published "$CH" lp_demo-1.tar.xz && fail "the kernel filter let a patch through"
stop chain
start chain "$CH" --patch-store database --upstream "https://127.0.0.1:${PORTS[onprem]}" --upstream-ca-file "$CA" --sync-token-file "$WORK/chain.token" \
  --sync-interval 1 --sync-filter "architectures=$arch"
login chain
for _ in $(seq 100); do published "$CH" lp_demo-2.tar.xz && break; sleep 0.2; done
published "$CH" lp_demo-1.tar.xz && published "$CH" lp_demo-2.tar.xz || { cat "$WORK/chain.log"; fail "the chained server did not mirror on-prem"; }
# Mirrored into the database through the patch store (its .part staged in
# patch-cache/, gone once published), and cached under its sha256.
cmp "$UP/patches/lp_demo-2.tar.xz" "$CH/patch-cache/$(sha256sum < "$UP/patches/lp_demo-2.tar.xz" | cut -d' ' -f1)" ||
  fail "the chained file differs"
[[ ! -e $CH/patches/lp_demo-2.tar.xz ]] || fail "the chained server wrote into patches/ with --patch-store database"
for _ in $(seq 20); do ls -A "$CH/patch-cache" | grep -q '^\.' || break; sleep 0.1; done   # the run unlinks its .part just after publishing
! ls -A "$CH/patch-cache" | grep -q '^\.' || fail "files left in $CH/patch-cache: $(ls -A "$CH/patch-cache" | grep '^\.')"
run 0 chainreports chain sync reports
has chainreports "ok *2"
runs=$(grep -c '^20' "$WORK/chainreports")
run 0 queued chain sync trigger
has queued "sync triggered"
for _ in $(seq 50); do adm chain sync reports --limit 1000 | grep -c '^20' > "$WORK/runs" || true; (($(cat "$WORK/runs") > runs)) && break; sleep 0.1; done
(($(cat "$WORK/runs") > runs)) || fail "sync trigger without --wait ran nothing"

step "with --upstream-trust-root only what the upstream's signed catalogue lists is mirrored"
# A second upstream process on the same data dir serves the demo's TUF
# repository (lp_demo 1 signed), with lp_demo 3 signed too; the listing also
# has lp_demo 2 (not signed) and an lp_demo 3 with other bytes than signed (the
# same package recompressed: its module signature and listing sha256 are valid,
# so only the signed catalogue can refuse it).
TUF=$WORK/tuf
cp -a "$WORK/demo/tuf" "$TUF"
"$BIN/livepatch-repo" add --repo "$TUF/repo" --offline-keys "$TUF/offline" --online-keys "$TUF/online" "$UP/patches/lp_demo-3.tar.xz" > /dev/null
xz -dc "$WORK/lp_demo-3.tar.xz" | xz -0 > "$UP/patches/lp_demo-3.tar.xz"
cmp -s "$WORK/lp_demo-3.tar.xz" "$UP/patches/lp_demo-3.tar.xz" && fail "recompressing lp_demo-3 did not change its bytes"
catalogue 1 2 3
start tufup "$UP" --tuf-repo "$TUF/repo" --tuf-online-keys "$TUF/online"
login tufup
SIGNED_TOKEN=$(adm tufup sync-tokens add stable signed)
echo "$SIGNED_TOKEN" > "$WORK/signed.token"
SG=$WORK/signed
private_dir "$SG"
signed_args=(--upstream-ca-file "$CA" --sync-token-file "$WORK/signed.token" --sync-interval 0
  --upstream-trust-root "$TUF/repo/metadata/1.root.json")
for bad in "$TUF/repo/metadata/timestamp.json" "$WORK/no-such-root.json"; do
  rc=0
  "$BIN/livepatch-server" --data-dir "$SG" --plain --upstream https://127.0.0.1:1 --sync-token-file "$WORK/signed.token" \
    --upstream-trust-root "$bad" > "$WORK/badroot" 2>&1 || rc=$?
  [[ $rc == 2 ]] || { cat "$WORK/badroot"; fail "a server started with --upstream-trust-root $bad (rc $rc)"; }
  has badroot "^--upstream-trust-root: "
done
# First without the pin: the listing alone vouches, so all three are
# mirrored, each recorded as such in the catalogue.
start signed "$SG" --upstream "https://127.0.0.1:${PORTS[tufup]}" "${signed_args[@]:0:6}"
login signed
run 0 unpinnedrun signed sync trigger --wait
has unpinnedrun "added 3"
for v in 1 2 3; do published "$SG" "lp_demo-$v.tar.xz" || fail "lp_demo-$v was not mirrored without a pin"; done
provenance() { # provenance DATADIR: "file source verified-by" per catalogue entry
  $PY -c 'import sys, yaml
for k in yaml.safe_load(open(sys.argv[1]))["kernels"]:
    for p in k["patches"]: print(p["file"], p.get("source", "-"), p.get("verified-by", "-"))' "$1/catalogue.yaml"
}
provenance "$SG" > "$WORK/provenance"
[[ $(grep -c " upstream listing$" "$WORK/provenance") == 3 ]] || { cat "$WORK/provenance"; fail "mirrored patches lack their provenance"; }
stop signed
# Pinned: what was mirrored before is checked against the signed catalogue,
# as if mirrored now. lp_demo-1 is vouched for; lp_demo-2 (not signed) and
# lp_demo-3 (other bytes than signed) are withdrawn, their files removed.
start signed "$SG" --upstream "https://127.0.0.1:${PORTS[tufup]}" "${signed_args[@]}"
login signed
run 1 signedrun signed sync trigger --wait
has signedrun "failed"
has signedrun "lp_demo-2.tar.xz: refused: the upstream's signed catalogue does not list it"
has signedrun "withdrew 2 patch(es) mirrored before this trust root was pinned .*: lp_demo-2.tar.xz, lp_demo-3.tar.xz"
grep -q "sync: withdrew lp_demo-3.tar.xz: mirrored before this trust root was pinned" "$WORK/signed.log" ||
  { cat "$WORK/signed.log"; fail "the withdrawal is not in the log"; }
provenance "$SG" > "$WORK/provenance"
grep -q "^lp_demo-1.tar.xz upstream signed-catalogue:[0-9a-f]\{16\}$" "$WORK/provenance" ||
  { cat "$WORK/provenance"; fail "lp_demo-1 is not marked as vouched for by the signed catalogue"; }
published "$SG" lp_demo-1.tar.xz || { cat "$WORK/signed.log"; fail "the signed patch was not mirrored"; }
cmp "$UP/patches/lp_demo-1.tar.xz" "$SG/patches/lp_demo-1.tar.xz" || fail "the signed mirrored file differs"
grep -q "sync: lp_demo-3.tar.xz: refused: its length or sha256 differs from the upstream's signed catalogue" "$WORK/signed.log" ||
  { cat "$WORK/signed.log"; fail "a patch with other bytes than signed was not refused"; }
published "$SG" lp_demo-2.tar.xz && fail "a patch the signed catalogue does not list was published"
published "$SG" lp_demo-3.tar.xz && fail "a patch with other bytes than signed was published"
[[ ! -e $SG/patches/lp_demo-2.tar.xz && ! -e $SG/patches/lp_demo-3.tar.xz ]] || fail "a refused patch was stored"
no_part_files "$SG"
[[ $(stat -c %a "$SG/sync-tuf") == 700 && $(stat -c %a "$SG/sync-tuf/timestamp.json") == 600 ]] ||
  fail "the trusted upstream metadata is not private: $(stat -c '%a %n' "$SG/sync-tuf" "$SG/sync-tuf/"*)"
run 0 signedreports signed sync reports
has signedreports "failed .*the upstream's signed catalogue does not list it"

step "an expired upstream timestamp (freeze) fails the run and mirrors nothing; fresh again, it mirrors"
stop tufup
cp "$WORK/lp_demo-3.tar.xz" "$UP/patches/lp_demo-3.tar.xz"   # now the signed bytes: mirrored unless frozen
"$BIN/livepatch-repo" timestamp --repo "$TUF/repo" --online-keys "$TUF/online" --now "$(date -u -d '-3 days' +%Y-%m-%dT%H:%M:%SZ)" > /dev/null
start tufup "$UP" --tuf-repo "$TUF/repo"   # without its online keys it cannot re-sign
stop signed
start signed "$SG" --upstream "https://127.0.0.1:${PORTS[tufup]}" "${signed_args[@]}"
login signed
run 1 frozen signed sync trigger --wait
has frozen "the upstream's signed catalogue: .*timestamp.json expired at"
published "$SG" lp_demo-3.tar.xz && fail "a frozen signed catalogue let a patch through"
stop tufup
start tufup "$UP" --tuf-repo "$TUF/repo" --tuf-online-keys "$TUF/online"   # re-signs at start
stop signed
start signed "$SG" --upstream "https://127.0.0.1:${PORTS[tufup]}" "${signed_args[@]}"
login signed
run 1 fresh signed sync trigger --wait
has fresh "added 1"
published "$SG" lp_demo-3.tar.xz || { cat "$WORK/signed.log"; fail "the signed lp_demo-3 was not mirrored once fresh"; }
cmp "$WORK/lp_demo-3.tar.xz" "$SG/patches/lp_demo-3.tar.xz" || fail "the mirrored lp_demo-3 differs from the signed one"
stop signed
stop tufup
catalogue 1 2

step "expired and revoked sync tokens: 401, and the reports say so"
echo "$EXPIRED" > "$WORK/onprem.token"
run 1 expired onprem sync trigger --wait
has expired "the upstream refused the sync token (401: sync token expired)"
echo "$TOKEN" > "$WORK/onprem.token"
run 0 revoke up sync-tokens revoke onprem
has revoke "revoked"
run 1 revokeagain up sync-tokens revoke onprem
has revokeagain "no such sync token"
run 1 revoked onprem sync trigger --wait
has revoked "401: unknown or revoked sync token"
code=$($PY - "${PORTS[up]}" "$TOKEN" "$CA" <<'PY'
import ssl, sys, urllib.request, urllib.error
port, token, ca = sys.argv[1:4]
req = urllib.request.Request(f"https://127.0.0.1:{port}/v1/sync/files/lp_demo-1.tar.xz", headers={"Authorization": "Bearer " + token})
try:
    urllib.request.urlopen(req, context=ssl.create_default_context(cafile=ca)); print(200)
except urllib.error.HTTPError as e: print(e.code)
PY
)
[[ $code == 401 ]] || fail "a revoked sync token downloaded a patch ($code)"
run 0 reports onprem sync reports
has reports "failed .*401: unknown or revoked sync token"
has reports "failed .*401: sync token expired"
has reports "failed .*sha256 differs"
has reports "ok *1"

step "every sync body matches its schema"
run 0 tokensjson up sync-tokens list --format json
run 0 reportsjson onprem sync reports --format json
$PY - "${PORTS[chain]}" "$CA" "$SRC/schemas/api" "$WORK/tokensjson" "$WORK/reportsjson" <<'PY'
import base64, json, ssl, sys, urllib.request, jsonschema
port, ca, schemas, tokens, reports = sys.argv[1:6]
def schema(n): return json.load(open(f"{schemas}/{n}.schema.json"))
ctx = ssl.create_default_context(cafile=ca)
def post(path, body):
    req = urllib.request.Request(f"https://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST",
          headers={"Authorization": "Basic " + base64.b64encode(b"admin:admin-demo").decode(), "Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, context=ctx))
jsonschema.validate({"tier": "canary", "name": "schema-check", "valid-until": "2099-01-01T00:00:00Z"}, schema("admin-sync-token-request"))
jsonschema.validate(post("/admin/sync-tokens", {"tier": "canary", "name": "schema-check", "valid-until": "2099-01-01T00:00:00Z"}),
                    schema("admin-sync-token-response"))
jsonschema.validate(post("/admin/sync", {"wait": True}), schema("admin-sync-report"))
jsonschema.validate(json.load(open(tokens)), schema("admin-sync-tokens-response"))
jsonschema.validate(json.load(open(reports)), schema("admin-sync-reports-response"))
PY
ls "$WORK/rec" | grep -q -- '-sync-patches-response.json$' || fail "no sync listing recorded"
$PY "$SRC/tools/server/validate-recordings.py" "$WORK/rec" "$SRC/schemas/api" > "$WORK/validate.out" || { cat "$WORK/validate.out"; fail "recorded bodies"; }

step "a sync token file others can read is refused"
chmod 644 "$WORK/onprem.token"
run 1 loose onprem sync trigger --wait
has loose "the sync token file is readable by others"
chmod 600 "$WORK/onprem.token"

step "no sync token in any server log, nor in the upstream's database (only its SHA-256)"
if [[ -z ${LP_TEST_POSTGRES_URL:-} ]]; then
  lacks "$TOKEN" "$UP"/server.db*   # with its WAL
  # grep reads the files itself: `cat | grep -q` under pipefail fails when grep
  # stops at the first match and cat, still writing, gets SIGPIPE (seen in CI).
  grep -qaF "$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)" "$UP"/server.db* || fail "the sync token's digest is not in the database"
fi
logs=("$WORK/up.log" "$WORK/onprem.log" "$WORK/chain.log" "$WORK/tufup.log" "$WORK/signed.log")
lacks "$TOKEN" "${logs[@]}"
lacks "$EXPIRED" "${logs[@]}"
lacks "$CHAIN_TOKEN" "${logs[@]}"
lacks "$SIGNED_TOKEN" "${logs[@]}"
agent disable > /dev/null
echo "sync: all steps passed"

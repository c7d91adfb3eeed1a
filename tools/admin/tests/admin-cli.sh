#!/usr/bin/env bash
# admin-cli.sh BUILD_DIR: livepatch-admin end to end against the real
# livepatch-server (SQLite; PostgreSQL when run under with-postgres.sh):
# login with an htpasswd bcrypt user, tier list, upload a signed patch to
# the first tier, promote it, auth tokens added and revoked, machines and
# fleet listings (validated against schemas/api), bad input, and no secret
# in any output.
set -euo pipefail
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/../../.." && pwd)
W=$(mktemp -d /tmp/lp-admin-cli.XXXXXX)
pid= tlspid=
trap 'for p in $pid $tlspid; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"' EXIT
. "$(dirname "$0")/lib.sh"   # fail, expect, has
A=$BUILD/bin/livepatch-admin
LIVEPATCH_BIN=$BUILD/bin "$SRC/tools/server/make-demo-data.sh" "$W/demo" > /dev/null
data=$W/demo/server
arch=$(uname -m)
# Two tiers; lp_demo-2 (signed by make-demo-data) is what the admin uploads.
{ echo "tiers: [{name: canary, soak: 3d}, stable]"; cat "$data/catalogue.yaml"; } > "$W/cat" && mv "$W/cat" "$data/catalogue.yaml"
mv "$data/patches/lp_demo-2.tar.xz" "$W/lp_demo-2.tar.xz"
PW='b1crypt Pass#7'
htpasswd -bnBC 10 ops "$PW" > "$data/admin-password"
db=()
if [[ -n ${LP_TEST_POSTGRES_URL:-} ]]; then
  $LP_TEST_POSTGRES_PSQL -q -d postgres -c "CREATE DATABASE admincli" > /dev/null
  db=(--database "${LP_TEST_POSTGRES_URL}admincli")
fi
"$BUILD/bin/livepatch-server" --data-dir "$data" --plain --listen 127.0.0.1:0 --port-file "$W/port" "${db[@]}" > "$W/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [[ -s "$W/port" ]] && break; sleep 0.05; done
[[ -s "$W/port" ]] || { cat "$W/server.log"; fail "server did not start"; }
URL=http://127.0.0.1:$(cat "$W/port")
export LIVEPATCH_ADMIN_DIR=$W/admin

expect 1 notloggedin "$A" tier list
has notloggedin "not logged in"
expect 1 badpw "$A" login --server "$URL" --auth 'ops:Wr0ng-Pw'
has badpw "refused the credentials"
expect 2 noserver "$A" login --auth ops:x
has noserver "needs --server"
IN=$PW expect 0 login "$A" login --server "$URL" --auth ops    # password from stdin
has login "logged in to $URL as ops until 20"
[[ $(stat -c %a "$W/admin") == 700 && $(stat -c %a "$W/admin/session.json") == 600 ]] || fail "session not private: $(stat -c '%a %n' "$W/admin" "$W/admin/session.json")"
MAC=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["macaroon"])' "$W/admin/session.json")
[[ ${#MAC} -gt 40 ]] || fail "no macaroon in the session"

expect 0 tiers "$A" tier list
has tiers "^TIER"
has tiers "^canary  259200s  0 "
has tiers "lp_demo@1($(grep -m1 'kernel:' "$data/catalogue.yaml" | awk '{print $3}'))"
CANARY=$("$A" auth-token add canary)
STABLE=$("$A" auth-token add stable)
[[ $CANARY =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]] || fail "auth-token add printed no UUIDv4"
expect 0 upload "$A" patch upload "$W/lp_demo-2.tar.xz"
has upload "uploaded lp_demo version 2 for .* to tier canary"
expect 1 reupload "$A" patch upload "$W/lp_demo-2.tar.xz"
has reupload "409: a patch file with this name already exists"
cp /etc/hostname "$W/not-a-patch.tar.xz"
expect 1 notpatch "$A" patch upload "$W/not-a-patch.tar.xz"
has notpatch "answered 400"
[[ ! -e $data/patches/not-a-patch.tar.xz ]] || fail "a refused upload was left in patches/"
ls -A "$data/patches" | grep -q '^\.' && fail "temporary upload files left behind"

# Machines: one per tier; only canary sees version 2 until it is promoted.
/usr/bin/python3 - "$URL" "$CANARY" "$STABLE" "$arch" "$W/machines.json" <<'PY'
import json, sys, urllib.request, urllib.error
url, canary, stable, arch, out = sys.argv[1:6]
def call(method, path, body, auth):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method=method,
                                 headers={"Authorization": auth, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r: return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e: return e.code, {}
kernel = "5.15.0-100.110-generic"
ids = {"canary": "0123456789abcdef0123456789abcdea", "stable": "0123456789abcdef0123456789abcdeb"}
tokens = {}
for tier, tok in (("canary", canary), ("stable", stable)):
    st, body = call("POST", "/v1/client/" + ids[tier], {"kernel": kernel, "architecture": arch}, "Bearer " + tok)
    assert st == 200, (tier, st)
    tokens[tier] = body["machine-token"]
def versions(tier):
    report = {"kernel": kernel, "architecture": arch, "patch-state": "applied", "patch-version": "1", "check-state": "checked"}
    st, body = call("POST", f"/v1/client/{ids[tier]}/updates", report, "Bearer " + tokens[tier])
    assert st == 200, (tier, st)
    return sorted(p["version"] for p in body["patches"])
assert versions("canary") == ["1", "2"], versions("canary")
assert versions("stable") == ["1"], versions("stable")
json.dump({"ids": ids, "tokens": tokens}, open(out, "w"))
PY
expect 1 promotebad "$A" patch promote ../2 stable
has promotebad "400: version: expected a patch version"
expect 1 promoteunknown "$A" patch promote 2 nightly
has promoteunknown "no such tier"
expect 1 promotemissing "$A" patch promote 9 stable
has promotemissing "404"
expect 0 promote "$A" patch promote 2 stable
has promote "promoted lp_demo-2.tar.xz (5.15.0-100.110-generic) from canary to stable"
/usr/bin/python3 - "$URL" "$arch" "$W/machines.json" <<'PY'
import json, sys, urllib.request
url, arch, state = sys.argv[1:4]
m = json.load(open(state))
req = urllib.request.Request(url + f"/v1/client/{m['ids']['stable']}/updates", method="POST",
    data=json.dumps({"kernel": "5.15.0-100.110-generic", "architecture": arch}).encode(),
    headers={"Authorization": "Bearer " + m["tokens"]["stable"], "Content-Type": "application/json"})
with urllib.request.urlopen(req) as r:
    got = sorted(p["version"] for p in json.loads(r.read())["patches"])
assert got == ["1", "2"], f"stable after promotion: {got}"
PY

expect 0 machines "$A" machines
has machines "^MACHINE .*LAST-SEEN"
has machines "^0123456789abcdef0123456789abcdea  canary  5.15.0-100.110-generic  applied *1 *checked"
expect 0 machinesjson "$A" machines --format json
expect 0 fleet "$A" fleet
has fleet "5.15.0-100.110-generic: 2"
expect 0 fleetjson "$A" fleet --format json
expect 2 badformat "$A" machines --format yaml
has badformat "expected table or json"
expect 1 badtier "$A" auth-token add 'Bad/Tier'
has badtier "400: tier: expected a tier name"

# Every admin answer matches its schema (bodies fetched with the stored macaroon).
/usr/bin/python3 - "$URL" "$SRC/schemas/api" "$W/admin/session.json" "$W/machinesjson" "$W/fleetjson" <<'PY'
import json, sys, urllib.request, jsonschema
url, schemas, session, machines, fleet = sys.argv[1:6]
mac = json.load(open(session))["macaroon"]
def schema(n): return json.load(open(f"{schemas}/{n}.schema.json"))
def get(path):
    req = urllib.request.Request(url + path, headers={"Authorization": "Macaroon " + mac})
    with urllib.request.urlopen(req) as r: return json.loads(r.read())
jsonschema.validate(get("/admin/tiers"), schema("admin-tiers-response"))
jsonschema.validate(get("/admin/machines?limit=1"), schema("admin-machines-response"))
jsonschema.validate({"machines": json.load(open(machines)), "next": None}, schema("admin-machines-response"))
jsonschema.validate(json.load(open(fleet)), schema("admin-fleet-response"))
req = urllib.request.Request(url + "/admin/catalogue", headers={"Authorization": "Macaroon " + mac})
with urllib.request.urlopen(req) as r: doc, etag = r.read(), r.headers["ETag"]
req = urllib.request.Request(url + "/admin/catalogue", data=doc, method="PUT",
                             headers={"Authorization": "Macaroon " + mac, "If-Match": etag})
with urllib.request.urlopen(req) as r:
    answer = json.loads(r.read())
jsonschema.validate(answer, schema("admin-catalogue-put-response"))
assert f'"{answer["etag"]}"' == etag, "the same document has another etag"
print("schemas ok")
PY

# Revocation reads the token from stdin; the token then registers nothing.
IN=$CANARY expect 0 revoke "$A" auth-token revoke
has revoke "revoked"
IN=$CANARY expect 1 revokeagain "$A" auth-token revoke
has revokeagain "no such auth token"
code=$(/usr/bin/python3 - "$URL" "$CANARY" <<'PY'
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1] + "/v1/client/fedcba9876543210fedcba9876543210", data=b"{}", method="POST",
                             headers={"Authorization": "Bearer " + sys.argv[2], "Content-Type": "application/json"})
try:
    urllib.request.urlopen(req); print(200)
except urllib.error.HTTPError as e: print(e.code)
PY
)
[[ $code == 401 ]] || fail "a revoked auth token registered a machine ($code)"

# A resource token minted from the CLI registers a machine in its tier.
expect 0 mint "$A" resource-token mint --tier canary --expires 2099-01-01T00:00:00Z
RT=$(tr -d '\n' < "$W/mint")
code=$(/usr/bin/python3 - "$URL" "$RT" <<'PY'
import json, sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1] + "/v1/client/fedcba9876543210fedcba987654321f", data=b"{}", method="POST",
                             headers={"Authorization": "Macaroon " + sys.argv[2], "Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req) as r: print(r.status, json.loads(r.read())["tier"])
except urllib.error.HTTPError as e: print(e.code)
PY
)
[[ $code == "200 canary" ]] || fail "a minted resource token did not register a canary machine ($code)"
expect 1 mintbad "$A" resource-token mint --tier 'Bad/Tier'
has mintbad "400: tier: expected a tier name"
expect 2 unknownverb "$A" patch delete 2

# The catalogue as a document: get (the etag on stderr), put based on that
# etag; a stale etag, a document the server could not use, and a put that
# names no base are refused with the catalogue unchanged; edit runs $EDITOR.
"$A" catalogue get > "$W/cat.yaml" 2> "$W/cat.err" || fail "catalogue get failed: $(cat "$W/cat.err")"
grep -q "^tiers:" "$W/cat.yaml" || fail "catalogue get printed no tiers: $(head -3 "$W/cat.yaml")"
ETAG=$(sed -n 's/^etag: \([0-9a-f]\{64\}\)$/\1/p' "$W/cat.err")
[[ -n $ETAG ]] || fail "catalogue get printed no etag: $(cat "$W/cat.err")"
sed 's/supported: supported/supported: kernel-end-of-life/' "$W/cat.yaml" > "$W/cat-eol.yaml"
expect 2 catputnobase "$A" catalogue put "$W/cat-eol.yaml"
has catputnobase "say which catalogue this edit is based on"
expect 0 catput "$A" catalogue put "$W/cat-eol.yaml" --if-match "$ETAG"
has catput "catalogue replaced"
grep -q "supported: kernel-end-of-life" "$data/catalogue.yaml" || fail "catalogue put did not reach the file"
expect 1 catputstale "$A" catalogue put "$W/cat.yaml" --if-match "$ETAG"
has catputstale "changed since it was read"
printf 'tiers: ["No Such/Tier"]\n' > "$W/cat-bad.yaml"
expect 1 catputbad "$A" catalogue put "$W/cat-bad.yaml" --force
has catputbad "400: .*tiers entry 1: name must be"
grep -q "supported: kernel-end-of-life" "$data/catalogue.yaml" || fail "a refused put changed the catalogue"
printf '#!/bin/sh\nsed -i "s/kernel-end-of-life/supported/" "$1"\n' > "$W/editor.sh" && chmod 755 "$W/editor.sh"
EDITOR=$W/editor.sh expect 0 catedit "$A" catalogue edit
has catedit "catalogue replaced"
grep -q "supported: kernel-end-of-life" "$data/catalogue.yaml" && fail "catalogue edit did not put the edited document"
EDITOR=true expect 0 catnoedit "$A" catalogue edit
has catnoedit "no change"
ls /tmp/livepatch-catalogue-* 2> /dev/null && fail "catalogue edit left its temporary file"
# A catalogue with a raw escape sequence (hand-edited, or a hostile server)
# never reaches the terminal or the editor.
cp "$data/catalogue.yaml" "$W/cat-saved.yaml"
sed -i "0,/description: /s/description: /description: $(printf '\033')[2J/" "$data/catalogue.yaml"
grep -q "$(printf '\033')" "$data/catalogue.yaml" || fail "no escape byte was put into the catalogue"
expect 1 catesc "$A" catalogue get
has catesc "not plain text (control characters); not shown"
grep -q "$(printf '\033')" "$W/catesc" && fail "catalogue get printed the escape byte"
EDITOR=true expect 1 catescedit "$A" catalogue edit
cp "$W/cat-saved.yaml" "$data/catalogue.yaml"
# Over TLS: a second server on the same data, verified against the test CA.
"$BUILD/bin/livepatch-server" --data-dir "$data" --listen 127.0.0.1:0 --port-file "$W/tls.port" "${db[@]}" \
  --tls-cert "$W/demo/tls/server.pem" --tls-key "$W/demo/tls/server.key" > "$W/tls-server.log" 2>&1 &
tlspid=$!
for _ in $(seq 100); do [[ -s "$W/tls.port" ]] && break; sleep 0.05; done
[[ -s "$W/tls.port" ]] || { cat "$W/tls-server.log"; fail "TLS server did not start"; }
TLS=https://127.0.0.1:$(cat "$W/tls.port")
LIVEPATCH_ADMIN_DIR=$W/admin-tls expect 1 tlsother "$A" login --server "$TLS" --ca-file "$W/demo/tls/other-ca.pem" --auth "ops:$PW"
has tlsother "cannot reach $TLS"
LIVEPATCH_ADMIN_DIR=$W/admin-tls expect 0 tlslogin "$A" login --server "$TLS" --ca-file "$W/demo/tls/ca.pem" --auth "ops:$PW"
LIVEPATCH_ADMIN_DIR=$W/admin-tls expect 0 tlstiers "$A" tier list
has tlstiers "^canary"
kill "$tlspid"; wait "$tlspid" 2>/dev/null || true
# A session others can read is refused rather than used.
chmod 644 "$W/admin/session.json"
expect 1 loose "$A" tier list
has loose "readable by others"
chmod 600 "$W/admin/session.json"

# No password or macaroon in anything the tool or the server printed.
for f in "$W"/*; do
  [[ -f $f ]] || continue
  [[ $f == */machines.json ]] && continue
  grep -qF -- "$MAC" "$f" && fail "the macaroon appears in $(basename "$f")"
  grep -qF -- "$PW" "$f" && fail "the password appears in $(basename "$f")"
  grep -qF -- "Wr0ng-Pw" "$f" && fail "a wrong password appears in $(basename "$f")"
done
echo "admin-cli: $n commands checked, 0 failed"

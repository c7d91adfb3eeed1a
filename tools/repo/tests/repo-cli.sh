#!/usr/bin/env bash
# repo-cli.sh BUILD_DIR SOURCE_DIR: livepatch-repo end to end on files:
# init (key placement and modes), add a packed patch, the client check,
# key rotations (root, targets, snapshot) followed by clients, and refusals
# with their exit codes.
set -euo pipefail
build=$(cd "$1" && pwd)
tool=$build/bin/livepatch-repo
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
repo_args=(--repo "$work/repo" --offline-keys "$work/offline" --online-keys "$work/online")
mode() { stat -c %a "$1"; }

"$tool" init "${repo_args[@]}" --root-keys 3 > /dev/null
[[ $(mode "$work/offline") == 700 && $(mode "$work/online") == 700 ]] || fail "key directories are not 0700"
for k in offline/root-1.pem offline/root-2.pem offline/root-3.pem offline/targets.pem online/snapshot.pem online/timestamp.pem; do
  [[ $(mode "$work/$k") == 600 ]] || fail "$k is not 0600"
done
[[ ! -e $work/online/root-1.pem && ! -e $work/online/targets.pem ]] || fail "offline keys in the online directory"
[[ $(mode "$work/repo/metadata/timestamp.json") == 644 ]] || fail "published metadata is not world-readable"
python3 - "$work/repo/metadata/1.root.json" <<'PY' || fail "root threshold is not 2 of 3"
import json, sys
r = json.load(open(sys.argv[1]))["signed"]["roles"]["root"]
assert len(r["keyids"]) == 3 and r["threshold"] == 2, r
PY
if "$tool" init --repo "$work/r2" --offline-keys "$work/same" --online-keys "$work/same" > "$work/out" 2>&1; then
  fail "init accepted one directory for offline and online keys"
fi

# A relocatable object with the .modinfo a livepatch module has (pack
# requires name=, livepatch=Y and the version it is packed as).
module() {  # VERSION RELEASE OUT
  printf '%s\n' '#define MODINFO(id, s) __attribute__((section(".modinfo"), used, aligned(1))) static const char id[] = s;' \
    'MODINFO(n, "name=lp_cli") MODINFO(l, "livepatch=Y")' "MODINFO(m, \"vermagic=$2 SMP mod_unload \") MODINFO(v, \"version=$1\")" \
    'int lp_cli_marker(void) { return 1; }' > "$work/lp.c"
  cc -c -O1 -o "$3" "$work/lp.c"
}
module 3 6.1.0-18-amd64 "$work/lp.ko"
"$build/bin/livepatch-pack" pack --name lp_cli --version 3 --kernel 6.1.0-18-amd64 --arch x86_64 --module "$work/lp.ko" -o "$work/lp_cli-3.tar.xz"
"$tool" add "${repo_args[@]}" "$work/lp_cli-3.tar.xz" > /dev/null
target=6.1.0-18-amd64/x86_64/lp_cli-3.tar.xz
"$tool" list --repo "$work/repo" > "$work/list"
grep -q "\"path\":\"$target\"" "$work/list" || fail "list does not show $target: $(cat "$work/list")"

"$tool" client --mirror "$work/repo" --trusted "$work/client" --root "$work/repo/metadata/1.root.json" > "$work/seen"
grep -q '"name":"lp_cli"' "$work/seen" && grep -q '"version":"3"' "$work/seen" || fail "client does not see the patch: $(cat "$work/seen")"
[[ $(mode "$work/client") == 700 && $(mode "$work/client/timestamp.json") == 600 ]] || fail "trusted metadata is not root-only"
"$tool" client --mirror "$work/repo" --trusted "$work/client" --download "$target" -o "$work/got"
cmp "$work/got" "$work/lp_cli-3.tar.xz" || fail "downloaded bytes differ"

# A delegated tier with its own key: its patches resolve through it.
"$tool" delegate "${repo_args[@]}" --role stable --paths '6.1.0-19-amd64/*/*' --terminating yes > /dev/null
[[ $(mode "$work/offline/stable.pem") == 600 ]] || fail "tier key is not 0600"
module 4 6.1.0-19-amd64 "$work/lp.ko"
"$build/bin/livepatch-pack" pack --name lp_cli --version 4 --kernel 6.1.0-19-amd64 --arch x86_64 --module "$work/lp.ko" -o "$work/lp_cli-4.tar.xz"
"$tool" add "${repo_args[@]}" --role stable "$work/lp_cli-4.tar.xz" > /dev/null
"$tool" client --mirror "$work/repo" --trusted "$work/client" > "$work/seen"
grep -q '"path":"6.1.0-19-amd64/x86_64/lp_cli-4.tar.xz"' "$work/seen" || fail "delegated patch not seen: $(cat "$work/seen")"

# Rotations: the client follows each with the trust it already has.
for role in root targets snapshot timestamp; do
  "$tool" rotate "${repo_args[@]}" --role "$role" > /dev/null
  "$tool" client --mirror "$work/repo" --trusted "$work/client" > "$work/seen" || fail "client refused after rotating $role"
done
ls "$work/offline"/*.new 2>/dev/null && fail "staged keys left behind"
root_version=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["signed"]["version"])' "$work/client/root.json")
[[ $root_version == 5 ]] || fail "client root version $root_version, expected 5"
# After the root rotation (one new key), the old keys are gone from disk.
[[ ! -e $work/offline/root-2.pem ]] || fail "retired root key left on disk"

# A tampered patch: exit 6 (verification) and a checksum-mismatch code.
f=$(find "$work/repo/targets" -name '*.lp_cli-3.tar.xz')
printf 'X' | dd of="$f" bs=1 seek=10 conv=notrunc status=none
set +e
"$tool" client --mirror "$work/repo" --trusted "$work/client" --download "$target" -o "$work/got2" > "$work/out" 2>&1
rc=$?
set -e
[[ $rc == 6 ]] || fail "tampered target: exit $rc, expected 6: $(cat "$work/out")"
grep -q "checksum-mismatch" "$work/out" || fail "no checksum-mismatch: $(cat "$work/out")"
[[ ! -e $work/got2 ]] || fail "tampered bytes were written"

# An old timestamp served again: rollback, exit 6.
cp "$work/repo/metadata/timestamp.json" "$work/ts-old"
"$tool" timestamp --repo "$work/repo" --online-keys "$work/online" > /dev/null
"$tool" client --mirror "$work/repo" --trusted "$work/client" > /dev/null
cp "$work/ts-old" "$work/repo/metadata/timestamp.json"
set +e
"$tool" client --mirror "$work/repo" --trusted "$work/client" > "$work/out" 2>&1
rc=$?
set -e
[[ $rc == 6 ]] && grep -q "\[rollback\]" "$work/out" || fail "replayed timestamp: exit $rc: $(cat "$work/out")"
echo "repo-cli: ok"

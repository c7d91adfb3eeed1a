#!/usr/bin/env bash
# interop.sh BUILD_DIR SOURCE_DIR: TUF interoperability, both directions,
# offline (the fetchers read directories):
#  1. tuf-js (independent client) accepts a repository written by
#     livepatch-repo, after root and timestamp key rotations, and refuses it
#     once a target is tampered with;
#  2. livepatch-repo client (our Updater) accepts a repository whose
#     metadata @tufjs/models wrote and node's ed25519 signed, and refuses it
#     once the targets metadata is tampered with.
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
mods=$build/tuf-interop/node_modules
if [[ ! -d $mods/tuf-js ]]; then
  echo "FAIL: $mods has no tuf-js; run tests/tuf-interop/install.sh $build first"
  exit 1
fi
export NODE_PATH=$mods
repo_tool=$build/bin/livepatch-repo
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

echo "== 1. livepatch-repo writes, tuf-js reads"
# A relocatable object with the .modinfo livepatch-pack requires.
printf '%s\n' '#define MODINFO(id, s) __attribute__((section(".modinfo"), used, aligned(1))) static const char id[] = s;' \
  'MODINFO(n, "name=lp_interop") MODINFO(l, "livepatch=Y") MODINFO(m, "vermagic=6.1.0-18-amd64 SMP mod_unload ")' \
  'MODINFO(v, "version=2") int lp_interop_marker(void) { return 2; }' > "$work/lp.c"
cc -c -O1 -o "$work/lp.ko" "$work/lp.c"
"$build/bin/livepatch-pack" pack --name lp_interop --version 2 --kernel 6.1.0-18-amd64 --arch x86_64 \
  --module "$work/lp.ko" -o "$work/lp_interop-2.tar.xz"
"$repo_tool" init --repo "$work/repo" --offline-keys "$work/offline" --online-keys "$work/online" > /dev/null
"$repo_tool" add --repo "$work/repo" --offline-keys "$work/offline" --online-keys "$work/online" \
  --published 2026-11-01T00:00:00Z "$work/lp_interop-2.tar.xz" > /dev/null
"$repo_tool" rotate --repo "$work/repo" --offline-keys "$work/offline" --online-keys "$work/online" --role root > /dev/null
"$repo_tool" rotate --repo "$work/repo" --offline-keys "$work/offline" --online-keys "$work/online" --role timestamp > /dev/null
target=6.1.0-18-amd64/x86_64/lp_interop-2.tar.xz
node "$here/tufjs-client.js" "$work/repo" "$work/repo/metadata/1.root.json" "$work/js" "$target" > "$work/js.out" \
  || fail "tuf-js refused our repository: $(cat "$work/js.out")"
python3 - "$work/js.out" <<'PY' || fail "tuf-js saw other custom fields: $(cat "$work/js.out")"
import json, sys
out = json.load(open(sys.argv[1]))
c = out["custom"]
assert (c["name"], c["version"], c["kernel"], c["architecture"], c["published"]) == \
    ("lp_interop", "2", "6.1.0-18-amd64", "x86_64", "2026-11-01T00:00:00Z"), c
PY
cmp "$work/js/targets/download" "$work/lp_interop-2.tar.xz" || fail "tuf-js downloaded other bytes"
# The same check must fail on a tampered target (the test can fail).
tampered=$(find "$work/repo/targets" -name '*.lp_interop-2.tar.xz')
printf 'X' | dd of="$tampered" bs=1 seek=100 conv=notrunc status=none
rm -rf "$work/js"
if node "$here/tufjs-client.js" "$work/repo" "$work/repo/metadata/1.root.json" "$work/js" "$target" > "$work/js2.out" 2>&1; then
  fail "tuf-js accepted a tampered target"
fi
echo "tuf-js refused the tampered target: $(tail -1 "$work/js2.out")"

echo "== 2. @tufjs/models writes, livepatch-repo client reads"
node "$here/tufjs-writer.js" "$work/js-repo" > /dev/null
"$repo_tool" client --mirror "$work/js-repo" --trusted "$work/ours" --root "$work/js-repo/metadata/1.root.json" > "$work/ours.out" \
  || fail "our client refused the tuf-js repository: $(cat "$work/ours.out")"
grep -q '"path":"hello.txt"' "$work/ours.out" || fail "hello.txt not listed: $(cat "$work/ours.out")"
"$repo_tool" client --mirror "$work/js-repo" --trusted "$work/ours" --download hello.txt -o "$work/hello"
[[ "$(cat "$work/hello")" == "hello from tuf-js" ]] || fail "wrong bytes downloaded"
sed -i 's/"version": 1,/"version": 1, "x-injected": 1,/' "$work/js-repo/metadata/1.targets.json"
rm -rf "$work/ours2"
if "$repo_tool" client --mirror "$work/js-repo" --trusted "$work/ours2" --root "$work/js-repo/metadata/1.root.json" > "$work/ours2.out" 2>&1; then
  fail "our client accepted tampered tuf-js metadata"
fi
echo "our client refused tampered metadata: $(cat "$work/ours2.out")"
echo "interop: ok"

#!/usr/bin/env bash
set -euo pipefail
build=$1 sample=$2
work=$(mktemp -d /tmp/lp-vendor.XXXXXX)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" > /dev/null
# The sample sees only the installed headers and package config.
cmake -S "$sample" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/configure.log" || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/build" > "$work/build.log" || { cat "$work/build.log"; exit 1; }
ls "$work/build/vendor-example.so" > /dev/null
chmod 755 "$work" "$work/build"
agent=("$work/prefix/bin/livepatch-agent" --root-dir "$work/root")
"${agent[@]}" config plugin-dirs="$work/build" > /dev/null
rc=0
out=$("${agent[@]}" plugins 2>&1) || rc=$?
[[ $rc == 0 ]] || { echo "$out"; echo "FAIL: plugins exited with $rc"; exit 1; }
echo "$out"
grep -qP '^vendor-example\tverification\t0\.1\.0\t' <<< "$out" || { echo "FAIL: vendor plugin not loaded by the installed agent"; exit 1; }
grep -qP '^transport-https\ttransport\t' <<< "$out" || { echo "FAIL: installed plugins missing"; exit 1; }
echo "vendor-plugin: 1 passed, 0 failed"

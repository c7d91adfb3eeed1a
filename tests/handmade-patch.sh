#!/usr/bin/env bash
# handmade-patch.sh NAME VERSION MODULE KERNEL ARCH OUT
# A patch tarball whose (unsigned) livepatch.json says NAME and VERSION around
# any module, as a compromised server or mirror could make it; livepatch-pack
# refuses to, so tests that need lying metadata use this.
set -euo pipefail
name=$1 version=$2 module=$3 kernel=$4 arch=$5 out=$6
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
cp "$module" "$d/$name.ko"
printf '{"format":1,"name":"%s","version":"%s","module":"%s.ko","kernel":"%s","architecture":"%s","replace":true,"fixes":[]}\n' \
  "$name" "$version" "$name" "$kernel" "$arch" > "$d/livepatch.json"
tar -cJf "$out" -C "$d" livepatch.json "$name.ko"

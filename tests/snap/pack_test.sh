#!/usr/bin/env bash
# pack_test.sh BUILD_DIR SOURCE_DIR
# The .snap file itself: tools/snap/make-snap-dir.sh --pack builds it from the
# installed tree with `snap pack` (Debian's snapd package; no daemon needed),
# then its layout is read back with `unsquashfs -l`: meta/snap.yaml, every
# app command and hook, the engine and plugins, the unit, LICENSE; nothing
# of the server, packer, signer or SDK.
set -euo pipefail
BUILD=$1 SRC=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
for tool in snap unsquashfs; do
  command -v "$tool" > /dev/null || fail "$tool is not installed (tools/install-deps.sh: snapd, squashfs-tools)"
done
W=$(mktemp -d /tmp/lp-snappack.XXXXXX)
trap 'rm -rf "$W"' EXIT
"$SRC/tools/snap/make-snap-dir.sh" "$BUILD" "$SRC" "$W/tree" --pack "$W/out"
version=$(sed -n 's/^version: "\(.*\)"/\1/p' "$SRC/snap/snapcraft.yaml")
snapfile=$W/out/livepatch-agent_${version}_$(dpkg --print-architecture).snap
[[ -f "$snapfile" ]] || fail "snap pack did not make $snapfile: $(ls "$W/out")"
unsquashfs -l "$snapfile" | sed -n 's|^squashfs-root||p' | sort > "$W/listing"
for need in /meta/snap.yaml /bin/daemon-start /usr/bin/livepatch-agent /usr/lib/livepatch-agent/livepatch-agent-engine \
            /usr/lib/livepatch-agent/plugins/transport-https.so /usr/lib/livepatch-agent/plugins/loader-klp.so \
            /usr/lib/livepatch-agent/plugins/verify-module-signature.so /usr/lib/livepatch-agent/plugins/auth-token.so \
            /usr/lib/systemd/system/livepatch-agent.service /LICENSE \
            /meta/hooks/install /meta/hooks/configure /meta/hooks/remove /meta/hooks/post-refresh \
            /meta/hooks/connect-plug-kernel-module-control /meta/hooks/connect-plug-livepatch-sysfs; do
  grep -qx "$need" "$W/listing" || fail "$need missing from the .snap"
done
if grep -E '^/usr/(include|bin/livepatch-server|bin/livepatch-pack|bin/xen-livepatch-sign|share/livepatch-agent/server)' "$W/listing"; then
  fail "tools or SDK files in the agent snap (above)"
fi
echo "snap pack: $(basename "$snapfile"), $(stat -c %s "$snapfile") bytes, $(wc -l < "$W/listing") entries"
echo "snap-pack: 1 passed, 0 failed"

#!/usr/bin/env bash
# make-snap-dir.sh BUILD_DIR SOURCE_DIR OUT_DIR [--pack DEST_DIR]
# The snap's file tree from an installed build, without snapcraft: the "agent"
# install component (what the snapcraft part installs: no server, packer,
# signer, SDK headers or Python tools), LICENSE, bin/daemon-start, the hooks in
# meta/hooks, and meta/snap.yaml generated from snap/snapcraft.yaml. With
# --pack, `snap pack` (from Debian's snapd package; needs no daemon) makes
# DEST_DIR/livepatch-agent_<version>_<arch>.snap.
# The Ubuntu 24.04 stage-packages are not included (only snapcraft on Ubuntu
# fetches them): the store snap is built by snapcraft from the same yaml.
set -euo pipefail
BUILD=${1:?build dir} SRC=${2:?source dir} OUT=${3:?output dir}
rm -rf "$OUT"
mkdir -p "$OUT/meta/hooks" "$OUT/bin"
DESTDIR="$OUT" cmake --install "$BUILD" --prefix /usr --component agent > /dev/null
install -m 0644 "$SRC/LICENSE" "$OUT/LICENSE"
install -m 0755 "$SRC/snap/local/daemon-start" "$OUT/bin/daemon-start"
install -m 0755 "$SRC"/snap/hooks/* "$OUT/meta/hooks/"
/usr/bin/python3 - "$SRC/snap/snapcraft.yaml" "$OUT/meta/snap.yaml" "$(dpkg --print-architecture)" <<'PY'
import sys, yaml
src = yaml.safe_load(open(sys.argv[1]))
arch = sys.argv[3]
if arch not in (src.get("platforms") or {}):
    sys.exit(f"snapcraft.yaml platforms has no {arch}")
keep = ("name", "title", "version", "summary", "description", "base", "grade", "confinement", "license",
        "plugs", "apps", "hooks")
out = {k: src[k] for k in keep if k in src}
out["architectures"] = [arch]
yaml.safe_dump(out, open(sys.argv[2], "w"), sort_keys=False)
PY
if [[ "${4:-}" == --pack ]]; then
  dest=${5:?dest dir}
  mkdir -p "$dest"
  snap pack --check-skeleton "$OUT" > /dev/null
  snap pack "$OUT" "$dest"
fi

#!/usr/bin/env bash
# make-demo-data.sh OUTDIR [KERNEL] [ARCH] [RELEASE]
# A complete server data dir + agent keyring for demos and integration tests:
#   OUTDIR/server/            --data-dir for livepatch-server (catalogue with patch v1,
#                             state with one auth token, admin password "admin-demo", macaroon key)
#   OUTDIR/server/patches/    lp_demo-{1,2,3}.tar.xz cumulative patches (only 1 is
#                             in the catalogue; tests add the others; LP_DEMO_VERSIONS
#                             lists other versions to make)
#   OUTDIR/keyring/           trusted signing certificate for verify-module-signature
#   OUTDIR/server/patches/lp_demo-3-untrusted.tar.xz  version 3 signed by a key not in the keyring
#   OUTDIR/auth-token         the auth token (UUIDv4)
#   OUTDIR/tls/               test PKI (make-test-certs.sh)
#   OUTDIR/tuf/repo/          TUF repository (livepatch-repo) with patch v1 signed as a target: the
#                             signed catalogue; agents pin OUTDIR/tuf/repo/metadata/1.root.json
#   OUTDIR/tuf/offline/, OUTDIR/tuf/online/   its keys: root + targets (offline), snapshot + timestamp
#                             (online: livepatch-server --tuf-online-keys)
# KERNEL is the version signature the patches target, RELEASE the uname -r
# their vermagic names (default: the simulated kernel's 5.15.0-100-generic).
# Needs: livepatch-pack, livepatch-server and livepatch-repo on PATH or in $LIVEPATCH_BIN.
set -euo pipefail
out=${1:?usage: make-demo-data.sh OUTDIR [KERNEL] [ARCH] [RELEASE]}
kernel=${2:-5.15.0-100.110-generic}
arch=${3:-$(uname -m)}
release=${4:-5.15.0-100-generic}
here=$(cd "$(dirname "$0")" && pwd)
bin=${LIVEPATCH_BIN:-}
pack=${bin:+$bin/}livepatch-pack
server=${bin:+$bin/}livepatch-server
repo=${bin:+$bin/}livepatch-repo
mkdir -p "$out"/{server/patches,keyring,work,tls}
chmod 700 "$out" "$out/keyring"
q() { "$@" >/dev/null 2>&1; }
"$here/make-test-certs.sh" "$out/tls" >/dev/null
q openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=livepatch demo signing key" \
  -keyout "$out/work/signing.key" -out "$out/keyring/signing.pem"
q openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=someone else" \
  -keyout "$out/work/rogue.key" -out "$out/work/rogue.pem"
chmod 600 "$out/work/"*.key
# A small ELF object stands in for a kernel module on the simulated kernel:
# a relocatable object with the .modinfo strings kbuild gives a livepatch
# module (name= and vermagic= from modpost, livepatch=Y from
# MODULE_INFO). version= is added by `livepatch-pack sign --version`.
cat > "$out/work/lp_demo.c" <<'EOC'
#define MODINFO(id, s) __attribute__((section(".modinfo"), used, aligned(1))) static const char id[] = s;
MODINFO(lp_name, "name=lp_demo")
MODINFO(lp_livepatch, "livepatch=Y")
MODINFO(lp_vermagic, "vermagic=" LP_RELEASE " SMP mod_unload modversions ")
const char livepatch_demo_text[] = "this has been live patched";
#ifndef LP_VERSION
#define LP_VERSION 0
#endif
int livepatch_demo_version(void) { return LP_VERSION; }
EOC
build_module() {  # build_module VERSION: lp_demo.ko for RELEASE
  cc -c -O1 -DLP_VERSION="$1" -DLP_RELEASE="\"$release\"" -o "$out/work/lp_demo.ko" "$out/work/lp_demo.c"
}
cat > "$out/work/fixes1.yaml" <<'EOF2'
- {name: cve-2024-1086, description: "nf_tables: use-after-free in nft_verdict_init", bug: "lp#2051234", patched: true}
EOF2
cat > "$out/work/fixes3.yaml" <<'EOF2'
- {name: cve-2024-1086, description: "nf_tables: use-after-free in nft_verdict_init", bug: "lp#2051234", patched: true}
- {name: cve-2023-6270, description: "aoe: use-after-free in aoecmd_cfg_pkts", bug: "lp#2056789", patched: true}
- {name: cve-2024-26581, description: "netfilter: nft_set_rbtree: skip end interval element from gc", bug: "lp#2060000", patched: true}
EOF2
cat > "$out/work/fixes2.yaml" <<'EOF2'
- {name: cve-2024-1086, description: "nf_tables: use-after-free in nft_verdict_init", bug: "lp#2051234", patched: true}
- {name: cve-2023-6270, description: "aoe: use-after-free in aoecmd_cfg_pkts", bug: "lp#2056789", patched: true}
EOF2
# LP_DEMO_VERSIONS="1 2 ... N": more versions (the chaos test publishes one per round).
for v in ${LP_DEMO_VERSIONS:-1 2 3}; do
  fixes=$out/work/fixes$v.yaml
  [[ -f $fixes ]] || fixes=$out/work/fixes3.yaml
  build_module $v
  "$pack" sign --version $v --key "$out/work/signing.key" --cert "$out/keyring/signing.pem" "$out/work/lp_demo.ko"
  "$pack" pack --name lp_demo --version $v --kernel "$kernel" --arch "$arch" --module "$out/work/lp_demo.ko" \
    --fixes "$fixes" -o "$out/server/patches/lp_demo-$v.tar.xz"
done
build_module 3
"$pack" sign --version 3 --key "$out/work/rogue.key" --cert "$out/work/rogue.pem" "$out/work/lp_demo.ko"
"$pack" pack --name lp_demo --version 3 --kernel "$kernel" --arch "$arch" --module "$out/work/lp_demo.ko" \
  -o "$out/server/patches/lp_demo-3-untrusted.tar.xz"
cat > "$out/server/catalogue.yaml" <<EOF2
kernels:
  - kernel: $kernel
    architecture: $arch
    supported: supported
    patches:
      - file: lp_demo-1.tar.xz
        name: lp_demo
        version: "1"
        published: 2026-01-01T00:00:00Z
        fixes:
          - {name: cve-2024-1086, description: "nf_tables: use-after-free in nft_verdict_init", bug: "lp#2051234", patched: true}
EOF2
"$repo" init --repo "$out/tuf/repo" --offline-keys "$out/tuf/offline" --online-keys "$out/tuf/online" > /dev/null
"$repo" add --repo "$out/tuf/repo" --offline-keys "$out/tuf/offline" --online-keys "$out/tuf/online" \
  --published 2026-01-01T00:00:00Z "$out/server/patches/lp_demo-1.tar.xz" > /dev/null
token=$(cat /proc/sys/kernel/random/uuid)
echo "$token" > "$out/auth-token"
chmod 600 "$out/auth-token"
cat > "$out/server/state.json" <<EOF2
{"auth-tokens": {"$token": "stable"}, "machines": {}}
EOF2
chmod 600 "$out/server/state.json"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$out/server/macaroon-key"
echo admin-demo | "$server" hash-password > "$out/server/admin-password"
chmod 600 "$out/server/macaroon-key" "$out/server/admin-password"
echo "demo data in $out (kernel $kernel, arch $arch)"

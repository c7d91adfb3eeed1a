#!/usr/bin/env bash
# run-qemu-e2e.sh BUILD_DIR SOURCE_DIR
# 1. build tests/e2e/module (a livepatch replacing cmdline_proc_show) against
#    the installed Debian kernel headers, sign it with a test key (kernel's
#    sign-file), and sign a copy with a key the agent does not trust;
# 2. pack both with livepatch-pack, make a server data dir;
# 3. build a busybox initramfs with the agent, plugins, server and libraries;
# 4. boot /boot/vmlinuz-<ver> under qemu-system-x86_64 -accel tcg; inside, the
#    guest enables (v1), upgrades to v2 under the same livepatch name (old one
#    reverted, new one loaded), then to v3 under a new name (atomic replace,
#    v2's module unloaded), checking /proc/cmdline and status at each step,
#    disables, then is offered the untrusted patch and must refuse it with the
#    kernel untouched, then two validly signed modules whose (unsigned)
#    livepatch.json lies about the name / the version: both refused, nothing
#    left in the kernel;
# 5. judge the serial console with verdict.sh: one "E2E-RESULT: PASS" line
#    and no "E2E-RESULT: FAIL <reason>".
# Exit 77 (skip) only if qemu, the kernel image or matching headers are absent,
# and never in CI (CI=true): there a missing prerequisite is a failure, so the
# real-kernel test cannot vanish from a green run. LIVEPATCH_E2E_QEMU names
# the qemu binary (tests/e2e/rules-test.sh points it nowhere).
set -euo pipefail
BUILD=$(cd "${1:?build dir}" && pwd)
SRC=$(cd "${2:?source dir}" && pwd)
BIN=$BUILD/bin

hdr=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | grep -v common | sort -V | tail -1 || true)
ver=${hdr#/usr/src/linux-headers-}
signfile=$(ls /usr/lib/linux-kbuild-*/scripts/sign-file 2>/dev/null | head -1 || true)
qemu=${LIVEPATCH_E2E_QEMU:-qemu-system-x86_64}
if [[ -z "$hdr" || ! -f /boot/vmlinuz-$ver || -z "$(command -v "$qemu")" || -z "$signfile" || ! -x /bin/busybox ]]; then
  need="needs qemu-system-x86, linux-image-amd64 + matching linux-headers-amd64, busybox-static (tools/install-deps.sh --e2e)"
  if [[ ${CI:-} == true ]]; then
    echo "FAIL: $need; in CI (CI=true) the real-kernel test may not be skipped"
    exit 1
  fi
  echo "SKIP: $need"
  exit 77
fi
[[ -d /lib/modules/$ver/build ]] || { echo "FAIL: /lib/modules/$ver/build missing"; exit 1; }
W=$(mktemp -d /tmp/lp-e2e.XXXXXX)
trap 'rm -rf "$W"' EXIT
echo "kernel $ver, work dir $W"

# 1. the module
cp -r "$SRC/tests/e2e/module" "$W/module"
make -s -C "/lib/modules/$ver/build" M="$W/module" modules > "$W/kbuild.log" 2>&1 || { cat "$W/kbuild.log"; exit 1; }
# v2: same name; v3: a new name (lp_e2e_v3), cumulative with .replace = true.
cp -r "$SRC/tests/e2e/module" "$W/module2"
make -s -C "/lib/modules/$ver/build" M="$W/module2" KCFLAGS=-DLP_E2E_VERSION=2 modules > "$W/kbuild2.log" 2>&1 || { cat "$W/kbuild2.log"; exit 1; }
mkdir -p "$W/module3"
cp "$SRC/tests/e2e/module/lp_e2e.c" "$W/module3/lp_e2e_v3.c"
echo "obj-m := lp_e2e_v3.o" > "$W/module3/Kbuild"
make -s -C "/lib/modules/$ver/build" M="$W/module3" KCFLAGS=-DLP_E2E_VERSION=3 modules > "$W/kbuild3.log" 2>&1 || { cat "$W/kbuild3.log"; exit 1; }
LIVEPATCH_BIN=$BIN "$SRC/tools/server/make-demo-data.sh" "$W/demo" "$ver" x86_64 > /dev/null
openssl x509 -in "$W/demo/keyring/signing.pem" -outform DER -out "$W/signing.der"
openssl x509 -in "$W/demo/work/rogue.pem" -outform DER -out "$W/rogue.der"
cp "$W/module/lp_e2e.ko" "$W/good.ko"; cp "$W/module/lp_e2e.ko" "$W/rogue.ko"
mkdir -p "$W/good" "$W/rogue"
"$signfile" sha512 "$W/demo/work/signing.key" "$W/signing.der" "$W/good.ko"
"$signfile" sha512 "$W/demo/work/rogue.key" "$W/rogue.der" "$W/rogue.ko"
mv "$W/good.ko" "$W/good/lp_e2e.ko"; mv "$W/rogue.ko" "$W/rogue/lp_e2e.ko"
mkdir -p "$W/v2" "$W/v3"
cp "$W/module2/lp_e2e.ko" "$W/v2/lp_e2e.ko"; cp "$W/module3/lp_e2e_v3.ko" "$W/v3/lp_e2e_v3.ko"
"$signfile" sha512 "$W/demo/work/signing.key" "$W/signing.der" "$W/v2/lp_e2e.ko"
"$signfile" sha512 "$W/demo/work/signing.key" "$W/signing.der" "$W/v3/lp_e2e_v3.ko"
srv=$W/demo/server
rm -f "$srv/patches/"*
"$BIN/livepatch-pack" pack --name lp_e2e --version 1 --kernel "$ver" --arch x86_64 --module "$W/good/lp_e2e.ko" -o "$srv/patches/lp_e2e-1.tar.xz"
"$BIN/livepatch-pack" pack --name lp_e2e --version 2 --kernel "$ver" --arch x86_64 --module "$W/v2/lp_e2e.ko" -o "$srv/patches/lp_e2e-2.tar.xz"
"$BIN/livepatch-pack" pack --name lp_e2e_v3 --version 3 --kernel "$ver" --arch x86_64 --module "$W/v3/lp_e2e_v3.ko" -o "$srv/patches/lp_e2e_v3-3.tar.xz"
# Hand-made tarballs, as an attacker with a server or mirror would make them
# (livepatch-pack refuses to pack a module whose .modinfo disagrees).
handmade() { "$SRC/tests/handmade-patch.sh" "$1" "$2" "$3" "$ver" x86_64 "$4"; }
if "$BIN/livepatch-pack" pack --name lp_e2e --version 9 --kernel "$ver" --arch x86_64 --module "$W/good/lp_e2e.ko" -o "$W/x.tar.xz" 2> "$W/pack.err"; then
  echo "FAIL: livepatch-pack packed version 1's module as version 9"; exit 1
fi
grep -q "says version=1, but --version is 9" "$W/pack.err" || { echo "FAIL: livepatch-pack: $(cat "$W/pack.err")"; exit 1; }
handmade lp_e2e 9 "$W/rogue/lp_e2e.ko" "$srv/patches/lp_e2e-9-rogue.tar.xz"
# Trusted signatures, lying metadata: v3's module (named lp_e2e_v3) sold as
# lp_e2e, and v1's module sold as version 9.
handmade lp_e2e 3 "$W/v3/lp_e2e_v3.ko" "$srv/patches/lp_e2e-3-liar-name.tar.xz"
handmade lp_e2e 9 "$W/good/lp_e2e.ko" "$srv/patches/lp_e2e-9-liar-version.tar.xz"
for liar in name:3 version:9; do
  cat > "$srv/catalogue-liar-${liar%:*}.yaml" <<EOC
kernels:
  - kernel: $ver
    architecture: x86_64
    supported: supported
    patches:
      - {file: lp_e2e-${liar#*:}-liar-${liar%:*}.tar.xz, name: lp_e2e, version: "${liar#*:}", published: 2026-01-10T00:00:00Z}
EOC
done
cat > "$srv/catalogue.yaml" <<EOC
kernels:
  - kernel: $ver
    architecture: x86_64
    supported: supported
    patches:
      - {file: lp_e2e-1.tar.xz, name: lp_e2e, version: "1", published: 2026-01-01T00:00:00Z,
         fixes: [{name: cve-2099-0001, description: e2e test patch, bug: e2e, patched: true}]}
EOC
cat > "$srv/catalogue-untrusted.yaml" <<EOC
kernels:
  - kernel: $ver
    architecture: x86_64
    supported: supported
    patches:
      - {file: lp_e2e-9-rogue.tar.xz, name: lp_e2e, version: "9", published: 2026-01-09T00:00:00Z}
EOC
for step in 2 3; do
  { echo "kernels:"; echo "  - kernel: $ver"; echo "    architecture: x86_64"; echo "    supported: supported"; echo "    patches:"
    echo "      - {file: lp_e2e-2.tar.xz, name: lp_e2e, version: \"2\", published: 2026-01-02T00:00:00Z}"
    [[ $step == 3 ]] && echo "      - {file: lp_e2e_v3-3.tar.xz, name: lp_e2e_v3, version: \"3\", published: 2026-01-03T00:00:00Z}"
  } > "$srv/catalogue-v$step.yaml"
done

# 3. initramfs
R=$W/root
# The agent is laid out as in the snap ($SNAP=/opt/lp: usr/bin, usr/lib/
# livepatch-agent) and runs with the snap's environment, so its state goes
# to $SNAP_COMMON as confined; strace traces every agent command for the
# confinement audit below.
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,tmp,run,var/lib,opt/lp/usr/bin,opt/lp/usr/lib/livepatch-agent/plugins,lib64,lib/x86_64-linux-gnu,data}
cp /bin/busybox "$R/bin/busybox"
for app in sh mount mkdir cat grep sleep ip poweroff echo ls kill cp mv rm chmod seq sed tr head tail wc gzip base64; do ln -s busybox "$R/bin/$app"; done
cp "$(command -v strace)" "$R/bin/strace"
cp "$BIN/livepatch-agent" "$BIN/livepatch-server" "$R/opt/lp/usr/bin/"
cp "$BUILD/lib/livepatch-agent/livepatch-agent-engine" "$R/opt/lp/usr/lib/livepatch-agent/"
cp "$BUILD/lib/livepatch-agent/plugins/"{transport-https,auth-token,verify-module-signature,loader-klp}.so "$R/opt/lp/usr/lib/livepatch-agent/plugins/"
for f in "$R/bin/strace" "$R/opt/lp/usr/bin/"* "$R/opt/lp/usr/lib/livepatch-agent/livepatch-agent-engine" "$R/opt/lp/usr/lib/livepatch-agent/plugins/"*; do
  ldd "$f" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\/lib64\// {print $1}'
done | sort -u | while read -r lib; do
  case "$lib" in /lib64/*) cp -L "$lib" "$R/lib64/" ;; *) cp -L "$lib" "$R/lib/x86_64-linux-gnu/" ;; esac
done
cp -r "$srv" "$R/data/server"
cp -r "$W/demo/keyring" "$R/data/keyring"
cp "$W/demo/tls/ca.pem" "$W/demo/tls/server.pem" "$W/demo/tls/server.key" "$R/data/"
cp "$W/demo/auth-token" "$R/data/auth-token"
echo 0123456789abcdef0123456789abcdef > "$R/etc/machine-id"
cp "$SRC/tests/e2e/guest-init.sh" "$R/init"
chmod 755 "$R/init"
chmod -R go-w "$R"
(cd "$R" && find . | cpio -o -H newc -R 0:0 2>/dev/null | gzip -1) > "$W/initrd.gz"

# 4. boot
start=$(date +%s)
qemu_rc=0
# ttyS1 carries the guest's strace logs (gzip + base64) to $W/traces.b64.
timeout 600 "$qemu" -accel tcg -m 1024 -smp 1 -display none -no-reboot \
  -serial mon:stdio -serial "file:$W/traces.b64" \
  -kernel "/boot/vmlinuz-$ver" -initrd "$W/initrd.gz" \
  -append "console=ttyS0 panic=-1 quiet loglevel=3" > "$W/console.log" 2>&1 < /dev/null || qemu_rc=$?
end=$(date +%s)
tr -d '\r' < "$W/console.log" | grep -aE "^(E2E|e2e)" || echo "(no e2e lines on the console)"
echo "guest ran for $((end - start)) s; qemu exit status $qemu_rc (124: timed out)"
# 5. the confinement audit on the real kernel (issue 16.1): every syscall
# the agent made, and every path it wrote (finit_module, delete_module,
# /sys/kernel/livepatch/*/enabled, $SNAP_COMMON), has a row in
# snap/confinement-allowed.tsv citing the snapd interface that allows it.
audit_ok=1
if ! tr -d '\r' < "$W/traces.b64" | base64 -d 2> /dev/null | gunzip > "$W/trace.log" 2> /dev/null; then
  echo "FAIL: no readable strace logs from the guest (ttyS1)"; audit_ok=0
elif ! grep -q "finit_module(" "$W/trace.log" || ! grep -Eq 'openat\(.*"/sys/kernel/livepatch/[^"]*/enabled", O_WRONLY' "$W/trace.log"; then
  echo "FAIL: the traces do not cover the loader (no finit_module or no write of .../enabled)"; audit_ok=0
elif ! /usr/bin/python3 "$SRC/tests/snap/confinement_audit.py" "$W/trace.log" "$SRC/snap/confinement-allowed.tsv" \
       SNAP=/opt/lp SNAP_COMMON=/var/snap/livepatch-agent/common SNAP_DATA=/var/snap/livepatch-agent/x1 CWD=/; then
  echo "FAIL: confinement audit on the real kernel (see above)"; audit_ok=0
else
  echo "confinement audit: $(grep -c . "$W/trace.log") traced lines, every syscall and write allowed by a declared plug"
fi
if "$SRC/tests/e2e/verdict.sh" "$W/console.log" && [[ $audit_ok == 1 ]]; then
  echo "e2e: 1 passed, 0 failed"
  exit 0
fi
echo "---- console (tail) ----"; tail -60 "$W/console.log" | tr -d '\r'
exit 1

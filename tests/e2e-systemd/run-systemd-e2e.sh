#!/usr/bin/env bash
# run-systemd-e2e.sh BUILD_DIR SOURCE_DIR
# The Debian package under real systemd (PID 1) on Debian's kernel:
#  1. the .deb (cpack), a signed test live patch built against the installed
#     kernel headers, the reference server on the host (127.0.0.1, seen by the
#     guest as 10.0.2.2 through QEMU's user network) with a certificate for
#     that address;
#  2. a Debian 12 guest root: mmdebstrap --variant=minbase with systemd and
#     the package's run-time dependencies, cached as a tarball in the build
#     dir (keyed on its package list), plus per run the .deb, the test driver
#     unit (guest-test.sh) and virtio-net; mkfs.ext4 -d makes the disk without
#     mounting;
#  3. three boots of /boot/vmlinuz under qemu-system-x86_64 -accel tcg (the
#     driver's stages 1-3, the third with livepatch_agent.mode=stop);
#  4. each boot must print "E2E-STAGE<n>: OK"; any FAIL line fails the test.
# Exit 77 (skip, with the reason) if a tool, the kernel or its headers are
# missing; under CI=true a skip is a failure.
set -euo pipefail
BUILD=$(cd "${1:?build dir}" && pwd)
SRC=$(cd "${2:?source dir}" && pwd)
BIN=$BUILD/bin
HERE=$SRC/tests/e2e-systemd
started=$(date +%s)

skip() {
  if [[ "${CI:-}" == true ]]; then echo "FAIL: CI=true but the systemd e2e test cannot run: $*"; exit 1; fi
  echo "SKIPPED: $*"; exit 77
}
hdr=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | grep -v common | sort -V | tail -1 || true)
ver=${hdr#/usr/src/linux-headers-}
[[ -n "$hdr" && -f /boot/vmlinuz-$ver && -f /boot/initrd.img-$ver && -d /lib/modules/$ver/build ]] \
  || skip "needs linux-image-amd64 + matching linux-headers-amd64 (tools/install-deps.sh --e2e)"
for tool in qemu-system-x86_64 mmdebstrap mkfs.ext4 cpack dpkg-deb depmod; do
  command -v "$tool" > /dev/null || skip "needs $tool (tools/install-deps.sh --e2e)"
done
W=$(mktemp -d /tmp/lp-sde2e.XXXXXX)
server_pid=
cleanup() { [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
echo "kernel $ver, work dir $W"

# 1. package, patch, server
(cd "$BUILD" && cpack -G DEB --config "$BUILD/CPackConfig.cmake" -B "$W/deb" > "$W/cpack.log" 2>&1) || { cat "$W/cpack.log"; exit 1; }
deb=$(ls "$W"/deb/livepatch-agent_*.deb)
LIVEPATCH_BIN=$BIN "$SRC/tools/server/make-demo-data.sh" "$W/demo" "$ver" x86_64 > /dev/null
cp -r "$SRC/tests/e2e/module" "$W/module"
make -s -C "/lib/modules/$ver/build" M="$W/module" modules > "$W/kbuild.log" 2>&1 || { cat "$W/kbuild.log"; exit 1; }
"$BIN/livepatch-pack" sign --key "$W/demo/work/signing.key" --cert "$W/demo/keyring/signing.pem" "$W/module/lp_e2e.ko"
srv=$W/demo/server
rm -f "$srv/patches/"*
"$BIN/livepatch-pack" pack --name lp_e2e --version 1 --kernel "$ver" --arch x86_64 --module "$W/module/lp_e2e.ko" \
  -o "$srv/patches/lp_e2e-1.tar.xz"
printf 'kernels: [{kernel: %s, architecture: x86_64, supported: supported, patches: [%s]}]\n' "$ver" \
  '{file: lp_e2e-1.tar.xz, name: lp_e2e, version: "1", published: "2026-01-01T00:00:00Z"}' > "$srv/catalogue.yaml"
tls=$W/demo/tls
openssl req -new -newkey rsa:2048 -nodes -subj "/CN=10.0.2.2" -keyout "$tls/guest.key" -out "$tls/guest.csr" 2> /dev/null
openssl x509 -req -in "$tls/guest.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial -days 2 -out "$tls/guest.pem" \
  -extfile <(printf 'subjectAltName=IP:10.0.2.2\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n') 2> /dev/null
"$BIN/livepatch-server" --data-dir "$srv" --listen 127.0.0.1:0 --port-file "$W/port" \
  --tls-cert "$tls/guest.pem" --tls-key "$tls/guest.key" > "$W/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do [[ -s "$W/port" ]] && break; sleep 0.1; done
[[ -s "$W/port" ]] || { cat "$W/server.log"; echo "FAIL: server did not start"; exit 1; }

# 2. guest root: cached base + this run's files
deps=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/(.*//; s/|.*//; s/ //g' | grep -v '^$' | sort -u | paste -sd, -)
include="systemd,systemd-sysv,udev,kmod,ca-certificates,$deps"
cache=$BUILD/e2e-systemd-cache
key=$(printf '%s\n' "bookworm minbase $include v1" | sha256sum | cut -c1-16)
base=$cache/base-$key.tar
if [[ ! -f "$base" ]]; then
  mkdir -p "$cache"
  rm -rf "$base" "$base.part"   # a directory left by an older run
  t=$(date +%s)
  # --format: the .part name would otherwise make mmdebstrap write a directory
  mmdebstrap --quiet --format=tar --variant=minbase --include="$include" bookworm "$base.part" > "$W/mmdebstrap.log" 2>&1 \
    || { tail -20 "$W/mmdebstrap.log"; echo "FAIL: mmdebstrap"; exit 1; }
  mv "$base.part" "$base"
  echo "guest base built in $(( $(date +%s) - t )) s: $base"
fi
R=$W/root
mkdir "$R"
tar -C "$R" -xf "$base"
mkdir -p "$R/root/e2e" "$R/lib/modules/$ver/kernel/drivers/net" "$R/etc/systemd/network"
cp "$deb" "$R/root/e2e/livepatch-agent.deb"
cp -r "$W/demo/keyring" "$R/root/e2e/keyring"
cp "$tls/ca.pem" "$W/demo/auth-token" "$W/port" "$R/root/e2e/"
for m in virtio_net net_failover failover; do
  f=$(find "/lib/modules/$ver/kernel" -name "$m.ko*" | head -1)
  [[ -n "$f" ]] && cp "$f" "$R/lib/modules/$ver/kernel/drivers/net/"
done
cp "/lib/modules/$ver/modules.order" "/lib/modules/$ver/modules.builtin" "/lib/modules/$ver/modules.builtin.modinfo" "$R/lib/modules/$ver/" 2> /dev/null || true
depmod -b "$R" "$ver"
install -m 0755 "$HERE/guest-test.sh" "$R/usr/local/sbin/lp-e2e-guest"
install -m 0644 "$HERE/lp-e2e.service" "$R/etc/systemd/system/lp-e2e.service"
install -m 0644 "$HERE/e2e.network" "$R/etc/systemd/network/10-e2e.network"
echo lp-e2e > "$R/etc/hostname"
printf '/dev/vda / ext4 rw,relatime 0 1\n' > "$R/etc/fstab"
: > "$R/etc/machine-id"
systemctl --root="$R" --quiet enable systemd-networkd.service systemd-networkd-wait-online.service lp-e2e.service
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer \
            serial-getty@ttyS0.service getty@tty1.service systemd-timesyncd.service; do
  ln -sf /dev/null "$R/etc/systemd/system/$unit"
done
chmod -R go-w "$R/root"
mkfs.ext4 -q -F -L lp-e2e -d "$R" "$W/disk.img" 1536M
rm -rf "$R"

# 3. three boots
prep=$(( $(date +%s) - started ))
echo "host side ready in $prep s"
fails=0
for stage in 1 2 3; do
  extra=""
  [[ $stage == 3 ]] && extra="livepatch_agent.mode=stop"
  # Each reboot happens 20 minutes "later" (the guest's clock): a reboot
  # within 10 minutes of a load counts as a possible crash and trips the
  # crash guard by design, which would stop the re-apply this test checks.
  rtc=$(date -u -d "@$(( $(date +%s) + (stage - 1) * 1200 ))" +%Y-%m-%dT%H:%M:%S)
  t=$(date +%s)
  timeout 300 qemu-system-x86_64 -accel tcg -m 1024 -smp 2 -nographic -no-reboot -rtc "base=$rtc" \
    -kernel "/boot/vmlinuz-$ver" -initrd "/boot/initrd.img-$ver" \
    -drive "file=$W/disk.img,format=raw,if=virtio" -nic user,model=virtio-net-pci \
    -append "console=ttyS0 root=/dev/vda rw quiet loglevel=3 systemd.show_status=0 panic=-1 $extra" \
    > "$W/console-$stage.log" 2>&1 || true
  tr -d '\r' < "$W/console-$stage.log" > "$W/c"
  # (the guest's lines reach the console through journald, after a "[time] unit[pid]: " prefix)
  grep -E "(e2e\[[0-9]\]|E2E-STAGE|journal: )" "$W/c" || true
  echo "boot $stage: $(( $(date +%s) - t )) s"
  if grep -q "E2E-STAGE[0-9]: FAIL" "$W/c" || ! grep -q "E2E-STAGE$stage: OK" "$W/c"; then
    echo "---- console of boot $stage (tail) ----"; tail -40 "$W/c"
    fails=1
    break
  fi
done
kill "$server_pid" 2> /dev/null; wait "$server_pid" 2> /dev/null || true
server_pid=
echo "systemd e2e: $(( $(date +%s) - started )) s in all"
if [[ $fails == 0 ]]; then
  echo "e2e-systemd: 1 passed, 0 failed"
  exit 0
fi
echo "e2e-systemd: 0 passed, 1 failed"
exit 1

#!/usr/bin/env bash
# Hostile patches through the real engine, end to end: the reference server
# offers a tarball that tries to escape its work directory (`..`, a symlink,
# a device) or a module that is unsigned, tampered with or carries data after
# its signature. Each is refused with exit 6 and its own message, the work
# directory is emptied, and the applied patch stays.
source "$(dirname "$0")/lib.sh"
catalogue 1
start_server
configure_agent
agent enable - < "$WORK/demo/auth-token" > /dev/null
assert_state applied 1
kernel=5.15.0-100.110-generic
arch=$(uname -m)
H=$WORK/hostile
mkdir -p "$H"
tar -xOf "$WORK/demo/server/patches/lp_demo-2.tar.xz" lp_demo.ko > "$H/signed.ko"
tar -xOf "$WORK/demo/server/patches/lp_demo-2.tar.xz" livepatch.json > "$H/livepatch.json"
pack_module() { # pack_module NAME MODULE: serve MODULE as lp_demo version 2 in lp_demo-2-NAME.tar.xz
  # Packed by hand, as a compromised server would: livepatch-pack itself
  # refuses modules that are not intact.
  "$SRC/tests/handmade-patch.sh" lp_demo 2 "$2" "$kernel" "$arch" "$WORK/demo/server/patches/lp_demo-2-$1.tar.xz"
}
# The module as the kernel's sign-file lays it out: body, PKCS#7, 12-byte
# info (sig_len big-endian last), 28-byte magic.
$PY - "$H" <<'PY'
import struct, sys
h = sys.argv[1]
data = open(h + "/signed.ko", "rb").read()
sig_len = struct.unpack(">I", data[-28 - 4:-28])[0]
body_end = len(data) - 28 - 12 - sig_len
open(h + "/unsigned.ko", "wb").write(data[:body_end])
# One bit of the first section's contents (just after the 64-byte ELF
# header): still a well-formed module, no longer the signed one.
open(h + "/tampered.ko", "wb").write(data[:64] + bytes([data[64] ^ 0x01]) + data[65:])
open(h + "/trailing.ko", "wb").write(data + b"\n")
PY
pack_module unsigned "$H/unsigned.ko"
pack_module tampered "$H/tampered.ko"
pack_module trailing "$H/trailing.ko"
# Tarballs with the good metadata and module first (so the unpacker has
# written files before it meets the bad entry), then the escape attempt.
$PY - "$H" "$WORK/demo/server/patches" <<'PY'
import io, lzma, sys, tarfile
h, out = sys.argv[1], sys.argv[2]
def make(name, bad):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for f in ("livepatch.json", "signed.ko"):
            t.add(f"{h}/{f}", arcname="lp_demo.ko" if f == "signed.ko" else f)
        t.addfile(bad, io.BytesIO(b"escaped\n") if bad.type == tarfile.REGTYPE else None)
    open(f"{out}/lp_demo-2-{name}.tar.xz", "wb").write(lzma.compress(buf.getvalue()))
dotdot = tarfile.TarInfo("../../escaped"); dotdot.size = 8
link = tarfile.TarInfo("escape-link"); link.type = tarfile.SYMTYPE; link.linkname = "/etc"
dev = tarfile.TarInfo("kmem"); dev.type = tarfile.CHRTYPE; dev.devmajor, dev.devminor = 1, 2
make("dotdot", dotdot)
make("symlink", link)
make("device", dev)
PY

expect_refused() { # expect_refused NAME MESSAGE
  catalogue 1 "2-$1"
  set +e; out=$(agent refresh 2>&1); rc=$?; set -e
  [[ $rc == 6 && $out == *"$2"* ]] || fail "$1: expected exit 6 with '$2', rc=$rc $out"
  local left
  left=$(find "$ROOT/cache" -path "$ROOT/cache/work-*" 2> /dev/null)
  [[ -z $left ]] || fail "$1: the work directory was not emptied: $left"
  [[ ! -e $WORK/escaped && ! -e $ROOT/escaped && ! -e $ROOT/cache/escaped ]] || fail "$1: a file escaped the work directory"
  assert_state apply-failed 1
  grep -q "this has been live patched" "$SIM/proc/cmdline" || fail "$1: the applied patch was lost"
  echo "refused as expected: $(tail -1 <<< "$out")"
}
step "module without a signature"
expect_refused unsigned "module is not signed"
step "module changed after signing"
expect_refused tampered "signature does not match the module contents"
step "data after the signature trailer"
expect_refused trailing "unexpected data after the module signature trailer"
step "tarball entry with .."
expect_refused dotdot 'archive entry "../../escaped" refused'
step "tarball with a symbolic link"
expect_refused symlink 'archive entry "escape-link" refused'
step "tarball with a device"
expect_refused device 'archive entry "kmem" refused'

step "the good patch 2 still applies afterwards (the refusals above were not a broken setup)"
catalogue 1 2
agent refresh > /dev/null
assert_state applied 2
echo "hostile-patches: 1 passed, 0 failed"

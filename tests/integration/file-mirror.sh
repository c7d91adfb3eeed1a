#!/usr/bin/env bash
# Air-gapped: the same lifecycle from a file:// mirror, with the same
# integrity and signature checks.
source "$(dirname "$0")/lib.sh"
M=$WORK/mirror
make_mirror "$M" lp_demo-1.tar.xz lp_demo-3-untrusted.tar.xz
updates() { mirror_offer "$M" "$@"; }  # updates FILE VERSION
updates lp_demo-1.tar.xz 1
agent config remote-server="file://$M" loader=loader-simulated simulated-kernel-root="$SIM" \
  keyring-dir="$WORK/demo/keyring" check-interval=0 > /dev/null
step "enable and apply from the mirror"
agent enable "$(cat "$WORK/demo/auth-token")"
assert_state applied 1
grep -q "this has been live patched" "$SIM/proc/cmdline" || fail "not patched"
step "an untrusted patch in the mirror is refused"
updates lp_demo-3-untrusted.tar.xz 3
set +e; out=$(agent refresh 2>&1); rc=$?; set -e
[[ $rc == 6 && "$out" == *"not in keyring"* ]] || fail "untrusted from mirror: rc=$rc $out"
step "a mirror entry that links outside the mirror is refused"
ln -s /etc/passwd "$M/v1/patches/evil.tar.xz"
updates lp_demo-1.tar.xz 4
sed -i 's/lp_demo-1.tar.xz/evil.tar.xz/g' "$M/v1/updates/5.15.0-100.110-generic/$(uname -m).json"
set +e; out=$(agent refresh 2>&1); rc=$?; set -e
[[ $rc != 0 && "$out" == *"outside the mirror"* ]] || fail "escape: rc=$rc $out"
assert_state apply-failed 1
agent disable > /dev/null
echo "file-mirror: 1 passed, 0 failed"

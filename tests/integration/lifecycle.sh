#!/usr/bin/env bash
# The issue-5 flow: enable -> first patch applied -> newer cumulative patch
# replaces it -> faults leave the applied patch intact -> server says
# kernel-upgrade-required -> daemon restart re-applies from cache with the
# server down -> disable reverts. Every protocol body is schema-checked.
source "$(dirname "$0")/lib.sh"

catalogue 1
start_server
configure_agent

step "never enabled: status exits 1 with a hint, JSON still valid"
set +e; out=$(agent status 2>&1); rc=$?; set -e
[[ $rc == 1 && "$out" == *"livepatch-agent enable"* ]] || fail "status before enable: rc=$rc $out"
validate_status_schema

step "enable with a malformed token is refused locally"
set +e; out=$(agent enable not-a-token 2>&1); rc=$?; set -e
[[ $rc == 2 && "$out" == *"neither an auth token"* && "$out" != *not-a-token* ]] || fail "bad token: rc=$rc $out"

step "enable -> patch 1 applied"
token=$(cat "$WORK/demo/auth-token")
agent enable - <<< "$token" | tee "$WORK/enable.out"
assert_state applied 1
grep -q "this has been live patched" "$SIM/proc/cmdline" || fail "simulated cmdline not patched"
validate_status_schema
lacks "$token" "$ROOT/state/state" "$WORK/enable.out"   # the token never reaches state or output
[[ $(stat -c %a "$ROOT/state/credential") == 600 && $(stat -c %a "$ROOT/state") == 700 ]] || fail "state modes"

step "same token again is a no-op; refresh with nothing new is a 304"
agent enable "$token" > "$WORK/enable2.out"
grep -q "already enabled with this token and server; nothing changed" "$WORK/enable2.out" ||
  fail "enabling an enabled machine again: $(cat "$WORK/enable2.out")"
agent refresh | tee "$WORK/refresh.out"   # settles the answer: its ETag is kept now
grep -q "patch 1 is already applied" "$WORK/refresh.out" || fail "expected patch 1 already applied"
agent refresh | tee "$WORK/refresh.out"
grep -q "no change on the server" "$WORK/refresh.out" || fail "expected a 304 no-change refresh"

step "verifier chain: every configured verifier must pass"
catalogue 1 2
agent config verifiers=verify-module-signature,verify-elf-note > /dev/null
set +e; out=$(agent refresh 2>&1); rc=$?; set -e
[[ $rc == 6 && "$out" == *"verify-elf-note"* && "$out" == *"no .note.Xen.signature"* ]] || fail "chain: rc=$rc $out"
agent config verifiers=verify-module-signature,no-such-verifier > /dev/null
set +e; out=$(agent refresh 2>&1); rc=$?; set -e
[[ $rc != 0 && "$out" == *'verifier plugin "no-such-verifier" is not loaded'* ]] || fail "missing verifier: rc=$rc $out"
assert_state apply-failed 1
agent config verifiers= > /dev/null

step "newer cumulative patch 2 replaces 1"
agent refresh
assert_state applied 2
[[ -d "$SIM/sys/kernel/livepatch/lp_demo" ]] || fail "patch not in simulated sysfs"
# Same livepatch name, new version: the kernel must now hold version 2's
# module, not still version 1's with the state saying 2.
tar -xOf "$WORK/demo/server/patches/lp_demo-1.tar.xz" lp_demo.ko > "$WORK/v1.ko"
tar -xOf "$WORK/demo/server/patches/lp_demo-2.tar.xz" lp_demo.ko > "$WORK/v2.ko"
! cmp -s "$WORK/v1.ko" "$WORK/v2.ko" || fail "versions 1 and 2 carry the same module: the check below would prove nothing"
cmp -s "$WORK/v2.ko" "$SIM/modules/lp_demo.ko" || fail "state says 2 but the simulated kernel holds another module"

step "untrusted signature is refused; patch 2 stays"
catalogue 1 2 3-untrusted
set +e; out=$(agent refresh 2>&1); rc=$?; set -e
[[ $rc == 6 && "$out" == *"not in keyring"* ]] || fail "untrusted: rc=$rc $out"
assert_state apply-failed 2
grep -q "this has been live patched" "$SIM/proc/cmdline" || fail "old patch lost"

step "validly signed modules whose metadata lies: refused from the signed .modinfo; patch 2 stays"
refused_liar() { # refused_liar VERSION-TAG EXPECTED: offer lp_demo-TAG.tar.xz, expect refusal (6) with EXPECTED
  catalogue 1 2 "$1"
  set +e; out=$(agent refresh 2>&1); rc=$?; set -e
  [[ $rc == 6 && "$out" == *"$2"* ]] || fail "liar $1: rc=$rc $out"
  assert_state apply-failed 2
}
# Version 1's module sold as version 4: a rollback, whatever the metadata says.
tar -xOf "$WORK/demo/server/patches/lp_demo-1.tar.xz" lp_demo.ko > "$WORK/v1.ko"
handmade lp_demo 4 "$WORK/v1.ko" "$WORK/demo/server/patches/lp_demo-4-liar.tar.xz"
refused_liar 4-liar 'the signed module is version "1", lower than the applied "2": rollback refused'
# Another module signed with the trusted key (say, a distro driver) sold as lp_demo 5.
sed 's/name=lp_demo/name=e1000e/' "$WORK/demo/work/lp_demo.c" > "$WORK/e1000e.c"
cc -c -DLP_VERSION=5 -DLP_RELEASE='"5.15.0-100-generic"' -o "$WORK/e1000e.ko" "$WORK/e1000e.c"
"$BIN/livepatch-pack" sign --version 5 --key "$WORK/demo/work/signing.key" --cert "$WORK/demo/keyring/signing.pem" "$WORK/e1000e.ko"
handmade lp_demo 5 "$WORK/e1000e.ko" "$WORK/demo/server/patches/lp_demo-5-liar.tar.xz"
refused_liar 5-liar 'the signed module is named "e1000e" but the patch metadata says "lp_demo"'
[[ ! -e "$SIM/sys/module/e1000e" && ! -e "$SIM/modules/e1000e.ko" ]] || fail "the liar's module reached the kernel"
tar -xOf "$WORK/demo/server/patches/lp_demo-2.tar.xz" lp_demo.ko | cmp -s - "$SIM/modules/lp_demo.ko" || fail "patch 2 lost"

step "wrong checksum from the server: download deleted, patch 2 stays"
catalogue 1 2 3
fault wrong-checksum
set +e; out=$(agent refresh 2>&1); rc=$?; set -e
[[ $rc == 6 && "$out" == *"SHA-256"* ]] || fail "checksum: rc=$rc $out"
[[ -z "$(ls "$ROOT/cache/downloads")" ]] || fail "mismatching download kept"
assert_state apply-failed 2

step "HTML 502: one line, no HTML in output or status"
fault none; fault html-5xx
set +e; out=$(agent refresh 2>&1); rc=$?; set -e
[[ $rc == 5 && "$out" == *"HTTP 502"* && "$out" != *"<html"* ]] || fail "html 5xx: rc=$rc $out"
agent status --verbose | grep -q "check-failed" || fail "check-failed not shown"
! agent status --verbose | grep -qi "<html" || fail "server HTML leaked into status"

step "truncated download and oversized response are refused"
fault none; fault truncate
set +e; out=$(agent refresh 2>&1); rc=$?; set -e
[[ $rc == 5 && "$out" == *"truncated"* ]] || fail "truncate: rc=$rc $out"
fault none; fault oversized
set +e; out=$(agent refresh 2>&1); rc=$?; set -e
[[ $rc == 5 && "$out" == *"larger than"* ]] || fail "oversized: rc=$rc $out"
fault none; fault wrong-content-type
set +e; out=$(agent refresh 2>&1); rc=$?; set -e
[[ $rc == 5 && "$out" == *"content type"* ]] || fail "content type: rc=$rc $out"
fault none; fault redirect-http
set +e; out=$(agent refresh 2>&1); rc=$?; set -e
[[ $rc == 5 && "$out" == *"insecure"* ]] || fail "redirect to http: rc=$rc $out"
assert_state apply-failed 2

step "faults cleared: patch 3 applies (server redirect within https is fine)"
fault none; fault redirect
agent refresh
assert_state applied 3
fault none

step "rollback protection: server offers only 2 now"
catalogue 1 2
set +e; out=$(agent refresh 2>&1); rc=$?; set -e
[[ $rc == 6 && "$out" == *"rollback refused"* ]] || fail "rollback: rc=$rc $out"
assert_state applied 3
agent refresh --allow-rollback > /dev/null
assert_state applied 2
catalogue 1 2 3
agent refresh > /dev/null
assert_state applied 3

step "kernel-upgrade-required"
agent kernel-upgrade-required || fail "no upgrade expected yet"
catalogue 1 2 3 --supported kernel-upgrade-required
agent refresh > /dev/null
set +e; out=$(agent kernel-upgrade-required); rc=$?; set -e
[[ $rc == 1 && "$out" == *"kernel upgrade is required"* ]] || fail "kernel-upgrade-required: rc=$rc $out"
validate_status_schema

step "daemon restart re-applies from the verified cache with the server down"
stop_server
# Simulate a reboot: fresh kernel state, new boot id.
rm -rf "$SIM/sys/kernel/livepatch/"* "$SIM/sys/module/"* "$SIM/modules/"*
cp "$SIM/state/cmdline.orig" "$SIM/proc/cmdline"; rm -f "$SIM/state/cmdline.orig"
cat /proc/sys/kernel/random/uuid > "$SIM/proc/sys/kernel/random/boot_id"
start_daemon "$WORK/daemon.log"
for _ in $(seq 100); do grep -q "this has been live patched" "$SIM/proc/cmdline" && break; sleep 0.1; done
grep -q "this has been live patched" "$SIM/proc/cmdline" || { cat "$WORK/daemon.log"; fail "daemon did not re-apply from cache"; }
[[ -S "$ROOT/run/agent.sock" && $(stat -c %a "$ROOT/run/agent.sock") == 600 ]] || fail "control socket missing or not 0600"
step "refresh through the daemon socket reports the (down) server as a one-line error"
set +e; out=$(agent refresh 2>&1); rc=$?; set -e
[[ $rc == 5 ]] || fail "refresh via daemon with server down: rc=$rc $out"
stop_daemon
[[ ! -e "$ROOT/run/agent.sock" ]] || fail "socket left behind"

step "the server never saw the raw machine id, only the application-specific one"
mid=$(cat /etc/machine-id)
[[ $mid =~ ^[0-9a-f]{32}$ ]] || fail "unexpected /etc/machine-id: $mid"
recorded=$(find "$WORK/rec" -type f | wc -l)
(( recorded > 5 )) || fail "only $recorded recorded bodies: nothing to check"
if grep -rqiF "$mid" "$WORK/rec"; then fail "the raw machine id is in a recorded body: $(grep -rliF "$mid" "$WORK/rec" | head -1)"; fi
# The id travels in the URL and the server keeps it: an id, but not the raw one.
ids=$($PY -c 'import sqlite3,sys; print(" ".join(r[0] for r in sqlite3.connect(sys.argv[1]).execute("SELECT id FROM machines")))' \
      "$WORK/demo/server/server.db")
[[ -n $ids && $ids != *"$mid"* ]] || fail "server machine ids: '$ids' (raw id $mid)"
lacks "$mid" "$WORK/demo/server/"server.db* "$WORK/server.log"

step "disable reverts"
start_server
agent config remote-server="https://127.0.0.1:$PORT" > /dev/null
agent disable
lacks "this has been live patched" "$SIM/proc/cmdline"   # reverted by disable
[[ ! -e "$ROOT/state/credential" ]] || fail "credential kept after disable"
set +e; agent status > /dev/null 2>&1; rc=$?; set -e
[[ $rc == 1 ]] || fail "status after disable: rc=$rc"

step "every recorded protocol body matches schemas/api"
$PY "$SRC/tools/server/validate-recordings.py" "$WORK/rec" "$SRC/schemas/api"
echo "lifecycle: 1 passed, 0 failed"

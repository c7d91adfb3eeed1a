#!/usr/bin/env bash
# The rules around the QEMU test, checked without booting anything:
# verdict.sh passes only on a lone PASS, and run-qemu-e2e.sh turns a missing
# prerequisite into a skip (77) on a developer machine but a failure in CI.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/lp-e2e-rules.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
verdict() { # verdict EXPECTED_RC CONSOLE_TEXT
  printf '%b' "$2" > "$W/console.log"
  local rc=0
  "$here/verdict.sh" "$W/console.log" > /dev/null || rc=$?
  [[ $rc == "$1" ]] || fail "verdict on $(printf '%q' "$2"): rc=$rc, expected $1"
}
verdict 0 'boot\r\ne2e: step\r\nE2E-RESULT: PASS\r\n[ 1.0] reboot: Power down\r\n'
verdict 1 'E2E-RESULT: FAIL enable\r\nE2E-RESULT: PASS\r\n'
verdict 1 'E2E-RESULT: PASS\nE2E-RESULT: FAIL late\n'
verdict 1 'E2E-RESULT: PASS\nE2E-RESULT: PASS\n'
verdict 1 'Kernel panic - not syncing\n'
verdict 1 ''
grep -q 'poweroff -f; sleep 5; exit' "$here/guest-init.sh" || fail "the guest's result() must exit after poweroff -f"

# A missing prerequisite (qemu here): skip locally, fail in CI.
rc=0; env -u CI LIVEPATCH_E2E_QEMU=/nonexistent/qemu "$here/run-qemu-e2e.sh" "$W" "$here/../.." > "$W/out" 2>&1 || rc=$?
[[ $rc == 77 ]] || { cat "$W/out"; fail "missing qemu outside CI: rc=$rc, expected 77 (skip)"; }
rc=0; CI=true LIVEPATCH_E2E_QEMU=/nonexistent/qemu "$here/run-qemu-e2e.sh" "$W" "$here/../.." > "$W/out" 2>&1 || rc=$?
[[ $rc == 1 ]] && grep -q "CI=true" "$W/out" || { cat "$W/out"; fail "missing qemu in CI: rc=$rc, expected a failure"; }
echo "e2e-rules: 1 passed, 0 failed"

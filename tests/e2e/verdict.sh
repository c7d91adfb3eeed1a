#!/usr/bin/env bash
# verdict.sh CONSOLE_LOG: the e2e result from the guest's serial console.
# Passes only on exactly one "E2E-RESULT:" line, and that line is PASS: any
# FAIL line fails (even followed by a PASS, as a guest whose result() went on
# running could print), and so does no result at all (the guest hung or
# crashed before it got there).
set -euo pipefail
results=$(tr -d '\r' < "$1" | grep -a "E2E-RESULT:" || true)
if [[ -z $results ]]; then
  echo "e2e verdict: no E2E-RESULT line on the console"
  exit 1
fi
if grep -q "E2E-RESULT: FAIL" <<< "$results"; then
  echo "e2e verdict: $(grep -m1 "E2E-RESULT: FAIL" <<< "$results")"
  exit 1
fi
if [[ $(wc -l <<< "$results") != 1 || $results != *"E2E-RESULT: PASS" ]]; then
  echo "e2e verdict: expected one E2E-RESULT: PASS line, got: $results"
  exit 1
fi
echo "e2e verdict: PASS"

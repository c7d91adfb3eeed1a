#!/usr/bin/env bash
# Humane output on a real terminal (a pty from script(1)): every line under
# 80 columns and no escape sequence (the agent writes no colour, with or
# without NO_COLOR), for every command that prints for humans.
set -euo pipefail
BUILD=$1
W=$(mktemp -d /tmp/lp-term.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export LIVEPATCH_AGENT_ROOT=$W/root
A=$BUILD/bin/livepatch-agent
"$A" config remote-server=https://192.0.2.1:9 > /dev/null
/usr/bin/python3 - "$W/root/state/state" <<'PY'
import hashlib, sys
payload = ('{"format":1,"enabled":true,"server-url":"https://livepatch.example.com","tier":"updates",'
           '"token-kind":"auth-token","kernel":"6.1.0-18-amd64","architecture":"x86_64",'
           '"last-check":"2026-11-26T05:00:00Z","check-state":"checked","supported":"supported",'
           '"check-error":"the server answered 503 Service Unavailable: the patch service is down for '
           'maintenance until 06:00 UTC; the agent keeps what it has and retries at the next check",'
           '"patch-state":"applied","applied":{"kernel":"6.1.0-18-amd64","name":"lp_6_1_0_18","version":"12",'
           '"tarball-sha256":"%s","module-sha256":"%s","cache-path":"/var/cache/livepatch-agent/lp-12.tar.xz",'
           '"applied-at":"2026-11-26T05:00:01Z","fixes":[]},'
           '"fixes":[{"name":"cve-2024-1086","description":"nf_tables: use-after-free in nft_verdict_init()","bug":"","patched":true},'
           '{"name":"cve-2023-6270","description":"aoe: use-after-free in aoecmd_cfg_pkts","bug":"","patched":false}]}'
           % ("a" * 64, "b" * 64)).encode()
open(sys.argv[1], "wb").write(b"LPSTATE 1 %s %d\n" % (hashlib.sha256(payload).hexdigest().encode(), len(payload)) + payload)
PY

check() { # check ARGS...: run on a pty, with and without NO_COLOR
  local cmd out
  printf -v cmd '%q ' "$A" "$@"
  for nc in "" 1; do
    out=$(NO_COLOR=$nc script -qec "$cmd" /dev/null | tr -d '\r' | expand) || true  # exit codes vary (status: 1 if not enabled)
    [[ -n $out ]] || fail "no output on a terminal: $*"
    [[ $out != *$'\e'* ]] || fail "escape sequence in: $* (NO_COLOR=$nc)"
    while IFS= read -r line; do
      (( ${#line} < 80 )) || fail "$* prints a line of ${#line} columns: $line"
    done <<< "$out"
  done
}
check --help
check version
check status
check status --verbose
check status --cves
check kernel-upgrade-required
check config
check plugins
check status --format motd
echo "terminal: 1 passed, 0 failed"

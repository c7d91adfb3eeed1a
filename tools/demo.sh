#!/usr/bin/env bash
# The main job, end to end, on a fresh Debian 12 machine (run as root):
# install build deps, build, start the bundled reference server (TLS, test
# CA), enable the agent against it, download + verify + apply a live patch on
# the simulated kernel, upgrade to a newer cumulative patch, show status,
# disable. Everything lives in a temporary directory; nothing touches the
# real kernel or /var/lib.
#   tools/demo.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
build=${1:-build}

tools/install-deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build "$build" -j"$(nproc)" --target livepatch-agent livepatch-server livepatch-pack \
  livepatch-repo transport-https auth-token auth-resource-token verify-module-signature loader-simulated > /dev/null
bin=$(cd "$build/bin" && pwd)

work=$(mktemp -d /tmp/livepatch-demo.XXXXXX)
chmod 700 "$work"
server_pid=
trap '[[ -n "$server_pid" ]] && { kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; }; rm -rf "$work"' EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "demo FAILED: $*" >&2; exit 1; }
orig_cmdline=

say "making demo data: test CA, signing key, signed patches v1 and v2 for the simulated kernel, a TUF repository"
LIVEPATCH_BIN=$bin tools/server/make-demo-data.sh "$work/demo"

say "starting the reference server (TLS) on 127.0.0.1; it serves the TUF repository under /v1/tuf/ and keeps its timestamp fresh"
"$bin/livepatch-server" --data-dir "$work/demo/server" --listen 127.0.0.1:0 \
  --tuf-repo "$work/demo/tuf/repo" --tuf-online-keys "$work/demo/tuf/online" \
  --tls-cert "$work/demo/tls/server.pem" --tls-key "$work/demo/tls/server.key" \
  --port-file "$work/port" > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do [[ -s "$work/port" ]] && break; sleep 0.05; done
port=$(cat "$work/port")
echo "server: https://127.0.0.1:$port"

agent() { echo "\$ livepatch-agent $*" | sed 's/enable [0-9a-f-]\{36\}/enable <token>/'; "$bin/livepatch-agent" --root-dir "$work/agent" "$@"; }

say "configuring the agent (state under $work/agent, simulated kernel under $work/sim)"
agent config remote-server="https://127.0.0.1:$port" loader=loader-simulated \
  simulated-kernel-root="$work/sim" keyring-dir="$work/demo/keyring" check-interval=0
agent config ca-certs=@stdin < "$work/demo/tls/ca.pem"

say "pin the TUF root: from now on the signed catalogue says which patch is current"
agent config trust-root=@stdin < "$work/demo/tuf/repo/metadata/1.root.json"

say "plugins the agent loaded"
agent plugins

say "enable with the auth token (read from stdin, so it is not in ps or shell history)"
agent enable - < "$work/demo/auth-token"
echo "simulated /proc/cmdline: $(cat "$work/sim/proc/cmdline")"
grep -q "live patched" "$work/sim/proc/cmdline" || die "patch 1 was not applied to the simulated kernel"
orig_cmdline=$(cat "$work/sim/state/cmdline.orig" 2>/dev/null || true)

say "status"
agent status

say "the server publishes cumulative patch 2 and the publisher signs it into the TUF catalogue; refresh"
cat >> "$work/demo/server/catalogue.yaml" <<EOC
      - file: lp_demo-2.tar.xz
        name: lp_demo
        version: "2"
        published: 2026-01-02T00:00:00Z
        fixes:
          - {name: cve-2024-1086, description: "nf_tables: use-after-free in nft_verdict_init", bug: "lp#2051234", patched: true}
          - {name: cve-2023-6270, description: "aoe: use-after-free in aoecmd_cfg_pkts", bug: "lp#2056789", patched: true}
EOC
"$bin/livepatch-repo" add --repo "$work/demo/tuf/repo" --offline-keys "$work/demo/tuf/offline" \
  --online-keys "$work/demo/tuf/online" --published 2026-01-02T00:00:00Z "$work/demo/server/patches/lp_demo-2.tar.xz"
agent refresh

say "status --format json (what Ubuntu Pro / Landscape style tooling parses)"
agent status --format json
"$bin/livepatch-agent" --root-dir "$work/agent" status --format json > "$work/status.json"
/usr/bin/python3 - "$work/status.json" <<'PYEOF' || die "status --format json does not say patch 2 is applied from the signed catalogue"
import json, sys
d = json.load(open(sys.argv[1]))
lp = d["Status"][0]["Livepatch"]
sys.exit(0 if (lp["State"], lp["Version"], d["Catalogue"]["Kind"]) == ("applied", "2", "signed") else 1)
PYEOF

say "disable: the patch is reverted"
agent disable
echo "simulated /proc/cmdline: $(cat "$work/sim/proc/cmdline")"
grep -q "live patched" "$work/sim/proc/cmdline" && die "the patch is still applied after disable"
[[ -z "$orig_cmdline" || "$(cat "$work/sim/proc/cmdline")" == "$orig_cmdline" ]] || die "the original cmdline was not restored"
say "demo finished"

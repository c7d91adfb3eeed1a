#!/usr/bin/env bash
# Snap packaging and system integration, without snapd (the schema check is
# the separate snap.schema test, skipped where the official schema is absent):
#  (b) `cmake --install` into a prime-like staging dir has every command:
#      path and the plugins;
#  (c) the configure hook maps `snap set` through `livepatch-agent config`
#      (fake snapctl): good values land, a bad one fails with the agent's
#      message and changes nothing;
#  (d) with SNAP/SNAP_DATA/SNAP_COMMON set, state lives only there, 0600/0700;
#  (e) the systemd unit passes `systemd-analyze verify` when available.
set -euo pipefail
BUILD=$1 SRC=$2
W=$(mktemp -d /tmp/lp-snap.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
PY=/usr/bin/python3

STAGE=$W/prime
cmake --install "$BUILD" --prefix "$STAGE/usr" > /dev/null
$PY - "$SRC/snap/snapcraft.yaml" "$STAGE" <<'PYEOF' || fail "command paths"
import os, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
for name, app in doc["apps"].items():
    path = os.path.join(sys.argv[2], app["command"].split()[0])
    assert os.path.isfile(path) and os.access(path, os.X_OK), f"{name}: {path} missing or not executable"
engine = os.path.join(sys.argv[2], "usr/lib/livepatch-agent/livepatch-agent-engine")
assert os.path.isfile(engine) and os.access(engine, os.X_OK), f"engine binary missing: {engine}"
plugins = os.path.join(sys.argv[2], "usr/lib/livepatch-agent/plugins")
found = sorted(f for f in os.listdir(plugins) if f.endswith(".so"))
for need in ("transport-https.so", "auth-token.so", "verify-module-signature.so", "loader-klp.so"):
    assert need in found, f"{need} not installed in {plugins}"
print("(b) commands and plugins present:", ", ".join(found))
PYEOF
[[ -f "$STAGE/usr/lib/systemd/system/livepatch-agent.service" ]] || fail "systemd unit not installed"

# (c) configure hook with a fake snapctl
mkdir -p "$W/fakebin" "$W/data" "$W/common"
cat > "$W/fakebin/snapctl" <<'SH'
#!/bin/sh
# snapctl get KEY -> value from $SNAPCTL_DB (key=value lines)
[ "$1" = get ] || exit 1
grep -m1 "^$2=" "$SNAPCTL_DB" 2>/dev/null | cut -d= -f2- || true
SH
chmod +x "$W/fakebin/snapctl"
export SNAP=$STAGE SNAP_DATA=$W/data SNAP_COMMON=$W/common SNAP_NAME=livepatch-agent SNAPCTL_DB=$W/snapctl.db
chmod 700 "$W/data" "$W/common"
PATH=$W/fakebin:$PATH "$SRC/snap/hooks/install"
printf 'remote-server=https://patches.example.com\ncheck-interval=15\n' > "$SNAPCTL_DB"
PATH=$W/fakebin:$PATH "$SRC/snap/hooks/configure" || fail "configure hook rejected good values"
grep -q 'check-interval: "15"' "$W/data/config.yaml" || fail "configure hook did not apply check-interval"
before=$(cat "$W/data/config.yaml")
printf 'remote-server=https://patches.example.com\ncheck-interval=abc\n' > "$SNAPCTL_DB"
set +e; out=$(PATH=$W/fakebin:$PATH "$SRC/snap/hooks/configure" 2>&1); rc=$?; set -e
[[ $rc != 0 && "$out" == *'check-interval: expected minutes >= 0, got "abc"'* ]] || fail "bad snap set accepted: rc=$rc $out"
[[ "$(cat "$W/data/config.yaml")" == "$before" ]] || fail "bad snap set changed the config"
echo "(c) configure hook validates through livepatch-agent config"

# (d) state only under SNAP_DATA / SNAP_COMMON, root-only
syscfg_before=$(ls -d /var/lib/livepatch-agent 2>/dev/null || true)
"$STAGE/usr/bin/livepatch-agent" status > /dev/null 2>&1 || true
"$STAGE/usr/bin/livepatch-agent" config log-level=debug > /dev/null
[[ "$(ls -d /var/lib/livepatch-agent 2>/dev/null || true)" == "$syscfg_before" ]] || fail "state written outside SNAP_DATA"
while read -r f; do
  m=$(stat -c %a "$f")
  if [[ -d "$f" ]]; then [[ $m == 700 ]] || fail "dir $f mode $m"; else [[ $m == 600 ]] || fail "file $f mode $m"; fi
done < <(find "$W/data" "$W/common" -mindepth 1)
[[ -f "$W/data/config.yaml" && -d "$W/data/run" && -d "$W/common/cache" ]] || fail "snap layout"
echo "(d) state only under SNAP_DATA/SNAP_COMMON with 0600/0700"
unset SNAP SNAP_DATA SNAP_COMMON SNAP_NAME

if command -v systemd-analyze > /dev/null 2>&1; then
  # Point ExecStart at the staged binary (the unit names the configured prefix).
  sed "s|^ExecStart=.*|ExecStart=$STAGE/usr/bin/livepatch-agent daemon|" \
    "$STAGE/usr/lib/systemd/system/livepatch-agent.service" > "$W/livepatch-agent.service"
  if systemd-analyze verify "$W/livepatch-agent.service" > "$W/verify.log" 2>&1; then
    echo "(e) systemd unit verifies"
  elif grep -q "livepatch-agent.service" "$W/verify.log"; then
    cat "$W/verify.log"; fail "systemd unit does not verify"
  else
    echo "(e) systemd-analyze could not run here: $(head -1 "$W/verify.log")"
  fi
else
  echo "(e) systemd-analyze not installed; skipped"
fi
echo "snap: 1 passed, 0 failed"

#!/usr/bin/env bash
# Snap packaging and system integration, without snapd (the schema check is
# the separate snap.schema test, skipped where the official schema is absent;
# `snap pack` of the tree is snap.pack):
#  (a) every stage-package is an Ubuntu 24.04 name (snap/ubuntu-24.04-packages.txt);
#  (b) the snap tree (tools/snap/make-snap-dir.sh: the "agent" component) has
#      every command: path, the engine and the plugins, and nothing of the
#      server, packer, signer or SDK;
#  (c) the configure hook (fake snapctl) pushes only changed keys through
#      `livepatch-agent config`: good values land, a bad one fails with the
#      agent's message and changes nothing, `snap unset` goes back to the
#      default, and a later `livepatch-agent config` change survives an
#      unrelated `snap set`;
#  (d) with the snap environment, every file the agent writes is under
#      $SNAP_COMMON (nothing in the revisioned $SNAP_DATA, nothing anywhere
#      else: every write syscall is traced with strace and checked, and every
#      syscall made must have a row in snap/confinement-allowed.tsv), 0600/0700;
#  (e) the daemon does not crash-loop without its manual interfaces, and stops
#      at once under an emergency stop;
#  (f) the systemd unit passes `systemd-analyze verify` (systemd is a
#      dependency: tools/install-deps.sh), and `systemd-analyze security`
#      finds the sandbox the unit promises (read-only kernel tunables, no
#      CAP_DAC_*, a system call allow list; exposure <= 3.0).
set -euo pipefail
BUILD=$1 SRC=$2
W=$(mktemp -d /tmp/lp-snap.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
PY=/usr/bin/python3
for tool in strace systemd-analyze; do
  command -v "$tool" > /dev/null || fail "$tool is not installed (tools/install-deps.sh installs it)"
done

# (a) stage-packages against the pinned Ubuntu 24.04 names
$PY - "$SRC/snap/snapcraft.yaml" "$SRC/snap/ubuntu-24.04-packages.txt" <<'PYEOF' || fail "stage-packages"
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
known = {l.strip() for l in open(sys.argv[2]) if l.strip() and not l.startswith("#")}
staged = [p for part in doc["parts"].values() for p in part.get("stage-packages", [])]
bad = [p for p in staged if p not in known]
assert staged, "no stage-packages at all?"
assert not bad, f"not Ubuntu 24.04 package names: {bad}"
print(f"(a) {len(staged)} stage-packages are Ubuntu 24.04 names")
PYEOF

# (b) the snap tree
STAGE=$W/prime
"$SRC/tools/snap/make-snap-dir.sh" "$BUILD" "$SRC" "$STAGE"
$PY - "$STAGE/meta/snap.yaml" "$STAGE" <<'PYEOF' || fail "snap tree"
import os, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
root = sys.argv[2]
for name, app in doc["apps"].items():
    path = os.path.join(root, app["command"].split()[0])
    assert os.path.isfile(path) and os.access(path, os.X_OK), f"{name}: {path} missing or not executable"
for hook in doc["hooks"]:
    path = os.path.join(root, "meta/hooks", hook)
    assert os.access(path, os.X_OK), f"hook {hook} declared but {path} missing"
engine = os.path.join(root, "usr/lib/livepatch-agent/livepatch-agent-engine")
assert os.access(engine, os.X_OK), f"engine binary missing: {engine}"
plugins = os.path.join(root, "usr/lib/livepatch-agent/plugins")
found = sorted(f for f in os.listdir(plugins) if f.endswith(".so"))
for need in ("transport-https.so", "auth-token.so", "verify-module-signature.so", "loader-klp.so"):
    assert need in found, f"{need} not installed in {plugins}"
for banned in ("usr/bin/livepatch-server", "usr/bin/livepatch-pack", "usr/bin/xen-livepatch-sign",
               "usr/include", "usr/share/livepatch-agent/server"):
    assert not os.path.exists(os.path.join(root, banned)), f"{banned} must not be in the agent snap"
assert os.path.isfile(os.path.join(root, "LICENSE")), "LICENSE missing"
assert doc["license"] == "GPL-3.0-or-later"
assert "GNU GENERAL PUBLIC LICENSE" in open(os.path.join(root, "LICENSE")).read(200) and \
       "Version 3" in open(os.path.join(root, "LICENSE")).read(400), "LICENSE is not the GPL-3.0 text"
print("(b) commands, hooks, engine and plugins present, no tools or SDK:", ", ".join(found))
PYEOF
[[ -f "$STAGE/usr/lib/systemd/system/livepatch-agent.service" ]] || fail "systemd unit not installed"

# Fake snapctl: `get KEY` from $SNAPCTL_DB/KEY, `is-connected PLUG` from $SNAPCTL_DB/connected-PLUG.
mkdir -p "$W/fakebin" "$W/data" "$W/common" "$W/db"
cat > "$W/fakebin/snapctl" <<'SH'
#!/bin/sh
case "$1" in
  get) [ -f "$SNAPCTL_DB/$2" ] && cat "$SNAPCTL_DB/$2"; exit 0 ;;
  is-connected) [ -f "$SNAPCTL_DB/connected-$2" ] ;;
  *) echo "fake snapctl: $*" >> "$SNAPCTL_DB/calls"; exit 0 ;;
esac
SH
chmod +x "$W/fakebin/snapctl"
export SNAP=$STAGE SNAP_DATA=$W/data SNAP_COMMON=$W/common SNAP_NAME=livepatch-agent SNAP_INSTANCE_NAME=livepatch-agent SNAPCTL_DB=$W/db
chmod 700 "$W/data" "$W/common"
snapset() { printf '%s' "$2" > "$SNAPCTL_DB/$1"; }
snapunset() { rm -f "$SNAPCTL_DB/$1"; }
hook() { PATH=$W/fakebin:$PATH "$STAGE/meta/hooks/$1"; }
cfg() { "$STAGE/usr/bin/livepatch-agent" config | sed -n "s/^$1: //p"; }

# (c) install + configure hooks
hook install
[[ "$(cfg keyring-dir)" == "$W/common/keyring" ]] || fail "install hook did not point keyring-dir at \$SNAP_COMMON/keyring: $(cfg keyring-dir)"
snapset remote-server https://patches.example.com; snapset check-interval 15
hook configure || fail "configure hook rejected good values"
[[ "$(cfg check-interval)" == 15 && "$(cfg remote-server)" == https://patches.example.com ]] || fail "configure hook did not apply"
before=$(cat "$W/common/config.yaml")
snapset check-interval abc
set +e; out=$(hook configure 2>&1); rc=$?; set -e
[[ $rc != 0 && "$out" == *'check-interval: expected minutes >= 0, got "abc"'* ]] || fail "bad snap set accepted: rc=$rc $out"
[[ "$(cat "$W/common/config.yaml")" == "$before" ]] || fail "bad snap set changed the config"
snapset check-interval 15   # what snapd does after a failed hook: the old value back
# The operator changes a key with the CLI; an unrelated snap set must not undo it.
"$STAGE/usr/bin/livepatch-agent" config check-interval=30 > /dev/null
snapset log-level debug
hook configure
[[ "$(cfg check-interval)" == 30 ]] || fail "configure hook re-sent an unchanged key over a CLI change"
[[ "$(cfg log-level)" == debug ]] || fail "configure hook did not push the changed key"
# snap unset goes back to the default.
snapunset log-level
hook configure
[[ "$(cfg log-level)" == info ]] || fail "snap unset log-level did not restore the default: $(cfg log-level)"
echo "(c) configure hook: changed keys only, validated, unset restores the default, CLI changes survive"

# (d) every write under $SNAP_COMMON, every syscall tabled
run_traced() {  # N EXPECTED_EXIT ARGS...: trace one agent command, check its exit code
  local n=$1 want=$2 rc=0; shift 2
  strace -f -y -qq -s 4096 -o "$W/trace-$n.log" "$STAGE/usr/bin/livepatch-agent" "$@" > "$W/out-$n" 2>&1 || rc=$?
  [[ $rc == "$want" ]] || fail "livepatch-agent $* exited $rc, expected $want: $(cat "$W/out-$n")"
}
run_traced 1 0 config log-level=debug
run_traced 2 1 status     # not enabled
run_traced 3 0 config
run_traced 4 0 plugins
run_traced 5 1 refresh    # not enabled: refused in the engine binary
cat "$W"/trace-*.log > "$W/trace.log"
grep -Eq 'execve\(".*livepatch-agent-engine"|execveat\([0-9]+<[^>]*livepatch-agent-engine>' "$W/trace.log" || fail "the engine binary never ran: the trace covers only the front-end"
$PY "$SRC/tests/snap/confinement_audit.py" "$W/trace.log" "$SRC/snap/confinement-allowed.tsv" \
    SNAP="$STAGE" SNAP_COMMON="$W/common" SNAP_DATA="$W/data" CWD="$PWD" || fail "confinement audit (see above)"
[[ -z "$(ls -A "$W/data")" ]] || fail "written to the revisioned \$SNAP_DATA: $(ls -A "$W/data")"
while read -r f; do
  m=$(stat -c %a "$f")
  if [[ -d "$f" ]]; then [[ $m == 700 ]] || fail "dir $f mode $m"; else [[ $m == 600 ]] || fail "file $f mode $m"; fi
done < <(find "$W/common" -mindepth 1)
[[ -f "$W/common/config.yaml" && -d "$W/common/run" && -d "$W/common/cache" && -d "$W/common/keyring" ]] || fail "snap layout"
echo "(d) every write under \$SNAP_COMMON (traced), nothing in \$SNAP_DATA, 0600/0700"

# (e) daemon-start without the manual interfaces; emergency stop
set +e; out=$(PATH=$W/fakebin:$PATH timeout 20 "$STAGE/bin/daemon-start" 2>&1); rc=$?; set -e
[[ $rc == 0 && "$out" == *"snap connect livepatch-agent:kernel-module-control"* && "$out" == *"snap connect livepatch-agent:livepatch-sysfs"* ]] \
  || fail "daemon-start without interfaces: rc=$rc $out"
touch "$SNAPCTL_DB/connected-kernel-module-control" "$SNAPCTL_DB/connected-livepatch-sysfs"
: > "$W/common/emergency-stop"
# (without SNAP_NAME the agent logs to stderr instead of syslog)
set +e; out=$(PATH=$W/fakebin:$PATH timeout 20 env -u SNAP_NAME "$STAGE/bin/daemon-start" 2>&1); rc=$?; set -e
[[ ! -e "$W/common/run/agent.sock" ]] || fail "the daemon served its socket under an emergency stop"
[[ $rc == 0 && "$out" == *"emergency stop: $W/common/emergency-stop exists"* ]] || fail "daemon under emergency stop: rc=$rc $out"
rm -f "$W/common/emergency-stop"
echo "(e) daemon: says which interfaces to connect and exits 0; an emergency stop keeps it from running"
unset SNAP SNAP_DATA SNAP_COMMON SNAP_NAME SNAP_INSTANCE_NAME

# (--man=no: Documentation= names livepatch-agent(8), installed by the packages, not on this host)
# (f) the unit, pointed at the staged binary (the unit names the configured prefix)
sed "s|^ExecStart=.*|ExecStart=$STAGE/usr/bin/livepatch-agent daemon|" \
  "$STAGE/usr/lib/systemd/system/livepatch-agent.service" > "$W/livepatch-agent.service"
systemd-analyze verify --man=no "$W/livepatch-agent.service" > "$W/verify.log" 2>&1 || { cat "$W/verify.log"; fail "systemd-analyze verify failed"; }
# (other units of the host may add their own warnings; ours must have none)
if grep -q "livepatch-agent" "$W/verify.log"; then cat "$W/verify.log"; fail "systemd-analyze verify reported problems in our unit"; fi
# The sandbox, as systemd itself scores it: only /sys/kernel/livepatch writable
# (ProtectKernelTunables), no CAP_DAC_*, a system call allow list.
systemd-analyze security --offline=yes --no-pager "$W/livepatch-agent.service" > "$W/security.log" 2>&1 \
  || { cat "$W/security.log"; fail "systemd-analyze security"; }
for want in "ProtectKernelTunables=" "CapabilityBoundingSet=~CAP_(DAC_*|FOWNER|IPC_OWNER)" "SystemCallFilter=~@clock" \
            "SystemCallFilter=~@mount" "SystemCallFilter=~@debug" "ProtectSystem="; do
  grep -qF "✓ $want" "$W/security.log" || { grep -F "$want" "$W/security.log"; fail "unit sandbox: $want not satisfied"; }
done
exposure=$(sed -n 's/.*Overall exposure level for livepatch-agent.service: \([0-9.]*\).*/\1/p' "$W/security.log")
awk -v e="$exposure" 'BEGIN { exit !(e != "" && e <= 3.0) }' || fail "unit exposure $exposure, want <= 3.0"
echo "(f) systemd unit verifies; sandbox exposure $exposure (systemd-analyze security)"
echo "snap: 1 passed, 0 failed"

#!/usr/bin/env bash
# Crash-safety guard, second trigger: the machine came back (same kernel, new
# boot id) less than 10 minutes after a patch was loaded. The daemon must not
# load it again until `livepatch-agent clear-lock`. Host facts (uptime, hence
# the boot time) come from a fake host root.
source "$(dirname "$0")/lib.sh"
HOST=$WORK/host
mkdir -p "$HOST/etc" "$HOST/proc"
cp /etc/machine-id "$HOST/etc/machine-id" 2>/dev/null || echo 0123456789abcdef0123456789abcdef > "$HOST/etc/machine-id"
echo "86400.00 1.00" > "$HOST/proc/uptime"
export LIVEPATCH_AGENT_HOST_ROOT=$HOST
catalogue 1
start_server
configure_agent
token=$(cat "$WORK/demo/auth-token")

simulated_reboot() { # simulated_reboot UPTIME_SECONDS
  rm -rf "$SIM/sys/kernel/livepatch/"* "$SIM/sys/module/"* "$SIM/modules/"*
  cp "$SIM/state/cmdline.orig" "$SIM/proc/cmdline"; rm -f "$SIM/state/cmdline.orig"
  cat /proc/sys/kernel/random/uuid > "$SIM/proc/sys/kernel/random/boot_id"
  echo "$1.00 1.00" > "$HOST/proc/uptime"
}

step "enable -> patch 1 applied"
agent enable - <<< "$token" > /dev/null
assert_state applied 1

step "the machine restarts seconds after the load: the daemon does not reload the patch"
simulated_reboot 0
start_daemon "$WORK/daemon.log"
for _ in $(seq 50); do agent status 2>/dev/null | grep -q "crash guard: set" && break; sleep 0.1; done
agent status | grep -q "crash guard: set" || { cat "$WORK/daemon.log"; fail "crash guard not set"; }
sleep 0.5
lacks "live patched" "$SIM/proc/cmdline"   # not reloaded despite a restart right after the load
agent status | grep -q "possible crash" || fail "status does not say why the guard is set"
agent status | grep -q "clear-lock" || fail "status does not say how to clear the guard"
step "a refresh does not load it either"
set +e; out=$(agent refresh 2>&1); rc=$?; set -e
[[ $rc == 7 && "$out" == *"clear-lock"* ]] || fail "refresh with the guard set: expected exit 7, rc=$rc $out"
lacks "live patched" "$SIM/proc/cmdline"   # the refresh did not load it despite the guard
stop_daemon

step "clear-lock, then the daemon re-applies from the cache"
agent clear-lock | grep -q "crash guard cleared" || fail "clear-lock"
start_daemon "$WORK/daemon.log"
for _ in $(seq 100); do grep -q "live patched" "$SIM/proc/cmdline" && break; sleep 0.1; done
grep -q "live patched" "$SIM/proc/cmdline" || { cat "$WORK/daemon.log"; fail "not re-applied after clear-lock"; }
stop_daemon
assert_state applied 1
echo "crash-window: 1 passed, 0 failed"

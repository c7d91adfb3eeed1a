#!/bin/sh
# Runs inside the systemd guest as lp-e2e.service (after network-online), once
# per boot; /var/lib/lp-e2e/stage says which boot this is. Every line it
# prints goes to the serial console; the host fails on any "E2E-STAGE<n>: FAIL"
# and needs "E2E-STAGE<n>: OK" for each boot.
#  1: install the .deb (postinst enables and starts the unit), configure,
#     enable, apply the signed patch through the sandboxed daemon, stop it
#     within the timeout, show the journal.
#  2: after a reboot: the cached patch was re-applied and the unit was ready
#     before network-online.target; an emergency-stop file keeps the unit and
#     `refresh` from doing anything.
#  3: booted with livepatch_agent.mode=stop: nothing started, nothing loaded;
#     then purge removes the state.
set -u
E=/root/e2e
S=/var/lib/lp-e2e
mkdir -p "$S"
stage=$(cat "$S/stage" 2>/dev/null || echo 1)
say() { echo "e2e[$stage]: $*"; }
finish() { echo "E2E-STAGE$stage: $*"; journalctl -u livepatch-agent -b --no-pager -o short-monotonic | sed 's/^/journal: /'; sync; systemctl poweroff; exit 0; }
fail() { finish "FAIL $*"; }
patched() { [ "$(cat /proc/cmdline)" = "this has been live patched" ]; }
A=livepatch-agent
say "kernel $(uname -r), systemd $(systemctl --version | head -1), up $(cut -d' ' -f1 /proc/uptime) s"

case $stage in
1)
  out=$(dpkg -i "$E/livepatch-agent.deb" 2>&1) || fail "dpkg -i: $out"
  say "installed $(dpkg-query -W livepatch-agent)"
  [ "$(systemctl is-enabled livepatch-agent)" = enabled ] || fail "postinst did not enable the unit"
  [ "$(systemctl is-active livepatch-agent)" = active ] || fail "unit not active after install: $(systemctl status livepatch-agent --no-pager 2>&1 | tail -5)"
  [ "$(stat -c '%U %a' /etc/livepatch-agent/keyring)" = "root 700" ] || fail "keyring dir: $(stat -c '%U %a' /etc/livepatch-agent/keyring)"
  cp "$E"/keyring/*.pem /etc/livepatch-agent/keyring/
  $A config remote-server="https://10.0.2.2:$(cat "$E/port")" loader=loader-klp run-mode=no-apply > /dev/null || fail "config"
  $A config ca-certs=@stdin < "$E/ca.pem" > /dev/null || fail "config ca-certs"
  out=$($A enable - < "$E/auth-token" 2>&1) || fail "enable: $out"
  say "enable: $out"
  patched && fail "enable applied under run-mode=no-apply"
  # The apply itself runs in the daemon's worker, inside the unit's sandbox.
  $A config run-mode=normal > /dev/null || fail "config run-mode"
  out=$($A refresh 2>&1); rc=$?
  say "refresh through the daemon rc=$rc: $out"
  [ $rc = 0 ] || fail "refresh: $out"
  patched || fail "not patched after refresh: $(cat /proc/cmdline)"
  [ "$(cat /sys/kernel/livepatch/lp_e2e/enabled)" = 1 ] || fail "lp_e2e not enabled in sysfs"
  # Applied by the unit's own processes (the daemon's worker, in the sandbox),
  # not by the CLI: journalctl -u shows only the unit's cgroup.
  journalctl -u livepatch-agent -b -o cat | grep -q "applied patch lp_e2e version 1" || fail "the unit did not apply the patch"
  if journalctl -u livepatch-agent -b -o cat | grep -Ei "operation not permitted|permission denied|read-only file system|bad system call"; then
    fail "the sandbox blocked something (journal above)"
  fi
  [ "$(systemctl show -p NRestarts --value livepatch-agent)" = 0 ] || fail "the daemon restarted"
  t0=$(date +%s%N)
  systemctl stop livepatch-agent || fail "systemctl stop"
  t1=$(date +%s%N)
  ms=$(( (t1 - t0) / 1000000 ))
  limit=$(systemctl show -p TimeoutStopUSec --value livepatch-agent)
  say "systemctl stop took $ms ms (TimeoutStopSec $limit), result $(systemctl show -p Result --value livepatch-agent)"
  [ "$(systemctl show -p Result --value livepatch-agent)" = success ] || fail "stop result $(systemctl show -p Result --value livepatch-agent)"
  [ $ms -lt 30000 ] || fail "stop took $ms ms"
  patched || fail "stopping the daemon reverted the patch"
  journalctl -u livepatch-agent -b -o cat > /tmp/j
  for want in "started" "stopping" "daemon stopped"; do
    grep -q "$want" /tmp/j || fail "journal lacks \"$want\""
  done
  echo 2 > "$S/stage"
  finish OK
  ;;
2)
  patched || fail "cached patch not re-applied at boot: $(cat /proc/cmdline)"
  lp=$(systemctl show -p ActiveEnterTimestampMonotonic --value livepatch-agent)
  net=$(systemctl show -p ActiveEnterTimestampMonotonic --value network-online.target)
  say "livepatch-agent ready at ${lp} us, network-online.target at ${net} us (monotonic)"
  [ "${lp:-0}" -gt 0 ] && [ "${net:-0}" -gt 0 ] || fail "missing timestamps: agent $lp, network-online $net"
  [ "$lp" -le "$net" ] || fail "the re-apply finished after network-online.target"
  journalctl -u livepatch-agent -b -o cat | grep -q "re-applied cached patch lp_e2e version 1" || fail "no re-apply line in the journal"
  status=$(systemctl show -p StatusText --value livepatch-agent)
  say "unit status: $status"
  [ "$status" = "running; boot re-apply from the cache done" ] || fail "sd_notify status: $status"
  # Emergency stop file: the unit does not start, refresh does nothing.
  touch /var/lib/livepatch-agent/emergency-stop
  systemctl restart livepatch-agent
  [ "$(systemctl show -p ConditionResult --value livepatch-agent)" = no ] || fail "unit ran despite the emergency-stop file"
  [ "$(systemctl is-active livepatch-agent)" != active ] || fail "unit active under the emergency-stop file"
  out=$($A refresh 2>&1); rc=$?
  say "refresh under the emergency-stop file rc=$rc: $out"
  [ $rc = 0 ] && echo "$out" | grep -q "emergency stop" || fail "refresh under emergency stop: rc=$rc $out"
  rm /var/lib/livepatch-agent/emergency-stop
  echo 3 > "$S/stage"
  finish OK
  ;;
3)
  grep -qw livepatch_agent.mode=stop /proc/cmdline || fail "not booted with livepatch_agent.mode=stop"
  [ "$(systemctl show -p ConditionResult --value livepatch-agent)" = no ] || fail "unit started under livepatch_agent.mode=stop"
  [ -z "$(ls /sys/kernel/livepatch)" ] || fail "livepatches loaded under mode=stop: $(ls /sys/kernel/livepatch)"
  out=$($A refresh 2>&1); rc=$?
  [ $rc = 0 ] && echo "$out" | grep -q "emergency stop" || fail "refresh under mode=stop: rc=$rc $out"
  [ -z "$(ls /sys/kernel/livepatch)" ] || fail "refresh loaded a patch under mode=stop"
  out=$(dpkg --purge livepatch-agent 2>&1) || fail "purge: $out"
  for gone in /var/lib/livepatch-agent /var/cache/livepatch-agent /etc/livepatch-agent /usr/lib/systemd/system/livepatch-agent.service; do
    [ ! -e "$gone" ] || fail "$gone left after purge"
  done
  say "purged: state, keyring and unit gone"
  echo 4 > "$S/stage"
  finish OK
  ;;
*) fail "unexpected stage $stage" ;;
esac

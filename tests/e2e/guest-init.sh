#!/bin/sh
# PID 1 of the e2e guest: run the agent against the real kernel.
export PATH=/bin:/sbin:/opt/lp/usr/bin
# As the snap runs it: state in $SNAP_COMMON, libraries under $SNAP.
export SNAP=/opt/lp SNAP_NAME=livepatch-agent SNAP_COMMON=/var/snap/livepatch-agent/common \
       SNAP_DATA=/var/snap/livepatch-agent/x1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
ip link set lo up
mkdir -p /tmp/traces /var/snap/livepatch-agent/common /var/snap/livepatch-agent/x1
# The one verdict line, then off. `exit` after poweroff -f: should the
# power-off fail or return, the script must not go on to later steps (and
# print a second verdict the host could misread).
result() { send_traces; echo "E2E-RESULT: $*"; poweroff -f; sleep 5; exit 1; }
# Every agent command runs under strace -ff (one file per process); the
# host audits them against the snap's declared plugs. To the host on ttyS1,
# each line prefixed with its pid (the audit's format), gzip + base64.
agent() { strace -ff -y -qq -s 200 -o /tmp/traces/t livepatch-agent "$@"; }
send_traces() {
  for f in /tmp/traces/t.*; do
    [ -f "$f" ] && sed "s/^/${f##*.} /" "$f"
  done | gzip -1 | base64 > /dev/ttyS1
}
check() { echo "e2e: $*"; }
orig=$(cat /proc/cmdline)
check "kernel $(cat /proc/sys/kernel/osrelease), livepatch sysfs: $(ls -d /sys/kernel/livepatch 2>&1)"

livepatch-server --data-dir /data/server --listen 127.0.0.1:8443 --tls-cert /data/server.pem \
  --tls-key /data/server.key --port-file /tmp/port > /tmp/server.log 2>&1 &
for i in $(seq 100); do [ -s /tmp/port ] && break; sleep 0.1; done
[ -s /tmp/port ] || result "FAIL server did not start: $(cat /tmp/server.log)"

A=agent
$A config remote-server=https://127.0.0.1:8443 keyring-dir=/data/keyring loader=loader-klp check-interval=0 >/dev/null || result "FAIL config"
$A config ca-certs=@stdin < /data/ca.pem > /dev/null || result "FAIL ca-certs"
$A plugins
out=$($A enable - < /data/auth-token 2>&1); rc=$?
check "enable rc=$rc: $out"
[ $rc = 0 ] || result "FAIL enable: $out"
now=$(cat /proc/cmdline)
check "cmdline after enable: $now"
[ "$now" = "this has been live patched" ] || result "FAIL cmdline not patched ($(dmesg | tail -5 | tr '\n' ' '))"
$A status --format json > /tmp/status.json
grep -q '"State": "applied"' /tmp/status.json || result "FAIL status not applied: $(cat /tmp/status.json)"
check "livepatch sysfs: $(ls /sys/kernel/livepatch) enabled=$(cat /sys/kernel/livepatch/lp_e2e/enabled)"

# v2 under the same livepatch name: the old one must really be replaced.
mv /data/server/catalogue-v2.yaml /data/server/catalogue.yaml
out=$($A refresh 2>&1); rc=$?
check "refresh to v2 (same name) rc=$rc: $out"
[ $rc = 0 ] || result "FAIL refresh to v2: $out"
[ "$(cat /proc/cmdline)" = "this has been live patched (v2)" ] || result "FAIL v2 not running: $(cat /proc/cmdline)"
$A status --format json | grep -q '"Version": "2"' || result "FAIL status does not say 2"

# v3 under a new name: atomic replace; v2's module is unloaded afterwards.
mv /data/server/catalogue-v3.yaml /data/server/catalogue.yaml
out=$($A refresh 2>&1); rc=$?
check "refresh to v3 (new name, atomic replace) rc=$rc: $out"
[ $rc = 0 ] || result "FAIL refresh to v3: $out"
[ "$(cat /proc/cmdline)" = "this has been live patched (v3)" ] || result "FAIL v3 not running: $(cat /proc/cmdline)"
[ "$(ls /sys/kernel/livepatch)" = "lp_e2e_v3" ] || result "FAIL livepatches after replace: $(ls /sys/kernel/livepatch)"
[ ! -d /sys/module/lp_e2e ] || result "FAIL replaced module lp_e2e still loaded"

out=$($A disable 2>&1); rc=$?
check "disable rc=$rc: $out"
[ $rc = 0 ] || result "FAIL disable: $out"
[ "$(cat /proc/cmdline)" = "$orig" ] || result "FAIL cmdline not restored: $(cat /proc/cmdline)"
[ ! -d /sys/module/lp_e2e ] && [ ! -d /sys/module/lp_e2e_v3 ] || result "FAIL module still loaded after disable"

# The untrusted patch: refused, kernel untouched.
mv /data/server/catalogue-untrusted.yaml /data/server/catalogue.yaml
$A enable - < /data/auth-token > /tmp/enable2.log 2>&1
out=$($A refresh 2>&1); rc=$?
check "refresh with untrusted patch rc=$rc: $out"
[ $rc = 6 ] || result "FAIL untrusted patch not refused (rc=$rc): $out"
echo "$out" | grep -q "not in keyring" || result "FAIL wrong refusal: $out"
[ "$(cat /proc/cmdline)" = "$orig" ] || result "FAIL kernel touched by untrusted patch"
[ ! -d /sys/module/lp_e2e ] || result "FAIL untrusted module loaded"

# Validly signed modules whose unsigned livepatch.json lies: refused from
# the signed .modinfo before finit_module, nothing left in the kernel.
for liar in name version; do
  mv /data/server/catalogue-liar-$liar.yaml /data/server/catalogue.yaml
  out=$($A refresh 2>&1); rc=$?
  check "refresh with metadata lying about the $liar rc=$rc: $out"
  [ $rc = 6 ] || result "FAIL $liar liar not refused (rc=$rc): $out"
  case $liar in
    name) want='the signed module is named "lp_e2e_v3" but the patch metadata says "lp_e2e"' ;;
    version) want='the signed module is version "1" but the patch metadata says "9"' ;;
  esac
  echo "$out" | grep -qF "$want" || result "FAIL wrong refusal of the $liar liar: $out"
  [ -z "$(ls /sys/kernel/livepatch)" ] || result "FAIL livepatch left by the $liar liar: $(ls /sys/kernel/livepatch)"
  [ ! -d /sys/module/lp_e2e ] && [ ! -d /sys/module/lp_e2e_v3 ] || result "FAIL module left by the $liar liar"
  mods=$(cat /proc/modules)
  case "$mods" in *lp_e2e*) result "FAIL /proc/modules after the $liar liar: $mods" ;; esac
  [ "$(cat /proc/cmdline)" = "$orig" ] || result "FAIL kernel patched by the $liar liar"
done
check "lying metadata refused; /proc/modules: $(cat /proc/modules | wc -l) modules, none lp_e2e*"
result PASS

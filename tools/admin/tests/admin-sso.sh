#!/usr/bin/env bash
# admin-sso.sh BUILD_DIR: `livepatch-admin login --sso` against the real
# livepatch-server process with a real hook (tools/server/src/sso_hook.h):
# the assertion from stdin or --sso-assertion-file reaches the hook on its
# stdin only, the macaroon it earns works for `tier list`, a refused one is
# 401 and logged without it, a server without --admin-sso-hook says SSO is not
# configured, a hook others may write stops the server's start, and the
# assertion appears in no output, log, argv or environment.
set -euo pipefail
BUILD=$(cd "$1" && pwd)
W=$(mktemp -d /tmp/lp-admin-sso.XXXXXX)
pid=
trap '[[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$W"' EXIT
. "$(dirname "$0")/lib.sh"   # fail, expect, has
A=$BUILD/bin/livepatch-admin
S=$BUILD/bin/livepatch-server
mkdir -m 700 "$W/data"
head -c 32 /dev/urandom | base64 > "$W/data/macaroon-key"
printf 'tiers: [canary, stable]\nkernels: []\n' > "$W/data/catalogue.yaml"
ASSERTION='eyJhbGciOiJSUzI1NiJ9.sso-SECRET-assertion_4711~'
printf '%s\n' "$ASSERTION" > "$W/expected"
printf '%s\n' "$ASSERTION" > "$W/assertion-file"
chmod 600 "$W/expected" "$W/assertion-file"
# The hook keeps its argv and environment for the checks at the end.
cat > "$W/hook" <<EOF
#!/bin/sh
printf '%s\n' "\$0" "\$@" >> '$W/hook-argv'
env >> '$W/hook-env'
IFS= read -r assertion
[ "\$assertion" = "\$(cat '$W/expected')" ] || exit 1
echo ops
EOF
chmod 755 "$W/hook"

# start NAME ARGS...: a server on a free port, its output in NAME.log; URL set.
start() {
  local name=$1; shift
  rm -f "$W/port"
  "$S" --data-dir "$W/data" --plain --listen 127.0.0.1:0 --port-file "$W/port" "$@" > "$W/$name.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do [[ -s "$W/port" ]] && break; sleep 0.05; done
  [[ -s "$W/port" ]] || { cat "$W/$name.log"; fail "server $name did not start"; }
  URL=http://127.0.0.1:$(cat "$W/port")
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }
export LIVEPATCH_ADMIN_DIR=$W/admin

# A hook others may write: the server refuses to start, and says why.
chmod 777 "$W/hook"
set +e
timeout 10 "$S" --data-dir "$W/data" --plain --listen 127.0.0.1:0 --admin-sso-hook "$W/hook" > "$W/loose.log" 2>&1
rc=$?
set -e
[[ $rc -eq 1 ]] || fail "a world-writable hook: the server exited $rc, expected 1"
has loose.log "refusing --admin-sso-hook $W/hook: the hook is group/world-writable (mode 0777)"
chmod 755 "$W/hook"

# Without --admin-sso-hook: a Bearer login is 401, saying SSO is not configured.
start nohook
IN=$ASSERTION expect 1 nohook-login "$A" login --server "$URL" --sso
has nohook-login "refused the SSO login (401): SSO login is not configured on this server"
stop

start sso --admin-sso-hook "$W/hook" --admin-sso-timeout 5
IN=$ASSERTION expect 0 login "$A" login --server "$URL" --sso    # the assertion from stdin
has login "logged in to $URL by SSO until 20"
[[ $(stat -c %a "$W/admin/session.json") == 600 ]] || fail "session not private"
expect 0 tiers "$A" tier list
has tiers "^canary"
rm -f "$W/admin/session.json"
expect 0 login-file "$A" login --server "$URL" --sso-assertion-file "$W/assertion-file" --valid-for 10m
expect 0 tiers-file "$A" tier list
has tiers-file "^stable"
IN=not-the-assertion expect 1 wrong "$A" login --server "$URL" --sso
has wrong "refused the SSO login (401): the SSO login was refused"
has sso.log "admin SSO login from 127.0.0.1 refused: the hook exited with status 1"
has sso.log "admin SSO login from 127.0.0.1 accepted for ops"
# Refused by the tool before anything is sent: a header cannot carry it.
IN="two words" expect 1 spaced "$A" login --server "$URL" --sso
has spaced "printable ASCII characters without spaces"
expect 2 both "$A" login --server "$URL" --sso --auth ops:pw
has both "either --auth USER\[:PASSWORD\] or --sso"
expect 1 nofile "$A" login --server "$URL" --sso-assertion-file "$W/missing"
has nofile "sso-assertion-file"
stop

# The hook saw its path as its only argument and a minimal environment.
[[ $(sort -u "$W/hook-argv") == "$W/hook" ]] || fail "the hook's argv: $(cat "$W/hook-argv")"
grep -q '^HOME=' "$W/hook-env" && fail "the hook got the server's environment"
# The assertion is in nothing the tool, the server or the hook printed or was given.
for f in "$W"/*; do
  [[ -f $f ]] || continue
  case $(basename "$f") in hook | expected | assertion-file) continue ;; esac
  grep -qF -- "SECRET" "$f" && fail "the assertion appears in $(basename "$f")"
done
grep -qF -- "SECRET" "$W/admin/session.json" && fail "the assertion appears in the session"
echo "admin-sso: $n commands checked, 0 failed"

#!/usr/bin/env bash
# The installed bash completion, sourced into bash and asked for completions
# as bash would ask; it must be what the CLI generates from its own table.
set -euo pipefail
BUILD=$1
SCRIPT=$BUILD/share/bash-completion/completions/livepatch-agent
fail() { echo "FAIL: $*" >&2; exit 1; }
[[ -f $SCRIPT ]] || fail "completion not built at $SCRIPT"
diff <("$BUILD/bin/livepatch-agent" completion bash) "$SCRIPT" > /dev/null || fail "installed completion differs from \`completion bash\`"
# shellcheck source=/dev/null
source "$SCRIPT"
complete -p livepatch-agent | grep -q _livepatch_agent || fail "not registered with complete"

# complete WORD... : what bash offers for the last word.
complete_words() {
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMP_LINE="$*"
  COMPREPLY=()
  _livepatch_agent 2> /dev/null
  echo "${COMPREPLY[*]}"
}
expect() { # expect "WANTED" WORD...
  local want=$1 got
  shift
  got=$(complete_words "$@")
  [[ $got == "$want" ]] || fail "completing '$*': want '$want', got '$got'"
}

# Every command of --help is offered.
all=$(complete_words livepatch-agent "")
for cmd in $("$BUILD/bin/livepatch-agent" --help | awk '/^Commands:/ {on=1; next} /^$/ {on=0} on && /^  [a-z]/ {print $1}'); do
  [[ " $all " == *" $cmd "* ]] || fail "command $cmd not completed: $all"
done
expect "status" livepatch-agent sta
expect "kernel-upgrade-required" livepatch-agent --root-dir /tmp ker
expect "humane json yaml prometheus motd" livepatch-agent status --format ""
expect "humane json" livepatch-agent plugins --format ""
expect "--cves --cve" livepatch-agent status --cv
expect "--allow-rollback" livepatch-agent refresh --all
expect "check-interval=" livepatch-agent config check-
expect "metrics-dir=" livepatch-agent config metr
expect "" livepatch-agent config log-level = ""   # bash splits KEY=VALUE at '='
expect "bash" livepatch-agent completion b
expect "--version" livepatch-agent --vers
# Every config key is offered after `config`: core's and the plugins' (the
# "# owner" lines of `config` are not keys).
keys=$(complete_words livepatch-agent config "")
listed=$("$BUILD/bin/livepatch-agent" --root-dir "$(mktemp -d)" config | sed -n 's/^\([a-z0-9-]*\): .*/\1/p')
[[ $listed == *ca-certs* && $listed == *stalled-transition-policy* ]] || fail "config lists no plugin keys: $listed"
for key in $listed; do
  [[ " $keys " == *" $key= "* ]] || fail "config key $key not completed"
done
echo "completion: 1 passed, 0 failed"

# What every shell's completion must offer, from the CLI's own tables.
# Sourced by completion.sh (bash) and completion_zsh.sh (zsh) after they
# define complete_words WORD... (what the shell offers for the last word,
# space-separated), fail, and BUILD.

# expect "WANTED" WORD...
expect() {
  local want=$1 got
  shift
  got=$(complete_words "$@")
  [[ $got == "$want" ]] || fail "completing '$*': want '$want', got '$got'"
}

common_completion_cases() {
  # Every command of --help is offered.
  local all keys listed cmd key
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
  expect "--version" livepatch-agent --vers
  expect "zsh" livepatch-agent completion z   # both shells are offered by both scripts
  expect "bash" livepatch-agent completion b
  # Every config key is offered after `config`: core's and the plugins' (the
  # "# owner" lines of `config` are not keys).
  keys=$(complete_words livepatch-agent config "")
  listed=$("$BUILD/bin/livepatch-agent" --root-dir "$(mktemp -d)" config | sed -n 's/^\([a-z0-9-]*\): .*/\1/p')
  [[ $listed == *ca-certs* && $listed == *stalled-transition-policy* ]] || fail "config lists no plugin keys: $listed"
  for key in $listed; do
    [[ " $keys " == *" $key= "* ]] || fail "config key $key not completed"
  done
}

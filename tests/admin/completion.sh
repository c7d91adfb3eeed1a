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
# shellcheck source=completion_cases.sh
source "$(dirname "$0")/completion_cases.sh"
common_completion_cases
expect "" livepatch-agent config log-level = ""   # bash splits KEY=VALUE at '='
echo "completion: 1 passed, 0 failed"

#!/usr/bin/env bash
# The installed zsh completion, run by zsh as its completion system would:
# `words` and CURRENT set, compadd/_describe/_files stubbed to print what
# they are offered (then matched by prefix, as zsh does). It must be what the CLI generates from its own table.
set -euo pipefail
BUILD=$1
SCRIPT=$BUILD/share/zsh/vendor-completions/_livepatch-agent
fail() { echo "FAIL: $*" >&2; exit 1; }
[[ -f $SCRIPT ]] || fail "zsh completion not built at $SCRIPT"
diff <("$BUILD/bin/livepatch-agent" completion zsh) "$SCRIPT" > /dev/null || fail "installed completion differs from \`completion zsh\`"
zsh -n "$SCRIPT" || fail "zsh cannot parse $SCRIPT"

# complete_words WORD...: what the completion offers for the last word.
complete_words() {
  zsh -f -c '
    compadd() { local suffix=; while [[ $1 == -* && $1 != -- ]]; do [[ $1 == -S ]] && { suffix=$2; shift; }; shift; done
                [[ $1 == -- ]] && shift; for w in "$@"; do print -r -- "$w$suffix"; done }
    _describe() { local -a items; items=("${(@P)2}"); for i in $items; do print -r -- "${i%%:*}"; done }
    _files() { print -r -- "<directories>"; }
    source "$1"; shift
    words=("$@"); CURRENT=$#
    _livepatch-agent' zsh "$SCRIPT" "$@" | awk -v p="${*: -1}" 'p == "" || index($0, p) == 1' | tr '\n' ' ' | sed 's/ $//'
}
# shellcheck source=completion_cases.sh
source "$(dirname "$0")/completion_cases.sh"
common_completion_cases
expect "<directories>" livepatch-agent --root-dir ""
echo "completion-zsh: 1 passed, 0 failed"

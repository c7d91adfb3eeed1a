# Sourced by the livepatch-admin scripts in this directory: their command
# checks, run in the work directory $W.
fail() { echo "FAIL: $*" >&2; exit 1; }
n=0
# expect RC OUTFILE CMD...: runs CMD (stdin from $IN if set), output in OUTFILE, exit code must be RC.
expect() {
  local want=$1 out=$2; shift 2
  n=$((n + 1))
  set +e
  if [[ -n ${IN:-} ]]; then printf '%s\n' "$IN" | "$@" > "$W/$out" 2>&1; else "$@" < /dev/null > "$W/$out" 2>&1; fi
  local rc=$?
  set -e
  [[ $rc -eq $want ]] || { cat "$W/$out" >&2; fail "$* exited $rc, expected $want"; }
}
# has OUTFILE PATTERN: OUTFILE (in $W) has a line matching PATTERN.
has() { grep -q -- "$2" "$W/$1" || { cat "$W/$1" >&2; fail "$1 lacks \"$2\""; }; }

# Sourced by the benchmark scripts after they set BENCH (their name, for
# errors) and SRC: the helpers every one of them needs, defined once.
PY=/usr/bin/python3
# T ARGS...: median wall time in ms (tests/bench/time_cmd.py: perf_counter in
# one Python process, commands run without a shell, setup untimed).
T() { $PY "$SRC/tests/bench/time_cmd.py" "$@"; }
die() { echo "$BENCH: $*" >&2; exit 1; }
# ratio A B: A / B; both must be positive numbers.
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN {if (!(a + 0 > 0 && b + 0 > 0)) exit 1; printf "%.2f", a / b}' ||
    die "ratio of \"$1\" and \"$2\": not two positive numbers"
}
# row MEASUREMENT AGENT BASELINE RATIO GOAL: one line of the Markdown table in rows.
rows=()
row() { rows+=("| $1 | $2 | $3 | $4 | $5 |"); }
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

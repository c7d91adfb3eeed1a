#!/usr/bin/env bash
# run-fuzzers.sh BUILD_DIR SECONDS: run every fuzz target for a bounded time
# over its checked-in seed corpus (tests/fuzz/<target>/corpus: found inputs,
# structured edge cases from make-seeds.py, and regression-* inputs that once
# crashed). A crash, an ASan or a UBSan report (both fatal: built with
# -fno-sanitize-recover=all, and halt_on_error here too) fails the run and
# leaves the reproducer in BUILD_DIR/fuzz-artifacts/; once fixed, keep it as
# tests/fuzz/<target>/corpus/regression-<what>.
set -euo pipefail
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}
export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
# Leaks inside libraries, each documented in lsan.supp with its input. The
# suppressions match frames inside libcrypto, which has no frame pointers:
# only the slow unwinder sees past its allocator.
export LSAN_OPTIONS=suppressions=$here/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}
export ASAN_OPTIONS=$ASAN_OPTIONS:fast_unwind_on_malloc=0
seconds=${2:-30}
jobs=${LIVEPATCH_FUZZ_JOBS:-$(nproc)}
mkdir -p "$build/fuzz-artifacts"
targets=(module-signature module-verify elf-note patch-metadata unpack config updates modinfo tuf-json tuf-metadata catalogue)
for target in "${targets[@]}"; do
  [[ -x $build/bin/fuzz-$target ]] || { echo "missing $build/bin/fuzz-$target"; exit 1; }
done

# One target: its log in BUILD_DIR/fuzz-<target>.log, its verdict in .ok/.failed.
fuzz_one() {
  local target=$1 work=$build/fuzz-corpus/$1
  mkdir -p "$work"
  rm -f "$build/fuzz-$target".{ok,failed}
  if "$build/bin/fuzz-$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$build/fuzz-artifacts/$target-" "$work" "$here/$target/corpus" > "$build/fuzz-$target.log" 2>&1; then
    touch "$build/fuzz-$target.ok"
  else
    touch "$build/fuzz-$target.failed"
  fi
}

# Targets run $jobs at a time (one per core): the wall time is what CI pays.
echo "== ${#targets[@]} fuzz targets, ${seconds}s each, $jobs at a time"
running=0
for target in "${targets[@]}"; do
  if (( running >= jobs )); then wait -n; running=$((running - 1)); fi
  fuzz_one "$target" &
  running=$((running + 1))
done
wait

failed=0 passed=0
for target in "${targets[@]}"; do
  echo "== fuzz-$target"
  if [[ -e $build/fuzz-$target.ok ]]; then
    passed=$((passed + 1))
    grep -E "stat::number_of_executed_units|Done" "$build/fuzz-$target.log" | tail -2
  else
    failed=$((failed + 1))
    tail -40 "$build/fuzz-$target.log"
  fi
done
echo "fuzz: $passed passed, $failed failed"
[[ $failed == 0 ]]

#!/usr/bin/env bash
# The one test command (README, .ci/run): install deps, build, run every test.
#   tools/run-tests.sh [BUILD_DIR]      default BUILD_DIR=build
# Environment: LIVEPATCH_SKIP_E2E=1 skips the QEMU real-kernel test
#              LIVEPATCH_SANITIZE=1 builds with ASan+UBSan (in build-asan)
set -euo pipefail
cd "$(dirname "$0")/.."

e2e_flag=--e2e
[[ "${LIVEPATCH_SKIP_E2E:-0}" == 1 ]] && e2e_flag=
tools/install-deps.sh $e2e_flag

build=${1:-build}
cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
ctest_args=(--output-on-failure --timeout 900)
if [[ "${LIVEPATCH_SANITIZE:-0}" == 1 ]]; then
  build=${1:-build-asan}
  cmake_args+=(-DLIVEPATCH_SANITIZE=ON)
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
[[ "${LIVEPATCH_SKIP_E2E:-0}" == 1 ]] && ctest_args+=(-LE e2e)

cmake -S . -B "$build" "${cmake_args[@]}"
cmake --build "$build" -j"$(nproc)"
# The pinned independent TUF client (tuf-js) for interop.tuf-js; the test runs offline.
tests/tuf-interop/install.sh "$build"
ctest --test-dir "$build" "${ctest_args[@]}"

#!/usr/bin/env bash
# The one test command (README, .ci/run): install deps, build, run every test.
#   tools/run-tests.sh [BUILD_DIR]      default BUILD_DIR=build
# Environment: LIVEPATCH_SKIP_E2E=1 skips the QEMU real-kernel test
#              LIVEPATCH_SANITIZE=1 builds with ASan+UBSan (in build-asan)
#              LIVEPATCH_FUZZERS=1 (with LIVEPATCH_SANITIZE=1) builds it with
#                clang (in build-asan-fuzz) and the libFuzzer targets too, so CI's fuzz stage
#                reuses the sanitizer build instead of a third build
set -euo pipefail
cd "$(dirname "$0")/.."

e2e_flag=--e2e
[[ "${LIVEPATCH_SKIP_E2E:-0}" == 1 ]] && e2e_flag=
tools/install-deps.sh $e2e_flag

# ccache: a rebuild of an unchanged tree (the sanitizer pass after the
# plain one shares nothing, but a second run of either does) costs seconds
# instead of minutes. Paths are hashed relative to the clone, so another
# clone of the same commit hits the same cache.
if command -v ccache > /dev/null; then
  export CMAKE_C_COMPILER_LAUNCHER=ccache CMAKE_CXX_COMPILER_LAUNCHER=ccache
  export CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1
fi

build=${1:-build}
cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
# One test per core: most integration tests wait on servers and daemons.
# The QEMU tests are RUN_SERIAL, the installing ones share a RESOURCE_LOCK.
ctest_args=(--output-on-failure --timeout 900 -j"$(nproc)")
if [[ "${LIVEPATCH_SANITIZE:-0}" == 1 ]]; then
  build=${1:-build-asan}
  cmake_args+=(-DLIVEPATCH_SANITIZE=ON)
  if [[ "${LIVEPATCH_FUZZERS:-0}" == 1 ]]; then
    build=${1:-build-asan-fuzz}
    # -O1 and line tables only, as OSS-Fuzz builds: full reports, and a
    # build and test run that fit in CI's time.
    cmake_args+=(-DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 -DLIVEPATCH_BUILD_FUZZERS=ON
                 "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only -DNDEBUG"
                 "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only -DNDEBUG")
  fi
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
[[ "${LIVEPATCH_SKIP_E2E:-0}" == 1 ]] && ctest_args+=(-LE e2e)

cmake -S . -B "$build" "${cmake_args[@]}"
cmake --build "$build" -j"$(nproc)"
# The pinned independent TUF client (tuf-js) for interop.tuf-js; the test runs offline.
tests/tuf-interop/install.sh "$build"
ctest --test-dir "$build" "${ctest_args[@]}"

#!/usr/bin/env bash
# Proves the installed SDK is enough to build and configure a plugin: install
# the agent to a temporary prefix, build sample/ as a separate project against
# it, have the installed agent load the result, and configure the plugin's own
# key (vendor-max-bytes) end to end: set, read back with its owner, a bad value
# refused with nothing written, and the plugin acting on the value during a
# real refresh from a file:// mirror.
# Usage: run.sh BUILD SOURCE
sample=$2/tests/vendor-plugin/sample
source "$2/tests/integration/lib.sh"   # WORK (cleaned up), demo data, fail/step
prefix=$WORK/prefix
cmake --install "$BUILD" --prefix "$prefix" > /dev/null
# The sample sees only the installed headers and package config. It is
# built with the agent's own C++ compiler, as the guide says: a plugin from
# another compiler ABI (g++ 12 vs clang) is refused by the agent's ABI check
# (CI's sanitizer pass builds the agent with clang).
cxx=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
[[ -n $cxx ]] || fail "no CMAKE_CXX_COMPILER in $BUILD/CMakeCache.txt"
cmake -S "$sample" -B "$WORK/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER="$cxx" > "$WORK/configure.log" ||
  { cat "$WORK/configure.log"; exit 1; }
cmake --build "$WORK/build" > "$WORK/build.log" || { cat "$WORK/build.log"; exit 1; }
ls "$WORK/build/vendor-example.so" > /dev/null

step "the SDK's plugin helper is the agent's own: an install rule, and --no-undefined"
cmake --install "$WORK/build" --prefix "$WORK/vendor-prefix" > /dev/null
[[ -f $WORK/vendor-prefix/lib/livepatch-agent/plugins/vendor-example.so ]] || fail "the vendor plugin has no install rule"
mkdir -p "$WORK/broken"
cat > "$WORK/broken/CMakeLists.txt" <<'EOC'
cmake_minimum_required(VERSION 3.18)
project(broken-plugin CXX)
set(CMAKE_CXX_STANDARD 17)
find_package(livepatch-sdk 3.0 REQUIRED)
livepatch_add_plugin_module(broken SOURCES broken.cpp)
EOC
cat > "$WORK/broken/broken.cpp" <<'EOC'
#include <livepatch/verifier.h>
int vendor_function_nobody_defines();
struct Broken : livepatch::Verifier {
    livepatch::PluginInfo info() const noexcept override {
        return {"broken", livepatch::PluginRole::Verifier, "0", LIVEPATCH_SDK_ABI_VERSION, "x"};
    }
    livepatch::Result<livepatch::VerifyReport> verify(const livepatch::ModuleImage&) noexcept override {
        return livepatch::VerifyReport{std::to_string(vendor_function_nobody_defines()), "", "", ""};
    }
};
LIVEPATCH_PLUGIN(Broken)
EOC
cmake -S "$WORK/broken" -B "$WORK/broken/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER="$cxx" > "$WORK/broken.log" || { cat "$WORK/broken.log"; fail "configure"; }
rc=0
cmake --build "$WORK/broken/build" >> "$WORK/broken.log" 2>&1 || rc=$?
[[ $rc != 0 ]] && grep -q "undefined reference to .vendor_function_nobody_defines" "$WORK/broken.log" ||
  { cat "$WORK/broken.log"; fail "a plugin with an undefined symbol was linked (rc=$rc)"; }
chmod 755 "$WORK" "$WORK/build"
agent() { "$prefix/bin/livepatch-agent" --root-dir "$ROOT" "$@"; }

step "the installed SDK's version header and package version are one version"
header=$(sed -n 's/^#define LIVEPATCH_SDK_VERSION "\(.*\)"$/\1/p' "$prefix/include/livepatch/version.h")
package=$(sed -n 's/^set(PACKAGE_VERSION "\(.*\)")$/\1/p' "$prefix"/lib*/cmake/livepatch-sdk/livepatch-sdkConfigVersion.cmake)
[[ -n $header && $header == "$package" ]] || fail "SDK header says \"$header\", package says \"$package\""
abi=$(sed -n 's/^#define LIVEPATCH_SDK_ABI_VERSION \([0-9]*\)$/\1/p' "$prefix/include/livepatch/version.h")
[[ $abi == "${header%%.*}" ]] || fail "ABI $abi is not the major of SDK $header"

step "the installed agent loads the vendor plugin"
agent config plugin-dirs="$WORK/build" > /dev/null
rc=0
out=$(agent plugins 2>&1) || rc=$?
[[ $rc == 0 ]] || { echo "$out"; fail "plugins exited with $rc"; }
grep -qP '^vendor-example\tverification\t0\.1\.0\t' <<< "$out" || fail "vendor plugin not loaded by the installed agent: $out"
grep -qP '^transport-https\ttransport\t' <<< "$out" || fail "installed plugins missing: $out"

step "its key: default, set, read back under its owner"
listing=$(agent config)
[[ $listing == *$'# vendor-example\nvendor-max-bytes: 67108864'* ]] || fail "default or owner not listed: $listing"
agent config vendor-max-bytes=100 > /dev/null
listing=$(agent config)
[[ $listing == *$'# vendor-example\nvendor-max-bytes: 100'* ]] || fail "value not read back: $listing"

step "a bad value is refused by the plugin's declaration, nothing written (also not the core key beside it)"
before=$(cat "$ROOT/state/config.yaml")
rc=0
out=$(agent config check-interval=5 vendor-max-bytes=12 2>&1) || rc=$?
[[ $rc == 2 && $out == *'vendor-max-bytes: expected bytes from 64 to 1073741824, got "12"'* ]] || fail "bad value: rc=$rc $out"
[[ "$(cat "$ROOT/state/config.yaml")" == "$before" ]] || fail "a refused change was written"

step "the plugin uses the value: a patch over vendor-max-bytes is refused, under it applied"
M=$WORK/mirror
make_mirror "$M" lp_demo-1.tar.xz
mirror_offer "$M" lp_demo-1.tar.xz 1
agent config remote-server="file://$M" loader=loader-simulated simulated-kernel-root="$SIM" \
  keyring-dir="$WORK/demo/keyring" check-interval=0 verifiers=verify-module-signature,vendor-example > /dev/null
# Enabled; its first check is refused (below) but enable itself succeeds.
out=$(agent enable "$(cat "$WORK/demo/auth-token")" 2>&1) || fail "enable: $out"
rc=0
out=$(agent refresh 2>&1) || rc=$?
[[ $rc == 6 && $out == *"verification by vendor-example failed: module of "*" bytes is larger than vendor-max-bytes 100"* ]] ||
  fail "vendor-max-bytes=100 not applied by the plugin: rc=$rc $out"
grep -q "this has been live patched" "$SIM/proc/cmdline" 2> /dev/null && fail "patched despite the refusal"
agent config vendor-max-bytes= > /dev/null   # back to the declared default, 64 MiB
rc=0
out=$(agent refresh 2>&1) || rc=$?
[[ $rc == 0 ]] || fail "refresh under the default limit: rc=$rc $out"
grep -q "this has been live patched" "$SIM/proc/cmdline" || fail "not patched under the default limit: $out"
out=$(agent disable 2>&1) || fail "disable: $out"
step "the plugin author's guide quotes the sample as it is"
/usr/bin/python3 - "$2/docs/plugins.md" "$sample/vendor_example.cpp" <<'PYEOF'
import sys
guide, sample = open(sys.argv[1]).read().splitlines(), open(sys.argv[2]).read()
quoted, inside, marked = 0, False, False
for line in guide:
    if line.startswith("<!-- from tests/vendor-plugin/sample/vendor_example.cpp -->"):
        marked = True
    elif line.startswith("```cpp") and marked:
        inside = True
    elif line.startswith("```") and inside:
        inside = marked = False
    elif inside and line.strip():
        quoted += 1
        if line.strip() not in sample:
            sys.exit(f"docs/plugins.md quotes a line the sample does not have: {line.strip()}")
if quoted < 10:
    sys.exit(f"docs/plugins.md quotes only {quoted} lines of the sample")
PYEOF
echo "vendor-plugin: 1 passed, 0 failed"

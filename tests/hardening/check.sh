#!/usr/bin/env bash
# check.sh BUILD_DIR: every binary and plugin we ship runs as root, so each must be
#   PIE (executables), full RELRO (GNU_RELRO + BIND_NOW), non-executable stack,
#   stack-protected (imports __stack_chk_fail), and fortified.
# The same properties Debian's hardening-check reports, read with readelf.
# Fortification shows in a binary only where a libc call needed a runtime
# bounds check (__*_chk); a small plugin may have none, exactly as
# hardening-check says "no protectable libc functions used". So: every
# executable must import __*_chk, and every object we compile must have been
# compiled with _FORTIFY_SOURCE=3 (read from the build's flags.make files).
set -euo pipefail
build=${1:?usage: check.sh BUILD_DIR}
no_fortify=${LIVEPATCH_HARDENING_NO_FORTIFY:-0}

exes=("$build/bin/livepatch-agent" "$build/lib/livepatch-agent/livepatch-agent-engine"
      "$build/bin/livepatch-server" "$build/bin/livepatch-pack")
libs=("$build"/lib/livepatch-agent/plugins/*.so)
((${#libs[@]} >= 8)) || { echo "FAIL: expected the 8 plugins in $build/lib/livepatch-agent/plugins"; exit 1; }

failures=0
bad() { echo "FAIL: $1: $2"; failures=$((failures + 1)); }

check() {
  local f=$1 kind=$2 hdr dyn segs syms
  [[ -f "$f" ]] || { bad "$f" "missing"; return; }
  hdr=$(readelf -h "$f"); dyn=$(readelf -d "$f"); segs=$(readelf -lW "$f"); syms=$(readelf --dyn-syms -W "$f")
  if [[ $kind == exe ]]; then
    grep -q 'Type:.*DYN' <<<"$hdr" || bad "$f" "not PIE (ELF type is not DYN)"
    grep -q 'INTERP' <<<"$segs" || bad "$f" "not an executable (no INTERP segment)"
  fi
  grep -q 'GNU_RELRO' <<<"$segs" || bad "$f" "no RELRO segment"
  grep -Eq 'BIND_NOW|FLAGS_1.*NOW' <<<"$dyn" || bad "$f" "RELRO is partial (no BIND_NOW)"
  if grep 'GNU_STACK' <<<"$segs" | grep -q 'RWE'; then bad "$f" "executable stack"; fi
  grep -q 'GNU_STACK' <<<"$segs" || bad "$f" "no GNU_STACK header (stack may be executable)"
  grep -q '__stack_chk_fail' <<<"$syms" || bad "$f" "no stack protector (__stack_chk_fail not used)"
  if [[ $no_fortify != 1 && $kind == exe ]]; then
    grep -Eq '__[a-z_]+_chk(@|\b)' <<<"$(grep -v __stack_chk <<<"$syms")" || bad "$f" "not fortified (no __*_chk libc calls)"
  fi
  echo "ok: $f"
}

if [[ $no_fortify != 1 ]]; then
  mapfile -t flagfiles < <(find "$build" -path "$build/_deps" -prune -o -name flags.make -print)
  ((${#flagfiles[@]})) || bad "$build" "no flags.make found (not a Makefile build?)"
  for ff in "${flagfiles[@]}"; do
    grep -q '^CXX_FLAGS' "$ff" || continue
    grep '^CXX_FLAGS' "$ff" | grep -q -- '-D_FORTIFY_SOURCE=3' || bad "$ff" "compiled without -D_FORTIFY_SOURCE=3"
  done
fi
for f in "${exes[@]}"; do check "$f" exe; done
for f in "${libs[@]}"; do check "$f" lib; done
if ((failures)); then echo "$failures hardening failure(s)"; exit 1; fi
echo "all ${#exes[@]} executables and ${#libs[@]} plugins hardened"

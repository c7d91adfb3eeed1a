#!/usr/bin/env bash
# Fails, naming each file and line, if a C++ source differs from what
# clang-format-14 makes of it with the repository's .clang-format.
# Fix: clang-format-14 -i FILE (tools/install-deps.sh installs it).
# Usage: check.sh SOURCE_DIR
set -euo pipefail
src=$1
command -v clang-format-14 > /dev/null || { echo "clang-format-14 is not installed (tools/install-deps.sh)"; exit 1; }
cd "$src"
[[ -f .clang-format ]] || { echo "no .clang-format in $src"; exit 1; }
# The tracked files (and new ones not ignored) in a clone; every C++ file
# outside build trees otherwise.
if git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
  mapfile -t files < <(git ls-files -co --exclude-standard -- '*.cpp' '*.h')
else
  mapfile -t files < <(find core plugins tools tests \( -name '*.cpp' -o -name '*.h' \) -not -path '*/build*')
fi
((${#files[@]} > 100)) || { echo "only ${#files[@]} C++ files found under $src"; exit 1; }
if ! out=$(clang-format-14 --style=file --dry-run --Werror "${files[@]}" 2>&1); then
  grep -o '^[^ ]*:[0-9]*:[0-9]*:' <<< "$out" | cut -d: -f1 | sort | uniq -c | sed 's/^ *\([0-9]*\) \(.*\)/\2: \1 places (clang-format-14 -i \2)/'
  head -30 <<< "$out"
  echo "not formatted: see above"
  exit 1
fi
echo "format: ${#files[@]} files formatted"

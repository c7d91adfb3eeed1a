#!/usr/bin/env bash
# install.sh BUILD_DIR: install the pinned tuf-js (package-lock.json) into
# BUILD_DIR/tuf-interop for interop.sh. The only step that needs the npm
# registry; the test itself then runs offline.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=$1/tuf-interop
mkdir -p "$dest"
cp "$here/package.json" "$here/package-lock.json" "$dest/"
cd "$dest"
npm ci --no-audit --no-fund --loglevel=error

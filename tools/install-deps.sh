#!/usr/bin/env bash
# Install the Debian 12 packages livepatch-agent needs to build and test.
#   tools/install-deps.sh            build + unit/integration test deps
#   tools/install-deps.sh --e2e      also what the real-kernel QEMU test needs
# Installs only what is missing; needs root (apt-get).
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config git ca-certificates openssl ccache
  libpoco-dev libpq-dev libssl-dev libarchive-dev libyaml-cpp-dev libmacaroons-dev libargon2-dev libcrypt-dev
  postgresql wrk nginx-light apache2-utils
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-jsonschema python3-yaml
  tinyproxy binutils curl time clang-14 clang-format-14 xz-utils bzip2 gzip procps
  libsystemd-dev scdoc prometheus bash-completion zsh util-linux systemd strace
  snapd squashfs-tools lintian dpkg-dev fakeroot
)
# node + npm run the tuf-js interoperability test; a node already installed
# (e.g. a newer one with its own npm) is kept.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  pkgs+=(nodejs npm)
fi
if [[ "${1:-}" == "--e2e" ]]; then
  pkgs+=(qemu-system-x86 linux-image-amd64 linux-headers-amd64 busybox-static cpio kmod
         mmdebstrap e2fsprogs)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=900 update -q
  apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "${missing[@]}"
fi
# tinyproxy is started by the tests themselves with their own config.
# prometheus is installed for promtool only (tests/admin); its server is not needed.
if command -v systemctl >/dev/null 2>&1; then
  for unit in tinyproxy prometheus prometheus-node-exporter; do systemctl disable --now "$unit" >/dev/null 2>&1 || true; done
fi
echo "install-deps: ok"

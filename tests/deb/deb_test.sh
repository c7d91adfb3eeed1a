#!/usr/bin/env bash
# deb_test.sh BUILD_DIR SOURCE_DIR
# The Debian package as CI builds it (cpack -G DEB, cmake/Packaging.cmake):
#  - named livepatch-agent_<version>_<arch>.deb;
#  - holds the binaries, engine, plugins, unit, copyright and changelog, and
#    nothing of the server, packer, signer or SDK;
#  - Depends on the shared libraries it links (dpkg-shlibdeps);
#  - postinst enables the unit and makes the keyring directory, prerm stops
#    it, postrm purge removes the state;
#  - lintian: no error or warning (overrides, each justified, are shipped in
#    the package and listed by this test).
# The package is installed and run under real systemd by e2e.systemd-deb.
set -euo pipefail
BUILD=$(cd "$1" && pwd) SRC=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
for tool in cpack dpkg-deb lintian dpkg-shlibdeps; do
  command -v "$tool" > /dev/null || fail "$tool is not installed (tools/install-deps.sh)"
done
W=$(mktemp -d /tmp/lp-deb.XXXXXX)
trap 'rm -rf "$W"' EXIT
(cd "$BUILD" && cpack -G DEB --config "$BUILD/CPackConfig.cmake" -B "$W/out" > "$W/cpack.log" 2>&1) || { cat "$W/cpack.log"; fail "cpack"; }
version=$(sed -n 's/^project(livepatch-agent VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
deb=$W/out/livepatch-agent_${version}_$(dpkg --print-architecture).deb
[[ -f "$deb" ]] || fail "no $deb: $(ls "$W/out")"
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|; s|/$||' | sort > "$W/files"
for need in /usr/bin/livepatch-agent /usr/lib/livepatch-agent/livepatch-agent-engine \
            /usr/lib/livepatch-agent/plugins/transport-https.so /usr/lib/livepatch-agent/plugins/loader-klp.so \
            /usr/lib/livepatch-agent/plugins/verify-module-signature.so /usr/lib/livepatch-agent/plugins/auth-token.so \
            /usr/lib/systemd/system/livepatch-agent.service \
            /usr/share/doc/livepatch-agent/copyright /usr/share/doc/livepatch-agent/changelog.gz \
            /usr/share/man/man8/livepatch-agent.8.gz /usr/share/bash-completion/completions/livepatch-agent \
            /etc/update-motd.d/91-livepatch-agent; do
  grep -qx "$need" "$W/files" || fail "$need missing from the package"
done
if grep -E '^/usr/(include|share/man/man8/livepatch-server|bin/livepatch-repo|bin/livepatch-server|bin/livepatch-pack|bin/xen-livepatch-sign|share/livepatch-agent/server)' "$W/files"; then
  fail "tools or SDK in the agent package (above)"
fi
grep -q "^ExecStart=/usr/bin/livepatch-agent daemon" <(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/lib/systemd/system/livepatch-agent.service) \
  || fail "the packaged unit does not run /usr/bin/livepatch-agent"
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libpocofoundation libarchive libssl3 libyaml-cpp libsystemd0; do
  [[ "$depends" == *"$lib"* ]] || fail "Depends lacks $lib: $depends"
done
mkdir "$W/control"
dpkg-deb -e "$deb" "$W/control"
grep -q "deb-systemd-helper enable livepatch-agent.service" "$W/control/postinst" || fail "postinst does not enable the unit"
grep -q "deb-systemd-invoke stop livepatch-agent.service" "$W/control/prerm" || fail "prerm does not stop the unit"
grep -q "rm -rf /var/lib/livepatch-agent" "$W/control/postrm" || fail "postrm purge keeps the state"
set +e
lintian --fail-on error,warning --tag-display-limit 0 --display-info "$deb" > "$W/lintian.log" 2>&1
rc=$?
set -e
sed 's/^/  lintian: /' "$W/lintian.log"
[[ $rc == 0 ]] || fail "lintian exited $rc: errors or warnings (above)"
overrides=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/share/lintian/overrides/livepatch-agent 2>/dev/null | grep -vc '^#' || true)
echo "deb: $(basename "$deb"), $(stat -c %s "$deb") bytes, $(wc -l < "$W/files") entries, lintian clean ($overrides justified overrides)"
echo "deb: 1 passed, 0 failed"

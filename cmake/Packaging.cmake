# The Debian package: `cpack -G DEB --config build/CPackConfig.cmake` (or the
# `package-deb` target) -> livepatch-agent_<version>_<arch>.deb with exactly
# the "agent" install component (see CMAKE_INSTALL_DEFAULT_COMPONENT_NAME in
# the top CMakeLists: any new install() rule without COMPONENT, e.g. a man
# page or a shell completion, lands in the package) plus the Debian
# copyright/changelog, and packaging/deb/{postinst,prerm,postrm}.
set(LIVEPATCH_DEB_DOC ${CMAKE_BINARY_DIR}/packaging/deb/doc)
# A native package (no Debian revision): the changelog is changelog.gz.
configure_file(${PROJECT_SOURCE_DIR}/packaging/deb/changelog.in ${LIVEPATCH_DEB_DOC}/changelog @ONLY)
execute_process(COMMAND gzip -9nf ${LIVEPATCH_DEB_DOC}/changelog)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/deb/copyright ${LIVEPATCH_DEB_DOC}/changelog.gz
        DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT deb-doc)
# No lintian overrides: the one there was (no-manual-page) went away with
# livepatch-agent(8). Add packaging/deb/lintian-overrides and install it to
# share/lintian/overrides/livepatch-agent if a tag ever needs justifying.

# cpack (and `make install`) must not rebuild every test binary first: the
# package-deb target and CI build what is installed.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME livepatch-agent)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "livepatch-agent maintainers <maintainers@livepatch-agent.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "kernel live patch client that verifies every byte it loads")
set(CPACK_PACKAGE_DESCRIPTION "livepatch-agent registers with a patch server using a token, checks for
kernel live patches for the running kernel, downloads them, proves they are
intact (SHA-256) and authentic (the kernel's appended PKCS#7 module signature
against a root-owned keyring), loads them without a reboot and reports what
it did. It runs as a hardened systemd service.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL agent deb-doc)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # livepatch-agent_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://livepatch-agent.invalid/")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# libsystemd0 is loaded with dlopen (core/src/logging/systemd_api.h), so
# dpkg-shlibdeps cannot see it: named here.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "init-system-helpers (>= 1.54~), libsystemd0")
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# conffiles: the login notice under /etc is the admin's to edit or remove.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/deb/conffiles
    ${PROJECT_SOURCE_DIR}/packaging/deb/postinst
    ${PROJECT_SOURCE_DIR}/packaging/deb/prerm
    ${PROJECT_SOURCE_DIR}/packaging/deb/postrm)
include(CPack)

add_custom_target(package-deb
  COMMAND ${CMAKE_CPACK_COMMAND} -G DEB --config ${CMAKE_BINARY_DIR}/CPackConfig.cmake -B ${CMAKE_BINARY_DIR}/packages
  DEPENDS livepatch-agent livepatch-agent-engine
  WORKING_DIRECTORY ${CMAKE_BINARY_DIR}
  COMMENT "Building livepatch-agent_${PROJECT_VERSION}_<arch>.deb in ${CMAKE_BINARY_DIR}/packages")

set(COMPONENT_DEPS)
# libsystemd only for sd_journal_sendv (structured journal fields): small, and
# the front-end links it through the daemon's logger (tests/cli/cli.sh).
set(COMPONENT_LIBS Poco::Foundation PkgConfig::SYSTEMD)

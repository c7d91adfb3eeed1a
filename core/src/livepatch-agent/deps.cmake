set(COMPONENT_DEPS cli util config state logging schedule)
set(COMPONENT_LIBS PkgConfig::SYSTEMD)

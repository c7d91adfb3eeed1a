set(COMPONENT_DEPS)
# libsystemd is not linked: systemd_api.cpp loads it when the journal or the
# service manager is first used, so `status` does not map it and its six
# dependencies (tests/bench/RESULTS.md). Its headers give the prototypes.
set(COMPONENT_LIBS Poco::Foundation ${CMAKE_DL_LIBS})

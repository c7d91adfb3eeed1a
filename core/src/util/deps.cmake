set(COMPONENT_DEPS)
set(COMPONENT_LIBS Poco::Foundation)

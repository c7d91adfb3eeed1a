set(COMPONENT_DEPS util)
set(COMPONENT_LIBS Poco::Foundation)

set(COMPONENT_DEPS util config state host package protocol)
set(COMPONENT_LIBS Poco::JSON Poco::Foundation)

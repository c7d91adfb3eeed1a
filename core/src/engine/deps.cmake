set(COMPONENT_DEPS util crypto config state host package protocol identity)
set(COMPONENT_LIBS Poco::JSON Poco::Foundation)

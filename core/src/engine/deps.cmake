set(COMPONENT_DEPS util crypto config state host package protocol identity tuf)
set(COMPONENT_LIBS Poco::JSON Poco::Foundation)

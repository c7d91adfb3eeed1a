set(COMPONENT_DEPS util config state)
set(COMPONENT_LIBS Poco::JSON Poco::Net Poco::Foundation)

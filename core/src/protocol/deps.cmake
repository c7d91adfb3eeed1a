set(COMPONENT_DEPS util config state identity)
set(COMPONENT_LIBS Poco::JSON Poco::Net Poco::Foundation)

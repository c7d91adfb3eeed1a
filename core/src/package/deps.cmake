set(COMPONENT_DEPS util)
set(COMPONENT_LIBS LibArchive::LibArchive Poco::JSON Poco::Foundation)

set(COMPONENT_DEPS util tuf)
set(COMPONENT_LIBS LibArchive::LibArchive Poco::JSON Poco::Foundation)

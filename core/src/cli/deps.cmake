set(COMPONENT_DEPS util config state logging identity schedule)
set(COMPONENT_LIBS Poco::JSON Poco::Foundation yaml-cpp)

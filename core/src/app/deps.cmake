set(COMPONENT_DEPS util config state engine protocol logging)
set(COMPONENT_LIBS Poco::Util Poco::JSON Poco::Foundation yaml-cpp)

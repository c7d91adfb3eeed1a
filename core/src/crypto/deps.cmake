set(COMPONENT_DEPS util)
set(COMPONENT_LIBS OpenSSL::Crypto Poco::Foundation)

set(COMPONENT_DEPS util crypto)
set(COMPONENT_LIBS OpenSSL::Crypto Poco::Foundation)

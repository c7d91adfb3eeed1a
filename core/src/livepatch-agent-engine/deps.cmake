set(COMPONENT_DEPS cli util crypto config state host engine protocol logging)
set(COMPONENT_LIBS OpenSSL::Crypto)

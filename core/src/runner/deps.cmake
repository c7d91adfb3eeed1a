set(COMPONENT_DEPS app util crypto config state host engine protocol logging)
set(COMPONENT_LIBS OpenSSL::Crypto)

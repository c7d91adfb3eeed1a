set(COMPONENT_DEPS util config state host engine protocol logging)

set(COMPONENT_DEPS util config state)

set(COMPONENT_DEPS util config state host package protocol)

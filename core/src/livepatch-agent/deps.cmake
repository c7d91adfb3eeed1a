set(COMPONENT_DEPS cli util config state logging schedule)

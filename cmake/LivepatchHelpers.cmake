# Helpers shared by core, plugins, tools and tests.

include(${CMAKE_CURRENT_LIST_DIR}/LivepatchPlugin.cmake)

# livepatch_add_plugin(<name> SOURCES <registration.cpp> [IMPL_SOURCES ...] [LIBS ...])
#   <name>-impl : static (PIC) library with IMPL_SOURCES, for unit tests
#   <name>      : the loadable module = registration + impl, built and installed
#                 by livepatch_add_plugin_module like every other plugin
# The plugin may only include SDK headers (target livepatch::sdk).
function(livepatch_add_plugin name)
  cmake_parse_arguments(P "" "" "SOURCES;IMPL_SOURCES;LIBS" ${ARGN})
  add_library(${name}-impl STATIC ${P_IMPL_SOURCES})
  target_link_libraries(${name}-impl PUBLIC livepatch::sdk ${P_LIBS})
  target_include_directories(${name}-impl PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/src)
  set_target_properties(${name}-impl PROPERTIES CXX_VISIBILITY_PRESET hidden)
  livepatch_add_plugin_module(${name} SOURCES ${P_SOURCES} LIBS ${name}-impl
    OUTPUT_DIRECTORY ${LIVEPATCH_PLUGIN_OUTPUT_DIR} INSTALL_DIR ${LIVEPATCH_PLUGIN_INSTALL_DIR})
  set_property(GLOBAL APPEND PROPERTY LIVEPATCH_PLUGINS ${name})
endfunction()

# livepatch_add_gtest(<name> SOURCES ... [LIBS ...] [LABELS ...])
function(livepatch_add_gtest name)
  if(NOT LIVEPATCH_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main Threads::Threads)
  target_compile_definitions(${name} PRIVATE
    LIVEPATCH_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    LIVEPATCH_BINARY_DIR="${PROJECT_BINARY_DIR}"
    LIVEPATCH_PLUGIN_BUILD_DIR="${LIVEPATCH_PLUGIN_OUTPUT_DIR}")
  set(labels unit)
  if(T_LABELS)
    set(labels ${T_LABELS})
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "${labels}")
endfunction()

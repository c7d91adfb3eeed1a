# The one way a livepatch-agent plugin is built: in-tree plugins
# (livepatch_add_plugin), the plugin-host test fixtures and vendor plugins
# (installed with the SDK; find_package(livepatch-sdk) includes this file).
#
# livepatch_add_plugin_module(<name> SOURCES <src...> [LIBS <lib...>]
#                             [OUTPUT_DIRECTORY <dir>] [INSTALL_DIR <dir>] [NO_INSTALL])
#   A loadable module <name>.so (no "lib" prefix) linked with the SDK:
#   * hidden visibility: Poco's ClassLoader opens plugins RTLD_GLOBAL, so an
#     exported class symbol of one plugin could interpose another's;
#   * -Wl,--no-undefined: a missing symbol fails the build, not the load on
#     the user's machine (the agent's own clang sanitizer builds set
#     LIVEPATCH_PLUGIN_LINK_FLAGS empty: see the top-level CMakeLists.txt);
#   * installed into INSTALL_DIR (default lib/livepatch-agent/plugins under
#     the install prefix, where the agent looks), unless NO_INSTALL.
function(livepatch_add_plugin_module name)
  cmake_parse_arguments(P "NO_INSTALL" "OUTPUT_DIRECTORY;INSTALL_DIR" "SOURCES;LIBS" ${ARGN})
  add_library(${name} MODULE ${P_SOURCES})
  target_link_libraries(${name} PRIVATE livepatch::sdk ${P_LIBS})
  set_target_properties(${name} PROPERTIES PREFIX "" OUTPUT_NAME ${name}
    CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  if(DEFINED LIVEPATCH_PLUGIN_LINK_FLAGS)
    target_link_options(${name} PRIVATE ${LIVEPATCH_PLUGIN_LINK_FLAGS})
  else()
    target_link_options(${name} PRIVATE -Wl,--no-undefined)
  endif()
  if(P_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${P_OUTPUT_DIRECTORY})
  endif()
  if(NOT P_NO_INSTALL)
    if(NOT P_INSTALL_DIR)
      set(P_INSTALL_DIR lib/livepatch-agent/plugins)
    endif()
    install(TARGETS ${name} LIBRARY DESTINATION ${P_INSTALL_DIR})
  endif()
endfunction()

# What is made from the config key declarations of core and of every shipped
# plugin (Plugin::configKeys(), read by livepatch-agent-engine from the
# plugins next to it): the bash and zsh completions, and schemas/config.schema.json,
# which is checked in and must equal what the declarations generate
# (`cmake --build build --target config-schema` rewrites it).
get_property(lp_plugins GLOBAL PROPERTY LIVEPATCH_PLUGINS)
set(lp_engine $<TARGET_FILE:livepatch-agent-engine>)

set(completion ${CMAKE_BINARY_DIR}/share/bash-completion/completions/livepatch-agent)
add_custom_command(OUTPUT ${completion}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/share/bash-completion/completions
  COMMAND sh -c "'${lp_engine}' completion bash > '${completion}.tmp' && mv '${completion}.tmp' '${completion}'"
  DEPENDS livepatch-agent livepatch-agent-engine ${lp_plugins} VERBATIM)
add_custom_target(bash-completion ALL DEPENDS ${completion})
install(FILES ${completion} DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
# zsh: Debian's zsh reads /usr/share/zsh/vendor-completions.
set(zsh_completion ${CMAKE_BINARY_DIR}/share/zsh/vendor-completions/_livepatch-agent)
add_custom_command(OUTPUT ${zsh_completion}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/share/zsh/vendor-completions
  COMMAND sh -c "'${lp_engine}' completion zsh > '${zsh_completion}.tmp' && mv '${zsh_completion}.tmp' '${zsh_completion}'"
  DEPENDS livepatch-agent livepatch-agent-engine ${lp_plugins} VERBATIM)
add_custom_target(zsh-completion ALL DEPENDS ${zsh_completion})
install(FILES ${zsh_completion} DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions)

set(lp_schema ${PROJECT_SOURCE_DIR}/schemas/config.schema.json)
add_custom_target(config-schema
  COMMAND sh -c "'${lp_engine}' __config-schema > '${lp_schema}.tmp' && mv '${lp_schema}.tmp' '${lp_schema}'"
  DEPENDS livepatch-agent-engine ${lp_plugins} VERBATIM)
if(LIVEPATCH_BUILD_TESTS)
  add_test(NAME config.schema-generated
    COMMAND bash -c "generated=$('${lp_engine}' __config-schema) || exit 1
      diff -u \"$0\" <(printf '%s\\n' \"$generated\") && exit 0
      echo \"$0 differs from the key declarations; regenerate it: cmake --build <build> --target config-schema\"; exit 1"
      ${lp_schema})
  set_tests_properties(config.schema-generated PROPERTIES LABELS unit)
endif()

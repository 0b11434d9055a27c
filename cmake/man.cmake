# Man pages: help2man turns each binary's --help and --version into
# build/man/<name>.1 whenever the binary is rebuilt; `cmake --install` and
# the .deb put them in share/man/man1. Without help2man (Debian package
# 'help2man', scripts/setup.sh installs it) the pages are skipped and nothing
# else changes.
find_program(HELP2MAN_PROGRAM help2man)
if(NOT HELP2MAN_PROGRAM)
  message(STATUS "help2man not found: no man pages (install the Debian package 'help2man' or run scripts/setup.sh)")
  return()
endif()

set(MESH_MAN_DIR ${CMAKE_BINARY_DIR}/man)
file(MAKE_DIRECTORY ${MESH_MAN_DIR})
# The same last section for every page.
file(WRITE ${MESH_MAN_DIR}/see-also.h2m
  "[SEE ALSO]\n"
  ".BR meshd (1),\n.BR meshctl (1),\n.BR meshbench (1),\n.BR meshchaos (1)\n"
  ".PP\n"
  "Each subcommand of meshctl has its own help: \\fBmeshctl\\fR \\fISUBCOMMAND\\fR \\fB\\-\\-help\\fR.\n"
  "The README and docs/ of the meshwork sources describe the mesh, its configuration and its operation.\n")

# name -> the NAME line of its page
set(MESH_MAN_meshd "a node of the meshwork task mesh")
set(MESH_MAN_meshctl "submit, follow and inspect tasks on a meshwork node")
set(MESH_MAN_meshbench "throughput, latency and failover figures for a meshwork node or mesh")
set(MESH_MAN_meshchaos "kill and restart meshd nodes under load, then check nothing was lost")

set(MESH_MAN_PAGES)
foreach(program meshd meshctl meshbench meshchaos)
  set(page ${MESH_MAN_DIR}/${program}.1)
  # The defaults --help shows must not depend on the environment of the build.
  add_custom_command(OUTPUT ${page}
    COMMAND ${CMAKE_COMMAND} -E env --unset=MESH_ADDR --unset=MESH_CLIENT_KEY --unset=MESH_MESH_KEY
            ${HELP2MAN_PROGRAM} --no-info --section=1 "--name=${MESH_MAN_${program}}"
            --include=${MESH_MAN_DIR}/see-also.h2m --output=${page} $<TARGET_FILE:${program}>
    DEPENDS ${program} ${CMAKE_CURRENT_LIST_FILE}
    COMMENT "help2man ${program}"
    VERBATIM)
  list(APPEND MESH_MAN_PAGES ${page})
endforeach()
add_custom_target(man ALL DEPENDS ${MESH_MAN_PAGES})
install(FILES ${MESH_MAN_PAGES} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

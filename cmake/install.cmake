# What `cmake --install` and the .deb carry: the binaries, their man pages
# (cmake/man.cmake) and bash completions, the systemd unit and its user, a
# sample node.toml, and the C++ client library for other projects
# (find_package(meshwork) -> meshwork::client, or pkg-config meshwork-client).
include(CMakePackageConfigHelpers)

install(TARGETS meshd meshctl meshbench meshchaos mesh_sim RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
include(${CMAKE_CURRENT_LIST_DIR}/man.cmake)
# One file per command, named after it, so bash-completion loads it on demand.
install(FILES configs/bash-completion/meshd configs/bash-completion/meshctl
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
install(FILES configs/meshd.service DESTINATION lib/systemd/system)
install(FILES configs/meshwork.sysusers DESTINATION lib/sysusers.d RENAME meshwork.conf)
# The sample config; the .deb's postinst copies it to /etc/meshwork/node.toml
# when there is none, its postrm removes that on purge.
install(FILES configs/multi-host.toml DESTINATION ${CMAKE_INSTALL_DATADIR}/meshwork RENAME node.toml)

set_target_properties(mesh_client PROPERTIES EXPORT_NAME client)
set_target_properties(mesh_protocol PROPERTIES EXPORT_NAME protocol)
set_target_properties(mesh_keys PROPERTIES EXPORT_NAME keys)
target_include_directories(mesh_client PUBLIC $<BUILD_INTERFACE:${CMAKE_SOURCE_DIR}>
                                              $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/meshwork>)
install(TARGETS mesh_client mesh_keys mesh_protocol EXPORT meshworkTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES tools/client/mesh_client.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/meshwork/tools/client)
install(FILES node/runtime/curve_keys.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/meshwork/node/runtime)
install(DIRECTORY protocol/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/meshwork/protocol FILES_MATCHING PATTERN "*.h")
install(EXPORT meshworkTargets NAMESPACE meshwork:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/meshwork)
configure_package_config_file(cmake/meshworkConfig.cmake.in ${CMAKE_BINARY_DIR}/meshworkConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/meshwork)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/meshworkConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/meshworkConfig.cmake ${CMAKE_BINARY_DIR}/meshworkConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/meshwork)
configure_file(cmake/meshwork-client.pc.in ${CMAKE_BINARY_DIR}/meshwork-client.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/meshwork-client.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# cpack -G DEB in the build dir makes meshwork_<version>_<arch>.deb.
set(CPACK_PACKAGE_NAME meshwork)
set(CPACK_PACKAGE_VENDOR meshwork)
set(CPACK_PACKAGE_CONTACT "meshwork maintainers <meshwork@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "peer-to-peer work-stealing task mesh (meshd, meshctl, client library)")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_SOURCE_DIR}/cmake/deb/postinst ${CMAKE_SOURCE_DIR}/cmake/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
include(CPack)

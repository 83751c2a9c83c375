# `cmake --install build [--prefix DIR]` installs the command, the libraries
# and their headers, and a CMake package, so that another project can write
#   find_package(xtaldiff REQUIRED)
#   target_link_libraries(app PRIVATE xtaldiff::core)   # crystals, formats, metrics
#   target_link_libraries(app PRIVATE xtaldiff::ml)     # + models, training, sampling (LibTorch)
# and include <xtaldiff/crystal/structure.h> and friends. examples/ is such a
# project; tests/install_examples.cmake builds it against a fresh install.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(XTALDIFF_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/xtaldiff)
set(xtaldiff_export_targets xtaldiff_core)
set_target_properties(xtaldiff_core PROPERTIES EXPORT_NAME core)
# Header folders of the toolkit (no LibTorch) and of the ML side.
set(xtaldiff_header_dirs chem crystal eval io report util)
if(XTALDIFF_WITH_TORCH)
  list(APPEND xtaldiff_export_targets xtaldiff_ml)
  set_target_properties(xtaldiff_ml PROPERTIES EXPORT_NAME ml)
  list(APPEND xtaldiff_header_dirs data diffusion discover ml model sample train)
endif()

install(TARGETS xtaldiff RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(XTALDIFF_WITH_TORCH)
  # Found by `xtaldiff` at ../libexec/xtaldiff/ (src/cli/main.cpp).
  install(TARGETS xtaldiff-ml RUNTIME DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/xtaldiff)
endif()
install(TARGETS ${xtaldiff_export_targets} EXPORT xtaldiffTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
foreach(dir IN LISTS xtaldiff_header_dirs)
  install(DIRECTORY src/${dir} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/xtaldiff
    FILES_MATCHING PATTERN "*.h")
endforeach()
install(FILES ${CMAKE_BINARY_DIR}/generated/xtaldiff_version.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/xtaldiff)

install(EXPORT xtaldiffTargets NAMESPACE xtaldiff:: DESTINATION ${XTALDIFF_CMAKE_DIR})
configure_package_config_file(cmake/xtaldiffConfig.cmake.in ${CMAKE_BINARY_DIR}/xtaldiffConfig.cmake
  INSTALL_DESTINATION ${XTALDIFF_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/xtaldiffConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/xtaldiffConfig.cmake ${CMAKE_BINARY_DIR}/xtaldiffConfigVersion.cmake
  DESTINATION ${XTALDIFF_CMAKE_DIR})

# ctest script (cmake -P): installs this build into a fresh prefix, builds
# examples/ against it with find_package(xtaldiff) as an outside project
# would, and runs the programs on known inputs.
#   -DBUILD_DIR= -DSOURCE_DIR= -DWORK_DIR= -DGENERATOR= -DWITH_TORCH=ON|OFF
foreach(var BUILD_DIR SOURCE_DIR WORK_DIR GENERATOR WITH_TORCH)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install_examples.cmake: -D${var}= is missing")
  endif()
endforeach()

function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(step_out "${out}" PARENT_SCOPE)
  set(step_err "${err}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
run_step("cmake --install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
foreach(f include/xtaldiff/crystal/structure.h include/xtaldiff/xtaldiff_version.h
    lib/cmake/xtaldiff/xtaldiffConfig.cmake bin/xtaldiff)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "the install lacks ${f}")
  endif()
endforeach()
if(EXISTS ${prefix}/include/xtaldiff/cli)
  message(FATAL_ERROR "the command's private headers (src/cli) were installed")
endif()

run_step("configuring examples/" ${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples -B ${WORK_DIR}/build -G ${GENERATOR}
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=${prefix})
run_step("building examples/" ${CMAKE_COMMAND} --build ${WORK_DIR}/build)

# pymatgen's SpacegroupAnalyzer (symprec 0.1) gives this Perov-5 test
# structure Pmm2, no. 25 (the CIF's own header, written by pymatgen).
run_step("spacegroup" ${WORK_DIR}/build/spacegroup ${SOURCE_DIR}/tests/fixtures/symmetrized_cifs/perov_5_test_0.cif)
if(NOT step_out MATCHES "TiOsNOF\tPmm2 \\(25\\)")
  message(FATAL_ERROR "spacegroup printed '${step_out}', expected TiOsNOF, Pmm2 (25)")
endif()

if(WITH_TORCH)
  if(NOT EXISTS ${WORK_DIR}/build/predict_structure)
    message(FATAL_ERROR "the package has xtaldiff::ml but examples/ did not build predict_structure")
  endif()
  run_step("predict_structure" ${WORK_DIR}/build/predict_structure ${SOURCE_DIR}/models/perov5-csp.xtd SrTiO3 0)
  # One CIF of SrTiO3's five atoms.
  string(REGEX MATCHALL "\n *(Sr|Ti|O) +[A-Za-z]+[0-9]+ +1 +[-0-9.]+ +[-0-9.]+ +[-0-9.]+" sites "${step_out}")
  list(LENGTH sites n_sites)
  if(NOT step_out MATCHES "data_" OR NOT n_sites EQUAL 5)
    message(FATAL_ERROR "predict_structure printed ${n_sites} sites, expected SrTiO3's 5:\n${step_out}\n${step_err}")
  endif()
  # The installed command hands the LibTorch commands to libexec/xtaldiff/xtaldiff-ml.
  run_step("installed xtaldiff model" ${prefix}/bin/xtaldiff model ${SOURCE_DIR}/models/perov5-csp.xtd)
  if(NOT step_out MATCHES "diffusion model \\(csp")
    message(FATAL_ERROR "the installed `xtaldiff model` printed '${step_out}' '${step_err}'")
  endif()
endif()
message(STATUS "examples/ built and ran against ${prefix}")

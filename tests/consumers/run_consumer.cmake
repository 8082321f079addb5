# SPDX-License-Identifier: MIT
# Configures, builds and runs one consumer project (cmake -P script).
#   CONSUMER      add_subdirectory | fetchcontent | find_package
#   RSFIQA_ROOT   the rsfiqa source tree
#   CONSUMER_DIR  the consumer project's sources
#   WORK_DIR      scratch folder (wiped first) for builds, archive and prefix
#   GENERATOR, C_COMPILER, CXX_COMPILER, OPENMP, CXX_FLAGS   passed through
# find_package: rsfiqa is first configured alone (no tests, no tools) and
# installed into WORK_DIR/prefix; the consumer only sees that prefix.
# fetchcontent: the files a user needs (CMakeLists.txt, cmake/, include/,
# LICENSE) are packed into WORK_DIR/rsfiqa-src.tar.gz, which the consumer
# fetches through a file:// URL, as it would a release archive.
cmake_minimum_required(VERSION 3.16)
foreach(v CONSUMER RSFIQA_ROOT CONSUMER_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${v} OR "${${v}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: -D${v}=... is required")
  endif()
endforeach()

function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer ${CONSUMER}: ${what} failed (${rc})\n${out}\n${err}")
  endif()
  message(STATUS "consumer ${CONSUMER}: ${what}: ok")
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

set(common_args -G "${GENERATOR}" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
if(C_COMPILER)
  list(APPEND common_args "-DCMAKE_C_COMPILER=${C_COMPILER}")
endif()
if(DEFINED OPENMP AND NOT "${OPENMP}" STREQUAL "")
  list(APPEND common_args "-DRSFIQA_OPENMP=${OPENMP}")
endif()
if(CXX_FLAGS)
  list(APPEND common_args "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}")
endif()

set(consumer_args "-DRSFIQA_ROOT=${RSFIQA_ROOT}")
if(CONSUMER STREQUAL "find_package")
  run_step("configure rsfiqa" ${CMAKE_COMMAND} -S "${RSFIQA_ROOT}" -B "${WORK_DIR}/rsfiqa-build" ${common_args}
           -DRSFIQA_BUILD_TESTS=OFF -DRSFIQA_BUILD_TOOLS=OFF -DRSFIQA_BUILD_BENCH=OFF -DRSFIQA_INSTALL=ON)
  run_step("install rsfiqa" ${CMAKE_COMMAND} --install "${WORK_DIR}/rsfiqa-build" --prefix "${WORK_DIR}/prefix")
  foreach(f include/rsfiqa/rsfiqa.hpp share/cmake/rsfiqa/rsfiqaConfig.cmake
            share/cmake/rsfiqa/rsfiqaConfigVersion.cmake share/cmake/rsfiqa/rsfiqaTargets.cmake)
    if(NOT EXISTS "${WORK_DIR}/prefix/${f}")
      message(FATAL_ERROR "consumer find_package: the install lacks ${f}")
    endif()
  endforeach()
  set(consumer_args "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix")
elseif(CONSUMER STREQUAL "fetchcontent")
  set(archive "${WORK_DIR}/rsfiqa-src.tar.gz")
  set(members CMakeLists.txt cmake include)
  if(EXISTS "${RSFIQA_ROOT}/LICENSE")
    list(APPEND members LICENSE)
  endif()
  run_step("pack sources" ${CMAKE_COMMAND} -E chdir "${RSFIQA_ROOT}" ${CMAKE_COMMAND} -E tar czf "${archive}" ${members})
  set(consumer_args "-DRSFIQA_URL=file://${archive}" "-DFETCHCONTENT_BASE_DIR=${WORK_DIR}/deps")
elseif(NOT CONSUMER STREQUAL "add_subdirectory")
  message(FATAL_ERROR "run_consumer.cmake: unknown CONSUMER '${CONSUMER}'")
endif()

run_step("configure" ${CMAKE_COMMAND} -S "${CONSUMER_DIR}" -B "${WORK_DIR}/build" ${common_args} ${consumer_args})
run_step("build" ${CMAKE_COMMAND} --build "${WORK_DIR}/build")
run_step("run" "${WORK_DIR}/build/consumer")
message(STATUS "consumer ${CONSUMER} says: ${step_output}")

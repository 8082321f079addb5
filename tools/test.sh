#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds rsfiqa and runs its whole test suite (doctest programs, the layer
# rule check, the three consumer projects) through CTest. Installs missing
# Debian packages first (tools/install-deps.sh). Runs from any directory.
#
#   tools/test.sh [BUILD_DIR [extra CMake arguments...]]
#
# BUILD_DIR defaults to build-release in the repository (Release, Ninja). Extra
# arguments go to the CMake configure step, e.g.
#   tools/test.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DRSFIQA_SANITIZE=address,undefined
# RSFIQA_JOBS (default 2) sets the build and test parallelism; RSFIQA_CTEST_ARGS
# adds options to ctest (e.g. "-LE consumers" or "-L weights").
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
"$root/tools/install-deps.sh"

build_dir="${1:-build-release}"
[ "$#" -gt 0 ] && shift
jobs="${RSFIQA_JOBS:-2}"

cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRSFIQA_BUILD_TESTS=ON "$@"
cmake --build "$build_dir" -j "$jobs"
# shellcheck disable=SC2086 # RSFIQA_CTEST_ARGS is a list of options
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" ${RSFIQA_CTEST_ARGS:-}

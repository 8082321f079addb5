#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the `rsfiqa` command-line tool (Release) and runs its main job.
# Installs missing Debian packages first (tools/install-deps.sh). Runs from
# any directory; arguments are passed on to the command, e.g. `-t 1` or
# `--image photo.jpg` (default: a sample photo from tests/data/images).
#
# For now the main job is `rsfiqa demo`, which exercises the engine pieces
# that exist; it becomes `rsfiqa assess` once the pipeline lands.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
"$root/tools/install-deps.sh"

build_dir="${RSFIQA_BUILD_DIR:-build-release}"
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRSFIQA_BUILD_TOOLS=ON
cmake --build "$build_dir" -j "${RSFIQA_JOBS:-2}" --target rsfiqa_cli
# A sample photo from the test data; a later --image in "$@" replaces it.
sample="$root/tests/data/images/chelsea.png"
if [ -f "$sample" ]; then
  set -- --image "$sample" "$@"
fi
"$build_dir/tools/rsfiqa" demo "$@"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian 12 packages rsfiqa needs, and only those that are
# missing: running it on a machine that has them all does nothing (no
# `apt-get update`, no root needed). Used by tools/test.sh, tools/demo.sh and
# .ci/run.
#
#   tools/install-deps.sh            compiler, CMake, Ninja, Eigen, stb, doctest, Google Benchmark
#   tools/install-deps.sh --clang    also clang and its sanitizer/fuzzer runtimes
#   tools/install-deps.sh --node     also Node.js and npm (weights download)
#   tools/install-deps.sh --format   also clang-format (the CI format check)
set -euo pipefail

packages=(build-essential cmake ninja-build libeigen3-dev libstb-dev doctest-dev libbenchmark-dev)
want_node=0
for arg in "$@"; do
  case "$arg" in
    --clang) packages+=(clang libclang-rt-14-dev) ;;
    --node) want_node=1 ;;
    --format) packages+=(clang-format) ;;
    -h | --help)
      sed -n '3,11p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "install-deps: unknown option '$arg' (try --help)" >&2
      exit 2
      ;;
  esac
done

is_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = "installed" ]
}

missing=()
for p in "${packages[@]}"; do
  is_installed "$p" || missing+=("$p")
done
# Node.js may come from another source than Debian (e.g. a vendor build that
# bundles npm), so for it the commands count, not the package names.
if [ "$want_node" = 1 ]; then
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
fi

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all required packages are present"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: missing ${missing[*]} and apt-get is not available; install them by hand" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo_cmd=()
elif command -v sudo >/dev/null 2>&1; then
  sudo_cmd=(sudo)
else
  echo "install-deps: missing ${missing[*]}; run as root or install sudo" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update
"${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds and runs tools/bench/gemm_ceiling.cpp, a dev-only study: the time
# the TinyViT encoder's matrix products alone take at 2 threads with
# OpenBLAS and with rsfiqa's gemm_f32, shape by shape, against the issue's
# encoder target. Not part of CMake, the tests or CI.
#
#   tools/bench/gemm_ceiling.sh [REPS]      (REPS >= 5, default 7)
#
# Needs OpenBLAS's headers and library, OpenMP variant (it shares libgomp
# with rsfiqa's parallel_for; its thread count is set to 2 in the program):
#   apt-get install libopenblas-openmp-dev
# The binary goes to $OUT_DIR (default: a temporary directory, removed on
# exit), never into the source tree. Run timed runs under the machine's
# benchmark lock if it has one (e.g. flock LOCKFILE tools/bench/gemm_ceiling.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
reps="${1:-7}"
cxx="${CXX:-g++}"

die() {
  echo "gemm_ceiling: $*" >&2
  exit 1
}

# OpenBLAS: the OpenMP build's header and library (Debian multiarch paths,
# or whatever pkg-config reports).
blas_cflags="" blas_libs=""
if pkg-config --exists openblas 2>/dev/null; then
  blas_cflags="$(pkg-config --cflags openblas)"
  blas_libs="$(pkg-config --libs openblas)"
fi
[[ -n "$blas_libs" ]] || blas_libs="-lopenblas"
probe="$(mktemp -d)"
trap 'rm -rf "$probe"' EXIT
printf '#include <cblas.h>\nint main() { openblas_set_num_threads(1); return 0; }\n' >"$probe/p.c"
# shellcheck disable=SC2086
if ! "$cxx" -x c++ "$probe/p.c" $blas_cflags $blas_libs -o "$probe/p" 2>"$probe/err"; then
  cat "$probe/err" >&2
  die "OpenBLAS (cblas.h, libopenblas) not found: install it with 'apt-get install libopenblas-openmp-dev'"
fi

out="${OUT_DIR:-$probe}"
mkdir -p "$out"
bin="$out/gemm_ceiling"
# The library's Release flags (-O3 -DNDEBUG) plus OpenMP; SIMD comes from
# the library's per-function target attributes, no -march.
# shellcheck disable=SC2086
"$cxx" -std=c++17 -O3 -DNDEBUG -fopenmp -Wall -Wextra -Wno-unused-parameter -I"$root/include" $blas_cflags \
  "$root/tools/bench/gemm_ceiling.cpp" -o "$bin" $blas_libs

# Two threads for both libraries (the program also sets them explicitly).
# OMP_WAIT_POLICY=active by default: both libraries run on libgomp's team,
# and with passive waiting every parallel region wakes a sleeping thread; on
# a machine shared with low-priority jobs that wake-up can wait for the
# running job's time slice (whole scheduler ticks), which would measure the
# scheduler rather than the GEMM. Override with OMP_WAIT_POLICY=passive.
OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-active}" OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 "$bin" "$reps"
echo "OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-active}"
echo "load average: $(cut -d" " -f1-3 /proc/loadavg)"

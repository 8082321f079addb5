// SPDX-License-Identifier: MIT
// Eigen's GEMM for the comparison in bench_gemm.cpp, in a translation unit of
// its own that includes only Eigen (no rsfiqa header). bench/CMakeLists.txt
// may compile this file alone with -march=native (RSFIQA_BENCH_NATIVE_EIGEN)
// so Eigen vectorises for the best ISA of the build machine, its best case,
// without mixing ISA flags into a TU that includes rsfiqa's headers. Eigen
// threads through OpenMP when built with it; setNbThreads picks the count.
#include <Eigen/Core>

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// C (M x N) = A (M x K) · Bᵀ with B stored N x K (PyTorch weight layout), or
// A · B with B stored K x N; all row-major and dense.
void eigen_gemm(int M, int N, int K, const float* A, const float* B, bool trans_b, float* C, int threads) {
  Eigen::setNbThreads(threads);
  Eigen::Map<const RowMat> a(A, M, K);
  Eigen::Map<RowMat> c(C, M, N);
  if (trans_b) {
    Eigen::Map<const RowMat> b(B, N, K);
    c.noalias() = a * b.transpose();
  } else {
    Eigen::Map<const RowMat> b(B, K, N);
    c.noalias() = a * b;
  }
}

// Eigen's own report of the SIMD sets it was compiled for ("AVX512, FMA, ...").
const char* eigen_simd_name() { return Eigen::SimdInstructionSetsInUse(); }

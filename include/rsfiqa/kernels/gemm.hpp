// SPDX-License-Identifier: MIT
// General matrix multiply, the engine's workhorse.
//
//   C[m, n] = alpha * sum_k A[m, k] * B(k, n)  (+ bias[n])  (+ C[m, n] if accumulate)
//
// A is row-major M x K (activations, row stride lda). B is either stored
// N x K ("NT", PyTorch nn.Linear weight layout, so C = A Wᵀ) or K x N ("NN"),
// row stride ldb. C is row-major M x N with row stride ldc.
//
// gemm_f32_ref is the scalar oracle: three loops that read like the formula.
// gemm_f32 dispatches on the active ISA (core/cpu.hpp). Optimized versions
// are added by the kernels owner; until then gemm_f32 calls the reference.
#pragma once

#include <cstdint>

#include "rsfiqa/core/config.hpp"
#include "rsfiqa/core/parallel.hpp"

namespace rsfiqa::kernels {

struct GemmParams {
  bool trans_b = true;          // true: B is N x K (NT); false: B is K x N (NN)
  bool accumulate = false;      // add into the existing C
  const float* bias = nullptr;  // optional, length N
  float alpha = 1.0f;           // scales A·B (not the bias or the old C)
};

// Scalar reference. Accumulates in float in k order.
inline void gemm_f32_ref(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                         float* C, int64_t ldc, const GemmParams& p = {}) {
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      float acc = 0.0f;
      for (int64_t k = 0; k < K; ++k) {
        const float b = p.trans_b ? B[n * ldb + k] : B[k * ldb + n];
        acc += A[m * lda + k] * b;
      }
      float v = p.alpha * acc;
      if (p.bias) v += p.bias[n];
      if (p.accumulate) v += C[m * ldc + n];
      C[m * ldc + n] = v;
    }
  }
}

// Dispatching entry point. May split work over threads with parallel_for
// (serial when called from inside a parallel region).
inline void gemm_f32(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                     float* C, int64_t ldc, const GemmParams& p = {}) {
  gemm_f32_ref(M, N, K, A, lda, B, ldb, C, ldc, p);
}

}  // namespace rsfiqa::kernels

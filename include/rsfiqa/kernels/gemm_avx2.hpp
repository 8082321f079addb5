// SPDX-License-Identifier: MIT
// AVX2/FMA GEMM microkernel (namespace rsfiqa::kernels::avx2), compiled
// through per-function target attributes and called only when active_isa()
// is kAvx2 (or capped to it). A 6 x 16 tile of C lives in 12 ymm
// accumulators; per k it loads two ymm of packed B and broadcasts 6 values of
// packed A — the classic Haswell-era BLIS shape that fits the 16 ymm
// registers. It reads the shared 32-column packed-B panels (gemm_pack.hpp)
// one 16-column half at a time. Columns past N are handled in the epilogue
// through a small stack tile; the driver lives in gemm.hpp.
#pragma once

#include <cstdint>

#include "rsfiqa/core/config.hpp"
#include "rsfiqa/kernels/gemm_pack.hpp"

#if RSFIQA_X86_SIMD
#include <immintrin.h>

namespace rsfiqa::kernels::avx2 {

using detail::GemmEpilogue;
using detail::kGemmPanelN;

constexpr int kMR = 6;             // rows of the register tile
constexpr int64_t kKC = 256;       // depth of one packed block
constexpr int64_t kMC = 12 * kMR;  // rows of A packed per block
constexpr int64_t kNC = 512;       // columns walked per A block

// Writes v (8 lanes) to c[0:w) with the epilogue; w < 8 goes lane by lane so
// no byte past column N is touched.
RSFIQA_TARGET_AVX2 inline void store8(float* c, __m256 v, int w) {
  if (w >= 8) {
    _mm256_storeu_ps(c, v);
    return;
  }
  alignas(32) float t[8];
  _mm256_store_ps(t, v);
  for (int i = 0; i < w; ++i) c[i] = t[i];
}

RSFIQA_TARGET_AVX2 inline __m256 load8(const float* c, int w) {
  if (w >= 8) return _mm256_loadu_ps(c);
  alignas(32) float t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < w; ++i) t[i] = c[i];
  return _mm256_load_ps(t);
}

// C[0:R, 0:nr] (+)= A_panel · B_half over kc steps, R rows (1..6), nr <= 16.
// bp points into a 32-wide packed-B panel (row stride 32).
template <int R>
RSFIQA_TARGET_AVX2 inline void microkernel(int64_t kc, const float* RSFIQA_RESTRICT ap, const float* RSFIQA_RESTRICT bp,
                                           float* c, int64_t ldc, int nr, const GemmEpilogue& ep) {
  __m256 acc0[R], acc1[R];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    acc0[r] = _mm256_setzero_ps();
    acc1[r] = _mm256_setzero_ps();
  }
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(bp);
    const __m256 b1 = _mm256_load_ps(bp + 8);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m256 a = _mm256_broadcast_ss(ap + r);
      acc0[r] = _mm256_fmadd_ps(a, b0, acc0[r]);
      acc1[r] = _mm256_fmadd_ps(a, b1, acc1[r]);
    }
    ap += kMR;
    bp += kGemmPanelN;
  }
  // Epilogue, in the same operation order as gemm_f32_ref for the first block.
  const int w0 = nr >= 8 ? 8 : nr, w1 = nr > 8 ? nr - 8 : 0;
  const __m256 alpha = _mm256_set1_ps(ep.alpha);
  const bool use_bias = ep.first && ep.bias;
  __m256 bias0 = _mm256_setzero_ps(), bias1 = _mm256_setzero_ps();
  if (use_bias) {
    bias0 = load8(ep.bias, w0);
    if (w1 > 0) bias1 = load8(ep.bias + 8, w1);
  }
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    float* cr = c + r * ldc;
    __m256 v0 = _mm256_mul_ps(acc0[r], alpha);
    __m256 v1 = _mm256_mul_ps(acc1[r], alpha);
    if (ep.first) {
      if (use_bias) {
        v0 = _mm256_add_ps(v0, bias0);
        v1 = _mm256_add_ps(v1, bias1);
      }
      if (ep.accumulate) {
        v0 = _mm256_add_ps(v0, load8(cr, w0));
        if (w1 > 0) v1 = _mm256_add_ps(v1, load8(cr + 8, w1));
      }
    } else {
      v0 = _mm256_add_ps(load8(cr, w0), v0);
      if (w1 > 0) v1 = _mm256_add_ps(load8(cr + 8, w1), v1);
    }
    store8(cr, v0, w0);
    if (w1 > 0) store8(cr + 8, v1, w1);
  }
}

// One tile of up to 6 x 32 (a whole packed-B panel): two 16-column halves.
RSFIQA_TARGET_AVX2 inline void run_tile(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, int mr,
                                        int nr, const GemmEpilogue& ep) {
  for (int h = 0; h < 2 && h * 16 < nr; ++h) {
    GemmEpilogue e = ep;
    if (e.bias) e.bias += h * 16;
    const int w = nr - h * 16 < 16 ? nr - h * 16 : 16;
    const float* b = bp + h * 16;
    float* ch = c + h * 16;
    switch (mr) {
      case 6: microkernel<6>(kc, ap, b, ch, ldc, w, e); break;
      case 5: microkernel<5>(kc, ap, b, ch, ldc, w, e); break;
      case 4: microkernel<4>(kc, ap, b, ch, ldc, w, e); break;
      case 3: microkernel<3>(kc, ap, b, ch, ldc, w, e); break;
      case 2: microkernel<2>(kc, ap, b, ch, ldc, w, e); break;
      default: microkernel<1>(kc, ap, b, ch, ldc, w, e); break;
    }
  }
}

}  // namespace rsfiqa::kernels::avx2

#endif  // RSFIQA_X86_SIMD

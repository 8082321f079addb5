// SPDX-License-Identifier: MIT
// FMA throughput probes: register-only loops of independent fused
// multiply-adds that measure the machine's practical floating-point peak, so
// the GEMM benchmark can read its GFLOP/s as a fraction of what the cores can
// do at their current clock. Not used by inference. Each call runs `iters`
// iterations of 12 independent FMA chains (enough to cover the 4-cycle FMA
// latency on two pipes) and returns the number of flops executed; the chains
// are folded into `*sink` so the compiler cannot drop them.
#pragma once

#include <cstdint>

#include "rsfiqa/core/config.hpp"

#if RSFIQA_X86_SIMD
#include <immintrin.h>

namespace rsfiqa::kernels {

// One iteration: 12 independent chains c_i = c_i * a + b. The empty asm
// statement claims to modify every accumulator, so the compiler can neither
// fold the chains nor keep them anywhere but in registers.
#define RSFIQA_PEAK_STEP(FMA)                                                                                  \
  c0 = FMA(c0, a, b), c1 = FMA(c1, a, b), c2 = FMA(c2, a, b), c3 = FMA(c3, a, b), c4 = FMA(c4, a, b),          \
  c5 = FMA(c5, a, b), c6 = FMA(c6, a, b), c7 = FMA(c7, a, b), c8 = FMA(c8, a, b), c9 = FMA(c9, a, b),          \
  c10 = FMA(c10, a, b), c11 = FMA(c11, a, b);                                                                  \
  __asm__ volatile(""                                                                                          \
                   : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5), "+v"(c6), "+v"(c7), "+v"(c8), \
                     "+v"(c9), "+v"(c10), "+v"(c11))

// 12 chains x 16 lanes x 2 flops per iteration.
RSFIQA_TARGET_AVX512 inline int64_t fma_peak_avx512(int64_t iters, float* sink) {
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  __m512 c0 = _mm512_set1_ps(0.f), c1 = _mm512_set1_ps(1.f), c2 = _mm512_set1_ps(2.f), c3 = _mm512_set1_ps(3.f);
  __m512 c4 = _mm512_set1_ps(4.f), c5 = _mm512_set1_ps(5.f), c6 = _mm512_set1_ps(6.f), c7 = _mm512_set1_ps(7.f);
  __m512 c8 = _mm512_set1_ps(8.f), c9 = _mm512_set1_ps(9.f), c10 = _mm512_set1_ps(10.f), c11 = _mm512_set1_ps(11.f);
  for (int64_t it = 0; it < iters; ++it) {
    RSFIQA_PEAK_STEP(_mm512_fmadd_ps);
  }
  const __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)),
                                               _mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7))),
                                 _mm512_add_ps(_mm512_add_ps(c8, c9), _mm512_add_ps(c10, c11)));
  alignas(64) float t[16];
  _mm512_store_ps(t, s);
  for (int i = 0; i < 16; ++i) *sink += t[i];
  return iters * 12 * 16 * 2;
}

// 12 chains x 8 lanes x 2 flops per iteration.
RSFIQA_TARGET_AVX2 inline int64_t fma_peak_avx2(int64_t iters, float* sink) {
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  __m256 c0 = _mm256_set1_ps(0.f), c1 = _mm256_set1_ps(1.f), c2 = _mm256_set1_ps(2.f), c3 = _mm256_set1_ps(3.f);
  __m256 c4 = _mm256_set1_ps(4.f), c5 = _mm256_set1_ps(5.f), c6 = _mm256_set1_ps(6.f), c7 = _mm256_set1_ps(7.f);
  __m256 c8 = _mm256_set1_ps(8.f), c9 = _mm256_set1_ps(9.f), c10 = _mm256_set1_ps(10.f), c11 = _mm256_set1_ps(11.f);
  for (int64_t it = 0; it < iters; ++it) {
    RSFIQA_PEAK_STEP(_mm256_fmadd_ps);
  }
  const __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                                               _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7))),
                                 _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
  alignas(32) float t[8];
  _mm256_store_ps(t, s);
  for (int i = 0; i < 8; ++i) *sink += t[i];
  return iters * 12 * 8 * 2;
}

#undef RSFIQA_PEAK_STEP

}  // namespace rsfiqa::kernels

#endif  // RSFIQA_X86_SIMD

// SPDX-License-Identifier: MIT
// AVX512_BF16 GEMM kernel (namespace rsfiqa::kernels::avx512bf16) for
// gemm_bf16_f32acc: activations rounded to bf16 (round to nearest even),
// bf16 weights, products summed in f32 by VDPBF16PS, which multiplies two
// adjacent bf16 pairs and adds both products to an f32 lane. Each
// instruction does twice the multiply-adds of an f32 FMA, so on Zen 4 the
// kernel's peak is about twice gemm_f32's.
//
// Layout: both packed operands count K in 32-bit units, one unit holding the
// bf16 values of k = 2u (low half) and k = 2u + 1 (high half); an odd K is
// padded with a zero. Packed B panels are 32 columns wide (gemm_pack.hpp with
// units instead of floats), packed A panels kMR rows wide. The register tile
// is the f32 kernel's 14 x 32, sharing its epilogue (avx512::store_tile).
//
// Accuracy: the products of two bf16 values are exact in f32, so the only
// extra error over gemm_f32 is rounding A (relative 2^-9 per element) — the
// same contract as PyTorch's bf16 autocast of nn.Linear. Denormal inputs
// and outputs of the bf16 conversion and the dot product may be flushed to
// zero by the hardware. Called only when the CPU reports avx512_bf16.
#pragma once

#include <cstdint>

#include "rsfiqa/core/config.hpp"
#include "rsfiqa/kernels/gemm_avx512.hpp"
#include "rsfiqa/kernels/gemm_pack.hpp"

#if RSFIQA_X86_SIMD
#include <immintrin.h>

namespace rsfiqa::kernels::avx512bf16 {

using detail::GemmEpilogue;
using detail::kGemmPanelN;

constexpr int kMR = avx512::kMR;  // 14 rows, as the f32 kernel
constexpr int64_t kKC = 256;      // units (512 values of K) per block: A panel 14 KB
constexpr int64_t kMC = 8 * kMR;
constexpr int64_t kNC = 512;

// C[0:R, 0:nr] (+)= A_panel · B_panel over kc units, R rows (1..14).
// ap: packed A units (stride kMR); bp: packed B units (stride 32).
template <int R>
RSFIQA_TARGET_AVX512BF16 inline void microkernel(int64_t kc, const float* RSFIQA_RESTRICT ap,
                                                 const float* RSFIQA_RESTRICT bp, float* c, int64_t ldc, int nr,
                                                 const GemmEpilogue& ep) {
  const int32_t* a32 = (const int32_t*)ap;
  __m512 acc0[R], acc1[R];
#pragma GCC unroll 14
  for (int r = 0; r < R; ++r) {
    acc0[r] = _mm512_setzero_ps();
    acc1[r] = _mm512_setzero_ps();
  }
  for (int64_t u = 0; u < kc; ++u) {
    const __m512bh b0 = (__m512bh)_mm512_load_si512((const void*)bp);
    const __m512bh b1 = (__m512bh)_mm512_load_si512((const void*)(bp + 16));
#pragma GCC unroll 14
    for (int r = 0; r < R; ++r) {
      const __m512bh a = (__m512bh)_mm512_set1_epi32(a32[r]);
      acc0[r] = _mm512_dpbf16_ps(acc0[r], a, b0);
      acc1[r] = _mm512_dpbf16_ps(acc1[r], a, b1);
    }
    a32 += kMR;
    bp += kGemmPanelN;
  }
  avx512::store_tile<R>(acc0, acc1, c, ldc, nr, ep);
}

RSFIQA_TARGET_AVX512BF16 inline void run_tile(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc,
                                              int mr, int nr, const GemmEpilogue& ep) {
  switch (mr) {
    case 14: microkernel<14>(kc, ap, bp, c, ldc, nr, ep); break;
    case 13: microkernel<13>(kc, ap, bp, c, ldc, nr, ep); break;
    case 12: microkernel<12>(kc, ap, bp, c, ldc, nr, ep); break;
    case 11: microkernel<11>(kc, ap, bp, c, ldc, nr, ep); break;
    case 10: microkernel<10>(kc, ap, bp, c, ldc, nr, ep); break;
    case 9: microkernel<9>(kc, ap, bp, c, ldc, nr, ep); break;
    case 8: microkernel<8>(kc, ap, bp, c, ldc, nr, ep); break;
    case 7: microkernel<7>(kc, ap, bp, c, ldc, nr, ep); break;
    case 6: microkernel<6>(kc, ap, bp, c, ldc, nr, ep); break;
    case 5: microkernel<5>(kc, ap, bp, c, ldc, nr, ep); break;
    case 4: microkernel<4>(kc, ap, bp, c, ldc, nr, ep); break;
    case 3: microkernel<3>(kc, ap, bp, c, ldc, nr, ep); break;
    case 2: microkernel<2>(kc, ap, bp, c, ldc, nr, ep); break;
    default: microkernel<1>(kc, ap, bp, c, ldc, nr, ep); break;
  }
}

// 32-bit mask of the first n (0..32) 16-bit lanes.
inline __mmask32 half_mask(int64_t n) {
  return n >= 32 ? (__mmask32)0xFFFFFFFFu : n <= 0 ? (__mmask32)0 : (__mmask32)((1u << n) - 1u);
}

// Loader for pack_transpose: units [u0, u0 + un) of f32 row i rounded to bf16
// pairs; elements at or past `k_elems` read as zero.
struct LoadRowsF32AsBf16Pairs {
  const float* src;
  int64_t ld, k_elems;
  RSFIQA_TARGET_AVX512BF16 __m512 operator()(int64_t i, int64_t u0, int64_t un) const {
    const int64_t e0 = 2 * u0;
    int64_t n = k_elems - e0 < 2 * un ? k_elems - e0 : 2 * un;
    const __m512 lo = _mm512_maskz_loadu_ps(avx512::lane_mask(n), src + i * ld + e0);
    const __m512 hi = _mm512_maskz_loadu_ps(avx512::lane_mask(n - 16 < 0 ? 0 : n - 16), src + i * ld + e0 + 16);
    // Element j < 16 of the result is lo[j], 16 + j is hi[j]: memory order.
    return (__m512)_mm512_cvtne2ps_pbh(hi, lo);
  }
};

// Loader: units [u0, u0 + un) of bf16 row i, as stored (pairs in memory
// order); elements at or past `k_elems` read as zero.
struct LoadRowsBf16Pairs {
  const uint16_t* src;
  int64_t ld, k_elems;
  RSFIQA_TARGET_AVX512BF16 __m512 operator()(int64_t i, int64_t u0, int64_t un) const {
    const int64_t e0 = 2 * u0;
    const int64_t n = k_elems - e0 < 2 * un ? k_elems - e0 : 2 * un;
    return _mm512_castsi512_ps(_mm512_maskz_loadu_epi16(half_mask(n), src + i * ld + e0));
  }
};

// A block packing: mc rows x kc units (kc_elems values of K) into kMR-row
// panels of bf16 pairs.
RSFIQA_TARGET_AVX512BF16 inline void pack_a(int64_t mc, int64_t kc, int64_t kc_elems, const float* A, int64_t lda,
                                            float* dst) {
  for (int64_t p = 0; p * kMR < mc; ++p) {
    const int64_t rows = mc - p * kMR < kMR ? mc - p * kMR : kMR;
    avx512::pack_transpose<kMR, false>(rows, kc, LoadRowsF32AsBf16Pairs{A + p * kMR * lda, lda, kc_elems},
                                       dst + p * kMR * kc);
  }
}

// Packs panels [j0, j1) of bf16 weights B (N x K bits) as 32-column panels of
// ceil(K / 2) units; columns past N are zero.
RSFIQA_TARGET_AVX512BF16 inline void pack_b_nt(int64_t j0, int64_t j1, int64_t N, int64_t K, const uint16_t* B,
                                               int64_t ldb, float* dst) {
  const int64_t ku = (K + 1) / 2;
  for (int64_t j = j0; j < j1; ++j) {
    const int64_t n0 = j * kGemmPanelN;
    const int64_t w = N - n0 < kGemmPanelN ? N - n0 : kGemmPanelN;
    avx512::pack_transpose<kGemmPanelN, true>(w, ku, LoadRowsBf16Pairs{B + n0 * ldb, ldb, K},
                                              dst + j * ku * kGemmPanelN);
  }
}

}  // namespace rsfiqa::kernels::avx512bf16

#endif  // RSFIQA_X86_SIMD

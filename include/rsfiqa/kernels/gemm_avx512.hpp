// SPDX-License-Identifier: MIT
// AVX-512 GEMM kernels (namespace rsfiqa::kernels::avx512), compiled through
// per-function target attributes and called only when active_isa() is
// kAvx512. Three pieces:
//
//   * the register-blocked microkernel: a 14 x 32 tile of C held in 28 zmm
//     accumulators, fed per k by two aligned loads of a packed-B row and 14
//     broadcasts of packed A (the BLIS "broadcast A, load B" scheme). It
//     multiplies packed panels (gemm_pack.hpp) and applies the epilogue
//     (alpha, bias, accumulate) in the store, masking the columns past N.
//   * transposing packers (pack_a, pack_b_nt): 16 x 16 blocks moved through
//     registers, so packing A and NT weights costs a fraction of a cycle per
//     element instead of one strided scalar move each;
//   * direct kernels for tiny M (at most kSmallM rows, e.g. one token of a
//     decoder): packing B would cost as much as the product itself, so they
//     read B in place, NT as dot products along K, NN as row updates.
//
// Zen 4 issues one 512-bit FMA per cycle per core (two 256-bit halves), with
// a 4-cycle latency: the 28 independent accumulators keep the unit busy and
// leave 4 registers for B and the broadcasts. The driver is in gemm.hpp.
#pragma once

#include <cstdint>

#include "rsfiqa/core/config.hpp"
#include "rsfiqa/kernels/gemm_pack.hpp"

#if RSFIQA_X86_SIMD
#include <immintrin.h>

namespace rsfiqa::kernels::avx512 {

using detail::GemmEpilogue;
using detail::kGemmPanelN;

constexpr int kMR = 14;           // rows of the register tile
constexpr int64_t kKC = 256;      // depth of one packed block (A panel 14 KB, fits L1)
constexpr int64_t kMC = 8 * kMR;  // rows of A packed per block (112 x 256 floats, in L2)
constexpr int64_t kNC = 512;      // columns walked per A block (B block 512 KB, in L2)
constexpr int64_t kSmallM = 4;    // at most this many rows take the direct (unpacked) path

// Lane masks for a tile that is `nr` (1..32) columns wide.
RSFIQA_TARGET_AVX512 inline void tile_masks(int nr, __mmask16* m0, __mmask16* m1) {
  *m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1u);
  *m1 = nr >= 32 ? (__mmask16)0xFFFF : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1u) : (__mmask16)0;
}

// Stores R rows of a 14 x 32 register tile (acc0: columns 0-15, acc1:
// 16-31) with the epilogue, in the same operation order as gemm_f32_ref for
// the first K block; columns past nr are masked off.
template <int R>
RSFIQA_TARGET_AVX512 inline void store_tile(const __m512* acc0, const __m512* acc1, float* c, int64_t ldc, int nr,
                                            const GemmEpilogue& ep) {
  __mmask16 m0, m1;
  tile_masks(nr, &m0, &m1);
  const __m512 alpha = _mm512_set1_ps(ep.alpha);
  __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
  const bool use_bias = ep.first && ep.bias;
  if (use_bias) {
    bias0 = _mm512_maskz_loadu_ps(m0, ep.bias);
    bias1 = _mm512_maskz_loadu_ps(m1, ep.bias + 16);
  }
#pragma GCC unroll 14
  for (int r = 0; r < R; ++r) {
    float* cr = c + r * ldc;
    __m512 v0 = _mm512_mul_ps(acc0[r], alpha);
    __m512 v1 = _mm512_mul_ps(acc1[r], alpha);
    if (ep.first) {
      if (use_bias) {
        v0 = _mm512_add_ps(v0, bias0);
        v1 = _mm512_add_ps(v1, bias1);
      }
      if (ep.accumulate) {
        v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, cr));
        v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, cr + 16));
      }
    } else {
      v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, cr), v0);
      v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, cr + 16), v1);
    }
    _mm512_mask_storeu_ps(cr, m0, v0);
    _mm512_mask_storeu_ps(cr + 16, m1, v1);
  }
}

// C[0:R, 0:nr] (+)= A_panel · B_panel over kc steps, R rows (1..14).
// ap: packed A panel (stride kMR per k); bp: packed B slice (stride 32 per k).
template <int R>
RSFIQA_TARGET_AVX512 inline void microkernel(int64_t kc, const float* RSFIQA_RESTRICT ap,
                                             const float* RSFIQA_RESTRICT bp, float* c, int64_t ldc, int nr,
                                             const GemmEpilogue& ep) {
  __m512 acc0[R], acc1[R];
#pragma GCC unroll 14
  for (int r = 0; r < R; ++r) {
    acc0[r] = _mm512_setzero_ps();
    acc1[r] = _mm512_setzero_ps();
  }
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(bp);
    const __m512 b1 = _mm512_load_ps(bp + 16);
#pragma GCC unroll 14
    for (int r = 0; r < R; ++r) {
      const __m512 a = _mm512_set1_ps(ap[r]);
      acc0[r] = _mm512_fmadd_ps(a, b0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(a, b1, acc1[r]);
    }
    ap += kMR;
    bp += kGemmPanelN;
  }
  store_tile<R>(acc0, acc1, c, ldc, nr, ep);
}

// One tile of up to 14 x 32: picks the instantiation for the row count.
RSFIQA_TARGET_AVX512 inline void run_tile(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, int mr,
                                          int nr, const GemmEpilogue& ep) {
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

// 16 bf16 values (raw bits) widened to f32: shift each into the high half.
// (The maskz forms avoid GCC 12's false "uninitialized" warning on the
// unmasked intrinsics' undefined pass-through operand.)
RSFIQA_TARGET_AVX512 inline __m512 load_bf16x16(const uint16_t* p, __mmask16 m) {
  const __m256i h = _mm256_maskz_loadu_epi16(m, p);
  const __m512i w = _mm512_maskz_cvtepu16_epi32((__mmask16)0xFFFF, h);
  return _mm512_castsi512_ps(_mm512_maskz_slli_epi32((__mmask16)0xFFFF, w, 16));
}

// Sum of the 16 lanes in a fixed tree: halves, then quarters, then pairs.
RSFIQA_TARGET_AVX512 inline float hsum(__m512 v) {
  const __m512d d = _mm512_castps_pd(v);
  const __m256 lo = _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd((__mmask8)0xF, d, 0));
  const __m256 hi = _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd((__mmask8)0xF, d, 1));
  const __m256 s8 = _mm256_add_ps(lo, hi);
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  const __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
  return _mm_cvtss_f32(s1);
}

// Row loaders for pack_transpose: load(i, u0, un) returns 16 32-bit units
// [u0, u0 + un) of source row i, zero past un (un <= 16).
inline __mmask16 lane_mask(int64_t n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u); }

struct LoadRowsF32 {  // f32 rows
  const float* src;
  int64_t ld;
  RSFIQA_TARGET_AVX512 __m512 operator()(int64_t i, int64_t u0, int64_t un) const {
    return _mm512_maskz_loadu_ps(lane_mask(un), src + i * ld + u0);
  }
};

struct LoadRowsBf16Widened {  // bf16 rows, each value widened to f32
  const uint16_t* src;
  int64_t ld;
  RSFIQA_TARGET_AVX512 __m512 operator()(int64_t i, int64_t u0, int64_t un) const {
    return load_bf16x16(src + i * ld + u0, lane_mask(un));
  }
};

// Transposing pack: dst[u * W + r] = unit u of source row r, for r < rows
// (<= W) and u < units; a unit is 32 bits (an f32, or a pair of bf16).
// This is both the A packing (W = kMR) and the NT B packing (W = 32, rows
// are weight rows). Blocks of 16 rows x 16 units are loaded with masked
// loads and transposed in registers (unpack, in-lane shuffle, two 128-bit
// lane shuffles). With ZeroPad every one of the W lanes is written, missing
// rows as zeros (B panels); otherwise only the `rows` lanes.
// Always inlined, so the AVX512_BF16 packers (whose loaders need that ISA)
// can instantiate it inside their own target.
template <int W, bool ZeroPad, class Load>
RSFIQA_TARGET_AVX512 inline __attribute__((always_inline)) void pack_transpose(int64_t rows, int64_t kc,
                                                                               const Load& load, float* dst) {
  // Full masks on the maskz forms sidestep GCC 12's false "uninitialized"
  // warning about the unmasked intrinsics' undefined pass-through operand.
  constexpr __mmask16 kAll = (__mmask16)0xFFFF;
  const int64_t groups = ZeroPad ? (W + 15) / 16 : (rows + 15) / 16;
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t r0 = g * 16;
    const int64_t nrow = rows - r0 < 0 ? 0 : rows - r0 < 16 ? rows - r0 : 16;
    const int64_t lanes = ZeroPad ? (W - r0 < 16 ? W - r0 : 16) : nrow;
    const __mmask16 sm = lanes >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << lanes) - 1u);
    for (int64_t k0 = 0; k0 < kc; k0 += 16) {
      const int64_t kn = kc - k0 < 16 ? kc - k0 : 16;
      __m512 r[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) {
        r[i] = i < nrow ? load(r0 + i, k0, kn) : _mm512_setzero_ps();
      }
      // Stage 1: interleave row pairs within each 128-bit lane.
      __m512 t[16];
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) {
        t[2 * i] = _mm512_maskz_unpacklo_ps(kAll, r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_maskz_unpackhi_ps(kAll, r[2 * i], r[2 * i + 1]);
      }
      // Stage 2: u[4q + j] holds rows 4q..4q+3 at k = 4L + j in lane L.
      __m512 u[16];
#pragma GCC unroll 4
      for (int q = 0; q < 4; ++q) {
        u[4 * q + 0] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[4 * q + 1] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[4 * q + 2] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[4 * q + 3] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], _MM_SHUFFLE(3, 2, 3, 2));
      }
      // Stages 3-4: a 4 x 4 transpose of 128-bit lanes gives column k.
      __m512 out[16];
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        const __m512 v0 = _mm512_maskz_shuffle_f32x4(kAll, u[j], u[4 + j], _MM_SHUFFLE(1, 0, 1, 0));
        const __m512 v1 = _mm512_maskz_shuffle_f32x4(kAll, u[j], u[4 + j], _MM_SHUFFLE(3, 2, 3, 2));
        const __m512 v2 = _mm512_maskz_shuffle_f32x4(kAll, u[8 + j], u[12 + j], _MM_SHUFFLE(1, 0, 1, 0));
        const __m512 v3 = _mm512_maskz_shuffle_f32x4(kAll, u[8 + j], u[12 + j], _MM_SHUFFLE(3, 2, 3, 2));
        out[j] = _mm512_maskz_shuffle_f32x4(kAll, v0, v2, _MM_SHUFFLE(2, 0, 2, 0));
        out[4 + j] = _mm512_maskz_shuffle_f32x4(kAll, v0, v2, _MM_SHUFFLE(3, 1, 3, 1));
        out[8 + j] = _mm512_maskz_shuffle_f32x4(kAll, v1, v3, _MM_SHUFFLE(2, 0, 2, 0));
        out[12 + j] = _mm512_maskz_shuffle_f32x4(kAll, v1, v3, _MM_SHUFFLE(3, 1, 3, 1));
      }
      for (int64_t j = 0; j < kn; ++j) _mm512_mask_storeu_ps(dst + (k0 + j) * W + r0, sm, out[j]);
    }
  }
}

// A block packing for the 14 x 32 kernel (layout in gemm_pack.hpp).
// (kc_elems == kc: one unit is one float.)
RSFIQA_TARGET_AVX512 inline void pack_a(int64_t mc, int64_t kc, int64_t kc_elems, const float* A, int64_t lda,
                                        float* dst) {
  (void)kc_elems;
  for (int64_t p = 0; p * kMR < mc; ++p) {
    const int64_t rows = mc - p * kMR < kMR ? mc - p * kMR : kMR;
    pack_transpose<kMR, false>(rows, kc, LoadRowsF32{A + p * kMR * lda, lda}, dst + p * kMR * kc);
  }
}

// NT B packing (f32 or bf16 weights N x K) of depth rows [k0, k1) of panels
// [j0, j1); the panels keep their full-K layout.
RSFIQA_TARGET_AVX512 inline void pack_b_nt_rows(int64_t j0, int64_t j1, int64_t N, int64_t K, int64_t k0, int64_t k1,
                                                const float* B, const uint16_t* Bh, int64_t ldb, float* dst) {
  for (int64_t j = j0; j < j1; ++j) {
    const int64_t n0 = j * kGemmPanelN;
    const int64_t w = N - n0 < kGemmPanelN ? N - n0 : kGemmPanelN;
    float* panel = dst + j * K * kGemmPanelN + k0 * kGemmPanelN;
    if (Bh)
      pack_transpose<kGemmPanelN, true>(w, k1 - k0, LoadRowsBf16Widened{Bh + n0 * ldb + k0, ldb}, panel);
    else
      pack_transpose<kGemmPanelN, true>(w, k1 - k0, LoadRowsF32{B + n0 * ldb + k0, ldb}, panel);
  }
}

// All depth rows.
RSFIQA_TARGET_AVX512 inline void pack_b_nt(int64_t j0, int64_t j1, int64_t N, int64_t K, const float* B,
                                           const uint16_t* Bh, int64_t ldb, float* dst) {
  pack_b_nt_rows(j0, j1, N, K, 0, K, B, Bh, ldb, dst);
}

// NN B packing of panels [p0, p1) of B + B2 (B2 may be null), the loop of
// detail::pack_b_nn_sum_f32 with whole 16-float lanes: the same additions,
// so the same bits.
RSFIQA_TARGET_AVX512 inline void pack_b_nn_sum(int64_t p0, int64_t p1, int64_t N, int64_t K, const float* B,
                                               const float* B2, int64_t ldb, float* dst) {
  constexpr int64_t kGroup = 8;  // panels per pass, as in the scalar loop
  for (int64_t j0 = p0; j0 < p1; j0 += kGroup) {
    const int64_t j1 = j0 + kGroup < p1 ? j0 + kGroup : p1;
    for (int64_t k = 0; k < K; ++k) {
      const float* b = B + k * ldb;
      const float* b2 = B2 ? B2 + k * ldb : nullptr;
      for (int64_t j = j0; j < j1; ++j) {
        float* d = dst + j * K * kGemmPanelN + k * kGemmPanelN;
        const int64_t n0 = j * kGemmPanelN;
        const int64_t w = N - n0 < kGemmPanelN ? N - n0 : kGemmPanelN;
        const __mmask16 m0 = lane_mask(w), m1 = lane_mask(w - 16 < 0 ? 0 : w - 16);
        __m512 v0 = _mm512_maskz_loadu_ps(m0, b + n0), v1 = _mm512_maskz_loadu_ps(m1, b + n0 + 16);
        if (b2) {
          v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, b2 + n0));
          v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, b2 + n0 + 16));
        }
        _mm512_storeu_ps(d, v0);  // lanes past w are zeros
        _mm512_storeu_ps(d + 16, v1);
      }
    }
  }
}

// Stores one finished element with the reference epilogue.
inline void store_one(float acc, int64_t n, float* c, const GemmEpilogue& ep) {
  float v = ep.alpha * acc;
  if (ep.bias) v += ep.bias[n];
  if (ep.accumulate) v += *c;
  *c = v;
}

// Direct NT kernel for M <= kSmallM rows and columns [n0, n1): each C element
// is a dot product of an A row with a B row, both contiguous in k. B is f32
// (Bh == nullptr) or bf16 bits (B == nullptr). Lane partial sums are reduced
// with a fixed tree, so the result does not depend on threading.
template <int M>
RSFIQA_TARGET_AVX512 inline void small_m_nt(int64_t n0, int64_t n1, int64_t K, const float* A, int64_t lda,
                                            const float* B, const uint16_t* Bh, int64_t ldb, float* C, int64_t ldc,
                                            const GemmEpilogue& ep) {
  for (int64_t n = n0; n < n1; ++n) {
    __m512 acc[M];
#pragma GCC unroll 4
    for (int m = 0; m < M; ++m) acc[m] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k += 16) {
      const int64_t left = K - k;
      const __mmask16 mk = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
      const __m512 b = B ? _mm512_maskz_loadu_ps(mk, B + n * ldb + k) : load_bf16x16(Bh + n * ldb + k, mk);
#pragma GCC unroll 4
      for (int m = 0; m < M; ++m) acc[m] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, A + m * lda + k), b, acc[m]);
    }
#pragma GCC unroll 4
    for (int m = 0; m < M; ++m) store_one(hsum(acc[m]), n, C + m * ldc + n, ep);
  }
}

// Direct NN kernel for M <= kSmallM rows and columns [n0, n1): C rows are
// built 16 columns at a time as sums over k of A(m, k) * B row k.
template <int M>
RSFIQA_TARGET_AVX512 inline void small_m_nn(int64_t n0, int64_t n1, int64_t K, const float* A, int64_t lda,
                                            const float* B, int64_t ldb, float* C, int64_t ldc,
                                            const GemmEpilogue& ep) {
  const __m512 alpha = _mm512_set1_ps(ep.alpha);
  for (int64_t n = n0; n < n1; n += 16) {
    const int64_t left = n1 - n;
    const __mmask16 mn = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
    __m512 acc[M];
#pragma GCC unroll 4
    for (int m = 0; m < M; ++m) acc[m] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; ++k) {
      const __m512 b = _mm512_maskz_loadu_ps(mn, B + k * ldb + n);
#pragma GCC unroll 4
      for (int m = 0; m < M; ++m) acc[m] = _mm512_fmadd_ps(_mm512_set1_ps(A[m * lda + k]), b, acc[m]);
    }
    const __m512 bias = ep.bias ? _mm512_maskz_loadu_ps(mn, ep.bias + n) : _mm512_setzero_ps();
#pragma GCC unroll 4
    for (int m = 0; m < M; ++m) {
      float* cr = C + m * ldc + n;
      __m512 v = _mm512_mul_ps(acc[m], alpha);
      if (ep.bias) v = _mm512_add_ps(v, bias);
      if (ep.accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mn, cr));
      _mm512_mask_storeu_ps(cr, mn, v);
    }
  }
}

// Row-count dispatch for the direct path (1 <= M <= kSmallM).
RSFIQA_TARGET_AVX512 inline void small_m(int64_t M, int64_t n0, int64_t n1, int64_t K, const float* A, int64_t lda,
                                         const float* B, const uint16_t* Bh, int64_t ldb, bool trans_b, float* C,
                                         int64_t ldc, const GemmEpilogue& ep) {
  if (trans_b) {
    switch (M) {
      case 4: small_m_nt<4>(n0, n1, K, A, lda, B, Bh, ldb, C, ldc, ep); break;
      case 3: small_m_nt<3>(n0, n1, K, A, lda, B, Bh, ldb, C, ldc, ep); break;
      case 2: small_m_nt<2>(n0, n1, K, A, lda, B, Bh, ldb, C, ldc, ep); break;
      default: small_m_nt<1>(n0, n1, K, A, lda, B, Bh, ldb, C, ldc, ep); break;
    }
  } else {
    switch (M) {
      case 4: small_m_nn<4>(n0, n1, K, A, lda, B, ldb, C, ldc, ep); break;
      case 3: small_m_nn<3>(n0, n1, K, A, lda, B, ldb, C, ldc, ep); break;
      case 2: small_m_nn<2>(n0, n1, K, A, lda, B, ldb, C, ldc, ep); break;
      default: small_m_nn<1>(n0, n1, K, A, lda, B, ldb, C, ldc, ep); break;
    }
  }
}

}  // namespace rsfiqa::kernels::avx512

#endif  // RSFIQA_X86_SIMD

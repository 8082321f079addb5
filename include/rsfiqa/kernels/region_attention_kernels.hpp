// SPDX-License-Identifier: MIT
// The block kernel of Region-aware Semantic Attention (ops/region_attention.hpp):
// dense single-head attention of a block of queries against one or two
// contiguous key ranges, with an optional additive mask, written for the
// layout the op prepares (keys stored transposed, so key j of component c is
// kt[c * ldkt + j]):
//
//   s_rj = scale * <q_r, k_j> + add_scale * add_rj        j over range a ++ range b
//   o_r  = sum_j softmax_j(s_r)_j * v_j
//
// rsa_block_f32_ref      scalar loops in the order of the formula (the oracle).
// rsa_block_f32_avx512   fused: per strip of 14 query rows it computes the
//                        scores with a 14 x 32 register tile (broadcast q,
//                        load two rows of Kᵀ), tracks the row max while
//                        storing, exponentiates in place (rsa_exp_nonpos_ps,
//                        a lean exp for x <= 0), and multiplies by V with a
//                        second 14 x 32 tile, normalising in the store. No
//                        packing: the op's gather already produced panel-
//                        friendly layouts. The strip's scores stay in L2.
// rsa_block_f32_generic  the same through gemm_f32 (NN) and softmax_f32; used
//                        on AVX2, NEON and scalar levels, where it picks up
//                        those kernels' own SIMD paths.
// rsa_block_f32          dispatches on active_isa().
//
// Single-threaded (called from the op's parallel_for bodies). Not here: the
// region sort, gather/scatter and scheduling (ops/region_attention.hpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "rsfiqa/core/config.hpp"
#include "rsfiqa/core/cpu.hpp"
#include "rsfiqa/kernels/elementwise.hpp"
#include "rsfiqa/kernels/gemm.hpp"
#include "rsfiqa/kernels/softmax.hpp"

#if RSFIQA_X86_SIMD
#include <immintrin.h>
#endif

namespace rsfiqa::kernels {

// One key range: keys as Kᵀ [dh, n] (row stride ldkt) and values [n, dh]
// (row stride ldv). n may be 0 for an absent second range.
struct RsaKeyBlock {
  int64_t n = 0;
  const float* kt = nullptr;
  int64_t ldkt = 0;
  const float* v = nullptr;
  int64_t ldv = 0;
};

struct RsaBlockArgs {
  int64_t rows = 0;  // queries in the block
  int64_t dh = 0;    // head size
  float scale = 1.0f;
  const float* q = nullptr;  // [rows, dh], row stride ldq
  int64_t ldq = 0;
  RsaKeyBlock a, b;             // keys a ++ b; the score columns are [0, a.n) then [a.n, a.n + b.n)
  const float* add = nullptr;   // optional additive mask [rows, a.n + b.n], row stride ld_add
  int64_t ld_add = 0;           // (entries may be -inf; add_scale must then be > 0)
  float add_scale = 1.0f;
  float* s = nullptr;  // scratch [rows, lds], lds >= a.n + b.n
  int64_t lds = 0;
  float* o = nullptr;  // output [rows, dh], row stride ldo
  int64_t ldo = 0;
};

// Scalar reference: for each query row, scores over both ranges, max,
// exp-sum and the weighted sum of values, accumulated in double.
inline void rsa_block_f32_ref(const RsaBlockArgs& p) {
  const int64_t nk = p.a.n + p.b.n;
  const double ninf = -std::numeric_limits<double>::infinity();
  for (int64_t r = 0; r < p.rows; ++r) {
    const float* qr = p.q + r * p.ldq;
    float* sr = p.s + r * p.lds;
    double m = ninf;
    for (int64_t j = 0; j < nk; ++j) {
      const RsaKeyBlock& kb = j < p.a.n ? p.a : p.b;
      const int64_t jj = j < p.a.n ? j : j - p.a.n;
      double dot = 0.0;
      for (int64_t c = 0; c < p.dh; ++c) dot += (double)qr[c] * (double)kb.kt[c * kb.ldkt + jj];
      double sc = dot * p.scale;
      if (p.add) sc += (double)p.add_scale * (double)p.add[r * p.ld_add + j];
      sr[j] = (float)sc;
      m = sc > m ? sc : m;
    }
    float* orow = p.o + r * p.ldo;
    if (m == ninf) {  // nothing to attend to: zeros, never NaN
      for (int64_t c = 0; c < p.dh; ++c) orow[c] = 0.0f;
      continue;
    }
    double z = 0.0;
    for (int64_t j = 0; j < nk; ++j) z += std::exp((double)sr[j] - m);
    for (int64_t c = 0; c < p.dh; ++c) {
      double acc = 0.0;
      for (int64_t j = 0; j < nk; ++j) {
        const RsaKeyBlock& kb = j < p.a.n ? p.a : p.b;
        const int64_t jj = j < p.a.n ? j : j - p.a.n;
        acc += std::exp((double)sr[j] - m) * (double)kb.v[jj * kb.ldv + c];
      }
      orow[c] = (float)(acc / z);
    }
  }
}

// The same with the library's GEMM and softmax kernels (whatever their ISA).
inline void rsa_block_f32_generic(const RsaBlockArgs& p) {
  const int64_t nk = p.a.n + p.b.n;
  GemmParams nn;
  nn.trans_b = false;
  nn.alpha = p.scale;
  // S = scale * Q Kᵀ, one product per key range (Kᵀ is K x N "NN" here).
  gemm_f32(p.rows, p.a.n, p.dh, p.q, p.ldq, p.a.kt, p.a.ldkt, p.s, p.lds, nn);
  if (p.b.n > 0) gemm_f32(p.rows, p.b.n, p.dh, p.q, p.ldq, p.b.kt, p.b.ldkt, p.s + p.a.n, p.lds, nn);
  for (int64_t r = 0; r < p.rows; ++r) {
    float* sr = p.s + r * p.lds;
    const float* ar = p.add ? p.add + r * p.ld_add : nullptr;
    if (ar && p.add_scale != 1.0f) {
      for (int64_t j = 0; j < nk; ++j) sr[j] += p.add_scale * ar[j];
      ar = nullptr;
    }
    softmax_f32(nk, sr, ar, nullptr, sr);  // exp(-inf) is exactly 0
  }
  // O = P V over both ranges.
  GemmParams pv;
  pv.trans_b = false;
  gemm_f32(p.rows, p.dh, p.a.n, p.s, p.lds, p.a.v, p.a.ldv, p.o, p.ldo, pv);
  if (p.b.n > 0) {
    pv.accumulate = true;
    gemm_f32(p.rows, p.dh, p.b.n, p.s + p.a.n, p.lds, p.b.v, p.b.ldv, p.o, p.ldo, pv);
  }
}

#if RSFIQA_X86_SIMD
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized at inlined uses at -O2
// (their masked intrinsics start from _mm512_undefined_ps).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
namespace avx512 {

// Register budget of both tiles: 14 rows x 2 zmm accumulators = 28, plus two
// loaded rows of Kᵀ (or V) and one broadcast = 31 of the 32 zmm registers.
// Zen 4 and Skylake-X retire one or two 512-bit FMAs per cycle with a latency
// of 4: 28 independent chains hide it. Each step of the inner loop issues 28
// FMAs against 2 vector loads and 14 scalar broadcasts.
constexpr int kRsaMR = 14;  // query rows per register tile

// e^x for x <= 0 (softmax arguments x - max), cheaper than the general
// avx512::vm::exp_ps: no upper clamp, and the lower clamp at -110 replaces
// the underflow mask, because 2^-159 times a mantissa in [0.7, 1.5] rounds to
// exactly 0 (so -inf still gives exactly 0). Range reduction x = n ln2 + r,
// |r| <= ln2 / 2, then e^r by its Taylor polynomial of degree 6 (truncation
// error r^7 / 7! < 1.3e-7 relative, about one ulp), then scalef by 2^n.
RSFIQA_TARGET_AVX512 inline __m512 rsa_exp_nonpos_ps(__m512 x) {
  using namespace rsfiqa::kernels::detail;
  x = _mm512_max_ps(x, _mm512_set1_ps(-110.0f));
  const __m512 n =
      _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Hi), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Lo), r);
  __m512 p = _mm512_set1_ps(kExpC6);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpC5));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpC4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpC3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpC2));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// y = rsa_exp_nonpos_ps(x) elementwise over n floats (for tests).
RSFIQA_TARGET_AVX512 inline void rsa_exp_nonpos_f32(int64_t n, const float* x, float* y) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : avx512::vm::tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, m, rsa_exp_nonpos_ps(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

// Lane masks for the first min(rem, 16) and the next min(rem - 16, 16) columns
// of a 32-wide tile; masked loads never touch memory past the last column.
RSFIQA_TARGET_AVX512 inline void rsa_col_masks(int64_t rem, __mmask16* m0, __mmask16* m1) {
  *m0 = rem >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << rem) - 1u);
  *m1 = rem >= 32 ? (__mmask16)0xFFFF : rem > 16 ? (__mmask16)((1u << (rem - 16)) - 1u) : (__mmask16)0;
}

// Scores of R query rows against one key range, written to s columns
// [col0, col0 + kb.n); mx[r] keeps the running per-lane max of row r.
template <int R>
RSFIQA_TARGET_AVX512 inline void rsa_scores(const RsaBlockArgs& p, const float* q, const RsaKeyBlock& kb,
                                            int64_t col0, const float* add, float* s, __m512* mx) {
  const __m512 vscale = _mm512_set1_ps(p.scale), vadd = _mm512_set1_ps(p.add_scale);
  for (int64_t j0 = 0; j0 < kb.n; j0 += 32) {
    __mmask16 m0, m1;
    rsa_col_masks(kb.n - j0, &m0, &m1);
    __m512 acc0[R], acc1[R];
#pragma GCC unroll 14
    for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
    // acc[r] += q[r, c] * Kᵀ[c, j0:j0+32] over c: the 14 x 32 score tile.
    const float* kp = kb.kt + j0;
    for (int64_t c = 0; c < p.dh; ++c) {
      const __m512 b0 = _mm512_maskz_loadu_ps(m0, kp + c * kb.ldkt);
      const __m512 b1 = _mm512_maskz_loadu_ps(m1, kp + c * kb.ldkt + 16);
      // The 32 rows of the next tile are 32 separate streams: fetch them early
      // (a prefetch past the last key is harmless, it never faults).
      _mm_prefetch(reinterpret_cast<const char*>(kp + c * kb.ldkt + 32), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(kp + c * kb.ldkt + 48), _MM_HINT_T0);
#pragma GCC unroll 14
      for (int r = 0; r < R; ++r) {
        const __m512 qa = _mm512_set1_ps(q[r * p.ldq + c]);
        acc0[r] = _mm512_fmadd_ps(qa, b0, acc0[r]);
        acc1[r] = _mm512_fmadd_ps(qa, b1, acc1[r]);
      }
    }
    // Scale, add the mask, store the tile and fold it into the row max
    // (masked lanes past the last key keep the old max).
#pragma GCC unroll 14
    for (int r = 0; r < R; ++r) {
      __m512 s0 = _mm512_mul_ps(acc0[r], vscale), s1 = _mm512_mul_ps(acc1[r], vscale);
      if (add) {
        s0 = _mm512_fmadd_ps(vadd, _mm512_maskz_loadu_ps(m0, add + r * p.ld_add + col0 + j0), s0);
        s1 = _mm512_fmadd_ps(vadd, _mm512_maskz_loadu_ps(m1, add + r * p.ld_add + col0 + j0 + 16), s1);
      }
      float* sr = s + r * p.lds + col0 + j0;
      _mm512_mask_storeu_ps(sr, m0, s0);
      _mm512_mask_storeu_ps(sr + 16, m1, s1);
      mx[r] = _mm512_mask_max_ps(mx[r], m0, mx[r], s0);
      mx[r] = _mm512_mask_max_ps(mx[r], m1, mx[r], s1);
    }
  }
}

// o[r, c0:c0+32] (+)= sum_j s[r, col0 + j] * v[j, c0:c0+32] over one key range.
template <int R>
RSFIQA_TARGET_AVX512 inline void rsa_pv(const RsaBlockArgs& p, const RsaKeyBlock& kb, int64_t col0, const float* s,
                                        int64_t c0, __mmask16 m0, __mmask16 m1, __m512* acc0, __m512* acc1) {
  // Row j of V (32 columns) meets the weight p[r, j] of all R rows at once.
  const float* vp = kb.v + c0;
  for (int64_t j = 0; j < kb.n; ++j) {
    const __m512 b0 = _mm512_maskz_loadu_ps(m0, vp + j * kb.ldv);
    const __m512 b1 = _mm512_maskz_loadu_ps(m1, vp + j * kb.ldv + 16);
#pragma GCC unroll 14
    for (int r = 0; r < R; ++r) {
      const __m512 pa = _mm512_set1_ps(s[r * p.lds + col0 + j]);
      acc0[r] = _mm512_fmadd_ps(pa, b0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(pa, b1, acc1[r]);
    }
  }
}

// One strip of R query rows: scores, softmax numerators, P V, normalise.
template <int R>
RSFIQA_TARGET_AVX512 inline void rsa_strip(const RsaBlockArgs& p, int64_t r0) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const float* q = p.q + r0 * p.ldq;
  const float* add = p.add ? p.add + r0 * p.ld_add : nullptr;
  float* s = p.s + r0 * p.lds;
  const int64_t nk = p.a.n + p.b.n;
  // 1) s = scale * q kᵀ (+ add), with the row max.
  __m512 mx[R];
  for (int r = 0; r < R; ++r) mx[r] = _mm512_set1_ps(ninf);
  rsa_scores<R>(p, q, p.a, 0, add, s, mx);
  if (p.b.n > 0) rsa_scores<R>(p, q, p.b, p.a.n, add, s, mx);
  // 2) s <- exp(s - max), 1 / sum per row (0 for a row with nothing to attend to).
  float inv[R];
  for (int r = 0; r < R; ++r) {
    float* sr = s + r * p.lds;
    const float m = avx512::vm::hmax(mx[r]);
    if (m == ninf) {
      for (int64_t j = 0; j < nk; ++j) sr[j] = 0.0f;
      inv[r] = 0.0f;
      continue;
    }
    const __m512 vm = _mm512_set1_ps(m);
    __m512 sum = _mm512_setzero_ps();
    int64_t j = 0;
    for (; j + 16 <= nk; j += 16) {
      const __m512 e = rsa_exp_nonpos_ps(_mm512_sub_ps(_mm512_loadu_ps(sr + j), vm));
      _mm512_storeu_ps(sr + j, e);
      sum = _mm512_add_ps(sum, e);
    }
    if (j < nk) {
      const __mmask16 t = avx512::vm::tail_mask(nk - j);
      const __m512 e = _mm512_maskz_mov_ps(t, rsa_exp_nonpos_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(t, sr + j), vm)));
      _mm512_mask_storeu_ps(sr + j, t, e);
      sum = _mm512_add_ps(sum, e);
    }
    inv[r] = 1.0f / avx512::vm::hsum(sum);
  }
  // 3) o = (exp-weights V) / sum, 32 output columns at a time.
  for (int64_t c0 = 0; c0 < p.dh; c0 += 32) {
    __mmask16 m0, m1;
    rsa_col_masks(p.dh - c0, &m0, &m1);
    __m512 acc0[R], acc1[R];
#pragma GCC unroll 14
    for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
    rsa_pv<R>(p, p.a, 0, s, c0, m0, m1, acc0, acc1);
    if (p.b.n > 0) rsa_pv<R>(p, p.b, p.a.n, s, c0, m0, m1, acc0, acc1);
#pragma GCC unroll 14
    for (int r = 0; r < R; ++r) {
      const __m512 vi = _mm512_set1_ps(inv[r]);
      float* orow = p.o + (r0 + r) * p.ldo + c0;
      _mm512_mask_storeu_ps(orow, m0, _mm512_mul_ps(acc0[r], vi));
      _mm512_mask_storeu_ps(orow + 16, m1, _mm512_mul_ps(acc1[r], vi));
    }
  }
}

}  // namespace avx512
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// Full 14-row strips, then one strip of the remaining 1..13 rows (each row
// count is its own instantiation so every tile stays in registers).
RSFIQA_TARGET_AVX512 inline void rsa_block_f32_avx512(const RsaBlockArgs& p) {
  int64_t r0 = 0;
  for (; r0 + avx512::kRsaMR <= p.rows; r0 += avx512::kRsaMR) avx512::rsa_strip<avx512::kRsaMR>(p, r0);
  switch (p.rows - r0) {
    case 0: break;
    case 1: avx512::rsa_strip<1>(p, r0); break;
    case 2: avx512::rsa_strip<2>(p, r0); break;
    case 3: avx512::rsa_strip<3>(p, r0); break;
    case 4: avx512::rsa_strip<4>(p, r0); break;
    case 5: avx512::rsa_strip<5>(p, r0); break;
    case 6: avx512::rsa_strip<6>(p, r0); break;
    case 7: avx512::rsa_strip<7>(p, r0); break;
    case 8: avx512::rsa_strip<8>(p, r0); break;
    case 9: avx512::rsa_strip<9>(p, r0); break;
    case 10: avx512::rsa_strip<10>(p, r0); break;
    case 11: avx512::rsa_strip<11>(p, r0); break;
    case 12: avx512::rsa_strip<12>(p, r0); break;
    default: avx512::rsa_strip<13>(p, r0); break;
  }
}
#endif  // RSFIQA_X86_SIMD

// Name of the implementation rsa_block_f32 runs at ISA level `isa`.
inline const char* rsa_block_f32_kernel_name(Isa isa = active_isa()) {
#if RSFIQA_X86_SIMD
  if (isa == Isa::kAvx512) return "rsa_block_f32_avx512";
#endif
  (void)isa;
  return "rsa_block_f32_generic";
}

inline void rsa_block_f32(const RsaBlockArgs& p) {
  if (p.rows <= 0) return;
#if RSFIQA_X86_SIMD
  if (active_isa() == Isa::kAvx512) return rsa_block_f32_avx512(p);
#endif
  rsa_block_f32_generic(p);
}

}  // namespace rsfiqa::kernels

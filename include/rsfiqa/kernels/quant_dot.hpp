// SPDX-License-Identifier: MIT
// Dot products of weight rows (F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q5_1, Q4_K,
// Q6_K) with activation rows, and the row-parallel matrix-times-activations
// of the LLM (mul_mat_rows, mul_mat_multi). For Q8_0/Q4_0 weights the
// products use the register tiles of kernels/quant_gemm.hpp (prefill GEMM,
// decode mat-vec); so do Q5_0/Q5_1, Q4_K and Q6_K weights in prefill on
// AVX-512 VNNI CPUs (8 or more activation rows: the packed x8 tiles; the two
// K-quants pack the Q8_K rows in their own layout, BlockQ8_Kx8, one packing
// shared by the Q4_K and Q6_K jobs of the same input). The single-row dots here
// serve the other cases and are the tiles' references.
//
// Quantized weights meet 8-bit activations: Q8_0, Q4_0, Q5_0 and Q5_1 rows
// are dotted with activations quantized once per row to Q8_0 blocks (Q5_x
// keep their levels unsigned: Σ (q-16)·a = Σ q·a - 16·Σ a), Q4_K and Q6_K rows
// with Q8_K blocks, so the inner loop is integer multiply-add (AVX2
// maddubs/madd, AVX-512 VNNI vpdpbusd, AVX-512 BW maddubs as the fallback).
// Float weights meet f32 activations.
//
// Every kernel has the scalar `_ref` twin in kernels/quant.hpp; they agree
// up to float summation order (integer sums per block are exact in both).
// The approach (sign trick for signed x signed bytes, bsums for the K-quant
// mins) follows ggml's CPU kernels; the code is our own.
//
// ISA variants live in namespaces quant_avx2 / quant_avx512 (BW: maddubs; `_vnni`: vpdpbusd); Q4_K and
// Q6_K have an AVX-512 VNNI version on 256-bit registers, Q5_0/Q5_1 one on
// 512-bit registers (two blocks per step); all four use the AVX2 version on
// AVX-512 CPUs without VNNI. Q5_0/Q5_1 also have row groups bit-identical
// to their single-row dots: 4 weight rows x 1 activation row (decode), 1 x 4
// and, on VNNI, 4 x 4 (prefill with fewer than 8 activation rows).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "rsfiqa/core/config.hpp"
#include "rsfiqa/core/cpu.hpp"
#include "rsfiqa/core/dtype.hpp"
#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/kernels/quant.hpp"
#include "rsfiqa/kernels/quant_gemm.hpp"

#if RSFIQA_X86_SIMD
#include <immintrin.h>
#endif

namespace rsfiqa::kernels {

#if RSFIQA_X86_SIMD
// ================================================================ AVX2
namespace quant_avx2 {

RSFIQA_TARGET_AVX2 inline float hsum_ps(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

RSFIQA_TARGET_AVX2 inline int32_t hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

RSFIQA_TARGET_AVX2 inline float half(uint16_t h) { return _cvtsh_ss(h); }

// 32 signed x 32 signed bytes -> 8 int32 partial sums. maddubs wants one
// unsigned operand, so move x's sign onto y: |x| * (y * sign(x)).
RSFIQA_TARGET_AVX2 inline __m256i dot_i8(__m256i x, __m256i y) {
  const __m256i ax = _mm256_sign_epi8(x, x);
  const __m256i sy = _mm256_sign_epi8(y, x);
  return _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1));
}

// The 32 levels of a Q4_0 block as signed bytes q-8, in element order.
RSFIQA_TARGET_AVX2 inline __m256i unpack_q4_0(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128((const __m128i*)qs);
  const __m128i lo = _mm_and_si128(q, _mm_set1_epi8(0x0F));
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0x0F));
  return _mm256_sub_epi8(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(8));
}

RSFIQA_TARGET_AVX2 inline float vec_dot_f32_f32(int64_t n, const float* x, const float* y) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
  }
  for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
  float s = hsum_ps(_mm256_add_ps(a0, a1));
  for (; i < n; ++i) s += x[i] * y[i];
  return s;
}

RSFIQA_TARGET_AVX2 inline float vec_dot_f16_f32(int64_t n, const uint16_t* x, const float* y) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(x + i))), _mm256_loadu_ps(y + i), a0);
    a1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(x + i + 8))), _mm256_loadu_ps(y + i + 8),
                         a1);
  }
  for (; i + 8 <= n; i += 8)
    a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(x + i))), _mm256_loadu_ps(y + i), a0);
  float s = hsum_ps(_mm256_add_ps(a0, a1));
  for (; i < n; ++i) s += f16_to_f32(x[i]) * y[i];
  return s;
}

// bf16 -> f32 is a 16-bit left shift of the bits.
RSFIQA_TARGET_AVX2 inline __m256 load_bf16(const uint16_t* p) {
  const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

RSFIQA_TARGET_AVX2 inline float vec_dot_bf16_f32(int64_t n, const uint16_t* x, const float* y) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_fmadd_ps(load_bf16(x + i), _mm256_loadu_ps(y + i), a0);
    a1 = _mm256_fmadd_ps(load_bf16(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
  }
  for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load_bf16(x + i), _mm256_loadu_ps(y + i), a0);
  float s = hsum_ps(_mm256_add_ps(a0, a1));
  for (; i < n; ++i) s += bf16_to_f32(x[i]) * y[i];
  return s;
}

RSFIQA_TARGET_AVX2 inline float vec_dot_q8_0_q8_0(int64_t n, const BlockQ8_0* x, const BlockQ8_0* y) {
  const int64_t nb = n / kQK8_0;
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const __m256i xv = _mm256_loadu_si256((const __m256i*)x[i].qs);
    const __m256i yv = _mm256_loadu_si256((const __m256i*)y[i].qs);
    const __m256 d = _mm256_set1_ps(half(x[i].d) * half(y[i].d));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_i8(xv, yv)), d, acc);
  }
  return hsum_ps(acc);
}

RSFIQA_TARGET_AVX2 inline float vec_dot_q4_0_q8_0(int64_t n, const BlockQ4_0* x, const BlockQ8_0* y) {
  const int64_t nb = n / kQK4_0;
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const __m256i xv = unpack_q4_0(x[i].qs);
    const __m256i yv = _mm256_loadu_si256((const __m256i*)y[i].qs);
    const __m256 d = _mm256_set1_ps(half(x[i].d) * half(y[i].d));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_i8(xv, yv)), d, acc);
  }
  return hsum_ps(acc);
}

// The 32 levels of a Q5_0/Q5_1 block as unsigned bytes 0..31, in element
// order. Bit 4 of element j is bit j of qh: each byte of the register gets
// the qh byte that holds its bit (shuffle of the broadcast u32), then a test
// against the bit of its position within that byte (8 x 1, 2, 4 .. 128).
RSFIQA_TARGET_AVX2 inline __m256i unpack_q5(const uint8_t* qs, const uint8_t* qh) {
  const __m128i q = _mm_loadu_si128((const __m128i*)qs);
  const __m128i lo = _mm_and_si128(q, _mm_set1_epi8(0x0F));
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0x0F));
  uint32_t h;
  std::memcpy(&h, qh, 4);
  const __m256i which_byte =
      _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL, 0x0101010101010101LL, 0);
  const __m256i hb = _mm256_shuffle_epi8(_mm256_set1_epi32((int)h), which_byte);
  const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(hb, bit), bit);
  return _mm256_or_si256(_mm256_set_m128i(hi, lo), _mm256_and_si256(set, _mm256_set1_epi8(0x10)));
}

// Σ q·a and Σ a of one block (q unsigned 0..31, a signed): 8 int32 partial
// sums each. maddubs pairs stay within int16 (2·31·128 < 2^15).
RSFIQA_TARGET_AVX2 inline __m256i q5_sum_qa(__m256i q, __m256i a) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(q, a), _mm256_set1_epi16(1));
}
RSFIQA_TARGET_AVX2 inline __m256i q5_sum_a(__m256i a) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), a), _mm256_set1_epi16(1));
}

// One block's contribution to the accumulator, given Σ q·a (qa), Σ a (sa)
// and the activation scale dy. Q5_0: Σ (q-16)·a = Σ q·a - 16·Σ a, exact in
// int32, times d·dy. Q5_1: d·dy·Σ q·a + m·dy·Σ a.
RSFIQA_TARGET_AVX2 inline __m256 q5_block(__m256 acc, __m256i qa, __m256i sa, const BlockQ5_0& x, float dy) {
  const __m256i r = _mm256_sub_epi32(qa, _mm256_slli_epi32(sa, 4));
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(r), _mm256_set1_ps(half(x.d) * dy), acc);
}
RSFIQA_TARGET_AVX2 inline __m256 q5_block(__m256 acc, __m256i qa, __m256i sa, const BlockQ5_1& x, float dy) {
  acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(qa), _mm256_set1_ps(half(x.d) * dy), acc);
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(sa), _mm256_set1_ps(half(x.m) * dy), acc);
}

// Q5_0 / Q5_1 weight row · Q8_0 activation row.
template <typename WB>
RSFIQA_TARGET_AVX2 inline float q5_dot(int64_t n, const WB* x, const BlockQ8_0* y) {
  const int64_t nb = n / kQK5_0;
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const __m256i a = _mm256_loadu_si256((const __m256i*)y[i].qs);
    acc = q5_block(acc, q5_sum_qa(unpack_q5(x[i].qs, x[i].qh), a), q5_sum_a(a), x[i], half(y[i].d));
  }
  return hsum_ps(acc);
}
RSFIQA_TARGET_AVX2 inline float vec_dot_q5_0_q8_0(int64_t n, const BlockQ5_0* x, const BlockQ8_0* y) {
  return q5_dot(n, x, y);
}
RSFIQA_TARGET_AVX2 inline float vec_dot_q5_1_q8_0(int64_t n, const BlockQ5_1* x, const BlockQ8_0* y) {
  return q5_dot(n, x, y);
}

// One Q5 weight row against four activation rows (prefill): the weight block
// is unpacked once; per row the operations and their order are those of
// q5_dot, so each result equals the single-row kernel's bit for bit.
template <typename WB>
RSFIQA_TARGET_AVX2 inline void q5_dot_x4(int64_t n, const WB* x, const BlockQ8_0* const* y, float* out) {
  const int64_t nb = n / kQK5_0;
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t i = 0; i < nb; ++i) {
    const __m256i q = unpack_q5(x[i].qs, x[i].qh);
    for (int r = 0; r < 4; ++r) {
      const __m256i a = _mm256_loadu_si256((const __m256i*)y[r][i].qs);
      acc[r] = q5_block(acc[r], q5_sum_qa(q, a), q5_sum_a(a), x[i], half(y[r][i].d));
    }
  }
  for (int r = 0; r < 4; ++r) out[r] = hsum_ps(acc[r]);
}

// Prefetch for the decode kernels: the four weight rows of a w4 call are
// normally consecutive rows of one matrix, i.e. one stream advancing
// 4·sizeof(block) bytes per block; fetch the lines of `blocks` blocks of
// that stream 4 KB ahead (as the Q8_0/Q4_0 decode tiles do: the hardware
// prefetcher does not cross 4 KB pages). A hint only: other row layouts
// stay correct.
constexpr int kQ5PrefetchBytes = 4096;
template <typename WB>
RSFIQA_TARGET_AVX2 inline void q5_prefetch(const WB* row0, int64_t i, int blocks) {
  const char* p = (const char*)row0 + 4 * (int64_t)sizeof(WB) * i + kQ5PrefetchBytes;
  for (int k = 0; k < (4 * blocks * (int)sizeof(WB) + 63) / 64; ++k) _mm_prefetch(p + 64 * k, _MM_HINT_T0);
}

// Four Q5 weight rows against one activation row (decode): the activation
// block, its Σ a and its scale are loaded once; bit-identical per row to q5_dot.
template <typename WB>
RSFIQA_TARGET_AVX2 inline void q5_dot_w4(int64_t n, const WB* const* x, const BlockQ8_0* y, float* out) {
  const int64_t nb = n / kQK5_0;
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t i = 0; i < nb; ++i) {
    q5_prefetch(x[0], i, 1);
    const __m256i a = _mm256_loadu_si256((const __m256i*)y[i].qs);
    const __m256i sa = q5_sum_a(a);
    const float dy = half(y[i].d);
    for (int r = 0; r < 4; ++r)
      acc[r] = q5_block(acc[r], q5_sum_qa(unpack_q5(x[r][i].qs, x[r][i].qh), a), sa, x[r][i], dy);
  }
  for (int r = 0; r < 4; ++r) out[r] = hsum_ps(acc[r]);
}

// Q4_K: levels are unsigned 0..15, so maddubs takes them directly; the
// sub-block scale is applied by madd with a broadcast int16.
RSFIQA_TARGET_AVX2 inline float vec_dot_q4_K_q8_K(int64_t n, const BlockQ4_K* x, const BlockQ8_K* y) {
  const int64_t nb = n / kQK_K;
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  float s = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    uint8_t sc[8], mn[8];
    for (int j = 0; j < 8; ++j) quant_detail::q4_k_scale_min(j, x[i].scales, &sc[j], &mn[j]);
    int32_t summ = 0;
    for (int j = 0; j < 8; ++j) summ += mn[j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
    __m256i sumi = _mm256_setzero_si256();
    for (int g = 0; g < 4; ++g) {
      const __m256i q = _mm256_loadu_si256((const __m256i*)(x[i].qs + 32 * g));
      const __m256i lo = _mm256_and_si256(q, m4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
      const __m256i plo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i*)(y[i].qs + 64 * g)));
      const __m256i phi = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i*)(y[i].qs + 64 * g + 32)));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(plo, _mm256_set1_epi16(sc[2 * g])));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(phi, _mm256_set1_epi16(sc[2 * g + 1])));
    }
    s += y[i].d * (half(x[i].d) * (float)hsum_epi32(sumi) - half(x[i].dmin) * (float)summ);
  }
  return s;
}

// The 4 runs of 32 unsigned 6-bit levels of one Q6_K half (128 weights).
RSFIQA_TARGET_AVX2 inline void unpack_q6_K_half(const uint8_t* ql, const uint8_t* qh, __m256i out[4]) {
  const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30);
  const __m256i l0 = _mm256_loadu_si256((const __m256i*)ql);
  const __m256i l1 = _mm256_loadu_si256((const __m256i*)(ql + 32));
  const __m256i h = _mm256_loadu_si256((const __m256i*)qh);
  // 16-bit shifts leak bits across byte lanes; the masks keep only the two
  // bits each byte needs in positions 4..5.
  out[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m2));
  out[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m2));
  out[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(h, m2));
  out[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                           _mm256_and_si256(_mm256_srli_epi16(h, 2), m2));
}

// Σ_g sc_g Σ (q-32) y = Σ_g sc_g Σ q y - 32 Σ_g sc_g bsums_g.
RSFIQA_TARGET_AVX2 inline float vec_dot_q6_K_q8_K(int64_t n, const BlockQ6_K* x, const BlockQ8_K* y) {
  const int64_t nb = n / kQK_K;
  float s = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    int32_t corr = 0;
    for (int g = 0; g < 16; ++g) corr += x[i].scales[g] * y[i].bsums[g];
    __m256i sumi = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      __m256i q[4];
      unpack_q6_K_half(x[i].ql + 64 * h, x[i].qh + 32 * h, q);
      const int8_t* sc = x[i].scales + 8 * h;
      for (int r = 0; r < 4; ++r) {
        const __m256i p = _mm256_maddubs_epi16(q[r], _mm256_loadu_si256((const __m256i*)(y[i].qs + 128 * h + 32 * r)));
        const __m256i scv = _mm256_set_m128i(_mm_set1_epi16(sc[2 * r + 1]), _mm_set1_epi16(sc[2 * r]));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scv));
      }
    }
    s += half(x[i].d) * y[i].d * (float)(hsum_epi32(sumi) - 32 * corr);
  }
  return s;
}


// ---- four activation rows per weight row (prefill): the weight block is
// loaded and unpacked once and meets 4 activation rows; per row the
// arithmetic and its order are those of the single-row kernel, so results
// are bit-identical to it.
RSFIQA_TARGET_AVX2 inline __m256i load_w(const BlockQ8_0* x) { return _mm256_loadu_si256((const __m256i*)x->qs); }
RSFIQA_TARGET_AVX2 inline __m256i load_w(const BlockQ4_0* x) { return unpack_q4_0(x->qs); }

template <typename WB>
RSFIQA_TARGET_AVX2 inline void dot_x4(int64_t n, const WB* x, const BlockQ8_0* const* y, float* out) {
  const int64_t nb = n / 32;
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t i = 0; i < nb; ++i) {
    const __m256i xv = load_w(x + i);
    const __m256i ax = _mm256_sign_epi8(xv, xv);
    const float dx = half(x[i].d);
    for (int r = 0; r < 4; ++r) {
      const __m256i yv = _mm256_loadu_si256((const __m256i*)y[r][i].qs);
      const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_sign_epi8(yv, xv)), _mm256_set1_epi16(1));
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dx * half(y[r][i].d)), acc[r]);
    }
  }
  for (int r = 0; r < 4; ++r) out[r] = hsum_ps(acc[r]);
}

// ---- four weight rows per activation row (decode): the activation block
// and its scale are loaded once for 4 weight rows; per row the arithmetic
// and its order are those of the single-row kernel (bit-identical).
template <typename WB>
RSFIQA_TARGET_AVX2 inline void dot_w4(int64_t n, const WB* const* x, const BlockQ8_0* y, float* out) {
  const int64_t nb = n / 32;
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t i = 0; i < nb; ++i) {
    const __m256i yv = _mm256_loadu_si256((const __m256i*)y[i].qs);
    const float dy = half(y[i].d);
    for (int r = 0; r < 4; ++r) {
      const __m256i xv = load_w(x[r] + i);
      const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(xv, xv), _mm256_sign_epi8(yv, xv)),
                                          _mm256_set1_epi16(1));
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(half(x[r][i].d) * dy), acc[r]);
    }
  }
  for (int r = 0; r < 4; ++r) out[r] = hsum_ps(acc[r]);
}
}  // namespace quant_avx2

// ================================================================ AVX-512
// GCC 12's AVX-512 intrinsic headers build results from _mm512_undefined_*,
// which -Wall reports as uninitialized at every inlined use; silence that here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
namespace quant_avx512 {

RSFIQA_TARGET_AVX512 inline float vec_dot_f32_f32(int64_t n, const float* x, const float* y) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), a0);
    a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), a1);
  }
  if (i < n) {  // masked tail: up to 31 more
    for (; i < n; i += 16) {
      const __mmask16 m = (n - i) >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
      a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i), a0);
    }
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

RSFIQA_TARGET_AVX512 inline float vec_dot_f16_f32(int64_t n, const uint16_t* x, const float* y) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(x + i))), _mm512_loadu_ps(y + i), a0);
    a1 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(x + i + 16))),
                         _mm512_loadu_ps(y + i + 16), a1);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = (n - i) >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
    a0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x + i)), _mm512_maskz_loadu_ps(m, y + i), a0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

RSFIQA_TARGET_AVX512 inline __m512 load_bf16(__mmask16 m, const uint16_t* p) {
  const __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}

RSFIQA_TARGET_AVX512 inline float vec_dot_bf16_f32(int64_t n, const uint16_t* x, const float* y) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm512_fmadd_ps(load_bf16(0xFFFF, x + i), _mm512_loadu_ps(y + i), a0);
    a1 = _mm512_fmadd_ps(load_bf16(0xFFFF, x + i + 16), _mm512_loadu_ps(y + i + 16), a1);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = (n - i) >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
    a0 = _mm512_fmadd_ps(load_bf16(m, x + i), _mm512_maskz_loadu_ps(m, y + i), a0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

// Two 32-byte halves (two blocks) in one register.
RSFIQA_TARGET_AVX512 inline __m512i join(__m256i lo, __m256i hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// Scale vector: d0 in lanes 0..7 (first block), d1 in lanes 8..15.
RSFIQA_TARGET_AVX512 inline __m512 scales2(float d0, float d1) {
  return _mm512_insertf32x8(_mm512_set1_ps(d0), _mm256_set1_ps(d1), 1);
}

// Signed x signed bytes -> 16 int32: |x| * (y with x's sign). AVX-512 has no
// sign_epi8, so negate y under the mask of x's sign bits. BW: maddubs+madd.
RSFIQA_TARGET_AVX512 inline __m512i dot_i8_bw(__m512i x, __m512i y) {
  const __m512i ax = _mm512_abs_epi8(x);
  const __m512i sy = _mm512_mask_sub_epi8(y, _mm512_movepi8_mask(x), _mm512_setzero_si512(), y);
  return _mm512_madd_epi16(_mm512_maddubs_epi16(ax, sy), _mm512_set1_epi16(1));
}

RSFIQA_TARGET_AVX512VNNI inline __m512i dot_i8_vnni(__m512i x, __m512i y) {
  const __m512i ax = _mm512_abs_epi8(x);
  const __m512i sy = _mm512_mask_sub_epi8(y, _mm512_movepi8_mask(x), _mm512_setzero_si512(), y);
  return _mm512_dpbusd_epi32(_mm512_setzero_si512(), ax, sy);
}

// Q8_0 x Q8_0 and Q4_0 x Q8_0, two blocks per step; `Vnni` picks the
// integer dot. An odd last block goes through the AVX2 body.
template <bool Vnni>
RSFIQA_TARGET_AVX512VNNI inline float q8_0_dot_impl(int64_t n, const BlockQ8_0* x, const BlockQ8_0* y) {
  const int64_t nb = n / kQK8_0;
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    const __m512i xv = join(_mm256_loadu_si256((const __m256i*)x[i].qs), _mm256_loadu_si256((const __m256i*)x[i + 1].qs));
    const __m512i yv = join(_mm256_loadu_si256((const __m256i*)y[i].qs), _mm256_loadu_si256((const __m256i*)y[i + 1].qs));
    const __m512i p = Vnni ? dot_i8_vnni(xv, yv) : dot_i8_bw(xv, yv);
    const __m512 d = scales2(_cvtsh_ss(x[i].d) * _cvtsh_ss(y[i].d), _cvtsh_ss(x[i + 1].d) * _cvtsh_ss(y[i + 1].d));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), d, acc);
  }
  float s = _mm512_reduce_add_ps(acc);
  if (i < nb) s += quant_avx2::vec_dot_q8_0_q8_0(kQK8_0, x + i, y + i);
  return s;
}

template <bool Vnni>
RSFIQA_TARGET_AVX512VNNI inline float q4_0_dot_impl(int64_t n, const BlockQ4_0* x, const BlockQ8_0* y) {
  const int64_t nb = n / kQK4_0;
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    const __m512i xv = join(quant_avx2::unpack_q4_0(x[i].qs), quant_avx2::unpack_q4_0(x[i + 1].qs));
    const __m512i yv = join(_mm256_loadu_si256((const __m256i*)y[i].qs), _mm256_loadu_si256((const __m256i*)y[i + 1].qs));
    const __m512i p = Vnni ? dot_i8_vnni(xv, yv) : dot_i8_bw(xv, yv);
    const __m512 d = scales2(_cvtsh_ss(x[i].d) * _cvtsh_ss(y[i].d), _cvtsh_ss(x[i + 1].d) * _cvtsh_ss(y[i + 1].d));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), d, acc);
  }
  float s = _mm512_reduce_add_ps(acc);
  if (i < nb) s += quant_avx2::vec_dot_q4_0_q8_0(kQK4_0, x + i, y + i);
  return s;
}

// The BW-only variants must not contain VNNI instructions, so they are
// separate functions with the plain AVX-512 target.
RSFIQA_TARGET_AVX512 inline float vec_dot_q8_0_q8_0(int64_t n, const BlockQ8_0* x, const BlockQ8_0* y) {
  const int64_t nb = n / kQK8_0;
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    const __m512i xv = join(_mm256_loadu_si256((const __m256i*)x[i].qs), _mm256_loadu_si256((const __m256i*)x[i + 1].qs));
    const __m512i yv = join(_mm256_loadu_si256((const __m256i*)y[i].qs), _mm256_loadu_si256((const __m256i*)y[i + 1].qs));
    const __m512 d = scales2(_cvtsh_ss(x[i].d) * _cvtsh_ss(y[i].d), _cvtsh_ss(x[i + 1].d) * _cvtsh_ss(y[i + 1].d));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot_i8_bw(xv, yv)), d, acc);
  }
  float s = _mm512_reduce_add_ps(acc);
  if (i < nb) s += quant_avx2::vec_dot_q8_0_q8_0(kQK8_0, x + i, y + i);
  return s;
}

RSFIQA_TARGET_AVX512 inline float vec_dot_q4_0_q8_0(int64_t n, const BlockQ4_0* x, const BlockQ8_0* y) {
  const int64_t nb = n / kQK4_0;
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    const __m512i xv = join(quant_avx2::unpack_q4_0(x[i].qs), quant_avx2::unpack_q4_0(x[i + 1].qs));
    const __m512i yv = join(_mm256_loadu_si256((const __m256i*)y[i].qs), _mm256_loadu_si256((const __m256i*)y[i + 1].qs));
    const __m512 d = scales2(_cvtsh_ss(x[i].d) * _cvtsh_ss(y[i].d), _cvtsh_ss(x[i + 1].d) * _cvtsh_ss(y[i + 1].d));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot_i8_bw(xv, yv)), d, acc);
  }
  float s = _mm512_reduce_add_ps(acc);
  if (i < nb) s += quant_avx2::vec_dot_q4_0_q8_0(kQK4_0, x + i, y + i);
  return s;
}

RSFIQA_TARGET_AVX512VNNI inline float vec_dot_q8_0_q8_0_vnni(int64_t n, const BlockQ8_0* x, const BlockQ8_0* y) {
  return q8_0_dot_impl<true>(n, x, y);
}
RSFIQA_TARGET_AVX512VNNI inline float vec_dot_q4_0_q8_0_vnni(int64_t n, const BlockQ4_0* x, const BlockQ8_0* y) {
  return q4_0_dot_impl<true>(n, x, y);
}

// Q5_0 / Q5_1 with VNNI, two blocks per step: dpbusd takes the unsigned
// levels directly (Σ q·a) and against a vector of ones gives Σ a; Q5_0
// subtracts 16·Σ a in int32, Q5_1 scales Σ a by m·d_y. An odd last block
// goes through the AVX2 body.

// The levels of two consecutive Q5 blocks (64 unsigned bytes, block x[0] in
// the low half): nibbles as unpack_q5, bit 4 from the 64-bit mask qh0 |
// qh1 << 32 (one mask bit per byte).
template <typename WB>
RSFIQA_TARGET_AVX512 inline __m512i unpack_q5_x2(const WB* x) {
  const __m128i m4 = _mm_set1_epi8(0x0F);
  const __m128i q0 = _mm_loadu_si128((const __m128i*)x[0].qs), q1 = _mm_loadu_si128((const __m128i*)x[1].qs);
  const __m256i n0 = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q0, 4), m4), _mm_and_si128(q0, m4));
  const __m256i n1 = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q1, 4), m4), _mm_and_si128(q1, m4));
  uint32_t h0, h1;
  std::memcpy(&h0, x[0].qh, 4);
  std::memcpy(&h1, x[1].qh, 4);
  const __mmask64 h = (__mmask64)h0 | (__mmask64)h1 << 32;
  return _mm512_or_si512(join(n0, n1), _mm512_maskz_mov_epi8(h, _mm512_set1_epi8(0x10)));
}

// Two blocks' contribution (see quant_avx2::q5_block), scales per half.
RSFIQA_TARGET_AVX512 inline __m512 q5_block2(__m512 acc, __m512i qa, __m512i sa, const BlockQ5_0* x, float dy0,
                                             float dy1) {
  const __m512i r = _mm512_sub_epi32(qa, _mm512_slli_epi32(sa, 4));
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(r), scales2(_cvtsh_ss(x[0].d) * dy0, _cvtsh_ss(x[1].d) * dy1), acc);
}
RSFIQA_TARGET_AVX512 inline __m512 q5_block2(__m512 acc, __m512i qa, __m512i sa, const BlockQ5_1* x, float dy0,
                                             float dy1) {
  acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(qa), scales2(_cvtsh_ss(x[0].d) * dy0, _cvtsh_ss(x[1].d) * dy1), acc);
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(sa), scales2(_cvtsh_ss(x[0].m) * dy0, _cvtsh_ss(x[1].m) * dy1), acc);
}

RSFIQA_TARGET_AVX512VNNI inline __m512i load_a2(const BlockQ8_0* y) {
  return join(_mm256_loadu_si256((const __m256i*)y[0].qs), _mm256_loadu_si256((const __m256i*)y[1].qs));
}
RSFIQA_TARGET_AVX512VNNI inline __m512i dp_qa(__m512i q, __m512i a) {
  return _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, a);
}
RSFIQA_TARGET_AVX512VNNI inline __m512i dp_sa(__m512i a) {
  return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(1), a);
}

template <typename WB>
RSFIQA_TARGET_AVX512VNNI inline float q5_dot_vnni(int64_t n, const WB* x, const BlockQ8_0* y) {
  const int64_t nb = n / kQK5_0;
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    const __m512i a = load_a2(y + i);
    acc = q5_block2(acc, dp_qa(unpack_q5_x2(x + i), a), dp_sa(a), x + i, _cvtsh_ss(y[i].d), _cvtsh_ss(y[i + 1].d));
  }
  float s = _mm512_reduce_add_ps(acc);
  if (i < nb) s += quant_avx2::q5_dot(kQK5_0, x + i, y + i);
  return s;
}
RSFIQA_TARGET_AVX512VNNI inline float vec_dot_q5_0_q8_0_vnni(int64_t n, const BlockQ5_0* x, const BlockQ8_0* y) {
  return q5_dot_vnni(n, x, y);
}
RSFIQA_TARGET_AVX512VNNI inline float vec_dot_q5_1_q8_0_vnni(int64_t n, const BlockQ5_1* x, const BlockQ8_0* y) {
  return q5_dot_vnni(n, x, y);
}

// One weight row x four activation rows, bit-identical per row to q5_dot_vnni.
template <typename WB>
RSFIQA_TARGET_AVX512VNNI inline void q5_dot_x4_vnni(int64_t n, const WB* x, const BlockQ8_0* const* y, float* out) {
  const int64_t nb = n / kQK5_0;
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    const __m512i q = unpack_q5_x2(x + i);
    for (int r = 0; r < 4; ++r) {
      const __m512i a = load_a2(y[r] + i);
      acc[r] = q5_block2(acc[r], dp_qa(q, a), dp_sa(a), x + i, _cvtsh_ss(y[r][i].d), _cvtsh_ss(y[r][i + 1].d));
    }
  }
  for (int r = 0; r < 4; ++r) {
    out[r] = _mm512_reduce_add_ps(acc[r]);
    if (i < nb) out[r] += quant_avx2::q5_dot(kQK5_0, x + i, y[r] + i);
  }
}

// Four weight rows x one activation row, bit-identical per row to q5_dot_vnni.
template <typename WB>
RSFIQA_TARGET_AVX512VNNI inline void q5_dot_w4_vnni(int64_t n, const WB* const* x, const BlockQ8_0* y, float* out) {
  const int64_t nb = n / kQK5_0;
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    quant_avx2::q5_prefetch(x[0], i, 2);
    const __m512i a = load_a2(y + i);
    const __m512i sa = dp_sa(a);
    const float dy0 = _cvtsh_ss(y[i].d), dy1 = _cvtsh_ss(y[i + 1].d);
    for (int r = 0; r < 4; ++r) acc[r] = q5_block2(acc[r], dp_qa(unpack_q5_x2(x[r] + i), a), sa, x[r] + i, dy0, dy1);
  }
  for (int r = 0; r < 4; ++r) {
    out[r] = _mm512_reduce_add_ps(acc[r]);
    if (i < nb) out[r] += quant_avx2::q5_dot(kQK5_0, x[r] + i, y + i);
  }
}

// Four weight rows x four activation rows (prefill): out[4*r + j] = dot of
// weight row x[j] with activation row y[r]. Each weight pair is unpacked
// once for 4 activation rows and each activation pair (with its Σ a) once
// for 4 weight rows; the block scales are multiplied as vectors (lane-wise
// the same products as q5_block2), so every result equals q5_dot_vnni's
// bit for bit.
RSFIQA_TARGET_AVX512VNNI inline __m512 q5_tile_step(__m512 acc, __m512i qa, __m512i sa, const BlockQ5_0* x, __m512 dx,
                                                    __m512 dy) {
  (void)x;
  const __m512i r = _mm512_sub_epi32(qa, _mm512_slli_epi32(sa, 4));
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(r), _mm512_mul_ps(dx, dy), acc);
}
RSFIQA_TARGET_AVX512VNNI inline __m512 q5_tile_step(__m512 acc, __m512i qa, __m512i sa, const BlockQ5_1* x, __m512 dx,
                                                    __m512 dy) {
  acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(qa), _mm512_mul_ps(dx, dy), acc);
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(sa), _mm512_mul_ps(scales2(_cvtsh_ss(x[0].m), _cvtsh_ss(x[1].m)), dy), acc);
}

template <typename WB>
RSFIQA_TARGET_AVX512VNNI inline void q5_tile4x4_vnni(int64_t n, const WB* const* x, const BlockQ8_0* const* y,
                                                     float* out) {
  const int64_t nb = n / kQK5_0;
  __m512 acc[4][4];
  for (int r = 0; r < 4; ++r)
    for (int j = 0; j < 4; ++j) acc[r][j] = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    __m512i q[4];
    __m512 dx[4];
    for (int j = 0; j < 4; ++j) {
      q[j] = unpack_q5_x2(x[j] + i);
      dx[j] = scales2(_cvtsh_ss(x[j][i].d), _cvtsh_ss(x[j][i + 1].d));
    }
    for (int r = 0; r < 4; ++r) {
      const __m512i a = load_a2(y[r] + i);
      const __m512i sa = dp_sa(a);
      const __m512 dy = scales2(_cvtsh_ss(y[r][i].d), _cvtsh_ss(y[r][i + 1].d));
      for (int j = 0; j < 4; ++j) acc[r][j] = q5_tile_step(acc[r][j], dp_qa(q[j], a), sa, x[j] + i, dx[j], dy);
    }
  }
  for (int r = 0; r < 4; ++r)
    for (int j = 0; j < 4; ++j) {
      out[4 * r + j] = _mm512_reduce_add_ps(acc[r][j]);
      if (i < nb) out[4 * r + j] += quant_avx2::q5_dot(kQK5_0, x[j] + i, y[r] + i);
    }
}

// Q4_K with 256-bit VNNI: dpbusd takes the unsigned levels directly; the
// sub-block scale multiplies the 8 int32 partial sums.
RSFIQA_TARGET_AVX512VNNI inline float vec_dot_q4_K_q8_K_vnni(int64_t n, const BlockQ4_K* x, const BlockQ8_K* y) {
  const int64_t nb = n / kQK_K;
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  float s = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    uint8_t sc[8], mn[8];
    for (int j = 0; j < 8; ++j) quant_detail::q4_k_scale_min(j, x[i].scales, &sc[j], &mn[j]);
    int32_t summ = 0;
    for (int j = 0; j < 8; ++j) summ += mn[j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
    __m256i sumi = _mm256_setzero_si256();
    for (int g = 0; g < 4; ++g) {
      const __m256i q = _mm256_loadu_si256((const __m256i*)(x[i].qs + 32 * g));
      const __m256i lo = _mm256_and_si256(q, m4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
      const __m256i plo =
          _mm256_dpbusd_epi32(_mm256_setzero_si256(), lo, _mm256_loadu_si256((const __m256i*)(y[i].qs + 64 * g)));
      const __m256i phi =
          _mm256_dpbusd_epi32(_mm256_setzero_si256(), hi, _mm256_loadu_si256((const __m256i*)(y[i].qs + 64 * g + 32)));
      sumi = _mm256_add_epi32(sumi, _mm256_mullo_epi32(plo, _mm256_set1_epi32(sc[2 * g])));
      sumi = _mm256_add_epi32(sumi, _mm256_mullo_epi32(phi, _mm256_set1_epi32(sc[2 * g + 1])));
    }
    s += y[i].d * (_cvtsh_ss(x[i].d) * (float)quant_avx2::hsum_epi32(sumi) - _cvtsh_ss(x[i].dmin) * (float)summ);
  }
  return s;
}

// Q6_K with 256-bit VNNI: one dpbusd per 16-weight group pair, then the two
// group scales (lanes 0..3 and 4..7 of each 128-bit half) multiply.
RSFIQA_TARGET_AVX512VNNI inline float vec_dot_q6_K_q8_K_vnni(int64_t n, const BlockQ6_K* x, const BlockQ8_K* y) {
  const int64_t nb = n / kQK_K;
  float s = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    int32_t corr = 0;
    for (int g = 0; g < 16; ++g) corr += x[i].scales[g] * y[i].bsums[g];
    __m256i sumi = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      __m256i q[4];
      quant_avx2::unpack_q6_K_half(x[i].ql + 64 * h, x[i].qh + 32 * h, q);
      const int8_t* sc = x[i].scales + 8 * h;
      for (int r = 0; r < 4; ++r) {
        // Elements 0..15 of the run land in int32 lanes 0..3, 16..31 in 4..7.
        const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q[r],
                                              _mm256_loadu_si256((const __m256i*)(y[i].qs + 128 * h + 32 * r)));
        const __m256i scv = _mm256_set_m128i(_mm_set1_epi32(sc[2 * r + 1]), _mm_set1_epi32(sc[2 * r]));
        sumi = _mm256_add_epi32(sumi, _mm256_mullo_epi32(p, scv));
      }
    }
    s += _cvtsh_ss(x[i].d) * y[i].d * (float)(quant_avx2::hsum_epi32(sumi) - 32 * corr);
  }
  return s;
}


// ---- four activation rows per weight row (see quant_avx2::dot_x4).
RSFIQA_TARGET_AVX512 inline __m512i load_w2(const BlockQ8_0* x) {
  return join(_mm256_loadu_si256((const __m256i*)x[0].qs), _mm256_loadu_si256((const __m256i*)x[1].qs));
}
RSFIQA_TARGET_AVX512 inline __m512i load_w2(const BlockQ4_0* x) {
  return join(quant_avx2::unpack_q4_0(x[0].qs), quant_avx2::unpack_q4_0(x[1].qs));
}

template <typename WB>
RSFIQA_TARGET_AVX512 inline void dot_x4_bw(int64_t n, const WB* x, const BlockQ8_0* const* y, float* out) {
  const int64_t nb = n / 32;
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    const __m512i xv = load_w2(x + i);
    const __m512i ax = _mm512_abs_epi8(xv);
    const __mmask64 neg = _mm512_movepi8_mask(xv);
    const float dx0 = _cvtsh_ss(x[i].d), dx1 = _cvtsh_ss(x[i + 1].d);
    for (int r = 0; r < 4; ++r) {
      const __m512i yv =
          join(_mm256_loadu_si256((const __m256i*)y[r][i].qs), _mm256_loadu_si256((const __m256i*)y[r][i + 1].qs));
      const __m512i sy = _mm512_mask_sub_epi8(yv, neg, _mm512_setzero_si512(), yv);
      const __m512i p = _mm512_madd_epi16(_mm512_maddubs_epi16(ax, sy), _mm512_set1_epi16(1));
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), scales2(dx0 * _cvtsh_ss(y[r][i].d), dx1 * _cvtsh_ss(y[r][i + 1].d)),
                               acc[r]);
    }
  }
  for (int r = 0; r < 4; ++r) {
    out[r] = _mm512_reduce_add_ps(acc[r]);
    if (i < nb) {  // odd last block: the AVX2 body, as in the single-row kernel
      const BlockQ8_0* yr[4] = {y[r] + i, y[r] + i, y[r] + i, y[r] + i};
      float tail[4];
      quant_avx2::dot_x4(32, x + i, yr, tail);
      out[r] += tail[0];
    }
  }
}

template <typename WB>
RSFIQA_TARGET_AVX512VNNI inline void dot_x4_vnni(int64_t n, const WB* x, const BlockQ8_0* const* y, float* out) {
  const int64_t nb = n / 32;
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    const __m512i xv = load_w2(x + i);
    const __m512i ax = _mm512_abs_epi8(xv);
    const __mmask64 neg = _mm512_movepi8_mask(xv);
    const float dx0 = _cvtsh_ss(x[i].d), dx1 = _cvtsh_ss(x[i + 1].d);
    for (int r = 0; r < 4; ++r) {
      const __m512i yv =
          join(_mm256_loadu_si256((const __m256i*)y[r][i].qs), _mm256_loadu_si256((const __m256i*)y[r][i + 1].qs));
      const __m512i sy = _mm512_mask_sub_epi8(yv, neg, _mm512_setzero_si512(), yv);
      const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ax, sy);
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), scales2(dx0 * _cvtsh_ss(y[r][i].d), dx1 * _cvtsh_ss(y[r][i + 1].d)),
                               acc[r]);
    }
  }
  for (int r = 0; r < 4; ++r) {
    out[r] = _mm512_reduce_add_ps(acc[r]);
    if (i < nb) {
      const BlockQ8_0* yr[4] = {y[r] + i, y[r] + i, y[r] + i, y[r] + i};
      float tail[4];
      quant_avx2::dot_x4(32, x + i, yr, tail);
      out[r] += tail[0];
    }
  }
}

// ---- four weight rows per activation row (see quant_avx2::dot_w4).
#define RSFIQA_QDOT_W4_BODY(IDOT)                                                                                   \
  const int64_t nb = n / 32;                                                                                        \
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};             \
  int64_t i = 0;                                                                                                    \
  for (; i + 2 <= nb; i += 2) {                                                                                     \
    const __m512i yv = join(_mm256_loadu_si256((const __m256i*)y[i].qs), _mm256_loadu_si256((const __m256i*)y[i + 1].qs)); \
    const float dy0 = _cvtsh_ss(y[i].d), dy1 = _cvtsh_ss(y[i + 1].d);                                               \
    for (int r = 0; r < 4; ++r) {                                                                                   \
      const __m512i xv = load_w2(x[r] + i);                                                                         \
      const __m512i ax = _mm512_abs_epi8(xv);                                                                       \
      const __m512i sy = _mm512_mask_sub_epi8(yv, _mm512_movepi8_mask(xv), _mm512_setzero_si512(), yv);             \
      const __m512i p = IDOT;                                                                                       \
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p),                                                               \
                               scales2(_cvtsh_ss(x[r][i].d) * dy0, _cvtsh_ss(x[r][i + 1].d) * dy1), acc[r]);        \
    }                                                                                                               \
  }                                                                                                                 \
  for (int r = 0; r < 4; ++r) {                                                                                     \
    out[r] = _mm512_reduce_add_ps(acc[r]);                                                                          \
    if (i < nb) {                                                                                                   \
      const WB* xr[4] = {x[r] + i, x[r] + i, x[r] + i, x[r] + i};                                                   \
      float tail[4];                                                                                                \
      quant_avx2::dot_w4(32, xr, y + i, tail);                                                                      \
      out[r] += tail[0];                                                                                            \
    }                                                                                                               \
  }

template <typename WB>
RSFIQA_TARGET_AVX512 inline void dot_w4_bw(int64_t n, const WB* const* x, const BlockQ8_0* y, float* out) {
  RSFIQA_QDOT_W4_BODY(_mm512_madd_epi16(_mm512_maddubs_epi16(ax, sy), _mm512_set1_epi16(1)))
}
template <typename WB>
RSFIQA_TARGET_AVX512VNNI inline void dot_w4_vnni(int64_t n, const WB* const* x, const BlockQ8_0* y, float* out) {
  RSFIQA_QDOT_W4_BODY(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ax, sy))
}
#undef RSFIQA_QDOT_W4_BODY
}  // namespace quant_avx512
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif  // RSFIQA_X86_SIMD

// ================================================================ dispatch

// Activation format a weight type's dot product consumes.
enum class ActFormat { kF32, kQ8_0, kQ8_K };

inline ActFormat act_format(DType w) {
  switch (w) {
    case DType::kQ8_0: case DType::kQ4_0: case DType::kQ5_0: case DType::kQ5_1: return ActFormat::kQ8_0;
    case DType::kQ4_K: case DType::kQ6_K: return ActFormat::kQ8_K;
    default: return ActFormat::kF32;
  }
}

// Bytes of one activation row of k values in format f (k a multiple of the
// format's block size).
inline int64_t act_row_bytes(ActFormat f, int64_t k) {
  switch (f) {
    case ActFormat::kQ8_0: return k / kQK8_0 * (int64_t)sizeof(BlockQ8_0);
    case ActFormat::kQ8_K: return k / kQK_K * (int64_t)sizeof(BlockQ8_K);
    case ActFormat::kF32: break;
  }
  return k * 4;
}

// Converts one f32 activation row to format f (reference rounding; the Q8_0
// path uses the bit-identical SIMD quantizer of quant_gemm.hpp).
inline void quantize_act_row(ActFormat f, const float* x, void* dst, int64_t k) {
  switch (f) {
    case ActFormat::kQ8_0: quantize_row_q8_0(x, (BlockQ8_0*)dst, k, active_isa()); return;
    case ActFormat::kQ8_K: quantize_row_q8_K_ref(x, (BlockQ8_K*)dst, k); return;
    case ActFormat::kF32: std::memcpy(dst, x, (size_t)k * 4); return;
  }
}

// A weight-row dot: n elements of weights w (row bytes of the weight type)
// with one activation row a in act_format(type).
using RowDotFn = float (*)(int64_t n, const void* w, const void* a);

namespace quant_detail {
template <typename W, typename A, float (*F)(int64_t, const W*, const A*)>
inline float erase_dot(int64_t n, const void* w, const void* a) {
  return F(n, (const W*)w, (const A*)a);
}
}  // namespace quant_detail

// The dot kernel for weight type w at ISA level `isa` (nullptr for a type
// without one). `isa` is normally active_isa(); tests force lower levels.
inline RowDotFn row_dot_fn(DType w, Isa isa) {
  using quant_detail::erase_dot;
#if RSFIQA_X86_SIMD
  if (isa >= Isa::kAvx512) {
    const bool vnni = cpu_features().avx512vnni;
    switch (w) {
      case DType::kF32: return erase_dot<float, float, quant_avx512::vec_dot_f32_f32>;
      case DType::kF16: return erase_dot<uint16_t, float, quant_avx512::vec_dot_f16_f32>;
      case DType::kBF16: return erase_dot<uint16_t, float, quant_avx512::vec_dot_bf16_f32>;
      case DType::kQ8_0:
        return vnni ? erase_dot<BlockQ8_0, BlockQ8_0, quant_avx512::vec_dot_q8_0_q8_0_vnni>
                    : erase_dot<BlockQ8_0, BlockQ8_0, quant_avx512::vec_dot_q8_0_q8_0>;
      case DType::kQ4_0:
        return vnni ? erase_dot<BlockQ4_0, BlockQ8_0, quant_avx512::vec_dot_q4_0_q8_0_vnni>
                    : erase_dot<BlockQ4_0, BlockQ8_0, quant_avx512::vec_dot_q4_0_q8_0>;
      case DType::kQ5_0:
        return vnni ? erase_dot<BlockQ5_0, BlockQ8_0, quant_avx512::vec_dot_q5_0_q8_0_vnni>
                    : erase_dot<BlockQ5_0, BlockQ8_0, quant_avx2::vec_dot_q5_0_q8_0>;
      case DType::kQ5_1:
        return vnni ? erase_dot<BlockQ5_1, BlockQ8_0, quant_avx512::vec_dot_q5_1_q8_0_vnni>
                    : erase_dot<BlockQ5_1, BlockQ8_0, quant_avx2::vec_dot_q5_1_q8_0>;
      case DType::kQ4_K:
        return vnni ? erase_dot<BlockQ4_K, BlockQ8_K, quant_avx512::vec_dot_q4_K_q8_K_vnni>
                    : erase_dot<BlockQ4_K, BlockQ8_K, quant_avx2::vec_dot_q4_K_q8_K>;
      case DType::kQ6_K:
        return vnni ? erase_dot<BlockQ6_K, BlockQ8_K, quant_avx512::vec_dot_q6_K_q8_K_vnni>
                    : erase_dot<BlockQ6_K, BlockQ8_K, quant_avx2::vec_dot_q6_K_q8_K>;
      default: return nullptr;
    }
  }
  if (isa >= Isa::kAvx2) {
    switch (w) {
      case DType::kF32: return erase_dot<float, float, quant_avx2::vec_dot_f32_f32>;
      case DType::kF16: return erase_dot<uint16_t, float, quant_avx2::vec_dot_f16_f32>;
      case DType::kBF16: return erase_dot<uint16_t, float, quant_avx2::vec_dot_bf16_f32>;
      case DType::kQ8_0: return erase_dot<BlockQ8_0, BlockQ8_0, quant_avx2::vec_dot_q8_0_q8_0>;
      case DType::kQ4_0: return erase_dot<BlockQ4_0, BlockQ8_0, quant_avx2::vec_dot_q4_0_q8_0>;
      case DType::kQ5_0: return erase_dot<BlockQ5_0, BlockQ8_0, quant_avx2::vec_dot_q5_0_q8_0>;
      case DType::kQ5_1: return erase_dot<BlockQ5_1, BlockQ8_0, quant_avx2::vec_dot_q5_1_q8_0>;
      case DType::kQ4_K: return erase_dot<BlockQ4_K, BlockQ8_K, quant_avx2::vec_dot_q4_K_q8_K>;
      case DType::kQ6_K: return erase_dot<BlockQ6_K, BlockQ8_K, quant_avx2::vec_dot_q6_K_q8_K>;
      default: return nullptr;
    }
  }
#endif
  (void)isa;
  switch (w) {
    case DType::kF32: return erase_dot<float, float, vec_dot_f32_f32_ref>;
    case DType::kF16: return erase_dot<uint16_t, float, vec_dot_f16_f32_ref>;
    case DType::kBF16: return erase_dot<uint16_t, float, vec_dot_bf16_f32_ref>;
    case DType::kQ8_0: return erase_dot<BlockQ8_0, BlockQ8_0, vec_dot_q8_0_q8_0_ref>;
    case DType::kQ4_0: return erase_dot<BlockQ4_0, BlockQ8_0, vec_dot_q4_0_q8_0_ref>;
    case DType::kQ5_0: return erase_dot<BlockQ5_0, BlockQ8_0, vec_dot_q5_0_q8_0_ref>;
    case DType::kQ5_1: return erase_dot<BlockQ5_1, BlockQ8_0, vec_dot_q5_1_q8_0_ref>;
    case DType::kQ4_K: return erase_dot<BlockQ4_K, BlockQ8_K, vec_dot_q4_K_q8_K_ref>;
    case DType::kQ6_K: return erase_dot<BlockQ6_K, BlockQ8_K, vec_dot_q6_K_q8_K_ref>;
    default: return nullptr;
  }
}

// One weight row against four activation rows a[0..3] (prefill). Q8_0,
// Q4_0, Q5_0 and Q5_1 weights have one; results equal four row_dot_fn calls
// bit for bit.
using RowDot4Fn = void (*)(int64_t n, const void* w, const void* const* a, float* out);

namespace quant_detail {
template <typename W, float (*F)(int64_t, const W*, const BlockQ8_0*)>
inline void ref_x4(int64_t n, const void* w, const void* const* a, float* out) {
  for (int r = 0; r < 4; ++r) out[r] = F(n, (const W*)w, (const BlockQ8_0*)a[r]);
}
template <typename W, void (*F)(int64_t, const W*, const BlockQ8_0* const*, float*)>
inline void erase_x4(int64_t n, const void* w, const void* const* a, float* out) {
  F(n, (const W*)w, (const BlockQ8_0* const*)a, out);
}
}  // namespace quant_detail

namespace quant_detail {
// Q5_0 / Q5_1 x4 kernels at an ISA level (nullptr for another type).
inline RowDot4Fn q5_dot4_fn(DType w, Isa isa) {
  if (w != DType::kQ5_0 && w != DType::kQ5_1) return nullptr;
  const bool q50 = w == DType::kQ5_0;
#if RSFIQA_X86_SIMD
  if (isa >= Isa::kAvx512 && cpu_features().avx512vnni)
    return q50 ? erase_x4<BlockQ5_0, quant_avx512::q5_dot_x4_vnni<BlockQ5_0>>
               : erase_x4<BlockQ5_1, quant_avx512::q5_dot_x4_vnni<BlockQ5_1>>;
  if (isa >= Isa::kAvx2)
    return q50 ? erase_x4<BlockQ5_0, quant_avx2::q5_dot_x4<BlockQ5_0>>
               : erase_x4<BlockQ5_1, quant_avx2::q5_dot_x4<BlockQ5_1>>;
#endif
  (void)isa;
  return q50 ? ref_x4<BlockQ5_0, vec_dot_q5_0_q8_0_ref> : ref_x4<BlockQ5_1, vec_dot_q5_1_q8_0_ref>;
}
}  // namespace quant_detail

inline RowDot4Fn row_dot4_fn(DType w, Isa isa) {
  using quant_detail::erase_x4;
  if (w == DType::kQ5_0 || w == DType::kQ5_1) return quant_detail::q5_dot4_fn(w, isa);
  if (w != DType::kQ8_0 && w != DType::kQ4_0) return nullptr;
  const bool q8 = w == DType::kQ8_0;
#if RSFIQA_X86_SIMD
  if (isa >= Isa::kAvx512) {
    if (cpu_features().avx512vnni)
      return q8 ? erase_x4<BlockQ8_0, quant_avx512::dot_x4_vnni<BlockQ8_0>>
                : erase_x4<BlockQ4_0, quant_avx512::dot_x4_vnni<BlockQ4_0>>;
    return q8 ? erase_x4<BlockQ8_0, quant_avx512::dot_x4_bw<BlockQ8_0>>
              : erase_x4<BlockQ4_0, quant_avx512::dot_x4_bw<BlockQ4_0>>;
  }
  if (isa >= Isa::kAvx2)
    return q8 ? erase_x4<BlockQ8_0, quant_avx2::dot_x4<BlockQ8_0>> : erase_x4<BlockQ4_0, quant_avx2::dot_x4<BlockQ4_0>>;
#endif
  (void)isa;
  return q8 ? quant_detail::ref_x4<BlockQ8_0, vec_dot_q8_0_q8_0_ref> : quant_detail::ref_x4<BlockQ4_0, vec_dot_q4_0_q8_0_ref>;
}

// Four weight rows w[0..3] against one activation row (decode). Q8_0, Q4_0,
// Q5_0 and Q5_1; results equal four row_dot_fn calls bit for bit.
using RowDotW4Fn = void (*)(int64_t n, const void* const* w, const void* a, float* out);

namespace quant_detail {
template <typename W, float (*F)(int64_t, const W*, const BlockQ8_0*)>
inline void ref_w4(int64_t n, const void* const* w, const void* a, float* out) {
  for (int r = 0; r < 4; ++r) out[r] = F(n, (const W*)w[r], (const BlockQ8_0*)a);
}
template <typename W, void (*F)(int64_t, const W* const*, const BlockQ8_0*, float*)>
inline void erase_w4(int64_t n, const void* const* w, const void* a, float* out) {
  F(n, (const W* const*)w, (const BlockQ8_0*)a, out);
}
}  // namespace quant_detail

namespace quant_detail {
// Q5_0 / Q5_1 w4 kernels at an ISA level (nullptr for another type).
inline RowDotW4Fn q5_dot_w4_fn(DType w, Isa isa) {
  if (w != DType::kQ5_0 && w != DType::kQ5_1) return nullptr;
  const bool q50 = w == DType::kQ5_0;
#if RSFIQA_X86_SIMD
  if (isa >= Isa::kAvx512 && cpu_features().avx512vnni)
    return q50 ? erase_w4<BlockQ5_0, quant_avx512::q5_dot_w4_vnni<BlockQ5_0>>
               : erase_w4<BlockQ5_1, quant_avx512::q5_dot_w4_vnni<BlockQ5_1>>;
  if (isa >= Isa::kAvx2)
    return q50 ? erase_w4<BlockQ5_0, quant_avx2::q5_dot_w4<BlockQ5_0>>
               : erase_w4<BlockQ5_1, quant_avx2::q5_dot_w4<BlockQ5_1>>;
#endif
  (void)isa;
  return q50 ? ref_w4<BlockQ5_0, vec_dot_q5_0_q8_0_ref> : ref_w4<BlockQ5_1, vec_dot_q5_1_q8_0_ref>;
}
}  // namespace quant_detail

inline RowDotW4Fn row_dot_w4_fn(DType w, Isa isa) {
  using quant_detail::erase_w4;
  if (w == DType::kQ5_0 || w == DType::kQ5_1) return quant_detail::q5_dot_w4_fn(w, isa);
  if (w != DType::kQ8_0 && w != DType::kQ4_0) return nullptr;
  const bool q8 = w == DType::kQ8_0;
#if RSFIQA_X86_SIMD
  if (isa >= Isa::kAvx512) {
    if (cpu_features().avx512vnni)
      return q8 ? erase_w4<BlockQ8_0, quant_avx512::dot_w4_vnni<BlockQ8_0>>
                : erase_w4<BlockQ4_0, quant_avx512::dot_w4_vnni<BlockQ4_0>>;
    return q8 ? erase_w4<BlockQ8_0, quant_avx512::dot_w4_bw<BlockQ8_0>>
              : erase_w4<BlockQ4_0, quant_avx512::dot_w4_bw<BlockQ4_0>>;
  }
  if (isa >= Isa::kAvx2)
    return q8 ? erase_w4<BlockQ8_0, quant_avx2::dot_w4<BlockQ8_0>> : erase_w4<BlockQ4_0, quant_avx2::dot_w4<BlockQ4_0>>;
#endif
  (void)isa;
  return q8 ? quant_detail::ref_w4<BlockQ8_0, vec_dot_q8_0_q8_0_ref> : quant_detail::ref_w4<BlockQ4_0, vec_dot_q4_0_q8_0_ref>;
}

// Four weight rows w[0..3] x four activation rows a[0..3] (prefill):
// out[4*r + j] = dot(w[j], a[r]), equal to row_dot_fn's results bit for bit.
// Q5_0 and Q5_1 on AVX-512 VNNI CPUs; nullptr otherwise.
using RowDotTileFn = void (*)(int64_t n, const void* const* w, const void* const* a, float* out);

namespace quant_detail {
template <typename W, void (*F)(int64_t, const W* const*, const BlockQ8_0* const*, float*)>
inline void erase_tile(int64_t n, const void* const* w, const void* const* a, float* out) {
  F(n, (const W* const*)w, (const BlockQ8_0* const*)a, out);
}
}  // namespace quant_detail

inline RowDotTileFn row_dot_tile_fn(DType w, Isa isa) {
#if RSFIQA_X86_SIMD
  if (isa >= Isa::kAvx512 && cpu_features().avx512vnni) {
    if (w == DType::kQ5_0) return quant_detail::erase_tile<BlockQ5_0, quant_avx512::q5_tile4x4_vnni<BlockQ5_0>>;
    if (w == DType::kQ5_1) return quant_detail::erase_tile<BlockQ5_1, quant_avx512::q5_tile4x4_vnni<BlockQ5_1>>;
  }
#endif
  (void)w;
  (void)isa;
  return nullptr;
}

// Name of the kernel row_dot_fn picks, for logs and benchmarks.
inline const char* row_dot_kernel_name(Isa isa) {
#if RSFIQA_X86_SIMD
  if (isa >= Isa::kAvx512) return cpu_features().avx512vnni ? "avx512vnni" : "avx512bw";
  if (isa >= Isa::kAvx2) return "avx2";
#endif
  (void)isa;
  return "scalar";
}

// One matrix product for mul_mat_multi: y[m*ldy + n] = dot(W row n,
// activation row m) for n in [0, N), m in [0, M). W: N rows of `w_row_bytes`
// bytes, type wt, K elements each; act: M rows of
// act_row_bytes(act_format(wt), K) bytes.
struct MatMulJob {
  DType wt = DType::kF32;
  const void* W = nullptr;
  int64_t w_row_bytes = 0, N = 0, K = 0;
  const void* act = nullptr;
  int64_t M = 0;
  float* y = nullptr;
  int64_t ldy = 0;
};

namespace quant_detail {

constexpr int64_t kRowTile = 16;  // weight rows per work item

// Rows [n0, n1) of one job. Q8_0/Q4_0 go through the register tiles of
// quant_gemm.hpp (4 activation rows x 4 weight rows; 1 x 4 with prefetch for
// a single activation row), as do Q5_0/Q5_1, Q4_K and Q6_K when `packed` is given
// (x8);
// other cases through the per-row dots, with
// 4 x 4 tiles where one exists (Q5_0/Q5_1 on VNNI), else four activation
// rows per weight row where an x4 kernel exists, and four weight rows per
// activation row for the remaining rows where a w4 kernel exists (Q5_0/Q5_1).
// `packed`: the activations as ceil(M/8) groups of BlockQ8_0x8 rows (K/32
// blocks each; for Q4_K/Q6_K, BlockQ8_Kx8 rows of K/256 super-blocks) when the
// x8 tiles are used, else nullptr.
// `corr`: for one activation row against Q4_0 weights on a VNNI CPU, the
// per-block offsets of q4_0_act_corr (the w8 mat-vec), else nullptr.
inline void run_row_tile(const MatMulJob& jb, int64_t n0, int64_t n1, Isa isa, const void* packed,
                         const int32_t* corr) {
  const uint8_t* wb = (const uint8_t*)jb.W;
  const uint8_t* ab = (const uint8_t*)jb.act;
  const int64_t a_bytes = act_row_bytes(act_format(jb.wt), jb.K);
  const int64_t M = jb.M, K = jb.K, ldy = jb.ldy;
  float* y = jb.y;
  if (corr) {
    // Groups of 8 weight rows; a rest of fewer goes through the 1 x 4 tiles.
    const Gemv8Fn fn = gemv8_q4_0_fn(isa);
    for (; n0 + 8 <= n1; n0 += 8) fn(K, wb + n0 * jb.w_row_bytes, jb.w_row_bytes, (const BlockQ8_0*)ab, corr, y + n0);
    if (n0 == n1) return;
  }
  if (packed) {
    // Up to 32 activation rows (four packed groups) x 4 weight rows per call.
    const bool q4k = jb.wt == DType::kQ4_K || jb.wt == DType::kQ6_K;  // Q8_K packings
    const int64_t nb = q4k ? K / kQK_K : K / 32, ngroups = (M + 7) / 8;
    float out[32 * kMaxX8Groups];
    for (int64_t g = 0; g < ngroups; g += kMaxX8Groups) {
      const int G = ngroups - g >= kMaxX8Groups ? kMaxX8Groups : (int)(ngroups - g);
      const QTileX8Fn fn = q4k ? nullptr : qtile_x8_fn(jb.wt, G, isa);
      const QTileX8KFn fnk = q4k ? qtile_x8_k_fn(jb.wt, G, isa) : nullptr;
      const BlockQ8_0x8* a[kMaxX8Groups];
      const BlockQ8_Kx8* ak[kMaxX8Groups];
      for (int k = 0; k < kMaxX8Groups; ++k) {
        a[k] = (const BlockQ8_0x8*)packed + (g + (k < G ? k : 0)) * nb;
        ak[k] = (const BlockQ8_Kx8*)packed + (g + (k < G ? k : 0)) * nb;
      }
      const int64_t rows = M - 8 * g < 8 * G ? M - 8 * g : 8 * G;
      for (int64_t n = n0; n < n1; n += 4) {
        const void* w[4];
        for (int j = 0; j < 4; ++j) w[j] = wb + (n + j < n1 ? n + j : n1 - 1) * jb.w_row_bytes;
        if (q4k) {
          fnk(K, w, ak, out);
        } else {
          fn(K, w, a, out);
        }
        const int nj = n1 - n < 4 ? (int)(n1 - n) : 4;
        for (int64_t r = 0; r < rows; ++r)
          for (int j = 0; j < nj; ++j) y[(8 * g + r) * ldy + n + j] = out[r * 4 + j];
      }
    }
    return;
  }
  if (jb.wt == DType::kQ8_0 || jb.wt == DType::kQ4_0) {
    for (int64_t m = 0; m < M; m += 4) {
      const int mr = M - m < 4 ? (int)(M - m) : 4;
      const QTileFn fn = qtile_fn(jb.wt, mr, isa, M == 1);
      const void* a[4];
      for (int r = 0; r < 4; ++r) a[r] = ab + (m + (r < mr ? r : 0)) * a_bytes;
      float out[16];
      for (int64_t n = n0; n < n1; n += 4) {
        // A short last group repeats its last row; those outputs are dropped.
        const void* w[4];
        for (int j = 0; j < 4; ++j) w[j] = wb + (n + j < n1 ? n + j : n1 - 1) * jb.w_row_bytes;
        fn(K, w, a, out);
        const int nj = n1 - n < 4 ? (int)(n1 - n) : 4;
        for (int r = 0; r < mr; ++r)
          for (int j = 0; j < nj; ++j) y[(m + r) * ldy + n + j] = out[r * 4 + j];
      }
    }
    return;
  }
  const RowDotFn dot = row_dot_fn(jb.wt, isa);
  const RowDot4Fn dot4 = M >= 4 ? row_dot4_fn(jb.wt, isa) : nullptr;
  const RowDotTileFn tile = M >= 4 ? row_dot_tile_fn(jb.wt, isa) : nullptr;
  int64_t m = 0;
  if (tile) {
    // 4 activation rows x 4 weight rows per call; a short last group of
    // weight rows repeats its last row and those outputs are dropped.
    float out[16];
    for (; m + 4 <= M; m += 4) {
      const void* a4[4] = {ab + m * a_bytes, ab + (m + 1) * a_bytes, ab + (m + 2) * a_bytes, ab + (m + 3) * a_bytes};
      for (int64_t n = n0; n < n1; n += 4) {
        const void* w4[4];
        for (int j = 0; j < 4; ++j) w4[j] = wb + (n + j < n1 ? n + j : n1 - 1) * jb.w_row_bytes;
        tile(K, w4, a4, out);
        const int nj = n1 - n < 4 ? (int)(n1 - n) : 4;
        for (int r = 0; r < 4; ++r)
          for (int j = 0; j < nj; ++j) y[(m + r) * ldy + n + j] = out[4 * r + j];
      }
    }
  }
  if (dot4) {
    float r4[4];
    for (; m + 4 <= M; m += 4) {
      const void* a4[4] = {ab + m * a_bytes, ab + (m + 1) * a_bytes, ab + (m + 2) * a_bytes, ab + (m + 3) * a_bytes};
      for (int64_t n = n0; n < n1; ++n) {
        dot4(K, wb + n * jb.w_row_bytes, a4, r4);
        for (int r = 0; r < 4; ++r) y[(m + r) * ldy + n] = r4[r];
      }
    }
  }
  // Remaining activation rows (all of them in decode): four weight rows per
  // call where a w4 kernel exists (Q5_0/Q5_1; equal to four single dots).
  const RowDotW4Fn dotw4 = row_dot_w4_fn(jb.wt, isa);
  for (; m < M; ++m) {
    int64_t n = n0;
    if (dotw4) {
      float r4[4];
      for (; n + 4 <= n1; n += 4) {
        const void* w4[4] = {wb + n * jb.w_row_bytes, wb + (n + 1) * jb.w_row_bytes, wb + (n + 2) * jb.w_row_bytes,
                             wb + (n + 3) * jb.w_row_bytes};
        dotw4(K, w4, ab + m * a_bytes, r4);
        for (int j = 0; j < 4; ++j) y[m * ldy + n + j] = r4[j];
      }
    }
    for (; n < n1; ++n) y[m * ldy + n] = dot(K, wb + n * jb.w_row_bytes, ab + m * a_bytes);
  }
}

}  // namespace quant_detail

// Runs several independent products (e.g. the Q, K and V projections of one
// input) in one parallel region: their weight rows form one list of 16-row
// work items split over threads with parallel_for. Each output is computed by
// one kernel call whose shape does not depend on the thread count, so results
// are identical for every thread count. Returns false (computing nothing)
// if a job's type has no dot kernel.
inline bool mul_mat_multi(const MatMulJob* jobs, int njobs, int threads = 0) {
  constexpr int kMaxJobs = 8;
  if (njobs < 1 || njobs > kMaxJobs) return false;
  const Isa isa = active_isa();
  int64_t first_tile[kMaxJobs + 1] = {0};
  int64_t work = 0;  // multiply-adds, to size the thread team
  for (int j = 0; j < njobs; ++j) {
    if (!row_dot_fn(jobs[j].wt, isa)) return false;
    first_tile[j + 1] = first_tile[j] + (jobs[j].N + quant_detail::kRowTile - 1) / quant_detail::kRowTile;
    work += jobs[j].N * jobs[j].K * (jobs[j].M > 0 ? jobs[j].M : 1);
  }
  const int64_t ntiles = first_tile[njobs];
  if (ntiles == 0) return true;
  // Many activation rows against Q8_0/Q4_0/Q5_x/Q4_K/Q6_K weights on a VNNI CPU: pack
  // the rows 8 at a time for the x8 tiles, once per distinct activation
  // input and weight level offset (the packed corr depends on it).
  // The buffers only grow (no allocation once the largest batch was seen).
  // The groups are packed by the thread team below, before the tiles start.
  // Q4_K and Q6_K weights take Q8_K activations, packed as BlockQ8_Kx8
  // (their own buffers; offset -1 below marks them apart from the Q8_0
  // packings, so a Q4_K and a Q6_K job of one input share a packing).
  thread_local std::vector<BlockQ8_0x8> pack_buf[kMaxJobs];
  thread_local std::vector<BlockQ8_Kx8> pack_buf_k[kMaxJobs];
  const void* packed[kMaxJobs] = {nullptr};
  void* pack_dst[kMaxJobs] = {nullptr};     // the buffers packed here (thread_local: other threads use these pointers)
  int64_t first_group[kMaxJobs + 1] = {0};  // pack work: groups of the jobs that own a buffer
  auto k_packed = [](DType wt) { return wt == DType::kQ4_K || wt == DType::kQ6_K; };
  auto pack_offset = [&](DType wt) { return k_packed(wt) ? -1 : x8_level_offset(wt); };
  for (int j = 0; j < njobs; ++j) {
    const MatMulJob& jb = jobs[j];
    first_group[j + 1] = first_group[j];
    if (!(x8_weight_type(jb.wt) || k_packed(jb.wt)) || jb.M < 8 || !qtile_x8_available(isa)) continue;
    const int32_t offset = pack_offset(jb.wt);
    for (int k = 0; k < j && !packed[j]; ++k)
      if (packed[k] && jobs[k].act == jb.act && jobs[k].K == jb.K && jobs[k].M == jb.M &&
          pack_offset(jobs[k].wt) == offset)
        packed[j] = packed[k];
    if (packed[j]) continue;
    const int64_t ngroups = (jb.M + 7) / 8;
    if (k_packed(jb.wt)) {
      std::vector<BlockQ8_Kx8>& buf = pack_buf_k[j];
      const int64_t nb = jb.K / kQK_K;
      if ((int64_t)buf.size() < ngroups * nb) buf.resize((size_t)(ngroups * nb));
      pack_dst[j] = buf.data();
    } else {
      std::vector<BlockQ8_0x8>& buf = pack_buf[j];
      const int64_t nb = jb.K / 32;
      if ((int64_t)buf.size() < ngroups * nb) buf.resize((size_t)(ngroups * nb));
      pack_dst[j] = buf.data();
    }
    packed[j] = pack_dst[j];
    first_group[j + 1] += ngroups;
  }
  const int64_t ngroups_total = first_group[njobs];
  auto pack_group = [&](int64_t u) {
    int j = 0;
    while (u >= first_group[j + 1]) ++j;
    const MatMulJob& jb = jobs[j];
    const int64_t g = u - first_group[j];
    const int64_t a_bytes = act_row_bytes(act_format(jb.wt), jb.K);
    const uint8_t* rows[8];
    for (int r = 0; r < 8; ++r) rows[r] = 8 * g + r < jb.M ? (const uint8_t*)jb.act + (8 * g + r) * a_bytes : nullptr;
    if (k_packed(jb.wt)) {
      const int64_t nb = jb.K / kQK_K;
      const BlockQ8_K* rk[8];
      for (int r = 0; r < 8; ++r) rk[r] = (const BlockQ8_K*)rows[r];
      pack_act_q8_k_x8(rk, nb, (BlockQ8_Kx8*)pack_dst[j] + g * nb, isa);
    } else {
      const int64_t nb = jb.K / 32;
      const BlockQ8_0* r0[8];
      for (int r = 0; r < 8; ++r) r0[r] = (const BlockQ8_0*)rows[r];
      pack_act_x8(r0, nb, jb.wt, (BlockQ8_0x8*)pack_dst[j] + g * nb, isa);
    }
  };
  // One activation row against Q4_0 weights: the w8 mat-vec needs the
  // per-block level offsets, once per distinct activation input.
  thread_local std::vector<int32_t> corr_buf[kMaxJobs];
  const int32_t* corr[kMaxJobs] = {nullptr};
  for (int j = 0; j < njobs; ++j) {
    const MatMulJob& jb = jobs[j];
    if (jb.wt != DType::kQ4_0 || jb.M != 1 || !gemv8_q4_0_fn(isa)) continue;
    for (int k = 0; k < j && !corr[j]; ++k)
      if (corr[k] && jobs[k].act == jb.act && jobs[k].K == jb.K) corr[j] = corr[k];
    if (corr[j]) continue;
    std::vector<int32_t>& buf = corr_buf[j];
    if ((int64_t)buf.size() < jb.K / 32) buf.resize((size_t)(jb.K / 32));
    q4_0_act_corr((const BlockQ8_0*)jb.act, jb.K / 32, buf.data());
    corr[j] = buf.data();
  }
  // Small products stay on one thread: a parallel region costs microseconds
  // (far more on a loaded machine), so each thread gets >= ~64K multiply-adds.
  const int64_t tile_work = work / ntiles > 0 ? work / ntiles : 1;
  const int64_t min_tiles = tile_work >= (1 << 16) ? 1 : ((1 << 16) + tile_work - 1) / tile_work;
  auto run_tile = [&](int64_t t) {
    int j = 0;
    while (t >= first_tile[j + 1]) ++j;
    const MatMulJob& jb = jobs[j];
    const int64_t n0 = (t - first_tile[j]) * quant_detail::kRowTile;
    const int64_t n1 = n0 + quant_detail::kRowTile < jb.N ? n0 + quant_detail::kRowTile : jb.N;
    quant_detail::run_row_tile(jb, n0, n1, isa, packed[j], corr[j]);
  };
  int team = threads > 0 ? threads : get_num_threads();
  if ((int64_t)team > ntiles / min_tiles) team = (int)(ntiles / min_tiles);
  if (team <= 1 || in_parallel_region()) {
    for (int64_t u = 0; u < ngroups_total; ++u) pack_group(u);
    for (int64_t t = 0; t < ntiles; ++t) run_tile(t);
    return true;
  }
  // Tiles are dealt by TeamChunks (each thread its contiguous share first,
  // then help): a static split makes every thread wait for one that another
  // process slowed down. Each tile is one kernel call whatever thread runs
  // it, so results do not depend on the schedule. Packing is split the same
  // way, and a barrier separates it from the tiles that read every group.
  TeamChunks pack_chunks, chunks;
  pack_chunks.reset(team);
  chunks.reset(team);
  parallel_team(
      [&](int t, int, TeamBarrier& barrier) {
        if (ngroups_total > 0) {
          for (int64_t u = pack_chunks.take(t, ngroups_total); u >= 0; u = pack_chunks.take(t, ngroups_total))
            pack_group(u);
          barrier.wait();
        }
        for (int64_t i = chunks.take(t, ntiles); i >= 0; i = chunks.take(t, ntiles)) run_tile(i);
      },
      team);
  return true;
}

// ---- Decode building blocks for callers that run their own thread team
// (parallel_team): one activation row, a caller-chosen row range, no
// threads started here.

// True when a single activation row against weights of type wt uses the
// w8 Q4_0 mat-vec, which needs the per-block offsets of q4_0_act_corr.
inline bool matvec_needs_corr(DType wt, Isa isa) { return wt == DType::kQ4_0 && gemv8_q4_0_fn(isa) != nullptr; }

// Rows [n0, n1) of jb (jb.M must be 1) on the calling thread. `corr`: the
// q4_0_act_corr offsets of jb.act when matvec_needs_corr(jb.wt), else
// ignored. When n0 and n1 are multiples of 8 (or n1 is the row count) every
// row's result equals that of one mul_mat_rows call over the whole matrix.
// Returns false (computing nothing) for a type without a dot kernel.
inline bool matvec_rows(const MatMulJob& jb, int64_t n0, int64_t n1, const int32_t* corr, Isa isa) {
  if (jb.M != 1 || !row_dot_fn(jb.wt, isa)) return false;
  if (n0 >= n1) return true;
  if (!matvec_needs_corr(jb.wt, isa)) corr = nullptr;
  if (corr && n0 % 8 != 0) {
    // Leading rows up to the next multiple of 8 through the 1 x 4 tiles.
    const int64_t head_end = (n0 / 8 + 1) * 8 < n1 ? (n0 / 8 + 1) * 8 : n1;
    quant_detail::run_row_tile(jb, n0, head_end, isa, nullptr, nullptr);
    n0 = head_end;
    if (n0 == n1) return true;
  }
  quant_detail::run_row_tile(jb, n0, n1, isa, nullptr, corr);
  return true;
}

// One product (see MatMulJob): y[m*ldy + n] = dot(W row n, activation row m).
inline bool mul_mat_rows(DType wt, const void* W, int64_t w_row_bytes, int64_t N, int64_t K, const void* act,
                         int64_t M, float* y, int64_t ldy, int threads = 0) {
  MatMulJob jb;
  jb.wt = wt;
  jb.W = W;
  jb.w_row_bytes = w_row_bytes;
  jb.N = N;
  jb.K = K;
  jb.act = act;
  jb.M = M;
  jb.y = y;
  jb.ldy = ldy;
  return mul_mat_multi(&jb, 1, threads);
}

}  // namespace rsfiqa::kernels

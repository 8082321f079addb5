// SPDX-License-Identifier: MIT
// Numerically stable softmax of one row, with an optional additive bias and
// an optional boolean mask applied first:
//
//   s_i = x_i + bias_i              (bias may be null)
//   s_i = -inf where mask_i == 0    (mask may be null; nonzero = attend, as
//                                    PyTorch's boolean attn_mask True)
//   y_i = exp(s_i - max_j s_j) / sum_j exp(s_j - max_j s_j)
//
// A row whose entries are all masked (or all -inf) gives all zeros, where
// PyTorch would give NaN: zero attention weight is the useful answer and
// keeps NaN out of later layers. y may alias x. Single-threaded; the
// attention and softmax ops call it from parallel_for bodies.
//
// softmax_columns_f32 is the same over the `rows` entries of each of n
// columns (rows ld floats apart), with a per-row bias: the SAM decoder's
// image-to-token attention, where each pixel's weights over the few tokens
// sum to one and the pixels are the contiguous direction.
// The SIMD versions use the vectorised exp of kernels/elementwise.hpp.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "rsfiqa/core/config.hpp"
#include "rsfiqa/core/cpu.hpp"
#include "rsfiqa/kernels/elementwise.hpp"

#if RSFIQA_X86_SIMD
#include <immintrin.h>
#endif

namespace rsfiqa::kernels {

// The oracle: biased/masked scores into y, their max, exp and sum, normalise.
inline void softmax_f32_ref(int64_t n, const float* x, const float* bias, const uint8_t* mask, float* y) {
  const float ninf = -std::numeric_limits<float>::infinity();
  float mx = ninf;
  for (int64_t i = 0; i < n; ++i) {
    float s = x[i] + (bias ? bias[i] : 0.0f);
    if (mask && !mask[i]) s = ninf;
    y[i] = s;
    mx = s > mx ? s : mx;
  }
  if (mx == ninf) {  // nothing to attend to
    for (int64_t i = 0; i < n; ++i) y[i] = 0.0f;
    return;
  }
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    y[i] = std::exp(y[i] - mx);
    sum += y[i];
  }
  const float inv = 1.0f / sum;
  for (int64_t i = 0; i < n; ++i) y[i] *= inv;
}

// y[r·ld + j] = softmax over r of (x[r·ld + j] + bias[r]) for every column
// j < n; bias may be null. A column of -inf gives zeros (as softmax_f32).
inline void softmax_columns_f32_ref(int64_t rows, int64_t n, const float* x, int64_t ld, const float* bias, float* y) {
  const float ninf = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < n; ++j) {
    float mx = ninf;
    for (int64_t r = 0; r < rows; ++r) {
      const float s = x[r * ld + j] + (bias ? bias[r] : 0.0f);
      mx = s > mx ? s : mx;
    }
    if (mx == ninf) mx = 0.0f;  // every entry -inf: exp gives zeros, and so does the result
    float sum = 0.0f;
    for (int64_t r = 0; r < rows; ++r) {
      const float e = std::exp(x[r * ld + j] + (bias ? bias[r] : 0.0f) - mx);
      y[r * ld + j] = e;
      sum += e;
    }
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    for (int64_t r = 0; r < rows; ++r) y[r * ld + j] *= inv;
  }
}

#if RSFIQA_X86_SIMD
RSFIQA_SIMD_DIAGNOSTICS_BEGIN_
RSFIQA_TARGET_AVX2 inline void softmax_f32_avx2(int64_t n, const float* x, const float* bias, const uint8_t* mask,
                                                float* y) {
  const float ninf = -std::numeric_limits<float>::infinity();
  // Pass 1: biased, masked scores into y, and their max.
  if (bias || mask) {
    for (int64_t i = 0; i < n; ++i) {
      const float s = x[i] + (bias ? bias[i] : 0.0f);
      y[i] = (mask && !mask[i]) ? ninf : s;
    }
    x = y;
  }
  const float mx = vec_max_f32_avx2(n, x);
  if (mx == ninf) {
    for (int64_t i = 0; i < n; ++i) y[i] = 0.0f;
    return;
  }
  // Pass 2: y = exp(s - max) and the running sum.
  const __m256 vmx = _mm256_set1_ps(mx);
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = avx2::vm::exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmx));
    _mm256_storeu_ps(y + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  if (i < n) {
    const __m256i m = avx2::vm::tail_mask(n - i);
    const __m256 e =
        _mm256_and_ps(avx2::vm::exp_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), vmx)), _mm256_castsi256_ps(m));
    _mm256_maskstore_ps(y + i, m, e);
    acc = _mm256_add_ps(acc, e);
  }
  // Pass 3: normalise.
  vec_scale_f32_avx2(n, y, 1.0f / avx2::vm::hsum(acc), y);
}

// Same three passes on 16 lanes; the mask bytes are compared to zero with a
// byte-granular mask compare and turn the corresponding scores into -inf.
RSFIQA_TARGET_AVX512 inline void softmax_f32_avx512(int64_t n, const float* x, const float* bias, const uint8_t* mask,
                                                    float* y) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const __m512 vninf = _mm512_set1_ps(ninf);
  if (bias || mask) {
    for (int64_t i = 0; i < n; i += 16) {
      const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : avx512::vm::tail_mask(n - i);
      __m512 s = _mm512_maskz_loadu_ps(m, x + i);
      if (bias) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(m, bias + i));
      if (mask) {
        // Lanes whose mask byte is zero become -inf.
        const __m128i mb = _mm_maskz_loadu_epi8(m, mask + i);
        const __mmask16 off = _mm_cmpeq_epi8_mask(mb, _mm_setzero_si128());
        s = _mm512_mask_mov_ps(s, off, vninf);
      }
      _mm512_mask_storeu_ps(y + i, m, s);
    }
    x = y;
  }
  // Pass 2: exp(s - max) (masked lanes zeroed so they stay out of the sum).
  const float mx = vec_max_f32_avx512(n, x);
  if (mx == ninf) {
    for (int64_t i = 0; i < n; ++i) y[i] = 0.0f;
    return;
  }
  const __m512 vmx = _mm512_set1_ps(mx);
  __m512 acc = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : avx512::vm::tail_mask(n - i);
    const __m512 e = _mm512_maskz_mov_ps(m, avx512::vm::exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vmx)));
    _mm512_mask_storeu_ps(y + i, m, e);
    acc = _mm512_add_ps(acc, e);
  }
  // Pass 3: normalise by the sum (one division, n multiplications).
  vec_scale_f32_avx512(n, y, 1.0f / avx512::vm::hsum(acc), y);
}

// Column softmax, 16 columns per step: the rows x 16 block is read for the
// maximum, again for exp and the sum (stored), and y once more to normalise.
RSFIQA_TARGET_AVX512 inline void softmax_columns_f32_avx512(int64_t rows, int64_t n, const float* x, int64_t ld,
                                                            const float* bias, float* y) {
  const __m512 vninf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = n - j >= 16 ? (__mmask16)0xffff : avx512::vm::tail_mask(n - j);
    __m512 mx = vninf;
    for (int64_t r = 0; r < rows; ++r) {
      __m512 s = _mm512_maskz_loadu_ps(m, x + r * ld + j);
      if (bias) s = _mm512_add_ps(s, _mm512_set1_ps(bias[r]));
      mx = _mm512_max_ps(mx, s);
    }
    mx = _mm512_mask_mov_ps(mx, _mm512_cmp_ps_mask(mx, vninf, _CMP_EQ_OQ), _mm512_setzero_ps());
    __m512 sum = _mm512_setzero_ps();
    for (int64_t r = 0; r < rows; ++r) {
      __m512 s = _mm512_maskz_loadu_ps(m, x + r * ld + j);
      if (bias) s = _mm512_add_ps(s, _mm512_set1_ps(bias[r]));
      const __m512 e = _mm512_maskz_mov_ps(m, avx512::vm::exp_ps(_mm512_sub_ps(s, mx)));
      _mm512_mask_storeu_ps(y + r * ld + j, m, e);
      sum = _mm512_add_ps(sum, e);
    }
    const __mmask16 pos = _mm512_cmp_ps_mask(sum, _mm512_setzero_ps(), _CMP_GT_OQ);
    const __m512 inv = _mm512_maskz_div_ps(pos, _mm512_set1_ps(1.0f), sum);
    for (int64_t r = 0; r < rows; ++r)
      _mm512_mask_storeu_ps(y + r * ld + j, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, y + r * ld + j), inv));
  }
}
RSFIQA_SIMD_DIAGNOSTICS_END_
#endif  // RSFIQA_X86_SIMD

// Dispatch on the active ISA.
inline void softmax_f32(int64_t n, const float* x, const float* bias, const uint8_t* mask, float* y) {
  RSFIQA_VEC_DISPATCH_(softmax_f32, n, x, bias, mask, y);
}
// AVX-512 or the reference (which compilers vectorise over the columns).
inline void softmax_columns_f32(int64_t rows, int64_t n, const float* x, int64_t ld, const float* bias, float* y) {
#if RSFIQA_X86_SIMD
  if (active_isa() == Isa::kAvx512) return softmax_columns_f32_avx512(rows, n, x, ld, bias, y);
#endif
  softmax_columns_f32_ref(rows, n, x, ld, bias, y);
}

}  // namespace rsfiqa::kernels

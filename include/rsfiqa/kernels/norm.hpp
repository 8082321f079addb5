// SPDX-License-Identifier: MIT
// Normalisation kernels:
//   layer_norm_f32    one row of n values: y = (x - mean) / sqrt(var + eps) * gamma + beta
//                     (torch.nn.functional.layer_norm over the last dim; biased variance)
//   rms_norm_f32      one row: y = x / sqrt(mean(x²) + eps) * gamma (LLaMA's RMSNorm)
//   channel_norm_f32  P pixels of a channels-first block: for every pixel p the
//                     C values x[c·stride + p] are layer-normalised together,
//                     which is SAM's LayerNorm2d on an NCHW tensor. The SIMD
//                     versions vectorise across pixels, where memory is
//                     contiguous.
//   channel_add_norm_f32  the same on x + r (a residual added first, read
//                     from its own rows), optionally returning each pixel's
//                     mean and 1/sqrt(var + eps): one pass over the block
//                     where an add, a norm and a statistics pass were three.
//
// gamma and beta may be null (meaning ones and zeros). Mean and variance use
// two passes over the data (mean first, then the centred sum of squares),
// which avoids the cancellation of the E[x²] - E[x]² form. Kernels are
// single-threaded; ops/norm.hpp spreads rows over threads. `_ref` twins are
// the oracles; SIMD versions differ only by summation order.
#pragma once

#include <cmath>
#include <cstdint>

#include "rsfiqa/core/config.hpp"
#include "rsfiqa/core/cpu.hpp"
#include "rsfiqa/kernels/elementwise.hpp"

#if RSFIQA_X86_SIMD
#include <immintrin.h>
#endif

namespace rsfiqa::kernels {

// ------------------------------------------------------------ scalar references

inline void layer_norm_f32_ref(int64_t n, const float* x, const float* gamma, const float* beta, float eps, float* y) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += x[i];
  const float mean = sum / (float)n;
  float sq = 0.0f;
  for (int64_t i = 0; i < n; ++i) sq += (x[i] - mean) * (x[i] - mean);
  const float rstd = 1.0f / std::sqrt(sq / (float)n + eps);
  for (int64_t i = 0; i < n; ++i) {
    const float g = gamma ? gamma[i] : 1.0f;
    const float b = beta ? beta[i] : 0.0f;
    y[i] = (x[i] - mean) * rstd * g + b;
  }
}

inline void rms_norm_f32_ref(int64_t n, const float* x, const float* gamma, float eps, float* y) {
  float sq = 0.0f;
  for (int64_t i = 0; i < n; ++i) sq += x[i] * x[i];
  const float rms_inv = 1.0f / std::sqrt(sq / (float)n + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * rms_inv * (gamma ? gamma[i] : 1.0f);
}

// x and y hold C rows of `stride` floats; pixels [0, P) of each row are used.
// gamma/beta have C entries (one per channel). r (may be null) holds C rows
// of `r_stride` floats added to x first; mean_out / rstd_out (may be null)
// receive the P means and 1/sqrt(var + eps) of x + r.
inline void channel_add_norm_f32_ref(int64_t C, int64_t P, int64_t stride, const float* x, const float* r,
                                     int64_t r_stride, const float* gamma, const float* beta, float eps, float* y,
                                     float* mean_out, float* rstd_out) {
  auto at = [&](int64_t c, int64_t p) { return r ? x[c * stride + p] + r[c * r_stride + p] : x[c * stride + p]; };
  for (int64_t p = 0; p < P; ++p) {
    float sum = 0.0f;
    for (int64_t c = 0; c < C; ++c) sum += at(c, p);
    const float mean = sum / (float)C;
    float sq = 0.0f;
    for (int64_t c = 0; c < C; ++c) sq += (at(c, p) - mean) * (at(c, p) - mean);
    const float rstd = 1.0f / std::sqrt(sq / (float)C + eps);
    if (mean_out) mean_out[p] = mean;
    if (rstd_out) rstd_out[p] = rstd;
    for (int64_t c = 0; c < C; ++c) {
      const float g = gamma ? gamma[c] : 1.0f;
      const float b = beta ? beta[c] : 0.0f;
      y[c * stride + p] = (at(c, p) - mean) * rstd * g + b;
    }
  }
}

inline void channel_norm_f32_ref(int64_t C, int64_t P, int64_t stride, const float* x, const float* gamma,
                                 const float* beta, float eps, float* y) {
  channel_add_norm_f32_ref(C, P, stride, x, nullptr, 0, gamma, beta, eps, y, nullptr, nullptr);
}

// Largest channel count the SIMD channel norms copy into their on-stack
// block buffer (16 x 1024 floats = 64 KiB); larger C reads the source rows
// three times instead.
constexpr int64_t kChannelNormPackMaxC = 1024;

#if RSFIQA_X86_SIMD
RSFIQA_SIMD_DIAGNOSTICS_BEGIN_
// ------------------------------------------------------------ AVX2 + FMA

// Pass 1: mean (vector sum). Pass 2: centred sum of squares with FMA.
// Pass 3: y = (x - mean)·rstd·gamma + beta, gamma/beta optional.
RSFIQA_TARGET_AVX2 inline void layer_norm_f32_avx2(int64_t n, const float* x, const float* gamma, const float* beta,
                                                   float eps, float* y) {
  const float mean = vec_sum_f32_avx2(n, x) / (float)n;
  const __m256 vmean = _mm256_set1_ps(mean);
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), vmean);
    acc = _mm256_fmadd_ps(d, d, acc);
  }
  float sq = avx2::vm::hsum(acc);
  for (; i < n; ++i) sq += (x[i] - mean) * (x[i] - mean);
  const float rstd = 1.0f / std::sqrt(sq / (float)n + eps);
  const __m256 vr = _mm256_set1_ps(rstd);
  i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmean), vr);
    if (gamma) v = _mm256_mul_ps(v, _mm256_loadu_ps(gamma + i));
    if (beta) v = _mm256_add_ps(v, _mm256_loadu_ps(beta + i));
    _mm256_storeu_ps(y + i, v);
  }
  for (; i < n; ++i) y[i] = (x[i] - mean) * rstd * (gamma ? gamma[i] : 1.0f) + (beta ? beta[i] : 0.0f);
}

// mean(x²) is a dot product of x with itself; then one scaling pass.
RSFIQA_TARGET_AVX2 inline void rms_norm_f32_avx2(int64_t n, const float* x, const float* gamma, float eps, float* y) {
  const float rms_inv = 1.0f / std::sqrt(vec_dot_f32_avx2(n, x, x) / (float)n + eps);
  const __m256 vr = _mm256_set1_ps(rms_inv);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), vr);
    if (gamma) v = _mm256_mul_ps(v, _mm256_loadu_ps(gamma + i));
    _mm256_storeu_ps(y + i, v);
  }
  for (; i < n; ++i) y[i] = x[i] * rms_inv * (gamma ? gamma[i] : 1.0f);
}

// One channel row of 8 pixels of x (+ r when r is not null).
RSFIQA_TARGET_AVX2 inline __m256 channel_load_avx2(const float* x, const float* r) {
  const __m256 v = _mm256_loadu_ps(x);
  return r ? _mm256_add_ps(v, _mm256_loadu_ps(r)) : v;
}

// Channel norm, 8 pixels per step: each lane walks the C channels of one
// pixel. The C x 8 block is first copied into a small contiguous buffer while
// its sum is taken: the source rows are `stride` floats apart (often a power
// of two), so re-reading them for the variance and output passes would keep
// evicting each other from the cache; the packed copy stays in L1.
RSFIQA_TARGET_AVX2 inline void channel_add_norm_f32_avx2(int64_t C, int64_t P, int64_t stride, const float* x,
                                                         const float* r, int64_t r_stride, const float* gamma,
                                                         const float* beta, float eps, float* y, float* mean_out,
                                                         float* rstd_out) {
  alignas(32) float buf[8 * kChannelNormPackMaxC];
  // Without the copy, x + r is formed again in every pass.
  const bool pack = C <= kChannelNormPackMaxC;
  const __m256 inv_c = _mm256_set1_ps(1.0f / (float)C);
  const __m256 veps = _mm256_set1_ps(eps);
  int64_t p = 0;
  for (; p + 8 <= P; p += 8) {
    // Pass 1: sum over channels (and pack).
    __m256 sum = _mm256_setzero_ps();
    for (int64_t c = 0; c < C; ++c) {
      const __m256 v = channel_load_avx2(x + c * stride + p, r ? r + c * r_stride + p : nullptr);
      if (pack) _mm256_store_ps(buf + c * 8, v);
      sum = _mm256_add_ps(sum, v);
    }
    const __m256 mean = _mm256_mul_ps(sum, inv_c);
    // Pass 2: centred sum of squares.
    __m256 sq = _mm256_setzero_ps();
    for (int64_t c = 0; c < C; ++c) {
      const __m256 v = pack ? _mm256_load_ps(buf + c * 8)
                            : channel_load_avx2(x + c * stride + p, r ? r + c * r_stride + p : nullptr);
      const __m256 d = _mm256_sub_ps(v, mean);
      sq = _mm256_fmadd_ps(d, d, sq);
    }
    const __m256 rstd = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_sqrt_ps(_mm256_fmadd_ps(sq, inv_c, veps)));
    if (mean_out) _mm256_storeu_ps(mean_out + p, mean);
    if (rstd_out) _mm256_storeu_ps(rstd_out + p, rstd);
    // Pass 3: normalise, scale and shift each channel row.
    for (int64_t c = 0; c < C; ++c) {
      __m256 v = pack ? _mm256_load_ps(buf + c * 8)
                      : channel_load_avx2(x + c * stride + p, r ? r + c * r_stride + p : nullptr);
      v = _mm256_mul_ps(_mm256_sub_ps(v, mean), rstd);
      if (gamma) v = _mm256_mul_ps(v, _mm256_set1_ps(gamma[c]));
      if (beta) v = _mm256_add_ps(v, _mm256_set1_ps(beta[c]));
      _mm256_storeu_ps(y + c * stride + p, v);
    }
  }
  // Fewer than 8 pixels left: the reference handles them.
  if (p < P)
    channel_add_norm_f32_ref(C, P - p, stride, x + p, r ? r + p : nullptr, r_stride, gamma, beta, eps, y + p,
                             mean_out ? mean_out + p : nullptr, rstd_out ? rstd_out + p : nullptr);
}

// ------------------------------------------------------------ AVX-512

// Same three passes as the AVX2 version; tails use lane masks, and the
// masked-off lanes of the centred values are zeroed so they add nothing.
RSFIQA_TARGET_AVX512 inline void layer_norm_f32_avx512(int64_t n, const float* x, const float* gamma, const float* beta,
                                                       float eps, float* y) {
  const float mean = vec_sum_f32_avx512(n, x) / (float)n;
  const __m512 vmean = _mm512_set1_ps(mean);
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 d = _mm512_sub_ps(_mm512_loadu_ps(x + i), vmean);
    acc = _mm512_fmadd_ps(d, d, acc);
  }
  if (i < n) {
    const __mmask16 m = avx512::vm::tail_mask(n - i);
    const __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x + i), vmean);
    acc = _mm512_fmadd_ps(d, d, acc);
  }
  const float rstd = 1.0f / std::sqrt(avx512::vm::hsum(acc) / (float)n + eps);
  const __m512 vr = _mm512_set1_ps(rstd);
  const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
  for (i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : avx512::vm::tail_mask(n - i);
    __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vmean), vr);
    if (gamma) v = _mm512_mul_ps(v, _mm512_mask_loadu_ps(one, m, gamma + i));
    if (beta) v = _mm512_add_ps(v, _mm512_mask_loadu_ps(zero, m, beta + i));
    _mm512_mask_storeu_ps(y + i, m, v);
  }
}

// RMS norm: one dot product, one masked scaling pass.
RSFIQA_TARGET_AVX512 inline void rms_norm_f32_avx512(int64_t n, const float* x, const float* gamma, float eps,
                                                     float* y) {
  const float rms_inv = 1.0f / std::sqrt(vec_dot_f32_avx512(n, x, x) / (float)n + eps);
  const __m512 vr = _mm512_set1_ps(rms_inv);
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : avx512::vm::tail_mask(n - i);
    __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), vr);
    if (gamma) v = _mm512_mul_ps(v, _mm512_mask_loadu_ps(one, m, gamma + i));
    _mm512_mask_storeu_ps(y + i, m, v);
  }
}

// One channel row of the lanes m of 16 pixels of x (+ r when r is not null).
RSFIQA_TARGET_AVX512 inline __m512 channel_load_avx512(__mmask16 m, const float* x, const float* r) {
  const __m512 v = _mm512_maskz_loadu_ps(m, x);
  return r ? _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, r)) : v;
}

// Channel norm, 16 pixels per step (the last step masked), with the same
// packing as the AVX2 version.
RSFIQA_TARGET_AVX512 inline void channel_add_norm_f32_avx512(int64_t C, int64_t P, int64_t stride, const float* x,
                                                             const float* r, int64_t r_stride, const float* gamma,
                                                             const float* beta, float eps, float* y, float* mean_out,
                                                             float* rstd_out) {
  alignas(64) float buf[16 * kChannelNormPackMaxC];
  const bool pack = C <= kChannelNormPackMaxC;
  const __m512 inv_c = _mm512_set1_ps(1.0f / (float)C);
  const __m512 veps = _mm512_set1_ps(eps);
  for (int64_t p = 0; p < P; p += 16) {
    const __mmask16 m = P - p >= 16 ? (__mmask16)0xffff : avx512::vm::tail_mask(P - p);
    // Pass 1: sum over channels (and pack; masked-off lanes are zeros).
    __m512 sum = _mm512_setzero_ps();
    for (int64_t c = 0; c < C; ++c) {
      const __m512 v = channel_load_avx512(m, x + c * stride + p, r ? r + c * r_stride + p : nullptr);
      if (pack) _mm512_store_ps(buf + c * 16, v);
      sum = _mm512_add_ps(sum, v);
    }
    const __m512 mean = _mm512_mul_ps(sum, inv_c);
    // Pass 2: centred sum of squares.
    __m512 sq = _mm512_setzero_ps();
    for (int64_t c = 0; c < C; ++c) {
      const __m512 v = pack ? _mm512_load_ps(buf + c * 16)
                            : channel_load_avx512(m, x + c * stride + p, r ? r + c * r_stride + p : nullptr);
      const __m512 d = _mm512_sub_ps(v, mean);
      sq = _mm512_fmadd_ps(d, d, sq);
    }
    // rstd = 1 / sqrt(var + eps) per pixel (exact division, not rsqrt14).
    const __m512 rstd = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_sqrt_ps(_mm512_fmadd_ps(sq, inv_c, veps)));
    if (mean_out) _mm512_mask_storeu_ps(mean_out + p, m, mean);
    if (rstd_out) _mm512_mask_storeu_ps(rstd_out + p, m, rstd);
    // Pass 3: normalise, scale and shift each channel row.
    for (int64_t c = 0; c < C; ++c) {
      __m512 v = pack ? _mm512_load_ps(buf + c * 16)
                      : channel_load_avx512(m, x + c * stride + p, r ? r + c * r_stride + p : nullptr);
      v = _mm512_mul_ps(_mm512_sub_ps(v, mean), rstd);
      if (gamma) v = _mm512_mul_ps(v, _mm512_set1_ps(gamma[c]));
      if (beta) v = _mm512_add_ps(v, _mm512_set1_ps(beta[c]));
      _mm512_mask_storeu_ps(y + c * stride + p, m, v);
    }
  }
}
RSFIQA_SIMD_DIAGNOSTICS_END_
#endif  // RSFIQA_X86_SIMD

// ------------------------------------------------------------ dispatch

inline void layer_norm_f32(int64_t n, const float* x, const float* gamma, const float* beta, float eps, float* y) {
  RSFIQA_VEC_DISPATCH_(layer_norm_f32, n, x, gamma, beta, eps, y);
}
inline void rms_norm_f32(int64_t n, const float* x, const float* gamma, float eps, float* y) {
  RSFIQA_VEC_DISPATCH_(rms_norm_f32, n, x, gamma, eps, y);
}
inline void channel_add_norm_f32(int64_t C, int64_t P, int64_t stride, const float* x, const float* r, int64_t r_stride,
                                 const float* gamma, const float* beta, float eps, float* y, float* mean_out = nullptr,
                                 float* rstd_out = nullptr) {
  RSFIQA_VEC_DISPATCH_(channel_add_norm_f32, C, P, stride, x, r, r_stride, gamma, beta, eps, y, mean_out, rstd_out);
}
inline void channel_norm_f32(int64_t C, int64_t P, int64_t stride, const float* x, const float* gamma,
                             const float* beta, float eps, float* y) {
  channel_add_norm_f32(C, P, stride, x, nullptr, 0, gamma, beta, eps, y);
}

}  // namespace rsfiqa::kernels

// SPDX-License-Identifier: MIT
// Vector kernels over contiguous float arrays: y = a + b, y = a * b,
// y = s * x, y += a * x, y = s ⊙ (y + t ⊙ u) + h, a row filter (depthwise convolution's inner loop),
// exp, the activations (GELU in its erf and tanh forms, SiLU, ReLU) and the
// reductions dot / sum / max.
//
// Every kernel comes in a scalar `_ref` twin (the test oracle, written to
// read like the formula with <cmath>), an `_avx2` and an `_avx512` version
// compiled through per-function target attributes, and a dispatching entry
// point without suffix that picks one on rsfiqa::active_isa(). Kernels never
// start threads: the ops above call them from parallel_for bodies. Output may
// alias an input (in-place use) for the element-wise kernels.
//
// Transcendentals. The SIMD paths use one vectorised exp, built from a range
// reduction x = n·ln2 + r (|r| <= ln2/2, ln2 split in a high and a low part)
// and the degree-7 Taylor polynomial of e^r, whose truncation error
// r^8/8! < 6e-9 is below half an ulp. Inputs below ln(FLT_MIN) give exactly
// 0, so a softmax over -inf entries yields exact zeros. The erf form of GELU,
// 0.5·x·(1 + erf(x/√2)) as in PyTorch's nn.GELU(), uses the complementary
// error function through the Chebyshev-fitted form
// erfc(z) = t·exp(-z² + P(t)), t = 1/(1 + z/2) (Numerical Recipes, "erfcc",
// fractional error < 1.2e-7), which keeps relative accuracy in the negative
// tail. The tanh form (PyTorch approximate='tanh') is computed as
// x·sigmoid(2u) with u = √(2/π)(x + 0.044715x³), algebraically the same as
// 0.5·x·(1 + tanh u) but without cancellation; SiLU is x·sigmoid(x).
//
// Accuracy measured by tests/kernels/test_elementwise.cpp against double
// precision (AVX2 and AVX-512 alike):
//   exp        max 1 ulp over [-87, 88]                       (test bound 3 ulp)
//   gelu erf   max 1.1e-7 · max(1, |y|) over [-12, 12]        (bound 1e-6)
//   gelu tanh  max 1.3e-7 · max(1, |y|)                       (bound 1e-6)
//   gelu erf, fast variant (rational erf, no exp/division)
//              max 8.5e-7 · max(1, |y|) over [-12, 12]        (bound 1e-6)
//   silu       max 1.4e-7 · max(1, |y|)                       (bound 1e-6)
// and against PyTorch's F.gelu / F.silu by tests/ops/test_torch_golden.cpp.
//
// Reductions accumulate in a different order than the reference (several
// vector lanes, then a horizontal sum), so they agree to rounding, not bits.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "rsfiqa/core/config.hpp"
#include "rsfiqa/core/cpu.hpp"

#if RSFIQA_X86_SIMD
#include <immintrin.h>
#endif

// GCC 12 reports the deliberately undefined pass-through registers inside its
// own AVX-512 intrinsics (-W[maybe-]uninitialized) once they are inlined into
// a kernel; the diagnostic is about the compiler's header, so the SIMD
// sections of the kernel headers switch it off between these two macros.
#if defined(__GNUC__) && !defined(__clang__)
#define RSFIQA_SIMD_DIAGNOSTICS_BEGIN_                                                 \
  _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wuninitialized\"") \
      _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"")
#define RSFIQA_SIMD_DIAGNOSTICS_END_ _Pragma("GCC diagnostic pop")
#else
#define RSFIQA_SIMD_DIAGNOSTICS_BEGIN_
#define RSFIQA_SIMD_DIAGNOSTICS_END_
#endif

namespace rsfiqa::kernels {

// ------------------------------------------------------------ constants
namespace detail {
constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kSqrt2OverPi = 0.79788456080286535588f;  // √(2/π)
constexpr float kGeluTanhCubic = 0.044715f;
// exp range: above kExpHi the result would overflow; below kExpLo (ln FLT_MIN)
// it is flushed to exactly 0.
constexpr float kExpHi = 88.3762626647949f;
constexpr float kExpLo = -87.3365447505531f;
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f;     // exactly representable head of ln 2
constexpr float kLn2Lo = -2.12194440e-4f;  // ln 2 - kLn2Hi
// 1/k! for the Taylor polynomial of e^r, k = 2..7.
constexpr float kExpC2 = 1.0f / 2.0f;
constexpr float kExpC3 = 1.0f / 6.0f;
constexpr float kExpC4 = 1.0f / 24.0f;
constexpr float kExpC5 = 1.0f / 120.0f;
constexpr float kExpC6 = 1.0f / 720.0f;
constexpr float kExpC7 = 1.0f / 5040.0f;
// erfc(z) ≈ t·exp(-z² + P(t)), P(t) = sum_k kErfcP[k] t^k, t = 1/(1 + z/2).
constexpr float kErfcP[10] = {-1.26551223f, 1.00002368f,  0.37409196f, 0.09678418f,  -0.18628806f,
                              0.27886807f,  -1.13520398f, 1.48851587f, -0.82215223f, 0.17087277f};
// Fast GELU: erf(x/√2) ≈ x·P(x²)/Q(x²) for |x| <= kGeluFastClamp, a (5, 5)
// rational fitted (Lawson-weighted least squares towards minimax, in double)
// to the absolute error of erf(x/√2) on [0, 5.6]: 1.9e-8 before rounding
// the coefficients to float. Beyond the clamp erf(x/√2) rounds to ±1.
constexpr float kGeluFastClamp = 5.6f;
constexpr float kGeluFastP[6] = {0.797884464263916f,     0.06874936819076538f,   0.00941427145153284f,
                                 0.0003476609708741307f, 1.2711764611594845e-05f, 4.428683908486164e-08f};
constexpr float kGeluFastQ[6] = {1.0f,
                                 0.25283026695251465f,
                                 0.028939176350831985f,
                                 0.0019128690473735332f,
                                 7.509264105465263e-05f,
                                 1.180107119580498e-06f};
}  // namespace detail

// ------------------------------------------------------------ scalar references

inline void vec_add_f32_ref(int64_t n, const float* a, const float* b, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}
inline void vec_mul_f32_ref(int64_t n, const float* a, const float* b, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
}
inline void vec_scale_f32_ref(int64_t n, const float* x, float s, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = s * x[i];
}
// y += a * x
inline void vec_axpy_f32_ref(int64_t n, float a, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}
// y = s ⊙ (y + t ⊙ u) + h: per-element scales s, t, one shift h (a row of
// the SAM decoder's factored upscaling, where s and t are per-pixel norm
// factors).
inline void vec_scale_residual_f32_ref(int64_t n, const float* s, const float* t, const float* u, float h, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = s[i] * (y[i] + t[i] * u[i]) + h;
}
// Row filter (a 1-D correlation), the inner loop of depthwise convolution:
// y[i] += sum_t w[t] · x[i + t·dilation] for i in [0, n), t in [0, taps).
// x must hold n + (taps - 1)·dilation values.
inline void vec_row_taps_f32_ref(int64_t n, int64_t taps, const float* w, int64_t dilation, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) {
    float acc = y[i];
    for (int64_t t = 0; t < taps; ++t) acc += w[t] * x[i + t * dilation];
    y[i] = acc;
  }
}
inline void vec_exp_f32_ref(int64_t n, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
}
// GELU, erf form: 0.5·x·(1 + erf(x/√2)).
inline void vec_gelu_erf_f32_ref(int64_t n, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * detail::kInvSqrt2));
}
// GELU, erf form, fast variant: the same function through the rational
// approximation of erf in detail::kGeluFastP / kGeluFastQ (no exp, no
// division in the SIMD paths), evaluated as h + h·erf with h = x/2. Absolute
// error ≤ 1e-6·max(1, |y|), but not relative accuracy in the negative tail
// (for x < -5.6 it returns 0, or NaN at -inf like the exact form). For
// networks whose tolerance is far above 1e-6; the exact form stays the default.
inline void vec_gelu_erf_fast_f32_ref(int64_t n, const float* x, float* y) {
  using namespace detail;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float c = v < -kGeluFastClamp ? -kGeluFastClamp : (v > kGeluFastClamp ? kGeluFastClamp : v);
    const float u = c * c;
    float p = kGeluFastP[5], q = kGeluFastQ[5];
    for (int k = 4; k >= 0; --k) {
      p = p * u + kGeluFastP[k];
      q = q * u + kGeluFastQ[k];
    }
    float e = c * p / q;
    e = e > 1.0f ? 1.0f : (e < -1.0f ? -1.0f : e);
    if (v <= -kGeluFastClamp) e = -1.0f;  // exactly, so h + h·e is 0 for any large negative x
    if (v >= kGeluFastClamp) e = 1.0f;
    const float h = 0.5f * v;
    y[i] = h + h * e;
  }
}
// GELU, tanh form: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
inline void vec_gelu_tanh_f32_ref(int64_t n, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    y[i] = 0.5f * v * (1.0f + std::tanh(detail::kSqrt2OverPi * (v + detail::kGeluTanhCubic * v * v * v)));
  }
}
// SiLU: x·sigmoid(x) = x / (1 + e^-x).
inline void vec_silu_f32_ref(int64_t n, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (1.0f + std::exp(-x[i]));
}
inline void vec_relu_f32_ref(int64_t n, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}
inline float vec_dot_f32_ref(int64_t n, const float* a, const float* b) {
  float acc = 0.0f;
  for (int64_t i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}
inline float vec_sum_f32_ref(int64_t n, const float* x) {
  float acc = 0.0f;
  for (int64_t i = 0; i < n; ++i) acc += x[i];
  return acc;
}
// Max of x[0..n); -inf for n == 0.
inline float vec_max_f32_ref(int64_t n, const float* x) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

#if RSFIQA_X86_SIMD
RSFIQA_SIMD_DIAGNOSTICS_BEGIN_
// ------------------------------------------------------------ AVX2 + FMA
// Vector math helpers live in avx2::vm / avx512::vm (other kernel headers own
// other names in rsfiqa::kernels::avx2 / avx512).
namespace avx2::vm {

// e^x on 8 lanes (see the file comment for the method and its accuracy).
RSFIQA_TARGET_AVX2 inline __m256 exp_ps(__m256 x) {
  using namespace rsfiqa::kernels::detail;
  const __m256 underflow = _mm256_cmp_ps(x, _mm256_set1_ps(kExpLo), _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(kExpLo)), _mm256_set1_ps(kExpHi));
  // n = round(x / ln2), r = x - n·ln2 in two steps for precision.
  const __m256 n =
      _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), r);
  // e^r = 1 + r + r²/2 + ... + r^7/7!, by Horner.
  __m256 p = _mm256_set1_ps(kExpC7);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpC6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpC5));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpC4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpC3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpC2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  // 2^n built in the exponent field (n is in [-126, 127] after the clamp).
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(underflow, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

// 1 / (1 + e^-x) on 8 lanes.
RSFIQA_TARGET_AVX2 inline __m256 sigmoid_ps(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 e = exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), x));
  return _mm256_div_ps(one, _mm256_add_ps(one, e));
}

// GELU (erf form) on 8 lanes: with z = |x|/√2, 1 + erf(x/√2) is 2 - erfc(z)
// for x >= 0 and erfc(z) for x < 0.
RSFIQA_TARGET_AVX2 inline __m256 gelu_erf_ps(__m256 x) {
  using namespace rsfiqa::kernels::detail;
  const __m256 sign_mask = _mm256_set1_ps(-0.0f);
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 z = _mm256_mul_ps(_mm256_andnot_ps(sign_mask, x), _mm256_set1_ps(kInvSqrt2));
  const __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(0.5f), z, one));
  __m256 p = _mm256_set1_ps(kErfcP[9]);
  for (int k = 8; k >= 0; --k) p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(kErfcP[k]));
  const __m256 erfc = _mm256_mul_ps(t, exp_ps(_mm256_fnmadd_ps(z, z, p)));
  const __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
  const __m256 one_plus_erf = _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(2.0f), erfc), erfc, neg);
  return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), one_plus_erf);
}

// Fast GELU (erf form) on 8 lanes: the rational erf of vec_gelu_erf_fast_f32_ref,
// the division as a reciprocal estimate refined by one Newton step.
RSFIQA_TARGET_AVX2 inline __m256 gelu_erf_fast_ps(__m256 x) {
  using namespace rsfiqa::kernels::detail;
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 c = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-kGeluFastClamp)), _mm256_set1_ps(kGeluFastClamp));
  const __m256 u = _mm256_mul_ps(c, c);
  __m256 p = _mm256_set1_ps(kGeluFastP[5]), q = _mm256_set1_ps(kGeluFastQ[5]);
  for (int k = 4; k >= 0; --k) {
    p = _mm256_fmadd_ps(p, u, _mm256_set1_ps(kGeluFastP[k]));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(kGeluFastQ[k]));
  }
  __m256 r = _mm256_rcp_ps(q);                                  // 12-bit estimate
  r = _mm256_mul_ps(r, _mm256_fnmadd_ps(q, r, _mm256_set1_ps(2.0f)));  // one Newton step: ~23 bits
  __m256 e = _mm256_mul_ps(_mm256_mul_ps(c, p), r);
  e = _mm256_min_ps(_mm256_max_ps(e, _mm256_set1_ps(-1.0f)), one);
  // ±1 exactly beyond the clamp (h + h·e is then exactly 0 for large negative x).
  e = _mm256_blendv_ps(e, _mm256_set1_ps(-1.0f), _mm256_cmp_ps(x, _mm256_set1_ps(-kGeluFastClamp), _CMP_LE_OQ));
  e = _mm256_blendv_ps(e, one, _mm256_cmp_ps(x, _mm256_set1_ps(kGeluFastClamp), _CMP_GE_OQ));
  const __m256 h = _mm256_mul_ps(_mm256_set1_ps(0.5f), x);
  return _mm256_fmadd_ps(h, e, h);
}

// GELU (tanh form) on 8 lanes: x·sigmoid(2u), u = √(2/π)(x + 0.044715x³).
RSFIQA_TARGET_AVX2 inline __m256 gelu_tanh_ps(__m256 x) {
  using namespace rsfiqa::kernels::detail;
  const __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
  const __m256 u = _mm256_mul_ps(_mm256_set1_ps(kSqrt2OverPi), _mm256_fmadd_ps(_mm256_set1_ps(kGeluTanhCubic), x3, x));
  return _mm256_mul_ps(x, sigmoid_ps(_mm256_add_ps(u, u)));
}

RSFIQA_TARGET_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
RSFIQA_TARGET_AVX2 inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Lane mask for the first `rem` (< 8) lanes, for maskload / maskstore tails.
RSFIQA_TARGET_AVX2 inline __m256i tail_mask(int64_t rem) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rem), idx);
}

}  // namespace avx2::vm

// Element-wise kernels share one loop shape: full vectors of 8, then one
// masked vector for the remaining n % 8 elements (maskload reads nothing
// outside the array, so no tail loop and no over-read). `v` names the input
// vector inside `expr`.
#define RSFIQA_AVX2_UNARY_(name, expr)                                       \
  RSFIQA_TARGET_AVX2 inline void name(int64_t n, const float* x, float* y) { \
    int64_t i = 0;                                                           \
    for (; i + 8 <= n; i += 8) {                                             \
      const __m256 v = _mm256_loadu_ps(x + i);                               \
      _mm256_storeu_ps(y + i, (expr));                                       \
    }                                                                        \
    if (i < n) {                                                             \
      const __m256i m = avx2::vm::tail_mask(n - i);                          \
      const __m256 v = _mm256_maskload_ps(x + i, m);                         \
      _mm256_maskstore_ps(y + i, m, (expr));                                 \
    }                                                                        \
  }

// y = e^x, GELU (erf / tanh), SiLU = x·sigmoid(x), ReLU = max(x, 0).
RSFIQA_AVX2_UNARY_(vec_exp_f32_avx2, avx2::vm::exp_ps(v))
RSFIQA_AVX2_UNARY_(vec_gelu_erf_f32_avx2, avx2::vm::gelu_erf_ps(v))
RSFIQA_AVX2_UNARY_(vec_gelu_tanh_f32_avx2, avx2::vm::gelu_tanh_ps(v))
RSFIQA_AVX2_UNARY_(vec_gelu_erf_fast_f32_avx2, avx2::vm::gelu_erf_fast_ps(v))
RSFIQA_AVX2_UNARY_(vec_silu_f32_avx2, _mm256_mul_ps(v, avx2::vm::sigmoid_ps(v)))
RSFIQA_AVX2_UNARY_(vec_relu_f32_avx2, _mm256_max_ps(v, _mm256_setzero_ps()))
#undef RSFIQA_AVX2_UNARY_

// y = a (op) b, element by element, with the same masked tail.
#define RSFIQA_AVX2_BINARY_(name, op)                                                                       \
  RSFIQA_TARGET_AVX2 inline void name(int64_t n, const float* a, const float* b, float* y) {                \
    int64_t i = 0;                                                                                          \
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, op(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i))); \
    if (i < n) {                                                                                            \
      const __m256i m = avx2::vm::tail_mask(n - i);                                                         \
      _mm256_maskstore_ps(y + i, m, op(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m)));        \
    }                                                                                                       \
  }
RSFIQA_AVX2_BINARY_(vec_add_f32_avx2, _mm256_add_ps)
RSFIQA_AVX2_BINARY_(vec_mul_f32_avx2, _mm256_mul_ps)
#undef RSFIQA_AVX2_BINARY_

// y = s·x
RSFIQA_TARGET_AVX2 inline void vec_scale_f32_avx2(int64_t n, const float* x, float s, float* y) {
  const __m256 vs = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(vs, _mm256_loadu_ps(x + i)));
  for (; i < n; ++i) y[i] = s * x[i];
}

// y += a·x, fused (one rounding per element, the reference has two).
RSFIQA_TARGET_AVX2 inline void vec_axpy_f32_avx2(int64_t n, float a, const float* x, float* y) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] = std::fma(a, x[i], y[i]);
}

RSFIQA_TARGET_AVX2 inline void vec_scale_residual_f32_avx2(int64_t n, const float* s, const float* t, const float* u,
                                                           float h, float* y) {
  const __m256 vh = _mm256_set1_ps(h);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 in = _mm256_fmadd_ps(_mm256_loadu_ps(t + i), _mm256_loadu_ps(u + i), _mm256_loadu_ps(y + i));
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(_mm256_loadu_ps(s + i), in, vh));
  }
  for (; i < n; ++i) y[i] = std::fma(s[i], std::fma(t[i], u[i], y[i]), h);
}

// Row filter: each output vector is loaded once and receives every tap
// (unaligned loads of the shifted input), instead of one pass per tap.
RSFIQA_TARGET_AVX2 inline void vec_row_taps_f32_avx2(int64_t n, int64_t taps, const float* w, int64_t dilation,
                                                     const float* x, float* y) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 acc = _mm256_loadu_ps(y + i);
    for (int64_t t = 0; t < taps; ++t)
      acc = _mm256_fmadd_ps(_mm256_set1_ps(w[t]), _mm256_loadu_ps(x + i + t * dilation), acc);
    _mm256_storeu_ps(y + i, acc);
  }
  if (i < n) {
    const __m256i m = avx2::vm::tail_mask(n - i);
    __m256 acc = _mm256_maskload_ps(y + i, m);
    for (int64_t t = 0; t < taps; ++t)
      acc = _mm256_fmadd_ps(_mm256_set1_ps(w[t]), _mm256_maskload_ps(x + i + t * dilation, m), acc);
    _mm256_maskstore_ps(y + i, m, acc);
  }
}

// Reductions keep two independent vector accumulators (hides the add
// latency), fold them, then add the scalar tail in order.
RSFIQA_TARGET_AVX2 inline float vec_dot_f32_avx2(int64_t n, const float* a, const float* b) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  float s = avx2::vm::hsum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

RSFIQA_TARGET_AVX2 inline float vec_sum_f32_avx2(int64_t n, const float* x) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_add_ps(acc0, _mm256_loadu_ps(x + i));
    acc1 = _mm256_add_ps(acc1, _mm256_loadu_ps(x + i + 8));
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_add_ps(acc0, _mm256_loadu_ps(x + i));
  float s = avx2::vm::hsum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) s += x[i];
  return s;
}

// Max is exact whatever the order, so it matches the reference bit for bit.
RSFIQA_TARGET_AVX2 inline float vec_max_f32_avx2(int64_t n, const float* x) {
  __m256 m = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
  float r = avx2::vm::hmax(m);
  for (; i < n; ++i) r = x[i] > r ? x[i] : r;
  return r;
}

// ------------------------------------------------------------ AVX-512
namespace avx512::vm {

// e^x on 16 lanes; same method as avx2::vm::exp_ps, with scalef for 2^n.
RSFIQA_TARGET_AVX512 inline __m512 exp_ps(__m512 x) {
  using namespace rsfiqa::kernels::detail;
  const __mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(kExpLo), _CMP_GE_OQ);
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(kExpLo)), _mm512_set1_ps(kExpHi));
  const __m512 n =
      _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Hi), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Lo), r);
  __m512 p = _mm512_set1_ps(kExpC7);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpC6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpC5));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpC4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpC3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpC2));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_maskz_mov_ps(keep, _mm512_scalef_ps(p, n));
}

// 1 / (1 + e^-x) on 16 lanes.
RSFIQA_TARGET_AVX512 inline __m512 sigmoid_ps(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 e = exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), x));
  return _mm512_div_ps(one, _mm512_add_ps(one, e));
}

// GELU (erf form) on 16 lanes; see avx2::vm::gelu_erf_ps for the method.
RSFIQA_TARGET_AVX512 inline __m512 gelu_erf_ps(__m512 x) {
  using namespace rsfiqa::kernels::detail;
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 z = _mm512_mul_ps(_mm512_abs_ps(x), _mm512_set1_ps(kInvSqrt2));
  const __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(_mm512_set1_ps(0.5f), z, one));
  __m512 p = _mm512_set1_ps(kErfcP[9]);
  for (int k = 8; k >= 0; --k) p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(kErfcP[k]));
  const __m512 erfc = _mm512_mul_ps(t, exp_ps(_mm512_fnmadd_ps(z, z, p)));
  const __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
  const __m512 one_plus_erf = _mm512_mask_blend_ps(neg, _mm512_sub_ps(_mm512_set1_ps(2.0f), erfc), erfc);
  return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), one_plus_erf);
}

// Fast GELU (erf form) on 16 lanes; see avx2::vm::gelu_erf_fast_ps (the
// 14-bit rcp14 estimate plus one Newton step).
RSFIQA_TARGET_AVX512 inline __m512 gelu_erf_fast_ps(__m512 x) {
  using namespace rsfiqa::kernels::detail;
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 c = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-kGeluFastClamp)), _mm512_set1_ps(kGeluFastClamp));
  const __m512 u = _mm512_mul_ps(c, c);
  __m512 p = _mm512_set1_ps(kGeluFastP[5]), q = _mm512_set1_ps(kGeluFastQ[5]);
  for (int k = 4; k >= 0; --k) {
    p = _mm512_fmadd_ps(p, u, _mm512_set1_ps(kGeluFastP[k]));
    q = _mm512_fmadd_ps(q, u, _mm512_set1_ps(kGeluFastQ[k]));
  }
  __m512 r = _mm512_rcp14_ps(q);
  r = _mm512_mul_ps(r, _mm512_fnmadd_ps(q, r, _mm512_set1_ps(2.0f)));
  __m512 e = _mm512_mul_ps(_mm512_mul_ps(c, p), r);
  e = _mm512_min_ps(_mm512_max_ps(e, _mm512_set1_ps(-1.0f)), one);
  e = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(-kGeluFastClamp), _CMP_LE_OQ), e,
                           _mm512_set1_ps(-1.0f));
  e = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(kGeluFastClamp), _CMP_GE_OQ), e, one);
  const __m512 h = _mm512_mul_ps(_mm512_set1_ps(0.5f), x);
  return _mm512_fmadd_ps(h, e, h);
}

// GELU (tanh form) on 16 lanes: x·sigmoid(2u).
RSFIQA_TARGET_AVX512 inline __m512 gelu_tanh_ps(__m512 x) {
  using namespace rsfiqa::kernels::detail;
  const __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
  const __m512 u = _mm512_mul_ps(_mm512_set1_ps(kSqrt2OverPi), _mm512_fmadd_ps(_mm512_set1_ps(kGeluTanhCubic), x3, x));
  return _mm512_mul_ps(x, sigmoid_ps(_mm512_add_ps(u, u)));
}

// Horizontal sum / max. The upper half is taken with a zero-masking extract:
// the plain intrinsics (and _mm512_reduce_*_ps) start from an undefined
// register that GCC 12 warns about when inlined into user code.
RSFIQA_TARGET_AVX512 inline float hsum(__m512 v) {
  const __m256 lo = _mm512_castps512_ps256(v), hi = _mm512_maskz_extractf32x8_ps((__mmask8)0xff, v, 1);
  return avx2::vm::hsum(_mm256_add_ps(lo, hi));
}
RSFIQA_TARGET_AVX512 inline float hmax(__m512 v) {
  const __m256 lo = _mm512_castps512_ps256(v), hi = _mm512_maskz_extractf32x8_ps((__mmask8)0xff, v, 1);
  return avx2::vm::hmax(_mm256_max_ps(lo, hi));
}

// Mask of the first `rem` (< 16) lanes.
inline __mmask16 tail_mask(int64_t rem) { return (__mmask16)((1u << rem) - 1u); }

}  // namespace avx512::vm

// The AVX-512 loops: full vectors of 16, then one vector under a lane mask
// (masked loads never fault on the lanes they skip).
#define RSFIQA_AVX512_UNARY_(name, expr)                                       \
  RSFIQA_TARGET_AVX512 inline void name(int64_t n, const float* x, float* y) { \
    int64_t i = 0;                                                             \
    for (; i + 16 <= n; i += 16) {                                             \
      const __m512 v = _mm512_loadu_ps(x + i);                                 \
      _mm512_storeu_ps(y + i, (expr));                                         \
    }                                                                          \
    if (i < n) {                                                               \
      const __mmask16 m = avx512::vm::tail_mask(n - i);                        \
      const __m512 v = _mm512_maskz_loadu_ps(m, x + i);                        \
      _mm512_mask_storeu_ps(y + i, m, (expr));                                 \
    }                                                                          \
  }

RSFIQA_AVX512_UNARY_(vec_exp_f32_avx512, avx512::vm::exp_ps(v))
RSFIQA_AVX512_UNARY_(vec_gelu_erf_f32_avx512, avx512::vm::gelu_erf_ps(v))
RSFIQA_AVX512_UNARY_(vec_gelu_tanh_f32_avx512, avx512::vm::gelu_tanh_ps(v))
RSFIQA_AVX512_UNARY_(vec_gelu_erf_fast_f32_avx512, avx512::vm::gelu_erf_fast_ps(v))
RSFIQA_AVX512_UNARY_(vec_silu_f32_avx512, _mm512_mul_ps(v, avx512::vm::sigmoid_ps(v)))
RSFIQA_AVX512_UNARY_(vec_relu_f32_avx512, _mm512_max_ps(v, _mm512_setzero_ps()))
#undef RSFIQA_AVX512_UNARY_

#define RSFIQA_AVX512_BINARY_(name, op)                                                                       \
  RSFIQA_TARGET_AVX512 inline void name(int64_t n, const float* a, const float* b, float* y) {                \
    int64_t i = 0;                                                                                            \
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, op(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i))); \
    if (i < n) {                                                                                              \
      const __mmask16 m = avx512::vm::tail_mask(n - i);                                                       \
      _mm512_mask_storeu_ps(y + i, m, op(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i)));  \
    }                                                                                                         \
  }
RSFIQA_AVX512_BINARY_(vec_add_f32_avx512, _mm512_add_ps)
RSFIQA_AVX512_BINARY_(vec_mul_f32_avx512, _mm512_mul_ps)
#undef RSFIQA_AVX512_BINARY_

RSFIQA_TARGET_AVX512 inline void vec_scale_f32_avx512(int64_t n, const float* x, float s, float* y) {
  const __m512 vs = _mm512_set1_ps(s);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_mul_ps(vs, _mm512_loadu_ps(x + i)));
  if (i < n) {
    const __mmask16 m = avx512::vm::tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(vs, _mm512_maskz_loadu_ps(m, x + i)));
  }
}

// y += a·x, fused.
RSFIQA_TARGET_AVX512 inline void vec_axpy_f32_avx512(int64_t n, float a, const float* x, float* y) {
  const __m512 va = _mm512_set1_ps(a);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
  if (i < n) {
    const __mmask16 m = avx512::vm::tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, m,
                          _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
  }
}

// y = s ⊙ (y + t ⊙ u) + h with two fused multiply-adds, masked tail.
RSFIQA_TARGET_AVX512 inline void vec_scale_residual_f32_avx512(int64_t n, const float* s, const float* t,
                                                               const float* u, float h, float* y) {
  const __m512 vh = _mm512_set1_ps(h);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : avx512::vm::tail_mask(n - i);
    const __m512 in = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, t + i), _mm512_maskz_loadu_ps(m, u + i),
                                      _mm512_maskz_loadu_ps(m, y + i));
    _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, s + i), in, vh));
  }
}

// Row filter, 16 outputs per step, masked tail.
RSFIQA_TARGET_AVX512 inline void vec_row_taps_f32_avx512(int64_t n, int64_t taps, const float* w, int64_t dilation,
                                                         const float* x, float* y) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : avx512::vm::tail_mask(n - i);
    __m512 acc = _mm512_maskz_loadu_ps(m, y + i);
    for (int64_t t = 0; t < taps; ++t)
      acc = _mm512_fmadd_ps(_mm512_set1_ps(w[t]), _mm512_maskz_loadu_ps(m, x + i + t * dilation), acc);
    _mm512_mask_storeu_ps(y + i, m, acc);
  }
}

// Reductions: two accumulators, the masked tail folded into the second.
RSFIQA_TARGET_AVX512 inline float vec_dot_f32_avx512(int64_t n, const float* a, const float* b) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
  }
  for (; i + 16 <= n; i += 16) acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
  if (i < n) {
    const __mmask16 m = avx512::vm::tail_mask(n - i);
    acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc1);
  }
  return avx512::vm::hsum(_mm512_add_ps(acc0, acc1));
}

RSFIQA_TARGET_AVX512 inline float vec_sum_f32_avx512(int64_t n, const float* x) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_add_ps(acc0, _mm512_loadu_ps(x + i));
    acc1 = _mm512_add_ps(acc1, _mm512_loadu_ps(x + i + 16));
  }
  for (; i + 16 <= n; i += 16) acc0 = _mm512_add_ps(acc0, _mm512_loadu_ps(x + i));
  if (i < n) acc1 = _mm512_add_ps(acc1, _mm512_maskz_loadu_ps(avx512::vm::tail_mask(n - i), x + i));
  return avx512::vm::hsum(_mm512_add_ps(acc0, acc1));
}

// Masked-off tail lanes load -inf, the identity of max.
RSFIQA_TARGET_AVX512 inline float vec_max_f32_avx512(int64_t n, const float* x) {
  const __m512 ninf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  __m512 m = ninf;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(x + i));
  if (i < n) m = _mm512_max_ps(m, _mm512_mask_loadu_ps(ninf, avx512::vm::tail_mask(n - i), x + i));
  return avx512::vm::hmax(m);
}
RSFIQA_SIMD_DIAGNOSTICS_END_
#endif  // RSFIQA_X86_SIMD

// ------------------------------------------------------------ dispatch
// Each entry point calls the best kernel for rsfiqa::active_isa(). The
// macro (private, shared with kernels/norm.hpp and kernels/softmax.hpp)
// expands to the three-way choice; NEON builds use the references for now.
#if RSFIQA_X86_SIMD
#define RSFIQA_VEC_DISPATCH_(name, ...)                          \
  do {                                                           \
    const Isa isa_ = active_isa();                               \
    if (isa_ == Isa::kAvx512) return name##_avx512(__VA_ARGS__); \
    if (isa_ == Isa::kAvx2) return name##_avx2(__VA_ARGS__);     \
    return name##_ref(__VA_ARGS__);                              \
  } while (0)
#else
#define RSFIQA_VEC_DISPATCH_(name, ...) return name##_ref(__VA_ARGS__)
#endif

inline void vec_add_f32(int64_t n, const float* a, const float* b, float* y) {
  RSFIQA_VEC_DISPATCH_(vec_add_f32, n, a, b, y);
}
inline void vec_mul_f32(int64_t n, const float* a, const float* b, float* y) {
  RSFIQA_VEC_DISPATCH_(vec_mul_f32, n, a, b, y);
}
inline void vec_scale_f32(int64_t n, const float* x, float s, float* y) {
  RSFIQA_VEC_DISPATCH_(vec_scale_f32, n, x, s, y);
}
inline void vec_axpy_f32(int64_t n, float a, const float* x, float* y) {
  RSFIQA_VEC_DISPATCH_(vec_axpy_f32, n, a, x, y);
}
inline void vec_scale_residual_f32(int64_t n, const float* s, const float* t, const float* u, float h, float* y) {
  RSFIQA_VEC_DISPATCH_(vec_scale_residual_f32, n, s, t, u, h, y);
}
inline void vec_row_taps_f32(int64_t n, int64_t taps, const float* w, int64_t dilation, const float* x, float* y) {
  RSFIQA_VEC_DISPATCH_(vec_row_taps_f32, n, taps, w, dilation, x, y);
}
inline void vec_exp_f32(int64_t n, const float* x, float* y) { RSFIQA_VEC_DISPATCH_(vec_exp_f32, n, x, y); }
inline void vec_gelu_erf_f32(int64_t n, const float* x, float* y) { RSFIQA_VEC_DISPATCH_(vec_gelu_erf_f32, n, x, y); }
inline void vec_gelu_tanh_f32(int64_t n, const float* x, float* y) { RSFIQA_VEC_DISPATCH_(vec_gelu_tanh_f32, n, x, y); }
inline void vec_gelu_erf_fast_f32(int64_t n, const float* x, float* y) {
  RSFIQA_VEC_DISPATCH_(vec_gelu_erf_fast_f32, n, x, y);
}
inline void vec_silu_f32(int64_t n, const float* x, float* y) { RSFIQA_VEC_DISPATCH_(vec_silu_f32, n, x, y); }
inline void vec_relu_f32(int64_t n, const float* x, float* y) { RSFIQA_VEC_DISPATCH_(vec_relu_f32, n, x, y); }
inline float vec_dot_f32(int64_t n, const float* a, const float* b) { RSFIQA_VEC_DISPATCH_(vec_dot_f32, n, a, b); }
inline float vec_sum_f32(int64_t n, const float* x) { RSFIQA_VEC_DISPATCH_(vec_sum_f32, n, x); }
inline float vec_max_f32(int64_t n, const float* x) { RSFIQA_VEC_DISPATCH_(vec_max_f32, n, x); }

// ISA suffix of the kernels the dispatch picks now: "avx512", "avx2" or
// "ref", so "softmax_f32_" + suffix names the function that runs (the
// `<op>_<dtype>_<isa>` scheme of kernels/dispatch.hpp), for logs and benchmarks.
inline const char* vec_kernel_suffix() {
#if RSFIQA_X86_SIMD
  const Isa isa = active_isa();
  if (isa == Isa::kAvx512 || isa == Isa::kAvx2) return isa_name(isa);
#endif
  return "ref";
}

}  // namespace rsfiqa::kernels

// SPDX-License-Identifier: MIT
// Depthwise k x k convolution on channels-last maps ([H, W, C], the
// token-major layout of the TinyViT encoder), vectorised over channels:
//
//   y[oy, ox, c] = bias[c] + sum_{ky, kx} taps[ky·k + kx][c] · x[oy·s - p + ky, ox·s - p + kx, c]
//
// with zero padding p, stride s, taps stored [k·k, C] (PyTorch's depthwise
// weight [C, 1, k, k] transposed once by the caller) and output rows
// [oy0, oy1) of a [Ho, Wo, C] map written from `y` (y points at row oy0).
// This is PyTorch's Conv2d(groups = C) on the same numbers, with the sum
// taken in (ky, kx) order starting from the bias.
//
// depthwise_hwc_f32_ref is the scalar oracle; the AVX2 and AVX-512 versions
// keep the same order of operations per channel (one fused multiply-add per
// tap, where the reference rounds product and sum separately, so they agree
// to rounding, not bits) and run 8 / 16 channels per vector with a masked
// tail. Single-threaded: callers split output rows over threads. Not here:
// dense (groups 1) convolutions, which are GEMMs (models build their im2col
// tiles), and channels-first depthwise convs (ops/conv.hpp).
#pragma once

#include <cstdint>

#include "rsfiqa/core/config.hpp"
#include "rsfiqa/core/cpu.hpp"

#if RSFIQA_X86_SIMD
#include <immintrin.h>
#endif

namespace rsfiqa::kernels {

// Geometry of a channels-last depthwise conv: input [H, W, C], kernel k x k,
// stride, padding, output width Wo (the output height is implied by the rows asked for).
struct DepthwiseHwcGeometry {
  int64_t H = 0, W = 0, C = 0;
  int64_t k = 3, stride = 1, pad = 1;
  int64_t Wo = 0;

  // The taps [k0, k1) of one axis that land inside an input of n samples
  // for output position o; *i0 = o·stride − pad is the input index of tap 0.
  void taps_inside(int64_t o, int64_t n, int64_t* i0, int64_t* k0, int64_t* k1) const {
    *i0 = o * stride - pad;
    *k0 = *i0 < 0 ? -*i0 : 0;
    *k1 = *i0 + k > n ? n - *i0 : k;
  }
};

// Scalar oracle.
inline void depthwise_hwc_f32_ref(const DepthwiseHwcGeometry& g, const float* x, const float* taps, const float* bias,
                                  float* y, int64_t oy0, int64_t oy1) {
  for (int64_t oy = oy0; oy < oy1; ++oy)
    for (int64_t ox = 0; ox < g.Wo; ++ox) {
      float* yr = y + ((oy - oy0) * g.Wo + ox) * g.C;
      for (int64_t c = 0; c < g.C; ++c) yr[c] = bias ? bias[c] : 0.0f;
      for (int64_t ky = 0; ky < g.k; ++ky) {
        const int64_t iy = oy * g.stride - g.pad + ky;
        if (iy < 0 || iy >= g.H) continue;
        for (int64_t kx = 0; kx < g.k; ++kx) {
          const int64_t ix = ox * g.stride - g.pad + kx;
          if (ix < 0 || ix >= g.W) continue;
          const float* xr = x + (iy * g.W + ix) * g.C;
          const float* wr = taps + (ky * g.k + kx) * g.C;
          for (int64_t c = 0; c < g.C; ++c) yr[c] += wr[c] * xr[c];
        }
      }
    }
}

#if RSFIQA_X86_SIMD
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// AVX2: 8 channels per vector; per output pixel and channel block the
// accumulator stays in a register over all taps.
RSFIQA_TARGET_AVX2 inline void depthwise_hwc_f32_avx2(const DepthwiseHwcGeometry& g, const float* x, const float* taps,
                                                      const float* bias, float* y, int64_t oy0, int64_t oy1) {
  const int64_t C = g.C;
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int64_t oy = oy0; oy < oy1; ++oy) {
    int64_t iy0, ky0, ky1;  // kernel rows inside the image for this output row
    g.taps_inside(oy, g.H, &iy0, &ky0, &ky1);
    for (int64_t ox = 0; ox < g.Wo; ++ox) {
      int64_t ix0, kx0, kx1;
      g.taps_inside(ox, g.W, &ix0, &kx0, &kx1);
      float* yr = y + ((oy - oy0) * g.Wo + ox) * C;
      for (int64_t c = 0; c < C; c += 8) {
        const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(C - c < 8 ? C - c : 8)), lane);
        __m256 acc = bias ? _mm256_maskload_ps(bias + c, m) : _mm256_setzero_ps();
        for (int64_t ky = ky0; ky < ky1; ++ky) {
          const float* xrow = x + ((iy0 + ky) * g.W + ix0 + kx0) * C + c;  // tap kx0 (inside the image)
          const float* wrow = taps + ky * g.k * C + c;
          for (int64_t kx = kx0; kx < kx1; ++kx)
            acc = _mm256_fmadd_ps(_mm256_maskload_ps(wrow + kx * C, m), _mm256_maskload_ps(xrow + (kx - kx0) * C, m),
                                  acc);
        }
        _mm256_maskstore_ps(yr + c, m, acc);
      }
    }
  }
}

// AVX-512: 16 channels per vector, masked tail.
RSFIQA_TARGET_AVX512 inline void depthwise_hwc_f32_avx512(const DepthwiseHwcGeometry& g, const float* x,
                                                          const float* taps, const float* bias, float* y, int64_t oy0,
                                                          int64_t oy1) {
  const int64_t C = g.C;
  for (int64_t oy = oy0; oy < oy1; ++oy) {
    int64_t iy0, ky0, ky1;  // kernel rows inside the image for this output row
    g.taps_inside(oy, g.H, &iy0, &ky0, &ky1);
    for (int64_t ox = 0; ox < g.Wo; ++ox) {
      int64_t ix0, kx0, kx1;
      g.taps_inside(ox, g.W, &ix0, &kx0, &kx1);
      float* yr = y + ((oy - oy0) * g.Wo + ox) * C;
      for (int64_t c = 0; c < C; c += 16) {
        const __mmask16 m = C - c >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (C - c)) - 1u);
        __m512 acc = bias ? _mm512_maskz_loadu_ps(m, bias + c) : _mm512_setzero_ps();
        for (int64_t ky = ky0; ky < ky1; ++ky) {
          const float* xrow = x + ((iy0 + ky) * g.W + ix0 + kx0) * C + c;  // tap kx0 (inside the image)
          const float* wrow = taps + ky * g.k * C + c;
          for (int64_t kx = kx0; kx < kx1; ++kx)
            acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, wrow + kx * C),
                                  _mm512_maskz_loadu_ps(m, xrow + (kx - kx0) * C), acc);
        }
        _mm512_mask_storeu_ps(yr + c, m, acc);
      }
    }
  }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif  // RSFIQA_X86_SIMD

// Dispatching entry point (rsfiqa::active_isa()).
inline void depthwise_hwc_f32(const DepthwiseHwcGeometry& g, const float* x, const float* taps, const float* bias,
                              float* y, int64_t oy0, int64_t oy1) {
#if RSFIQA_X86_SIMD
  const Isa isa = active_isa();
  if (isa == Isa::kAvx512) return depthwise_hwc_f32_avx512(g, x, taps, bias, y, oy0, oy1);
  if (isa == Isa::kAvx2) return depthwise_hwc_f32_avx2(g, x, taps, bias, y, oy0, oy1);
#endif
  depthwise_hwc_f32_ref(g, x, taps, bias, y, oy0, oy1);
}

}  // namespace rsfiqa::kernels

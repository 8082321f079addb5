// SPDX-License-Identifier: MIT
// GGUF block quantization: the block structs (Q8_0, Q4_0, Q5_0, Q5_1, Q4_K,
// Q6_K and the activation type Q8_K), reference quantize/dequantize of a row, and the
// scalar reference twins of the dot products in kernels/quant_dot.hpp.
//
// The layouts and the rounding of the reference quantizers follow ggml
// (ggml-common.h / ggml-quants.c) so files we write load in llama.cpp and
// files llama.cpp writes load here, bit for bit. The code is our own.
//
// What it does not do: no importance-matrix quantization, no Q4_1/Q5_K/Q2_K/
// Q3_K/IQ types, no SIMD (that is quant_dot.hpp).
//
// Block layouts (one struct = one block, little-endian, no padding):
//
//   Q8_0  (32 weights, 34 B)   | d:f16 | qs[32]:i8 |                w = d*q
//   Q4_0  (32 weights, 18 B)   | d:f16 | qs[16]:u8 |   byte j = q[j] | q[j+16]<<4,
//                                                         w = d*(q-8), q in 0..15
//   Q5_0  (32 weights, 22 B)   | d:f16 | qh[4] | qs[16] |   low 4 bits as Q4_0;
//         bit j of the little-endian u32 qh = bit 4 of q[j]; w = d*(q-16), q in 0..31
//   Q5_1  (32 weights, 24 B)   | d:f16 | m:f16 | qh[4] | qs[16] |   as Q5_0,
//         w = d*q + m, q in 0..31
//   Q4_K  (256 weights, 144 B) | d:f16 | dmin:f16 | scales[12] | qs[128] |
//         8 sub-blocks of 32 with a 6-bit scale sc and a 6-bit min m each:
//         w = d*sc*q - dmin*m, q in 0..15. qs holds 4 groups of 64 weights:
//         byte l of group g = q[64g+l] | q[64g+32+l]<<4.
//         scales[0..3]: sc0..3 (low 6 bits), high 2 bits of sc4..7
//         scales[4..7]: m0..3  (low 6 bits), high 2 bits of m4..7
//         scales[8..11]: low 4 bits of sc4..7 | low 4 bits of m4..7 << 4
//   Q6_K  (256 weights, 210 B) | ql[128] | qh[64] | scales[16]:i8 | d:f16 |
//         w = d*scales[e/16]*(q-32), q in 0..63: 4 low bits in ql, 2 high in qh
//         (two halves of 128; see dequantize_row_q6_K_ref for the bit walk).
//   Q8_K  (256 values, 292 B)  | d:f32 | qs[256]:i8 | bsums[16]:i16 |
//         activations only: bsums[g] = sum of qs[16g..16g+15].
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "rsfiqa/core/config.hpp"
#include "rsfiqa/core/dtype.hpp"

namespace rsfiqa::kernels {

constexpr int kQK8_0 = 32;   // weights per Q8_0 block
constexpr int kQK4_0 = 32;   // weights per Q4_0 block
constexpr int kQK5_0 = 32;   // weights per Q5_0 / Q5_1 block
constexpr int kQK_K = 256;   // weights per K-quant super-block

struct BlockQ8_0 {
  uint16_t d;           // scale, IEEE half
  int8_t qs[kQK8_0];    // quants
};
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block must be 34 bytes");

struct BlockQ4_0 {
  uint16_t d;             // scale, IEEE half
  uint8_t qs[kQK4_0 / 2]; // nibbles: element j low, element j+16 high
};
static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 block must be 18 bytes");

struct BlockQ5_0 {
  uint16_t d;             // scale, IEEE half
  uint8_t qh[4];          // bit 4 of each level: bit j of the u32 = element j
  uint8_t qs[kQK5_0 / 2]; // low 4 bits: element j low nibble, element j+16 high
};
static_assert(sizeof(BlockQ5_0) == 22, "Q5_0 block must be 22 bytes");

struct BlockQ5_1 {
  uint16_t d;             // scale, IEEE half
  uint16_t m;             // offset (the block minimum), IEEE half
  uint8_t qh[4];          // bit 4 of each level, as in Q5_0
  uint8_t qs[kQK5_0 / 2]; // low 4 bits, as in Q5_0
};
static_assert(sizeof(BlockQ5_1) == 24, "Q5_1 block must be 24 bytes");

struct BlockQ4_K {
  uint16_t d;               // super-block scale of the sub-block scales
  uint16_t dmin;            // super-block scale of the sub-block mins
  uint8_t scales[12];       // 8 x (6-bit scale, 6-bit min), packed
  uint8_t qs[kQK_K / 2];    // 4-bit quants
};
static_assert(sizeof(BlockQ4_K) == 144, "Q4_K block must be 144 bytes");

struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];      // low 4 bits of the quants
  uint8_t qh[kQK_K / 4];      // high 2 bits of the quants
  int8_t scales[kQK_K / 16];  // 8-bit scale per 16 weights
  uint16_t d;                 // super-block scale
};
static_assert(sizeof(BlockQ6_K) == 210, "Q6_K block must be 210 bytes");

struct BlockQ8_K {
  float d;                     // scale (f32, unlike the others)
  int8_t qs[kQK_K];            // quants
  int16_t bsums[kQK_K / 16];   // sums of 16 consecutive quants
};
static_assert(sizeof(BlockQ8_K) == 292, "Q8_K block must be 292 bytes");

namespace quant_detail {

// Round to nearest, ties to even, for |x| < 2^22, via the float-add trick:
// adding 1.5*2^23 puts the integer part in the mantissa's low bits. Unlike a
// float->int cast it is defined for every input (NaN/inf give garbage that
// the callers clamp), so hostile weights cannot trigger UB.
inline int nearest_int(float x) {
  const float v = x + 12582912.0f;
  int32_t i;
  std::memcpy(&i, &v, 4);
  return (i & 0x007fffff) - 0x00400000;
}

// roundf() then clamp to int8, with NaN mapped to 0 (the cast alone is UB).
inline int8_t round_to_i8(float v) {
  if (!(v == v)) return 0;
  const float r = std::round(v);
  return (int8_t)(r > 127.0f ? 127 : (r < -128.0f ? -128 : (int)r));
}

// Unpacks the 6-bit scale and min of sub-block j (0..7) of a Q4_K block.
inline void q4_k_scale_min(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// The 32 levels (0..31) of a Q5_0/Q5_1 block in element order: the low
// nibbles of qs (first half of the block, then the second) with bit 4 taken
// from bit j of qh, read as a little-endian u32.
inline void q5_levels(const uint8_t* qs, const uint8_t* qh, uint8_t* out) {
  const uint32_t h = (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
  for (int j = 0; j < 16; ++j) {
    out[j] = (uint8_t)((qs[j] & 0xF) | ((h >> j) & 1u) << 4);
    out[j + 16] = (uint8_t)((qs[j] >> 4) | ((h >> (j + 16)) & 1u) << 4);
  }
}

// Packs 32 levels (0..31) into qs/qh, the inverse of q5_levels.
inline void q5_pack(const uint8_t* L, uint8_t* qs, uint8_t* qh) {
  uint32_t h = 0;
  for (int j = 0; j < 16; ++j) {
    qs[j] = (uint8_t)((L[j] & 0xF) | (L[j + 16] & 0xF) << 4);
    h |= (uint32_t)(L[j] >> 4 & 1u) << j;
    h |= (uint32_t)(L[j + 16] >> 4 & 1u) << (j + 16);
  }
  for (int b = 0; b < 4; ++b) qh[b] = (uint8_t)(h >> (8 * b));
}

// ggml's level rounding for the Q5 blocks: trunc(x*id + offset) clamped to
// 0..top (the offset carries the +0.5 of round-half-up), NaN giving 0.
// ggml writes x*id and the addition as two float operations, which the
// compilers of llama.cpp's usual builds (x86-64 with FMA) fuse into one
// multiply-add with a single rounding; gguf-py's quantizer reproduces that.
// So do we, portably: the product of two floats is exact in double, the sum
// is rounded once to float (double then float rounding differs from one
// rounding only on ties far below a level step). Whichever flags this file
// is compiled with, the levels are the same.
inline uint8_t fused_level(float x, float id, float offset, int top) {
  const float v = (float)((double)x * (double)id + (double)offset);
  if (!(v >= 0.0f)) return 0;
  return (uint8_t)(v >= (float)top ? top : (int)v);
}

// Asymmetric fit of n values to levels 0..nmax (w ≈ scale*L - min) with a
// weighted least-squares search over nstep+1 trial inverse scales, the
// "qkx2" search ggml's Q4_K reference uses. Returns the scale, stores the
// (positive) min in *the_min and the levels in L.
inline float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                              uint8_t* Laux, float rmin, float rdelta, int nstep) {
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += weights[i];
    sum_x += weights[i] * x[i];
  }
  if (min > 0) min = 0;  // the min is only ever subtracted
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -min;
    return 0.0f;
  }
  // Start: plain min/max mapping, weighted squared error as the score.
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = (uint8_t)(l < 0 ? 0 : (l > nmax ? nmax : l));
    const float diff = scale * L[i] + min - x[i];
    best_error += weights[i] * diff * diff;
  }
  // Try stretched/shrunk inverse scales; for each, the least-squares (scale,
  // min) for the resulting levels, keep the best.
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * (x[i] - min));
      l = l < 0 ? 0 : (l > nmax ? nmax : l);
      Laux[i] = (uint8_t)l;
      const float w = weights[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        const float diff = this_scale * Laux[i] + this_min - x[i];
        cur_error += weights[i] * diff * diff;
      }
      if (cur_error < best_error) {
        for (int i = 0; i < n; ++i) L[i] = Laux[i];
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// Symmetric fit of n values to levels -nmax..nmax-1 (stored as L+nmax),
// weights x^2, with a search of 18 inverse scales around nmax/max: ggml's
// make_qx_quants with rmse_type 1, used by the Q6_K reference.
inline float make_qx_quants(int n, int nmax, const float* x, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < 1e-15f) {  // an all-zero group
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.0f;
  }
  auto clamp_l = [nmax](int l) { return l < -nmax ? -nmax : (l > nmax - 1 ? nmax - 1 : l); };
  float iscale = -nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = clamp_l(nearest_int(iscale * x[i]));
    L[i] = (int8_t)(l + nmax);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  float scale = suml2 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = clamp_l(nearest_int(iscale * x[i]));
      const float w = x[i] * x[i];
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) L[i] = (int8_t)(nmax + clamp_l(nearest_int(iscale * x[i])));
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

}  // namespace quant_detail

// ---------------------------------------------------------------- Q8_0

// x[k] -> k/32 blocks; d = max|x|/127, q = round(x/d) (ties away from zero).
inline void quantize_row_q8_0_ref(const float* x, BlockQ8_0* y, int64_t k) {
  const int64_t nb = k / kQK8_0;
  for (int64_t i = 0; i < nb; ++i) {
    const float* xb = x + i * kQK8_0;
    float amax = 0.0f;
    for (int j = 0; j < kQK8_0; ++j) amax = std::fmax(amax, std::fabs(xb[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_f16(d);
    for (int j = 0; j < kQK8_0; ++j) y[i].qs[j] = quant_detail::round_to_i8(xb[j] * id);
  }
}

inline void dequantize_row_q8_0_ref(const BlockQ8_0* x, float* y, int64_t k) {
  const int64_t nb = k / kQK8_0;
  for (int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(x[i].d);
    for (int j = 0; j < kQK8_0; ++j) y[i * kQK8_0 + j] = x[i].qs[j] * d;
  }
}

// ---------------------------------------------------------------- Q4_0

namespace quant_detail {
// The value of largest magnitude in x[0..n) with its sign (the first one on
// ties; 0 for an all-zero or empty block), as ggml's Q4_0/Q5_0 scale search.
inline float signed_absmax(const float* x, int n) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}
}  // namespace quant_detail

// d = (value of largest magnitude) / -8, so that value maps exactly to level
// 0 and the rest to round(x/d)+8 clamped to 15 (ggml's truncating +8.5).
inline void quantize_row_q4_0_ref(const float* x, BlockQ4_0* y, int64_t k) {
  const int64_t nb = k / kQK4_0;
  for (int64_t i = 0; i < nb; ++i) {
    const float* xb = x + i * kQK4_0;
    const float max = quant_detail::signed_absmax(xb, kQK4_0);
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_f16(d);
    auto level = [](float v) -> uint8_t {
      v += 8.5f;
      if (!(v >= 0.0f)) return 0;  // also NaN
      return (uint8_t)(v >= 15.0f ? 15 : (int)v);
    };
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      const uint8_t lo = level(xb[j] * id);
      const uint8_t hi = level(xb[j + kQK4_0 / 2] * id);
      y[i].qs[j] = (uint8_t)(lo | (hi << 4));
    }
  }
}

inline void dequantize_row_q4_0_ref(const BlockQ4_0* x, float* y, int64_t k) {
  const int64_t nb = k / kQK4_0;
  for (int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(x[i].d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      y[i * kQK4_0 + j] = ((x[i].qs[j] & 0xF) - 8) * d;
      y[i * kQK4_0 + j + kQK4_0 / 2] = ((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

// ---------------------------------------------------------------- Q5_0

// As Q4_0 with one more bit: d = (value of largest magnitude) / -16, so that
// value maps to level 0; level = trunc(x*id + 16.5) clamped to 31, id = 1/d
// (see fused_level for the rounding of x*id + 16.5).
inline void quantize_row_q5_0_ref(const float* x, BlockQ5_0* y, int64_t k) {
  const int64_t nb = k / kQK5_0;
  uint8_t L[kQK5_0];
  for (int64_t i = 0; i < nb; ++i) {
    const float* xb = x + i * kQK5_0;
    const float max = quant_detail::signed_absmax(xb, kQK5_0);
    const float d = max / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_f16(d);
    for (int j = 0; j < kQK5_0; ++j) L[j] = quant_detail::fused_level(xb[j], id, 16.5f, 31);
    quant_detail::q5_pack(L, y[i].qs, y[i].qh);
  }
}

inline void dequantize_row_q5_0_ref(const BlockQ5_0* x, float* y, int64_t k) {
  const int64_t nb = k / kQK5_0;
  uint8_t L[kQK5_0];
  for (int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(x[i].d);
    quant_detail::q5_levels(x[i].qs, x[i].qh, L);
    for (int j = 0; j < kQK5_0; ++j) y[i * kQK5_0 + j] = (L[j] - 16) * d;
  }
}

// ---------------------------------------------------------------- Q5_1

// Asymmetric: m = block minimum, d = (max - min) / 31, level =
// trunc((x - min)*id + 0.5), id = 1/d, rounded as fused_level. ggml does
// not clamp (the levels cannot pass 31 for finite input); the clamp here
// only guards NaN and infinities.
inline void quantize_row_q5_1_ref(const float* x, BlockQ5_1* y, int64_t k) {
  const int64_t nb = k / kQK5_0;
  uint8_t L[kQK5_0];
  for (int64_t i = 0; i < nb; ++i) {
    const float* xb = x + i * kQK5_0;
    float min = xb[0], max = xb[0];
    for (int j = 1; j < kQK5_0; ++j) {
      if (xb[j] < min) min = xb[j];
      if (xb[j] > max) max = xb[j];
    }
    const float d = (max - min) / 31.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_f16(d);
    y[i].m = f32_to_f16(min);
    for (int j = 0; j < kQK5_0; ++j) L[j] = quant_detail::fused_level(xb[j] - min, id, 0.5f, 31);
    quant_detail::q5_pack(L, y[i].qs, y[i].qh);
  }
}

inline void dequantize_row_q5_1_ref(const BlockQ5_1* x, float* y, int64_t k) {
  const int64_t nb = k / kQK5_0;
  uint8_t L[kQK5_0];
  for (int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(x[i].d), m = f16_to_f32(x[i].m);
    quant_detail::q5_levels(x[i].qs, x[i].qh, L);
    for (int j = 0; j < kQK5_0; ++j) y[i * kQK5_0 + j] = L[j] * d + m;
  }
}

// ---------------------------------------------------------------- Q4_K

inline void quantize_row_q4_K_ref(const float* x, BlockQ4_K* y, int64_t k) {
  const int64_t nb = k / kQK_K;
  uint8_t L[kQK_K];
  uint8_t Laux[32];
  float weights[32];
  float mins[kQK_K / 32];
  float scales[kQK_K / 32];
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    // 1. Per sub-block of 32: a float scale and min, weighted toward large values.
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < kQK_K / 32; ++j) {
      float sum_x2 = 0;
      for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
      const float av_x = std::sqrt(sum_x2 / 32);
      for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
      scales[j] = quant_detail::make_qkx2_quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -1.0f, 0.1f, 20);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    // 2. Quantize the 8 scales and 8 mins to 6 bits against d and dmin.
    const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    for (int j = 0; j < kQK_K / 32; ++j) {
      uint8_t ls = (uint8_t)quant_detail::nearest_int(inv_scale * scales[j]);
      uint8_t lm = (uint8_t)quant_detail::nearest_int(inv_min * mins[j]);
      ls = ls > 63 ? 63 : ls;
      lm = lm > 63 ? 63 : lm;
      if (j < 4) {
        y[i].scales[j] = ls;
        y[i].scales[j + 4] = lm;
      } else {
        y[i].scales[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
        y[i].scales[j - 4] |= (uint8_t)((ls >> 4) << 6);
        y[i].scales[j] |= (uint8_t)((lm >> 4) << 6);
      }
    }
    y[i].d = f32_to_f16(max_scale / 63.0f);
    y[i].dmin = f32_to_f16(max_min / 63.0f);
    // 3. Requantize every weight against the rounded scales actually stored.
    for (int j = 0; j < kQK_K / 32; ++j) {
      uint8_t sc, m;
      quant_detail::q4_k_scale_min(j, y[i].scales, &sc, &m);
      const float d = f16_to_f32(y[i].d) * sc;
      if (!d) continue;
      const float dm = f16_to_f32(y[i].dmin) * m;
      for (int ii = 0; ii < 32; ++ii) {
        const int l = quant_detail::nearest_int((x[32 * j + ii] + dm) / d);
        L[32 * j + ii] = (uint8_t)(l < 0 ? 0 : (l > 15 ? 15 : l));
      }
    }
    // 4. Pack: group g of 64 -> 32 bytes, low nibble first half, high second.
    uint8_t* q = y[i].qs;
    for (int j = 0; j < kQK_K; j += 64, q += 32)
      for (int l = 0; l < 32; ++l) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
  }
}

inline void dequantize_row_q4_K_ref(const BlockQ4_K* x, float* y, int64_t k) {
  const int64_t nb = k / kQK_K;
  for (int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(x[i].d);
    const float dmin = f16_to_f32(x[i].dmin);
    const uint8_t* q = x[i].qs;
    for (int g = 0; g < 4; ++g, q += 32) {
      uint8_t sc, m;
      quant_detail::q4_k_scale_min(2 * g, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      quant_detail::q4_k_scale_min(2 * g + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
    }
  }
}

// ---------------------------------------------------------------- Q6_K

inline void quantize_row_q6_K_ref(const float* x, BlockQ6_K* y, int64_t k) {
  const int64_t nb = k / kQK_K;
  int8_t L[kQK_K];
  float scales[kQK_K / 16];
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    // Per group of 16 a signed float scale; the largest sets d.
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < kQK_K / 16; ++ib) {
      scales[ib] = quant_detail::make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
      if (std::fabs(scales[ib]) > max_abs_scale) {
        max_abs_scale = std::fabs(scales[ib]);
        max_scale = scales[ib];
      }
    }
    if (max_abs_scale < 1e-15f) {
      std::memset(&y[i], 0, sizeof(BlockQ6_K));
      continue;
    }
    const float iscale = -128.0f / max_scale;
    y[i].d = f32_to_f16(1 / iscale);
    for (int ib = 0; ib < kQK_K / 16; ++ib) {
      const int s = quant_detail::nearest_int(iscale * scales[ib]);
      y[i].scales[ib] = (int8_t)(s > 127 ? 127 : s);
    }
    // Requantize against the stored 8-bit scales, levels -32..31 -> 0..63.
    for (int j = 0; j < kQK_K / 16; ++j) {
      const float d = f16_to_f32(y[i].d) * y[i].scales[j];
      if (!d) continue;
      for (int ii = 0; ii < 16; ++ii) {
        int l = quant_detail::nearest_int(x[16 * j + ii] / d);
        l = l < -32 ? -32 : (l > 31 ? 31 : l);
        L[16 * j + ii] = (int8_t)(l + 32);
      }
    }
    // Pack: per half of 128, ql[l] = q[l] | q[l+64]<<4, ql[l+32] = q[l+32] |
    // q[l+96]<<4, qh[l] = the 2 high bits of q[l], q[l+32], q[l+64], q[l+96].
    uint8_t* ql = y[i].ql;
    uint8_t* qh = y[i].qh;
    for (int j = 0; j < kQK_K; j += 128, ql += 64, qh += 32) {
      for (int l = 0; l < 32; ++l) {
        const int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
        ql[l] = (uint8_t)((q1 & 0xF) | ((q3 & 0xF) << 4));
        ql[l + 32] = (uint8_t)((q2 & 0xF) | ((q4 & 0xF) << 4));
        qh[l] = (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
      }
    }
  }
}

inline void dequantize_row_q6_K_ref(const BlockQ6_K* x, float* y, int64_t k) {
  const int64_t nb = k / kQK_K;
  for (int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(x[i].d);
    const uint8_t* ql = x[i].ql;
    const uint8_t* qh = x[i].qh;
    const int8_t* sc = x[i].scales;
    for (int half = 0; half < 2; ++half, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * sc[is] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
    }
  }
}

// ---------------------------------------------------------------- Q8_K

// Activations for the K-quant dots: d = max/-127 with the sign of the value
// of largest magnitude (ggml's choice), q clamped to 127, bsums filled.
inline void quantize_row_q8_K_ref(const float* x, BlockQ8_K* y, int64_t k) {
  const int64_t nb = k / kQK_K;
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    float max = 0, amax = 0;
    for (int j = 0; j < kQK_K; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    if (!(amax > 0.0f) || !std::isfinite(amax)) {
      std::memset(&y[i], 0, sizeof(BlockQ8_K));
      continue;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < kQK_K; ++j) {
      const int v = quant_detail::nearest_int(iscale * x[j]);
      y[i].qs[j] = (int8_t)(v > 127 ? 127 : (v < -128 ? -128 : v));
    }
    for (int g = 0; g < kQK_K / 16; ++g) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += y[i].qs[16 * g + l];
      y[i].bsums[g] = (int16_t)sum;
    }
    y[i].d = 1 / iscale;
  }
}

inline void dequantize_row_q8_K_ref(const BlockQ8_K* x, float* y, int64_t k) {
  const int64_t nb = k / kQK_K;
  for (int64_t i = 0; i < nb; ++i)
    for (int j = 0; j < kQK_K; ++j) y[i * kQK_K + j] = x[i].d * x[i].qs[j];
}

// ---------------------------------------------------------------- generic rows

// True for the weight types this header can dequantize and quantize.
inline bool quant_row_supported(DType t) {
  switch (t) {
    case DType::kF32: case DType::kF16: case DType::kBF16: case DType::kQ8_0:
    case DType::kQ4_0: case DType::kQ5_0: case DType::kQ5_1: case DType::kQ4_K: case DType::kQ6_K:
      return true;
    default:
      return false;
  }
}

// Dequantizes k elements of type t (k a multiple of the block size) to f32.
// Returns false for a type it does not know.
inline bool dequantize_row_ref(DType t, const void* src, float* dst, int64_t k) {
  switch (t) {
    case DType::kF32: std::memcpy(dst, src, (size_t)k * 4); return true;
    case DType::kF16: {
      const uint16_t* s = (const uint16_t*)src;
      for (int64_t i = 0; i < k; ++i) dst[i] = f16_to_f32(s[i]);
      return true;
    }
    case DType::kBF16: {
      const uint16_t* s = (const uint16_t*)src;
      for (int64_t i = 0; i < k; ++i) dst[i] = bf16_to_f32(s[i]);
      return true;
    }
    case DType::kQ8_0: dequantize_row_q8_0_ref((const BlockQ8_0*)src, dst, k); return true;
    case DType::kQ4_0: dequantize_row_q4_0_ref((const BlockQ4_0*)src, dst, k); return true;
    case DType::kQ5_0: dequantize_row_q5_0_ref((const BlockQ5_0*)src, dst, k); return true;
    case DType::kQ5_1: dequantize_row_q5_1_ref((const BlockQ5_1*)src, dst, k); return true;
    case DType::kQ4_K: dequantize_row_q4_K_ref((const BlockQ4_K*)src, dst, k); return true;
    case DType::kQ6_K: dequantize_row_q6_K_ref((const BlockQ6_K*)src, dst, k); return true;
    default: return false;
  }
}

// Quantizes k f32 values to type t with the reference rounding.
inline bool quantize_row_ref(DType t, const float* src, void* dst, int64_t k) {
  switch (t) {
    case DType::kF32: std::memcpy(dst, src, (size_t)k * 4); return true;
    case DType::kF16: {
      uint16_t* d = (uint16_t*)dst;
      for (int64_t i = 0; i < k; ++i) d[i] = f32_to_f16(src[i]);
      return true;
    }
    case DType::kBF16: {
      uint16_t* d = (uint16_t*)dst;
      for (int64_t i = 0; i < k; ++i) d[i] = f32_to_bf16(src[i]);
      return true;
    }
    case DType::kQ8_0: quantize_row_q8_0_ref(src, (BlockQ8_0*)dst, k); return true;
    case DType::kQ4_0: quantize_row_q4_0_ref(src, (BlockQ4_0*)dst, k); return true;
    case DType::kQ5_0: quantize_row_q5_0_ref(src, (BlockQ5_0*)dst, k); return true;
    case DType::kQ5_1: quantize_row_q5_1_ref(src, (BlockQ5_1*)dst, k); return true;
    case DType::kQ4_K: quantize_row_q4_K_ref(src, (BlockQ4_K*)dst, k); return true;
    case DType::kQ6_K: quantize_row_q6_K_ref(src, (BlockQ6_K*)dst, k); return true;
    default: return false;
  }
}

// ---------------------------------------------------------------- reference dots
// Every dot takes n = number of elements (a multiple of the block size).
// Integer parts are summed exactly per block; floats combine them in block
// order. The SIMD versions in quant_dot.hpp differ only in float summation
// order.

inline float vec_dot_f32_f32_ref(int64_t n, const float* x, const float* y) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += x[i] * y[i];
  return s;
}

// x: f16 weights, y: f32 activations.
inline float vec_dot_f16_f32_ref(int64_t n, const uint16_t* x, const float* y) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += f16_to_f32(x[i]) * y[i];
  return s;
}

// x: bf16 weights, y: f32 activations.
inline float vec_dot_bf16_f32_ref(int64_t n, const uint16_t* x, const float* y) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += bf16_to_f32(x[i]) * y[i];
  return s;
}

inline float vec_dot_q8_0_q8_0_ref(int64_t n, const BlockQ8_0* x, const BlockQ8_0* y) {
  const int64_t nb = n / kQK8_0;
  float s = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    int32_t sumi = 0;
    for (int j = 0; j < kQK8_0; ++j) sumi += x[i].qs[j] * y[i].qs[j];
    s += (float)sumi * (f16_to_f32(x[i].d) * f16_to_f32(y[i].d));
  }
  return s;
}

inline float vec_dot_q4_0_q8_0_ref(int64_t n, const BlockQ4_0* x, const BlockQ8_0* y) {
  const int64_t nb = n / kQK4_0;
  float s = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    int32_t sumi = 0;
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      sumi += ((x[i].qs[j] & 0xF) - 8) * y[i].qs[j];
      sumi += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + kQK4_0 / 2];
    }
    s += (float)sumi * (f16_to_f32(x[i].d) * f16_to_f32(y[i].d));
  }
  return s;
}

// Σ (q-16)*y per block, times d_x*d_y.
inline float vec_dot_q5_0_q8_0_ref(int64_t n, const BlockQ5_0* x, const BlockQ8_0* y) {
  const int64_t nb = n / kQK5_0;
  uint8_t L[kQK5_0];
  float s = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    quant_detail::q5_levels(x[i].qs, x[i].qh, L);
    int32_t sumi = 0;
    for (int j = 0; j < kQK5_0; ++j) sumi += (L[j] - 16) * y[i].qs[j];
    s += (float)sumi * (f16_to_f32(x[i].d) * f16_to_f32(y[i].d));
  }
  return s;
}

// Σ (d_x*q + m)*d_y*a = d_x*d_y*Σ q*a + m*d_y*Σ a per block: both integer
// sums are exact, the two float terms are added in this order.
inline float vec_dot_q5_1_q8_0_ref(int64_t n, const BlockQ5_1* x, const BlockQ8_0* y) {
  const int64_t nb = n / kQK5_0;
  uint8_t L[kQK5_0];
  float s = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    quant_detail::q5_levels(x[i].qs, x[i].qh, L);
    int32_t sumqa = 0, suma = 0;
    for (int j = 0; j < kQK5_0; ++j) {
      sumqa += L[j] * y[i].qs[j];
      suma += y[i].qs[j];
    }
    const float dy = f16_to_f32(y[i].d);
    s += (float)sumqa * (f16_to_f32(x[i].d) * dy) + (float)suma * (f16_to_f32(x[i].m) * dy);
  }
  return s;
}

// Σ_j d*sc_j*Σ q*y - dmin*m_j*Σ y per sub-block; Σ y comes from bsums.
inline float vec_dot_q4_K_q8_K_ref(int64_t n, const BlockQ4_K* x, const BlockQ8_K* y) {
  const int64_t nb = n / kQK_K;
  float s = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    int32_t sumi = 0, summ = 0;
    const uint8_t* q = x[i].qs;
    const int8_t* a = y[i].qs;
    for (int g = 0; g < 4; ++g, q += 32, a += 64) {
      uint8_t sc0, m0, sc1, m1;
      quant_detail::q4_k_scale_min(2 * g, x[i].scales, &sc0, &m0);
      quant_detail::q4_k_scale_min(2 * g + 1, x[i].scales, &sc1, &m1);
      int32_t s0 = 0, s1 = 0;
      for (int l = 0; l < 32; ++l) {
        s0 += (q[l] & 0xF) * a[l];
        s1 += (q[l] >> 4) * a[l + 32];
      }
      sumi += sc0 * s0 + sc1 * s1;
      summ += m0 * (y[i].bsums[4 * g] + y[i].bsums[4 * g + 1]) + m1 * (y[i].bsums[4 * g + 2] + y[i].bsums[4 * g + 3]);
    }
    s += y[i].d * (f16_to_f32(x[i].d) * (float)sumi - f16_to_f32(x[i].dmin) * (float)summ);
  }
  return s;
}

// Σ_g scales[g] * Σ_{e in g} (q_e - 32) * y_e, times d * y.d.
inline float vec_dot_q6_K_q8_K_ref(int64_t n, const BlockQ6_K* x, const BlockQ8_K* y) {
  const int64_t nb = n / kQK_K;
  float s = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    int8_t q[kQK_K];  // unpacked levels minus 32
    const uint8_t* ql = x[i].ql;
    const uint8_t* qh = x[i].qh;
    for (int half = 0; half < 2; ++half, ql += 64, qh += 32) {
      int8_t* o = q + 128 * half;
      for (int l = 0; l < 32; ++l) {
        o[l] = (int8_t)(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
        o[l + 32] = (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
        o[l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        o[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
    }
    int32_t sumi = 0;
    for (int g = 0; g < kQK_K / 16; ++g) {
      int32_t sg = 0;
      for (int l = 0; l < 16; ++l) sg += q[16 * g + l] * y[i].qs[16 * g + l];
      sumi += x[i].scales[g] * sg;
    }
    s += f16_to_f32(x[i].d) * y[i].d * (float)sumi;
  }
  return s;
}

}  // namespace rsfiqa::kernels

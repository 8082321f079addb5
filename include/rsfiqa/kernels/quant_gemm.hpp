// SPDX-License-Identifier: MIT
// Register-tiled products of Q8_0 / Q4_0 (and, in the x8 tiles, Q5_0 and
// Q5_1) weight rows with Q8_0 activation rows, and of Q4_K and Q6_K weight
// rows with Q8_K activation rows (x8 tiles only): one call computes a tile of up to
// 4 activation rows (32 for the packed x8 tiles) x 4 weight rows,
// loading each weight block once for all activation rows and each
// activation block once for all weight rows. mul_mat_rows
// (kernels/quant_dot.hpp) uses them for both prefill (4 x 4 tiles, a GEMM)
// and decode (1 x 4 tiles, a mat-vec that streams the weights from memory
// with software prefetch). Also a fast Q8_0 activation quantizer.
//
// The integer trick that avoids the sign shuffles of the single-row dots:
//   Q4_0: levels q in 0..15 are already unsigned, so the unsigned x signed
//         byte product (AVX-512 VNNI vpdpbusd, AVX2 maddubs) takes them as
//         they are and Σ (q-8)·a = Σ q·a - 8·Σ a, where 8·Σ a is computed once
//         per activation block (lane-wise, so every int32 lane stays exact).
//   Q8_0 (VNNI 4 x 4 tiles): activations become unsigned by a+128 (one xor
//         per activation block) and Σ a·w = Σ (a+128)·w - 128·Σ w, where
//         128·Σ w is computed once per weight block.
//   Q8_0 (VNNI x8 tiles): the weights become unsigned instead, w+128 (one
//         xor per broadcast dword, shared by up to 32 activation rows), and
//         Σ a·w = Σ a·(w+128) - 128·Σ a with 128·Σ a packed with the
//         activations; the signed activations can then be vpdpbusd's
//         memory operand, as for Q4_0.
//   Q5_0 (VNNI x8 tiles only): levels q in 0..31 (nibble plus one bit of
//         qh) are unsigned as well, Σ (q-16)·a = Σ q·a - 16·Σ a with 16·Σ a
//         packed with the activations; each weight block's 32 levels are
//         built once in a register and its dwords broadcast to all lanes.
//   Q5_1 (VNNI x8 tiles only): the same levels, d·q + m per element, so a
//         block is d·d_a·Σ q·a + m·d_a·Σ a; the tile runs vpdpbusd from zero
//         and reads Σ a off the packed -16·Σ a (Q5_0's packing, shared).
//         The other Q5_0/Q5_1 products (fewer than 8 activation rows, CPUs
//         without VNNI) stay with the row dots of kernels/quant_dot.hpp.
//   Q4_K (VNNI x8 tiles only): 8 Q8_K activation rows are packed per
//         super-block in the same interleave, sub-block by sub-block, with
//         each row's scale and its Σ a per 32-element sub-block (from the
//         Q8_K bsums). Nibble levels 0..15 meet them by vpdpbusd from zero,
//         the sub-block sums are scaled by the 6-bit scales in int32 and the
//         6-bit mins meet the Σ a pairs by vpdpwssd, so sumi and summ are the
//         reference's exact integers; the float step repeats the reference's
//         expression unfused, so the tile equals vec_dot_q4_K_q8_K_ref bit
//         for bit. Fewer than 8 rows or no VNNI: the per-row Q4_K dots.
//   Q6_K (VNNI x8 tiles only): the same packing, which also keeps Σ a per
//         16 elements. Levels 0..63 are rebuilt from ql/qh per super-block;
//         the two 16-element halves of each sub-block are summed apart
//         (dwords 0..3 and 4..7) and scaled by their int8 scales in int32,
//         and -32·Σ sc·Σ a comes from the per-16 sums by vpdpwssd, so sumi
//         is the reference's integer and the tile equals
//         vec_dot_q6_K_q8_K_ref bit for bit.
// Integer sums per block are exact, so results equal the scalar reference
// (vec_dot_*_ref in kernels/quant.hpp) up to float summation order.
//
// What it does not do: no K-quant other than Q4_K and Q6_K, no repacking
// of the mapped weights (the file's layout is used as it is).
// The tile shape follows the usual register-blocked GEMM micro-kernel (as in
// llama.cpp's tinyBLAS); the code is our own.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "rsfiqa/core/config.hpp"
#include "rsfiqa/core/cpu.hpp"
#include "rsfiqa/core/dtype.hpp"
#include "rsfiqa/kernels/quant.hpp"

#if RSFIQA_X86_SIMD
#include <immintrin.h>
#endif

namespace rsfiqa::kernels {

// A tile kernel: out[r*4 + j] = dot(weight row w[j], activation row a[r])
// for r < MR (the kernel's activation-row count) and j < 4; K elements, a
// multiple of 32. Weight rows are Q8_0 or Q4_0 blocks, activation rows Q8_0.
using QTileFn = void (*)(int64_t K, const void* const* w, const void* const* a, float* out);

// Scalar reference twin: every output is the reference single-row dot.
template <int MR, bool Q4>
inline void qtile_ref(int64_t K, const void* const* w, const void* const* a, float* out) {
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < 4; ++j)
      out[r * 4 + j] = Q4 ? vec_dot_q4_0_q8_0_ref(K, (const BlockQ4_0*)w[j], (const BlockQ8_0*)a[r])
                          : vec_dot_q8_0_q8_0_ref(K, (const BlockQ8_0*)w[j], (const BlockQ8_0*)a[r]);
}

// y += a * x for f16 x (the attention's weighted sum over an f16 V cache).
inline void vec_axpy_f16_ref(int64_t n, float a, const uint16_t* x, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * f16_to_f32(x[i]);
}

// ---- Eight Q4_0 weight rows against one activation row (decode).
// -8·Σ a per activation block, the Q4_0 level offset, as the w8 mat-vec
// takes it (computed once per activation row, shared by every weight row).
inline void q4_0_act_corr(const BlockQ8_0* a, int64_t nb, int32_t* corr) {
  for (int64_t i = 0; i < nb; ++i) {
    int32_t s = 0;
    for (int e = 0; e < 32; ++e) s += a[i].qs[e];
    corr[i] = -8 * s;
  }
}

// out[j] = dot(Q4_0 row j, a) for the 8 rows w0 + j*row_bytes (scalar twin
// of the VNNI kernel; corr as from q4_0_act_corr, unused here).
inline void gemv8_q4_0_ref(int64_t K, const uint8_t* w0, int64_t row_bytes, const BlockQ8_0* a,
                           const int32_t* corr, float* out) {
  (void)corr;
  for (int j = 0; j < 8; ++j) out[j] = vec_dot_q4_0_q8_0_ref(K, (const BlockQ4_0*)(w0 + j * row_bytes), a);
}

// ---- Attention over a KV cache of f32 or f16 rows (`stride` elements
// apart; one head's D values per row start at the given pointer).

// s[j] = scale · dot(q, K row j) for j < n.
inline void attn_scores_ref(int64_t n, int64_t D, const float* q, const void* K, int64_t stride, bool f16, float scale,
                            float* s) {
  for (int64_t j = 0; j < n; ++j) {
    float acc = 0.0f;
    for (int64_t d = 0; d < D; ++d)
      acc += q[d] * (f16 ? f16_to_f32(((const uint16_t*)K)[j * stride + d]) : ((const float*)K)[j * stride + d]);
    s[j] = acc * scale;
  }
}

// o[d] = Σ_j p[j] · V row j [d] for d < D (o is overwritten).
inline void attn_wsum_ref(int64_t n, int64_t D, const float* p, const void* V, int64_t stride, bool f16, float* o) {
  for (int64_t d = 0; d < D; ++d) o[d] = 0.0f;
  for (int64_t j = 0; j < n; ++j)
    for (int64_t d = 0; d < D; ++d)
      o[d] += p[j] * (f16 ? f16_to_f32(((const uint16_t*)V)[j * stride + d]) : ((const float*)V)[j * stride + d]);
}

// ---- Eight activation rows interleaved (prefill GEMM with many rows).
// Lane r of a 256-bit register holds 4 bytes of activation row r, so one
// vpdpbusd against 4 broadcast weight bytes advances 8 row dots at once and
// the per-block float work (convert, scale, accumulate) is done once per 8
// activation rows instead of once per row. Per block of 32 elements:
//   qs[32*m + 4*r + c] = element 4m+c of row r      (m < 8, r < 8, c < 4)
// stored as signed bytes (the unsigned operand is the weight level: Q4_0
// 0..15, Q5_0/Q5_1 0..31, Q8_0 level + 128); d[r] is row r's block scale; corr[r]
// is minus the weight levels' offset times Σ a_r (-8·Σ a_r for Q4_0,
// -16·Σ a_r for Q5_0 and Q5_1, -128·Σ a_r for Q8_0), so a lane sum started
// from corr is exactly Σ (level - offset)·a. At most 32·255·128 in
// magnitude: int32. (Q5_1 levels have no offset, d·q + m; its tile takes
// Σ a_r = -corr[r]/16 for the m term, so it shares Q5_0's packing.)
// Aligned to a cache line (320 = 5 x 64 bytes), so in an array of them no
// 32-byte load of the tiles straddles two lines.
struct alignas(64) BlockQ8_0x8 {
  int8_t qs[8 * 32];
  float d[8];
  int32_t corr[8];
};
static_assert(sizeof(BlockQ8_0x8) == 320, "Q8_0x8 block must be 320 bytes");

// True for the weight types the x8 tiles take: Q8_0, Q4_0, Q5_0 and Q5_1.
constexpr bool x8_weight_type(DType w) {
  return w == DType::kQ8_0 || w == DType::kQ4_0 || w == DType::kQ5_0 || w == DType::kQ5_1;
}

// The offset packed with the activations (corr = -offset·Σ a) for weights
// of type w: the unsigned offset of the levels the x8 tiles feed to
// vpdpbusd (a Q4_0 level q stands for q - 8, a Q5_0 level for q - 16, a
// Q8_0 level w is fed as w + 128); 16 for Q5_1, whose tile only needs Σ a.
// Activations packed for one offset serve every weight type with that
// offset.
constexpr int32_t x8_level_offset(DType w) {
  return w == DType::kQ4_0 ? 8 : (w == DType::kQ5_0 || w == DType::kQ5_1) ? 16 : 128;
}

// Packs up to 8 Q8_0 rows (rows[r] == nullptr: a zero row) of nb blocks for
// weights of type w (one of x8_weight_type).
inline void pack_act_x8(const BlockQ8_0* const* rows, int64_t nb, DType w, BlockQ8_0x8* out) {
  const int32_t offset = x8_level_offset(w);
  for (int64_t i = 0; i < nb; ++i) {
    BlockQ8_0x8& o = out[i];
    for (int r = 0; r < 8; ++r) {
      const BlockQ8_0* b = rows[r] ? rows[r] + i : nullptr;
      int32_t sum = 0;
      for (int m = 0; m < 8; ++m) {
        uint32_t dw = 0;
        if (b) {
          std::memcpy(&dw, b->qs + 4 * m, 4);
          for (int c = 0; c < 4; ++c) sum += b->qs[4 * m + c];
        }
        std::memcpy(o.qs + 32 * m + 4 * r, &dw, 4);
      }
      o.d[r] = b ? f16_to_f32(b->d) : 0.0f;
      o.corr[r] = -offset * sum;
    }
  }
}

namespace qtile_detail {
// The weight block type of an x8 weight type.
template <DType W>
using X8Block = std::conditional_t<
    W == DType::kQ4_0, BlockQ4_0,
    std::conditional_t<W == DType::kQ5_0, BlockQ5_0, std::conditional_t<W == DType::kQ5_1, BlockQ5_1, BlockQ8_0>>>;

// Element e of a weight block as the unsigned level the tiles feed to
// vpdpbusd: Q4_0 0..15, Q5_0/Q5_1 0..31, Q8_0 level + 128.
template <DType W>
inline int x8_level(const X8Block<W>& b, int e) {
  if constexpr (W == DType::kQ4_0) {
    return e < 16 ? (b.qs[e] & 0xF) : (b.qs[e - 16] >> 4);
  } else if constexpr (W == DType::kQ5_0 || W == DType::kQ5_1) {
    const uint32_t h = (uint32_t)b.qh[0] | (uint32_t)b.qh[1] << 8 | (uint32_t)b.qh[2] << 16 | (uint32_t)b.qh[3] << 24;
    const int low = e < 16 ? (b.qs[e] & 0xF) : (b.qs[e - 16] >> 4);
    return low | (int)((h >> e) & 1u) << 4;
  } else {
    return b.qs[e] + 128;
  }
}
}  // namespace qtile_detail

// Scalar twin of the x8 tile: out[(8g + r)*4 + j] = dot(weight row w[j],
// activation row r of packed group a[g]) for g < G, r < 8, j < 4, from the
// packed bytes, exact integer sums per block, scaled in the order of the
// single-row reference dots (vec_dot_*_q8_0_ref), so the results equal
// them bit for bit. W: one of x8_weight_type.
template <int G, DType W>
inline void qtile_x8_ref(int64_t K, const void* const* w, const BlockQ8_0x8* const* a, float* out) {
  using WB = qtile_detail::X8Block<W>;
  const int64_t nb = K / 32;
  for (int g = 0; g < G; ++g)
    for (int r = 0; r < 8; ++r)
      for (int j = 0; j < 4; ++j) {
        float s = 0.0f;
        for (int64_t i = 0; i < nb; ++i) {
          const BlockQ8_0x8& ab = a[g][i];
          const WB& wb = ((const WB*)w[j])[i];
          int32_t sumi = 0, suma = 0;  // Σ (level - offset)·a, Σ a
          for (int e = 0; e < 32; ++e) {
            const int av = ab.qs[32 * (e / 4) + 4 * r + e % 4];
            sumi += (qtile_detail::x8_level<W>(wb, e) - (W == DType::kQ5_1 ? 0 : x8_level_offset(W))) * av;
            suma += av;
          }
          if constexpr (W == DType::kQ5_1) {
            // d·q + m: d·d_a·Σ q·a + m·d_a·Σ a, as vec_dot_q5_1_q8_0_ref.
            s += (float)sumi * (f16_to_f32(wb.d) * ab.d[r]) + (float)suma * (f16_to_f32(wb.m) * ab.d[r]);
          } else {
            s += (float)sumi * (f16_to_f32(wb.d) * ab.d[r]);
          }
        }
        out[(8 * g + r) * 4 + j] = s;
      }
}

// ---- Eight Q8_K activation rows interleaved, for Q4_K weights (x8 tiles).
// Per super-block of 256 elements, the 8 sub-blocks of 32 are laid out as a
// BlockQ8_0x8's qs, one after the other:
//   qs[256*s + 32*m + 4*r + c] = element 32s + 4m + c of row r
// (s < 8 sub-blocks, m < 8, r < 8, c < 4); d[r] is row r's f32 scale and
// bsum[k][r][h] = Σ a of sub-block 2k+h of row r, taken from the Q8_K
// bsums (bsums[2s] + bsums[2s+1], as the reference dot does). A valid
// Q8_K block keeps each such sum within 32·128, so int16 holds it; pairs
// of sub-blocks share a dword, so one vpdpwssd per pair multiplies them by
// a Q4_K row's two 6-bit mins. For Q6_K weights (one scale per 16
// elements) bsum16[k][r][h] = Σ a of the 16 elements 32k + 16h .. of row r,
// summed from the qs themselves (the Q6_K reference reads only the qs), a
// pair per dword for vpdpwssd against two int8 scales. 2496 bytes, a whole
// number of cache lines.
struct alignas(64) BlockQ8_Kx8 {
  int8_t qs[8 * 256];
  float d[8];
  int16_t bsum[4][8][2];
  int16_t bsum16[8][8][2];
};
static_assert(sizeof(BlockQ8_Kx8) == 2496, "Q8_Kx8 block must be 2496 bytes");

namespace quant_detail {
// The Σ a per 16 elements of row r of a packed block (bsum16), from row b's
// qs (b == nullptr: zeros). Shared by both packers.
inline void pack_q8_k_sums16(const BlockQ8_K* b, int r, BlockQ8_Kx8& o) {
  for (int k = 0; k < 16; ++k) {
    int32_t sum = 0;
    if (b)
      for (int e = 0; e < 16; ++e) sum += b->qs[16 * k + e];
    o.bsum16[k / 2][r][k % 2] = (int16_t)sum;
  }
}
}  // namespace quant_detail

// Packs up to 8 Q8_K rows (rows[r] == nullptr: a zero row) of nb
// super-blocks.
inline void pack_act_q8_k_x8(const BlockQ8_K* const* rows, int64_t nb, BlockQ8_Kx8* out) {
  for (int64_t i = 0; i < nb; ++i) {
    BlockQ8_Kx8& o = out[i];
    for (int r = 0; r < 8; ++r) {
      const BlockQ8_K* b = rows[r] ? rows[r] + i : nullptr;
      for (int s = 0; s < 8; ++s) {
        for (int m = 0; m < 8; ++m) {
          uint32_t dw = 0;
          if (b) std::memcpy(&dw, b->qs + 32 * s + 4 * m, 4);
          std::memcpy(o.qs + 256 * s + 32 * m + 4 * r, &dw, 4);
        }
        o.bsum[s / 2][r][s % 2] = b ? (int16_t)(b->bsums[2 * s] + b->bsums[2 * s + 1]) : (int16_t)0;
      }
      quant_detail::pack_q8_k_sums16(b, r, o);
      o.d[r] = b ? b->d : 0.0f;
    }
  }
}

// The x8 tile for Q4_K weights: out[(8g + r)*4 + j] = dot(Q4_K row w[j],
// activation row r of packed group a[g]) for g < G, r < 8, j < 4; K a
// multiple of 256.
using QTileX8KFn = void (*)(int64_t K, const void* const* w, const BlockQ8_Kx8* const* a, float* out);

// Scalar twin of the Q4_K x8 tile, from the packed bytes: per super-block
// sumi = Σ_s sc_s·Σ q·a and summ = Σ_s m_s·Σ a (exact int32), then the
// float expression of vec_dot_q4_K_q8_K_ref in its order, so the results
// equal the row dots bit for bit.
template <int G>
inline void qtile_x8_q4_k_ref(int64_t K, const void* const* w, const BlockQ8_Kx8* const* a, float* out) {
  const int64_t nb = K / kQK_K;
  for (int g = 0; g < G; ++g)
    for (int r = 0; r < 8; ++r)
      for (int j = 0; j < 4; ++j) {
        float s = 0.0f;
        for (int64_t i = 0; i < nb; ++i) {
          const BlockQ8_Kx8& ab = a[g][i];
          const BlockQ4_K& wb = ((const BlockQ4_K*)w[j])[i];
          int32_t sumi = 0, summ = 0;
          for (int sb = 0; sb < 8; ++sb) {
            uint8_t sc, mn;
            quant_detail::q4_k_scale_min(sb, wb.scales, &sc, &mn);
            int32_t p = 0;
            for (int e = 0; e < 32; ++e) {
              // Sub-block sb: low nibbles of qs[32·(sb/2) ..] for even sb, high for odd.
              const uint8_t byte = wb.qs[32 * (sb / 2) + e];
              const int q = sb % 2 ? byte >> 4 : byte & 0xF;
              p += q * ab.qs[256 * sb + 32 * (e / 4) + 4 * r + e % 4];
            }
            sumi += sc * p;
            summ += mn * ab.bsum[sb / 2][r][sb % 2];
          }
          s += ab.d[r] * (f16_to_f32(wb.d) * (float)sumi - f16_to_f32(wb.dmin) * (float)summ);
        }
        out[(8 * g + r) * 4 + j] = s;
      }
}

// Level (0..63) of element e < 256 of a Q6_K super-block, read from ql/qh
// as dequantize_row_q6_K_ref walks them: per half of 128, element
// 32u + l (u < 4) takes nibble u/2 of ql[32(u%2) + l] and bits 2u, 2u+1 of
// qh[l].
inline int q6_k_level(const BlockQ6_K& b, int e) {
  const int half = e / 128, u = (e % 128) / 32, l = e % 32;
  const int lo = (b.ql[64 * half + 32 * (u % 2) + l] >> (4 * (u / 2))) & 0xF;
  const int hi = (b.qh[32 * half + l] >> (2 * u)) & 3;
  return lo | hi << 4;
}

// Scalar twin of the Q6_K x8 tile, from the packed bytes: per super-block
// sumi = Σ_g sc_g·(Σ q·a - 32·Σ a) over the 16 groups of 16 elements (the
// reference's Σ sc_g·Σ (q-32)·a, the same exact int32), then the
// reference's float expression d·d_a·sumi, so the results equal
// vec_dot_q6_K_q8_K_ref bit for bit.
template <int G>
inline void qtile_x8_q6_k_ref(int64_t K, const void* const* w, const BlockQ8_Kx8* const* a, float* out) {
  const int64_t nb = K / kQK_K;
  for (int g = 0; g < G; ++g)
    for (int r = 0; r < 8; ++r)
      for (int j = 0; j < 4; ++j) {
        float s = 0.0f;
        for (int64_t i = 0; i < nb; ++i) {
          const BlockQ8_Kx8& ab = a[g][i];
          const BlockQ6_K& wb = ((const BlockQ6_K*)w[j])[i];
          int32_t sumi = 0;
          for (int k = 0; k < 16; ++k) {
            int32_t p = 0;
            for (int e = 16 * k; e < 16 * k + 16; ++e)
              p += q6_k_level(wb, e) * ab.qs[256 * (e / 32) + 32 * (e % 32 / 4) + 4 * r + e % 4];
            sumi += wb.scales[k] * (p - 32 * ab.bsum16[k / 2][r][k % 2]);
          }
          s += f16_to_f32(wb.d) * ab.d[r] * (float)sumi;
        }
        out[(8 * g + r) * 4 + j] = s;
      }
}

#if RSFIQA_X86_SIMD
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized at inlined uses.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
namespace qtile_detail {

// Bytes ahead of the current weight block that decode tiles prefetch: far
// enough to cover memory latency and the 4 KB pages the hardware prefetcher
// does not cross.
constexpr int kPrefetchBytes = 4096;

RSFIQA_TARGET_AVX2 inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Four consecutive weight rows (the usual 1 x 4 decode tile) advance 4
// blocks per step as one contiguous stream: prefetch the lines that step
// consumes, kPrefetchBytes ahead of row 0's current block.
template <typename WB>
RSFIQA_TARGET_AVX2 inline void prefetch_rows4(const WB* row0, int64_t i) {
  const char* p = (const char*)row0 + 4 * (int64_t)sizeof(WB) * i + kPrefetchBytes;
  RSFIQA_UNROLL
  for (int k = 0; k < (int)(4 * sizeof(WB) + 63) / 64; ++k) _mm_prefetch(p + 64 * k, _MM_HINT_T0);
}

// An f16 scale broadcast to 8 floats.
RSFIQA_TARGET_AVX2 inline __m256 bcast_half(const uint16_t* h) {
  return _mm256_cvtph_ps(_mm_set1_epi16((short)*h));
}

// The 32 levels of a Q4_0 block as unsigned bytes 0..15, in element order.
RSFIQA_TARGET_AVX2 inline __m256i q4_levels(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128((const __m128i*)qs);
  const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(q), _mm_srli_epi16(q, 4), 1);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// ---- AVX-512 VNNI (256-bit registers through AVX-512 VL).
template <int MR, bool Q4, bool Prefetch>
RSFIQA_TARGET_AVX512VNNI inline void tile_vnni(int64_t K, const void* const* wv, const void* const* av, float* out) {
  using WB = std::conditional_t<Q4, BlockQ4_0, BlockQ8_0>;
  const int64_t nb = K / 32;
  const WB* w[4] = {(const WB*)wv[0], (const WB*)wv[1], (const WB*)wv[2], (const WB*)wv[3]};
  const BlockQ8_0* a[MR];
  RSFIQA_UNROLL
  for (int r = 0; r < MR; ++r) a[r] = (const BlockQ8_0*)av[r];
  __m256 acc[MR][4];
  RSFIQA_UNROLL
  for (int r = 0; r < MR; ++r)
    RSFIQA_UNROLL
    for (int j = 0; j < 4; ++j) acc[r][j] = _mm256_setzero_ps();
  const __m256i zero = _mm256_setzero_si256();
  // Block i: load/unpack the 4 weight blocks once, then each activation row's
  // block meets all 4; acc[r][j] sums dx·dy·(exact int block sum) over blocks.
  for (int64_t i = 0; i < nb; ++i) {
    if (Prefetch) prefetch_rows4(w[0], i);
    __m256i wq[4], wcorr[4];
    __m256 wd[4];
    RSFIQA_UNROLL
    for (int j = 0; j < 4; ++j) {
      wd[j] = bcast_half(&w[j][i].d);
      if constexpr (Q4) {
        wq[j] = q4_levels(w[j][i].qs);
      } else {
        wq[j] = _mm256_loadu_si256((const __m256i*)w[j][i].qs);
        // -128·Σw per lane, the offset the unsigned activations add.
        if (MR > 1) wcorr[j] = _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, _mm256_set1_epi8((char)0x80), wq[j]));
      }
    }
    RSFIQA_UNROLL
    for (int r = 0; r < MR; ++r) {
      const __m256i aq = _mm256_loadu_si256((const __m256i*)a[r][i].qs);
      const __m256 ad = bcast_half(&a[r][i].d);
      __m256i p[4];
      if (Q4) {
        // -8·Σa per lane, then Σ q·a on top: lane-wise Σ (q-8)·a.
        const __m256i acorr = _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, _mm256_set1_epi8(8), aq));
        RSFIQA_UNROLL
        for (int j = 0; j < 4; ++j) p[j] = _mm256_dpbusd_epi32(acorr, wq[j], aq);
      } else if (MR > 1) {
        const __m256i au = _mm256_xor_si256(aq, _mm256_set1_epi8((char)0x80));  // a + 128 as unsigned
        RSFIQA_UNROLL
        for (int j = 0; j < 4; ++j) p[j] = _mm256_dpbusd_epi32(wcorr[j], au, wq[j]);
      } else {
        // One activation row: move w's sign onto a, |w| is the unsigned side.
        RSFIQA_UNROLL
        for (int j = 0; j < 4; ++j)
          p[j] = _mm256_dpbusd_epi32(zero, _mm256_sign_epi8(wq[j], wq[j]), _mm256_sign_epi8(aq, wq[j]));
      }
      RSFIQA_UNROLL
      for (int j = 0; j < 4; ++j)
        acc[r][j] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(p[j]), ad), wd[j], acc[r][j]);
    }
  }
  RSFIQA_UNROLL
  for (int r = 0; r < MR; ++r)
    RSFIQA_UNROLL
    for (int j = 0; j < 4; ++j) out[r * 4 + j] = hsum8(acc[r][j]);
}

// ---- AVX2: maddubs (u8 x s8 -> s16 pairs) + madd with ones. Q4_0 levels
// are at most 15, so the s16 pair sums (|15·127·2| < 32767) never saturate;
// Q8_0 uses |w| and a·sign(w) (at most 128·127·2 = 32512, no saturation).
template <int MR, bool Q4, bool Prefetch>
RSFIQA_TARGET_AVX2 inline void tile_avx2(int64_t K, const void* const* wv, const void* const* av, float* out) {
  using WB = std::conditional_t<Q4, BlockQ4_0, BlockQ8_0>;
  const int64_t nb = K / 32;
  const WB* w[4] = {(const WB*)wv[0], (const WB*)wv[1], (const WB*)wv[2], (const WB*)wv[3]};
  const BlockQ8_0* a[MR];
  RSFIQA_UNROLL
  for (int r = 0; r < MR; ++r) a[r] = (const BlockQ8_0*)av[r];
  __m256 acc[MR][4];
  RSFIQA_UNROLL
  for (int r = 0; r < MR; ++r)
    RSFIQA_UNROLL
    for (int j = 0; j < 4; ++j) acc[r][j] = _mm256_setzero_ps();
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t i = 0; i < nb; ++i) {
    if (Prefetch) prefetch_rows4(w[0], i);
    __m256i wq[4], wabs[4];
    __m256 wd[4];
    RSFIQA_UNROLL
    for (int j = 0; j < 4; ++j) {
      wd[j] = bcast_half(&w[j][i].d);
      if constexpr (Q4) {
        wq[j] = q4_levels(w[j][i].qs);
      } else {
        wq[j] = _mm256_loadu_si256((const __m256i*)w[j][i].qs);
        wabs[j] = _mm256_sign_epi8(wq[j], wq[j]);
      }
    }
    RSFIQA_UNROLL
    for (int r = 0; r < MR; ++r) {
      const __m256i aq = _mm256_loadu_si256((const __m256i*)a[r][i].qs);
      const __m256 ad = bcast_half(&a[r][i].d);
      __m256i p[4];
      if (Q4) {
        const __m256i acorr = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(8), aq), ones);
        RSFIQA_UNROLL
        for (int j = 0; j < 4; ++j)
          p[j] = _mm256_sub_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(wq[j], aq), ones), acorr);
      } else {
        RSFIQA_UNROLL
        for (int j = 0; j < 4; ++j)
          p[j] = _mm256_madd_epi16(_mm256_maddubs_epi16(wabs[j], _mm256_sign_epi8(aq, wq[j])), ones);
      }
      RSFIQA_UNROLL
      for (int j = 0; j < 4; ++j)
        acc[r][j] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(p[j]), ad), wd[j], acc[r][j]);
    }
  }
  RSFIQA_UNROLL
  for (int r = 0; r < MR; ++r)
    RSFIQA_UNROLL
    for (int j = 0; j < 4; ++j) out[r * 4 + j] = hsum8(acc[r][j]);
}

// The 32 levels of a Q5_0 or Q5_1 block as unsigned bytes 0..31 in element
// order: the nibbles as for Q4_0, bit 4 from qh (bit e of the 32-bit mask
// is element e, one mask bit per byte).
template <typename WB>
RSFIQA_TARGET_AVX512VNNI inline __m256i q5_levels(const WB& b) {
  uint32_t h;
  std::memcpy(&h, b.qh, 4);
  return _mm256_or_si256(q4_levels(b.qs), _mm256_maskz_mov_epi8((__mmask32)h, _mm256_set1_epi8(0x10)));
}

// The float accumulators of every x8 tile below: acc[g][j] lane r is
// activation row 8g + r against weight row j. x8_zero clears them, x8_store
// writes them out as out[(8g + r)·4 + j].
template <int G>
RSFIQA_TARGET_AVX512VNNI inline void x8_zero(__m256 (&acc)[G][4]) {
  RSFIQA_UNROLL
  for (int g = 0; g < G; ++g)
    RSFIQA_UNROLL
    for (int j = 0; j < 4; ++j) acc[g][j] = _mm256_setzero_ps();
}
template <int G>
RSFIQA_TARGET_AVX512VNNI inline void x8_store(const __m256 (&acc)[G][4], float* out) {
  RSFIQA_UNROLL
  for (int g = 0; g < G; ++g)
    RSFIQA_UNROLL
    for (int j = 0; j < 4; ++j) {
      alignas(32) float lanes[8];
      _mm256_store_ps(lanes, acc[g][j]);
      RSFIQA_UNROLL
      for (int r = 0; r < 8; ++r) out[(8 * g + r) * 4 + j] = lanes[r];
    }
}

// ---- x8 tile (AVX-512 VNNI): G packed groups of 8 activation rows x 4
// weight rows. For each weight row and block, 8 broadcast dwords of
// unsigned levels meet the 8 interleaved activation vectors of each group;
// lane r ends with row r's exact integer block sum. W: one of
// x8_weight_type; for Q5_1 the sum is Σ q·a and Σ a comes from corr.
template <int G, DType W>
RSFIQA_TARGET_AVX512VNNI inline void tile_x8_vnni(int64_t K, const void* const* wv, const BlockQ8_0x8* const* a,
                                                  float* out) {
  using WB = X8Block<W>;
  const int64_t nb = K / 32;
  const WB* w[4] = {(const WB*)wv[0], (const WB*)wv[1], (const WB*)wv[2], (const WB*)wv[3]};
  __m256 acc[G][4];
  x8_zero<G>(acc);
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i flip = _mm256_set1_epi8((char)0x80);
  // Block i: per weight row j, unpack its 8 dwords of levels once, then run
  // them against every packed group; acc[g][j] lane r = dot(row j, row 8g+r).
  for (int64_t i = 0; i < nb; ++i) {
    RSFIQA_UNROLL
    for (int j = 0; j < 4; ++j) {
      const WB& wb = w[j][i];
      const __m256 dx = bcast_half(&wb.d);
      __m256 mx = _mm256_setzero_ps();  // Q5_1's block offset m
      if constexpr (W == DType::kQ5_1) mx = bcast_half(&wb.m);
      __m256i wq[8];
      if constexpr (W == DType::kQ4_0) {
        // Dword c of the nibbles: low nibbles are elements 4c..4c+3, high
        // nibbles elements 16+4c.., i.e. positions m = c and m = c + 4.
        RSFIQA_UNROLL
        for (int c = 0; c < 4; ++c) {
          int32_t dw;
          std::memcpy(&dw, wb.qs + 4 * c, 4);
          const __m256i v = _mm256_set1_epi32(dw);
          wq[c] = _mm256_and_si256(v, m4);
          wq[c + 4] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        }
      } else if constexpr (W == DType::kQ5_0 || W == DType::kQ5_1) {
        // All 32 levels in element order in one register, then dword m
        // (elements 4m..4m+3) broadcast to every lane (one vpermd each).
        const __m256i lv = q5_levels(wb);
        RSFIQA_UNROLL
        for (int m = 0; m < 8; ++m) wq[m] = _mm256_permutexvar_epi32(_mm256_set1_epi32(m), lv);
      } else {
        // Levels + 128 as unsigned bytes (xor of the sign bit).
        RSFIQA_UNROLL
        for (int m = 0; m < 8; ++m) {
          int32_t dw;
          std::memcpy(&dw, wb.qs + 4 * m, 4);
          wq[m] = _mm256_xor_si256(_mm256_set1_epi32(dw), flip);
        }
      }
      RSFIQA_UNROLL
      for (int g = 0; g < G; ++g) {
        const BlockQ8_0x8& ab = a[g][i];
        const __m256i corr = _mm256_loadu_si256((const __m256i*)ab.corr);
        __m256i p = W == DType::kQ5_1 ? _mm256_setzero_si256() : corr;
        RSFIQA_UNROLL
        for (int m = 0; m < 8; ++m)
          p = _mm256_dpbusd_epi32(p, wq[m], _mm256_loadu_si256((const __m256i*)(ab.qs + 32 * m)));
        const __m256 da = _mm256_loadu_ps(ab.d);
        acc[g][j] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(p), da), dx, acc[g][j]);
        if constexpr (W == DType::kQ5_1) {
          // corr = -16·Σ a exactly, so Σ a = -corr >> 4; then + m·d_a·Σ a.
          const __m256i sa = _mm256_srai_epi32(_mm256_sub_epi32(_mm256_setzero_si256(), corr), 4);
          acc[g][j] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(sa), da), mx, acc[g][j]);
        }
      }
    }
  }
  x8_store<G>(acc, out);
}

// 8 x 8 dword transpose: v[m] lane k = r[k] dword m (32-bit, then 64-bit
// unpacks, then 128-bit halves).
RSFIQA_TARGET_AVX2 inline void transpose_dw8x8(const __m256i* r, __m256i* v) {
  __m256i t[8], u[8];
  RSFIQA_UNROLL
  for (int k = 0; k < 8; k += 2) {
    t[k] = _mm256_unpacklo_epi32(r[k], r[k + 1]);
    t[k + 1] = _mm256_unpackhi_epi32(r[k], r[k + 1]);
  }
  RSFIQA_UNROLL
  for (int k = 0; k < 8; k += 4) {
    u[k] = _mm256_unpacklo_epi64(t[k], t[k + 2]);          // dwords 0 | 4
    u[k + 1] = _mm256_unpackhi_epi64(t[k], t[k + 2]);      // dwords 1 | 5
    u[k + 2] = _mm256_unpacklo_epi64(t[k + 1], t[k + 3]);  // dwords 2 | 6
    u[k + 3] = _mm256_unpackhi_epi64(t[k + 1], t[k + 3]);  // dwords 3 | 7
  }
  RSFIQA_UNROLL
  for (int m = 0; m < 8; ++m)
    // Literal immediates in both arms: unoptimized builds do not unroll.
    v[m] = m < 4 ? _mm256_permute2x128_si256(u[m % 4], u[4 + m % 4], 0x20)
                 : _mm256_permute2x128_si256(u[m % 4], u[4 + m % 4], 0x31);
}

// pack_act_x8 with AVX-512 VNNI (bit-identical to it): per block, the 8
// rows' 32 level bytes are loaded as 8 x 8 dwords and transposed in
// registers (32-bit, then 64-bit unpacks, then 128-bit halves), so vector m
// holds dword m of every row; Σ a per row is then one vpdpbusd of a vector
// of ones against each transposed vector (lane r sums row r), and the 8 f16
// scales convert in one instruction.
RSFIQA_TARGET_AVX512VNNI inline void pack_act_x8_vnni(const BlockQ8_0* const* rows, int64_t nb, DType w,
                                                      BlockQ8_0x8* out) {
  const __m256i ones = _mm256_set1_epi8(1);
  const __m256i neg_offset = _mm256_set1_epi32(-x8_level_offset(w));
  for (int64_t i = 0; i < nb; ++i) {
    __m256i r[8];
    alignas(16) uint16_t d[8];
    RSFIQA_UNROLL
    for (int k = 0; k < 8; ++k) {
      r[k] = rows[k] ? _mm256_loadu_si256((const __m256i*)rows[k][i].qs) : _mm256_setzero_si256();
      d[k] = rows[k] ? rows[k][i].d : (uint16_t)0;
    }
    __m256i v[8];
    transpose_dw8x8(r, v);
    BlockQ8_0x8& o = out[i];
    __m256i sum = _mm256_setzero_si256();
    RSFIQA_UNROLL
    for (int m = 0; m < 8; ++m) {
      _mm256_storeu_si256((__m256i*)(o.qs + 32 * m), v[m]);
      sum = _mm256_dpbusd_epi32(sum, ones, v[m]);
    }
    _mm256_storeu_si256((__m256i*)o.corr, _mm256_mullo_epi32(sum, neg_offset));
    _mm256_storeu_ps(o.d, _mm256_cvtph_ps(_mm_load_si128((const __m128i*)d)));
  }
}

// Keeps a float vector out of a fused multiply-add: GCC contracts the
// intrinsics' vector mul + add into FMA, which rounds once where the scalar
// reference rounds twice.
RSFIQA_TARGET_AVX2 inline __m256 no_fuse(__m256 v) {
  __asm__("" : "+x"(v));
  return v;
}

// ---- Q4_K x8 tile (AVX-512 VNNI): G packed groups of 8 Q8_K activation
// rows x 4 Q4_K weight rows. Per weight row and super-block, the 8 scales
// and mins are decoded once; per sub-block its 32 nibbles are 8 broadcast
// dwords of levels 0..15 that meet every group's interleaved activations
// (vpdpbusd from zero: lane r = Σ q·a of row r), scaled by sc_s in int32;
// the mins meet the packed Σ a pairs by vpdpwssd. The float step is the
// reference's d_a·(d·sumi - dmin·summ), unfused, so results are its bits.
template <int G>
RSFIQA_TARGET_AVX512VNNI inline void tile_x8_q4_k_vnni(int64_t K, const void* const* wv, const BlockQ8_Kx8* const* a,
                                                       float* out) {
  const int64_t nb = K / kQK_K;
  const BlockQ4_K* w[4] = {(const BlockQ4_K*)wv[0], (const BlockQ4_K*)wv[1], (const BlockQ4_K*)wv[2],
                           (const BlockQ4_K*)wv[3]};
  __m256 acc[G][4];
  x8_zero<G>(acc);
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  for (int64_t i = 0; i < nb; ++i) {
    RSFIQA_UNROLL
    for (int j = 0; j < 4; ++j) {
      const BlockQ4_K& wb = w[j][i];
      uint8_t sc[8], mn[8];
      RSFIQA_UNROLL
      for (int s = 0; s < 8; ++s) quant_detail::q4_k_scale_min(s, wb.scales, &sc[s], &mn[s]);
      __m256i sumi[G], summ[G];
      RSFIQA_UNROLL
      for (int g = 0; g < G; ++g) sumi[g] = summ[g] = _mm256_setzero_si256();
      RSFIQA_UNROLL
      for (int s = 0; s < 8; ++s) {
        // Dword m of sub-block s: nibbles of qs[32·(s/2) + 4m ..], low for even s.
        __m256i wq[8];
        RSFIQA_UNROLL
        for (int m = 0; m < 8; ++m) {
          int32_t dw;
          std::memcpy(&dw, wb.qs + 32 * (s / 2) + 4 * m, 4);
          const __m256i v = _mm256_set1_epi32(dw);
          wq[m] = _mm256_and_si256(s % 2 ? _mm256_srli_epi16(v, 4) : v, m4);
        }
        const __m256i scv = _mm256_set1_epi32(sc[s]);
        RSFIQA_UNROLL
        for (int g = 0; g < G; ++g) {
          const int8_t* aq = a[g][i].qs + 256 * s;
          __m256i p = _mm256_setzero_si256();
          RSFIQA_UNROLL
          for (int m = 0; m < 8; ++m)
            p = _mm256_dpbusd_epi32(p, wq[m], _mm256_loadu_si256((const __m256i*)(aq + 32 * m)));
          sumi[g] = _mm256_add_epi32(sumi[g], _mm256_mullo_epi32(p, scv));
        }
      }
      const __m256 dx = bcast_half(&wb.d), dm = bcast_half(&wb.dmin);
      RSFIQA_UNROLL
      for (int g = 0; g < G; ++g) {
        const BlockQ8_Kx8& ab = a[g][i];
        RSFIQA_UNROLL
        for (int k = 0; k < 4; ++k) {
          // (m_2k, m_2k+1) as an int16 pair against each row's Σ a pair.
          const __m256i mp = _mm256_set1_epi32((int32_t)((uint32_t)mn[2 * k] | (uint32_t)mn[2 * k + 1] << 16));
          summ[g] = _mm256_dpwssd_epi32(summ[g], mp, _mm256_loadu_si256((const __m256i*)ab.bsum[k]));
        }
        const __m256 t = _mm256_sub_ps(no_fuse(_mm256_mul_ps(dx, _mm256_cvtepi32_ps(sumi[g]))),
                                       no_fuse(_mm256_mul_ps(dm, _mm256_cvtepi32_ps(summ[g]))));
        acc[g][j] = _mm256_add_ps(acc[g][j], no_fuse(_mm256_mul_ps(_mm256_loadu_ps(ab.d), t)));
      }
    }
  }
  x8_store<G>(acc, out);
}

// ---- Q6_K x8 tile (AVX-512 VNNI): G packed groups of 8 Q8_K activation
// rows x 4 Q6_K weight rows. Per weight row and super-block the 256 levels
// 0..63 are built from ql/qh once (8 vectors of 32, stored), then each
// dword of levels is broadcast against every group's interleaved
// activations (vpdpbusd from zero). Dwords 0..3 of a 32-element sub-block
// are its first 16 elements and dwords 4..7 the second, so two
// accumulators give the per-16 sums that the int8 scales multiply in
// int32. The -32 offset is -32·Σ_g sc_g·Σ a_g: scale pairs against the
// packed per-16 Σ a pairs by vpdpwssd. sumi is the reference's exact
// integer; the float step is its d·d_a·sumi, the add unfused.
template <int G>
RSFIQA_TARGET_AVX512VNNI inline void tile_x8_q6_k_vnni(int64_t K, const void* const* wv, const BlockQ8_Kx8* const* a,
                                                       float* out) {
  const int64_t nb = K / kQK_K;
  const BlockQ6_K* w[4] = {(const BlockQ6_K*)wv[0], (const BlockQ6_K*)wv[1], (const BlockQ6_K*)wv[2],
                           (const BlockQ6_K*)wv[3]};
  __m256 acc[G][4];
  x8_zero<G>(acc);
  const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(0x03);
  alignas(32) uint8_t lev[kQK_K];  // levels of one weight row's super-block
  for (int64_t i = 0; i < nb; ++i) {
    RSFIQA_UNROLL
    for (int j = 0; j < 4; ++j) {
      const BlockQ6_K& wb = w[j][i];
      RSFIQA_UNROLL
      for (int half = 0; half < 2; ++half) {
        // Element 32u + l of this half: nibble u/2 of ql[32(u%2) + l], bits 2u.. of qh[l].
        const __m256i l0 = _mm256_loadu_si256((const __m256i*)(wb.ql + 64 * half));
        const __m256i l1 = _mm256_loadu_si256((const __m256i*)(wb.ql + 64 * half + 32));
        const __m256i h = _mm256_loadu_si256((const __m256i*)(wb.qh + 32 * half));
        const __m256i v0 = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(h, m3), 4));
        const __m256i v1 = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m3), 4));
        const __m256i v2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m3), 4));
        const __m256i v3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m3), 4));
        _mm256_store_si256((__m256i*)(lev + 128 * half), v0);
        _mm256_store_si256((__m256i*)(lev + 128 * half + 32), v1);
        _mm256_store_si256((__m256i*)(lev + 128 * half + 64), v2);
        _mm256_store_si256((__m256i*)(lev + 128 * half + 96), v3);
      }
      __m256i sumi[G];
      RSFIQA_UNROLL
      for (int g = 0; g < G; ++g) sumi[g] = _mm256_setzero_si256();
      RSFIQA_UNROLL
      for (int s = 0; s < 8; ++s) {
        __m256i wq[8];
        RSFIQA_UNROLL
        for (int m = 0; m < 8; ++m) {
          int32_t dw;
          std::memcpy(&dw, lev + 32 * s + 4 * m, 4);
          wq[m] = _mm256_set1_epi32(dw);
        }
        const __m256i sc0 = _mm256_set1_epi32(wb.scales[2 * s]), sc1 = _mm256_set1_epi32(wb.scales[2 * s + 1]);
        RSFIQA_UNROLL
        for (int g = 0; g < G; ++g) {
          const int8_t* aq = a[g][i].qs + 256 * s;
          __m256i p0 = _mm256_setzero_si256(), p1 = _mm256_setzero_si256();
          RSFIQA_UNROLL
          for (int m = 0; m < 4; ++m) {
            p0 = _mm256_dpbusd_epi32(p0, wq[m], _mm256_loadu_si256((const __m256i*)(aq + 32 * m)));
            p1 = _mm256_dpbusd_epi32(p1, wq[m + 4], _mm256_loadu_si256((const __m256i*)(aq + 32 * (m + 4))));
          }
          sumi[g] = _mm256_add_epi32(sumi[g], _mm256_add_epi32(_mm256_mullo_epi32(p0, sc0), _mm256_mullo_epi32(p1, sc1)));
        }
      }
      const __m256 dx = bcast_half(&wb.d);
      RSFIQA_UNROLL
      for (int g = 0; g < G; ++g) {
        const BlockQ8_Kx8& ab = a[g][i];
        __m256i corr = _mm256_setzero_si256();
        RSFIQA_UNROLL
        for (int k = 0; k < 8; ++k) {
          // (sc_2k, sc_2k+1) as an int16 pair against each row's per-16 Σ a pair.
          const uint32_t lo = (uint16_t)(int16_t)wb.scales[2 * k], hi = (uint16_t)(int16_t)wb.scales[2 * k + 1];
          const __m256i sp = _mm256_set1_epi32((int32_t)(lo | hi << 16));
          corr = _mm256_dpwssd_epi32(corr, sp, _mm256_loadu_si256((const __m256i*)ab.bsum16[k]));
        }
        const __m256i si = _mm256_sub_epi32(sumi[g], _mm256_slli_epi32(corr, 5));
        const __m256 t = _mm256_mul_ps(dx, _mm256_loadu_ps(ab.d));
        acc[g][j] = _mm256_add_ps(acc[g][j], no_fuse(_mm256_mul_ps(t, _mm256_cvtepi32_ps(si))));
      }
    }
  }
  x8_store<G>(acc, out);
}

// pack_act_q8_k_x8 with AVX-512 VNNI (bit-identical to it): each 32-byte
// sub-block of the 8 rows is transposed as in pack_act_x8_vnni; the Σ a
// pairs and scales are copied as the reference does.
RSFIQA_TARGET_AVX512VNNI inline void pack_act_q8_k_x8_vnni(const BlockQ8_K* const* rows, int64_t nb, BlockQ8_Kx8* out) {
  for (int64_t i = 0; i < nb; ++i) {
    BlockQ8_Kx8& o = out[i];
    for (int s = 0; s < 8; ++s) {
      __m256i r[8];
      RSFIQA_UNROLL
      for (int k = 0; k < 8; ++k)
        r[k] = rows[k] ? _mm256_loadu_si256((const __m256i*)(rows[k][i].qs + 32 * s)) : _mm256_setzero_si256();
      __m256i v[8];
      transpose_dw8x8(r, v);
      RSFIQA_UNROLL
      for (int m = 0; m < 8; ++m) _mm256_storeu_si256((__m256i*)(o.qs + 256 * s + 32 * m), v[m]);
    }
    for (int k = 0; k < 8; ++k) {
      const BlockQ8_K* b = rows[k] ? rows[k] + i : nullptr;
      for (int s = 0; s < 8; ++s)
        o.bsum[s / 2][k][s % 2] = b ? (int16_t)(b->bsums[2 * s] + b->bsums[2 * s + 1]) : (int16_t)0;
      quant_detail::pack_q8_k_sums16(b, k, o);
      o.d[k] = b ? b->d : 0.0f;
    }
  }
}

// ---- w8 mat-vec (AVX-512 VNNI): the 16 packed bytes of one block of 8
// rows are transposed in registers so that int32 lane j belongs to row j;
// then one vpdpbusd against 4 broadcast activation bytes advances all 8 row
// dots and the float work (convert, scale, accumulate) is done once per 8
// rows. The weight stream is prefetched ahead.
RSFIQA_TARGET_AVX512VNNI inline void gemv8_q4_0_vnni(int64_t K, const uint8_t* w0, int64_t row_bytes,
                                                     const BlockQ8_0* a, const int32_t* corr, float* out) {
  const int64_t nb = K / 32;
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    // The 8 rows together advance 8*18 bytes per block: prefetch that much.
    const char* pf = (const char*)w0 + 8 * (int64_t)sizeof(BlockQ4_0) * i + kPrefetchBytes;
    _mm_prefetch(pf, _MM_HINT_T0);
    _mm_prefetch(pf + 64, _MM_HINT_T0);
    _mm_prefetch(pf + 128, _MM_HINT_T0);
    const BlockQ4_0* b[8];
    RSFIQA_UNROLL
    for (int j = 0; j < 8; ++j) b[j] = (const BlockQ4_0*)(w0 + j * row_bytes) + i;
    // Y_j = [row j | row j+4] dwords; two unpack rounds give V_c: lane j =
    // dword c of row j (lanes 0..3 rows 0..3, lanes 4..7 rows 4..7).
    __m256i y[4];
    RSFIQA_UNROLL
    for (int j = 0; j < 4; ++j)
      y[j] = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i*)b[j]->qs)),
                                     _mm_loadu_si128((const __m128i*)b[j + 4]->qs), 1);
    const __m256i t0 = _mm256_unpacklo_epi32(y[0], y[1]), t1 = _mm256_unpackhi_epi32(y[0], y[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(y[2], y[3]), t3 = _mm256_unpackhi_epi32(y[2], y[3]);
    const __m256i v[4] = {_mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2), _mm256_unpacklo_epi64(t1, t3),
                          _mm256_unpackhi_epi64(t1, t3)};
    __m256i p = _mm256_set1_epi32(corr[i]);
    RSFIQA_UNROLL
    for (int c = 0; c < 4; ++c) {
      int32_t lo, hi;
      std::memcpy(&lo, a[i].qs + 4 * c, 4);       // elements 4c..4c+3
      std::memcpy(&hi, a[i].qs + 16 + 4 * c, 4);  // elements 16+4c..
      p = _mm256_dpbusd_epi32(p, _mm256_and_si256(v[c], m4), _mm256_set1_epi32(lo));
      p = _mm256_dpbusd_epi32(p, _mm256_and_si256(_mm256_srli_epi16(v[c], 4), m4), _mm256_set1_epi32(hi));
    }
    const __m256 dx = _mm256_cvtph_ps(_mm_setr_epi16((short)b[0]->d, (short)b[1]->d, (short)b[2]->d, (short)b[3]->d,
                                                     (short)b[4]->d, (short)b[5]->d, (short)b[6]->d, (short)b[7]->d));
    acc = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(p), bcast_half(&a[i].d)), dx, acc);
  }
  _mm256_storeu_ps(out, acc);
}

// ---- Attention helpers (AVX-512): 16 head elements per register, masked
// tails; K/V rows converted from f16 on load when the cache is f16.
RSFIQA_TARGET_AVX512 inline __m512 load_kv16(const void* base, int64_t off, bool f16, __mmask16 m) {
  if (f16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t*)base + off));
  return _mm512_maskz_loadu_ps(m, (const float*)base + off);
}

RSFIQA_TARGET_AVX512 inline __mmask16 mask16(int64_t rem) {
  return rem >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << rem) - 1u);
}

RSFIQA_TARGET_AVX512 inline void attn_scores_avx512(int64_t n, int64_t D, const float* q, const void* K,
                                                    int64_t stride, bool f16, float scale, float* s) {
  for (int64_t j = 0; j < n; ++j) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t d = 0; d < D; d += 16) {
      const __mmask16 m = mask16(D - d);
      acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + d), load_kv16(K, j * stride + d, f16, m), acc);
    }
    s[j] = _mm512_reduce_add_ps(acc) * scale;
  }
}

// Four 16-wide column chunks of o stay in registers while every row passes.
RSFIQA_TARGET_AVX512 inline void attn_wsum_avx512(int64_t n, int64_t D, const float* p, const void* V,
                                                  int64_t stride, bool f16, float* o) {
  for (int64_t d0 = 0; d0 < D; d0 += 64) {
    __mmask16 m[4];
    RSFIQA_UNROLL
    for (int c = 0; c < 4; ++c) m[c] = d0 + 16 * c < D ? mask16(D - d0 - 16 * c) : (__mmask16)0;
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int64_t j = 0; j < n; ++j) {
      const __m512 pj = _mm512_set1_ps(p[j]);
      RSFIQA_UNROLL
      for (int c = 0; c < 4; ++c)
        if (m[c]) acc[c] = _mm512_fmadd_ps(pj, load_kv16(V, j * stride + d0 + 16 * c, f16, m[c]), acc[c]);
    }
    RSFIQA_UNROLL
    for (int c = 0; c < 4; ++c)
      if (m[c]) _mm512_mask_storeu_ps(o + d0 + 16 * c, m[c], acc[c]);
  }
}

// ---- Q8_0 activation quantizer (AVX-512), bit-identical to
// quantize_row_q8_0_ref: same max, same scalar d and 1/d, same x·(1/d)
// product, round half away from zero, NaN -> 0, clamp to [-128, 127].
RSFIQA_TARGET_AVX512 inline void quantize_row_q8_0_avx512(const float* x, BlockQ8_0* y, int64_t k) {
  const int64_t nb = k / kQK8_0;
  const __m512 sign_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
  for (int64_t i = 0; i < nb; ++i) {
    const __m512 x0 = _mm512_loadu_ps(x + 32 * i), x1 = _mm512_loadu_ps(x + 32 * i + 16);
    // max_ps(v, acc) returns acc when v is NaN: NaNs are skipped like fmax.
    __m512 m = _mm512_max_ps(_mm512_and_ps(x0, sign_mask), _mm512_setzero_ps());
    m = _mm512_max_ps(_mm512_and_ps(x1, sign_mask), m);
    const float amax = _mm512_reduce_max_ps(m);
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_f16(d);
    const __m512 vid = _mm512_set1_ps(id);
    for (int h = 0; h < 2; ++h) {
      const __m512 v = _mm512_mul_ps(h ? x1 : x0, vid);
      // roundf: truncate, then step away from zero when |fraction| >= 0.5.
      const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
      const __m512 frac = _mm512_and_ps(_mm512_sub_ps(v, t), sign_mask);
      const __mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
      const __m512 step = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_andnot_ps(sign_mask, v));  // ±1
      __m512 r = _mm512_mask_add_ps(t, up, t, step);
      r = _mm512_min_ps(_mm512_max_ps(r, _mm512_set1_ps(-128.0f)), _mm512_set1_ps(127.0f));
      const __mmask16 ord = _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q);
      const __m512i q = _mm512_maskz_cvttps_epi32(ord, r);
      _mm_storeu_si128((__m128i*)(y[i].qs + 16 * h), _mm512_cvtepi32_epi8(q));
    }
  }
}

RSFIQA_TARGET_AVX2 inline void vec_axpy_f16_avx2(int64_t n, float a, const uint16_t* x, float* y) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 xv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(x + i)));
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, xv, _mm256_loadu_ps(y + i)));
  }
  for (; i < n; ++i) y[i] += a * f16_to_f32(x[i]);
}

}  // namespace qtile_detail
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif  // RSFIQA_X86_SIMD

// The tile kernel for weight type w (Q8_0 or Q4_0), `mr` activation rows
// (1..4) and ISA level `isa`; `prefetch` adds software prefetch of the weight
// stream (for mat-vec, where weights come from memory once). nullptr for
// other types.
inline QTileFn qtile_fn(DType w, int mr, Isa isa, bool prefetch = false) {
  if ((w != DType::kQ8_0 && w != DType::kQ4_0) || mr < 1 || mr > 4) return nullptr;
  const bool q4 = w == DType::kQ4_0;
#define RSFIQA_QTILE_PICK(KERNEL)                                                                              \
  switch (mr) {                                                                                                \
    case 1:                                                                                                    \
      return q4 ? (prefetch ? KERNEL<1, true, true> : KERNEL<1, true, false>)                                  \
                : (prefetch ? KERNEL<1, false, true> : KERNEL<1, false, false>);                               \
    case 2: return q4 ? KERNEL<2, true, false> : KERNEL<2, false, false>;                                      \
    case 3: return q4 ? KERNEL<3, true, false> : KERNEL<3, false, false>;                                      \
    default: return q4 ? KERNEL<4, true, false> : KERNEL<4, false, false>;                                     \
  }
#if RSFIQA_X86_SIMD
  if (isa >= Isa::kAvx512 && cpu_features().avx512vnni) {
    RSFIQA_QTILE_PICK(qtile_detail::tile_vnni)
  }
  if (isa >= Isa::kAvx2) {
    RSFIQA_QTILE_PICK(qtile_detail::tile_avx2)
  }
#endif
  (void)isa;
  (void)prefetch;
  switch (mr) {
    case 1: return q4 ? qtile_ref<1, true> : qtile_ref<1, false>;
    case 2: return q4 ? qtile_ref<2, true> : qtile_ref<2, false>;
    case 3: return q4 ? qtile_ref<3, true> : qtile_ref<3, false>;
    default: return q4 ? qtile_ref<4, true> : qtile_ref<4, false>;
  }
#undef RSFIQA_QTILE_PICK
}

// The x8 tile for weight type w (Q8_0, Q4_0, Q5_0 or Q5_1: x8_weight_type)
// and G = 1..4 packed groups: the AVX-512 VNNI kernel, else the scalar
// reference (CPUs without VNNI use the 4 x 4 tiles instead; see
// mul_mat_rows).
using QTileX8Fn = void (*)(int64_t K, const void* const* w, const BlockQ8_0x8* const* a, float* out);

inline bool qtile_x8_available(Isa isa) {
#if RSFIQA_X86_SIMD
  return isa >= Isa::kAvx512 && cpu_features().avx512vnni;
#else
  (void)isa;
  return false;
#endif
}

constexpr int kMaxX8Groups = 4;  // up to 32 activation rows per x8 tile call

inline QTileX8Fn qtile_x8_fn(DType w, int groups, Isa isa) {
  if (!x8_weight_type(w) || groups < 1 || groups > kMaxX8Groups) return nullptr;
#define RSFIQA_QTILE_X8_PICK_G(KERNEL, W) \
  switch (groups) {                       \
    case 1: return KERNEL<1, W>;          \
    case 2: return KERNEL<2, W>;          \
    case 3: return KERNEL<3, W>;          \
    default: return KERNEL<4, W>;         \
  }
#define RSFIQA_QTILE_X8_PICK(KERNEL)                                     \
  if (w == DType::kQ4_0) {                                               \
    RSFIQA_QTILE_X8_PICK_G(KERNEL, DType::kQ4_0)                         \
  }                                                                      \
  if (w == DType::kQ5_0) {                                               \
    RSFIQA_QTILE_X8_PICK_G(KERNEL, DType::kQ5_0)                         \
  }                                                                      \
  if (w == DType::kQ5_1) {                                               \
    RSFIQA_QTILE_X8_PICK_G(KERNEL, DType::kQ5_1)                         \
  }                                                                      \
  RSFIQA_QTILE_X8_PICK_G(KERNEL, DType::kQ8_0)
#if RSFIQA_X86_SIMD
  if (qtile_x8_available(isa)) {
    RSFIQA_QTILE_X8_PICK(qtile_detail::tile_x8_vnni)
  }
#endif
  (void)isa;
  RSFIQA_QTILE_X8_PICK(qtile_x8_ref)
#undef RSFIQA_QTILE_X8_PICK
#undef RSFIQA_QTILE_X8_PICK_G
}

// Packs activation rows for the x8 tiles against weights of type w (see
// pack_act_x8): the VNNI version when the x8 tiles are available (the only
// case they are used), else the reference.
inline void pack_act_x8(const BlockQ8_0* const* rows, int64_t nb, DType w, BlockQ8_0x8* out, Isa isa) {
#if RSFIQA_X86_SIMD
  if (qtile_x8_available(isa)) {
    qtile_detail::pack_act_x8_vnni(rows, nb, w, out);
    return;
  }
#endif
  (void)isa;
  pack_act_x8(rows, nb, w, out);
}

// The x8 tile for a K-quant weight type that has one (Q4_K, Q6_K) and G =
// 1..4 packed groups: the AVX-512 VNNI kernel, else the scalar reference
// (mul_mat_rows uses it on VNNI CPUs only); nullptr for other types or G.
inline QTileX8KFn qtile_x8_k_fn(DType wt, int groups, Isa isa) {
  if ((wt != DType::kQ4_K && wt != DType::kQ6_K) || groups < 1 || groups > kMaxX8Groups) return nullptr;
  const bool q4 = wt == DType::kQ4_K;
#define RSFIQA_QTILE_X8K_PICK(Q4K, Q6K)          \
  switch (groups) {                              \
    case 1: return q4 ? Q4K<1> : Q6K<1>;         \
    case 2: return q4 ? Q4K<2> : Q6K<2>;         \
    case 3: return q4 ? Q4K<3> : Q6K<3>;         \
    default: return q4 ? Q4K<4> : Q6K<4>;        \
  }
#if RSFIQA_X86_SIMD
  if (qtile_x8_available(isa)) {
    RSFIQA_QTILE_X8K_PICK(qtile_detail::tile_x8_q4_k_vnni, qtile_detail::tile_x8_q6_k_vnni)
  }
#endif
  (void)isa;
  RSFIQA_QTILE_X8K_PICK(qtile_x8_q4_k_ref, qtile_x8_q6_k_ref)
#undef RSFIQA_QTILE_X8K_PICK
}

// Packs Q8_K activation rows for the Q4_K x8 tiles (see pack_act_q8_k_x8):
// the VNNI version when the x8 tiles are available, else the reference.
inline void pack_act_q8_k_x8(const BlockQ8_K* const* rows, int64_t nb, BlockQ8_Kx8* out, Isa isa) {
#if RSFIQA_X86_SIMD
  if (qtile_x8_available(isa)) {
    qtile_detail::pack_act_q8_k_x8_vnni(rows, nb, out);
    return;
  }
#endif
  (void)isa;
  pack_act_q8_k_x8(rows, nb, out);
}

// The w8 Q4_0 mat-vec: AVX-512 VNNI where available, else nullptr (callers
// use the 1 x 4 tiles); the reference twin is gemv8_q4_0_ref.
using Gemv8Fn = void (*)(int64_t K, const uint8_t* w0, int64_t row_bytes, const BlockQ8_0* a, const int32_t* corr,
                         float* out);

inline Gemv8Fn gemv8_q4_0_fn(Isa isa) {
#if RSFIQA_X86_SIMD
  if (qtile_x8_available(isa)) return qtile_detail::gemv8_q4_0_vnni;
#endif
  (void)isa;
  return nullptr;
}

// Q8_0 activation quantizer dispatch: the AVX-512 version where available
// (bit-identical to quantize_row_q8_0_ref), else the reference.
inline void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t k, Isa isa) {
#if RSFIQA_X86_SIMD
  if (isa >= Isa::kAvx512) {
    qtile_detail::quantize_row_q8_0_avx512(x, y, k);
    return;
  }
#endif
  (void)isa;
  quantize_row_q8_0_ref(x, y, k);
}

// Attention dispatch: the AVX-512 kernels where available, else the
// references (see attn_scores_ref / attn_wsum_ref for the contracts).
inline void attn_scores(int64_t n, int64_t D, const float* q, const void* K, int64_t stride, bool f16, float scale,
                        float* s) {
#if RSFIQA_X86_SIMD
  if (active_isa() >= Isa::kAvx512) {
    qtile_detail::attn_scores_avx512(n, D, q, K, stride, f16, scale, s);
    return;
  }
#endif
  attn_scores_ref(n, D, q, K, stride, f16, scale, s);
}

inline void attn_wsum(int64_t n, int64_t D, const float* p, const void* V, int64_t stride, bool f16, float* o) {
#if RSFIQA_X86_SIMD
  if (active_isa() >= Isa::kAvx512) {
    qtile_detail::attn_wsum_avx512(n, D, p, V, stride, f16, o);
    return;
  }
#endif
  attn_wsum_ref(n, D, p, V, stride, f16, o);
}

// y += a * x, x in f16 (AVX2 with F16C where available).
inline void vec_axpy_f16(int64_t n, float a, const uint16_t* x, float* y) {
#if RSFIQA_X86_SIMD
  if (active_isa() >= Isa::kAvx2) {
    qtile_detail::vec_axpy_f16_avx2(n, a, x, y);
    return;
  }
#endif
  vec_axpy_f16_ref(n, a, x, y);
}

}  // namespace rsfiqa::kernels

// SPDX-License-Identifier: MIT
// Packing for the blocked GEMM (kernels/gemm.hpp): the portable half of a
// GotoBLAS / BLIS style design. The ISA-specific microkernels
// (gemm_avx512.hpp, gemm_avx2.hpp) read only the packed layouts defined here:
//
//   packed B  ceil(N/32) column panels of 32 columns each. Panel j holds
//             B(k, 32j + c) at [j * K * 32 + k * 32 + c] for every k in [0, K),
//             columns past N are zero. A KC slice of a panel is therefore one
//             contiguous run starting at k0 * 32. NT (N x K, PyTorch weight)
//             and NN (K x N) sources, and bf16 NT weights, all pack to it.
//   packed A  an MC x KC block of A cut into row panels of MR rows. Panel p
//             holds A(p*MR + r, k) at [p * MR * KC + k * MR + r]; rows past
//             the block end are left unwritten (the microkernels never read
//             them).
//
// The 32-column panel width is the AVX-512 register tile (2 x 16 lanes); the
// AVX2 kernel walks each panel as two 16-column halves, so one packed-B
// layout serves every ISA and can be prepared once per weight (PackedB).
// The epilogue description shared by the kernels lives here too.
// This file holds no intrinsics; the compiler may auto-vectorise the copies.
#pragma once

#include <cstdint>

#include "rsfiqa/core/config.hpp"
#include "rsfiqa/core/dtype.hpp"

namespace rsfiqa::kernels::detail {

// Width of a packed-B panel, in columns.
constexpr int64_t kGemmPanelN = 32;

// What the microkernel does with its accumulators when it stores a tile.
//   first block of K: C = alpha * acc (+ bias[n]) (+ C_old if accumulate)
//   later blocks:     C = C + alpha * acc
// The K blocking is fixed (never derived from the thread count), so each C
// element sees the same sequence of operations whatever the threading.
struct GemmEpilogue {
  float alpha = 1.0f;
  const float* bias = nullptr;  // already offset to the tile's first column
  bool accumulate = false;
  bool first = true;
};

// Number of floats a fully packed B of N columns and depth K occupies.
inline int64_t packed_b_floats(int64_t N, int64_t K) { return (N + kGemmPanelN - 1) / kGemmPanelN * kGemmPanelN * K; }

// Packs the column panels [p0, p1) of the sum B + B2 of two K x N (NN)
// matrices with the same row stride ldb (B2 may be null: B alone) into
// `dst`. The loop visits a group of panels per row of B, so the source is
// read in runs of 256 floats and each panel of the group is written
// sequentially; panel-by-panel order would read 32-float pieces at the row
// stride, which for wide matrices is a cache and TLB miss per piece.
inline void pack_b_nn_sum_f32(int64_t p0, int64_t p1, int64_t N, int64_t K, const float* B, const float* B2,
                              int64_t ldb, float* dst) {
  constexpr int64_t kGroup = 8;  // panels per pass: 1 KiB of each source row
  for (int64_t j0 = p0; j0 < p1; j0 += kGroup) {
    const int64_t j1 = j0 + kGroup < p1 ? j0 + kGroup : p1;
    for (int64_t k = 0; k < K; ++k) {
      const float* b = B + k * ldb;
      const float* b2 = B2 ? B2 + k * ldb : nullptr;
      for (int64_t j = j0; j < j1; ++j) {
        float* d = dst + j * K * kGemmPanelN + k * kGemmPanelN;
        const int64_t n0 = j * kGemmPanelN;
        const int64_t w = N - n0 < kGemmPanelN ? N - n0 : kGemmPanelN;
        if (b2) {
          for (int64_t c = 0; c < w; ++c) d[c] = b[n0 + c] + b2[n0 + c];
        } else {
          for (int64_t c = 0; c < w; ++c) d[c] = b[n0 + c];
        }
        for (int64_t c = w; c < kGemmPanelN; ++c) d[c] = 0.0f;
      }
    }
  }
}

// Packs depth rows [k0, k1) of the panels [j0, j1) of an NT operand (the
// rest of each panel is left as it is): B is N x K, element (k, n) at B[n·ldb + k].
inline void pack_b_nt_rows_f32(int64_t j0, int64_t j1, int64_t N, int64_t K, int64_t k0, int64_t k1, const float* B,
                               int64_t ldb, float* dst) {
  for (int64_t j = j0; j < j1; ++j) {
    float* panel = dst + j * K * kGemmPanelN;
    const int64_t n0 = j * kGemmPanelN;
    const int64_t w = N - n0 < kGemmPanelN ? N - n0 : kGemmPanelN;
    // Rows of B are contiguous in k: read each of the w rows once and
    // scatter it down its panel column (stride 32).
    for (int64_t c = 0; c < w; ++c) {
      const float* src = B + (n0 + c) * ldb;
      for (int64_t k = k0; k < k1; ++k) panel[k * kGemmPanelN + c] = src[k];
    }
    if (w < kGemmPanelN) {
      for (int64_t k = k0; k < k1; ++k)
        for (int64_t c = w; c < kGemmPanelN; ++c) panel[k * kGemmPanelN + c] = 0.0f;
    }
  }
}

// Packs the column panels [j0, j1) of B (f32) into `dst` laid out as above.
// trans_b: B is N x K (element (k, n) at B[n * ldb + k]); otherwise K x N.
inline void pack_b_panels_f32(int64_t j0, int64_t j1, int64_t N, int64_t K, const float* B, int64_t ldb, bool trans_b,
                              float* dst) {
  // Rows of B are contiguous in n: each k contributes 32 consecutive floats
  // to a panel, copied a group of panels at a time.
  if (!trans_b) return pack_b_nn_sum_f32(j0, j1, N, K, B, nullptr, ldb, dst);
  pack_b_nt_rows_f32(j0, j1, N, K, 0, K, B, ldb, dst);
}

// Same for bf16 weights in NT layout (N x K bf16 bits), widened to f32.
inline void pack_b_panels_bf16(int64_t j0, int64_t j1, int64_t N, int64_t K, const uint16_t* B, int64_t ldb,
                               float* dst) {
  for (int64_t j = j0; j < j1; ++j) {
    float* panel = dst + j * K * kGemmPanelN;
    const int64_t n0 = j * kGemmPanelN;
    const int64_t w = N - n0 < kGemmPanelN ? N - n0 : kGemmPanelN;
    for (int64_t c = 0; c < w; ++c) {
      const uint16_t* src = B + (n0 + c) * ldb;
      for (int64_t k = 0; k < K; ++k) panel[k * kGemmPanelN + c] = bf16_to_f32(src[k]);
    }
    for (int64_t k = 0; k < K; ++k)
      for (int64_t c = w; c < kGemmPanelN; ++c) panel[k * kGemmPanelN + c] = 0.0f;
  }
}

// Packs panels [j0, j1) of bf16 weights (N x K bits) as bf16 pairs: unit u
// of column c holds B(c, 2u) in its low and B(c, 2u + 1) in its high 16 bits
// (zero past K or N). Portable twin of avx512bf16::pack_b_nt.
inline void pack_b_panels_bf16_pairs(int64_t j0, int64_t j1, int64_t N, int64_t K, const uint16_t* B, int64_t ldb,
                                     float* dst) {
  const int64_t ku = (K + 1) / 2;
  for (int64_t j = j0; j < j1; ++j) {
    uint32_t* panel = (uint32_t*)(dst + j * ku * kGemmPanelN);
    const int64_t n0 = j * kGemmPanelN;
    for (int64_t c = 0; c < kGemmPanelN; ++c) {
      const uint16_t* src = n0 + c < N ? B + (n0 + c) * ldb : nullptr;
      for (int64_t u = 0; u < ku; ++u) {
        const uint32_t lo = src ? src[2 * u] : 0u;
        const uint32_t hi = src && 2 * u + 1 < K ? src[2 * u + 1] : 0u;
        panel[u * kGemmPanelN + c] = lo | (hi << 16);
      }
    }
  }
}

// Packs rows [0, mc) x columns [0, kc) of A (row stride lda) into MR-row
// panels (see the header comment). The inner loop reads one row of A
// contiguously and writes it with stride MR.
// (kc_elems == kc here: one packed unit is one float.)
template <int MR>
inline void pack_a_block(int64_t mc, int64_t kc, int64_t kc_elems, const float* A, int64_t lda, float* dst) {
  (void)kc_elems;
  for (int64_t p = 0; p * MR < mc; ++p) {
    float* panel = dst + p * MR * kc;
    const int64_t rows = mc - p * MR < MR ? mc - p * MR : MR;
    for (int64_t r = 0; r < rows; ++r) {
      const float* src = A + (p * MR + r) * lda;
      for (int64_t k = 0; k < kc; ++k) panel[k * MR + r] = src[k];
    }
  }
}

}  // namespace rsfiqa::kernels::detail

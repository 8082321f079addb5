// SPDX-License-Identifier: MIT
// General matrix multiply, the engine's workhorse.
//
//   C[m, n] = alpha * sum_k A[m, k] * B(k, n)  (+ bias[n])  (+ C[m, n] if accumulate)
//
// A is row-major M x K (activations, row stride lda). B is either stored
// N x K ("NT", PyTorch nn.Linear weight layout, so C = A Wᵀ) or K x N ("NN"),
// row stride ldb. C is row-major M x N with row stride ldc.
//
// gemm_f32_ref is the scalar oracle: three loops that read like the formula.
// gemm_f32 dispatches on the active ISA (kernels/dispatch.hpp) to a blocked
// GotoBLAS / BLIS style implementation: B is packed once per call into
// 32-column panels (gemm_pack.hpp), each thread packs its own blocks of A,
// and a register-blocked microkernel (gemm_avx512.hpp 14x32, gemm_avx2.hpp
// 6x16) multiplies them with the epilogue fused into its store. Blocking of
// K is fixed, and threads split only M (or N when M is tiny), never K, so
// every C element is computed by the same operation sequence whatever the
// thread count: results are bit-identical across runs and thread counts.
// Up to 4 rows skip packing (direct AVX-512 kernels). If a workspace cannot
// be allocated the call falls back to the reference; nothing throws.
//
// Also here, each with a scalar _ref twin:
//   gemm_f32_bf16w     bf16 weights (NT), widened exactly to f32 while packing
//                      (same result bits as gemm_f32 on the widened weights);
//   gemm_bf16_f32acc   opt-in: A rounded to bf16, bf16 weights, f32 sums, via
//                      AVX512_BF16 VDPBF16PS (about 2x the f32 rate on Zen 4);
//   pack_b / pack_b_bf16 + gemm_f32_packed, pack_b_bf16_pairs +
//   gemm_bf16_f32acc_packed: weights packed once at load time;
//   pack_b_nn_sum / pack_b_nt_rows + gemm_f32_prepacked: an operand packed
//   once per call into a caller buffer and used by several products.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <utility>

#include "rsfiqa/core/config.hpp"
#include "rsfiqa/core/dtype.hpp"
#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/core/status.hpp"
#include "rsfiqa/kernels/dispatch.hpp"
#include "rsfiqa/kernels/gemm_avx2.hpp"
#include "rsfiqa/kernels/gemm_avx512.hpp"
#include "rsfiqa/kernels/gemm_avx512bf16.hpp"
#include "rsfiqa/kernels/gemm_pack.hpp"

namespace rsfiqa::kernels {

struct GemmParams {
  bool trans_b = true;          // true: B is N x K (NT); false: B is K x N (NN)
  bool accumulate = false;      // add into the existing C
  const float* bias = nullptr;  // optional, length N
  float alpha = 1.0f;           // scales A·B (not the bias or the old C)
};

// Scalar reference. Accumulates in float in k order.
inline void gemm_f32_ref(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                         float* C, int64_t ldc, const GemmParams& p = {}) {
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      float acc = 0.0f;
      for (int64_t k = 0; k < K; ++k) {
        const float b = p.trans_b ? B[n * ldb + k] : B[k * ldb + n];
        acc += A[m * lda + k] * b;
      }
      float v = p.alpha * acc;
      if (p.bias) v += p.bias[n];
      if (p.accumulate) v += C[m * ldc + n];
      C[m * ldc + n] = v;
    }
  }
}

// Scalar reference for bf16 weights: B is N x K bf16 bits (NT layout only,
// p.trans_b is ignored), each weight widened exactly with bf16_to_f32.
inline void gemm_f32_bf16w_ref(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const uint16_t* B,
                               int64_t ldb, float* C, int64_t ldc, const GemmParams& p = {}) {
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      float acc = 0.0f;
      for (int64_t k = 0; k < K; ++k) acc += A[m * lda + k] * bf16_to_f32(B[n * ldb + k]);
      float v = p.alpha * acc;
      if (p.bias) v += p.bias[n];
      if (p.accumulate) v += C[m * ldc + n];
      C[m * ldc + n] = v;
    }
  }
}

// Scalar reference for the bf16 dot-product GEMM: A rounded to bf16 (round
// to nearest even), bf16 weights N x K (NT; p.trans_b ignored), products
// summed in f32 in k order.
inline void gemm_bf16_f32acc_ref(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const uint16_t* B,
                                 int64_t ldb, float* C, int64_t ldc, const GemmParams& p = {}) {
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      float acc = 0.0f;
      for (int64_t k = 0; k < K; ++k) acc += bf16_to_f32(f32_to_bf16(A[m * lda + k])) * bf16_to_f32(B[n * ldb + k]);
      float v = p.alpha * acc;
      if (p.bias) v += p.bias[n];
      if (p.accumulate) v += C[m * ldc + n];
      C[m * ldc + n] = v;
    }
  }
}

// How a PackedB stores its values: f32 panels (for gemm_f32_packed) or bf16
// pairs (for gemm_bf16_f32acc_packed).
enum class PackedFormat : int { kF32 = 0, kBf16Pairs = 1 };

// Weights packed once at load time: an N x K operand (either source layout,
// f32 or bf16) in the 32-column panel layout of gemm_pack.hpp.
// Immutable after packing, shareable across threads, move-only.
class PackedB {
 public:
  PackedB() = default;
  PackedB(const PackedB&) = delete;
  PackedB& operator=(const PackedB&) = delete;
  PackedB(PackedB&& o) noexcept : data_(o.data_), n_(o.n_), k_(o.k_), format_(o.format_) { o.data_ = nullptr; }
  PackedB& operator=(PackedB&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(n_, o.n_);
    std::swap(k_, o.k_);
    std::swap(format_, o.format_);
    return *this;
  }
  ~PackedB() {
    if (data_) RSFIQA_FREE(data_);
  }
  bool empty() const { return data_ == nullptr; }
  int64_t n() const { return n_; }  // output features (columns of C)
  int64_t k() const { return k_; }  // reduction depth
  PackedFormat format() const { return format_; }
  const float* data() const { return data_; }

 private:
  friend Result<PackedB> pack_b(int64_t, int64_t, const float*, int64_t, bool);
  friend Result<PackedB> pack_b_bf16(int64_t, int64_t, const uint16_t*, int64_t);
  friend Result<PackedB> pack_b_bf16_pairs(int64_t, int64_t, const uint16_t*, int64_t);
  float* data_ = nullptr;
  int64_t n_ = 0, k_ = 0;
  PackedFormat format_ = PackedFormat::kF32;
};

// Scalar reference on a packed f32 operand (reads the panels directly).
inline void gemm_f32_packed_ref(int64_t M, const float* A, int64_t lda, const PackedB& B, float* C, int64_t ldc,
                                const GemmParams& p = {}) {
  const float* bp = B.data();
  const int64_t K = B.k();
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < B.n(); ++n) {
      const float* panel = bp + (n / detail::kGemmPanelN) * K * detail::kGemmPanelN + n % detail::kGemmPanelN;
      float acc = 0.0f;
      for (int64_t k = 0; k < K; ++k) acc += A[m * lda + k] * panel[k * detail::kGemmPanelN];
      float v = p.alpha * acc;
      if (p.bias) v += p.bias[n];
      if (p.accumulate) v += C[m * ldc + n];
      C[m * ldc + n] = v;
    }
  }
}

namespace detail {

// The pieces of one ISA's blocked GEMM the driver needs. Packed operands
// are counted in 32-bit units along K: one f32, or (kscale = 2) one pair of
// bf16 values for the AVX512_BF16 dot-product kernel.
struct GemmKernelSet {
  int64_t mr, kc, mc, nc;  // kc in units
  int64_t kscale;          // K elements per unit
  void (*tile)(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, int mr, int nr,
               const GemmEpilogue& ep);
  // Packs mc rows x kc units (kc_elems valid K elements) of A.
  void (*pack_a)(int64_t mc, int64_t kc, int64_t kc_elems, const float* A, int64_t lda, float* dst);
};

inline bool gemm_kernel_set(GemmPath path, GemmKernelSet* ks) {
#if RSFIQA_X86_SIMD
  if (path == GemmPath::kAvx512) {
    *ks = {avx512::kMR, avx512::kKC, avx512::kMC, avx512::kNC, 1, &avx512::run_tile, &avx512::pack_a};
    return true;
  }
  if (path == GemmPath::kAvx2) {
    *ks = {avx2::kMR, avx2::kKC, avx2::kMC, avx2::kNC, 1, &avx2::run_tile, &pack_a_block<avx2::kMR>};
    return true;
  }
#endif
  (void)path;
  (void)ks;
  return false;
}

// Floats of A workspace one thread needs (one packed MC x KC block).
inline int64_t gemm_abuf_floats(const GemmKernelSet& ks, int64_t K) {
  const int64_t ku = (K + ks.kscale - 1) / ks.kscale;
  return ks.mc * (ku < ks.kc ? ku : ks.kc);
}

#if RSFIQA_X86_SIMD
// The AVX512_BF16 dot-product kernel set (K counted in bf16 pairs).
inline GemmKernelSet gemm_bf16_kernel_set() {
  return {avx512bf16::kMR,       avx512bf16::kKC,    avx512bf16::kMC, avx512bf16::kNC, 2,
          &avx512bf16::run_tile, &avx512bf16::pack_a};
}
#endif

// C rows [m0, m1) x packed-B panels [j0, j1) on the calling thread, packing
// A into `abuf` (gemm_abuf_floats floats).
inline void gemm_packed_block(const GemmKernelSet& ks, int64_t m0, int64_t m1, int64_t j0, int64_t j1, int64_t N,
                              int64_t K, const float* A, int64_t lda, const float* bpack, float* C, int64_t ldc,
                              const GemmParams& p, float* abuf) {
  const int64_t n_begin = j0 * kGemmPanelN;
  const int64_t n_end = j1 * kGemmPanelN < N ? j1 * kGemmPanelN : N;
  const int64_t ku = (K + ks.kscale - 1) / ks.kscale;  // K in packed units
  for (int64_t ic = m0; ic < m1; ic += ks.mc) {
    const int64_t mc = m1 - ic < ks.mc ? m1 - ic : ks.mc;
    // K blocks in order: the epilogue of block 0 writes C, later ones add to it.
    for (int64_t pc = 0; pc < ku; pc += ks.kc) {
      const int64_t kc = ku - pc < ks.kc ? ku - pc : ks.kc;
      const int64_t k0 = pc * ks.kscale;
      const int64_t kc_elems = K - k0 < kc * ks.kscale ? K - k0 : kc * ks.kscale;
      ks.pack_a(mc, kc, kc_elems, A + ic * lda + k0, lda, abuf);
      for (int64_t jc = n_begin; jc < n_end; jc += ks.nc) {
        const int64_t jc_end = jc + ks.nc < n_end ? jc + ks.nc : n_end;
        for (int64_t ir = 0; ir < mc; ir += ks.mr) {
          const int mr = (int)(mc - ir < ks.mr ? mc - ir : ks.mr);
          const float* ap = abuf + ir * kc;
          for (int64_t jr = jc; jr < jc_end; jr += kGemmPanelN) {
            GemmEpilogue ep;
            ep.alpha = p.alpha;
            ep.bias = p.bias ? p.bias + jr : nullptr;
            ep.accumulate = p.accumulate;
            ep.first = pc == 0;
            const int nr = (int)(jc_end - jr < kGemmPanelN ? jc_end - jr : kGemmPanelN);
            const float* bp = bpack + (jr / kGemmPanelN) * ku * kGemmPanelN + pc * kGemmPanelN;
            ks.tile(kc, ap, bp, C + (ic + ir) * ldc + jr, ldc, mr, nr, ep);
          }
        }
      }
    }
  }
}

// Element (k, n) of a packed B with `ku` units per panel column (kscale 2:
// bf16 pairs, the even k in the low half of the 32-bit unit).
inline float packed_b_value(const float* bpack, int64_t ku, int64_t kscale, int64_t n, int64_t k) {
  const float* col = bpack + (n / kGemmPanelN) * ku * kGemmPanelN + n % kGemmPanelN;
  if (kscale == 1) return col[k * kGemmPanelN];
  uint32_t bits;
  std::memcpy(&bits, col + (k / 2) * kGemmPanelN, sizeof(bits));
  return bf16_to_f32((uint16_t)(k % 2 ? bits >> 16 : bits & 0xFFFFu));
}

// Reference on rows [m0, m1) x columns [n0, n1) of a packed B (n0 on a panel
// boundary): the fallback when a thread's workspace allocation fails. With
// kscale 2 (bf16 pairs) A is rounded to bf16 as the dot-product kernel does.
inline void gemm_packed_block_ref(int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t K, int64_t kscale,
                                  const float* A, int64_t lda, const float* bpack, float* C, int64_t ldc,
                                  const GemmParams& p) {
  const int64_t ku = (K + kscale - 1) / kscale;
  for (int64_t m = m0; m < m1; ++m) {
    for (int64_t n = n0; n < n1; ++n) {
      float acc = 0.0f;
      for (int64_t k = 0; k < K; ++k) {
        const float a = kscale == 1 ? A[m * lda + k] : bf16_to_f32(f32_to_bf16(A[m * lda + k]));
        acc += a * packed_b_value(bpack, ku, kscale, n, k);
      }
      float v = p.alpha * acc;
      if (p.bias) v += p.bias[n];
      if (p.accumulate) v += C[m * ldc + n];
      C[m * ldc + n] = v;
    }
  }
}

// Splits the product over threads into tasks: blocks of rows when there
// are enough row panels, else groups of column panels. Threads take tasks
// from a shared counter (so a core slowed by other work takes fewer), which
// cannot change any result bit: tasks never share a C element and every
// task runs the whole, identically blocked K loop.
inline void gemm_packed_run(const GemmKernelSet& ks, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                            const float* bpack, float* C, int64_t ldc, const GemmParams& p) {
  const int64_t m_panels = (M + ks.mr - 1) / ks.mr;
  const int64_t n_panels = (N + kGemmPanelN - 1) / kGemmPanelN;
  int64_t threads = get_num_threads();
  // Keep at least ~1 MFLOP per thread so small products stay on one thread.
  constexpr int64_t kMinFlops = int64_t(1) << 20;
  const int64_t flops = 2 * M * N * K;
  if (threads > flops / kMinFlops) threads = flops / kMinFlops;
  if (threads < 1) threads = 1;
  // About four tasks per thread for balance, each at most one MC (or NC) block.
  const bool by_rows = m_panels >= 2 * threads || m_panels >= n_panels;
  int64_t task_units = 1, units = by_rows ? m_panels : n_panels;
  const int64_t max_units = by_rows ? ks.mc / ks.mr : ks.nc / kGemmPanelN;
  task_units = (units + 4 * threads - 1) / (4 * threads);
  if (task_units > max_units) task_units = max_units;
  if (task_units < 1) task_units = 1;
  const int64_t tasks = (units + task_units - 1) / task_units;
  if (threads > tasks) threads = tasks;
  std::atomic<int64_t> next{0};
  parallel_for(
      threads,
      [&](int64_t wb, int64_t we) {
        float* abuf = (float*)RSFIQA_MALLOC((size_t)gemm_abuf_floats(ks, K) * sizeof(float), kAlignment);
        for (int64_t t = next.fetch_add(1); t < tasks; t = next.fetch_add(1)) {
          const int64_t u0 = t * task_units, u1 = u0 + task_units < units ? u0 + task_units : units;
          int64_t m0 = 0, m1 = M, j0 = 0, j1 = n_panels;
          if (by_rows) {
            m0 = u0 * ks.mr;
            m1 = u1 * ks.mr < M ? u1 * ks.mr : M;
          } else {
            j0 = u0;
            j1 = u1;
          }
          if (abuf) {
            gemm_packed_block(ks, m0, m1, j0, j1, N, K, A, lda, bpack, C, ldc, p, abuf);
          } else {
            // No workspace: the reference on the same block keeps the call whole.
            const int64_t n1 = j1 * kGemmPanelN < N ? j1 * kGemmPanelN : N;
            gemm_packed_block_ref(m0, m1, j0 * kGemmPanelN, n1, K, ks.kscale, A, lda, bpack, C, ldc, p);
          }
        }
        if (abuf) RSFIQA_FREE(abuf);
        (void)wb, (void)we;
      },
      1, (int)threads);
}

// K == 0: the sum is empty, only bias and the old C remain.
inline void gemm_empty_k(int64_t M, int64_t N, float* C, int64_t ldc, const GemmParams& p) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      float v = p.alpha * 0.0f;
      if (p.bias) v += p.bias[n];
      if (p.accumulate) v += C[m * ldc + n];
      C[m * ldc + n] = v;
    }
}

// The unpacked AVX-512 path for M <= avx512::kSmallM, threads over columns.
inline void gemm_small_m(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                         const uint16_t* Bh, int64_t ldb, bool trans_b, float* C, int64_t ldc, const GemmParams& p) {
#if RSFIQA_X86_SIMD
  GemmEpilogue ep;
  ep.alpha = p.alpha;
  ep.bias = p.bias;
  ep.accumulate = p.accumulate;
  const int64_t col_flops = 2 * M * K + 1;
  constexpr int64_t kMinFlops = int64_t(1) << 19;
  parallel_for(
      N, [&](int64_t nb, int64_t ne) { avx512::small_m(M, nb, ne, K, A, lda, B, Bh, ldb, trans_b, C, ldc, ep); },
      (kMinFlops + col_flops - 1) / col_flops);
#else
  (void)M, (void)N, (void)K, (void)A, (void)lda, (void)B, (void)Bh, (void)ldb, (void)trans_b, (void)C, (void)ldc,
      (void)p;
#endif
}

// Packs B (f32 or bf16) into `dst` with the panels spread over threads.
inline void pack_b_parallel(int64_t N, int64_t K, const float* B, const uint16_t* Bh, int64_t ldb, bool trans_b,
                            float* dst) {
  const int64_t n_panels = (N + kGemmPanelN - 1) / kGemmPanelN;
  const int64_t panel_elems = kGemmPanelN * K + 1;
  parallel_for(
      n_panels,
      [&](int64_t jb, int64_t je) {
#if RSFIQA_X86_SIMD
        if (gemm_path() == GemmPath::kAvx512) {
          if (trans_b) return avx512::pack_b_nt(jb, je, N, K, B, Bh, ldb, dst);
          if (!Bh) return avx512::pack_b_nn_sum(jb, je, N, K, B, nullptr, ldb, dst);
        }
#endif
        if (Bh)
          pack_b_panels_bf16(jb, je, N, K, Bh, ldb, dst);
        else
          pack_b_panels_f32(jb, je, N, K, B, ldb, trans_b, dst);
      },
      (int64_t(1) << 16) / panel_elems + 1);
}

// Shared body of gemm_f32 and gemm_f32_bf16w. Returns false when the packed
// path could not run (no SIMD path, or no memory) so the caller uses _ref.
inline bool gemm_dispatch(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                          const uint16_t* Bh, int64_t ldb, bool trans_b, float* C, int64_t ldc, const GemmParams& p) {
  GemmKernelSet ks;
  const GemmPath path = gemm_path();
  if (!gemm_kernel_set(path, &ks)) return false;
#if RSFIQA_X86_SIMD
  if (path == GemmPath::kAvx512 && M <= avx512::kSmallM) {
    gemm_small_m(M, N, K, A, lda, B, Bh, ldb, trans_b, C, ldc, p);
    return true;
  }
#endif
  float* bpack = (float*)RSFIQA_MALLOC((size_t)packed_b_floats(N, K) * sizeof(float), kAlignment);
  if (!bpack) return false;
  pack_b_parallel(N, K, B, Bh, ldb, trans_b, bpack);
  gemm_packed_run(ks, M, N, K, A, lda, bpack, C, ldc, p);
  RSFIQA_FREE(bpack);
  return true;
}

}  // namespace detail

// Dispatching entry point. May split work over threads with parallel_for
// (serial when called from inside a parallel region).
inline void gemm_f32(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                     float* C, int64_t ldc, const GemmParams& p = {}) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return detail::gemm_empty_k(M, N, C, ldc, p);
  if (!detail::gemm_dispatch(M, N, K, A, lda, B, nullptr, ldb, p.trans_b, C, ldc, p))
    gemm_f32_ref(M, N, K, A, lda, B, ldb, C, ldc, p);
}

// f32 activations times bf16 weights: B is N x K bf16 bits (PyTorch weight
// layout; p.trans_b is ignored). The weights are widened exactly to f32 while
// packing, so the result matches gemm_f32 on the widened weights.
inline void gemm_f32_bf16w(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const uint16_t* B, int64_t ldb,
                           float* C, int64_t ldc, const GemmParams& p = {}) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return detail::gemm_empty_k(M, N, C, ldc, p);
  if (!detail::gemm_dispatch(M, N, K, A, lda, nullptr, B, ldb, true, C, ldc, p))
    gemm_f32_bf16w_ref(M, N, K, A, lda, B, ldb, C, ldc, p);
}

// bf16 x bf16 products with f32 accumulation: A (f32) is rounded to bf16,
// B is N x K bf16 bits (PyTorch weight layout; p.trans_b is ignored), the
// sums, alpha, bias and accumulate are f32. With AVX512_BF16 this runs
// VDPBF16PS at about twice the f32 kernel's rate (gemm_avx512bf16.hpp);
// elsewhere it rounds A into a workspace and runs gemm_f32_bf16w on it,
// which computes the same products. Opt-in: callers choose it where bf16
// activations are acceptable (the error bound is in gemm_avx512bf16.hpp).
inline void gemm_bf16_f32acc(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const uint16_t* B,
                             int64_t ldb, float* C, int64_t ldc, const GemmParams& p = {}) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return detail::gemm_empty_k(M, N, C, ldc, p);
#if RSFIQA_X86_SIMD
  if (gemm_has_bf16_dot() && M > avx512::kSmallM) {
    const int64_t ku = (K + 1) / 2;
    float* bpack = (float*)RSFIQA_MALLOC((size_t)detail::packed_b_floats(N, ku) * sizeof(float), kAlignment);
    if (bpack) {
      const int64_t n_panels = (N + detail::kGemmPanelN - 1) / detail::kGemmPanelN;
      parallel_for(
          n_panels, [&](int64_t jb, int64_t je) { avx512bf16::pack_b_nt(jb, je, N, K, B, ldb, bpack); },
          (int64_t(1) << 16) / (detail::kGemmPanelN * ku + 1) + 1);
      detail::gemm_packed_run(detail::gemm_bf16_kernel_set(), M, N, K, A, lda, bpack, C, ldc, p);
      RSFIQA_FREE(bpack);
      return;
    }
  }
#endif
  // Tiny M (the weights would be packed for a handful of rows) and CPUs
  // without AVX512_BF16: round A into a workspace, then the f32 kernels on
  // the bf16 weights (for M <= 4 the direct, unpacked AVX-512 path).
  if (gemm_path() != GemmPath::kRef) {
    float* ar = (float*)RSFIQA_MALLOC((size_t)(M * K) * sizeof(float), kAlignment);
    if (ar) {
      for (int64_t m = 0; m < M; ++m)
        for (int64_t k = 0; k < K; ++k) ar[m * K + k] = bf16_to_f32(f32_to_bf16(A[m * lda + k]));
      gemm_f32_bf16w(M, N, K, ar, K, B, ldb, C, ldc, p);
      RSFIQA_FREE(ar);
      return;
    }
  }
  gemm_bf16_f32acc_ref(M, N, K, A, lda, B, ldb, C, ldc, p);
}

// Packs an f32 weight once: B is N x K (trans_b, PyTorch layout) or K x N.
inline Result<PackedB> pack_b(int64_t N, int64_t K, const float* B, int64_t ldb, bool trans_b = true) {
  if (N <= 0 || K <= 0 || !B)
    return make_error(ErrorCode::kInvalidArgument, "pack_b: need N > 0, K > 0 and data, got N=%lld K=%lld",
                      (long long)N, (long long)K);
  if (ldb < (trans_b ? K : N))
    return make_error(ErrorCode::kInvalidArgument, "pack_b: ldb=%lld is below the row length %lld", (long long)ldb,
                      (long long)(trans_b ? K : N));
  PackedB out;
  out.data_ = (float*)RSFIQA_MALLOC((size_t)detail::packed_b_floats(N, K) * sizeof(float), kAlignment);
  if (!out.data_)
    return make_error(ErrorCode::kOutOfMemory, "pack_b: cannot allocate %lld floats for a %lld x %lld weight",
                      (long long)detail::packed_b_floats(N, K), (long long)N, (long long)K);
  out.n_ = N;
  out.k_ = K;
  detail::pack_b_parallel(N, K, B, nullptr, ldb, trans_b, out.data_);
  return out;
}

// Packs a bf16 weight (N x K bits, PyTorch layout) once, widened to f32.
inline Result<PackedB> pack_b_bf16(int64_t N, int64_t K, const uint16_t* B, int64_t ldb) {
  if (N <= 0 || K <= 0 || !B)
    return make_error(ErrorCode::kInvalidArgument, "pack_b_bf16: need N > 0, K > 0 and data, got N=%lld K=%lld",
                      (long long)N, (long long)K);
  if (ldb < K)
    return make_error(ErrorCode::kInvalidArgument, "pack_b_bf16: ldb=%lld is below the row length %lld", (long long)ldb,
                      (long long)K);
  PackedB out;
  out.data_ = (float*)RSFIQA_MALLOC((size_t)detail::packed_b_floats(N, K) * sizeof(float), kAlignment);
  if (!out.data_)
    return make_error(ErrorCode::kOutOfMemory, "pack_b_bf16: cannot allocate %lld floats for a %lld x %lld weight",
                      (long long)detail::packed_b_floats(N, K), (long long)N, (long long)K);
  out.n_ = N;
  out.k_ = K;
  detail::pack_b_parallel(N, K, nullptr, B, ldb, true, out.data_);
  return out;
}

// Packs a bf16 weight (N x K bits, PyTorch layout) once as bf16 pairs for
// gemm_bf16_f32acc_packed (half the memory of pack_b_bf16).
inline Result<PackedB> pack_b_bf16_pairs(int64_t N, int64_t K, const uint16_t* B, int64_t ldb) {
  if (N <= 0 || K <= 0 || !B)
    return make_error(ErrorCode::kInvalidArgument, "pack_b_bf16_pairs: need N > 0, K > 0 and data, got N=%lld K=%lld",
                      (long long)N, (long long)K);
  if (ldb < K)
    return make_error(ErrorCode::kInvalidArgument, "pack_b_bf16_pairs: ldb=%lld is below the row length %lld",
                      (long long)ldb, (long long)K);
  const int64_t ku = (K + 1) / 2;
  PackedB out;
  out.data_ = (float*)RSFIQA_MALLOC((size_t)detail::packed_b_floats(N, ku) * sizeof(float), kAlignment);
  if (!out.data_)
    return make_error(ErrorCode::kOutOfMemory, "pack_b_bf16_pairs: cannot allocate %lld units for a %lld x %lld weight",
                      (long long)detail::packed_b_floats(N, ku), (long long)N, (long long)K);
  out.n_ = N;
  out.k_ = K;
  out.format_ = PackedFormat::kBf16Pairs;
  const int64_t n_panels = (N + detail::kGemmPanelN - 1) / detail::kGemmPanelN;
  float* dst = out.data_;
  parallel_for(
      n_panels,
      [&](int64_t jb, int64_t je) {
#if RSFIQA_X86_SIMD
        if (gemm_has_bf16_dot()) return avx512bf16::pack_b_nt(jb, je, N, K, B, ldb, dst);
#endif
        detail::pack_b_panels_bf16_pairs(jb, je, N, K, B, ldb, dst);
      },
      (int64_t(1) << 16) / (detail::kGemmPanelN * ku + 1) + 1);
  return out;
}

namespace detail {
inline Status packed_format_error(const char* fn, const PackedB& B, PackedFormat want) {
  if (B.empty()) return make_error(ErrorCode::kInvalidArgument, "%s: the packed weight is empty", fn);
  if (B.format() != want)
    return make_error(
        ErrorCode::kInvalidArgument, "%s: the weight was packed as %s, this call needs %s", fn,
        B.format() == PackedFormat::kF32 ? "f32 (pack_b / pack_b_bf16)" : "bf16 pairs (pack_b_bf16_pairs)",
        want == PackedFormat::kF32 ? "f32 (pack_b / pack_b_bf16)" : "bf16 pairs (pack_b_bf16_pairs)");
  return Status();
}
}  // namespace detail

// C (M x B.n()) = alpha * A (M x B.k()) · B + bias (+ C) on an f32-packed B
// (pack_b or pack_b_bf16). p.trans_b is ignored (the packing fixed the
// layout). An empty or differently packed B is an error and C is untouched.
inline Status gemm_f32_packed(int64_t M, const float* A, int64_t lda, const PackedB& B, float* C, int64_t ldc,
                              const GemmParams& p = {}) {
  RSFIQA_RETURN_IF_ERROR(detail::packed_format_error("gemm_f32_packed", B, PackedFormat::kF32));
  if (M <= 0) return Status();
  detail::GemmKernelSet ks;
  if (!detail::gemm_kernel_set(gemm_path(), &ks)) {
    gemm_f32_packed_ref(M, A, lda, B, C, ldc, p);
    return Status();
  }
  detail::gemm_packed_run(ks, M, B.n(), B.k(), A, lda, B.data(), C, ldc, p);
  return Status();
}

// Caller-owned packed operands, for a K x N operand that changes from call
// to call but feeds several products (the SAM decoder's per-prompt image
// tokens): pack_b_nn_sum writes it once into a caller buffer of
// packed_b_size(N, K) floats (aligned to kAlignment, as Buffer storage
// is), gemm_f32_prepacked multiplies by it. The
// result equals gemm_f32 on the same operand bit for bit whenever gemm_f32
// takes its packed path (M above the direct small-M kernels), since both run
// gemm_packed_run on identical panels.
inline int64_t packed_b_size(int64_t N, int64_t K) { return detail::packed_b_floats(N, K); }
// Columns per panel of a packed operand.
inline constexpr int64_t kPackedPanelN = detail::kGemmPanelN;

// dst (packed_b_size(N, K) floats) = the panels of B + B2, both K x N with
// row stride ldb; B2 may be null. Pure copies and one addition per element,
// so any ISA produces the same bits. Only panels [j0, j1) (columns
// 32·j0 .. 32·j1 - 1) when given, e.g. as blocks of B are ready; by default
// all of them.
inline void pack_b_nn_sum(int64_t N, int64_t K, const float* B, const float* B2, int64_t ldb, float* dst,
                          int64_t j0 = 0, int64_t j1 = -1) {
  if (N <= 0 || K <= 0) return;
  const int64_t n_panels = (N + detail::kGemmPanelN - 1) / detail::kGemmPanelN;
  if (j1 < 0 || j1 > n_panels) j1 = n_panels;
  if (j0 < 0) j0 = 0;
#if RSFIQA_X86_SIMD
  if (gemm_path() == GemmPath::kAvx512) return avx512::pack_b_nn_sum(j0, j1, N, K, B, B2, ldb, dst);
#endif
  detail::pack_b_nn_sum_f32(j0, j1, N, K, B, B2, ldb, dst);
}

// dst (packed_b_size(N, K) floats) gets depth rows [k0, k1) of the panels
// of a transposed operand: B is N x K, element (k, n) at B[n·ldb + k] (a
// PyTorch weight, or a channels-first activation whose pixels are the
// depth, as the SAM decoder's image tokens when they are the right operand
// of attention-weighted sums). Rows outside [k0, k1) are left as they are,
// so a caller can pack each block of pixels as it is produced. Pure copies:
// the same bits on every ISA, and the same panels gemm_f32 packs itself for
// trans_b.
inline void pack_b_nt_rows(int64_t N, int64_t K, const float* B, int64_t ldb, float* dst, int64_t k0, int64_t k1) {
  if (N <= 0 || K <= 0) return;
  if (k0 < 0) k0 = 0;
  if (k1 > K) k1 = K;
  if (k0 >= k1) return;
  const int64_t n_panels = (N + detail::kGemmPanelN - 1) / detail::kGemmPanelN;
#if RSFIQA_X86_SIMD
  if (gemm_path() == GemmPath::kAvx512) return avx512::pack_b_nt_rows(0, n_panels, N, K, k0, k1, B, nullptr, ldb, dst);
#endif
  detail::pack_b_nt_rows_f32(0, n_panels, N, K, k0, k1, B, ldb, dst);
}

// C (M x N) = alpha * A (M x K) · B + bias (+ C) with B packed by
// pack_b_nn_sum or pack_b_nt_rows (or any packing of the same layout).
// p.trans_b is ignored.
inline void gemm_f32_prepacked(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* bpack,
                               float* C, int64_t ldc, const GemmParams& p = {}) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return detail::gemm_empty_k(M, N, C, ldc, p);
  detail::GemmKernelSet ks;
  if (detail::gemm_kernel_set(gemm_path(), &ks))
    detail::gemm_packed_run(ks, M, N, K, A, lda, bpack, C, ldc, p);
  else
    detail::gemm_packed_block_ref(0, M, 0, N, K, 1, A, lda, bpack, C, ldc, p);
}

// gemm_bf16_f32acc on a weight packed with pack_b_bf16_pairs. Without
// AVX512_BF16 the pairs are widened into an f32 workspace and A is rounded,
// then the f32 kernels run: the same products, summed in another order.
inline Status gemm_bf16_f32acc_packed(int64_t M, const float* A, int64_t lda, const PackedB& B, float* C, int64_t ldc,
                                      const GemmParams& p = {}) {
  RSFIQA_RETURN_IF_ERROR(detail::packed_format_error("gemm_bf16_f32acc_packed", B, PackedFormat::kBf16Pairs));
  if (M <= 0) return Status();
  const int64_t N = B.n(), K = B.k();
#if RSFIQA_X86_SIMD
  if (gemm_has_bf16_dot()) {
    detail::gemm_packed_run(detail::gemm_bf16_kernel_set(), M, N, K, A, lda, B.data(), C, ldc, p);
    return Status();
  }
#endif
  detail::GemmKernelSet ks;
  if (detail::gemm_kernel_set(gemm_path(), &ks)) {
    const int64_t ku = (K + 1) / 2;
    float* wide = (float*)RSFIQA_MALLOC((size_t)detail::packed_b_floats(N, K) * sizeof(float), kAlignment);
    float* ar = (float*)RSFIQA_MALLOC((size_t)(M * K) * sizeof(float), kAlignment);
    if (wide && ar) {
      const int64_t n_panels = (N + detail::kGemmPanelN - 1) / detail::kGemmPanelN;
      for (int64_t j = 0; j < n_panels; ++j)
        for (int64_t k = 0; k < K; ++k)
          for (int64_t c = 0; c < detail::kGemmPanelN; ++c)
            wide[(j * K + k) * detail::kGemmPanelN + c] =
                detail::packed_b_value(B.data(), ku, 2, j * detail::kGemmPanelN + c, k);
      for (int64_t m = 0; m < M; ++m)
        for (int64_t k = 0; k < K; ++k) ar[m * K + k] = bf16_to_f32(f32_to_bf16(A[m * lda + k]));
      detail::gemm_packed_run(ks, M, N, K, ar, K, wide, C, ldc, p);
    }
    if (wide) RSFIQA_FREE(wide);
    if (ar) RSFIQA_FREE(ar);
    if (wide && ar) return Status();
  }
  detail::gemm_packed_block_ref(0, M, 0, N, K, 2, A, lda, B.data(), C, ldc, p);
  return Status();
}

}  // namespace rsfiqa::kernels

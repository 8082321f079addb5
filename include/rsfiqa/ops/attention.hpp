// SPDX-License-Identifier: MIT
// Multi-head scaled-dot-product attention, as
// torch.nn.functional.scaled_dot_product_attention computes it:
//
//   for every head h:  O_h = softmax(scale · Q_h K_hᵀ + B_h, masked) · V_h
//
//   Q_h [Nq, d], K_h [Nk, d], V_h [Nk, d], O_h [Nq, d]; scale defaults to 1/√d;
//   B_h [Nq, Nk] an optional additive bias (TinyViT's attention biases, a soft
//   region mask); M_h [Nq, Nk] an optional boolean mask, nonzero = attend
//   (PyTorch's boolean attn_mask). A query row with every key masked gets a
//   zero output row (PyTorch gives NaN).
//
// Layout. Each operand is a strided "heads view": element (h, i, c) of head h,
// row (token) i, channel c lives at data[h·head_stride + i·row_stride + c],
// channels contiguous. This one description covers both layouts models use:
//   heads-major  [heads][N][d]          head_stride = N·d,  row_stride = d
//   tokens-major [N][heads·d] (ViT)     head_stride = d,    row_stride = heads·d
//   packed qkv   [N][3·heads·d] from one nn.Linear: q = base, k = base + D,
//                v = base + 2D with head_stride = d and row_stride = 3D
//                (heads_view_packed_qkv builds the three views)
// The output view is written the same way; tokens-major output [N][heads·d]
// is ready for the output projection. AttentionParams::batch runs B
// independent sequences (e.g. TinyViT windows) with per-view batch strides,
// sharing the bias and mask. Bias and mask use (head, row) strides
// too: head stride 0 shares one [Nq, Nk] matrix across heads, row stride 0
// shares one [Nk] row across queries (a key-padding mask).
//
// Memory and threads. The score matrix is never materialised whole: work is
// split into (head, block of q_block queries) tasks spread with parallel_for,
// and each thread owns one q_block × Nk score block. Per task:
//   S = scale · Q_blk K_hᵀ    one gemm_f32 (NT), serial inside the parallel region
//   S = softmax(S + B, M)     per row, kernels::softmax_f32
//   O_blk = S · V_h           one gemm_f32 (NN)
// (Tasks are (sequence, head, block) triples when batch > 1.)
// Every output row is computed by the same sequence of operations whatever
// the thread count, so results are bit-identical across thread counts.
// Global attention over 4096 tokens with 64-query blocks needs 1 MiB of
// scores per thread. What this file does not do: the q/k/v/output
// projections, relative position tables, rotary embeddings, or the region-
// restricted fast path (ops/region_attention.hpp).
#pragma once

#include <cmath>
#include <cstdint>

#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/core/status.hpp"
#include "rsfiqa/core/tensor.hpp"
#include "rsfiqa/kernels/gemm.hpp"
#include "rsfiqa/kernels/softmax.hpp"
#include "rsfiqa/ops/common.hpp"

namespace rsfiqa::ops {

// Read-only strided [batch][heads][rows][channels] view (see the file
// comment); batch_stride matters only when AttentionParams::batch > 1.
struct HeadsView {
  const float* data = nullptr;
  int64_t head_stride = 0;
  int64_t row_stride = 0;
  int64_t batch_stride = 0;
};
// Writable twin, for the output; converts to a read-only view.
struct HeadsViewMut {
  float* data = nullptr;
  int64_t head_stride = 0;
  int64_t row_stride = 0;
  int64_t batch_stride = 0;
  operator HeadsView() const { return {data, head_stride, row_stride, batch_stride}; }  // NOLINT: implicit on purpose
};

// [heads][rows][d], dense.
inline HeadsView heads_view_heads_major(const float* p, int64_t rows, int64_t d) { return {p, rows * d, d, 0}; }
inline HeadsViewMut heads_view_heads_major(float* p, int64_t rows, int64_t d) { return {p, rows * d, d, 0}; }
// [rows][heads·d] with row stride ld (ld = heads·d when dense).
inline HeadsView heads_view_tokens_major(const float* p, int64_t d, int64_t ld) { return {p, d, ld, 0}; }
inline HeadsViewMut heads_view_tokens_major(float* p, int64_t d, int64_t ld) { return {p, d, ld, 0}; }

// q, k, v views into a packed [N][3·heads·d] qkv activation; for a batch
// [B][N][3·heads·d] (e.g. windows) pass N so the batch stride is N·3·heads·d.
struct QkvViews {
  HeadsView q, k, v;
};
inline QkvViews heads_view_packed_qkv(const float* qkv, int64_t heads, int64_t d, int64_t N = 0) {
  const int64_t D = heads * d, bs = N * 3 * D;
  return {{qkv, d, 3 * D, bs}, {qkv + D, d, 3 * D, bs}, {qkv + 2 * D, d, 3 * D, bs}};
}

struct AttentionParams {
  // Independent sequences sharing bias and mask (TinyViT windows): sequence
  // b reads q/k/v/out at data + b·batch_stride of each view.
  int64_t batch = 1;
  int64_t heads = 1;
  int64_t nq = 0;        // query rows per head
  int64_t nk = 0;        // key / value rows per head
  int64_t head_dim = 0;  // d, shared by q, k and v
  float scale = 0.0f;    // 0: 1/√head_dim
  // Optional additive bias: element (h, i, j) at bias[h·bias_head_stride + i·bias_row_stride + j].
  const float* bias = nullptr;
  int64_t bias_head_stride = 0;
  int64_t bias_row_stride = 0;
  // Optional boolean mask, nonzero = attend, same indexing.
  const uint8_t* mask = nullptr;
  int64_t mask_head_stride = 0;
  int64_t mask_row_stride = 0;
  // Queries per task (0: 64). Each thread holds q_block × nk floats of scores.
  int64_t q_block = 0;
};

// Floats of score workspace attention_f32 allocates for `threads` threads.
inline int64_t attention_workspace_floats(const AttentionParams& p, int threads) {
  const int64_t qb = p.q_block > 0 ? p.q_block : 64;
  return (int64_t)(threads > 0 ? threads : 1) * (qb < p.nq ? qb : p.nq) * p.nk;
}

// Pointer form. Checks only what it can see (sizes, null pointers); the
// views must cover the sizes in p. out must not overlap q, k or v.
inline Status attention_f32(const HeadsView& q, const HeadsView& k, const HeadsView& v, const HeadsViewMut& out,
                            const AttentionParams& p) {
  if (p.batch < 0 || p.heads < 0 || p.nq < 0 || p.nk < 0 || p.head_dim < 0)
    return make_error(ErrorCode::kInvalidArgument,
                      "attention: negative size (batch %lld, heads %lld, nq %lld, nk %lld, d %lld)", (long long)p.batch,
                      (long long)p.heads, (long long)p.nq, (long long)p.nk, (long long)p.head_dim);
  if (p.batch == 0 || p.heads == 0 || p.nq == 0 || p.head_dim == 0) return Status();
  if (!q.data || !out.data || (p.nk > 0 && (!k.data || !v.data)))
    return make_error(ErrorCode::kInvalidArgument, "attention: null q, k, v or output pointer");
  const int64_t B = p.batch, H = p.heads, Nq = p.nq, Nk = p.nk, d = p.head_dim;
  if (Nk == 0) {
    // No keys: every query row attends to nothing, output zeros.
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < Nq; ++i)
          for (int64_t c = 0; c < d; ++c)
            out.data[b * out.batch_stride + h * out.head_stride + i * out.row_stride + c] = 0.0f;
    return Status();
  }
  const float scale = p.scale != 0.0f ? p.scale : 1.0f / std::sqrt((float)d);
  const int64_t qb = p.q_block > 0 ? (p.q_block < Nq ? p.q_block : Nq) : (Nq < 64 ? Nq : 64);
  const int64_t blocks = (Nq + qb - 1) / qb;
  const int64_t tasks = B * H * blocks;
  // One contiguous run of tasks per thread; chunk c owns score block c.
  const int threads = get_num_threads();
  const int64_t chunk = (tasks + threads - 1) / threads;
  const int64_t nchunks = (tasks + chunk - 1) / chunk;
  RSFIQA_ASSIGN_OR_RETURN(Buffer ws, Buffer::allocate(nchunks * qb * Nk * (int64_t)sizeof(float)));
  float* scores_all = static_cast<float*>(ws.data());

  parallel_for_chunks(tasks, chunk, [&](int64_t c, int64_t t0, int64_t t1) {
    float* S = scores_all + c * qb * Nk;  // [rows, Nk] scores of the current block
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / (H * blocks), h = (t / blocks) % H, i0 = (t % blocks) * qb;
      const int64_t rows = Nq - i0 < qb ? Nq - i0 : qb;
      const float* Qb = q.data + b * q.batch_stride + h * q.head_stride + i0 * q.row_stride;    // [rows, d]
      const float* Kh = k.data + b * k.batch_stride + h * k.head_stride;                        // [Nk, d]
      const float* Vh = v.data + b * v.batch_stride + h * v.head_stride;                        // [Nk, d]
      float* Ob = out.data + b * out.batch_stride + h * out.head_stride + i0 * out.row_stride;  // [rows, d]
      // S = scale · Q_blk · K_hᵀ
      kernels::GemmParams sp;
      sp.trans_b = true;
      sp.alpha = scale;
      kernels::gemm_f32(rows, Nk, d, Qb, q.row_stride, Kh, k.row_stride, S, Nk, sp);
      // S = softmax(S + B, M) row by row.
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t i = i0 + r;
        const float* br = p.bias ? p.bias + h * p.bias_head_stride + i * p.bias_row_stride : nullptr;
        const uint8_t* mr = p.mask ? p.mask + h * p.mask_head_stride + i * p.mask_row_stride : nullptr;
        kernels::softmax_f32(Nk, S + r * Nk, br, mr, S + r * Nk);
      }
      // O_blk = S · V_h
      kernels::GemmParams op;
      op.trans_b = false;
      kernels::gemm_f32(rows, d, Nk, S, Nk, Vh, v.row_stride, Ob, out.row_stride, op);
    }
  });
  return Status();
}

namespace detail {
// Bias / mask of shape [H, Nq, Nk] or [Nq, Nk] (shared by heads): its strides.
inline Status attention_extra_strides(const TensorView& t, const char* name, int64_t H, int64_t Nq, int64_t Nk,
                                      int64_t* head_stride, int64_t* row_stride) {
  const Shape full{H, Nq, Nk}, shared{Nq, Nk};
  if (!t.is_contiguous()) return make_error(ErrorCode::kInvalidArgument, "%s: expected a contiguous tensor", name);
  if (t.shape == full)
    *head_stride = Nq * Nk;
  else if (t.shape == shared)
    *head_stride = 0;
  else
    return make_error(ErrorCode::kShapeMismatch, "%s: expected %s or %s, got %s", name, full.to_string().c_str(),
                      shared.to_string().c_str(), t.shape.to_string().c_str());
  *row_stride = Nk;
  return Status();
}

inline Status attention_bias_mask(const TensorView& bias, const TensorView& mask, AttentionParams* p) {
  if (present(bias)) {
    RSFIQA_RETURN_IF_ERROR(check_f32(bias, "attention bias"));
    RSFIQA_RETURN_IF_ERROR(attention_extra_strides(bias, "attention bias", p->heads, p->nq, p->nk, &p->bias_head_stride,
                                                   &p->bias_row_stride));
    p->bias = static_cast<const float*>(bias.data);
  }
  if (present(mask)) {
    if (mask.dtype != DType::kU8 && mask.dtype != DType::kI8)
      return make_error(ErrorCode::kUnsupportedType, "attention mask: expected u8 or i8, got %s",
                        dtype_name(mask.dtype));
    RSFIQA_RETURN_IF_ERROR(attention_extra_strides(mask, "attention mask", p->heads, p->nq, p->nk, &p->mask_head_stride,
                                                   &p->mask_row_stride));
    p->mask = static_cast<const uint8_t*>(mask.data);
  }
  return Status();
}
}  // namespace detail

// Checked form, heads-major: q [H, Nq, d], k [H, Nk, d], v [H, Nk, d],
// out [H, Nq, d]; bias f32 and mask u8/i8, each [H, Nq, Nk] or [Nq, Nk]
// (optional); scale 0 means 1/√d.
inline Status attention(const TensorView& q, const TensorView& k, const TensorView& v, const TensorView& out,
                        const TensorView& bias = {}, const TensorView& mask = {}, float scale = 0.0f) {
  RSFIQA_RETURN_IF_ERROR(detail::check_f32(q, "attention q"));
  RSFIQA_RETURN_IF_ERROR(detail::check_f32(k, "attention k"));
  RSFIQA_RETURN_IF_ERROR(detail::check_f32(v, "attention v"));
  RSFIQA_RETURN_IF_ERROR(detail::check_f32(out, "attention output"));
  if (q.ndim() != 3 || k.ndim() != 3 || v.ndim() != 3)
    return make_error(ErrorCode::kShapeMismatch, "attention: expected q, k, v of rank 3 [heads, N, d], got %s, %s, %s",
                      q.shape.to_string().c_str(), k.shape.to_string().c_str(), v.shape.to_string().c_str());
  if (k.shape != v.shape || k.dim(0) != q.dim(0) || k.dim(2) != q.dim(2))
    return make_error(ErrorCode::kShapeMismatch,
                      "attention: q %s, k %s and v %s must share heads and head_dim, and k and v their length",
                      q.shape.to_string().c_str(), k.shape.to_string().c_str(), v.shape.to_string().c_str());
  RSFIQA_RETURN_IF_ERROR(detail::check_same_shape(q, "attention q", out, "attention output"));
  AttentionParams p;
  p.heads = q.dim(0);
  p.nq = q.dim(1);
  p.nk = k.dim(1);
  p.head_dim = q.dim(2);
  p.scale = scale;
  RSFIQA_RETURN_IF_ERROR(detail::attention_bias_mask(bias, mask, &p));
  if (out.data == q.data || out.data == k.data || out.data == v.data)
    return make_error(ErrorCode::kInvalidArgument, "attention: output must not alias q, k or v");
  return attention_f32(heads_view_heads_major(q.f32(), p.nq, p.head_dim),
                       heads_view_heads_major(static_cast<const float*>(k.data), p.nk, p.head_dim),
                       heads_view_heads_major(static_cast<const float*>(v.data), p.nk, p.head_dim),
                       heads_view_heads_major(out.f32(), p.nq, p.head_dim), p);
}

// Checked form, tokens-major (separate q/k/v projections, as in SAM's
// mask-decoder attention): q [Nq, D], k [Nk, D], v [Nk, D] with head h in
// columns [h·d, (h+1)·d), D = heads·d; out [Nq, D]; bias / mask as for
// attention ([heads, Nq, Nk] or [Nq, Nk]).
inline Status attention_tokens_major(const TensorView& q, const TensorView& k, const TensorView& v, int64_t heads,
                                     const TensorView& out, const TensorView& bias = {}, const TensorView& mask = {},
                                     float scale = 0.0f) {
  RSFIQA_RETURN_IF_ERROR(detail::check_f32(q, "attention q"));
  RSFIQA_RETURN_IF_ERROR(detail::check_f32(k, "attention k"));
  RSFIQA_RETURN_IF_ERROR(detail::check_f32(v, "attention v"));
  RSFIQA_RETURN_IF_ERROR(detail::check_f32(out, "attention output"));
  if (heads < 1)
    return make_error(ErrorCode::kInvalidArgument, "attention: heads must be >= 1, got %lld", (long long)heads);
  if (q.ndim() != 2 || k.ndim() != 2 || k.shape != v.shape || q.dim(1) != k.dim(1) || q.dim(1) % heads != 0)
    return make_error(ErrorCode::kShapeMismatch,
                      "attention: expected q [Nq, D], k and v [Nk, D] with D divisible by %lld heads, got %s, %s, %s",
                      (long long)heads, q.shape.to_string().c_str(), k.shape.to_string().c_str(),
                      v.shape.to_string().c_str());
  RSFIQA_RETURN_IF_ERROR(detail::check_same_shape(q, "attention q", out, "attention output"));
  const int64_t D = q.dim(1);
  AttentionParams p;
  p.heads = heads;
  p.nq = q.dim(0);
  p.nk = k.dim(0);
  p.head_dim = D / heads;
  p.scale = scale;
  RSFIQA_RETURN_IF_ERROR(detail::attention_bias_mask(bias, mask, &p));
  if (out.data == q.data || out.data == k.data || out.data == v.data)
    return make_error(ErrorCode::kInvalidArgument, "attention: output must not alias q, k or v");
  return attention_f32(heads_view_tokens_major(q.f32(), p.head_dim, D),
                       heads_view_tokens_major(static_cast<const float*>(k.data), p.head_dim, D),
                       heads_view_tokens_major(static_cast<const float*>(v.data), p.head_dim, D),
                       heads_view_tokens_major(out.f32(), p.head_dim, D), p);
}

// Checked form, packed (ViT self-attention): qkv [N, 3·D] straight from the
// qkv nn.Linear (q | k | v along the last dim, each [N, heads, d] with
// D = heads·d), out [N, D] heads concatenated; or batched (windows) qkv
// [B, N, 3·D] -> out [B, N, D], bias and mask shared by the batch. Bias /
// mask shapes as for attention.
inline Status attention_packed_qkv(const TensorView& qkv, int64_t heads, const TensorView& out,
                                   const TensorView& bias = {}, const TensorView& mask = {}, float scale = 0.0f) {
  RSFIQA_RETURN_IF_ERROR(detail::check_f32(qkv, "attention qkv"));
  RSFIQA_RETURN_IF_ERROR(detail::check_f32(out, "attention output"));
  if (heads < 1)
    return make_error(ErrorCode::kInvalidArgument, "attention: heads must be >= 1, got %lld", (long long)heads);
  if ((qkv.ndim() != 2 && qkv.ndim() != 3) || qkv.dim(-1) % (3 * heads) != 0)
    return make_error(ErrorCode::kShapeMismatch,
                      "attention qkv: expected [N, 3 * heads * d] or [B, N, 3 * heads * d] with %lld heads, got %s",
                      (long long)heads, qkv.shape.to_string().c_str());
  const bool batched = qkv.ndim() == 3;
  const int64_t B = batched ? qkv.dim(0) : 1, N = qkv.dim(-2), D = qkv.dim(-1) / 3;
  const Shape want = batched ? Shape{B, N, D} : Shape{N, D};
  if (out.shape != want)
    return make_error(ErrorCode::kShapeMismatch, "attention output: expected %s for qkv %s, got %s",
                      want.to_string().c_str(), qkv.shape.to_string().c_str(), out.shape.to_string().c_str());
  AttentionParams p;
  p.batch = B;
  p.heads = heads;
  p.nq = p.nk = N;
  p.head_dim = D / heads;
  p.scale = scale;
  RSFIQA_RETURN_IF_ERROR(detail::attention_bias_mask(bias, mask, &p));
  if (out.data == qkv.data) return make_error(ErrorCode::kInvalidArgument, "attention: output must not alias qkv");
  const QkvViews views = heads_view_packed_qkv(qkv.f32(), heads, p.head_dim, N);
  HeadsViewMut o = heads_view_tokens_major(out.f32(), p.head_dim, D);
  o.batch_stride = N * D;
  return attention_f32(views.q, views.k, views.v, o, p);
}

}  // namespace rsfiqa::ops

// SPDX-License-Identifier: MIT
// Normalisation layers, model-agnostic:
//
//   layer_norm     F.layer_norm over the last dim:
//                  y = (x - mean) / sqrt(var + eps) · gamma + beta, x [..., D], gamma/beta [D]
//   layer_norm_2d  SAM's LayerNorm2d: the same over the channel dim of a
//                  channels-first tensor, x [N, C, H, W] or [C, H, W], gamma/beta [C]
//                  (mean and biased variance over C at every pixel)
//   rms_norm       y = x / sqrt(mean(x²) + eps) · gamma over the last dim
//
// gamma and beta are optional (empty views). y may be x (in place). Rows or
// pixel blocks are spread over threads with parallel_for; the row kernels in
// kernels/norm.hpp are single-threaded. BatchNorm is not here: the weights we
// load have it folded into the convolutions.
#pragma once

#include <cstdint>

#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/core/status.hpp"
#include "rsfiqa/core/tensor.hpp"
#include "rsfiqa/kernels/norm.hpp"
#include "rsfiqa/ops/common.hpp"

namespace rsfiqa::ops {

// Pointer forms, no checks: `rows` rows of D contiguous floats.
inline void layer_norm_f32(int64_t rows, int64_t D, const float* x, const float* gamma, const float* beta, float eps,
                           float* y) {
  parallel_for(
      rows,
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) kernels::layer_norm_f32(D, x + r * D, gamma, beta, eps, y + r * D);
      },
      /*min_per_thread=*/(detail::kElementwiseGrain + D - 1) / (D > 0 ? D : 1));
}

inline void rms_norm_f32(int64_t rows, int64_t D, const float* x, const float* gamma, float eps, float* y) {
  parallel_for(
      rows,
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) kernels::rms_norm_f32(D, x + r * D, gamma, eps, y + r * D);
      },
      (detail::kElementwiseGrain + D - 1) / (D > 0 ? D : 1));
}

// N images of C channels × HW pixels, channels-first.
inline void layer_norm_2d_f32(int64_t N, int64_t C, int64_t HW, const float* x, const float* gamma, const float* beta,
                              float eps, float* y) {
  // Tasks are blocks of 64 pixels of one image: C × 64 floats stay in cache
  // across the kernel's three passes.
  constexpr int64_t kPixelBlock = 64;
  const int64_t blocks = (HW + kPixelBlock - 1) / kPixelBlock;
  parallel_for(
      N * blocks,
      [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t n = t / blocks, p0 = (t % blocks) * kPixelBlock;
          const int64_t np = HW - p0 < kPixelBlock ? HW - p0 : kPixelBlock;
          const int64_t off = n * C * HW + p0;
          kernels::channel_norm_f32(C, np, HW, x + off, gamma, beta, eps, y + off);
        }
      },
      /*min_per_thread=*/4);
}

// Checked forms.
inline Status layer_norm(const TensorView& x, const TensorView& gamma, const TensorView& beta, float eps,
                         const TensorView& y) {
  RSFIQA_RETURN_IF_ERROR(detail::check_f32(x, "layer_norm input"));
  RSFIQA_RETURN_IF_ERROR(detail::check_f32(y, "layer_norm output"));
  RSFIQA_RETURN_IF_ERROR(detail::check_rank(x, "layer_norm input", 1, kMaxDims));
  RSFIQA_RETURN_IF_ERROR(detail::check_same_shape(x, "layer_norm input", y, "layer_norm output"));
  const int64_t D = x.dim(-1);
  RSFIQA_RETURN_IF_ERROR(detail::check_optional_vector(gamma, "layer_norm weight", D, "last dim of the input"));
  RSFIQA_RETURN_IF_ERROR(detail::check_optional_vector(beta, "layer_norm bias", D, "last dim of the input"));
  if (D == 0 || x.numel() == 0) return Status();
  layer_norm_f32(x.numel() / D, D, x.f32(), detail::optional_f32(gamma), detail::optional_f32(beta), eps, y.f32());
  return Status();
}

inline Status rms_norm(const TensorView& x, const TensorView& gamma, float eps, const TensorView& y) {
  RSFIQA_RETURN_IF_ERROR(detail::check_f32(x, "rms_norm input"));
  RSFIQA_RETURN_IF_ERROR(detail::check_f32(y, "rms_norm output"));
  RSFIQA_RETURN_IF_ERROR(detail::check_rank(x, "rms_norm input", 1, kMaxDims));
  RSFIQA_RETURN_IF_ERROR(detail::check_same_shape(x, "rms_norm input", y, "rms_norm output"));
  const int64_t D = x.dim(-1);
  RSFIQA_RETURN_IF_ERROR(detail::check_optional_vector(gamma, "rms_norm weight", D, "last dim of the input"));
  if (D == 0 || x.numel() == 0) return Status();
  rms_norm_f32(x.numel() / D, D, x.f32(), detail::optional_f32(gamma), eps, y.f32());
  return Status();
}

// x, y: [N, C, H, W] or [C, H, W]; gamma, beta: [C] (optional).
inline Status layer_norm_2d(const TensorView& x, const TensorView& gamma, const TensorView& beta, float eps,
                            const TensorView& y) {
  RSFIQA_RETURN_IF_ERROR(detail::check_f32(x, "layer_norm_2d input"));
  RSFIQA_RETURN_IF_ERROR(detail::check_f32(y, "layer_norm_2d output"));
  RSFIQA_RETURN_IF_ERROR(detail::check_rank(x, "layer_norm_2d input", 3, 4));
  RSFIQA_RETURN_IF_ERROR(detail::check_same_shape(x, "layer_norm_2d input", y, "layer_norm_2d output"));
  const bool batched = x.ndim() == 4;
  const int64_t N = batched ? x.dim(0) : 1;
  const int64_t C = x.dim(-3), HW = x.dim(-2) * x.dim(-1);
  RSFIQA_RETURN_IF_ERROR(detail::check_optional_vector(gamma, "layer_norm_2d weight", C, "channels of the input"));
  RSFIQA_RETURN_IF_ERROR(detail::check_optional_vector(beta, "layer_norm_2d bias", C, "channels of the input"));
  if (x.numel() == 0) return Status();
  layer_norm_2d_f32(N, C, HW, x.f32(), detail::optional_f32(gamma), detail::optional_f32(beta), eps, y.f32());
  return Status();
}

}  // namespace rsfiqa::ops

// SPDX-License-Identifier: MIT
// Row softmax over the last dimension, numerically stable (the row max is
// subtracted before exp), with an optional additive bias and boolean mask:
//
//   y[r, i] = softmax_i( x[r, i] + bias[r, i] ), masked entries (mask == 0) excluded
//
// bias is f32 with the shape of x, or one row [D] broadcast over all rows;
// mask is u8 (or i8) with the shape of x or [D], nonzero = keep (PyTorch's
// boolean attn_mask convention). A fully masked row yields zeros, not NaN.
// y may be x. Rows are spread over threads; kernels/softmax.hpp holds the
// single-threaded row kernel.
#pragma once

#include <cstdint>

#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/core/status.hpp"
#include "rsfiqa/core/tensor.hpp"
#include "rsfiqa/kernels/softmax.hpp"
#include "rsfiqa/ops/common.hpp"

namespace rsfiqa::ops {

// Pointer form, no checks. bias_ld / mask_ld: row strides of bias and mask
// (0 broadcasts one row to every row).
inline void softmax_f32(int64_t rows, int64_t D, const float* x, float* y, const float* bias = nullptr,
                        int64_t bias_ld = 0, const uint8_t* mask = nullptr, int64_t mask_ld = 0) {
  parallel_for(
      rows,
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
          kernels::softmax_f32(D, x + r * D, bias ? bias + r * bias_ld : nullptr, mask ? mask + r * mask_ld : nullptr,
                               y + r * D);
      },
      (detail::kElementwiseGrain / 4 + D - 1) / (D > 0 ? D : 1));
}

// Checked form; bias and mask are optional (empty views).
inline Status softmax(const TensorView& x, const TensorView& y, const TensorView& bias = {},
                      const TensorView& mask = {}) {
  RSFIQA_RETURN_IF_ERROR(detail::check_f32(x, "softmax input"));
  RSFIQA_RETURN_IF_ERROR(detail::check_f32(y, "softmax output"));
  RSFIQA_RETURN_IF_ERROR(detail::check_rank(x, "softmax input", 1, kMaxDims));
  RSFIQA_RETURN_IF_ERROR(detail::check_same_shape(x, "softmax input", y, "softmax output"));
  const int64_t D = x.dim(-1);
  if (D == 0 || x.numel() == 0) return Status();
  const int64_t rows = x.numel() / D;
  int64_t bias_ld = 0, mask_ld = 0;
  if (present(bias)) {
    RSFIQA_RETURN_IF_ERROR(detail::check_f32(bias, "softmax bias"));
    if (bias.shape == x.shape)
      bias_ld = D;
    else if (!(bias.ndim() == 1 && bias.dim(0) == D))
      return make_error(ErrorCode::kShapeMismatch, "softmax bias: expected %s or [%lld], got %s",
                        x.shape.to_string().c_str(), (long long)D, bias.shape.to_string().c_str());
  }
  if (present(mask)) {
    if (mask.dtype != DType::kU8 && mask.dtype != DType::kI8)
      return make_error(ErrorCode::kUnsupportedType, "softmax mask: expected u8 or i8, got %s", dtype_name(mask.dtype));
    if (!mask.is_contiguous())
      return make_error(ErrorCode::kInvalidArgument, "softmax mask: expected a contiguous tensor");
    if (mask.shape == x.shape)
      mask_ld = D;
    else if (!(mask.ndim() == 1 && mask.dim(0) == D))
      return make_error(ErrorCode::kShapeMismatch, "softmax mask: expected %s or [%lld], got %s",
                        x.shape.to_string().c_str(), (long long)D, mask.shape.to_string().c_str());
  }
  softmax_f32(rows, D, x.f32(), y.f32(), detail::optional_f32(bias), bias_ld,
              present(mask) ? static_cast<const uint8_t*>(mask.data) : nullptr, mask_ld);
  return Status();
}

}  // namespace rsfiqa::ops

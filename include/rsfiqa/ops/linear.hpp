// SPDX-License-Identifier: MIT
// nn.Linear: y = x · Wᵀ + b over the last dimension.
//
//   x      [..., in]     activations, rows are tokens
//   weight [out, in]     PyTorch nn.Linear layout, f32 or bf16 (widened exactly)
//   bias   [out]         optional
//   y      [..., out]    same leading dims as x
//
// The product is one gemm_f32 call (NT layout), which owns the threads; call
// linear from a parallel_for body and it runs serially. This file does not
// handle quantized weights.
#pragma once

#include <cstdint>

#include "rsfiqa/core/status.hpp"
#include "rsfiqa/core/tensor.hpp"
#include "rsfiqa/kernels/gemm.hpp"
#include "rsfiqa/ops/common.hpp"

namespace rsfiqa::ops {

// Pointer form, no checks: y[M, out] = x[M, in] · W[out, in]ᵀ + b[out].
// ldx / ldy are the row strides of x and y in floats (default: dense rows).
inline void linear_f32(int64_t M, int64_t in, int64_t out, const float* x, const float* weight, const float* bias,
                       float* y, int64_t ldx = 0, int64_t ldy = 0) {
  kernels::GemmParams p;
  p.trans_b = true;
  p.bias = bias;
  kernels::gemm_f32(M, out, in, x, ldx ? ldx : in, weight, in, y, ldy ? ldy : out, p);
}

// Pointer form with bf16 weights [out, in] (raw bf16 bits).
inline void linear_f32_bf16w(int64_t M, int64_t in, int64_t out, const float* x, const uint16_t* weight,
                             const float* bias, float* y, int64_t ldx = 0, int64_t ldy = 0) {
  kernels::GemmParams p;
  p.trans_b = true;
  p.bias = bias;
  kernels::gemm_f32_bf16w(M, out, in, x, ldx ? ldx : in, weight, in, y, ldy ? ldy : out, p);
}

// Checked form. weight is f32 or bf16; bias (f32) may be an empty TensorView.
inline Status linear(const TensorView& x, const TensorView& weight, const TensorView& bias, const TensorView& y) {
  RSFIQA_RETURN_IF_ERROR(detail::check_f32(x, "linear input"));
  if (weight.dtype == DType::kBF16) {
    if (!weight.is_contiguous() || (!weight.data && weight.numel() > 0))
      return make_error(ErrorCode::kInvalidArgument, "linear weight: expected a contiguous bf16 tensor with data");
  } else {
    RSFIQA_RETURN_IF_ERROR(detail::check_f32(weight, "linear weight"));
  }
  RSFIQA_RETURN_IF_ERROR(detail::check_f32(y, "linear output"));
  if (weight.ndim() != 2)
    return make_error(ErrorCode::kShapeMismatch, "linear weight: expected [out, in], got %s",
                      weight.shape.to_string().c_str());
  const int64_t out = weight.dim(0), in = weight.dim(1);
  if (x.ndim() < 1 || x.dim(-1) != in)
    return make_error(ErrorCode::kShapeMismatch, "linear input %s does not end in in_features %lld of weight %s",
                      x.shape.to_string().c_str(), (long long)in, weight.shape.to_string().c_str());
  Shape want = x.shape;
  want[want.ndim - 1] = out;
  if (y.shape != want)
    return make_error(ErrorCode::kShapeMismatch, "linear output: expected %s for input %s and weight %s, got %s",
                      want.to_string().c_str(), x.shape.to_string().c_str(), weight.shape.to_string().c_str(),
                      y.shape.to_string().c_str());
  RSFIQA_RETURN_IF_ERROR(detail::check_optional_vector(bias, "linear bias", out, "out_features"));
  if (x.data == y.data && x.numel() > 0)
    return make_error(ErrorCode::kInvalidArgument, "linear: output must not alias the input");
  if (in == 0) {
    // An empty contraction: y is the bias (or zero) on every row.
    float* yp = y.f32();
    const int64_t rows = out > 0 ? y.numel() / out : 0;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < out; ++o) yp[r * out + o] = present(bias) ? bias.f32()[o] : 0.0f;
    return Status();
  }
  const int64_t M = x.numel() / in;
  if (weight.dtype == DType::kBF16)
    linear_f32_bf16w(M, in, out, x.f32(), weight.ptr<const uint16_t>(), detail::optional_f32(bias), y.f32());
  else
    linear_f32(M, in, out, x.f32(), weight.f32(), detail::optional_f32(bias), y.f32());
  return Status();
}

}  // namespace rsfiqa::ops

// SPDX-License-Identifier: MIT
// Element-wise activations and the residual add, model-agnostic:
//
//   gelu   0.5·x·(1 + erf(x/√2))                       nn.GELU()            (GeluApprox::kNone)
//          0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³)))    nn.GELU('tanh')      (GeluApprox::kTanh)
//          the erf form with erf as a rational function, |error| <= 1e-6·max(1, |y|):
//          nn.GELU() to float accuracy, about 2x faster  (GeluApprox::kErfRational)
//   silu   x·sigmoid(x)                                 nn.SiLU()
//   relu   max(x, 0)                                    nn.ReLU()
//   add    y = a + b (same shapes; residual connections)
//
// Any shape; y may alias an input. Work is split in large contiguous chunks
// with parallel_for; the vector kernels in kernels/elementwise.hpp do the
// math (their accuracy is documented there). No broadcasting: bias adds over
// a dimension belong to the op that owns the bias (linear, conv).
#pragma once

#include <cstdint>

#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/core/status.hpp"
#include "rsfiqa/core/tensor.hpp"
#include "rsfiqa/kernels/elementwise.hpp"
#include "rsfiqa/ops/common.hpp"

namespace rsfiqa::ops {

enum class GeluApprox : int { kNone = 0, kTanh = 1, kErfRational = 2 };

// Pointer forms, no checks.
inline void gelu_f32(int64_t n, const float* x, float* y, GeluApprox approx = GeluApprox::kNone) {
  parallel_for(
      n,
      [&](int64_t b, int64_t e) {
        if (approx == GeluApprox::kTanh)
          kernels::vec_gelu_tanh_f32(e - b, x + b, y + b);
        else if (approx == GeluApprox::kErfRational)
          kernels::vec_gelu_erf_fast_f32(e - b, x + b, y + b);
        else
          kernels::vec_gelu_erf_f32(e - b, x + b, y + b);
      },
      detail::kElementwiseGrain);
}
inline void silu_f32(int64_t n, const float* x, float* y) {
  parallel_for(
      n, [&](int64_t b, int64_t e) { kernels::vec_silu_f32(e - b, x + b, y + b); }, detail::kElementwiseGrain);
}
inline void relu_f32(int64_t n, const float* x, float* y) {
  parallel_for(
      n, [&](int64_t b, int64_t e) { kernels::vec_relu_f32(e - b, x + b, y + b); }, detail::kElementwiseGrain);
}
inline void add_f32(int64_t n, const float* a, const float* b, float* y) {
  parallel_for(
      n, [&](int64_t s, int64_t e) { kernels::vec_add_f32(e - s, a + s, b + s, y + s); }, detail::kElementwiseGrain);
}

namespace detail {
inline Status check_unary(const TensorView& x, const TensorView& y, const char* in_name, const char* out_name) {
  RSFIQA_RETURN_IF_ERROR(check_f32(x, in_name));
  RSFIQA_RETURN_IF_ERROR(check_f32(y, out_name));
  return check_same_shape(x, in_name, y, out_name);
}
}  // namespace detail

// Checked forms: x and y have the same shape (y may be x).
inline Status gelu(const TensorView& x, const TensorView& y, GeluApprox approx = GeluApprox::kNone) {
  RSFIQA_RETURN_IF_ERROR(detail::check_unary(x, y, "gelu input", "gelu output"));
  gelu_f32(x.numel(), x.f32(), y.f32(), approx);
  return Status();
}
inline Status silu(const TensorView& x, const TensorView& y) {
  RSFIQA_RETURN_IF_ERROR(detail::check_unary(x, y, "silu input", "silu output"));
  silu_f32(x.numel(), x.f32(), y.f32());
  return Status();
}
inline Status relu(const TensorView& x, const TensorView& y) {
  RSFIQA_RETURN_IF_ERROR(detail::check_unary(x, y, "relu input", "relu output"));
  relu_f32(x.numel(), x.f32(), y.f32());
  return Status();
}
// y = a + b, all three the same shape (y may be a or b).
inline Status add(const TensorView& a, const TensorView& b, const TensorView& y) {
  RSFIQA_RETURN_IF_ERROR(detail::check_unary(a, b, "add lhs", "add rhs"));
  RSFIQA_RETURN_IF_ERROR(detail::check_unary(a, y, "add lhs", "add output"));
  add_f32(a.numel(), a.f32(), b.f32(), y.f32());
  return Status();
}

}  // namespace rsfiqa::ops

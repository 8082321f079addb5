// SPDX-License-Identifier: MIT
// Argument checks shared by the ops: a tensor argument must be f32,
// contiguous and non-null (unless empty), optional arguments are views with
// data == nullptr, and shape problems come back as kShapeMismatch naming
// both shapes. Nothing here computes.
#pragma once

#include <cstdint>
#include <string>

#include "rsfiqa/core/status.hpp"
#include "rsfiqa/core/tensor.hpp"

namespace rsfiqa::ops {

// True when an optional tensor argument was given (a default-constructed
// TensorView means "absent").
inline bool present(const TensorView& v) { return v.data != nullptr; }

namespace detail {

// `name` must be a contiguous f32 tensor with data (or zero elements).
inline Status check_f32(const TensorView& v, const char* name) {
  if (v.dtype != DType::kF32)
    return make_error(ErrorCode::kUnsupportedType, "%s: expected f32, got %s", name, dtype_name(v.dtype));
  if (v.numel() < 0) return make_error(ErrorCode::kOverflow, "%s: bad shape %s", name, v.shape.to_string().c_str());
  if (!v.is_contiguous())
    return make_error(ErrorCode::kInvalidArgument, "%s: expected a contiguous tensor of shape %s", name,
                      v.shape.to_string().c_str());
  if (!v.data && v.numel() > 0) return make_error(ErrorCode::kInvalidArgument, "%s: null data", name);
  return Status();
}

// `name` must have rank within [lo, hi].
inline Status check_rank(const TensorView& v, const char* name, int lo, int hi) {
  if (v.ndim() < lo || v.ndim() > hi)
    return make_error(ErrorCode::kShapeMismatch, "%s: expected rank %d..%d, got shape %s", name, lo, hi,
                      v.shape.to_string().c_str());
  return Status();
}

inline Status check_same_shape(const TensorView& a, const char* an, const TensorView& b, const char* bn) {
  if (a.shape != b.shape)
    return make_error(ErrorCode::kShapeMismatch, "%s has shape %s but %s has shape %s", an, a.shape.to_string().c_str(),
                      bn, b.shape.to_string().c_str());
  return Status();
}

// An optional per-feature vector (gamma, beta, bias) of exactly n values.
inline Status check_optional_vector(const TensorView& v, const char* name, int64_t n, const char* what) {
  if (!present(v)) return Status();
  RSFIQA_RETURN_IF_ERROR(check_f32(v, name));
  if (v.ndim() != 1 || v.dim(0) != n)
    return make_error(ErrorCode::kShapeMismatch, "%s: expected shape [%lld] (%s), got %s", name, (long long)n, what,
                      v.shape.to_string().c_str());
  return Status();
}

inline const float* optional_f32(const TensorView& v) {
  return present(v) ? static_cast<const float*>(v.data) : nullptr;
}

// Elements per parallel task for cheap element-wise loops: large enough that
// the fork/join cost is noise.
constexpr int64_t kElementwiseGrain = 1 << 14;

}  // namespace detail
}  // namespace rsfiqa::ops

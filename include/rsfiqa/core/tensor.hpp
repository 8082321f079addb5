// SPDX-License-Identifier: MIT
// Tensor views and owned buffers. A TensorView is a non-owning description of
// memory: dtype, up to kMaxDims dimensions in PyTorch order (outermost first),
// and element strides. Quantized dtypes are only ever contiguous along the
// last dimension, which must hold whole blocks. `Buffer` owns aligned memory;
// `Tensor` pairs a Buffer with a view of it. Nothing here computes: math is in
// kernels/ and ops/.
#pragma once

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <utility>

#include "rsfiqa/core/checked.hpp"
#include "rsfiqa/core/config.hpp"
#include "rsfiqa/core/dtype.hpp"
#include "rsfiqa/core/status.hpp"

namespace rsfiqa {

constexpr int kMaxDims = 6;

struct Shape {
  int ndim = 0;
  int64_t dims[kMaxDims] = {0, 0, 0, 0, 0, 0};

  Shape() = default;
  Shape(std::initializer_list<int64_t> d) {
    RSFIQA_ASSERT(d.size() <= (size_t)kMaxDims);
    for (int64_t v : d) dims[ndim++] = v;
  }
  int64_t operator[](int i) const { return dims[i]; }
  int64_t& operator[](int i) { return dims[i]; }

  // Element count; -1 if a dimension is negative or the product overflows.
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i)
      if (!checked_mul(n, dims[i], &n)) return -1;
    return n;
  }
  bool operator==(const Shape& o) const {
    if (ndim != o.ndim) return false;
    for (int i = 0; i < ndim; ++i)
      if (dims[i] != o.dims[i]) return false;
    return true;
  }
  bool operator!=(const Shape& o) const { return !(*this == o); }

  // "[256, 64, 64]"
  std::string to_string() const {
    std::string s = "[";
    for (int i = 0; i < ndim; ++i) {
      if (i) s += ", ";
      s += std::to_string(dims[i]);
    }
    return s + "]";
  }
};

// Bytes needed for `numel` elements of `t` laid out contiguously; -1 when the
// count is not a whole number of blocks or overflows.
inline int64_t dtype_bytes(DType t, int64_t numel) {
  const DTypeInfo info = dtype_info(t);
  if (info.block_size <= 0 || numel < 0 || numel % info.block_size != 0) return -1;
  int64_t bytes = 0;
  if (!checked_mul(numel / info.block_size, info.block_bytes, &bytes)) return -1;
  return bytes;
}

struct TensorView {
  void* data = nullptr;
  DType dtype = DType::kF32;
  Shape shape;
  int64_t strides[kMaxDims] = {0, 0, 0, 0, 0, 0};  // in elements; meaningless for quant types

  TensorView() = default;
  TensorView(void* d, DType t, const Shape& s) : data(d), dtype(t), shape(s) { set_contiguous_strides(); }

  void set_contiguous_strides() {
    int64_t st = 1;
    for (int i = shape.ndim - 1; i >= 0; --i) {
      strides[i] = st;
      st *= shape.dims[i];
    }
  }
  bool is_contiguous() const {
    int64_t st = 1;
    for (int i = shape.ndim - 1; i >= 0; --i) {
      if (shape.dims[i] != 1 && strides[i] != st) return false;
      st *= shape.dims[i];
    }
    return true;
  }
  int ndim() const { return shape.ndim; }
  int64_t dim(int i) const { return shape.dims[i < 0 ? i + shape.ndim : i]; }
  int64_t numel() const { return shape.numel(); }
  int64_t nbytes() const { return dtype_bytes(dtype, numel()); }

  template <typename T>
  T* ptr() const {
    return static_cast<T*>(data);
  }
  float* f32() const {
    RSFIQA_ASSERT(dtype == DType::kF32);
    return static_cast<float*>(data);
  }
};

// Owned, kAlignment-aligned, move-only memory.
class Buffer {
 public:
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept : data_(o.data_), size_(o.size_) {
    o.data_ = nullptr;
    o.size_ = 0;
  }
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      reset();
      data_ = o.data_;
      size_ = o.size_;
      o.data_ = nullptr;
      o.size_ = 0;
    }
    return *this;
  }
  ~Buffer() { reset(); }

  // Allocates `bytes` zeroed bytes. Fails with kOutOfMemory instead of throwing.
  static Result<Buffer> allocate(int64_t bytes) {
    if (bytes < 0) return make_error(ErrorCode::kInvalidArgument, "negative allocation size %lld", (long long)bytes);
    Buffer b;
    if (bytes > 0) {
      b.data_ = RSFIQA_MALLOC((size_t)bytes, kAlignment);
      if (!b.data_) return make_error(ErrorCode::kOutOfMemory, "failed to allocate %lld bytes", (long long)bytes);
      std::memset(b.data_, 0, (size_t)bytes);
    }
    b.size_ = bytes;
    return b;
  }

  void reset() {
    if (data_) RSFIQA_FREE(data_);
    data_ = nullptr;
    size_ = 0;
  }
  void* data() const { return data_; }
  int64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  void* data_ = nullptr;
  int64_t size_ = 0;
};

// A Buffer plus a contiguous view of it.
class Tensor {
 public:
  Tensor() = default;
  static Result<Tensor> create(DType t, const Shape& s) {
    const int64_t bytes = dtype_bytes(t, s.numel());
    if (bytes < 0)
      return make_error(ErrorCode::kOverflow, "cannot size a %s tensor of shape %s", dtype_name(t), s.to_string().c_str());
    RSFIQA_ASSIGN_OR_RETURN(Buffer b, Buffer::allocate(bytes));
    Tensor out;
    out.view_ = TensorView(b.data(), t, s);
    out.buf_ = std::move(b);
    return out;
  }
  const TensorView& view() const { return view_; }
  TensorView& view() { return view_; }
  float* f32() const { return view_.f32(); }
  const Shape& shape() const { return view_.shape; }
  int64_t numel() const { return view_.numel(); }

 private:
  Buffer buf_;
  TensorView view_;
};

}  // namespace rsfiqa

// SPDX-License-Identifier: MIT
// A bump allocator over one aligned Buffer. Models compute their workspace
// size up front (a "plan"), allocate one Arena of that size, and carve every
// activation out of it, so a forward pass does no allocation and its peak
// memory is known before it runs (llm.c style). Allocation past the capacity
// fails with a Status; it never grows behind the caller's back.
#pragma once

#include <cstdint>

#include "rsfiqa/core/status.hpp"
#include "rsfiqa/core/tensor.hpp"

namespace rsfiqa {

inline int64_t align_up(int64_t n, int64_t a) { return (n + a - 1) / a * a; }

class Arena {
 public:
  Arena() = default;
  static Result<Arena> create(int64_t capacity_bytes) {
    RSFIQA_ASSIGN_OR_RETURN(Buffer b, Buffer::allocate(capacity_bytes));
    Arena a;
    a.buf_ = std::move(b);
    return a;
  }

  // Returns `bytes` bytes aligned to kAlignment, or nullptr if the arena is
  // exhausted (callers that planned their sizes treat that as kInternal).
  void* alloc_bytes(int64_t bytes) {
    const int64_t start = align_up(used_, (int64_t)kAlignment);
    if (bytes < 0 || start + bytes > buf_.size()) return nullptr;
    used_ = start + bytes;
    if (used_ > peak_) peak_ = used_;
    return static_cast<char*>(buf_.data()) + start;
  }
  template <typename T>
  T* alloc(int64_t count) {
    return static_cast<T*>(alloc_bytes(count * (int64_t)sizeof(T)));
  }
  Result<TensorView> alloc_tensor(DType t, const Shape& s) {
    const int64_t bytes = dtype_bytes(t, s.numel());
    if (bytes < 0) return make_error(ErrorCode::kOverflow, "arena: cannot size tensor %s", s.to_string().c_str());
    void* p = alloc_bytes(bytes);
    if (!p)
      return make_error(ErrorCode::kOutOfMemory, "arena: %lld bytes requested, %lld of %lld used", (long long)bytes,
                        (long long)used_, (long long)buf_.size());
    return TensorView(p, t, s);
  }

  // Marks let a caller free everything allocated after a point (scoped scratch).
  int64_t mark() const { return used_; }
  void release(int64_t mark) { used_ = mark; }
  void reset() { used_ = 0; }
  int64_t used() const { return used_; }
  int64_t peak() const { return peak_; }
  int64_t capacity() const { return buf_.size(); }

 private:
  Buffer buf_;
  int64_t used_ = 0;
  int64_t peak_ = 0;
};

}  // namespace rsfiqa

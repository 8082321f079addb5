// SPDX-License-Identifier: MIT
// Fuzz entry for the .npy float32 reader (io/npy.hpp) with a 1 Mi-value cap.
// An accepted array must hold exactly product(shape) values; its encoding
// with npy_encode_f32 must decode back to the same shape and bits. Shared by
// tests/fuzz/fuzz_npy.cpp and tests/io/test_fuzz_regressions.cpp. Returns
// nullptr, or the text of a broken invariant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "rsfiqa/io/npy.hpp"

namespace rsfiqa::fuzz {

inline const char* fuzz_npy(const uint8_t* data, size_t size) {
  Result<io::NpyArray> a = io::npy_decode_f32(data, size, int64_t(1) << 20);
  if (!a.ok()) return a.status().message().empty() ? "npy: error without a message" : nullptr;
  int64_t n = 1;
  for (int64_t d : a->shape) {
    if (d < 0) return "npy: negative dimension accepted";
    n *= d;
  }
  if ((int64_t)a->data.size() != n) return "npy: value count differs from the shape";
  Result<std::vector<uint8_t>> enc = io::npy_encode_f32(a->data.data(), a->shape);
  if (!enc.ok()) return nullptr;  // e.g. a shape the writer does not produce
  Result<io::NpyArray> b = io::npy_decode_f32(enc->data(), enc->size(), int64_t(1) << 20);
  if (!b.ok()) return "npy: re-encoded array does not decode";
  if (b->shape != a->shape || b->data.size() != a->data.size() ||
      (n > 0 && std::memcmp(b->data.data(), a->data.data(), (size_t)n * sizeof(float)) != 0))
    return "npy: re-encoded array decodes differently";
  return nullptr;
}

}  // namespace rsfiqa::fuzz

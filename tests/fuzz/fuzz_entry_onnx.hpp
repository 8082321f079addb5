// SPDX-License-Identifier: MIT
// Fuzz entry for the ONNX reader used by `rsfiqa convert` (io/onnx.hpp).
// Accepted models are walked: every initializer and every tensor attribute
// is converted with to_f32/to_i64, whose output must
// have numel() values; raw data must lie inside the buffer.
// Shared by tests/fuzz/fuzz_onnx.cpp and tests/io/test_fuzz_regressions.cpp.
// Returns nullptr, or the text of a broken invariant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "rsfiqa/io/onnx.hpp"

namespace rsfiqa::fuzz {

namespace detail {

inline const char* touch_onnx_tensor(const io::OnnxTensor& t, const uint8_t* data, size_t size) {
  if (t.raw_data != nullptr && (t.raw_data < data || t.raw_data + t.raw_size > data + size))
    return "ONNX: raw_data outside the buffer";
  Result<int64_t> n = t.numel();
  // to_f32/to_i64 check the stored count before sizing their output, so any
  // declared shape is safe to convert: the output never exceeds the input.
  if (!n.ok()) return nullptr;
  std::vector<float> f;
  std::vector<int64_t> i;
  Status s1 = t.to_f32(&f);
  Status s2 = t.to_i64(&i);
  if (s1.ok() && (int64_t)f.size() != *n) return "ONNX: to_f32 size differs from numel";
  if (s2.ok() && (int64_t)i.size() != *n) return "ONNX: to_i64 size differs from numel";
  return nullptr;
}

}  // namespace detail

inline const char* fuzz_onnx(const uint8_t* data, size_t size) {
  Result<io::OnnxModel> m = io::parse_onnx(data, size);
  if (!m.ok()) return m.status().message().empty() ? "ONNX: error without a message" : nullptr;
  for (const io::OnnxTensor& t : m->initializers)
    if (const char* e = detail::touch_onnx_tensor(t, data, size)) return e;
  for (const io::OnnxNode& n : m->nodes)
    for (const io::OnnxAttribute& a : n.attributes) {
      if (a.has_t)
        if (const char* e = detail::touch_onnx_tensor(a.t, data, size)) return e;
      for (const io::OnnxTensor& t : a.tensors)
        if (const char* e = detail::touch_onnx_tensor(t, data, size)) return e;
    }
  for (const io::OnnxValueInfo& v : m->inputs)
    if (v.dims.size() != v.dim_params.size()) return "ONNX: dims and dim_params differ in length";
  (void)m->opset();
  return nullptr;
}

}  // namespace rsfiqa::fuzz

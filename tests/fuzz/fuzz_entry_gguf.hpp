// SPDX-License-Identifier: MIT
// Fuzz entry for the GGUF reader (io/gguf.hpp): metadata and the tensor
// directory. Accepted files are walked completely (every key through the
// typed getters and every array element, every tensor's first and last data
// byte) so a length or offset that escapes the buffer shows up under ASan.
// Shared by tests/fuzz/fuzz_gguf.cpp and tests/io/test_fuzz_regressions.cpp.
// Returns nullptr, or the text of a broken invariant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "rsfiqa/io/gguf.hpp"

namespace rsfiqa::fuzz {

namespace detail {

// Touches one value (recursively for arrays of arrays); returns a checksum.
inline uint64_t touch_gguf_value(const io::GgufValue& v, int depth) {
  uint64_t sum = 0;
  if (v.type() == io::GgufType::kString) {
    const std::string_view s = v.as_string();
    if (!s.empty()) sum += (uint8_t)s.front() + (uint8_t)s.back();
    return sum;
  }
  if (!v.is_array()) {
    int64_t i = 0;
    if (v.to_int64(&i)) sum += (uint64_t)i;
    return sum + (v.as_bool() ? 1 : 0);
  }
  const uint64_t n = v.size();
  if (n == 0) return sum;
  switch (v.array_type()) {
    case io::GgufType::kString:
      for (uint64_t i = 0; i < n; ++i) sum += v.string_at(i).size();
      break;
    case io::GgufType::kArray:
      if (depth < 8)
        for (uint64_t i = 0; i < n; ++i) sum += touch_gguf_value(v.array_at(i), depth + 1);
      break;
    default: {
      // Fixed-size elements: read the first and last raw bytes.
      const size_t esz = io::gguf_type_size(v.array_type());
      const uint8_t* raw = static_cast<const uint8_t*>(v.raw_data());
      sum += raw[0] + raw[n * esz - 1];
    }
  }
  return sum;
}

}  // namespace detail

inline const char* fuzz_gguf(const uint8_t* data, size_t size) {
  Result<io::GgufFile> f = io::GgufFile::from_memory(data, size);
  if (!f.ok()) return f.status().message().empty() ? "GGUF: error without a message" : nullptr;
  uint64_t sum = 0;
  for (const io::GgufKV& kv : f->kvs()) {
    if (f->find_kv(kv.key) == nullptr) return "GGUF: accepted key not found by name";
    sum += detail::touch_gguf_value(kv.value, 0);
    // The typed getters must fail cleanly on every type mismatch.
    sum += f->get_int(kv.key).ok() + f->get_float(kv.key).ok() + f->get_string(kv.key).ok();
    sum += f->get_bool(kv.key).ok() + f->get_string_array(kv.key).ok();
    sum += f->get_array_values<float>(kv.key).ok() + f->get_array_values<int32_t>(kv.key).ok();
  }
  for (const io::GgufTensorInfo& t : f->tensors()) {
    if (t.nbytes < 0 || t.data < data || t.data + t.nbytes > data + size) return "GGUF: tensor outside the buffer";
    if (t.nbytes > 0) sum += t.data[0] + t.data[t.nbytes - 1];
    if (f->find_tensor(t.name) == nullptr) return "GGUF: accepted tensor not found by name";
    if (t.numel() < 0) return "GGUF: negative element count";
  }
  volatile uint64_t sink = sum;
  (void)sink;
  return nullptr;
}

}  // namespace rsfiqa::fuzz

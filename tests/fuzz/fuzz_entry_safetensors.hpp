// SPDX-License-Identifier: MIT
// Fuzz entry for the safetensors reader (io/safetensors.hpp): parses the bytes
// with the default limits and, when they are accepted, walks every tensor
// (view, f32 conversion of small ones, metadata) so a wrong offset or length
// shows up as an out-of-bounds read under ASan. Shared by the libFuzzer
// target tests/fuzz/fuzz_safetensors.cpp and the replay test
// tests/io/test_fuzz_regressions.cpp. Returns nullptr, or the text of a
// broken invariant (the caller aborts or fails the test).
#pragma once

#include <cstddef>
#include <cstdint>

#include "rsfiqa/io/safetensors.hpp"

namespace rsfiqa::fuzz {

inline const char* fuzz_safetensors(const uint8_t* data, size_t size) {
  Result<io::SafeTensorsFile> f = io::SafeTensorsFile::from_memory(data, size);
  if (!f.ok()) return f.status().message().empty() ? "safetensors: error without a message" : nullptr;
  uint64_t sum = 0;
  for (const io::SafeTensorInfo& t : f->tensors()) {
    // The accepted byte range must lie inside the caller's buffer.
    if (t.nbytes < 0 || t.data < data || t.data + t.nbytes > data + size)
      return "safetensors: tensor outside the buffer";
    if (t.nbytes > 0) sum += t.data[0] + t.data[t.nbytes - 1];
    if (f->find(t.name) == nullptr) return "safetensors: accepted tensor not found by name";
    // Convert only small tensors: the cost is linear and the check is memory safety.
    if (t.shape.numel() <= (int64_t(1) << 16)) {
      Result<Tensor> x = io::SafeTensorsFile::to_f32(t);
      (void)x;
    }
  }
  for (const auto& kv : f->metadata()) sum += kv.first.size() + kv.second.size();
  volatile uint64_t sink = sum;
  (void)sink;
  return nullptr;
}

}  // namespace rsfiqa::fuzz

// SPDX-License-Identifier: MIT
// libFuzzer target for the onnx entry (fuzz_entry_onnx.hpp, which says what is
// checked). Built only with -DRSFIQA_BUILD_FUZZ=ON and clang; run it through
// tools/fuzz. A broken invariant aborts, so libFuzzer saves the input.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz_entry_onnx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (const char* broken = rsfiqa::fuzz::fuzz_onnx(data, size)) {
    std::fprintf(stderr, "invariant broken: %s\n", broken);
    std::abort();
  }
  return 0;
}

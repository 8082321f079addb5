// SPDX-License-Identifier: MIT
// Shared by the kernel tests that compare every SIMD level with its scalar
// twin: the ISA levels to force on this CPU, and a guard that lifts the
// forced cap when a test case ends, whatever happens inside.
#pragma once

#include <vector>

#include "rsfiqa/core/cpu.hpp"

namespace rsfiqa::test {

// Scalar plus whatever this CPU supports.
inline std::vector<Isa> isa_levels() {
  std::vector<Isa> v{Isa::kScalar};
  if ((int)cpu_best_isa() >= (int)Isa::kAvx2) v.push_back(Isa::kAvx2);
  if ((int)cpu_best_isa() >= (int)Isa::kAvx512) v.push_back(Isa::kAvx512);
  return v;
}

struct IsaCapGuard {
  ~IsaCapGuard() { clear_isa_cap(); }
};

}  // namespace rsfiqa::test

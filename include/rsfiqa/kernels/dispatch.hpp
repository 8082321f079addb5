// SPDX-License-Identifier: MIT
// Kernel dispatch table and reporting: which implementation each dispatching
// kernel entry point (gemm_f32, ...) runs for an ISA level, and its name in
// the `<op>_<dtype>_<isa>` scheme ("gemm_f32_avx512", "gemm_f32_ref"). The
// entry points themselves call gemm_path() so what is reported is what runs.
// This header does not detect CPU features (core/cpu.hpp does) and holds no
// kernels. ARM NEON has no optimized kernel yet and reports the reference.
#pragma once

#include <string>

#include "rsfiqa/core/config.hpp"
#include "rsfiqa/core/cpu.hpp"

namespace rsfiqa::kernels {

// Implementation families of the GEMM kernels.
enum class GemmPath : int { kRef = 0, kAvx2 = 1, kAvx512 = 2 };

// The GEMM family used at ISA level `isa` (default: the active level).
inline GemmPath gemm_path(Isa isa = active_isa()) {
#if RSFIQA_X86_SIMD
  if (isa == Isa::kAvx512) return GemmPath::kAvx512;
  if (isa == Isa::kAvx2) return GemmPath::kAvx2;
#endif
  (void)isa;
  return GemmPath::kRef;
}

// "gemm_f32_avx512", "gemm_f32_avx2" or "gemm_f32_ref".
inline const char* gemm_f32_kernel_name(Isa isa = active_isa()) {
  switch (gemm_path(isa)) {
    case GemmPath::kAvx512: return "gemm_f32_avx512";
    case GemmPath::kAvx2: return "gemm_f32_avx2";
    case GemmPath::kRef: break;
  }
  return "gemm_f32_ref";
}

// bf16 weights are widened to f32 while packing, then share the f32 kernels.
inline const char* gemm_f32_bf16w_kernel_name(Isa isa = active_isa()) {
  switch (gemm_path(isa)) {
    case GemmPath::kAvx512: return "gemm_f32_bf16w_avx512";
    case GemmPath::kAvx2: return "gemm_f32_bf16w_avx2";
    case GemmPath::kRef: break;
  }
  return "gemm_f32_bf16w_ref";
}

// Whether gemm_bf16_f32acc runs the AVX512_BF16 dot-product kernel at `isa`
// (otherwise it rounds A to bf16 and runs the f32 kernels on it).
inline bool gemm_has_bf16_dot(Isa isa = active_isa()) {
  return gemm_path(isa) == GemmPath::kAvx512 && cpu_features().avx512bf16;
}

// "gemm_bf16_f32acc_avx512bf16", "..._avx512", "..._avx2" or "..._ref".
inline const char* gemm_bf16_f32acc_kernel_name(Isa isa = active_isa()) {
  if (gemm_has_bf16_dot(isa)) return "gemm_bf16_f32acc_avx512bf16";
  switch (gemm_path(isa)) {
    case GemmPath::kAvx512: return "gemm_bf16_f32acc_avx512";
    case GemmPath::kAvx2: return "gemm_bf16_f32acc_avx2";
    case GemmPath::kRef: break;
  }
  return "gemm_bf16_f32acc_ref";
}

// One line per dispatching kernel, "entry -> implementation", for logs and
// `--version` style reports.
inline std::string kernel_report(Isa isa = active_isa()) {
  std::string s;
  s += "gemm_f32 -> ";
  s += gemm_f32_kernel_name(isa);
  s += "\ngemm_f32_bf16w -> ";
  s += gemm_f32_bf16w_kernel_name(isa);
  s += "\ngemm_bf16_f32acc -> ";
  s += gemm_bf16_f32acc_kernel_name(isa);
  s += "\ngemm_f32_packed -> ";
  s += gemm_f32_kernel_name(isa);
  s += "\n";
  return s;
}

}  // namespace rsfiqa::kernels

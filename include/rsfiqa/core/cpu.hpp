// SPDX-License-Identifier: MIT
// CPU feature detection and the ISA level the kernel tables dispatch on.
// x86-64: cpuid for the instruction sets plus xgetbv for the OS state (an
// AVX-512 CPU whose OS does not save ZMM registers must not use them).
// AArch64: NEON is architectural. The selected level can be capped at run
// time (force scalar, or "at most AVX2") for testing and for mixed fleets;
// the environment variable RSFIQA_ISA=scalar|avx2|avx512 does the same for
// programs that do not expose a switch.
#pragma once

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "rsfiqa/core/config.hpp"

#if RSFIQA_X86_SIMD
#include <cpuid.h>
#endif

namespace rsfiqa {

struct CpuFeatures {
  bool sse42 = false;
  bool avx = false;
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512vnni = false;
  bool avx512bf16 = false;
  bool avxvnni = false;
  bool neon = false;
  bool os_avx = false;     // XCR0 saves YMM
  bool os_avx512 = false;  // XCR0 saves opmask + ZMM
};

// Ordered: a level implies every level below it on the same architecture.
enum class Isa : int { kScalar = 0, kNeon = 1, kAvx2 = 2, kAvx512 = 3 };

inline const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kNeon: return "neon";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "unknown";
}

namespace detail {
inline CpuFeatures detect_cpu_features() {
  CpuFeatures f;
#if RSFIQA_X86_SIMD
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
  const unsigned max_leaf = a;
  __get_cpuid(1, &a, &b, &c, &d);
  f.sse42 = (c >> 20) & 1;
  f.fma = (c >> 12) & 1;
  f.f16c = (c >> 29) & 1;
  const bool osxsave = (c >> 27) & 1;
  f.avx = (c >> 28) & 1;
  if (osxsave) {
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    f.os_avx = (lo & 0x6) == 0x6;        // XMM | YMM
    f.os_avx512 = (lo & 0xe6) == 0xe6;   // XMM | YMM | opmask | ZMM_hi256 | hi16_ZMM
  }
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    f.avx2 = (b >> 5) & 1;
    f.avx512f = (b >> 16) & 1;
    f.avx512dq = (b >> 17) & 1;
    f.avx512bw = (b >> 30) & 1;
    f.avx512vl = (b >> 31) & 1;
    f.avx512vnni = (c >> 11) & 1;
    __cpuid_count(7, 1, a, b, c, d);
    f.avxvnni = (a >> 4) & 1;
    f.avx512bf16 = (a >> 5) & 1;
  }
  if (!f.os_avx) f.avx = f.avx2 = f.fma = f.f16c = f.avxvnni = false;
  if (!f.os_avx512) f.avx512f = f.avx512bw = f.avx512vl = f.avx512dq = f.avx512vnni = f.avx512bf16 = false;
#elif RSFIQA_ARM_NEON
  f.neon = true;
#endif
  return f;
}

inline Isa best_isa(const CpuFeatures& f) {
#if RSFIQA_X86_SIMD
  if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.fma && f.f16c) return Isa::kAvx512;
  if (f.avx2 && f.fma && f.f16c) return Isa::kAvx2;
#elif RSFIQA_ARM_NEON
  if (f.neon) return Isa::kNeon;
#endif
  (void)f;
  return Isa::kScalar;
}

inline Isa isa_from_env(Isa best) {
  const char* e = std::getenv("RSFIQA_ISA");
  if (!e || !*e) return best;
  Isa want = best;
  if (!std::strcmp(e, "scalar")) want = Isa::kScalar;
  else if (!std::strcmp(e, "avx2")) want = Isa::kAvx2;
  else if (!std::strcmp(e, "avx512")) want = Isa::kAvx512;
  else if (!std::strcmp(e, "neon")) want = Isa::kNeon;
  return (int)want < (int)best ? want : best;
}

inline std::atomic<int>& isa_cap() {
  static std::atomic<int> cap{-1};  // -1: no cap set through the API
  return cap;
}
}  // namespace detail

// Features of this CPU (detected once).
inline const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detail::detect_cpu_features();
  return f;
}

// The best level this CPU and OS support, before any cap.
inline Isa cpu_best_isa() {
  static const Isa best = detail::best_isa(cpu_features());
  return best;
}

// The level kernels dispatch on now: the best supported, lowered by
// RSFIQA_ISA and by set_isa_cap().
inline Isa active_isa() {
  static const Isa env = detail::isa_from_env(cpu_best_isa());
  const int cap = detail::isa_cap().load(std::memory_order_relaxed);
  if (cap >= 0 && cap < (int)env) return (Isa)cap;
  return env;
}

// Caps dispatch at `isa` (Isa::kScalar forces the reference kernels). A cap
// above what the CPU supports has no effect. Not meant to be flipped while
// other threads run kernels.
inline void set_isa_cap(Isa isa) { detail::isa_cap().store((int)isa); }
inline void clear_isa_cap() { detail::isa_cap().store(-1); }

// One line for logs: "avx512 (avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni avx512_bf16)".
inline std::string cpu_features_string() {
  const CpuFeatures& f = cpu_features();
  std::string s = isa_name(active_isa());
  s += " (";
  const std::pair<bool, const char*> flags[] = {
      {f.sse42, "sse4.2"},       {f.avx, "avx"},           {f.avx2, "avx2"},           {f.fma, "fma"},
      {f.f16c, "f16c"},          {f.avx512f, "avx512f"},   {f.avx512bw, "avx512bw"},   {f.avx512vl, "avx512vl"},
      {f.avx512dq, "avx512dq"},  {f.avx512vnni, "avx512_vnni"}, {f.avx512bf16, "avx512_bf16"},
      {f.avxvnni, "avx_vnni"},   {f.neon, "neon"}};
  bool first = true;
  for (const auto& fl : flags) {
    if (!fl.first) continue;
    if (!first) s += ' ';
    s += fl.second;
    first = false;
  }
  return s + ")";
}

}  // namespace rsfiqa

// SPDX-License-Identifier: MIT
// Build-time configuration of rsfiqa: the overridable hooks (assert, malloc,
// free), feature switches (OpenMP, exceptions) and the compiler attributes the
// kernels use to build ISA-specific functions inside an otherwise generic
// binary. This file includes nothing from rsfiqa and may be included first.
//
// Overridable macros (define them before including any rsfiqa header):
//   RSFIQA_ASSERT(cond)        internal invariant check; default: a trap in
//                              debug builds (GCC/Clang/MSVC), nothing in NDEBUG
//                              builds or on other compilers. Bad user
//                              input never reaches it: that gets a Status.
//   RSFIQA_MALLOC(size, align) / RSFIQA_FREE(ptr)  aligned allocation hooks.
//   RSFIQA_NO_OPENMP           build the parallel layer single-threaded even
//                              when the compiler offers OpenMP.
//   RSFIQA_NO_SIMD             compile only the scalar reference kernels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#if !defined(RSFIQA_ASSERT)
#if defined(NDEBUG)
#define RSFIQA_ASSERT(cond) ((void)0)
#else
#if defined(__GNUC__) || defined(__clang__)
#define RSFIQA_ASSERT(cond) ((cond) ? (void)0 : __builtin_trap())
#elif defined(_MSC_VER)
#define RSFIQA_ASSERT(cond) ((cond) ? (void)0 : __debugbreak())
#else
#define RSFIQA_ASSERT(cond) ((void)0)
#endif
#endif
#endif

#if !defined(RSFIQA_MALLOC) || !defined(RSFIQA_FREE)
#if defined(_MSC_VER)
#include <malloc.h>
#define RSFIQA_MALLOC(size, align) _aligned_malloc((size), (align))
#define RSFIQA_FREE(ptr) _aligned_free(ptr)
#else
namespace rsfiqa::detail {
// posix_memalign accepts any size (std::aligned_alloc wants a multiple of the
// alignment) and reports failure without touching errno semantics we rely on.
inline void* aligned_malloc_default(std::size_t size, std::size_t align) {
  void* p = nullptr;
  if (size == 0) size = align;
  if (posix_memalign(&p, align < sizeof(void*) ? sizeof(void*) : align, size) != 0) return nullptr;
  return p;
}
}  // namespace rsfiqa::detail
#define RSFIQA_MALLOC(size, align) ::rsfiqa::detail::aligned_malloc_default((size), (align))
#define RSFIQA_FREE(ptr) std::free(ptr)
#endif
#endif

#if defined(_OPENMP) && !defined(RSFIQA_NO_OPENMP)
#define RSFIQA_HAS_OPENMP 1
#else
#define RSFIQA_HAS_OPENMP 0
#endif

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define RSFIQA_HAS_EXCEPTIONS 1
#else
#define RSFIQA_HAS_EXCEPTIONS 0
#endif

// x86-64 builds with GCC or Clang can carry AVX2 / AVX-512 functions compiled
// through per-function target attributes, so one binary serves every CPU and
// the runtime table (core/cpu.hpp) picks the path.
#if !defined(RSFIQA_NO_SIMD) && (defined(__x86_64__) || defined(_M_X64)) && \
    (defined(__GNUC__) || defined(__clang__))
#define RSFIQA_X86_SIMD 1
#define RSFIQA_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define RSFIQA_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))
#define RSFIQA_TARGET_AVX512VNNI \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
#define RSFIQA_TARGET_AVX512BF16 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma,f16c")))
#else
#define RSFIQA_X86_SIMD 0
#endif

// Unroll the next loop completely. SIMD kernels keep register tiles in small
// arrays (`__m256 acc[4][4]`) indexed by loops with constant bounds; GCC
// unrolls those fully only at -O3, and at -O2 the arrays live on the stack:
// the Q8_0/Q4_0 decode kernels then ran 2-3x slower. With the hint, code
// that embeds these headers and builds with -O2 gets the -O3 kernels.
#if defined(__clang__)
#define RSFIQA_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define RSFIQA_UNROLL _Pragma("GCC unroll 32")
#else
#define RSFIQA_UNROLL
#endif

#if defined(__aarch64__) && defined(__ARM_NEON) && !defined(RSFIQA_NO_SIMD)
#define RSFIQA_ARM_NEON 1
#else
#define RSFIQA_ARM_NEON 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define RSFIQA_RESTRICT __restrict__
#define RSFIQA_LIKELY(x) __builtin_expect(!!(x), 1)
#define RSFIQA_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define RSFIQA_RESTRICT
#define RSFIQA_LIKELY(x) (x)
#define RSFIQA_UNLIKELY(x) (x)
#endif

namespace rsfiqa {
// Alignment of every buffer the library allocates: one AVX-512 register and
// one cache line.
constexpr std::size_t kAlignment = 64;

#define RSFIQA_VERSION_MAJOR 0
#define RSFIQA_VERSION_MINOR 1
#define RSFIQA_VERSION_PATCH 0
constexpr const char* kVersionString = "0.1.0";
}  // namespace rsfiqa

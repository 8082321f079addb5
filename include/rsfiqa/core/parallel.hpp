// SPDX-License-Identifier: MIT
// The one place rsfiqa touches OpenMP. `parallel_for` splits [0, n) into
// contiguous chunks in a fixed way, so which thread computes which element is
// a pure function of (n, thread count) and results for a fixed thread count
// are bit-identical from run to run. `parallel_reduce_chunks` goes further:
// its chunks do not depend on the thread count at all and partial results are
// combined in index order, so reductions agree across thread counts too.
//
// Ownership rule: a parallel_for inside another parallel region runs serially
// (we never nest teams), and kernels that are called from a parallel_for body
// must not start their own threads.
//
// Built without OpenMP (or with RSFIQA_NO_OPENMP) every loop runs on the
// calling thread and the thread count is 1.
#pragma once

#include <atomic>
#include <cstdint>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "rsfiqa/core/config.hpp"

#if RSFIQA_HAS_OPENMP
#include <omp.h>
#endif

namespace rsfiqa {

namespace detail {
inline std::atomic<int>& thread_setting() {
  static std::atomic<int> n{0};  // 0 = not set, use the default
  return n;
}
}  // namespace detail

// Physical cores (not hardware threads), as llama.cpp picks by default: SMT
// siblings share FMA units, so extra threads rarely help dense math. Linux
// reads the sibling lists from sysfs; elsewhere hardware_concurrency().
inline int physical_core_count() {
  static const int cached = [] {
    const unsigned hw = std::thread::hardware_concurrency();
#if defined(__linux__)
    std::set<std::string> cores;
    for (unsigned cpu = 0; cpu < (hw ? hw : 1024u); ++cpu) {
      std::ifstream f("/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/thread_siblings_list");
      if (!f) break;
      std::string s;
      std::getline(f, s);
      cores.insert(s);
    }
    if (!cores.empty()) return (int)cores.size();
#endif
    return hw ? (int)hw : 1;
  }();
  return cached;
}

// Sets the thread count used by parallel loops (n <= 0 restores the default).
inline void set_num_threads(int n) { detail::thread_setting().store(n > 0 ? n : 0); }

inline int get_num_threads() {
#if RSFIQA_HAS_OPENMP
  const int n = detail::thread_setting().load();
  return n > 0 ? n : physical_core_count();
#else
  return 1;
#endif
}

inline bool in_parallel_region() {
#if RSFIQA_HAS_OPENMP
  return omp_in_parallel() != 0;
#else
  return false;
#endif
}

// Calls fn(begin, end) on contiguous, non-overlapping chunks covering [0, n).
// With T threads chunk t is [t*n/T, (t+1)*n/T). `min_per_thread` limits how
// thin the work is spread (small loops stay on one thread).
template <typename Fn>
inline void parallel_for(int64_t n, Fn&& fn, int64_t min_per_thread = 1, int threads = 0) {
  if (n <= 0) return;
  int T = threads > 0 ? threads : get_num_threads();
  if (min_per_thread < 1) min_per_thread = 1;
  if ((int64_t)T > n / min_per_thread) T = (int)(n / min_per_thread);
  if (T <= 1 || in_parallel_region()) {
    fn((int64_t)0, n);
    return;
  }
#if RSFIQA_HAS_OPENMP
#pragma omp parallel num_threads(T)
  {
    const int t = omp_get_thread_num();
    const int nt = omp_get_num_threads();  // may be fewer than asked
    // Partition by the team actually obtained; every element is still covered once.
    const int64_t b = n * t / nt, e = n * (t + 1) / nt;
    if (b < e) fn(b, e);
  }
#else
  fn((int64_t)0, n);
#endif
}

// Like parallel_for but the body also receives the chunk index, and chunks
// are exactly `chunk` elements (the last may be shorter) whatever the thread
// count. Use it for reductions: write a partial per chunk, combine in order.
template <typename Fn>
inline void parallel_for_chunks(int64_t n, int64_t chunk, Fn&& fn, int threads = 0) {
  if (n <= 0) return;
  if (chunk < 1) chunk = 1;
  const int64_t nchunks = (n + chunk - 1) / chunk;
  parallel_for(
      nchunks,
      [&](int64_t cb, int64_t ce) {
        for (int64_t c = cb; c < ce; ++c) fn(c, c * chunk, c * chunk + chunk < n ? c * chunk + chunk : n);
      },
      1, threads);
}

// Deterministic sum-style reduction: partial(begin, end) -> T for fixed-size
// chunks, combined left to right with combine(a, b).
template <typename T, typename Partial, typename Combine>
inline T parallel_reduce_chunks(int64_t n, int64_t chunk, T init, Partial&& partial, Combine&& combine,
                                int threads = 0) {
  if (n <= 0) return init;
  if (chunk < 1) chunk = 1;
  const int64_t nchunks = (n + chunk - 1) / chunk;
  std::vector<T> parts((size_t)nchunks, init);
  parallel_for_chunks(
      n, chunk, [&](int64_t c, int64_t b, int64_t e) { parts[(size_t)c] = partial(b, e); }, threads);
  T acc = init;
  for (const T& p : parts) acc = combine(acc, p);
  return acc;
}

}  // namespace rsfiqa

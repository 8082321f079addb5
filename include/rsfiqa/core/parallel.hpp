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
// `parallel_team` is the one long-lived alternative: a single parallel region
// whose threads run the same body and meet at a TeamBarrier (poll, then
// sleep), for work made of many short dependent steps (an LLM decode step
// has ~150 of them; a fork/join per step would cost more than the step).
//
// Built without OpenMP (or with RSFIQA_NO_OPENMP) every loop runs on the
// calling thread and the thread count is 1.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <fstream>
#include <memory>
#include <mutex>
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

// The barrier of one parallel_team call: wait() returns once every thread of
// the team has called it (the same number of times). Waiters first poll an
// atomic (a barrier on an idle machine completes within a few microseconds),
// then poll while yielding the core for a while, then sleep on a condition
// variable: on a loaded machine, where two team threads may share one core, a
// waiter that kept polling would take the time slices its partner needs to
// reach the barrier.
class TeamBarrier {
 public:
  explicit TeamBarrier(int n = 1) : n_(n) {}
  TeamBarrier(const TeamBarrier&) = delete;
  TeamBarrier& operator=(const TeamBarrier&) = delete;

  int size() const { return n_; }
  // Sets the team size; only while no thread is waiting.
  void reset(int n) {
    n_ = n;
    arrived_.store(0);
  }

  void wait() {
    if (n_ <= 1) return;
    const unsigned gen = gen_.load();
    if (arrived_.fetch_add(1) == n_ - 1) {
      // Last to arrive: reset the count, release the pollers, wake sleepers.
      // (gen_ is stored before sleepers_ is read, and a sleeper counts
      // itself before it reads gen_, so either it sees the new generation
      // or this thread sees it and notifies under the mutex.)
      arrived_.store(0);
      gen_.store(gen + 1);
      if (sleepers_.load() > 0) {
        std::lock_guard<std::mutex> lock(mu_);
        cv_.notify_all();
      }
      return;
    }
    for (int spin = 0; spin < kSpins; ++spin)
      if (gen_.load(std::memory_order_acquire) != gen) return;
    // Then poll while yielding the core, for up to kYieldMicros: a step of a
    // small model's decode lasts tens of microseconds, and a thread that went
    // to sleep that early would pay a futex wake-up (several microseconds
    // more, measured at 13% of SmolLM2's decode time) at almost every barrier.
    // Yielding leaves the core to any other runnable thread, so a loaded
    // machine loses little.
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(kYieldMicros);
    do {
      std::this_thread::yield();
      if (gen_.load(std::memory_order_acquire) != gen) return;
    } while (std::chrono::steady_clock::now() < until);
    sleepers_.fetch_add(1);
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return gen_.load() != gen; });
    }
    sleepers_.fetch_sub(1);
  }

 private:
  static constexpr int kSpins = 2000;       // a few microseconds of polling
  static constexpr int kYieldMicros = 200;  // then polling with yields
  int n_;
  std::atomic<int> arrived_{0};
  std::atomic<unsigned> gen_{0};
  std::atomic<int> sleepers_{0};
  std::mutex mu_;
  std::condition_variable cv_;
};

// Hands out the chunks [0, n) of one step of a thread team. The chunks are
// split into one contiguous segment per thread; thread t takes the chunks of
// its own segment in order, then helps with the other segments (from where
// their owners have got to, in order t+1, t+2, ...). So each thread reads its
// share of a weight matrix as one sequential stream, while a thread that
// another process slows down still gets help from its partners. (Dealing
// chunks out round-robin from one shared counter makes the two threads of
// this machine alternate every 32-64 KB, which costs 15-20% of the memory
// read bandwidth; see docs/llm.md.) Which thread runs a chunk varies, so
// bodies must not make results depend on it.
//
// reset() re-arms it for the next use and must not overlap take(). A chunk
// index is returned once in total over all threads; take() returns -1 when
// every segment is exhausted. Counters sit on separate cache lines.
class TeamChunks {
 public:
  TeamChunks() = default;
  TeamChunks(TeamChunks&&) = default;
  TeamChunks& operator=(TeamChunks&&) = default;

  // Re-arms for a team of n_threads (>= 1) threads.
  void reset(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    if (n_threads > cap_) {
      slots_.reset(new Slot[(size_t)n_threads]);
      cap_ = n_threads;
    }
    n_ = n_threads;
    for (int u = 0; u < n_; ++u) slots_[(size_t)u].taken.store(0, std::memory_order_relaxed);
  }

  // The next chunk of [0, n_chunks) for thread t (0 <= t < team size), or -1.
  // Every caller of one step must pass the same n_chunks.
  int64_t take(int t, int64_t n_chunks) {
    for (int k = 0; k < n_; ++k) {
      const int u = (t + k) % n_;
      const int64_t b = n_chunks * u / n_, e = n_chunks * (u + 1) / n_;
      Slot& slot = slots_[(size_t)u];
      // A cheap read first: an exhausted segment is not written again.
      if (b + slot.taken.load(std::memory_order_relaxed) >= e) continue;
      const int64_t i = b + slot.taken.fetch_add(1, std::memory_order_relaxed);
      if (i < e) return i;
    }
    return -1;
  }

 private:
  struct alignas(64) Slot {
    std::atomic<int64_t> taken{0};
  };
  std::unique_ptr<Slot[]> slots_;
  int cap_ = 0, n_ = 1;
};

// Runs fn(t, nt, barrier) once on each of nt threads (t = 0 .. nt-1) of one
// parallel region; nt is the team actually obtained (at most `threads`, or
// get_num_threads() when threads <= 0). The body splits its work by t and
// calls barrier.wait() between dependent steps; every thread must make the
// same sequence of wait() calls. Inside another parallel region, or without
// OpenMP, fn(0, 1, b) runs on the calling thread and wait() is a no-op.
template <typename Fn>
inline void parallel_team(Fn&& fn, int threads = 0) {
  const int T = threads > 0 ? threads : get_num_threads();
  if (T <= 1 || in_parallel_region()) {
    TeamBarrier single(1);
    fn(0, 1, single);
    return;
  }
#if RSFIQA_HAS_OPENMP
  TeamBarrier bar(T);
#pragma omp parallel num_threads(T)
  {
    // The team may be smaller than asked: size the barrier by the real one
    // (the end of `single` is an OpenMP barrier, so all threads see it).
#pragma omp single
    bar.reset(omp_get_num_threads());
    fn(omp_get_thread_num(), bar.size(), bar);
  }
#else
  TeamBarrier single(1);
  fn(0, 1, single);
#endif
}

}  // namespace rsfiqa

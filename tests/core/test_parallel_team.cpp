// SPDX-License-Identifier: MIT
// parallel_team and TeamBarrier (core/parallel.hpp): every thread of the team
// runs the body once with its own index, the barrier separates steps (no
// thread sees a later step's writes before it has finished the current one),
// the team size reported matches the threads that ran, and inside another
// parallel region the team degrades to the calling thread. TeamBarrier is
// also driven by plain std::threads, so the ThreadSanitizer step of CI (built
// without OpenMP, where parallel_team runs on one thread) checks its
// ordering too. TeamChunks hands every chunk out exactly once, each thread's
// own segment first and in order.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "rsfiqa/core/parallel.hpp"

using namespace rsfiqa;

TEST_CASE("parallel_team runs each index once and its barrier orders the steps") {
  for (int threads : {1, 2, 3}) {
    CAPTURE(threads);
    std::atomic<int> calls{0}, seen_nt{0};
    std::vector<int> slot(8, 0);
    constexpr int kSteps = 200;
    // Step k: thread t writes slot[t] = k, waits, then checks every other
    // thread's slot also says k (they all wrote before the barrier), waits again.
    std::atomic<int> bad{0};
    parallel_team(
        [&](int t, int nt, TeamBarrier& bar) {
          calls.fetch_add(1);
          seen_nt.store(nt);
          CHECK(bar.size() == nt);
          for (int k = 1; k <= kSteps; ++k) {
            slot[(size_t)t] = k;
            bar.wait();
            for (int u = 0; u < nt; ++u)
              if (slot[(size_t)u] != k) bad.fetch_add(1);
            bar.wait();
          }
        },
        threads);
    CHECK(calls.load() == seen_nt.load());
    CHECK(seen_nt.load() >= 1);
    CHECK(seen_nt.load() <= threads);
    CHECK(bad.load() == 0);
  }
}

TEST_CASE("parallel_team inside a parallel region runs on the calling thread") {
  std::atomic<int> teams_of_one{0}, calls{0};
  parallel_for(
      2,
      [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i)
          parallel_team(
              [&](int t, int nt, TeamBarrier& bar) {
                calls.fetch_add(1);
                bar.wait();  // a no-op for a team of one
                if (t == 0 && nt == 1) teams_of_one.fetch_add(1);
              },
              2);
      },
      1, 2);
  // Two loop items, each a team: one thread each when the loop really ran
  // in parallel, and the full team only when it ran serially.
  CHECK(calls.load() >= 2);
  if (get_num_threads() > 1 && calls.load() == 2) CHECK(teams_of_one.load() == 2);
}

TEST_CASE("TeamBarrier orders the steps of std::threads (polling and sleeping waits)") {
  // kSteps rounds of: write own slot, wait, read every slot, wait. One
  // thread is slowed now and then, so the others exhaust their polling and
  // sleep on the condition variable as well.
  constexpr int kThreads = 3, kSteps = 300;
  TeamBarrier bar(kThreads);
  std::vector<int> slot(kThreads, 0);
  std::atomic<int> bad{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t)
    pool.emplace_back([&, t] {
      for (int k = 1; k <= kSteps; ++k) {
        if (t == 0 && k % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        slot[(size_t)t] = k;
        bar.wait();
        for (int u = 0; u < kThreads; ++u)
          if (slot[(size_t)u] != k) bad.fetch_add(1);
        bar.wait();
      }
    });
  for (std::thread& th : pool) th.join();
  CHECK(bad.load() == 0);
  CHECK(bar.size() == kThreads);
}

TEST_CASE("TeamChunks hands out every chunk once, own segment first and in order") {
  TeamChunks q;
  for (int threads : {1, 2, 3, 5}) {
    for (int64_t n_chunks : {0, 1, 2, 7, 64, 1001}) {
      CAPTURE(threads);
      CAPTURE(n_chunks);
      q.reset(threads);
      std::vector<std::atomic<int>> hits((size_t)n_chunks);
      std::vector<std::vector<int64_t>> order((size_t)threads);
      std::vector<std::thread> pool;
      for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
          for (int64_t i = q.take(t, n_chunks); i >= 0; i = q.take(t, n_chunks)) {
            hits[(size_t)i].fetch_add(1);
            order[(size_t)t].push_back(i);
            if (t == 0 && i % 5 == 0) std::this_thread::yield();  // let the others steal
          }
        });
      for (std::thread& th : pool) th.join();
      int64_t total = 0;
      for (const std::atomic<int>& h : hits) {
        CHECK(h.load() == 1);
        total += h.load();
      }
      CHECK(total == n_chunks);
      // A thread takes its own segment first (others may have started on it
      // already, so not necessarily from its start), in increasing order.
      for (int t = 0; t < threads; ++t) {
        const int64_t b = n_chunks * t / threads, e = n_chunks * (t + 1) / threads;
        const std::vector<int64_t>& o = order[(size_t)t];
        size_t k = 0;
        for (; k < o.size() && o[k] >= b && o[k] < e; ++k)
          if (k > 0) CHECK(o[k] > o[k - 1]);
        for (; k < o.size(); ++k) CHECK((o[k] < b || o[k] >= e));  // then only other segments
      }
      CHECK(q.take(0, n_chunks) == -1);
    }
  }
}

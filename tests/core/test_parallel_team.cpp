// SPDX-License-Identifier: MIT
// parallel_team and TeamBarrier (core/parallel.hpp): every thread of the team
// runs the body once with its own index, the barrier separates steps (no
// thread sees a later step's writes before it has finished the current one),
// the team size reported matches the threads that ran, and inside another
// parallel region the team degrades to the calling thread. TeamBarrier is
// also driven by plain std::threads, so the ThreadSanitizer step of CI (built
// without OpenMP, where parallel_team runs on one thread) checks its
// ordering too.
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

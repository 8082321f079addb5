// SPDX-License-Identifier: MIT
// Sampler tests: PCG32 against the published reference sequence, greedy,
// determinism per seed, the empirical distribution at temperature 1, and the
// top-k / top-p / min-p / repetition-penalty filters on hand-computed cases.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "rsfiqa/models/llm/sampler.hpp"

using namespace rsfiqa::llm;

TEST_CASE("PCG32 reproduces the pcg32-demo sequence (seed 42, stream 54)") {
  // First outputs of the PCG reference implementation's demo program.
  Pcg32 r(42u, 54u);
  const uint32_t want[6] = {0xa15c02b7u, 0x7b47f409u, 0xba1d3330u, 0x83d2f293u, 0xbfa4784bu, 0xcbed606eu};
  for (uint32_t w : want) CHECK(r.next_u32() == w);
}

TEST_CASE("greedy picks the argmax (first on ties)") {
  SamplerParams p;
  p.temperature = 0.0f;
  Sampler s(p);
  const float l[5] = {0.1f, 2.0f, -1.0f, 2.0f, 1.5f};
  CHECK(s.sample(l, 5) == 1);
}

namespace {
SamplerParams plain(uint64_t seed) {
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = seed;
  return p;
}
}  // namespace

TEST_CASE("same seed gives the same draws; another seed differs") {
  std::vector<float> l(50);
  for (int i = 0; i < 50; ++i) l[(size_t)i] = std::sin((float)i);
  Sampler a(plain(7)), b(plain(7)), c(plain(8));
  std::vector<int32_t> ra, rb, rc;
  for (int i = 0; i < 64; ++i) {
    ra.push_back(a.sample(l.data(), 50));
    rb.push_back(b.sample(l.data(), 50));
    rc.push_back(c.sample(l.data(), 50));
  }
  CHECK(ra == rb);
  CHECK(ra != rc);
  a.reset();
  for (int i = 0; i < 64; ++i) CHECK(a.sample(l.data(), 50) == ra[(size_t)i]);
}

TEST_CASE("temperature 1 samples the softmax distribution") {
  const float l[3] = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  Sampler s(plain(1));
  int count[3] = {0, 0, 0};
  const int n = 30000;
  for (int i = 0; i < n; ++i) ++count[s.sample(l, 3)];
  CHECK(std::fabs(count[0] / (double)n - 0.5) < 0.015);
  CHECK(std::fabs(count[1] / (double)n - 0.3) < 0.015);
  CHECK(std::fabs(count[2] / (double)n - 0.2) < 0.015);
}

TEST_CASE("top-k, top-p and min-p remove the tail") {
  const float l[4] = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  auto seen = [&](SamplerParams p) {
    Sampler s(p);
    std::vector<int> c(4, 0);
    for (int i = 0; i < 4000; ++i) ++c[(size_t)s.sample(l, 4)];
    return c;
  };
  SamplerParams k = plain(2);
  k.top_k = 2;
  std::vector<int> c = seen(k);
  CHECK((c[0] > 0 && c[1] > 0 && c[2] == 0 && c[3] == 0));
  SamplerParams tp = plain(3);
  tp.top_p = 0.7f;  // 0.5 < 0.7 <= 0.8: keeps two
  c = seen(tp);
  CHECK((c[0] > 0 && c[1] > 0 && c[2] == 0 && c[3] == 0));
  tp.top_p = 0.85f;  // 0.8 < 0.85 <= 0.95: keeps three
  c = seen(tp);
  CHECK((c[2] > 0 && c[3] == 0));
  SamplerParams mp = plain(4);
  mp.min_p = 0.25f;  // floor 0.125: keeps 0.5, 0.3, 0.15
  c = seen(mp);
  CHECK((c[2] > 0 && c[3] == 0));
}

TEST_CASE("repetition penalty divides positive and multiplies negative logits") {
  SamplerParams p;
  p.temperature = 0.0f;
  p.repeat_penalty = 1.1f;
  Sampler s(p);
  const float l[3] = {2.0f, 1.9f, -5.0f};
  CHECK(s.sample(l, 3) == 0);
  s.accept(0);  // 2.0 / 1.1 = 1.818 < 1.9
  CHECK(s.sample(l, 3) == 1);
  const float neg[2] = {-1.0f, -1.05f};
  Sampler s2(p);
  s2.accept(0);  // -1.0 * 1.1 = -1.1 < -1.05
  CHECK(s2.sample(neg, 2) == 1);
  p.repeat_last_n = 1;
  Sampler s3(p);
  s3.accept(0);
  s3.accept(2);  // only the last token counts now
  CHECK(s3.sample(l, 3) == 0);
}

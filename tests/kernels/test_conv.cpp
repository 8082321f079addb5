// SPDX-License-Identifier: MIT
// Tests of kernels/conv.hpp: the channels-last depthwise convolution's SIMD
// versions against the scalar reference on random shapes (odd channel
// counts for the masked tails, strides 1 and 2, kernels 3 and 5, output
// row ranges that start inside the map), and the reference against a direct
// evaluation of the formula in double precision.
#include <doctest/doctest.h>

#include "isa_test_util.hpp"

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "rsfiqa/core/cpu.hpp"
#include "rsfiqa/kernels/conv.hpp"

using namespace rsfiqa;
using namespace rsfiqa::kernels;
using rsfiqa::test::isa_levels;
using rsfiqa::test::IsaCapGuard;

TEST_CASE("depthwise_hwc_f32: SIMD vs _ref, _ref vs the formula in double") {
  IsaCapGuard guard;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  struct Case {
    int64_t H, W, C, k, stride, pad;
  };
  const Case cases[] = {{7, 9, 1, 3, 1, 1},    {8, 8, 16, 3, 1, 1},  {9, 7, 23, 3, 2, 1}, {13, 11, 64, 3, 1, 1},
                        {10, 10, 37, 5, 1, 2}, {6, 5, 160, 3, 2, 1}, {5, 12, 8, 3, 1, 0}, {4, 4, 33, 3, 2, 1}};
  for (const Case& cs : cases) {
    DepthwiseHwcGeometry g;
    g.H = cs.H;
    g.W = cs.W;
    g.C = cs.C;
    g.k = cs.k;
    g.stride = cs.stride;
    g.pad = cs.pad;
    g.Wo = (cs.W + 2 * cs.pad - cs.k) / cs.stride + 1;
    const int64_t Ho = (cs.H + 2 * cs.pad - cs.k) / cs.stride + 1;
    CAPTURE(cs.H);
    CAPTURE(cs.W);
    CAPTURE(cs.C);
    CAPTURE(cs.k);
    CAPTURE(cs.stride);
    std::vector<float> x((size_t)(g.H * g.W * g.C)), taps((size_t)(g.k * g.k * g.C)), bias((size_t)g.C);
    for (float& v : x) v = d(rng);
    for (float& v : taps) v = d(rng);
    for (float& v : bias) v = d(rng);
    // Rows [oy0, Ho): the output pointer addresses row oy0.
    const int64_t oy0 = Ho > 2 ? 1 : 0;
    const size_t ny = (size_t)((Ho - oy0) * g.Wo * g.C);
    std::vector<float> ref(ny), got(ny);
    depthwise_hwc_f32_ref(g, x.data(), taps.data(), bias.data(), ref.data(), oy0, Ho);
    // The reference against the formula, in double.
    double worst_ref = 0;
    for (int64_t oy = oy0; oy < Ho; ++oy)
      for (int64_t ox = 0; ox < g.Wo; ++ox)
        for (int64_t c = 0; c < g.C; ++c) {
          double s = bias[(size_t)c], mag = std::fabs(s);
          for (int64_t ky = 0; ky < g.k; ++ky)
            for (int64_t kx = 0; kx < g.k; ++kx) {
              const int64_t iy = oy * g.stride - g.pad + ky, ix = ox * g.stride - g.pad + kx;
              if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;
              const double p =
                  (double)taps[(size_t)((ky * g.k + kx) * g.C + c)] * x[(size_t)((iy * g.W + ix) * g.C + c)];
              s += p;
              mag += std::fabs(p);
            }
          const float r = ref[(size_t)(((oy - oy0) * g.Wo + ox) * g.C + c)];
          // At most k² + 1 roundings of partial sums bounded by `mag`.
          worst_ref = std::fmax(worst_ref, std::fabs(r - s) / (mag + 1e-30));
          CHECK(std::fabs(r - s) <= (double)(g.k * g.k + 1) * 6e-8 * mag + 1e-30);
        }
    MESSAGE("reference max error / sum|terms|: ", worst_ref);
    for (Isa isa : isa_levels()) {
      set_isa_cap(isa);
      const std::string isa_str = isa_name(isa);
      CAPTURE(isa_str);
      std::fill(got.begin(), got.end(), -7.0f);
      depthwise_hwc_f32(g, x.data(), taps.data(), bias.data(), got.data(), oy0, Ho);
      // Same order of taps; FMA rounds once where the reference rounds twice.
      for (size_t i = 0; i < ny; ++i) CHECK(std::fabs(got[i] - ref[i]) <= 2e-6f * (1.0f + std::fabs(ref[i])));
    }
    clear_isa_cap();
  }
}

TEST_CASE("depthwise_hwc_f32: no bias, one output row, output only where asked") {
  IsaCapGuard guard;
  DepthwiseHwcGeometry g;
  g.H = 3;
  g.W = 3;
  g.C = 17;
  g.k = 3;
  g.stride = 1;
  g.pad = 1;
  g.Wo = 3;
  std::vector<float> x((size_t)(9 * 17), 1.0f), taps((size_t)(9 * 17), 1.0f);
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    // Row 1 only, plus a guard pixel after it that must stay untouched.
    std::vector<float> y((size_t)(4 * 17), -1.0f);
    depthwise_hwc_f32(g, x.data(), taps.data(), nullptr, y.data(), 1, 2);
    // Middle row: corners see 6 taps (two columns of three), the centre all 9.
    for (int64_t c = 0; c < 17; ++c) {
      CHECK(y[(size_t)c] == 6.0f);
      CHECK(y[(size_t)(17 + c)] == 9.0f);
      CHECK(y[(size_t)(34 + c)] == 6.0f);
      CHECK(y[(size_t)(51 + c)] == -1.0f);
    }
  }
}

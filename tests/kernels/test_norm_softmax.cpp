// SPDX-License-Identifier: MIT
// Tests for kernels/norm.hpp and kernels/softmax.hpp: each dispatched kernel
// at every ISA level this CPU offers against its scalar `_ref` twin, on random
// lengths including odd ones, with and without gamma/beta, bias and mask.
#include <doctest/doctest.h>

#include "isa_test_util.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "rsfiqa/core/cpu.hpp"
#include "rsfiqa/kernels/norm.hpp"
#include "rsfiqa/kernels/softmax.hpp"

using namespace rsfiqa;
using namespace rsfiqa::kernels;
using rsfiqa::test::isa_levels;
using rsfiqa::test::IsaCapGuard;

namespace {
std::vector<float> random_vec(std::mt19937& rng, int64_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v((size_t)n);
  for (auto& x : v) x = d(rng);
  return v;
}
float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0.0f;
  for (size_t i = 0; i < a.size(); ++i) m = std::fmax(m, std::fabs(a[i] - b[i]));
  return m;
}
const int64_t kLengths[] = {1, 2, 7, 8, 9, 15, 16, 17, 33, 64, 100, 255, 256, 257, 1023, 4096};
}  // namespace

TEST_CASE("layer_norm_f32 and rms_norm_f32 match _ref") {
  IsaCapGuard guard;
  std::mt19937 rng(11);
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    const std::string isa_str = isa_name(isa);
    CAPTURE(isa_str);
    for (int64_t n : kLengths) {
      CAPTURE(n);
      // An offset mean checks the two-pass variance.
      auto x = random_vec(rng, n, 2.0f, 6.0f);
      const auto g = random_vec(rng, n, 0.5f, 1.5f), b = random_vec(rng, n, -1, 1);
      std::vector<float> y((size_t)n), r((size_t)n);
      for (int with_affine = 0; with_affine < 2; ++with_affine) {
        const float* gp = with_affine ? g.data() : nullptr;
        const float* bp = with_affine ? b.data() : nullptr;
        layer_norm_f32(n, x.data(), gp, bp, 1e-6f, y.data());
        layer_norm_f32_ref(n, x.data(), gp, bp, 1e-6f, r.data());
        CHECK(max_abs_diff(y, r) <= 2e-5f);
        rms_norm_f32(n, x.data(), gp, 1e-5f, y.data());
        rms_norm_f32_ref(n, x.data(), gp, 1e-5f, r.data());
        CHECK(max_abs_diff(y, r) <= 2e-6f);
      }
      // In place.
      layer_norm_f32_ref(n, x.data(), g.data(), b.data(), 1e-6f, r.data());
      layer_norm_f32(n, x.data(), g.data(), b.data(), 1e-6f, x.data());
      CHECK(max_abs_diff(x, r) <= 2e-5f);
    }
  }
}

TEST_CASE("channel_norm_f32 matches _ref on odd pixel counts and strides") {
  IsaCapGuard guard;
  std::mt19937 rng(12);
  const int64_t channels[] = {1, 3, 16, 33, 1030};  // 1030: above the packing limit
  const int64_t pixels[] = {1, 5, 8, 16, 17, 31, 64, 99};
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    const std::string isa_str = isa_name(isa);
    CAPTURE(isa_str);
    for (int64_t C : channels)
      for (int64_t P : pixels) {
        CAPTURE(C);
        CAPTURE(P);
        const int64_t stride = P + 3;  // rows longer than the pixels used
        const auto x = random_vec(rng, C * stride, -2, 3);
        const auto g = random_vec(rng, C, 0.5f, 1.5f), b = random_vec(rng, C, -1, 1);
        std::vector<float> y((size_t)(C * stride), 7.0f), r((size_t)(C * stride), 7.0f);
        channel_norm_f32(C, P, stride, x.data(), g.data(), b.data(), 1e-6f, y.data());
        channel_norm_f32_ref(C, P, stride, x.data(), g.data(), b.data(), 1e-6f, r.data());
        CHECK(max_abs_diff(y, r) <= 2e-5f);  // includes the untouched padding (7 in both)
      }
  }
}

TEST_CASE("softmax_f32 matches _ref with bias and mask; masked rows give zeros") {
  IsaCapGuard guard;
  std::mt19937 rng(13);
  std::uniform_int_distribution<int> coin(0, 3);
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    const std::string isa_str = isa_name(isa);
    CAPTURE(isa_str);
    for (int64_t n : kLengths) {
      CAPTURE(n);
      const auto x = random_vec(rng, n, -20, 20), bias = random_vec(rng, n, -5, 5);
      std::vector<uint8_t> mask((size_t)n);
      for (auto& m : mask) m = coin(rng) != 0;  // about a quarter masked
      mask[0] = 1;
      std::vector<float> y((size_t)n), r((size_t)n);
      for (int variant = 0; variant < 4; ++variant) {
        const float* bp = (variant & 1) ? bias.data() : nullptr;
        const uint8_t* mp = (variant & 2) ? mask.data() : nullptr;
        softmax_f32(n, x.data(), bp, mp, y.data());
        softmax_f32_ref(n, x.data(), bp, mp, r.data());
        CHECK(max_abs_diff(y, r) <= 1e-6f);
        double sum = 0;
        for (int64_t i = 0; i < n; ++i) {
          sum += y[i];
          if (mp && !mp[i]) CHECK(y[i] == 0.0f);
        }
        CHECK(std::fabs(sum - 1.0) <= 1e-5);
      }
      // All masked: zeros, never NaN.
      std::vector<uint8_t> none((size_t)n, 0);
      softmax_f32(n, x.data(), nullptr, none.data(), y.data());
      for (float v : y) CHECK(v == 0.0f);
      // In place, large magnitudes (stability).
      auto big = x;
      for (auto& v : big) v *= 1000.0f;
      softmax_f32_ref(n, big.data(), nullptr, nullptr, r.data());
      softmax_f32(n, big.data(), nullptr, nullptr, big.data());
      CHECK(max_abs_diff(big, r) <= 1e-6f);
    }
  }
}

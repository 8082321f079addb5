// SPDX-License-Identifier: MIT
// Tests for kernels/norm.hpp and kernels/softmax.hpp: each dispatched kernel
// at every ISA level this CPU offers against its scalar `_ref` twin, on random
// lengths including odd ones, with and without gamma/beta, bias and mask.
#include <doctest/doctest.h>

#include "isa_test_util.hpp"

#include <algorithm>
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

TEST_CASE("channel_add_norm_f32 normalises x + r and returns the statistics, like _ref") {
  IsaCapGuard guard;
  std::mt19937 rng(14);
  const int64_t channels[] = {1, 3, 33, 256, 1030};  // 1030: above the packing limit
  const int64_t pixels[] = {1, 7, 16, 17, 40};
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    const std::string isa_str = isa_name(isa);
    CAPTURE(isa_str);
    for (int64_t C : channels)
      for (int64_t P : pixels) {
        CAPTURE(C);
        CAPTURE(P);
        const int64_t stride = P + 5, r_stride = P + 2;
        const auto x = random_vec(rng, C * stride, -2, 3), res = random_vec(rng, C * r_stride, -1, 1);
        const auto g = random_vec(rng, C, 0.5f, 1.5f), b = random_vec(rng, C, -1, 1);
        // The oracle: the plain channel norm of the explicit sum x + r.
        std::vector<float> sum = x;
        for (int64_t c = 0; c < C; ++c)
          for (int64_t p = 0; p < P; ++p) sum[(size_t)(c * stride + p)] += res[(size_t)(c * r_stride + p)];
        std::vector<float> want((size_t)(C * stride), 7.0f);
        channel_norm_f32_ref(C, P, stride, sum.data(), g.data(), b.data(), 1e-6f, want.data());
        // In place on x, as the SAM decoder uses it; padding must stay as it was.
        std::vector<float> y = x;
        std::vector<float> mean((size_t)P + 1, -9.0f), rstd((size_t)P + 1, -9.0f);
        channel_add_norm_f32(C, P, stride, y.data(), res.data(), r_stride, g.data(), b.data(), 1e-6f, y.data(),
                             mean.data(), rstd.data());
        for (int64_t c = 0; c < C; ++c)
          for (int64_t p = P; p < stride; ++p) want[(size_t)(c * stride + p)] = x[(size_t)(c * stride + p)];
        CHECK(max_abs_diff(y, want) <= 2e-5f);
        // Statistics against a double-precision two-pass computation.
        double worst_mean = 0, worst_rstd = 0;
        for (int64_t p = 0; p < P; ++p) {
          double m = 0, v = 0;
          for (int64_t c = 0; c < C; ++c) m += sum[(size_t)(c * stride + p)];
          m /= (double)C;
          for (int64_t c = 0; c < C; ++c)
            v += (sum[(size_t)(c * stride + p)] - m) * (sum[(size_t)(c * stride + p)] - m);
          const double rs = 1.0 / std::sqrt(v / (double)C + 1e-6);
          worst_mean = std::max(worst_mean, std::fabs(mean[(size_t)p] - m));
          worst_rstd = std::max(worst_rstd, std::fabs(rstd[(size_t)p] - rs) / rs);
        }
        CHECK(worst_mean <= 1e-5);
        CHECK(worst_rstd <= 1e-5);
        CHECK(mean[(size_t)P] == -9.0f);  // nothing written past P
        CHECK(rstd[(size_t)P] == -9.0f);
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

TEST_CASE("softmax_columns_f32 matches _ref; every column sums to one; -inf columns give zeros") {
  IsaCapGuard guard;
  std::mt19937 rng(16);
  const int64_t shapes[][2] = {{1, 1}, {7, 4096}, {5, 33}, {61, 17}, {2, 100}};
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    const std::string isa_str = isa_name(isa);
    CAPTURE(isa_str);
    for (const auto& sh : shapes) {
      const int64_t rows = sh[0], n = sh[1], ld = n + 9;
      CAPTURE(rows);
      CAPTURE(n);
      auto x = random_vec(rng, rows * ld, -20, 20);
      const auto bias = random_vec(rng, rows, -5, 5);
      if (n > 3)
        for (int64_t r = 0; r < rows; ++r) x[(size_t)(r * ld + 3)] = -std::numeric_limits<float>::infinity();
      for (int variant = 0; variant < 2; ++variant) {
        const float* bp = variant ? bias.data() : nullptr;
        std::vector<float> y = x, r = x;  // the padding columns must stay as they are
        softmax_columns_f32(rows, n, x.data(), ld, bp, y.data());
        softmax_columns_f32_ref(rows, n, x.data(), ld, bp, r.data());
        CHECK(max_abs_diff(y, r) <= 1e-6f);
        for (int64_t j = 0; j < n; ++j) {
          double sum = 0;
          for (int64_t k = 0; k < rows; ++k) sum += y[(size_t)(k * ld + j)];
          CHECK(std::fabs(sum - (j == 3 && n > 3 ? 0.0 : 1.0)) <= 1e-5);
        }
        // In place.
        std::vector<float> z = x;
        softmax_columns_f32(rows, n, z.data(), ld, bp, z.data());
        CHECK(z == y);
      }
    }
  }
}

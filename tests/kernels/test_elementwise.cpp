// SPDX-License-Identifier: MIT
// Tests for kernels/elementwise.hpp: every dispatched kernel, at every ISA
// level this CPU offers (forced through set_isa_cap), against its scalar
// `_ref` twin on random lengths including odd ones, plus the measured accuracy
// of the vectorised exp, GELU and SiLU against double-precision <cmath>.
#include <doctest/doctest.h>

#include "isa_test_util.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "rsfiqa/core/cpu.hpp"
#include "rsfiqa/kernels/elementwise.hpp"

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

const int64_t kLengths[] = {0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 100, 257, 1000, 4099};

// Distance in units in the last place between two finite floats of equal sign.
int64_t ulp_distance(float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, 4);
  std::memcpy(&ib, &b, 4);
  if (ia < 0) ia = INT32_MIN - ia;
  if (ib < 0) ib = INT32_MIN - ib;
  return std::llabs((long long)ia - (long long)ib);
}

}  // namespace

TEST_CASE("binary and affine kernels match _ref at every ISA level") {
  IsaCapGuard guard;
  std::mt19937 rng(1);
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    const std::string isa_str = isa_name(isa);
    CAPTURE(isa_str);
    for (int64_t n : kLengths) {
      CAPTURE(n);
      const auto a = random_vec(rng, n, -3, 3), b = random_vec(rng, n, -3, 3);
      std::vector<float> y((size_t)n), r((size_t)n);
      vec_add_f32(n, a.data(), b.data(), y.data());
      vec_add_f32_ref(n, a.data(), b.data(), r.data());
      CHECK(y == r);
      vec_mul_f32(n, a.data(), b.data(), y.data());
      vec_mul_f32_ref(n, a.data(), b.data(), r.data());
      CHECK(y == r);
      vec_scale_f32(n, a.data(), 0.37f, y.data());
      vec_scale_f32_ref(n, a.data(), 0.37f, r.data());
      CHECK(y == r);
      // axpy may use a fused multiply-add: agree to one rounding.
      y = b;
      r = b;
      vec_axpy_f32(n, -1.7f, a.data(), y.data());
      vec_axpy_f32_ref(n, -1.7f, a.data(), r.data());
      for (int64_t i = 0; i < n; ++i) CHECK(std::fabs(y[i] - r[i]) <= 1e-6f * (1.0f + std::fabs(r[i])));
      // s ⊙ (y + t ⊙ u) + h: two possibly fused steps, each one rounding.
      y = b;
      r = b;
      vec_scale_residual_f32(n, a.data(), b.data(), a.data(), 0.25f, y.data());
      vec_scale_residual_f32_ref(n, a.data(), b.data(), a.data(), 0.25f, r.data());
      for (int64_t i = 0; i < n; ++i) {
        const float inner = std::fabs(b[i]) + std::fabs(b[i] * a[i]);
        CHECK(std::fabs(y[i] - r[i]) <= 2e-6f * (1.0f + std::fabs(a[i]) * inner));
      }
      vec_relu_f32(n, a.data(), y.data());
      vec_relu_f32_ref(n, a.data(), r.data());
      CHECK(y == r);
    }
  }
}

TEST_CASE("vec_row_taps_f32 (depthwise row filter) matches _ref") {
  IsaCapGuard guard;
  std::mt19937 rng(5);
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    const std::string isa_str = isa_name(isa);
    CAPTURE(isa_str);
    for (int64_t n : kLengths)
      for (int64_t taps : {1, 3, 5, 7})
        for (int64_t dil : {1, 2}) {
          CAPTURE(n);
          CAPTURE(taps);
          const auto x = random_vec(rng, n + (taps - 1) * dil, -1, 1), w = random_vec(rng, taps, -1, 1);
          auto y = random_vec(rng, n, -1, 1);
          auto r = y;
          vec_row_taps_f32(n, taps, w.data(), dil, x.data(), y.data());
          vec_row_taps_f32_ref(n, taps, w.data(), dil, x.data(), r.data());
          // Fused multiply-adds round once per tap instead of twice.
          for (int64_t i = 0; i < n; ++i) CHECK(std::fabs(y[i] - r[i]) <= 1e-6f * (1.0f + (float)taps));
        }
  }
}

TEST_CASE("in-place use: output may alias the input") {
  IsaCapGuard guard;
  std::mt19937 rng(2);
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    auto x = random_vec(rng, 37, -4, 4);
    std::vector<float> r(37);
    vec_silu_f32(37, x.data(), r.data());
    vec_silu_f32(37, x.data(), x.data());
    CHECK(x == r);
  }
}

TEST_CASE("reductions match _ref to rounding") {
  IsaCapGuard guard;
  std::mt19937 rng(3);
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    const std::string isa_str = isa_name(isa);
    CAPTURE(isa_str);
    for (int64_t n : kLengths) {
      CAPTURE(n);
      const auto a = random_vec(rng, n, -1, 1), b = random_vec(rng, n, -1, 1);
      // Sum of |terms| bounds the rounding error of any summation order.
      float abs_sum = 0.0f, abs_dot = 0.0f;
      for (int64_t i = 0; i < n; ++i) {
        abs_sum += std::fabs(a[i]);
        abs_dot += std::fabs(a[i] * b[i]);
      }
      CHECK(std::fabs(vec_sum_f32(n, a.data()) - vec_sum_f32_ref(n, a.data())) <= 1e-6f * (1 + abs_sum));
      CHECK(std::fabs(vec_dot_f32(n, a.data(), b.data()) - vec_dot_f32_ref(n, a.data(), b.data())) <=
            1e-6f * (1 + abs_dot));
      CHECK(vec_max_f32(n, a.data()) == vec_max_f32_ref(n, a.data()));
    }
  }
  CHECK(vec_max_f32(0, nullptr) == -std::numeric_limits<float>::infinity());
}

TEST_CASE("vectorised exp: accuracy in ulp over the whole range, exact zero below ln(FLT_MIN)") {
  IsaCapGuard guard;
  // Dense grid over [-87, 88] plus random points.
  std::vector<float> x;
  for (float v = -87.0f; v <= 88.0f; v += 0.0137f) x.push_back(v);
  std::mt19937 rng(4);
  for (float v : random_vec(rng, 20001, -10, 10)) x.push_back(v);
  const int64_t n = (int64_t)x.size();
  std::vector<float> y((size_t)n);
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    const std::string isa_str = isa_name(isa);
    CAPTURE(isa_str);
    vec_exp_f32(n, x.data(), y.data());
    int64_t worst = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float want = (float)std::exp((double)x[i]);
      const int64_t d = ulp_distance(y[i], want);
      if (d > worst) worst = d;
    }
    MESSAGE(std::string(isa_name(isa)), ": max exp error ", worst, " ulp");
    CHECK(worst <= 3);
    // -inf and far-negative inputs give exact zeros (masked softmax relies
    // on it); e^-88 is below FLT_MIN and may be flushed; e^0 is exactly 1.
    const float special[] = {-std::numeric_limits<float>::infinity(), -1000.0f, -88.0f, 0.0f};
    float out[4];
    vec_exp_f32(4, special, out);
    CHECK(out[0] == 0.0f);
    CHECK(out[1] == 0.0f);
    CHECK(out[2] < std::numeric_limits<float>::min());
    CHECK(out[3] == 1.0f);
  }
}

TEST_CASE("GELU (erf and tanh), SiLU: SIMD vs _ref and vs double precision") {
  IsaCapGuard guard;
  std::vector<float> x;
  for (float v = -12.0f; v <= 12.0f; v += 0.00113f) x.push_back(v);
  const int64_t n = (int64_t)x.size();
  std::vector<float> y((size_t)n), r((size_t)n);
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    const std::string isa_str = isa_name(isa);
    CAPTURE(isa_str);
    double worst_erf = 0, worst_tanh = 0, worst_silu = 0;
    vec_gelu_erf_f32(n, x.data(), y.data());
    vec_gelu_erf_f32_ref(n, x.data(), r.data());
    for (int64_t i = 0; i < n; ++i) {
      const double v = x[i];
      const double want = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
      // Absolute error, relative above |y| = 1 (one float ulp at 12 is 1e-6).
      const double scale = std::fmax(1.0, std::fabs(want));
      worst_erf = std::fmax(worst_erf, std::fabs(y[i] - want) / scale);
      CHECK(std::fabs(y[i] - r[i]) <= 2e-6 * scale);
    }
    vec_gelu_tanh_f32(n, x.data(), y.data());
    vec_gelu_tanh_f32_ref(n, x.data(), r.data());
    for (int64_t i = 0; i < n; ++i) {
      const double v = x[i];
      const double want = 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
      const double scale = std::fmax(1.0, std::fabs(want));
      worst_tanh = std::fmax(worst_tanh, std::fabs(y[i] - want) / scale);
      CHECK(std::fabs(y[i] - r[i]) <= 2e-6 * scale);
    }
    vec_silu_f32(n, x.data(), y.data());
    vec_silu_f32_ref(n, x.data(), r.data());
    for (int64_t i = 0; i < n; ++i) {
      const double v = x[i];
      const double want = v / (1.0 + std::exp(-v));
      const double scale = std::fmax(1.0, std::fabs(want));
      worst_silu = std::fmax(worst_silu, std::fabs(y[i] - want) / scale);
      CHECK(std::fabs(y[i] - r[i]) <= 2e-6 * scale);
    }
    MESSAGE(std::string(isa_name(isa)), ": max error vs double: gelu_erf ", worst_erf, ", gelu_tanh ", worst_tanh,
            ", silu ", worst_silu);
    CHECK(worst_erf <= 1e-6);
    CHECK(worst_tanh <= 1e-6);
    CHECK(worst_silu <= 1e-6);
  }
}

TEST_CASE("fast GELU (rational erf): SIMD vs _ref, vs double precision, special values") {
  IsaCapGuard guard;
  std::vector<float> x;
  for (float v = -12.0f; v <= 12.0f; v += 0.00013f) x.push_back(v);
  const int64_t n = (int64_t)x.size();  // not a multiple of 8 or 16: the masked tails run
  std::vector<float> y((size_t)n), r((size_t)n);
  vec_gelu_erf_fast_f32_ref(n, x.data(), r.data());
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    const std::string isa_str = isa_name(isa);
    CAPTURE(isa_str);
    vec_gelu_erf_fast_f32(n, x.data(), y.data());
    double worst = 0, worst_ref = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double v = x[i];
      const double want = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
      const double scale = std::fmax(1.0, std::fabs(want));
      worst = std::fmax(worst, std::fabs(y[i] - want) / scale);
      worst_ref = std::fmax(worst_ref, std::fabs(r[i] - want) / scale);
      // Both are within 1e-6·scale of the exact value (checked below), so within 2e-6 of each other.
      CHECK(std::fabs(y[i] - r[i]) <= 2e-6 * scale);
    }
    MESSAGE(isa_str, ": fast gelu max error vs double ", worst, " (reference ", worst_ref, ")");
    // Fit error 1.9e-8 in erf; float rounding of the Horner sums and of
    // h + h·erf dominates: below 1e-6 of max(1, |y|).
    CHECK(worst <= 1e-6);
    CHECK(worst_ref <= 1e-6);
    // Saturation, zeros and non-finite inputs.
    const float sp[] = {0.0f, -0.0f, 6.0f, -6.0f, 1e30f, -1e30f, std::numeric_limits<float>::infinity(),
                        std::numeric_limits<float>::quiet_NaN()};
    float out[8];
    vec_gelu_erf_fast_f32(8, sp, out);
    CHECK(out[0] == 0.0f);
    CHECK(out[1] == 0.0f);
    CHECK(std::fabs(out[2] - 6.0f) <= 6e-6f);
    CHECK(std::fabs(out[3]) <= 1e-6f);
    CHECK(out[4] == 1e30f);
    CHECK(out[5] == 0.0f);
    CHECK(std::isinf(out[6]));
    CHECK(std::isnan(out[7]));
  }
}

TEST_CASE("kernel name reports the dispatched family") {
  IsaCapGuard guard;
  set_isa_cap(Isa::kScalar);
  CHECK(std::string(vec_kernel_suffix()) == "ref");
  clear_isa_cap();
  if (active_isa() != Isa::kScalar) CHECK(std::string(vec_kernel_suffix()) == isa_name(active_isa()));
}

// SPDX-License-Identifier: MIT
// Tests for ops/activation.hpp: GELU (erf and tanh forms), SiLU, ReLU and the
// residual add against literal double-precision formulas, at every ISA level
// and with 1 and 2 threads on a tensor large enough to be split; shape errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "rsfiqa/core/cpu.hpp"
#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/ops/activation.hpp"

using namespace rsfiqa;

namespace {
std::vector<Isa> isa_levels() {
  std::vector<Isa> v{Isa::kScalar};
  if ((int)cpu_best_isa() >= (int)Isa::kAvx2) v.push_back(Isa::kAvx2);
  if ((int)cpu_best_isa() >= (int)Isa::kAvx512) v.push_back(Isa::kAvx512);
  return v;
}
struct Restore {
  ~Restore() {
    clear_isa_cap();
    set_num_threads(0);
  }
};
TensorView view(std::vector<float>& v, Shape s) { return TensorView(v.data(), DType::kF32, s); }
}  // namespace

TEST_CASE("activations match their formulas") {
  Restore restore;
  std::mt19937 rng(31);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  const int64_t A = 3, B = 70001;  // odd, and over the parallel grain
  std::vector<float> x((size_t)(A * B)), other(x.size());
  for (auto& v : x) v = nd(rng);
  for (auto& v : other) v = nd(rng);
  const Shape s{A, B};
  for (Isa isa : isa_levels())
    for (int threads : {1, 2}) {
      set_isa_cap(isa);
      set_num_threads(threads);
      std::vector<float> y(x.size());
      double e_gelu = 0, e_tanh = 0, e_silu = 0, e_rat = 0;
      REQUIRE(ops::gelu(view(x, s), view(y, s)).ok());
      for (size_t i = 0; i < x.size(); ++i) {
        const double v = x[i];
        e_gelu = std::fmax(e_gelu, std::fabs(y[i] - 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)))));
      }
      // The rational-erf form: within 1e-6·max(1, |y|) of the exact GELU
      // (kernels/elementwise.hpp states and tests the bound).
      REQUIRE(ops::gelu(view(x, s), view(y, s), ops::GeluApprox::kErfRational).ok());
      for (size_t i = 0; i < x.size(); ++i) {
        const double v = x[i], g = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
        e_rat = std::fmax(e_rat, std::fabs(y[i] - g) / std::fmax(1.0, std::fabs(g)));
      }
      REQUIRE(ops::gelu(view(x, s), view(y, s), ops::GeluApprox::kTanh).ok());
      for (size_t i = 0; i < x.size(); ++i) {
        const double v = x[i];
        e_tanh = std::fmax(
            e_tanh, std::fabs(y[i] - 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)))));
      }
      REQUIRE(ops::silu(view(x, s), view(y, s)).ok());
      for (size_t i = 0; i < x.size(); ++i)
        e_silu = std::fmax(e_silu, std::fabs(y[i] - x[i] / (1 + std::exp(-(double)x[i]))));
      // Inputs reach |x| ~ 15, where one float ulp is ~1e-6.
      CHECK(e_gelu <= 2e-6);
      CHECK(e_tanh <= 2e-6);
      CHECK(e_rat <= 2e-6);
      CHECK(e_silu <= 2e-6);
      // ReLU and add are exact: count mismatches.
      int64_t bad = 0;
      REQUIRE(ops::relu(view(x, s), view(y, s)).ok());
      for (size_t i = 0; i < x.size(); ++i) bad += y[i] != (x[i] > 0 ? x[i] : 0.0f);
      CHECK(bad == 0);
      REQUIRE(ops::add(view(x, s), view(other, s), view(y, s)).ok());
      for (size_t i = 0; i < x.size(); ++i) bad += y[i] != x[i] + other[i];
      CHECK(bad == 0);
      // In-place residual: y += other.
      REQUIRE(ops::add(view(y, s), view(other, s), view(y, s)).ok());
      for (size_t i = 0; i < x.size(); ++i) bad += y[i] != (x[i] + other[i]) + other[i];
      CHECK(bad == 0);
    }
}

TEST_CASE("activation shape errors") {
  std::vector<float> a(12), b(12);
  CHECK(ops::gelu(view(a, {3, 4}), view(b, {4, 3})).code() == ErrorCode::kShapeMismatch);
  CHECK(ops::add(view(a, {3, 4}), view(b, {12}), view(a, {3, 4})).code() == ErrorCode::kShapeMismatch);
  CHECK(ops::silu(TensorView(a.data(), DType::kI32, {3, 4}), view(b, {3, 4})).code() == ErrorCode::kUnsupportedType);
}

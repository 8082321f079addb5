// SPDX-License-Identifier: MIT
// Tests for ops/norm.hpp and the linear/softmax ops: layer_norm, rms_norm,
// layer_norm_2d (SAM's LayerNorm2d), linear and row softmax against literal
// loops over the formulas (double accumulation), at every ISA level and with
// 1 and 3 threads; plus the shape errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "rsfiqa/core/cpu.hpp"
#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/ops/linear.hpp"
#include "rsfiqa/ops/norm.hpp"
#include "rsfiqa/ops/softmax.hpp"

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
std::vector<float> random_vec(std::mt19937& rng, int64_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v((size_t)n);
  for (auto& x : v) x = d(rng);
  return v;
}
double max_abs_diff(const std::vector<float>& a, const std::vector<double>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::fmax(m, std::fabs((double)a[i] - b[i]));
  return m;
}
TensorView view(std::vector<float>& v, Shape s) { return TensorView(v.data(), DType::kF32, s); }
}  // namespace

TEST_CASE("layer_norm and rms_norm over the last dim match the formula") {
  Restore restore;
  std::mt19937 rng(21);
  const int64_t rows = 13;
  for (int64_t D : {1, 5, 16, 33, 256}) {
    auto x = random_vec(rng, rows * D, -1, 3), g = random_vec(rng, D, 0.5f, 1.5f), b = random_vec(rng, D, -1, 1);
    // Literal: mean, biased variance, affine.
    std::vector<double> want_ln((size_t)(rows * D)), want_rms((size_t)(rows * D));
    for (int64_t r = 0; r < rows; ++r) {
      double mean = 0, var = 0, ms = 0;
      for (int64_t i = 0; i < D; ++i) mean += x[r * D + i];
      mean /= D;
      for (int64_t i = 0; i < D; ++i) {
        var += (x[r * D + i] - mean) * (x[r * D + i] - mean);
        ms += (double)x[r * D + i] * x[r * D + i];
      }
      var /= D;
      ms /= D;
      for (int64_t i = 0; i < D; ++i) {
        want_ln[r * D + i] = (x[r * D + i] - mean) / std::sqrt(var + 1e-5) * g[i] + b[i];
        want_rms[r * D + i] = x[r * D + i] / std::sqrt(ms + 1e-6) * g[i];
      }
    }
    for (Isa isa : isa_levels())
      for (int threads : {1, 3}) {
        set_isa_cap(isa);
        set_num_threads(threads);
        CAPTURE(D);
        std::vector<float> y((size_t)(rows * D));
        REQUIRE(ops::layer_norm(view(x, {rows, D}), view(g, {D}), view(b, {D}), 1e-5f, view(y, {rows, D})).ok());
        CHECK(max_abs_diff(y, want_ln) <= 1e-5);
        REQUIRE(ops::rms_norm(view(x, {rows, D}), view(g, {D}), 1e-6f, view(y, {rows, D})).ok());
        CHECK(max_abs_diff(y, want_rms) <= 1e-5);
      }
  }
}

TEST_CASE("layer_norm_2d normalises over channels at every pixel (SAM LayerNorm2d)") {
  Restore restore;
  std::mt19937 rng(22);
  const int64_t N = 2, C = 19, H = 7, W = 11;  // 77 pixels: odd blocks
  auto x = random_vec(rng, N * C * H * W, -2, 2), g = random_vec(rng, C, 0.5f, 1.5f), b = random_vec(rng, C, -1, 1);
  std::vector<double> want(x.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t p = 0; p < H * W; ++p) {
      auto at = [&](int64_t c) { return (size_t)((n * C + c) * H * W + p); };
      double u = 0, s = 0;
      for (int64_t c = 0; c < C; ++c) u += x[at(c)];
      u /= C;
      for (int64_t c = 0; c < C; ++c) s += (x[at(c)] - u) * (x[at(c)] - u);
      s /= C;
      for (int64_t c = 0; c < C; ++c) want[at(c)] = g[c] * (x[at(c)] - u) / std::sqrt(s + 1e-6) + b[c];
    }
  for (Isa isa : isa_levels())
    for (int threads : {1, 2}) {
      set_isa_cap(isa);
      set_num_threads(threads);
      std::vector<float> y(x.size());
      REQUIRE(ops::layer_norm_2d(view(x, {N, C, H, W}), view(g, {C}), view(b, {C}), 1e-6f, view(y, {N, C, H, W})).ok());
      CHECK(max_abs_diff(y, want) <= 1e-5);
      // Unbatched [C, H, W], in place.
      std::vector<float> x0(x.begin(), x.begin() + C * H * W);
      REQUIRE(ops::layer_norm_2d(view(x0, {C, H, W}), view(g, {C}), view(b, {C}), 1e-6f, view(x0, {C, H, W})).ok());
      std::vector<double> want0(want.begin(), want.begin() + C * H * W);
      CHECK(max_abs_diff(x0, want0) <= 1e-5);
    }
}

TEST_CASE("norm shape errors name the shapes") {
  std::vector<float> x(24), y(24), g(5);
  Status s = ops::layer_norm(view(x, {4, 6}), view(g, {5}), {}, 1e-5f, view(y, {4, 6}));
  CHECK(s.code() == ErrorCode::kShapeMismatch);
  CHECK(s.message().find("[5]") != std::string::npos);
  s = ops::layer_norm(view(x, {4, 6}), {}, {}, 1e-5f, view(y, {6, 4}));
  CHECK(s.code() == ErrorCode::kShapeMismatch);
  CHECK(s.message().find("[4, 6]") != std::string::npos);
  CHECK(s.message().find("[6, 4]") != std::string::npos);
  s = ops::layer_norm_2d(view(x, {4, 6}), {}, {}, 1e-6f, view(y, {4, 6}));
  CHECK(s.code() == ErrorCode::kShapeMismatch);
  s = ops::layer_norm_2d(view(x, {6, 2, 2}), view(g, {5}), {}, 1e-6f, view(y, {6, 2, 2}));
  CHECK(s.code() == ErrorCode::kShapeMismatch);
  std::vector<uint16_t> h(24);
  s = ops::rms_norm(TensorView(h.data(), DType::kF16, {4, 6}), {}, 1e-6f, view(y, {4, 6}));
  CHECK(s.code() == ErrorCode::kUnsupportedType);
}

TEST_CASE("linear: y = x Wᵀ + b matches the formula; shape errors") {
  Restore restore;
  std::mt19937 rng(23);
  const int64_t B = 3, T = 5, in = 17, out = 9;
  auto x = random_vec(rng, B * T * in, -1, 1), w = random_vec(rng, out * in, -1, 1), b = random_vec(rng, out, -1, 1);
  std::vector<double> want((size_t)(B * T * out));
  for (int64_t r = 0; r < B * T; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double acc = b[o];
      for (int64_t i = 0; i < in; ++i) acc += (double)x[r * in + i] * w[o * in + i];
      want[r * out + o] = acc;
    }
  std::vector<float> y((size_t)(B * T * out));
  REQUIRE(ops::linear(view(x, {B, T, in}), view(w, {out, in}), view(b, {out}), view(y, {B, T, out})).ok());
  CHECK(max_abs_diff(y, want) <= 1e-5);
  Status s = ops::linear(view(x, {B, T, in}), view(w, {in, out}), {}, view(y, {B, T, out}));
  CHECK(s.code() == ErrorCode::kShapeMismatch);
  s = ops::linear(view(x, {B, T, in}), view(w, {out, in}), view(b, {out - 1}), view(y, {B, T, out}));
  CHECK(s.code() == ErrorCode::kShapeMismatch);
  s = ops::linear(view(x, {B, T, in}), view(w, {out, in}), {}, view(y, {B * T, out}));
  CHECK(s.code() == ErrorCode::kShapeMismatch);

  // bf16 weights: the same formula on the bf16-rounded weights.
  std::vector<uint16_t> wh(w.size());
  for (size_t i = 0; i < w.size(); ++i) wh[i] = f32_to_bf16(w[i]);
  for (int64_t r = 0; r < B * T; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double acc = b[o];
      for (int64_t i = 0; i < in; ++i) acc += (double)x[r * in + i] * bf16_to_f32(wh[o * in + i]);
      want[r * out + o] = acc;
    }
  REQUIRE(ops::linear(view(x, {B, T, in}), TensorView(wh.data(), DType::kBF16, {out, in}), view(b, {out}),
                      view(y, {B, T, out}))
              .ok());
  CHECK(max_abs_diff(y, want) <= 1e-5);
  CHECK(ops::linear(view(x, {B, T, in}), TensorView(wh.data(), DType::kF16, {out, in}), {}, view(y, {B, T, out}))
            .code() == ErrorCode::kUnsupportedType);
}

TEST_CASE("softmax op: rows, broadcast bias, mask; matches the formula") {
  Restore restore;
  std::mt19937 rng(24);
  const int64_t rows = 6, D = 37;
  auto x = random_vec(rng, rows * D, -8, 8), bias_row = random_vec(rng, D, -2, 2);
  std::vector<uint8_t> mask((size_t)(rows * D));
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = (i * 7 + 3) % 5 != 0;
  for (int64_t r = 0; r < D; ++r) mask[(size_t)(2 * D + r)] = 0;  // row 2 fully masked
  std::vector<double> want((size_t)(rows * D));
  for (int64_t r = 0; r < rows; ++r) {
    double mx = -INFINITY, sum = 0;
    for (int64_t i = 0; i < D; ++i)
      if (mask[r * D + i]) mx = std::fmax(mx, (double)x[r * D + i] + bias_row[i]);
    for (int64_t i = 0; i < D; ++i) {
      want[r * D + i] = mask[r * D + i] ? std::exp((double)x[r * D + i] + bias_row[i] - mx) : 0.0;
      sum += want[r * D + i];
    }
    for (int64_t i = 0; i < D; ++i) want[r * D + i] = sum > 0 ? want[r * D + i] / sum : 0.0;
  }
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    std::vector<float> y((size_t)(rows * D));
    REQUIRE(ops::softmax(view(x, {rows, D}), view(y, {rows, D}), view(bias_row, {D}),
                         TensorView(mask.data(), DType::kU8, {rows, D}))
                .ok());
    CHECK(max_abs_diff(y, want) <= 1e-6);
  }
  std::vector<float> y((size_t)(rows * D));
  CHECK(ops::softmax(view(x, {rows, D}), view(y, {rows, D}), view(bias_row, {D - 1})).code() ==
        ErrorCode::kShapeMismatch);
  CHECK(ops::softmax(view(x, {rows, D}), view(y, {rows, D}), {}, TensorView(x.data(), DType::kF32, {rows, D})).code() ==
        ErrorCode::kUnsupportedType);
}

// SPDX-License-Identifier: MIT
// Tests for ops/conv.hpp: conv2d (each path: 1×1 GEMM, depthwise with stride
// 1 and 2, general im2col with stride / padding / dilation / groups) and
// conv_transpose2d (k = 2 stride 2 as in SAM, plus overlapping taps with
// padding and output padding) against literal loops over the definitions,
// at every ISA level and with 1 and 2 threads; shape errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "rsfiqa/core/cpu.hpp"
#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/ops/conv.hpp"

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
std::vector<float> random_vec(std::mt19937& rng, int64_t n) {
  std::uniform_real_distribution<float> d(-1, 1);
  std::vector<float> v((size_t)n);
  for (auto& x : v) x = d(rng);
  return v;
}
TensorView view(std::vector<float>& v, Shape s) { return TensorView(v.data(), DType::kF32, s); }

// Literal conv2d: y[n,o,oy,ox] = b[o] + sum_{c in group, ky, kx} w[o, c', ky, kx] x[n, c, iy, ix].
std::vector<double> conv2d_literal(const std::vector<float>& x, const std::vector<float>& w,
                                   const std::vector<float>* b, int64_t N, int64_t C, int64_t H, int64_t W, int64_t O,
                                   int64_t kh, int64_t kw, const ops::Conv2dParams& p, int64_t* Ho_out,
                                   int64_t* Wo_out) {
  const int64_t Ho = (H + 2 * p.pad_h - p.dilation_h * (kh - 1) - 1) / p.stride_h + 1;
  const int64_t Wo = (W + 2 * p.pad_w - p.dilation_w * (kw - 1) - 1) / p.stride_w + 1;
  const int64_t Cg = C / p.groups, Og = O / p.groups;
  std::vector<double> y((size_t)(N * O * Ho * Wo));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oy = 0; oy < Ho; ++oy)
        for (int64_t ox = 0; ox < Wo; ++ox) {
          double acc = b ? (*b)[o] : 0.0;
          const int64_t g = o / Og;
          for (int64_t ci = 0; ci < Cg; ++ci)
            for (int64_t ky = 0; ky < kh; ++ky)
              for (int64_t kx = 0; kx < kw; ++kx) {
                const int64_t iy = oy * p.stride_h - p.pad_h + ky * p.dilation_h;
                const int64_t ix = ox * p.stride_w - p.pad_w + kx * p.dilation_w;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                const int64_t c = g * Cg + ci;
                acc += (double)w[((o * Cg + ci) * kh + ky) * kw + kx] * x[((n * C + c) * H + iy) * W + ix];
              }
          y[((n * O + o) * Ho + oy) * Wo + ox] = acc;
        }
  *Ho_out = Ho;
  *Wo_out = Wo;
  return y;
}

// Literal transposed conv: every input pixel spreads w[c, o, :, :] · x over its window.
std::vector<double> conv_transpose2d_literal(const std::vector<float>& x, const std::vector<float>& w,
                                             const std::vector<float>* b, int64_t N, int64_t C, int64_t H, int64_t W,
                                             int64_t O, int64_t kh, int64_t kw, const ops::ConvTranspose2dParams& p,
                                             int64_t* Ho_out, int64_t* Wo_out) {
  const int64_t Ho = (H - 1) * p.stride_h - 2 * p.pad_h + p.dilation_h * (kh - 1) + p.output_pad_h + 1;
  const int64_t Wo = (W - 1) * p.stride_w - 2 * p.pad_w + p.dilation_w * (kw - 1) + p.output_pad_w + 1;
  std::vector<double> y((size_t)(N * O * Ho * Wo));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < Ho * Wo; ++i) y[(size_t)((n * O + o) * Ho * Wo + i)] = b ? (*b)[o] : 0.0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t iy = 0; iy < H; ++iy)
        for (int64_t ix = 0; ix < W; ++ix)
          for (int64_t o = 0; o < O; ++o)
            for (int64_t ky = 0; ky < kh; ++ky)
              for (int64_t kx = 0; kx < kw; ++kx) {
                const int64_t oy = iy * p.stride_h - p.pad_h + ky * p.dilation_h;
                const int64_t ox = ix * p.stride_w - p.pad_w + kx * p.dilation_w;
                if (oy < 0 || oy >= Ho || ox < 0 || ox >= Wo) continue;
                y[((n * O + o) * Ho + oy) * Wo + ox] +=
                    (double)w[((c * O + o) * kh + ky) * kw + kx] * x[((n * C + c) * H + iy) * W + ix];
              }
  *Ho_out = Ho;
  *Wo_out = Wo;
  return y;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::fmax(m, std::fabs((double)a[i] - b[i]));
  return m;
}

struct ConvCase {
  const char* name;
  int64_t N, C, H, W, O, kh, kw;
  ops::Conv2dParams p;
  bool bias;
};

ops::Conv2dParams params(int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw, int64_t g) {
  ops::Conv2dParams p;
  p.stride_h = sh;
  p.stride_w = sw;
  p.pad_h = ph;
  p.pad_w = pw;
  p.dilation_h = dh;
  p.dilation_w = dw;
  p.groups = g;
  return p;
}
}  // namespace

TEST_CASE("conv2d matches literal loops on every path") {
  Restore restore;
  const ConvCase cases[] = {
      {"1x1 gemm path", 2, 13, 7, 9, 11, 1, 1, params(1, 1, 0, 0, 1, 1, 1), true},
      {"1x1 no bias", 1, 8, 5, 5, 3, 1, 1, params(1, 1, 0, 0, 1, 1, 1), false},
      {"1x1 stride 2 (general)", 1, 6, 9, 8, 4, 1, 1, params(2, 2, 0, 0, 1, 1, 1), true},
      {"3x3 pad 1", 2, 5, 11, 13, 7, 3, 3, params(1, 1, 1, 1, 1, 1, 1), true},
      {"3x3 stride 2 pad 1", 1, 4, 15, 10, 6, 3, 3, params(2, 2, 1, 1, 1, 1, 1), true},
      {"5x3 rect, mixed stride/pad/dilation", 1, 3, 17, 12, 5, 5, 3, params(2, 1, 2, 1, 2, 1, 1), true},
      {"grouped 3x3 groups 3", 2, 6, 9, 9, 9, 3, 3, params(1, 1, 1, 1, 1, 1, 3), true},
      {"grouped 1x1 groups 2", 1, 8, 6, 7, 4, 1, 1, params(1, 1, 0, 0, 1, 1, 2), false},
      {"depthwise 3x3 stride 1 pad 1", 2, 7, 13, 19, 7, 3, 3, params(1, 1, 1, 1, 1, 1, 7), true},
      {"depthwise 3x3 stride 2 pad 1", 1, 5, 14, 11, 5, 3, 3, params(2, 2, 1, 1, 1, 1, 5), true},
      {"depthwise 5x5 dilation 2", 1, 3, 16, 16, 3, 5, 5, params(1, 1, 4, 4, 2, 2, 3), false},
      {"depthwise 3x3 stride 2 pad 1 odd sizes", 2, 6, 17, 23, 6, 3, 3, params(2, 2, 1, 1, 1, 1, 6), true},
      {"depthwise 5x5 stride 3x2 dilation 2", 1, 4, 19, 21, 4, 5, 5, params(3, 2, 3, 2, 2, 2, 4), true},
      {"depthwise 3x3 width 1", 1, 2, 5, 1, 2, 3, 3, params(1, 1, 1, 1, 1, 1, 2), true},
      {"depthwise 3x3 width 2 no pad", 1, 2, 5, 3, 2, 3, 3, params(1, 1, 0, 0, 1, 1, 2), true},
      {"depthwise multiplier 2 (general)", 1, 3, 8, 8, 6, 3, 3, params(1, 1, 1, 1, 1, 1, 3), true},
      {"patch embed 4x4 stride 4", 1, 3, 16, 20, 8, 4, 4, params(4, 4, 0, 0, 1, 1, 1), true},
      // 181·183 output pixels exceed one im2col tile (2^20 floats / 36 rows).
      {"several im2col tiles", 1, 4, 181, 183, 3, 3, 3, params(1, 1, 1, 1, 1, 1, 1), true},
  };
  std::mt19937 rng(41);
  for (const ConvCase& k : cases) {
    CAPTURE(std::string(k.name));
    auto x = random_vec(rng, k.N * k.C * k.H * k.W);
    auto w = random_vec(rng, k.O * (k.C / k.p.groups) * k.kh * k.kw);
    auto b = random_vec(rng, k.O);
    int64_t Ho = 0, Wo = 0;
    const auto want = conv2d_literal(x, w, k.bias ? &b : nullptr, k.N, k.C, k.H, k.W, k.O, k.kh, k.kw, k.p, &Ho, &Wo);
    for (Isa isa : isa_levels())
      for (int threads : {1, 2}) {
        set_isa_cap(isa);
        set_num_threads(threads);
        std::vector<float> y((size_t)(k.N * k.O * Ho * Wo), 123.0f);
        const Status s = ops::conv2d(view(x, {k.N, k.C, k.H, k.W}), view(w, {k.O, k.C / k.p.groups, k.kh, k.kw}),
                                     k.bias ? view(b, {k.O}) : TensorView(), k.p, view(y, {k.N, k.O, Ho, Wo}));
        REQUIRE_MESSAGE(s.ok(), s.to_string());
        CHECK(max_abs_diff(y, want) <= 1e-5);
      }
  }
}

TEST_CASE("conv2d accepts unbatched [C, H, W]") {
  std::mt19937 rng(42);
  auto x = random_vec(rng, 4 * 6 * 6), w = random_vec(rng, 5 * 4 * 9);
  int64_t Ho, Wo;
  const auto p = ops::conv2d_params(1, 1);
  const auto want = conv2d_literal(x, w, nullptr, 1, 4, 6, 6, 5, 3, 3, p, &Ho, &Wo);
  std::vector<float> y((size_t)(5 * Ho * Wo));
  REQUIRE(ops::conv2d(view(x, {4, 6, 6}), view(w, {5, 4, 3, 3}), {}, p, view(y, {5, Ho, Wo})).ok());
  CHECK(max_abs_diff(y, want) <= 1e-5);
}

TEST_CASE("conv2d shape errors name both shapes") {
  std::vector<float> x(2 * 4 * 8 * 8), w(6 * 3 * 9), y(2 * 6 * 8 * 8), b(6);
  Status s =
      ops::conv2d(view(x, {2, 4, 8, 8}), view(w, {6, 3, 3, 3}), {}, ops::conv2d_params(1, 1), view(y, {2, 6, 8, 8}));
  CHECK(s.code() == ErrorCode::kShapeMismatch);
  CHECK(s.message().find("[2, 4, 8, 8]") != std::string::npos);
  CHECK(s.message().find("[6, 3, 3, 3]") != std::string::npos);
  // Wrong output size.
  std::vector<float> w4(6 * 4 * 9);
  s = ops::conv2d(view(x, {2, 4, 8, 8}), view(w4, {6, 4, 3, 3}), {}, ops::conv2d_params(1, 0), view(y, {2, 6, 8, 8}));
  CHECK(s.code() == ErrorCode::kShapeMismatch);
  CHECK(s.message().find("[2, 6, 6, 6]") != std::string::npos);
  // Groups not dividing the channels, bad bias, bad stride, kernel too large.
  CHECK(
      ops::conv2d(view(x, {2, 4, 8, 8}), view(w4, {6, 4, 3, 3}), {}, ops::conv2d_params(1, 1, 3), view(y, {2, 6, 8, 8}))
          .code() == ErrorCode::kShapeMismatch);
  CHECK(ops::conv2d(view(x, {2, 4, 8, 8}), view(w4, {6, 4, 3, 3}), view(b, {5}), ops::conv2d_params(1, 1),
                    view(y, {2, 6, 8, 8}))
            .code() == ErrorCode::kShapeMismatch);
  CHECK(ops::conv2d(view(x, {2, 4, 8, 8}), view(w4, {6, 4, 3, 3}), {}, ops::conv2d_params(0, 1), view(y, {2, 6, 8, 8}))
            .code() == ErrorCode::kInvalidArgument);
  std::vector<float> big(6 * 4 * 81);
  CHECK(ops::conv2d(view(x, {2, 4, 8, 8}), view(big, {6, 4, 9, 9}), {}, ops::conv2d_params(1, 0), view(y, {2, 6, 1, 1}))
            .code() == ErrorCode::kShapeMismatch);
  CHECK(ops::conv2d(view(x, {4, 8, 8}), view(w4, {6, 4, 3, 3}), {}, ops::conv2d_params(1, 1), view(x, {4, 8, 8}))
            .code() == ErrorCode::kShapeMismatch);
}

TEST_CASE("conv_transpose2d matches literal loops (SAM 2x2 stride 2, and overlapping taps)") {
  Restore restore;
  struct Case {
    const char* name;
    int64_t N, C, H, W, O, kh, kw;
    ops::ConvTranspose2dParams p;
    bool bias;
  };
  ops::ConvTranspose2dParams odd = ops::conv_transpose2d_params(2, 1, 1);
  odd.dilation_w = 2;
  const Case cases[] = {
      {"k2 s2 (SAM upscaling)", 2, 9, 5, 7, 6, 2, 2, ops::conv_transpose2d_params(2), true},
      {"k2 s2 no bias", 1, 4, 3, 3, 5, 2, 2, ops::conv_transpose2d_params(2), false},
      {"k3 s2 pad 1 out_pad 1 dil_w 2", 1, 3, 4, 5, 4, 3, 3, odd, true},
      {"k3 s1", 1, 2, 6, 4, 3, 3, 3, ops::conv_transpose2d_params(1), true},
  };
  std::mt19937 rng(43);
  for (const Case& k : cases) {
    CAPTURE(std::string(k.name));
    auto x = random_vec(rng, k.N * k.C * k.H * k.W), w = random_vec(rng, k.C * k.O * k.kh * k.kw);
    auto b = random_vec(rng, k.O);
    int64_t Ho, Wo;
    const auto want =
        conv_transpose2d_literal(x, w, k.bias ? &b : nullptr, k.N, k.C, k.H, k.W, k.O, k.kh, k.kw, k.p, &Ho, &Wo);
    for (Isa isa : isa_levels())
      for (int threads : {1, 2}) {
        set_isa_cap(isa);
        set_num_threads(threads);
        std::vector<float> y((size_t)(k.N * k.O * Ho * Wo), 5.0f);
        const Status s =
            ops::conv_transpose2d(view(x, {k.N, k.C, k.H, k.W}), view(w, {k.C, k.O, k.kh, k.kw}),
                                  k.bias ? view(b, {k.O}) : TensorView(), k.p, view(y, {k.N, k.O, Ho, Wo}));
        REQUIRE_MESSAGE(s.ok(), s.to_string());
        CHECK(max_abs_diff(y, want) <= 1e-5);
      }
  }
  std::vector<float> x(4 * 9), w(5 * 4 * 4), y(4 * 36);
  Status s = ops::conv_transpose2d(view(x, {4, 3, 3}), view(w, {5, 4, 2, 2}), {}, ops::conv_transpose2d_params(2),
                                   view(y, {4, 6, 6}));
  CHECK(s.code() == ErrorCode::kShapeMismatch);
  CHECK(s.message().find("[5, 4, 2, 2]") != std::string::npos);
  s = ops::conv_transpose2d(view(x, {4, 3, 3}), view(w, {4, 5, 2, 2}), {}, ops::conv_transpose2d_params(2),
                            view(y, {4, 6, 6}));
  CHECK(s.code() == ErrorCode::kShapeMismatch);
  CHECK(s.message().find("[5, 6, 6]") != std::string::npos);
}

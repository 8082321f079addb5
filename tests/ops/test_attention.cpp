// SPDX-License-Identifier: MIT
// Tests for ops/attention.hpp: multi-head scaled-dot-product attention
// against literal loops over softmax(scale·q·k + bias, mask)·v, for the
// heads-major, tokens-major and packed-qkv layouts, with per-head and shared
// bias and mask, odd sizes and small query blocks (many tasks); results are
// bit-identical for 1, 2 and 3 threads; shape errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "rsfiqa/core/cpu.hpp"
#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/ops/attention.hpp"

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
std::vector<float> random_vec(std::mt19937& rng, int64_t n, float lo = -1, float hi = 1) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v((size_t)n);
  for (auto& x : v) x = d(rng);
  return v;
}
TensorView view(std::vector<float>& v, Shape s) { return TensorView(v.data(), DType::kF32, s); }

// Literal attention on heads-major [H][N][d] arrays; bias / mask are
// [H][Nq][Nk] (or shared when hs == 0).
std::vector<double> attention_literal(const std::vector<float>& q, const std::vector<float>& k,
                                      const std::vector<float>& v, int64_t H, int64_t Nq, int64_t Nk, int64_t d,
                                      double scale, const float* bias, int64_t bias_hs, const uint8_t* mask,
                                      int64_t mask_hs) {
  std::vector<double> out((size_t)(H * Nq * d), 0.0);
  std::vector<double> s((size_t)Nk);
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 0; i < Nq; ++i) {
      double mx = -INFINITY;
      for (int64_t j = 0; j < Nk; ++j) {
        double dot = 0;
        for (int64_t c = 0; c < d; ++c) dot += (double)q[(h * Nq + i) * d + c] * k[(h * Nk + j) * d + c];
        s[j] = scale * dot + (bias ? bias[h * bias_hs + i * Nk + j] : 0.0);
        if (mask && !mask[h * mask_hs + i * Nk + j]) s[j] = -INFINITY;
        mx = std::fmax(mx, s[j]);
      }
      if (mx == -INFINITY) continue;  // fully masked: zeros
      double sum = 0;
      for (int64_t j = 0; j < Nk; ++j) sum += (s[j] = std::exp(s[j] - mx));
      for (int64_t j = 0; j < Nk; ++j)
        for (int64_t c = 0; c < d; ++c) out[(h * Nq + i) * d + c] += s[j] / sum * v[(h * Nk + j) * d + c];
    }
  return out;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::fmax(m, std::fabs((double)a[i] - b[i]));
  return m;
}
}  // namespace

TEST_CASE("attention (heads-major) matches literal loops with bias and mask") {
  Restore restore;
  std::mt19937 rng(51);
  struct Case {
    int64_t H, Nq, Nk, d, q_block;
    bool bias, shared_bias, mask, shared_mask;
  };
  const Case cases[] = {
      {1, 1, 1, 1, 0, false, false, false, false},   {2, 7, 9, 5, 0, true, false, false, false},
      {3, 33, 17, 16, 0, false, false, true, false}, {2, 70, 65, 8, 0, true, false, true, false},
      {4, 29, 31, 12, 5, true, true, true, true},    {5, 100, 49, 32, 16, true, false, true, true},
  };
  for (const Case& c : cases) {
    CAPTURE(c.H);
    CAPTURE(c.Nq);
    CAPTURE(c.Nk);
    CAPTURE(c.d);
    auto q = random_vec(rng, c.H * c.Nq * c.d, -2, 2), k = random_vec(rng, c.H * c.Nk * c.d, -2, 2);
    auto v = random_vec(rng, c.H * c.Nk * c.d);
    const int64_t bh = c.shared_bias ? 1 : c.H, mh = c.shared_mask ? 1 : c.H;
    auto bias = random_vec(rng, bh * c.Nq * c.Nk, -3, 3);
    std::vector<uint8_t> mask((size_t)(mh * c.Nq * c.Nk));
    for (size_t i = 0; i < mask.size(); ++i) mask[i] = (rng() % 4) != 0;
    if (c.mask && c.Nq > 3)  // one fully masked query row
      for (int64_t j = 0; j < c.Nk; ++j) mask[(size_t)(2 * c.Nk + j)] = 0;
    const double scale = 1.0 / std::sqrt((double)c.d);
    const auto want = attention_literal(q, k, v, c.H, c.Nq, c.Nk, c.d, scale, c.bias ? bias.data() : nullptr,
                                        c.shared_bias ? 0 : c.Nq * c.Nk, c.mask ? mask.data() : nullptr,
                                        c.shared_mask ? 0 : c.Nq * c.Nk);
    const TensorView bias_view =
        c.bias ? (c.shared_bias ? view(bias, {c.Nq, c.Nk}) : view(bias, {c.H, c.Nq, c.Nk})) : TensorView();
    const TensorView mask_view =
        c.mask ? TensorView(mask.data(), DType::kU8, c.shared_mask ? Shape{c.Nq, c.Nk} : Shape{c.H, c.Nq, c.Nk})
               : TensorView();
    for (Isa isa : isa_levels()) {
      set_isa_cap(isa);
      std::vector<float> first;
      for (int threads : {1, 2, 3}) {
        set_num_threads(threads);
        std::vector<float> out((size_t)(c.H * c.Nq * c.d), 9.0f);
        if (c.q_block == 0) {
          const Status s = ops::attention(view(q, {c.H, c.Nq, c.d}), view(k, {c.H, c.Nk, c.d}),
                                          view(v, {c.H, c.Nk, c.d}), view(out, {c.H, c.Nq, c.d}), bias_view, mask_view);
          REQUIRE_MESSAGE(s.ok(), s.to_string());
        } else {
          // Pointer form with a small query block: many tasks per head.
          ops::AttentionParams p;
          p.heads = c.H;
          p.nq = c.Nq;
          p.nk = c.Nk;
          p.head_dim = c.d;
          p.q_block = c.q_block;
          p.bias = bias.data();
          p.bias_head_stride = c.shared_bias ? 0 : c.Nq * c.Nk;
          p.bias_row_stride = c.Nk;
          p.mask = mask.data();
          p.mask_head_stride = c.shared_mask ? 0 : c.Nq * c.Nk;
          p.mask_row_stride = c.Nk;
          REQUIRE(ops::attention_f32(ops::heads_view_heads_major(q.data(), c.Nq, c.d),
                                     ops::heads_view_heads_major((const float*)k.data(), c.Nk, c.d),
                                     ops::heads_view_heads_major((const float*)v.data(), c.Nk, c.d),
                                     ops::heads_view_heads_major(out.data(), c.Nq, c.d), p)
                      .ok());
        }
        CHECK(max_abs_diff(out, want) <= 2e-6);
        if (first.empty())
          first = out;
        else
          CHECK(std::memcmp(first.data(), out.data(), out.size() * sizeof(float)) == 0);  // bit-identical
      }
    }
  }
}

TEST_CASE("attention_packed_qkv: [N, 3D] input, [N, D] output, TinyViT-style bias") {
  Restore restore;
  std::mt19937 rng(52);
  const int64_t N = 49, heads = 5, d = 32, D = heads * d;  // TinyViT stage 3 window
  auto qkv = random_vec(rng, N * 3 * D, -2, 2), bias = random_vec(rng, heads * N * N, -2, 2);
  // Unpack to heads-major for the literal reference: qkv[n, s·D + h·d + c].
  std::vector<float> q((size_t)(heads * N * d)), k(q.size()), v(q.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t c = 0; c < d; ++c) {
        q[(h * N + n) * d + c] = qkv[n * 3 * D + 0 * D + h * d + c];
        k[(h * N + n) * d + c] = qkv[n * 3 * D + 1 * D + h * d + c];
        v[(h * N + n) * d + c] = qkv[n * 3 * D + 2 * D + h * d + c];
      }
  const double scale = 0.125;  // explicit scale, not 1/√d
  const auto want_hm = attention_literal(q, k, v, heads, N, N, d, scale, bias.data(), N * N, nullptr, 0);
  std::vector<double> want((size_t)(N * D));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t c = 0; c < d; ++c) want[n * D + h * d + c] = want_hm[(h * N + n) * d + c];
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    std::vector<float> first;
    for (int threads : {1, 2, 3}) {
      set_num_threads(threads);
      std::vector<float> out((size_t)(N * D));
      REQUIRE(ops::attention_packed_qkv(view(qkv, {N, 3 * D}), heads, view(out, {N, D}), view(bias, {heads, N, N}), {},
                                        (float)scale)
                  .ok());
      CHECK(max_abs_diff(out, want) <= 2e-6);
      if (first.empty())
        first = out;
      else
        CHECK(std::memcmp(first.data(), out.data(), out.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("attention_packed_qkv batched over windows [B, N, 3D], bias shared by windows") {
  Restore restore;
  std::mt19937 rng(53);
  const int64_t B = 3, N = 13, heads = 2, d = 8, D = heads * d;
  auto qkv = random_vec(rng, B * N * 3 * D, -2, 2), bias = random_vec(rng, heads * N * N, -2, 2);
  std::vector<double> want((size_t)(B * N * D));
  for (int64_t b = 0; b < B; ++b) {
    std::vector<float> q((size_t)(heads * N * d)), k(q.size()), v(q.size());
    for (int64_t n = 0; n < N; ++n)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t c = 0; c < d; ++c)
          for (int64_t s3 = 0; s3 < 3; ++s3) {
            const float val = qkv[((b * N + n) * 3 + s3) * D + h * d + c];
            (s3 == 0 ? q : s3 == 1 ? k : v)[(h * N + n) * d + c] = val;
          }
    const auto hm =
        attention_literal(q, k, v, heads, N, N, d, 1.0 / std::sqrt((double)d), bias.data(), N * N, nullptr, 0);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t c = 0; c < d; ++c) want[(b * N + n) * D + h * d + c] = hm[(h * N + n) * d + c];
  }
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    std::vector<float> first;
    for (int threads : {1, 2, 3}) {
      set_num_threads(threads);
      std::vector<float> out((size_t)(B * N * D));
      REQUIRE(
          ops::attention_packed_qkv(view(qkv, {B, N, 3 * D}), heads, view(out, {B, N, D}), view(bias, {heads, N, N}))
              .ok());
      CHECK(max_abs_diff(out, want) <= 2e-6);
      if (first.empty())
        first = out;
      else
        CHECK(std::memcmp(first.data(), out.data(), out.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("attention_tokens_major: separate q [Nq, D], k/v [Nk, D] (SAM decoder cross-attention)") {
  Restore restore;
  std::mt19937 rng(54);
  const int64_t Nq = 7, Nk = 45, heads = 4, d = 6, D = heads * d;
  auto q = random_vec(rng, Nq * D, -2, 2), k = random_vec(rng, Nk * D, -2, 2), v = random_vec(rng, Nk * D);
  std::vector<uint8_t> mask((size_t)(Nq * Nk));
  for (auto& m : mask) m = (rng() % 3) != 0;
  mask[0] = 1;
  // Heads-major copies for the literal reference.
  std::vector<float> qh((size_t)(heads * Nq * d)), kh((size_t)(heads * Nk * d)), vh(kh.size());
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t c = 0; c < d; ++c) {
      for (int64_t i = 0; i < Nq; ++i) qh[(h * Nq + i) * d + c] = q[i * D + h * d + c];
      for (int64_t j = 0; j < Nk; ++j) {
        kh[(h * Nk + j) * d + c] = k[j * D + h * d + c];
        vh[(h * Nk + j) * d + c] = v[j * D + h * d + c];
      }
    }
  const auto hm =
      attention_literal(qh, kh, vh, heads, Nq, Nk, d, 1.0 / std::sqrt((double)d), nullptr, 0, mask.data(), 0);
  std::vector<double> want((size_t)(Nq * D));
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < Nq; ++i)
      for (int64_t c = 0; c < d; ++c) want[i * D + h * d + c] = hm[(h * Nq + i) * d + c];
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    std::vector<float> out((size_t)(Nq * D));
    REQUIRE(ops::attention_tokens_major(view(q, {Nq, D}), view(k, {Nk, D}), view(v, {Nk, D}), heads, view(out, {Nq, D}),
                                        {}, TensorView(mask.data(), DType::kU8, {Nq, Nk}))
                .ok());
    CHECK(max_abs_diff(out, want) <= 2e-6);
  }
  std::vector<float> out((size_t)(Nq * D));
  CHECK(
      ops::attention_tokens_major(view(q, {Nq, D}), view(k, {Nk, D}), view(v, {Nk, D}), 5, view(out, {Nq, D})).code() ==
      ErrorCode::kShapeMismatch);
}

TEST_CASE("attention shape errors") {
  std::vector<float> a(2 * 5 * 4), b(2 * 6 * 4), o(2 * 5 * 4), bias(2 * 5 * 5);
  Status s = ops::attention(view(a, {2, 5, 4}), view(b, {2, 6, 4}), view(a, {2, 5, 4}), view(o, {2, 5, 4}));
  CHECK(s.code() == ErrorCode::kShapeMismatch);
  CHECK(s.message().find("[2, 6, 4]") != std::string::npos);
  s = ops::attention(view(a, {2, 5, 4}), view(b, {2, 6, 4}), view(b, {2, 6, 4}), view(o, {2, 5, 4}),
                     view(bias, {2, 5, 5}));
  CHECK(s.code() == ErrorCode::kShapeMismatch);
  CHECK(s.message().find("[2, 5, 6]") != std::string::npos);
  s = ops::attention(view(a, {2, 5, 4}), view(b, {2, 6, 4}), view(b, {2, 6, 4}), view(o, {2, 5, 4}), {},
                     view(bias, {2, 5, 5}));
  CHECK(s.code() == ErrorCode::kUnsupportedType);
  std::vector<float> qkv(5 * 12), out(5 * 4);
  CHECK(ops::attention_packed_qkv(view(qkv, {5, 12}), 3, view(out, {5, 4})).code() == ErrorCode::kShapeMismatch);
  CHECK(ops::attention_packed_qkv(view(qkv, {5, 12}), 2, view(out, {5, 5})).code() == ErrorCode::kShapeMismatch);
  CHECK(ops::attention_packed_qkv(view(qkv, {5, 12}), 2, view(out, {5, 4})).ok());
}

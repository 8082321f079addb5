// SPDX-License-Identifier: MIT
// Tests for ops/region_attention.hpp: the fast form and the masked dense form
// agree with the literal scalar reference on random label maps (one region,
// all singletons, one dominant region, label gaps, spatial blobs), for every
// variant and odd head sizes; the fast form is bit-identical across thread
// counts; bad input gives clear errors; and all forms match golden outputs
// computed independently with PyTorch (tools/golden/make_rsa_golden.py).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "rsfiqa/core/cpu.hpp"
#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/kernels/region_attention_kernels.hpp"
#include "rsfiqa/ops/region_attention.hpp"

using namespace rsfiqa;
using ops::RegionAttentionArgs;
using ops::RegionAttentionParams;
using ops::RegionAttentionVariant;

namespace {

const RegionAttentionVariant kVariants[] = {RegionAttentionVariant::kStrict, RegionAttentionVariant::kStrictGlobal,
                                            RegionAttentionVariant::kBias};

// Label maps on an h x w grid, the shapes the op must handle.
enum class LabelKind { kOneRegion, kSingletons, kDominant, kGaps, kBlobs, kRandom };

std::vector<int32_t> make_labels(LabelKind kind, int h, int w, std::mt19937& rng, int32_t* num_regions) {
  const int n = h * w;
  std::vector<int32_t> lab((size_t)n, 0);
  switch (kind) {
    case LabelKind::kOneRegion:
      *num_regions = 1;
      break;
    case LabelKind::kSingletons: {  // every token its own region, ids shuffled
      for (int i = 0; i < n; ++i) lab[(size_t)i] = i;
      std::shuffle(lab.begin(), lab.end(), rng);
      *num_regions = n;
      break;
    }
    case LabelKind::kDominant: {  // ~90% in region 0, the rest in many tiny regions
      const int k = 1 + std::max(1, n / 20);
      std::uniform_int_distribution<int> tiny(1, k - 1);
      std::uniform_real_distribution<float> u(0.f, 1.f);
      for (int i = 0; i < n; ++i) lab[(size_t)i] = u(rng) < 0.9f ? 0 : tiny(rng);
      *num_regions = k;
      break;
    }
    case LabelKind::kGaps: {  // only even ids used, K well above the ids present
      std::uniform_int_distribution<int> d(0, 4);
      for (int i = 0; i < n; ++i) lab[(size_t)i] = 2 * d(rng);
      *num_regions = 13;
      break;
    }
    case LabelKind::kBlobs: {  // Voronoi cells of random seeds: coherent regions of mixed size
      const int k = 2 + (int)(rng() % 7u);
      std::vector<std::pair<int, int>> seeds;
      for (int s = 0; s < k; ++s) seeds.emplace_back((int)(rng() % (unsigned)h), (int)(rng() % (unsigned)w));
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
          int best = 0, bd = 1 << 30;
          for (int s = 0; s < k; ++s) {
            const int dy = y - seeds[(size_t)s].first, dx = x - seeds[(size_t)s].second;
            if (dy * dy + dx * dx < bd) bd = dy * dy + dx * dx, best = s;
          }
          lab[(size_t)(y * w + x)] = best;
        }
      *num_regions = k;
      break;
    }
    case LabelKind::kRandom: {
      const int k = 1 + (int)(rng() % 6u);
      std::uniform_int_distribution<int> d(0, k - 1);
      for (int i = 0; i < n; ++i) lab[(size_t)i] = d(rng);
      *num_regions = k;
      break;
    }
  }
  return lab;
}

// One problem: packed qkv [N, 3 * dim] and its labels.
struct Case {
  int n = 0, heads = 0, dh = 0;
  int32_t k = 0;
  std::vector<int32_t> labels;
  std::vector<float> qkv;
  std::vector<float> betas;
  int64_t dim() const { return (int64_t)heads * dh; }
};

Case make_case(LabelKind kind, int h, int w, int heads, int dh, std::mt19937& rng, float amp = 1.0f) {
  Case c;
  c.n = h * w;
  c.heads = heads;
  c.dh = dh;
  c.labels = make_labels(kind, h, w, rng, &c.k);
  std::normal_distribution<float> nd(0.f, amp);
  c.qkv.resize((size_t)c.n * 3 * c.dim());
  for (float& x : c.qkv) x = nd(rng);
  std::uniform_real_distribution<float> ub(0.5f, 4.f);
  for (int i = 0; i < heads; ++i) c.betas.push_back(ub(rng));
  return c;
}

RegionAttentionParams params_for(const Case& c, RegionAttentionVariant v) {
  RegionAttentionParams p;
  p.num_heads = c.heads;
  p.head_dim = c.dh;
  p.variant = v;
  p.bias_betas = c.betas.data();
  return p;
}

using Form = Status (*)(const RegionAttentionArgs&, const RegionAttentionParams&);
Status run_fast(const RegionAttentionArgs& a, const RegionAttentionParams& p) { return ops::region_attention(a, p); }
Status run_dense(const RegionAttentionArgs& a, const RegionAttentionParams& p) {
  return ops::region_attention_masked_dense(a, p);
}
Status run_ref(const RegionAttentionArgs& a, const RegionAttentionParams& p) { return ops::region_attention_ref(a, p); }

// Runs one form with an output row stride of ldo (>= dim) and returns the
// [N, dim] result.
std::vector<float> run(Form f, const Case& c, RegionAttentionVariant v, int64_t ldo_extra = 0) {
  const int64_t ldo = c.dim() + ldo_extra;
  std::vector<float> out((size_t)(c.n * ldo), std::nanf(""));
  RegionAttentionArgs a = ops::region_attention_args_packed(c.qkv.data(), c.n, c.dim(), c.labels.data(), c.k, out.data());
  a.ldo = ldo;
  const RegionAttentionParams p = params_for(c, v);
  const Status st = f(a, p);
  REQUIRE_MESSAGE(st.ok(), (st.to_string()));
  std::vector<float> dense((size_t)(c.n * c.dim()));
  for (int i = 0; i < c.n; ++i)
    std::memcpy(&dense[(size_t)(i * c.dim())], &out[(size_t)(i * ldo)], (size_t)c.dim() * sizeof(float));
  return dense;
}

float max_abs_v(const Case& c) {
  float m = 0.f;
  for (int i = 0; i < c.n; ++i)
    for (int64_t t = 0; t < c.dim(); ++t) m = std::max(m, std::fabs(c.qkv[(size_t)(i * 3 * c.dim() + 2 * c.dim() + t)]));
  return m;
}

// max |a - b| / max |v|, and NaN-aware (a NaN anywhere fails).
float rel_err(const std::vector<float>& a, const std::vector<float>& b, float scale) {
  REQUIRE(a.size() == b.size());
  float e = 0.f;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return INFINITY;
    e = std::max(e, std::fabs(a[i] - b[i]));
  }
  return e / scale;
}

const char* kind_name(LabelKind k) {
  switch (k) {
    case LabelKind::kOneRegion: return "one-region";
    case LabelKind::kSingletons: return "singletons";
    case LabelKind::kDominant: return "dominant-90%";
    case LabelKind::kGaps: return "label-gaps";
    case LabelKind::kBlobs: return "blobs";
    case LabelKind::kRandom: return "random";
  }
  return "?";
}

}  // namespace

TEST_CASE("region_attention: fast == masked dense == reference on random label maps") {
  std::mt19937 rng(1234);
  const LabelKind kinds[] = {LabelKind::kOneRegion, LabelKind::kSingletons, LabelKind::kDominant,
                             LabelKind::kGaps,      LabelKind::kBlobs,      LabelKind::kRandom};
  // (h, w, heads, head_dim): odd grids and odd head sizes, plus one block-crossing size.
  const int shapes[][4] = {{1, 1, 1, 7}, {3, 5, 2, 7}, {7, 9, 1, 13}, {5, 13, 3, 33}, {11, 12, 2, 32}, {9, 17, 1, 8}};
  int checked = 0;
  for (const auto& s : shapes)
    for (LabelKind kind : kinds) {
      const Case c = make_case(kind, s[0], s[1], s[2], s[3], rng);
      const float vmax = max_abs_v(c);
      for (RegionAttentionVariant v : kVariants) {
        const std::string kind_str = kind_name(kind), variant_str = ops::region_attention_variant_name(v);
        CAPTURE(kind_str);
        CAPTURE(variant_str);
        CAPTURE(c.n);
        CAPTURE(c.dh);
        const auto ref = run(run_ref, c, v);
        const auto fast = run(run_fast, c, v, 3);
        const auto dense = run(run_dense, c, v, 0);
        CHECK(rel_err(fast, ref, vmax) <= 1e-5f);
        CHECK(rel_err(dense, ref, vmax) <= 1e-5f);
        ++checked;
      }
    }
  CHECK(checked == 6 * 6 * 3);
}

TEST_CASE("region_attention: large scores stay finite and accurate") {
  std::mt19937 rng(99);
  for (RegionAttentionVariant v : kVariants) {
    const Case c = make_case(LabelKind::kBlobs, 9, 10, 2, 16, rng, 12.0f);  // scores up to ~1e3
    const float vmax = max_abs_v(c);
    const auto ref = run(run_ref, c, v);
    CHECK(rel_err(run(run_fast, c, v), ref, vmax) <= 1e-5f);
    CHECK(rel_err(run(run_dense, c, v), ref, vmax) <= 1e-5f);
  }
}

TEST_CASE("region_attention: fast form is bit-identical across thread counts") {
  std::mt19937 rng(7);
  const Case c = make_case(LabelKind::kDominant, 23, 19, 3, 13, rng);  // 437 tokens, blocks of 64 split
  const Case s = make_case(LabelKind::kBlobs, 16, 16, 2, 32, rng);
  for (const Case* cs : {&c, &s})
    for (RegionAttentionVariant v : kVariants) {
      std::vector<std::vector<float>> outs;
      for (int t : {1, 2, 3}) {
        set_num_threads(t);
        outs.push_back(run(run_fast, *cs, v));
        outs.push_back(run(run_fast, *cs, v));  // and run to run
      }
      set_num_threads(0);
      for (size_t i = 1; i < outs.size(); ++i)
        CHECK(std::memcmp(outs[0].data(), outs[i].data(), outs[0].size() * sizeof(float)) == 0);
    }
}

TEST_CASE("region_attention: properties that need no oracle") {
  std::mt19937 rng(5);
  // All singletons, strict: each token attends only to itself, so out == v exactly.
  {
    const Case c = make_case(LabelKind::kSingletons, 6, 7, 2, 9, rng);
    for (Form f : {run_fast, run_dense, run_ref}) {
      const auto out = run(f, c, RegionAttentionVariant::kStrict);
      bool same = true;
      for (int i = 0; i < c.n; ++i)
        for (int64_t t = 0; t < c.dim(); ++t)
          same = same && out[(size_t)(i * c.dim() + t)] == c.qkv[(size_t)(i * 3 * c.dim() + 2 * c.dim() + t)];
      CHECK(same);
    }
  }
  // One region: strict, bias (no cross-region pairs) and strict+global (the one
  // summary only adds the mean key/value) -- strict and bias agree to rounding.
  {
    const Case c = make_case(LabelKind::kOneRegion, 8, 9, 2, 16, rng);
    const float vmax = max_abs_v(c);
    CHECK(rel_err(run(run_fast, c, RegionAttentionVariant::kStrict), run(run_fast, c, RegionAttentionVariant::kBias),
                  vmax) <= 1e-5f);
  }
  // Bias with beta = 0 is plain attention, the same as strict on one region.
  {
    Case c = make_case(LabelKind::kRandom, 7, 8, 2, 12, rng);
    Case one = c;
    std::fill(one.labels.begin(), one.labels.end(), 0);
    one.k = 1;
    std::fill(c.betas.begin(), c.betas.end(), 0.0f);
    CHECK(rel_err(run(run_fast, c, RegionAttentionVariant::kBias), run(run_ref, one, RegionAttentionVariant::kStrict),
                  max_abs_v(c)) <= 1e-5f);
  }
  // A scalar beta (no per-head array) and an explicit scale are honoured.
  {
    const Case c = make_case(LabelKind::kBlobs, 6, 6, 2, 8, rng);
    std::vector<float> o1((size_t)(c.n * c.dim())), o2(o1.size());
    RegionAttentionArgs a = ops::region_attention_args_packed(c.qkv.data(), c.n, c.dim(), c.labels.data(), c.k, o1.data());
    RegionAttentionParams p = params_for(c, RegionAttentionVariant::kBias);
    p.bias_betas = nullptr;
    p.bias_beta = 2.5f;
    p.scale = 0.3f;
    REQUIRE(ops::region_attention(a, p).ok());
    a.out = o2.data();
    REQUIRE(ops::region_attention_ref(a, p).ok());
    CHECK(rel_err(o1, o2, max_abs_v(c)) <= 1e-5f);
  }
}

TEST_CASE("region_attention: empty label ids give finite outputs") {
  std::mt19937 rng(11);
  const Case c = make_case(LabelKind::kGaps, 10, 10, 2, 8, rng);  // ids 1,3,5,... and 9..12 unused
  for (RegionAttentionVariant v : kVariants)
    for (Form f : {run_fast, run_dense, run_ref}) {
      const auto out = run(f, c, v);
      CHECK(std::all_of(out.begin(), out.end(), [](float x) { return std::isfinite(x); }));
    }
}

TEST_CASE("region_attention: bad input returns a clear error from every form") {
  std::mt19937 rng(3);
  Case c = make_case(LabelKind::kRandom, 4, 5, 2, 4, rng);
  std::vector<float> out((size_t)(c.n * c.dim()));
  for (Form f : {run_fast, run_dense, run_ref}) {
    RegionAttentionArgs a = ops::region_attention_args_packed(c.qkv.data(), c.n, c.dim(), c.labels.data(), c.k, out.data());
    RegionAttentionParams p = params_for(c, RegionAttentionVariant::kStrict);

    std::vector<int32_t> bad = c.labels;
    bad[7] = c.k + 2;
    a.labels = bad.data();
    Status st = f(a, p);
    CHECK(st.code() == ErrorCode::kInvalidArgument);
    CHECK(st.message().find("labels[7] = " + std::to_string(c.k + 2)) != std::string::npos);
    bad[7] = c.labels[7];
    bad[3] = -1;
    st = f(a, p);
    CHECK(st.code() == ErrorCode::kInvalidArgument);
    CHECK(st.message().find("labels[3] = -1") != std::string::npos);
    a.labels = c.labels.data();

    a.n_labels = c.n - 1;
    st = f(a, p);
    CHECK(st.code() == ErrorCode::kInvalidArgument);
    CHECK(st.message().find("labels for") != std::string::npos);
    a.n_labels = c.n;

    a.n_tokens = a.n_labels = 0;
    CHECK(f(a, p).code() == ErrorCode::kEmptyInput);
    a.n_tokens = a.n_labels = c.n;

    a.num_regions = 0;
    CHECK(f(a, p).code() == ErrorCode::kInvalidArgument);
    a.num_regions = c.k;

    a.ldq = c.dim() - 1;
    CHECK(f(a, p).code() == ErrorCode::kInvalidArgument);
    a.ldq = 3 * c.dim();

    a.v = nullptr;
    CHECK(f(a, p).code() == ErrorCode::kInvalidArgument);
    a.v = c.qkv.data() + 2 * c.dim();

    p.head_dim = 0;
    CHECK(f(a, p).code() == ErrorCode::kInvalidArgument);
    p.head_dim = c.dh;

    std::vector<float> qkv_copy = c.qkv;  // output into the v columns of the packed qkv: rejected
    a.v = qkv_copy.data() + 2 * c.dim();
    a.out = qkv_copy.data() + 2 * c.dim();
    a.ldo = 3 * c.dim();
    st = f(a, p);
    CHECK(st.code() == ErrorCode::kInvalidArgument);
    CHECK(st.message().find("out overlaps") != std::string::npos);
    a.v = c.qkv.data() + 2 * c.dim();
    a.out = out.data();
    a.ldo = c.dim();

    p.variant = RegionAttentionVariant::kBias;
    p.bias_betas = nullptr;
    p.bias_beta = std::nanf("");
    CHECK(f(a, p).code() == ErrorCode::kInvalidArgument);
    p.bias_beta = 1.0f;
    CHECK(f(a, p).ok());
  }
  CHECK(ops::parse_region_attention_variant("strict+global").value() == RegionAttentionVariant::kStrictGlobal);
  CHECK(ops::parse_region_attention_variant("bias").value() == RegionAttentionVariant::kBias);
  CHECK(ops::parse_region_attention_variant("soft").status().code() == ErrorCode::kInvalidArgument);
}

// The block kernel: AVX-512 (when the CPU has it) and the GEMM-based generic
// path against the scalar reference, on odd shapes, two key ranges, and
// additive masks with -inf and finite penalties.
TEST_CASE("rsa_block_f32: SIMD and generic paths match the reference") {
  std::mt19937 rng(321);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  const int64_t shapes[][4] = {{1, 1, 0, 7},  {3, 17, 5, 13}, {14, 32, 0, 32}, {15, 33, 3, 33},
                               {29, 70, 16, 40}, {56, 200, 0, 32}, {8, 16, 1, 16}, {27, 9, 2, 64}};
  for (const auto& sh : shapes)
    for (int mode = 0; mode < 3; ++mode) {  // 0: no mask, 1: 0/-inf mask, 2: 0/-1 mask scaled by beta
      const int64_t rows = sh[0], na = sh[1], nb = sh[2], dh = sh[3], nk = na + nb;
      CAPTURE(rows);
      CAPTURE(na);
      CAPTURE(nb);
      CAPTURE(dh);
      CAPTURE(mode);
      const int64_t ldq = dh + 3, ldkt_a = na + 5, ldkt_b = nb + 1, ldv = dh + 2, lds = nk + 7, ldo = dh + 1;
      std::vector<float> q((size_t)(rows * ldq)), kta((size_t)(dh * ldkt_a)), ktb((size_t)(dh * ldkt_b) + 1),
          va((size_t)(na * ldv)), vb((size_t)(nb * ldv) + 1), add((size_t)(rows * nk) + 1);
      for (auto* vec : {&q, &kta, &ktb, &va, &vb})
        for (float& x : *vec) x = nd(rng);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < nk; ++j) {
          const bool open = j == r % nk || u(rng) < 0.5f;  // every row keeps one open key
          add[(size_t)(r * nk + j)] = open ? 0.0f : (mode == 1 ? -INFINITY : -1.0f);
        }
      kernels::RsaBlockArgs p;
      p.rows = rows;
      p.dh = dh;
      p.scale = 0.37f;
      p.q = q.data();
      p.ldq = ldq;
      p.a = kernels::RsaKeyBlock{na, kta.data(), ldkt_a, va.data(), ldv};
      p.b = kernels::RsaKeyBlock{nb, ktb.data(), ldkt_b, vb.data(), ldv};
      p.add = mode ? add.data() : nullptr;
      p.ld_add = nk;
      p.add_scale = mode == 2 ? 2.5f : 1.0f;
      p.lds = lds;
      std::vector<float> s((size_t)(rows * lds)), o_ref((size_t)(rows * ldo), 0.f), o_gen(o_ref), o_simd(o_ref);
      p.s = s.data();
      p.ldo = ldo;
      p.o = o_ref.data();
      kernels::rsa_block_f32_ref(p);
      p.o = o_gen.data();
      kernels::rsa_block_f32_generic(p);
      CHECK(rel_err(o_gen, o_ref, 1.0f) <= 2e-5f);
#if RSFIQA_X86_SIMD
      if (cpu_best_isa() == Isa::kAvx512) {
        p.o = o_simd.data();
        kernels::rsa_block_f32_avx512(p);
        CHECK(rel_err(o_simd, o_ref, 1.0f) <= 2e-5f);
      }
#endif
    }
}

#if RSFIQA_X86_SIMD
// The kernel's exp for softmax arguments (x <= 0): ~1 ulp against std::exp,
// and exactly 0 far below the float range and at -inf.
TEST_CASE("rsa_exp_nonpos_ps: accurate on x <= 0, exact zero below the range") {
  if (cpu_best_isa() != Isa::kAvx512) return;
  float worst = 0.f;
  for (int i = 0; i < 20000; ++i) {
    float x[16], y[16];
    for (int l = 0; l < 16; ++l) x[l] = -87.0f * (float)(i * 16 + l) / (20000.0f * 16.0f);
    kernels::avx512::rsa_exp_nonpos_f32(16, x, y);
    for (int l = 0; l < 16; ++l) {
      const double e = std::exp((double)x[l]);
      worst = std::max(worst, (float)(std::fabs(y[l] - e) / e));
    }
  }
  CHECK(worst < 3e-7f);
  float x[16], y[16];
  for (int l = 0; l < 16; ++l) x[l] = l == 0 ? -INFINITY : -104.0f - 10.0f * (float)l;
  kernels::avx512::rsa_exp_nonpos_f32(16, x, y);
  for (int l = 0; l < 16; ++l) CHECK(y[l] == 0.0f);
}
#endif

TEST_CASE("region_attention: every ISA level agrees with the reference") {
  std::mt19937 rng(77);
  const Case c = make_case(LabelKind::kBlobs, 13, 11, 2, 33, rng);
  const float vmax = max_abs_v(c);
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    set_isa_cap(isa);
    const std::string name = kernels::rsa_block_f32_kernel_name();
    CAPTURE(name);
    for (RegionAttentionVariant v : kVariants) {
      const auto ref = run(run_ref, c, v);
      CHECK(rel_err(run(run_fast, c, v), ref, vmax) <= 1e-5f);
      CHECK(rel_err(run(run_dense, c, v), ref, vmax) <= 1e-5f);
    }
  }
  clear_isa_cap();
}

// Golden files written by tools/golden/make_rsa_golden.py (format in its
// header): PyTorch computes softmax(q kᵀ * scale + mask) v per head.
TEST_CASE("region_attention: matches PyTorch goldens") {
  const char* names[] = {"strict", "strict_global", "bias"};
  for (const char* name : names) {
    const std::string variant_name = name;
    CAPTURE(variant_name);
    const std::string path = std::string(RSFIQA_TEST_DATA_DIR) + "/golden/rsa/" + name + ".bin";
    std::ifstream f(path, std::ios::binary);
    REQUIRE_MESSAGE(f.good(), (std::string("missing golden file ") + path));
    char magic[4];
    int32_t hdr[6];  // version, N, heads, head_dim, num_regions, variant
    f.read(magic, 4);
    f.read(reinterpret_cast<char*>(hdr), sizeof(hdr));
    REQUIRE(std::memcmp(magic, "RSAG", 4) == 0);
    REQUIRE(hdr[0] == 1);
    Case c;
    c.n = hdr[1];
    c.heads = hdr[2];
    c.dh = hdr[3];
    c.k = hdr[4];
    const auto variant = (RegionAttentionVariant)hdr[5];
    float scale = 0;
    f.read(reinterpret_cast<char*>(&scale), 4);
    c.betas.resize((size_t)c.heads);
    c.labels.resize((size_t)c.n);
    c.qkv.resize((size_t)(c.n * 3 * c.dim()));
    std::vector<float> expect((size_t)(c.n * c.dim()));
    f.read(reinterpret_cast<char*>(c.betas.data()), (std::streamsize)(c.betas.size() * 4));
    f.read(reinterpret_cast<char*>(c.labels.data()), (std::streamsize)(c.labels.size() * 4));
    f.read(reinterpret_cast<char*>(c.qkv.data()), (std::streamsize)(c.qkv.size() * 4));
    f.read(reinterpret_cast<char*>(expect.data()), (std::streamsize)(expect.size() * 4));
    REQUIRE(f.good());
    CHECK(f.peek() == EOF);
    CHECK(std::string(ops::region_attention_variant_name(variant)) ==
          (std::string(name) == "strict_global" ? "strict+global" : name));
    CHECK(std::fabs(scale - 1.0f / std::sqrt((float)c.dh)) < 1e-7f);  // the op's default scale
    const float vmax = max_abs_v(c);
    // Absolute 1e-5 (outputs are O(1) here), and relative to max|v| as elsewhere.
    for (Form form : {run_fast, run_dense, run_ref}) {
      const auto got = run(form, c, variant);
      CHECK(rel_err(got, expect, 1.0f) <= 1e-5f);
      CHECK(rel_err(got, expect, vmax) <= 1e-5f);
    }
  }
}

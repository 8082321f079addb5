// SPDX-License-Identifier: MIT
// Tests for kernels/quant_gemm.hpp: the Q8_0/Q4_0 register tiles (1..4
// activation rows x 4 weight rows, with and without prefetch) against their
// scalar reference at every ISA level this CPU offers, on odd block counts
// and extreme values; mul_mat_multi against separate products and across
// thread counts on odd shapes; the SIMD Q8_0 quantizer bit for bit against
// the reference (including ties, NaN and infinities); the packed x8 tiles
// (Q8_0, Q4_0, Q5_0, Q5_1 weights) and their activation packer, also inside
// mul_mat_multi with jobs of different level offsets sharing one input;
// the Q4_K and Q6_K x8 tiles and their Q8_K packer (bit for bit against
// the row dots, extreme levels, scales and mins, a Q4_K and a Q6_K job
// sharing one packed input in mul_mat_multi); the f16 axpy and the
// attention helpers.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "rsfiqa/core/cpu.hpp"
#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/core/tensor.hpp"
#include "rsfiqa/kernels/quant.hpp"
#include "rsfiqa/kernels/quant_dot.hpp"
#include "rsfiqa/kernels/quant_gemm.hpp"

using namespace rsfiqa;
using namespace rsfiqa::kernels;

namespace {

std::vector<float> random_row(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v((size_t)n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Error bound for a Q5_1 x8 tile result against the reference dot: both
// compute, per block, d·d_a·Σ q·a + m·d_a·Σ a from exact integer sums with
// at most 4 float roundings, then add the block into a running sum of nb
// terms; each rounding errs by at most 2^-24 of a value bounded by
// T = Σ_blocks (|Σ q·a·d·d_a| + |Σ a·m·d_a|), so each side is within
// (nb + 4)·2^-24·T of the exact value (first order), and the two within twice that.
float q5_1_tolerance(int64_t K, const BlockQ5_1* w, const BlockQ8_0* a) {
  double T = 0.0;
  for (int64_t i = 0; i < K / 32; ++i) {
    uint8_t L[32];
    quant_detail::q5_levels(w[i].qs, w[i].qh, L);
    int64_t qa = 0, sa = 0;
    for (int e = 0; e < 32; ++e) {
      qa += L[e] * a[i].qs[e];
      sa += a[i].qs[e];
    }
    const double da = f16_to_f32(a[i].d);
    T += std::fabs((double)qa * f16_to_f32(w[i].d) * da) + std::fabs((double)sa * f16_to_f32(w[i].m) * da);
  }
  return (float)(2.0 * (double)(K / 32 + 4) * std::ldexp(T, -24));
}

std::vector<Isa> isa_levels() {
  std::vector<Isa> v = {Isa::kScalar};
  if (cpu_best_isa() >= Isa::kAvx2) v.push_back(Isa::kAvx2);
  if (cpu_best_isa() >= Isa::kAvx512) v.push_back(Isa::kAvx512);
  return v;
}

}  // namespace

TEST_CASE("quantized tiles match the reference dots at every ISA level, odd block counts") {
  for (Isa isa : isa_levels()) {
    for (DType t : {DType::kQ8_0, DType::kQ4_0}) {
      for (int64_t nblk : {1, 3, 7, 28}) {
        for (int mr = 1; mr <= 4; ++mr) {
          for (bool pf : {false, true}) {
            CAPTURE(isa_name(isa));
            CAPTURE(dtype_name(t));
            CAPTURE(nblk);
            CAPTURE(mr);
            CAPTURE(pf);
            const int64_t K = 32 * nblk;
            const int64_t wrb = dtype_bytes(t, K);
            std::vector<uint8_t> W((size_t)(4 * wrb));
            std::vector<BlockQ8_0> A((size_t)(4 * nblk));
            const void* w[4];
            const void* a[4];
            for (int j = 0; j < 4; ++j) {
              const std::vector<float> x = random_row(K, 100 + (uint32_t)(j + 7 * nblk));
              REQUIRE(quantize_row_ref(t, x.data(), W.data() + j * wrb, K));
              w[j] = W.data() + j * wrb;
              const std::vector<float> y = random_row(K, 200 + (uint32_t)(j + 7 * nblk), 3.0f);
              quantize_row_q8_0_ref(y.data(), A.data() + j * nblk, K);
              a[j] = A.data() + j * nblk;
            }
            float got[16], want[16];
            const QTileFn f = qtile_fn(t, mr, isa, pf);
            REQUIRE((f != nullptr));
            f(K, w, a, got);
            (t == DType::kQ8_0 ? qtile_ref<4, false> : qtile_ref<4, true>)(K, w, a, want);
            for (int r = 0; r < mr; ++r)
              for (int j = 0; j < 4; ++j) CHECK(got[r * 4 + j] == doctest::Approx(want[r * 4 + j]).epsilon(1e-5).scale(10));
          }
        }
      }
    }
  }
  CHECK((qtile_fn(DType::kQ4_K, 4, Isa::kScalar) == nullptr));
  CHECK((qtile_fn(DType::kQ8_0, 5, Isa::kScalar) == nullptr));
}

TEST_CASE("quantized tiles on extreme values: -128/127 weights and activations, all-15 nibbles") {
  // Integer sums at the edge of the byte ranges must stay exact (no
  // saturation in maddubs, no wrap in the a+128 offset trick).
  const int64_t nblk = 5, K = 32 * nblk;
  std::vector<BlockQ8_0> w8((size_t)(4 * nblk));
  std::vector<BlockQ4_0> w4((size_t)(4 * nblk));
  std::vector<BlockQ8_0> act((size_t)(4 * nblk));
  for (int j = 0; j < 4; ++j)
    for (int64_t i = 0; i < nblk; ++i) {
      BlockQ8_0& b8 = w8[(size_t)(j * nblk + i)];
      BlockQ4_0& b4 = w4[(size_t)(j * nblk + i)];
      BlockQ8_0& ba = act[(size_t)(j * nblk + i)];
      b8.d = b4.d = ba.d = f32_to_f16(0.25f);
      for (int e = 0; e < 32; ++e) {
        b8.qs[e] = (int8_t)((e + j) % 2 ? 127 : -128);
        ba.qs[e] = (int8_t)((e + i) % 3 ? -127 : 127);
      }
      for (int e = 0; e < 16; ++e) b4.qs[e] = (uint8_t)(j % 2 ? 0xFF : (e % 2 ? 0x0F : 0xF0));
    }
  for (Isa isa : isa_levels()) {
    CAPTURE(isa_name(isa));
    for (int mr = 1; mr <= 4; ++mr) {
      const void* w8p[4] = {&w8[0], &w8[(size_t)nblk], &w8[(size_t)(2 * nblk)], &w8[(size_t)(3 * nblk)]};
      const void* w4p[4] = {&w4[0], &w4[(size_t)nblk], &w4[(size_t)(2 * nblk)], &w4[(size_t)(3 * nblk)]};
      const void* ap[4] = {&act[0], &act[(size_t)nblk], &act[(size_t)(2 * nblk)], &act[(size_t)(3 * nblk)]};
      float got[16], want[16];
      qtile_fn(DType::kQ8_0, mr, isa)(K, w8p, ap, got);
      qtile_ref<4, false>(K, w8p, ap, want);
      for (int k = 0; k < mr * 4; ++k) CHECK(got[k] == want[k]);  // exact: integers times a power of two
      qtile_fn(DType::kQ4_0, mr, isa)(K, w4p, ap, got);
      qtile_ref<4, true>(K, w4p, ap, want);
      for (int k = 0; k < mr * 4; ++k) CHECK(got[k] == want[k]);
    }
  }
}

TEST_CASE("mul_mat_multi equals separate products and is thread-count independent on odd shapes") {
  // Jobs of different types and widths in one region; N not a multiple of
  // the 4-row groups or 16-row tiles, M covering the 4-row tiles and a rest.
  // `share`: the job whose activation input this one reads (-1: its own),
  // so a Q4_K and a Q6_K job share one packing of their Q8_K rows on VNNI
  // CPUs (mul_mat_multi takes at most 8 jobs).
  struct Spec {
    DType t;
    int64_t N, K;
    int share;
  };
  const Spec specs[] = {{DType::kQ8_0, 37, 96, -1},  {DType::kQ4_0, 21, 96, -1}, {DType::kQ4_K, 5, 256, -1},
                        {DType::kF16, 9, 96, -1},    {DType::kQ5_0, 23, 160, -1}, {DType::kQ5_1, 6, 64, -1},
                        {DType::kQ4_K, 18, 768, -1}, {DType::kQ6_K, 7, 768, 6}};
  constexpr size_t kJobs = sizeof(specs) / sizeof(specs[0]);
  for (int64_t M : {1, 3, 7, 8, 19, 45}) {  // 8, 19, 45: the packed x8 tiles on VNNI CPUs
    CAPTURE(M);
    std::vector<std::vector<uint8_t>> Ws, As;
    std::vector<std::vector<float>> y1, y2, ysep;
    std::vector<MatMulJob> jobs;
    uint32_t seed = 300;
    for (const Spec& sp : specs) {
      const int64_t wrb = dtype_bytes(sp.t, sp.K);
      Ws.emplace_back((size_t)(wrb * sp.N));
      for (int64_t n = 0; n < sp.N; ++n) {
        const std::vector<float> x = random_row(sp.K, seed++);
        REQUIRE(quantize_row_ref(sp.t, x.data(), Ws.back().data() + n * wrb, sp.K));
      }
      const ActFormat af = act_format(sp.t);
      const int64_t arb = act_row_bytes(af, sp.K);
      As.emplace_back((size_t)(arb * M));
      for (int64_t m = 0; m < M; ++m) {
        const std::vector<float> x = random_row(sp.K, seed++);
        quantize_act_row(af, x.data(), As.back().data() + m * arb, sp.K);
      }
      if (sp.share >= 0) As.back() = As[(size_t)sp.share];
      y1.emplace_back((size_t)(M * sp.N));
      y2.emplace_back((size_t)(M * sp.N));
      ysep.emplace_back((size_t)(M * sp.N));
    }
    for (size_t i = 0; i < kJobs; ++i) {
      MatMulJob jb;
      jb.wt = specs[i].t;
      jb.W = Ws[i].data();
      jb.w_row_bytes = dtype_bytes(specs[i].t, specs[i].K);
      jb.N = specs[i].N;
      jb.K = specs[i].K;
      jb.act = specs[i].share >= 0 ? As[(size_t)specs[i].share].data() : As[i].data();
      jb.M = M;
      jb.y = y1[i].data();
      jb.ldy = specs[i].N;
      jobs.push_back(jb);
      REQUIRE(mul_mat_rows(jb.wt, jb.W, jb.w_row_bytes, jb.N, jb.K, jb.act, M, ysep[i].data(), jb.N, 1));
    }
    REQUIRE(mul_mat_multi(jobs.data(), (int)kJobs, 1));
    for (size_t i = 0; i < kJobs; ++i) jobs[i].y = y2[i].data();
    REQUIRE(mul_mat_multi(jobs.data(), (int)kJobs, 2));
    for (size_t i = 0; i < kJobs; ++i) {
      CAPTURE(dtype_name(specs[i].t));
      CHECK(std::memcmp(y1[i].data(), y2[i].data(), y1[i].size() * 4) == 0);
      CHECK(std::memcmp(y1[i].data(), ysep[i].data(), y1[i].size() * 4) == 0);
      // And the values are the reference dots.
      const RowDotFn ref = row_dot_fn(specs[i].t, Isa::kScalar);
      const int64_t wrb = jobs[i].w_row_bytes, arb = act_row_bytes(act_format(specs[i].t), specs[i].K);
      for (int64_t m = 0; m < M; ++m)
        for (int64_t n = 0; n < specs[i].N; ++n)
          CHECK(y1[i][(size_t)(m * specs[i].N + n)] ==
                doctest::Approx(ref(specs[i].K, Ws[i].data() + n * wrb, As[i].data() + m * arb)).epsilon(1e-4).scale(10));
    }
  }
  MatMulJob bad;
  bad.wt = DType::kQ4_1;  // a type without a dot kernel
  CHECK_FALSE(mul_mat_multi(&bad, 1));
  CHECK_FALSE(mul_mat_multi(&bad, 0));
}

TEST_CASE("x8 activation packing: the dispatched packer equals the reference byte for byte") {
  const int64_t nblk = 5, K = 32 * nblk;
  std::vector<BlockQ8_0> A((size_t)(8 * nblk));
  for (int r = 0; r < 8; ++r) {
    std::vector<float> y = random_row(K, 900 + (uint32_t)r, 3.0f);
    if (r == 2) y[7] = 1e3f;  // a block whose levels reach -127..127 and a tiny scale elsewhere
    quantize_row_q8_0_ref(y.data(), A.data() + r * nblk, K);
  }
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ5_0, DType::kQ5_1})
    for (int missing : {0, 3}) {  // the last `missing` rows absent (zero rows)
      CAPTURE(dtype_name(t));
      CAPTURE(missing);
      const BlockQ8_0* rows[8];
      for (int r = 0; r < 8; ++r) rows[r] = r < 8 - missing ? A.data() + r * nblk : nullptr;
      std::vector<BlockQ8_0x8> want((size_t)nblk), got((size_t)nblk);
      pack_act_x8(rows, nblk, t, want.data());
      pack_act_x8(rows, nblk, t, got.data(), active_isa());
      CHECK(std::memcmp(want.data(), got.data(), sizeof(BlockQ8_0x8) * (size_t)nblk) == 0);
      // Spot check of the layout: element 4m+c of row r at qs[32m + 4r + c],
      // corr = -(128, 8 or 16)·Σ a (16 for Q5_0 and Q5_1).
      int32_t sum = 0;
      for (int e = 0; e < 32; ++e) sum += A[(size_t)nblk].qs[e];  // row 1, block 0
      CHECK(want[0].qs[32 * 2 + 4 * 1 + 3] == A[(size_t)nblk].qs[11]);
      CHECK(want[0].corr[1] == (t == DType::kQ8_0 ? -128 : t == DType::kQ4_0 ? -8 : -16) * sum);
      CHECK(want[0].d[1] == f16_to_f32(A[(size_t)nblk].d));
    }
}

TEST_CASE("x8 tiles: packed reference equals the row dots, SIMD equals the packed reference") {
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ5_0, DType::kQ5_1}) {
    for (int64_t nblk : {1, 3, 7}) {
      for (int G : {1, 2, 3, 4}) {
        CAPTURE(dtype_name(t));
        CAPTURE(nblk);
        CAPTURE(G);
        const int64_t K = 32 * nblk, wrb = dtype_bytes(t, K);
        std::vector<uint8_t> W((size_t)(4 * wrb));
        const void* w[4];
        for (int j = 0; j < 4; ++j) {
          const std::vector<float> x = random_row(K, 700 + (uint32_t)(j + 11 * nblk));
          REQUIRE(quantize_row_ref(t, x.data(), W.data() + j * wrb, K));
          w[j] = W.data() + j * wrb;
        }
        // 8G activation rows; the last group has 3 missing (zero) rows.
        const int nrows = 8 * G - 3;
        std::vector<BlockQ8_0> A((size_t)(nrows * nblk));
        for (int r = 0; r < nrows; ++r) {
          const std::vector<float> y = random_row(K, 800 + (uint32_t)(r + 13 * nblk), 2.0f);
          quantize_row_q8_0_ref(y.data(), A.data() + r * nblk, K);
        }
        std::vector<BlockQ8_0x8> P((size_t)(G * nblk));
        for (int g = 0; g < G; ++g) {
          const BlockQ8_0* rows[8];
          for (int r = 0; r < 8; ++r) rows[r] = 8 * g + r < nrows ? A.data() + (8 * g + r) * nblk : nullptr;
          pack_act_x8(rows, nblk, t, P.data() + g * nblk);
        }
        const BlockQ8_0x8* a[4];
        for (int g = 0; g < 4; ++g) a[g] = P.data() + (g < G ? g : 0) * nblk;
        float ref[128], got[128];
        qtile_x8_fn(t, G, Isa::kScalar)(K, w, a, ref);
        for (int r = 0; r < 8 * G; ++r)
          for (int j = 0; j < 4; ++j) {
            // Same integer block sums and float order as the row dot: equal.
            const float want = r < nrows ? row_dot_fn(t, Isa::kScalar)(K, w[j], A.data() + r * nblk) : 0.0f;
            CHECK(ref[r * 4 + j] == want);
          }
        if (qtile_x8_available(active_isa())) {
          qtile_x8_fn(t, G, active_isa())(K, w, a, got);
          for (int r = 0; r < 8 * G; ++r)
            for (int j = 0; j < 4; ++j) {
              const int k = r * 4 + j;
              if (t != DType::kQ5_1) {
                CHECK(got[k] == doctest::Approx(ref[k]).epsilon(1e-5).scale(10));
              } else if (r >= nrows) {
                CHECK(got[k] == 0.0f);  // a zero row: every term is exactly 0
              } else {
                // Q5_1 sums two float terms per block in another order than
                // the reference, which may cancel: bound from the math.
                const float tol = q5_1_tolerance(K, (const BlockQ5_1*)w[j], A.data() + r * nblk);
                CHECK(std::fabs(got[k] - ref[k]) <= tol);
              }
            }
        }
      }
    }
  }
  CHECK((qtile_x8_fn(DType::kQ4_K, 1, Isa::kScalar) == nullptr));
  CHECK((qtile_x8_fn(DType::kQ4_1, 1, Isa::kScalar) == nullptr));
  CHECK((qtile_x8_fn(DType::kQ8_0, 5, Isa::kScalar) == nullptr));
}

TEST_CASE("x8 tiles on extreme values: every level at its ends, activations -128/127") {
  // The largest block sums (Q8_0 levels fed as 0/255, Q5_0/Q5_1 levels 0/31
  // with the qh bit set and clear) must stay exact in int32; with scales of
  // 0.25 and a Q5_1 offset of -4 every float product and sum here is exact,
  // so SIMD == reference.
  const int64_t nblk = 3, K = 32 * nblk;
  std::vector<BlockQ8_0> w8((size_t)(4 * nblk));
  std::vector<BlockQ4_0> w4((size_t)(4 * nblk));
  std::vector<BlockQ5_0> w5((size_t)(4 * nblk));
  std::vector<BlockQ5_1> w51((size_t)(4 * nblk));
  for (int j = 0; j < 4; ++j)
    for (int64_t i = 0; i < nblk; ++i) {
      const size_t k = (size_t)(j * nblk + i);
      w8[k].d = w4[k].d = w5[k].d = w51[k].d = f32_to_f16(0.25f);
      w51[k].m = f32_to_f16(-4.0f);
      uint8_t L[32];
      for (int e = 0; e < 32; ++e) {
        const bool top = (e + j + (int)i) % 2 == 0 || j == 3;  // row 3: all at the top level
        w8[k].qs[e] = (int8_t)(top ? 127 : -128);
        L[e] = (uint8_t)(top ? 31 : 0);
      }
      quant_detail::q5_pack(L, w5[k].qs, w5[k].qh);
      quant_detail::q5_pack(L, w51[k].qs, w51[k].qh);
      for (int e = 0; e < 16; ++e) w4[k].qs[e] = (uint8_t)(j == 3 ? 0xFF : (e % 2 ? 0x0F : 0xF0));
    }
  std::vector<BlockQ8_0> act((size_t)(8 * nblk));
  for (int r = 0; r < 8; ++r)
    for (int64_t i = 0; i < nblk; ++i) {
      BlockQ8_0& b = act[(size_t)(r * nblk + i)];
      b.d = f32_to_f16(0.25f);
      for (int e = 0; e < 32; ++e) b.qs[e] = (int8_t)(r % 2 ? -128 : ((e + r) % 3 ? 127 : -128));
    }
  const BlockQ8_0* rows[8];
  for (int r = 0; r < 8; ++r) rows[r] = act.data() + r * nblk;
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ5_0, DType::kQ5_1}) {
    CAPTURE(dtype_name(t));
    const void* base = t == DType::kQ8_0   ? (const void*)w8.data()
                       : t == DType::kQ4_0 ? (const void*)w4.data()
                       : t == DType::kQ5_0 ? (const void*)w5.data()
                                           : (const void*)w51.data();
    const int64_t wrb = dtype_bytes(t, K);
    const void* w[4];
    for (int j = 0; j < 4; ++j) w[j] = (const uint8_t*)base + j * wrb;
    std::vector<BlockQ8_0x8> P((size_t)nblk);
    pack_act_x8(rows, nblk, t, P.data(), active_isa());
    const BlockQ8_0x8* a[4] = {P.data(), P.data(), P.data(), P.data()};
    float ref[32], got[32];
    qtile_x8_fn(t, 1, Isa::kScalar)(K, w, a, ref);
    for (int r = 0; r < 8; ++r)
      for (int j = 0; j < 4; ++j) CHECK(ref[r * 4 + j] == row_dot_fn(t, Isa::kScalar)(K, w[j], rows[r]));
    if (qtile_x8_available(active_isa())) {
      qtile_x8_fn(t, 1, active_isa())(K, w, a, got);
      for (int k = 0; k < 32; ++k) CHECK(got[k] == ref[k]);
    }
  }
}

TEST_CASE("mul_mat_multi: x8 jobs of Q8_0, Q4_0, Q5_0 and Q5_1 weights sharing one activation input") {
  // The packed activations carry -offset·Σ a, which differs between Q8_0,
  // Q4_0 and Q5_x: each offset needs its own packing, while jobs with the
  // same offset (Q5_0 twice, Q5_1) share one. Compared with separate
  // products, across thread counts, and with the reference row dots.
  const int64_t K = 224, M = 19;
  const DType types[] = {DType::kQ5_0, DType::kQ4_0, DType::kQ5_0, DType::kQ8_0, DType::kQ5_1};
  const int64_t Ns[] = {13, 8, 5, 17, 9};
  constexpr int kJobs = 5;
  std::vector<BlockQ8_0> A((size_t)(M * K / 32));
  for (int64_t m = 0; m < M; ++m) {
    const std::vector<float> x = random_row(K, 1200 + (uint32_t)m, 2.0f);
    quantize_row_q8_0_ref(x.data(), A.data() + m * (K / 32), K);
  }
  std::vector<std::vector<uint8_t>> Ws(kJobs);
  std::vector<std::vector<float>> y1(kJobs), y2(kJobs), ysep(kJobs);
  std::vector<MatMulJob> jobs(kJobs);
  for (int i = 0; i < kJobs; ++i) {
    const int64_t wrb = dtype_bytes(types[i], K);
    Ws[(size_t)i].resize((size_t)(wrb * Ns[i]));
    for (int64_t n = 0; n < Ns[i]; ++n) {
      const std::vector<float> x = random_row(K, 1300 + (uint32_t)(40 * i + n));
      REQUIRE(quantize_row_ref(types[i], x.data(), Ws[(size_t)i].data() + n * wrb, K));
    }
    y1[(size_t)i].resize((size_t)(M * Ns[i]));
    y2[(size_t)i].resize((size_t)(M * Ns[i]));
    ysep[(size_t)i].resize((size_t)(M * Ns[i]));
    MatMulJob& jb = jobs[(size_t)i];
    jb.wt = types[i];
    jb.W = Ws[(size_t)i].data();
    jb.w_row_bytes = wrb;
    jb.N = Ns[i];
    jb.K = K;
    jb.act = A.data();
    jb.M = M;
    jb.y = y1[(size_t)i].data();
    jb.ldy = Ns[i];
    REQUIRE(mul_mat_rows(jb.wt, jb.W, wrb, jb.N, K, A.data(), M, ysep[(size_t)i].data(), jb.N, 1));
  }
  REQUIRE(mul_mat_multi(jobs.data(), kJobs, 1));
  for (int i = 0; i < kJobs; ++i) jobs[(size_t)i].y = y2[(size_t)i].data();
  REQUIRE(mul_mat_multi(jobs.data(), kJobs, 2));
  for (int i = 0; i < kJobs; ++i) {
    CAPTURE(i);
    CAPTURE(dtype_name(types[i]));
    const std::vector<float>& y = y1[(size_t)i];
    CHECK(std::memcmp(y.data(), y2[(size_t)i].data(), y.size() * 4) == 0);
    CHECK(std::memcmp(y.data(), ysep[(size_t)i].data(), y.size() * 4) == 0);
    const RowDotFn ref = row_dot_fn(types[i], Isa::kScalar);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < Ns[i]; ++n)
        CHECK(y[(size_t)(m * Ns[i] + n)] ==
              doctest::Approx(ref(K, Ws[(size_t)i].data() + n * jobs[(size_t)i].w_row_bytes, A.data() + m * (K / 32)))
                  .epsilon(1e-4)
                  .scale(10));
  }
}

namespace {

// n Q8_K rows of K elements from random floats (rows quantized by the
// reference quantizer, as the model does).
std::vector<BlockQ8_K> q8_k_rows(int n, int64_t K, uint32_t seed) {
  std::vector<BlockQ8_K> A((size_t)(n * (K / kQK_K)));
  for (int r = 0; r < n; ++r) {
    const std::vector<float> y = random_row(K, seed + (uint32_t)r, 2.0f);
    quantize_row_q8_K_ref(y.data(), A.data() + r * (K / kQK_K), K);
  }
  return A;
}

}  // namespace

TEST_CASE("Q4_K x8: the dispatched Q8_K packer equals the reference byte for byte") {
  const int64_t nblk = 3, K = kQK_K * nblk;
  std::vector<BlockQ8_K> A = q8_k_rows(8, K, 1500);
  for (int missing : {0, 3}) {  // the last `missing` rows absent (zero rows)
    CAPTURE(missing);
    const BlockQ8_K* rows[8];
    for (int r = 0; r < 8; ++r) rows[r] = r < 8 - missing ? A.data() + r * nblk : nullptr;
    std::vector<BlockQ8_Kx8> want((size_t)nblk), got((size_t)nblk);
    pack_act_q8_k_x8(rows, nblk, want.data());
    pack_act_q8_k_x8(rows, nblk, got.data(), active_isa());
    CHECK(std::memcmp(want.data(), got.data(), sizeof(BlockQ8_Kx8) * (size_t)nblk) == 0);
    // Layout spot checks: row 1, super-block 2, sub-block 5, element 4·3+2.
    const BlockQ8_K& b = A[(size_t)(nblk + 2)];
    CHECK(want[2].qs[256 * 5 + 32 * 3 + 4 * 1 + 2] == b.qs[32 * 5 + 14]);
    int32_t sum = 0;
    for (int e = 0; e < 32; ++e) sum += b.qs[32 * 5 + e];
    CHECK(want[2].bsum[2][1][1] == sum);
    // Σ a of elements 16·11 .. 16·11+15 (the Q6_K scale group 11) of row 1.
    int32_t sum16 = 0;
    for (int e = 0; e < 16; ++e) sum16 += b.qs[16 * 11 + e];
    CHECK(want[2].bsum16[5][1][1] == sum16);
    CHECK(want[2].d[1] == b.d);
    if (missing) {
      CHECK(want[0].d[7] == 0.0f);
      CHECK(want[0].bsum[3][7][1] == 0);
      CHECK(want[0].bsum16[7][7][1] == 0);
      CHECK(want[0].qs[256 * 7 + 32 * 7 + 4 * 7 + 3] == 0);
    }
  }
}

TEST_CASE("Q4_K and Q6_K x8 tiles: packed reference equals the row dots bit for bit, SIMD equals the packed reference") {
  for (DType t : {DType::kQ4_K, DType::kQ6_K})
  for (int64_t nblk : {1, 2, 3}) {
    for (int G : {1, 2, 3, 4}) {
      CAPTURE(t);
      CAPTURE(nblk);
      CAPTURE(G);
      const int64_t K = kQK_K * nblk, wrb = dtype_bytes(t, K);
      std::vector<uint8_t> W((size_t)(4 * wrb));
      const void* w[4];
      for (int j = 0; j < 4; ++j) {
        const std::vector<float> x = random_row(K, 1600 + (uint32_t)(j + 11 * nblk));
        if (t == DType::kQ4_K) {
          quantize_row_q4_K_ref(x.data(), (BlockQ4_K*)(W.data() + j * wrb), K);
        } else {
          quantize_row_q6_K_ref(x.data(), (BlockQ6_K*)(W.data() + j * wrb), K);
        }
        w[j] = W.data() + j * wrb;
      }
      // 8G activation rows; the last group has 3 missing (zero) rows.
      const int nrows = 8 * G - 3;
      std::vector<BlockQ8_K> A = q8_k_rows(nrows, K, 1700 + (uint32_t)(13 * nblk));
      std::vector<BlockQ8_Kx8> P((size_t)(G * nblk));
      for (int g = 0; g < G; ++g) {
        const BlockQ8_K* rows[8];
        for (int r = 0; r < 8; ++r) rows[r] = 8 * g + r < nrows ? A.data() + (8 * g + r) * nblk : nullptr;
        pack_act_q8_k_x8(rows, nblk, P.data() + g * nblk);
      }
      const BlockQ8_Kx8* a[4];
      for (int g = 0; g < 4; ++g) a[g] = P.data() + (g < G ? g : 0) * nblk;
      float ref[128], got[128];
      qtile_x8_k_fn(t, G, Isa::kScalar)(K, w, a, ref);
      for (int r = 0; r < 8 * G; ++r)
        for (int j = 0; j < 4; ++j) {
          // Same integer sums and the same float expression as the row dot.
          const BlockQ8_K* ar = A.data() + r * nblk;
          const float want = r >= nrows            ? 0.0f
                             : t == DType::kQ4_K ? vec_dot_q4_K_q8_K_ref(K, (const BlockQ4_K*)w[j], ar)
                                                 : vec_dot_q6_K_q8_K_ref(K, (const BlockQ6_K*)w[j], ar);
          CHECK(ref[r * 4 + j] == want);
        }
      if (qtile_x8_available(active_isa())) {
        qtile_x8_k_fn(t, G, active_isa())(K, w, a, got);
        for (int k = 0; k < 32 * G; ++k) CHECK(got[k] == ref[k]);
      }
    }
  }
  for (DType t : {DType::kQ4_K, DType::kQ6_K}) {
    CHECK((qtile_x8_k_fn(t, 0, Isa::kScalar) == nullptr));
    CHECK((qtile_x8_k_fn(t, 5, Isa::kScalar) == nullptr));
  }
  CHECK((qtile_x8_k_fn(DType::kQ5_0, 1, Isa::kScalar) == nullptr));
}

TEST_CASE("Q4_K and Q6_K x8 tiles on extreme values: Q4_K levels 0/15, scales and mins 0/63; Q6_K levels 0/63, "
          "scales -128/127; activations -128/127") {
  // The largest integer sums (8 sub-blocks x 63 x 32 x 15 x 128 in sumi)
  // must stay exact in int32; the packed reference must equal the row dot
  // and the SIMD tile the packed reference.
  const int64_t nblk = 2, K = kQK_K * nblk;
  std::vector<BlockQ4_K> W((size_t)(4 * nblk));
  for (int j = 0; j < 4; ++j)
    for (int64_t i = 0; i < nblk; ++i) {
      BlockQ4_K& b = W[(size_t)(j * nblk + i)];
      b.d = f32_to_f16(j == 2 ? 0.0f : 0.5f);
      b.dmin = f32_to_f16(j == 1 ? 0.0f : 0.25f);
      // Row 3: every 6-bit scale and min 63; others alternate 63 and 0.
      const bool top = j == 3;
      for (int k = 0; k < 12; ++k) b.scales[k] = (uint8_t)(top ? 0xFF : ((k + (int)i) % 2 ? 0xFF : 0x00));
      for (int e = 0; e < 128; ++e) b.qs[e] = (uint8_t)(top ? 0xFF : ((e + j) % 3 ? 0xF0 : 0x0F));
    }
  std::vector<BlockQ8_K> act((size_t)(8 * nblk));
  for (int r = 0; r < 8; ++r)
    for (int64_t i = 0; i < nblk; ++i) {
      BlockQ8_K& b = act[(size_t)(r * nblk + i)];
      b.d = r == 5 ? 1.0f : 0.125f;
      for (int e = 0; e < kQK_K; ++e) b.qs[e] = (int8_t)(r % 2 ? -128 : ((e + r) % 3 ? 127 : -128));
      for (int gq = 0; gq < kQK_K / 16; ++gq) {
        int sum = 0;
        for (int l = 0; l < 16; ++l) sum += b.qs[16 * gq + l];
        b.bsums[gq] = (int16_t)sum;
      }
    }
  const BlockQ8_K* rows[8];
  for (int r = 0; r < 8; ++r) rows[r] = act.data() + r * nblk;
  const void* w[4];
  for (int j = 0; j < 4; ++j) w[j] = W.data() + j * nblk;
  std::vector<BlockQ8_Kx8> P((size_t)nblk), Pref((size_t)nblk);
  pack_act_q8_k_x8(rows, nblk, P.data(), active_isa());
  pack_act_q8_k_x8(rows, nblk, Pref.data());
  CHECK(std::memcmp(P.data(), Pref.data(), sizeof(BlockQ8_Kx8) * (size_t)nblk) == 0);
  const BlockQ8_Kx8* a[4] = {P.data(), P.data(), P.data(), P.data()};
  float ref[32], got[32];
  qtile_x8_k_fn(DType::kQ4_K, 1, Isa::kScalar)(K, w, a, ref);
  for (int r = 0; r < 8; ++r)
    for (int j = 0; j < 4; ++j) CHECK(ref[r * 4 + j] == vec_dot_q4_K_q8_K_ref(K, W.data() + j * nblk, rows[r]));
  // Row 3 against the all -128 rows: every level 15, scale and min 63, so
  // per super-block sumi = 63·15·(-128)·256 and summ = 63·(-128)·256, exact
  // in int32 (and in float: multiples of a power of two below 2^24 · 2^k).
  const double sumi = 63.0 * 15 * -128 * 256, summ = 63.0 * -128 * 256;
  CHECK(ref[1 * 4 + 3] == (float)(nblk * 0.125 * (0.5 * sumi - 0.25 * summ)));
  if (qtile_x8_available(active_isa())) {
    qtile_x8_k_fn(DType::kQ4_K, 1, active_isa())(K, w, a, got);
    for (int k = 0; k < 32; ++k) CHECK(got[k] == ref[k]);
  }
  // Q6_K weights against the same packed rows. Row 3: every level 63 and
  // scale -128; row 2: every level 0 and scale 127; rows 0, 1 mix levels
  // 0/63 and scales -128/127 (|sumi| up to 16·128·16·32·128, exact in int32).
  std::vector<BlockQ6_K> W6((size_t)(4 * nblk));
  for (int j = 0; j < 4; ++j)
    for (int64_t i = 0; i < nblk; ++i) {
      BlockQ6_K& b = W6[(size_t)(j * nblk + i)];
      b.d = f32_to_f16(j == 1 ? 1.0f : 0.5f);
      for (int k = 0; k < 16; ++k)
        b.scales[k] = (int8_t)(j == 3 ? -128 : j == 2 ? 127 : ((k + j + (int)i) % 2 ? 127 : -128));
      for (int e = 0; e < 128; ++e) b.ql[e] = (uint8_t)(j == 3 ? 0xFF : j == 2 ? 0x00 : ((e + j) % 3 ? 0xF0 : 0x0F));
      for (int e = 0; e < 64; ++e) b.qh[e] = (uint8_t)(j == 3 ? 0xFF : j == 2 ? 0x00 : ((e + j) % 2 ? 0xCC : 0x33));
    }
  for (int j = 0; j < 4; ++j) w[j] = W6.data() + j * nblk;
  qtile_x8_k_fn(DType::kQ6_K, 1, Isa::kScalar)(K, w, a, ref);
  for (int r = 0; r < 8; ++r)
    for (int j = 0; j < 4; ++j) CHECK(ref[r * 4 + j] == vec_dot_q6_K_q8_K_ref(K, W6.data() + j * nblk, rows[r]));
  // Row 3 against the all -128 rows: per super-block sumi =
  // 16·(-128)·16·(63-32)·(-128) = 31·2^22, and d·d_a = 2^-4, all exact.
  const double sumi6 = 16.0 * -128 * 16 * 31 * -128;
  CHECK(ref[1 * 4 + 3] == (float)(nblk * 0.5 * 0.125 * sumi6));
  if (qtile_x8_available(active_isa())) {
    qtile_x8_k_fn(DType::kQ6_K, 1, active_isa())(K, w, a, got);
    for (int k = 0; k < 32; ++k) CHECK(got[k] == ref[k]);
  }
}

TEST_CASE("SIMD Q8_0 quantizer is bit-identical to the reference") {
  std::vector<float> x = random_row(32 * 9, 400, 2.5f);
  // Exact ties of x/d at ±k.5, zeros, NaN, infinities, a zero block.
  // Block 0: amax 127 makes d = 1/d = 1, so every x + 0.5 is an exact tie.
  x[0] = 127.0f;
  for (int e = 1; e < 32; ++e) x[(size_t)e] = (float)(e - 16) + 0.5f;
  x[40] = std::numeric_limits<float>::quiet_NaN();
  x[70] = std::numeric_limits<float>::infinity();
  x[71] = -std::numeric_limits<float>::infinity();
  for (int e = 96; e < 128; ++e) x[(size_t)e] = 0.0f;
  x[130] = 1e-30f;  // denormal-range scale
  for (Isa isa : isa_levels()) {
    CAPTURE(isa_name(isa));
    std::vector<BlockQ8_0> got(9), want(9);
    quantize_row_q8_0(x.data(), got.data(), (int64_t)x.size(), isa);
    quantize_row_q8_0_ref(x.data(), want.data(), (int64_t)x.size());
    CHECK(std::memcmp(got.data(), want.data(), sizeof(BlockQ8_0) * 9) == 0);
  }
  // Ties round away from zero: 2.5 -> 3, -2.5 -> -3 (element 19 and 13).
  std::vector<BlockQ8_0> q(9);
  quantize_row_q8_0(x.data(), q.data(), (int64_t)x.size(), active_isa());
  CHECK(q[0].qs[19] == 4);   // 3.5
  CHECK(q[0].qs[18] == 3);   // 2.5
  CHECK(q[0].qs[13] == -3);  // -2.5
}

TEST_CASE("f16 axpy matches the reference") {
  for (int64_t n : {1, 7, 8, 64, 67}) {
    CAPTURE(n);
    const std::vector<float> xf = random_row(n, 500 + (uint32_t)n);
    std::vector<uint16_t> x((size_t)n);
    for (int64_t i = 0; i < n; ++i) x[(size_t)i] = f32_to_f16(xf[(size_t)i]);
    std::vector<float> y1 = random_row(n, 600), y2 = y1;
    vec_axpy_f16(n, 0.37f, x.data(), y1.data());
    vec_axpy_f16_ref(n, 0.37f, x.data(), y2.data());
    for (int64_t i = 0; i < n; ++i) CHECK(y1[(size_t)i] == doctest::Approx(y2[(size_t)i]).epsilon(1e-6));
  }
}

TEST_CASE("attention helpers match the references (f32 and f16 caches, odd head sizes)") {
  for (bool f16 : {false, true}) {
    for (int64_t D : {8, 64, 67, 130}) {
      for (int64_t n : {1, 5, 33}) {
        CAPTURE(f16);
        CAPTURE(D);
        CAPTURE(n);
        const int64_t stride = 3 * D + 5;  // rows of several heads, head 1 used
        const std::vector<float> kvf = random_row(n * stride, 900 + (uint32_t)(D + n));
        std::vector<uint16_t> kvh(kvf.size());
        for (size_t i = 0; i < kvf.size(); ++i) kvh[i] = f32_to_f16(kvf[i]);
        const void* base = f16 ? (const void*)(kvh.data() + D) : (const void*)(kvf.data() + D);
        const std::vector<float> q = random_row(D, 950);
        std::vector<float> s1((size_t)n), s2((size_t)n);
        attn_scores(n, D, q.data(), base, stride, f16, 0.125f, s1.data());
        attn_scores_ref(n, D, q.data(), base, stride, f16, 0.125f, s2.data());
        for (int64_t j = 0; j < n; ++j) CHECK(s1[(size_t)j] == doctest::Approx(s2[(size_t)j]).epsilon(1e-5).scale(1));
        const std::vector<float> p = random_row(n, 960);
        std::vector<float> o1((size_t)D, 7.0f), o2((size_t)D, -3.0f);  // overwritten, not accumulated
        attn_wsum(n, D, p.data(), base, stride, f16, o1.data());
        attn_wsum_ref(n, D, p.data(), base, stride, f16, o2.data());
        for (int64_t d = 0; d < D; ++d) CHECK(o1[(size_t)d] == doctest::Approx(o2[(size_t)d]).epsilon(1e-5).scale(1));
      }
    }
  }
}

TEST_CASE("w8 Q4_0 mat-vec matches the reference dots (odd block counts, padded rows)") {
  for (int64_t nblk : {1, 3, 7, 28}) {
    CAPTURE(nblk);
    const int64_t K = 32 * nblk;
    const int64_t rb = dtype_bytes(DType::kQ4_0, K) + 18;  // rows further apart than their bytes
    std::vector<uint8_t> W((size_t)(8 * rb));
    for (int j = 0; j < 8; ++j) {
      const std::vector<float> x = random_row(K, 1000 + (uint32_t)(j + 17 * nblk));
      REQUIRE(quantize_row_ref(DType::kQ4_0, x.data(), W.data() + j * rb, K));
    }
    std::vector<BlockQ8_0> a((size_t)nblk);
    const std::vector<float> y = random_row(K, 1100 + (uint32_t)nblk, 2.0f);
    quantize_row_q8_0_ref(y.data(), a.data(), K);
    std::vector<int32_t> corr((size_t)nblk);
    q4_0_act_corr(a.data(), nblk, corr.data());
    float want[8], got[8];
    gemv8_q4_0_ref(K, W.data(), rb, a.data(), corr.data(), want);
    for (int j = 0; j < 8; ++j)
      CHECK(want[j] == vec_dot_q4_0_q8_0_ref(K, (const BlockQ4_0*)(W.data() + j * rb), a.data()));
    if (Gemv8Fn f = gemv8_q4_0_fn(active_isa())) {
      f(K, W.data(), rb, a.data(), corr.data(), got);
      for (int j = 0; j < 8; ++j) CHECK(got[j] == doctest::Approx(want[j]).epsilon(1e-5).scale(10));
    }
  }
}

// SPDX-License-Identifier: MIT
// Tests for kernels/gemm.hpp: every optimized path (AVX-512, AVX2, the
// tiny-M direct path, bf16 weights, the AVX512_BF16 dot-product GEMM,
// prepacked weights) against its scalar _ref twin on random shapes including
// odd sizes, both B layouts, bias / alpha / accumulate, padded strides, every
// ISA level this CPU offers, and 1/2/3 threads, which must agree bit for bit.
// The error bound is normalised by K * max|a| * max|b|, the scale of the
// largest possible rounding error.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "rsfiqa/core/cpu.hpp"
#include "rsfiqa/core/dtype.hpp"
#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/kernels/dispatch.hpp"
#include "rsfiqa/kernels/gemm.hpp"

using namespace rsfiqa;
using namespace rsfiqa::kernels;

namespace {

// Every ISA level this CPU supports, scalar first.
std::vector<Isa> isa_levels() {
  std::vector<Isa> v = {Isa::kScalar};
  if ((int)cpu_best_isa() >= (int)Isa::kAvx2 && gemm_path(Isa::kAvx2) == GemmPath::kAvx2) v.push_back(Isa::kAvx2);
  if (cpu_best_isa() == Isa::kAvx512) v.push_back(Isa::kAvx512);
  return v;
}

// Restores the ISA cap and thread count when a test case ends.
struct Restore {
  ~Restore() {
    clear_isa_cap();
    set_num_threads(0);
  }
};

struct Problem {
  int64_t M, N, K, lda, ldb, ldc;
  bool trans_b;
  std::vector<float> A, B, bias, C0;
  std::vector<uint16_t> Bh;
};

Problem make_problem(std::mt19937& rng, int64_t M, int64_t N, int64_t K, bool trans_b, bool padded) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::uniform_int_distribution<int> pad(1, 9);
  Problem pr;
  pr.M = M, pr.N = N, pr.K = K, pr.trans_b = trans_b;
  pr.lda = K + (padded ? pad(rng) : 0);
  pr.ldb = (trans_b ? K : N) + (padded ? pad(rng) : 0);
  pr.ldc = N + (padded ? pad(rng) : 0);
  const int64_t brows = trans_b ? N : K;
  pr.A.resize((size_t)(M * pr.lda));
  pr.B.resize((size_t)(brows * pr.ldb));
  pr.Bh.resize(pr.B.size());
  pr.bias.resize((size_t)N);
  pr.C0.resize((size_t)(M * pr.ldc));
  for (auto& x : pr.A) x = u(rng);
  for (size_t i = 0; i < pr.B.size(); ++i) {
    pr.Bh[i] = f32_to_bf16(u(rng));
    pr.B[i] = bf16_to_f32(pr.Bh[i]);  // the same values as the bf16 weights
  }
  for (auto& x : pr.bias) x = u(rng);
  for (auto& x : pr.C0) x = u(rng);
  return pr;
}

// Max |got - want| over the M x N block, divided by K * max|a| * max|b|
// (plus one so K = 0 and tiny K stay meaningful); the padding columns of C
// must keep their original values.
double normalised_error(const Problem& pr, const std::vector<float>& got, const std::vector<float>& want) {
  double amax = 0, bmax = 0, err = 0;
  for (float x : pr.A) amax = std::max(amax, (double)std::fabs(x));
  for (float x : pr.B) bmax = std::max(bmax, (double)std::fabs(x));
  for (int64_t m = 0; m < pr.M; ++m)
    for (int64_t n = 0; n < pr.ldc; ++n) {
      const size_t i = (size_t)(m * pr.ldc + n);
      if (n >= pr.N) {
        if (got[i] != pr.C0[i]) return 1e30;  // wrote past column N
        continue;
      }
      if (std::isnan(got[i])) return 1e30;
      err = std::max(err, std::fabs((double)got[i] - (double)want[i]));
    }
  return err / ((double)(pr.K + 1) * amax * bmax + 1e-30);
}

GemmParams params_for(int variant, bool trans_b, const Problem& pr) {
  GemmParams p;
  p.trans_b = trans_b;
  if (variant & 1) p.bias = pr.bias.data();
  if (variant & 2) p.accumulate = true;
  if (variant & 4) p.alpha = -0.75f;
  return p;
}

constexpr double kTol = 2e-6;  // about 16 ulps of float on the normalised scale

const int64_t kSizes[] = {1, 2, 3, 7, 15, 16, 17, 31, 33, 63, 65, 100, 257};

}  // namespace

TEST_CASE("gemm_f32 matches gemm_f32_ref on odd shapes, both layouts, every ISA") {
  Restore restore;
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> pick(0, (int)(sizeof(kSizes) / sizeof(kSizes[0])) - 1);
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    CAPTURE(isa_name(isa));
    for (int trial = 0; trial < 60; ++trial) {
      const int64_t M = kSizes[pick(rng)], N = kSizes[pick(rng)], K = kSizes[pick(rng)];
      const bool trans_b = trial % 2 == 0;
      const int variant = trial % 8;
      Problem pr = make_problem(rng, M, N, K, trans_b, trial % 3 != 0);
      const GemmParams p = params_for(variant, trans_b, pr);
      std::vector<float> want = pr.C0, got = pr.C0;
      gemm_f32_ref(M, N, K, pr.A.data(), pr.lda, pr.B.data(), pr.ldb, want.data(), pr.ldc, p);
      gemm_f32(M, N, K, pr.A.data(), pr.lda, pr.B.data(), pr.ldb, got.data(), pr.ldc, p);
      CAPTURE(M);
      CAPTURE(N);
      CAPTURE(K);
      CAPTURE(trans_b);
      CAPTURE(variant);
      CHECK(normalised_error(pr, got, want) < kTol);
    }
  }
}

TEST_CASE("gemm_f32 covers K blocking, tiny M and every edge of the register tiles") {
  Restore restore;
  std::mt19937 rng(99);
  // Shapes aimed at the blocking constants: K over one or several K blocks
  // (256), M around the 14- and 6-row tiles and the 112-row A block, N around
  // the 32-column panels, M <= 4 (direct path), K = 1.
  const int64_t shapes[][3] = {{1, 1, 1},      {1, 300, 700},  {2, 33, 1},     {3, 17, 513}, {4, 64, 64},
                               {5, 31, 257},   {13, 47, 255},  {14, 32, 256},  {15, 1, 300}, {29, 95, 1},
                               {113, 65, 600}, {130, 530, 40}, {200, 20, 1030}};
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    CAPTURE(isa_name(isa));
    for (const auto& s : shapes) {
      for (int variant = 0; variant < 8; variant += 3) {
        for (bool trans_b : {true, false}) {
          Problem pr = make_problem(rng, s[0], s[1], s[2], trans_b, variant != 0);
          const GemmParams p = params_for(variant | 1, trans_b, pr);
          std::vector<float> want = pr.C0, got = pr.C0;
          gemm_f32_ref(pr.M, pr.N, pr.K, pr.A.data(), pr.lda, pr.B.data(), pr.ldb, want.data(), pr.ldc, p);
          gemm_f32(pr.M, pr.N, pr.K, pr.A.data(), pr.lda, pr.B.data(), pr.ldb, got.data(), pr.ldc, p);
          CAPTURE(pr.M);
          CAPTURE(pr.N);
          CAPTURE(pr.K);
          CAPTURE(trans_b);
          CAPTURE(variant);
          CHECK(normalised_error(pr, got, want) < kTol);
        }
      }
    }
  }
}

TEST_CASE("gemm_f32 results are bit-identical for 1, 2 and 3 threads") {
  Restore restore;
  std::mt19937 rng(7);
  const int64_t shapes[][3] = {{300, 100, 600}, {3, 500, 90}, {20, 700, 64}, {196, 480, 160}, {57, 33, 1}};
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    CAPTURE(isa_name(isa));
    for (const auto& s : shapes) {
      for (bool trans_b : {true, false}) {
        Problem pr = make_problem(rng, s[0], s[1], s[2], trans_b, true);
        const GemmParams p = params_for(7, trans_b, pr);
        std::vector<float> first;
        for (int t : {1, 2, 3}) {
          set_num_threads(t);
          std::vector<float> got = pr.C0;
          gemm_f32(pr.M, pr.N, pr.K, pr.A.data(), pr.lda, pr.B.data(), pr.ldb, got.data(), pr.ldc, p);
          std::vector<float> bh = pr.C0;
          if (trans_b)
            gemm_f32_bf16w(pr.M, pr.N, pr.K, pr.A.data(), pr.lda, pr.Bh.data(), pr.ldb, bh.data(), pr.ldc, p);
          if (first.empty()) first = got;
          CAPTURE(t);
          CAPTURE(s[0]);
          CHECK(std::memcmp(got.data(), first.data(), got.size() * sizeof(float)) == 0);
          if (trans_b) CHECK(std::memcmp(bh.data(), first.data(), bh.size() * sizeof(float)) == 0);
        }
      }
    }
  }
}

TEST_CASE("gemm_f32 called inside a parallel region runs serially and agrees") {
  Restore restore;
  std::mt19937 rng(5);
  Problem pr = make_problem(rng, 70, 90, 300, true, false);
  std::vector<float> want = pr.C0;
  gemm_f32(pr.M, pr.N, pr.K, pr.A.data(), pr.lda, pr.B.data(), pr.ldb, want.data(), pr.ldc);
  // Two outer chunks, each computing half of the rows with its own gemm_f32.
  std::vector<float> got = pr.C0;
  parallel_for(
      2,
      [&](int64_t b, int64_t e) {
        for (int64_t h = b; h < e; ++h)
          gemm_f32(35, pr.N, pr.K, pr.A.data() + h * 35 * pr.lda, pr.lda, pr.B.data(), pr.ldb,
                   got.data() + h * 35 * pr.ldc, pr.ldc);
      },
      1, 2);
  CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
}

TEST_CASE("gemm_f32_bf16w matches its reference and gemm_f32 on widened weights") {
  Restore restore;
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> pick(0, (int)(sizeof(kSizes) / sizeof(kSizes[0])) - 1);
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    CAPTURE(isa_name(isa));
    for (int trial = 0; trial < 40; ++trial) {
      const int64_t M = trial < 8 ? 1 + trial % 4 : kSizes[pick(rng)];
      const int64_t N = kSizes[pick(rng)], K = kSizes[pick(rng)];
      Problem pr = make_problem(rng, M, N, K, true, trial % 2 == 1);
      const GemmParams p = params_for(trial % 8, true, pr);
      std::vector<float> want = pr.C0, got = pr.C0, f32 = pr.C0;
      gemm_f32_bf16w_ref(M, N, K, pr.A.data(), pr.lda, pr.Bh.data(), pr.ldb, want.data(), pr.ldc, p);
      gemm_f32_bf16w(M, N, K, pr.A.data(), pr.lda, pr.Bh.data(), pr.ldb, got.data(), pr.ldc, p);
      gemm_f32(M, N, K, pr.A.data(), pr.lda, pr.B.data(), pr.ldb, f32.data(), pr.ldc, p);
      CAPTURE(M);
      CAPTURE(N);
      CAPTURE(K);
      CHECK(normalised_error(pr, got, want) < kTol);
      // Widening is exact, so the bf16 path is the f32 path bit for bit.
      CHECK(std::memcmp(got.data(), f32.data(), got.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("gemm_bf16_f32acc matches its reference, stays within the bf16 bound, and is thread-stable") {
  Restore restore;
  std::mt19937 rng(314);
  std::uniform_int_distribution<int> pick(0, (int)(sizeof(kSizes) / sizeof(kSizes[0])) - 1);
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    CAPTURE(isa_name(isa));
    CAPTURE(gemm_bf16_f32acc_kernel_name());
    for (int trial = 0; trial < 40; ++trial) {
      const int64_t M = trial < 6 ? 1 + trial : kSizes[pick(rng)];
      const int64_t N = kSizes[pick(rng)];
      const int64_t K = trial == 6 ? 1031 : kSizes[pick(rng)];  // 1031: several K blocks, odd
      Problem pr = make_problem(rng, M, N, K, true, trial % 2 == 1);
      const GemmParams p = params_for(trial % 8, true, pr);
      std::vector<float> want = pr.C0, got = pr.C0, f32 = pr.C0;
      gemm_bf16_f32acc_ref(M, N, K, pr.A.data(), pr.lda, pr.Bh.data(), pr.ldb, want.data(), pr.ldc, p);
      gemm_bf16_f32acc(M, N, K, pr.A.data(), pr.lda, pr.Bh.data(), pr.ldb, got.data(), pr.ldc, p);
      gemm_f32_ref(M, N, K, pr.A.data(), pr.lda, pr.B.data(), pr.ldb, f32.data(), pr.ldc, p);
      CAPTURE(M);
      CAPTURE(N);
      CAPTURE(K);
      CHECK(normalised_error(pr, got, want) < kTol);
      // Rounding A to bf16 moves each product by at most 2^-9 of its size.
      CHECK(normalised_error(pr, got, f32) < 1.0 / 512 + kTol);
    }
    Problem pr = make_problem(rng, 150, 70, 301, true, true);
    const GemmParams p = params_for(3, true, pr);
    std::vector<float> first;
    for (int t : {1, 2, 3}) {
      set_num_threads(t);
      std::vector<float> got = pr.C0;
      gemm_bf16_f32acc(pr.M, pr.N, pr.K, pr.A.data(), pr.lda, pr.Bh.data(), pr.ldb, got.data(), pr.ldc, p);
      if (first.empty()) first = got;
      CHECK(std::memcmp(got.data(), first.data(), got.size() * sizeof(float)) == 0);
    }
    set_num_threads(0);
  }
}

TEST_CASE("pack_b + gemm_f32_packed match the reference and gemm_f32") {
  Restore restore;
  std::mt19937 rng(77);
  const int64_t shapes[][3] = {{1, 5, 3}, {7, 33, 17}, {65, 100, 257}, {130, 64, 600}, {16, 1, 1}};
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    CAPTURE(isa_name(isa));
    for (const auto& s : shapes) {
      for (bool trans_b : {true, false}) {
        Problem pr = make_problem(rng, s[0], s[1], s[2], trans_b, true);
        const GemmParams p = params_for(3, trans_b, pr);
        Result<PackedB> packed = pack_b(pr.N, pr.K, pr.B.data(), pr.ldb, trans_b);
        REQUIRE(packed.ok());
        std::vector<float> want = pr.C0, got = pr.C0, ref_packed = pr.C0;
        gemm_f32_ref(pr.M, pr.N, pr.K, pr.A.data(), pr.lda, pr.B.data(), pr.ldb, want.data(), pr.ldc, p);
        CHECK(gemm_f32_packed(pr.M, pr.A.data(), pr.lda, packed.value(), got.data(), pr.ldc, p).ok());
        gemm_f32_packed_ref(pr.M, pr.A.data(), pr.lda, packed.value(), ref_packed.data(), pr.ldc, p);
        CAPTURE(pr.M);
        CAPTURE(pr.N);
        CAPTURE(pr.K);
        CAPTURE(trans_b);
        CHECK(normalised_error(pr, got, want) < kTol);
        // The packed reference reads the same values in the same k order.
        CHECK(std::memcmp(ref_packed.data(), want.data(), want.size() * sizeof(float)) == 0);
        if (trans_b) {
          Result<PackedB> ph = pack_b_bf16(pr.N, pr.K, pr.Bh.data(), pr.ldb);
          REQUIRE(ph.ok());
          std::vector<float> goth = pr.C0;
          CHECK(gemm_f32_packed(pr.M, pr.A.data(), pr.lda, ph.value(), goth.data(), pr.ldc, p).ok());
          if (pr.M > 4 || isa != Isa::kAvx512)  // same blocked path as gemm_f32
            CHECK(std::memcmp(goth.data(), got.data(), got.size() * sizeof(float)) == 0);
        }
      }
    }
  }
}

TEST_CASE("pack_b_nn_sum + gemm_f32_prepacked equal gemm_f32 on the summed operand") {
  Restore restore;
  std::mt19937 rng(91);
  // N past several 8-panel groups with a ragged last panel; M around the
  // small-M kernels and the 14-row tile.
  const int64_t shapes[][3] = {{1, 5, 3}, {4, 300, 9}, {5, 33, 17}, {56, 520, 64}, {29, 257, 130}};
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    CAPTURE(isa_name(isa));
    for (const auto& s : shapes) {
      Problem pr = make_problem(rng, s[0], s[1], s[2], /*trans_b=*/false, true);
      Problem pr2 = make_problem(rng, s[0], s[1], s[2], /*trans_b=*/false, false);
      CAPTURE(pr.M);
      CAPTURE(pr.N);
      CAPTURE(pr.K);
      // The second addend shares B's row stride.
      std::vector<float> b2(pr.B.size()), sum(pr.B.size());
      for (size_t i = 0; i < b2.size(); ++i) {
        b2[i] = pr2.B[i % pr2.B.size()];
        sum[i] = pr.B[i] + b2[i];
      }
      // Packed operands must be aligned to kAlignment (64 bytes), as
      // Buffer and Tensor storage is.
      const size_t nfl = (size_t)packed_b_size(pr.N, pr.K);
      std::vector<float> store(3 * nfl + 32, -7.0f);
      float* packed = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(store.data()) + 63) & ~uintptr_t(63));
      float* alone = packed + nfl;  // nfl is a multiple of 32 floats
      float* halves = alone + nfl;
      pack_b_nn_sum(pr.N, pr.K, pr.B.data(), b2.data(), pr.ldb, packed);
      pack_b_nn_sum(pr.N, pr.K, pr.B.data(), nullptr, pr.ldb, alone);
      // Two panel ranges (as blocks of B become ready) give the whole.
      const int64_t panels = (pr.N + 31) / 32;
      pack_b_nn_sum(pr.N, pr.K, pr.B.data(), b2.data(), pr.ldb, halves, panels / 2, panels);
      pack_b_nn_sum(pr.N, pr.K, pr.B.data(), b2.data(), pr.ldb, halves, 0, panels / 2);
      CHECK(std::memcmp(halves, packed, nfl * sizeof(float)) == 0);
      // Every slot is written: the sums, B alone, zero past column N.
      for (int64_t n = 0; n < (int64_t)nfl / pr.K; ++n)
        for (int64_t k = 0; k < pr.K; ++k) {
          const size_t at = (size_t)((n / 32) * pr.K * 32 + k * 32 + n % 32);
          const size_t src = (size_t)(k * pr.ldb + n);
          CHECK(packed[at] == (n < pr.N ? sum[src] : 0.0f));
          CHECK(alone[at] == (n < pr.N ? pr.B[src] : 0.0f));
        }
      const GemmParams p = params_for(3, false, pr);
      std::vector<float> want = pr.C0, got = pr.C0, fast = pr.C0;
      gemm_f32_ref(pr.M, pr.N, pr.K, pr.A.data(), pr.lda, sum.data(), pr.ldb, want.data(), pr.ldc, p);
      gemm_f32_prepacked(pr.M, pr.N, pr.K, pr.A.data(), pr.lda, packed, got.data(), pr.ldc, p);
      CHECK(normalised_error(pr, got, want) < 2 * kTol);
      gemm_f32(pr.M, pr.N, pr.K, pr.A.data(), pr.lda, sum.data(), pr.ldb, fast.data(), pr.ldc, p);
      if (pr.M > 4 || isa != Isa::kAvx512)  // gemm_f32's packed path: the same bits
        CHECK(std::memcmp(fast.data(), got.data(), got.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("pack_b_nt_rows in depth blocks + gemm_f32_prepacked equal gemm_f32 with trans_b") {
  Restore restore;
  std::mt19937 rng(92);
  const int64_t shapes[][3] = {{1, 5, 3}, {5, 33, 17}, {40, 256, 300}, {29, 70, 130}};
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    CAPTURE(isa_name(isa));
    for (const auto& s : shapes) {
      Problem pr = make_problem(rng, s[0], s[1], s[2], /*trans_b=*/true, true);
      CAPTURE(pr.M);
      CAPTURE(pr.N);
      CAPTURE(pr.K);
      const size_t nfl = (size_t)packed_b_size(pr.N, pr.K);
      std::vector<float> store(nfl + 32, -7.0f);
      float* packed = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(store.data()) + 63) & ~uintptr_t(63));
      // Depth blocks of 16 in reverse order, the last one ragged, as a
      // producer would hand them over; an empty and a clamped range on top.
      for (int64_t k0 = (pr.K - 1) / 16 * 16; k0 >= 0; k0 -= 16)
        pack_b_nt_rows(pr.N, pr.K, pr.B.data(), pr.ldb, packed, k0, k0 + 16);
      pack_b_nt_rows(pr.N, pr.K, pr.B.data(), pr.ldb, packed, 3, 3);
      for (int64_t n = 0; n < (int64_t)nfl / pr.K; ++n)
        for (int64_t k = 0; k < pr.K; ++k) {
          const size_t at = (size_t)((n / 32) * pr.K * 32 + k * 32 + n % 32);
          CHECK(packed[at] == (n < pr.N ? pr.B[(size_t)(n * pr.ldb + k)] : 0.0f));
        }
      const GemmParams p = params_for(4, true, pr);
      std::vector<float> want = pr.C0, got = pr.C0, fast = pr.C0;
      gemm_f32_ref(pr.M, pr.N, pr.K, pr.A.data(), pr.lda, pr.B.data(), pr.ldb, want.data(), pr.ldc, p);
      gemm_f32_prepacked(pr.M, pr.N, pr.K, pr.A.data(), pr.lda, packed, got.data(), pr.ldc, p);
      CHECK(normalised_error(pr, got, want) < 2 * kTol);
      gemm_f32(pr.M, pr.N, pr.K, pr.A.data(), pr.lda, pr.B.data(), pr.ldb, fast.data(), pr.ldc, p);
      if (pr.M > 4 || isa != Isa::kAvx512)  // gemm_f32's packed path: the same bits
        CHECK(std::memcmp(fast.data(), got.data(), got.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("pack_b_bf16_pairs + gemm_bf16_f32acc_packed match the reference on every ISA") {
  Restore restore;
  std::mt19937 rng(2718);
  const int64_t shapes[][3] = {{1, 5, 3}, {7, 33, 17}, {65, 100, 257}, {130, 64, 601}, {16, 1, 1}, {3, 40, 2}};
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    CAPTURE(isa_name(isa));
    for (const auto& s : shapes) {
      Problem pr = make_problem(rng, s[0], s[1], s[2], true, true);
      const GemmParams p = params_for(5, true, pr);
      Result<PackedB> packed = pack_b_bf16_pairs(pr.N, pr.K, pr.Bh.data(), pr.ldb);
      REQUIRE(packed.ok());
      CHECK(packed.value().format() == PackedFormat::kBf16Pairs);
      std::vector<float> want = pr.C0, got = pr.C0, direct = pr.C0;
      gemm_bf16_f32acc_ref(pr.M, pr.N, pr.K, pr.A.data(), pr.lda, pr.Bh.data(), pr.ldb, want.data(), pr.ldc, p);
      CHECK(gemm_bf16_f32acc_packed(pr.M, pr.A.data(), pr.lda, packed.value(), got.data(), pr.ldc, p).ok());
      gemm_bf16_f32acc(pr.M, pr.N, pr.K, pr.A.data(), pr.lda, pr.Bh.data(), pr.ldb, direct.data(), pr.ldc, p);
      CAPTURE(pr.M);
      CAPTURE(pr.N);
      CAPTURE(pr.K);
      CHECK(normalised_error(pr, got, want) < kTol);
      if (gemm_has_bf16_dot())  // same kernel, same packing: the same bits
        CHECK(std::memcmp(got.data(), direct.data(), got.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("packed GEMMs reject an empty or differently packed weight") {
  std::vector<float> w(12, 1.0f), a(8, 1.0f), c(6, 0.0f);
  std::vector<uint16_t> wh(12, 0x3f80);  // bf16 1.0
  Result<PackedB> f = pack_b(3, 4, w.data(), 4);
  Result<PackedB> h = pack_b_bf16_pairs(3, 4, wh.data(), 4);
  REQUIRE(f.ok());
  REQUIRE(h.ok());
  const Status s1 = gemm_bf16_f32acc_packed(2, a.data(), 4, f.value(), c.data(), 3);
  CHECK(s1.code() == ErrorCode::kInvalidArgument);
  CHECK(s1.message().find("pack_b_bf16_pairs") != std::string::npos);
  CHECK(gemm_f32_packed(2, a.data(), 4, h.value(), c.data(), 3).code() == ErrorCode::kInvalidArgument);
  CHECK(gemm_f32_packed(2, a.data(), 4, PackedB(), c.data(), 3).code() == ErrorCode::kInvalidArgument);
  CHECK(c == std::vector<float>(6, 0.0f));
  CHECK(gemm_f32_packed(2, a.data(), 4, f.value(), c.data(), 3).ok());
  CHECK(c == std::vector<float>(6, 4.0f));
  CHECK(gemm_bf16_f32acc_packed(2, a.data(), 4, h.value(), c.data(), 3).ok());
  CHECK(c == std::vector<float>(6, 4.0f));
}

TEST_CASE("pack_b rejects bad arguments with a specific error") {
  std::vector<float> w(12, 1.0f);
  Result<PackedB> r = pack_b(0, 4, w.data(), 4);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kInvalidArgument);
  Result<PackedB> r2 = pack_b(3, 4, w.data(), 2);
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.status().code() == ErrorCode::kInvalidArgument);
  CHECK(std::string(r2.status().message()).find("ldb") != std::string::npos);
}

TEST_CASE("K = 0 leaves alpha * 0 + bias (+ C), and M = 0 or N = 0 touches nothing") {
  Restore restore;
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    std::vector<float> C = {1, 2, 3, 4}, bias = {10, 20};
    GemmParams p;
    p.bias = bias.data();
    p.accumulate = true;
    gemm_f32(2, 2, 0, nullptr, 0, nullptr, 0, C.data(), 2, p);
    CHECK(C == std::vector<float>{11, 22, 13, 24});
    gemm_f32(0, 2, 5, nullptr, 5, nullptr, 5, C.data(), 2, p);
    gemm_f32(2, 0, 5, nullptr, 5, nullptr, 5, C.data(), 2, p);
    CHECK(C == std::vector<float>{11, 22, 13, 24});
  }
}

TEST_CASE("dispatch reports the kernel that runs") {
  Restore restore;
  set_isa_cap(Isa::kScalar);
  CHECK(std::string(gemm_f32_kernel_name()) == "gemm_f32_ref");
  CHECK(std::string(gemm_f32_bf16w_kernel_name()) == "gemm_f32_bf16w_ref");
  clear_isa_cap();
  const std::string name = gemm_f32_kernel_name();
  CHECK(name == std::string("gemm_f32_") + (gemm_path() == GemmPath::kAvx512 ? "avx512"
                                            : gemm_path() == GemmPath::kAvx2 ? "avx2"
                                                                             : "ref"));
  CHECK(kernel_report().find(name) != std::string::npos);
  CHECK(std::string(gemm_bf16_f32acc_kernel_name()) ==
        (gemm_has_bf16_dot() ? "gemm_bf16_f32acc_avx512bf16" : std::string("gemm_bf16_f32acc_") + name.substr(9)));
}

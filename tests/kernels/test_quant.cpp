// SPDX-License-Identifier: MIT
// Tests for kernels/quant.hpp and kernels/quant_dot.hpp: block sizes, the
// reference quantizers' error bounds and layout facts, and every SIMD dot
// product against its scalar `_ref` twin at every ISA level this CPU offers,
// on random rows with odd block counts.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "rsfiqa/core/cpu.hpp"
#include "rsfiqa/core/tensor.hpp"
#include "rsfiqa/kernels/quant.hpp"
#include "rsfiqa/kernels/quant_dot.hpp"
// Included together with the quant headers to catch name clashes in rsfiqa::kernels.
#include "rsfiqa/kernels/elementwise.hpp"
#include "rsfiqa/kernels/gemm.hpp"
#include "rsfiqa/kernels/norm.hpp"

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

// Bytes of n elements of a weight type.
size_t row_bytes(DType t, int64_t n) { return (size_t)dtype_bytes(t, n); }

std::vector<uint8_t> quantize(DType t, const std::vector<float>& x) {
  std::vector<uint8_t> q(row_bytes(t, (int64_t)x.size()));
  REQUIRE(quantize_row_ref(t, x.data(), q.data(), (int64_t)x.size()));
  return q;
}

std::vector<float> dequantize(DType t, const std::vector<uint8_t>& q, int64_t n) {
  std::vector<float> y((size_t)n);
  REQUIRE(dequantize_row_ref(t, q.data(), y.data(), n));
  return y;
}

std::vector<Isa> isa_levels() {
  std::vector<Isa> v = {Isa::kScalar};
  if (cpu_best_isa() >= Isa::kAvx2) v.push_back(Isa::kAvx2);
  if (cpu_best_isa() >= Isa::kAvx512) v.push_back(Isa::kAvx512);
  return v;
}

}  // namespace

TEST_CASE("block structs have GGUF sizes matching core dtype table") {
  CHECK(sizeof(BlockQ8_0) == (size_t)dtype_info(DType::kQ8_0).block_bytes);
  CHECK(sizeof(BlockQ4_0) == (size_t)dtype_info(DType::kQ4_0).block_bytes);
  CHECK(sizeof(BlockQ5_0) == (size_t)dtype_info(DType::kQ5_0).block_bytes);
  CHECK(sizeof(BlockQ5_1) == (size_t)dtype_info(DType::kQ5_1).block_bytes);
  CHECK(dtype_info(DType::kQ5_0).block_size == 32);
  CHECK(dtype_info(DType::kQ5_1).block_size == 32);
  CHECK(std::string(dtype_name(DType::kQ5_0)) == "q5_0");
  CHECK(std::string(dtype_name(DType::kQ5_1)) == "q5_1");
  CHECK(sizeof(BlockQ4_K) == (size_t)dtype_info(DType::kQ4_K).block_bytes);
  CHECK(sizeof(BlockQ6_K) == (size_t)dtype_info(DType::kQ6_K).block_bytes);
  CHECK(sizeof(BlockQ8_K) == (size_t)dtype_info(DType::kQ8_K).block_bytes);
}

TEST_CASE("Q4_0 layout: byte j holds element j low and element j+16 high") {
  std::vector<float> x(32);
  // Element 0 is the largest magnitude (-8 d); a few exact multiples of d.
  const float d = 0.5f;
  for (int j = 0; j < 32; ++j) x[j] = 0.0f;
  x[0] = 8 * d;     // sets d = -0.5 (max / -8): level 0
  x[1] = -3 * d;    // level round(-1.5/-0.5)+8 = 11
  x[17] = 2 * d;    // level 8 - 2 = 6, high nibble of byte 1
  std::vector<uint8_t> q = quantize(DType::kQ4_0, x);
  const BlockQ4_0* b = (const BlockQ4_0*)q.data();
  CHECK(f16_to_f32(b->d) == doctest::Approx(-0.5f));
  CHECK((b->qs[0] & 0xF) == 0);
  CHECK((b->qs[1] & 0xF) == 11);
  CHECK((b->qs[1] >> 4) == 6);
  CHECK((b->qs[0] >> 4) == 8);  // element 16 is zero: level 8
  std::vector<float> y = dequantize(DType::kQ4_0, q, 32);
  for (int j = 0; j < 32; ++j) CHECK(y[j] == doctest::Approx(x[j]));
}

TEST_CASE("Q5_0 layout: low nibbles as Q4_0, bit 4 of element j in bit j of qh") {
  std::vector<float> x(32, 0.0f);
  const float d = 0.25f;
  x[0] = 16 * d;    // largest magnitude: d = max / -16 = -0.25, level 0
  x[1] = -7 * d;    // level 16 + 7 = 23 = 0b10111: nibble 7, bit 4 set
  x[5] = 3 * d;     // level 16 - 3 = 13: nibble 13, bit 4 clear
  x[20] = -15 * d;  // level 31 (high nibble of byte 4, bit 20 of qh)
  x[30] = 0.5f * d; // 16 - 0.5 + 0.5 = 16 exactly: truncation keeps 16
  const std::vector<uint8_t> q = quantize(DType::kQ5_0, x);
  const BlockQ5_0* b = (const BlockQ5_0*)q.data();
  CHECK(f16_to_f32(b->d) == -0.25f);
  const uint32_t qh = (uint32_t)b->qh[0] | (uint32_t)b->qh[1] << 8 | (uint32_t)b->qh[2] << 16 |
                      (uint32_t)b->qh[3] << 24;
  CHECK((b->qs[0] & 0xF) == 0);
  CHECK((qh & 1u) == 0);
  CHECK((b->qs[1] & 0xF) == 7);
  CHECK((qh >> 1 & 1u) == 1);
  CHECK((b->qs[5] & 0xF) == 13);
  CHECK((qh >> 5 & 1u) == 0);
  CHECK((b->qs[4] >> 4) == 15);
  CHECK((qh >> 20 & 1u) == 1);
  CHECK((b->qs[14] >> 4) == 0);  // element 30: level 16 = nibble 0 with bit 30 set
  CHECK((qh >> 30 & 1u) == 1);
  CHECK((b->qs[2] & 0xF) == 0);  // zeros are level 16
  CHECK((qh >> 2 & 1u) == 1);
  const std::vector<float> y = dequantize(DType::kQ5_0, q, 32);
  for (int j = 0; j < 32; ++j)
    if (j != 30) CHECK(y[j] == x[j]);
  CHECK(y[30] == 0.0f);
}

TEST_CASE("Q5_1 layout: d = (max - min) / 31, m = min, levels as Q5_0") {
  std::vector<float> x(32);
  // Values min + k*d for d = 0.5, min = -4: the levels are k exactly.
  for (int j = 0; j < 32; ++j) x[j] = -4.0f + 0.5f * (float)((j * 7) % 32);
  const std::vector<uint8_t> q = quantize(DType::kQ5_1, x);
  const BlockQ5_1* b = (const BlockQ5_1*)q.data();
  CHECK(f16_to_f32(b->d) == 0.5f);
  CHECK(f16_to_f32(b->m) == -4.0f);
  const uint32_t qh = (uint32_t)b->qh[0] | (uint32_t)b->qh[1] << 8 | (uint32_t)b->qh[2] << 16 |
                      (uint32_t)b->qh[3] << 24;
  for (int j = 0; j < 32; ++j) {
    CAPTURE(j);
    const int level = (j * 7) % 32;
    const int nib = j < 16 ? (b->qs[j] & 0xF) : (b->qs[j - 16] >> 4);
    CHECK(nib == (level & 0xF));
    CHECK((int)(qh >> j & 1u) == level >> 4);
  }
  const std::vector<float> y = dequantize(DType::kQ5_1, q, 32);
  for (int j = 0; j < 32; ++j) CHECK(y[j] == x[j]);
}

TEST_CASE("Q5_0 / Q5_1 quantizers equal an independent numpy reference byte for byte") {
  // tests/data/golden/quant/q5_blocks.bin from tools/golden/make_q5_golden.py:
  // ggml's reference rounding as llama.cpp's x86-64 builds run it (multiply-
  // add fused). 4 of its Q5_0 blocks hold values whose level differs when
  // the product is rounded before the +16.5, so the unfused form fails here.
  const std::string path = std::string(RSFIQA_TEST_DATA_DIR) + "/golden/quant/q5_blocks.bin";
  FILE* f = std::fopen(path.c_str(), "rb");
  REQUIRE_MESSAGE(f != nullptr, path);
  std::vector<uint8_t> bytes;
  uint8_t buf[4096];
  for (size_t got; (got = std::fread(buf, 1, sizeof buf, f)) > 0;) bytes.insert(bytes.end(), buf, buf + got);
  std::fclose(f);
  REQUIRE(bytes.size() >= 4);
  uint32_t n;
  std::memcpy(&n, bytes.data(), 4);
  REQUIRE(bytes.size() == 4 + (size_t)n * (32 * 4 + 22 + 24));
  std::vector<float> x((size_t)n * 32);
  std::memcpy(x.data(), bytes.data() + 4, x.size() * 4);
  const uint8_t* want0 = bytes.data() + 4 + x.size() * 4;
  const uint8_t* want1 = want0 + (size_t)n * 22;
  std::vector<BlockQ5_0> q0(n);
  std::vector<BlockQ5_1> q1(n);
  quantize_row_q5_0_ref(x.data(), q0.data(), (int64_t)n * 32);
  quantize_row_q5_1_ref(x.data(), q1.data(), (int64_t)n * 32);
  for (uint32_t b = 0; b < n; ++b) {
    CAPTURE(b);
    CHECK(std::memcmp(&q0[b], want0 + 22 * b, 22) == 0);
    CHECK(std::memcmp(&q1[b], want1 + 24 * b, 24) == 0);
  }
}

TEST_CASE("dequant(quant(x)) error bounds") {
  const int64_t n = 256 * 7;
  const std::vector<float> x = random_row(n, 1234, 0.7f);
  struct Case {
    DType t;
    float max_rel_rmse;  // RMSE / RMS(x)
  };
  // Typical figures for Gaussian data: q8_0 ~0.5%, q6_K ~2%, q4_0 ~11%, q4_K ~8%.
  // Q5_0/Q5_1: one more bit than Q4_0, half its step: ~5%.
  for (Case c : {Case{DType::kQ8_0, 0.01f}, Case{DType::kQ4_0, 0.15f}, Case{DType::kQ5_0, 0.08f},
                 Case{DType::kQ5_1, 0.08f}, Case{DType::kQ4_K, 0.12f}, Case{DType::kQ6_K, 0.04f},
                 Case{DType::kF16, 0.001f}, Case{DType::kBF16, 0.005f}}) {
    CAPTURE(dtype_name(c.t));
    const std::vector<float> y = dequantize(c.t, quantize(c.t, x), n);
    double se = 0, sx = 0;
    for (int64_t i = 0; i < n; ++i) {
      se += (double)(y[i] - x[i]) * (y[i] - x[i]);
      sx += (double)x[i] * x[i];
    }
    const double rel = std::sqrt(se / sx);
    CHECK(rel < c.max_rel_rmse);
    CHECK(rel > 0.0);  // a quantizer that copies would be a broken test
  }
  // Per-element bound for Q8_0: |err| <= d/2 with d = amax/127, plus up to
  // 127 times the f16 rounding of d.
  const std::vector<uint8_t> q = quantize(DType::kQ8_0, x);
  const std::vector<float> y = dequantize(DType::kQ8_0, q, n);
  const BlockQ8_0* blocks = (const BlockQ8_0*)q.data();
  for (int64_t b = 0; b < n / 32; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[b * 32 + j]));
    const float d = amax / 127.0f, ds = f16_to_f32(blocks[b].d);
    const float bound = 0.5f * d + 127.0f * std::fabs(d - ds) + 1e-6f;
    for (int j = 0; j < 32; ++j) CHECK(std::fabs(y[b * 32 + j] - x[b * 32 + j]) <= bound);
  }
}

TEST_CASE("Q8_K activations: bsums and scale") {
  const int64_t n = 256 * 3;
  const std::vector<float> x = random_row(n, 99, 3.0f);
  std::vector<BlockQ8_K> q((size_t)(n / 256));
  quantize_row_q8_K_ref(x.data(), q.data(), n);
  std::vector<float> y((size_t)n);
  dequantize_row_q8_K_ref(q.data(), y.data(), n);
  for (const BlockQ8_K& b : q) {
    for (int g = 0; g < 16; ++g) {
      int s = 0;
      for (int l = 0; l < 16; ++l) s += b.qs[16 * g + l];
      CHECK(b.bsums[g] == s);
    }
  }
  for (int64_t i = 0; i < n; ++i) CHECK(std::fabs(y[i] - x[i]) < 0.05f);
}

TEST_CASE("quantizers survive zeros, NaN and infinities") {
  std::vector<float> x(256, 0.0f);
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ5_0, DType::kQ5_1, DType::kQ4_K, DType::kQ6_K}) {
    CAPTURE(dtype_name(t));
    const std::vector<float> y = dequantize(t, quantize(t, x), 256);
    for (float v : y) CHECK(v == 0.0f);
  }
  x[3] = NAN;
  x[7] = INFINITY;
  x[9] = -INFINITY;
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ5_0, DType::kQ5_1, DType::kQ4_K, DType::kQ6_K})
    (void)quantize(t, x);
  std::vector<BlockQ8_K> q8k(1);
  quantize_row_q8_K_ref(x.data(), q8k.data(), 256);
}

TEST_CASE("reference dots equal dequantized dots") {
  // The integer reference dot must equal the float dot of the dequantized
  // weights with the dequantized activations (up to float rounding).
  for (int64_t nblk : {1, 3, 7}) {
    const int64_t n = 256 * nblk;
    const std::vector<float> w = random_row(n, 7 + (uint32_t)nblk);
    const std::vector<float> a = random_row(n, 11 + (uint32_t)nblk, 2.0f);
    std::vector<BlockQ8_0> a8((size_t)(n / 32));
    std::vector<BlockQ8_K> ak((size_t)(n / 256));
    quantize_row_q8_0_ref(a.data(), a8.data(), n);
    quantize_row_q8_K_ref(a.data(), ak.data(), n);
    std::vector<float> a8f((size_t)n), akf((size_t)n);
    dequantize_row_q8_0_ref(a8.data(), a8f.data(), n);
    dequantize_row_q8_K_ref(ak.data(), akf.data(), n);
    for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ5_0, DType::kQ5_1, DType::kQ4_K, DType::kQ6_K}) {
      CAPTURE(dtype_name(t));
      const std::vector<uint8_t> q = quantize(t, w);
      const std::vector<float> wf = dequantize(t, q, n);
      const bool k = act_format(t) == ActFormat::kQ8_K;
      double want = 0, mag = 0;
      for (int64_t i = 0; i < n; ++i) {
        want += (double)wf[i] * (k ? akf[i] : a8f[i]);
        mag += std::fabs((double)wf[i] * (k ? akf[i] : a8f[i]));
      }
      const float got = row_dot_fn(t, Isa::kScalar)(n, q.data(), k ? (const void*)ak.data() : (const void*)a8.data());
      CHECK(std::fabs(got - want) <= 1e-4 * mag + 1e-5);
    }
  }
}

TEST_CASE("SIMD dots match _ref at every ISA level, odd block counts") {
  for (Isa isa : isa_levels()) {
    CAPTURE(isa_name(isa));
    for (int64_t nblk : {1, 2, 3, 5, 9}) {
      for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ5_0, DType::kQ5_1,
                      DType::kQ4_K, DType::kQ6_K}) {
        CAPTURE(dtype_name(t));
        CAPTURE(nblk);
        // K-quants need whole 256-blocks, Q*_0 whole 32-blocks; float types
        // get odd lengths (tails).
        const int64_t n = act_format(t) == ActFormat::kQ8_K ? 256 * nblk
                          : act_format(t) == ActFormat::kQ8_0 ? 32 * nblk
                                                              : 37 * nblk + 3;
        const std::vector<float> w = random_row(n, 100 + (uint32_t)nblk);
        const std::vector<float> a = random_row(n, 200 + (uint32_t)nblk, 1.5f);
        const std::vector<uint8_t> q = quantize(t, w);
        std::vector<uint8_t> aq((size_t)act_row_bytes(act_format(t), n));
        quantize_act_row(act_format(t), a.data(), aq.data(), n);
        const float ref = row_dot_fn(t, Isa::kScalar)(n, q.data(), aq.data());
        const float got = row_dot_fn(t, isa)(n, q.data(), aq.data());
        // Sum of |terms| bounds the float reordering error.
        std::vector<float> wf = dequantize(t, q, n);
        double mag = 0;
        for (int64_t i = 0; i < n; ++i) mag += std::fabs((double)wf[i] * a[i]);
        CHECK(std::fabs(got - ref) <= 2e-6 * mag + 1e-6);
      }
    }
  }
}

TEST_CASE("dots on extreme quant values (all -128 / 127 activations, max levels)") {
  // Saturation corners of maddubs: largest weight levels against the largest
  // activations must still agree with the reference.
  const int64_t n = 256 * 2;
  std::vector<float> w((size_t)n), a((size_t)n);
  for (int64_t i = 0; i < n; ++i) {
    w[i] = (i % 3 == 0) ? 1.0f : -1.0f;
    a[i] = (i % 5 == 0) ? -1.0f : 1.0f;
  }
  for (Isa isa : isa_levels()) {
    for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ5_0, DType::kQ5_1, DType::kQ4_K, DType::kQ6_K}) {
      CAPTURE(isa_name(isa));
      CAPTURE(dtype_name(t));
      const std::vector<uint8_t> q = quantize(t, w);
      std::vector<uint8_t> aq((size_t)act_row_bytes(act_format(t), n));
      quantize_act_row(act_format(t), a.data(), aq.data(), n);
      const float ref = row_dot_fn(t, Isa::kScalar)(n, q.data(), aq.data());
      const float got = row_dot_fn(t, isa)(n, q.data(), aq.data());
      CHECK(got == doctest::Approx(ref).epsilon(1e-5));
    }
  }
}

TEST_CASE("Q5_0 / Q5_1 dots on raw extreme blocks equal _ref exactly at every ISA level") {
  // Blocks written byte by byte (not through the quantizers): every level
  // 0..31 against activations of -128 and 127, scales 1 (and m = -3 for
  // Q5_1), so every partial sum is an integer below 2^24 and the float
  // results must be identical whatever the summation order.
  for (int64_t nblk : {1, 2, 3, 7}) {
    std::mt19937 rng(900 + (uint32_t)nblk);
    std::vector<BlockQ5_0> w0((size_t)nblk);
    std::vector<BlockQ5_1> w1((size_t)nblk);
    std::vector<BlockQ8_0> a((size_t)nblk);
    for (int64_t i = 0; i < nblk; ++i) {
      w0[(size_t)i].d = f32_to_f16(1.0f);
      w1[(size_t)i].d = f32_to_f16(1.0f);
      w1[(size_t)i].m = f32_to_f16(-3.0f);
      a[(size_t)i].d = f32_to_f16(1.0f);
      for (int j = 0; j < 16; ++j) w0[(size_t)i].qs[j] = w1[(size_t)i].qs[j] = (uint8_t)rng();
      for (int j = 0; j < 4; ++j) w0[(size_t)i].qh[j] = w1[(size_t)i].qh[j] = (uint8_t)rng();
      for (int j = 0; j < 32; ++j) a[(size_t)i].qs[j] = (rng() & 1) ? (int8_t)-128 : (int8_t)127;
    }
    // Block 0: all levels 31 (all bits set) against -128: the corner where
    // maddubs pairs are largest in magnitude.
    std::memset(w0[0].qs, 0xFF, 16);
    std::memset(w0[0].qh, 0xFF, 4);
    for (int j = 0; j < 32; ++j) a[0].qs[j] = -128;
    const int64_t n = 32 * nblk;
    // The integer truth: Σ (q-16)·a for Q5_0 from the unpacked levels.
    int64_t want0 = 0;
    for (int64_t i = 0; i < nblk; ++i) {
      uint8_t L[32];
      quant_detail::q5_levels(w0[(size_t)i].qs, w0[(size_t)i].qh, L);
      for (int j = 0; j < 32; ++j) want0 += (int64_t)(L[j] - 16) * a[(size_t)i].qs[j];
    }
    CHECK(row_dot_fn(DType::kQ5_0, Isa::kScalar)(n, w0.data(), a.data()) == (float)want0);
    for (Isa isa : isa_levels()) {
      CAPTURE(isa_name(isa));
      CAPTURE(nblk);
      CHECK(row_dot_fn(DType::kQ5_0, isa)(n, w0.data(), a.data()) ==
            row_dot_fn(DType::kQ5_0, Isa::kScalar)(n, w0.data(), a.data()));
      CHECK(row_dot_fn(DType::kQ5_1, isa)(n, w1.data(), a.data()) ==
            row_dot_fn(DType::kQ5_1, Isa::kScalar)(n, w1.data(), a.data()));
    }
  }
}

TEST_CASE("mul_mat_rows matches per-row reference dots and is thread-count independent") {
  const int64_t N = 37, K = 768, M = 7;  // M = 4 + 3 covers the x4 path and its rest
  for (DType t : {DType::kF32, DType::kF16, DType::kQ8_0, DType::kQ4_0, DType::kQ5_0, DType::kQ5_1, DType::kQ4_K,
                  DType::kQ6_K}) {
    CAPTURE(dtype_name(t));
    const std::vector<float> w = random_row(N * K, 5);
    const std::vector<float> a = random_row(M * K, 6);
    const size_t wrb = row_bytes(t, K);
    std::vector<uint8_t> W(wrb * N);
    for (int64_t n = 0; n < N; ++n) quantize_row_ref(t, w.data() + n * K, W.data() + n * wrb, K);
    const int64_t arb = act_row_bytes(act_format(t), K);
    std::vector<uint8_t> A((size_t)(arb * M));
    for (int64_t m = 0; m < M; ++m) quantize_act_row(act_format(t), a.data() + m * K, A.data() + m * arb, K);
    std::vector<float> y1((size_t)(M * N)), y2((size_t)(M * N));
    REQUIRE(mul_mat_rows(t, W.data(), (int64_t)wrb, N, K, A.data(), M, y1.data(), N, 1));
    REQUIRE(mul_mat_rows(t, W.data(), (int64_t)wrb, N, K, A.data(), M, y2.data(), N, 2));
    CHECK(std::memcmp(y1.data(), y2.data(), y1.size() * 4) == 0);
    // Q8_0/Q4_0 go through the register tiles (quant_gemm.hpp), whose float
    // summation order differs from the single-row dots: same value up to
    // rounding. The other types call the single-row dots: bit-identical.
    const RowDotFn dot = row_dot_fn(t, active_isa());
    const bool tiled = t == DType::kQ8_0 || t == DType::kQ4_0;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        const float want = dot(K, W.data() + n * wrb, A.data() + m * arb);
        if (tiled) CHECK(y1[m * N + n] == doctest::Approx(want).epsilon(1e-5).scale(10.0));
        else CHECK(y1[m * N + n] == want);
      }
  }
  CHECK_FALSE(mul_mat_rows(DType::kQ4_1, nullptr, 0, 1, 32, nullptr, 1, nullptr, 1));
}

TEST_CASE("x4 kernels equal four single-row dots bit for bit at every ISA level") {
  for (Isa isa : isa_levels()) {
    for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ5_0, DType::kQ5_1}) {
      for (int64_t nblk : {1, 2, 5, 8}) {
        CAPTURE(isa_name(isa));
        CAPTURE(dtype_name(t));
        CAPTURE(nblk);
        const int64_t n = 32 * nblk;
        const std::vector<uint8_t> q = quantize(t, random_row(n, 40 + (uint32_t)nblk));
        std::vector<std::vector<BlockQ8_0>> acts(4, std::vector<BlockQ8_0>((size_t)nblk));
        const void* a4[4];
        for (int r = 0; r < 4; ++r) {
          const std::vector<float> a = random_row(n, 50 + (uint32_t)r);
          quantize_row_q8_0_ref(a.data(), acts[(size_t)r].data(), n);
          a4[r] = acts[(size_t)r].data();
        }
        float out[4];
        RowDot4Fn f4 = row_dot4_fn(t, isa);
        REQUIRE((f4 != nullptr));
        f4(n, q.data(), a4, out);
        for (int r = 0; r < 4; ++r) CHECK(out[r] == row_dot_fn(t, isa)(n, q.data(), a4[r]));
      }
    }
  }
  CHECK((row_dot4_fn(DType::kQ4_K, Isa::kScalar) == nullptr));
}

TEST_CASE("w4 kernels (four weight rows) equal four single-row dots bit for bit") {
  for (Isa isa : isa_levels()) {
    for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ5_0, DType::kQ5_1}) {
      for (int64_t nblk : {1, 2, 5, 8}) {
        CAPTURE(isa_name(isa));
        CAPTURE(dtype_name(t));
        CAPTURE(nblk);
        const int64_t n = 32 * nblk;
        std::vector<std::vector<uint8_t>> rows;
        const void* w4[4];
        for (int r = 0; r < 4; ++r) rows.push_back(quantize(t, random_row(n, 60 + (uint32_t)r)));
        for (int r = 0; r < 4; ++r) w4[r] = rows[(size_t)r].data();
        std::vector<BlockQ8_0> act((size_t)nblk);
        const std::vector<float> a = random_row(n, 70 + (uint32_t)nblk);
        quantize_row_q8_0_ref(a.data(), act.data(), n);
        float out[4];
        RowDotW4Fn f = row_dot_w4_fn(t, isa);
        REQUIRE((f != nullptr));
        f(n, w4, act.data(), out);
        for (int r = 0; r < 4; ++r) CHECK(out[r] == row_dot_fn(t, isa)(n, w4[r], act.data()));
      }
    }
  }
}

TEST_CASE("Q5 4 x 4 tiles equal sixteen single-row dots bit for bit") {
  for (Isa isa : isa_levels()) {
    for (DType t : {DType::kQ5_0, DType::kQ5_1}) {
      const RowDotTileFn tile = row_dot_tile_fn(t, isa);
      const bool expect = isa >= Isa::kAvx512 && cpu_features().avx512vnni;
      CHECK((tile != nullptr) == expect);
      if (!tile) continue;
      for (int64_t nblk : {1, 2, 5, 8}) {
        CAPTURE(isa_name(isa));
        CAPTURE(dtype_name(t));
        CAPTURE(nblk);
        const int64_t n = 32 * nblk;
        std::vector<std::vector<uint8_t>> rows;
        std::vector<std::vector<BlockQ8_0>> acts(4, std::vector<BlockQ8_0>((size_t)nblk));
        const void* w4[4];
        const void* a4[4];
        for (int j = 0; j < 4; ++j) rows.push_back(quantize(t, random_row(n, 80 + (uint32_t)j, 1.0f + j)));
        for (int j = 0; j < 4; ++j) w4[j] = rows[(size_t)j].data();
        for (int r = 0; r < 4; ++r) {
          const std::vector<float> a = random_row(n, 90 + (uint32_t)r, 0.5f + r);
          quantize_row_q8_0_ref(a.data(), acts[(size_t)r].data(), n);
          a4[r] = acts[(size_t)r].data();
        }
        float out[16];
        tile(n, w4, a4, out);
        for (int r = 0; r < 4; ++r)
          for (int j = 0; j < 4; ++j) CHECK(out[4 * r + j] == row_dot_fn(t, isa)(n, w4[j], a4[r]));
      }
    }
  }
  CHECK((row_dot_tile_fn(DType::kQ4_0, Isa::kAvx512) == nullptr));
}

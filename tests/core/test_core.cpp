// SPDX-License-Identifier: MIT
// Tests for core/: Status/Result, dtype conversions, tensors, arena,
// parallel_for determinism and CPU feature reporting.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "rsfiqa/core/arena.hpp"
#include "rsfiqa/core/cpu.hpp"
#include "rsfiqa/core/dtype.hpp"
#include "rsfiqa/core/log.hpp"
#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/core/status.hpp"
#include "rsfiqa/core/tensor.hpp"

using namespace rsfiqa;

namespace {
Result<int> parse_positive(int v) {
  if (v <= 0) return make_error(ErrorCode::kInvalidArgument, "expected a positive value, got %d", v);
  return v;
}
Status twice(int v, int* out) {
  RSFIQA_ASSIGN_OR_RETURN(int x, parse_positive(v));
  *out = 2 * x;
  return Status();
}
}  // namespace

TEST_CASE("Status and Result carry codes and messages") {
  Status ok;
  CHECK(ok.ok());
  CHECK(ok.to_string() == "ok");
  Status bad(ErrorCode::kTruncated, "tensor 'w' ends past the file");
  CHECK_FALSE(bad.ok());
  CHECK(bad.code_value() == 4);
  CHECK(bad.to_string() == "truncated: tensor 'w' ends past the file");
  bad.with_context("model.safetensors");
  CHECK(bad.message() == "model.safetensors: tensor 'w' ends past the file");

  int out = 0;
  CHECK(twice(21, &out).ok());
  CHECK(out == 42);
  Status s = twice(-1, &out);
  CHECK(s.code() == ErrorCode::kInvalidArgument);
  CHECK(s.message() == "expected a positive value, got -1");

  Result<std::vector<int>> r(std::vector<int>{1, 2, 3});
  Result<std::vector<int>> r2 = r;
  CHECK(r2->size() == 3);
  Result<std::vector<int>> e(Status(ErrorCode::kNotFound, "x"));
  CHECK_FALSE(e.ok());
  e = r2;
  CHECK(e.ok());
  CHECK((*e)[2] == 3);
}

TEST_CASE("error code numbers are stable") {
  // These numbers are public API (C API, CLI JSON): they must never change.
  CHECK((int)ErrorCode::kInvalidArgument == 1);
  CHECK((int)ErrorCode::kMalformed == 8);
  CHECK((int)ErrorCode::kCancelled == 18);
  CHECK(std::string(error_code_name(ErrorCode::kLimitExceeded)) == "limit_exceeded");
}

TEST_CASE("f16 conversion is exact on every half value") {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_to_f32((uint16_t)h);
    if (std::isnan(f)) {
      CHECK(std::isnan(f16_to_f32(f32_to_f16(f))));
      continue;
    }
    CHECK(f32_to_f16(f) == (uint16_t)h);
  }
  CHECK(f16_to_f32(0x3c00) == 1.0f);
  CHECK(f16_to_f32(0x0001) == std::ldexp(1.0f, -24));
  CHECK(f32_to_f16(65520.0f) == 0x7c00);        // rounds to inf
  CHECK(f32_to_f16(65519.0f) == 0x7bff);        // largest finite
  CHECK(f32_to_f16(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);  // tie -> even
  CHECK(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3c02);
  CHECK(f32_to_f16(std::ldexp(1.0f, -25)) == 0x0000);          // tie -> even (0)
  CHECK(f32_to_f16(std::ldexp(3.0f, -26)) == 0x0001);
}

TEST_CASE("bf16 conversion rounds to nearest even") {
  CHECK(bf16_to_f32(f32_to_bf16(1.0f)) == 1.0f);
  CHECK(f32_to_bf16(bits_to_f32(0x3f808000u)) == 0x3f80);  // tie, even stays
  CHECK(f32_to_bf16(bits_to_f32(0x3f818000u)) == 0x3f82);  // tie, odd rounds up
  CHECK(f32_to_bf16(bits_to_f32(0x3f808001u)) == 0x3f81);
  CHECK(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST_CASE("dtype sizes and block rules") {
  CHECK(dtype_bytes(DType::kF32, 10) == 40);
  CHECK(dtype_bytes(DType::kQ4_0, 64) == 36);
  CHECK(dtype_bytes(DType::kQ4_0, 33) == -1);  // not whole blocks
  CHECK(dtype_bytes(DType::kQ6_K, 256) == 210);
  CHECK(dtype_bytes(DType::kF32, (int64_t)1 << 62) == -1);  // overflow
  Shape s{2, 3, 4};
  CHECK(s.numel() == 24);
  CHECK(s.to_string() == "[2, 3, 4]");
  Shape big{(int64_t)1 << 40, (int64_t)1 << 40};
  CHECK(big.numel() == -1);
}

TEST_CASE("tensors and arena") {
  auto t = Tensor::create(DType::kF32, {4, 5});
  REQUIRE(t.ok());
  CHECK(t->numel() == 20);
  CHECK(((uintptr_t)t->f32() % kAlignment) == 0);
  CHECK(t->view().is_contiguous());
  CHECK(t->view().strides[0] == 5);

  auto a = Arena::create(1024);
  REQUIRE(a.ok());
  float* p = a->alloc<float>(10);
  REQUIRE(p != nullptr);
  CHECK(((uintptr_t)p % kAlignment) == 0);
  const int64_t m = a->mark();
  CHECK(a->alloc<float>(100) != nullptr);
  CHECK(a->alloc<float>(1000) == nullptr);  // over capacity: null, no growth
  a->release(m);
  auto tv = a->alloc_tensor(DType::kF32, {1000});
  CHECK_FALSE(tv.ok());
  CHECK(tv.status().code() == ErrorCode::kOutOfMemory);
  CHECK(a->peak() >= 440);
}

TEST_CASE("parallel_for covers every index once and reductions are thread-count independent") {
  const int64_t n = 10007;
  for (int threads : {1, 2, 3, 4}) {
    std::vector<int> hits(n, 0);
    parallel_for(n, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[i]++;
    }, 1, threads);
    int total = 0;
    for (int h : hits) {
      CHECK(h == 1);
      total += h;
    }
    CHECK(total == n);
  }
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = std::sin((float)i) * 1e3f;
  auto sum_with = [&](int threads) {
    return parallel_reduce_chunks<float>(
        n, 256, 0.0f,
        [&](int64_t b, int64_t e) {
          float s = 0;
          for (int64_t i = b; i < e; ++i) s += v[i];
          return s;
        },
        [](float x, float y) { return x + y; }, threads);
  };
  const float s1 = sum_with(1);
  CHECK(s1 == sum_with(2));  // bit-identical, not just close
  CHECK(s1 == sum_with(3));
  CHECK(get_num_threads() >= 1);
  CHECK(physical_core_count() >= 1);
}

TEST_CASE("ISA selection can be capped") {
  const Isa best = cpu_best_isa();
  set_isa_cap(Isa::kScalar);
  CHECK(active_isa() == Isa::kScalar);
  clear_isa_cap();
  CHECK((int)active_isa() <= (int)best);
  CHECK_FALSE(cpu_features_string().empty());
}

TEST_CASE("log callback receives messages; no callback drops them") {
  log_message(LogLevel::kInfo, "dropped %d", 1);
  static std::string got;
  set_log_callback([](LogLevel, const char* msg, void*) { got = msg; });
  log_message(LogLevel::kWarn, "hello %s", "log");
  CHECK(got == "hello log");
  set_log_callback(nullptr);
}

// SPDX-License-Identifier: MIT
// NumPy .npy reader/writer: files written by numpy.save (committed by
// tools/golden/make_amg_golden.py) decode to the values numpy stored, our
// encoder reproduces numpy's bytes exactly, and malformed files fail with a
// specific error.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "rsfiqa/io/file.hpp"
#include "rsfiqa/io/npy.hpp"

using namespace rsfiqa;

namespace {
std::vector<uint8_t> golden(const char* name) {
  auto r = io::read_file_bytes(std::string(RSFIQA_TEST_DATA_DIR) + "/golden/amg/" + name, 1 << 20);
  REQUIRE(r.ok());
  return r.value();
}
}  // namespace

TEST_CASE("npy: numpy.save files decode and re-encode byte for byte") {
  // numpy: np.arange(24, dtype='<f4').reshape(2, 3, 4) * 0.5 - 3
  const auto b = golden("npy_f32_2x3x4.npy");
  auto a = io::npy_decode_f32(b.data(), b.size());
  REQUIRE(a.ok());
  CHECK(a.value().shape == std::vector<int64_t>{2, 3, 4});
  REQUIRE(a.value().data.size() == 24);
  for (int i = 0; i < 24; ++i) CHECK(a.value().data[(size_t)i] == (float)i * 0.5f - 3.f);
  auto enc = io::npy_encode_f32(a.value().data.data(), a.value().shape);
  REQUIRE(enc.ok());
  CHECK(enc.value() == b);
  // np.arange(5, dtype='<f4') / 4: a one-element tuple "(5,)".
  const auto c = golden("npy_f32_5.npy");
  auto a5 = io::npy_decode_f32(c.data(), c.size());
  REQUIRE(a5.ok());
  CHECK(a5.value().shape == std::vector<int64_t>{5});
  CHECK(a5.value().data[3] == 0.75f);
  auto e5 = io::npy_encode_f32(a5.value().data.data(), a5.value().shape);
  REQUIRE(e5.ok());
  CHECK(e5.value() == c);
}

TEST_CASE("npy: bad input") {
  const auto f64 = golden("npy_f64_2.npy");
  CHECK(io::npy_decode_f32(f64.data(), f64.size()).status().code() == ErrorCode::kUnsupportedType);
  auto b = golden("npy_f32_2x3x4.npy");
  CHECK(io::npy_decode_f32(b.data(), b.size() - 1).status().code() == ErrorCode::kTruncated);
  CHECK(io::npy_decode_f32(b.data(), 9).status().code() == ErrorCode::kBadMagic);
  auto v = b;
  v[6] = 4;
  CHECK(io::npy_decode_f32(v.data(), v.size()).status().code() == ErrorCode::kUnsupportedVersion);
  auto big = b;
  big.push_back(0);
  CHECK(io::npy_decode_f32(big.data(), big.size()).status().code() == ErrorCode::kMalformed);
  auto fo = b;
  const std::string s(fo.begin(), fo.end());
  const size_t p = s.find("False");
  REQUIRE(p != std::string::npos);
  std::memcpy(fo.data() + p, "True ", 5);
  CHECK(io::npy_decode_f32(fo.data(), fo.size()).status().code() == ErrorCode::kUnsupportedType);
  CHECK(io::npy_decode_f32(b.data(), b.size(), 10).status().code() == ErrorCode::kLimitExceeded);
  CHECK(io::npy_encode_f32(nullptr, {2, -1}).status().code() == ErrorCode::kInvalidArgument);
}

// SPDX-License-Identifier: MIT
// Tests of io/sam_preprocess.hpp against independent references: Pillow 9.4's
// Image.resize(BILINEAR) for the antialiased 8-bit resize, PyTorch's
// Sam.preprocess arithmetic (normalise + pad) and F.interpolate(bilinear,
// align_corners=False) for the float resize. The golden files are written by
// tools/golden/make_preprocess_golden.py; nothing here needs Python.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "rsfiqa/io/image.hpp"
#include "rsfiqa/io/sam_preprocess.hpp"

using namespace rsfiqa;
using namespace rsfiqa::io;

namespace {

const std::string kGolden = std::string(RSFIQA_TEST_DATA_DIR) + "/golden/preprocess/";
const std::string kImages = std::string(RSFIQA_TEST_DATA_DIR) + "/images/";

Image load_or_fail(const std::string& path) {
  Result<Image> r = load_image(path);
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  return std::move(r).value();
}

std::vector<float> read_f32(const std::string& path, size_t count) {
  std::vector<float> v(count);
  std::ifstream f(path, std::ios::binary);
  REQUIRE_MESSAGE(f.good(), "cannot open " << path);
  f.read(reinterpret_cast<char*>(v.data()), (std::streamsize)(count * sizeof(float)));
  REQUIRE_MESSAGE((size_t)f.gcount() == count * sizeof(float), path << " is too short");
  return v;
}

uint64_t fnv1a64(const std::vector<uint8_t>& d) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (uint8_t b : d) {
    h ^= b;
    h *= 0x100000001B3ull;
  }
  return h;
}

// Max |a - b| over all bytes of two same-size images.
int max_abs_diff(const Image& a, const Image& b) {
  int m = 0;
  for (size_t i = 0; i < a.rgb.size(); ++i) {
    const int d = std::abs((int)a.rgb[i] - (int)b.rgb[i]);
    if (d > m) m = d;
  }
  return m;
}

}  // namespace

TEST_CASE("sam_preprocess_shape follows get_preprocess_shape") {
  // Hand-checked from the Python formula: scale = 1024 / max(h, w),
  // side = int(side * scale + 0.5).
  CHECK(sam_preprocess_shape(300, 451, 1024).h == 681);
  CHECK(sam_preprocess_shape(300, 451, 1024).w == 1024);
  CHECK(sam_preprocess_shape(427, 640, 1024).h == 683);
  CHECK(sam_preprocess_shape(1024, 1024, 1024).h == 1024);
  CHECK(sam_preprocess_shape(1, 3000, 1024).h == 0);  // too thin: sam_preprocess refuses it
  CHECK(sam_preprocess_shape(2000, 1, 1024).w == 1);  // 0.512 + 0.5 rounds up
}

TEST_CASE("resize_bilinear_antialias_u8 matches Pillow's BILINEAR resize bit for bit") {
  std::ifstream cases(kGolden + "resize_cases.txt");
  REQUIRE(cases.good());
  std::string name, file;
  int w = 0, h = 0, n = 0;
  while (cases >> name >> w >> h >> file) {
    std::string in_path = kGolden + name + ".png";
    if (name == "chelsea" || name == "camera") in_path = kImages + name + ".png";
    const Image in = load_or_fail(in_path);
    const Image want = load_or_fail(kGolden + file);
    REQUIRE(want.width == w);
    REQUIRE(want.height == h);
    Result<Image> got = resize_bilinear_antialias(in, w, h);
    REQUIRE(got.ok());
    INFO(name << " " << in.width << "x" << in.height << " -> " << w << "x" << h);
    CHECK(max_abs_diff(*got, want) == 0);
    ++n;
  }
  CHECK(n == 14);
}

TEST_CASE("resize_bilinear_antialias_u8 handles 1, 2 and 4 channels like 3") {
  // Channels are independent: a 4-channel image resized as a whole equals its
  // channels resized one by one.
  const int W = 37, H = 23, OW = 13, OH = 41;
  std::vector<uint8_t> rgba((size_t)W * H * 4);
  uint32_t s = 12345;
  for (auto& v : rgba) {
    s = s * 1664525u + 1013904223u;
    v = (uint8_t)(s >> 24);
  }
  std::vector<uint8_t> out4((size_t)OW * OH * 4);
  REQUIRE(resize_bilinear_antialias_u8(rgba.data(), W, H, 4, out4.data(), OW, OH).ok());
  for (int c = 0; c < 4; ++c) {
    std::vector<uint8_t> plane((size_t)W * H), out1((size_t)OW * OH);
    for (size_t i = 0; i < plane.size(); ++i) plane[i] = rgba[i * 4 + (size_t)c];
    REQUIRE(resize_bilinear_antialias_u8(plane.data(), W, H, 1, out1.data(), OW, OH).ok());
    for (size_t i = 0; i < out1.size(); ++i) REQUIRE(out1[i] == out4[i * 4 + (size_t)c]);
  }
}

TEST_CASE("resize argument errors") {
  uint8_t px[12] = {0};
  uint8_t out[12];
  CHECK(resize_bilinear_antialias_u8(px, 0, 2, 3, out, 2, 2).code() == ErrorCode::kInvalidArgument);
  CHECK(resize_bilinear_antialias_u8(px, 2, 2, 5, out, 2, 2).code() == ErrorCode::kInvalidArgument);
  CHECK(resize_bilinear_antialias_u8(nullptr, 2, 2, 3, out, 2, 2).code() == ErrorCode::kInvalidArgument);
  Image empty;
  CHECK(resize_bilinear_antialias(empty, 4, 4).status().code() == ErrorCode::kEmptyInput);
  Image bad;
  bad.width = 4;
  bad.height = 4;
  bad.rgb.resize(5);
  CHECK(resize_bilinear_antialias(bad, 2, 2).status().code() == ErrorCode::kShapeMismatch);
  float f[4] = {0, 0, 0, 0};
  float g[4];
  CHECK(resize_bilinear_f32(f, 1, 2, 2, g, 0, 2).code() == ErrorCode::kInvalidArgument);
  CHECK(sam_preprocess(empty).status().code() == ErrorCode::kEmptyInput);
  Image thin;
  thin.width = 3000;
  thin.height = 1;
  thin.rgb.assign(3000 * 3, 7);
  Result<SamInput> r = sam_preprocess(thin);
  CHECK(r.status().code() == ErrorCode::kInvalidArgument);
  CHECK(r.status().message().find("too thin") != std::string::npos);
  Image one;
  one.width = one.height = 1;
  one.rgb = {1, 2, 3};
  CHECK(sam_preprocess(one, 0).status().code() == ErrorCode::kInvalidArgument);
}

namespace {
// Checks sam_preprocess(<name>.png, T) against sam_<name>_<T>.txt.
void check_sam_case(const std::string& name, int T) {
  const Image img = load_or_fail(kImages + name + ".png");
  std::ifstream g(kGolden + "sam_" + name + "_" + std::to_string(T) + ".txt");
  REQUIRE(g.good());
  Result<SamInput> r = sam_preprocess(img, T);
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  const SamInput& in = *r;
  REQUIRE(in.pixels.shape() == Shape({3, T, T}));
  const float* px = in.pixels.f32();
  const size_t plane = (size_t)T * T;

  // The resized uint8 image itself, for the hash and pixel samples.
  const SamSize rs = sam_preprocess_shape(img.height, img.width, T);
  Result<Image> resized = resize_bilinear_antialias(img, rs.w, rs.h);
  REQUIRE(resized.ok());

  std::string key;
  int samples = 0, px_mismatch = 0;
  double max_t_diff = 0;
  while (g >> key) {
    if (key == "original") {
      int h, w;
      g >> h >> w;
      CHECK(in.original_size.h == h);
      CHECK(in.original_size.w == w);
    } else if (key == "input") {
      int h, w;
      g >> h >> w;
      CHECK(in.input_size.h == h);
      CHECK(in.input_size.w == w);
    } else if (key == "resized_fnv1a64") {
      std::string hex;
      g >> hex;
      char buf[17];
      std::snprintf(buf, sizeof(buf), "%016llx", (unsigned long long)fnv1a64(resized->rgb));
      CHECK_MESSAGE(hex == buf, "hash of the full resized image differs from Pillow's");
    } else if (key == "px") {
      int y, x, rgb[3];
      g >> y >> x >> rgb[0] >> rgb[1] >> rgb[2];
      for (int c = 0; c < 3; ++c)
        if (resized->at(y, x, c) != rgb[c]) ++px_mismatch;
    } else if (key == "sum") {
      int c;
      double want;
      g >> c >> want;
      double sum = 0;
      for (size_t i = 0; i < plane; ++i) sum += px[(size_t)c * plane + i];
      CHECK(std::fabs(sum - want) <= 1e-6 * (1.0 + std::fabs(want)));
    } else if (key == "t") {
      int c, y, x;
      float want;
      g >> c >> y >> x >> want;
      const double d = std::fabs((double)px[(size_t)c * plane + (size_t)y * T + (size_t)x] - want);
      if (d > max_t_diff) max_t_diff = d;
      ++samples;
    } else {
      FAIL("unknown key " << key);
    }
  }
  CHECK(px_mismatch == 0);
  CHECK(samples == 3 * 15 * 17);
  // The normalisation is the same float32 arithmetic as PyTorch's, and the
  // goldens print 9 significant digits, which round-trip float32 exactly.
  CHECK(max_t_diff == 0.0);
}
}  // namespace

TEST_CASE("sam_preprocess matches segment-anything on chelsea.png (451x300 -> 1024x681)") {
  check_sam_case("chelsea", 1024);
}

TEST_CASE("sam_preprocess matches segment-anything on camera.png (grey 512x512 -> 1024x1024)") {
  check_sam_case("camera", 1024);
}

TEST_CASE("sam_preprocess pads with zeros after normalisation") {
  Image img;
  img.width = 40;
  img.height = 10;
  img.rgb.assign(40 * 10 * 3, 200);
  Result<SamInput> r = sam_preprocess(img, 64);
  REQUIRE(r.ok());
  CHECK(r->input_size.h == 16);
  CHECK(r->input_size.w == 64);
  const float* px = r->pixels.f32();
  // Inside: (200 - mean) / std; below the image: exactly 0.
  CHECK(px[0] == doctest::Approx((200.0 - 123.675) / 58.395).epsilon(1e-6));
  CHECK(px[2 * 64 * 64 + 15 * 64 + 63] == doctest::Approx((200.0 - 103.53) / 57.375).epsilon(1e-6));
  for (int c = 0; c < 3; ++c)
    for (int y = 16; y < 64; ++y)
      for (int x = 0; x < 64; ++x) REQUIRE(px[(size_t)c * 64 * 64 + (size_t)y * 64 + (size_t)x] == 0.0f);
}

TEST_CASE("resize_bilinear_f32 matches F.interpolate(bilinear, align_corners=False)") {
  std::ifstream cases(kGolden + "interp_cases.txt");
  REQUIRE(cases.good());
  std::string name;
  int p, ih, iw, oh, ow, n = 0;
  while (cases >> name >> p >> ih >> iw >> oh >> ow) {
    const std::vector<float> in = read_f32(kGolden + "interp_" + name + "_in.f32", (size_t)p * ih * iw);
    const std::vector<float> want = read_f32(kGolden + "interp_" + name + "_out.f32", (size_t)p * oh * ow);
    std::vector<float> got((size_t)p * oh * ow, -1.f);
    REQUIRE(resize_bilinear_f32(in.data(), p, ih, iw, got.data(), oh, ow).ok());
    double max_diff = 0;
    for (size_t i = 0; i < got.size(); ++i) max_diff = std::max(max_diff, (double)std::fabs(got[i] - want[i]));
    INFO(name << ": [" << p << ", " << ih << ", " << iw << "] -> [" << p << ", " << oh << ", " << ow
              << "], max |diff| = " << max_diff);
    CHECK(max_diff <= 1e-5);
    ++n;
  }
  CHECK(n == 5);
}

TEST_CASE("resize results do not depend on the thread count") {
  const Image img = load_or_fail(kImages + "chelsea.png");
  const int saved = get_num_threads();
  set_num_threads(1);
  Result<SamInput> a = sam_preprocess(img, 512);
  set_num_threads(2);
  Result<SamInput> b = sam_preprocess(img, 512);
  set_num_threads(saved);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(std::memcmp(a->pixels.f32(), b->pixels.f32(), sizeof(float) * 3 * 512 * 512) == 0);
}

// SPDX-License-Identifier: MIT
// Tests of include/rsfiqa/pipeline/distort.hpp: the table, every type at
// every level, determinism (seeds, thread counts), masks and feathering,
// noise statistics against their definitions, goldens from the independent
// numpy/scipy implementation in tools/golden/make_distort_golden.py, and
// bad input.
#include "rsfiqa/pipeline/distort.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

namespace {

using rsfiqa::DistortionDimension;
using rsfiqa::DistortionType;
using rsfiqa::io::Image;

const std::string kImages = std::string(RSFIQA_TEST_DATA_DIR) + "/images/";
const std::string kGolden = std::string(RSFIQA_TEST_DATA_DIR) + "/golden/distort/";

Image load(const std::string& path) {
  auto r = rsfiqa::io::load_image(path);
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  return std::move(*r);
}

// A crop of chelsea.png with odd sizes (borders and partial blocks matter).
Image crop(const Image& src, int x0, int y0, int w, int h) {
  Image out;
  out.width = w;
  out.height = h;
  out.rgb.resize((size_t)w * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) out.rgb[((size_t)y * w + x) * 3 + c] = src.at(y0 + y, x0 + x, c);
  return out;
}

const Image& sample() {
  static const Image img = crop(load(kImages + "chelsea.png"), 120, 70, 97, 61);
  return img;
}

Image distort(const Image& in, DistortionType t, int level, uint64_t seed, const uint8_t* mask = nullptr) {
  Image out;
  rsfiqa::Status st = rsfiqa::apply_distortion(in, t, level, seed, mask, &out);
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  REQUIRE(out.width == in.width);
  REQUIRE(out.height == in.height);
  REQUIRE(out.rgb.size() == in.rgb.size());
  return out;
}

}  // namespace

TEST_CASE("distortion table: 22 types, unique names, every dimension, parse round trip") {
  const rsfiqa::DistortionInfo* t = rsfiqa::distortion_table();
  std::set<std::string> names;
  int per_dim[rsfiqa::kNumDistortionDimensions] = {};
  for (int i = 0; i < rsfiqa::kNumDistortionTypes; ++i) {
    CHECK((int)t[i].type == i);
    names.insert(t[i].name);
    ++per_dim[(int)t[i].dim];
    auto p = rsfiqa::parse_distortion_name(t[i].name);
    REQUIRE(p.ok());
    CHECK(*p == t[i].type);
    // Levels are distinct and move one way (mild -> heavy).
    const float d = t[i].a[1] - t[i].a[0];
    CHECK(d != 0.0f);
    for (int l = 1; l < rsfiqa::kDistortionLevels; ++l) CHECK((t[i].a[l] - t[i].a[l - 1]) * d > 0.0f);
  }
  CHECK(names.size() == (size_t)rsfiqa::kNumDistortionTypes);
  CHECK(rsfiqa::kNumDistortionTypes >= 20);
  for (int d = 0; d < rsfiqa::kNumDistortionDimensions; ++d) CHECK(per_dim[d] >= 2);
  CHECK(*rsfiqa::parse_distortion_name("motion-blur") == DistortionType::kMotionBlur);
  auto bad = rsfiqa::parse_distortion_name("sharpen");
  CHECK(!bad.ok());
  CHECK(bad.status().code() == rsfiqa::ErrorCode::kInvalidArgument);
  CHECK(bad.status().message().find("sharpen") != std::string::npos);
}

TEST_CASE("splitmix64 mixer matches the published first output for state 0") {
  // splitmix64 (Vigna's reference splitmix64.c) seeded with 0 first returns
  // 0xE220A8397B1DCDAF; stream_u64(0, 0) is exactly that step.
  CHECK(rsfiqa::detail::stream_u64(0, 0) == 0xE220A8397B1DCDAFull);
  const double u = rsfiqa::detail::stream_uniform(123, 5);
  CHECK(u > 0.0);
  CHECK(u < 1.0);
}

TEST_CASE("every type at every level runs, changes the image and is deterministic") {
  const Image& in = sample();
  for (int i = 0; i < rsfiqa::kNumDistortionTypes; ++i) {
    const rsfiqa::DistortionInfo& info = rsfiqa::distortion_table()[i];
    for (int level = 1; level <= rsfiqa::kDistortionLevels; ++level) {
      const std::string name = info.name;
      CAPTURE(name);
      CAPTURE(level);
      const Image a = distort(in, info.type, level, 42);
      const Image b = distort(in, info.type, level, 42);
      CHECK(a.rgb == b.rgb);
      CHECK(a.rgb != in.rgb);
      if (info.stochastic) {
        const Image c = distort(in, info.type, level, 43);
        CHECK(c.rgb != a.rgb);
      }
    }
  }
}

TEST_CASE("results do not depend on the thread count") {
  const Image& in = sample();
  for (int i = 0; i < rsfiqa::kNumDistortionTypes; ++i) {
    const rsfiqa::DistortionInfo& info = rsfiqa::distortion_table()[i];
    const std::string name = info.name;
    CAPTURE(name);
    rsfiqa::set_num_threads(1);
    const Image one = distort(in, info.type, 4, 9);
    rsfiqa::set_num_threads(2);
    const Image two = distort(in, info.type, 4, 9);
    rsfiqa::set_num_threads(0);
    CHECK(one.rgb == two.rgb);
  }
}

TEST_CASE("masks: unchanged outside beyond the feather, the full distortion deep inside") {
  const Image& in = sample();
  const int w = in.width, h = in.height, R = rsfiqa::kMaskFeatherRadius;
  // A rectangle plus a separate blob, so two borders and a corner occur.
  std::vector<uint8_t> mask((size_t)w * h, 0);
  for (int y = 15; y < 45; ++y)
    for (int x = 20; x < 60; ++x) mask[(size_t)y * w + x] = 255;
  for (int y = 5; y < 12; ++y)
    for (int x = 80; x < 90; ++x) mask[(size_t)y * w + x] = 1;
  // Chebyshev distance to the nearest pixel of the other kind (brute force, small image).
  auto dist_to = [&](int y, int x, bool inside) {
    int best = 1 << 20;
    for (int yy = 0; yy < h; ++yy)
      for (int xx = 0; xx < w; ++xx)
        if ((mask[(size_t)yy * w + xx] != 0) == inside)
          best = std::min(best, std::max(std::abs(yy - y), std::abs(xx - x)));
    return best;
  };
  std::vector<int> d_out((size_t)w * h), d_in((size_t)w * h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      d_out[(size_t)y * w + x] = dist_to(y, x, true);  // for outside pixels: distance to the mask
      d_in[(size_t)y * w + x] = dist_to(y, x, false);  // for inside pixels: distance to the outside
    }
  for (int i = 0; i < rsfiqa::kNumDistortionTypes; ++i) {
    const rsfiqa::DistortionInfo& info = rsfiqa::distortion_table()[i];
    const std::string name = info.name;
    CAPTURE(name);
    const Image full = distort(in, info.type, 5, 3);
    const Image masked = distort(in, info.type, 5, 3, mask.data());
    int64_t outside_changed = 0, inside_differs = 0, band_changed = 0;
    for (size_t p = 0; p < (size_t)w * h; ++p) {
      for (int c = 0; c < 3; ++c) {
        const size_t k = p * 3 + c;
        if (!mask[p] && d_out[p] > R) outside_changed += masked.rgb[k] != in.rgb[k];
        if (mask[p] && d_in[p] > R) inside_differs += masked.rgb[k] != full.rgb[k];
        if (!mask[p] && d_out[p] <= R) band_changed += masked.rgb[k] != in.rgb[k];
      }
    }
    CHECK(outside_changed == 0);
    CHECK(inside_differs == 0);
    // The feather reaches outside the mask (not a hard cut) for types that change most pixels.
    if (info.type != DistortionType::kImpulseNoise) CHECK(band_changed > 0);
  }
}

TEST_CASE("noise statistics follow their definitions on a flat image") {
  Image flat;
  flat.width = 400;
  flat.height = 300;
  flat.rgb.assign((size_t)400 * 300 * 3, 128);
  const double n = 400.0 * 300.0;
  SUBCASE("gaussian_noise level 5: sigma 25, identical on the three channels") {
    const Image o = distort(flat, DistortionType::kGaussianNoise, 5, 1);
    double s = 0, s2 = 0;
    bool same = true;
    for (size_t p = 0; p < (size_t)n; ++p) {
      const double v = o.rgb[p * 3];
      s += v;
      s2 += v * v;
      same = same && o.rgb[p * 3 + 1] == o.rgb[p * 3] && o.rgb[p * 3 + 2] == o.rgb[p * 3];
    }
    const double mean = s / n, sd = std::sqrt(s2 / n - mean * mean);
    CHECK(same);
    CHECK(mean == doctest::Approx(128.0).epsilon(0.002));
    CHECK(sd == doctest::Approx(25.0).epsilon(0.02));  // ~1% clipping at 3.5 sigma is negligible
  }
  SUBCASE("color_noise level 3: sigma 10 per channel, channels uncorrelated") {
    const Image o = distort(flat, DistortionType::kColorNoise, 3, 1);
    double s[3] = {}, s2[3] = {}, srg = 0;
    for (size_t p = 0; p < (size_t)n; ++p) {
      for (int c = 0; c < 3; ++c) {
        const double v = o.rgb[p * 3 + c] - 128.0;
        s[c] += v;
        s2[c] += v * v;
      }
      srg += (o.rgb[p * 3] - 128.0) * (o.rgb[p * 3 + 1] - 128.0);
    }
    for (int c = 0; c < 3; ++c) CHECK(std::sqrt(s2[c] / n) == doctest::Approx(10.0).epsilon(0.02));
    CHECK(std::fabs(srg / n) / 100.0 < 0.02);  // correlation coefficient near 0
  }
  SUBCASE("impulse_noise level 5: 14% of pixels, half black, half white") {
    const Image o = distort(flat, DistortionType::kImpulseNoise, 5, 1);
    double black = 0, white = 0;
    for (size_t p = 0; p < (size_t)n; ++p) {
      black += o.rgb[p * 3] == 0;
      white += o.rgb[p * 3] == 255;
    }
    CHECK(black / n == doctest::Approx(0.07).epsilon(0.05));
    CHECK(white / n == doctest::Approx(0.07).epsilon(0.05));
  }
}

TEST_CASE("goldens from the independent numpy/scipy implementation") {
  // Tolerance: every value within 1 level and at least 99.9% identical
  // (float32 here, float64 there: a value at a rounding boundary, or a DCT
  // coefficient at one, may go the other way). Measured: all identical but
  // one value of dct_quantization_l3.
  const Image in = load(kGolden + "input.png");
  struct Case {
    const char* file;
    DistortionType type;
    int level;
    uint64_t seed;
  };
  const Case cases[] = {
      {"gaussian_blur_l2", DistortionType::kGaussianBlur, 2, 0},
      {"gaussian_blur_l4", DistortionType::kGaussianBlur, 4, 0},
      {"saturation_up_l3", DistortionType::kSaturationUp, 3, 0},
      {"saturation_down_l2", DistortionType::kSaturationDown, 2, 0},
      {"brightness_up_l3", DistortionType::kBrightnessUp, 3, 0},
      {"brightness_down_l4", DistortionType::kBrightnessDown, 4, 0},
      {"contrast_up_l2", DistortionType::kContrastUp, 2, 0},
      {"contrast_down_l4", DistortionType::kContrastDown, 4, 0},
      {"hue_shift_l3", DistortionType::kHueShift, 3, 0},
      {"over_exposure_l3", DistortionType::kOverExposure, 3, 0},
      {"under_exposure_l4", DistortionType::kUnderExposure, 4, 0},
      {"dct_quantization_l3", DistortionType::kDctQuantization, 3, 0},
      {"gaussian_noise_l3_seed11", DistortionType::kGaussianNoise, 3, 11},
      {"color_noise_l2_seed12", DistortionType::kColorNoise, 2, 12},
      {"impulse_noise_l5_seed13", DistortionType::kImpulseNoise, 5, 13},
  };
  for (const Case& c : cases) {
    const std::string file = c.file;
    CAPTURE(file);
    const Image want = load(kGolden + std::string(c.file) + ".png");
    const Image got = distort(in, c.type, c.level, c.seed);
    REQUIRE(want.rgb.size() == got.rgb.size());
    int max_diff = 0;
    int64_t same = 0;
    for (size_t k = 0; k < got.rgb.size(); ++k) {
      const int d = std::abs((int)got.rgb[k] - (int)want.rgb[k]);
      max_diff = std::max(max_diff, d);
      same += d == 0;
    }
    const double frac_same = (double)same / (double)got.rgb.size();
    CHECK(max_diff <= 1);
    CHECK(frac_same >= 0.999);
  }
}

TEST_CASE("masked distortion via labels and the checked entry point") {
  const Image& in = sample();
  std::vector<int32_t> labels((size_t)in.width * in.height);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = (int32_t)((i % (size_t)in.width) * 3 / (size_t)in.width);
  const std::vector<uint8_t> m = rsfiqa::mask_from_labels(labels.data(), (int64_t)labels.size(), {2});
  size_t inside = 0;
  for (uint8_t v : m) inside += v;
  CHECK(inside > 0);
  CHECK(inside < m.size());
  Image out;
  CHECK(rsfiqa::apply_distortion_checked(in, DistortionType::kGaussianBlur, 3, 0, &m, in.height, in.width, &out).ok());
  // Column 0 is far from the region of label 2 (the right third).
  for (int y = 0; y < in.height; ++y) CHECK(out.at(y, 0, 1) == in.at(y, 0, 1));
}

TEST_CASE("bad input gives clear errors") {
  const Image& in = sample();
  Image out;
  SUBCASE("level out of range") {
    for (int level : {0, 6, -1}) {
      rsfiqa::Status st = rsfiqa::apply_distortion(in, DistortionType::kJpeg, level, 0, nullptr, &out);
      CHECK(st.code() == rsfiqa::ErrorCode::kInvalidArgument);
      CHECK(st.message().find("level") != std::string::npos);
    }
  }
  SUBCASE("unknown type number") {
    rsfiqa::Status st = rsfiqa::apply_distortion(in, (DistortionType)99, 1, 0, nullptr, &out);
    CHECK(st.code() == rsfiqa::ErrorCode::kInvalidArgument);
  }
  SUBCASE("zero-size image") {
    Image empty;
    rsfiqa::Status st = rsfiqa::apply_distortion(empty, DistortionType::kGaussianBlur, 1, 0, nullptr, &out);
    CHECK(st.code() == rsfiqa::ErrorCode::kEmptyInput);
  }
  SUBCASE("pixel buffer of the wrong size") {
    Image broken = in;
    broken.rgb.resize(10);
    rsfiqa::Status st = rsfiqa::apply_distortion(broken, DistortionType::kGaussianBlur, 1, 0, nullptr, &out);
    CHECK(st.code() == rsfiqa::ErrorCode::kShapeMismatch);
  }
  SUBCASE("mask size mismatch") {
    std::vector<uint8_t> m((size_t)(in.width - 1) * in.height, 1);
    rsfiqa::Status st =
        rsfiqa::apply_distortion_checked(in, DistortionType::kGaussianBlur, 1, 0, &m, in.height, in.width - 1, &out);
    CHECK(st.code() == rsfiqa::ErrorCode::kShapeMismatch);
    CHECK(st.message().find("mask") != std::string::npos);
    st = rsfiqa::apply_distortion_checked(in, DistortionType::kGaussianBlur, 1, 0, &m, in.height, in.width, &out);
    CHECK(st.code() == rsfiqa::ErrorCode::kShapeMismatch);
  }
  SUBCASE("no output") {
    CHECK(!rsfiqa::apply_distortion(in, DistortionType::kGaussianBlur, 1, 0, nullptr, nullptr).ok());
  }
}

TEST_CASE("tiny images: 1x1, 1xN and Nx1 through every type") {
  for (auto wh : {std::pair<int, int>{1, 1}, {1, 9}, {13, 1}, {3, 2}}) {
    Image img;
    img.width = wh.first;
    img.height = wh.second;
    img.rgb.resize((size_t)img.width * img.height * 3);
    for (size_t k = 0; k < img.rgb.size(); ++k) img.rgb[k] = (uint8_t)(40 + 37 * k % 180);
    for (int i = 0; i < rsfiqa::kNumDistortionTypes; ++i) {
      const std::string name = rsfiqa::distortion_table()[i].name;
      CAPTURE(name);
      CAPTURE(img.width);
      CAPTURE(img.height);
      distort(img, rsfiqa::distortion_table()[i].type, 5, 1);
    }
  }
}

TEST_CASE("out may alias in") {
  const Image& in = sample();
  std::vector<uint8_t> mask((size_t)in.width * in.height, 0);
  for (size_t i = 0; i < mask.size() / 2; ++i) mask[i] = 1;
  for (DistortionType t : {DistortionType::kGaussianBlur, DistortionType::kJpeg, DistortionType::kColorNoise}) {
    const Image want = distort(in, t, 3, 8, mask.data());
    Image inout = in;
    REQUIRE(rsfiqa::apply_distortion(inout, t, 3, 8, mask.data(), &inout).ok());
    CHECK(inout.rgb == want.rgb);
  }
}

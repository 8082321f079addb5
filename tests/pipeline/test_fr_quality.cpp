// SPDX-License-Identifier: MIT
// Tests of include/rsfiqa/pipeline/fr_quality.hpp: goldens from the
// independent numpy/scipy implementation (tools/golden/make_distort_golden.py),
// pristine = 100, monotone in level for every distortion type on the sample
// photos, per-region pooling with a distortion restricted to one region, and
// bad input.
#include "rsfiqa/pipeline/fr_quality.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using rsfiqa::DistortionType;
using rsfiqa::io::Image;

const std::string kImages = std::string(RSFIQA_TEST_DATA_DIR) + "/images/";
const std::string kGolden = std::string(RSFIQA_TEST_DATA_DIR) + "/golden/distort/";

Image load(const std::string& path) {
  auto r = rsfiqa::io::load_image(path);
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  return std::move(*r);
}

rsfiqa::FrResult score(const Image& ref, const Image& dist, const int32_t* labels = nullptr, int k = 0) {
  auto r = rsfiqa::fr_quality(ref, dist, labels, k);
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  return std::move(*r);
}

}  // namespace

TEST_CASE("fr_quality matches the numpy/scipy golden (global and per region)") {
  // Tolerances: quality 1e-4 (0..100 scale), SSIM 1e-7, dE 1e-6 (both in double).
  const Image ref = load(kGolden + "input.png");
  const Image lab_png = load(kGolden + "labels.png");
  std::vector<int32_t> labels((size_t)ref.width * ref.height);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = lab_png.rgb[i * 3];
  std::ifstream f(kGolden + "fr_golden.txt");
  REQUIRE(f.good());
  std::string line;
  int rows = 0;
  std::string current;
  rsfiqa::FrResult res;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream is(line);
    std::string name;
    int region = 0;
    double q = 0, s = 0, e = 0;
    is >> name >> region >> q >> s >> e;
    REQUIRE(!is.fail());
    if (name != current) {
      current = name;
      res = score(ref, load(kGolden + name + ".png"), labels.data(), 3);
    }
    const rsfiqa::FrScore& got = region < 0 ? res.global : res.regions.at((size_t)region);
    CAPTURE(name);
    CAPTURE(region);
    CHECK(std::fabs(got.quality - q) <= 1e-4);
    CHECK(std::fabs(got.ssim - s) <= 1e-7);
    CHECK(std::fabs(got.delta_e - e) <= 1e-6);
    ++rows;
  }
  CHECK(rows == 16);
}

TEST_CASE("pristine scores 100 and the score falls with the level for every type") {
  for (const std::string file : {"chelsea.png"}) {
    const Image ref = load(kImages + file);
    const rsfiqa::FrResult same = score(ref, ref);
    CHECK(same.global.quality == doctest::Approx(100.0).epsilon(1e-12));
    CHECK(same.global.delta_e == 0.0);
    for (int i = 0; i < rsfiqa::kNumDistortionTypes; ++i) {
      const rsfiqa::DistortionInfo& info = rsfiqa::distortion_table()[i];
      const std::string name = info.name;
      double prev = 100.0;
      for (int level = 1; level <= rsfiqa::kDistortionLevels; ++level) {
        Image d;
        REQUIRE(rsfiqa::apply_distortion(ref, info.type, level, 5, nullptr, &d).ok());
        const double q = score(ref, d).global.quality;
        CAPTURE(file);
        CAPTURE(name);
        CAPTURE(level);
        CHECK(q < prev);
        CHECK(q >= 0.0);
        if (level == 1) CHECK(q < 95.0);  // level 1 is visible
        if (level == 5) CHECK(q < 55.0);  // level 5 is heavy
        prev = q;
      }
    }
  }
}

TEST_CASE("per-region scores find the distorted region") {
  const Image ref = load(kImages + "chelsea.png");
  const int w = ref.width, h = ref.height;
  // Three vertical bands; the distortion goes into band 1 only.
  std::vector<int32_t> labels((size_t)w * h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) labels[(size_t)y * w + x] = x * 3 / w;
  const std::vector<uint8_t> mask = rsfiqa::mask_from_labels(labels.data(), (int64_t)labels.size(), {1});
  for (DistortionType t : {DistortionType::kGaussianBlur, DistortionType::kColorNoise, DistortionType::kJpeg,
                           DistortionType::kColorCast, DistortionType::kUnderExposure}) {
    const std::string name = rsfiqa::distortion_info(t).name;
    CAPTURE(name);
    Image d;
    REQUIRE(rsfiqa::apply_distortion(ref, t, 4, 1, mask.data(), &d).ok());
    const rsfiqa::FrResult r = score(ref, d, labels.data(), 3);
    REQUIRE(r.regions.size() == 3);
    int64_t total = 0;
    for (const auto& s : r.regions) total += s.pixels;
    CHECK(total == (int64_t)w * h);
    // The untouched bands only see the feather and the SSIM window at the border.
    CHECK(r.regions[0].quality > 95.0);
    CHECK(r.regions[2].quality > 95.0);
    CHECK(r.regions[1].quality < 75.0);
    CHECK(r.global.quality < r.regions[0].quality);
    CHECK(r.global.quality > r.regions[1].quality);
  }
}

TEST_CASE("fr_quality bad input") {
  const Image ref = load(kGolden + "input.png");
  std::vector<int32_t> labels((size_t)ref.width * ref.height, 0);
  SUBCASE("size mismatch") {
    Image other = ref;
    other.width -= 1;
    other.rgb.resize((size_t)other.width * other.height * 3);
    auto r = rsfiqa::fr_quality(ref, other);
    CHECK(r.status().code() == rsfiqa::ErrorCode::kShapeMismatch);
  }
  SUBCASE("empty image") {
    auto r = rsfiqa::fr_quality(Image(), Image());
    CHECK(r.status().code() == rsfiqa::ErrorCode::kEmptyInput);
  }
  SUBCASE("label out of range") {
    labels[17] = 3;
    auto r = rsfiqa::fr_quality(ref, ref, labels.data(), 3);
    CHECK(r.status().code() == rsfiqa::ErrorCode::kInvalidArgument);
    CHECK(r.status().message().find("label 3") != std::string::npos);
    labels[17] = -1;
    CHECK(!rsfiqa::fr_quality(ref, ref, labels.data(), 3).ok());
  }
  SUBCASE("empty region") {
    auto r = rsfiqa::fr_quality(ref, ref, labels.data(), 2);
    CHECK(r.status().code() == rsfiqa::ErrorCode::kInvalidArgument);
    CHECK(r.status().message().find("region 1") != std::string::npos);
  }
  SUBCASE("no region count with a label map") { CHECK(!rsfiqa::fr_quality(ref, ref, labels.data(), 0).ok()); }
}

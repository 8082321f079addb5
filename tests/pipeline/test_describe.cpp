// SPDX-License-Identifier: MIT
// Tests of include/rsfiqa/pipeline/describe.hpp: the example sentence of
// issue 6 reproduced from synthetic region results (English and Japanese),
// position/size/colour words, severity words, region statistics from a label
// map, the global description and the LLM prompt.
#include "rsfiqa/pipeline/describe.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace {

using rsfiqa::DescribeLang;
using rsfiqa::RegionResult;

// The region of the example: a wide blue band over the top third of a
// 100x100 image, 34% of the pixels, strongly blurred and slightly noisy.
RegionResult example_region() {
  RegionResult g;
  g.id = 2;
  g.area = 3400;
  g.area_fraction = 0.34;
  g.bbox = {0, 0, 99, 33};
  g.centroid_x = 50;
  g.centroid_y = 16;
  g.mean_rgb = {40, 80, 200};
  g.quality = 38;
  g.distortions.v = {0.8f, 0.2f, 0.05f, 0.f, 0.1f};
  return g;
}

RegionResult at(float cx, float cy, double frac) {
  RegionResult g;
  g.area_fraction = frac;
  g.bbox = {(int)cx - 5, (int)cy - 5, 10, 10};
  g.centroid_x = cx;
  g.centroid_y = cy;
  return g;
}

}  // namespace

TEST_CASE("the issue's example sentence, in English and Japanese") {
  const RegionResult g = example_region();
  CHECK(rsfiqa::describe_region(g, 100, 100, DescribeLang::kEn) ==
        "The large blue region across the top (34% of the image) is strongly blurred and slightly noisy; "
        "quality 38/100 (poor).");
  CHECK(rsfiqa::describe_region(g, 100, 100, DescribeLang::kJa) ==
        "上部一帯の大きな青い領域（画像の34%）はかなりぼやけていて、わずかにノイズがあります。品質 38/100（悪い）。");
  // Deterministic: same input, same text.
  CHECK(rsfiqa::describe_region(g, 100, 100, DescribeLang::kEn) ==
        rsfiqa::describe_region(g, 100, 100, DescribeLang::kEn));
}

TEST_CASE("position words follow the centroid grid and the region's shape") {
  using rsfiqa::position_phrase;
  const DescribeLang en = DescribeLang::kEn;
  CHECK(position_phrase(at(10, 10, 0.01), 100, 100, en) == "in the upper left");
  CHECK(position_phrase(at(50, 10, 0.01), 100, 100, en) == "at the top");
  CHECK(position_phrase(at(90, 10, 0.01), 100, 100, en) == "in the upper right");
  CHECK(position_phrase(at(50, 50, 0.01), 100, 100, en) == "in the centre");
  CHECK(position_phrase(at(10, 90, 0.01), 100, 100, en) == "in the lower left");
  CHECK(position_phrase(at(90, 90, 0.01), 100, 100, en) == "in the lower right");
  CHECK(position_phrase(at(90, 90, 0.01), 100, 100, DescribeLang::kJa) == "右下の");
  RegionResult tall = at(90, 50, 0.1);
  tall.bbox = {80, 0, 19, 99};
  CHECK(position_phrase(tall, 100, 100, en) == "down the right side");
  RegionResult bottom = at(50, 90, 0.2);
  bottom.bbox = {0, 80, 99, 19};
  CHECK(position_phrase(bottom, 100, 100, en) == "across the bottom");
  CHECK(position_phrase(at(50, 50, 0.7), 100, 100, en) == "covering most of the image");
  RegionResult ring = at(50, 50, 0.3);
  ring.bbox = {0, 0, 99, 99};
  CHECK(position_phrase(ring, 100, 100, en) == "around the edges");
}

TEST_CASE("size words and percentages") {
  CHECK(std::string(rsfiqa::size_word(0.01, DescribeLang::kEn)) == "tiny");
  CHECK(std::string(rsfiqa::size_word(0.05, DescribeLang::kEn)) == "small");
  CHECK(std::string(rsfiqa::size_word(0.2, DescribeLang::kEn)) == "medium-sized");
  CHECK(std::string(rsfiqa::size_word(0.4, DescribeLang::kEn)) == "large");
  CHECK(std::string(rsfiqa::size_word(0.8, DescribeLang::kEn)) == "very large");
  CHECK(rsfiqa::percent_text(0.004) == "<1%");
  CHECK(rsfiqa::percent_text(0.125) == "13%");
}

TEST_CASE("colour names come from the nearest CIELAB entry") {
  using rsfiqa::color_name;
  CHECK(std::string(color_name({255, 0, 0}, DescribeLang::kEn)) == "red");
  CHECK(std::string(color_name({0, 0, 255}, DescribeLang::kEn)) == "blue");
  CHECK(std::string(color_name({0, 200, 0}, DescribeLang::kEn)) == "green");
  CHECK(std::string(color_name({255, 255, 255}, DescribeLang::kEn)) == "white");
  CHECK(std::string(color_name({0, 0, 0}, DescribeLang::kEn)) == "black");
  CHECK(std::string(color_name({255, 255, 0}, DescribeLang::kEn)) == "yellow");
  CHECK(std::string(color_name({255, 0, 0}, DescribeLang::kJa)) == "赤い");
  // sRGB white is L* = 100, a* = b* = 0 (D65).
  const auto lab = rsfiqa::detail::srgb_to_lab(255, 255, 255);
  CHECK(lab[0] == doctest::Approx(100.0).epsilon(1e-4));
  CHECK(lab[1] == doctest::Approx(0.0).epsilon(1e-3));
  CHECK(lab[2] == doctest::Approx(0.0).epsilon(1e-3));
}

TEST_CASE("severity words, colour and exposure direction, no distortion") {
  RegionResult g = at(50, 50, 0.3);
  g.quality = 90;
  g.mean_rgb = {128, 128, 128};
  CHECK(
      rsfiqa::describe_region(g, 100, 100, DescribeLang::kEn) ==
      "The large grey region in the centre (30% of the image) shows no clear distortion; quality 90/100 (excellent).");
  CHECK(rsfiqa::describe_region(g, 100, 100, DescribeLang::kJa).find("目立った歪みはありません") != std::string::npos);
  g.distortions.v = {0.f, 0.f, 0.5f, 0.4f, 0.2f};
  g.mean_rgb = {240, 240, 240};  // bright and grey: washed out, over-exposed
  const std::string en = rsfiqa::describe_region(g, 100, 100, DescribeLang::kEn);
  CHECK(en.find("is moderately affected by compression artefacts, moderately washed out and slightly over-exposed") !=
        std::string::npos);
  g.mean_rgb = {60, 20, 10};  // dark and coloured: colour-shifted, under-exposed
  const std::string en2 = rsfiqa::describe_region(g, 100, 100, DescribeLang::kEn);
  CHECK(en2.find("moderately colour-shifted and slightly under-exposed") != std::string::npos);
}

TEST_CASE("region statistics from a label map") {
  rsfiqa::io::Image img;
  img.width = 4;
  img.height = 2;
  img.rgb.assign(24, 0);
  std::vector<int32_t> labels = {0, 0, 1, 1, 0, 0, 1, 1};
  for (size_t p = 0; p < 8; ++p) img.rgb[p * 3 + (labels[p] == 0 ? 0 : 2)] = 200;
  std::vector<RegionResult> regions(2);
  REQUIRE(rsfiqa::compute_region_stats(img, labels, &regions).ok());
  CHECK(regions[0].area == 4);
  CHECK(regions[1].area_fraction == doctest::Approx(0.5));
  CHECK(regions[1].bbox == rsfiqa::sam::BoxXYWH{2, 0, 1, 1});
  CHECK(regions[1].centroid_x == doctest::Approx(2.5));
  CHECK(regions[0].mean_rgb[0] == doctest::Approx(200));
  CHECK(regions[1].mean_rgb[2] == doctest::Approx(200));
  labels[3] = 7;
  CHECK(rsfiqa::compute_region_stats(img, labels, &regions).code() == rsfiqa::ErrorCode::kInvalidArgument);
  labels.pop_back();
  CHECK(rsfiqa::compute_region_stats(img, labels, &regions).code() == rsfiqa::ErrorCode::kShapeMismatch);
}

TEST_CASE("global description names the main problem and the weakest region") {
  rsfiqa::AssessResult r;
  r.width = r.height = 100;
  r.quality = 55;
  r.distortions.v = {0.45f, 0.f, 0.f, 0.f, 0.f};
  r.regions.push_back(example_region());
  r.regions[0].id = 0;
  RegionResult ok = at(50, 70, 0.66);
  ok.id = 1;
  ok.quality = 70;
  ok.mean_rgb = {60, 160, 60};
  r.regions.push_back(ok);
  rsfiqa::describe_all(&r, DescribeLang::kEn);
  CHECK(r.description ==
        "Overall quality 55/100 (fair) across 2 regions. The main problem is moderate blur. The weakest is region 0, "
        "the large blue region across the top, at 38/100 (poor).");
  CHECK(r.regions[1].description.find("The very large green region covering most of the image (66% of the image)") ==
        0);
  rsfiqa::describe_all(&r, DescribeLang::kJa);
  CHECK(r.description.find("全体の品質は 55/100（普通）") == 0);
  CHECK(r.description.find("中程度のぼけ") != std::string::npos);
}

TEST_CASE("LLM prompt carries the structured facts") {
  const std::string p = rsfiqa::build_llm_prompt(example_region(), 100, 100, DescribeLang::kEn);
  CHECK(p.find("where: across the top") != std::string::npos);
  CHECK(p.find("size: 34% of the image") != std::string::npos);
  CHECK(p.find("colour: blue") != std::string::npos);
  CHECK(p.find("quality: 38/100 (poor)") != std::string::npos);
  CHECK(p.find("blur 0.80, noise 0.20") != std::string::npos);
  CHECK(rsfiqa::build_llm_prompt(example_region(), 100, 100, DescribeLang::kJa).find("Japanese") != std::string::npos);
  CHECK(rsfiqa::parse_describe_lang("ja").ok());
  CHECK(!rsfiqa::parse_describe_lang("fr").ok());
}

// SPDX-License-Identifier: MIT
// Tests of include/rsfiqa/pipeline/overlay.hpp: the overlay PNG has the
// documented size and reads back; tints move low-quality regions towards red
// and high-quality ones towards green; borders, id boxes and the legend change
// the pixels where they should and nowhere else; bad input is refused.
#include "rsfiqa/pipeline/overlay.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace {

using rsfiqa::AssessResult;
using rsfiqa::io::Image;

// A uniform grey w x h photo split at x = w/2: region 0 (left, quality 10)
// and region 1 (right, quality 90).
void make_case(int w, int h, Image* img, AssessResult* r) {
  img->width = w;
  img->height = h;
  img->rgb.assign((size_t)w * h * 3, 128);
  r->width = w;
  r->height = h;
  r->quality = 62;
  r->label_map.assign((size_t)w * h, 0);
  for (int y = 0; y < h; ++y)
    for (int x = w / 2; x < w; ++x) r->label_map[(size_t)y * w + x] = 1;
  r->regions.resize(2);
  for (int i = 0; i < 2; ++i) {
    r->regions[(size_t)i].id = i;
    r->regions[(size_t)i].quality = i == 0 ? 10.f : 90.f;
    r->regions[(size_t)i].centroid_x = i == 0 ? w / 4.f : 3 * w / 4.f;
    r->regions[(size_t)i].centroid_y = h / 2.f;
  }
}

std::array<int, 3> px(const Image& img, int x, int y) {
  const size_t p = ((size_t)y * img.width + x) * 3;
  return {img.rgb[p], img.rgb[p + 1], img.rgb[p + 2]};
}

}  // namespace

TEST_CASE("overlay has the documented size and survives PNG encoding") {
  Image img;
  AssessResult r;
  make_case(400, 320, &img, &r);
  auto out = rsfiqa::render_overlay(img, r);
  REQUIRE_MESSAGE(out.ok(), out.status().to_string());
  CHECK(out->width == 400);
  CHECK(out->height == 320 + rsfiqa::overlay_legend_height(400, 320));
  CHECK(rsfiqa::overlay_legend_height(400, 320) > 0);
  auto png = rsfiqa::io::encode_png(*out);
  REQUIRE(png.ok());
  auto back = rsfiqa::io::decode_image(*png);
  REQUIRE(back.ok());
  CHECK(back->width == out->width);
  CHECK(back->height == out->height);
  CHECK(back->rgb == out->rgb);
}

TEST_CASE("tints, borders, ids and legend land where expected") {
  Image img;
  AssessResult r;
  make_case(400, 320, &img, &r);
  auto out = rsfiqa::render_overlay(img, r);
  REQUIRE(out.ok());
  // Interiors away from borders and ids: the low-quality side is reddish,
  // the high-quality side greenish, both differ from the photo.
  const auto left = px(*out, 20, 300), right = px(*out, 380, 300);
  CHECK(left[0] > left[1]);
  CHECK(right[1] > right[0]);
  CHECK(left != std::array<int, 3>{128, 128, 128});
  CHECK(left != right);
  // Same label on both sides of a uniform photo: identical pixels.
  CHECK(px(*out, 20, 300) == px(*out, 150, 20));
  // Border on the last column of region 0 (scale 1: one pixel wide).
  CHECK(px(*out, 199, 300) == std::array<int, 3>{255, 255, 255});
  CHECK(px(*out, 198, 300) != std::array<int, 3>{255, 255, 255});
  CHECK(px(*out, 200, 300) != std::array<int, 3>{255, 255, 255});
  // Id boxes around the centroids contain black background and white glyph pixels.
  int black = 0, white = 0;
  for (int y = 150; y < 170; ++y)
    for (int x = 90; x < 110; ++x) {
      const auto p = px(*out, x, y);
      black += p == std::array<int, 3>{0, 0, 0};
      white += p == std::array<int, 3>{255, 255, 255};
    }
  CHECK(black > 0);
  CHECK(white > 0);
  // Without ids the centroid neighbourhood is plain tint.
  rsfiqa::OverlayOptions no_ids;
  no_ids.draw_ids = false;
  auto plain = rsfiqa::render_overlay(img, r, no_ids);
  REQUIRE(plain.ok());
  CHECK(px(*plain, 100, 160) == left);
  // Legend: white text pixels on the left, the colour bar runs red -> green.
  const int lh = rsfiqa::overlay_legend_height(400, 320);
  int text = 0;
  for (int y = 320; y < 320 + lh; ++y)
    for (int x = 0; x < 60; ++x) text += px(*out, x, y) == std::array<int, 3>{255, 255, 255};
  CHECK(text > 20);
  const int by = 320 + lh / 2;
  int first = -1, last = -1;
  for (int x = 200; x < 400; ++x) {
    const auto p = px(*out, x, by);
    const rsfiqa::Rgb8 red = rsfiqa::quality_color(0.f), green = rsfiqa::quality_color(100.f);
    if (p == std::array<int, 3>{red[0], red[1], red[2]} && first < 0) first = x;
    if (p == std::array<int, 3>{green[0], green[1], green[2]}) last = x;
  }
  CHECK(first > 0);
  CHECK(last > first);
}

TEST_CASE("two-pixel borders at larger scales") {
  Image img;
  AssessResult r;
  make_case(640, 640, &img, &r);
  REQUIRE(rsfiqa::overlay_text_scale(640, 640) == 2);
  auto out = rsfiqa::render_overlay(img, r);
  REQUIRE(out.ok());
  CHECK(px(*out, 319, 600) == std::array<int, 3>{255, 255, 255});
  CHECK(px(*out, 320, 600) == std::array<int, 3>{255, 255, 255});
  CHECK(px(*out, 318, 600) != std::array<int, 3>{255, 255, 255});
}

TEST_CASE("colour scale ends and bad input") {
  CHECK(rsfiqa::quality_color(0.f) == rsfiqa::Rgb8{215, 48, 39});
  CHECK(rsfiqa::quality_color(50.f) == rsfiqa::Rgb8{254, 224, 139});
  CHECK(rsfiqa::quality_color(100.f) == rsfiqa::Rgb8{26, 152, 80});
  CHECK(rsfiqa::quality_color(-5.f) == rsfiqa::quality_color(0.f));
  Image img;
  AssessResult r;
  make_case(40, 30, &img, &r);
  r.label_map.pop_back();
  CHECK(rsfiqa::render_overlay(img, r).status().code() == rsfiqa::ErrorCode::kShapeMismatch);
  make_case(40, 30, &img, &r);
  r.label_map[5] = 9;
  CHECK(rsfiqa::render_overlay(img, r).status().code() == rsfiqa::ErrorCode::kInvalidArgument);
}

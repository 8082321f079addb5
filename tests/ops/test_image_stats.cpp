// SPDX-License-Identifier: MIT
// Tests for ops/image_stats.hpp: the 18 per-cell statistics equal an
// independent numpy/scipy implementation (tools/golden/make_image_stats_golden.py)
// on a synthetic image with noise, 8x8 blocks, clipping and a saturated
// patch, on a uniform grid and on SAM's token cells; the cell grids tile the
// image; statistics react in the expected direction to blur and noise;
// results do not depend on the thread count; bad input gives errors.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/io/npy.hpp"
#include "rsfiqa/ops/image_stats.hpp"

using namespace rsfiqa;
using ops::CellGrid;
using ops::kImageStatCount;

namespace {

std::string golden(const char* name) { return std::string(RSFIQA_TEST_DATA_DIR) + "/golden/image_stats/" + name; }

struct Rgb {
  int h = 0, w = 0;
  std::vector<uint8_t> px;
};

Rgb load_image() {
  auto a = io::load_npy_f32(golden("image.npy"));
  REQUIRE_MESSAGE(a.ok(), a.status().to_string());
  REQUIRE(a->shape.size() == 3);
  Rgb img;
  img.h = (int)a->shape[0];
  img.w = (int)a->shape[1];
  for (float v : a->data) img.px.push_back((uint8_t)v);
  return img;
}

void compare(const Rgb& img, const CellGrid& g, const char* file) {
  auto want = io::load_npy_f32(golden(file));
  REQUIRE(want.ok());
  REQUIRE(want->shape == std::vector<int64_t>{g.rows, g.cols, kImageStatCount});
  std::vector<float> got((size_t)g.rows * g.cols * kImageStatCount);
  REQUIRE(ops::image_stats(img.px.data(), img.h, img.w, 0, g, got.data()).ok());
  for (int s = 0; s < kImageStatCount; ++s) {
    double err = 0;
    for (size_t c = 0; c < (size_t)g.rows * g.cols; ++c) {
      const double a = got[c * kImageStatCount + s], b = want->data[c * kImageStatCount + s];
      err = std::max(err, std::fabs(a - b) / std::max(1.0, std::fabs(b)));
    }
    CAPTURE(ops::image_stat_name(s));
    CHECK(err < 2e-5);
  }
}

}  // namespace

TEST_CASE("image_stats: equals the numpy reference on a uniform grid and on SAM token cells") {
  const Rgb img = load_image();
  auto u = ops::uniform_cells(img.h, img.w, 5, 6);
  REQUIRE(u.ok());
  compare(img, *u, "uniform_5x6.npy");
  auto s = ops::sam_token_cells(img.h, img.w, 64, 16);
  REQUIRE(s.ok());
  CHECK(s->rows == 3);
  CHECK(s->cols == 4);
  compare(img, *s, "sam_t64_p16.npy");
}

TEST_CASE("image_stats: SAM token cells tile the image") {
  for (auto hw : {std::pair<int, int>{768, 1024}, {1024, 768}, {3000, 4000}, {700, 1023}, {20, 300}, {5, 5}}) {
    auto g = ops::sam_token_cells(hw.first, hw.second);
    REQUIRE(g.ok());
    CHECK(g->rows <= 64);
    CHECK(g->cols <= 64);
    CHECK(g->y1.back() == hw.first);
    CHECK(g->x1.back() == hw.second);
    for (int i = 0; i + 1 < g->rows && hw.first >= 64; ++i) CHECK(g->y1[(size_t)i] == g->y0[(size_t)i + 1]);
  }
  auto g = ops::sam_token_cells(768, 1024);
  CHECK(g->rows == 48);
  CHECK(g->cols == 64);
  CHECK(g->y1[0] == 16);
  auto t = ops::sam_token_cells(3000, 4000);  // 4000 -> 1024: 768 x 1024, 62.5 px per token
  CHECK(t->rows == 48);
  CHECK(t->y1[0] == 62);
}

TEST_CASE("image_stats: blur lowers the Laplacian/gradient ratio, noise raises the noise estimate") {
  const int h = 64, w = 64;
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> d(0, 255);
  Rgb sharp{h, w, std::vector<uint8_t>((size_t)h * w * 3)};
  for (auto& v : sharp.px) v = (uint8_t)d(rng);
  Rgb flat = sharp, blur = sharp;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        int s = 0, n = 0;
        for (int dy = -2; dy <= 2; ++dy)
          for (int dx = -2; dx <= 2; ++dx)
            if (y + dy >= 0 && y + dy < h && x + dx >= 0 && x + dx < w)
              s += sharp.px[((size_t)(y + dy) * w + x + dx) * 3 + c], ++n;
        blur.px[((size_t)y * w + x) * 3 + c] = (uint8_t)(s / n);
        flat.px[((size_t)y * w + x) * 3 + c] = 128;
      }
  auto g = ops::uniform_cells(h, w, 1, 1);
  float a[kImageStatCount], b[kImageStatCount], f[kImageStatCount];
  REQUIRE(ops::image_stats(sharp.px.data(), h, w, 0, *g, a).ok());
  REQUIRE(ops::image_stats(blur.px.data(), h, w, 0, *g, b).ok());
  REQUIRE(ops::image_stats(flat.px.data(), h, w, 0, *g, f).ok());
  CHECK(b[10] < a[10]);
  CHECK(a[11] > f[11]);
  CHECK(f[11] == 0.f);
  CHECK(f[8] == 0.f);
  for (int s = 0; s < kImageStatCount; ++s) CHECK(std::isfinite(f[s]));
}

TEST_CASE("image_stats: same output with 1 and 2 threads; bad input") {
  const Rgb img = load_image();
  auto g = ops::uniform_cells(img.h, img.w, 7, 3);
  std::vector<float> a((size_t)21 * kImageStatCount), b(a.size());
  const int saved = get_num_threads();
  set_num_threads(1);
  REQUIRE(ops::image_stats(img.px.data(), img.h, img.w, 0, *g, a.data()).ok());
  set_num_threads(2);
  REQUIRE(ops::image_stats(img.px.data(), img.h, img.w, 0, *g, b.data()).ok());
  set_num_threads(saved);
  CHECK(a == b);
  CHECK(ops::image_stats(img.px.data(), img.h + 1, img.w, 0, *g, a.data()).code() == ErrorCode::kShapeMismatch);
  CHECK(ops::image_stats(nullptr, img.h, img.w, 0, *g, a.data()).code() == ErrorCode::kInvalidArgument);
  CHECK(ops::image_stats(img.px.data(), img.h, img.w, 5, *g, a.data()).code() == ErrorCode::kInvalidArgument);
  CHECK(ops::uniform_cells(0, 5, 1, 1).status().code() == ErrorCode::kInvalidArgument);
  CHECK(ops::sam_token_cells(10, 10, 1000, 16).status().code() == ErrorCode::kInvalidArgument);
}

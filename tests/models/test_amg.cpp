// SPDX-License-Identifier: MIT
// Automatic mask generation pieces: point grids and crop boxes (hand-computed
// from SAM's formulas), stability score, box NMS, RLE encodings (hand cases,
// round trips, box from RLE vs from the mask), small-region removal with
// 8-connectivity, the mask upsampler against io's PyTorch-checked bilinear
// resize, goldens written by tools/golden/make_amg_golden.py (PyTorch,
// torchvision and OpenCV), and the generator end to end with a synthetic
// model whose right answer is known (one mask per painted rectangle).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "rsfiqa/io/file.hpp"
#include "rsfiqa/io/json.hpp"
#include "rsfiqa/io/sam_preprocess.hpp"
#include "rsfiqa/models/sam/amg.hpp"

using namespace rsfiqa;
using namespace rsfiqa::sam;

TEST_CASE("point grid: cell centres, x fastest") {
  const auto g = build_point_grid(2);
  REQUIRE(g.size() == 4);
  CHECK(g[0][0] == doctest::Approx(0.25));
  CHECK(g[0][1] == doctest::Approx(0.25));
  CHECK(g[1][0] == doctest::Approx(0.75));
  CHECK(g[1][1] == doctest::Approx(0.25));
  CHECK(g[2][0] == doctest::Approx(0.25));
  CHECK(g[2][1] == doctest::Approx(0.75));
  const auto g32 = build_point_grid(32);
  REQUIRE(g32.size() == 1024);
  CHECK(g32[0][0] == doctest::Approx(1.0 / 64));
  CHECK(g32[31][0] == doctest::Approx(63.0 / 64));
  CHECK(g32[32][1] == doctest::Approx(3.0 / 64));
  CHECK(build_point_grid(0).empty());
  const auto layers = build_all_layer_point_grids(32, 2, 2);
  REQUIRE(layers.size() == 3);
  CHECK(layers[0].size() == 1024);
  CHECK(layers[1].size() == 256);
  CHECK(layers[2].size() == 64);
}

TEST_CASE("crop boxes for one extra layer on 1024x768") {
  // overlap = int(512/1500 * 768 * 2/2) = 262; crop_w = ceil((262 + 1024)/2) = 643,
  // crop_h = ceil((262 + 768)/2) = 515; x0 = {0, 381}, y0 = {0, 253}.
  const CropBoxes cb = generate_crop_boxes(768, 1024, 1, 512.0 / 1500.0);
  REQUIRE(cb.boxes.size() == 5);
  CHECK(cb.boxes[0] == BoxXYXY{0, 0, 1024, 768});
  CHECK(cb.boxes[1] == BoxXYXY{0, 0, 643, 515});
  CHECK(cb.boxes[2] == BoxXYXY{0, 253, 643, 768});
  CHECK(cb.boxes[3] == BoxXYXY{381, 0, 1024, 515});
  CHECK(cb.boxes[4] == BoxXYXY{381, 253, 1024, 768});
  CHECK(cb.layer_idxs == std::vector<int>{0, 1, 1, 1, 1});
  CHECK(generate_crop_boxes(768, 1024, 2, 512.0 / 1500.0).boxes.size() == 21);
}

TEST_CASE("stability score counts high and low thresholds") {
  const float v[5] = {-2.f, -0.5f, 0.5f, 2.f, 3.f};
  CHECK(stability_score(v, 5, 0.f, 1.f) == doctest::Approx(2.0 / 4.0));
  const float none[2] = {-3.f, -2.f};
  CHECK(stability_score(none, 2, 0.f, 1.f) == 0.f);
}

TEST_CASE("NMS: torchvision IoU, strict >, score order") {
  std::vector<std::array<float, 4>> b = {{0, 0, 10, 10}, {1, 1, 11, 11}, {0, 0, 10, 9}, {50, 50, 60, 60}};
  std::vector<float> s = {0.9f, 0.8f, 0.7f, 0.95f};
  // IoU(A,B) = 81/119 = 0.68, IoU(A,C) = 90/100.
  CHECK(box_iou(b[0], b[1]) == doctest::Approx(81.0 / 119.0));
  CHECK(nms(b, s, 0.7f) == std::vector<int>{3, 0, 1});
  CHECK(nms(b, s, 0.6f) == std::vector<int>{3, 0});
  CHECK(nms(b, s, 0.9f) == std::vector<int>{3, 0, 1, 2});  // 0.9 is not > 0.9
  // Per category: C is in its own category and survives.
  CHECK(batched_nms(b, s, {0, 0, 1, 0}, 0.6f) == std::vector<int>{3, 0, 2});
}

TEST_CASE("RLE hand cases") {
  // h=2, w=3, rows [0 1 1; 1 1 0]: column-major 0,1 | 1,1 | 1,0.
  const uint8_t m1[6] = {0, 1, 1, 1, 1, 0};
  Rle r = rle_from_mask(m1, 2, 3);
  CHECK(r.counts == std::vector<uint32_t>{1, 4, 1});
  CHECK(rle_area(r) == 4);
  CHECK(rle_to_box(r) == BoxXYXY{0, 0, 2, 1});
  // First pixel set: a leading empty zero run.
  const uint8_t m2[4] = {1, 0, 0, 0};
  CHECK(rle_from_mask(m2, 2, 2).counts == std::vector<uint32_t>{0, 1, 3});
  const uint8_t m3[4] = {0, 0, 0, 0};
  CHECK(rle_from_mask(m3, 2, 2).counts == std::vector<uint32_t>{4});
  CHECK(rle_to_box(rle_from_mask(m3, 2, 2)) == BoxXYXY{0, 0, 0, 0});
  // COCO strings: small counts are one character 48 + n; from the 4th count on
  // the difference to two places back is coded (1,2,3,4 -> '1','2','3','2').
  Rle a;
  a.h = 10;
  a.w = 1;
  a.counts = {1, 2, 3, 4};
  CHECK(rle_to_coco_string(a) == "1232");
  // 100 = 4 + 32*3 -> (4|0x20)+48 = 'T', then '3'.
  Rle b;
  b.h = 100;
  b.w = 1;
  b.counts = {100};
  CHECK(rle_to_coco_string(b) == "T3");
  Rle bad = a;
  bad.counts = {1, 2};
  CHECK(rle_validate(bad).code() == ErrorCode::kMalformed);
  CHECK(!rle_from_coco_string("1232", 3, 3).ok());  // sums to 10, not 9
  CHECK(!rle_from_coco_string("T", 100, 1).ok());   // ends inside a count
  CHECK(!rle_from_coco_string(" ", 1, 1).ok());     // character below '0'
}

TEST_CASE("RLE round trips and box from RLE on random masks") {
  std::mt19937 rng(7);
  for (int t = 0; t < 200; ++t) {
    const int h = 1 + (int)(rng() % 23), w = 1 + (int)(rng() % 19);
    std::vector<uint8_t> m((size_t)h * w);
    const int density = (int)(rng() % 4);
    for (auto& v : m) v = density == 0 ? 0 : (uint8_t)((rng() % 4) < (unsigned)density);
    const Rle r = rle_from_mask(m.data(), h, w);
    CHECK(rle_validate(r).ok());
    auto back = rle_to_mask(r);
    REQUIRE(back.ok());
    CHECK(back.value() == m);
    int64_t area = 0;
    for (auto v : m) area += v;
    CHECK(rle_area(r) == area);
    CHECK(rle_to_box(r) == mask_to_box(m.data(), h, w));
    auto s = rle_from_coco_string(rle_to_coco_string(r), h, w);
    REQUIRE(s.ok());
    CHECK(s.value().counts == r.counts);
  }
}

TEST_CASE("remove_small_regions: holes, islands, 8-connectivity, keep largest") {
  // 7x7: a 5x5 block with a one-pixel hole, plus two diagonal island pixels.
  const int h = 7, w = 7;
  std::vector<uint8_t> m((size_t)h * w, 0);
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 5; ++x) m[(size_t)y * w + x] = 1;
  m[2 * w + 2] = 0;  // hole
  m[5 * w + 6] = 1;  // island pixel 1
  m[6 * w + 5] = 1;  // diagonal neighbour: the same 8-connected island
  std::vector<uint8_t> holes = m;
  CHECK(remove_small_regions(holes.data(), h, w, 2, SmallRegionMode::kHoles));
  CHECK(holes[2 * w + 2] == 1);
  CHECK(holes[5 * w + 6] == 1);
  // The island has 2 pixels when diagonals connect: not < 2, kept.
  std::vector<uint8_t> isl = m;
  CHECK(!remove_small_regions(isl.data(), h, w, 2, SmallRegionMode::kIslands));
  CHECK(remove_small_regions(isl.data(), h, w, 3, SmallRegionMode::kIslands));
  CHECK(isl[5 * w + 6] == 0);
  CHECK(isl[6 * w + 5] == 0);
  CHECK(isl[0] == 1);
  // Every island small: the largest survives.
  std::vector<uint8_t> all = m;
  CHECK(remove_small_regions(all.data(), h, w, 1000, SmallRegionMode::kIslands));
  CHECK(all[0] == 1);
  CHECK(all[5 * w + 6] == 0);
}

TEST_CASE("mask upsampler matches io's PyTorch bilinear resize chain") {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.f, 3.f);
  std::vector<float> low(256 * 256);
  for (auto& v : low) v = nd(rng);
  const int sizes[][2] = {{768, 1024}, {515, 643}, {300, 200}, {1024, 1024}, {1500, 900}};
  for (const auto& s : sizes) {
    const int oh = s[0], ow = s[1];
    const MaskUpsampler up = MaskUpsampler::make(oh, ow);
    std::vector<float> scratch, out;
    up.run(low.data(), &scratch, &out);
    REQUIRE(out.size() == (size_t)oh * ow);
    std::vector<float> big(1024 * 1024);
    REQUIRE(io::resize_bilinear_f32(low.data(), 1, 256, 256, big.data(), 1024, 1024).ok());
    std::vector<float> cropped((size_t)up.input_h * up.input_w);
    for (int y = 0; y < up.input_h; ++y)
      for (int x = 0; x < up.input_w; ++x) cropped[(size_t)y * up.input_w + x] = big[(size_t)y * 1024 + x];
    std::vector<float> want((size_t)oh * ow);
    REQUIRE(io::resize_bilinear_f32(cropped.data(), 1, up.input_h, up.input_w, want.data(), oh, ow).ok());
    float maxd = 0.f;
    for (int y = 0; y < oh; ++y)
      for (int x = 0; x < ow; ++x) maxd = std::max(maxd, std::fabs(want[(size_t)y * ow + x] - out[(size_t)x * oh + y]));
    CHECK(maxd <= 1e-5f);
  }
}

// ---------------------------------------------------------------------------
// Synthetic model: the image is a flat background with flat-coloured
// rectangles; a click returns +8 logits on the pixels of the clicked colour
// and -8 elsewhere, in SAM's low-res frame. Mask 0 has IoU 0.97, mask 1 is a
// duplicate with IoU 0.9, mask 2 is noise with IoU 0.3. Background clicks
// get IoU 0.5 on all three.
// ---------------------------------------------------------------------------
namespace {
struct Rect {
  int x0, y0, x1, y1;  // exclusive right/bottom
  uint8_t r, g, b;
};

io::Image scene(int w, int h, const std::vector<Rect>& rects) {
  io::Image img;
  img.width = w;
  img.height = h;
  img.rgb.assign((size_t)w * h * 3, 20);
  for (const Rect& r : rects)
    for (int y = r.y0; y < r.y1; ++y)
      for (int x = r.x0; x < r.x1; ++x) {
        uint8_t* p = &img.rgb[((size_t)y * w + x) * 3];
        p[0] = r.r;
        p[1] = r.g;
        p[2] = r.b;
      }
  return img;
}

class FakeModel : public AmgModel {
 public:
  int set_calls = 0;
  bool bad_shape = false;
  Status set_image(const io::Image& img) override {
    img_ = img;
    ++set_calls;
    return Status();
  }
  Status predict_points(const float* xy, int n, AmgLowRes* out) override {
    out->n = bad_shape ? n + 1 : n;
    out->m = 3;
    out->side = 256;
    out->logits.assign((size_t)n * 3 * 256 * 256, -8.f);
    out->iou.assign((size_t)n * 3, 0.5f);
    const int W = img_.width, H = img_.height;
    const double scale = 1024.0 / std::max(W, H);
    for (int i = 0; i < n; ++i) {
      const int px = std::min(W - 1, (int)xy[2 * i]), py = std::min(H - 1, (int)xy[2 * i + 1]);
      const uint8_t* c = &img_.rgb[((size_t)py * W + px) * 3];
      const bool background = c[0] == 20 && c[1] == 20 && c[2] == 20;
      float* l0 = &out->logits[(size_t)(i * 3) * 65536];
      for (int v = 0; v < 256; ++v)
        for (int u = 0; u < 256; ++u) {
          const int ix = (int)(((u + 0.5) * 4.0) / scale), iy = (int)(((v + 0.5) * 4.0) / scale);
          if (ix >= W || iy >= H) continue;
          const uint8_t* q = &img_.rgb[((size_t)iy * W + ix) * 3];
          if (q[0] == c[0] && q[1] == c[1] && q[2] == c[2]) l0[v * 256 + u] = 8.f;
        }
      std::copy(l0, l0 + 65536, l0 + 65536);
      for (int k = 0; k < 65536; ++k) l0[2 * 65536 + k] = (k % 7) < 3 ? 2.f : -2.f;
      if (!background) {
        out->iou[(size_t)i * 3] = 0.97f;
        out->iou[(size_t)i * 3 + 1] = 0.9f;
        out->iou[(size_t)i * 3 + 2] = 0.3f;
      }
    }
    return Status();
  }

 private:
  io::Image img_;
};

double rect_iou(const AmgMask& m, const Rect& r, int w, int h) {
  auto mask = rle_to_mask(m.rle);
  if (!mask.ok()) return 0;
  int64_t inter = 0, area_m = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const bool a = mask.value()[(size_t)y * w + x];
      const bool b = x >= r.x0 && x < r.x1 && y >= r.y0 && y < r.y1;
      inter += a && b;
      area_m += a;
    }
  const int64_t area_r = (int64_t)(r.x1 - r.x0) * (r.y1 - r.y0);
  return (double)inter / (double)(area_m + area_r - inter);
}
}  // namespace

TEST_CASE("generator on a synthetic scene: one mask per rectangle") {
  const int W = 640, H = 480;
  const std::vector<Rect> rects = {
      {40, 30, 240, 200, 200, 30, 30}, {300, 60, 600, 180, 30, 200, 30}, {100, 260, 520, 440, 30, 30, 200}};
  const io::Image img = scene(W, H, rects);
  for (int layers = 0; layers <= 1; ++layers) {
    CAPTURE(layers);
    FakeModel model;
    AmgParams p;
    p.points_per_side = 16;
    p.crop_n_layers = layers;
    p.output_mode = AmgOutputMode::kCocoRle;
    AutomaticMaskGenerator gen(&model, p);
    AmgTimings t;
    auto res = gen.generate(img, &t);
    REQUIRE(res.ok());
    const auto& masks = res.value();
    CHECK(model.set_calls == (layers == 0 ? 1 : 5));
    REQUIRE(masks.size() == rects.size());
    std::vector<int> matched(rects.size(), 0);
    for (const AmgMask& m : masks) {
      CHECK(m.predicted_iou == doctest::Approx(0.97));
      CHECK(m.stability_score >= 0.95f);
      CHECK(m.area == rle_area(m.rle));
      auto back = rle_from_coco_string(m.coco_counts, H, W);
      REQUIRE(back.ok());
      CHECK(back.value().counts == m.rle.counts);
      for (size_t k = 0; k < rects.size(); ++k) {
        if (rect_iou(m, rects[k], W, H) < 0.97) continue;
        ++matched[k];
        // bbox is XYWH with w = max x - min x; the edge sits within 2 px.
        CHECK(std::abs(m.bbox[0] - rects[k].x0) <= 2);
        CHECK(std::abs(m.bbox[1] - rects[k].y0) <= 2);
        CHECK(std::abs(m.bbox[0] + m.bbox[2] - (rects[k].x1 - 1)) <= 2);
        CHECK(std::abs(m.bbox[1] + m.bbox[3] - (rects[k].y1 - 1)) <= 2);
        // The prompt that produced it lies on the rectangle.
        CHECK(m.point_coords[0] >= rects[k].x0);
        CHECK(m.point_coords[0] < rects[k].x1);
      }
      if (layers == 0) CHECK(m.crop_box == BoxXYWH{0, 0, W, H});
    }
    for (int c : matched) CHECK(c == 1);
    CHECK(t.prompts == (layers == 0 ? 256 : 5 * 256));  // downscale factor 1: 16x16 in every crop
  }
}

TEST_CASE("generator output modes and small-region cleanup") {
  const int W = 320, H = 240;
  const std::vector<Rect> rects = {{40, 30, 200, 200, 200, 30, 30}};
  const io::Image img = scene(W, H, rects);
  FakeModel model;
  AmgParams p;
  p.points_per_side = 8;
  p.output_mode = AmgOutputMode::kBinaryMask;
  p.min_mask_region_area = 50;
  AutomaticMaskGenerator gen(&model, p);
  auto res = gen.generate(img);
  REQUIRE(res.ok());
  REQUIRE(res.value().size() == 1);
  const AmgMask& m = res.value()[0];
  REQUIRE(m.mask.size() == (size_t)W * H);
  CHECK(rle_from_mask(m.mask.data(), H, W).counts == m.rle.counts);
  CHECK(m.coco_counts.empty());
}

TEST_CASE("generator bad input") {
  FakeModel model;
  const io::Image img = scene(64, 48, {});
  AmgParams p;
  p.points_per_side = 0;
  auto r0 = AutomaticMaskGenerator(&model, p).generate(img);
  CHECK(r0.status().code() == ErrorCode::kEmptyInput);
  p.points_per_side = -3;
  CHECK(AutomaticMaskGenerator(&model, p).generate(img).status().code() == ErrorCode::kInvalidArgument);
  p.points_per_side = 4;
  p.points_per_batch = 0;
  CHECK(AutomaticMaskGenerator(&model, p).generate(img).status().code() == ErrorCode::kInvalidArgument);
  p.points_per_batch = 64;
  io::Image empty;
  CHECK(AutomaticMaskGenerator(&model, p).generate(empty).status().code() == ErrorCode::kEmptyInput);
  model.bad_shape = true;
  CHECK(AutomaticMaskGenerator(&model, p).generate(img).status().code() == ErrorCode::kShapeMismatch);
  model.bad_shape = false;
  // An all-background scene yields no mask, not an error.
  auto none = AutomaticMaskGenerator(&model, p).generate(img);
  REQUIRE(none.ok());
  CHECK(none.value().empty());
  CHECK(!parse_amg_output_mode("png").ok());
  CHECK(parse_amg_output_mode("coco_rle").value() == AmgOutputMode::kCocoRle);
}

// ---------------------------------------------------------------------------
// Goldens from tools/golden/make_amg_golden.py: the same synthetic low-res
// logits pushed through SAM's steps with PyTorch, torchvision and OpenCV.
// ---------------------------------------------------------------------------
namespace {
io::JsonValue load_golden() {
  auto bytes = io::read_file_bytes(std::string(RSFIQA_TEST_DATA_DIR) + "/golden/amg/amg_postprocess.json", 1 << 22);
  REQUIRE(bytes.ok());
  auto j = io::parse_json(std::string(bytes.value().begin(), bytes.value().end()));
  REQUIRE(j.ok());
  return j.value();
}

std::vector<uint32_t> counts_of(const io::JsonValue& a) {
  std::vector<uint32_t> c;
  for (const auto& v : a.items()) c.push_back((uint32_t)v.as_int());
  return c;
}

// Returns the golden's blobs for every prompt of the batch, in order.
class BlobModel : public AmgModel {
 public:
  explicit BlobModel(const io::JsonValue& g) {
    for (const auto& b : g.find("blobs")->items()) {
      const double cx = b[0].as_double(), cy = b[1].as_double(), r = b[2].as_double(), amp = b[3].as_double(),
                   r0 = b[4].as_double();
      std::vector<float> l(65536);
      for (int v = 0; v < 256; ++v)
        for (int u = 0; u < 256; ++u) {
          const double d = std::sqrt((u - cx) * (u - cx) + (v - cy) * (v - cy));
          l[(size_t)v * 256 + u] = (float)(amp * (1.0 - (d - r0) * (d - r0) / (r * r)));
        }
      blobs_.push_back(l);
    }
    for (const auto& v : g.find("ious")->items()) ious_.push_back((float)v.as_double());
  }
  Status set_image(const io::Image&) override { return Status(); }
  Status predict_points(const float*, int n, AmgLowRes* out) override {
    out->n = n;
    out->m = 3;
    out->side = 256;
    out->logits.clear();
    out->iou.clear();
    for (int i = 0; i < n; ++i)
      for (int k = 0; k < 3; ++k) {
        const size_t b = (size_t)(next_ + i * 3 + k) % blobs_.size();
        out->logits.insert(out->logits.end(), blobs_[b].begin(), blobs_[b].end());
        out->iou.push_back(ious_[b]);
      }
    next_ += n * 3;
    return Status();
  }

 private:
  std::vector<std::vector<float>> blobs_;
  std::vector<float> ious_;
  int next_ = 0;
};

void compare_with_golden(const std::vector<AmgMask>& got, const io::JsonValue& want, int H, int W) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    const io::JsonValue& w = want[i];
    CHECK(got[i].predicted_iou == doctest::Approx(w.find("predicted_iou")->as_double()).epsilon(1e-6));
    CHECK(got[i].stability_score == doctest::Approx(w.find("stability_score")->as_double()).epsilon(1e-6));
    const io::JsonValue& b = *w.find("bbox_xyxy");
    const BoxXYWH want_box = {(int)b[0].as_int(), (int)b[1].as_int(), (int)(b[2].as_int() - b[0].as_int()),
                              (int)(b[3].as_int() - b[1].as_int())};
    CHECK(got[i].bbox == want_box);
    CHECK(got[i].area == w.find("area")->as_int());
    CHECK(got[i].rle.h == H);
    CHECK(got[i].rle.w == W);
    CHECK(got[i].rle.counts == counts_of(*w.find("counts")));
    CHECK(got[i].coco_counts == w.find("coco")->as_string());
  }
}
}  // namespace

TEST_CASE("generator post-processing matches the PyTorch/torchvision/OpenCV golden") {
  const io::JsonValue g = load_golden();
  const int H = (int)g.find("height")->as_int(), W = (int)g.find("width")->as_int();
  io::Image img;
  img.width = W;
  img.height = H;
  img.rgb.assign((size_t)W * H * 3, 0);
  AmgParams p;
  p.points_per_side = 2;  // 4 prompts x 3 masks = the 12 golden blobs
  p.pred_iou_thresh = (float)g.find("pred_iou_thresh")->as_double();
  p.stability_score_thresh = (float)g.find("stability_score_thresh")->as_double();
  p.stability_score_offset = (float)g.find("stability_score_offset")->as_double();
  p.box_nms_thresh = (float)g.find("box_nms_thresh")->as_double();
  p.output_mode = AmgOutputMode::kCocoRle;
  {
    BlobModel model(g);
    auto r = AutomaticMaskGenerator(&model, p).generate(img);
    REQUIRE(r.ok());
    compare_with_golden(r.value(), *g.find("masks"), H, W);
  }
  {
    // Small batches must not change anything.
    p.points_per_batch = 3;
    BlobModel model(g);
    auto r = AutomaticMaskGenerator(&model, p).generate(img);
    REQUIRE(r.ok());
    compare_with_golden(r.value(), *g.find("masks"), H, W);
  }
  {
    p.min_mask_region_area = g.find("min_mask_region_area")->as_int();
    BlobModel model(g);
    auto r = AutomaticMaskGenerator(&model, p).generate(img);
    REQUIRE(r.ok());
    compare_with_golden(r.value(), *g.find("masks_small_regions"), H, W);
  }
}

TEST_CASE("remove_small_regions matches OpenCV connectedComponentsWithStats") {
  const io::JsonValue g = *load_golden().find("remove_small");
  Rle in;
  in.h = (int)g.find("h")->as_int();
  in.w = (int)g.find("w")->as_int();
  in.counts = counts_of(*g.find("input"));
  const int64_t area = g.find("area")->as_int();
  auto m = rle_to_mask(in);
  REQUIRE(m.ok());
  std::vector<uint8_t> holes = m.value(), islands = m.value();
  CHECK(remove_small_regions(holes.data(), in.h, in.w, area, SmallRegionMode::kHoles));
  CHECK(remove_small_regions(islands.data(), in.h, in.w, area, SmallRegionMode::kIslands));
  CHECK(rle_from_mask(holes.data(), in.h, in.w).counts == counts_of(*g.find("holes")));
  CHECK(rle_from_mask(islands.data(), in.h, in.w).counts == counts_of(*g.find("islands")));
}

TEST_CASE("MaskEncoder (block-skipping) equals the full-plane reference") {
  std::mt19937 rng(19);
  std::uniform_real_distribution<float> ud(-1.f, 1.f);
  // Smooth random fields (a few blobs plus noise) and pure noise, at several
  // crop sizes inside larger images, both with one and two resizes.
  struct Case {
    int oh, ow, ch_, cw_, y0, x0;
  };
  const Case cases[] = {{768, 1024, 768, 1024, 0, 0}, {300, 451, 300, 451, 0, 0}, {480, 640, 200, 300, 100, 250},
                        {1500, 900, 1500, 900, 0, 0}, {50, 40, 50, 40, 0, 0},     {600, 800, 515, 643, 85, 157}};
  for (const Case& cs : cases) {
    const MaskEncoder enc = MaskEncoder::make(cs.ch_, cs.cw_);
    const BoxXYXY crop = {cs.x0, cs.y0, cs.x0 + cs.cw_, cs.y0 + cs.ch_};
    for (int t = 0; t < 4; ++t) {
      std::vector<float> low(65536);
      const float cx = 128 + 100 * ud(rng), cy = 128 + 100 * ud(rng), r = 20 + 40 * std::fabs(ud(rng));
      const float amp = t == 3 ? 0.5f : 10.f + 20 * std::fabs(ud(rng));
      for (int v = 0; v < 256; ++v)
        for (int u = 0; u < 256; ++u) {
          const float d2 = ((u - cx) * (u - cx) + (v - cy) * (v - cy)) / (r * r);
          low[(size_t)v * 256 + u] = amp * (1.f - d2) + (t == 2 ? 3.f * ud(rng) : 0.f);
        }
      Rle a, b;
      BoxXYXY ba, bb;
      int64_t ia, ua, ib, ub;
      std::vector<float> scratch;
      enc.encode(low.data(), crop, cs.oh, cs.ow, 0.f, 1.f, &a, &ba, &ia, &ua, &scratch);
      enc.encode_ref(low.data(), crop, cs.oh, cs.ow, 0.f, 1.f, &b, &bb, &ib, &ub);
      CAPTURE(cs.ch_);
      CAPTURE(t);
      CHECK(a.counts == b.counts);
      CHECK(ba == bb);
      CHECK(ia == ib);
      CHECK(ua == ub);
      CHECK(rle_validate(a).ok());
    }
  }
}

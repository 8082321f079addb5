// SPDX-License-Identifier: MIT
// Region partition: invariants (every pixel labelled exactly once, labels
// dense, areas and boxes consistent), the ranking rule on hand-made overlaps,
// fragment merging, the rest region, determinism, bad input, and the
// majority downsampling to a token grid on hand-computed cells.
#include <doctest/doctest.h>

#include <random>
#include <vector>

#include "rsfiqa/models/sam/partition.hpp"

using namespace rsfiqa;
using namespace rsfiqa::sam;

namespace {
Rle rect_rle(int h, int w, int x0, int y0, int x1, int y1) {
  std::vector<uint8_t> m((size_t)h * w, 0);
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) m[(size_t)y * w + x] = 1;
  return rle_from_mask(m.data(), h, w);
}

// Checks the invariants every partition must satisfy.
void check_invariants(const Partition& p) {
  REQUIRE(p.labels.size() == (size_t)p.h * p.w);
  std::vector<int64_t> area(p.regions.size(), 0);
  for (int32_t L : p.labels) {
    REQUIRE(L >= 0);
    REQUIRE(L < (int32_t)p.regions.size());
    ++area[(size_t)L];
  }
  int rest = 0;
  for (size_t i = 0; i < p.regions.size(); ++i) {
    CHECK(p.regions[i].label == (int)i);
    CHECK(p.regions[i].area == area[i]);
    CHECK(p.regions[i].area > 0);
    rest += p.regions[i].is_rest;
  }
  CHECK(rest <= 1);
  if (rest) CHECK(p.regions.back().is_rest);
}
}  // namespace

TEST_CASE("partition: better masks win overlaps, leftovers go to the rest region") {
  const int h = 40, w = 60;
  // Mask 0 (score .5) covers the left half, mask 1 (score .9) a centre block.
  std::vector<Rle> m = {rect_rle(h, w, 0, 0, 30, 40), rect_rle(h, w, 20, 10, 40, 30)};
  PartitionParams pp;
  pp.min_region_area = 4;
  pp.rest_min_area = 100;
  auto r = partition_rles(m, {0.5f, 0.9f}, h, w, pp);
  REQUIRE(r.ok());
  const Partition& p = r.value();
  check_invariants(p);
  REQUIRE(p.regions.size() == 3);
  // Rank order: mask 1 first, then mask 0, then the rest (columns 40..59).
  CHECK(p.regions[0].source == 1);
  CHECK(p.regions[1].source == 0);
  CHECK(p.regions[2].is_rest);
  CHECK(p.regions[0].area == 20 * 20);
  CHECK(p.regions[1].area == 30 * 40 - 10 * 20);
  CHECK(p.regions[2].area == 20 * 40 + 10 * 20 - 0);  // columns 40..59 and columns 30..39 outside the block
  CHECK(p.labels[(size_t)15 * w + 25] == 0);
  CHECK(p.labels[(size_t)5 * w + 25] == 1);
  CHECK(p.labels[(size_t)5 * w + 50] == 2);
  CHECK(p.regions[0].bbox == BoxXYWH{20, 10, 19, 19});
}

TEST_CASE("partition: small leftovers and fragments merge into neighbours") {
  const int h = 30, w = 30;
  // Mask 0 everything but a 2x2 gap at (10,10); mask 1 (lower score) only a
  // 3-pixel sliver next to mask 0's area that mask 0 already covers except one pixel.
  std::vector<uint8_t> a((size_t)h * w, 1);
  for (int y = 10; y < 12; ++y)
    for (int x = 10; x < 12; ++x) a[(size_t)y * w + x] = 0;
  std::vector<Rle> m = {rle_from_mask(a.data(), h, w), rect_rle(h, w, 11, 11, 13, 13)};
  PartitionParams pp;
  pp.min_region_area = 5;
  pp.rest_min_area = 50;
  auto r = partition_rles(m, {0.9f, 0.8f}, h, w, pp);
  REQUIRE(r.ok());
  const Partition& p = r.value();
  check_invariants(p);
  // Mask 1 only painted the one gap pixel (11,11): a fragment, merged; the
  // other gap pixels are small leftovers: everything is region 0.
  REQUIRE(p.regions.size() == 1);
  CHECK(p.regions[0].source == 0);
  CHECK(p.regions[0].area == h * w);
}

TEST_CASE("partition: no masks -> one rest region; deterministic; random invariants") {
  auto r = partition_rles({}, {}, 5, 7);
  REQUIRE(r.ok());
  check_invariants(r.value());
  REQUIRE(r.value().regions.size() == 1);
  CHECK(r.value().regions[0].is_rest);

  std::mt19937 rng(11);
  const int h = 64, w = 80;
  for (int t = 0; t < 20; ++t) {
    std::vector<Rle> m;
    std::vector<float> s;
    const int n = 1 + (int)(rng() % 8);
    for (int i = 0; i < n; ++i) {
      const int x0 = (int)(rng() % w), y0 = (int)(rng() % h);
      const int x1 = std::min(w, x0 + 1 + (int)(rng() % 40)), y1 = std::min(h, y0 + 1 + (int)(rng() % 40));
      m.push_back(rect_rle(h, w, x0, y0, x1, y1));
      s.push_back((float)(rng() % 5) / 5.f);  // ties on purpose
    }
    auto p1 = partition_rles(m, s, h, w);
    auto p2 = partition_rles(m, s, h, w);
    REQUIRE(p1.ok());
    REQUIRE(p2.ok());
    check_invariants(p1.value());
    CHECK(p1.value().labels == p2.value().labels);
    // Every non-rest region's pixels were all covered by its source mask or
    // were leftovers; a pixel covered by a strictly better-ranked mask never
    // carries a worse label unless it was a fragment (not checked here).
    for (const auto& reg : p1.value().regions)
      if (!reg.is_rest) CHECK(reg.score == s[(size_t)reg.source]);
  }
}

TEST_CASE("partition bad input") {
  Rle r = rect_rle(4, 4, 0, 0, 2, 2);
  CHECK(partition_rles({r}, {1.f}, 4, 5).status().code() == ErrorCode::kShapeMismatch);
  CHECK(partition_rles({r}, {}, 4, 4).status().code() == ErrorCode::kInvalidArgument);
  CHECK(partition_rles({r}, {1.f}, 0, 4).status().code() == ErrorCode::kEmptyInput);
  r.counts.push_back(3);
  CHECK(partition_rles({r}, {1.f}, 4, 4).status().code() == ErrorCode::kMalformed);
}

TEST_CASE("partition_masks ranks AMG records by predicted_iou * stability") {
  const int h = 10, w = 10;
  std::vector<AmgMask> ms(2);
  ms[0].rle = rect_rle(h, w, 0, 0, 10, 10);
  ms[0].predicted_iou = 0.99f;
  ms[0].stability_score = 0.5f;  // key 0.495
  ms[1].rle = rect_rle(h, w, 0, 0, 5, 10);
  ms[1].predicted_iou = 0.9f;
  ms[1].stability_score = 0.99f;  // key 0.891: ranked first
  PartitionParams pp;
  pp.min_region_area = 1;
  auto r = partition_masks(ms, h, w, pp);
  REQUIRE(r.ok());
  check_invariants(r.value());
  REQUIRE(r.value().regions.size() == 2);
  CHECK(r.value().regions[0].source == 1);
  CHECK(r.value().regions[0].area == 50);
  CHECK(r.value().regions[0].predicted_iou == doctest::Approx(0.9));
}

TEST_CASE("downsample_labels_majority") {
  // 4x6 map to 2x3 cells of 2x2 pixels.
  const std::vector<int32_t> L = {0, 0, 1, 1, 2, 2,  //
                                  0, 1, 1, 2, 2, 3,  //
                                  4, 4, 5, 5, 3, 3,  //
                                  4, 5, 6, 7, 3, 3};
  auto d = downsample_labels_majority(L, 4, 6, 2, 3);
  REQUIRE(d.ok());
  // Cell (0,1) = {1,1,1,2} -> 1; cell (0,2) = {2,2,2,3} -> 2; cell (1,1) =
  // {5,5,6,7} -> 5; cell (0,0) {0,0,0,1} -> 0; cell (1,0) {4,4,4,5} -> 4.
  CHECK(d.value() == std::vector<int32_t>{0, 1, 2, 4, 5, 3});
  // Tie 2-2 goes to the smaller label.
  auto t = downsample_labels_majority({7, 7, 3, 3}, 1, 4, 1, 1);
  REQUIRE(t.ok());
  CHECK(t.value()[0] == 3);
  // Grid finer than the image: every cell still gets a label.
  auto f = downsample_labels_majority({1, 2, 3, 4}, 2, 2, 4, 4);
  REQUIRE(f.ok());
  CHECK(f.value() == std::vector<int32_t>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  // Uneven split: 5 rows into 2 cells = rows [0,2) and [2,5).
  auto u = downsample_labels_majority({1, 1, 2, 2, 2}, 5, 1, 2, 1);
  REQUIRE(u.ok());
  CHECK(u.value() == std::vector<int32_t>{1, 2});
  CHECK(downsample_labels_majority({1, 2, 3}, 2, 2, 1, 1).status().code() == ErrorCode::kShapeMismatch);
  CHECK(downsample_labels_majority({1}, 1, 1, 0, 1).status().code() == ErrorCode::kInvalidArgument);
}

// SPDX-License-Identifier: MIT
// Region partition: turns the overlapping masks of automatic mask generation
// into a non-overlapping label map that covers every pixel, and downsamples
// such a label map to a token grid by majority vote.
//
// The rule (documented in docs/sam.md, "Automatic mask generation and region
// partition"):
//   1. Masks are ranked by a quality key, predicted_iou * stability_score for
//      AMG records (any caller-given score otherwise), highest first; ties keep
//      the input order.
//   2. Painting: each pixel takes the first ranked mask that covers it.
//   3. Fragments: every 4-connected piece of a painted region smaller than
//      min_region_area pixels is unpainted again (thin slivers left where a
//      better mask took most of a worse one).
//   4. Leftovers: 4-connected components of unpainted pixels with at least
//      rest_min_area pixels form one extra region, the "rest" region (label
//      R - 1, source -1). Smaller leftovers are absorbed by their neighbours
//      with a multi-source breadth-first search: seeds are the painted pixels
//      in raster order, neighbours visited up, left, right, down, so each
//      leftover pixel joins the region that reaches it first (the nearest in
//      4-connected steps, ties by seed order). With no painted pixel at all
//      the whole image is the rest region.
//   5. Labels are renumbered 0..R-1 in rank order, regions that lost all
//      their pixels are dropped, the rest region (if any) comes last.
//
// It does not look at the image content (no colour-based merging) and does
// not reorder SAM's masks beyond the ranking above. The reference for the
// idea is the RSFIQA paper's use of SAM regions; the exact rule is ours.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <numeric>
#include <utility>
#include <vector>

#include "rsfiqa/core/status.hpp"
#include "rsfiqa/models/sam/amg.hpp"

namespace rsfiqa::sam {

struct PartitionParams {
  // Painted pieces below this many pixels are merged into neighbours.
  // <= 0: automatic, h * w / 4096 (one cell of a 64 x 64 token grid), at least 1.
  int64_t min_region_area = 0;
  // Leftover components with at least this many pixels form the rest region.
  // <= 0: automatic, 16 * the effective min_region_area.
  int64_t rest_min_area = 0;
};

struct PartitionRegion {
  int label = 0;    // value in the label map
  int source = -1;  // index of the input mask, -1 for the rest region
  bool is_rest = false;
  int64_t area = 0;   // pixels with this label
  BoxXYWH bbox{};     // SAM's XYWH convention: w = max x - min x
  float score = 0.f;  // ranking key (0 for the rest region)
  float predicted_iou = 0.f;
  float stability_score = 0.f;
};

struct Partition {
  int h = 0;
  int w = 0;
  std::vector<int32_t> labels;  // [h, w] row-major, every value in [0, regions.size())
  std::vector<PartitionRegion> regions;
};

namespace detail {
// Sizes of the 4-connected same-label pieces of `labels` (pixels with label
// < 0 are skipped); piece[i] = piece id of pixel i, or -1.
inline void label_pieces4(const std::vector<int32_t>& labels, int h, int w, std::vector<int32_t>* piece,
                          std::vector<int64_t>* sizes, bool negative_only) {
  const int64_t n = (int64_t)h * w;
  piece->assign((size_t)n, -1);
  sizes->clear();
  std::vector<int64_t> stack;
  for (int64_t s = 0; s < n; ++s) {
    const int32_t L = labels[(size_t)s];
    if ((*piece)[(size_t)s] >= 0 || (negative_only ? L >= 0 : L < 0)) continue;
    const int32_t id = (int32_t)sizes->size();
    int64_t count = 0;
    (*piece)[(size_t)s] = id;
    stack.push_back(s);
    while (!stack.empty()) {
      const int64_t p = stack.back();
      stack.pop_back();
      ++count;
      const int y = (int)(p / w), x = (int)(p % w);
      const int64_t nb[4] = {y > 0 ? p - w : -1, x > 0 ? p - 1 : -1, x + 1 < w ? p + 1 : -1, y + 1 < h ? p + w : -1};
      for (int64_t q : nb) {
        if (q < 0 || (*piece)[(size_t)q] >= 0 || labels[(size_t)q] != L) continue;
        (*piece)[(size_t)q] = id;
        stack.push_back(q);
      }
    }
    sizes->push_back(count);
  }
}
}  // namespace detail

// Partitions h x w pixels from RLE masks and their ranking scores (higher
// first). info[i] (optional, same length) carries predicted_iou and
// stability_score into the records.
inline Result<Partition> partition_rles(const std::vector<Rle>& masks, const std::vector<float>& scores, int h, int w,
                                        const PartitionParams& params = PartitionParams(),
                                        const std::vector<std::array<float, 2>>* info = nullptr) {
  if (h <= 0 || w <= 0) return make_error(ErrorCode::kEmptyInput, "partition of an empty %dx%d image", w, h);
  if ((int64_t)h * w > ((int64_t)1 << 31))
    return make_error(ErrorCode::kLimitExceeded, "partition of a %dx%d image: too many pixels", w, h);
  if (scores.size() != masks.size())
    return make_error(ErrorCode::kInvalidArgument, "partition: %zu masks but %zu scores", masks.size(), scores.size());
  if (info && info->size() != masks.size())
    return make_error(ErrorCode::kInvalidArgument, "partition: %zu masks but %zu info records", masks.size(),
                      info->size());
  for (size_t i = 0; i < masks.size(); ++i) {
    if (masks[i].h != h || masks[i].w != w)
      return make_error(ErrorCode::kShapeMismatch, "partition: mask %zu is %dx%d, image is %dx%d", i, masks[i].w,
                        masks[i].h, w, h);
    RSFIQA_RETURN_IF_ERROR(rle_validate(masks[i]));
  }
  const int64_t n = (int64_t)h * w;
  const int64_t min_area = params.min_region_area > 0 ? params.min_region_area : std::max<int64_t>(1, n / 4096);
  const int64_t rest_area = params.rest_min_area > 0 ? params.rest_min_area : 16 * min_area;

  // 1-2. Rank and paint; provisional label = rank.
  std::vector<int> order(masks.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return scores[(size_t)a] > scores[(size_t)b]; });
  std::vector<int32_t> lab((size_t)n, -1);
  for (size_t r = 0; r < order.size(); ++r) {
    const Rle& m = masks[(size_t)order[r]];
    int64_t pos = 0;
    for (size_t k = 0; k < m.counts.size(); ++k) {
      if (k & 1) {
        for (int64_t q = pos; q < pos + (int64_t)m.counts[k]; ++q) {
          const int64_t x = q / h, y = q % h;
          int32_t& L = lab[(size_t)(y * w + x)];
          if (L < 0) L = (int32_t)r;
        }
      }
      pos += m.counts[k];
    }
  }
  // 3. Unpaint small pieces.
  std::vector<int32_t> piece;
  std::vector<int64_t> sizes;
  detail::label_pieces4(lab, h, w, &piece, &sizes, false);
  for (int64_t i = 0; i < n; ++i)
    if (piece[(size_t)i] >= 0 && sizes[(size_t)piece[(size_t)i]] < min_area) lab[(size_t)i] = -1;
  // 4a. Large leftover components -> rest (provisional label = number of masks).
  const int32_t rest_label = (int32_t)masks.size();
  bool any_painted = false;
  for (int64_t i = 0; i < n && !any_painted; ++i) any_painted = lab[(size_t)i] >= 0;
  detail::label_pieces4(lab, h, w, &piece, &sizes, true);
  for (int64_t i = 0; i < n; ++i) {
    const int32_t p = piece[(size_t)i];
    if (p >= 0 && (!any_painted || sizes[(size_t)p] >= rest_area)) lab[(size_t)i] = rest_label;
  }
  // 4b. Multi-source BFS from every labelled pixel bordering an unlabelled one.
  std::deque<int64_t> queue;
  for (int64_t p = 0; p < n; ++p) {
    if (lab[(size_t)p] < 0) continue;
    const int y = (int)(p / w), x = (int)(p % w);
    if ((y > 0 && lab[(size_t)(p - w)] < 0) || (x > 0 && lab[(size_t)(p - 1)] < 0) ||
        (x + 1 < w && lab[(size_t)(p + 1)] < 0) || (y + 1 < h && lab[(size_t)(p + w)] < 0))
      queue.push_back(p);
  }
  while (!queue.empty()) {
    const int64_t p = queue.front();
    queue.pop_front();
    const int y = (int)(p / w), x = (int)(p % w);
    const int64_t nb[4] = {y > 0 ? p - w : -1, x > 0 ? p - 1 : -1, x + 1 < w ? p + 1 : -1, y + 1 < h ? p + w : -1};
    for (int64_t q : nb) {
      if (q < 0 || lab[(size_t)q] >= 0) continue;
      lab[(size_t)q] = lab[(size_t)p];
      queue.push_back(q);
    }
  }
  // 5. Renumber by rank, drop empty regions, rest last; areas and boxes.
  const size_t n_prov = masks.size() + 1;
  std::vector<int64_t> area(n_prov, 0);
  std::vector<std::array<int, 4>> box(n_prov, std::array<int, 4>{w, h, -1, -1});
  for (int64_t p = 0; p < n; ++p) {
    const int32_t L = lab[(size_t)p];
    if (L < 0) return make_error(ErrorCode::kInternal, "partition left pixel %lld unlabelled", (long long)p);
    const int y = (int)(p / w), x = (int)(p % w);
    ++area[(size_t)L];
    auto& b = box[(size_t)L];
    b[0] = std::min(b[0], x);
    b[1] = std::min(b[1], y);
    b[2] = std::max(b[2], x);
    b[3] = std::max(b[3], y);
  }
  Partition out;
  out.h = h;
  out.w = w;
  std::vector<int32_t> remap(n_prov, -1);
  for (size_t L = 0; L < n_prov; ++L) {
    if (area[L] == 0) continue;
    PartitionRegion r;
    r.label = (int)out.regions.size();
    r.is_rest = L == (size_t)rest_label;
    r.source = r.is_rest ? -1 : order[L];
    r.area = area[L];
    r.bbox = {box[L][0], box[L][1], box[L][2] - box[L][0], box[L][3] - box[L][1]};
    if (!r.is_rest) {
      r.score = scores[(size_t)r.source];
      if (info) {
        r.predicted_iou = (*info)[(size_t)r.source][0];
        r.stability_score = (*info)[(size_t)r.source][1];
      }
    }
    remap[L] = r.label;
    out.regions.push_back(r);
  }
  out.labels.resize((size_t)n);
  for (int64_t p = 0; p < n; ++p) out.labels[(size_t)p] = remap[(size_t)lab[(size_t)p]];
  return out;
}

// Partition of AMG records, ranked by predicted_iou * stability_score.
inline Result<Partition> partition_masks(const std::vector<AmgMask>& masks, int h, int w,
                                         const PartitionParams& params = PartitionParams()) {
  std::vector<Rle> rles;
  std::vector<float> scores;
  std::vector<std::array<float, 2>> info;
  rles.reserve(masks.size());
  for (const AmgMask& m : masks) {
    rles.push_back(m.rle);
    scores.push_back(m.predicted_iou * m.stability_score);
    info.push_back({m.predicted_iou, m.stability_score});
  }
  return partition_rles(rles, scores, h, w, params, &info);
}

// Majority label of each cell of a gh x gw grid over an h x w label map.
// Cell (i, j) covers rows [i*h/gh, (i+1)*h/gh) and columns [j*w/gw,
// (j+1)*w/gw) (integer division); a cell that covers no row or column (grid
// finer than the image) takes the pixel at its start. Ties go to the smaller
// label. Returns gh * gw labels, row-major.
inline Result<std::vector<int32_t>> downsample_labels_majority(const std::vector<int32_t>& labels, int h, int w, int gh,
                                                               int gw) {
  if (h <= 0 || w <= 0 || gh <= 0 || gw <= 0)
    return make_error(ErrorCode::kInvalidArgument, "downsample_labels_majority: sizes %dx%d -> %dx%d must be positive",
                      h, w, gh, gw);
  if (labels.size() != (size_t)h * (size_t)w)
    return make_error(ErrorCode::kShapeMismatch, "downsample_labels_majority: %zu labels for a %dx%d map",
                      labels.size(), h, w);
  std::vector<int32_t> out((size_t)gh * (size_t)gw);
  std::vector<std::pair<int32_t, int64_t>> counts;
  for (int i = 0; i < gh; ++i) {
    int y0 = (int)((int64_t)i * h / gh), y1 = (int)((int64_t)(i + 1) * h / gh);
    if (y1 <= y0) y1 = std::min(y0 + 1, h), y0 = std::min(y0, h - 1);
    for (int j = 0; j < gw; ++j) {
      int x0 = (int)((int64_t)j * w / gw), x1 = (int)((int64_t)(j + 1) * w / gw);
      if (x1 <= x0) x1 = std::min(x0 + 1, w), x0 = std::min(x0, w - 1);
      counts.clear();
      for (int y = y0; y < y1; ++y) {
        const int32_t* row = labels.data() + (size_t)y * (size_t)w;
        for (int x = x0; x < x1; ++x) {
          const int32_t L = row[x];
          size_t k = 0;
          while (k < counts.size() && counts[k].first != L) ++k;
          if (k == counts.size()) counts.push_back({L, 0});
          ++counts[k].second;
        }
      }
      std::pair<int32_t, int64_t> best = counts[0];
      for (const auto& c : counts)
        if (c.second > best.second || (c.second == best.second && c.first < best.first)) best = c;
      out[(size_t)i * (size_t)gw + (size_t)j] = best.first;
    }
  }
  return out;
}

}  // namespace rsfiqa::sam

// SPDX-License-Identifier: MIT
// Segment Anything's automatic mask generator (AMG): a regular grid of
// single-point prompts is decoded in batches, every candidate mask is
// filtered by its predicted IoU and its stability score, duplicates are
// removed by box NMS (inside each crop, then across crops), small holes and
// islands are optionally cleaned, and the survivors are returned as records
// with SAM's fields (segmentation, area, bbox XYWH, predicted_iou,
// point_coords, stability_score, crop_box).
//
// It follows facebookresearch/segment-anything, files
// segment_anything/automatic_mask_generator.py and segment_anything/utils/amg.py:
// same parameter names and defaults, same point grids and crop boxes, same
// filter order and comparison operators (IoU `>`, stability `>=`, NMS
// suppresses IoU `>`), torchvision's box IoU (no +1 on widths), COCO RLE
// (column-major counts starting with a zero run) and pycocotools' compressed
// count string. Masks are upsampled from the 256x256 low-res logits exactly as
// SamPredictor does (bilinear, align_corners=False, to the 1024 model frame,
// cropped to the resized image, then to the crop's own size) before any
// threshold, so stability scores are computed at full resolution like SAM.
//
// Differences from the Python code, none of which changes the result:
//   * masks are never held as a [N, H, W] batch; each candidate is upsampled
//     in a per-thread scratch buffer, reduced to counts, a box and an RLE in
//     the original image frame, and dropped;
//   * the upsampled plane is produced column-major so the RLE is a single
//     sequential pass;
//   * a stability score whose union is empty (SAM: 0/0 = NaN) is 0.
//
// What it does not do: no model code. The generator talks to the model
// through AmgModel (encode a crop, decode many single-point prompts), so the
// post-processing is tested with synthetic models; PredictorAmgModel adapts
// sam::Predictor and AmgTinyVitEncoder plugs the TinyViT encoder into it
// (end of file). No JSON either.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/core/status.hpp"
#include "rsfiqa/core/tensor.hpp"
#include "rsfiqa/io/image.hpp"
#include "rsfiqa/io/sam_preprocess.hpp"
#include "rsfiqa/models/sam/predictor.hpp"
#include "rsfiqa/models/sam/tinyvit.hpp"

namespace rsfiqa::sam {

// ---------------------------------------------------------------------------
// Small value types
// ---------------------------------------------------------------------------

// Integer box: XYXY with x1/y1 the last covered column/row (inclusive), as
// batched_mask_to_box returns; an empty mask is [0, 0, 0, 0].
using BoxXYXY = std::array<int, 4>;
// XYWH box as in the output records (w = x1 - x0, h = y1 - y0; SAM's
// box_xyxy_to_xywh, so a one-pixel mask has w = h = 0).
using BoxXYWH = std::array<int, 4>;

// Uncompressed COCO RLE of an h x w binary mask: pixels are read column by
// column (x outer, y inner); counts alternate zero runs and one runs and
// always start with a (possibly empty) zero run; sum(counts) == h * w.
struct Rle {
  int h = 0;
  int w = 0;
  std::vector<uint32_t> counts;
};

enum class AmgOutputMode { kBinaryMask, kUncompressedRle, kCocoRle };

inline const char* amg_output_mode_name(AmgOutputMode m) {
  switch (m) {
    case AmgOutputMode::kBinaryMask: return "binary_mask";
    case AmgOutputMode::kUncompressedRle: return "uncompressed_rle";
    case AmgOutputMode::kCocoRle: return "coco_rle";
  }
  return "?";
}

inline Result<AmgOutputMode> parse_amg_output_mode(const std::string& s) {
  if (s == "binary_mask") return AmgOutputMode::kBinaryMask;
  if (s == "uncompressed_rle") return AmgOutputMode::kUncompressedRle;
  if (s == "coco_rle") return AmgOutputMode::kCocoRle;
  return make_error(ErrorCode::kInvalidArgument,
                    "unknown output mode '%s' (expected binary_mask, uncompressed_rle or coco_rle)", s.c_str());
}

// ---------------------------------------------------------------------------
// Point grids and crop boxes (amg.py build_point_grid, build_all_layer_point_grids,
// generate_crop_boxes)
// ---------------------------------------------------------------------------

// n x n points in [0, 1]^2 at the centres of an n x n tiling, (x, y) pairs
// with x varying fastest: point k = (c[k % n], c[k / n]), c[i] = (i + 0.5) / n
// (SAM: linspace(1/(2n), 1 - 1/(2n), n)).
inline std::vector<std::array<float, 2>> build_point_grid(int n_per_side) {
  std::vector<std::array<float, 2>> pts;
  if (n_per_side <= 0) return pts;
  const double offset = 1.0 / (2.0 * n_per_side);
  std::vector<double> side((size_t)n_per_side);
  // numpy.linspace: start + i * step, with the last point pinned to stop.
  const double step = n_per_side > 1 ? (1.0 - 2.0 * offset) / (double)(n_per_side - 1) : 0.0;
  for (int i = 0; i < n_per_side; ++i) side[(size_t)i] = offset + (double)i * step;
  if (n_per_side > 1) side[(size_t)n_per_side - 1] = 1.0 - offset;
  pts.reserve((size_t)n_per_side * (size_t)n_per_side);
  for (int yi = 0; yi < n_per_side; ++yi)
    for (int xi = 0; xi < n_per_side; ++xi) pts.push_back({(float)side[(size_t)xi], (float)side[(size_t)yi]});
  return pts;
}

// One grid per crop layer: layer i has int(n_per_side / scale_per_layer^i)
// points per side.
inline std::vector<std::vector<std::array<float, 2>>> build_all_layer_point_grids(int n_per_side, int n_layers,
                                                                                  int scale_per_layer) {
  std::vector<std::vector<std::array<float, 2>>> grids;
  for (int i = 0; i <= n_layers; ++i) {
    const double div = std::pow((double)scale_per_layer, (double)i);
    grids.push_back(build_point_grid((int)((double)n_per_side / div)));
  }
  return grids;
}

// Crop boxes (XYXY, exclusive right/bottom as image slices) of every layer:
// layer 0 is the whole image; layer i >= 1 tiles the image with 2^i x 2^i
// overlapping crops. Boxes are listed x-major (all y for the first x, ...)
// like itertools.product(x0s, y0s).
struct CropBoxes {
  std::vector<BoxXYXY> boxes;
  std::vector<int> layer_idxs;
};

inline CropBoxes generate_crop_boxes(int h, int w, int n_layers, double overlap_ratio) {
  CropBoxes cb;
  cb.boxes.push_back({0, 0, w, h});
  cb.layer_idxs.push_back(0);
  const int short_side = std::min(h, w);
  // crop_len: ceil((overlap * (n - 1) + orig_len) / n) in Python floats.
  auto crop_len = [](int orig_len, int n_crops, int overlap) {
    return (int)std::ceil((double)(overlap * (n_crops - 1) + orig_len) / (double)n_crops);
  };
  for (int layer = 0; layer < n_layers; ++layer) {
    const int n_crops = 1 << (layer + 1);
    const int overlap = (int)(overlap_ratio * (double)short_side * (2.0 / (double)n_crops));
    const int crop_w = crop_len(w, n_crops, overlap);
    const int crop_h = crop_len(h, n_crops, overlap);
    for (int i = 0; i < n_crops; ++i) {
      const int x0 = (crop_w - overlap) * i;
      for (int j = 0; j < n_crops; ++j) {
        const int y0 = (crop_h - overlap) * j;
        cb.boxes.push_back({x0, y0, std::min(x0 + crop_w, w), std::min(y0 + crop_h, h)});
        cb.layer_idxs.push_back(layer + 1);
      }
    }
  }
  return cb;
}

// ---------------------------------------------------------------------------
// Stability score and box NMS
// ---------------------------------------------------------------------------

// SAM's calculate_stability_score on n logits: |logit > thr + offset| /
// |logit > thr - offset| (an IoU between the masks thresholded high and low).
// An empty union gives 0.
inline float stability_score(const float* logits, int64_t n, float mask_threshold, float offset) {
  const float hi = mask_threshold + offset, lo = mask_threshold - offset;
  int64_t inter = 0, uni = 0;
  for (int64_t i = 0; i < n; ++i) {
    inter += logits[i] > hi;
    uni += logits[i] > lo;
  }
  return uni > 0 ? (float)inter / (float)uni : 0.f;
}

// torchvision.ops.box_iou for one pair of XYXY boxes, in float like the
// float32 box tensors SAM passes (area = (x1 - x0) * (y1 - y0), no +1).
inline float box_iou(const std::array<float, 4>& a, const std::array<float, 4>& b) {
  const float area_a = (a[2] - a[0]) * (a[3] - a[1]);
  const float area_b = (b[2] - b[0]) * (b[3] - b[1]);
  const float iw = std::max(0.f, std::min(a[2], b[2]) - std::max(a[0], b[0]));
  const float ih = std::max(0.f, std::min(a[3], b[3]) - std::max(a[1], b[1]));
  const float inter = iw * ih;
  return inter / (area_a + area_b - inter);  // 0/0 = NaN never suppresses
}

// Greedy NMS (torchvision.ops.nms): boxes in decreasing score (stable for
// ties), a box is dropped when its IoU with a kept box is > iou_thresh.
// Returns kept indices in decreasing score order.
inline std::vector<int> nms(const std::vector<std::array<float, 4>>& boxes, const std::vector<float>& scores,
                            float iou_thresh) {
  const int n = (int)boxes.size();
  std::vector<int> order((size_t)n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return scores[(size_t)a] > scores[(size_t)b]; });
  std::vector<char> suppressed((size_t)n, 0);
  std::vector<int> keep;
  for (int oi = 0; oi < n; ++oi) {
    const int i = order[(size_t)oi];
    if (suppressed[(size_t)i]) continue;
    keep.push_back(i);
    for (int oj = oi + 1; oj < n; ++oj) {
      const int j = order[(size_t)oj];
      if (!suppressed[(size_t)j] && box_iou(boxes[(size_t)i], boxes[(size_t)j]) > iou_thresh) suppressed[(size_t)j] = 1;
    }
  }
  return keep;
}

// torchvision.ops.batched_nms: NMS independently per category `idxs`, the
// union of kept indices returned in decreasing score order (stable).
inline std::vector<int> batched_nms(const std::vector<std::array<float, 4>>& boxes, const std::vector<float>& scores,
                                    const std::vector<int>& idxs, float iou_thresh) {
  std::vector<int> cats(idxs);
  std::sort(cats.begin(), cats.end());
  cats.erase(std::unique(cats.begin(), cats.end()), cats.end());
  std::vector<int> keep;
  for (int c : cats) {
    std::vector<int> members;
    for (size_t i = 0; i < idxs.size(); ++i)
      if (idxs[i] == c) members.push_back((int)i);
    std::vector<std::array<float, 4>> b;
    std::vector<float> s;
    for (int m : members) {
      b.push_back(boxes[(size_t)m]);
      s.push_back(scores[(size_t)m]);
    }
    for (int k : nms(b, s, iou_thresh)) keep.push_back(members[(size_t)k]);
  }
  std::stable_sort(keep.begin(), keep.end(), [&](int a, int b) {
    if (scores[(size_t)a] != scores[(size_t)b]) return scores[(size_t)a] > scores[(size_t)b];
    return a < b;
  });
  return keep;
}

// ---------------------------------------------------------------------------
// Binary masks (row-major h x w, 0/1 bytes), boxes and RLE
// ---------------------------------------------------------------------------

// batched_mask_to_box for one row-major mask: [min x, min y, max x, max y]
// over set pixels, [0, 0, 0, 0] when empty.
inline BoxXYXY mask_to_box(const uint8_t* mask, int h, int w) {
  int x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (int y = 0; y < h; ++y) {
    const uint8_t* row = mask + (size_t)y * (size_t)w;
    for (int x = 0; x < w; ++x) {
      if (!row[x]) continue;
      x0 = std::min(x0, x);
      x1 = std::max(x1, x);
      y0 = std::min(y0, y);
      y1 = std::max(y1, y);
    }
  }
  if (x1 < 0) return {0, 0, 0, 0};
  return {x0, y0, x1, y1};
}

inline BoxXYWH box_xyxy_to_xywh(const BoxXYXY& b) { return {b[0], b[1], b[2] - b[0], b[3] - b[1]}; }

// RLE of a row-major mask (mask_to_rle_pytorch for one mask).
inline Rle rle_from_mask(const uint8_t* mask, int h, int w) {
  Rle r;
  r.h = h;
  r.w = w;
  uint8_t cur = 0;
  uint32_t run = 0;
  for (int x = 0; x < w; ++x) {
    for (int y = 0; y < h; ++y) {
      const uint8_t v = mask[(size_t)y * (size_t)w + (size_t)x] ? 1 : 0;
      if (v != cur) {
        r.counts.push_back(run);
        run = 0;
        cur = v;
      }
      ++run;
    }
  }
  r.counts.push_back(run);
  return r;
}

// Checks that counts cover exactly h * w pixels.
inline Status rle_validate(const Rle& r) {
  if (r.h < 0 || r.w < 0) return make_error(ErrorCode::kInvalidArgument, "RLE size [%d, %d] is negative", r.h, r.w);
  uint64_t sum = 0;
  for (uint32_t c : r.counts) sum += c;
  const uint64_t want = (uint64_t)r.h * (uint64_t)r.w;
  if (sum != want)
    return make_error(ErrorCode::kMalformed, "RLE counts sum to %llu, expected h*w = %d*%d = %llu",
                      (unsigned long long)sum, r.h, r.w, (unsigned long long)want);
  return Status();
}

// rle_to_mask: row-major 0/1 bytes.
inline Result<std::vector<uint8_t>> rle_to_mask(const Rle& r) {
  RSFIQA_RETURN_IF_ERROR(rle_validate(r));
  std::vector<uint8_t> m((size_t)r.h * (size_t)r.w, 0);
  uint64_t pos = 0;
  for (size_t i = 0; i < r.counts.size(); ++i) {
    if (i & 1) {
      for (uint64_t k = pos; k < pos + r.counts[i]; ++k) {
        const uint64_t x = k / (uint64_t)r.h, y = k % (uint64_t)r.h;
        m[(size_t)(y * (uint64_t)r.w + x)] = 1;
      }
    }
    pos += r.counts[i];
  }
  return m;
}

// area_from_rle: the sum of the one runs.
inline int64_t rle_area(const Rle& r) {
  int64_t a = 0;
  for (size_t i = 1; i < r.counts.size(); i += 2) a += r.counts[i];
  return a;
}

// The XYXY box of an RLE mask without decoding it. A one run starting in
// column c0 and ending in a later column covers row 0 of the later column and
// row h-1 of c0, so it spans all rows.
inline BoxXYXY rle_to_box(const Rle& r) {
  if (r.h <= 0) return {0, 0, 0, 0};
  int64_t x0 = INT64_MAX, y0 = INT64_MAX, x1 = -1, y1 = -1;
  int64_t pos = 0;
  for (size_t i = 0; i < r.counts.size(); ++i) {
    const int64_t len = r.counts[i];
    if ((i & 1) && len > 0) {
      const int64_t a = pos, b = pos + len - 1;
      const int64_t ca = a / r.h, cb = b / r.h;
      x0 = std::min(x0, ca);
      x1 = std::max(x1, cb);
      if (ca == cb) {
        y0 = std::min(y0, a % r.h);
        y1 = std::max(y1, b % r.h);
      } else {
        y0 = 0;
        y1 = r.h - 1;
      }
    }
    pos += len;
  }
  if (x1 < 0) return {0, 0, 0, 0};
  return {(int)x0, (int)y0, (int)x1, (int)y1};
}

// pycocotools rleToString: each count (from the third on, as the difference to
// the count two places earlier) is written as little-endian 5-bit groups in
// characters 48 + group, bit 0x20 meaning "more groups follow"; the sign is
// carried by bit 0x10 of the last group.
inline std::string rle_to_coco_string(const Rle& r) {
  std::string s;
  for (size_t i = 0; i < r.counts.size(); ++i) {
    int64_t x = (int64_t)r.counts[i];
    if (i > 2) x -= (int64_t)r.counts[i - 2];
    bool more = true;
    while (more) {
      int64_t c = x & 0x1f;
      x >>= 5;  // arithmetic shift, like C's `long` in pycocotools
      more = (c & 0x10) ? x != -1 : x != 0;
      if (more) c |= 0x20;
      s.push_back((char)(c + 48));
    }
  }
  return s;
}

// pycocotools rleFrString, validated: characters in range, counts
// non-negative, sum == h * w.
inline Result<Rle> rle_from_coco_string(const std::string& s, int h, int w) {
  Rle r;
  r.h = h;
  r.w = w;
  size_t p = 0;
  while (p < s.size()) {
    int64_t x = 0;
    int k = 0;
    bool more = true;
    while (more) {
      if (p >= s.size())
        return make_error(ErrorCode::kTruncated, "COCO RLE string ends inside a count at offset %zu", p);
      const int c = (int)(unsigned char)s[p] - 48;
      if (c < 0 || c > 63 || k > 12)
        return make_error(ErrorCode::kMalformed, "COCO RLE string: bad character at offset %zu", p);
      x |= (int64_t)(c & 0x1f) << (5 * k);
      more = (c & 0x20) != 0;
      ++p;
      ++k;
      if (!more && (c & 0x10)) x |= (int64_t)(~(uint64_t)0 << (5 * k));
    }
    if (r.counts.size() > 2) x += (int64_t)r.counts[r.counts.size() - 2];
    if (x < 0 || x > (int64_t)UINT32_MAX)
      return make_error(ErrorCode::kMalformed, "COCO RLE string: count %zu is out of range (%lld)", r.counts.size(),
                        (long long)x);
    r.counts.push_back((uint32_t)x);
  }
  RSFIQA_RETURN_IF_ERROR(rle_validate(r));
  return r;
}

// ---------------------------------------------------------------------------
// Small region removal (amg.py remove_small_regions)
// ---------------------------------------------------------------------------

namespace detail {
// 8-connected components of the non-zero pixels of a row-major h x w byte
// image. labels[i] = 0 for zero pixels, 1..n for components numbered in the
// raster order of their first pixel; sizes[k] = pixel count of label k + 1.
inline int label_components8(const uint8_t* img, int h, int w, std::vector<int32_t>* labels,
                             std::vector<int64_t>* sizes) {
  labels->assign((size_t)h * (size_t)w, 0);
  sizes->clear();
  std::vector<int64_t> stack;
  int n = 0;
  for (int64_t start = 0; start < (int64_t)h * w; ++start) {
    if (!img[start] || (*labels)[(size_t)start]) continue;
    ++n;
    int64_t count = 0;
    (*labels)[(size_t)start] = n;
    stack.push_back(start);
    while (!stack.empty()) {
      const int64_t p = stack.back();
      stack.pop_back();
      ++count;
      const int y = (int)(p / w), x = (int)(p % w);
      for (int dy = -1; dy <= 1; ++dy) {
        const int yy = y + dy;
        if (yy < 0 || yy >= h) continue;
        for (int dx = -1; dx <= 1; ++dx) {
          const int xx = x + dx;
          if (xx < 0 || xx >= w) continue;
          const int64_t q = (int64_t)yy * w + xx;
          if (img[q] && !(*labels)[(size_t)q]) {
            (*labels)[(size_t)q] = n;
            stack.push_back(q);
          }
        }
      }
    }
    sizes->push_back(count);
  }
  return n;
}
}  // namespace detail

enum class SmallRegionMode { kHoles, kIslands };

// Removes connected components (8-connectivity, like OpenCV's default) with
// fewer than area_thresh pixels: holes (components of the background) are
// filled, or islands (components of the mask) are erased. When every island is
// small the largest one (first in raster order on ties) is kept. Returns
// whether the mask changed; `mask` is row-major 0/1, modified in place.
inline bool remove_small_regions(uint8_t* mask, int h, int w, int64_t area_thresh, SmallRegionMode mode) {
  const bool holes = mode == SmallRegionMode::kHoles;
  const size_t n = (size_t)h * (size_t)w;
  std::vector<uint8_t> work(n);
  for (size_t i = 0; i < n; ++i) work[i] = (uint8_t)((mask[i] ? 1 : 0) ^ (holes ? 1 : 0));
  std::vector<int32_t> labels;
  std::vector<int64_t> sizes;
  const int n_labels = detail::label_components8(work.data(), h, w, &labels, &sizes);
  std::vector<char> small((size_t)n_labels + 1, 0);
  bool any_small = false;
  for (int k = 0; k < n_labels; ++k)
    if (sizes[(size_t)k] < area_thresh) small[(size_t)k + 1] = 1, any_small = true;
  if (!any_small) return false;
  // fill[k]: pixels with label k become 1 in the new mask.
  std::vector<char> fill((size_t)n_labels + 1, 0);
  if (holes) {
    fill[0] = 1;  // label 0 of the inverted image is the mask itself
    for (int k = 1; k <= n_labels; ++k) fill[(size_t)k] = small[(size_t)k];
  } else {
    bool any = false;
    for (int k = 1; k <= n_labels; ++k) {
      fill[(size_t)k] = !small[(size_t)k];
      any = any || fill[(size_t)k];
    }
    if (!any) {
      const size_t big = (size_t)(std::max_element(sizes.begin(), sizes.end()) - sizes.begin());
      fill[big + 1] = 1;
    }
  }
  for (size_t i = 0; i < n; ++i) mask[i] = (uint8_t)fill[(size_t)labels[i]];
  return true;
}

// ---------------------------------------------------------------------------
// Low-res logits -> full-resolution column-major plane (SamPredictor.postprocess_masks)
// ---------------------------------------------------------------------------

// Precomputed interpolation taps of the two bilinear resizes SAM applies to a
// [256, 256] low-res mask: to the 1024x1024 model frame (of which only the
// resized image's input_h x input_w corner is kept), then to the crop's size.
struct MaskUpsampler {
  int low = 256;
  int model = 1024;
  int input_h = 0, input_w = 0;  // resized image inside the model frame
  int out_h = 0, out_w = 0;      // original crop size
  io::detail::LinearTaps ty1, tx1, ty2, tx2;

  static MaskUpsampler make(int out_h, int out_w, int low_side = 256, int model_side = 1024) {
    MaskUpsampler u;
    u.low = low_side;
    u.model = model_side;
    const io::SamSize s = io::sam_preprocess_shape(out_h, out_w, model_side);
    u.input_h = s.h;
    u.input_w = s.w;
    u.out_h = out_h;
    u.out_w = out_w;
    u.ty1 = io::detail::make_linear_taps(low_side, model_side);
    u.tx1 = io::detail::make_linear_taps(low_side, model_side);
    u.ty2 = io::detail::make_linear_taps(u.input_h, out_h);
    u.tx2 = io::detail::make_linear_taps(u.input_w, out_w);
    return u;
  }
  bool needs_second() const { return input_h != out_h || input_w != out_w; }

  // Writes the out_h x out_w logits column-major into out (out[x * out_h + y]).
  // scratch is resized as needed and can be reused across calls. Each resize
  // blends along x first and then along y, PyTorch's grouping.
  void run(const float* lowres, std::vector<float>* scratch, std::vector<float>* out) const {
    const int L = low;
    // Stage 1a: x-interpolate every low-res row into the input_w columns,
    // stored transposed: hx[x * L + r].
    const size_t s1 = (size_t)input_w * (size_t)L;
    const size_t s2 = (size_t)input_w * (size_t)input_h;
    const bool second = needs_second();
    const size_t s3 = second ? (size_t)out_w * (size_t)input_h : 0;
    scratch->resize(s1 + (second ? s2 + s3 : 0));
    float* hx = scratch->data();
    for (int r = 0; r < L; ++r) {
      const float* row = lowres + (size_t)r * (size_t)L;
      for (int x = 0; x < input_w; ++x) {
        const float v = tx1.l0[(size_t)x] * row[tx1.i0[(size_t)x]] + tx1.l1[(size_t)x] * row[tx1.i1[(size_t)x]];
        hx[(size_t)x * (size_t)L + (size_t)r] = v;
      }
    }
    // Stage 1b: y-interpolate each column -> plane1 column-major [input_w][input_h].
    float* plane1 = second ? scratch->data() + s1 : nullptr;
    if (!second) out->resize(s2);
    float* dst1 = second ? plane1 : out->data();
    for (int x = 0; x < input_w; ++x) {
      const float* col = hx + (size_t)x * (size_t)L;
      float* o = dst1 + (size_t)x * (size_t)input_h;
      for (int y = 0; y < input_h; ++y)
        o[y] = ty1.l0[(size_t)y] * col[ty1.i0[(size_t)y]] + ty1.l1[(size_t)y] * col[ty1.i1[(size_t)y]];
    }
    if (!second) return;
    // Stage 2a: x-interpolate whole columns -> [out_w][input_h].
    float* cx = scratch->data() + s1 + s2;
    for (int x = 0; x < out_w; ++x) {
      const float* c0 = plane1 + (size_t)tx2.i0[(size_t)x] * (size_t)input_h;
      const float* c1 = plane1 + (size_t)tx2.i1[(size_t)x] * (size_t)input_h;
      const float w0 = tx2.l0[(size_t)x], w1 = tx2.l1[(size_t)x];
      float* o = cx + (size_t)x * (size_t)input_h;
      for (int y = 0; y < input_h; ++y) o[y] = w0 * c0[y] + w1 * c1[y];
    }
    // Stage 2b: y-interpolate inside each column -> [out_w][out_h].
    out->resize((size_t)out_w * (size_t)out_h);
    for (int x = 0; x < out_w; ++x) {
      const float* col = cx + (size_t)x * (size_t)input_h;
      float* o = out->data() + (size_t)x * (size_t)out_h;
      for (int y = 0; y < out_h; ++y)
        o[y] = ty2.l0[(size_t)y] * col[ty2.i0[(size_t)y]] + ty2.l1[(size_t)y] * col[ty2.i1[(size_t)y]];
    }
  }
};

// ---------------------------------------------------------------------------
// The generator
// ---------------------------------------------------------------------------

// What the generator needs from a SAM model. set_image encodes one RGB image
// (the whole photo or a crop); predict_points decodes n single foreground
// point prompts given in that image's pixel coordinates, with multimask output.
struct AmgLowRes {
  int n = 0;                  // prompts
  int m = 0;                  // masks per prompt (3 for multimask output)
  int side = 256;             // low-res side
  std::vector<float> logits;  // [n, m, side, side], or empty when `tensor` holds them
  Tensor tensor;              // the same logits as a model's output tensor (no copy)
  std::vector<float> iou;     // [n, m]

  const float* data() const { return tensor.f32() ? tensor.f32() : logits.data(); }
  size_t size() const { return tensor.f32() ? (size_t)tensor.numel() : logits.size(); }
};

class AmgModel {
 public:
  virtual ~AmgModel() = default;
  virtual Status set_image(const io::Image& image) = 0;
  virtual Status predict_points(const float* xy, int n, AmgLowRes* out) = 0;
  // The generator's predicted-IoU filter: masks with IoU not above it are
  // dropped unread, so a model may skip computing their logits. Optional.
  virtual void set_iou_filter(float min_iou) { (void)min_iou; }
};

struct AmgParams {
  int points_per_side = 32;  // 0 with explicit point_grids only
  int points_per_batch = 64;
  float pred_iou_thresh = 0.88f;
  float stability_score_thresh = 0.95f;
  float stability_score_offset = 1.0f;
  float box_nms_thresh = 0.7f;
  int crop_n_layers = 0;
  float crop_nms_thresh = 0.7f;
  float crop_overlap_ratio = 512.0f / 1500.0f;
  int crop_n_points_downscale_factor = 1;
  // Explicit normalised grids, one per layer (SAM's point_grids); used when
  // points_per_side is 0.
  std::vector<std::vector<std::array<float, 2>>> point_grids;
  int64_t min_mask_region_area = 0;
  AmgOutputMode output_mode = AmgOutputMode::kBinaryMask;
  float mask_threshold = 0.0f;
};

// One output mask (SAM's record). `rle` is always set; `mask` (row-major
// h x w 0/1) only in binary_mask mode and `coco_counts` only in coco_rle mode.
struct AmgMask {
  Rle rle;
  std::vector<uint8_t> mask;
  std::string coco_counts;
  int64_t area = 0;
  BoxXYWH bbox{};
  float predicted_iou = 0.f;
  std::array<float, 2> point_coords{};
  float stability_score = 0.f;
  BoxXYWH crop_box{};
};

struct AmgTimings {
  double encoder_ms = 0, decoder_ms = 0, postprocess_ms = 0;
  int64_t prompts = 0, candidates = 0;
};

inline Status validate_amg_params(const AmgParams& p) {
  if (p.points_per_side < 0)
    return make_error(ErrorCode::kInvalidArgument, "points_per_side is %d, must be >= 0", p.points_per_side);
  if (p.points_per_side == 0 && p.point_grids.empty())
    return make_error(ErrorCode::kEmptyInput, "empty prompt grid: points_per_side is 0 and no point_grids given");
  if (p.points_per_side == 0 && (int)p.point_grids.size() != p.crop_n_layers + 1)
    return make_error(ErrorCode::kInvalidArgument, "point_grids has %zu grids, crop_n_layers + 1 = %d expected",
                      p.point_grids.size(), p.crop_n_layers + 1);
  if (p.points_per_side > 1024)
    return make_error(ErrorCode::kLimitExceeded, "points_per_side %d is over the limit 1024", p.points_per_side);
  if (p.points_per_batch <= 0)
    return make_error(ErrorCode::kInvalidArgument, "points_per_batch is %d, must be > 0", p.points_per_batch);
  if (p.crop_n_layers < 0 || p.crop_n_layers > 4)
    return make_error(ErrorCode::kInvalidArgument, "crop_n_layers is %d, must be in [0, 4]", p.crop_n_layers);
  if (p.crop_n_points_downscale_factor < 1)
    return make_error(ErrorCode::kInvalidArgument, "crop_n_points_downscale_factor is %d, must be >= 1",
                      p.crop_n_points_downscale_factor);
  if (!(p.crop_overlap_ratio >= 0.f && p.crop_overlap_ratio < 1.f))
    return make_error(ErrorCode::kInvalidArgument, "crop_overlap_ratio %g must be in [0, 1)", p.crop_overlap_ratio);
  if (!std::isfinite(p.pred_iou_thresh) || !std::isfinite(p.stability_score_thresh) ||
      !std::isfinite(p.stability_score_offset) || !std::isfinite(p.box_nms_thresh) ||
      !std::isfinite(p.crop_nms_thresh) || !std::isfinite(p.mask_threshold))
    return make_error(ErrorCode::kInvalidArgument, "AMG thresholds must be finite");
  if (p.min_mask_region_area < 0)
    return make_error(ErrorCode::kInvalidArgument, "min_mask_region_area is %lld, must be >= 0",
                      (long long)p.min_mask_region_area);
  for (const auto& g : p.point_grids)
    for (const auto& pt : g)
      if (!(pt[0] >= 0.f && pt[0] <= 1.f && pt[1] >= 0.f && pt[1] <= 1.f))
        return make_error(ErrorCode::kInvalidArgument, "point grid coordinate (%g, %g) is outside [0, 1]", pt[0],
                          pt[1]);
  return Status();
}

namespace detail {
// A candidate mask that survived the per-batch filters, in original-image
// coordinates.
struct AmgCandidate {
  Rle rle;
  BoxXYXY box{};
  float iou = 0.f;
  float stability = 0.f;
  std::array<float, 2> point{};
  BoxXYXY crop{};
};

inline double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

inline std::array<float, 4> to_float_box(const BoxXYXY& b) {
  return {(float)b[0], (float)b[1], (float)b[2], (float)b[3]};
}

// amg.py is_box_near_crop_edge for an uncropped box: some side is within 20
// px of a crop side that is not also an image side.
inline bool box_near_crop_edge(const BoxXYXY& box, const BoxXYXY& crop, int orig_w, int orig_h) {
  const int orig[4] = {0, 0, orig_w, orig_h};
  for (int k = 0; k < 4; ++k) {
    const bool near_crop = std::abs(box[(size_t)k] - crop[(size_t)k]) <= 20;
    const bool near_image = std::abs(box[(size_t)k] - orig[k]) <= 20;
    if (near_crop && !near_image) return true;
  }
  return false;
}

inline io::Image crop_image(const io::Image& img, const BoxXYXY& b) {
  io::Image c;
  c.width = b[2] - b[0];
  c.height = b[3] - b[1];
  c.rgb.resize((size_t)c.width * (size_t)c.height * 3);
  for (int y = 0; y < c.height; ++y) {
    const uint8_t* src = img.rgb.data() + (((size_t)(y + b[1]) * (size_t)img.width + (size_t)b[0]) * 3);
    std::copy(src, src + (size_t)c.width * 3, c.rgb.data() + (size_t)y * (size_t)c.width * 3);
  }
  return c;
}

// Thresholds the column-major crop plane and writes the RLE of the mask
// padded into the orig_h x orig_w frame (uncrop_masks + mask_to_rle), its box
// in original coordinates and the two stability counts.
inline void plane_to_candidate(const float* plane, int ch, int cw, const BoxXYXY& crop, int orig_h, int orig_w,
                               float thr, float offset, Rle* rle, BoxXYXY* box, int64_t* inter, int64_t* uni) {
  const float hi = thr + offset, lo = thr - offset;
  rle->h = orig_h;
  rle->w = orig_w;
  rle->counts.clear();
  uint32_t run = 0;
  uint8_t cur = 0;
  int64_t n_hi = 0, n_lo = 0;
  int bx0 = INT32_MAX, by0 = INT32_MAX, bx1 = -1, by1 = -1;
  // Zero columns left of the crop, and the rows above the first crop column.
  run += (uint32_t)((int64_t)crop[0] * orig_h);
  const uint32_t above = (uint32_t)crop[1], below = (uint32_t)(orig_h - crop[3]);
  for (int x = 0; x < cw; ++x) {
    const float* col = plane + (size_t)x * (size_t)ch;
    // Zero pixels above the crop in this column.
    if (cur) {
      if (above) {
        rle->counts.push_back(run);
        run = 0;
        cur = 0;
      }
    }
    run += above;
    for (int y = 0; y < ch; ++y) {
      const float v = col[y];
      n_hi += v > hi;
      n_lo += v > lo;
      const uint8_t b = v > thr;
      if (b != cur) {
        rle->counts.push_back(run);
        run = 0;
        cur = b;
      }
      ++run;
      if (b) {
        bx0 = std::min(bx0, x);
        bx1 = x;
        by0 = std::min(by0, y);
        by1 = std::max(by1, y);
      }
    }
    if (cur && below) {
      rle->counts.push_back(run);
      run = 0;
      cur = 0;
    }
    run += below;
  }
  const uint32_t right = (uint32_t)((int64_t)(orig_w - crop[2]) * orig_h);
  if (cur && right) {
    rle->counts.push_back(run);
    run = 0;
    cur = 0;
  }
  run += right;
  rle->counts.push_back(run);
  *inter = n_hi;
  *uni = n_lo;
  if (bx1 < 0)
    *box = {crop[0], crop[1], crop[0], crop[1]};  // empty mask: [0,0,0,0] in the crop, shifted by uncrop
  else
    *box = {bx0 + crop[0], by0 + crop[1], bx1 + crop[0], by1 + crop[1]};
}

// Appends runs to a COCO RLE (first run is zeros).
struct RleBuilder {
  std::vector<uint32_t>* counts;
  uint32_t run = 0;
  uint8_t cur = 0;
  void add(uint8_t bit, uint32_t len) {
    if (len == 0) return;
    if (bit != cur) {
      counts->push_back(run);
      run = 0;
      cur = bit;
    }
    run += len;
  }
  void finish() { counts->push_back(run); }
};
}  // namespace detail

// From low-res logits straight to what the generator keeps of a mask: the RLE
// in the original frame, the box and the two stability counts, without
// materialising the upsampled plane. Output rows (columns) are grouped by the
// low-res rows (columns) their bilinear taps read, through both resizes.
// Where every low-res logit feeding a block is clearly above or clearly below
// each of the three thresholds (thr - offset, thr, thr + offset), so is every
// upsampled value (bilinear weights are non-negative and sum to one; a
// relative margin of 1e-5 covers float rounding), and the block is emitted as
// one run. Only blocks that straddle a threshold are interpolated, pixel by
// pixel, with the same float operations as MaskUpsampler::run. encode_ref
// (upsample everything, then threshold) is the reference it is tested against.
class MaskEncoder {
 public:
  static MaskEncoder make(int out_h, int out_w, int low_side = 256, int model_side = 1024) {
    MaskEncoder e;
    e.up_ = MaskUpsampler::make(out_h, out_w, low_side, model_side);
    const MaskUpsampler& u = e.up_;
    const bool two = u.needs_second();
    // Low-res index range read by output index i along one axis.
    auto range = [&](const io::detail::LinearTaps& t1, const io::detail::LinearTaps& t2, int i, int* lo, int* hi) {
      if (!two) {
        *lo = std::min(t1.i0[(size_t)i], t1.i1[(size_t)i]);
        *hi = std::max(t1.i0[(size_t)i], t1.i1[(size_t)i]);
        return;
      }
      const int a = t2.i0[(size_t)i], b = t2.i1[(size_t)i];
      *lo = std::min(std::min(t1.i0[(size_t)a], t1.i1[(size_t)a]), std::min(t1.i0[(size_t)b], t1.i1[(size_t)b]));
      *hi = std::max(std::max(t1.i0[(size_t)a], t1.i1[(size_t)a]), std::max(t1.i0[(size_t)b], t1.i1[(size_t)b]));
    };
    auto group = [&](const io::detail::LinearTaps& t1, const io::detail::LinearTaps& t2, int n,
                     std::vector<Span>* out) {
      for (int i = 0; i < n; ++i) {
        int lo, hi;
        range(t1, t2, i, &lo, &hi);
        if (!out->empty() && out->back().lo == lo && out->back().hi == hi) {
          out->back().end = i + 1;
        } else {
          out->push_back(Span{i, i + 1, lo, hi});
        }
      }
    };
    group(u.ty1, u.ty2, out_h, &e.rows_);
    group(u.tx1, u.tx2, out_w, &e.cols_);
    return e;
  }

  const MaskUpsampler& upsampler() const { return up_; }

  // Encodes one [side, side] low-res mask of a crop `crop` (XYXY in the
  // orig_h x orig_w image; the crop's size is this encoder's out size).
  void encode(const float* low, const BoxXYXY& crop, int orig_h, int orig_w, float thr, float offset, Rle* rle,
              BoxXYXY* box, int64_t* inter, int64_t* uni, std::vector<float>* scratch) const {
    const int L = up_.low, oh = up_.out_h, ow = up_.out_w;
    const float th[3] = {thr + offset, thr, thr - offset};  // bit 0: > hi, bit 1: > thr, bit 2: > lo
    rle->h = orig_h;
    rle->w = orig_w;
    rle->counts.clear();
    detail::RleBuilder rb{&rle->counts};
    int64_t n_hi = 0, n_lo = 0;
    int bx0 = INT32_MAX, by0 = INT32_MAX, bx1 = -1, by1 = -1;
    rb.add(0, (uint32_t)((int64_t)crop[0] * orig_h));
    const uint32_t above = (uint32_t)crop[1], below = (uint32_t)(orig_h - crop[3]);
    scratch->resize((size_t)L * 2);
    float* cmin = scratch->data();
    float* cmax = cmin + L;
    // Hot low-res pixels: not clearly below the smallest threshold. Blocks
    // fed only by cold pixels are zero for all three thresholds, so the
    // work is limited to the hot bounding box [u0, u1] x [v0, v1].
    const float tmin = std::min(th[0], std::min(th[1], th[2]));
    int u0 = L, u1 = -1, v0 = L, v1 = -1;
    for (int r = 0; r < L; ++r) {
      const float* row = low + (size_t)r * (size_t)L;
      for (int c = 0; c < L; ++c) {
        const float v = row[c];
        if (v <= tmin && tmin - v > 1e-5f * (1.f + std::fabs(v))) continue;
        u0 = std::min(u0, c);
        u1 = std::max(u1, c);
        v0 = std::min(v0, r);
        v1 = r;
      }
    }
    std::vector<Piece> pieces;
    for (const Span& cs : cols_) {
      if (cs.hi < u0 || cs.lo > u1) {
        // Whole columns of zeros.
        rb.add(0, (uint32_t)((int64_t)(cs.end - cs.begin) * orig_h));
        continue;
      }
      // Per hot low-res row: min and max over this column window.
      for (int r = v0; r <= v1; ++r) {
        const float* row = low + (size_t)r * (size_t)L;
        float mn = row[cs.lo], mx = row[cs.lo];
        for (int c = cs.lo + 1; c <= cs.hi; ++c) mn = std::min(mn, row[c]), mx = std::max(mx, row[c]);
        cmin[r] = mn;
        cmax[r] = mx;
      }
      // Classify the row spans, merging neighbours with equal certain bits.
      pieces.clear();
      for (const Span& rs : rows_) {
        int bits = 0;
        bool certain = true;
        if (rs.hi < v0 || rs.lo > v1) {
          // Only cold rows: zero for every threshold.
          if (!pieces.empty() && pieces.back().cls == 0 && pieces.back().end == rs.begin)
            pieces.back().end = rs.end;
          else
            pieces.push_back(Piece{rs.begin, rs.end, 0});
          continue;
        }
        const int ra = std::max(rs.lo, v0), rz = std::min(rs.hi, v1);
        float mn = cmin[ra], mx = cmax[ra];
        for (int r = ra + 1; r <= rz; ++r) mn = std::min(mn, cmin[r]), mx = std::max(mx, cmax[r]);
        // Cold rows of a partly hot span are below every threshold: they
        // lower the minimum; account for them.
        if (rs.lo < v0 || rs.hi > v1) mn = std::min(mn, tmin - 1.f - std::fabs(tmin));
        for (int k = 0; k < 3 && certain; ++k) {
          if (mn > th[k] && mn - th[k] > 1e-5f * (1.f + std::fabs(mn)))
            bits |= 1 << k;
          else if (!(mx <= th[k] && th[k] - mx > 1e-5f * (1.f + std::fabs(mx))))
            certain = false;
        }
        const int cls = certain ? bits : -1;
        if (!pieces.empty() && pieces.back().cls == cls && pieces.back().end == rs.begin)
          pieces.back().end = rs.end;
        else
          pieces.push_back(Piece{rs.begin, rs.end, cls});
      }
      for (int x = cs.begin; x < cs.end; ++x) {
        rb.add(0, above);
        for (const Piece& pc : pieces) {
          if (pc.cls >= 0) {
            const uint32_t len = (uint32_t)(pc.end - pc.begin);
            if (pc.cls & 1) n_hi += len;
            if (pc.cls & 4) n_lo += len;
            const uint8_t b = (pc.cls >> 1) & 1;
            rb.add(b, len);
            if (b) {
              bx0 = std::min(bx0, x);
              bx1 = x;
              by0 = std::min(by0, pc.begin);
              by1 = std::max(by1, pc.end - 1);
            }
            continue;
          }
          for (int y = pc.begin; y < pc.end; ++y) {
            const float v = value(low, y, x);
            n_hi += v > th[0];
            n_lo += v > th[2];
            const uint8_t b = v > thr;
            rb.add(b, 1);
            if (b) {
              bx0 = std::min(bx0, x);
              bx1 = x;
              by0 = std::min(by0, y);
              by1 = std::max(by1, y);
            }
          }
        }
        rb.add(0, below);
      }
    }
    rb.add(0, (uint32_t)((int64_t)(orig_w - crop[2]) * orig_h));
    rb.finish();
    *inter = n_hi;
    *uni = n_lo;
    if (bx1 < 0)
      *box = {crop[0], crop[1], crop[0], crop[1]};
    else
      *box = {bx0 + crop[0], by0 + crop[1], bx1 + crop[0], by1 + crop[1]};
    (void)oh;
    (void)ow;
  }

  // Reference: the full upsampled plane, then thresholds.
  void encode_ref(const float* low, const BoxXYXY& crop, int orig_h, int orig_w, float thr, float offset, Rle* rle,
                  BoxXYXY* box, int64_t* inter, int64_t* uni) const {
    std::vector<float> scratch, plane;
    up_.run(low, &scratch, &plane);
    detail::plane_to_candidate(plane.data(), up_.out_h, up_.out_w, crop, orig_h, orig_w, thr, offset, rle, box, inter,
                               uni);
  }

 private:
  struct Span {
    int begin, end;  // output indices [begin, end)
    int lo, hi;      // low-res indices read, inclusive
  };
  struct Piece {
    int begin, end;
    int cls;  // certain threshold bits, or -1: interpolate
  };

  // Stage 1 at model-frame pixel (Y, X): x blend, then y blend.
  float s1(const float* low, int Y, int X) const {
    const MaskUpsampler& u = up_;
    const int L = u.low;
    const float* r0 = low + (size_t)u.ty1.i0[(size_t)Y] * (size_t)L;
    const float* r1 = low + (size_t)u.ty1.i1[(size_t)Y] * (size_t)L;
    const int x0 = u.tx1.i0[(size_t)X], x1 = u.tx1.i1[(size_t)X];
    const float w0 = u.tx1.l0[(size_t)X], w1 = u.tx1.l1[(size_t)X];
    const float a = w0 * r0[x0] + w1 * r0[x1];
    const float b = w0 * r1[x0] + w1 * r1[x1];
    return u.ty1.l0[(size_t)Y] * a + u.ty1.l1[(size_t)Y] * b;
  }
  // The upsampled logit at output pixel (y, x) of the crop.
  float value(const float* low, int y, int x) const {
    const MaskUpsampler& u = up_;
    if (!u.needs_second()) return s1(low, y, x);
    const int Y0 = u.ty2.i0[(size_t)y], Y1 = u.ty2.i1[(size_t)y];
    const int X0 = u.tx2.i0[(size_t)x], X1 = u.tx2.i1[(size_t)x];
    const float w0 = u.tx2.l0[(size_t)x], w1 = u.tx2.l1[(size_t)x];
    const float a = w0 * s1(low, Y0, X0) + w1 * s1(low, Y0, X1);
    const float b = w0 * s1(low, Y1, X0) + w1 * s1(low, Y1, X1);
    return u.ty2.l0[(size_t)y] * a + u.ty2.l1[(size_t)y] * b;
  }

  MaskUpsampler up_;
  std::vector<Span> rows_, cols_;
};

// Runs SAM's automatic mask generation on `image` with `model`.
class AutomaticMaskGenerator {
 public:
  AutomaticMaskGenerator(AmgModel* model, AmgParams params) : model_(model), p_(std::move(params)) {}

  const AmgParams& params() const { return p_; }

  Result<std::vector<AmgMask>> generate(const io::Image& image, AmgTimings* timings = nullptr) {
    RSFIQA_RETURN_IF_ERROR(validate_amg_params(p_));
    if (!model_) return make_error(ErrorCode::kInvalidArgument, "AutomaticMaskGenerator: no model");
    if (image.empty())
      return make_error(ErrorCode::kEmptyInput, "AMG input image is empty (%dx%d)", image.width, image.height);
    if (image.rgb.size() != (size_t)image.width * (size_t)image.height * 3)
      return make_error(ErrorCode::kInvalidArgument, "AMG input image has %zu bytes, expected %dx%dx3",
                        image.rgb.size(), image.width, image.height);
    AmgTimings local;
    AmgTimings* t = timings ? timings : &local;
    *t = AmgTimings();
    const int H = image.height, W = image.width;

    const auto grids = p_.points_per_side > 0 ? build_all_layer_point_grids(p_.points_per_side, p_.crop_n_layers,
                                                                            p_.crop_n_points_downscale_factor)
                                              : p_.point_grids;
    const CropBoxes crops = generate_crop_boxes(H, W, p_.crop_n_layers, p_.crop_overlap_ratio);
    // SAM applies the predicted-IoU filter only when the threshold is > 0.
    model_->set_iou_filter(p_.pred_iou_thresh > 0.f ? p_.pred_iou_thresh : -std::numeric_limits<float>::infinity());

    std::vector<detail::AmgCandidate> all;
    for (size_t ci = 0; ci < crops.boxes.size(); ++ci) {
      const BoxXYXY crop = crops.boxes[ci];
      const auto& grid = grids[(size_t)crops.layer_idxs[ci]];
      if (grid.empty())
        return make_error(ErrorCode::kEmptyInput, "empty prompt grid for crop layer %d", crops.layer_idxs[ci]);
      std::vector<detail::AmgCandidate> found;
      RSFIQA_RETURN_IF_ERROR(process_crop(image, crop, grid, &found, t));
      const auto t0 = std::chrono::steady_clock::now();
      // NMS inside the crop (all category 0), scores = predicted IoU.
      std::vector<std::array<float, 4>> boxes;
      std::vector<float> scores;
      for (const auto& c : found) {
        boxes.push_back(detail::to_float_box(c.box));
        scores.push_back(c.iou);
      }
      for (int k : nms(boxes, scores, p_.box_nms_thresh)) all.push_back(std::move(found[(size_t)k]));
      t->postprocess_ms += detail::ms_since(t0);
    }
    const auto t0 = std::chrono::steady_clock::now();
    if (crops.boxes.size() > 1) {
      // Across crops prefer masks from smaller crops: score 1 / crop area.
      std::vector<std::array<float, 4>> boxes;
      std::vector<float> scores;
      for (const auto& c : all) {
        boxes.push_back(detail::to_float_box(c.box));
        const float area = (float)(c.crop[2] - c.crop[0]) * (float)(c.crop[3] - c.crop[1]);
        scores.push_back(1.0f / area);
      }
      std::vector<detail::AmgCandidate> kept;
      for (int k : nms(boxes, scores, p_.crop_nms_thresh)) kept.push_back(std::move(all[(size_t)k]));
      all.swap(kept);
    }
    if (p_.min_mask_region_area > 0) RSFIQA_RETURN_IF_ERROR(postprocess_small_regions(&all));

    std::vector<AmgMask> out;
    out.reserve(all.size());
    for (auto& c : all) {
      AmgMask m;
      m.area = rle_area(c.rle);
      m.bbox = box_xyxy_to_xywh(c.box);
      m.predicted_iou = c.iou;
      m.point_coords = c.point;
      m.stability_score = c.stability;
      m.crop_box = box_xyxy_to_xywh(c.crop);
      if (p_.output_mode == AmgOutputMode::kBinaryMask) {
        RSFIQA_ASSIGN_OR_RETURN(m.mask, rle_to_mask(c.rle));
      } else if (p_.output_mode == AmgOutputMode::kCocoRle) {
        m.coco_counts = rle_to_coco_string(c.rle);
      }
      m.rle = std::move(c.rle);
      out.push_back(std::move(m));
    }
    t->postprocess_ms += detail::ms_since(t0);
    return out;
  }

 private:
  Status process_crop(const io::Image& image, const BoxXYXY& crop, const std::vector<std::array<float, 2>>& grid,
                      std::vector<detail::AmgCandidate>* found, AmgTimings* t) {
    const int W = image.width, H = image.height;
    const int cw = crop[2] - crop[0], ch = crop[3] - crop[1];
    if (cw <= 0 || ch <= 0) return make_error(ErrorCode::kInternal, "empty crop box");
    auto t0 = std::chrono::steady_clock::now();
    const bool whole = crop[0] == 0 && crop[1] == 0 && cw == W && ch == H;
    if (whole) {
      RSFIQA_RETURN_IF_ERROR(model_->set_image(image));
    } else {
      RSFIQA_RETURN_IF_ERROR(model_->set_image(detail::crop_image(image, crop)));
    }
    t->encoder_ms += detail::ms_since(t0);

    // Grid points scaled to crop pixels (points_for_image).
    std::vector<float> pts;
    pts.reserve(grid.size() * 2);
    for (const auto& g : grid) {
      pts.push_back(g[0] * (float)cw);
      pts.push_back(g[1] * (float)ch);
    }
    const int n_points = (int)grid.size();
    MaskEncoder enc;
    bool enc_ready = false;
    AmgLowRes lr;
    for (int b0 = 0; b0 < n_points; b0 += p_.points_per_batch) {
      const int nb = std::min(p_.points_per_batch, n_points - b0);
      t0 = std::chrono::steady_clock::now();
      RSFIQA_RETURN_IF_ERROR(model_->predict_points(pts.data() + (size_t)b0 * 2, nb, &lr));
      t->decoder_ms += detail::ms_since(t0);
      t->prompts += nb;
      if (lr.n != nb || lr.m <= 0 || lr.side <= 0 || lr.iou.size() != (size_t)nb * (size_t)lr.m ||
          lr.size() != (size_t)nb * (size_t)lr.m * (size_t)lr.side * (size_t)lr.side)
        return make_error(ErrorCode::kShapeMismatch,
                          "AMG model returned n=%d m=%d side=%d with %zu logits and %zu IoUs for %d prompts", lr.n,
                          lr.m, lr.side, lr.size(), lr.iou.size(), nb);
      t0 = std::chrono::steady_clock::now();
      if (!enc_ready || enc.upsampler().low != lr.side) {
        enc = MaskEncoder::make(ch, cw, lr.side, 1024);
        enc_ready = true;
      }
      // Masks are flattened prompt-major (flatten(0, 1)): index i = prompt * m + k.
      const int n_masks = nb * lr.m;
      std::vector<int> cand;
      for (int i = 0; i < n_masks; ++i) {
        // SAM skips the filter when the threshold is <= 0.
        if (p_.pred_iou_thresh > 0.f && !(lr.iou[(size_t)i] > p_.pred_iou_thresh)) continue;
        cand.push_back(i);
      }
      t->candidates += (int64_t)cand.size();
      std::vector<detail::AmgCandidate> res(cand.size());
      std::vector<char> keep(cand.size(), 0);
      const size_t plane = (size_t)lr.side * (size_t)lr.side;
      parallel_for((int64_t)cand.size(), [&](int64_t c0, int64_t c1) {
        std::vector<float> scratch;
        for (int64_t c = c0; c < c1; ++c) {
          const int i = cand[(size_t)c];
          detail::AmgCandidate& r = res[(size_t)c];
          int64_t inter = 0, uni = 0;
          enc.encode(lr.data() + (size_t)i * plane, crop, H, W, p_.mask_threshold, p_.stability_score_offset, &r.rle,
                     &r.box, &inter, &uni, &scratch);
          r.stability = uni > 0 ? (float)inter / (float)uni : 0.f;
          if (p_.stability_score_thresh > 0.f && !(r.stability >= p_.stability_score_thresh)) continue;
          if (detail::box_near_crop_edge(r.box, crop, W, H)) continue;
          r.iou = lr.iou[(size_t)i];
          const int prompt = i / lr.m;
          r.point = {pts[(size_t)(b0 + prompt) * 2] + (float)crop[0],
                     pts[(size_t)(b0 + prompt) * 2 + 1] + (float)crop[1]};
          r.crop = crop;
          keep[(size_t)c] = 1;
        }
      });
      for (size_t c = 0; c < cand.size(); ++c)
        if (keep[c]) found->push_back(std::move(res[c]));
      t->postprocess_ms += detail::ms_since(t0);
    }
    return Status();
  }

  // amg.py postprocess_small_regions: fill small holes, erase small islands,
  // recompute boxes, and re-run NMS preferring masks that did not change.
  Status postprocess_small_regions(std::vector<detail::AmgCandidate>* all) {
    const size_t n = all->size();
    if (n == 0) return Status();
    std::vector<char> changed(n, 0);
    std::vector<Rle> new_rle(n);
    std::vector<Status> errs(n);
    parallel_for((int64_t)n, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        auto& c = (*all)[(size_t)i];
        auto mr = rle_to_mask(c.rle);
        if (!mr.ok()) {
          errs[(size_t)i] = mr.status();
          continue;
        }
        std::vector<uint8_t>& m = mr.value();
        const bool ch1 =
            remove_small_regions(m.data(), c.rle.h, c.rle.w, p_.min_mask_region_area, SmallRegionMode::kHoles);
        const bool ch2 =
            remove_small_regions(m.data(), c.rle.h, c.rle.w, p_.min_mask_region_area, SmallRegionMode::kIslands);
        changed[(size_t)i] = ch1 || ch2;
        if (changed[(size_t)i]) new_rle[(size_t)i] = rle_from_mask(m.data(), c.rle.h, c.rle.w);
      }
    });
    for (const Status& s : errs) RSFIQA_RETURN_IF_ERROR(s);
    std::vector<std::array<float, 4>> boxes(n);
    std::vector<float> scores(n);
    for (size_t i = 0; i < n; ++i) {
      const Rle& r = changed[i] ? new_rle[i] : (*all)[i].rle;
      boxes[i] = detail::to_float_box(rle_to_box(r));
      scores[i] = changed[i] ? 0.f : 1.f;
    }
    std::vector<detail::AmgCandidate> kept;
    for (int k : nms(boxes, scores, p_.box_nms_thresh)) {
      detail::AmgCandidate c = std::move((*all)[(size_t)k]);
      if (changed[(size_t)k]) c.rle = std::move(new_rle[(size_t)k]);
      c.box = rle_to_box(c.rle);
      kept.push_back(std::move(c));
    }
    all->swap(kept);
    return Status();
  }

  AmgModel* model_;
  AmgParams p_;
};

// ---------------------------------------------------------------------------
// Adapters to the real SAM model
// ---------------------------------------------------------------------------

// sam::ImageEncoder on the TinyViT encoder: SAM preprocessing, one forward
// pass with a workspace made for the call (so nothing stays allocated
// between images and concurrent calls are safe), the [256, 64, 64] embedding
// copied out.
class AmgTinyVitEncoder : public ImageEncoder {
 public:
  static Result<std::shared_ptr<const AmgTinyVitEncoder>> load(const std::string& path) {
    RSFIQA_ASSIGN_OR_RETURN(TinyVit m, TinyVit::load(path));
    auto e = std::make_shared<AmgTinyVitEncoder>();
    e->model_ = std::make_shared<TinyVit>(std::move(m));
    return std::shared_ptr<const AmgTinyVitEncoder>(std::move(e));
  }

  Result<ImageEmbedding> encode(const io::Image& image) const override {
    if (!model_) return make_error(ErrorCode::kInvalidArgument, "TinyViT encoder: not loaded");
    RSFIQA_ASSIGN_OR_RETURN(io::SamInput in, io::sam_preprocess(image, 1024));
    RSFIQA_ASSIGN_OR_RETURN(TinyVitWorkspace ws, model_->make_workspace());
    TinyVitOutput out;
    RSFIQA_RETURN_IF_ERROR(model_->forward(in.pixels.view(), &ws, &out));
    if (!(out.embedding.shape == Shape{kEmbedDim, kEmbedSide, kEmbedSide}))
      return make_error(ErrorCode::kShapeMismatch, "TinyViT encoder: embedding shape %s, expected [256, 64, 64]",
                        out.embedding.shape.to_string().c_str());
    ImageEmbedding e;
    RSFIQA_ASSIGN_OR_RETURN(e.embedding, Tensor::create(DType::kF32, Shape{kEmbedDim, kEmbedSide, kEmbedSide}));
    std::memcpy(e.embedding.f32(), out.embedding.f32(), (size_t)e.embedding.numel() * sizeof(float));
    e.input_h = in.input_size.h;
    e.input_w = in.input_size.w;
    e.orig_h = in.original_size.h;
    e.orig_w = in.original_size.w;
    return e;
  }

 private:
  std::shared_ptr<const TinyVit> model_;
};

// AmgModel on a sam::Predictor: set_image encodes (or, when a precomputed
// embedding of the same image is given, uses it for the whole-image crop),
// predict_points runs Predictor::predict_batch with foreground clicks and
// multimask output (SAM's tokens 1..3) and hands its logits over without a copy.
class PredictorAmgModel : public AmgModel {
 public:
  explicit PredictorAmgModel(Predictor* predictor) : pred_(predictor) {}

  // Uses `e` instead of running the encoder when set_image gets an image of
  // e's original size (the whole photo; crops always run the encoder).
  void use_embedding(ImageEmbedding e) {
    pre_ = std::move(e);
    has_pre_ = true;
  }

  Status set_image(const io::Image& image) override {
    if (!pred_) return make_error(ErrorCode::kInvalidArgument, "PredictorAmgModel: no predictor");
    if (has_pre_ && pre_.orig_w == image.width && pre_.orig_h == image.height) {
      ImageEmbedding e;
      RSFIQA_ASSIGN_OR_RETURN(e.embedding, Tensor::create(DType::kF32, pre_.embedding.shape()));
      std::memcpy(e.embedding.f32(), pre_.embedding.f32(), (size_t)pre_.embedding.numel() * sizeof(float));
      e.input_h = pre_.input_h;
      e.input_w = pre_.input_w;
      e.orig_h = pre_.orig_h;
      e.orig_w = pre_.orig_w;
      return pred_->set_embedding(std::move(e));
    }
    return pred_->set_image(image);
  }

  Status predict_points(const float* xy, int n, AmgLowRes* out) override {
    std::vector<Point> pts((size_t)n);
    for (int i = 0; i < n; ++i) pts[(size_t)i] = Point{xy[2 * i], xy[2 * i + 1]};
    const std::vector<int> labels((size_t)n, kLabelForeground);
    DecodeOptions opt;
    opt.workspace = &ws_;
    opt.upscale_min_iou = min_iou_;
    // The previous batch's logits tensor is reused when the caller handed
    // it back untouched (same shape); else a new one is made.
    dec_.low_res = std::move(out->tensor);
    RSFIQA_RETURN_IF_ERROR(pred_->predict_batch(pts, labels, MaskOutput::kMultimask, &dec_, opt));
    out->n = dec_.num_prompts;
    out->m = dec_.masks_per_prompt;
    out->side = kLowResSide;
    out->logits.clear();
    out->iou.assign(dec_.iou.f32(), dec_.iou.f32() + dec_.iou.numel());
    out->tensor = std::move(dec_.low_res);
    return Status();
  }

  void set_iou_filter(float min_iou) override { min_iou_ = min_iou; }

 private:
  Predictor* pred_;
  DecodeWorkspace ws_;  // decoder buffers kept across batches
  DecodeOutput dec_;
  float min_iou_ = -std::numeric_limits<float>::infinity();
  ImageEmbedding pre_;
  bool has_pre_ = false;
};

}  // namespace rsfiqa::sam

// SPDX-License-Identifier: MIT
// Token features of one image for the quality network (docs/rsa.md 7.1-7.2):
// the encoder outputs resampled to the encoder's token grid, the low-level
// statistics of the ORIGINAL pixels of each token's cell, and the region
// map downsampled to the same grid.
//
// The grid. SAM resizes the image so its longest side is 1024 (rh x rw) and
// pads it bottom/right to 1024 x 1024; the neck embedding is a 64 x 64 grid
// of 16 x 16-pixel tokens of that padded square. Only the first
// rows = ceil(rh / 16) token rows and cols = ceil(rw / 16) token columns
// touch the image: the valid grid (48 x 64 for a 1024 x 768 landscape
// photo). The network sees exactly those N = rows * cols tokens, in
// row-major order; padding-only tokens are dropped. Token (i, j) covers the
// original pixels of ops::sam_token_cells() cell (i, j): rows
// [floor(16 i h / rh), floor(min(16 (i + 1), rh) h / rh)), columns alike. The
// low-level statistics and the majority label are taken over exactly those
// pixels, so all three parts of a token describe the same piece of the image.
// (sam::downsample_labels_majority divides the image uniformly instead; its
// cells differ by a pixel where rh is not a multiple of 16, hence our own
// majority here.)
//
// Feature layout "rsfiqa-features-v1", per token, n_deep + n_low columns:
//   [0, C_e)                 neck embedding [C_e = 256, 64, 64] at (i, j)
//   [C_e, C_e + C_1)         stage layers.1 output [128 x 128, C_1 = 128],
//                            average of its 2 x 2 tokens over (i, j)
//   [.., + C_2)              stage layers.2 output [64 x 64, C_2 = 160] at (i, j)
//   [n_deep, n_deep + 18)    ops::image_stats of the cell (ops::image_stat_name)
// n_deep = 544 for TinyViT-5M (MobileSAM). Stage grids coarser than 64 are
// not supported; finer ones are average-pooled by their integer factor.
//
// Region map: labels[y * w + x] of the original image in [0, K) (the SAM
// partition's label map); each token takes the label that covers most of its
// cell (ties: the smaller label). Regions may vanish on the grid; the
// quality network reports them with weight 0.
//
// What this file does not do: run the encoder or SAM, or standardise
// features (the network does, with constants from its weights file).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/core/status.hpp"
#include "rsfiqa/core/tensor.hpp"
#include "rsfiqa/io/image.hpp"
#include "rsfiqa/models/quality/quality_net.hpp"
#include "rsfiqa/models/sam/partition.hpp"
#include "rsfiqa/models/sam/tinyvit.hpp"
#include "rsfiqa/ops/image_stats.hpp"

namespace rsfiqa {

constexpr const char* kFeatureSet = "rsfiqa-features-v1";
constexpr int kTokenGrid = 64;    // the embedding grid side
constexpr int kSamTarget = 1024;  // SAM's input side
constexpr int kTokenPatch = kSamTarget / kTokenGrid;

// Views of the encoder outputs the features use (all f32, no batch dim).
struct EncoderFeatures {
  TensorView embedding;  // [C_e, 64, 64] channels-first
  TensorView stage1;     // [R1 * R1, C_1] token-major, R1 a multiple of 64
  TensorView stage2;     // [R2 * R2, C_2] token-major, R2 a multiple of 64
};

inline EncoderFeatures encoder_features(const sam::TinyVitOutput& out) {
  EncoderFeatures e;
  e.embedding = out.embedding;
  e.stage1 = out.stages[1];
  e.stage2 = out.stages[2];
  return e;
}

struct TokenFeatures {
  int rows = 0, cols = 0;  // valid token grid
  int64_t n_tokens = 0;    // rows * cols
  int64_t n_deep = 0, n_low = ops::kImageStatCount;
  std::vector<float> features;  // [N, n_deep + n_low]
  std::vector<int32_t> labels;  // [N] region of each token
  int32_t num_regions = 0;      // K (label range of the map)
  ops::CellGrid cells;          // token (i, j) -> original pixels

  int64_t n_cols() const { return n_deep + n_low; }
};

namespace detail {

// Side of a token-major [R * R, C] stage, or -1.
inline int64_t stage_side(const TensorView& v) {
  if (v.shape.ndim != 2) return -1;
  int64_t r = 0;
  while (r * r < v.shape[0]) ++r;
  return r * r == v.shape[0] ? r : -1;
}

inline Status check_stage(const TensorView& v, const char* name) {
  if (!v.data || v.dtype != DType::kF32)
    return make_error(ErrorCode::kInvalidArgument, "features: %s is missing or not f32", name);
  const int64_t r = stage_side(v);
  if (r < kTokenGrid || r % kTokenGrid != 0)
    return make_error(ErrorCode::kShapeMismatch, "features: %s has shape %s, expected [R*R, C] with R a multiple of %d",
                      name, v.shape.to_string().c_str(), kTokenGrid);
  return Status();
}

}  // namespace detail

// Assembles the features of one image. `image` is the original photo (the
// one SAM resized); `labels` its h * w region map with values in
// [0, num_regions). Errors: kShapeMismatch (encoder shapes, label map size),
// kInvalidArgument (labels out of range, num_regions < 1), kEmptyInput.
inline Status assemble_token_features(const EncoderFeatures& enc, const io::Image& image,
                                      const std::vector<int32_t>& labels, int32_t num_regions, TokenFeatures* out) {
  if (!out) return make_error(ErrorCode::kInvalidArgument, "features: null output");
  if (image.empty())
    return make_error(ErrorCode::kEmptyInput, "features: empty image %dx%d", image.width, image.height);
  if (image.rgb.size() != (size_t)image.width * (size_t)image.height * 3)
    return make_error(ErrorCode::kShapeMismatch, "features: image %dx%d holds %zu bytes", image.width, image.height,
                      image.rgb.size());
  const TensorView& em = enc.embedding;
  if (!em.data || em.dtype != DType::kF32 || em.shape.ndim != 3 || em.shape[1] != kTokenGrid ||
      em.shape[2] != kTokenGrid)
    return make_error(ErrorCode::kShapeMismatch, "features: embedding has shape %s, expected [C, %d, %d] f32",
                      em.shape.to_string().c_str(), kTokenGrid, kTokenGrid);
  RSFIQA_RETURN_IF_ERROR(detail::check_stage(enc.stage1, "stage1"));
  RSFIQA_RETURN_IF_ERROR(detail::check_stage(enc.stage2, "stage2"));
  const int h = image.height, w = image.width;
  if (labels.size() != (size_t)h * (size_t)w)
    return make_error(ErrorCode::kShapeMismatch, "features: region map has %zu labels, the image %dx%d has %lld pixels",
                      labels.size(), w, h, (long long)h * w);
  if (num_regions < 1 || num_regions > quality::kMaxQualityRegions)
    return make_error(ErrorCode::kInvalidArgument, "features: number of regions %d outside [1, %d]", num_regions,
                      quality::kMaxQualityRegions);
  for (size_t p = 0; p < labels.size(); ++p)
    if (labels[p] < 0 || labels[p] >= num_regions)
      return make_error(ErrorCode::kInvalidArgument, "features: region label %d at pixel (%d, %d) outside [0, %d)",
                        labels[p], (int)(p % (size_t)w), (int)(p / (size_t)w), num_regions);

  RSFIQA_ASSIGN_OR_RETURN(out->cells, ops::sam_token_cells(h, w, kSamTarget, kTokenPatch));
  const ops::CellGrid& g = out->cells;
  const int64_t ce = em.shape[0], c1 = enc.stage1.shape[1], c2 = enc.stage2.shape[1];
  const int64_t r1 = detail::stage_side(enc.stage1), r2 = detail::stage_side(enc.stage2);
  const int64_t f1 = r1 / kTokenGrid, f2 = r2 / kTokenGrid;
  out->rows = g.rows;
  out->cols = g.cols;
  out->n_tokens = (int64_t)g.rows * g.cols;
  out->n_deep = ce + c1 + c2;
  out->n_low = ops::kImageStatCount;
  out->num_regions = num_regions;
  const int64_t N = out->n_tokens, F = out->n_cols();
  out->features.assign((size_t)(N * F), 0.f);
  out->labels.assign((size_t)N, 0);

  // Deep features: one token per item.
  const float* e = em.f32();
  const float* s1 = enc.stage1.f32();
  const float* s2 = enc.stage2.f32();
  parallel_for(N, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t i = t / g.cols, j = t % g.cols;
      float* row = out->features.data() + t * F;
      for (int64_t c = 0; c < ce; ++c) row[c] = e[(c * kTokenGrid + i) * kTokenGrid + j];
      // Average pooling of the f x f stage tokens under token (i, j).
      auto pool = [&](const float* s, int64_t r, int64_t f, int64_t C, float* dst) {
        const float inv = 1.0f / (float)(f * f);
        for (int64_t c = 0; c < C; ++c) dst[c] = 0.f;
        for (int64_t a = 0; a < f; ++a)
          for (int64_t b = 0; b < f; ++b) {
            const float* src = s + ((i * f + a) * r + (j * f + b)) * C;
            for (int64_t c = 0; c < C; ++c) dst[c] += src[c];
          }
        for (int64_t c = 0; c < C; ++c) dst[c] *= inv;
      };
      pool(s1, r1, f1, c1, row + ce);
      pool(s2, r2, f2, c2, row + ce + c1);
    }
  });

  // Low-level statistics of the original pixels, written into the last columns.
  std::vector<float> st((size_t)N * ops::kImageStatCount);
  RSFIQA_RETURN_IF_ERROR(ops::image_stats(image.rgb.data(), h, w, 0, g, st.data()));
  for (int64_t t = 0; t < N; ++t)
    std::copy(st.begin() + t * ops::kImageStatCount, st.begin() + (t + 1) * ops::kImageStatCount,
              out->features.begin() + t * F + out->n_deep);

  // Majority label per cell (ties: smaller label).
  parallel_for(N, [&](int64_t t0, int64_t t1) {
    std::vector<std::pair<int32_t, int64_t>> counts;
    for (int64_t t = t0; t < t1; ++t) {
      const int i = (int)(t / g.cols), j = (int)(t % g.cols);
      counts.clear();
      for (int y = g.y0[(size_t)i]; y < g.y1[(size_t)i]; ++y)
        for (int x = g.x0[(size_t)j]; x < g.x1[(size_t)j]; ++x) {
          const int32_t L = labels[(size_t)y * (size_t)w + (size_t)x];
          size_t k = 0;
          while (k < counts.size() && counts[k].first != L) ++k;
          if (k == counts.size()) counts.push_back({L, 0});
          ++counts[k].second;
        }
      std::pair<int32_t, int64_t> best = counts[0];
      for (const auto& c : counts)
        if (c.second > best.second || (c.second == best.second && c.first < best.first)) best = c;
      out->labels[(size_t)t] = best.first;
    }
  });
  return Status();
}

// Checks that features fit a network (feature set name and widths).
inline Status check_features_for(const quality::QualityConfig& c, const TokenFeatures& f) {
  if (c.feature_set != kFeatureSet)
    return make_error(ErrorCode::kUnsupportedType, "quality net expects feature set '%s', this build makes '%s'",
                      c.feature_set.c_str(), kFeatureSet);
  if (c.n_deep != f.n_deep || c.n_low != f.n_low)
    return make_error(ErrorCode::kShapeMismatch,
                      "quality net expects %lld deep + %lld low-level features, the encoder gives %lld + %lld",
                      (long long)c.n_deep, (long long)c.n_low, (long long)f.n_deep, (long long)f.n_low);
  return Status();
}

// Runs the network on assembled features.
inline Status run_quality(const quality::QualityNet& net, const TokenFeatures& f, quality::QualityOutput* out) {
  RSFIQA_RETURN_IF_ERROR(check_features_for(net.config(), f));
  return net.forward(f.features.data(), f.n_tokens, f.n_cols(), f.labels.data(), (int64_t)f.labels.size(),
                     f.num_regions, out);
}

// The whole quality stage after the encoder, for the assess pipeline:
// features of `image` from the encoder outputs and the partition's label map
// (one region per partition region), then the network. `scratch` (optional)
// keeps the features for inspection and reuses their memory across calls.
inline Status quality_from_encoder(const quality::QualityNet& net, const io::Image& image,
                                   const sam::TinyVitOutput& encoder, const sam::Partition& partition,
                                   quality::QualityOutput* out, TokenFeatures* scratch = nullptr) {
  if (partition.h != image.height || partition.w != image.width)
    return make_error(ErrorCode::kShapeMismatch, "features: partition is %dx%d, the image %dx%d", partition.w,
                      partition.h, image.width, image.height);
  TokenFeatures local;
  TokenFeatures* tf = scratch ? scratch : &local;
  RSFIQA_RETURN_IF_ERROR(assemble_token_features(encoder_features(encoder), image, partition.labels,
                                                 (int32_t)partition.regions.size(), tf));
  return run_quality(net, *tf, out);
}

}  // namespace rsfiqa

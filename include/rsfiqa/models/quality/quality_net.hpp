// SPDX-License-Identifier: MIT
// The rsfiqa quality network: token features on the encoder grid -> region
// quality, region distortion profile, region weights, global quality and
// global profile (docs/rsa.md section 7 has the math; PRODUCT.md "RSA, as we
// define it" is the definition this follows).
//
//   features f [N, n_in]  (n_in = n_deep + n_low; pipeline/features.hpp)
//   x = Linear(LN((f - feat_mean) / feat_std))            [N, dim]
//   depth x { x += proj(RSA(LN1(x)));  x += fc2(GELU(fc1(LN2(x)))) }
//   pooling per region k:  a = softmax_{i in k}(w · LN_pool(x_i) + b)
//                          z_k = sum_{i in k} a_i x_i       [K, dim]
//   u_k = LN_head(z_k)
//   q_k = 100 sigmoid(MLP_q(u_k))        region quality, 0..100 (higher better)
//   p_k = sigmoid(MLP_p(u_k))            [5] blur, noise, compression, color, exposure
//   s_k = MLP_s(u_k) + log(n_k)          n_k = tokens of region k on the grid
//   w = softmax_k(s_k);  Q = sum w_k q_k;  P = sum w_k p_k
// Each MLP is Linear(dim, head_hidden) -> GELU (erf) -> Linear(head_hidden, out).
//
// Empty regions: a label id in [0, K) that owns no token (a small SAM
// region can vanish when the label map is downsampled to the grid) takes no
// part in pooling or in the weight softmax. It is reported with weight 0,
// tokens 0, and the global quality and profile as its own (the best guess
// the network has for pixels it never saw); never NaN.
//
// The weights file is safetensors with metadata rsfiqa.model =
// "rsfiqa_quality" and rsfiqa.config = the JSON of QualityConfig. One list
// (quality_weight_spec) names every tensor with its shape derived from the
// config; it drives loading, validation and the docs, and the PyTorch twin
// (tools/train/model.py) uses the same names. The twin computes attention as
// masked dense attention with a -inf mask, so parity with this file also
// checks the sorted-block fast form of ops/region_attention.hpp.
//
// What this file does not do: compute features (pipeline/features.hpp),
// partition the image (models/sam/partition.hpp) or train anything.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/core/status.hpp"
#include "rsfiqa/core/tensor.hpp"
#include "rsfiqa/io/json.hpp"
#include "rsfiqa/io/safetensors.hpp"
#include "rsfiqa/ops/activation.hpp"
#include "rsfiqa/ops/linear.hpp"
#include "rsfiqa/ops/norm.hpp"
#include "rsfiqa/ops/region_attention.hpp"

namespace rsfiqa::quality {

constexpr const char* kQualityModelKind = "rsfiqa_quality";
// The five distortion dimensions of a profile, in output order.
constexpr int kProfileDims = 5;
inline const char* profile_dim_name(int i) {
  static const char* const kNames[kProfileDims] = {"blur", "noise", "compression", "color", "exposure"};
  return i >= 0 && i < kProfileDims ? kNames[i] : "unknown";
}
// Cap on the label range K (a SAM partition has tens of regions).
constexpr int32_t kMaxQualityRegions = 65536;

// Architecture hyper-parameters (stored as JSON in the weights file).
struct QualityConfig {
  std::string feature_set = "rsfiqa-features-v1";  // which features.hpp layout the net expects
  int64_t n_deep = 544;                            // deep feature columns (encoder outputs)
  int64_t n_low = 18;                              // low-level statistic columns (ops/image_stats.hpp)
  int64_t dim = 128;                               // token width d
  int64_t depth = 2;                               // RSA blocks
  int64_t heads = 4;                               // attention heads (dim % heads == 0)
  int64_t mlp_ratio = 2;                           // block MLP hidden = mlp_ratio * dim
  int64_t head_hidden = 64;                        // hidden width of the three head MLPs
  ops::RegionAttentionVariant variant = ops::RegionAttentionVariant::kStrict;
  float ln_eps = 1e-5f;

  int64_t n_in() const { return n_deep + n_low; }
  int64_t head_dim() const { return heads > 0 ? dim / heads : 0; }
  static QualityConfig full() { return QualityConfig(); }
};

inline std::string quality_config_to_json(const QualityConfig& c) {
  std::string s = "{\"arch\":\"rsfiqa_quality\",\"feature_set\":" + io::json_quote(c.feature_set);
  auto num = [&](const char* k, int64_t v) { s += ",\"" + std::string(k) + "\":" + std::to_string(v); };
  num("n_deep", c.n_deep);
  num("n_low", c.n_low);
  num("dim", c.dim);
  num("depth", c.depth);
  num("heads", c.heads);
  num("mlp_ratio", c.mlp_ratio);
  num("head_hidden", c.head_hidden);
  s += ",\"variant\":" + io::json_quote(ops::region_attention_variant_name(c.variant));
  s += ",\"ln_eps\":" + io::json_number(c.ln_eps) + "}";
  return s;
}

// Parses and range-checks a config (errors name the key).
inline Result<QualityConfig> quality_config_from_json(const std::string& text) {
  RSFIQA_ASSIGN_OR_RETURN(io::JsonValue root, io::parse_json(text));
  if (!root.is_object()) return make_error(ErrorCode::kMalformed, "quality config: not a JSON object");
  const io::JsonValue* arch = root.find("arch");
  if (!arch || !arch->is_string() || arch->as_string() != kQualityModelKind)
    return make_error(ErrorCode::kUnsupportedType, "quality config: 'arch' must be \"%s\"", kQualityModelKind);
  QualityConfig c;
  const io::JsonValue* fs = root.find("feature_set");
  if (!fs || !fs->is_string()) return make_error(ErrorCode::kMalformed, "quality config: no string 'feature_set'");
  c.feature_set = fs->as_string();
  struct IntKey {
    const char* key;
    int64_t* dst;
    int64_t lo, hi;
  };
  const IntKey keys[] = {{"n_deep", &c.n_deep, 0, 1 << 16},
                         {"n_low", &c.n_low, 0, 1 << 16},
                         {"dim", &c.dim, 1, 1 << 14},
                         {"depth", &c.depth, 0, 64},
                         {"heads", &c.heads, 1, 256},
                         {"mlp_ratio", &c.mlp_ratio, 1, 16},
                         {"head_hidden", &c.head_hidden, 1, 1 << 14}};
  for (const IntKey& k : keys) {
    const io::JsonValue* v = root.find(k.key);
    if (!v || !v->is_int())
      return make_error(ErrorCode::kMalformed, "quality config: '%s' missing or not an integer", k.key);
    if (v->as_int() < k.lo || v->as_int() > k.hi)
      return make_error(ErrorCode::kInvalidArgument, "quality config: '%s' = %lld outside [%lld, %lld]", k.key,
                        (long long)v->as_int(), (long long)k.lo, (long long)k.hi);
    *k.dst = v->as_int();
  }
  if (c.n_in() <= 0) return make_error(ErrorCode::kInvalidArgument, "quality config: no input features");
  if (c.dim % c.heads != 0)
    return make_error(ErrorCode::kInvalidArgument, "quality config: dim %lld is not a multiple of heads %lld",
                      (long long)c.dim, (long long)c.heads);
  const io::JsonValue* var = root.find("variant");
  if (!var || !var->is_string()) return make_error(ErrorCode::kMalformed, "quality config: no string 'variant'");
  RSFIQA_ASSIGN_OR_RETURN(c.variant, ops::parse_region_attention_variant(var->as_string()));
  const io::JsonValue* eps = root.find("ln_eps");
  if (!eps || !eps->is_number() || !(eps->as_double() > 0.0) || eps->as_double() > 1.0)
    return make_error(ErrorCode::kMalformed, "quality config: 'ln_eps' missing or not in (0, 1]");
  c.ln_eps = (float)eps->as_double();
  return c;
}

// ------------------------------------------------------------------ weights

struct QLinear {
  const float* weight = nullptr;  // [out, in]
  const float* bias = nullptr;    // [out]
};
struct QNorm {
  const float* weight = nullptr;  // [d]
  const float* bias = nullptr;    // [d]
};
struct QMlp {
  QLinear fc1;  // [hidden, in]
  QLinear fc2;  // [out, hidden]
};
struct QBlock {
  QNorm norm1;                  // [dim]
  QLinear qkv;                  // [3 dim, dim]: rows q | k | v, heads concatenated
  QLinear proj;                 // [dim, dim]
  const float* beta = nullptr;  // [heads] bias variant: penalty for other regions
  QNorm norm2;                  // [dim]
  QLinear fc1;                  // [mlp_ratio dim, dim]
  QLinear fc2;                  // [dim, mlp_ratio dim]
};
struct QualityWeights {
  const float* feat_mean = nullptr;  // [n_in] feature standardisation
  const float* feat_std = nullptr;   // [n_in] (> 0)
  QNorm in_norm;                     // [n_in]
  QLinear in_proj;                   // [dim, n_in]
  std::vector<QBlock> blocks;        // depth
  QNorm pool_norm;                   // [dim]
  QLinear pool_score;                // [1, dim]
  QNorm head_norm;                   // [dim]
  QMlp quality_head;                 // -> 1
  QMlp profile_head;                 // -> 5
  QMlp weight_head;                  // -> 1
};

// One tensor of the file: name, shape from the config, whether this config
// needs it, and where the loader stores its f32 pointer.
struct QualityTensorSpec {
  std::string name;
  Shape shape;
  bool required = true;
  const float** dst = nullptr;
};

// The one list of every tensor, in module order (tools/train/model.py uses
// the same names via its state_dict).
inline std::vector<QualityTensorSpec> quality_weight_spec(const QualityConfig& c, QualityWeights* w) {
  std::vector<QualityTensorSpec> v;
  auto add = [&](const std::string& n, const Shape& s, const float** dst, bool req = true) {
    v.push_back({n, s, req, dst});
  };
  auto linear = [&](const std::string& m, QLinear* l, int64_t out, int64_t in) {
    add(m + ".weight", Shape{out, in}, &l->weight);
    add(m + ".bias", Shape{out}, &l->bias);
  };
  auto norm = [&](const std::string& m, QNorm* n, int64_t d) {
    add(m + ".weight", Shape{d}, &n->weight);
    add(m + ".bias", Shape{d}, &n->bias);
  };
  auto mlp = [&](const std::string& m, QMlp* p, int64_t out) {
    linear(m + ".fc1", &p->fc1, c.head_hidden, c.dim);
    linear(m + ".fc2", &p->fc2, out, c.head_hidden);
  };
  add("feat_mean", Shape{c.n_in()}, &w->feat_mean);
  add("feat_std", Shape{c.n_in()}, &w->feat_std);
  norm("in_norm", &w->in_norm, c.n_in());
  linear("in_proj", &w->in_proj, c.dim, c.n_in());
  w->blocks.assign((size_t)c.depth, QBlock());
  for (int64_t i = 0; i < c.depth; ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    QBlock& bl = w->blocks[(size_t)i];
    norm(b + "norm1", &bl.norm1, c.dim);
    linear(b + "attn.qkv", &bl.qkv, 3 * c.dim, c.dim);
    linear(b + "attn.proj", &bl.proj, c.dim, c.dim);
    add(b + "attn.beta", Shape{c.heads}, &bl.beta, c.variant == ops::RegionAttentionVariant::kBias);
    norm(b + "norm2", &bl.norm2, c.dim);
    linear(b + "mlp.fc1", &bl.fc1, c.mlp_ratio * c.dim, c.dim);
    linear(b + "mlp.fc2", &bl.fc2, c.dim, c.mlp_ratio * c.dim);
  }
  norm("pool_norm", &w->pool_norm, c.dim);
  linear("pool_score", &w->pool_score, 1, c.dim);
  norm("head_norm", &w->head_norm, c.dim);
  mlp("quality_head", &w->quality_head, 1);
  mlp("profile_head", &w->profile_head, kProfileDims);
  mlp("weight_head", &w->weight_head, 1);
  return v;
}

// Names and shapes only (docs, tools, tests).
inline std::vector<QualityTensorSpec> quality_tensor_list(const QualityConfig& c) {
  QualityWeights w;
  std::vector<QualityTensorSpec> v = quality_weight_spec(c, &w);
  for (QualityTensorSpec& e : v) e.dst = nullptr;
  return v;
}

// Parameters of the required tensors.
inline int64_t quality_param_count(const QualityConfig& c) {
  int64_t n = 0;
  for (const QualityTensorSpec& e : quality_tensor_list(c))
    if (e.required) n += e.shape.numel();
  return n;
}

// ------------------------------------------------------------------ outputs

struct RegionQuality {
  float quality = 0.f;               // 0..100, higher is better
  float profile[kProfileDims] = {};  // severities 0..1
  float weight = 0.f;                // share of the global score (0 for empty regions)
  int64_t tokens = 0;                // grid tokens of the region (0: empty)
};

struct QualityOutput {
  float quality = 0.f;
  float profile[kProfileDims] = {};
  std::vector<RegionQuality> regions;  // [K], indexed by label
};

// ------------------------------------------------------------------ model

class QualityNet {
 public:
  QualityNet() = default;

  static Result<QualityNet> load(const std::string& path) {
    RSFIQA_ASSIGN_OR_RETURN(io::SafeTensorsFile file, io::SafeTensorsFile::open(path));
    auto m = from_file(file);
    if (!m.ok()) {
      Status st = m.status();
      return st.with_context(path);
    }
    return m;
  }

  // Validates kind, config and every tensor (presence, dtype convertible to
  // f32, shape; no unexpected tensors) and copies the weights to f32.
  static Result<QualityNet> from_file(const io::SafeTensorsFile& file) {
    const auto& md = file.metadata();
    auto kind = md.find("rsfiqa.model");
    if (kind == md.end())
      return make_error(ErrorCode::kUnsupportedType, "quality net: no 'rsfiqa.model' metadata, expected '%s'",
                        kQualityModelKind);
    if (kind->second != kQualityModelKind)
      return make_error(ErrorCode::kUnsupportedType,
                        "quality net: metadata rsfiqa.model is '%.100s', expected '%s' (a weights file of another "
                        "architecture)",
                        kind->second.c_str(), kQualityModelKind);
    auto cfg = md.find("rsfiqa.config");
    if (cfg == md.end()) return make_error(ErrorCode::kNotFound, "quality net: no 'rsfiqa.config' metadata");
    QualityNet m;
    RSFIQA_ASSIGN_OR_RETURN(m.config_, quality_config_from_json(cfg->second));
    std::vector<QualityTensorSpec> spec = quality_weight_spec(m.config_, &m.w_);
    std::map<std::string, bool> known;
    for (const QualityTensorSpec& e : spec) {
      known[e.name] = e.required;
      const io::SafeTensorInfo* t = file.find(e.name);
      if (!t) {
        if (e.required)
          return make_error(ErrorCode::kNotFound, "quality net: tensor '%s' %s is missing", e.name.c_str(),
                            e.shape.to_string().c_str());
        continue;
      }
      if (!(t->shape == e.shape))
        return make_error(ErrorCode::kShapeMismatch, "quality net: tensor '%s' has shape %s, expected %s",
                          e.name.c_str(), t->shape.to_string().c_str(), e.shape.to_string().c_str());
      RSFIQA_ASSIGN_OR_RETURN(Tensor f, io::SafeTensorsFile::to_f32(*t));
      RSFIQA_RETURN_IF_ERROR(io::require_finite("quality net", e.name, f.f32(), f.numel()));
      *e.dst = f.f32();
      m.tensors_.push_back(std::move(f));
    }
    for (const io::SafeTensorInfo& t : file.tensors())
      if (!known.count(t.name))
        return make_error(ErrorCode::kMalformed, "quality net: unexpected tensor '%s' for this config", t.name.c_str());
    for (int64_t i = 0; i < m.config_.n_in(); ++i)
      if (!(m.w_.feat_std[i] > 0.f))
        return make_error(ErrorCode::kMalformed, "quality net: feat_std[%lld] = %g must be > 0", (long long)i,
                          (double)m.w_.feat_std[i]);
    return m;
  }

  const QualityConfig& config() const { return config_; }
  const QualityWeights& weights() const { return w_; }

  // features: [N, n_in] row-major; labels: [n_labels] with n_labels == N,
  // each in [0, num_regions). Errors: kShapeMismatch (wrong feature width or
  // label count), kInvalidArgument (labels out of range, non-finite
  // features, bad K), kEmptyInput (N = 0), kOutOfMemory.
  Status forward(const float* features, int64_t n_tokens, int64_t n_cols, const int32_t* labels, int64_t n_labels,
                 int32_t num_regions, QualityOutput* out) const;

 private:
  QualityConfig config_;
  QualityWeights w_;
  std::vector<Tensor> tensors_;
};

namespace detail {

// Small-matrix helpers for the per-region part (K rows): plain loops in
// double accumulation are plenty there.
inline void q_linear_rows(int64_t rows, int64_t in, int64_t out, const float* x, const QLinear& l, float* y) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double s = l.bias[o];
      const float* wr = l.weight + o * in;
      for (int64_t i = 0; i < in; ++i) s += (double)wr[i] * x[r * in + i];
      y[r * out + o] = (float)s;
    }
}
inline float q_gelu(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }
inline float q_sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// Linear -> GELU -> Linear on `rows` rows of width `in`.
inline void q_mlp_rows(int64_t rows, int64_t in, int64_t hidden, int64_t out, const float* x, const QMlp& m, float* tmp,
                       float* y) {
  q_linear_rows(rows, in, hidden, x, m.fc1, tmp);
  for (int64_t i = 0; i < rows * hidden; ++i) tmp[i] = q_gelu(tmp[i]);
  q_linear_rows(rows, hidden, out, tmp, m.fc2, y);
}

}  // namespace detail

inline Status QualityNet::forward(const float* features, int64_t n_tokens, int64_t n_cols, const int32_t* labels,
                                  int64_t n_labels, int32_t num_regions, QualityOutput* out) const {
  const QualityConfig& c = config_;
  const QualityWeights& w = w_;
  if (!out) return make_error(ErrorCode::kInvalidArgument, "quality net: null output");
  if (n_tokens <= 0)
    return make_error(ErrorCode::kEmptyInput, "quality net: no tokens (N = %lld)", (long long)n_tokens);
  if (!features || !labels) return make_error(ErrorCode::kInvalidArgument, "quality net: null features or labels");
  if (n_cols != c.n_in())
    return make_error(ErrorCode::kShapeMismatch, "quality net: features have %lld columns, the model expects %lld",
                      (long long)n_cols, (long long)c.n_in());
  if (n_labels != n_tokens)
    return make_error(ErrorCode::kShapeMismatch, "quality net: region map has %lld cells for %lld tokens",
                      (long long)n_labels, (long long)n_tokens);
  if (num_regions <= 0 || num_regions > kMaxQualityRegions)
    return make_error(ErrorCode::kInvalidArgument, "quality net: number of regions %d outside [1, %d]", num_regions,
                      kMaxQualityRegions);
  for (int64_t i = 0; i < n_tokens; ++i)
    if (labels[i] < 0 || labels[i] >= num_regions)
      return make_error(ErrorCode::kInvalidArgument, "quality net: region label %d at token %lld outside [0, %d)",
                        labels[i], (long long)i, num_regions);
  for (int64_t i = 0; i < n_tokens * n_cols; ++i)
    if (!std::isfinite(features[i]))
      return make_error(ErrorCode::kInvalidArgument, "quality net: feature (token %lld, column %lld) is not finite",
                        (long long)(i / n_cols), (long long)(i % n_cols));

  const int64_t N = n_tokens, D = c.dim, F = c.n_in(), H = c.mlp_ratio * D, K = num_regions;
  // Activations: f [N, F] standardised input, x [N, D] residual stream,
  // h [N, D] normed, qkv [N, 3D], a [N, D] attention out, m [N, H] MLP hidden.
  RSFIQA_ASSIGN_OR_RETURN(Tensor tf, Tensor::create(DType::kF32, Shape{N, F}));
  RSFIQA_ASSIGN_OR_RETURN(Tensor tx, Tensor::create(DType::kF32, Shape{N, D}));
  RSFIQA_ASSIGN_OR_RETURN(Tensor th, Tensor::create(DType::kF32, Shape{N, std::max(D, F)}));
  RSFIQA_ASSIGN_OR_RETURN(Tensor tq, Tensor::create(DType::kF32, Shape{N, std::max(3 * D, H)}));
  RSFIQA_ASSIGN_OR_RETURN(Tensor ta, Tensor::create(DType::kF32, Shape{N, D}));
  float *f = tf.f32(), *x = tx.f32(), *h = th.f32(), *qkv = tq.f32(), *a = ta.f32();

  // Input: standardise, LayerNorm, project to D.
  parallel_for(N, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t j = 0; j < F; ++j) f[r * F + j] = (features[r * F + j] - w.feat_mean[j]) / w.feat_std[j];
  });
  ops::layer_norm_f32(N, F, f, w.in_norm.weight, w.in_norm.bias, c.ln_eps, h);
  ops::linear_f32(N, F, D, h, w.in_proj.weight, w.in_proj.bias, x);

  ops::RegionAttentionWorkspace rsa_ws;
  for (const QBlock& b : w.blocks) {
    // x += proj(RSA(LN1(x)))
    ops::layer_norm_f32(N, D, x, b.norm1.weight, b.norm1.bias, c.ln_eps, h);
    ops::linear_f32(N, D, 3 * D, h, b.qkv.weight, b.qkv.bias, qkv);
    ops::RegionAttentionParams p;
    p.num_heads = (int)c.heads;
    p.head_dim = (int)c.head_dim();
    p.variant = c.variant;
    p.bias_betas = b.beta;
    const ops::RegionAttentionArgs args = ops::region_attention_args_packed(qkv, N, D, labels, num_regions, a);
    RSFIQA_RETURN_IF_ERROR(ops::region_attention(args, p, &rsa_ws));
    ops::linear_f32(N, D, D, a, b.proj.weight, b.proj.bias, h);
    ops::add_f32(N * D, x, h, x);
    // x += fc2(GELU(fc1(LN2(x))))
    ops::layer_norm_f32(N, D, x, b.norm2.weight, b.norm2.bias, c.ln_eps, h);
    ops::linear_f32(N, D, H, h, b.fc1.weight, b.fc1.bias, qkv);
    ops::gelu_f32(N * H, qkv, qkv);
    ops::linear_f32(N, H, D, qkv, b.fc2.weight, b.fc2.bias, h);
    ops::add_f32(N * D, x, h, x);
  }

  // Pooling scores s_i = w · LN_pool(x_i) + b (in `a`, one per token).
  ops::layer_norm_f32(N, D, x, w.pool_norm.weight, w.pool_norm.bias, c.ln_eps, h);
  ops::linear_f32(N, D, 1, h, w.pool_score.weight, w.pool_score.bias, a);
  // Per-region softmax in double: max, exp-sum, then z_k = sum a_i x_i.
  std::vector<double> smax((size_t)K, -INFINITY), ssum((size_t)K, 0.0), z((size_t)(K * D), 0.0);
  std::vector<int64_t> count((size_t)K, 0);
  for (int64_t i = 0; i < N; ++i) {
    const int32_t k = labels[i];
    ++count[(size_t)k];
    smax[(size_t)k] = std::max(smax[(size_t)k], (double)a[i]);
  }
  for (int64_t i = 0; i < N; ++i) {
    const int32_t k = labels[i];
    const double e = std::exp((double)a[i] - smax[(size_t)k]);
    ssum[(size_t)k] += e;
    for (int64_t j = 0; j < D; ++j) z[(size_t)(k * D + j)] += e * x[i * D + j];
  }
  // Non-empty regions in label order: zk [G, D], then the heads.
  std::vector<int32_t> present;
  for (int32_t k = 0; k < K; ++k)
    if (count[(size_t)k] > 0) present.push_back(k);
  const int64_t G = (int64_t)present.size();
  std::vector<float> zk((size_t)(G * D)), u((size_t)(G * D)), tmp((size_t)(G * c.head_hidden));
  std::vector<float> qo((size_t)G), po((size_t)(G * kProfileDims)), so((size_t)G);
  for (int64_t g = 0; g < G; ++g) {
    const int32_t k = present[(size_t)g];
    for (int64_t j = 0; j < D; ++j) zk[(size_t)(g * D + j)] = (float)(z[(size_t)(k * D + j)] / ssum[(size_t)k]);
  }
  ops::layer_norm_f32(G, D, zk.data(), w.head_norm.weight, w.head_norm.bias, c.ln_eps, u.data());
  detail::q_mlp_rows(G, D, c.head_hidden, 1, u.data(), w.quality_head, tmp.data(), qo.data());
  detail::q_mlp_rows(G, D, c.head_hidden, kProfileDims, u.data(), w.profile_head, tmp.data(), po.data());
  detail::q_mlp_rows(G, D, c.head_hidden, 1, u.data(), w.weight_head, tmp.data(), so.data());

  // Region weights: softmax over the non-empty regions of s_k + log n_k.
  double smx = -INFINITY, ssm = 0.0;
  std::vector<double> sk((size_t)G);
  for (int64_t g = 0; g < G; ++g) {
    sk[(size_t)g] = (double)so[(size_t)g] + std::log((double)count[(size_t)present[(size_t)g]]);
    smx = std::max(smx, sk[(size_t)g]);
  }
  for (int64_t g = 0; g < G; ++g) ssm += std::exp(sk[(size_t)g] - smx);

  out->regions.assign((size_t)K, RegionQuality());
  double gq = 0.0, gp[kProfileDims] = {};
  for (int64_t g = 0; g < G; ++g) {
    RegionQuality& r = out->regions[(size_t)present[(size_t)g]];
    r.tokens = count[(size_t)present[(size_t)g]];
    r.quality = 100.0f * detail::q_sigmoid(qo[(size_t)g]);
    for (int d = 0; d < kProfileDims; ++d) r.profile[d] = detail::q_sigmoid(po[(size_t)(g * kProfileDims + d)]);
    const double wk = std::exp(sk[(size_t)g] - smx) / ssm;
    r.weight = (float)wk;
    gq += wk * r.quality;
    for (int d = 0; d < kProfileDims; ++d) gp[d] += wk * r.profile[d];
  }
  out->quality = (float)gq;
  for (int d = 0; d < kProfileDims; ++d) out->profile[d] = (float)gp[d];
  for (int32_t k = 0; k < K; ++k) {
    RegionQuality& r = out->regions[(size_t)k];
    if (r.tokens > 0) continue;
    r.quality = out->quality;
    for (int d = 0; d < kProfileDims; ++d) r.profile[d] = out->profile[d];
  }
  return Status();
}

}  // namespace rsfiqa::quality

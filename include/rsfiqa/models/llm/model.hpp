// SPDX-License-Identifier: MIT
// Decoder-only transformer language models from GGUF files: the `llama`
// (TinyStories, SmolLM2, TinyLlama) and `qwen2` architectures, driven by the
// file's metadata. Per layer (PyTorch / HF names in brackets):
//
//   h   = x + Wo · Attn(RoPE(Wq·n1(x) [+bq]), RoPE(Wk·n1(x) [+bk]), Wv·n1(x) [+bv])
//   out = h + W_down · (silu(W_gate·n2(h)) ⊙ W_up·n2(h))
//   n1, n2 = RMSNorm (attn_norm, ffn_norm), then output_norm and the head.
//
// Attention is causal grouped-query attention (n_head query heads share
// n_head_kv key/value heads) over a KV cache in f32 or f16 (KvType). RoPE comes in the two
// layouts GGUF uses: llama files rotate adjacent pairs (x[2i], x[2i+1])
// because llama.cpp's converter permutes Wq/Wk rows into that order; qwen2
// files rotate halves (x[i], x[i + n_rot/2]), the NeoX layout.
//
// Weights stay in the memory-mapped file (any of F32, F16, BF16, Q8_0, Q4_0,
// Q4_K, Q6_K per tensor); only norm weights and biases (vectors) are copied
// to f32. Activations are quantized once per input row for the integer dot
// kernels (kernels/quant_dot.hpp, quant_gemm.hpp), and projections of the
// same input (Q/K/V, gate/up) run in one parallel region. Every metadata value is range-checked before use
// and every tensor's shape is checked against the config.
//
// What it does not do: no rope scaling other than linear, no sliding-window
// attention, no MoE, no batching of sequences.
// Follows the model definitions of llama.cpp (llama.cpp/src/llama-model.cpp)
// and HF transformers (LlamaForCausalLM, Qwen2ForCausalLM).
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/core/status.hpp"
#include "rsfiqa/io/gguf.hpp"
#include "rsfiqa/kernels/elementwise.hpp"
#include "rsfiqa/kernels/norm.hpp"
#include "rsfiqa/kernels/quant.hpp"
#include "rsfiqa/kernels/quant_dot.hpp"
#include "rsfiqa/kernels/quant_gemm.hpp"
#include "rsfiqa/models/llm/sampler.hpp"
#include "rsfiqa/models/llm/tokenizer.hpp"

namespace rsfiqa::llm {

enum class Arch { kLlama, kQwen2 };
enum class RopeType { kNorm, kNeox };  // adjacent pairs / halves

inline const char* arch_name(Arch a) { return a == Arch::kLlama ? "llama" : "qwen2"; }

struct LlmConfig {
  Arch arch = Arch::kLlama;
  int64_t n_vocab = 0;
  int64_t n_embd = 0;       // hidden size E
  int64_t n_layer = 0;
  int64_t n_head = 0;       // query heads H
  int64_t n_head_kv = 0;    // key/value heads Hkv (H % Hkv == 0)
  int64_t head_dim = 0;     // D = E / H
  int64_t n_ff = 0;         // MLP hidden size F
  int64_t n_ctx_train = 0;  // context length the model was trained with
  int64_t n_rot = 0;        // rotated dims per head (even, <= D)
  float rope_theta = 10000.0f;
  float rope_freq_scale = 1.0f;  // positions are multiplied by this (linear scaling)
  float rms_eps = 1e-5f;
  RopeType rope_type = RopeType::kNorm;
  bool tied_output = false;
};

// One weight matrix in the file: `rows` outputs x `cols` inputs (nn.Linear
// layout [out, in]), row-major, `row_bytes` per row.
struct Weight {
  DType dtype = DType::kF32;
  const uint8_t* data = nullptr;
  int64_t rows = 0, cols = 0, row_bytes = 0;
};

struct LayerWeights {
  std::vector<float> attn_norm;  // [E]
  Weight wq;                     // attn_q      [H*D, E]
  Weight wk;                     // attn_k      [Hkv*D, E]
  Weight wv;                     // attn_v      [Hkv*D, E]
  Weight wo;                     // attn_output [E, H*D]
  std::vector<float> bq, bk, bv; // qwen2 biases [H*D], [Hkv*D], [Hkv*D]; empty when absent
  std::vector<float> ffn_norm;   // [E]
  Weight w_gate;                 // ffn_gate [F, E]
  Weight w_up;                   // ffn_up   [F, E]
  Weight w_down;                 // ffn_down [E, F]
};

namespace detail {

// Reads an optional/required integer key in [lo, hi].
inline Status get_int_key(const io::GgufFile& f, const std::string& key, bool required, int64_t def, int64_t lo,
                          int64_t hi, int64_t* out) {
  if (!f.has(key)) {
    if (required) return make_error(ErrorCode::kNotFound, "LLM: missing metadata key '%s'", key.c_str());
    *out = def;
    return Status();
  }
  Result<int64_t> v = f.get_int(key, lo, hi);
  if (!v.ok()) return v.status();
  *out = v.value();
  return Status();
}

inline Status get_float_key(const io::GgufFile& f, const std::string& key, bool required, double def, double lo,
                            double hi, float* out) {
  if (!f.has(key)) {
    if (required) return make_error(ErrorCode::kNotFound, "LLM: missing metadata key '%s'", key.c_str());
    *out = (float)def;
    return Status();
  }
  Result<double> v = f.get_float(key);
  if (!v.ok()) return v.status();
  if (!(v.value() >= lo && v.value() <= hi))
    return make_error(ErrorCode::kLimitExceeded, "LLM: metadata '%s' = %g is outside [%g, %g]", key.c_str(), v.value(),
                      lo, hi);
  *out = (float)v.value();
  return Status();
}

// A token id key (uint32; 0xFFFFFFFF or absent = none).
inline Status get_token_id(const io::GgufFile& f, const std::string& key, int64_t n_vocab, int32_t* out) {
  *out = -1;
  const io::GgufValue* v = f.find_kv(key);
  if (!v) return Status();
  int64_t id = 0;
  if (!v->to_int64(&id)) return make_error(ErrorCode::kMalformed, "LLM: '%s' is not an integer", key.c_str());
  if (id == 0xFFFFFFFFll || id == -1) return Status();
  if (id < 0 || id >= n_vocab)
    return make_error(ErrorCode::kLimitExceeded, "LLM: '%s' = %lld is outside the %lld-token vocabulary", key.c_str(),
                      (long long)id, (long long)n_vocab);
  *out = (int32_t)id;
  return Status();
}

}  // namespace detail

// Builds the tokenizer described by tokenizer.ggml.* keys.
inline Result<Tokenizer> tokenizer_from_gguf(const io::GgufFile& f) {
  RSFIQA_ASSIGN_OR_RETURN(std::string model, f.get_string("tokenizer.ggml.model"));
  VocabData v;
  if (model == "llama") v.type = TokenizerType::kLlama;
  else if (model == "gpt2") v.type = TokenizerType::kGpt2;
  else return make_error(ErrorCode::kUnsupportedType, "LLM: unsupported tokenizer model '%s'", model.c_str());
  RSFIQA_ASSIGN_OR_RETURN(v.tokens, f.get_string_array("tokenizer.ggml.tokens"));
  const int64_t n = (int64_t)v.tokens.size();
  if (f.has("tokenizer.ggml.scores")) {
    RSFIQA_ASSIGN_OR_RETURN(v.scores, f.get_array_values<float>("tokenizer.ggml.scores"));
  }
  if (f.has("tokenizer.ggml.token_type")) {
    RSFIQA_ASSIGN_OR_RETURN(v.token_types, f.get_array_values<int32_t>("tokenizer.ggml.token_type"));
  }
  if (v.type == TokenizerType::kGpt2) {
    RSFIQA_ASSIGN_OR_RETURN(v.merges, f.get_string_array("tokenizer.ggml.merges"));
    if (f.has("tokenizer.ggml.pre")) {
      RSFIQA_ASSIGN_OR_RETURN(v.pre, f.get_string("tokenizer.ggml.pre"));
    }
  }
  RSFIQA_RETURN_IF_ERROR(detail::get_token_id(f, "tokenizer.ggml.bos_token_id", n, &v.bos_id));
  RSFIQA_RETURN_IF_ERROR(detail::get_token_id(f, "tokenizer.ggml.eos_token_id", n, &v.eos_id));
  RSFIQA_RETURN_IF_ERROR(detail::get_token_id(f, "tokenizer.ggml.unknown_token_id", n, &v.unk_id));
  RSFIQA_RETURN_IF_ERROR(detail::get_token_id(f, "tokenizer.ggml.padding_token_id", n, &v.pad_id));
  v.add_bos = v.type == TokenizerType::kLlama;
  if (f.has("tokenizer.ggml.add_bos_token")) {
    RSFIQA_ASSIGN_OR_RETURN(v.add_bos, f.get_bool("tokenizer.ggml.add_bos_token"));
  }
  if (f.has("tokenizer.ggml.add_space_prefix")) {
    RSFIQA_ASSIGN_OR_RETURN(v.add_space_prefix, f.get_bool("tokenizer.ggml.add_space_prefix"));
  }
  // Common end-of-turn tokens also end generation (as llama.cpp does).
  for (const char* t : {"<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>", "<|end|>"}) {
    for (int64_t i = 0; i < n; ++i)
      if (v.tokens[(size_t)i] == t) v.eog_ids.push_back((int32_t)i);
  }
  return Tokenizer::create(std::move(v));
}

class Model {
 public:
  Model() = default;
  Model(Model&&) = default;
  Model& operator=(Model&&) = default;

  // Maps the file and builds config, tokenizer and weight views.
  static Result<Model> load(const std::string& path) {
    RSFIQA_ASSIGN_OR_RETURN(io::GgufFile f, io::GgufFile::open(path));
    Result<Model> m = from_gguf(std::move(f));
    if (!m.ok()) {
      Status st = m.status();
      return st.with_context(path);
    }
    return m;
  }

  // Takes ownership of an opened GGUF file (its mapping backs the weights).
  static Result<Model> from_gguf(io::GgufFile file) {
    Model m;
    m.file_ = std::make_unique<io::GgufFile>(std::move(file));
    RSFIQA_RETURN_IF_ERROR(m.read_config());
    RSFIQA_RETURN_IF_ERROR(m.bind_weights());
    RSFIQA_ASSIGN_OR_RETURN(m.tokenizer_, tokenizer_from_gguf(*m.file_));
    if (m.tokenizer_.vocab_size() != m.cfg_.n_vocab)
      return make_error(ErrorCode::kShapeMismatch, "LLM: tokenizer has %d tokens but token_embd has %lld rows",
                        m.tokenizer_.vocab_size(), (long long)m.cfg_.n_vocab);
    return m;
  }

  const LlmConfig& config() const { return cfg_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  const io::GgufFile& file() const { return *file_; }
  const Weight& token_embd() const { return tok_embd_; }
  const Weight& output() const { return output_; }
  const std::vector<float>& output_norm() const { return out_norm_; }
  const std::vector<LayerWeights>& layers() const { return layers_; }
  // Bytes of all weight matrices (what one decode step reads, roughly).
  int64_t weight_bytes() const {
    int64_t b = output_.rows * output_.row_bytes;
    for (const LayerWeights& l : layers_)
      for (const Weight* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) b += w->rows * w->row_bytes;
    return b;
  }

 private:
  Status read_config() {
    const io::GgufFile& f = *file_;
    RSFIQA_ASSIGN_OR_RETURN(std::string arch, f.get_string("general.architecture"));
    if (arch == "llama") {
      cfg_.arch = Arch::kLlama;
      cfg_.rope_type = RopeType::kNorm;
    } else if (arch == "qwen2") {
      cfg_.arch = Arch::kQwen2;
      cfg_.rope_type = RopeType::kNeox;
    } else {
      return make_error(ErrorCode::kUnsupportedType, "LLM: unsupported architecture '%s' (supported: llama, qwen2)",
                        arch.c_str());
    }
    const std::string a = arch + ".";
    RSFIQA_RETURN_IF_ERROR(detail::get_int_key(f, a + "block_count", true, 0, 1, 1024, &cfg_.n_layer));
    RSFIQA_RETURN_IF_ERROR(detail::get_int_key(f, a + "embedding_length", true, 0, 1, 1 << 16, &cfg_.n_embd));
    RSFIQA_RETURN_IF_ERROR(detail::get_int_key(f, a + "attention.head_count", true, 0, 1, 1024, &cfg_.n_head));
    RSFIQA_RETURN_IF_ERROR(detail::get_int_key(f, a + "attention.head_count_kv", false, cfg_.n_head, 1, cfg_.n_head,
                                               &cfg_.n_head_kv));
    RSFIQA_RETURN_IF_ERROR(detail::get_int_key(f, a + "feed_forward_length", true, 0, 1, 1 << 20, &cfg_.n_ff));
    RSFIQA_RETURN_IF_ERROR(detail::get_int_key(f, a + "context_length", true, 0, 1, 1 << 24, &cfg_.n_ctx_train));
    if (cfg_.n_embd % cfg_.n_head != 0)
      return make_error(ErrorCode::kMalformed, "LLM: embedding_length %lld is not a multiple of head_count %lld",
                        (long long)cfg_.n_embd, (long long)cfg_.n_head);
    if (cfg_.n_head % cfg_.n_head_kv != 0)
      return make_error(ErrorCode::kMalformed, "LLM: head_count %lld is not a multiple of head_count_kv %lld",
                        (long long)cfg_.n_head, (long long)cfg_.n_head_kv);
    cfg_.head_dim = cfg_.n_embd / cfg_.n_head;
    for (const char* k : {"attention.key_length", "attention.value_length"}) {
      int64_t len = 0;
      RSFIQA_RETURN_IF_ERROR(detail::get_int_key(f, a + k, false, cfg_.head_dim, 1, 1 << 16, &len));
      if (len != cfg_.head_dim)
        return make_error(ErrorCode::kUnsupportedType, "LLM: %s%s = %lld differs from embedding/heads = %lld",
                          a.c_str(), k, (long long)len, (long long)cfg_.head_dim);
    }
    RSFIQA_RETURN_IF_ERROR(
        detail::get_int_key(f, a + "rope.dimension_count", false, cfg_.head_dim, 2, cfg_.head_dim, &cfg_.n_rot));
    if (cfg_.n_rot % 2 != 0)
      return make_error(ErrorCode::kMalformed, "LLM: rope.dimension_count %lld is odd", (long long)cfg_.n_rot);
    RSFIQA_RETURN_IF_ERROR(detail::get_float_key(f, a + "rope.freq_base", false, 10000.0, 1.0, 1e12, &cfg_.rope_theta));
    RSFIQA_RETURN_IF_ERROR(detail::get_float_key(f, a + "attention.layer_norm_rms_epsilon", false, 1e-5, 0.0, 1.0,
                                                 &cfg_.rms_eps));
    if (f.has(a + "rope.scaling.type")) {
      RSFIQA_ASSIGN_OR_RETURN(std::string st, f.get_string(a + "rope.scaling.type"));
      if (st == "linear") {
        float factor = 1.0f;
        RSFIQA_RETURN_IF_ERROR(detail::get_float_key(f, a + "rope.scaling.factor", true, 1.0, 1e-3, 1e3, &factor));
        cfg_.rope_freq_scale = 1.0f / factor;
      } else if (st != "none") {
        return make_error(ErrorCode::kUnsupportedType, "LLM: unsupported rope scaling type '%s'", st.c_str());
      }
    }
    return Status();
  }

  // Checks a 2-D weight [rows, cols] (PyTorch order) and that its type has a
  // dot kernel.
  Status bind(const std::string& name, int64_t rows, int64_t cols, Weight* w) const {
    RSFIQA_ASSIGN_OR_RETURN(const io::GgufTensorInfo* t, file_->get_tensor(name));
    if (t->shape != Shape({rows, cols}))
      return make_error(ErrorCode::kShapeMismatch, "LLM: tensor '%s' has shape %s, expected [%lld, %lld]",
                        name.c_str(), t->shape.to_string().c_str(), (long long)rows, (long long)cols);
    if (!kernels::row_dot_fn(t->dtype, Isa::kScalar))
      return make_error(ErrorCode::kUnsupportedType, "LLM: tensor '%s' has type %s, which has no dot kernel",
                        name.c_str(), dtype_name(t->dtype));
    w->dtype = t->dtype;
    w->data = t->data;
    w->rows = rows;
    w->cols = cols;
    w->row_bytes = dtype_bytes(t->dtype, cols);
    if (w->row_bytes <= 0 || w->row_bytes * rows != t->nbytes)
      return make_error(ErrorCode::kMalformed, "LLM: tensor '%s' has %lld bytes, expected %lld", name.c_str(),
                        (long long)t->nbytes, (long long)(w->row_bytes * rows));
    return Status();
  }

  // A vector [n] copied to f32 (norm weights, biases).
  Status bind_vec(const std::string& name, int64_t n, bool required, std::vector<float>* out) const {
    const io::GgufTensorInfo* t = file_->find_tensor(name);
    if (!t) {
      if (required) return make_error(ErrorCode::kNotFound, "LLM: missing tensor '%s'", name.c_str());
      out->clear();
      return Status();
    }
    if (t->shape != Shape({n}))
      return make_error(ErrorCode::kShapeMismatch, "LLM: tensor '%s' has shape %s, expected [%lld]", name.c_str(),
                        t->shape.to_string().c_str(), (long long)n);
    if (!kernels::quant_row_supported(t->dtype))
      return make_error(ErrorCode::kUnsupportedType, "LLM: tensor '%s' has unsupported type %s", name.c_str(),
                        dtype_name(t->dtype));
    out->resize((size_t)n);
    kernels::dequantize_row_ref(t->dtype, t->data, out->data(), n);
    return Status();
  }

  Status bind_weights() {
    const int64_t E = cfg_.n_embd, H = cfg_.n_head, Hkv = cfg_.n_head_kv, D = cfg_.head_dim, F = cfg_.n_ff;
    RSFIQA_ASSIGN_OR_RETURN(const io::GgufTensorInfo* te, file_->get_tensor("token_embd.weight"));
    if (te->shape.ndim != 2 || te->shape[1] != E || te->shape[0] < 1 || te->shape[0] > (1 << 24))
      return make_error(ErrorCode::kShapeMismatch, "LLM: token_embd.weight has shape %s, expected [n_vocab, %lld]",
                        te->shape.to_string().c_str(), (long long)E);
    cfg_.n_vocab = te->shape[0];
    RSFIQA_RETURN_IF_ERROR(bind("token_embd.weight", cfg_.n_vocab, E, &tok_embd_));
    if (file_->find_tensor("output.weight")) {
      RSFIQA_RETURN_IF_ERROR(bind("output.weight", cfg_.n_vocab, E, &output_));
      cfg_.tied_output = false;
    } else {
      output_ = tok_embd_;
      cfg_.tied_output = true;
    }
    RSFIQA_RETURN_IF_ERROR(bind_vec("output_norm.weight", E, true, &out_norm_));
    layers_.resize((size_t)cfg_.n_layer);
    for (int64_t il = 0; il < cfg_.n_layer; ++il) {
      LayerWeights& L = layers_[(size_t)il];
      const std::string p = "blk." + std::to_string(il) + ".";
      RSFIQA_RETURN_IF_ERROR(bind_vec(p + "attn_norm.weight", E, true, &L.attn_norm));
      RSFIQA_RETURN_IF_ERROR(bind(p + "attn_q.weight", H * D, E, &L.wq));
      RSFIQA_RETURN_IF_ERROR(bind(p + "attn_k.weight", Hkv * D, E, &L.wk));
      RSFIQA_RETURN_IF_ERROR(bind(p + "attn_v.weight", Hkv * D, E, &L.wv));
      RSFIQA_RETURN_IF_ERROR(bind(p + "attn_output.weight", E, H * D, &L.wo));
      const bool need_bias = cfg_.arch == Arch::kQwen2;
      RSFIQA_RETURN_IF_ERROR(bind_vec(p + "attn_q.bias", H * D, need_bias, &L.bq));
      RSFIQA_RETURN_IF_ERROR(bind_vec(p + "attn_k.bias", Hkv * D, need_bias, &L.bk));
      RSFIQA_RETURN_IF_ERROR(bind_vec(p + "attn_v.bias", Hkv * D, need_bias, &L.bv));
      RSFIQA_RETURN_IF_ERROR(bind_vec(p + "ffn_norm.weight", E, true, &L.ffn_norm));
      RSFIQA_RETURN_IF_ERROR(bind(p + "ffn_gate.weight", F, E, &L.w_gate));
      RSFIQA_RETURN_IF_ERROR(bind(p + "ffn_up.weight", F, E, &L.w_up));
      RSFIQA_RETURN_IF_ERROR(bind(p + "ffn_down.weight", E, F, &L.w_down));
    }
    return Status();
  }

  std::unique_ptr<io::GgufFile> file_;
  LlmConfig cfg_;
  Tokenizer tokenizer_;
  Weight tok_embd_, output_;
  std::vector<float> out_norm_;
  std::vector<LayerWeights> layers_;
};

// Element type of the KV cache. f16 halves its memory (and the bytes the
// attention reads per token) at a small cost in accuracy.
enum class KvType { kF32, kF16 };

inline const char* kv_type_name(KvType t) { return t == KvType::kF32 ? "f32" : "f16"; }

// Per-sequence state: the KV cache and scratch buffers. Holds a reference to
// the model (which must outlive it); one Session per concurrent sequence.
// Scratch buffers grow to the largest batch seen and are then reused, so
// decode steps allocate nothing.
class Session {
 public:
  // n_ctx <= 0 uses the model's training context length.
  static Result<Session> create(const Model& model, int64_t n_ctx = 0, KvType kv_type = KvType::kF32) {
    const LlmConfig& c = model.config();
    if (n_ctx <= 0) n_ctx = c.n_ctx_train;
    if (n_ctx > (int64_t)1 << 20)
      return make_error(ErrorCode::kLimitExceeded, "LLM: context %lld is over the 1M-token cap", (long long)n_ctx);
    Session s;
    s.model_ = &model;
    s.n_ctx_ = n_ctx;
    s.kv_type_ = kv_type;
    s.kv_elem_ = kv_type == KvType::kF32 ? 4 : 2;
    const int64_t kv = c.n_head_kv * c.head_dim;
    int64_t elems = 0;
    if (!checked_mul(c.n_layer * n_ctx, kv, &elems) || elems > ((int64_t)1 << 34))
      return make_error(ErrorCode::kLimitExceeded, "LLM: KV cache of %lld layers x %lld positions is too large",
                        (long long)c.n_layer, (long long)n_ctx);
    s.k_cache_.assign((size_t)(elems * s.kv_elem_), 0);
    s.v_cache_.assign((size_t)(elems * s.kv_elem_), 0);
    // RoPE inverse frequencies base^(-2i / n_rot), once per session.
    s.inv_freq_.resize((size_t)(c.n_rot / 2));
    for (int64_t i = 0; i < c.n_rot / 2; ++i)
      s.inv_freq_[(size_t)i] = std::pow(c.rope_theta, -2.0f * (float)i / (float)c.n_rot);
    return s;
  }

  int64_t n_past() const { return n_past_; }
  int64_t n_ctx() const { return n_ctx_; }
  KvType kv_type() const { return kv_type_; }
  // Bytes held by the K and V caches together.
  int64_t kv_cache_bytes() const { return (int64_t)(k_cache_.size() + v_cache_.size()); }
  void reset() { n_past_ = 0; }

  // Runs tokens [n] at positions n_past .. n_past+n-1 (one batch: GEMM-style
  // prefill when n > 1) and appends them to the cache. On success logits()
  // holds n_vocab logits of the last token (all n rows when all_logits).
  Status eval(const int32_t* tokens, int64_t n, bool all_logits = false) {
    const LlmConfig& c = model_->config();
    if (n <= 0) return make_error(ErrorCode::kEmptyInput, "LLM: eval of no tokens");
    if (n_past_ + n > n_ctx_)
      return make_error(ErrorCode::kLimitExceeded, "LLM: %lld tokens after %lld would exceed the context of %lld",
                        (long long)n, (long long)n_past_, (long long)n_ctx_);
    for (int64_t i = 0; i < n; ++i)
      if (tokens[i] < 0 || tokens[i] >= c.n_vocab)
        return make_error(ErrorCode::kInvalidArgument, "LLM: token id %d outside the %lld-token vocabulary",
                          tokens[i], (long long)c.n_vocab);
    if (n == 1 && use_team() && !observer_) forward_decode(tokens[0]);
    else forward(tokens, n, all_logits);
    n_past_ += n;
    return Status();
  }

  const std::vector<float>& logits() const { return logits_; }

  // Single-token steps of a model with at least this many weight bytes per
  // thread run as one thread team per token (forward_decode); smaller ones
  // use the per-projection path, where tiny matrices stay on one thread.
  // Tests lower it to exercise the team path on KB-sized fixtures.
  void set_team_min_bytes(int64_t b) { team_min_bytes_ = b; }

  // Observer of the f32 input of every matrix product of forward(): called
  // on the calling thread, once per weight, with x [rows, w.cols] before the
  // product (Q, K and V each see their shared input). While one is set,
  // single-token steps also take forward() (the thread-team decode path does
  // not report). Used to collect importance matrices (imatrix.hpp); an empty
  // function (the default) costs one test per projection.
  using MatMulObserver = std::function<void(const Weight& w, const float* x, int64_t rows)>;
  void set_matmul_observer(MatMulObserver f) { observer_ = std::move(f); }

 private:
  // One output of project(): y[T, w.rows] = x · wᵀ (+ bias).
  struct Proj {
    const Weight* w;
    float* y;
    const std::vector<float>* bias;
  };

  // Runs up to 3 projections of the same input x [T, cols] in one parallel
  // region. The input is quantized once per activation format the weights
  // need (f32 weights read x directly).
  void project(std::initializer_list<Proj> outs, const float* x, int64_t T) {
    if (observer_)
      for (const Proj& p : outs) observer_(*p.w, x, T);
    kernels::MatMulJob jobs[3];
    int nj = 0;
    int nfmt = 0;
    kernels::ActFormat fmts[3];
    const void* acts[3] = {nullptr, nullptr, nullptr};
    for (const Proj& p : outs) {
      const Weight& w = *p.w;
      const kernels::ActFormat af = kernels::act_format(w.dtype);
      const void* act = nullptr;
      if (af == kernels::ActFormat::kF32) {
        act = x;
      } else {
        for (int f = 0; f < nfmt; ++f)
          if (fmts[f] == af) act = acts[f];
        if (!act) {
          const int64_t arb = kernels::act_row_bytes(af, w.cols);
          std::vector<uint8_t>& buf = act_buf_[nfmt];
          if ((int64_t)buf.size() < arb * T) buf.resize((size_t)(arb * T));
          uint8_t* dst = buf.data();
          const int64_t cols = w.cols;
          parallel_for(
              T, [&](int64_t b, int64_t e) {
                for (int64_t t = b; t < e; ++t) kernels::quantize_act_row(af, x + t * cols, dst + t * arb, cols);
              },
              8);
          fmts[nfmt] = af;
          acts[nfmt++] = dst;
          act = dst;
        }
      }
      kernels::MatMulJob& jb = jobs[nj++];
      jb.wt = w.dtype;
      jb.W = w.data;
      jb.w_row_bytes = w.row_bytes;
      jb.N = w.rows;
      jb.K = w.cols;
      jb.act = act;
      jb.M = T;
      jb.y = p.y;
      jb.ldy = w.rows;
    }
    kernels::mul_mat_multi(jobs, nj);
    for (const Proj& p : outs)
      if (p.bias && !p.bias->empty())
        for (int64_t t = 0; t < T; ++t) kernels::vec_add_f32(p.w->rows, p.y + t * p.w->rows, p.bias->data(), p.y + t * p.w->rows);
  }

  // Rotates each head of x [n_heads * D] by the angles of row t of the
  // cos/sin table built in forward().
  void rope(float* x, int64_t n_heads, int64_t t) const {
    const LlmConfig& c = model_->config();
    const int64_t D = c.head_dim, half = c.n_rot / 2;
    const float* cs = rope_cs_.data() + t * 2 * half;  // cos[half], then sin[half]
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = x + h * D;
      for (int64_t i = 0; i < half; ++i) {
        const int64_t a = c.rope_type == RopeType::kNorm ? 2 * i : i;
        const int64_t b = c.rope_type == RopeType::kNorm ? 2 * i + 1 : i + half;
        const float x0 = v[a], x1 = v[b];
        v[a] = x0 * cs[i] - x1 * cs[half + i];
        v[b] = x0 * cs[half + i] + x1 * cs[i];
      }
    }
  }

  // Writes one K or V row (kvd floats) into the cache at element offset off.
  void store_kv(std::vector<uint8_t>& cache, int64_t off, const float* src, int64_t n) {
    if (kv_type_ == KvType::kF32) {
      std::memcpy(cache.data() + off * 4, src, (size_t)n * 4);
    } else {
      uint16_t* d = (uint16_t*)(cache.data() + off * 2);
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_f16(src[i]);
    }
  }

  // Whether a single-token step uses forward_decode: every matrix type has a
  // dot kernel with Q8_0/Q8_K/f32 activations (always, for loadable
  // models) and there is enough weight traffic per thread to split.
  bool use_team() const {
    const int64_t T = get_num_threads();
    return T > 1 && !in_parallel_region() && model_->weight_bytes() >= team_min_bytes_ * T;
  }

  // Per-thread scratch of forward_decode: each thread normalizes and
  // quantizes the (shared) input vector of a step itself, which costs a few
  // hundred nanoseconds and saves a barrier per step.
  struct ThreadScratch {
    std::vector<float> xn;           // RMSNorm output        [E]
    std::vector<uint8_t> q8_0, q8_k; // input quantized to Q8_0 / Q8_K blocks
    std::vector<int32_t> corr;       // Q4_0 level offsets of q8_0 (w8 mat-vec)
    std::vector<float> scores;       // attention scores      [n_ctx]
    std::vector<float> out;          // Wo / W_down output; this thread's rows [E]
  };

  // Quantizes x [K] into s for the activation formats the weights ws need.
  static void prep_input(ThreadScratch& s, const float* x, int64_t K, std::initializer_list<const Weight*> ws,
                         Isa isa) {
    bool q80 = false, q8k = false, corr = false;
    for (const Weight* w : ws) {
      const kernels::ActFormat f = kernels::act_format(w->dtype);
      q80 |= f == kernels::ActFormat::kQ8_0;
      q8k |= f == kernels::ActFormat::kQ8_K;
      corr |= kernels::matvec_needs_corr(w->dtype, isa);
    }
    if (q80) {
      const int64_t b = kernels::act_row_bytes(kernels::ActFormat::kQ8_0, K);
      if ((int64_t)s.q8_0.size() < b) s.q8_0.resize((size_t)b);
      kernels::quantize_act_row(kernels::ActFormat::kQ8_0, x, s.q8_0.data(), K);
      if (corr) {
        if ((int64_t)s.corr.size() < K / 32) s.corr.resize((size_t)(K / 32));
        kernels::q4_0_act_corr((const kernels::BlockQ8_0*)s.q8_0.data(), K / 32, s.corr.data());
      }
    }
    if (q8k) {
      const int64_t b = kernels::act_row_bytes(kernels::ActFormat::kQ8_K, K);
      if ((int64_t)s.q8_k.size() < b) s.q8_k.resize((size_t)b);
      kernels::quantize_act_row(kernels::ActFormat::kQ8_K, x, s.q8_k.data(), K);
    }
  }

  // y[r] = dot(w row r, x) for rows r in [n0, n1), x prepared by prep_input.
  static void matvec(const ThreadScratch& s, const Weight& w, const float* x, int64_t n0, int64_t n1, float* y,
                     Isa isa) {
    if (n0 >= n1) return;
    kernels::MatMulJob jb;
    jb.wt = w.dtype;
    jb.W = w.data;
    jb.w_row_bytes = w.row_bytes;
    jb.N = w.rows;
    jb.K = w.cols;
    const kernels::ActFormat f = kernels::act_format(w.dtype);
    jb.act = f == kernels::ActFormat::kQ8_0 ? (const void*)s.q8_0.data()
             : f == kernels::ActFormat::kQ8_K ? (const void*)s.q8_k.data()
                                              : (const void*)x;
    jb.M = 1;
    jb.y = y;
    jb.ldy = w.rows;
    kernels::matvec_rows(jb, n0, n1, s.corr.empty() ? nullptr : s.corr.data(), isa);
  }

  // One token at position n_past, as forward() with T = 1 but in a single
  // thread team: the steps meet at 5 spin barriers per layer instead of a
  // fork/join per projection, and within a step each thread takes the chunks
  // of rows of its own contiguous share, then helps the others (TeamChunks:
  // each thread streams its weights sequentially, and a thread slowed by
  // another process simply gets help; with a static split its partner would
  // wait at the barrier). Chunks are whole multiples of 8 rows, so results do
  // not depend on which thread took which chunk. Q/K/V rows go by whole heads so that
  // the thread computing a head also adds its bias, rotates it and stores it
  // in the cache; gate/up rows by the same range of F so the SwiGLU product
  // is local; Wo and W_down chunks add into their rows of the residual.
  void forward_decode(int32_t token) {
    const Model& m = *model_;
    const LlmConfig& c = m.config();
    const int64_t E = c.n_embd, H = c.n_head, Hkv = c.n_head_kv, D = c.head_dim, F = c.n_ff, V = c.n_vocab;
    const int64_t kvd = Hkv * D, group = H / Hkv, half = c.n_rot / 2;
    const int64_t pos = n_past_, n_keys = n_past_ + 1;
    const Isa isa = active_isa();
    auto grow = [](std::vector<float>& v, int64_t n) {
      if ((int64_t)v.size() < n) v.resize((size_t)n);
    };
    grow(x_, E);
    grow(q_, H * D);
    grow(k_, kvd);
    grow(v_, kvd);
    grow(attn_, H * D);
    grow(gate_, F);
    grow(up_, F);
    grow(rope_cs_, 2 * half);
    logits_.resize((size_t)V);
    const int nt_max = get_num_threads();
    if ((int)team_.size() < nt_max) team_.resize((size_t)nt_max);
    for (ThreadScratch& s : team_) {
      grow(s.xn, std::max(E, F));
      grow(s.scores, n_ctx_);
      grow(s.out, E);
    }
    for (int64_t i = 0; i < half; ++i) {
      const float theta = (float)pos * c.rope_freq_scale * inv_freq_[(size_t)i];
      rope_cs_[(size_t)i] = std::cos(theta);
      rope_cs_[(size_t)(half + i)] = std::sin(theta);
    }
    const Weight& te = m.token_embd();
    kernels::dequantize_row_ref(te.dtype, te.data + token * te.row_bytes, x_.data(), E);
    const float att_scale = 1.0f / std::sqrt((float)D);
    const bool f16 = kv_type_ == KvType::kF16;
    const int64_t head_bytes = D * kv_elem_;
    // Chunk dispensers, one per step (5 per layer and the head).
    const int64_t n_steps = 5 * c.n_layer + 1;
    if ((int64_t)queues_.size() < n_steps) queues_.resize((size_t)n_steps);
    for (int64_t i = 0; i < n_steps; ++i) queues_[(size_t)i].reset(nt_max);
    // Calls body(b, e) for the chunks [b, e) of n items that thread t takes
    // in step `step` (its own contiguous share first, see TeamChunks).
    auto chunks = [&](int t, int64_t step, int64_t n, int64_t chunk, auto&& body) {
      TeamChunks& q = queues_[(size_t)step];
      const int64_t n_chunks = (n + chunk - 1) / chunk;
      for (int64_t i = q.take(t, n_chunks); i >= 0; i = q.take(t, n_chunks))
        body(i * chunk, std::min(n, i * chunk + chunk));
    };
    // Rows per chunk: ~64 KB of weights (whole w8 groups), at least 16 rows.
    auto rows_per_chunk = [](const Weight& w) {
      const int64_t r = ((int64_t)65536 / std::max<int64_t>(w.row_bytes, 1)) / 16 * 16;
      return std::max<int64_t>(r, 16);
    };

    parallel_team([&](int t, int, TeamBarrier& bar) {
      ThreadScratch& s = team_[(size_t)t];
      float* xn = s.xn.data();
      for (int64_t il = 0; il < c.n_layer; ++il) {
        const int64_t step = 5 * il;
        const LayerWeights& L = m.layers()[(size_t)il];
        const int64_t layer_off = il * n_ctx_ * kvd;
        // ---- Q/K/V: heads [hb, he) of the H + 2*Hkv heads (q, then k, then v).
        kernels::rms_norm_f32(E, x_.data(), L.attn_norm.data(), c.rms_eps, xn);
        prep_input(s, xn, E, {&L.wq, &L.wk, &L.wv}, isa);
        const int64_t seg_start[3] = {0, H, H + Hkv};
        const Weight* seg_w[3] = {&L.wq, &L.wk, &L.wv};
        const std::vector<float>* seg_bias[3] = {&L.bq, &L.bk, &L.bv};
        float* seg_y[3] = {q_.data(), k_.data(), v_.data()};
        chunks(t, step, H + 2 * Hkv, 1, [&](int64_t hb, int64_t) {
          const int g = hb < H ? 0 : hb < H + Hkv ? 1 : 2;
          const int64_t h = hb - seg_start[g];
          matvec(s, *seg_w[g], xn, h * D, (h + 1) * D, seg_y[g], isa);
          float* y = seg_y[g] + h * D;
          if (!seg_bias[g]->empty()) kernels::vec_add_f32(D, y, seg_bias[g]->data() + h * D, y);
          if (g < 2) rope(y, 1, 0);
          if (g > 0) store_kv(g == 1 ? k_cache_ : v_cache_, layer_off + pos * kvd + h * D, y, D);
        });
        bar.wait();
        // ---- Attention: query heads [b, e).
        const uint8_t* kc = k_cache_.data() + layer_off * kv_elem_;
        const uint8_t* vc = v_cache_.data() + layer_off * kv_elem_;
        float* sc = s.scores.data();
        chunks(t, step + 1, H, 1, [&](int64_t h, int64_t) {
          const int64_t hk = h / group;
          kernels::attn_scores(n_keys, D, q_.data() + h * D, kc + hk * head_bytes, kvd, f16, att_scale, sc);
          const float mx = kernels::vec_max_f32(n_keys, sc);
          for (int64_t j = 0; j < n_keys; ++j) sc[j] -= mx;
          kernels::vec_exp_f32(n_keys, sc, sc);
          const float inv = 1.0f / kernels::vec_sum_f32(n_keys, sc);
          float* o = attn_.data() + h * D;
          kernels::attn_wsum(n_keys, D, sc, vc + hk * head_bytes, kvd, f16, o);
          kernels::vec_scale_f32(D, o, inv, o);
        });
        bar.wait();
        // ---- x[b:e] += Wo[b:e] · attn
        prep_input(s, attn_.data(), H * D, {&L.wo}, isa);
        chunks(t, step + 2, E, rows_per_chunk(L.wo), [&](int64_t b, int64_t e) {
          matvec(s, L.wo, attn_.data(), b, e, s.out.data(), isa);
          kernels::vec_add_f32(e - b, x_.data() + b, s.out.data() + b, x_.data() + b);
        });
        bar.wait();
        // ---- SwiGLU over hidden units [b, e): gate, up, silu(gate) * up.
        kernels::rms_norm_f32(E, x_.data(), L.ffn_norm.data(), c.rms_eps, xn);
        prep_input(s, xn, E, {&L.w_gate, &L.w_up}, isa);
        chunks(t, step + 3, F, rows_per_chunk(L.w_gate), [&](int64_t b, int64_t e) {
          matvec(s, L.w_gate, xn, b, e, gate_.data(), isa);
          matvec(s, L.w_up, xn, b, e, up_.data(), isa);
          kernels::vec_silu_f32(e - b, gate_.data() + b, gate_.data() + b);
          kernels::vec_mul_f32(e - b, gate_.data() + b, up_.data() + b, gate_.data() + b);
        });
        bar.wait();
        // ---- x[b:e] += W_down[b:e] · h
        prep_input(s, gate_.data(), F, {&L.w_down}, isa);
        chunks(t, step + 4, E, rows_per_chunk(L.w_down), [&](int64_t b, int64_t e) {
          matvec(s, L.w_down, gate_.data(), b, e, s.out.data(), isa);
          kernels::vec_add_f32(e - b, x_.data() + b, s.out.data() + b, x_.data() + b);
        });
        bar.wait();
      }
      // ---- Head: logits[b:e] = output[b:e] · output_norm(x).
      kernels::rms_norm_f32(E, x_.data(), m.output_norm().data(), c.rms_eps, xn);
      prep_input(s, xn, E, {&m.output()}, isa);
      chunks(t, n_steps - 1, V, 4 * rows_per_chunk(m.output()), [&](int64_t b, int64_t e) {
        matvec(s, m.output(), xn, b, e, logits_.data(), isa);
      });
    });
  }

  void forward(const int32_t* tokens, int64_t T, bool all_logits) {
    const Model& m = *model_;
    const LlmConfig& c = m.config();
    const int64_t E = c.n_embd, H = c.n_head, Hkv = c.n_head_kv, D = c.head_dim, F = c.n_ff;
    const int64_t kvd = Hkv * D, group = H / Hkv, half = c.n_rot / 2;
    const int64_t n_kv_end = n_past_ + T;
    auto grow = [](std::vector<float>& v, int64_t n) {
      if ((int64_t)v.size() < n) v.resize((size_t)n);
    };
    grow(x_, T * E);        // residual stream       [T, E]
    grow(xn_, T * E);       // normed input          [T, E]
    grow(q_, T * H * D);    // queries               [T, H, D]
    grow(k_, T * kvd);      // new keys              [T, Hkv, D]
    grow(v_, T * kvd);      // new values            [T, Hkv, D]
    grow(attn_, T * H * D); // attention output      [T, H, D]
    grow(gate_, T * F);     // MLP gate, then silu(gate)*up [T, F]
    grow(up_, T * F);       // MLP up                [T, F]
    grow(tmp_, T * E);      // projection back to E  [T, E]
    grow(scores_, (int64_t)get_num_threads() * n_kv_end);  // one score row per thread part
    // cos/sin of every (position, frequency) of this batch, shared by all layers.
    grow(rope_cs_, T * 2 * half);
    for (int64_t t = 0; t < T; ++t) {
      const float p = (float)(n_past_ + t) * c.rope_freq_scale;
      for (int64_t i = 0; i < half; ++i) {
        const float theta = p * inv_freq_[(size_t)i];
        rope_cs_[(size_t)(t * 2 * half + i)] = std::cos(theta);
        rope_cs_[(size_t)(t * 2 * half + half + i)] = std::sin(theta);
      }
    }
    // x[T, E] = token_embd[tokens]
    const Weight& te = m.token_embd();
    for (int64_t t = 0; t < T; ++t)
      kernels::dequantize_row_ref(te.dtype, te.data + tokens[t] * te.row_bytes, x_.data() + t * E, E);
    const float att_scale = 1.0f / std::sqrt((float)D);
    const bool f16 = kv_type_ == KvType::kF16;
    for (int64_t il = 0; il < c.n_layer; ++il) {
      const LayerWeights& L = m.layers()[(size_t)il];
      const int64_t layer_off = il * n_ctx_ * kvd;  // cache [n_layer, n_ctx, Hkv*D], in elements
      for (int64_t t = 0; t < T; ++t)
        kernels::rms_norm_f32(E, x_.data() + t * E, L.attn_norm.data(), c.rms_eps, xn_.data() + t * E);
      project({{&L.wq, q_.data(), &L.bq}, {&L.wk, k_.data(), &L.bk}, {&L.wv, v_.data(), &L.bv}}, xn_.data(), T);
      for (int64_t t = 0; t < T; ++t) {
        rope(q_.data() + t * H * D, H, t);
        rope(k_.data() + t * kvd, Hkv, t);
        store_kv(k_cache_, layer_off + (n_past_ + t) * kvd, k_.data() + t * kvd, kvd);
        store_kv(v_cache_, layer_off + (n_past_ + t) * kvd, v_.data() + t * kvd, kvd);
      }
      const uint8_t* kc = k_cache_.data() + layer_off * kv_elem_;
      const uint8_t* vc = v_cache_.data() + layer_off * kv_elem_;
      const int64_t head_bytes = D * kv_elem_;
      // Causal attention over (token, head) items, split into P contiguous
      // parts, one per thread, each with its own row of scores_ (so memory
      // does not grow with the batch). At least ~128K multiply-adds per part:
      // decode at a short context stays on one thread (a parallel region
      // costs more than that work, far more on a loaded machine).
      const int64_t n_items = T * H;
      const int64_t item_work = n_kv_end * D * 2;
      const int64_t min_items = item_work >= (1 << 17) ? 1 : ((1 << 17) + item_work - 1) / item_work;
      int64_t P = std::min<int64_t>(get_num_threads(), n_items / min_items);
      if (P < 1) P = 1;
      parallel_for(P, [&](int64_t pb, int64_t pe) {
        for (int64_t part = pb; part < pe; ++part) {
          float* s = scores_.data() + part * n_kv_end;
          for (int64_t item = n_items * part / P; item < n_items * (part + 1) / P; ++item) {
            const int64_t t = item / H, h = item % H, hk = h / group;
            const int64_t n_keys = n_past_ + t + 1;  // positions 0 .. n_past+t
            const float* qh = q_.data() + t * H * D + h * D;
            kernels::attn_scores(n_keys, D, qh, kc + hk * head_bytes, kvd, f16, att_scale, s);
            const float mx = kernels::vec_max_f32(n_keys, s);
            for (int64_t j = 0; j < n_keys; ++j) s[j] -= mx;
            kernels::vec_exp_f32(n_keys, s, s);
            const float inv = 1.0f / kernels::vec_sum_f32(n_keys, s);
            float* o = attn_.data() + t * H * D + h * D;
            kernels::attn_wsum(n_keys, D, s, vc + hk * head_bytes, kvd, f16, o);
            kernels::vec_scale_f32(D, o, inv, o);
          }
        }
      });
      project({{&L.wo, tmp_.data(), nullptr}}, attn_.data(), T);
      kernels::vec_add_f32(T * E, x_.data(), tmp_.data(), x_.data());
      // SwiGLU MLP
      for (int64_t t = 0; t < T; ++t)
        kernels::rms_norm_f32(E, x_.data() + t * E, L.ffn_norm.data(), c.rms_eps, xn_.data() + t * E);
      project({{&L.w_gate, gate_.data(), nullptr}, {&L.w_up, up_.data(), nullptr}}, xn_.data(), T);
      kernels::vec_silu_f32(T * F, gate_.data(), gate_.data());
      kernels::vec_mul_f32(T * F, gate_.data(), up_.data(), gate_.data());
      project({{&L.w_down, tmp_.data(), nullptr}}, gate_.data(), T);
      kernels::vec_add_f32(T * E, x_.data(), tmp_.data(), x_.data());
    }
    // Final norm and head, for the last row or all rows.
    const int64_t first = all_logits ? 0 : T - 1, rows = T - first;
    for (int64_t t = first; t < T; ++t)
      kernels::rms_norm_f32(E, x_.data() + t * E, m.output_norm().data(), c.rms_eps, xn_.data() + (t - first) * E);
    logits_.resize((size_t)(rows * c.n_vocab));
    project({{&m.output(), logits_.data(), nullptr}}, xn_.data(), rows);
  }

  const Model* model_ = nullptr;
  int64_t n_ctx_ = 0, n_past_ = 0;
  KvType kv_type_ = KvType::kF32;
  int64_t kv_elem_ = 4;                    // bytes per cached element
  std::vector<uint8_t> k_cache_, v_cache_;  // [n_layer, n_ctx, Hkv*D] of f32 or f16
  std::vector<float> inv_freq_, rope_cs_;
  std::vector<float> x_, xn_, q_, k_, v_, attn_, gate_, up_, tmp_, scores_, logits_;
  std::vector<uint8_t> act_buf_[3];        // quantized activations, one per format in use
  std::vector<ThreadScratch> team_;        // forward_decode scratch, one per thread
  std::vector<TeamChunks> queues_;  // forward_decode: one chunk dispenser per step
  int64_t team_min_bytes_ = (int64_t)1 << 20;
  MatMulObserver observer_;                // see set_matmul_observer
};

// Options of generate().
struct GenerateOptions {
  int64_t n_predict = 128;  // tokens to generate at most
  bool stop_at_eog = true;
};

// Feeds `prompt` (ids) and samples up to n_predict tokens. on_token(id)
// receives each generated token as it is produced and returns false to stop
// early. Returns the generated ids (without the prompt).
inline Result<std::vector<int32_t>> generate(Session& s, const Model& m, Sampler& sampler,
                                             const std::vector<int32_t>& prompt, const GenerateOptions& opt,
                                             const std::function<bool(int32_t)>& on_token = nullptr) {
  std::vector<int32_t> out;
  if (prompt.empty()) return make_error(ErrorCode::kEmptyInput, "LLM: empty prompt (add BOS for an empty text)");
  for (int32_t t : prompt) sampler.accept(t);
  RSFIQA_RETURN_IF_ERROR(s.eval(prompt.data(), (int64_t)prompt.size()));
  for (int64_t i = 0; i < opt.n_predict; ++i) {
    const int32_t tok = sampler.sample(s.logits().data(), (int32_t)m.config().n_vocab);
    if (opt.stop_at_eog && m.tokenizer().is_eog(tok)) break;
    out.push_back(tok);
    sampler.accept(tok);
    if (on_token && !on_token(tok)) break;
    if (i + 1 == opt.n_predict) break;
    if (s.n_past() >= s.n_ctx()) break;  // context full: stop (documented truncation)
    RSFIQA_RETURN_IF_ERROR(s.eval(&tok, 1));
  }
  return out;
}

}  // namespace rsfiqa::llm

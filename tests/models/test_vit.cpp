// SPDX-License-Identifier: MIT
// Plain-ViT SAM image encoder (models/sam/vit.hpp).
//
// Golden test: a reduced model (2 blocks, width 64, 4 heads, one windowed
// block with padding, one global block whose rel-pos tables are stored
// shorter than 2S - 1 and must be resampled) with random weights from the
// generator shared with tools/golden/make_vit_golden.py, compared with that
// script's float64 PyTorch reference (tests/data/golden/vit_small.safetensors):
// embedding and last-block tokens within 1e-4 x max|value|. The same model
// at one thread must give the same bits; with bf16 linears (and bf16
// global attention) the embedding stays within 1% relative Frobenius error.
//
// Loader tests: presets parse, a preset mismatch, an unknown arch, a wrong
// model kind, a missing tensor, a wrong shape and an extra tensor are each a
// clear error.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/io/json.hpp"
#include "rsfiqa/io/safetensors.hpp"
#include "rsfiqa/models/sam/vit.hpp"
#include "test_vit_util.hpp"

using namespace rsfiqa;

namespace {

const std::string kGolden = RSFIQA_TEST_DATA_DIR "/golden/vit_small.safetensors";

struct Golden {
  io::SafeTensorsFile file;
  sam::VitConfig config;
  std::map<int64_t, int64_t> rel_len;
  std::string config_text;
};

Golden load_golden() {
  Golden g;
  auto f = io::SafeTensorsFile::open(kGolden);
  REQUIRE_MESSAGE(f.ok(), f.status().to_string());
  g.file = std::move(*f);
  g.config_text = g.file.metadata().at("config");
  auto c = sam::vit_config_from_json(g.config_text);
  REQUIRE_MESSAGE(c.ok(), c.status().to_string());
  g.config = *c;
  auto rl = io::parse_json(g.file.metadata().at("rel_pos_lengths"));
  REQUIRE(rl.ok());
  for (size_t i = 0; i < rl->size(); ++i) {
    // Object members: block index (string key) -> stored length.
    g.rel_len[std::stoll(rl->keys()[i])] = (*rl)[i].as_int();
  }
  return g;
}

struct RunResult {
  std::vector<float> embedding, tokens;
};

RunResult run_model(const std::vector<uint8_t>& bytes, const sam::VitConfig& c, const sam::VitOptions& opt) {
  auto st = io::SafeTensorsFile::from_memory(bytes.data(), bytes.size());
  REQUIRE_MESSAGE(st.ok(), st.status().to_string());
  auto m = sam::Vit::from_file(std::move(*st), opt);
  REQUIRE_MESSAGE(m.ok(), m.status().to_string());
  auto ws = m->make_workspace();
  REQUIRE(ws.ok());
  std::vector<float> img = vit_test::random_input(c.img_size);
  sam::VitOutput out;
  Status s = m->forward(TensorView(img.data(), DType::kF32, Shape{3, c.img_size, c.img_size}), &*ws, &out);
  REQUIRE_MESSAGE(s.ok(), s.to_string());
  RunResult r;
  r.embedding.assign(out.embedding.f32(), out.embedding.f32() + out.embedding.shape.numel());
  r.tokens.assign(out.tokens.f32(), out.tokens.f32() + out.tokens.shape.numel());
  return r;
}

std::vector<float> golden_tensor(const io::SafeTensorsFile& f, const char* name, const Shape& want) {
  const io::SafeTensorInfo* t = f.find(name);
  REQUIRE(t != nullptr);
  REQUIRE_MESSAGE(t->shape == want, name, " ", t->shape.to_string());
  auto v = io::SafeTensorsFile::to_f32(*t);
  REQUIRE(v.ok());
  return std::vector<float>(v->f32(), v->f32() + v->numel());
}

// max |a - b| / max |b|
double rel_max_err(const std::vector<float>& a, const std::vector<float>& b) {
  double e = 0, m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    e = std::max(e, (double)std::fabs(a[i] - b[i]));
    m = std::max(m, (double)std::fabs(b[i]));
  }
  return e / m;
}

double rel_frobenius(const std::vector<float>& a, const std::vector<float>& b) {
  double e = 0, n = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    e += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    n += (double)b[i] * b[i];
  }
  return std::sqrt(e / n);
}

}  // namespace

TEST_CASE("vit: reduced model matches the PyTorch reference") {
  Golden g = load_golden();
  const sam::VitConfig& c = g.config;
  CHECK(c.depth == 2);
  CHECK(c.grid() % c.window_size != 0);  // the windowed block pads
  REQUIRE(g.rel_len.count(1));
  CHECK(g.rel_len[1] != 2 * c.grid() - 1);  // the global block resamples its tables
  const std::vector<uint8_t> bytes = vit_test::random_vit_file(c, g.rel_len, g.config_text);
  const std::vector<float> want_emb = golden_tensor(g.file, "embedding", Shape{c.out_chans, c.grid(), c.grid()});
  const std::vector<float> want_tok = golden_tensor(g.file, "tokens", Shape{c.grid() * c.grid(), c.embed_dim});

  const int threads = get_num_threads();
  RunResult r = run_model(bytes, c, sam::VitOptions());
  const double e_emb = rel_max_err(r.embedding, want_emb), e_tok = rel_max_err(r.tokens, want_tok);
  MESSAGE("embedding max err / max|v| = " << e_emb << ", tokens " << e_tok);
  CHECK(e_emb <= 1e-4);
  CHECK(e_tok <= 1e-4);

  SUBCASE("one thread gives the same bits") {
    set_num_threads(1);
    RunResult r1 = run_model(bytes, c, sam::VitOptions());
    set_num_threads(threads);
    CHECK(std::memcmp(r1.embedding.data(), r.embedding.data(), r.embedding.size() * sizeof(float)) == 0);
  }
  SUBCASE("bf16 linears (and global attention) stay within 1% (Frobenius)") {
    sam::VitOptions o;
    o.bf16_linears = true;
    RunResult rb = run_model(bytes, c, o);
    const double fe = rel_frobenius(rb.embedding, want_emb);
    o.bf16_attention = true;
    RunResult ra = run_model(bytes, c, o);
    const double fa = rel_frobenius(ra.embedding, want_emb);
    MESSAGE("bf16 embedding relative Frobenius error: linears " << fe << ", linears + attention " << fa);
    CHECK(fe <= 0.01);
    CHECK(fa <= 0.01);
    CHECK(fe > 0.0);  // the options really change the arithmetic
    CHECK(fa != fe);
  }
}

TEST_CASE("vit: presets parse and are cross-checked") {
  for (const sam::VitConfig& p : {sam::VitConfig::vit_b(), sam::VitConfig::vit_l(), sam::VitConfig::vit_h()}) {
    auto c = sam::vit_config_from_json(vit_test::config_json(p));
    REQUIRE_MESSAGE(c.ok(), c.status().to_string());
    CHECK(c->embed_dim == p.embed_dim);
    CHECK(c->global_attn_indexes == p.global_attn_indexes);
  }
  CHECK(sam::VitConfig::vit_l().embed_dim == 1024);
  CHECK(sam::VitConfig::vit_h().depth == 32);
  sam::VitConfig bad = sam::VitConfig::vit_b();
  bad.num_heads = 8;
  auto r = sam::vit_config_from_json(vit_test::config_json(bad));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("num_heads") != std::string::npos);
  bad = sam::VitConfig::vit_l();
  bad.global_attn_indexes = {5, 11, 17, 22};
  CHECK_FALSE(sam::vit_config_from_json(vit_test::config_json(bad)).ok());
  bad = sam::VitConfig::vit_b();
  bad.arch = "vit_g";
  r = sam::vit_config_from_json(vit_test::config_json(bad));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ErrorCode::kUnsupportedType);
  bad = sam::VitConfig::vit_b();
  bad.arch = "custom";
  bad.num_heads = 7;  // 768 is not a multiple of 7
  CHECK_FALSE(sam::vit_config_from_json(vit_test::config_json(bad)).ok());
}

TEST_CASE("vit: loader errors name the cause") {
  sam::VitConfig c;
  c.arch = "custom";
  c.img_size = 64;
  c.patch_size = 16;
  c.embed_dim = 32;
  c.depth = 2;
  c.num_heads = 2;
  c.mlp_dim = 64;
  c.out_chans = 16;
  c.window_size = 3;
  c.global_attn_indexes = {1};
  const std::vector<uint8_t> good = vit_test::random_vit_file(c);
  auto load = [](const std::vector<uint8_t>& b) -> Status {
    auto st = io::SafeTensorsFile::from_memory(b.data(), b.size());
    if (!st.ok()) return st.status();
    auto m = sam::Vit::from_file(std::move(*st));
    return m.ok() ? Status() : m.status();
  };
  CHECK(load(good).ok());

  // Rewrites the file through the writer with one change.
  auto edited = [&](const std::string& drop, const std::string& reshape, const std::string& extra,
                    const std::string& kind, const std::string& nan = "") {
    auto st = io::SafeTensorsFile::from_memory(good.data(), good.size());
    REQUIRE(st.ok());
    io::SafeTensorsWriter w;
    for (const auto& kv : st->metadata()) w.add_metadata(kv.first, kv.second);
    if (!kind.empty()) w.add_metadata("rsfiqa.model", kind);
    for (const io::SafeTensorInfo& t : st->tensors()) {
      if (t.name == drop) continue;
      if (t.name == reshape) {
        std::vector<float> z((size_t)t.shape.numel() + 1, 0.0f);
        REQUIRE(w.add(t.name, DType::kF32, Shape{t.shape.numel() + 1}, z.data(), z.size() * 4).ok());
        continue;
      }
      if (t.name == nan) {  // zeros with a NaN at element 5
        std::vector<float> z((size_t)t.shape.numel(), 0.0f);
        z[5] = std::nanf("");
        REQUIRE(w.add(t.name, DType::kF32, t.shape, z.data(), z.size() * 4).ok());
        continue;
      }
      REQUIRE(w.add(t.name, t.dtype, t.shape, t.data, (size_t)t.nbytes).ok());
    }
    if (!extra.empty()) {
      float one = 1.0f;
      REQUIRE(w.add(extra, DType::kF32, Shape{1}, &one, 4).ok());
    }
    auto bytes = w.serialize();
    REQUIRE(bytes.ok());
    return *bytes;
  };
  Status s = load(edited("image_encoder.blocks.1.attn.rel_pos_w", "", "", ""));
  CHECK(s.code() == ErrorCode::kNotFound);
  CHECK(s.message().find("blocks.1.attn.rel_pos_w") != std::string::npos);
  s = load(edited("", "image_encoder.blocks.0.mlp.lin1.weight", "", ""));
  CHECK(s.code() == ErrorCode::kShapeMismatch);
  CHECK(s.message().find("mlp.lin1.weight") != std::string::npos);
  s = load(edited("", "", "image_encoder.blocks.2.norm1.weight", ""));
  CHECK(s.code() == ErrorCode::kMalformed);
  CHECK(s.message().find("unexpected tensor") != std::string::npos);
  s = load(edited("", "", "", "tinyvit_sam.image_encoder"));
  CHECK(s.code() == ErrorCode::kUnsupportedType);
  s = load(edited("", "", "", "", "image_encoder.blocks.1.mlp.lin2.weight"));
  CHECK(s.code() == ErrorCode::kMalformed);
  CHECK(s.message().find("'image_encoder.blocks.1.mlp.lin2.weight' has a non-finite value at 5") != std::string::npos);
  // A wrong-length rel-pos table is accepted (resampled), a wrong head_dim is not.
  std::vector<uint8_t> longer = vit_test::random_vit_file(c, {{0, 9}, {1, 3}});
  CHECK(load(longer).ok());
  // A wrong input shape is an error, not a crash.
  auto st = io::SafeTensorsFile::from_memory(good.data(), good.size());
  REQUIRE(st.ok());
  auto m = sam::Vit::from_file(std::move(*st));
  REQUIRE(m.ok());
  auto ws = m->make_workspace();
  REQUIRE(ws.ok());
  std::vector<float> img(3 * 32 * 32, 0.0f);
  sam::VitOutput out;
  CHECK(m->forward(TensorView(img.data(), DType::kF32, Shape{3, 32, 32}), &*ws, &out).code() ==
        ErrorCode::kShapeMismatch);
}

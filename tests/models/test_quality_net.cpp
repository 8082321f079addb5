// SPDX-License-Identifier: MIT
// Tests for models/quality/quality_net.hpp: parity with the PyTorch twin
// (tools/train/model.py, masked dense attention, float64) on random weights,
// features and region maps for the three RSA variants and the full config
// (goldens from tools/train/make_quality_golden.py; max abs error <= 1e-4 on
// scores, issue 4 item 5); results do not depend on the thread count; bad
// input (wrong architecture, missing or mis-shaped tensors, region map of
// the wrong size, labels out of range, non-finite features) gives clear
// errors; empty regions never produce NaN.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/io/safetensors.hpp"
#include "rsfiqa/models/quality/quality_net.hpp"

using namespace rsfiqa;
using quality::QualityNet;
using quality::QualityOutput;

namespace {

std::string golden(const std::string& name) { return std::string(RSFIQA_TEST_DATA_DIR) + "/golden/quality/" + name; }

struct Io {
  std::vector<float> features;
  int64_t n = 0, cols = 0;
  std::vector<int32_t> labels;
  int32_t k = 0;
  io::SafeTensorsFile file;
};

Io load_io(const std::string& name) {
  Io io;
  auto f = io::SafeTensorsFile::open(golden(name + ".io.safetensors"));
  REQUIRE_MESSAGE(f.ok(), f.status().to_string());
  io.file = std::move(*f);
  auto feats = io.file.to_f32("features");
  REQUIRE(feats.ok());
  io.n = feats->shape()[0];
  io.cols = feats->shape()[1];
  io.features.assign(feats->f32(), feats->f32() + feats->numel());
  auto lab = io.file.to_f32("labels");
  REQUIRE(lab.ok());
  for (int64_t i = 0; i < lab->numel(); ++i) io.labels.push_back((int32_t)lab->f32()[i]);
  auto k = io.file.to_f32("num_regions");
  REQUIRE(k.ok());
  io.k = (int32_t)k->f32()[0];
  return io;
}

std::vector<float> tensor(const io::SafeTensorsFile& f, const char* name) {
  auto t = f.to_f32(name);
  REQUIRE_MESSAGE(t.ok(), t.status().to_string());
  return std::vector<float>(t->f32(), t->f32() + t->numel());
}

// Runs the net on a golden and returns the largest absolute error over all
// scores (quality 0..100, profiles and weights 0..1).
double parity_error(const std::string& name) {
  auto net = QualityNet::load(golden(name + ".weights.safetensors"));
  REQUIRE_MESSAGE(net.ok(), net.status().to_string());
  Io io = load_io(name);
  QualityOutput out;
  Status st = net->forward(io.features.data(), io.n, io.cols, io.labels.data(), (int64_t)io.labels.size(), io.k, &out);
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  REQUIRE(out.regions.size() == (size_t)io.k);
  const std::vector<float> q = tensor(io.file, "quality"), p = tensor(io.file, "profile"),
                           rq = tensor(io.file, "region_quality"), rp = tensor(io.file, "region_profile"),
                           rw = tensor(io.file, "region_weight"), rt = tensor(io.file, "region_tokens");
  double err = std::fabs(out.quality - q[0]);
  for (int d = 0; d < quality::kProfileDims; ++d) err = std::max(err, (double)std::fabs(out.profile[d] - p[d]));
  for (int32_t k = 0; k < io.k; ++k) {
    const quality::RegionQuality& r = out.regions[(size_t)k];
    CHECK(r.tokens == (int64_t)rt[(size_t)k]);
    CHECK(std::isfinite(r.quality));
    err = std::max(err, (double)std::fabs(r.quality - rq[(size_t)k]));
    err = std::max(err, (double)std::fabs(r.weight - rw[(size_t)k]));
    for (int d = 0; d < quality::kProfileDims; ++d)
      err = std::max(err, (double)std::fabs(r.profile[d] - rp[(size_t)(k * quality::kProfileDims + d)]));
  }
  // The goldens include an empty label (weight 0, global scores).
  bool saw_empty = false;
  for (const auto& r : out.regions)
    if (r.tokens == 0) {
      saw_empty = true;
      CHECK(r.weight == 0.f);
      CHECK(r.quality == out.quality);
    }
  CHECK(saw_empty);
  return err;
}

// The tiny strict golden, as an in-memory file with edits applied.
Result<QualityNet> load_edited(const std::string& model_kind, const std::string& drop, const std::string& reshape,
                               std::vector<uint8_t>* bytes) {
  auto src = io::SafeTensorsFile::open(golden("tiny_strict.weights.safetensors"));
  REQUIRE(src.ok());
  io::SafeTensorsWriter w;
  for (const auto& kv : src->metadata()) w.add_metadata(kv.first, kv.first == "rsfiqa.model" ? model_kind : kv.second);
  for (const io::SafeTensorInfo& t : src->tensors()) {
    if (t.name == drop) continue;
    Shape s = t.shape;
    if (t.name == reshape) s = Shape{t.shape.numel()};
    if (t.name == reshape && t.shape.ndim == 1) s = Shape{1, t.shape.numel()};
    REQUIRE(w.add(t.name, t.dtype, s, t.data, (size_t)t.nbytes).ok());
  }
  auto ser = w.serialize();
  REQUIRE(ser.ok());
  *bytes = std::move(*ser);
  RSFIQA_ASSIGN_OR_RETURN(io::SafeTensorsFile f, io::SafeTensorsFile::from_memory(bytes->data(), bytes->size()));
  return QualityNet::from_file(f);
}

}  // namespace

TEST_CASE("quality net: parity with the PyTorch twin (masked dense attention, float64)") {
  for (const char* name : {"tiny_strict", "tiny_strict_global", "tiny_bias", "full_strict"}) {
    CAPTURE(name);
    const double err = parity_error(name);
    MESSAGE(std::string(name) << " max abs error " << err);
    CHECK(err <= 1e-4);
  }
}

TEST_CASE("quality net: same result with 1 and 2 threads") {
  auto net = QualityNet::load(golden("full_strict.weights.safetensors"));
  REQUIRE(net.ok());
  Io io = load_io("full_strict");
  QualityOutput a, b;
  const int saved = get_num_threads();
  set_num_threads(1);
  REQUIRE(net->forward(io.features.data(), io.n, io.cols, io.labels.data(), io.n, io.k, &a).ok());
  set_num_threads(2);
  REQUIRE(net->forward(io.features.data(), io.n, io.cols, io.labels.data(), io.n, io.k, &b).ok());
  set_num_threads(saved);
  CHECK(std::fabs(a.quality - b.quality) <= 1e-5f);
  for (size_t k = 0; k < a.regions.size(); ++k) CHECK(std::fabs(a.regions[k].quality - b.regions[k].quality) <= 1e-4f);
}

TEST_CASE("quality net: config and parameter count") {
  auto net = QualityNet::load(golden("full_strict.weights.safetensors"));
  REQUIRE(net.ok());
  const quality::QualityConfig& c = net->config();
  CHECK(c.dim == quality::QualityConfig::full().dim);
  CHECK(c.n_in() == quality::QualityConfig::full().n_in());
  // Round trip of the config JSON.
  auto back = quality::quality_config_from_json(quality::quality_config_to_json(c));
  REQUIRE(back.ok());
  CHECK(back->depth == c.depth);
  CHECK(back->variant == c.variant);
  CHECK(quality::quality_param_count(c) > 0);
}

TEST_CASE("quality net: bad weights files") {
  std::vector<uint8_t> bytes;
  auto other = load_edited("rsfiqa_tinyvit", "", "", &bytes);
  REQUIRE_FALSE(other.ok());
  CHECK(other.status().code() == ErrorCode::kUnsupportedType);
  CHECK(other.status().message().find("another architecture") != std::string::npos);

  auto missing = load_edited("rsfiqa_quality", "blocks.1.attn.qkv.weight", "", &bytes);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == ErrorCode::kNotFound);
  CHECK(missing.status().message().find("blocks.1.attn.qkv.weight") != std::string::npos);

  auto shaped = load_edited("rsfiqa_quality", "", "in_proj.weight", &bytes);
  REQUIRE_FALSE(shaped.ok());
  CHECK(shaped.status().code() == ErrorCode::kShapeMismatch);
  CHECK(shaped.status().message().find("in_proj.weight") != std::string::npos);

  auto bad_cfg = quality::quality_config_from_json(
      "{\"arch\":\"rsfiqa_quality\",\"feature_set\":\"x\",\"n_deep\":4,"
      "\"n_low\":2,\"dim\":10,\"depth\":1,\"heads\":3,\"mlp_ratio\":2,"
      "\"head_hidden\":4,\"variant\":\"strict\",\"ln_eps\":1e-5}");
  REQUIRE_FALSE(bad_cfg.ok());
  CHECK(bad_cfg.status().message().find("multiple of heads") != std::string::npos);

  auto bad_variant = quality::quality_config_from_json(
      "{\"arch\":\"rsfiqa_quality\",\"feature_set\":\"x\",\"n_deep\":4,\"n_low\":2,\"dim\":8,\"depth\":1,\"heads\":2,"
      "\"mlp_ratio\":2,\"head_hidden\":4,\"variant\":\"sparse\",\"ln_eps\":1e-5}");
  REQUIRE_FALSE(bad_variant.ok());
  CHECK(bad_variant.status().message().find("unknown RSA variant") != std::string::npos);
}

TEST_CASE("quality net: bad inputs give clear errors, never NaN") {
  auto net = QualityNet::load(golden("tiny_strict.weights.safetensors"));
  REQUIRE(net.ok());
  Io io = load_io("tiny_strict");
  QualityOutput out;

  // Region map of the wrong size.
  Status st = net->forward(io.features.data(), io.n, io.cols, io.labels.data(), io.n - 1, io.k, &out);
  CHECK(st.code() == ErrorCode::kShapeMismatch);
  CHECK(st.message().find("region map") != std::string::npos);

  // Feature width of another feature set.
  st = net->forward(io.features.data(), io.n, io.cols - 1, io.labels.data(), io.n, io.k, &out);
  CHECK(st.code() == ErrorCode::kShapeMismatch);

  // Labels out of range.
  std::vector<int32_t> lab = io.labels;
  lab[5] = io.k;
  st = net->forward(io.features.data(), io.n, io.cols, lab.data(), io.n, io.k, &out);
  CHECK(st.code() == ErrorCode::kInvalidArgument);
  CHECK(st.message().find("token 5") != std::string::npos);
  lab[5] = -1;
  CHECK(net->forward(io.features.data(), io.n, io.cols, lab.data(), io.n, io.k, &out).code() ==
        ErrorCode::kInvalidArgument);
  CHECK(net->forward(io.features.data(), io.n, io.cols, io.labels.data(), io.n, 0, &out).code() ==
        ErrorCode::kInvalidArgument);

  // Non-finite features.
  std::vector<float> f = io.features;
  f[7] = NAN;
  st = net->forward(f.data(), io.n, io.cols, io.labels.data(), io.n, io.k, &out);
  CHECK(st.code() == ErrorCode::kInvalidArgument);
  CHECK(st.message().find("not finite") != std::string::npos);

  // No tokens.
  CHECK(net->forward(io.features.data(), 0, io.cols, io.labels.data(), 0, io.k, &out).code() == ErrorCode::kEmptyInput);

  // Many empty regions (labels use 2 of 1000 ids): finite, weights sum to 1.
  std::vector<int32_t> two(io.labels.size());
  for (size_t i = 0; i < two.size(); ++i) two[i] = i < two.size() / 2 ? 3 : 997;
  REQUIRE(net->forward(io.features.data(), io.n, io.cols, two.data(), io.n, 1000, &out).ok());
  double wsum = 0;
  for (const auto& r : out.regions) {
    CHECK(std::isfinite(r.quality));
    wsum += r.weight;
  }
  CHECK(std::fabs(wsum - 1.0) < 1e-5);
  CHECK(out.regions[0].weight == 0.f);
  CHECK(out.regions[3].tokens == (int64_t)(two.size() / 2));
}

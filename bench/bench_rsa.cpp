// SPDX-License-Identifier: MIT
// Benchmark of Region-aware Semantic Attention (ops/region_attention.hpp) at
// the quality network's shape: a 64 x 64 token grid (N = 4096), d = 256,
// 8 heads of 32, and 16 regions with SAM-like sizes. It times the fast
// (sorted block) form against masked dense attention in the same binary at 1
// and 2 threads, measures the machine's FMA peak with the register-only probe
// of kernels/gemm_peak.hpp, and prints a summary table of medians:
// GFLOP/s, fraction of peak, speedup over masked dense and the theoretical
// speedup N^2 / sum_k n_k^2.
//
// Region sizes: Zipf with exponent 1 over 16 ranks, n_k ~ N / (k * H_16),
// H_16 = sum_{k=1..16} 1/k, rounded, the rounding remainder given to the
// largest region. That gives the "sky ~30%, ~15%, ~10%, then many small"
// shape of SAM's automatic partition of a photo:
//   1211 606 404 303 242 202 173 151 135 121 110 101 93 87 81 76 (sum 4096),
// sum n_k^2 = 2,324,602 and N^2 / sum n_k^2 = 7.22 (the summary prints both).
// Layout: region 0 fills the top rows in raster order (a sky); the others
// fill the rest of the grid column by column, so regions are spatially
// coherent strips and the sort really permutes rows.
//
// Flops counted for the fast form: 4 * sum_k n_k^2 * d_h per head (2 for
// Q Kᵀ, 2 for P V; softmax not counted); strict+global adds the N x G
// summary pairs; bias and masked dense count all N x (N + G) pairs.
//
// Two summary tables follow the usual output. The first is in wall-clock time:
// medians, GFLOP/s, the fraction of an FMA peak probed right after each run,
// and the speedup over masked dense. The second is in process CPU time, which
// stays meaningful on a shared machine. Its "vs bias-fast" column compares
// with the bias variant's fast form. That form is dense attention over all
// N^2 pairs with the same kernel and no materialised mask, so it is the
// strongest dense baseline in this binary, and it isolates the gain of the
// sparsity from the masked form's memory traffic.
//
// Run: rsfiqa_bench_rsa --benchmark_repetitions=5 (the summary uses medians).
// On a shared machine, OMP_WAIT_POLICY=passive keeps OpenMP's spinning waits
// (a thread waiting for a descheduled partner) out of the CPU-time figures.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "rsfiqa/core/cpu.hpp"
#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/kernels/gemm_peak.hpp"
#include "rsfiqa/ops/region_attention.hpp"

using namespace rsfiqa;
using ops::RegionAttentionVariant;

namespace {

constexpr int kGrid = 64, kN = kGrid * kGrid, kDim = 256, kHeads = 8, kHeadDim = 32, kRegions = 16;

std::vector<int64_t> region_sizes() {
  double h16 = 0;
  for (int k = 1; k <= kRegions; ++k) h16 += 1.0 / k;
  std::vector<int64_t> s;
  int64_t total = 0;
  for (int k = 1; k <= kRegions; ++k) {
    s.push_back((int64_t)std::lround(kN / (k * h16)));
    total += s.back();
  }
  s[0] += kN - total;
  return s;
}

std::vector<int32_t> region_labels(const std::vector<int64_t>& sizes) {
  std::vector<int32_t> lab(kN, -1);
  std::vector<int> order;  // raster for region 0, then column-major for the rest
  for (int i = 0; i < sizes[0]; ++i) order.push_back(i);
  for (int x = 0; x < kGrid; ++x)
    for (int y = 0; y < kGrid; ++y)
      if (y * kGrid + x >= sizes[0]) order.push_back(y * kGrid + x);
  size_t p = 0;
  for (int k = 0; k < kRegions; ++k)
    for (int64_t t = 0; t < sizes[(size_t)k]; ++t) lab[(size_t)order[p++]] = k;
  return lab;
}

struct Problem {
  std::vector<int64_t> sizes = region_sizes();
  std::vector<int32_t> labels = region_labels(sizes);
  std::vector<float> qkv, out;
  std::vector<float> betas = std::vector<float>(kHeads, 2.0f);
  double sum_sq = 0;
  Problem() {
    std::mt19937 rng(42);
    std::normal_distribution<float> nd(0.f, 1.f);
    qkv.resize((size_t)kN * 3 * kDim);
    for (float& x : qkv) x = nd(rng);
    out.resize((size_t)kN * kDim);
    for (int64_t s : sizes) sum_sq += (double)s * (double)s;
  }
  // Query-key pairs each form touches, per head.
  double pairs(RegionAttentionVariant v, bool dense) const {
    const double g = v == RegionAttentionVariant::kStrictGlobal ? kRegions : 0;
    if (dense || v == RegionAttentionVariant::kBias) return (double)kN * (kN + g);
    return sum_sq + (double)kN * g;
  }
};

Problem& problem() {
  static Problem p;
  return p;
}

ops::RegionAttentionWorkspace& workspace() {
  static ops::RegionAttentionWorkspace ws;
  return ws;
}

const RegionAttentionVariant kVariantOf[] = {RegionAttentionVariant::kStrict, RegionAttentionVariant::kStrictGlobal,
                                             RegionAttentionVariant::kBias};

// Practical FMA peak in GFLOP/s on `threads` threads: median of `reps`
// probes of 2^iters_log2 iterations each.
double fma_peak_gflops(int threads, int reps = 7, int iters_log2 = 22) {
#if RSFIQA_X86_SIMD
  if ((int)cpu_best_isa() < (int)Isa::kAvx2) return 0;
  const bool avx512 = cpu_best_isa() == Isa::kAvx512;
  std::vector<double> rates;
  std::vector<float> sinks((size_t)threads, 0.f);
  for (int rep = 0; rep < reps; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<int64_t> done((size_t)threads, 0);
    parallel_for(
        threads,
        [&](int64_t b, int64_t e) {
          for (int64_t t = b; t < e; ++t)
            done[(size_t)t] = avx512 ? kernels::fma_peak_avx512(int64_t(1) << iters_log2, &sinks[(size_t)t])
                                     : kernels::fma_peak_avx2(int64_t(1) << iters_log2, &sinks[(size_t)t]);
        },
        1, threads);
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double flops = 0;
    for (int64_t d : done) flops += (double)d;
    rates.push_back(flops / sec * 1e-9);
  }
  benchmark::DoNotOptimize(sinks.data());
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
#else
  (void)threads;
  return 0;
#endif
}

// st.range(0): variant, st.range(1): threads.
template <bool kDense>
void BM_rsa(benchmark::State& st) {
  Problem& pb = problem();
  const RegionAttentionVariant v = kVariantOf[st.range(0)];
  set_num_threads((int)st.range(1));
  ops::RegionAttentionParams p;
  p.num_heads = kHeads;
  p.head_dim = kHeadDim;
  p.variant = v;
  p.bias_betas = pb.betas.data();
  const ops::RegionAttentionArgs a =
      ops::region_attention_args_packed(pb.qkv.data(), kN, kDim, pb.labels.data(), kRegions, pb.out.data());
  for (auto _ : st) {
    const Status s = kDense ? ops::region_attention_masked_dense(a, p, &workspace())
                            : ops::region_attention(a, p, &workspace());
    if (!s.ok()) {
      st.SkipWithError(s.to_string().c_str());
      break;
    }
    benchmark::ClobberMemory();
  }
  // The machine is shared: probe the FMA peak right after the timed loop, on
  // the same thread count, so the fraction of peak compares like with like.
  if (!kDense) st.counters["peak_GFLOPS"] = fma_peak_gflops((int)st.range(1), 3, 20);
  set_num_threads(0);
  const double flops = 4.0 * pb.pairs(v, kDense) * kHeadDim * kHeads;
  st.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9 * (double)st.iterations(), benchmark::Counter::kIsRate);
  st.counters["pairs_ratio"] = pb.pairs(v, true) / pb.pairs(v, kDense);
  st.SetLabel(std::string(ops::region_attention_variant_name(v)) + (kDense ? " masked_dense" : " fast"));
}

void args(benchmark::internal::Benchmark* b) {
  for (int v = 0; v < 3; ++v)
    for (int t : {1, 2}) b->Args({v, t});
  b->ArgNames({"variant", "threads"})->UseRealTime()->MeasureProcessCPUTime()->Unit(benchmark::kMillisecond);
}

BENCHMARK_TEMPLATE(BM_rsa, false)->Name("BM_rsa_fast")->Apply(args);
BENCHMARK_TEMPLATE(BM_rsa, true)->Name("BM_rsa_masked_dense")->Apply(args);

// FMA peak of one core per CPU-second: the probe on one thread, timed with the
// thread's CPU clock, so time the scheduler gives to other processes is not
// counted. Median of 7.
double fma_peak_cpu_gflops() {
#if RSFIQA_X86_SIMD && defined(CLOCK_THREAD_CPUTIME_ID)
  if ((int)cpu_best_isa() < (int)Isa::kAvx2) return 0;
  const bool avx512 = cpu_best_isa() == Isa::kAvx512;
  std::vector<double> rates;
  float sink = 0.f;
  for (int rep = 0; rep < 7; ++rep) {
    timespec t0{}, t1{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    const int64_t flops = avx512 ? kernels::fma_peak_avx512(int64_t(1) << 22, &sink)
                                 : kernels::fma_peak_avx2(int64_t(1) << 22, &sink);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    const double sec = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    rates.push_back((double)flops / sec * 1e-9);
  }
  benchmark::DoNotOptimize(sink);
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
#else
  return 0;
#endif
}

// Console output as usual, and the medians kept for the summary.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  std::map<std::string, double> median_ms, cpu_ms, gflops, peak;
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.error_occurred) continue;
      const bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      const bool single = r.run_type == Run::RT_Iteration && r.repetitions <= 1;
      if (!median && !single) continue;
      const std::string key = r.run_name.str();
      median_ms[key] = r.GetAdjustedRealTime();
      cpu_ms[key] = r.GetAdjustedCPUTime();  // process CPU time (all threads)
      auto it = r.counters.find("GFLOPS");
      if (it != r.counters.end()) gflops[key] = it->second.value;
      it = r.counters.find("peak_GFLOPS");
      if (it != r.counters.end()) peak[key] = it->second.value;
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const double peak1 = fma_peak_gflops(1), peak2 = fma_peak_gflops(2), peak_cpu = fma_peak_cpu_gflops();
  SummaryReporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);

  const Problem& pb = problem();
  std::printf("\nRSA benchmark summary (N=%d, d=%d, heads=%d, d_h=%d, %d regions, isa %s)\n", kN, kDim, kHeads,
              kHeadDim, kRegions, isa_name(active_isa()));
  std::printf("region sizes:");
  for (int64_t s : pb.sizes) std::printf(" %lld", (long long)s);
  std::printf("\nsum n_k^2 = %.0f, N^2 / sum n_k^2 = %.3f\n", pb.sum_sq, (double)kN * kN / pb.sum_sq);
  std::printf("FMA peak before the runs: %.1f GFLOP/s (1 thread), %.1f GFLOP/s (2 threads)\n", peak1, peak2);
  std::printf("%%peak uses the median of the probes taken right after each fast run (peak column)\n");
  std::printf("%-14s %7s %9s %9s %8s %8s %8s %7s %8s %8s %8s\n", "variant", "threads", "fast ms", "dense ms",
              "GFLOP/s", "dense GF", "peak", "%peak", "speedup", "theory", "target");
  for (int v = 0; v < 3; ++v)
    for (int t : {1, 2}) {
      const std::string suffix = "/variant:" + std::to_string(v) + "/threads:" + std::to_string(t) + "/process_time/real_time";
      const std::string fk = "BM_rsa_fast" + suffix, dk = "BM_rsa_masked_dense" + suffix;
      if (!rep.median_ms.count(fk)) continue;
      const double fast = rep.median_ms[fk];
      const double dense = rep.median_ms.count(dk) ? rep.median_ms[dk] : NAN;
      const double theory = pb.pairs(kVariantOf[v], true) / pb.pairs(kVariantOf[v], false);
      const double peak = rep.peak.count(fk) ? rep.peak[fk] : (t == 1 ? peak1 : peak2);
      const double gf = rep.gflops[fk], dgf = rep.gflops.count(dk) ? rep.gflops[dk] : NAN;
      std::printf("%-14s %7d %9.2f %9.2f %8.1f %8.1f %8.1f %6.1f%% %7.2fx %7.2fx %7.2fx\n",
                  ops::region_attention_variant_name(kVariantOf[v]), t, fast, dense, gf, dgf, peak,
                  peak > 0 ? 100.0 * gf / peak : NAN, dense / fast, theory, 0.7 * theory);
    }

  // The same runs measured in process CPU time (the sum over threads): robust
  // when the machine is shared, since time given to other processes is not
  // counted. Efficiency = flops / CPU-seconds / one core's CPU-time peak.
  std::printf("\nCPU-time view: one core's FMA peak per CPU-second %.1f GFLOP/s\n", peak_cpu);
  std::printf("%-14s %7s %9s %9s %10s %9s %8s %14s\n", "variant", "threads", "fast cpu", "dense cpu", "GFLOP/cpu-s",
              "eff", "speedup", "vs bias-fast");
  for (int v = 0; v < 3; ++v)
    for (int t : {1, 2}) {
      const std::string suffix = "/variant:" + std::to_string(v) + "/threads:" + std::to_string(t) + "/process_time/real_time";
      const std::string fk = "BM_rsa_fast" + suffix, dk = "BM_rsa_masked_dense" + suffix;
      const std::string bk = "BM_rsa_fast/variant:2/threads:" + std::to_string(t) + "/process_time/real_time";
      if (!rep.cpu_ms.count(fk)) continue;
      const double fast = rep.cpu_ms[fk];
      const double dense = rep.cpu_ms.count(dk) ? rep.cpu_ms[dk] : NAN;
      const double bias_fast = rep.cpu_ms.count(bk) ? rep.cpu_ms[bk] : NAN;
      const double gf = 4.0 * pb.pairs(kVariantOf[v], false) * kHeadDim * kHeads / (fast * 1e-3) * 1e-9;
      std::printf("%-14s %7d %9.2f %9.2f %10.1f %8.1f%% %7.2fx %13.2fx\n",
                  ops::region_attention_variant_name(kVariantOf[v]), t, fast, dense, gf,
                  peak_cpu > 0 ? 100.0 * gf / peak_cpu : NAN, dense / fast, bias_fast / fast);
    }
  benchmark::Shutdown();
  return 0;
}

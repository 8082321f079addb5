// SPDX-License-Identifier: MIT
// GEMM benchmark at the model shapes of issue 2, read against two yardsticks
// in the same binary: Eigen's GEMM (the peer) and the machine's measured FMA
// peak (a register-only loop of independent FMAs), so every figure can be
// quoted as GFLOP/s, a fraction of peak and a ratio to Eigen.
//
//   BM_gemm_f32/M/N/K/threads        rsfiqa gemm_f32, NT (PyTorch weight) layout
//   BM_gemm_f32_nn/M/N/K/threads     the same with B stored K x N
//   BM_gemm_f32_bf16w/M/N/K/threads  bf16 weights (NT)
//   BM_gemm_f32_packed/M/N/K/threads weights packed once outside the loop
//   BM_gemm_bf16_f32acc/M/N/K/threads A rounded to bf16, bf16 weights (VDPBF16PS)
//   BM_gemm_eigen/M/N/K/threads      Eigen, NT layout (Map<RowMajor> · transpose)
//   BM_gemm_f32_ref/M/N/K/1          the scalar reference (small shape only)
//   BM_fma_peak_avx512/threads, BM_fma_peak_avx2/threads
//
// The counter GFLOPS is 2·M·N·K per iteration over wall time (1e9 flop/s).
// Eigen is compiled in its own TU (eigen_native_gemm.cpp), with -march=native
// when RSFIQA_BENCH_NATIVE_EIGEN is set (its best case), and runs its own
// OpenMP threads. rsfiqa's labels name the kernel that ran (dispatch.hpp).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "rsfiqa/core/cpu.hpp"
#include "rsfiqa/core/dtype.hpp"
#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/kernels/dispatch.hpp"
#include "rsfiqa/kernels/gemm.hpp"
#include "rsfiqa/kernels/gemm_peak.hpp"

// From eigen_native_gemm.cpp.
void eigen_gemm(int M, int N, int K, const float* A, const float* B, bool trans_b, float* C, int threads);
const char* eigen_simd_name();

namespace {

using namespace rsfiqa;
using namespace rsfiqa::kernels;

struct Operands {
  std::vector<float> A, B, C;
  std::vector<uint16_t> Bh;
};

Operands make_operands(int64_t M, int64_t N, int64_t K) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  Operands o;
  o.A.resize((size_t)(M * K));
  o.B.resize((size_t)(N * K));
  o.Bh.resize((size_t)(N * K));
  o.C.resize((size_t)(M * N));
  for (auto& x : o.A) x = u(rng);
  for (size_t i = 0; i < o.B.size(); ++i) {
    o.B[i] = u(rng);
    o.Bh[i] = f32_to_bf16(o.B[i]);
  }
  return o;
}

void set_flops(benchmark::State& st, int64_t M, int64_t N, int64_t K) {
  st.counters["GFLOPS"] =
      benchmark::Counter(2.0 * (double)M * (double)N * (double)K * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_gemm_f32(benchmark::State& st) {
  const int64_t M = st.range(0), N = st.range(1), K = st.range(2);
  set_num_threads((int)st.range(3));
  Operands o = make_operands(M, N, K);
  GemmParams p;
  for (auto _ : st) {
    gemm_f32(M, N, K, o.A.data(), K, o.B.data(), K, o.C.data(), N, p);
    benchmark::DoNotOptimize(o.C.data());
  }
  set_flops(st, M, N, K);
  st.SetLabel(gemm_f32_kernel_name());
  set_num_threads(0);
}

void BM_gemm_f32_nn(benchmark::State& st) {
  const int64_t M = st.range(0), N = st.range(1), K = st.range(2);
  set_num_threads((int)st.range(3));
  Operands o = make_operands(M, N, K);
  GemmParams p;
  p.trans_b = false;
  for (auto _ : st) {
    gemm_f32(M, N, K, o.A.data(), K, o.B.data(), N, o.C.data(), N, p);
    benchmark::DoNotOptimize(o.C.data());
  }
  set_flops(st, M, N, K);
  st.SetLabel(gemm_f32_kernel_name());
  set_num_threads(0);
}

void BM_gemm_f32_bf16w(benchmark::State& st) {
  const int64_t M = st.range(0), N = st.range(1), K = st.range(2);
  set_num_threads((int)st.range(3));
  Operands o = make_operands(M, N, K);
  for (auto _ : st) {
    gemm_f32_bf16w(M, N, K, o.A.data(), K, o.Bh.data(), K, o.C.data(), N);
    benchmark::DoNotOptimize(o.C.data());
  }
  set_flops(st, M, N, K);
  st.SetLabel(gemm_f32_bf16w_kernel_name());
  set_num_threads(0);
}

void BM_gemm_bf16_f32acc(benchmark::State& st) {
  const int64_t M = st.range(0), N = st.range(1), K = st.range(2);
  set_num_threads((int)st.range(3));
  Operands o = make_operands(M, N, K);
  for (auto _ : st) {
    gemm_bf16_f32acc(M, N, K, o.A.data(), K, o.Bh.data(), K, o.C.data(), N);
    benchmark::DoNotOptimize(o.C.data());
  }
  set_flops(st, M, N, K);
  st.SetLabel(gemm_bf16_f32acc_kernel_name());
  set_num_threads(0);
}

void BM_gemm_f32_packed(benchmark::State& st) {
  const int64_t M = st.range(0), N = st.range(1), K = st.range(2);
  set_num_threads((int)st.range(3));
  Operands o = make_operands(M, N, K);
  Result<PackedB> packed = pack_b(N, K, o.B.data(), K, true);
  if (!packed.ok()) {
    st.SkipWithError(packed.status().message().c_str());
    return;
  }
  for (auto _ : st) {
    const Status s = gemm_f32_packed(M, o.A.data(), K, packed.value(), o.C.data(), N);
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(o.C.data());
  }
  set_flops(st, M, N, K);
  st.SetLabel(std::string(gemm_f32_kernel_name()) + " prepacked");
  set_num_threads(0);
}

void BM_gemm_eigen(benchmark::State& st) {
  const int64_t M = st.range(0), N = st.range(1), K = st.range(2);
  const int threads = (int)st.range(3);
  Operands o = make_operands(M, N, K);
  for (auto _ : st) {
    eigen_gemm((int)M, (int)N, (int)K, o.A.data(), o.B.data(), true, o.C.data(), threads);
    benchmark::DoNotOptimize(o.C.data());
  }
  set_flops(st, M, N, K);
  std::string label = std::string("eigen ") + eigen_simd_name();
#if defined(RSFIQA_BENCH_NATIVE_EIGEN)
  label += " (-march=native)";
#endif
  st.SetLabel(label);
}

void BM_gemm_f32_ref(benchmark::State& st) {
  const int64_t M = st.range(0), N = st.range(1), K = st.range(2);
  Operands o = make_operands(M, N, K);
  for (auto _ : st) {
    gemm_f32_ref(M, N, K, o.A.data(), K, o.B.data(), K, o.C.data(), N);
    benchmark::DoNotOptimize(o.C.data());
  }
  set_flops(st, M, N, K);
  st.SetLabel("gemm_f32_ref");
}

// Runs the FMA probe on `threads` threads at once (one chunk each) and
// reports the total flop rate.
template <int64_t (*Probe)(int64_t, float*)>
void fma_peak(benchmark::State& st, const char* name) {
  const int threads = (int)st.range(0);
  constexpr int64_t kIters = 1 << 20;
  std::vector<float> sinks((size_t)threads, 0.0f);
  int64_t flops = 0;
  for (auto _ : st) {
    std::vector<int64_t> done((size_t)threads, 0);
    parallel_for(
        threads,
        [&](int64_t b, int64_t e) {
          for (int64_t t = b; t < e; ++t) done[(size_t)t] = Probe(kIters, &sinks[(size_t)t]);
        },
        1, threads);
    for (int64_t d : done) flops += d;
  }
  benchmark::DoNotOptimize(sinks.data());
  st.counters["GFLOPS"] = benchmark::Counter((double)flops * 1e-9, benchmark::Counter::kIsRate);
  st.SetLabel(name);
}

#if RSFIQA_X86_SIMD
void BM_fma_peak_avx512(benchmark::State& st) {
  if (cpu_best_isa() != Isa::kAvx512) {
    st.SkipWithError("no AVX-512 on this CPU");
    return;
  }
  fma_peak<&fma_peak_avx512>(st, "fma_peak_avx512");
}

void BM_fma_peak_avx2(benchmark::State& st) {
  if ((int)cpu_best_isa() < (int)Isa::kAvx2) {
    st.SkipWithError("no AVX2/FMA on this CPU");
    return;
  }
  fma_peak<&fma_peak_avx2>(st, "fma_peak_avx2");
}
#endif

// The model shapes of issue 2 (M, N, K).
const int64_t kShapes[][3] = {{4096, 256, 256}, {4096, 1024, 256}, {4096, 256, 1024}, {196, 480, 160}};

void shapes_and_threads(benchmark::internal::Benchmark* b) {
  for (const auto& s : kShapes)
    for (int t : {1, 2}) b->Args({s[0], s[1], s[2], t});
  b->ArgNames({"M", "N", "K", "threads"})->UseRealTime()->Unit(benchmark::kMillisecond);
}

}  // namespace

#if RSFIQA_X86_SIMD
BENCHMARK(BM_fma_peak_avx512)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime();
BENCHMARK(BM_fma_peak_avx2)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime();
#endif
BENCHMARK(BM_gemm_f32)->Apply(shapes_and_threads);
BENCHMARK(BM_gemm_eigen)->Apply(shapes_and_threads);
BENCHMARK(BM_gemm_f32_nn)->Apply(shapes_and_threads);
BENCHMARK(BM_gemm_f32_bf16w)->Apply(shapes_and_threads);
BENCHMARK(BM_gemm_f32_packed)->Apply(shapes_and_threads);
BENCHMARK(BM_gemm_bf16_f32acc)->Apply(shapes_and_threads);
BENCHMARK(BM_gemm_f32_ref)
    ->Args({196, 480, 160, 1})
    ->ArgNames({"M", "N", "K", "threads"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();

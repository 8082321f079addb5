// SPDX-License-Identifier: MIT
// Benchmarks of the model-agnostic ops at the shapes the models use, each
// next to its scalar reference in the same binary:
//
//   BM_layer_norm/4096/256/threads         ViT tokens x channels        GB/s
//   BM_layer_norm_2d/256/4096/threads      SAM neck LayerNorm2d C x HW   GB/s
//   BM_softmax/4096/4096/threads           global-attention score rows  GB/s
//   BM_gelu/4194304/threads                MLP hidden activations        GB/s
//   BM_attention/4096/256/8/threads        SAM ViT global attention      GFLOP/s (4·H·N²·d_h)
//   BM_depthwise3x3/C/S/threads/stride     64 x 256 x 256 stride 1; TinyViT PatchMerging 128 x 128 x 128
//                                          stride 2                      GFLOP/s (18·C·Ho·Wo)
//   BM_conv3x3/256/64/threads              SAM neck conv 256->256 on 64x64 GFLOP/s
//   BM_conv_transpose2x2/256/64/64/threads SAM output upscaling           GFLOP/s
//
// The `_ref` variants force the scalar path with set_isa_cap (the kernels'
// `_ref` twins, and gemm_f32_ref underneath); the slow ones run at a smaller
// size. GB/s counts bytes read + written once per element. Labels name the
// kernel that ran ("layer_norm_f32_avx512", ...).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "rsfiqa/core/cpu.hpp"
#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/kernels/dispatch.hpp"
#include "rsfiqa/kernels/elementwise.hpp"
#include "rsfiqa/ops/activation.hpp"
#include "rsfiqa/ops/attention.hpp"
#include "rsfiqa/ops/conv.hpp"
#include "rsfiqa/ops/norm.hpp"
#include "rsfiqa/ops/softmax.hpp"

namespace {

using namespace rsfiqa;

std::vector<float> random_vec(int64_t n, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v((size_t)n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Sets the thread count and, for reference runs, caps dispatch at scalar;
// restores both when the benchmark ends.
struct Setup {
  Setup(int threads, bool ref) {
    set_num_threads(threads);
    if (ref) set_isa_cap(Isa::kScalar);
  }
  ~Setup() {
    clear_isa_cap();
    set_num_threads(0);
  }
};

std::string kernel(const char* op) { return std::string(op) + "_" + kernels::vec_kernel_suffix(); }

void bytes_rate(benchmark::State& st, double bytes) {
  st.counters["GB/s"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
void flops_rate(benchmark::State& st, double flops) {
  st.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

template <bool kRef>
void BM_layer_norm(benchmark::State& st) {
  const int64_t rows = st.range(0), D = st.range(1);
  Setup setup((int)st.range(2), kRef);
  auto x = random_vec(rows * D), g = random_vec(D), b = random_vec(D);
  std::vector<float> y(x.size());
  for (auto _ : st) {
    ops::layer_norm_f32(rows, D, x.data(), g.data(), b.data(), 1e-6f, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  bytes_rate(st, 2.0 * 4 * rows * D);
  st.SetLabel(kernel("layer_norm_f32"));
}

template <bool kRef>
void BM_layer_norm_2d(benchmark::State& st) {
  const int64_t C = st.range(0), HW = st.range(1);
  Setup setup((int)st.range(2), kRef);
  auto x = random_vec(C * HW), g = random_vec(C), b = random_vec(C);
  std::vector<float> y(x.size());
  for (auto _ : st) {
    ops::layer_norm_2d_f32(1, C, HW, x.data(), g.data(), b.data(), 1e-6f, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  bytes_rate(st, 2.0 * 4 * C * HW);
  st.SetLabel(kernel("channel_norm_f32"));
}

template <bool kRef>
void BM_softmax(benchmark::State& st) {
  const int64_t rows = st.range(0), D = st.range(1);
  Setup setup((int)st.range(2), kRef);
  auto x = random_vec(rows * D, -10.0f, 10.0f);
  std::vector<float> y(x.size());
  for (auto _ : st) {
    ops::softmax_f32(rows, D, x.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  bytes_rate(st, 2.0 * 4 * rows * D);
  st.SetLabel(kernel("softmax_f32"));
}

template <bool kRef>
void BM_gelu(benchmark::State& st) {
  const int64_t n = st.range(0);
  Setup setup((int)st.range(1), kRef);
  auto x = random_vec(n, -5.0f, 5.0f);
  std::vector<float> y(x.size());
  for (auto _ : st) {
    ops::gelu_f32(n, x.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  bytes_rate(st, 2.0 * 4 * n);
  st.SetLabel(kernel("vec_gelu_erf_f32"));
}

// Self-attention of N tokens, model dim D, H heads, from a packed qkv [N, 3D].
template <bool kRef>
void BM_attention(benchmark::State& st) {
  const int64_t N = st.range(0), D = st.range(1), H = st.range(2);
  Setup setup((int)st.range(3), kRef);
  auto qkv = random_vec(N * 3 * D);
  std::vector<float> out((size_t)(N * D));
  const int64_t d = D / H;
  const ops::QkvViews v = ops::heads_view_packed_qkv(qkv.data(), H, d);
  ops::AttentionParams p;
  p.heads = H;
  p.nq = p.nk = N;
  p.head_dim = d;
  for (auto _ : st) {
    Status s = ops::attention_f32(v.q, v.k, v.v, ops::heads_view_tokens_major(out.data(), d, D), p);
    if (!s.ok()) st.SkipWithError(s.to_string().c_str());
    benchmark::DoNotOptimize(out.data());
  }
  flops_rate(st, 4.0 * (double)H * N * N * d);
  st.SetLabel(std::string("attention: ") + kernels::gemm_f32_kernel_name() + " + " + kernel("softmax_f32"));
}

// Depthwise 3x3, padding 1, stride s on C channels of S x S.
template <bool kRef>
void BM_depthwise3x3(benchmark::State& st) {
  const int64_t C = st.range(0), S = st.range(1), stride = st.range(3), So = (S - 1) / stride + 1;
  Setup setup((int)st.range(2), kRef);
  auto x = random_vec(C * S * S), w = random_vec(C * 9), b = random_vec(C);
  std::vector<float> y((size_t)(C * So * So));
  const TensorView xv(x.data(), DType::kF32, {C, S, S}), wv(w.data(), DType::kF32, {C, 1, 3, 3}),
      bv(b.data(), DType::kF32, {C}), yv(y.data(), DType::kF32, {C, So, So});
  for (auto _ : st) {
    Status s = ops::conv2d(xv, wv, bv, ops::conv2d_params(stride, 1, C), yv);
    if (!s.ok()) st.SkipWithError(s.to_string().c_str());
    benchmark::DoNotOptimize(y.data());
  }
  flops_rate(st, 18.0 * C * So * So);
  st.SetLabel(kernel("depthwise: vec_row_taps_f32"));
}

// Dense 3x3 conv, padding 1, C -> C channels on S x S (im2col + GEMM).
template <bool kRef>
void BM_conv3x3(benchmark::State& st) {
  const int64_t C = st.range(0), S = st.range(1);
  Setup setup((int)st.range(2), kRef);
  auto x = random_vec(C * S * S), w = random_vec(C * C * 9);
  std::vector<float> y(x.size());
  const TensorView xv(x.data(), DType::kF32, {C, S, S}), wv(w.data(), DType::kF32, {C, C, 3, 3}),
      yv(y.data(), DType::kF32, {C, S, S});
  for (auto _ : st) {
    Status s = ops::conv2d(xv, wv, {}, ops::conv2d_params(1, 1), yv);
    if (!s.ok()) st.SkipWithError(s.to_string().c_str());
    benchmark::DoNotOptimize(y.data());
  }
  flops_rate(st, 2.0 * C * C * 9 * S * S);
  st.SetLabel(std::string("im2col + ") + kernels::gemm_f32_kernel_name());
}

// ConvTranspose2d k = 2, stride 2: C -> O channels, S x S -> 2S x 2S.
template <bool kRef>
void BM_conv_transpose2x2(benchmark::State& st) {
  const int64_t C = st.range(0), O = st.range(1), S = st.range(2);
  Setup setup((int)st.range(3), kRef);
  auto x = random_vec(C * S * S), w = random_vec(C * O * 4), b = random_vec(O);
  std::vector<float> y((size_t)(O * 4 * S * S));
  const TensorView xv(x.data(), DType::kF32, {C, S, S}), wv(w.data(), DType::kF32, {C, O, 2, 2}),
      bv(b.data(), DType::kF32, {O}), yv(y.data(), DType::kF32, {O, 2 * S, 2 * S});
  for (auto _ : st) {
    Status s = ops::conv_transpose2d(xv, wv, bv, ops::conv_transpose2d_params(2), yv);
    if (!s.ok()) st.SkipWithError(s.to_string().c_str());
    benchmark::DoNotOptimize(y.data());
  }
  flops_rate(st, 2.0 * C * O * 4 * S * S);
  st.SetLabel(std::string("gemm + scatter: ") + kernels::gemm_f32_kernel_name());
}

}  // namespace

BENCHMARK(BM_layer_norm<false>)->Args({4096, 256, 1})->Args({4096, 256, 2})->UseRealTime()->Name("BM_layer_norm");
BENCHMARK(BM_layer_norm<true>)->Args({4096, 256, 1})->UseRealTime()->Name("BM_layer_norm_ref");
BENCHMARK(BM_layer_norm_2d<false>)->Args({256, 4096, 1})->Args({256, 4096, 2})->UseRealTime()->Name("BM_layer_norm_2d");
BENCHMARK(BM_layer_norm_2d<true>)->Args({256, 4096, 1})->UseRealTime()->Name("BM_layer_norm_2d_ref");
BENCHMARK(BM_softmax<false>)->Args({4096, 4096, 1})->Args({4096, 4096, 2})->UseRealTime()->Name("BM_softmax");
BENCHMARK(BM_softmax<true>)->Args({4096, 4096, 1})->UseRealTime()->Name("BM_softmax_ref");
BENCHMARK(BM_gelu<false>)->Args({4096 * 1024, 1})->Args({4096 * 1024, 2})->UseRealTime()->Name("BM_gelu");
BENCHMARK(BM_gelu<true>)->Args({4096 * 1024, 1})->UseRealTime()->Name("BM_gelu_ref");
BENCHMARK(BM_attention<false>)
    ->Args({4096, 256, 8, 1})
    ->Args({4096, 256, 8, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->Name("BM_attention");
BENCHMARK(BM_attention<true>)
    ->Args({1024, 256, 8, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->Name("BM_attention_ref");
BENCHMARK(BM_depthwise3x3<false>)
    ->Args({64, 256, 1, 1})
    ->Args({64, 256, 2, 1})
    ->Args({128, 128, 1, 2})
    ->UseRealTime()
    ->Name("BM_depthwise3x3");
BENCHMARK(BM_depthwise3x3<true>)
    ->Args({64, 256, 1, 1})
    ->Args({128, 128, 1, 2})
    ->UseRealTime()
    ->Name("BM_depthwise3x3_ref");
BENCHMARK(BM_conv3x3<false>)
    ->Args({256, 64, 1})
    ->Args({256, 64, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->Name("BM_conv3x3");
BENCHMARK(BM_conv3x3<true>)->Args({64, 32, 1})->UseRealTime()->Unit(benchmark::kMillisecond)->Name("BM_conv3x3_ref");
BENCHMARK(BM_conv_transpose2x2<false>)
    ->Args({256, 64, 64, 1})
    ->Args({256, 64, 64, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->Name("BM_conv_transpose2x2");
BENCHMARK(BM_conv_transpose2x2<true>)
    ->Args({64, 32, 32, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->Name("BM_conv_transpose2x2_ref");

BENCHMARK_MAIN();

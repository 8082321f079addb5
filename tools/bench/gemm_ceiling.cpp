// SPDX-License-Identifier: MIT
// GEMM ceiling of the TinyViT image encoder (MobileSAM's, 1024x1024 input):
// a dev-only study, not part of the library, the tests or CI.
//
// It lists every matrix product of one encoder pass, derived from the same
// TinyVitConfig the encoder uses (models/sam/tinyvit.hpp), and times each
// dense product, whole (one call per layer-level product, not split into the
// encoder's per-thread tiles), at 2 threads with
//   (a) OpenBLAS cblas_sgemm (row-major, the encoder's operand layouts),
//   (b) rsfiqa::kernels::gemm_f32 (packs the B operand inside each call),
//   (c) rsfiqa::kernels::gemm_f32_packed on a weight packed beforehand, for
//       the linears (this is what the encoder calls at run time).
// Every product is timed two ways, each the median of REPS runs after 2
// warm-up runs:
//   2T wall  wall time with 2 threads (what the target is about);
//   1T cpu/2 the calling thread's CPU time with 1 thread, halved: the
//            2-thread time under perfect scaling. A thread's CPU time does
//            not grow while the thread waits for a core, so this figure
//            holds up on a machine shared with other jobs, where the
//            2-thread wall time may include time spent descheduled.
// The sums Σ count·time give the time the encoder's dense products alone
// take at each library's rate; Σ count·min(all libraries, both figures) is
// the best any of them reaches shape by shape: a lower bound (optimistic by
// construction) on any f32 encoder built on these kernels, since everything
// else (softmax, norms, GELU, depthwise convs, copies) only adds to it. The windowed-attention products (QKᵀ, PV per
// window and head) are timed separately as a batch with each thread running
// single-threaded calls, as the encoder does. Operands hold random values;
// bias and accumulation (epilogue work) are left out, so the products are
// plain C = A·B or C = A·Bᵀ.
//
// Layouts (all row-major, as in the encoder):
//   linears (qkv, proj, fc1, fc2, MBConv / PatchMerging 1x1 convs):
//     C[tokens, out] = X[tokens, in] · W[out, in]ᵀ             (NT)
//   stem convs and the neck 3x3 conv via im2col:
//     C[out, pixels] = W[out, in·3·3] · col[in·3·3, pixels]     (NN)
//   neck 1x1 conv (tokens to channels-first):
//     C[256, tokens] = W[256, 320] · X[tokens, 320]ᵀ             (NT)
//
// Built and run by tools/bench/gemm_ceiling.sh (needs libopenblas-dev).
#include <cblas.h>
#include <omp.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/kernels/gemm.hpp"
#include "rsfiqa/models/sam/tinyvit.hpp"

extern "C" {
// OpenBLAS extensions (declared in its cblas.h too; repeated for clarity).
void openblas_set_num_threads(int num_threads);
char* openblas_get_corename(void);
char* openblas_get_config(void);
}

namespace {

constexpr int kThreads = 2;
constexpr double kPeakGflops = 234.6;  // measured f32 FMA peak of this machine, 2 cores

// One dense product of the encoder: C[M, N] = A[M, K] · B, B stored [N, K]
// (nt) or [K, N] (nn); `count` times per pass; `weight_b` when B is a
// weight that the encoder packs at load time.
struct Gemm {
  std::string name;
  int64_t M, N, K;
  bool nt;
  int count;
  bool weight_b;
  double flop() const { return 2.0 * (double)M * (double)N * (double)K * count; }
};

// The windowed attention of one layer: per window and head, S = Q·Kᵀ
// [nq, n] (NT, K = kd) and O = S·V [nq, kd] (NN, K = n), nq = real rows.
struct Attention {
  int layer;
  int64_t n, kd, heads, R, nw, ws, D;
  int blocks;
  // Σ over windows of nq = vh·ws is R·nw·ws (every grid row, nw windows wide).
  int64_t query_rows() const { return R * nw * ws; }
  double flop() const { return 2.0 * 2.0 * (double)query_rows() * (double)n * (double)kd * heads * blocks; }
};

// Dense products of one pass, straight from the config and the forward pass
// in tinyvit.hpp (whole products; the encoder runs them in tiles).
std::vector<Gemm> encoder_gemms(const rsfiqa::sam::TinyVitConfig& c, std::vector<Attention>* attn) {
  std::vector<Gemm> g;
  const int64_t S = c.img_size, half = (S - 1) / 2 + 1, R0 = c.resolution(0);
  // patch_embed: two 3x3 stride-2 convs via im2col (weights as A).
  g.push_back({"stem.conv0 3x3 im2col", c.patch_hidden, half * half, c.in_chans * 9, false, 1, false});
  g.push_back({"stem.conv2 3x3 im2col", c.embed_dims[0], R0 * R0, c.patch_hidden * 9, false, 1, false});
  // layers.0: MBConv 1x1 expand / project (channels-last linears).
  const int64_t C0 = c.embed_dims[0], h0 = C0 * c.mbconv_expand_ratio;
  g.push_back({"mbconv.conv1 (expand)", R0 * R0, h0, C0, true, (int)c.depths[0], true});
  g.push_back({"mbconv.conv3 (project)", R0 * R0, C0, h0, true, (int)c.depths[0], true});
  for (int i = 0; i < rsfiqa::sam::kTinyVitLayers; ++i) {
    const int64_t D = c.embed_dims[i], R = c.resolution(i), L = R * R, hid = D * c.mlp_ratio;
    const std::string li = "L" + std::to_string(i) + ".";
    if (i > 0) {
      const int d = (int)c.depths[i];
      g.push_back({li + "qkv", L, 3 * D, D, true, d, true});
      g.push_back({li + "proj", L, D, D, true, d, true});
      g.push_back({li + "fc1", L, hid, D, true, d, true});
      g.push_back({li + "fc2", L, D, hid, true, d, true});
      const int64_t ws = c.window_sizes[i], P = R + c.window_pad(i);
      attn->push_back({i, ws * ws, c.attention_key_dim, c.num_heads[i], R, P / ws, ws, D, d});
    }
    if (i + 1 < rsfiqa::sam::kTinyVitLayers) {
      // PatchMerging: conv1 1x1 at R, depthwise (stride s), conv3 1x1 at R1.
      const int64_t O = c.embed_dims[i + 1], R1 = c.resolution(i + 1);
      g.push_back({li + "merge.conv1", L, O, D, true, 1, true});
      g.push_back({li + "merge.conv3", R1 * R1, O, O, true, 1, true});
    }
  }
  // neck: conv1x1 (tokens read as NT) and conv3x3 via im2col.
  const int64_t Dl = c.embed_dims[rsfiqa::sam::kTinyVitLayers - 1];
  const int64_t Ll = c.embedding_size[0] * c.embedding_size[1];
  g.push_back({"neck.conv1x1", c.out_chans, Ll, Dl, true, 1, false});
  g.push_back({"neck.conv3x3 im2col", c.out_chans, Ll, c.out_chans * 9, false, 1, false});
  return g;
}

// 64-byte aligned float buffer with random values in [-1, 1).
struct Buf {
  float* p = nullptr;
  explicit Buf(int64_t n, uint32_t seed) {
    p = static_cast<float*>(std::aligned_alloc(64, (size_t)((n * 4 + 63) / 64 * 64)));
    // A 32-bit LCG: fast enough for ~100 MB of operands, values are all that matter.
    uint32_t x = seed * 2654435761u + 1u;
    for (int64_t i = 0; i < n; ++i) {
      x = x * 1664525u + 1013904223u;
      p[i] = (float)(x >> 8) * (2.0f / 16777216.0f) - 1.0f;
    }
  }
  ~Buf() { std::free(p); }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
};

double wall_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
double thread_cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

// One thread count for both libraries and rsfiqa's parallel_for.
void set_threads(int n) {
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
  rsfiqa::set_num_threads(n);
}

// Median of clock() differences over `reps` runs of fn after 2 warm-up runs.
template <typename Clock, typename Fn>
double median_ms(int reps, Clock clock, Fn&& fn) {
  fn();
  fn();
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const double t0 = clock();
    fn();
    t.push_back(clock() - t0);
  }
  std::sort(t.begin(), t.end());
  const size_t n = t.size();
  return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

// The two figures of one product with one library (ms per call).
struct Timing {
  double wall2 = -1;  // 2 threads, wall
  double cpu1h = -1;  // 1 thread, thread CPU time / 2
  bool valid() const { return wall2 >= 0; }
  double best() const { return std::min(wall2, cpu1h); }
};
template <typename Fn>
Timing measure(int reps, Fn&& fn) {
  Timing t;
  set_threads(1);
  t.cpu1h = 0.5 * median_ms(reps, thread_cpu_ms, fn);
  set_threads(kThreads);
  t.wall2 = median_ms(reps, wall_ms, fn);
  return t;
}

// Largest |x - y| relative to max|y| (a sanity check that both libraries
// compute the same product, not a precision study).
double rel_diff(int64_t n, const float* x, const float* y) {
  double d = 0, m = 0;
  for (int64_t i = 0; i < n; ++i) {
    d = std::max(d, (double)std::fabs(x[i] - y[i]));
    m = std::max(m, (double)std::fabs(y[i]));
  }
  return m > 0 ? d / m : d;
}

// Running sums Σ count·time of one library (or of the per-shape minimum).
struct Sum {
  double wall2 = 0, cpu1h = 0, best = 0;
  void add(int count, const Timing& t) {
    wall2 += count * t.wall2;
    cpu1h += count * t.cpu1h;
    best += count * t.best();
  }
};

void print_sum(const char* name, const Sum& s, double flop) {
  std::printf("  %-34s %8.1f %8.1f %8.1f   (%.1f GFLOP/s at the min)\n", name, s.wall2, s.cpu1h, s.best,
              flop / s.best * 1e-6);
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::max(5, std::atoi(argv[1])) : 7;
  set_threads(kThreads);
  std::printf("GEMM ceiling of the TinyViT encoder (1024x1024); median of %d runs after 2 warm-ups\n", reps);
  std::printf("OpenBLAS: %s (core %s); rsfiqa ISA: %s\n", openblas_get_config(), openblas_get_corename(),
              rsfiqa::active_isa() == rsfiqa::Isa::kAvx512 ? "avx512"
              : rsfiqa::active_isa() == rsfiqa::Isa::kAvx2 ? "avx2"
                                                           : "scalar");
  std::printf(
      "per library: 2T = wall ms at 2 threads, 1T/2 = thread CPU ms at 1 thread halved; "
      "best = min over all, with GFLOP/s\n");

  const rsfiqa::sam::TinyVitConfig cfg = rsfiqa::sam::TinyVitConfig::tiny_vit_5m();
  std::vector<Attention> attn;
  const std::vector<Gemm> gemms = encoder_gemms(cfg, &attn);

  // ---- dense products
  std::printf("\n%-22s %5s %6s %4s %2s %3s %6s | %-13s | %-13s | %-13s | %-12s | %7s\n", "product", "M", "N", "K", "B",
              "cnt", "GFLOP", "OpenBLAS", "gemm_f32", "gemm_packed", "best", "maxdiff");
  std::printf("%-22s %5s %6s %4s %2s %3s %6s | %6s %6s | %6s %6s | %6s %6s | %6s %5s |\n", "", "", "", "", "", "", "",
              "2T", "1T/2", "2T", "1T/2", "2T", "1T/2", "ms", "GF/s");
  double flop_dense = 0;
  Sum s_blas, s_ours, s_ours_best, s_min;
  for (const Gemm& g : gemms) {
    Buf a(g.M * g.K, 1), b(g.N * g.K, 2), c1(g.M * g.N, 3), c2(g.M * g.N, 4);
    const int64_t ldb = g.nt ? g.K : g.N;
    const Timing tb = measure(reps, [&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, g.nt ? CblasTrans : CblasNoTrans, (int)g.M, (int)g.N, (int)g.K, 1.0f,
                  a.p, (int)g.K, b.p, (int)ldb, 0.0f, c1.p, (int)g.N);
    });
    rsfiqa::kernels::GemmParams gp;
    gp.trans_b = g.nt;
    const Timing to =
        measure(reps, [&] { rsfiqa::kernels::gemm_f32(g.M, g.N, g.K, a.p, g.K, b.p, ldb, c2.p, g.N, gp); });
    const double diff = rel_diff(g.M * g.N, c2.p, c1.p);
    Timing tp;
    if (g.weight_b) {
      auto packed = rsfiqa::kernels::pack_b(g.N, g.K, b.p, ldb, g.nt);
      if (!packed.ok()) {
        std::fprintf(stderr, "pack_b failed: %s\n", packed.status().message().c_str());
        return 1;
      }
      tp = measure(reps, [&] { (void)rsfiqa::kernels::gemm_f32_packed(g.M, a.p, g.K, *packed, c2.p, g.N, gp); });
    }
    // Ours at its best: the packed call where the encoder uses it.
    Timing ob = to;
    if (tp.valid()) ob = {std::min(to.wall2, tp.wall2), std::min(to.cpu1h, tp.cpu1h)};
    const Timing mn{std::min(tb.wall2, ob.wall2), std::min(tb.cpu1h, ob.cpu1h)};
    flop_dense += g.flop();
    s_blas.add(g.count, tb);
    s_ours.add(g.count, to);
    s_ours_best.add(g.count, ob);
    s_min.add(g.count, mn);
    const double f = 2.0 * (double)g.M * (double)g.N * (double)g.K;  // one call
    char packed_cols[32];
    if (tp.valid())
      std::snprintf(packed_cols, sizeof packed_cols, "%6.2f %6.2f", tp.wall2, tp.cpu1h);
    else
      std::snprintf(packed_cols, sizeof packed_cols, "%6s %6s", "-", "-");
    std::printf("%-22s %5lld %6lld %4lld %2s %3d %6.3f | %6.2f %6.2f | %6.2f %6.2f | %s | %6.2f %5.1f | %7.1e\n",
                g.name.c_str(), (long long)g.M, (long long)g.N, (long long)g.K, g.nt ? "NT" : "NN", g.count,
                g.flop() * 1e-9, tb.wall2, tb.cpu1h, to.wall2, to.cpu1h, packed_cols, mn.best(), f / mn.best() * 1e-6,
                diff);
    std::fflush(stdout);
  }

  // ---- windowed attention products of one block, batched: windows taken
  // from a shared counter by the threads, each call single-threaded (the
  // encoder's scheme), heads inside.
  std::printf("\n%-22s %5s %6s %4s %5s %6s | %-13s | %-13s | %-12s\n", "attention QK^T + PV", "rows", "n", "kd",
              "heads", "GFLOP", "OpenBLAS", "gemm_f32", "best");
  double flop_attn = 0;
  Sum a_blas, a_ours, a_min;
  for (const Attention& at : attn) {
    const int64_t windows = at.nw * at.nw, ws = at.ws, n = at.n, kd = at.kd, D = at.D;
    Buf qkv(windows * n * 3 * D, 5), out(windows * n * D, 6);
    std::vector<Buf*> scores;
    for (int t = 0; t < kThreads; ++t) scores.push_back(new Buf(n * n, 7 + t));
    const float scale = 1.0f / std::sqrt((float)kd);
    // One pass over the layer's windows and heads with `lib` 0 (OpenBLAS) or 1 (ours).
    auto pass = [&](int lib) {
      std::atomic<int64_t> next{0};
      const int T = rsfiqa::get_num_threads();
      rsfiqa::parallel_for(
          T,
          [&](int64_t t0, int64_t t1) {
            float* sc = scores[(size_t)t0]->p;
            for (int64_t w = next.fetch_add(1); w < windows; w = next.fetch_add(1)) {
              const int64_t gy0 = (w / at.nw) * ws, vh = at.R - gy0 < ws ? at.R - gy0 : ws, nq = vh * ws;
              for (int64_t h = 0; h < at.heads; ++h) {
                const float* q = qkv.p + w * n * 3 * D + h * 3 * kd;  // [n, kd], row stride 3D
                const float* k = q + kd;
                const float* v = q + 2 * kd;
                float* o = out.p + w * n * D + h * kd;  // [nq, kd], row stride D
                if (lib == 0) {
                  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)n, (int)kd, scale, q, (int)(3 * D),
                              k, (int)(3 * D), 0.0f, sc, (int)n);
                  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nq, (int)kd, (int)n, 1.0f, sc, (int)n, v,
                              (int)(3 * D), 0.0f, o, (int)D);
                } else {
                  rsfiqa::kernels::GemmParams sp;
                  sp.trans_b = true;
                  sp.alpha = scale;
                  rsfiqa::kernels::gemm_f32(nq, n, kd, q, 3 * D, k, 3 * D, sc, n, sp);
                  rsfiqa::kernels::GemmParams op;
                  op.trans_b = false;
                  rsfiqa::kernels::gemm_f32(nq, kd, n, sc, n, v, 3 * D, o, D, op);
                }
              }
            }
            (void)t1;
          },
          1, T);
    };
    const Timing tb = measure(reps, [&] { pass(0); });
    const Timing to = measure(reps, [&] { pass(1); });
    for (Buf* b : scores) delete b;
    const Timing mn{std::min(tb.wall2, to.wall2), std::min(tb.cpu1h, to.cpu1h)};
    flop_attn += at.flop();
    a_blas.add(at.blocks, tb);
    a_ours.add(at.blocks, to);
    a_min.add(at.blocks, mn);
    std::printf("L%d (x%d blocks)%7s %5lld %6lld %4lld %5lld %6.3f | %6.2f %6.2f | %6.2f %6.2f | %6.2f %5.1f\n",
                at.layer, at.blocks, "", (long long)at.query_rows(), (long long)n, (long long)kd, (long long)at.heads,
                at.flop() * 1e-9, tb.wall2, tb.cpu1h, to.wall2, to.cpu1h, mn.best(),
                at.flop() / at.blocks / mn.best() * 1e-6);
    std::fflush(stdout);
  }

  // ---- work outside the products (rough counts, not timed)
  // Depthwise 3x3 convs: 2·9 FLOP per output element and channel.
  double dw = 0, elems_gelu = 0, elems_ln = 0, elems_softmax = 0;
  {
    const int64_t R0 = cfg.resolution(0), h0 = cfg.embed_dims[0] * cfg.mbconv_expand_ratio;
    dw += cfg.depths[0] * 18.0 * R0 * R0 * h0;
    elems_gelu += cfg.depths[0] * (2.0 * R0 * R0 * h0 + R0 * R0 * cfg.embed_dims[0]);
    elems_gelu += (double)cfg.patch_hidden * (cfg.img_size / 2) * (cfg.img_size / 2);
    for (int i = 1; i < rsfiqa::sam::kTinyVitLayers; ++i) {
      const double L = (double)cfg.resolution(i) * cfg.resolution(i), D = (double)cfg.embed_dims[i];
      const double k2 = 2.0 * cfg.local_conv_size * cfg.local_conv_size;
      dw += cfg.depths[i] * k2 * L * D;
      elems_gelu += cfg.depths[i] * L * D * cfg.mlp_ratio;
      elems_ln += cfg.depths[i] * 2 * L * D;
    }
    for (int i = 0; i + 1 < rsfiqa::sam::kTinyVitLayers; ++i) {
      const double R = (double)cfg.resolution(i), R1 = (double)cfg.resolution(i + 1), O = (double)cfg.embed_dims[i + 1];
      dw += 18.0 * R1 * R1 * O;
      elems_gelu += R * R * O + R1 * R1 * O;
    }
    for (const Attention& at : attn) elems_softmax += (double)at.query_rows() * at.n * at.heads * at.blocks;
    elems_ln += 2.0 * cfg.out_chans * cfg.embedding_size[0] * cfg.embedding_size[1];
  }

  const double flop_all = flop_dense + flop_attn + dw;
  std::printf(
      "\nFLOP per pass: dense products %.2f G (%.1f%%), attention products %.2f G (%.1f%%), "
      "depthwise convs %.2f G (%.1f%%); total %.2f G\n",
      flop_dense * 1e-9, 100 * flop_dense / flop_all, flop_attn * 1e-9, 100 * flop_attn / flop_all, dw * 1e-9,
      100 * dw / flop_all, flop_all * 1e-9);
  std::printf(
      "elementwise (not in the FLOP total): GELU %.1f M elements, LayerNorm %.1f M elements, "
      "softmax %.1f M scores\n",
      elems_gelu * 1e-6, elems_ln * 1e-6, elems_softmax * 1e-6);
  std::printf("\nsums of count x median, ms per encoder pass   %8s %8s %8s\n", "2T", "1T/2", "min");
  std::printf("dense products (%.2f GFLOP):\n", flop_dense * 1e-9);
  print_sum("OpenBLAS", s_blas, flop_dense);
  print_sum("rsfiqa gemm_f32", s_ours, flop_dense);
  print_sum("rsfiqa best (packed where used)", s_ours_best, flop_dense);
  print_sum("min over libraries, per shape", s_min, flop_dense);
  std::printf("  %-34s %8.1f\n", "pure peak bound (234.6 GFLOP/s)", flop_dense / kPeakGflops * 1e-6);
  std::printf("attention products (%.2f GFLOP):\n", flop_attn * 1e-9);
  print_sum("OpenBLAS", a_blas, flop_attn);
  print_sum("rsfiqa gemm_f32", a_ours, flop_attn);
  print_sum("min over libraries, per layer", a_min, flop_attn);
  std::printf("  %-34s %8.1f\n", "pure peak bound (234.6 GFLOP/s)", flop_attn / kPeakGflops * 1e-6);
  std::printf("dense + attention products, min per shape: %.1f ms; pure peak bound for all %.2f GFLOP: %.1f ms\n",
              s_min.best + a_min.best, flop_all * 1e-9, flop_all / kPeakGflops * 1e-6);
  return 0;
}

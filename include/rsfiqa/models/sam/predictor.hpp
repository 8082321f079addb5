// SPDX-License-Identifier: MIT
// SAM's predictor (segment-anything `predictor.py` SamPredictor) on top of
// the prompt encoder and mask decoder: set an image (or a precomputed
// embedding) once, then prompt it many times.
//
// - Prompts are in original-image pixels and are mapped like
//   ResizeLongestSide.apply_coords: x·input_w/orig_w, y·input_h/orig_h
//   (computed in double, rounded to float).
// - Sparse prompt layout (what SamPredictor and the ONNX export feed the
//   decoder): the clicks, then the box corners (labels 2, 3) if there is a
//   box, else one padding point (0, 0) labelled -1.
// - Masks are postprocessed like SamOnnxModel.mask_postprocessing /
//   Sam.postprocess_masks: bilinear (align_corners=False) 256 -> 1024,
//   crop to the resized image [input_h, input_w], bilinear to the original
//   size, threshold logit > 0.
// - Bad input: clicks and box corners must be finite and inside the image,
//   [0, w] x [0, h] (no clamping: kInvalidArgument naming the prompt); click
//   labels must be 0 or 1; a box needs x0 < x1 and y0 < y1 (a zero-area box
//   is kInvalidArgument); no click and no box is kEmptyInput; more than
//   kMaxSparseRows rows (clicks + box corners + padding) is kLimitExceeded; predicting
//   before an image or embedding is set is kInvalidArgument.
// Threads: the SamDecoderWeights are immutable and shared (shared_ptr) by
// any number of predictors. A Predictor's const methods (predict,
// predict_batch, upscale_logits) keep no mutable state and may run
// concurrently; set_image / set_embedding must not race with them. Each
// call uses rsfiqa's thread pool (set_num_threads); do not call it from
// inside a parallel_for body.
// This file does not implement the image encoder: it calls one through the
// ImageEncoder interface (the TinyViT encoder plugs in there).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/core/status.hpp"
#include "rsfiqa/core/tensor.hpp"
#include "rsfiqa/io/image.hpp"
#include "rsfiqa/io/sam_preprocess.hpp"
#include "rsfiqa/models/sam/mask_decoder.hpp"
#include "rsfiqa/models/sam/prompt_encoder.hpp"

namespace rsfiqa::sam {

// An image embedding and the geometry of the image it came from.
struct ImageEmbedding {
  Tensor embedding;              // [256, 64, 64] float32 (a leading batch dim of 1 is accepted)
  int input_h = 0, input_w = 0;  // size of the resized image inside the 1024 frame
  int orig_h = 0, orig_w = 0;    // size of the original image
};

// What Predictor::set_image runs. Implementations preprocess (io::sam_preprocess)
// and encode; encode must be callable concurrently if shared.
class ImageEncoder {
 public:
  virtual ~ImageEncoder() = default;
  virtual Result<ImageEmbedding> encode(const io::Image& image) const = 0;
};

struct Point {
  float x = 0.0f, y = 0.0f;
};
struct Box {
  float x0 = 0.0f, y0 = 0.0f, x1 = 0.0f, y1 = 0.0f;
};

// One predict() result with n masks.
struct Prediction {
  int num_masks = 0;
  int height = 0, width = 0;           // original image size
  std::vector<uint8_t> masks;          // [n, h, w], 1 where logit > 0
  std::vector<float> iou_predictions;  // [n]
  std::vector<int> tokens;             // [n] mask token of each mask (0 single, 1..3 multimask)
  Tensor low_res_logits;               // [n, 256, 256]
  Tensor logits;                       // [n, h, w], only with PredictOptions::return_logits
};

struct PredictOptions {
  MaskOutput output = MaskOutput::kMultimask;  // predict(multimask) sets kMultimask or kSingle
  bool return_logits = false;                  // also keep the original-size logits
  DecodeOptions decode;                        // e.g. decode.bf16_upscaling
};

namespace detail {
// One separable bilinear pass of `rows` rows of length in_w into out_w.
inline void resize_rows(const float* src, int64_t rows, int64_t src_ld, const io::detail::LinearTaps& tx, int out_w,
                        float* dst) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* s = src + r * src_ld;
    float* d = dst + r * out_w;
    for (int x = 0; x < out_w; ++x)
      d[x] = tx.l0[(size_t)x] * s[tx.i0[(size_t)x]] + tx.l1[(size_t)x] * s[tx.i1[(size_t)x]];
  }
}
// Vertical pass: dst[y] = l0·rows[i0] + l1·rows[i1] for y < out_h.
inline void resize_cols(const float* src, int w, const io::detail::LinearTaps& ty, int out_h, float* dst) {
  for (int y = 0; y < out_h; ++y) {
    const float* a = src + (int64_t)ty.i0[(size_t)y] * w;
    const float* b = src + (int64_t)ty.i1[(size_t)y] * w;
    const float l0 = ty.l0[(size_t)y], l1 = ty.l1[(size_t)y];
    float* d = dst + (int64_t)y * w;
    for (int x = 0; x < w; ++x) d[x] = l0 * a[x] + l1 * b[x];
  }
}
}  // namespace detail

// Upscales one low-res logit map [256, 256] to the original size [orig_h,
// orig_w] (256 -> 1024 bilinear, crop [input_h, input_w], bilinear to the
// original size). The two bilinear steps are evaluated separably, rows then
// columns, which is the same arithmetic as PyTorch's CPU kernel
// (h0·(w0·a + w1·b) + h1·(w0·c + w1·d)). scratch holds at least
// 256·input_w + 2·input_h·max(input_w, orig_w) floats (upscale_scratch_floats).
inline int64_t upscale_scratch_floats(int input_h, int input_w, int orig_w) {
  const int64_t wm = input_w > orig_w ? input_w : orig_w;
  return (int64_t)kLowResSide * input_w + 2 * (int64_t)input_h * wm;
}
inline void upscale_low_res(const float* low_res, int input_h, int input_w, int orig_h, int orig_w, float* scratch,
                            float* out) {
  const io::detail::LinearTaps t1 = io::detail::make_linear_taps(kLowResSide, kInputSize);
  // Stage 1, columns of the 1024 frame restricted to the first input_w, rows to input_h.
  float* a = scratch;                             // [256, input_w]
  float* b = a + (int64_t)kLowResSide * input_w;  // [input_h, input_w]
  detail::resize_rows(low_res, kLowResSide, kLowResSide, t1, input_w, a);
  if (input_h == orig_h && input_w == orig_w) {
    detail::resize_cols(a, input_w, t1, input_h, out);
    return;
  }
  detail::resize_cols(a, input_w, t1, input_h, b);
  // Stage 2: [input_h, input_w] -> [orig_h, orig_w].
  const io::detail::LinearTaps tx = io::detail::make_linear_taps(input_w, orig_w);
  const io::detail::LinearTaps ty = io::detail::make_linear_taps(input_h, orig_h);
  float* c = b + (int64_t)input_h * input_w;  // [input_h, orig_w]
  detail::resize_rows(b, input_h, input_w, tx, orig_w, c);
  detail::resize_cols(c, orig_w, ty, orig_h, out);
}

class Predictor {
 public:
  explicit Predictor(std::shared_ptr<const SamDecoderWeights> weights,
                     std::shared_ptr<const ImageEncoder> encoder = nullptr)
      : w_(std::move(weights)), encoder_(std::move(encoder)) {}

  // Runs the encoder on an RGB image and keeps its embedding.
  Status set_image(const io::Image& image) {
    if (!encoder_) return make_error(ErrorCode::kInvalidArgument, "SAM predictor: no image encoder was given");
    RSFIQA_ASSIGN_OR_RETURN(ImageEmbedding e, encoder_->encode(image));
    return set_embedding(std::move(e));
  }

  // Uses a precomputed embedding; precomputes the prompt-independent image side.
  Status set_embedding(ImageEmbedding e) {
    if (!w_) return make_error(ErrorCode::kInvalidArgument, "SAM predictor: no decoder weights");
    const Shape& s = e.embedding.shape();
    const bool ok3 = s.ndim == 3 && s[0] == kEmbedDim && s[1] == kEmbedSide && s[2] == kEmbedSide;
    const bool ok4 = s.ndim == 4 && s[0] == 1 && s[1] == kEmbedDim && s[2] == kEmbedSide && s[3] == kEmbedSide;
    if (!(ok3 || ok4) || e.embedding.view().dtype != DType::kF32)
      return make_error(ErrorCode::kShapeMismatch, "SAM predictor: image embedding must be f32 [256, 64, 64], got %s",
                        s.to_string().c_str());
    if (e.orig_h < 1 || e.orig_w < 1 || e.input_h < 1 || e.input_w < 1 || e.input_h > kInputSize ||
        e.input_w > kInputSize)
      return make_error(ErrorCode::kInvalidArgument,
                        "SAM predictor: bad image geometry (input %dx%d, original %dx%d; input sides must be 1..1024)",
                        e.input_w, e.input_h, e.orig_w, e.orig_h);
    RSFIQA_ASSIGN_OR_RETURN(side_, prepare_image_side(*w_, e.embedding.f32(), nullptr));
    emb_ = std::move(e);
    has_image_ = true;
    return Status();
  }

  bool has_image() const { return has_image_; }
  const ImageEmbedding& embedding() const { return emb_; }

  // SamPredictor.predict: points with labels (1 fg, 0 bg), an optional box,
  // an optional mask prompt (low-res logits [256, 256] of an earlier
  // prediction), multimask -> tokens 1..3, else token 0.
  Result<Prediction> predict(const std::vector<Point>& points, const std::vector<int>& labels, const Box* box = nullptr,
                             const float* mask_input = nullptr, bool multimask = true) const {
    PredictOptions o;
    o.output = multimask ? MaskOutput::kMultimask : MaskOutput::kSingle;
    return predict(points, labels, box, mask_input, o);
  }

  Result<Prediction> predict(const std::vector<Point>& points, const std::vector<int>& labels, const Box* box,
                             const float* mask_input, const PredictOptions& opt) const {
    if (!has_image_) return make_error(ErrorCode::kInvalidArgument, "SAM predictor: predict before set_image");
    if (points.size() != labels.size())
      return make_error(ErrorCode::kInvalidArgument, "SAM predictor: %zu points but %zu labels", points.size(),
                        labels.size());
    if (points.empty() && !box)
      return make_error(ErrorCode::kEmptyInput, "SAM predictor: empty prompt (no point and no box)");
    std::vector<float> coords;
    std::vector<int> lab;
    for (size_t i = 0; i < points.size(); ++i) {
      if (labels[i] != kLabelBackground && labels[i] != kLabelForeground)
        return make_error(ErrorCode::kInvalidArgument, "SAM predictor: point %zu has label %d (expected 0 or 1)", i,
                          labels[i]);
      RSFIQA_RETURN_IF_ERROR(check_inside(points[i].x, points[i].y, "point", (int)i));
      push_point(points[i].x, points[i].y, labels[i], &coords, &lab);
    }
    if (box) {
      RSFIQA_RETURN_IF_ERROR(check_inside(box->x0, box->y0, "box corner", 0));
      RSFIQA_RETURN_IF_ERROR(check_inside(box->x1, box->y1, "box corner", 1));
      if (!(box->x0 < box->x1) || !(box->y0 < box->y1))
        return make_error(ErrorCode::kInvalidArgument,
                          "SAM predictor: box [%g, %g, %g, %g] has zero or negative area (need x0 < x1, y0 < y1)",
                          box->x0, box->y0, box->x1, box->y1);
      push_point(box->x0, box->y0, kLabelBoxTopLeft, &coords, &lab);
      push_point(box->x1, box->y1, kLabelBoxBottomRight, &coords, &lab);
    } else {
      coords.push_back(0.0f);
      coords.push_back(0.0f);
      lab.push_back(kLabelPadding);
    }
    const int Ns = (int)lab.size();
    std::vector<float> sparse((size_t)Ns * kEmbedDim);
    RSFIQA_RETURN_IF_ERROR(embed_points(w_->prompt, coords.data(), lab.data(), Ns, sparse.data()));

    DecodeOutput dec;
    if (mask_input) {
      RSFIQA_ASSIGN_OR_RETURN(Tensor dense, Tensor::create(DType::kF32, Shape{kEmbedDim, kEmbedSide, kEmbedSide}));
      RSFIQA_RETURN_IF_ERROR(embed_mask(w_->prompt, mask_input, dense.f32()));
      RSFIQA_ASSIGN_OR_RETURN(ImageSide side, prepare_image_side(*w_, emb_.embedding.f32(), dense.f32()));
      RSFIQA_RETURN_IF_ERROR(decode(*w_, side, sparse.data(), 1, Ns, opt.output, &dec, opt.decode));
    } else {
      RSFIQA_RETURN_IF_ERROR(decode(*w_, side_, sparse.data(), 1, Ns, opt.output, &dec, opt.decode));
    }

    Prediction out;
    const int n = dec.masks_per_prompt;
    const int H = emb_.orig_h, W = emb_.orig_w;
    const int64_t HW = (int64_t)H * W;
    out.num_masks = n;
    out.height = H;
    out.width = W;
    out.iou_predictions.assign(dec.iou.f32(), dec.iou.f32() + n);
    out.tokens = dec.tokens;
    out.low_res_logits = std::move(dec.low_res);
    out.low_res_logits.view().shape = Shape{n, kLowResSide, kLowResSide};
    out.low_res_logits.view().set_contiguous_strides();
    RSFIQA_ASSIGN_OR_RETURN(Tensor logits, Tensor::create(DType::kF32, Shape{n, H, W}));
    RSFIQA_RETURN_IF_ERROR(upscale_all(out.low_res_logits.f32(), n, logits.f32()));
    out.masks.resize((size_t)(n * HW));
    for (int64_t i = 0; i < n * HW; ++i) out.masks[(size_t)i] = logits.f32()[i] > 0.0f ? 1 : 0;
    if (opt.return_logits) out.logits = std::move(logits);
    return out;
  }

  // Many single-click prompts at once (the automatic mask generator's
  // batches): prompt i is point i with label i (0/1) plus the padding point.
  // Returns low-res logits [n, m, 256, 256] and IoU [n, m] without
  // upsampling; upscale_logits maps any of them to the original size.
  Result<DecodeOutput> predict_batch(const std::vector<Point>& points, const std::vector<int>& labels,
                                     MaskOutput output = MaskOutput::kMultimask,
                                     const DecodeOptions& dopt = DecodeOptions()) const {
    DecodeOutput dec;
    RSFIQA_RETURN_IF_ERROR(predict_batch(points, labels, output, &dec, dopt));
    return dec;
  }
  // The same into a caller's DecodeOutput, whose tensors are reused when a
  // previous batch had the same size (with dopt.workspace, a loop over
  // batches allocates nothing after the first).
  Status predict_batch(const std::vector<Point>& points, const std::vector<int>& labels, MaskOutput output,
                       DecodeOutput* dec, const DecodeOptions& dopt = DecodeOptions()) const {
    if (!dec) return make_error(ErrorCode::kInvalidArgument, "SAM predictor: null batch output");
    if (!has_image_) return make_error(ErrorCode::kInvalidArgument, "SAM predictor: predict_batch before set_image");
    if (points.empty()) return make_error(ErrorCode::kEmptyInput, "SAM predictor: empty prompt batch");
    if (points.size() != labels.size())
      return make_error(ErrorCode::kInvalidArgument, "SAM predictor: %zu points but %zu labels", points.size(),
                        labels.size());
    const int B = (int)points.size();
    std::vector<float> sparse((size_t)B * 2 * kEmbedDim);
    for (int i = 0; i < B; ++i) {
      if (labels[(size_t)i] != kLabelBackground && labels[(size_t)i] != kLabelForeground)
        return make_error(ErrorCode::kInvalidArgument, "SAM predictor: point %d has label %d (expected 0 or 1)", i,
                          labels[(size_t)i]);
      RSFIQA_RETURN_IF_ERROR(check_inside(points[(size_t)i].x, points[(size_t)i].y, "point", i));
      std::vector<float> coords;
      std::vector<int> lab;
      push_point(points[(size_t)i].x, points[(size_t)i].y, labels[(size_t)i], &coords, &lab);
      coords.push_back(0.0f);
      coords.push_back(0.0f);
      lab.push_back(kLabelPadding);
      RSFIQA_RETURN_IF_ERROR(
          embed_points(w_->prompt, coords.data(), lab.data(), 2, sparse.data() + (size_t)i * 2 * kEmbedDim));
    }
    return decode(*w_, side_, sparse.data(), B, 2, output, dec, dopt);
  }

  // Original-size logits [n, orig_h, orig_w] of n low-res maps [n, 256, 256]
  // (masks are logits > 0). Parallel over the maps.
  Status upscale_all(const float* low_res, int64_t n, float* out) const {
    if (!has_image_) return make_error(ErrorCode::kInvalidArgument, "SAM predictor: no image set");
    const int ih = emb_.input_h, iw = emb_.input_w, H = emb_.orig_h, W = emb_.orig_w;
    const int64_t need = upscale_scratch_floats(ih, iw, W);
    const int threads = get_num_threads() > 0 ? get_num_threads() : 1;
    const int64_t chunk = (n + threads - 1) / threads;
    const int64_t nchunks = (n + chunk - 1) / chunk;
    RSFIQA_ASSIGN_OR_RETURN(Buffer scratch, Buffer::allocate(need * nchunks * (int64_t)sizeof(float)));
    float* base = static_cast<float*>(scratch.data());
    parallel_for_chunks(n, chunk, [&](int64_t c, int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
        upscale_low_res(low_res + i * kLowResSide * kLowResSide, ih, iw, H, W, base + c * need,
                        out + i * (int64_t)H * W);
    });
    return Status();
  }

 private:
  Status check_inside(float x, float y, const char* what, int index) const {
    if (!std::isfinite(x) || !std::isfinite(y) || x < 0.0f || y < 0.0f || x > (float)emb_.orig_w ||
        y > (float)emb_.orig_h)
      return make_error(ErrorCode::kInvalidArgument,
                        "SAM predictor: %s %d at (%g, %g) is outside the %dx%d image (prompts are not clamped)", what,
                        index, x, y, emb_.orig_w, emb_.orig_h);
    return Status();
  }
  // ResizeLongestSide.apply_coords, then appended with its label.
  void push_point(float x, float y, int label, std::vector<float>* coords, std::vector<int>* labels) const {
    coords->push_back((float)((double)x * ((double)emb_.input_w / (double)emb_.orig_w)));
    coords->push_back((float)((double)y * ((double)emb_.input_h / (double)emb_.orig_h)));
    labels->push_back(label);
  }

  std::shared_ptr<const SamDecoderWeights> w_;
  std::shared_ptr<const ImageEncoder> encoder_;
  ImageEmbedding emb_;
  ImageSide side_;
  bool has_image_ = false;
};

}  // namespace rsfiqa::sam

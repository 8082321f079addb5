// SPDX-License-Identifier: MIT
// The implementation of the C API declared in rsfiqa/c_api.h. Include this
// header in exactly one C++ translation unit, with RSFIQA_C_API_IMPLEMENTATION
// defined before the include; elsewhere it declares nothing beyond c_api.h.
//
// Every entry point catches nothing because nothing below throws (the library
// never throws; allocation failure under exceptions is the only source, and a
// build with -fno-exceptions has none): errors are Status values turned into
// status codes plus a thread-local message for rsfiqa_last_error().
#pragma once

#include "rsfiqa/c_api.h"

#ifdef RSFIQA_C_API_IMPLEMENTATION

#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/pipeline/assess.hpp"

struct rsfiqa_context {
  rsfiqa::Assessor assessor;
};

struct rsfiqa_result {
  rsfiqa::AssessResult r;
  std::string json;
  std::vector<std::string> labels;  // per region, kept for the const char* getters
};

namespace rsfiqa::detail {
struct CApiError {
  int code = 0;
  std::string message;
};
inline CApiError& c_api_error() {
  static thread_local CApiError e;
  return e;
}
inline int c_api_fail(const Status& s) {
  c_api_error().code = s.code_value();
  c_api_error().message = s.message();
  return s.code_value();
}
inline int c_api_fail(ErrorCode code, const char* message) { return c_api_fail(Status(code, message)); }
}  // namespace rsfiqa::detail

extern "C" {

rsfiqa_context_params rsfiqa_context_default_params(void) {
  rsfiqa_context_params p;
  p.n_threads = 0;
  return p;
}

rsfiqa_assess_params rsfiqa_assess_default_params(void) {
  const rsfiqa::sam::AmgParams d;
  rsfiqa_assess_params p;
  p.points_per_side = d.points_per_side;
  p.points_per_batch = d.points_per_batch;
  p.pred_iou_thresh = d.pred_iou_thresh;
  p.stability_score_thresh = d.stability_score_thresh;
  p.stability_score_offset = d.stability_score_offset;
  p.box_nms_thresh = d.box_nms_thresh;
  p.crop_n_layers = d.crop_n_layers;
  p.crop_nms_thresh = d.crop_nms_thresh;
  p.crop_overlap_ratio = d.crop_overlap_ratio;
  p.crop_n_points_downscale_factor = d.crop_n_points_downscale_factor;
  p.min_mask_region_area = (int64_t)d.min_mask_region_area;
  p.describe = 1;
  p.lang_ja = 0;
  return p;
}

static rsfiqa_context* rsfiqa_c_api_make(rsfiqa::Result<rsfiqa::Assessor> a, rsfiqa_context_params params) {
  if (!a.ok()) {
    rsfiqa::detail::c_api_fail(a.status());
    return nullptr;
  }
  rsfiqa_context* ctx = new (std::nothrow) rsfiqa_context;
  if (!ctx) {
    rsfiqa::detail::c_api_fail(rsfiqa::ErrorCode::kOutOfMemory, "cannot allocate the context");
    return nullptr;
  }
  ctx->assessor = std::move(*a);
  if (params.n_threads > 0) rsfiqa::set_num_threads(params.n_threads);
  return ctx;
}

rsfiqa_context* rsfiqa_context_create_from_dir(const char* weights_dir, rsfiqa_context_params params) {
  if (!weights_dir) {
    rsfiqa::detail::c_api_fail(rsfiqa::ErrorCode::kInvalidArgument, "rsfiqa_context_create_from_dir: null folder");
    return nullptr;
  }
  return rsfiqa_c_api_make(rsfiqa::Assessor::load_dir(weights_dir), params);
}

rsfiqa_context* rsfiqa_context_create_from_buffers(const void* encoder, size_t encoder_size, const void* decoder,
                                                   size_t decoder_size, const void* quality, size_t quality_size,
                                                   rsfiqa_context_params params) {
  if (!encoder || !decoder || encoder_size == 0 || decoder_size == 0) {
    rsfiqa::detail::c_api_fail(rsfiqa::ErrorCode::kInvalidArgument,
                               "rsfiqa_context_create_from_buffers: the encoder and decoder buffers are required");
    return nullptr;
  }
  return rsfiqa_c_api_make(
      rsfiqa::Assessor::from_buffers(encoder, encoder_size, decoder, decoder_size, quality, quality_size), params);
}

void rsfiqa_context_free(rsfiqa_context* ctx) { delete ctx; }

int rsfiqa_assess_rgb(rsfiqa_context* ctx, const uint8_t* rgb, int w, int h, int stride,
                      const rsfiqa_assess_params* params, rsfiqa_result** out) {
  using rsfiqa::ErrorCode;
  if (out) *out = nullptr;
  if (!ctx || !rgb || !out)
    return rsfiqa::detail::c_api_fail(ErrorCode::kInvalidArgument, "rsfiqa_assess_rgb: null argument");
  if (w <= 0 || h <= 0) return rsfiqa::detail::c_api_fail(ErrorCode::kEmptyInput, "rsfiqa_assess_rgb: empty image");
  if ((int64_t)w * h > rsfiqa::io::ImageLimits().max_pixels)
    return rsfiqa::detail::c_api_fail(ErrorCode::kLimitExceeded, "rsfiqa_assess_rgb: image over the pixel cap");
  if (stride < 3 * w)
    return rsfiqa::detail::c_api_fail(ErrorCode::kInvalidArgument, "rsfiqa_assess_rgb: stride < 3 * width");
  const rsfiqa_assess_params p = params ? *params : rsfiqa_assess_default_params();
  rsfiqa::AssessOptions opt;
  opt.amg.points_per_side = p.points_per_side;
  opt.amg.points_per_batch = p.points_per_batch;
  opt.amg.pred_iou_thresh = p.pred_iou_thresh;
  opt.amg.stability_score_thresh = p.stability_score_thresh;
  opt.amg.stability_score_offset = p.stability_score_offset;
  opt.amg.box_nms_thresh = p.box_nms_thresh;
  opt.amg.crop_n_layers = p.crop_n_layers;
  opt.amg.crop_nms_thresh = p.crop_nms_thresh;
  opt.amg.crop_overlap_ratio = p.crop_overlap_ratio;
  opt.amg.crop_n_points_downscale_factor = p.crop_n_points_downscale_factor;
  opt.amg.min_mask_region_area = p.min_mask_region_area;
  opt.describe = p.describe ? rsfiqa::DescribeMode::kTemplate : rsfiqa::DescribeMode::kNone;
  opt.lang = p.lang_ja ? rsfiqa::DescribeLang::kJa : rsfiqa::DescribeLang::kEn;
  rsfiqa::Status v = rsfiqa::sam::validate_amg_params(opt.amg);
  if (!v.ok()) return rsfiqa::detail::c_api_fail(v);

  rsfiqa::io::Image img;
  img.width = w;
  img.height = h;
  img.rgb.resize((size_t)w * (size_t)h * 3);
  for (int y = 0; y < h; ++y)
    std::memcpy(&img.rgb[(size_t)y * (size_t)w * 3], rgb + (size_t)y * (size_t)stride, (size_t)w * 3);
  auto r = ctx->assessor.assess(img, opt);
  if (!r.ok()) return rsfiqa::detail::c_api_fail(r.status());
  auto json = rsfiqa::report_to_json(*r, 0);
  if (!json.ok()) return rsfiqa::detail::c_api_fail(json.status());
  rsfiqa_result* res = new (std::nothrow) rsfiqa_result;
  if (!res) return rsfiqa::detail::c_api_fail(ErrorCode::kOutOfMemory, "cannot allocate the result");
  res->r = std::move(*r);
  res->json = std::move(*json);
  for (const rsfiqa::RegionResult& g : res->r.regions) res->labels.push_back(rsfiqa::quality_label_name(g.quality));
  *out = res;
  return RSFIQA_OK;
}

float rsfiqa_result_quality(const rsfiqa_result* r) { return r ? r->r.quality : 0.f; }
const char* rsfiqa_result_label(const rsfiqa_result* r) { return r ? rsfiqa::quality_label_name(r->r.quality) : ""; }
float rsfiqa_result_distortion(const rsfiqa_result* r, int d) {
  return r && d >= 0 && d < RSFIQA_N_DIMENSIONS ? r->r.distortions.v[(size_t)d] : 0.f;
}
int rsfiqa_result_width(const rsfiqa_result* r) { return r ? r->r.width : 0; }
int rsfiqa_result_height(const rsfiqa_result* r) { return r ? r->r.height : 0; }
int rsfiqa_result_n_regions(const rsfiqa_result* r) { return r ? (int)r->r.regions.size() : 0; }

int rsfiqa_result_region(const rsfiqa_result* r, int i, rsfiqa_region* out) {
  if (!r || !out)
    return rsfiqa::detail::c_api_fail(rsfiqa::ErrorCode::kInvalidArgument, "rsfiqa_result_region: null argument");
  if (i < 0 || i >= (int)r->r.regions.size())
    return rsfiqa::detail::c_api_fail(rsfiqa::ErrorCode::kInvalidArgument, "rsfiqa_result_region: index out of range");
  const rsfiqa::RegionResult& g = r->r.regions[(size_t)i];
  out->id = g.id;
  out->area = g.area;
  out->area_fraction = g.area_fraction;
  for (int k = 0; k < 4; ++k) out->bbox[k] = g.bbox[(size_t)k];
  out->quality = g.quality;
  out->label = r->labels[(size_t)i].c_str();
  out->weight = g.weight;
  for (int k = 0; k < RSFIQA_N_DIMENSIONS; ++k) out->distortions[k] = g.distortions.v[(size_t)k];
  out->description = g.description.c_str();
  return RSFIQA_OK;
}

const int32_t* rsfiqa_result_label_map(const rsfiqa_result* r) { return r ? r->r.label_map.data() : nullptr; }
const char* rsfiqa_result_description(const rsfiqa_result* r) { return r ? r->r.description.c_str() : ""; }
const char* rsfiqa_result_json(const rsfiqa_result* r) { return r ? r->json.c_str() : ""; }
void rsfiqa_result_free(rsfiqa_result* r) { delete r; }

const char* rsfiqa_last_error(void) { return rsfiqa::detail::c_api_error().message.c_str(); }
int rsfiqa_last_error_code(void) { return rsfiqa::detail::c_api_error().code; }
const char* rsfiqa_status_name(int status) {
  if (status < 0 || status > (int)rsfiqa::ErrorCode::kCancelled) return "unknown";
  return rsfiqa::error_code_name((rsfiqa::ErrorCode)status);
}

}  // extern "C"

#endif  // RSFIQA_C_API_IMPLEMENTATION

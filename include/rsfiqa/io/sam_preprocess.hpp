// SPDX-License-Identifier: MIT
// Image resizing and the input preprocessing of segment-anything (SAM).
//
// 1. resize_bilinear_antialias_u8: the 8-bit resize of Pillow's
//    `Image.resize(size, Image.BILINEAR)` (libImaging/Resample.c), which is
//    what SAM runs: `ResizeLongestSide.apply_image` calls torchvision's
//    `F.resize` on a PIL image, and torchvision hands PIL images to
//    `Image.resize` with the BILINEAR filter. The filter is a triangle whose
//    support grows with the downscale factor (so shrinking averages over all
//    covered pixels: antialiasing); weights are normalised per output pixel,
//    rounded to 22-bit fixed point, and each of the two passes (horizontal
//    first, then vertical) rounds to uint8. The output is bit-identical to
//    Pillow's (tests compare against Pillow 9.4 goldens).
//
// 2. resize_bilinear_f32: plain bilinear interpolation of float planes with
//    the `align_corners=False` convention and no antialiasing, i.e. PyTorch's
//    `F.interpolate(x, size, mode="bilinear", align_corners=False)`; SAM uses
//    it to upscale mask logits. For output index i along an axis of input
//    length `in` and output length `out`:
//        src = max((i + 0.5) * float(in / out) - 0.5, 0)   (in double)
//        i0 = min(floor(src), in - 1),  i1 = min(i0 + 1, in - 1)
//        l1 = src - i0,  l0 = 1 - l1
//    and the output is the l-weighted blend of the 2x2 neighbours. Shrinking
//    therefore samples (it does not average), exactly as PyTorch does.
//
// 3. sam_preprocess: `SamPredictor.set_image` + `Sam.preprocess`: resize so
//    the longer side is `target_length` (size from `get_preprocess_shape`:
//    scale = T / max(h, w), side = int(side * scale + 0.5)), then per channel
//    (x - mean) / std with mean (123.675, 116.28, 103.53) and std
//    (58.395, 57.12, 57.375) in float32, CHW, zero-padded at the bottom and
//    right to T x T. Note the padding is 0 *after* normalisation, as in SAM.
//
// What this file does not do: decoding (io/image.hpp), other filters
// (bicubic, Lanczos), or the mask postprocessing itself (models/sam).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/core/status.hpp"
#include "rsfiqa/core/tensor.hpp"
#include "rsfiqa/io/image.hpp"

namespace rsfiqa {
namespace io {

namespace detail {

// Pillow's fixed-point precision for 8-bit resampling: 32 - 8 - 2 bits.
constexpr int kResamplePrecisionBits = 22;

// Per-output-pixel filter taps along one axis, as Pillow's precompute_coeffs
// builds them for the BILINEAR (triangle, support 1) filter.
struct ResampleTaps {
  int ksize = 0;                // taps per output pixel (maximum)
  std::vector<int> first;       // [out]   first input index used
  std::vector<int> count;       // [out]   number of input indices used
  std::vector<int32_t> weight;  // [out, ksize] fixed-point weights, sum ~ 2^22
};

// Triangle filter of Pillow's BILINEAR mode.
inline double triangle_filter(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

inline ResampleTaps make_resample_taps(int in_size, int out_size) {
  ResampleTaps t;
  // Input pixels per output pixel; below 1 (upscaling) the filter keeps its
  // natural width, above 1 it is stretched so it covers `scale` input pixels.
  const double scale = (double)in_size / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = 1.0 * filterscale;
  t.ksize = (int)std::ceil(support) * 2 + 1;
  t.first.resize((size_t)out_size);
  t.count.resize((size_t)out_size);
  t.weight.assign((size_t)out_size * (size_t)t.ksize, 0);
  std::vector<double> w((size_t)t.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    // Centre of output pixel xx in input coordinates (pixel edges at integers).
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    // Pillow rounds the window ends with (int)(v + 0.5), i.e. truncation
    // toward zero after adding a half, then clamps to the image.
    int xmin = (int)(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = (int)(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      // Distance from the centre of input pixel (x + xmin), in filter units.
      w[(size_t)x] = triangle_filter((x + xmin - center + 0.5) * ss);
      ww += w[(size_t)x];
    }
    int32_t* k = &t.weight[(size_t)xx * (size_t)t.ksize];
    for (int x = 0; x < xmax; ++x) {
      double v = w[(size_t)x];
      if (ww != 0.0) v /= ww;
      // Round half away from zero to 22-bit fixed point (weights are >= 0).
      k[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << kResamplePrecisionBits))
                   : (int32_t)(0.5 + v * (1 << kResamplePrecisionBits));
    }
    t.first[(size_t)xx] = xmin;
    t.count[(size_t)xx] = xmax;
  }
  return t;
}

// Fixed-point accumulator -> uint8 (Pillow's clip8): drop the fraction, clamp.
inline uint8_t clip8(int32_t acc) {
  const int32_t v = acc >> kResamplePrecisionBits;
  return (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
}

}  // namespace detail

// Resizes an interleaved 8-bit image src[in_h, in_w, channels] into
// dst[out_h, out_w, channels] exactly as Pillow's Image.resize with
// Image.BILINEAR does (see the file comment). Channels are independent, 1..4
// of them. Sizes equal to the input's skip that pass (a plain copy when both
// match). `dst` must not alias `src`.
inline Status resize_bilinear_antialias_u8(const uint8_t* src, int in_w, int in_h, int channels, uint8_t* dst,
                                           int out_w, int out_h) {
  if (in_w <= 0 || in_h <= 0 || out_w <= 0 || out_h <= 0)
    return make_error(ErrorCode::kInvalidArgument, "resize from %dx%d to %dx%d: sizes must be positive", in_w, in_h,
                      out_w, out_h);
  if (channels < 1 || channels > 4)
    return make_error(ErrorCode::kInvalidArgument, "resize: %d channels, expected 1..4", channels);
  if (!src || !dst) return make_error(ErrorCode::kInvalidArgument, "resize: null image pointer");
  const int C = channels;
  const bool need_h = out_w != in_w;
  const bool need_v = out_h != in_h;
  const detail::ResampleTaps vt = detail::make_resample_taps(in_h, out_h);

  // Rows of the source the vertical pass reads: [ybox_first, ybox_last).
  const int ybox_first = vt.first[0];
  const int ybox_last = vt.first[(size_t)out_h - 1] + vt.count[(size_t)out_h - 1];

  // Horizontal pass into tmp[ybox_last - ybox_first, out_w, C] (uint8).
  std::vector<uint8_t> tmp;
  const uint8_t* vin = src;  // input of the vertical pass
  int vin_w = in_w;          // its width
  int row_offset = 0;        // row of vin that vertical tap index 0 refers to
  if (need_h) {
    const detail::ResampleTaps ht = detail::make_resample_taps(in_w, out_w);
    const int rows = ybox_last - ybox_first;
    tmp.resize((size_t)rows * (size_t)out_w * (size_t)C);
    parallel_for(
        rows,
        [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r) {
            const uint8_t* in_row = src + (size_t)(r + ybox_first) * (size_t)in_w * (size_t)C;
            uint8_t* out_row = tmp.data() + (size_t)r * (size_t)out_w * (size_t)C;
            for (int xx = 0; xx < out_w; ++xx) {
              const int xmin = ht.first[(size_t)xx], n = ht.count[(size_t)xx];
              const int32_t* k = &ht.weight[(size_t)xx * (size_t)ht.ksize];
              for (int c = 0; c < C; ++c) {
                int32_t acc = 1 << (detail::kResamplePrecisionBits - 1);  // +0.5 for rounding
                for (int x = 0; x < n; ++x) acc += (int32_t)in_row[(size_t)(x + xmin) * C + c] * k[x];
                out_row[(size_t)xx * C + c] = detail::clip8(acc);
              }
            }
          }
        },
        16);
    vin = tmp.data();
    vin_w = out_w;
    row_offset = ybox_first;
  }

  if (need_v) {
    // Vertical pass: each output row blends count[yy] rows of vin. The sums
    // are exact integers (no overflow: 255 * 2^22 * ~1 < 2^31), so adding
    // one whole input row at a time gives the same result as Pillow's
    // per-pixel loop while reading memory contiguously.
    const size_t row_len = (size_t)vin_w * (size_t)C;
    parallel_for(
        out_h,
        [&](int64_t y0, int64_t y1) {
          std::vector<int32_t> acc(row_len);
          for (int64_t yy = y0; yy < y1; ++yy) {
            const int ymin = vt.first[(size_t)yy] - row_offset, n = vt.count[(size_t)yy];
            const int32_t* k = &vt.weight[(size_t)yy * (size_t)vt.ksize];
            std::fill(acc.begin(), acc.end(), 1 << (detail::kResamplePrecisionBits - 1));
            for (int y = 0; y < n; ++y) {
              const uint8_t* in_row = vin + (size_t)(y + ymin) * row_len;
              const int32_t ky = k[y];
              for (size_t i = 0; i < row_len; ++i) acc[i] += (int32_t)in_row[i] * ky;
            }
            uint8_t* out_row = dst + (size_t)yy * row_len;
            for (size_t i = 0; i < row_len; ++i) out_row[i] = detail::clip8(acc[i]);
          }
        },
        8);
  } else if (need_h) {
    // Only the width changed: the horizontal result is the output (all rows).
    std::memcpy(dst, tmp.data(), tmp.size());
  } else {
    std::memcpy(dst, src, (size_t)in_w * (size_t)in_h * (size_t)C);
  }
  return Status();
}

// Image convenience wrapper: RGB8 in, RGB8 of out_w x out_h out.
inline Result<Image> resize_bilinear_antialias(const Image& img, int out_w, int out_h) {
  if (img.empty())
    return make_error(ErrorCode::kEmptyInput, "cannot resize an empty image (%dx%d)", img.width, img.height);
  if (img.rgb.size() != (size_t)img.width * (size_t)img.height * 3)
    return make_error(ErrorCode::kShapeMismatch, "image %dx%d holds %zu bytes, expected %zu", img.width, img.height,
                      img.rgb.size(), (size_t)img.width * (size_t)img.height * 3);
  if (out_w <= 0 || out_h <= 0 || (int64_t)out_w * out_h > ((int64_t)1 << 31))
    return make_error(ErrorCode::kInvalidArgument, "resize target %dx%d is empty or too large", out_w, out_h);
  Image out;
  out.width = out_w;
  out.height = out_h;
  out.rgb.resize((size_t)out_w * (size_t)out_h * 3);
  RSFIQA_RETURN_IF_ERROR(
      resize_bilinear_antialias_u8(img.rgb.data(), img.width, img.height, 3, out.rgb.data(), out_w, out_h));
  return out;
}

namespace detail {
// One axis of PyTorch's align_corners=False linear interpolation: neighbour
// indices and weights for every output index (see the file comment).
struct LinearTaps {
  std::vector<int> i0, i1;
  std::vector<float> l0, l1;
};

inline LinearTaps make_linear_taps(int in_size, int out_size) {
  LinearTaps t;
  t.i0.resize((size_t)out_size);
  t.i1.resize((size_t)out_size);
  t.l0.resize((size_t)out_size);
  t.l1.resize((size_t)out_size);
  // PyTorch rounds the ratio to float, then evaluates the source position in
  // double (the `+ 0.5` is a double literal) and rounds only the weight.
  const float scale = (float)in_size / (float)out_size;
  for (int i = 0; i < out_size; ++i) {
    double src = (double)scale * ((double)i + 0.5) - 0.5;
    if (src < 0.0) src = 0.0;
    int i0 = (int)std::floor(src);
    if (i0 > in_size - 1) i0 = in_size - 1;
    const int i1 = i0 + (i0 < in_size - 1 ? 1 : 0);
    double frac = src - (double)i0;
    if (frac < 0.0) frac = 0.0;
    if (frac > 1.0) frac = 1.0;
    const float l1 = (float)frac;
    t.i0[(size_t)i] = i0;
    t.i1[(size_t)i] = i1;
    t.l1[(size_t)i] = l1;
    t.l0[(size_t)i] = 1.f - l1;
  }
  return t;
}
}  // namespace detail

// Bilinear resize of `planes` float planes src[planes, in_h, in_w] into
// dst[planes, out_h, out_w], PyTorch F.interpolate(mode="bilinear",
// align_corners=False, antialias=False) semantics (file comment). `dst` must
// not alias `src`.
inline Status resize_bilinear_f32(const float* src, int planes, int in_h, int in_w, float* dst, int out_h, int out_w) {
  if (planes <= 0 || in_h <= 0 || in_w <= 0 || out_h <= 0 || out_w <= 0)
    return make_error(ErrorCode::kInvalidArgument,
                      "bilinear resize of [%d, %d, %d] to [%d, %d, %d]: sizes must be positive", planes, in_h, in_w,
                      planes, out_h, out_w);
  if (!src || !dst) return make_error(ErrorCode::kInvalidArgument, "bilinear resize: null pointer");
  const detail::LinearTaps ty = detail::make_linear_taps(in_h, out_h);
  const detail::LinearTaps tx = detail::make_linear_taps(in_w, out_w);
  const int64_t rows = (int64_t)planes * out_h;
  parallel_for(
      rows,
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t p = r / out_h;
          const int y = (int)(r % out_h);
          const float* plane = src + (size_t)p * (size_t)in_h * (size_t)in_w;
          const float* row0 = plane + (size_t)ty.i0[(size_t)y] * (size_t)in_w;
          const float* row1 = plane + (size_t)ty.i1[(size_t)y] * (size_t)in_w;
          const float h0 = ty.l0[(size_t)y], h1 = ty.l1[(size_t)y];
          float* out = dst + (size_t)r * (size_t)out_w;
          for (int x = 0; x < out_w; ++x) {
            const int x0 = tx.i0[(size_t)x], x1 = tx.i1[(size_t)x];
            const float w0 = tx.l0[(size_t)x], w1 = tx.l1[(size_t)x];
            // Same grouping as PyTorch's CPU kernel: rows first, then blend.
            out[x] = h0 * (w0 * row0[x0] + w1 * row0[x1]) + h1 * (w0 * row1[x0] + w1 * row1[x1]);
          }
        }
      },
      4);
  return Status();
}

// The size SAM resizes an h x w image to (ResizeLongestSide.get_preprocess_shape).
struct SamSize {
  int h = 0;
  int w = 0;
};

inline SamSize sam_preprocess_shape(int h, int w, int target_length) {
  const double scale = target_length * 1.0 / (double)(h > w ? h : w);
  SamSize s;
  s.h = (int)((double)h * scale + 0.5);
  s.w = (int)((double)w * scale + 0.5);
  return s;
}

// SAM's pixel statistics (ImageNet mean/std scaled to 0..255), RGB order.
inline constexpr float kSamPixelMean[3] = {123.675f, 116.28f, 103.53f};
inline constexpr float kSamPixelStd[3] = {58.395f, 57.12f, 57.375f};

struct SamInput {
  Tensor pixels;          // [3, T, T] float32, normalised, zero-padded bottom/right
  SamSize input_size;     // (h, w) of the resized image inside `pixels`
  SamSize original_size;  // (h, w) of the image given
};

// SAM's image preprocessing (file comment, item 3). Errors: kEmptyInput,
// kShapeMismatch (inconsistent Image), kInvalidArgument (target_length not in
// [1, 16384]), kOutOfMemory.
inline Result<SamInput> sam_preprocess(const Image& img, int target_length = 1024) {
  if (img.empty())
    return make_error(ErrorCode::kEmptyInput, "SAM preprocessing of an empty image (%dx%d)", img.width, img.height);
  if (target_length < 1 || target_length > 16384)
    return make_error(ErrorCode::kInvalidArgument, "SAM target length %d is outside [1, 16384]", target_length);
  const SamSize rs = sam_preprocess_shape(img.height, img.width, target_length);
  if (rs.h < 1 || rs.w < 1)
    return make_error(ErrorCode::kInvalidArgument, "image %dx%d resizes to %dx%d for target length %d: too thin",
                      img.width, img.height, rs.w, rs.h, target_length);
  RSFIQA_ASSIGN_OR_RETURN(Image resized, resize_bilinear_antialias(img, rs.w, rs.h));

  const int T = target_length;
  SamInput out;
  RSFIQA_ASSIGN_OR_RETURN(out.pixels, Tensor::create(DType::kF32, Shape{3, T, T}));  // zero-filled
  out.input_size = rs;
  out.original_size.h = img.height;
  out.original_size.w = img.width;

  // (x - mean) / std in float32 for each of the 256 byte values, per channel:
  // the same float operations PyTorch performs on the promoted uint8 tensor.
  float lut[3][256];
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v) lut[c][v] = ((float)v - kSamPixelMean[c]) / kSamPixelStd[c];

  float* px = out.pixels.f32();
  const size_t plane = (size_t)T * (size_t)T;
  parallel_for(
      rs.h,
      [&](int64_t y0, int64_t y1) {
        for (int64_t y = y0; y < y1; ++y) {
          const uint8_t* in = resized.rgb.data() + (size_t)y * (size_t)rs.w * 3;
          for (int c = 0; c < 3; ++c) {
            float* o = px + (size_t)c * plane + (size_t)y * (size_t)T;
            for (int x = 0; x < rs.w; ++x) o[x] = lut[c][in[(size_t)x * 3 + (size_t)c]];
          }
        }
      },
      16);
  return out;
}

}  // namespace io
}  // namespace rsfiqa

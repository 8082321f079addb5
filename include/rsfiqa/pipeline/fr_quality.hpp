// SPDX-License-Identifier: MIT
// The full-reference quality measure of rsfiqa: the training target of the
// quality network and `rsfiqa distort --fr`. It compares a distorted image
// with its pristine reference, globally and per region of a label map, and
// maps the result to 0..100 (100 = identical, higher is better).
//
// Two per-pixel maps, pooled by plain means over the pixels of a region:
//   - SSIM on Rec.601 luma Y = 0.299 R + 0.587 G + 0.114 B (0..255), with
//     the Gaussian window of Wang et al. 2004 (sigma 1.5, 11 x 11: radius 5),
//     C1 = (0.01*255)^2, C2 = (0.03*255)^2, and mirrored borders
//     (scipy.ndimage mode='reflect') so the map covers every pixel. SSIM's
//     luminance and contrast factors make it react to exposure and contrast
//     changes as well as to blur, noise and compression.
//   - CIE 1976 colour difference dE = |Lab_ref - Lab_dist| (sRGB, D65 white,
//     IEC 61966-2-1 decoding, CIE 15 Lab). It reacts to saturation, casts,
//     hue and quantisation, which luma SSIM barely sees, and to brightness.
// Score of a region with mean SSIM s and mean dE e:
//   Q = 100 * max(s, 0)^kFrSsimExponent * exp(-e / kFrDeltaEScale)
// The global score applies the same formula to the means over all pixels
// (it is not an average of region scores). docs/distortions.md gives the
// reasoning behind the constants. Everything runs in double.
//
// What it does not do: multi-scale SSIM, CIEDE2000, viewing-distance models,
// or any alignment of the two images (they must have the same size).
// tools/golden/make_distort_golden.py reimplements it with numpy/scipy.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/core/status.hpp"
#include "rsfiqa/io/image.hpp"
#include "rsfiqa/pipeline/distort.hpp"

namespace rsfiqa {

constexpr double kFrSsimSigma = 1.5;
constexpr double kFrSsimTruncate = 3.5;  // radius = int(3.5 * 1.5 + 0.5) = 5: an 11 x 11 window
constexpr double kFrSsimC1 = (0.01 * 255.0) * (0.01 * 255.0);
constexpr double kFrSsimC2 = (0.03 * 255.0) * (0.03 * 255.0);
constexpr double kFrSsimExponent = 2.0;
constexpr double kFrDeltaEScale = 20.0;

// One pooled score.
struct FrScore {
  double quality = 0.0;  // 0..100
  double ssim = 0.0;     // mean SSIM over the pixels
  double delta_e = 0.0;  // mean CIE76 dE over the pixels
  int64_t pixels = 0;
};

struct FrResult {
  FrScore global;
  std::vector<FrScore> regions;  // one per label 0..K-1 (empty without a label map)
};

// Q from the pooled terms (the formula of the file comment).
inline double fr_quality_from_terms(double ssim, double delta_e) {
  const double s = std::max(0.0, std::min(1.0, ssim));
  return 100.0 * std::pow(s, kFrSsimExponent) * std::exp(-std::max(0.0, delta_e) / kFrDeltaEScale);
}

namespace detail {

// CIE Lab of an 8-bit sRGB pixel (D65 reference white).
inline void srgb8_to_lab(const double* lin_lut, uint8_t r8, uint8_t g8, uint8_t b8, double lab[3]) {
  const double r = lin_lut[r8], g = lin_lut[g8], b = lin_lut[b8];
  // sRGB (linear) -> XYZ, IEC 61966-2-1 matrix; divided by the white point.
  const double x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047;
  const double y = (0.2126729 * r + 0.7151522 * g + 0.0721750 * b) / 1.0;
  const double z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883;
  // f(t) = t^(1/3) above (6/29)^3, else the linear segment t / (3 (6/29)^2) + 4/29.
  auto f = [](double t) {
    const double d = 6.0 / 29.0;
    return t > d * d * d ? std::cbrt(t) : t / (3.0 * d * d) + 4.0 / 29.0;
  };
  const double fx = f(x), fy = f(y), fz = f(z);
  lab[0] = 116.0 * fy - 16.0;
  lab[1] = 500.0 * (fx - fy);
  lab[2] = 200.0 * (fy - fz);
}

// Per-pixel SSIM map of two luma planes (H x W, 0..255).
inline std::vector<double> ssim_map(const std::vector<double>& x, const std::vector<double>& y, int h, int w) {
  const size_t n = (size_t)h * w;
  std::vector<double> mx = x, my = y, sxx(n), syy(n), sxy(n);
  for (size_t i = 0; i < n; ++i) {
    sxx[i] = x[i] * x[i];
    syy[i] = y[i] * y[i];
    sxy[i] = x[i] * y[i];
  }
  const std::vector<double> taps = gaussian_taps(kFrSsimSigma, kFrSsimTruncate);
  for (std::vector<double>* v : {&mx, &my, &sxx, &syy, &sxy}) separable_filter<double>(v->data(), h, w, taps);
  std::vector<double> s(n);
  for (size_t i = 0; i < n; ++i) {
    const double vx = sxx[i] - mx[i] * mx[i], vy = syy[i] - my[i] * my[i], cxy = sxy[i] - mx[i] * my[i];
    s[i] = ((2.0 * mx[i] * my[i] + kFrSsimC1) * (2.0 * cxy + kFrSsimC2)) /
           ((mx[i] * mx[i] + my[i] * my[i] + kFrSsimC1) * (vx + vy + kFrSsimC2));
  }
  return s;
}

}  // namespace detail

// Scores `dist` against `ref` (same size). With `labels` (int32 [H,W],
// values in 0..num_regions-1) also one score per region; every region must
// hold at least one pixel. labels == nullptr: global score only.
inline Result<FrResult> fr_quality(const io::Image& ref, const io::Image& dist, const int32_t* labels = nullptr,
                                   int num_regions = 0) {
  if (ref.empty() || dist.empty())
    return make_error(ErrorCode::kEmptyInput, "fr_quality: empty image (reference %dx%d, distorted %dx%d)", ref.width,
                      ref.height, dist.width, dist.height);
  if (ref.width != dist.width || ref.height != dist.height)
    return make_error(ErrorCode::kShapeMismatch, "fr_quality: reference is %dx%d but the distorted image is %dx%d",
                      ref.width, ref.height, dist.width, dist.height);
  const int h = ref.height, w = ref.width;
  const size_t n = (size_t)h * w;
  if (ref.rgb.size() != 3 * n || dist.rgb.size() != 3 * n)
    return make_error(ErrorCode::kShapeMismatch, "fr_quality: pixel buffers hold %zu and %zu bytes, expected %zu",
                      ref.rgb.size(), dist.rgb.size(), 3 * n);
  if (labels) {
    if (num_regions < 1)
      return make_error(ErrorCode::kInvalidArgument, "fr_quality: %d regions given with a label map", num_regions);
    for (size_t i = 0; i < n; ++i)
      if (labels[i] < 0 || labels[i] >= num_regions)
        return make_error(ErrorCode::kInvalidArgument, "fr_quality: label %d at pixel (%d, %d) is not in 0..%d",
                          labels[i], (int)(i % (size_t)w), (int)(i / (size_t)w), num_regions - 1);
  }

  // Luma planes and the SSIM map.
  std::vector<double> yr(n), yd(n);
  for (size_t i = 0; i < n; ++i) {
    yr[i] = 0.299 * ref.rgb[3 * i] + 0.587 * ref.rgb[3 * i + 1] + 0.114 * ref.rgb[3 * i + 2];
    yd[i] = 0.299 * dist.rgb[3 * i] + 0.587 * dist.rgb[3 * i + 1] + 0.114 * dist.rgb[3 * i + 2];
  }
  const std::vector<double> ssim = detail::ssim_map(yr, yd, h, w);

  // dE map.
  double lin[256];
  for (int v = 0; v < 256; ++v) lin[v] = detail::srgb_to_linear(v / 255.0);
  std::vector<double> de(n);
  parallel_for((int64_t)n,
               [&](int64_t i0, int64_t i1) {
                 for (int64_t i = i0; i < i1; ++i) {
                   double a[3], b[3];
                   detail::srgb8_to_lab(lin, ref.rgb[3 * i], ref.rgb[3 * i + 1], ref.rgb[3 * i + 2], a);
                   detail::srgb8_to_lab(lin, dist.rgb[3 * i], dist.rgb[3 * i + 1], dist.rgb[3 * i + 2], b);
                   de[(size_t)i] = std::sqrt((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) +
                                             (a[2] - b[2]) * (a[2] - b[2]));
                 }
               },
               4096);

  // Pooling: plain sums in pixel order.
  FrResult res;
  std::vector<double> ss((size_t)std::max(num_regions, 0), 0.0), se(ss.size(), 0.0);
  std::vector<int64_t> cnt(ss.size(), 0);
  double gs = 0.0, ge = 0.0;
  for (size_t i = 0; i < n; ++i) {
    gs += ssim[i];
    ge += de[i];
    if (labels) {
      const size_t k = (size_t)labels[i];
      ss[k] += ssim[i];
      se[k] += de[i];
      ++cnt[k];
    }
  }
  res.global.pixels = (int64_t)n;
  res.global.ssim = gs / (double)n;
  res.global.delta_e = ge / (double)n;
  res.global.quality = fr_quality_from_terms(res.global.ssim, res.global.delta_e);
  if (labels) {
    res.regions.resize((size_t)num_regions);
    for (int k = 0; k < num_regions; ++k) {
      if (cnt[(size_t)k] == 0)
        return make_error(ErrorCode::kInvalidArgument, "fr_quality: region %d of %d has no pixels", k, num_regions);
      FrScore& r = res.regions[(size_t)k];
      r.pixels = cnt[(size_t)k];
      r.ssim = ss[(size_t)k] / (double)r.pixels;
      r.delta_e = se[(size_t)k] / (double)r.pixels;
      r.quality = fr_quality_from_terms(r.ssim, r.delta_e);
    }
  }
  return res;
}

}  // namespace rsfiqa

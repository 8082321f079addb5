// SPDX-License-Identifier: MIT
// Synthetic image distortions for rsfiqa: 22 types in the five quality
// dimensions (blur, noise, compression, color, exposure), 5 levels each. They
// build the training data of the quality network (per-region ground truth:
// a distortion applied inside one SAM region only) and are offered to users
// as `rsfiqa distort`. docs/distortions.md has the table of types and level
// parameters, the RNG and the mask feathering.
//
// Conventions:
//   - Images are io::Image (RGB8, interleaved). Filters run on planar float
//     copies in the 8-bit sRGB domain (0..255); only the two exposure types
//     (over/under) work on linearised sRGB. Results are rounded half away from
//     zero and clamped to 0..255.
//   - Borders are mirrored without repeating the edge pixel's neighbour
//     ("d c b a | a b c d"), which is scipy.ndimage's mode='reflect'.
//   - Randomness is counter-based: the value used at (pixel, channel) is a
//     pure function of (seed, type, pixel index, channel) through splitmix64,
//     with Box-Muller written here. Same seed -> same bytes for any thread
//     count; no <random> distributions (their output differs between
//     standard libraries). Only std::log/cos/sqrt from libm are involved.
//   - A mask (u8 [H,W], nonzero = inside) restricts the distortion: the
//     distortion is computed on the whole image, then blended with the input
//     by a feathered alpha (the 0/1 mask blurred by a Gaussian of sigma
//     kMaskFeatherSigma truncated at kMaskFeatherRadius pixels). Pixels
//     further than kMaskFeatherRadius from the mask are copied unchanged.
//
// What this file does not do: lens/zoom blur, JPEG 2000, geometric
// distortions, video. The JPEG type goes through the stb encoder/decoder of
// io/image.hpp; the DCT quantisation type implements the 8x8 transform here
// (orthonormal DCT-II with the quantisation tables of JPEG, ITU-T T.81
// Annex K).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/core/status.hpp"
#include "rsfiqa/io/image.hpp"

namespace rsfiqa {

// The five quality dimensions of the region distortion profile.
enum class DistortionDimension : int { kBlur = 0, kNoise = 1, kCompression = 2, kColor = 3, kExposure = 4 };
constexpr int kNumDistortionDimensions = 5;

inline const char* dimension_name(DistortionDimension d) {
  switch (d) {
    case DistortionDimension::kBlur: return "blur";
    case DistortionDimension::kNoise: return "noise";
    case DistortionDimension::kCompression: return "compression";
    case DistortionDimension::kColor: return "color";
    case DistortionDimension::kExposure: return "exposure";
  }
  return "unknown";
}

// Stable numbering: the training tools store these numbers. Append only.
enum class DistortionType : int {
  kGaussianBlur = 0,
  kDefocusBlur = 1,
  kMotionBlur = 2,
  kPixelate = 3,
  kGaussianNoise = 4,
  kColorNoise = 5,
  kImpulseNoise = 6,
  kSpeckleNoise = 7,
  kShotNoise = 8,
  kJpeg = 9,
  kDctQuantization = 10,
  kSaturationUp = 11,
  kSaturationDown = 12,
  kColorCast = 13,
  kColorQuantization = 14,
  kHueShift = 15,
  kBrightnessUp = 16,
  kBrightnessDown = 17,
  kContrastUp = 18,
  kContrastDown = 19,
  kOverExposure = 20,
  kUnderExposure = 21,
};
constexpr int kNumDistortionTypes = 22;
constexpr int kDistortionLevels = 5;

// Mask feathering (see the file comment): alpha = G_sigma * mask, with the
// Gaussian truncated at kMaskFeatherRadius, so alpha is exactly 0 further
// than that from every mask pixel.
constexpr float kMaskFeatherSigma = 1.0f;
constexpr int kMaskFeatherRadius = 3;

// One row of the distortion table. `a` is the main per-level parameter, `b`
// a second one (only where param_b is not null).
struct DistortionInfo {
  DistortionType type;
  const char* name;  // the CLI / file name, e.g. "gaussian_blur"
  DistortionDimension dim;
  bool stochastic;      // uses the seed for noise values (not only for a direction)
  const char* param_a;  // meaning and unit of a[]
  float a[kDistortionLevels];
  const char* param_b;  // nullptr when the type has one parameter
  float b[kDistortionLevels];
  const char* summary;  // one line for `rsfiqa distort --list`
};

// The table, indexed by (int)DistortionType. Levels go from mild (1) to heavy (5).
inline const DistortionInfo* distortion_table() {
  using D = DistortionDimension;
  using T = DistortionType;
  static const DistortionInfo table[kNumDistortionTypes] = {
      {T::kGaussianBlur,
       "gaussian_blur",
       D::kBlur,
       false,
       "sigma px",
       {0.75f, 1.5f, 2.5f, 4.0f, 6.0f},
       nullptr,
       {},
       "separable Gaussian, truncated at 3 sigma"},
      {T::kDefocusBlur,
       "defocus_blur",
       D::kBlur,
       false,
       "disk radius px",
       {1.5f, 2.5f, 4.0f, 6.0f, 9.0f},
       nullptr,
       {},
       "uniform disk (pill-box) kernel"},
      {T::kMotionBlur,
       "motion_blur",
       D::kBlur,
       false,
       "length px",
       {3, 7, 11, 17, 25},
       nullptr,
       {},
       "line kernel, angle in [0,180) deg from the seed"},
      {T::kPixelate,
       "pixelate",
       D::kBlur,
       false,
       "block px",
       {2, 3, 4, 6, 9},
       nullptr,
       {},
       "block means replicated over each block"},
      {T::kGaussianNoise,
       "gaussian_noise",
       D::kNoise,
       true,
       "sigma (0..255)",
       {3, 6, 10, 16, 25},
       nullptr,
       {},
       "additive luminance noise, same value on R, G, B"},
      {T::kColorNoise,
       "color_noise",
       D::kNoise,
       true,
       "sigma (0..255)",
       {3, 6, 10, 16, 25},
       nullptr,
       {},
       "additive noise, independent per channel"},
      {T::kImpulseNoise,
       "impulse_noise",
       D::kNoise,
       true,
       "pixel fraction",
       {0.005f, 0.015f, 0.035f, 0.07f, 0.14f},
       nullptr,
       {},
       "salt and pepper: half the hit pixels 0, half 255"},
      {T::kSpeckleNoise,
       "speckle_noise",
       D::kNoise,
       true,
       "sigma (relative)",
       {0.03f, 0.06f, 0.1f, 0.16f, 0.25f},
       nullptr,
       {},
       "multiplicative x*(1+n), n per channel"},
      {T::kShotNoise,
       "shot_noise",
       D::kNoise,
       true,
       "photons at 255",
       {1500, 600, 250, 100, 40},
       nullptr,
       {},
       "Poisson-like, Gaussian approximation with variance x*255/P"},
      {T::kJpeg,
       "jpeg",
       D::kCompression,
       false,
       "JPEG quality",
       {50, 30, 18, 10, 5},
       nullptr,
       {},
       "stb baseline JPEG encode and decode"},
      {T::kDctQuantization,
       "dct_quantization",
       D::kCompression,
       false,
       "table scale",
       {1.5f, 3, 6, 11, 20},
       nullptr,
       {},
       "8x8 DCT of Y/Cb/Cr, coefficients quantised with scaled Annex K tables"},
      {T::kSaturationUp,
       "saturation_up",
       D::kColor,
       false,
       "chroma factor",
       {1.3f, 1.6f, 2.0f, 2.5f, 3.2f},
       nullptr,
       {},
       "x -> Y + f*(x - Y), Y = Rec.601 luma"},
      {T::kSaturationDown,
       "saturation_down",
       D::kColor,
       false,
       "chroma factor",
       {0.75f, 0.55f, 0.35f, 0.18f, 0.0f},
       nullptr,
       {},
       "x -> Y + f*(x - Y), Y = Rec.601 luma"},
      {T::kColorCast,
       "color_cast",
       D::kColor,
       false,
       "log gain",
       {0.06f, 0.12f, 0.2f, 0.3f, 0.45f},
       nullptr,
       {},
       "white-balance shift: per-channel gains exp(a*d), d from the seed"},
      {T::kColorQuantization,
       "color_quantization",
       D::kColor,
       false,
       "levels per channel",
       {20, 12, 7, 4, 3},
       nullptr,
       {},
       "uniform quantisation of each channel"},
      {T::kHueShift,
       "hue_shift",
       D::kColor,
       false,
       "degrees",
       {10, 25, 45, 70, 100},
       nullptr,
       {},
       "rotation of RGB about the grey axis"},
      {T::kBrightnessUp,
       "brightness_up",
       D::kExposure,
       false,
       "offset (0..255)",
       {10, 22, 36, 54, 80},
       nullptr,
       {},
       "x + offset"},
      {T::kBrightnessDown,
       "brightness_down",
       D::kExposure,
       false,
       "offset (0..255)",
       {10, 22, 36, 54, 80},
       nullptr,
       {},
       "x - offset"},
      {T::kContrastUp,
       "contrast_up",
       D::kExposure,
       false,
       "factor",
       {1.25f, 1.5f, 1.85f, 2.3f, 3.0f},
       nullptr,
       {},
       "x -> m + f*(x - m), m = mean luma of the image"},
      {T::kContrastDown,
       "contrast_down",
       D::kExposure,
       false,
       "factor",
       {0.8f, 0.62f, 0.45f, 0.3f, 0.18f},
       nullptr,
       {},
       "x -> m + f*(x - m), m = mean luma of the image"},
      {T::kOverExposure,
       "over_exposure",
       D::kExposure,
       false,
       "linear gain",
       {1.25f, 1.5f, 2.0f, 3.0f, 4.5f},
       nullptr,
       {},
       "gain on linear sRGB, clipped at white"},
      {T::kUnderExposure,
       "under_exposure",
       D::kExposure,
       false,
       "linear gain",
       {0.75f, 0.55f, 0.38f, 0.25f, 0.14f},
       "black point",
       {0.01f, 0.02f, 0.04f, 0.06f, 0.08f},
       "gain on linear sRGB, then blacks crushed below b"},
  };
  return table;
}

inline const DistortionInfo& distortion_info(DistortionType t) { return distortion_table()[(int)t]; }

// "gaussian_blur" -> kGaussianBlur; also accepts '-' for '_'.
inline Result<DistortionType> parse_distortion_name(const std::string& name) {
  std::string n = name;
  for (char& c : n)
    if (c == '-') c = '_';
  for (int i = 0; i < kNumDistortionTypes; ++i)
    if (n == distortion_table()[i].name) return distortion_table()[i].type;
  return make_error(ErrorCode::kInvalidArgument, "unknown distortion '%s' (see `rsfiqa distort --list`)", name.c_str());
}

namespace detail {

// ---------------------------------------------------------------------------
// Counter-based random numbers.
// ---------------------------------------------------------------------------

// splitmix64's output function (Steele, Lea, Flood 2014): a bijective mixer
// of 64-bit integers.
inline uint64_t splitmix64_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The stream key of one (seed, type) pair.
inline uint64_t distortion_key(uint64_t seed, DistortionType t) {
  return splitmix64_mix(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull * (uint64_t)((int)t + 1));
}

// The n-th 64-bit value of a stream: splitmix64 state key + (n+1)*golden.
inline uint64_t stream_u64(uint64_t key, uint64_t n) { return splitmix64_mix(key + (n + 1) * 0x9E3779B97F4A7C15ull); }

// Uniform in (0, 1): the top 53 bits, offset by half a step (never 0 or 1).
inline double stream_uniform(uint64_t key, uint64_t n) {
  return ((double)(stream_u64(key, n) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

// Standard normal from values 2n and 2n+1 of the stream (Box-Muller, cosine branch).
inline double stream_normal(uint64_t key, uint64_t n) {
  const double u1 = stream_uniform(key, 2 * n), u2 = stream_uniform(key, 2 * n + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// ---------------------------------------------------------------------------
// Planar float images and helpers.
// ---------------------------------------------------------------------------

// Mirror index into [0, n): scipy.ndimage mode='reflect' (period 2n).
inline int reflect_index(int i, int n) {
  if (n == 1) return 0;
  const int period = 2 * n;
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - 1 - i;
}

// Rounds to the nearest integer in 0..255 (half away from zero).
inline uint8_t to_u8(float v) {
  if (!(v > 0.0f)) return 0;  // also maps NaN to 0
  if (v >= 255.0f) return 255;
  return (uint8_t)(v + 0.5f);
}

// Three planes of H*W floats, plane c at data[c*H*W].
struct Planes {
  int h = 0, w = 0;
  std::vector<float> data;
  float* plane(int c) { return data.data() + (size_t)c * (size_t)h * (size_t)w; }
  const float* plane(int c) const { return data.data() + (size_t)c * (size_t)h * (size_t)w; }
};

inline Planes to_planes(const io::Image& img) {
  Planes p;
  p.h = img.height;
  p.w = img.width;
  const size_t n = (size_t)p.h * (size_t)p.w;
  p.data.resize(3 * n);
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < 3; ++c) p.data[(size_t)c * n + i] = (float)img.rgb[i * 3 + (size_t)c];
  return p;
}

inline void from_planes(const Planes& p, io::Image* out) {
  out->width = p.w;
  out->height = p.h;
  const size_t n = (size_t)p.h * (size_t)p.w;
  out->rgb.resize(3 * n);
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < 3; ++c) out->rgb[i * 3 + (size_t)c] = to_u8(p.data[(size_t)c * n + i]);
}

// Normalised Gaussian taps w[0..2r], w[k] ~ exp(-(k-r)^2 / (2 sigma^2)) with
// r = int(truncate * sigma + 0.5): scipy.ndimage.gaussian_filter's kernel.
inline std::vector<double> gaussian_taps(double sigma, double truncate) {
  const int r = (int)(truncate * sigma + 0.5);
  std::vector<double> w((size_t)(2 * r + 1));
  double sum = 0.0;
  for (int k = -r; k <= r; ++k) sum += (w[(size_t)(k + r)] = std::exp(-0.5 * (double)k * k / (sigma * sigma)));
  for (double& v : w) v /= sum;
  return w;
}

// Separable correlation of one H x W plane with taps (length 2r+1) along
// both axes, reflect borders, in T (float or double). In place.
template <typename T>
inline void separable_filter(T* img, int h, int w, const std::vector<double>& taps) {
  const int r = (int)taps.size() / 2;
  std::vector<T> wt(taps.begin(), taps.end());
  std::vector<T> tmp((size_t)h * (size_t)w);
  // Horizontal pass: img -> tmp, one padded row per call.
  parallel_for(
      h,
      [&](int64_t y0, int64_t y1) {
        std::vector<T> row((size_t)(w + 2 * r));
        for (int64_t y = y0; y < y1; ++y) {
          const T* src = img + (size_t)y * (size_t)w;
          for (int x = -r; x < w + r; ++x) row[(size_t)(x + r)] = src[reflect_index(x, w)];
          // Tap-outer, pixel-inner: contiguous and vectorisable (same sum order per pixel).
          T* dst = tmp.data() + (size_t)y * (size_t)w;
          for (int x = 0; x < w; ++x) dst[x] = 0;
          for (int k = 0; k <= 2 * r; ++k) {
            const T wk = wt[(size_t)k];
            const T* src = row.data() + k;
            for (int x = 0; x < w; ++x) dst[x] += wk * src[x];
          }
        }
      },
      8);
  // Vertical pass: tmp -> img, whole rows accumulated (contiguous, vectorisable).
  parallel_for(
      h,
      [&](int64_t y0, int64_t y1) {
        for (int64_t y = y0; y < y1; ++y) {
          T* dst = img + (size_t)y * (size_t)w;
          for (int x = 0; x < w; ++x) dst[x] = 0;
          for (int k = 0; k <= 2 * r; ++k) {
            const T* src = tmp.data() + (size_t)reflect_index((int)y + k - r, h) * (size_t)w;
            const T wk = wt[(size_t)k];
            for (int x = 0; x < w; ++x) dst[x] += wk * src[x];
          }
        }
      },
      8);
}

// Sparse 2-D correlation: out(y,x) = sum_t wt * in(y+dy_t, x+dx_t), reflect borders.
struct Tap {
  int dy, dx;
  float w;
};
inline void sparse_filter(const float* in, float* out, int h, int w, const std::vector<Tap>& taps) {
  parallel_for(
      h,
      [&](int64_t y0, int64_t y1) {
        for (int64_t y = y0; y < y1; ++y) {
          float* dst = out + (size_t)y * (size_t)w;
          for (int x = 0; x < w; ++x) dst[x] = 0.0f;
          for (const Tap& t : taps) {
            const float* src = in + (size_t)reflect_index((int)y + t.dy, h) * (size_t)w;
            // Interior columns without index arithmetic, the borders reflected.
            const int xa = std::max(0, -t.dx), xb = std::min(w, w - t.dx);
            for (int x = 0; x < std::min(xa, w); ++x) dst[x] += t.w * src[reflect_index(x + t.dx, w)];
            for (int x = xa; x < xb; ++x) dst[x] += t.w * src[x + t.dx];
            for (int x = std::max(xb, xa); x < w; ++x) dst[x] += t.w * src[reflect_index(x + t.dx, w)];
          }
        }
      },
      4);
}

// ---------------------------------------------------------------------------
// The distortions, each on planes in place (p holds the input on entry).
// ---------------------------------------------------------------------------

inline void gaussian_blur_planes(Planes* p, double sigma) {
  const std::vector<double> taps = gaussian_taps(sigma, 3.0);
  for (int c = 0; c < 3; ++c) separable_filter<float>(p->plane(c), p->h, p->w, taps);
}

// Pill-box of radius R: pixels with dx^2 + dy^2 <= R^2, equal weights. Each
// kernel row is a horizontal run, so the sum is (2*ceil(R)+1) differences of
// per-row prefix sums (double, so large sums keep their low bits).
inline void defocus_blur_planes(Planes* p, double radius) {
  const int h = p->h, w = p->w, ry = (int)std::floor(radius);
  std::vector<int> half((size_t)(2 * ry + 1));
  int64_t count = 0;
  for (int dy = -ry; dy <= ry; ++dy) {
    half[(size_t)(dy + ry)] = (int)std::floor(std::sqrt(radius * radius - (double)dy * dy));
    count += 2 * half[(size_t)(dy + ry)] + 1;
  }
  const int pad = ry + 1;
  const size_t pw = (size_t)(w + 2 * pad + 1);
  std::vector<double> prefix((size_t)h * pw);
  std::vector<float> out((size_t)h * (size_t)w);
  for (int c = 0; c < 3; ++c) {
    const float* in = p->plane(c);
    // prefix[y][i] = sum of the padded row y over columns [-pad, i - pad).
    parallel_for(h, [&](int64_t y0, int64_t y1) {
      for (int64_t y = y0; y < y1; ++y) {
        double* pr = prefix.data() + (size_t)y * pw;
        pr[0] = 0.0;
        for (int i = 0; i < w + 2 * pad; ++i)
          pr[i + 1] = pr[i] + in[(size_t)y * (size_t)w + (size_t)reflect_index(i - pad, w)];
      }
    });
    const double inv = 1.0 / (double)count;
    parallel_for(h, [&](int64_t y0, int64_t y1) {
      std::vector<double> acc((size_t)w);
      for (int64_t y = y0; y < y1; ++y) {
        std::fill(acc.begin(), acc.end(), 0.0);
        // One kernel row at a time over the whole image row (vectorisable).
        for (int dy = -ry; dy <= ry; ++dy) {
          const double* pr = prefix.data() + (size_t)reflect_index((int)y + dy, h) * pw;
          const int hw = half[(size_t)(dy + ry)];
          const double* hi = pr + pad + hw + 1;
          const double* lo = pr + pad - hw;
          for (int x = 0; x < w; ++x) acc[(size_t)x] += hi[x] - lo[x];
        }
        for (int x = 0; x < w; ++x) out[(size_t)y * (size_t)w + (size_t)x] = (float)(acc[(size_t)x] * inv);
      }
    });
    std::copy(out.begin(), out.end(), p->plane(c));
  }
}

// Line kernel of `length` px at `angle_deg`: 4*length points spread evenly
// over the segment centred on the pixel, each splatted bilinearly onto the
// integer grid, weights summing to 1.
inline std::vector<Tap> motion_taps(double length, double angle_deg) {
  const double th = angle_deg * 3.141592653589793 / 180.0, cx = std::cos(th), cy = std::sin(th);
  const int r = (int)std::ceil(length / 2.0) + 1, side = 2 * r + 1;
  std::vector<double> grid((size_t)side * (size_t)side, 0.0);
  const int n = (int)(4 * length);
  for (int i = 0; i < n; ++i) {
    const double t = (n == 1 ? 0.0 : ((double)i / (n - 1) - 0.5) * (length - 1.0));
    const double fx = t * cx + r, fy = t * cy + r;
    const int x0 = (int)std::floor(fx), y0 = (int)std::floor(fy);
    const double ax = fx - x0, ay = fy - y0;
    grid[(size_t)y0 * side + x0] += (1 - ax) * (1 - ay);
    grid[(size_t)y0 * side + x0 + 1] += ax * (1 - ay);
    grid[(size_t)(y0 + 1) * side + x0] += (1 - ax) * ay;
    grid[(size_t)(y0 + 1) * side + x0 + 1] += ax * ay;
  }
  std::vector<Tap> taps;
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x) {
      const double v = grid[(size_t)y * side + x];
      if (v > 1e-9) taps.push_back({y - r, x - r, (float)(v / n)});
    }
  return taps;
}

// The motion angle in whole degrees [0, 180), a function of the seed only
// (so the five levels of one seed share a direction).
inline int motion_angle(uint64_t seed) {
  return (int)(stream_u64(distortion_key(seed, DistortionType::kMotionBlur), 0) % 180);
}

inline void motion_blur_planes(Planes* p, double length, uint64_t seed) {
  const std::vector<Tap> taps = motion_taps(length, (double)motion_angle(seed));
  std::vector<float> out((size_t)p->h * (size_t)p->w);
  for (int c = 0; c < 3; ++c) {
    sparse_filter(p->plane(c), out.data(), p->h, p->w, taps);
    std::copy(out.begin(), out.end(), p->plane(c));
  }
}

// Block means over a grid anchored at (0,0); partial blocks at the right and
// bottom average what they hold.
inline void pixelate_planes(Planes* p, int block) {
  const int h = p->h, w = p->w;
  for (int c = 0; c < 3; ++c) {
    float* pl = p->plane(c);
    for (int by = 0; by < h; by += block)
      for (int bx = 0; bx < w; bx += block) {
        const int ye = std::min(h, by + block), xe = std::min(w, bx + block);
        double s = 0.0;
        for (int y = by; y < ye; ++y)
          for (int x = bx; x < xe; ++x) s += pl[(size_t)y * w + x];
        const float m = (float)(s / ((double)(ye - by) * (xe - bx)));
        for (int y = by; y < ye; ++y)
          for (int x = bx; x < xe; ++x) pl[(size_t)y * w + x] = m;
      }
  }
}

// Rec.601 luma of 8-bit sRGB values (the JPEG / SSIM-on-Y convention).
inline float luma601(float r, float g, float b) { return 0.299f * r + 0.587f * g + 0.114f * b; }

// Noise types. Counter n = pixel index * 3 + channel (or the pixel index for
// values shared by the three channels).
inline void noise_planes(Planes* p, DistortionType t, float a, uint64_t seed) {
  const uint64_t key = distortion_key(seed, t);
  const int64_t n = (int64_t)p->h * p->w;
  float* pr = p->plane(0);
  float* pg = p->plane(1);
  float* pb = p->plane(2);
  float* pl[3] = {pr, pg, pb};
  parallel_for(
      n,
      [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
          const uint64_t u = (uint64_t)i;
          switch (t) {
            case DistortionType::kGaussianNoise: {
              const float z = (float)(a * stream_normal(key, u));
              for (int c = 0; c < 3; ++c) pl[c][i] += z;
              break;
            }
            case DistortionType::kColorNoise:
              for (int c = 0; c < 3; ++c) pl[c][i] += (float)(a * stream_normal(key, 3 * u + (uint64_t)c));
              break;
            case DistortionType::kImpulseNoise: {
              const double v = stream_uniform(key, u);
              if (v < 0.5 * a) {
                for (int c = 0; c < 3; ++c) pl[c][i] = 0.0f;
              } else if (v < a) {
                for (int c = 0; c < 3; ++c) pl[c][i] = 255.0f;
              }
              break;
            }
            case DistortionType::kSpeckleNoise:
              for (int c = 0; c < 3; ++c) pl[c][i] *= (float)(1.0 + a * stream_normal(key, 3 * u + (uint64_t)c));
              break;
            case DistortionType::kShotNoise:
              // Photon count ~ Poisson(lambda), lambda = x/255*P, approximated by
              // lambda + sqrt(lambda)*z and scaled back: x + sqrt(x*255/P)*z.
              for (int c = 0; c < 3; ++c) {
                const double x = pl[c][i];
                pl[c][i] = (float)(x + std::sqrt(x * 255.0 / a) * stream_normal(key, 3 * u + (uint64_t)c));
              }
              break;
            default: break;
          }
        }
      },
      4096);
}

// JPEG quantisation tables (ITU-T T.81 Annex K, K.1 luminance / K.2
// chrominance), in natural (row-major) order.
inline const uint8_t* jpeg_luma_table() {
  static const uint8_t t[64] = {16, 11, 10, 16, 24,  40,  51,  61,  12, 12, 14, 19, 26,  58,  60,  55,
                                14, 13, 16, 24, 40,  57,  69,  56,  14, 17, 22, 29, 51,  87,  80,  62,
                                18, 22, 37, 56, 68,  109, 103, 77,  24, 35, 55, 64, 81,  104, 113, 92,
                                49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99};
  return t;
}
inline const uint8_t* jpeg_chroma_table() {
  static const uint8_t t[64] = {17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99,
                                99, 99, 47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
                                99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99};
  return t;
}

// 8x8 DCT quantisation. RGB -> full-range YCbCr (JFIF), each plane split in
// 8x8 blocks anchored at (0,0) (partial edge blocks are filled by mirroring),
// orthonormal DCT-II F = C X C^T, F' = round(F / q) * q with
// q = max(1, round(table * scale)), X' = C^T F' C, back to RGB.
inline void dct_quantize_planes(Planes* p, float scale) {
  const int h = p->h, w = p->w;
  const size_t n = (size_t)h * w;
  float* pr = p->plane(0);
  float* pg = p->plane(1);
  float* pb = p->plane(2);
  // To YCbCr, centred on 0 (the JPEG level shift).
  for (size_t i = 0; i < n; ++i) {
    const float r = pr[i], g = pg[i], b = pb[i];
    pr[i] = 0.299f * r + 0.587f * g + 0.114f * b - 128.0f;
    pg[i] = -0.168736f * r - 0.331264f * g + 0.5f * b;
    pb[i] = 0.5f * r - 0.418688f * g - 0.081312f * b;
  }
  // C[u][x] = s(u) cos((2x+1) u pi / 16), s(0) = sqrt(1/8), else 1/2.
  float C[8][8];
  for (int u = 0; u < 8; ++u)
    for (int x = 0; x < 8; ++x)
      C[u][x] = (float)((u == 0 ? std::sqrt(0.125) : 0.5) * std::cos((2 * x + 1) * u * 3.141592653589793 / 16.0));
  for (int c = 0; c < 3; ++c) {
    const uint8_t* tab = c == 0 ? jpeg_luma_table() : jpeg_chroma_table();
    float q[64];
    for (int k = 0; k < 64; ++k) q[k] = std::max(1.0f, std::round((float)tab[k] * scale));
    float* pl = p->plane(c);
    const int bh = (h + 7) / 8, bw = (w + 7) / 8;
    parallel_for(bh, [&](int64_t b0, int64_t b1) {
      float X[8][8], T[8][8], F[8][8];
      for (int64_t by = b0; by < b1; ++by)
        for (int bx = 0; bx < bw; ++bx) {
          for (int y = 0; y < 8; ++y)
            for (int x = 0; x < 8; ++x)
              X[y][x] = pl[(size_t)reflect_index((int)by * 8 + y, h) * w + (size_t)reflect_index(bx * 8 + x, w)];
          // T = C X, F = T C^T.
          for (int u = 0; u < 8; ++u)
            for (int x = 0; x < 8; ++x) {
              float s = 0;
              for (int y = 0; y < 8; ++y) s += C[u][y] * X[y][x];
              T[u][x] = s;
            }
          for (int u = 0; u < 8; ++u)
            for (int v = 0; v < 8; ++v) {
              float s = 0;
              for (int x = 0; x < 8; ++x) s += T[u][x] * C[v][x];
              F[u][v] = std::round(s / q[u * 8 + v]) * q[u * 8 + v];
            }
          // X = C^T F C.
          for (int y = 0; y < 8; ++y)
            for (int v = 0; v < 8; ++v) {
              float s = 0;
              for (int u = 0; u < 8; ++u) s += C[u][y] * F[u][v];
              T[y][v] = s;
            }
          for (int y = 0; y < 8; ++y)
            for (int x = 0; x < 8; ++x) {
              float s = 0;
              for (int v = 0; v < 8; ++v) s += T[y][v] * C[v][x];
              const int yy = (int)by * 8 + y, xx = bx * 8 + x;
              if (yy < h && xx < w) pl[(size_t)yy * w + xx] = s;
            }
        }
    });
  }
  // Back to RGB.
  for (size_t i = 0; i < n; ++i) {
    const float y = pr[i] + 128.0f, cb = pg[i], cr = pb[i];
    pr[i] = y + 1.402f * cr;
    pg[i] = y - 0.344136f * cb - 0.714136f * cr;
    pb[i] = y + 1.772f * cb;
  }
}

// sRGB transfer functions (IEC 61966-2-1) on 0..1.
inline double srgb_to_linear(double v) { return v <= 0.04045 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4); }
inline double linear_to_srgb(double v) { return v <= 0.0031308 ? 12.92 * v : 1.055 * std::pow(v, 1.0 / 2.4) - 0.055; }

// Per-pixel colour and exposure types.
inline void pointwise_planes(Planes* p, DistortionType t, float a, float b, uint64_t seed) {
  const size_t n = (size_t)p->h * p->w;
  float* pl[3] = {p->plane(0), p->plane(1), p->plane(2)};
  switch (t) {
    case DistortionType::kSaturationUp:
    case DistortionType::kSaturationDown:
      for (size_t i = 0; i < n; ++i) {
        const float y = luma601(pl[0][i], pl[1][i], pl[2][i]);
        for (int c = 0; c < 3; ++c) pl[c][i] = y + a * (pl[c][i] - y);
      }
      break;
    case DistortionType::kColorCast: {
      // Direction d = cos(phi) u1 + sin(phi) u2 in the plane orthogonal to
      // grey, u1 = (1,0,-1)/sqrt2 (warm/cool), u2 = (1,-2,1)/sqrt6
      // (magenta/green); phi in whole degrees from the seed.
      const double phi = (double)(stream_u64(distortion_key(seed, t), 0) % 360) * 3.141592653589793 / 180.0;
      const double u1[3] = {0.7071067811865476, 0.0, -0.7071067811865476};
      const double u2[3] = {0.4082482904638631, -0.8164965809277261, 0.4082482904638631};
      float g[3];
      for (int c = 0; c < 3; ++c) g[c] = (float)std::exp(a * (std::cos(phi) * u1[c] + std::sin(phi) * u2[c]));
      for (int c = 0; c < 3; ++c)
        for (size_t i = 0; i < n; ++i) pl[c][i] *= g[c];
      break;
    }
    case DistortionType::kColorQuantization: {
      const float steps = a - 1.0f;
      for (int c = 0; c < 3; ++c)
        for (size_t i = 0; i < n; ++i) pl[c][i] = std::round(std::round(pl[c][i] / 255.0f * steps) * 255.0f / steps);
      break;
    }
    case DistortionType::kHueShift: {
      // Rodrigues rotation by theta about the unit grey axis (1,1,1)/sqrt3.
      const double th = a * 3.141592653589793 / 180.0, co = std::cos(th), si = std::sin(th) / std::sqrt(3.0);
      const double d = (1.0 - co) / 3.0;
      const float m[3][3] = {{(float)(co + d), (float)(d - si), (float)(d + si)},
                             {(float)(d + si), (float)(co + d), (float)(d - si)},
                             {(float)(d - si), (float)(d + si), (float)(co + d)}};
      for (size_t i = 0; i < n; ++i) {
        const float r = pl[0][i], g = pl[1][i], bb = pl[2][i];
        for (int c = 0; c < 3; ++c) pl[c][i] = m[c][0] * r + m[c][1] * g + m[c][2] * bb;
      }
      break;
    }
    case DistortionType::kBrightnessUp:
    case DistortionType::kBrightnessDown: {
      const float off = t == DistortionType::kBrightnessUp ? a : -a;
      for (int c = 0; c < 3; ++c)
        for (size_t i = 0; i < n; ++i) pl[c][i] += off;
      break;
    }
    case DistortionType::kContrastUp:
    case DistortionType::kContrastDown: {
      double s = 0.0;
      for (size_t i = 0; i < n; ++i) s += luma601(pl[0][i], pl[1][i], pl[2][i]);
      const float m = (float)(s / (double)n);
      for (int c = 0; c < 3; ++c)
        for (size_t i = 0; i < n; ++i) pl[c][i] = m + a * (pl[c][i] - m);
      break;
    }
    case DistortionType::kOverExposure:
    case DistortionType::kUnderExposure: {
      // A 256-entry table: 8-bit in -> float 0..255 out.
      float lut[256];
      for (int v = 0; v < 256; ++v) {
        double lin = std::min(1.0, a * srgb_to_linear(v / 255.0));
        double e = linear_to_srgb(lin);
        if (t == DistortionType::kUnderExposure) e = std::max(0.0, e - b) / (1.0 - b);
        lut[v] = (float)(255.0 * e);
      }
      for (int c = 0; c < 3; ++c)
        for (size_t i = 0; i < n; ++i) pl[c][i] = lut[to_u8(pl[c][i])];
      break;
    }
    default: break;
  }
}

// Feathered alpha of a u8 mask (nonzero = 1): Gaussian sigma
// kMaskFeatherSigma, taps truncated at kMaskFeatherRadius.
inline std::vector<float> feathered_alpha(const uint8_t* mask, int h, int w) {
  std::vector<float> a((size_t)h * w);
  for (size_t i = 0; i < a.size(); ++i) a[i] = mask[i] ? 1.0f : 0.0f;
  std::vector<double> taps = gaussian_taps(kMaskFeatherSigma, (double)kMaskFeatherRadius / kMaskFeatherSigma);
  separable_filter<float>(a.data(), h, w, taps);
  // Snap rounding dust so that fully outside / inside pixels copy exactly.
  for (float& v : a) v = v < 1e-6f ? 0.0f : (v > 1.0f - 1e-6f ? 1.0f : v);
  return a;
}

}  // namespace detail

// Applies distortion `type` at `level` (1..5) to `in`, deterministically in
// `seed`. With `mask` (u8, in.height x in.width, nonzero = inside; the caller
// guarantees the size) the result is blended into the input by the feathered
// mask; outside it (beyond kMaskFeatherRadius px) pixels are unchanged.
// `out` may alias `in`.
inline Status apply_distortion(const io::Image& in, DistortionType type, int level, uint64_t seed, const uint8_t* mask,
                               io::Image* out) {
  if ((int)type < 0 || (int)type >= kNumDistortionTypes)
    return make_error(ErrorCode::kInvalidArgument, "distortion type %d is not in 0..%d", (int)type,
                      kNumDistortionTypes - 1);
  const DistortionInfo& info = distortion_info(type);
  if (level < 1 || level > kDistortionLevels)
    return make_error(ErrorCode::kInvalidArgument, "distortion level %d of %s is not in 1..%d", level, info.name,
                      kDistortionLevels);
  if (in.empty())
    return make_error(ErrorCode::kEmptyInput, "%s: the image is empty (%dx%d)", info.name, in.width, in.height);
  if (in.rgb.size() != (size_t)in.width * (size_t)in.height * 3)
    return make_error(ErrorCode::kShapeMismatch, "%s: image %dx%d holds %zu bytes, expected %zu", info.name, in.width,
                      in.height, in.rgb.size(), (size_t)in.width * (size_t)in.height * 3);
  if (!out) return make_error(ErrorCode::kInvalidArgument, "%s: no output image", info.name);
  const float a = info.a[level - 1], b = info.b[level - 1];

  io::Image result;
  if (type == DistortionType::kJpeg) {
    auto bytes = io::encode_jpeg(in, (int)a);
    if (!bytes.ok()) return Status(bytes.status()).with_context("jpeg distortion");
    auto dec = io::decode_image(*bytes);
    if (!dec.ok()) return Status(dec.status()).with_context("jpeg distortion");
    result = std::move(*dec);
  } else {
    detail::Planes p = detail::to_planes(in);
    switch (info.dim) {
      case DistortionDimension::kBlur:
        if (type == DistortionType::kGaussianBlur) detail::gaussian_blur_planes(&p, a);
        if (type == DistortionType::kDefocusBlur) detail::defocus_blur_planes(&p, a);
        if (type == DistortionType::kMotionBlur) detail::motion_blur_planes(&p, a, seed);
        if (type == DistortionType::kPixelate) detail::pixelate_planes(&p, (int)a);
        break;
      case DistortionDimension::kNoise: detail::noise_planes(&p, type, a, seed); break;
      case DistortionDimension::kCompression: detail::dct_quantize_planes(&p, a); break;
      case DistortionDimension::kColor:
      case DistortionDimension::kExposure: detail::pointwise_planes(&p, type, a, b, seed); break;
    }
    detail::from_planes(p, &result);
  }

  if (mask) {
    const std::vector<float> alpha = detail::feathered_alpha(mask, in.height, in.width);
    for (size_t i = 0; i < alpha.size(); ++i) {
      const float al = alpha[i];
      for (size_t c = 0; c < 3; ++c) {
        const size_t k = i * 3 + c;
        if (al == 0.0f)
          result.rgb[k] = in.rgb[k];
        else if (al < 1.0f)
          result.rgb[k] = detail::to_u8((float)in.rgb[k] + al * ((float)result.rgb[k] - (float)in.rgb[k]));
      }
    }
  }
  *out = std::move(result);
  return Status();
}

// Same with the mask size checked: mask_h x mask_w must equal the image's.
inline Status apply_distortion_checked(const io::Image& in, DistortionType type, int level, uint64_t seed,
                                       const std::vector<uint8_t>* mask, int mask_h, int mask_w, io::Image* out) {
  if (mask) {
    if (mask_h != in.height || mask_w != in.width || mask->size() != (size_t)mask_h * (size_t)mask_w)
      return make_error(ErrorCode::kShapeMismatch, "mask is %dx%d (%zu values), the image is %dx%d", mask_w, mask_h,
                        mask->size(), in.width, in.height);
  }
  return apply_distortion(in, type, level, seed, mask ? mask->data() : nullptr, out);
}

// A binary mask (1 inside) of the pixels whose label is one of `ids`.
inline std::vector<uint8_t> mask_from_labels(const int32_t* labels, int64_t n, const std::vector<int32_t>& ids) {
  std::vector<uint8_t> m((size_t)n, 0);
  for (int64_t i = 0; i < n; ++i)
    for (int32_t id : ids)
      if (labels[i] == id) m[(size_t)i] = 1;
  return m;
}

}  // namespace rsfiqa

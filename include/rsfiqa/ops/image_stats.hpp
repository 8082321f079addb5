// SPDX-License-Identifier: MIT
// Low-level image statistics per cell of a grid, computed on the native
// pixels of an 8-bit RGB image: the "low-level" half of the quality
// network's token features (docs/rsa.md section 7.2).
//
// Per-pixel maps (Y = 0.299 R + 0.587 G + 0.114 B, on 0..255; borders are
// mirrored with the edge pixel repeated, numpy's "symmetric" padding):
//   MSCN  m = (Y - mu) / (sigma + 1), mu = G * Y, sigma^2 = G * Y^2 - mu^2,
//         G the normalised 7x7 Gaussian with std 7/6 (BRISQUE's local
//         normalisation, Mittal et al. 2012)
//   gradient g^2 = gx^2 + gy^2, central differences gx = (Y[x+1] - Y[x-1]) / 2
//   Laplacian L = Y[up] + Y[down] + Y[left] + Y[right] - 4 Y
// and per cell these kImageStatCount values (index: name, definition):
//   0 lum_mean        mean Y / 255
//   1 lum_std         std Y / 255 (population)
//   2 clip_low        fraction of pixels with max(R, G, B) <= 5
//   3 clip_high       fraction of pixels with max(R, G, B) >= 250
//   4 mscn_abs        mean |m|
//   5 mscn_var        variance of m
//   6 mscn_kurt       log(1 + mean m^4 / (mean(m^2)^2 + 1e-6))
//   7 mscn_hprod      mean m[y, x] m[y, x+1] over pairs whose left pixel is in the cell (0 if none)
//   8 grad_energy     log(1 + mean g^2)
//   9 lap_energy      log(1 + mean L^2)
//  10 lap_grad_ratio  log((mean L^2 + 1) / (mean g^2 + 1))  (falls with blur)
//  11 noise_sigma     log(1 + median|L| / 0.6745 / sqrt(20))  (a robust noise std:
//                     the 4-neighbour Laplacian of white noise of std s has std s sqrt(20))
//  12 blockiness      log((b + 1) / (n + 1)), b = mean |Y[x] - Y[x-1]| over x = 0 mod 8
//                     plus mean |Y[y] - Y[y-1]| over y = 0 mod 8 (the 8x8 block grid of
//                     the original image), n the same over all other x (y) >= 1; 0 if a
//                     cell has no boundary or no interior difference
//  13 colourfulness   Hasler-Suesstrunk: (sqrt(var rg + var yb) + 0.3 sqrt(mean rg^2 + mean yb^2)) / 255,
//                     rg = R - G, yb = (R + G) / 2 - B (means, variances over the cell)
//  14 sat_mean        mean HSV saturation (max - min) / max (0 where max = 0)
//  15 sat_std         its std
//  16 cb_mean         mean BT.601 Cb / 255 (-0.168736 R - 0.331264 G + 0.5 B)
//  17 cr_mean         mean BT.601 Cr / 255 (0.5 R - 0.418688 G - 0.081312 B)
// Pixel maps and sums are in double. The Gaussian, gradient and Laplacian
// use the whole image (neighbours across cell borders); every statistic
// averages over the pixels of the cell.
//
// Cells come from a CellGrid: per cell row its pixel rows [y0, y1), per cell
// column its pixel columns [x0, x1). sam_token_cells() gives the cells of
// SAM's token grid mapped back onto the original image (the features
// pipeline's grid); uniform_cells() a plain division.
//
// One implementation, scalar, written to read like the definitions (it is
// its own reference; tests compare it with an independent numpy version).
// Threads: parallel_for over cell rows. What it does not do: standardise the
// values (the quality network does that with constants from its weights).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/core/status.hpp"

namespace rsfiqa::ops {

constexpr int kImageStatCount = 18;

inline const char* image_stat_name(int i) {
  static const char* const kNames[kImageStatCount] = {
      "lum_mean",   "lum_std",       "clip_low",    "clip_high",  "mscn_abs",       "mscn_var",
      "mscn_kurt",  "mscn_hprod",    "grad_energy", "lap_energy", "lap_grad_ratio", "noise_sigma",
      "blockiness", "colourfulness", "sat_mean",    "sat_std",    "cb_mean",        "cr_mean"};
  return i >= 0 && i < kImageStatCount ? kNames[i] : "unknown";
}

// Cells of a rows x cols grid over an h x w image. Cell (i, j) covers pixel
// rows [y0[i], y1[i]) and columns [x0[j], x1[j]); every range holds at least
// one pixel (ranges may repeat when the grid is finer than the image).
struct CellGrid {
  int rows = 0, cols = 0;
  int height = 0, width = 0;  // the image the cells refer to
  std::vector<int> y0, y1, x0, x1;
};

namespace detail {

// Range of cell i when n pixels map onto cells of `num / den` pixels each:
// [floor(i * num / den), floor(min((i + 1) * num, lim) / den)), widened to one
// pixel when empty.
inline void cell_range(int64_t a, int64_t b, int n, int* lo, int* hi) {
  int l = (int)a, h = (int)b;
  if (h <= l) {
    l = std::min(l, n - 1);
    h = l + 1;
  }
  *lo = l;
  *hi = h;
}

}  // namespace detail

// Cell i covers [i * h / rows, (i + 1) * h / rows) (integer division), as
// sam::downsample_labels_majority.
inline Result<CellGrid> uniform_cells(int h, int w, int rows, int cols) {
  if (h <= 0 || w <= 0 || rows <= 0 || cols <= 0)
    return make_error(ErrorCode::kInvalidArgument, "uniform_cells: sizes %dx%d -> %dx%d must be positive", h, w, rows,
                      cols);
  CellGrid g;
  g.rows = rows, g.cols = cols, g.height = h, g.width = w;
  g.y0.resize((size_t)rows), g.y1.resize((size_t)rows), g.x0.resize((size_t)cols), g.x1.resize((size_t)cols);
  for (int i = 0; i < rows; ++i)
    detail::cell_range((int64_t)i * h / rows, (int64_t)(i + 1) * h / rows, h, &g.y0[(size_t)i], &g.y1[(size_t)i]);
  for (int j = 0; j < cols; ++j)
    detail::cell_range((int64_t)j * w / cols, (int64_t)(j + 1) * w / cols, w, &g.x0[(size_t)j], &g.x1[(size_t)j]);
  return g;
}

// SAM's token grid on the original image. SAM resizes the longest side to
// target_length (rh = round(h * s), rw = round(w * s), s = target / max(h, w),
// as io::sam_preprocess_shape) and pads bottom/right to target_length; the
// encoder's tokens are patch x patch pixels of that padded square. Only the
// first ceil(rh / patch) x ceil(rw / patch) tokens touch the image (the
// valid grid; the others see padding only). Token row i covers resized rows
// [patch i, min(patch (i + 1), rh)), i.e. original rows
// [floor(patch i h / rh), floor(min(patch (i + 1), rh) h / rh)); columns alike.
// The cells tile the image exactly (the last one ends at h); when the image
// is smaller than the valid grid a cell is widened to one pixel.
inline Result<CellGrid> sam_token_cells(int h, int w, int target_length = 1024, int patch = 16) {
  if (h <= 0 || w <= 0 || target_length <= 0 || patch <= 0 || target_length % patch != 0)
    return make_error(ErrorCode::kInvalidArgument, "sam_token_cells: image %dx%d, target %d, patch %d", w, h,
                      target_length, patch);
  const double scale = target_length * 1.0 / (double)(h > w ? h : w);
  const int rh = (int)((double)h * scale + 0.5), rw = (int)((double)w * scale + 0.5);
  if (rh < 1 || rw < 1)
    return make_error(ErrorCode::kInvalidArgument, "sam_token_cells: image %dx%d resizes to %dx%d: too thin", w, h, rw,
                      rh);
  CellGrid g;
  g.rows = (rh + patch - 1) / patch, g.cols = (rw + patch - 1) / patch, g.height = h, g.width = w;
  g.y0.resize((size_t)g.rows), g.y1.resize((size_t)g.rows), g.x0.resize((size_t)g.cols), g.x1.resize((size_t)g.cols);
  for (int i = 0; i < g.rows; ++i)
    detail::cell_range((int64_t)patch * i * h / rh, (int64_t)std::min(patch * (i + 1), rh) * h / rh, h,
                       &g.y0[(size_t)i], &g.y1[(size_t)i]);
  for (int j = 0; j < g.cols; ++j)
    detail::cell_range((int64_t)patch * j * w / rw, (int64_t)std::min(patch * (j + 1), rw) * w / rw, w,
                       &g.x0[(size_t)j], &g.x1[(size_t)j]);
  return g;
}

namespace detail {

// Mirror index into [0, n) with the edge repeated (-1 -> 0, n -> n - 1).
inline int mirror(int i, int n) {
  while (i < 0 || i >= n) i = i < 0 ? -i - 1 : 2 * n - i - 1;
  return i;
}

// The normalised 7-tap Gaussian, std 7/6.
inline void gaussian7(double* k) {
  const double s = 7.0 / 6.0;
  double sum = 0;
  for (int i = 0; i < 7; ++i) sum += k[i] = std::exp(-0.5 * (i - 3) * (i - 3) / (s * s));
  for (int i = 0; i < 7; ++i) k[i] /= sum;
}

inline double luma(const uint8_t* p) { return 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]; }

inline double median_of(std::vector<double>* v) {
  const size_t n = v->size(), h = n / 2;
  std::nth_element(v->begin(), v->begin() + (ptrdiff_t)h, v->end());
  const double hi = (*v)[h];
  if (n % 2) return hi;
  return 0.5 * (hi + *std::max_element(v->begin(), v->begin() + (ptrdiff_t)h));
}

// All cells of cell row i. out: [cols, kImageStatCount] of that row.
inline void image_stats_row(const uint8_t* rgb, int64_t stride, const CellGrid& g, int i, float* out) {
  const int h = g.height, w = g.width, R = 3;
  const int y0 = g.y0[(size_t)i], y1 = g.y1[(size_t)i];
  const int b0 = y0 - R, nb = (y1 - y0) + 2 * R;  // band rows b0 .. b0 + nb - 1 (mirrored)
  double k[7];
  gaussian7(k);
  // Band maps: Y and the horizontal Gaussian passes of Y and Y^2, [nb, w].
  std::vector<double> Y((size_t)nb * w), hY((size_t)nb * w), hY2((size_t)nb * w);
  for (int r = 0; r < nb; ++r) {
    const uint8_t* row = rgb + (int64_t)mirror(b0 + r, h) * stride;
    for (int x = 0; x < w; ++x) Y[(size_t)r * w + x] = luma(row + 3 * x);
  }
  for (int r = 0; r < nb; ++r)
    for (int x = 0; x < w; ++x) {
      double s = 0, s2 = 0;
      for (int t = 0; t < 7; ++t) {
        const double v = Y[(size_t)r * w + mirror(x + t - R, w)];
        s += k[t] * v;
        s2 += k[t] * v * v;
      }
      hY[(size_t)r * w + x] = s;
      hY2[(size_t)r * w + x] = s2;
    }
  // MSCN, gradient energy, Laplacian for the band's own rows, [y1 - y0, w].
  const int nr = y1 - y0;
  std::vector<double> M((size_t)nr * w), G2((size_t)nr * w), L((size_t)nr * w);
  auto Yat = [&](int y, int x) { return Y[(size_t)(y - b0) * w + mirror(x, w)]; };
  for (int y = y0; y < y1; ++y) {
    for (int x = 0; x < w; ++x) {
      double mu = 0, m2 = 0;
      for (int t = 0; t < 7; ++t) {
        // Mirrored neighbour rows are band rows (the band was filled mirrored).
        const int r = y - b0 + t - R;
        mu += k[t] * hY[(size_t)r * w + x];
        m2 += k[t] * hY2[(size_t)r * w + x];
      }
      const double sigma = std::sqrt(std::max(m2 - mu * mu, 0.0));
      const size_t o = (size_t)(y - y0) * w + x;
      M[o] = (Yat(y, x) - mu) / (sigma + 1.0);
      // Band row y - b0 + d holds image row mirror(y + d), so the
      // neighbours mirror at the image border, not at the band's.
      const double up = Yat(y - 1, x), dn = Yat(y + 1, x);
      const double gx = 0.5 * (Yat(y, x + 1) - Yat(y, x - 1)), gy = 0.5 * (dn - up);
      G2[o] = gx * gx + gy * gy;
      L[o] = up + dn + Yat(y, x - 1) + Yat(y, x + 1) - 4.0 * Yat(y, x);
    }
  }
  std::vector<double> absl;
  for (int j = 0; j < g.cols; ++j) {
    const int x0 = g.x0[(size_t)j], x1 = g.x1[(size_t)j];
    const double n = (double)(y1 - y0) * (double)(x1 - x0);
    double sy = 0, syy = 0, clo = 0, chi = 0, ma = 0, mm = 0, m2 = 0, m4 = 0, hp = 0, nhp = 0, g2 = 0, l2 = 0;
    double bb = 0, nbb = 0, bi = 0, nbi = 0, srg = 0, srg2 = 0, syb = 0, syb2 = 0, ss = 0, ss2 = 0, scb = 0, scr = 0;
    absl.clear();
    for (int y = y0; y < y1; ++y) {
      const uint8_t* row = rgb + (int64_t)y * stride;
      const uint8_t* prev = y > 0 ? rgb + (int64_t)(y - 1) * stride : nullptr;
      for (int x = x0; x < x1; ++x) {
        const uint8_t* p = row + 3 * x;
        const double r = p[0], gg = p[1], b = p[2], yv = luma(p);
        const size_t o = (size_t)(y - y0) * w + x;
        sy += yv;
        syy += yv * yv;
        const int mx = std::max(p[0], std::max(p[1], p[2])), mn = std::min(p[0], std::min(p[1], p[2]));
        clo += mx <= 5;
        chi += mx >= 250;
        const double m = M[o];
        ma += std::fabs(m);
        mm += m;
        m2 += m * m;
        m4 += m * m * m * m;
        if (x + 1 < w) {
          hp += m * M[o + 1];
          nhp += 1;
        }
        g2 += G2[o];
        l2 += L[o] * L[o];
        absl.push_back(std::fabs(L[o]));
        // Block-boundary differences of this pixel with its left / upper neighbour.
        if (x >= 1) {
          const double d = std::fabs(yv - luma(p - 3));
          if (x % 8 == 0)
            bb += d, nbb += 1;
          else
            bi += d, nbi += 1;
        }
        if (y >= 1) {
          const double d = std::fabs(yv - luma(prev + 3 * x));
          if (y % 8 == 0)
            bb += d, nbb += 1;
          else
            bi += d, nbi += 1;
        }
        const double rg = r - gg, yb = 0.5 * (r + gg) - b;
        srg += rg, srg2 += rg * rg, syb += yb, syb2 += yb * yb;
        const double s = mx > 0 ? (double)(mx - mn) / (double)mx : 0.0;
        ss += s, ss2 += s * s;
        scb += -0.168736 * r - 0.331264 * gg + 0.5 * b;
        scr += 0.5 * r - 0.418688 * gg - 0.081312 * b;
      }
    }
    float* o = out + (size_t)j * kImageStatCount;
    const double my = sy / n, mrg = srg / n, myb = syb / n, ms = ss / n, mmm = mm / n;
    const double mg2 = g2 / n, ml2 = l2 / n, mm2 = m2 / n;
    o[0] = (float)(my / 255.0);
    o[1] = (float)(std::sqrt(std::max(syy / n - my * my, 0.0)) / 255.0);
    o[2] = (float)(clo / n);
    o[3] = (float)(chi / n);
    o[4] = (float)(ma / n);
    o[5] = (float)std::max(mm2 - mmm * mmm, 0.0);
    o[6] = (float)std::log(1.0 + (m4 / n) / (mm2 * mm2 + 1e-6));
    o[7] = (float)(nhp > 0 ? hp / nhp : 0.0);
    o[8] = (float)std::log(1.0 + mg2);
    o[9] = (float)std::log(1.0 + ml2);
    o[10] = (float)std::log((ml2 + 1.0) / (mg2 + 1.0));
    o[11] = (float)std::log(1.0 + median_of(&absl) / 0.6745 / std::sqrt(20.0));
    o[12] = (float)(nbb > 0 && nbi > 0 ? std::log((bb / nbb + 1.0) / (bi / nbi + 1.0)) : 0.0);
    const double vrg = std::max(srg2 / n - mrg * mrg, 0.0), vyb = std::max(syb2 / n - myb * myb, 0.0);
    o[13] = (float)((std::sqrt(vrg + vyb) + 0.3 * std::sqrt(mrg * mrg + myb * myb)) / 255.0);
    o[14] = (float)ms;
    o[15] = (float)std::sqrt(std::max(ss2 / n - ms * ms, 0.0));
    o[16] = (float)(scb / n / 255.0);
    o[17] = (float)(scr / n / 255.0);
  }
}

}  // namespace detail

// Statistics of every cell. rgb: h x w interleaved RGB8 rows with row stride
// `stride` bytes (0: 3 w); out: [rows * cols, kImageStatCount] row-major (cell
// (i, j) at row i * cols + j). Errors: kInvalidArgument for a null pointer,
// a grid made for another image size, or cell ranges outside the image.
inline Status image_stats(const uint8_t* rgb, int h, int w, int64_t stride, const CellGrid& g, float* out) {
  if (!rgb || !out) return make_error(ErrorCode::kInvalidArgument, "image_stats: null image or output");
  if (h <= 0 || w <= 0) return make_error(ErrorCode::kEmptyInput, "image_stats: empty image %dx%d", w, h);
  if (stride == 0) stride = 3 * (int64_t)w;
  if (stride < 3 * (int64_t)w)
    return make_error(ErrorCode::kInvalidArgument, "image_stats: row stride %lld < 3 * width %d", (long long)stride, w);
  if (g.height != h || g.width != w)
    return make_error(ErrorCode::kShapeMismatch, "image_stats: cell grid made for %dx%d, image is %dx%d", g.width,
                      g.height, w, h);
  if (g.rows <= 0 || g.cols <= 0 || g.y0.size() != (size_t)g.rows || g.y1.size() != (size_t)g.rows ||
      g.x0.size() != (size_t)g.cols || g.x1.size() != (size_t)g.cols)
    return make_error(ErrorCode::kInvalidArgument, "image_stats: inconsistent cell grid (%d x %d)", g.rows, g.cols);
  for (int i = 0; i < g.rows; ++i)
    if (g.y0[(size_t)i] < 0 || g.y1[(size_t)i] > h || g.y1[(size_t)i] <= g.y0[(size_t)i])
      return make_error(ErrorCode::kInvalidArgument, "image_stats: cell row %d covers rows [%d, %d) of %d", i,
                        g.y0[(size_t)i], g.y1[(size_t)i], h);
  for (int j = 0; j < g.cols; ++j)
    if (g.x0[(size_t)j] < 0 || g.x1[(size_t)j] > w || g.x1[(size_t)j] <= g.x0[(size_t)j])
      return make_error(ErrorCode::kInvalidArgument, "image_stats: cell column %d covers columns [%d, %d) of %d", j,
                        g.x0[(size_t)j], g.x1[(size_t)j], w);
  parallel_for(
      g.rows,
      [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i)
          detail::image_stats_row(rgb, stride, g, (int)i, out + (size_t)i * g.cols * kImageStatCount);
      },
      1);
  return Status();
}

}  // namespace rsfiqa::ops

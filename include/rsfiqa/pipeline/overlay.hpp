// SPDX-License-Identifier: MIT
// The overlay image of `rsfiqa assess --overlay`: the photo, slightly dimmed,
// with each region tinted by its quality on a red -> yellow -> green scale,
// white region borders, each region's id in a small dark box, and a legend bar
// below the photo with the colour scale (0 to 100) and the global score.
//
// Layout (s = text scale, max(1, min(w, h) / 320)):
//   rows [0, h): the photo; pixel = (1 - a) * 0.8 * photo + a * colour(q), a = 0.35
//   borders: a pixel whose right or lower neighbour has another label (and,
//     when s >= 2, also its left or upper one: 2 px lines) becomes white;
//   ids: drawn with the built-in 5x7 bitmap font (digits, the capital letters
//     of the legend, / . - : %) scaled by s, centred on the region pixel
//     nearest the region's centroid;
//   rows [h, h + legend_height): "QUALITY 62/100 GOOD" on the left and the
//     colour bar with "0" and "100" on the right.
// The colour scale: q in [0, 50] goes red (215, 48, 39) -> yellow (254, 224,
// 139) and [50, 100] yellow -> green (26, 152, 80) (ColorBrewer RdYlGn ends
// and middle), linear in sRGB.
//
// What it does not do: no anti-aliasing, no text other than the glyphs below
// (other characters are skipped), no file output (io::save_png writes it).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "rsfiqa/core/status.hpp"
#include "rsfiqa/io/image.hpp"
#include "rsfiqa/pipeline/report.hpp"

namespace rsfiqa {

using Rgb8 = std::array<uint8_t, 3>;

// Quality (0-100) -> colour on the red -> yellow -> green scale.
inline Rgb8 quality_color(float q) {
  static const float kRed[3] = {215, 48, 39}, kYellow[3] = {254, 224, 139}, kGreen[3] = {26, 152, 80};
  const float t = std::isfinite(q) ? std::max(0.f, std::min(100.f, q)) / 100.f : 0.f;
  const float* a = t < 0.5f ? kRed : kYellow;
  const float* b = t < 0.5f ? kYellow : kGreen;
  const float u = t < 0.5f ? t * 2.f : (t - 0.5f) * 2.f;
  Rgb8 c;
  for (int k = 0; k < 3; ++k) c[(size_t)k] = (uint8_t)std::lround(a[k] + (b[k] - a[k]) * u);
  return c;
}

namespace detail {

// A 5x7 bitmap glyph: 7 rows top to bottom, bit 4 is the leftmost column.
struct Glyph {
  char c;
  uint8_t rows[7];
};

inline const Glyph* find_glyph(char c) {
  static const Glyph kFont[] = {
      {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}}, {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
      {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}}, {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
      {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}}, {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
      {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}}, {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
      {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}}, {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
      {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}}, {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
      {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}}, {'D', {0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E}},
      {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}}, {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
      {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}}, {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
      {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}}, {'N', {0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x11}},
      {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
      {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}}, {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
      {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}}, {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
      {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
      {'Y', {0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04}}, {'/', {0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x10}},
      {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}}, {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}},
      {':', {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}}, {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}},
  };
  if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
  for (const Glyph& g : kFont)
    if (g.c == c) return &g;
  return nullptr;
}

inline void put_pixel(io::Image* img, int x, int y, const Rgb8& c) {
  if (x < 0 || y < 0 || x >= img->width || y >= img->height) return;
  uint8_t* p = &img->rgb[((size_t)y * (size_t)img->width + (size_t)x) * 3];
  p[0] = c[0];
  p[1] = c[1];
  p[2] = c[2];
}

inline void fill_rect(io::Image* img, int x0, int y0, int w, int h, const Rgb8& c) {
  for (int y = y0; y < y0 + h; ++y)
    for (int x = x0; x < x0 + w; ++x) put_pixel(img, x, y, c);
}

}  // namespace detail

// Width in pixels of `text` drawn at scale s (6 columns per character,
// including one column of spacing, minus the trailing space).
inline int text_width(const std::string& text, int s) { return text.empty() ? 0 : ((int)text.size() * 6 - 1) * s; }

// Draws `text` with its top-left corner at (x, y), each font pixel an s x s
// square; pixels outside the image are clipped.
inline void draw_text(io::Image* img, int x, int y, const std::string& text, int s, const Rgb8& color) {
  for (size_t i = 0; i < text.size(); ++i) {
    const detail::Glyph* g = detail::find_glyph(text[i]);
    if (!g) continue;
    const int gx = x + (int)i * 6 * s;
    for (int r = 0; r < 7; ++r)
      for (int c = 0; c < 5; ++c)
        if (g->rows[r] & (0x10 >> c)) detail::fill_rect(img, gx + c * s, y + r * s, s, s, color);
  }
}

struct OverlayOptions {
  float dim = 0.8f;     // photo brightness factor before tinting
  float alpha = 0.35f;  // tint opacity
  bool draw_ids = true;
  bool draw_legend = true;
};

inline int overlay_text_scale(int w, int h) { return std::max(1, std::min(w, h) / 320); }
// Height of the legend bar added below the photo (0 without legend).
inline int overlay_legend_height(int w, int h) { return 12 * overlay_text_scale(w, h); }

// Renders the overlay of `r` (label_map, regions' quality and centroids, the
// global score) on `img`. Output size: img.width x (img.height +
// overlay_legend_height) (no legend: img.height). Errors: kShapeMismatch when
// the label map does not match the image, kInvalidArgument for a label with
// no region.
inline Result<io::Image> render_overlay(const io::Image& img, const AssessResult& r,
                                        const OverlayOptions& o = OverlayOptions()) {
  const int W = img.width, H = img.height;
  const size_t n = (size_t)W * (size_t)H;
  if (img.empty() || img.rgb.size() != n * 3 || r.label_map.size() != n)
    return make_error(ErrorCode::kShapeMismatch, "overlay: label map of %zu values for a %dx%d image",
                      r.label_map.size(), W, H);
  const size_t R = r.regions.size();
  for (size_t i = 0; i < R; ++i)
    if (r.regions[i].id != (int)i)
      return make_error(ErrorCode::kInvalidArgument, "overlay: region %zu has id %d (ids must be 0..%zu)", i,
                        r.regions[i].id, R - 1);
  const int s = overlay_text_scale(W, H);
  const int legend = o.draw_legend ? overlay_legend_height(W, H) : 0;
  io::Image out;
  out.width = W;
  out.height = H + legend;
  out.rgb.assign((size_t)W * (size_t)out.height * 3, 0);

  // Tint by quality.
  std::vector<Rgb8> colors(R);
  for (size_t i = 0; i < R; ++i) colors[i] = quality_color(r.regions[i].quality);
  const auto label = [&](int x, int y) { return r.label_map[(size_t)y * (size_t)W + (size_t)x]; };
  for (size_t p = 0; p < n; ++p) {
    const int32_t L = r.label_map[p];
    if (L < 0 || (size_t)L >= R)
      return make_error(ErrorCode::kInvalidArgument, "overlay: label %d at pixel %zu has no region", L, p);
    for (int c = 0; c < 3; ++c) {
      const float v = (1.f - o.alpha) * o.dim * img.rgb[p * 3 + (size_t)c] + o.alpha * colors[(size_t)L][(size_t)c];
      out.rgb[p * 3 + (size_t)c] = (uint8_t)std::lround(std::min(255.f, v));
    }
  }
  // Borders.
  const Rgb8 kWhite = {255, 255, 255}, kBlack = {0, 0, 0}, kPanel = {40, 40, 40};
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const int32_t L = label(x, y);
      bool edge = (x + 1 < W && label(x + 1, y) != L) || (y + 1 < H && label(x, y + 1) != L);
      if (s >= 2) edge = edge || (x > 0 && label(x - 1, y) != L) || (y > 0 && label(x, y - 1) != L);
      if (edge) detail::put_pixel(&out, x, y, kWhite);
    }
  // Region ids at the region pixel nearest to the centroid.
  if (o.draw_ids && R > 0) {
    std::vector<double> best(R, 1e300);
    std::vector<std::array<int, 2>> anchor(R, {-1, -1});
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        const size_t L = (size_t)label(x, y);
        const double dx = x - r.regions[L].centroid_x, dy = y - r.regions[L].centroid_y;
        const double d = dx * dx + dy * dy;
        if (d < best[L]) {
          best[L] = d;
          anchor[L] = {x, y};
        }
      }
    for (size_t i = 0; i < R; ++i) {
      if (anchor[i][0] < 0) continue;
      const std::string id = std::to_string(r.regions[i].id);
      const int tw = text_width(id, s), th = 7 * s;
      const int x0 = std::max(0, std::min(W - tw - 2 * s, anchor[i][0] - tw / 2 - s));
      const int y0 = std::max(0, std::min(H - th - 2 * s, anchor[i][1] - th / 2 - s));
      detail::fill_rect(&out, x0, y0, tw + 2 * s, th + 2 * s, kBlack);
      draw_text(&out, x0 + s, y0 + s, id, s, kWhite);
    }
  }
  // Legend: score text on the left, colour bar 0..100 on the right.
  if (legend > 0) {
    detail::fill_rect(&out, 0, H, W, legend, kPanel);
    char buf[64];
    std::snprintf(buf, sizeof(buf), "QUALITY %d/100 %s", (int)std::lround(std::max(0.f, std::min(100.f, r.quality))),
                  quality_label_name(r.quality));
    const int ty = H + (legend - 7 * s) / 2;
    draw_text(&out, 2 * s, ty, buf, s, kWhite);
    const int bar_x0 = std::max(text_width(buf, s) + 6 * s, W / 2);
    const int bar_x1 = W - text_width("100", s) - 4 * s;
    const int z = text_width("0", s) + 2 * s;
    if (bar_x1 - (bar_x0 + z) >= 10) {
      draw_text(&out, bar_x0, ty, "0", s, kWhite);
      const int bx0 = bar_x0 + z, bw = bar_x1 - bx0;
      for (int x = bx0; x < bar_x1; ++x)
        detail::fill_rect(&out, x, H + 2 * s, 1, legend - 4 * s, quality_color(100.f * (x - bx0) / (float)(bw - 1)));
      const int mx = bx0 + (int)std::lround((bw - 1) * std::max(0.f, std::min(100.f, r.quality)) / 100.f);
      detail::fill_rect(&out, mx - s / 2, H + s, std::max(1, s), legend - 2 * s, kBlack);
      draw_text(&out, bar_x1 + 2 * s, ty, "100", s, kWhite);
    }
  }
  return out;
}

}  // namespace rsfiqa

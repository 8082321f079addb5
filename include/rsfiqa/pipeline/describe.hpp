// SPDX-License-Identifier: MIT
// Deterministic template descriptions of assess results, in English and
// Japanese, and the prompt given to a language model by `--describe llm`.
//
// A region description is built only from the structured results:
//   * position words from the bbox and centroid: a 3x3 grid of the centroid
//     ("in the upper left" ... "in the lower right", "in the centre"), or
//     "across the top/middle/bottom" for wide, flat regions, "down the
//     left side/middle/right side" for tall, narrow ones, "covering most
//     of the image" for regions over 60% of the pixels, and "around the
//     edges" for smaller ones whose box spans 90% of both sides;
//   * a size word (tiny < 2%, small < 10%, medium-sized < 25%, large < 50%,
//     very large) with the percentage;
//   * the dominant colour: the region's mean sRGB colour converted to CIELAB
//     (D65) and named by the nearest entry (CIE76 distance) of a small table;
//   * every distortion dimension with severity >= 0.15 in words, strongest
//     first: slightly (< 0.35), moderately (< 0.6), strongly; colour problems
//     are "washed out" when the region's mean colour is nearly grey (chroma
//     C*ab < 12) and "colour-shifted" otherwise; exposure problems are
//     "over-exposed" when the mean lightness L* >= 50, else "under-exposed";
//   * the score and its label (report.hpp).
// For example: "The large blue region across the top (34% of the image) is
// strongly blurred and slightly noisy; quality 38/100 (poor)."
//
// What it does not do: no language model call (assess.hpp does that with the
// prompt built here; the structured fields stay authoritative), no image
// analysis beyond the per-region mean colour and centroid.
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

enum class DescribeLang { kEn, kJa };

inline Result<DescribeLang> parse_describe_lang(const std::string& s) {
  if (s == "en") return DescribeLang::kEn;
  if (s == "ja") return DescribeLang::kJa;
  return make_error(ErrorCode::kInvalidArgument, "unknown description language '%s' (expected en or ja)", s.c_str());
}

// Severity thresholds of the words: below kSeverityShown a dimension is not
// mentioned; then slightly / moderately / strongly.
constexpr float kSeverityShown = 0.15f;
constexpr float kSeveritySlight = 0.35f;
constexpr float kSeverityModerate = 0.6f;

namespace detail {

// sRGB (0-255) -> CIELAB, D65 white, via linear RGB and XYZ (IEC 61966-2-1
// transfer curve, CIE 1976 L*a*b* with the 6/29 linear segment).
inline std::array<double, 3> srgb_to_lab(double r8, double g8, double b8) {
  auto lin = [](double c) {
    c /= 255.0;
    return c <= 0.04045 ? c / 12.92 : std::pow((c + 0.055) / 1.055, 2.4);
  };
  const double r = lin(r8), g = lin(g8), b = lin(b8);
  const double x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047;
  const double y = (0.2126729 * r + 0.7151522 * g + 0.0721750 * b) / 1.0;
  const double z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883;
  auto f = [](double t) {
    const double d = 6.0 / 29.0;
    return t > d * d * d ? std::cbrt(t) : t / (3 * d * d) + 4.0 / 29.0;
  };
  const double fx = f(x), fy = f(y), fz = f(z);
  return {116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)};
}

struct NamedColor {
  uint8_t r, g, b;
  const char* en;  // adjective as used before "region"
  const char* ja;  // attributive form before 領域
};

// Representative sRGB values for common colour words (our own choice of
// centres; the nearest one in CIELAB names a region's mean colour).
inline const std::vector<NamedColor>& named_colors() {
  static const std::vector<NamedColor> kTable = {
      {20, 20, 20, "black", "黒い"},
      {85, 85, 85, "dark grey", "濃い灰色の"},
      {128, 128, 128, "grey", "灰色の"},
      {190, 190, 190, "light grey", "薄い灰色の"},
      {242, 242, 242, "white", "白い"},
      {200, 30, 30, "red", "赤い"},
      {235, 130, 30, "orange", "オレンジ色の"},
      {235, 215, 50, "yellow", "黄色い"},
      {215, 195, 155, "beige", "ベージュの"},
      {120, 80, 45, "brown", "茶色の"},
      {120, 120, 40, "olive", "オリーブ色の"},
      {60, 160, 60, "green", "緑の"},
      {30, 80, 35, "dark green", "深緑の"},
      {135, 195, 235, "sky blue", "水色の"},
      {40, 80, 200, "blue", "青い"},
      {25, 35, 90, "navy", "紺色の"},
      {30, 130, 130, "teal", "青緑の"},
      {120, 50, 150, "purple", "紫の"},
      {235, 140, 175, "pink", "ピンクの"},
  };
  return kTable;
}

inline const char* pick(DescribeLang lang, const char* en, const char* ja) {
  return lang == DescribeLang::kJa ? ja : en;
}

}  // namespace detail

// Index into the colour table of the name nearest to an sRGB colour (CIE76).
inline size_t nearest_color_index(const std::array<float, 3>& rgb) {
  const auto lab = detail::srgb_to_lab(rgb[0], rgb[1], rgb[2]);
  const auto& t = detail::named_colors();
  size_t best = 0;
  double best_d = 1e300;
  for (size_t i = 0; i < t.size(); ++i) {
    const auto c = detail::srgb_to_lab(t[i].r, t[i].g, t[i].b);
    const double d =
        (lab[0] - c[0]) * (lab[0] - c[0]) + (lab[1] - c[1]) * (lab[1] - c[1]) + (lab[2] - c[2]) * (lab[2] - c[2]);
    if (d < best_d) {
      best_d = d;
      best = i;
    }
  }
  return best;
}

inline const char* color_name(const std::array<float, 3>& rgb, DescribeLang lang) {
  const auto& c = detail::named_colors()[nearest_color_index(rgb)];
  return detail::pick(lang, c.en, c.ja);
}

inline const char* quality_label_text(float score, DescribeLang lang) {
  if (lang == DescribeLang::kEn) return quality_label_name(score);
  switch (quality_label(score)) {
    case QualityLabel::kExcellent: return "非常に良い";
    case QualityLabel::kGood: return "良い";
    case QualityLabel::kFair: return "普通";
    case QualityLabel::kPoor: return "悪い";
    case QualityLabel::kBad: return "非常に悪い";
  }
  return "非常に悪い";
}

// Position phrase of a region from its bbox and centroid in a w x h image.
// English phrases include their preposition ("in the upper left"); Japanese
// ones are attributive ("左上の").
inline std::string position_phrase(const RegionResult& g, int w, int h, DescribeLang lang) {
  const double W = std::max(1, w), H = std::max(1, h);
  const double bw = (g.bbox[2] + 1) / W, bh = (g.bbox[3] + 1) / H;
  const double cx = g.centroid_x / W, cy = g.centroid_y / H;
  const int col = cx < 1.0 / 3 ? 0 : (cx < 2.0 / 3 ? 1 : 2);
  const int row = cy < 1.0 / 3 ? 0 : (cy < 2.0 / 3 ? 1 : 2);
  using detail::pick;
  if (g.area_fraction >= 0.6) return pick(lang, "covering most of the image", "画像の大部分を占める");
  // A region whose box spans nearly the whole image without covering most of
  // it (a background ring around a subject): its centroid says nothing.
  if (bw >= 0.9 && bh >= 0.9) return pick(lang, "around the edges", "周囲を囲む");
  if (bw >= 0.75 && bh <= 0.5) {
    static const char* const kEn[3] = {"across the top", "across the middle", "across the bottom"};
    static const char* const kJa[3] = {"上部一帯の", "中央を横切る", "下部一帯の"};
    return pick(lang, kEn[row], kJa[row]);
  }
  if (bh >= 0.75 && bw <= 0.5) {
    static const char* const kEn[3] = {"down the left side", "down the middle", "down the right side"};
    static const char* const kJa[3] = {"左側を縦に占める", "中央を縦に貫く", "右側を縦に占める"};
    return pick(lang, kEn[col], kJa[col]);
  }
  static const char* const kEn[3][3] = {{"in the upper left", "at the top", "in the upper right"},
                                        {"on the left", "in the centre", "on the right"},
                                        {"in the lower left", "at the bottom", "in the lower right"}};
  static const char* const kJa[3][3] = {
      {"左上の", "上部の", "右上の"}, {"左側の", "中央の", "右側の"}, {"左下の", "下部の", "右下の"}};
  return pick(lang, kEn[row][col], kJa[row][col]);
}

inline const char* size_word(double area_fraction, DescribeLang lang) {
  using detail::pick;
  if (area_fraction < 0.02) return pick(lang, "tiny", "ごく小さな");
  if (area_fraction < 0.10) return pick(lang, "small", "小さな");
  if (area_fraction < 0.25) return pick(lang, "medium-sized", "中くらいの");
  if (area_fraction < 0.50) return pick(lang, "large", "大きな");
  return pick(lang, "very large", "非常に大きな");
}

// "34%" (or "<1%").
inline std::string percent_text(double fraction) {
  const double p = 100.0 * fraction;
  if (p < 1.0) return "<1%";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%d%%", (int)std::lround(p));
  return buf;
}

// The dimensions worth mentioning, strongest first (ties in dimension order).
inline std::vector<int> shown_dimensions(const DistortionScores& d) {
  std::vector<int> dims;
  for (int k = 0; k < kNumReportDimensions; ++k)
    if (d.v[(size_t)k] >= kSeverityShown) dims.push_back(k);
  std::stable_sort(dims.begin(), dims.end(), [&](int a, int b) { return d.v[(size_t)a] > d.v[(size_t)b]; });
  return dims;
}

namespace detail {
inline int severity_level(float s) { return s < kSeveritySlight ? 0 : (s < kSeverityModerate ? 1 : 2); }

// English "is strongly blurred and slightly noisy" / "shows no clear distortion".
inline std::string distortion_clause_en(const DistortionScores& d, const std::array<float, 3>& mean_rgb) {
  const std::vector<int> dims = shown_dimensions(d);
  if (dims.empty()) return "shows no clear distortion";
  static const char* const kAdv[3] = {"slightly", "moderately", "strongly"};
  const auto lab = srgb_to_lab(mean_rgb[0], mean_rgb[1], mean_rgb[2]);
  const bool grey = std::hypot(lab[1], lab[2]) < 12.0, bright = lab[0] >= 50.0;
  std::string s = "is ";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i > 0) s += i + 1 == dims.size() ? " and " : ", ";
    const int k = dims[i];
    s += kAdv[severity_level(d.v[(size_t)k])];
    s += ' ';
    switch (k) {
      case 0: s += "blurred"; break;
      case 1: s += "noisy"; break;
      case 2: s += "affected by compression artefacts"; break;
      case 3: s += grey ? "washed out" : "colour-shifted"; break;
      default: s += bright ? "over-exposed" : "under-exposed"; break;
    }
  }
  return s;
}

// Japanese: te-form between items, polite final form at the end.
inline std::string distortion_clause_ja(const DistortionScores& d, const std::array<float, 3>& mean_rgb) {
  const std::vector<int> dims = shown_dimensions(d);
  if (dims.empty()) return "目立った歪みはありません";
  static const char* const kAdv[3] = {"わずかに", "やや", "かなり"};
  const auto lab = srgb_to_lab(mean_rgb[0], mean_rgb[1], mean_rgb[2]);
  const bool grey = std::hypot(lab[1], lab[2]) < 12.0, bright = lab[0] >= 50.0;
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) {
    const bool last = i + 1 == dims.size();
    const int k = dims[i];
    s += kAdv[severity_level(d.v[(size_t)k])];
    switch (k) {
      case 0: s += last ? "ぼやけています" : "ぼやけていて、"; break;
      case 1: s += last ? "ノイズがあります" : "ノイズがあり、"; break;
      case 2: s += last ? "圧縮による劣化があります" : "圧縮による劣化があり、"; break;
      case 3:
        if (grey)
          s += last ? "色あせています" : "色あせていて、";
        else
          s += last ? "色がずれています" : "色がずれていて、";
        break;
      default:
        if (bright)
          s += last ? "露出オーバーです" : "露出オーバーで、";
        else
          s += last ? "露出アンダーです" : "露出アンダーで、";
        break;
    }
  }
  return s;
}
}  // namespace detail

// "the large blue region across the top" / "上部一帯の大きな青い領域": the
// noun phrase naming a region, shared by the region and global descriptions.
inline std::string region_phrase(const RegionResult& g, int w, int h, DescribeLang lang) {
  const std::string pos = position_phrase(g, w, h, lang);
  if (lang == DescribeLang::kJa) return pos + size_word(g.area_fraction, lang) + color_name(g.mean_rgb, lang) + "領域";
  return std::string("the ") + size_word(g.area_fraction, lang) + " " + color_name(g.mean_rgb, lang) + " region " + pos;
}

// The template description of one region (see the header comment).
inline std::string describe_region(const RegionResult& g, int w, int h, DescribeLang lang) {
  const int q = (int)std::lround(std::max(0.f, std::min(100.f, g.quality)));
  std::string phrase = region_phrase(g, w, h, lang);
  char tail[96];
  if (lang == DescribeLang::kJa) {
    std::snprintf(tail, sizeof(tail), "。品質 %d/100（%s）。", q, quality_label_text(g.quality, lang));
    return phrase + "（画像の" + percent_text(g.area_fraction) + "）は" +
           detail::distortion_clause_ja(g.distortions, g.mean_rgb) + tail;
  }
  phrase[0] = 'T';
  std::snprintf(tail, sizeof(tail), "; quality %d/100 (%s).", q, quality_label_name(g.quality));
  return phrase + " (" + percent_text(g.area_fraction) + " of the image) " +
         detail::distortion_clause_en(g.distortions, g.mean_rgb) + tail;
}

// The whole-image description: global score and label, the main global
// distortion (if any reaches kSeverityShown), and the weakest region.
inline std::string describe_image(const AssessResult& r, DescribeLang lang) {
  const bool ja = lang == DescribeLang::kJa;
  const int q = (int)std::lround(std::max(0.f, std::min(100.f, r.quality)));
  char buf[256];
  std::string s;
  if (ja)
    std::snprintf(buf, sizeof(buf), "全体の品質は %d/100（%s）、領域数 %zu。", q, quality_label_text(r.quality, lang),
                  r.regions.size());
  else
    std::snprintf(buf, sizeof(buf), "Overall quality %d/100 (%s) across %zu region%s.", q,
                  quality_label_name(r.quality), r.regions.size(), r.regions.size() == 1 ? "" : "s");
  s += buf;
  const int wd = r.distortions.worst();
  const float sev = r.distortions.v[(size_t)wd];
  if (sev >= kSeverityShown) {
    static const char* const kNounEn[5] = {"blur", "noise", "compression artefacts", "colour distortion",
                                           "exposure problems"};
    static const char* const kNounJa[5] = {"ぼけ", "ノイズ", "圧縮による劣化", "色の歪み", "露出の問題"};
    static const char* const kSevEn[3] = {"slight", "moderate", "strong"};
    static const char* const kSevJa[3] = {"軽度の", "中程度の", "強い"};
    const int lv = detail::severity_level(sev);
    if (ja)
      s += std::string("主な問題は") + kSevJa[lv] + kNounJa[wd] + "です。";
    else
      s += std::string(" The main problem is ") + kSevEn[lv] + " " + kNounEn[wd] + ".";
  }
  if (!r.regions.empty()) {
    const RegionResult* worst = &r.regions[0];
    for (const RegionResult& g : r.regions)
      if (g.quality < worst->quality) worst = &g;
    const int wq = (int)std::lround(std::max(0.f, std::min(100.f, worst->quality)));
    const std::string phrase = region_phrase(*worst, r.width, r.height, lang);
    if (ja)
      std::snprintf(buf, sizeof(buf), "最も品質が低いのは領域 %d（%s）で、%d/100（%s）です。", worst->id,
                    phrase.c_str(), wq, quality_label_text(worst->quality, lang));
    else
      std::snprintf(buf, sizeof(buf), " The weakest is region %d, %s, at %d/100 (%s).", worst->id, phrase.c_str(), wq,
                    quality_label_name(worst->quality));
    s += buf;
  }
  return s;
}

// Fills every region's template description and the image description.
inline void describe_all(AssessResult* r, DescribeLang lang) {
  for (RegionResult& g : r->regions) g.description = describe_region(g, r->width, r->height, lang);
  r->description = describe_image(*r, lang);
}

// Computes each region's area, area fraction, bbox (SAM XYWH), centroid and
// mean colour from the label map and the image. Regions are indexed by id
// (regions[i].id == i). Errors: kShapeMismatch when the label map does not
// match the image, kInvalidArgument for a label outside [0, regions).
inline Status compute_region_stats(const io::Image& img, const std::vector<int32_t>& label_map,
                                   std::vector<RegionResult>* regions) {
  const size_t n = (size_t)img.width * (size_t)img.height;
  if (img.empty() || label_map.size() != n || img.rgb.size() != n * 3)
    return make_error(ErrorCode::kShapeMismatch, "region stats: label map of %zu values for a %dx%d image",
                      label_map.size(), img.width, img.height);
  const size_t R = regions->size();
  std::vector<double> sum((R)*6, 0.0);  // r, g, b, x, y, count
  std::vector<std::array<int, 4>> box(R, {img.width, img.height, -1, -1});
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      const size_t p = (size_t)y * (size_t)img.width + (size_t)x;
      const int32_t L = label_map[p];
      if (L < 0 || (size_t)L >= R)
        return make_error(ErrorCode::kInvalidArgument, "region stats: label %d at (%d, %d) outside [0, %zu)", L, x, y,
                          R);
      double* s = &sum[(size_t)L * 6];
      for (int c = 0; c < 3; ++c) s[c] += img.rgb[p * 3 + (size_t)c];
      s[3] += x;
      s[4] += y;
      s[5] += 1;
      auto& b = box[(size_t)L];
      b[0] = std::min(b[0], x);
      b[1] = std::min(b[1], y);
      b[2] = std::max(b[2], x);
      b[3] = std::max(b[3], y);
    }
  for (size_t i = 0; i < R; ++i) {
    RegionResult& g = (*regions)[i];
    const double* s = &sum[i * 6];
    g.area = (int64_t)s[5];
    g.area_fraction = (double)g.area / (double)n;
    if (g.area == 0) {
      g.bbox = {0, 0, 0, 0};
      continue;
    }
    for (int c = 0; c < 3; ++c) g.mean_rgb[(size_t)c] = (float)(s[c] / s[5]);
    g.centroid_x = (float)(s[3] / s[5]);
    g.centroid_y = (float)(s[4] / s[5]);
    const auto& b = box[i];
    g.bbox = {b[0], b[1], b[2] - b[0], b[3] - b[1]};
  }
  return Status();
}

// The prompt given to a language model for one region (`--describe llm`).
// Documented in docs/report-schema.md: the facts are the same structured
// fields as the JSON (position and colour words from the templates, the
// percentage, the score, the label and each distortion severity with two
// decimals), followed by a fixed instruction. The model's text replaces only
// the `description` field; every number in the report stays the network's.
inline std::string build_llm_prompt(const RegionResult& g, int w, int h, DescribeLang lang) {
  char buf[512];
  const DistortionScores& d = g.distortions;
  std::snprintf(buf, sizeof(buf),
                "Facts about one region of a photo:\n"
                "- where: %s\n- size: %s of the image\n- colour: %s\n"
                "- quality: %d/100 (%s); 0-100, higher is better\n"
                "- distortions (0 = none, 1 = severe): blur %.2f, noise %.2f, compression %.2f, colour %.2f, "
                "exposure %.2f\n",
                position_phrase(g, w, h, DescribeLang::kEn).c_str(), percent_text(g.area_fraction).c_str(),
                color_name(g.mean_rgb, DescribeLang::kEn), (int)std::lround(std::max(0.f, std::min(100.f, g.quality))),
                quality_label_name(g.quality), (double)d.v[0], (double)d.v[1], (double)d.v[2], (double)d.v[3],
                (double)d.v[4]);
  std::string p = buf;
  if (lang == DescribeLang::kJa)
    p += "Write one or two short sentences in Japanese that say where this region is and how good its quality is. "
         "Use only these facts.\n";
  else
    p += "Write one or two short sentences that say where this region is and how good its quality is. "
         "Use only these facts.\n";
  return p;
}

}  // namespace rsfiqa

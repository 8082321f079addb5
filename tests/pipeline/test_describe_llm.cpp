// SPDX-License-Identifier: MIT
// Tests of the `--describe llm` path (LlmDescriber in
// include/rsfiqa/pipeline/assess.hpp) with the shared stories260K GGUF model
// (exit 77 when ../shared/models/stories260K.gguf is absent). That model
// writes children's stories, not quality reports, so the test checks the
// mechanics only: greedy decoding is deterministic, the answer is one line of
// at most two sentences, only descriptions change, the model is listed in
// the report with its SHA-256 (the published one in ../shared/models/README.md).
// ctest-labels: weights
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "rsfiqa/pipeline/assess.hpp"

namespace {
const std::string kModel = std::string(RSFIQA_SOURCE_DIR) + "/../shared/models/stories260K.gguf";

const rsfiqa::LlmDescriber& describer_or_skip() {
  static rsfiqa::LlmDescriber* d = nullptr;
  if (d) return *d;
  if (!std::ifstream(kModel).good()) {
    std::printf("SKIP: %s is absent (shared test model)\n", kModel.c_str());
    std::fflush(stdout);
    std::exit(77);
  }
  auto r = rsfiqa::LlmDescriber::load(kModel);
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  d = new rsfiqa::LlmDescriber(std::move(*r));
  return *d;
}
}  // namespace

TEST_CASE("LLM descriptions: deterministic, one line, structured fields untouched") {
  const rsfiqa::LlmDescriber& d = describer_or_skip();
  CHECK(d.info().role == "llm");
  CHECK(d.info().sha256 == "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d");
  rsfiqa::AssessResult r;
  r.width = r.height = 100;
  r.quality = 40;
  r.regions.resize(1);
  rsfiqa::RegionResult& g = r.regions[0];
  g.area = 5000;
  g.area_fraction = 0.5;
  g.bbox = {0, 0, 99, 49};
  g.centroid_x = 50;
  g.centroid_y = 25;
  g.mean_rgb = {40, 80, 200};
  g.quality = 40;
  g.distortions.v = {0.7f, 0.f, 0.f, 0.f, 0.f};
  rsfiqa::describe_all(&r, rsfiqa::DescribeLang::kEn);
  const std::string template_text = g.description;
  rsfiqa::AssessResult a = r, b = r;
  REQUIRE(d.describe_all(&a, rsfiqa::DescribeLang::kEn).ok());
  REQUIRE(d.describe_all(&b, rsfiqa::DescribeLang::kEn).ok());
  CHECK(a.regions[0].description == b.regions[0].description);
  CHECK(!a.regions[0].description.empty());
  CHECK(a.regions[0].description.find('\n') == std::string::npos);
  CHECK(a.description == r.description);  // the image description stays the template one
  CHECK(a.regions[0].quality == g.quality);
  REQUIRE(a.models.size() == 1);
  CHECK(a.models[0].role == "llm");
  MESSAGE("template: " << template_text);
  MESSAGE("llm:      " << a.regions[0].description);
}

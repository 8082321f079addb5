// SPDX-License-Identifier: MIT
// Fuzz entry for image decoding through our wrapper (io/image.hpp):
// image_info and decode_image with a tighter dimension cap than the default
// (4 MP, 4096 px a side) so a forged header cannot push a decode past the
// fuzzer's allocation cap; the cap itself is what is being exercised. A
// decoded image must have the size image_info announced and the cap must
// hold. Shared by tests/fuzz/fuzz_image.cpp and
// tests/io/test_fuzz_regressions.cpp. Returns nullptr, or the text of a
// broken invariant.
#pragma once

#include <cstddef>
#include <cstdint>

#include "rsfiqa/io/image.hpp"

namespace rsfiqa::fuzz {

inline io::ImageLimits fuzz_image_limits() {
  io::ImageLimits lim;
  lim.max_pixels = int64_t(1) << 22;
  lim.max_side = 4096;
  return lim;
}

inline const char* fuzz_image(const uint8_t* data, size_t size) {
  const io::ImageLimits lim = fuzz_image_limits();
  Result<io::ImageInfo> info = io::image_info(data, size);
  Result<io::Image> img = io::decode_image(data, size, lim);
  if (!img.ok()) return img.status().message().empty() ? "image: error without a message" : nullptr;
  const io::Image& im = *img;
  if (im.width <= 0 || im.height <= 0) return "image: decoded an empty image";
  if (im.width > lim.max_side || im.height > lim.max_side || (int64_t)im.width * im.height > lim.max_pixels)
    return "image: decoded past the dimension cap";
  if (im.rgb.size() != (size_t)im.width * (size_t)im.height * 3) return "image: pixel buffer of the wrong size";
  if (info.ok() && (info->width != im.width || info->height != im.height))
    return "image: image_info and decode_image disagree on the size";
  volatile uint8_t sink = im.rgb.front() ^ im.rgb.back();
  (void)sink;
  return nullptr;
}

}  // namespace rsfiqa::fuzz

// SPDX-License-Identifier: MIT
// Tests of io/image.hpp: decoding of the committed sample photos, of PNGs and
// BMPs built byte by byte here (grey, grey+alpha, RGB, RGBA, palette, 16-bit;
// the builder is independent of stb, with its own CRC-32 and zlib stored
// blocks), the malformed-input table of RELIABILITY.md "Images" (each case a
// specific ErrorCode and message), mutation robustness, and PNG/JPEG writing.
//
// This translation unit includes <stb_image.h> and <stb_image_write.h>
// (declarations only) before and after rsfiqa's header, to prove the private
// stb copy coexists with an application's own stb declarations.
#include <stb_image.h>

#include "rsfiqa/io/image.hpp"

#include <stb_image_write.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace rsfiqa;
using namespace rsfiqa::io;

namespace {

const std::string kImages = std::string(RSFIQA_TEST_DATA_DIR) + "/images/";
const std::string kGolden = std::string(RSFIQA_TEST_DATA_DIR) + "/golden/preprocess/";

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE_MESSAGE(f.good(), "cannot open " << path);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// ---- a minimal PNG builder (stored deflate blocks, no filtering) ----------

uint32_t crc32(const uint8_t* d, size_t n, uint32_t crc = 0) {
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) {
    crc ^= d[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void put_be32(std::vector<uint8_t>& v, uint32_t x) {
  v.push_back((uint8_t)(x >> 24));
  v.push_back((uint8_t)(x >> 16));
  v.push_back((uint8_t)(x >> 8));
  v.push_back((uint8_t)x);
}

void put_chunk(std::vector<uint8_t>& png, const char* type, const std::vector<uint8_t>& data) {
  put_be32(png, (uint32_t)data.size());
  std::vector<uint8_t> td(type, type + 4);
  td.insert(td.end(), data.begin(), data.end());
  png.insert(png.end(), td.begin(), td.end());
  put_be32(png, crc32(td.data(), td.size()));
}

// zlib stream of stored (uncompressed) deflate blocks.
std::vector<uint8_t> zlib_stored(const std::vector<uint8_t>& raw) {
  std::vector<uint8_t> z = {0x78, 0x01};
  size_t pos = 0;
  do {
    const size_t n = std::min<size_t>(65535, raw.size() - pos);
    const bool last = pos + n == raw.size();
    z.push_back(last ? 1 : 0);
    z.push_back((uint8_t)(n & 0xFF));
    z.push_back((uint8_t)(n >> 8));
    z.push_back((uint8_t)(~n & 0xFF));
    z.push_back((uint8_t)((~n >> 8) & 0xFF));
    z.insert(z.end(), raw.begin() + (long)pos, raw.begin() + (long)(pos + n));
    pos += n;
  } while (pos < raw.size());
  uint32_t a = 1, b = 0;
  for (uint8_t x : raw) {
    a = (a + x) % 65521;
    b = (b + a) % 65521;
  }
  put_be32(z, (b << 16) | a);
  return z;
}

// A PNG of colour type `ctype` (0 grey, 2 RGB, 3 palette, 4 grey+alpha,
// 6 RGBA) and `depth` bits, from raw samples (big-endian for 16-bit), rows
// of `row_bytes` bytes each.
std::vector<uint8_t> make_png(uint32_t w, uint32_t h, int depth, int ctype, const std::vector<uint8_t>& samples,
                              const std::vector<uint8_t>& plte = {}, const std::vector<uint8_t>& trns = {}) {
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<uint8_t> ihdr;
  put_be32(ihdr, w);
  put_be32(ihdr, h);
  ihdr.push_back((uint8_t)depth);
  ihdr.push_back((uint8_t)ctype);
  ihdr.push_back(0);
  ihdr.push_back(0);
  ihdr.push_back(0);
  put_chunk(png, "IHDR", ihdr);
  if (!plte.empty()) put_chunk(png, "PLTE", plte);
  if (!trns.empty()) put_chunk(png, "tRNS", trns);
  const size_t row_bytes = h ? samples.size() / h : 0;
  std::vector<uint8_t> raw;
  for (uint32_t y = 0; y < h; ++y) {
    raw.push_back(0);  // filter type None
    raw.insert(raw.end(), samples.begin() + (long)(y * row_bytes), samples.begin() + (long)((y + 1) * row_bytes));
  }
  put_chunk(png, "IDAT", zlib_stored(raw));
  put_chunk(png, "IEND", {});
  return png;
}

// An uncompressed 24-bit BMP; rows stored bottom-up unless `top_down`.
std::vector<uint8_t> make_bmp24(int w, int h, const std::vector<uint8_t>& rgb, bool top_down) {
  const int stride = ((w * 3 + 3) / 4) * 4;
  const uint32_t data_size = (uint32_t)(stride * h), offset = 54;
  std::vector<uint8_t> b(offset + data_size, 0);
  auto le32 = [&](size_t o, uint32_t x) {
    for (int i = 0; i < 4; ++i) b[o + (size_t)i] = (uint8_t)(x >> (8 * i));
  };
  b[0] = 'B';
  b[1] = 'M';
  le32(2, offset + data_size);
  le32(10, offset);
  le32(14, 40);
  le32(18, (uint32_t)w);
  le32(22, (uint32_t)(top_down ? -h : h));
  b[26] = 1;   // planes
  b[28] = 24;  // bits per pixel
  le32(34, data_size);
  for (int y = 0; y < h; ++y) {
    const int row = top_down ? y : h - 1 - y;
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)  // BGR order
        b[offset + (size_t)row * stride + (size_t)x * 3 + (size_t)c] =
            rgb[((size_t)y * w + (size_t)x) * 3 + (size_t)(2 - c)];
  }
  return b;
}

// Deterministic bytes for test images.
std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  for (auto& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = (uint8_t)(seed >> 24);
  }
  return v;
}

bool contains(const Status& s, const std::string& what) { return s.message().find(what) != std::string::npos; }
const Status& status_of(const Status& s) { return s; }
template <typename T>
const Status& status_of(const Result<T>& r) {
  return r.status();
}

// Offset of the first FF <marker> pair after SOI in a JPEG, or 0.
size_t first_marker(const std::vector<uint8_t>& jpeg, uint8_t marker) {
  for (size_t i = 2; i + 1 < jpeg.size(); ++i)
    if (jpeg[i] == 0xFF && jpeg[i + 1] == marker) return i;
  return 0;
}

#define CHECK_ERROR(result, code_, substr)                                                \
  do {                                                                                    \
    const auto& r_ = (result);                                                            \
    const Status& s_ = status_of(r_);                                                     \
    REQUIRE_FALSE(s_.ok());                                                               \
    CHECK_MESSAGE(s_.code() == (code_), s_.to_string());                                  \
    CHECK_MESSAGE(contains(s_, substr), s_.to_string() << " lacks '" << (substr) << "'"); \
  } while (0)

std::string temp_dir() {
  const char* t = std::getenv("TMPDIR");
  std::string base = t && *t ? t : "/tmp";
  return base + "/rsfiqa_test_image_" + std::to_string((long long)::getpid());
}

}  // namespace

TEST_CASE("committed sample photos decode") {
  Result<Image> rocket = load_image(kImages + "rocket.jpg");
  REQUIRE_MESSAGE(rocket.ok(), rocket.status().to_string());
  CHECK(rocket->width == 640);
  CHECK(rocket->height == 427);
  CHECK(rocket->rgb.size() == 640u * 427u * 3u);

  Result<Image> cat = load_image(kImages + "chelsea.png");
  REQUIRE(cat.ok());
  CHECK(cat->width == 451);
  CHECK(cat->height == 300);

  // camera.png is 8-bit greyscale: R = G = B everywhere.
  Result<Image> cam = load_image(kImages + "camera.png");
  REQUIRE(cam.ok());
  CHECK(cam->width == 512);
  CHECK(cam->height == 512);
  bool grey = true;
  for (size_t i = 0; i < cam->rgb.size(); i += 3)
    grey = grey && cam->rgb[i] == cam->rgb[i + 1] && cam->rgb[i] == cam->rgb[i + 2];
  CHECK(grey);

  const std::vector<uint8_t> bytes = read_bytes(kImages + "rocket.jpg");
  Result<ImageInfo> info = image_info(bytes.data(), bytes.size());
  REQUIRE(info.ok());
  CHECK(info->format == ImageFormat::kJpeg);
  CHECK(info->channels == 3);
}

TEST_CASE("stb's JPEG decode of rocket.jpg is within 2 levels of Pillow's (libjpeg)") {
  // Two JPEG decoders are allowed to differ slightly (IDCT and chroma
  // upsampling); this bounds the difference the SAM input sees. Measured:
  // max 2, mean 0.0101 over 1650 pixels x 3 channels.
  Result<Image> img = load_image(kImages + "rocket.jpg");
  REQUIRE(img.ok());
  std::ifstream g(kGolden + "decode_rocket.txt");
  REQUIRE(g.good());
  std::string key;
  int h, w;
  g >> key >> h >> w;
  CHECK(h == img->height);
  CHECK(w == img->width);
  int y, x, c[3], max_diff = 0;
  double sum = 0;
  long n = 0;
  while (g >> key >> y >> x >> c[0] >> c[1] >> c[2]) {
    for (int k = 0; k < 3; ++k) {
      const int d = std::abs((int)img->at(y, x, k) - c[k]);
      max_diff = std::max(max_diff, d);
      sum += d;
      ++n;
    }
  }
  CHECK(n == 1650 * 3);
  CHECK(max_diff <= 2);
  CHECK(sum / (double)n <= 0.05);
}

TEST_CASE("every PNG channel layout comes out as RGB8") {
  const uint32_t W = 5, H = 3;
  SUBCASE("grey 8-bit: R = G = B = grey") {
    const std::vector<uint8_t> g = pattern(W * H, 1);
    Result<Image> img = decode_image(make_png(W, H, 8, 0, g));
    REQUIRE_MESSAGE(img.ok(), img.status().to_string());
    for (size_t i = 0; i < g.size(); ++i)
      for (int c = 0; c < 3; ++c) REQUIRE(img->rgb[i * 3 + (size_t)c] == g[i]);
  }
  SUBCASE("grey + alpha: alpha dropped, grey kept") {
    const std::vector<uint8_t> ga = pattern(W * H * 2, 2);
    Result<Image> img = decode_image(make_png(W, H, 8, 4, ga));
    REQUIRE(img.ok());
    for (size_t i = 0; i < W * H; ++i)
      for (int c = 0; c < 3; ++c) REQUIRE(img->rgb[i * 3 + (size_t)c] == ga[i * 2]);
  }
  SUBCASE("RGB 8-bit: identity") {
    const std::vector<uint8_t> rgb = pattern(W * H * 3, 3);
    Result<Image> img = decode_image(make_png(W, H, 8, 2, rgb));
    REQUIRE(img.ok());
    CHECK(img->rgb == rgb);
  }
  SUBCASE("RGBA: alpha dropped, colour not composited") {
    std::vector<uint8_t> rgba = pattern(W * H * 4, 4);
    rgba[3] = 0;  // a fully transparent pixel keeps its stored colour
    Result<Image> img = decode_image(make_png(W, H, 8, 6, rgba));
    REQUIRE(img.ok());
    for (size_t i = 0; i < W * H; ++i)
      for (int c = 0; c < 3; ++c) REQUIRE(img->rgb[i * 3 + (size_t)c] == rgba[i * 4 + (size_t)c]);
  }
  SUBCASE("16-bit RGB: high byte") {
    const std::vector<uint8_t> rgb16 = pattern(W * H * 6, 5);  // big-endian samples
    Result<Image> img = decode_image(make_png(W, H, 16, 2, rgb16));
    REQUIRE_MESSAGE(img.ok(), img.status().to_string());
    for (size_t i = 0; i < W * H * 3; ++i) REQUIRE(img->rgb[i] == rgb16[i * 2]);
    const std::vector<uint8_t> png = make_png(W, H, 16, 2, rgb16);
    CHECK(image_info(png.data(), png.size())->is_16_bit);
  }
  SUBCASE("16-bit grey + alpha: high byte of grey") {
    const std::vector<uint8_t> ga16 = pattern(W * H * 4, 6);
    Result<Image> img = decode_image(make_png(W, H, 16, 4, ga16));
    REQUIRE(img.ok());
    for (size_t i = 0; i < W * H; ++i)
      for (int c = 0; c < 3; ++c) REQUIRE(img->rgb[i * 3 + (size_t)c] == ga16[i * 4]);
  }
  SUBCASE("16-bit RGBA") {
    const std::vector<uint8_t> rgba16 = pattern(W * H * 8, 7);
    Result<Image> img = decode_image(make_png(W, H, 16, 6, rgba16));
    REQUIRE(img.ok());
    for (size_t i = 0; i < W * H; ++i)
      for (int c = 0; c < 3; ++c) REQUIRE(img->rgb[i * 3 + (size_t)c] == rgba16[i * 8 + (size_t)c * 2]);
  }
  SUBCASE("palette with transparency: palette colours") {
    const std::vector<uint8_t> plte = {10, 20, 30, 200, 100, 50, 0, 255, 7};
    const std::vector<uint8_t> idx = {0, 1, 2, 1, 0, 2, 2, 1, 0, 0, 1, 1, 2, 2, 0};
    Result<Image> img = decode_image(make_png(W, H, 8, 3, idx, plte, {0, 128}));
    REQUIRE(img.ok());
    for (size_t i = 0; i < W * H; ++i)
      for (int c = 0; c < 3; ++c) REQUIRE(img->rgb[i * 3 + (size_t)c] == plte[idx[i] * 3 + (size_t)c]);
  }
}

TEST_CASE("BMP decodes bottom-up and top-down") {
  const int W = 3, H = 2;
  const std::vector<uint8_t> rgb = pattern(W * H * 3, 9);
  for (bool top_down : {false, true}) {
    Result<Image> img = decode_image(make_bmp24(W, H, rgb, top_down));
    REQUIRE_MESSAGE(img.ok(), img.status().to_string());
    CHECK(img->width == W);
    CHECK(img->height == H);
    CHECK(img->rgb == rgb);
  }
}

TEST_CASE("malformed and unsupported images give specific errors") {
  const std::vector<uint8_t> png = read_bytes(kImages + "chelsea.png");
  const std::vector<uint8_t> jpg = read_bytes(kImages + "rocket.jpg");

  SUBCASE("zero-size input") {
    CHECK_ERROR(decode_image(nullptr, 0), ErrorCode::kEmptyInput, "0 bytes");
    CHECK_ERROR(decode_image(std::vector<uint8_t>()), ErrorCode::kEmptyInput, "empty");
    const std::string dir = temp_dir();
    REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
    const std::string path = dir + "/empty.png";
    { std::ofstream(path, std::ios::binary); }
    CHECK_ERROR(load_image(path), ErrorCode::kEmptyInput, "empty.png");
    std::remove(path.c_str());
    ::rmdir(dir.c_str());
  }
  SUBCASE("missing file") {
    CHECK_ERROR(load_image(kImages + "no_such_file.png"), ErrorCode::kNotFound, "no_such_file.png");
  }
  SUBCASE("truncated PNG, cut at several points") {
    CHECK_ERROR(decode_image(png.data(), 4), ErrorCode::kMalformed, "signature");
    CHECK_ERROR(decode_image(png.data(), 8), ErrorCode::kMalformed, "before the IEND chunk");
    CHECK_ERROR(decode_image(png.data(), 20), ErrorCode::kMalformed, "declares 13 bytes, 0 remain");
    CHECK_ERROR(decode_image(png.data(), 30), ErrorCode::kMalformed,
                "chunk 'IHDR' at byte 8 declares 13 bytes, 10 remain");
    for (size_t cut :
         {(size_t)40, (size_t)100, png.size() / 3, png.size() / 2, png.size() - 20, png.size() - 12, png.size() - 1}) {
      INFO("cut at " << cut << " of " << png.size());
      CHECK_ERROR(decode_image(png.data(), cut), ErrorCode::kMalformed, "truncated");
    }
  }
  SUBCASE("truncated JPEG, cut at several points") {
    CHECK_ERROR(decode_image(jpg.data(), 2), ErrorCode::kMalformed, "signature");
    for (size_t cut : {(size_t)3, (size_t)100, (size_t)1000, jpg.size() / 2, jpg.size() - 100, jpg.size() - 2}) {
      INFO("cut at " << cut << " of " << jpg.size());
      CHECK_ERROR(decode_image(jpg.data(), cut), ErrorCode::kMalformed, "truncated");
    }
  }
  SUBCASE("JPEG Huffman table with more than 256 symbols (overflows stb 2.27)") {
    std::vector<uint8_t> bad = jpg;
    const size_t dht = first_marker(bad, 0xC4);
    REQUIRE(dht > 0);
    for (int k = 0; k < 16; ++k) bad[dht + 5 + (size_t)k] = 17;  // 16 x 17 = 272 code lengths
    CHECK_ERROR(decode_image(bad), ErrorCode::kMalformed, "declares 272 symbols (at most 256)");
    CHECK_ERROR(image_info(bad.data(), bad.size()), ErrorCode::kMalformed, "Huffman table");
  }
  SUBCASE("JPEG marker behind fill bytes inside scan data (fuzzer finding)") {
    // Right after the first scan header: FF FF 00 (a stuffed 0xFF after a
    // fill byte, data to stb), two data bytes, then a DHT whose code counts
    // add up to 272, one byte and the end-of-image marker. stb's entropy
    // decoder stops at the DHT and builds it (writing past its tables);
    // a walk that took "FF 00" for a marker would skip the DHT as the body
    // of a 24-byte segment and land exactly on FF D9.
    std::vector<uint8_t> bad = jpg;
    const size_t sos = first_marker(bad, 0xDA);
    REQUIRE(sos > 0);
    const size_t data = sos + 2 + (((size_t)bad[sos + 2] << 8) | bad[sos + 3]);
    bad.resize(data);
    for (uint8_t b : {0xFF, 0xFF, 0x00, 0x00, 0x18, 0xFF, 0xC4, 0x00, 0x13, 0x00}) bad.push_back(b);
    for (int k = 0; k < 16; ++k) bad.push_back(17);
    for (uint8_t b : {0x00, 0xFF, 0xD9}) bad.push_back(b);
    CHECK_ERROR(decode_image(bad), ErrorCode::kMalformed, "declares 272 symbols (at most 256)");
  }
  SUBCASE("JPEG scan using an undefined Huffman table (out-of-bounds read in stb 2.27)") {
    // Point the first scan's first component at DC table 3, which rocket.jpg
    // never defines.
    std::vector<uint8_t> bad = jpg;
    const size_t sos = first_marker(bad, 0xDA);
    REQUIRE(sos > 0);
    bad[sos + 6] = (uint8_t)((3 << 4) | (bad[sos + 6] & 15));
    CHECK_ERROR(decode_image(bad), ErrorCode::kMalformed, "uses DC Huffman table 3, which no DHT defines");
  }
  SUBCASE("truncated BMP") {
    const std::vector<uint8_t> bmp = make_bmp24(7, 5, pattern(7 * 5 * 3, 11), false);
    CHECK_ERROR(decode_image(bmp.data(), bmp.size() - 10), ErrorCode::kMalformed, "truncated");
    CHECK_ERROR(decode_image(bmp.data(), 20), ErrorCode::kMalformed, "BMP header");
  }
  SUBCASE("declared dimensions over the cap, refused before decoding") {
    // A PNG header claiming 100000 x 100000 RGB with no real pixel data.
    const std::vector<uint8_t> huge = make_png(100000, 100000, 8, 2, {});
    CHECK_ERROR(decode_image(huge), ErrorCode::kLimitExceeded, "100000x100000");
    CHECK_ERROR(decode_image(huge), ErrorCode::kLimitExceeded, "side limit of 32768");
    ImageLimits wide;
    wide.max_side = 1 << 20;
    CHECK_ERROR(decode_image(huge, wide), ErrorCode::kLimitExceeded, "10000000000 pixels");
    ImageLimits small;
    small.max_pixels = 1000;
    CHECK_ERROR(decode_image(png, small), ErrorCode::kLimitExceeded, "451x300 (135300 pixels), over the limit of 1000");
    ImageLimits narrow;
    narrow.max_side = 400;
    CHECK_ERROR(decode_image(jpg, narrow), ErrorCode::kLimitExceeded, "640x427");
    ImageLimits tiny_file;
    tiny_file.max_file_bytes = 1000;
    CHECK_ERROR(load_image(kImages + "rocket.jpg", tiny_file), ErrorCode::kLimitExceeded, "rocket.jpg");
  }
  SUBCASE("unsupported formats are named") {
    std::vector<uint8_t> gif = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0, 0, 0};
    CHECK_ERROR(decode_image(gif), ErrorCode::kUnsupportedFormat, "GIF");
    std::vector<uint8_t> tiff = {'I', 'I', 42, 0, 8, 0, 0, 0, 0, 0};
    CHECK_ERROR(decode_image(tiff), ErrorCode::kUnsupportedFormat, "TIFF");
    std::vector<uint8_t> webp = {'R', 'I', 'F', 'F', 4, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', ' '};
    CHECK_ERROR(decode_image(webp), ErrorCode::kUnsupportedFormat, "WebP");
    std::vector<uint8_t> psd = {'8', 'B', 'P', 'S', 0, 1, 0, 0};
    CHECK_ERROR(decode_image(psd), ErrorCode::kUnsupportedFormat, "PSD");
    std::vector<uint8_t> pnm = {'P', '6', '\n', '1', ' ', '1', '\n', '2', '5', '5', '\n', 1, 2, 3};
    CHECK_ERROR(decode_image(pnm), ErrorCode::kUnsupportedFormat, "PNM");
  }
  SUBCASE("random bytes") {
    std::vector<uint8_t> junk = pattern(4096, 42);
    junk[0] = 0x13;  // not the first byte of any recognised signature
    CHECK_ERROR(decode_image(junk), ErrorCode::kUnsupportedFormat, "unrecognised image format (first bytes: 13 ");
  }
  SUBCASE("PNG chunk length beyond the data (allocation bomb for stb 2.27)") {
    std::vector<uint8_t> bomb = make_png(7, 9, 8, 2, pattern(7 * 9 * 3, 17));
    const size_t idat = 8 + 25;  // signature + IHDR chunk
    bomb[idat] = 0x42;           // IDAT length 0x42xxxxxx: over a gigabyte
    CHECK_ERROR(decode_image(bomb), ErrorCode::kMalformed, "chunk 'IDAT' at byte 33 declares");
  }
  SUBCASE("first PNG chunk is not IHDR") {
    std::vector<uint8_t> bad = make_png(2, 2, 8, 2, pattern(12, 18));
    bad[12] = 'X';
    CHECK_ERROR(decode_image(bad), ErrorCode::kMalformed, "first chunk is 'XHDR'");
  }
  SUBCASE("zlib stream inflating beyond the image (allocation cap)") {
    // A 1x1 RGB PNG whose IDAT inflates to 64 MiB of zeros: the zlib stream
    // is valid, the image needs 4 bytes. Compressed with fixed Huffman codes
    // by hand would be long; stored blocks keep it simple (64 MiB of input
    // would be too big), so use 20 MiB of stored zeros over the 16 MiB slack.
    std::vector<uint8_t> raw((size_t)20 << 20, 0);
    std::vector<uint8_t> pngz = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    std::vector<uint8_t> ihdr;
    put_be32(ihdr, 1);
    put_be32(ihdr, 1);
    for (uint8_t b : {8, 2, 0, 0, 0}) ihdr.push_back(b);
    put_chunk(pngz, "IHDR", ihdr);
    put_chunk(pngz, "IDAT", zlib_stored(raw));
    put_chunk(pngz, "IEND", {});
    CHECK_ERROR(decode_image(pngz), ErrorCode::kLimitExceeded, "needs more than");
  }
  SUBCASE("corrupt PNG data") {
    std::vector<uint8_t> bad = make_png(4, 4, 8, 2, pattern(48, 13));
    // Break the zlib header inside IDAT (8 signature + 25 IHDR + 8 chunk head).
    bad[8 + 25 + 8] = 0xFF;
    CHECK_ERROR(decode_image(bad), ErrorCode::kMalformed, "cannot decode PNG image (4x4");
  }
}

TEST_CASE("mutated PNG, JPEG and BMP files never crash the decoder") {
  // Robustness, not correctness: each mutation either decodes or returns an
  // error with a message; sanitizer builds check the memory accesses.
  const std::vector<uint8_t> small_png = make_png(9, 7, 8, 6, pattern(9 * 7 * 4, 21));
  Image src;
  src.width = 24;
  src.height = 16;
  src.rgb = pattern(24 * 16 * 3, 22);
  Result<std::vector<uint8_t>> small_jpg = encode_jpeg(src, 75);
  REQUIRE(small_jpg.ok());
  const std::vector<uint8_t> small_bmp = make_bmp24(6, 5, pattern(6 * 5 * 3, 23), false);
  ImageLimits limits;
  limits.max_pixels = 1 << 20;
  uint32_t seed = 99;
  int ok = 0, failed = 0;
  const std::vector<const std::vector<uint8_t>*> bases = {&small_png, &small_jpg.value(), &small_bmp};
  for (const std::vector<uint8_t>* base : bases) {
    for (int iter = 0; iter < 300; ++iter) {
      std::vector<uint8_t> m = *base;
      const int flips = 1 + iter % 4;
      for (int k = 0; k < flips; ++k) {
        seed = seed * 1664525u + 1013904223u;
        const size_t at = (seed >> 8) % m.size();
        seed = seed * 1664525u + 1013904223u;
        m[at] = (uint8_t)(seed >> 24);
      }
      Result<Image> r = decode_image(m, limits);
      if (r.ok()) {
        ++ok;
        REQUIRE(r->rgb.size() == (size_t)r->width * (size_t)r->height * 3);
      } else {
        ++failed;
        REQUIRE_FALSE(r.status().message().empty());
      }
    }
  }
  CHECK(ok + failed == 900);
}

TEST_CASE("PNG and JPEG encoding round-trips") {
  Image img;
  img.width = 33;
  img.height = 17;
  img.rgb.resize(33 * 17 * 3);
  for (int y = 0; y < 17; ++y)
    for (int x = 0; x < 33; ++x)
      for (int c = 0; c < 3; ++c)
        img.rgb[((size_t)y * 33 + (size_t)x) * 3 + (size_t)c] = (uint8_t)(x * 7 + y * 5 + c * 60);

  Result<std::vector<uint8_t>> png = encode_png(img);
  REQUIRE(png.ok());
  Result<Image> back = decode_image(*png);
  REQUIRE(back.ok());
  CHECK(back->rgb == img.rgb);  // lossless

  Result<std::vector<uint8_t>> jpg = encode_jpeg(img, 95);
  REQUIRE(jpg.ok());
  CHECK(sniff_image_format(jpg->data(), jpg->size()) == ImageFormat::kJpeg);
  Result<Image> jback = decode_image(*jpg);
  REQUIRE(jback.ok());
  REQUIRE(jback->width == 33);
  double err = 0;
  for (size_t i = 0; i < img.rgb.size(); ++i) err += std::abs((int)img.rgb[i] - (int)jback->rgb[i]);
  CHECK(err / (double)img.rgb.size() < 4.0);  // a smooth gradient survives quality 95

  CHECK_ERROR(encode_jpeg(img, 0), ErrorCode::kInvalidArgument, "quality 0");
  Image empty;
  CHECK_ERROR(encode_png(empty), ErrorCode::kEmptyInput, "empty image");
  Image bad = img;
  bad.rgb.pop_back();
  CHECK_ERROR(encode_png(bad), ErrorCode::kShapeMismatch, "expected");
}

TEST_CASE("save_png / save_jpeg write atomically and report unwritable paths") {
  Image img;
  img.width = 8;
  img.height = 6;
  img.rgb = pattern(8 * 6 * 3, 31);
  const std::string dir = temp_dir() + "_save";
  REQUIRE(::mkdir(dir.c_str(), 0700) == 0);

  const std::string png_path = dir + "/out.png", jpg_path = dir + "/out.JPG";
  REQUIRE(save_image(png_path, img).ok());
  REQUIRE(save_image(jpg_path, img, 90).ok());
  Result<Image> p = load_image(png_path);
  REQUIRE(p.ok());
  CHECK(p->rgb == img.rgb);
  Result<Image> j = load_image(jpg_path);
  REQUIRE(j.ok());
  CHECK(j->width == 8);
  // Overwrite in place: still one complete file, no temporary left behind.
  REQUIRE(save_png(png_path, img).ok());
  int entries = 0;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++entries;
    ::closedir(d);
  }
  CHECK(entries == 2);

  CHECK_ERROR(save_image(dir + "/out.gif", img), ErrorCode::kUnsupportedFormat, "out.gif");
  // A folder that does not exist, and a "folder" that is a regular file.
  CHECK_ERROR(save_png(dir + "/missing/x.png", img), ErrorCode::kIoError, "missing/x.png");
  CHECK_ERROR(save_jpeg(png_path + "/x.jpg", img), ErrorCode::kIoError, "out.png/x.jpg");

  std::remove(png_path.c_str());
  std::remove(jpg_path.c_str());
  CHECK(::rmdir(dir.c_str()) == 0);
}

TEST_CASE("concurrent decodes give the same pixels as one decode") {
  // stb's failure reason and rsfiqa's allocation budget are per thread; the
  // private stb copy has no other mutable global state that decode uses.
  const std::vector<uint8_t> jpg = read_bytes(kImages + "rocket.jpg");
  const std::vector<uint8_t> png = read_bytes(kImages + "chelsea.png");
  Result<Image> want_jpg = decode_image(jpg);
  Result<Image> want_png = decode_image(png);
  REQUIRE(want_jpg.ok());
  REQUIRE(want_png.ok());
  bool same[4] = {false, false, false, false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      bool ok = true;
      for (int i = 0; i < 3; ++i) {
        const bool use_jpg = (t + i) % 2 == 0;
        Result<Image> r = decode_image(use_jpg ? jpg : png);
        ok = ok && r.ok() && r->rgb == (use_jpg ? want_jpg->rgb : want_png->rgb);
        // An error on this thread must not leak into the others.
        ok = ok && !decode_image(jpg.data(), jpg.size() / 2).ok();
      }
      same[t] = ok;
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) CHECK(same[t]);
}

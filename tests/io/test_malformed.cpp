// SPDX-License-Identifier: MIT
// One table of hand-made malformed inputs across the readers (issue 7,
// RELIABILITY.md), each row expecting a specific ErrorCode and a message
// substring. It complements the per-format tables (tests/io/test_safetensors.cpp
// and tests/io/test_gguf.cpp: one row per validation rule; test_image.cpp:
// truncated, forged and unsupported images) with what they leave out:
//
//   * truncations at every section boundary of a valid file: safetensors
//     (length field, header, each tensor's data) and GGUF (magic, version,
//     counts, each key/value, each tensor-info field, the alignment padding,
//     each tensor's data), each naming the part that is cut;
//   * counts of 2^63 and absurd dimensions (GGUF tensor, key/value, string
//     and array counts; safetensors dimensions and offsets);
//   * wrong alignment types and values;
//   * images with huge declared sizes (PNG, JPEG, BMP headers), invalid PNG
//     headers (bit depth, colour type, 16-bit palette, interlace method, zero
//     size), and 16-bit / grey / grey+alpha / RGBA PNGs cut short;
//   * NaN and infinite weights in the quality network (the committed
//     weights/rsfiqa-quality-v1.safetensors with one value overwritten),
//     refused at load since they would poison every score.
//
// Every input is built here byte by byte (no writer involved), so a bug in a
// writer cannot hide a reader bug. Valid twins of the forged PNGs decode, so a
// failure row means the forged field, not the builder. With
// RSFIQA_DUMP_MALFORMED_DIR set, each row is also written there as a file
// (seeds for the fuzzers); with RSFIQA_MALFORMED_VERBOSE set, every row's
// error is printed.
#include <doctest/doctest.h>

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "rsfiqa/core/status.hpp"
#include "rsfiqa/io/file.hpp"
#include "rsfiqa/io/gguf.hpp"
#include "rsfiqa/io/image.hpp"
#include "rsfiqa/io/safetensors.hpp"
#include "rsfiqa/models/quality/quality_net.hpp"

using rsfiqa::ErrorCode;
using Bytes = std::vector<uint8_t>;

namespace {

// ------------------------------------------------------------------ builders

void put_le(Bytes& b, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b.push_back((uint8_t)(v >> (8 * i)));
}
void put_be32(Bytes& b, uint32_t v) {
  for (int i = 3; i >= 0; --i) b.push_back((uint8_t)(v >> (8 * i)));
}
void put_be16(Bytes& b, uint32_t v) {
  b.push_back((uint8_t)(v >> 8));
  b.push_back((uint8_t)v);
}
Bytes cut(const Bytes& b, size_t n) { return Bytes(b.begin(), b.begin() + (ptrdiff_t)std::min(n, b.size())); }

// safetensors: 8-byte little-endian header length, JSON header, data.
Bytes st_file(const std::string& header, size_t data_bytes) {
  Bytes out;
  put_le(out, header.size(), 8);
  out.insert(out.end(), header.begin(), header.end());
  for (size_t i = 0; i < data_bytes; ++i) out.push_back((uint8_t)(i * 7 + 1));
  return out;
}
std::string st_entry(const std::string& name, const char* dtype, const std::string& shape, const std::string& b,
                     const std::string& e) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + b + "," + e +
         "]}";
}

// GGUF, little-endian, assembled field by field. `marks` records where each
// section starts so the truncation rows can cut exactly there.
struct Gguf {
  Bytes b;
  Gguf& u8(uint8_t v) {
    b.push_back(v);
    return *this;
  }
  Gguf& u32(uint32_t v) {
    put_le(b, v, 4);
    return *this;
  }
  Gguf& u64(uint64_t v) {
    put_le(b, v, 8);
    return *this;
  }
  Gguf& raw(const std::string& s) {
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Gguf& str(const std::string& s) { return u64(s.size()).raw(s); }
  Gguf& header(uint64_t n_tensors, uint64_t n_kv) { return raw("GGUF").u32(3).u64(n_tensors).u64(n_kv); }
  Gguf& pad(size_t align = 32) {
    while (b.size() % align) b.push_back(0);
    return *this;
  }
  Gguf& zeros(size_t n) {
    b.resize(b.size() + n, 0);
    return *this;
  }
  size_t size() const { return b.size(); }
};

uint32_t crc32(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

void png_chunk(Bytes& out, const char* type, const Bytes& data) {
  put_be32(out, (uint32_t)data.size());
  Bytes td(type, type + 4);
  td.insert(td.end(), data.begin(), data.end());
  out.insert(out.end(), td.begin(), td.end());
  put_be32(out, crc32(td.data(), td.size()));
}

// zlib stream of stored (uncompressed) blocks, with its Adler-32.
Bytes zlib_stored(const Bytes& raw) {
  Bytes z = {0x78, 0x01};
  size_t pos = 0;
  do {
    const size_t n = std::min<size_t>(65535, raw.size() - pos);
    z.push_back(pos + n == raw.size() ? 1 : 0);
    put_le(z, n, 2);
    put_le(z, (~n) & 0xFFFF, 2);
    z.insert(z.end(), raw.begin() + (ptrdiff_t)pos, raw.begin() + (ptrdiff_t)(pos + n));
    pos += n;
  } while (pos < raw.size());
  uint32_t a = 1, s = 0;
  for (uint8_t v : raw) {
    a = (a + v) % 65521;
    s = (s + a) % 65521;
  }
  put_be32(z, (s << 16) | a);
  return z;
}

// A PNG with the given IHDR fields; pixel rows (filter byte 0 + samples) are
// generated for the declared size when it is small, otherwise the IDAT is a
// token few bytes (the reader must refuse the size before inflating).
Bytes make_png(uint32_t w, uint32_t h, int depth, int color, int interlace = 0) {
  Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  Bytes ihdr;
  put_be32(ihdr, w);
  put_be32(ihdr, h);
  for (int v : {depth, color, 0, 0, interlace}) ihdr.push_back((uint8_t)v);
  png_chunk(png, "IHDR", ihdr);
  if (color == 3) png_chunk(png, "PLTE", Bytes{0, 0, 0, 255, 255, 255});
  const int channels = color == 0 ? 1 : color == 2 ? 3 : color == 3 ? 1 : color == 4 ? 2 : 4;
  Bytes raw;
  if ((uint64_t)w * h <= 4096) {
    const size_t row = ((size_t)w * (size_t)channels * (size_t)std::max(depth, 1) + 7) / 8;
    for (uint32_t y = 0; y < h; ++y) {
      raw.push_back(0);
      for (size_t i = 0; i < row; ++i) raw.push_back((uint8_t)(y * 31 + i * 7));
    }
  } else {
    raw = {0, 1, 2, 3};
  }
  png_chunk(png, "IDAT", zlib_stored(raw));
  png_chunk(png, "IEND", {});
  return png;
}

// A baseline JPEG header (SOI, SOF0 with the given size, EOI): enough for the
// size check, no scan.
Bytes make_jpeg_header(uint32_t w, uint32_t h) {
  Bytes j = {0xFF, 0xD8, 0xFF, 0xC0};
  put_be16(j, 17);
  j.push_back(8);
  put_be16(j, h);
  put_be16(j, w);
  j.push_back(3);
  for (int c = 1; c <= 3; ++c) {
    j.push_back((uint8_t)c);
    j.push_back(0x11);
    j.push_back(0);
  }
  j.push_back(0xFF);
  j.push_back(0xD9);
  return j;
}

// A BMP (BITMAPINFOHEADER) with the given fields and `data_bytes` of pixels.
Bytes make_bmp(int32_t w, int32_t h, uint16_t bpp, size_t data_bytes) {
  Bytes b = {'B', 'M'};
  put_le(b, 54 + data_bytes, 4);
  put_le(b, 0, 4);
  put_le(b, 54, 4);
  put_le(b, 40, 4);
  put_le(b, (uint32_t)w, 4);
  put_le(b, (uint32_t)h, 4);
  put_le(b, 1, 2);
  put_le(b, bpp, 2);
  put_le(b, 0, 4);  // BI_RGB
  put_le(b, data_bytes, 4);
  put_le(b, 2835, 4);
  put_le(b, 2835, 4);
  put_le(b, 0, 4);
  put_le(b, 0, 4);
  b.resize(b.size() + data_bytes, 0x40);
  return b;
}

// ------------------------------------------------------------------ the table

enum class Reader { kSafetensors, kGguf, kImage, kImageInfo };  // kImageInfo: io::image_info (header only)

struct Row {
  std::string rule;
  Reader reader;
  Bytes bytes;
  ErrorCode code;
  std::string substring;
};

rsfiqa::Status read_with(Reader r, const Bytes& b) {
  switch (r) {
    case Reader::kSafetensors:
      return rsfiqa::io::SafeTensorsFile::from_memory(b.data(), b.size()).status();
    case Reader::kGguf:
      return rsfiqa::io::GgufFile::from_memory(b.data(), b.size()).status();
    case Reader::kImage:
      return rsfiqa::io::decode_image(b.data(), b.size()).status();
    case Reader::kImageInfo:
      return rsfiqa::io::image_info(b.data(), b.size()).status();
  }
  return rsfiqa::Status();
}

const char* extension(Reader r) {
  return r == Reader::kSafetensors ? ".safetensors" : r == Reader::kGguf ? ".gguf" : ".img";
}

void dump_row(const Row& row) {
  const char* dir = std::getenv("RSFIQA_DUMP_MALFORMED_DIR");
  if (!dir) return;
  std::string name;
  for (char c : row.rule) name += (std::isalnum((unsigned char)c) ? (char)std::tolower((unsigned char)c) : '_');
  const std::string path = std::string(dir) + "/" + name + extension(row.reader);
  REQUIRE(rsfiqa::io::write_file_atomic(path, row.bytes.data(), row.bytes.size()).ok());
}

// Valid safetensors with two tensors: w F32 [2,3] (24 bytes) then b F16 [4] (8 bytes).
struct StValid {
  Bytes bytes;
  size_t header_end = 0;  // 8 + N
};
StValid st_valid() {
  StValid v;
  const std::string h = "{" + st_entry("w", "F32", "[2,3]", "0", "24") + "," + st_entry("b", "F16", "[4]", "24", "32") +
                        ",\"__metadata__\":{\"format\":\"pt\"}}";
  v.bytes = st_file(h, 32);
  v.header_end = 8 + h.size();
  return v;
}

// Valid GGUF: 2 tensors, 2 key/values (a string and a uint32 alignment of 32),
// with the start of every section recorded.
struct GgufValid {
  Bytes bytes;
  size_t after_magic, after_version, after_tensor_count, after_kv_count;
  size_t kv1_value, kv2_start, tensor1_start, tensor1_dims, tensor1_type, tensor1_offset, tensor2_start;
  size_t padding_start, data_start, tensor2_data;
};
GgufValid gguf_valid() {
  GgufValid v;
  Gguf g;
  g.raw("GGUF");
  v.after_magic = g.size();
  g.u32(3);
  v.after_version = g.size();
  g.u64(2);
  v.after_tensor_count = g.size();
  g.u64(2);
  v.after_kv_count = g.size();
  // A 100-byte first key puts every later boundary past the minimum size the
  // counts imply (94 bytes), so the cuts reach the per-field checks.
  g.str("general.long_key_" + std::string(83, 'k')).u32(8);
  v.kv1_value = g.size();
  g.str("llama");
  v.kv2_start = g.size();
  g.str("general.alignment").u32(4).u32(32);
  v.tensor1_start = g.size();
  g.str("a").u32(2);
  v.tensor1_dims = g.size();
  g.u64(4).u64(2);
  v.tensor1_type = g.size();
  g.u32(0);  // F32: 32 bytes
  v.tensor1_offset = g.size();
  g.u64(0);
  v.tensor2_start = g.size();
  g.str("b").u32(1).u64(8).u32(1).u64(32);  // F16 [8]: 16 bytes at 32
  v.padding_start = g.size();
  g.pad();
  v.data_start = g.size();
  g.zeros(32);
  v.tensor2_data = g.size();
  g.zeros(16);
  v.bytes = g.b;
  return v;
}

std::vector<Row> build_rows() {
  std::vector<Row> rows;
  auto add = [&](const std::string& rule, Reader r, Bytes b, ErrorCode code, const std::string& sub) {
    rows.push_back({rule, r, std::move(b), code, sub});
  };
  const Reader ST = Reader::kSafetensors, GG = Reader::kGguf, IM = Reader::kImage;

  // --- safetensors: truncation at every section boundary.
  const StValid sv = st_valid();
  add("st cut inside the length field", ST, cut(sv.bytes, 5), ErrorCode::kTruncated, "too short");
  add("st cut after the length field", ST, cut(sv.bytes, 8), ErrorCode::kTruncated, "but the file has 8 bytes");
  add("st cut one byte before the header ends", ST, cut(sv.bytes, sv.header_end - 1), ErrorCode::kTruncated,
      "ends at byte " + std::to_string(sv.header_end) + " but the file has " + std::to_string(sv.header_end - 1));
  add("st cut at the end of the header", ST, cut(sv.bytes, sv.header_end), ErrorCode::kTruncated,
      "'w' ends at data byte 24 (file byte " + std::to_string(sv.header_end + 24) + ") but the data section has 0 bytes");
  add("st cut inside the first tensor", ST, cut(sv.bytes, sv.header_end + 10), ErrorCode::kTruncated,
      "'w' ends at data byte 24 (file byte " + std::to_string(sv.header_end + 24) + ") but the data section has 10 bytes");
  add("st cut between the tensors", ST, cut(sv.bytes, sv.header_end + 24), ErrorCode::kTruncated,
      "'b' ends at data byte 32 (file byte " + std::to_string(sv.header_end + 32) + ") but the data section has 24 bytes");
  add("st cut one byte before the end", ST, cut(sv.bytes, sv.bytes.size() - 1), ErrorCode::kTruncated,
      "'b' ends at data byte 32 (file byte " + std::to_string(sv.header_end + 32) + ") but the data section has 31 bytes");
  // --- safetensors: 2^63 counts, absurd dimensions and offsets, wrong types.
  {
    Bytes b;
    put_le(b, 1ull << 63, 8);
    b.push_back('{');
    b.push_back('}');
    add("st header length 2^63", ST, b, ErrorCode::kLimitExceeded, "over the limit");
  }
  add("st dimension 2^63", ST, st_file("{" + st_entry("w", "U8", "[9223372036854775808]", "0", "1") + "}", 1),
      ErrorCode::kMalformed, "'w' dimension 0");
  add("st dimensions 2^62 x 4", ST, st_file("{" + st_entry("w", "U8", "[4611686018427387904,4]", "0", "1") + "}", 1),
      ErrorCode::kOverflow, "overflows");
  add("st end offset 2^63", ST, st_file("{" + st_entry("w", "U8", "[1]", "0", "9223372036854775808") + "}", 1),
      ErrorCode::kMalformed, "'w' data_offsets are not non-negative integers in range");
  add("st dtype not a string", ST, st_file("{\"w\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
      ErrorCode::kMalformed, "'w' has no string 'dtype'");
  add("st shape not an array", ST, st_file("{\"w\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,16]}}", 16),
      ErrorCode::kMalformed, "'w' has no array 'shape'");
  add("st NaN literal in the header", ST, st_file("{\"w\":NaN}", 0), ErrorCode::kMalformed,
      "JSON: expected a value at byte 5 ('N')");
  add("st header nested 10000 deep", ST,
      st_file("{\"__metadata__\":" + std::string(10000, '[') + std::string(10000, ']') + "}", 0),
      ErrorCode::kLimitExceeded, "JSON: nesting deeper than");

  // --- GGUF: truncation at every section boundary.
  const GgufValid gv = gguf_valid();
  REQUIRE(rsfiqa::io::GgufFile::from_memory(gv.bytes.data(), gv.bytes.size()).ok());
  add("gguf cut after the magic", GG, cut(gv.bytes, gv.after_magic), ErrorCode::kTruncated,
      "file ends at byte 4 while reading the version");
  add("gguf cut after the version", GG, cut(gv.bytes, gv.after_version), ErrorCode::kTruncated,
      "file ends at byte 8 while reading the tensor count");
  add("gguf cut after the tensor count", GG, cut(gv.bytes, gv.after_tensor_count), ErrorCode::kTruncated,
      "file ends at byte 16 while reading the metadata count");
  add("gguf cut after the kv count", GG, cut(gv.bytes, gv.after_kv_count), ErrorCode::kTruncated,
      "2 metadata entries and 2 tensors need at least 94 bytes but only 0 remain");
  add("gguf cut inside the first key", GG, cut(gv.bytes, gv.after_kv_count + 8 + 90), ErrorCode::kTruncated,
      "while reading a metadata key (needs 100 bytes at byte 32)");
  add("gguf cut before the first value", GG, cut(gv.bytes, gv.kv1_value), ErrorCode::kTruncated,
      "while reading a string value");
  add("gguf cut before the second kv", GG, cut(gv.bytes, gv.kv2_start), ErrorCode::kTruncated,
      "while reading a metadata key");
  add("gguf cut before the tensor infos", GG, cut(gv.bytes, gv.tensor1_start), ErrorCode::kTruncated,
      "while reading a tensor name");
  add("gguf cut before the dimensions", GG, cut(gv.bytes, gv.tensor1_dims), ErrorCode::kTruncated,
      "while reading a tensor dimension");
  add("gguf cut before the tensor type", GG, cut(gv.bytes, gv.tensor1_type), ErrorCode::kTruncated,
      "while reading a tensor type");
  add("gguf cut before the tensor offset", GG, cut(gv.bytes, gv.tensor1_offset), ErrorCode::kTruncated,
      "while reading a tensor offset");
  add("gguf cut before the second tensor info", GG, cut(gv.bytes, gv.tensor2_start), ErrorCode::kTruncated,
      "file ends at byte " + std::to_string(gv.tensor2_start) + " while reading a tensor name");
  add("gguf cut inside the alignment padding", GG, cut(gv.bytes, gv.padding_start + 1), ErrorCode::kTruncated,
      "ends past the end of the file");
  add("gguf cut at the start of the data", GG, cut(gv.bytes, gv.data_start), ErrorCode::kTruncated,
      "'a' (32 bytes at data offset 0) ends past the end of the file");
  add("gguf cut before the second tensor's data", GG, cut(gv.bytes, gv.tensor2_data), ErrorCode::kTruncated,
      "'b' (16 bytes at data offset 32) ends past the end of the file");
  add("gguf cut one byte before the end", GG, cut(gv.bytes, gv.bytes.size() - 1), ErrorCode::kTruncated,
      "'b' (16 bytes at data offset 32) ends past the end of the file");
  // --- GGUF: counts of 2^63, absurd dimensions.
  add("gguf tensor count 2^63", GG, Gguf().header(1ull << 63, 0).b, ErrorCode::kLimitExceeded,
      "9223372036854775808 tensors is over the limit");
  add("gguf kv count 2^63", GG, Gguf().header(0, 1ull << 63).b, ErrorCode::kLimitExceeded,
      "9223372036854775808 metadata entries is over the limit");
  add("gguf key length 2^63", GG, Gguf().header(0, 1).u64(1ull << 63).zeros(16).b, ErrorCode::kLimitExceeded,
      "has length 9223372036854775808");
  add("gguf string value length 2^63", GG, Gguf().header(0, 1).str("k").u32(8).u64(1ull << 63).zeros(8).b,
      ErrorCode::kLimitExceeded, "a string value at byte 37 has length 9223372036854775808");
  add("gguf array length 2^63", GG, Gguf().header(0, 1).str("k").u32(9).u32(4).u64(1ull << 63).zeros(8).b,
      ErrorCode::kLimitExceeded, "array of 9223372036854775808 elements is over the limit");
  add("gguf string array element length 2^63", GG,
      Gguf().header(0, 1).str("k").u32(9).u32(8).u64(1).u64(1ull << 63).zeros(8).b, ErrorCode::kLimitExceeded,
      "an array string at byte 49 has length 9223372036854775808");
  add("gguf n_dims 2^32-1", GG, Gguf().header(1, 0).str("t").u32(0xFFFFFFFFu).zeros(64).b, ErrorCode::kMalformed,
      "'t' has 4294967295 dimensions");
  add("gguf dimensions 2^62 x 2^62", GG,
      Gguf().header(1, 0).str("t").u32(2).u64(1ull << 62).u64(1ull << 62).u32(0).u64(0).pad().zeros(32).b,
      ErrorCode::kOverflow, "more than INT64_MAX elements");
  add("gguf dimension 2^63", GG, Gguf().header(1, 0).str("t").u32(1).u64(1ull << 63).u32(0).u64(0).pad().zeros(32).b,
      ErrorCode::kOverflow, "above INT64_MAX");
  add("gguf tensor offset 2^63", GG,
      Gguf().header(1, 0).str("t").u32(1).u64(4).u32(0).u64(1ull << 63).pad().zeros(32).b, ErrorCode::kMalformed,
      "the first tensor 't' starts at offset 9223372036854775808, not 0");
  add("gguf tensor type 2^31", GG, Gguf().header(1, 0).str("t").u32(1).u64(4).u32(1u << 31).u64(0).pad().zeros(32).b,
      ErrorCode::kUnsupportedType, "ggml type 2147483648");
  // --- GGUF: wrong alignment types and values.
  add("gguf alignment as a string", GG, Gguf().header(0, 1).str("general.alignment").u32(8).str("32").b,
      ErrorCode::kMalformed, "'general.alignment' has type string, expected uint32");
  add("gguf alignment as float32", GG, Gguf().header(0, 1).str("general.alignment").u32(6).u32(0x42000000u).b,
      ErrorCode::kMalformed, "'general.alignment' has type float32, expected uint32");
  add("gguf alignment as int32", GG, Gguf().header(0, 1).str("general.alignment").u32(5).u32(32).b,
      ErrorCode::kMalformed, "'general.alignment' has type int32, expected uint32");
  add("gguf alignment 2^31 + 1", GG, Gguf().header(0, 1).str("general.alignment").u32(4).u32(0x80000001u).b,
      ErrorCode::kAlignment, "2147483649 is not a power of two");
  add("gguf offset aligned to 16 under alignment 64", GG,
      Gguf()
          .header(2, 1)
          .str("general.alignment")
          .u32(4)
          .u32(64)
          .str("a")
          .u32(1)
          .u64(4)
          .u32(0)
          .u64(0)
          .str("b")
          .u32(1)
          .u64(4)
          .u32(0)
          .u64(16)
          .pad(64)
          .zeros(128)
          .b,
      ErrorCode::kAlignment, "offset 16 is not a multiple of the alignment 64");

  // --- images: huge declared sizes, refused before decoding.
  add("png declaring 2^31-1 x 1", IM, make_png(0x7FFFFFFFu, 1, 8, 2), ErrorCode::kLimitExceeded,
      "over the side limit of 32768");
  add("png declaring 30000 x 30000", IM, make_png(30000, 30000, 8, 6), ErrorCode::kLimitExceeded,
      "30000x30000 (900000000 pixels), over the limit");
  add("png declaring 2^32-1 x 2^32-1", IM, make_png(0xFFFFFFFFu, 0xFFFFFFFFu, 16, 6), ErrorCode::kLimitExceeded,
      "4294967295x4294967295");
  add("jpeg declaring 65535 x 65535", IM, make_jpeg_header(65535, 65535), ErrorCode::kLimitExceeded,
      "65535x65535, over the side limit");
  add("jpeg declaring 0 x 0", IM, make_jpeg_header(0, 0), ErrorCode::kMalformed, "cannot read the JPEG header");
  add("bmp declaring 100000 x 100000", IM, make_bmp(100000, 100000, 24, 12), ErrorCode::kLimitExceeded,
      "100000x100000");
  add("bmp declaring -2^31 rows", IM, make_bmp(4, INT32_MIN, 24, 48), ErrorCode::kLimitExceeded,
      "BMP image is 4x2147483648");
  // Fuzzer finding (image target): a BMP whose header, as stb reads it,
  // declares a top-down height of -2^31; negating it was undefined behaviour.
  add("bmp height -2^31 seen by stb (fuzzer finding)", Reader::kImageInfo,
      Bytes{0x42, 0x4d, 0x46, 0x20, 0x00, 0x89, 0x7a, 0x4e, 0x47, 0x0d, 0x0a, 0x00, 0x00,
            0x00, 0x28, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x80,
            0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x27, 0x00},
      ErrorCode::kMalformed, "BMP header declares a height of -2147483648");
  // Fuzzer finding (image target): inside scan data, "FF FF 00" is a
  // stuffed 0xFF after a fill byte; a DHT with 272 code lengths follows.
  // A marker walk that stopped at the fill byte took "FF 00 00 18" for a
  // 24-byte segment, stepped over the DHT onto FF D9 and let stb build the
  // table past its arrays. An 8x8 grey baseline frame with one-symbol DC/AC
  // tables carries it.
  {
    Bytes j = {0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 8, 0x00, 8, 0x00, 8, 1, 1, 0x11, 0};
    for (uint8_t tc : {0x00, 0x10}) {
      for (uint8_t b : {0xFF, 0xC4, 0x00, 0x14}) j.push_back(b);
      j.push_back(tc);
      j.push_back(1);
      j.insert(j.end(), 15, 0);
      j.push_back(0);
    }
    for (uint8_t b : {0xFF, 0xDA, 0x00, 0x08, 1, 1, 0x00, 0, 63, 0}) j.push_back(b);
    for (uint8_t b : {0xFF, 0xFF, 0x00, 0x00, 0x18, 0xFF, 0xC4, 0x00, 0x13, 0x00}) j.push_back(b);
    j.insert(j.end(), 16, 17);
    for (uint8_t b : {0x00, 0xFF, 0xD9}) j.push_back(b);
    add("jpeg DHT hidden behind a fill byte in scan data (fuzzer finding)", IM, j, ErrorCode::kMalformed,
        "declares 272 symbols (at most 256)");
  }
  add("bmp with 7 bits per pixel", IM, make_bmp(4, 4, 7, 64), ErrorCode::kMalformed, "cannot decode BMP image (4x4");
  // --- images: invalid PNG headers.
  add("png zero width", IM, make_png(0, 4, 8, 2), ErrorCode::kMalformed, "cannot read the PNG header");
  add("png bit depth 3", IM, make_png(4, 4, 3, 0), ErrorCode::kMalformed, "cannot read the PNG header");
  add("png colour type 1", IM, make_png(4, 4, 8, 1), ErrorCode::kMalformed, "cannot read the PNG header");
  add("png 16-bit palette", IM, make_png(4, 4, 16, 3), ErrorCode::kMalformed, "cannot read the PNG header");
  add("png interlace method 2", IM, make_png(4, 4, 8, 2, 2), ErrorCode::kMalformed, "cannot read the PNG header");
  // --- images: 16-bit, grey, grey+alpha and RGBA PNGs cut short (their whole
  // versions decode; see the valid-twin check below).
  for (const auto& f : std::vector<std::pair<std::string, std::pair<int, int>>>{
           {"16-bit RGB", {16, 2}}, {"grey", {8, 0}}, {"grey+alpha", {8, 4}}, {"RGBA", {8, 6}}, {"16-bit grey+alpha", {16, 4}}}) {
    const Bytes whole = make_png(9, 7, f.second.first, f.second.second);
    add("png " + f.first + " cut inside IDAT", IM, cut(whole, whole.size() - 30), ErrorCode::kMalformed, "truncated");
  }
  return rows;
}

}  // namespace

TEST_CASE("malformed inputs across readers: one row each, specific code and message") {
  const std::vector<Row> rows = build_rows();
  REQUIRE(rows.size() >= 40);
  for (const Row& row : rows) {
    CAPTURE(row.rule);
    dump_row(row);
    const rsfiqa::Status s = read_with(row.reader, row.bytes);
    REQUIRE_FALSE_MESSAGE(s.ok(), row.rule);
    if (std::getenv("RSFIQA_MALFORMED_VERBOSE")) MESSAGE(row.rule, " -> ", s.to_string());
    CHECK_MESSAGE(s.code() == row.code, row.rule, ": got ", std::string(rsfiqa::error_code_name(s.code())), ": ", s.message());
    CHECK_MESSAGE(s.message().find(row.substring) != std::string::npos, row.rule, ": ", s.message());
  }
  MESSAGE(rows.size(), " malformed-input rows");
}

TEST_CASE("the builders make valid files when nothing is forged") {
  const StValid sv = st_valid();
  CHECK(rsfiqa::io::SafeTensorsFile::from_memory(sv.bytes.data(), sv.bytes.size()).ok());
  const GgufValid gv = gguf_valid();
  auto g = rsfiqa::io::GgufFile::from_memory(gv.bytes.data(), gv.bytes.size());
  REQUIRE_MESSAGE(g.ok(), g.status().to_string());
  // Every PNG layout the truncation rows use decodes whole, as 8-bit RGB.
  for (const auto& f : std::vector<std::pair<int, int>>{{16, 2}, {8, 0}, {8, 4}, {8, 6}, {16, 4}, {8, 2}, {8, 3}}) {
    CAPTURE(f.first);
    CAPTURE(f.second);
    const Bytes png = make_png(9, 7, f.first, f.second);
    auto img = rsfiqa::io::decode_image(png.data(), png.size());
    REQUIRE_MESSAGE(img.ok(), img.status().to_string());
    CHECK(img->width == 9);
    CHECK(img->height == 7);
    CHECK(img->rgb.size() == (size_t)9 * 7 * 3);
  }
  const Bytes bmp = make_bmp(4, 4, 24, 48);
  CHECK(rsfiqa::io::decode_image(bmp.data(), bmp.size()).ok());
}

// NaN/Inf weights where they would poison every score: the quality network
// (the committed weights/rsfiqa-quality-v1.safetensors) refuses them at load.
// One F32 element of a real tensor is overwritten in a copy of the file.
TEST_CASE("quality weights with a NaN or an infinity are refused at load") {
  auto bytes = rsfiqa::io::read_file_bytes(std::string(RSFIQA_SOURCE_DIR) + "/weights/rsfiqa-quality-v1.safetensors",
                                           size_t(64) << 20);
  REQUIRE_MESSAGE(bytes.ok(), bytes.status().to_string());
  auto st = rsfiqa::io::SafeTensorsFile::from_memory(bytes->data(), bytes->size());
  REQUIRE(st.ok());
  REQUIRE(rsfiqa::quality::QualityNet::from_file(*st).ok());
  const rsfiqa::io::SafeTensorInfo* target = nullptr;
  for (const auto& t : st->tensors())
    if (t.dtype == rsfiqa::DType::kF32 && t.nbytes >= 16) {
      target = &t;
      break;
    }
  REQUIRE(target != nullptr);
  const size_t at = (size_t)(target->data - bytes->data());
  const std::string name = target->name;
  const struct {
    float value;
    int64_t index;
  } poisons[] = {{std::numeric_limits<float>::quiet_NaN(), 0},
                 {std::numeric_limits<float>::infinity(), 3},
                 {-std::numeric_limits<float>::infinity(), 1}};
  for (const auto& p : poisons) {
    CAPTURE(p.index);
    Bytes copy = *bytes;
    std::memcpy(copy.data() + at + 4 * (size_t)p.index, &p.value, 4);
    auto f = rsfiqa::io::SafeTensorsFile::from_memory(copy.data(), copy.size());
    REQUIRE(f.ok());  // the container is fine; the values are not
    auto net = rsfiqa::quality::QualityNet::from_file(*f);
    REQUIRE_FALSE(net.ok());
    CHECK(net.status().code() == ErrorCode::kMalformed);
    CHECK_MESSAGE(net.status().message().find("tensor '" + name + "' has a non-finite value at " +
                                              std::to_string(p.index)) != std::string::npos,
                  net.status().message());
  }
}

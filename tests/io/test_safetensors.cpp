// SPDX-License-Identifier: MIT
// Tests of io/safetensors.hpp: writer -> reader round trips (bytes, dtypes,
// shapes, metadata, layout determinism and alignment), f16/bf16 -> f32
// conversion, a table of hand-made malformed files (one per rule of
// RELIABILITY.md, each with its error code and a message substring), and
// truncation of a valid file at every byte.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "rsfiqa/io/safetensors.hpp"

using rsfiqa::DType;
using rsfiqa::ErrorCode;
using rsfiqa::Shape;
using rsfiqa::io::SafeTensorsFile;
using rsfiqa::io::SafeTensorsLimits;
using rsfiqa::io::SafeTensorsWriter;

namespace {

// 8-byte little-endian length + header + data, built by hand.
std::vector<uint8_t> make_file(const std::string& header, size_t data_bytes, uint64_t declared = UINT64_MAX) {
  const uint64_t n = declared == UINT64_MAX ? header.size() : declared;
  std::vector<uint8_t> out;
  for (int i = 0; i < 8; ++i) out.push_back((uint8_t)(n >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  for (size_t i = 0; i < data_bytes; ++i) out.push_back((uint8_t)i);
  return out;
}

std::string entry(const std::string& name, const char* dtype, const std::string& shape, long long b, long long e) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
         std::to_string(b) + "," + std::to_string(e) + "]}";
}

std::vector<uint8_t> valid_file() {
  SafeTensorsWriter w;
  const float a[6] = {1, -2, 3.5f, 0, 1e-3f, 7};
  const uint16_t h[3] = {rsfiqa::f32_to_f16(0.5f), rsfiqa::f32_to_f16(-3.0f), rsfiqa::f32_to_f16(65504.0f)};
  const int8_t q[5] = {-128, -1, 0, 1, 127};
  REQUIRE(w.add("enc.weight", DType::kF32, Shape{2, 3}, a, sizeof(a)).ok());
  REQUIRE(w.add("enc.bias", DType::kF16, Shape{3}, h, sizeof(h)).ok());
  REQUIRE(w.add("q", DType::kI8, Shape{5}, q, sizeof(q)).ok());
  REQUIRE(w.add("empty", DType::kF32, Shape{0, 4}, nullptr, 0).ok());
  w.add_metadata("format", "pt");
  auto bytes = w.serialize();
  REQUIRE(bytes.ok());
  return *bytes;
}

std::string temp_path(const char* stem) {
  return (std::filesystem::temp_directory_path() / "rsfiqa_test_st_").string() + stem + "_" +
         std::to_string((long long)::getpid()) + ".safetensors";
}

// With RSFIQA_DUMP_MALFORMED_DIR set, the malformed-file table and a valid
// file are also written there (one file per rule) to seed fuzzers; the
// committed copies live in tests/data/malformed/.
void dump_case(const std::string& rule, const std::vector<uint8_t>& bytes) {
  const char* dir = std::getenv("RSFIQA_DUMP_MALFORMED_DIR");
  if (!dir) return;
  std::string name;
  for (char c : rule) name += (std::isalnum((unsigned char)c) ? (char)std::tolower((unsigned char)c) : '_');
  const std::string path = std::string(dir) + "/" + name + ".safetensors";
  REQUIRE(rsfiqa::io::write_file_atomic(path, bytes.data(), bytes.size()).ok());
}

}  // namespace

TEST_CASE("safetensors: round trip of every dtype, scalars, empty tensors and metadata") {
  SafeTensorsWriter w;
  struct Item {
    const char* name;
    DType t;
    Shape s;
  };
  const Item items[] = {
      {"f64", DType::kF64, {3}},         {"f32", DType::kF32, {2, 3}}, {"f16", DType::kF16, {5}},
      {"bf16", DType::kBF16, {1, 1, 3}}, {"i64", DType::kI64, {2}},    {"i32", DType::kI32, {}},
      {"i16", DType::kI16, {7}},         {"i8", DType::kI8, {3, 3}},   {"u8", DType::kU8, {9}},
      {"bool", DType::kBool, {4}},       {"u16", DType::kU16, {1}},    {"u32", DType::kU32, {2, 1}},
      {"u64", DType::kU64, {1}},         {"empty", DType::kF32, {0}},  {"empty2", DType::kI8, {3, 0, 2}}};
  std::vector<std::vector<uint8_t>> payloads;
  for (const Item& it : items) {
    const int64_t nb = rsfiqa::dtype_bytes(it.t, it.s.numel());
    std::vector<uint8_t> p((size_t)nb);
    for (size_t i = 0; i < p.size(); ++i) p[i] = (uint8_t)(i * 37 + it.name[0]);
    if (it.t == DType::kBool)
      for (auto& b : p) b &= 1;
    REQUIRE(w.add(it.name, it.t, it.s, p.data(), p.size()).ok());
    payloads.push_back(p);
  }
  w.add_metadata("format", "pt");
  w.add_metadata("note", "quote \" backslash \\ and \xc3\xa9");
  const std::string path = temp_path("roundtrip");
  REQUIRE(w.write(path).ok());

  auto f = SafeTensorsFile::open(path);
  REQUIRE_MESSAGE(f.ok(), f.status().to_string());
  CHECK(f->size() == sizeof(items) / sizeof(items[0]));
  CHECK(f->header_size() % 8 == 0);
  CHECK(f->metadata().at("format") == "pt");
  CHECK(f->metadata().at("note") == "quote \" backslash \\ and \xc3\xa9");
  for (size_t k = 0; k < payloads.size(); ++k) {
    const std::string item = items[k].name;
    CAPTURE(item);
    const auto* t = f->find(items[k].name);
    REQUIRE(t);
    CHECK(t->dtype == items[k].t);
    CHECK(t->shape == items[k].s);
    CHECK(t->nbytes == (int64_t)payloads[k].size());
    if (!payloads[k].empty()) CHECK(std::memcmp(t->data, payloads[k].data(), payloads[k].size()) == 0);
    // Our writer keeps each tensor naturally aligned (the mapping is page-aligned).
    CHECK((uintptr_t)t->data % (uintptr_t)rsfiqa::dtype_info(t->dtype).block_bytes == 0);
    auto conv = SafeTensorsFile::to_f32(*t);  // every plain dtype, empty tensors included
    REQUIRE(conv.ok());
    CHECK(conv->shape() == t->shape);
    const auto v = SafeTensorsFile::view(*t);
    CHECK(v.shape == items[k].s);
    CHECK(v.nbytes() == t->nbytes);
  }
  // File order is by offset and offsets tile the data section.
  int64_t expect = 0;
  for (const auto& t : f->tensors()) {
    CHECK(t.offset == expect);
    expect += t.nbytes;
  }
  CHECK((uint64_t)expect + f->data_offset() == f->file_size());
  CHECK(f->find("nope") == nullptr);
  auto g = f->get("nope");
  REQUIRE(!g.ok());
  CHECK(g.status().code() == ErrorCode::kNotFound);
  CHECK(g.status().message().find("'nope'") != std::string::npos);
  // The scalar.
  CHECK(f->find("i32")->shape.ndim == 0);
  CHECK(f->find("i32")->nbytes == 4);
  std::remove(path.c_str());
}

TEST_CASE("safetensors: output does not depend on the order of add() calls") {
  const float a[2] = {1, 2};
  const uint16_t b[3] = {1, 2, 3};
  SafeTensorsWriter w1, w2;
  REQUIRE(w1.add("x", DType::kF32, Shape{2}, a, 8).ok());
  REQUIRE(w1.add("y", DType::kF16, Shape{3}, b, 6).ok());
  REQUIRE(w2.add("y", DType::kF16, Shape{3}, b, 6).ok());
  REQUIRE(w2.add("x", DType::kF32, Shape{2}, a, 8).ok());
  CHECK(*w1.serialize() == *w2.serialize());
}

TEST_CASE("safetensors: writer rejects bad input") {
  SafeTensorsWriter w;
  const float a[2] = {1, 2};
  CHECK(w.add("x", DType::kF32, Shape{3}, a, 8).code() == ErrorCode::kShapeMismatch);
  CHECK(w.add("x", DType::kQ4_0, Shape{32}, a, 18).code() == ErrorCode::kUnsupportedType);
  CHECK(w.add("__metadata__", DType::kF32, Shape{2}, a, 8).code() == ErrorCode::kInvalidArgument);
  REQUIRE(w.add("x", DType::kF32, Shape{2}, a, 8).ok());
  CHECK(w.add("x", DType::kF32, Shape{2}, a, 8).code() == ErrorCode::kDuplicate);
}

TEST_CASE("safetensors: to_f32 converts f16, bf16 and integers from unaligned memory") {
  SafeTensorsWriter w;
  const float vals[4] = {0.5f, -3.0f, 65504.0f, 1.0f / 1024};
  uint16_t h[4], b[4];
  for (int i = 0; i < 4; ++i) {
    h[i] = rsfiqa::f32_to_f16(vals[i]);
    b[i] = rsfiqa::f32_to_bf16(vals[i]);
  }
  const int32_t iv[4] = {-5, 0, 7, 1 << 20};
  REQUIRE(w.add("h", DType::kF16, Shape{2, 2}, h, 8).ok());
  REQUIRE(w.add("b", DType::kBF16, Shape{4}, b, 8).ok());
  REQUIRE(w.add("i", DType::kI32, Shape{4}, iv, 16).ok());
  REQUIRE(w.add("f", DType::kF32, Shape{4}, vals, 16).ok());
  auto bytes = w.serialize();
  REQUIRE(bytes.ok());
  // Copy to an odd address so every tensor is misaligned.
  std::vector<uint8_t> shifted(bytes->size() + 1);
  std::memcpy(shifted.data() + 1, bytes->data(), bytes->size());
  auto f = SafeTensorsFile::from_memory(shifted.data() + 1, bytes->size());
  REQUIRE(f.ok());
  // from_memory does not copy.
  CHECK(f->find("h")->data >= shifted.data());
  CHECK(f->find("h")->data < shifted.data() + shifted.size());
  auto th = f->to_f32("h");
  REQUIRE(th.ok());
  CHECK(th->shape() == Shape{2, 2});
  CHECK((uintptr_t)th->f32() % rsfiqa::kAlignment == 0);
  for (int i = 0; i < 4; ++i) CHECK(th->f32()[i] == vals[i]);  // all exactly representable in f16
  auto tb = f->to_f32("b");
  REQUIRE(tb.ok());
  for (int i = 0; i < 3; ++i) CHECK(tb->f32()[i] == rsfiqa::bf16_to_f32(b[i]));
  CHECK(tb->f32()[0] == 0.5f);
  auto ti = f->to_f32("i");
  REQUIRE(ti.ok());
  CHECK(ti->f32()[0] == -5.0f);
  CHECK(ti->f32()[3] == 1048576.0f);
  auto tf = f->to_f32("f");
  REQUIRE(tf.ok());
  CHECK(std::memcmp(tf->f32(), vals, 16) == 0);
}

TEST_CASE("safetensors: minimal legal files") {
  // No tensors at all, no padding.
  auto a = make_file("{}", 0);
  auto fa = SafeTensorsFile::from_memory(a.data(), a.size());
  REQUIRE(fa.ok());
  CHECK(fa->size() == 0);
  // Trailing spaces, an empty tensor, a scalar, metadata.
  auto b = make_file("{\"__metadata__\":{\"a\":\"b\"}," + entry("s", "F32", "[]", 0, 4) + "," +
                         entry("e", "F16", "[0]", 4, 4) + "}    ",
                     4);
  auto fb = SafeTensorsFile::from_memory(b.data(), b.size());
  REQUIRE_MESSAGE(fb.ok(), fb.status().to_string());
  CHECK(fb->find("s")->shape.ndim == 0);
  CHECK(fb->find("e")->nbytes == 0);
  CHECK(fb->metadata().at("a") == "b");
}

struct BadCase {
  const char* rule;
  std::vector<uint8_t> bytes;
  ErrorCode code;
  const char* substring;
};

TEST_CASE("safetensors: malformed files, one per rule") {
  std::vector<BadCase> cases;
  const std::string t24 = entry("w", "F32", "[2,3]", 0, 24);
  cases.push_back({"empty file", {}, ErrorCode::kEmptyInput, "empty"});
  cases.push_back({"shorter than the length field", {1, 0, 0, 0, 0}, ErrorCode::kTruncated, "too short"});
  cases.push_back({"header length over the 100 MB cap", make_file("{}", 0, 100000001ull), ErrorCode::kLimitExceeded,
                   "over the limit of 100000000"});
  cases.push_back(
      {"header length near 2^64", make_file("{}", 0, UINT64_MAX - 1), ErrorCode::kLimitExceeded, "over the limit"});
  cases.push_back({"8+N past the end of the file", make_file("{}", 0, 64), ErrorCode::kTruncated,
                   "ends at byte 72 but the file has 10 bytes"});
  cases.push_back({"header does not start with '{'", make_file(" {}", 0), ErrorCode::kMalformed, "start with '{'"});
  cases.push_back({"zero-length header", make_file("", 0), ErrorCode::kMalformed, "start with '{'"});
  cases.push_back(
      {"header not UTF-8", make_file("{\"\xff\":1}", 0), ErrorCode::kMalformed, "not valid UTF-8 at header byte 2"});
  cases.push_back({"header not JSON", make_file("{\"w\" 1}", 0), ErrorCode::kMalformed, "expected ':'"});
  cases.push_back(
      {"garbage after the JSON object", make_file("{} x", 0), ErrorCode::kMalformed, "after the top-level"});
  cases.push_back({"duplicate tensor names", make_file("{" + t24 + "," + entry("w", "F32", "[2,3]", 24, 48) + "}", 48),
                   ErrorCode::kDuplicate, "duplicate key 'w'"});
  cases.push_back({"duplicate metadata keys", make_file("{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", 0),
                   ErrorCode::kDuplicate, "duplicate key 'a'"});
  cases.push_back({"metadata value not a string", make_file("{\"__metadata__\":{\"epoch\":3}}", 0),
                   ErrorCode::kMalformed, "key 'epoch' is a number, expected a string"});
  cases.push_back({"metadata not an object", make_file("{\"__metadata__\":[\"a\"]}", 0), ErrorCode::kMalformed,
                   "__metadata__ is a JSON array"});
  cases.push_back({"unknown dtype", make_file("{" + entry("w", "F8_E4M3", "[2]", 0, 2) + "}", 2),
                   ErrorCode::kUnsupportedType, "tensor 'w' has unsupported dtype 'F8_E4M3'"});
  cases.push_back({"missing dtype", make_file("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
                   ErrorCode::kMalformed, "'w' has no string 'dtype'"});
  cases.push_back({"entry not an object", make_file("{\"w\":5}", 0), ErrorCode::kMalformed, "entry 'w' is a number"});
  cases.push_back({"negative dimension", make_file("{" + entry("w", "F32", "[-1,3]", 0, 0) + "}", 0),
                   ErrorCode::kMalformed, "'w' dimension 0 is not a non-negative integer"});
  cases.push_back({"fractional dimension", make_file("{" + entry("w", "F32", "[2,1.5]", 0, 12) + "}", 12),
                   ErrorCode::kMalformed, "'w' dimension 1"});
  cases.push_back({"too many dimensions", make_file("{" + entry("w", "F32", "[1,1,1,1,1,1,1]", 0, 4) + "}", 4),
                   ErrorCode::kLimitExceeded, "7 dimensions"});
  cases.push_back({"shape product overflows",
                   make_file("{" + entry("w", "F32", "[4294967296,4294967296]", 0, 4) + "}", 4), ErrorCode::kOverflow,
                   "'w' shape [4294967296, 4294967296] overflows"});
  cases.push_back({"byte length != numel x size", make_file("{" + entry("w", "F32", "[2,3]", 0, 20) + "}", 20),
                   ErrorCode::kMalformed, "needs 24 bytes but data_offsets [0, 20] span 20"});
  cases.push_back({"data_offsets with three numbers",
                   make_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8),
                   ErrorCode::kMalformed, "2-element array 'data_offsets'"});
  cases.push_back({"end before begin", make_file("{" + entry("w", "F32", "[0]", 8, 4) + "}", 8), ErrorCode::kMalformed,
                   "end before they begin"});
  cases.push_back({"negative offset", make_file("{" + entry("w", "U8", "[4]", -4, 0) + "}", 4), ErrorCode::kMalformed,
                   "not non-negative integers"});
  cases.push_back({"data does not start at 0", make_file("{" + entry("w", "F32", "[2,3]", 4, 28) + "}", 28),
                   ErrorCode::kMalformed, "first tensor 'w' starts at 4"});
  cases.push_back({"hole between tensors", make_file("{" + t24 + "," + entry("v", "F32", "[1]", 28, 32) + "}", 32),
                   ErrorCode::kMalformed, "gap of 4 bytes between tensor 'w'"});
  cases.push_back({"overlapping tensors", make_file("{" + t24 + "," + entry("v", "F32", "[2]", 20, 28) + "}", 28),
                   ErrorCode::kMalformed, "'v' [20, 28) overlaps tensor 'w'"});
  cases.push_back({"trailing bytes after the last tensor", make_file("{" + t24 + "}", 30), ErrorCode::kMalformed,
                   "6 trailing bytes"});
  cases.push_back({"tensor past the end of the file", make_file("{" + t24 + "}", 16), ErrorCode::kTruncated,
                   "'w' ends at data byte 24"});
  cases.push_back({"offset near INT64_MAX",
                   make_file("{" + entry("w", "U8", "[1]", 9223372036854775806LL, 9223372036854775807LL) + "}", 0),
                   ErrorCode::kMalformed, "in range"});
  REQUIRE(cases.size() >= 15);
  for (const BadCase& c : cases) {
    const std::string rule = c.rule;
    CAPTURE(rule);
    dump_case(rule, c.bytes);
    auto f = SafeTensorsFile::from_memory(c.bytes.data(), c.bytes.size());
    REQUIRE(!f.ok());
    CHECK(f.status().code() == c.code);
    CHECK_MESSAGE(f.status().message().find(c.substring) != std::string::npos, f.status().message());
  }
}

TEST_CASE("safetensors: limits are configurable") {
  auto bytes = valid_file();
  SafeTensorsLimits lim;
  lim.max_tensors = 3;
  auto f = SafeTensorsFile::from_memory(bytes.data(), bytes.size(), lim);
  REQUIRE(!f.ok());
  CHECK(f.status().code() == ErrorCode::kLimitExceeded);
  lim = SafeTensorsLimits();
  lim.max_header_bytes = 16;
  f = SafeTensorsFile::from_memory(bytes.data(), bytes.size(), lim);
  REQUIRE(!f.ok());
  CHECK(f.status().code() == ErrorCode::kLimitExceeded);
}

TEST_CASE("safetensors: truncation at every byte gives a clean error") {
  auto bytes = valid_file();
  dump_case("valid", bytes);
  REQUIRE(SafeTensorsFile::from_memory(bytes.data(), bytes.size()).ok());
  for (size_t n = 0; n < bytes.size(); ++n) {
    CAPTURE(n);
    // A fresh allocation of exactly n bytes so ASan catches any read past the end.
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + (long)n);
    auto f = SafeTensorsFile::from_memory(cut.data(), cut.size());
    CHECK(!f.ok());
  }
  // Flipping every header byte must never crash either (result may be ok or an error).
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::vector<uint8_t> mod = bytes;
    mod[i] ^= 0x5a;
    auto f = SafeTensorsFile::from_memory(mod.data(), mod.size());
    if (f.ok()) CHECK(f->size() <= 4);
  }
}

TEST_CASE("safetensors: open() names the path on errors") {
  const std::string path = temp_path("bad");
  auto bytes = make_file("{\"w\":5}", 0);
  REQUIRE(rsfiqa::io::write_file_atomic(path, bytes.data(), bytes.size()).ok());
  auto f = SafeTensorsFile::open(path);
  REQUIRE(!f.ok());
  CHECK(f.status().message().find(path) != std::string::npos);
  std::remove(path.c_str());
  auto g = SafeTensorsFile::open(path);
  REQUIRE(!g.ok());
  CHECK(g.status().code() == ErrorCode::kNotFound);
}

TEST_CASE("safetensors: byte-level examples published with the reference implementation") {
  // The two serialized files spelled out in huggingface/safetensors'
  // bindings/python/tests/test_simple.py: an I32 [2, 2] tensor "test" with a
  // 60-byte unpadded header, and one with __metadata__ and a header padded
  // with spaces to 102 bytes. Both must load, with the stated contents.
  const std::string plain = std::string("<\0\0\0\0\0\0\0", 8) +
                            "{\"test\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}" +
                            std::string("\x01\0\0\0\x02\0\0\0\x03\0\0\0\x04\0\0\0", 16);
  auto a = SafeTensorsFile::from_memory(plain.data(), plain.size());
  REQUIRE_MESSAGE(a.ok(), a.status().to_string());
  const auto* t = a->find("test");
  REQUIRE(t);
  CHECK(t->dtype == DType::kI32);
  CHECK(t->shape == Shape{2, 2});
  auto f = SafeTensorsFile::to_f32(*t);
  REQUIRE(f.ok());
  CHECK(f->f32()[0] == 1.0f);
  CHECK(f->f32()[3] == 4.0f);
  // Its own writer output for the same tensor is byte-identical apart from the
  // header padding (60 -> 64 bytes).
  SafeTensorsWriter w;
  const int32_t v[4] = {1, 2, 3, 4};
  REQUIRE(w.add("test", DType::kI32, Shape{2, 2}, v, 16).ok());
  auto ours = w.serialize();
  REQUIRE(ours.ok());
  CHECK(ours->size() == plain.size() + 4);
  CHECK(ours->at(0) == 64);
  CHECK(std::memcmp(ours->data() + 8, plain.data() + 8, 60) == 0);
  CHECK(std::memcmp(ours->data() + 72, plain.data() + 68, 16) == 0);

  const std::string meta = std::string("f\0\0\0\0\0\0\0", 8) +
                           "{\"__metadata__\":{\"framework\":\"pt\"},\"test1\":{\"dtype\":\"I32\",\"shape\":[2,2],"
                           "\"data_offsets\":[0,16]}}       " +
                           std::string(16, '\0');
  auto b = SafeTensorsFile::from_memory(meta.data(), meta.size());
  REQUIRE_MESSAGE(b.ok(), b.status().to_string());
  CHECK(b->metadata().at("framework") == "pt");
  CHECK(b->find("test1")->nbytes == 16);
}

TEST_CASE("safetensors: the committed seed corpus (tests/data/malformed/safetensors) is rejected, except valid") {
  const std::filesystem::path dir = std::filesystem::path(RSFIQA_TEST_DATA_DIR) / "malformed" / "safetensors";
  REQUIRE(std::filesystem::is_directory(dir));
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    CAPTURE(name);
    auto f = SafeTensorsFile::open(e.path().string());
    CHECK(f.ok() == (name == "valid.safetensors"));
    ++n;
  }
  CHECK(n >= 16);
}

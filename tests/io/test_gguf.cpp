// SPDX-License-Identifier: MIT
// Tests of io/gguf.hpp: writer -> reader round trips (every metadata type,
// nested arrays, tensors of plain and quantized dtypes, zero-element tensors,
// alignment, v2 and v3), the typed getters and their error messages, a table
// of hand-made malformed files (one per rule of RELIABILITY.md, each with its
// error code and a message substring), truncation at every byte, and the
// shared stories260K.gguf checked against the facts in its README.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "rsfiqa/io/gguf.hpp"

using rsfiqa::DType;
using rsfiqa::ErrorCode;
using rsfiqa::Shape;
using rsfiqa::io::GgufArray;
using rsfiqa::io::GgufFile;
using rsfiqa::io::GgufLimits;
using rsfiqa::io::GgufType;
using rsfiqa::io::GgufWriter;

namespace {

// Hand-assembles GGUF bytes so malformed files do not depend on the writer.
struct Bytes {
  std::vector<uint8_t> b;
  Bytes& raw(const void* p, size_t n) {
    const uint8_t* q = static_cast<const uint8_t*>(p);
    b.insert(b.end(), q, q + n);
    return *this;
  }
  Bytes& u8(uint8_t v) { return raw(&v, 1); }
  Bytes& u32(uint32_t v) { return raw(&v, 4); }
  Bytes& u64(uint64_t v) { return raw(&v, 8); }
  Bytes& str(const std::string& s) { return u64(s.size()).raw(s.data(), s.size()); }
  Bytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return raw("GGUF", 4).u32(version).u64(n_tensors).u64(n_kv);
  }
  // KV with a uint32 value.
  Bytes& kv_u32(const std::string& k, uint32_t v) { return str(k).u32(4).u32(v); }
  Bytes& tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    str(name).u32((uint32_t)ne.size());
    for (uint64_t d : ne) u64(d);
    return u32(type).u64(offset);
  }
  Bytes& pad(size_t align = 32) {
    while (b.size() % align) b.push_back(0);
    return *this;
  }
  Bytes& zeros(size_t n) {
    b.resize(b.size() + n, 0);
    return *this;
  }
};

std::string temp_path(const char* stem) {
  return (std::filesystem::temp_directory_path() / "rsfiqa_test_gguf_").string() + stem + "_" +
         std::to_string((long long)::getpid()) + ".gguf";
}

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = (uint8_t)(i * 29 + seed);
  return v;
}

// A small valid file with metadata of several types and three tensors.
std::vector<uint8_t> valid_file() {
  GgufWriter w;
  REQUIRE(w.add_string("general.architecture", "llama").ok());
  REQUIRE(w.add_u32("llama.block_count", 2).ok());
  REQUIRE(w.add_array("tokenizer.ggml.tokens", GgufArray::of_strings({"<unk>", "<s>", "a"})).ok());
  REQUIRE(w.add_array("scores", GgufArray::of(std::vector<float>{0.f, -1.f, 2.5f})).ok());
  auto a = pattern(4 * 6, 1), b = pattern(18 * 2, 2), c = pattern(2 * 3, 3);
  REQUIRE(w.add_tensor("a", DType::kF32, Shape{2, 3}, a.data(), a.size()).ok());
  REQUIRE(w.add_tensor("b", DType::kQ4_0, Shape{2, 32}, b.data(), b.size()).ok());
  REQUIRE(w.add_tensor("c", DType::kF16, Shape{3}, c.data(), c.size()).ok());
  auto bytes = w.serialize();
  REQUIRE(bytes.ok());
  return *bytes;
}

// With RSFIQA_DUMP_MALFORMED_DIR set, the malformed-file table and a valid
// file are also written there (one file per rule) to seed fuzzers; the
// committed copies live in tests/data/malformed/.
void dump_case(const std::string& rule, const std::vector<uint8_t>& bytes) {
  const char* dir = std::getenv("RSFIQA_DUMP_MALFORMED_DIR");
  if (!dir) return;
  std::string name;
  for (char c : rule) name += (std::isalnum((unsigned char)c) ? (char)std::tolower((unsigned char)c) : '_');
  const std::string path = std::string(dir) + "/" + name + ".gguf";
  REQUIRE(rsfiqa::io::write_file_atomic(path, bytes.data(), bytes.size()).ok());
}

}  // namespace

TEST_CASE("gguf: round trip of every metadata type, nested arrays and tensors") {
  for (uint32_t version : {2u, 3u}) {
    for (uint32_t alignment : {32u, 64u, 1u}) {
      CAPTURE(version);
      CAPTURE(alignment);
      GgufWriter w;
      REQUIRE(w.set_version(version).ok());
      if (alignment != 32) REQUIRE(w.set_alignment(alignment).ok());
      REQUIRE(w.add_u8("u8", 200).ok());
      REQUIRE(w.add_i8("i8", -100).ok());
      REQUIRE(w.add_u16("u16", 60000).ok());
      REQUIRE(w.add_i16("i16", -30000).ok());
      REQUIRE(w.add_u32("u32", 4000000000u).ok());
      REQUIRE(w.add_i32("i32", -2000000000).ok());
      REQUIRE(w.add_f32("f32", 1e-5f).ok());
      REQUIRE(w.add_bool("bool", true).ok());
      REQUIRE(w.add_string("str", std::string("llama\0x\xc3\xa9", 8)).ok());
      REQUIRE(w.add_u64("u64", UINT64_MAX).ok());
      REQUIRE(w.add_i64("i64", INT64_MIN).ok());
      REQUIRE(w.add_f64("f64", 0.1).ok());
      REQUIRE(w.add_array("a_u8", GgufArray::of(std::vector<uint8_t>{1, 2, 255})).ok());
      REQUIRE(w.add_array("a_i8", GgufArray::of(std::vector<int8_t>{-1, 2})).ok());
      REQUIRE(w.add_array("a_u16", GgufArray::of(std::vector<uint16_t>{65535})).ok());
      REQUIRE(w.add_array("a_i16", GgufArray::of(std::vector<int16_t>{-5, 5})).ok());
      REQUIRE(w.add_array("a_u32", GgufArray::of(std::vector<uint32_t>{7, 8, 9})).ok());
      REQUIRE(w.add_array("a_i32", GgufArray::of(std::vector<int32_t>{-7, 0, 1, 2, 3, 4})).ok());
      REQUIRE(w.add_array("a_f32", GgufArray::of(std::vector<float>{0.5f, -0.25f})).ok());
      REQUIRE(w.add_array("a_bool", GgufArray::of_bools({true, false, true})).ok());
      REQUIRE(w.add_array("a_str", GgufArray::of_strings({"", "x", "<0x0A>"})).ok());
      REQUIRE(w.add_array("a_u64", GgufArray::of(std::vector<uint64_t>{1ull << 60})).ok());
      REQUIRE(w.add_array("a_i64", GgufArray::of(std::vector<int64_t>{-(1ll << 60)})).ok());
      REQUIRE(w.add_array("a_f64", GgufArray::of(std::vector<double>{1.0 / 3})).ok());
      REQUIRE(w.add_array("a_empty", GgufArray::of(std::vector<float>{})).ok());
      REQUIRE(w.add_array("a_nested", GgufArray::of_arrays({GgufArray::of(std::vector<int32_t>{1, 2}),
                                                            GgufArray::of_strings({"p", "q"}),
                                                            GgufArray::of_arrays({GgufArray::of_bools({false})})}))
                  .ok());

      struct T {
        const char* name;
        DType t;
        std::vector<int64_t> ne;
      };
      const T ts[] = {
          {"f32", DType::kF32, {3, 2}},       {"f16", DType::kF16, {5}},        {"bf16", DType::kBF16, {1, 1, 1, 3}},
          {"f64", DType::kF64, {2}},          {"i8", DType::kI8, {7, 1}},       {"i16", DType::kI16, {3}},
          {"i32", DType::kI32, {1}},          {"i64", DType::kI64, {2}},        {"q4_0", DType::kQ4_0, {64, 3}},
          {"q4_1", DType::kQ4_1, {32}},       {"q5_0", DType::kQ5_0, {32}},     {"q5_1", DType::kQ5_1, {32, 2}},
          {"q8_0", DType::kQ8_0, {96, 1, 2}}, {"q8_1", DType::kQ8_1, {32}},     {"q2_k", DType::kQ2_K, {256}},
          {"q3_k", DType::kQ3_K, {256}},      {"q4_k", DType::kQ4_K, {512, 2}}, {"q5_k", DType::kQ5_K, {256}},
          {"q6_k", DType::kQ6_K, {256}},      {"q8_k", DType::kQ8_K, {256}},    {"zero", DType::kQ4_0, {32, 0}},
          {"zero2", DType::kF32, {0}}};
      std::vector<std::vector<uint8_t>> payloads;
      for (const T& t : ts) {
        int64_t numel = 1;
        for (int64_t d : t.ne) numel *= d;
        payloads.push_back(pattern((size_t)rsfiqa::dtype_bytes(t.t, numel), (uint8_t)t.name[1]));
        REQUIRE(w.add_tensor(t.name, t.t, t.ne.data(), (int)t.ne.size(), payloads.back().data(), payloads.back().size())
                    .ok());
      }
      const std::string path = temp_path("roundtrip");
      REQUIRE(w.write(path).ok());
      auto f = GgufFile::open(path);
      REQUIRE_MESSAGE(f.ok(), f.status().to_string());
      std::remove(path.c_str());

      CHECK(f->version() == version);
      CHECK(f->alignment() == alignment);
      CHECK(f->data_offset() % alignment == 0);
      CHECK(*f->get_u8("u8") == 200);
      CHECK(*f->get_i8("i8") == -100);
      CHECK(*f->get_u16("u16") == 60000);
      CHECK(*f->get_i16("i16") == -30000);
      CHECK(*f->get_u32("u32") == 4000000000u);
      CHECK(*f->get_i32("i32") == -2000000000);
      CHECK(*f->get_f32("f32") == 1e-5f);
      CHECK(*f->get_bool("bool") == true);
      CHECK(*f->get_string("str") == std::string("llama\0x\xc3\xa9", 8));
      CHECK(*f->get_u64("u64") == UINT64_MAX);
      CHECK(*f->get_i64("i64") == INT64_MIN);
      CHECK(*f->get_f64("f64") == 0.1);
      CHECK(*f->get_int("u32") == 4000000000ll);
      CHECK(*f->get_int("i8") == -100);
      CHECK(f->get_int("u64").status().code() == ErrorCode::kOverflow);
      CHECK(*f->get_float("f32") == (double)1e-5f);
      CHECK(*f->get_float("f64") == 0.1);
      CHECK(*f->get_array_values<uint8_t>("a_u8") == std::vector<uint8_t>{1, 2, 255});
      CHECK(*f->get_array_values<int8_t>("a_i8") == std::vector<int8_t>{-1, 2});
      CHECK(*f->get_array_values<uint16_t>("a_u16") == std::vector<uint16_t>{65535});
      CHECK(*f->get_array_values<int16_t>("a_i16") == std::vector<int16_t>{-5, 5});
      CHECK(*f->get_array_values<uint32_t>("a_u32") == std::vector<uint32_t>{7, 8, 9});
      CHECK(*f->get_array_values<int32_t>("a_i32") == std::vector<int32_t>{-7, 0, 1, 2, 3, 4});
      CHECK(*f->get_array_values<float>("a_f32") == std::vector<float>{0.5f, -0.25f});
      CHECK(*f->get_array_values<uint64_t>("a_u64") == std::vector<uint64_t>{1ull << 60});
      CHECK(*f->get_array_values<int64_t>("a_i64") == std::vector<int64_t>{-(1ll << 60)});
      CHECK(*f->get_array_values<double>("a_f64") == std::vector<double>{1.0 / 3});
      CHECK(f->get_array_values<float>("a_empty")->empty());
      CHECK(*f->get_string_array("a_str") == std::vector<std::string>{"", "x", "<0x0A>"});
      auto ab = f->get_array("a_bool", GgufType::kBool);
      REQUIRE(ab.ok());
      CHECK((*ab)->size() == 3);
      CHECK((*ab)->at<uint8_t>(0) == 1);
      CHECK((*ab)->at<uint8_t>(1) == 0);
      auto nested = f->get_array("a_nested", GgufType::kArray);
      REQUIRE(nested.ok());
      REQUIRE((*nested)->size() == 3);
      const auto& n0 = (*nested)->array_at(0);
      CHECK(n0.array_type() == GgufType::kI32);
      CHECK(n0.at<int32_t>(1) == 2);
      CHECK((*nested)->array_at(1).string_at(1) == "q");
      CHECK((*nested)->array_at(2).array_at(0).array_type() == GgufType::kBool);
      CHECK((*nested)->to_string() ==
            "[array x 3: [int32 x 2: 1, 2], [string x 2: \"p\", \"q\"], [array x 1: [bool x 1: false]]]");
      CHECK(f->kvs().size() == 26u + (alignment != 32 ? 1u : 0u));
      CHECK(f->kvs()[alignment != 32 ? 1 : 0].key == "u8");  // file order kept

      REQUIRE(f->tensors().size() == sizeof(ts) / sizeof(ts[0]));
      for (size_t k = 0; k < payloads.size(); ++k) {
        const std::string tname = ts[k].name;
        CAPTURE(tname);
        const auto& t = f->tensors()[k];  // file order = add order
        CHECK(t.name == ts[k].name);
        CHECK(t.dtype == ts[k].t);
        CHECK(t.n_dims == (int)ts[k].ne.size());
        for (int d = 0; d < t.n_dims; ++d) {
          CHECK(t.ne[d] == ts[k].ne[d]);
          CHECK(t.shape.dims[t.n_dims - 1 - d] == ts[k].ne[d]);
        }
        CHECK(t.nbytes == (int64_t)payloads[k].size());
        if (!payloads[k].empty()) CHECK(std::memcmp(t.data, payloads[k].data(), payloads[k].size()) == 0);
        CHECK(t.offset % alignment == 0);
        CHECK((uintptr_t)t.data % alignment == 0);  // mmap is page-aligned
        CHECK(f->find_tensor(ts[k].name) == &t);
        CHECK(GgufFile::view(t).nbytes() == t.nbytes);
      }
      CHECK(f->find_tensor("zero")->numel() == 0);
      CHECK(f->find_tensor("zero")->nbytes == 0);
      CHECK(f->find_tensor("q4_0")->shape == Shape{3, 64});

      // Copying every KV (add_value) and tensor into a new writer reproduces the file byte for byte.
      GgufWriter copy;
      REQUIRE(copy.set_version(version).ok());
      for (const auto& kv : f->kvs()) REQUIRE(copy.add_value(kv.key, kv.value).ok());
      for (const auto& t : f->tensors())
        REQUIRE(copy.add_tensor(t.name, t.dtype, t.ne, t.n_dims, t.data, (size_t)t.nbytes).ok());
      CHECK(*copy.serialize() == *w.serialize());
    }
  }
}

TEST_CASE("gguf: typed getters name the key and the types") {
  auto bytes = valid_file();
  dump_case("valid", bytes);
  auto f = GgufFile::from_memory(bytes.data(), bytes.size());
  REQUIRE(f.ok());
  CHECK(*f->get_string("general.architecture") == "llama");
  CHECK(*f->get_u32("llama.block_count") == 2);
  auto missing = f->get_u32("llama.embedding_length");
  REQUIRE(!missing.ok());
  CHECK(missing.status().code() == ErrorCode::kNotFound);
  CHECK(missing.status().message() == "GGUF: missing key 'llama.embedding_length'");
  auto wrong = f->get_u32("general.architecture");
  REQUIRE(!wrong.ok());
  CHECK(wrong.status().code() == ErrorCode::kMalformed);
  CHECK(wrong.status().message() == "GGUF: key 'general.architecture' has type string, expected uint32");
  auto warr = f->get_array("scores", GgufType::kI32);
  REQUIRE(!warr.ok());
  CHECK(warr.status().message().find("array of float32, expected an array of int32") != std::string::npos);
  CHECK(f->get_int("llama.block_count", 1, 1).status().code() == ErrorCode::kLimitExceeded);
  CHECK(f->get_float("llama.block_count").status().code() == ErrorCode::kMalformed);
  CHECK(f->get_tensor("nope").status().code() == ErrorCode::kNotFound);
  CHECK(f->has("scores"));
  CHECK(!f->has("nope"));
  CHECK(f->find_kv("tokenizer.ggml.tokens")->to_string(2) == "[string x 3: \"<unk>\", \"<s>\", ...]");
}

TEST_CASE("gguf: writer rejects bad input") {
  GgufWriter w;
  CHECK(w.add_u32("", 1).code() == ErrorCode::kInvalidArgument);
  REQUIRE(w.add_u32("a", 1).ok());
  CHECK(w.add_string("a", "x").code() == ErrorCode::kDuplicate);
  CHECK(w.set_alignment(48).code() == ErrorCode::kAlignment);
  CHECK(w.add_i32("general.alignment", 64).code() == ErrorCode::kMalformed);
  const uint8_t buf[64] = {};
  CHECK(w.add_tensor("q", DType::kQ4_0, Shape{33}, buf, 18).code() == ErrorCode::kShapeMismatch);
  CHECK(w.add_tensor("q", DType::kU8, Shape{4}, buf, 4).code() == ErrorCode::kUnsupportedType);
  CHECK(w.add_tensor("q", DType::kF32, Shape{4}, buf, 12).code() == ErrorCode::kShapeMismatch);
  CHECK(w.add_tensor("q", DType::kF32, Shape{1, 1, 1, 1, 4}, buf, 16).code() == ErrorCode::kInvalidArgument);
  REQUIRE(w.add_tensor("q", DType::kF32, Shape{4}, buf, 16).ok());
  CHECK(w.add_tensor("q", DType::kF32, Shape{4}, buf, 16).code() == ErrorCode::kDuplicate);
}

struct BadCase {
  const char* rule;
  std::vector<uint8_t> bytes;
  ErrorCode code;
  const char* substring;
};

TEST_CASE("gguf: malformed files, one per rule") {
  std::vector<BadCase> cases;
  auto add = [&](const char* rule, const Bytes& b, ErrorCode code, const char* sub) {
    cases.push_back({rule, b.b, code, sub});
  };
  add("empty file", Bytes(), ErrorCode::kEmptyInput, "empty");
  add("shorter than the magic", Bytes().raw("GG", 2), ErrorCode::kTruncated, "the magic");
  add("bad magic", Bytes().raw("GGML", 4).u32(3).u64(0).u64(0), ErrorCode::kBadMagic, "bad magic 47 47 4d 4c");
  add("version 1", Bytes().header(0, 0, 1), ErrorCode::kUnsupportedVersion, "version 1 is not supported");
  add("version 4", Bytes().header(0, 0, 4), ErrorCode::kUnsupportedVersion, "version 4");
  add("big-endian version", Bytes().header(0, 0, 0x03000000u), ErrorCode::kUnsupportedVersion, "big-endian");
  add("truncated counts", Bytes().raw("GGUF", 4).u32(3).u64(0), ErrorCode::kTruncated, "the metadata count");
  add("tensor count over the cap", Bytes().header(1ull << 40, 0), ErrorCode::kLimitExceeded,
      "1099511627776 tensors is over the limit");
  add("kv count over the cap", Bytes().header(0, UINT64_MAX), ErrorCode::kLimitExceeded, "metadata entries is over");
  add("counts larger than the file", Bytes().header(0, 1000).kv_u32("a", 1), ErrorCode::kTruncated,
      "1000 metadata entries and 0 tensors need at least 14000 bytes");
  add("empty key", Bytes().header(0, 1).str("").u32(4).u32(1), ErrorCode::kMalformed, "empty key");
  add("duplicate key", Bytes().header(0, 2).kv_u32("a", 1).kv_u32("a", 2), ErrorCode::kDuplicate,
      "duplicate key 'a' at byte 41");
  add("unknown value type", Bytes().header(0, 1).str("k").u32(13).u32(0), ErrorCode::kUnsupportedType,
      "key 'k' has unknown value type 13");
  add("unknown array element type", Bytes().header(0, 1).str("k").u32(9).u32(77).u64(0), ErrorCode::kUnsupportedType,
      "unknown value type 77");
  add("key longer than the string cap", Bytes().header(0, 1).u64(1ull << 30).zeros(16), ErrorCode::kLimitExceeded,
      "metadata key at byte 24 has length 1073741824, over the limit");
  add("string past the end", Bytes().header(0, 1).str("k").u32(8).u64(100).raw("abc", 3), ErrorCode::kTruncated,
      "a string value");
  add("array length over the cap", Bytes().header(0, 1).str("k").u32(9).u32(0).u64(1ull << 40),
      ErrorCode::kLimitExceeded, "array of 1099511627776 elements is over the limit");
  add("array longer than the file", Bytes().header(0, 1).str("k").u32(9).u32(4).u64(1000).u32(1), ErrorCode::kTruncated,
      "declares 1000 uint32 elements");
  add("string array longer than the file", Bytes().header(0, 1).str("k").u32(9).u32(8).u64(100).str("x"),
      ErrorCode::kTruncated, "declares 100 string elements");
  {
    Bytes b;
    b.header(0, 1).str("k").u32(9);
    for (int i = 0; i < 5; ++i) b.u32(9).u64(1);
    b.u32(0).u64(0);
    add("arrays nested too deep", b, ErrorCode::kLimitExceeded, "nests arrays deeper than 4");
  }
  add("bool not 0 or 1", Bytes().header(0, 1).str("k").u32(7).u8(2), ErrorCode::kMalformed, "bool value 2");
  add("bool array element not 0 or 1", Bytes().header(0, 1).str("k").u32(9).u32(7).u64(2).u8(1).u8(9),
      ErrorCode::kMalformed, "bool element 1 is 9");
  add("alignment not uint32", Bytes().header(0, 1).str("general.alignment").u32(10).u64(32), ErrorCode::kMalformed,
      "'general.alignment' has type uint64, expected uint32");
  add("alignment not a power of two", Bytes().header(0, 1).kv_u32("general.alignment", 48), ErrorCode::kAlignment,
      "48 is not a power of two");
  add("alignment zero", Bytes().header(0, 1).kv_u32("general.alignment", 0), ErrorCode::kAlignment,
      "0 is not a power of two");
  add("empty tensor name", Bytes().header(1, 0).tensor("", {4}, 0, 0).pad().zeros(32), ErrorCode::kMalformed,
      "empty name");
  add("tensor name over the cap", Bytes().header(1, 0).tensor(std::string(300, 'n'), {4}, 0, 0).pad().zeros(32),
      ErrorCode::kLimitExceeded, "tensor name at byte 24 has length 300");
  add("duplicate tensor name", Bytes().header(2, 0).tensor("t", {4}, 0, 0).tensor("t", {4}, 0, 32).pad().zeros(64),
      ErrorCode::kDuplicate, "duplicate tensor name 't'");
  add("five dimensions", Bytes().header(1, 0).tensor("t", {1, 1, 1, 1, 4}, 0, 0).pad().zeros(32), ErrorCode::kMalformed,
      "'t' has 5 dimensions");
  add("zero dimensions", Bytes().header(1, 0).tensor("t", {}, 0, 0).pad().zeros(32), ErrorCode::kMalformed,
      "'t' has 0 dimensions");
  add("dimension above INT64_MAX", Bytes().header(1, 0).tensor("t", {4, 1ull << 63}, 0, 0).pad().zeros(32),
      ErrorCode::kOverflow, "'t' ne[1] = 9223372036854775808 is above INT64_MAX");
  add("element count overflows", Bytes().header(1, 0).tensor("t", {1ull << 32, 1ull << 32}, 0, 0).pad().zeros(32),
      ErrorCode::kOverflow, "more than INT64_MAX elements");
  add("byte count overflows", Bytes().header(1, 0).tensor("t", {1ull << 31, 1ull << 31}, 0, 0).pad().zeros(32),
      ErrorCode::kOverflow, "overflows the byte count");
  add("unknown ggml type (IQ2_XXS)", Bytes().header(1, 0).tensor("t", {256}, 16, 0).pad().zeros(64),
      ErrorCode::kUnsupportedType, "tensor 't' has ggml type 16");
  add("type id outside ggml's range", Bytes().header(1, 0).tensor("t", {4}, 1000, 0).pad().zeros(32),
      ErrorCode::kUnsupportedType, "ggml type 1000");
  add("row not whole quant blocks", Bytes().header(1, 0).tensor("t", {33, 2}, 2, 0).pad().zeros(64),
      ErrorCode::kMalformed, "rows of 33 elements are not a whole number of q4_0 blocks of 32");
  add("offset not aligned", Bytes().header(1, 0).tensor("t", {4}, 0, 4).pad().zeros(64), ErrorCode::kAlignment,
      "offset 4 is not a multiple of the alignment 32");
  add("first tensor not at 0", Bytes().header(1, 0).tensor("t", {4}, 0, 32).pad().zeros(64), ErrorCode::kMalformed,
      "first tensor 't' starts at offset 32");
  add("gap between tensors", Bytes().header(2, 0).tensor("a", {4}, 0, 0).tensor("b", {4}, 0, 64).pad().zeros(96),
      ErrorCode::kMalformed, "gap before tensor 'b'");
  add("overlapping tensors", Bytes().header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {4}, 0, 32).pad().zeros(96),
      ErrorCode::kMalformed, "'b' at offset 32 overlaps tensor 'a', which ends (padded) at 64");
  add("tensor past the end of the file", Bytes().header(1, 0).tensor("t", {64}, 0, 0).pad().zeros(100),
      ErrorCode::kTruncated, "'t' (256 bytes at data offset 0) ends past the end of the file");
  add("tensor info truncated", Bytes().header(1, 0).str("t").u32(4).u64(4).u64(4).u64(4), ErrorCode::kTruncated,
      "a tensor dimension");
  REQUIRE(cases.size() >= 20);
  for (const BadCase& c : cases) {
    const std::string rule = c.rule;
    CAPTURE(rule);
    dump_case(rule, c.bytes);
    auto f = GgufFile::from_memory(c.bytes.data(), c.bytes.size());
    REQUIRE(!f.ok());
    CHECK(f.status().code() == c.code);
    CHECK_MESSAGE(f.status().message().find(c.substring) != std::string::npos, f.status().message());
  }
}

TEST_CASE("gguf: legal corner cases from hand-made bytes") {
  // Zero-element tensors share an offset with the next tensor; no division by zero.
  auto b =
      Bytes().header(3, 0).tensor("z", {0, 5}, 2, 0).tensor("z2", {32, 0}, 8, 0).tensor("t", {4}, 0, 0).pad().zeros(16);
  auto f = GgufFile::from_memory(b.b.data(), b.b.size());
  REQUIRE_MESSAGE(f.ok(), f.status().to_string());
  CHECK(f->find_tensor("z")->nbytes == 0);
  CHECK(f->find_tensor("z")->shape == Shape{5, 0});
  CHECK(f->find_tensor("t")->nbytes == 16);
  // Tensor infos need not be in offset order; trailing padding may be missing.
  auto c = Bytes().header(2, 0).tensor("b", {4}, 0, 32).tensor("a", {4}, 0, 0).pad().zeros(48);
  auto g = GgufFile::from_memory(c.b.data(), c.b.size());
  REQUIRE_MESSAGE(g.ok(), g.status().to_string());
  CHECK(g->tensors()[0].name == "b");
  CHECK(g->find_tensor("b")->data == g->find_tensor("a")->data + 32);
  // No tensors, no KVs: the smallest valid file.
  auto d = Bytes().header(0, 0);
  CHECK(GgufFile::from_memory(d.b.data(), d.b.size()).ok());
}

TEST_CASE("gguf: limits are configurable") {
  auto bytes = valid_file();
  GgufLimits lim;
  lim.max_tensors = 2;
  CHECK(GgufFile::from_memory(bytes.data(), bytes.size(), lim).status().code() == ErrorCode::kLimitExceeded);
  lim = GgufLimits();
  lim.max_kvs = 3;
  CHECK(GgufFile::from_memory(bytes.data(), bytes.size(), lim).status().code() == ErrorCode::kLimitExceeded);
  lim = GgufLimits();
  lim.max_array_length = 2;
  CHECK(GgufFile::from_memory(bytes.data(), bytes.size(), lim).status().code() == ErrorCode::kLimitExceeded);
  lim = GgufLimits();
  lim.max_string_length = 4;
  CHECK(GgufFile::from_memory(bytes.data(), bytes.size(), lim).status().code() == ErrorCode::kLimitExceeded);
  lim = GgufLimits();
  lim.max_nested_arrays = 2;
  Bytes nb;
  nb.header(0, 1).str("k").u32(9).u32(9).u64(3);
  for (int i = 0; i < 3; ++i) nb.u32(0).u64(0);
  auto nested = GgufFile::from_memory(nb.b.data(), nb.b.size(), lim);
  CHECK(nested.status().code() == ErrorCode::kLimitExceeded);
  CHECK(nested.status().message().find("nested arrays") != std::string::npos);
  lim.max_nested_arrays = 3;
  CHECK(GgufFile::from_memory(nb.b.data(), nb.b.size(), lim).ok());
  lim = GgufLimits();
  lim.max_tensor_name_length = 0;
  CHECK(GgufFile::from_memory(bytes.data(), bytes.size(), lim).status().code() == ErrorCode::kLimitExceeded);
}

TEST_CASE("gguf: truncation at every byte gives a clean error until all tensor data is present") {
  auto bytes = valid_file();
  auto full = GgufFile::from_memory(bytes.data(), bytes.size());
  REQUIRE(full.ok());
  size_t needed = 0;
  for (const auto& t : full->tensors()) needed = std::max(needed, (size_t)(t.data - bytes.data()) + (size_t)t.nbytes);
  for (size_t n = 0; n <= bytes.size(); ++n) {
    CAPTURE(n);
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + (long)n);
    auto f = GgufFile::from_memory(cut.data(), cut.size());
    CHECK(f.ok() == (n >= needed));
  }
  // Flipping any byte must not crash (the result may be ok or an error).
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (uint8_t x : {0x01, 0x80, 0xff}) {
      std::vector<uint8_t> mod = bytes;
      mod[i] ^= x;
      auto f = GgufFile::from_memory(mod.data(), mod.size());
      if (f.ok()) CHECK(f->tensors().size() <= 3);
    }
  }
}

TEST_CASE("gguf: stories260K.gguf matches its README") {
  const std::string path = RSFIQA_SOURCE_DIR "/../shared/models/stories260K.gguf";
  if (!std::filesystem::exists(path)) {
    MESSAGE("skipped: ../shared/models/stories260K.gguf is absent");
    return;
  }
  auto f = GgufFile::open(path);
  REQUIRE_MESSAGE(f.ok(), f.status().to_string());
  CHECK(f->file_size() == 1185376u);
  CHECK(f->version() == 3);
  CHECK(*f->get_string("general.architecture") == "llama");
  CHECK(*f->get_int("llama.block_count") == 5);
  CHECK(*f->get_int("llama.embedding_length") == 64);
  CHECK(*f->get_int("llama.feed_forward_length") == 172);
  CHECK(*f->get_int("llama.attention.head_count") == 8);
  CHECK(*f->get_int("llama.attention.head_count_kv") == 4);
  CHECK(*f->get_float("llama.attention.layer_norm_rms_epsilon") == doctest::Approx(1e-5).epsilon(1e-6));
  CHECK(*f->get_string("tokenizer.ggml.model") == "llama");
  auto tokens = f->get_string_array("tokenizer.ggml.tokens");
  REQUIRE(tokens.ok());
  REQUIRE(tokens->size() == 512);
  CHECK((*tokens)[0] == "<unk>");
  CHECK((*tokens)[1] == "<s>");
  CHECK((*tokens)[2] == "</s>");
  REQUIRE(!f->tensors().empty());
  for (const auto& t : f->tensors()) {
    CAPTURE(t.name);
    CHECK(t.dtype == DType::kF32);
  }
  auto emb = f->get_tensor("token_embd.weight");
  REQUIRE(emb.ok());
  CHECK((*emb)->shape == Shape{512, 64});  // vocab x dim, PyTorch order
  REQUIRE(f->find_tensor("output.weight"));
  CHECK(f->find_tensor("blk.4.attn_q.weight"));
  CHECK(!f->find_tensor("blk.5.attn_q.weight"));
}

TEST_CASE("gguf: the committed seed corpus (tests/data/malformed/gguf) is rejected, except valid.gguf") {
  const std::filesystem::path dir = std::filesystem::path(RSFIQA_TEST_DATA_DIR) / "malformed" / "gguf";
  REQUIRE(std::filesystem::is_directory(dir));
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    CAPTURE(name);
    auto f = GgufFile::open(e.path().string());
    CHECK(f.ok() == (name == "valid.gguf"));
    ++n;
  }
  CHECK(n >= 21);
}

// SPDX-License-Identifier: MIT
// Replays every seed of the fuzz corpora (tests/fuzz/corpus/<target>/)
// through the same entry functions the libFuzzer targets call
// (tests/fuzz/fuzz_entry_<target>.hpp), so the normal test build (and its
// ASan+UBSan run in CI) exercises the harness logic without clang/libFuzzer.
// Each entry returns nullptr or names a broken invariant; a crash or a
// sanitizer report fails the test. Inputs that made a fuzzer fail go into the
// corpus folder of their target (named crash_<what>) and are replayed here.
// A few seeds are also checked to be accepted, so the replay is known to
// reach past the parsers' first checks.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/fuzz_entry_gguf.hpp"
#include "fuzz/fuzz_entry_image.hpp"
#include "fuzz/fuzz_entry_json.hpp"
#include "fuzz/fuzz_entry_llm_model.hpp"
#include "fuzz/fuzz_entry_npy.hpp"
#include "fuzz/fuzz_entry_onnx.hpp"
#include "fuzz/fuzz_entry_safetensors.hpp"
#include "fuzz/fuzz_entry_tokenizer.hpp"

namespace fs = std::filesystem;

namespace {

const std::string kCorpus = std::string(RSFIQA_SOURCE_DIR) + "/tests/fuzz/corpus/";

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The seed files of one target, sorted by name.
std::vector<fs::path> seeds(const std::string& target) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(kCorpus + target, ec))
    if (e.is_regular_file()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// Runs `entry` on every seed of `target`; returns how many seeds there were.
template <typename Entry>
size_t replay(const std::string& target, Entry entry) {
  const std::vector<fs::path> files = seeds(target);
  for (const fs::path& p : files) {
    const std::vector<uint8_t> bytes = read_bytes(p);
    INFO(target << "/" << p.filename().string() << " (" << bytes.size() << " bytes)");
    const char* broken = entry(bytes.empty() ? nullptr : bytes.data(), bytes.size());
    CHECK_MESSAGE(broken == nullptr, std::string(broken ? broken : ""));
  }
  return files.size();
}

std::vector<uint8_t> seed(const std::string& target, const std::string& name) {
  return read_bytes(kCorpus + target + "/" + name);
}

}  // namespace

TEST_CASE("fuzz corpus replay: safetensors") {
  CHECK(replay("safetensors", rsfiqa::fuzz::fuzz_safetensors) >= 20);
  const std::vector<uint8_t> ok = seed("safetensors", "valid.safetensors");
  CHECK(rsfiqa::io::SafeTensorsFile::from_memory(ok.data(), ok.size()).ok());
}

TEST_CASE("fuzz corpus replay: gguf") {
  CHECK(replay("gguf", rsfiqa::fuzz::fuzz_gguf) >= 20);
  const std::vector<uint8_t> ok = seed("gguf", "valid.gguf");
  CHECK(rsfiqa::io::GgufFile::from_memory(ok.data(), ok.size()).ok());
}

TEST_CASE("fuzz corpus replay: json") {
  CHECK(replay("json", rsfiqa::fuzz::fuzz_json) >= 5);
  const std::vector<uint8_t> ok = seed("json", "object.json");
  CHECK(rsfiqa::io::parse_json(reinterpret_cast<const char*>(ok.data()), ok.size()).ok());
}

TEST_CASE("fuzz corpus replay: onnx") {
  CHECK(replay("onnx", rsfiqa::fuzz::fuzz_onnx) >= 5);
  const std::vector<uint8_t> ok = seed("onnx", "tiny_model.onnx");
  rsfiqa::Result<rsfiqa::io::OnnxModel> m = rsfiqa::io::parse_onnx(ok.data(), ok.size());
  REQUIRE(m.ok());
  CHECK(m->nodes.size() == 3);
  CHECK(m->initializers.size() == 2);
}

TEST_CASE("fuzz corpus replay: image") {
  CHECK(replay("image", rsfiqa::fuzz::fuzz_image) >= 10);
  for (const char* name : {"rgb_7x5.png", "rgb_7x5_q75.jpg", "rgb_2x2.bmp", "rgb16_2x2.png", "grey_3x2.png"}) {
    INFO(name);
    const std::vector<uint8_t> ok = seed("image", name);
    CHECK(rsfiqa::io::decode_image(ok.data(), ok.size(), rsfiqa::fuzz::fuzz_image_limits()).ok());
  }
}

TEST_CASE("fuzz corpus replay: npy") {
  CHECK(replay("npy", rsfiqa::fuzz::fuzz_npy) >= 5);
  const std::vector<uint8_t> ok = seed("npy", "f32_2x3.npy");
  CHECK(rsfiqa::io::npy_decode_f32(ok.data(), ok.size()).ok());
}

TEST_CASE("fuzz corpus replay: llm model binding") {
  CHECK(replay("llm_model", rsfiqa::fuzz::fuzz_llm_model) >= 3);
  for (const char* name : {"tiny_llama.gguf", "tiny_qwen2.gguf"}) {
    INFO(name);
    const std::vector<uint8_t> ok = seed("llm_model", name);
    rsfiqa::Result<rsfiqa::io::GgufFile> f = rsfiqa::io::GgufFile::from_memory(ok.data(), ok.size());
    REQUIRE(f.ok());
    CHECK(rsfiqa::llm::Model::from_gguf(std::move(*f)).ok());
  }
}

TEST_CASE("fuzz corpus replay: tokenizers (llama and gpt2 vocabularies)") {
  const std::string dir = std::string(RSFIQA_TEST_DATA_DIR) + "/golden/llm/";
  std::vector<std::string> vocabs = {dir + "tiny_llama.gguf", dir + "tiny_qwen2.gguf"};
  // The stories260K model, when fetched next to the repository, gives a full
  // SentencePiece vocabulary with byte fallback.
  const std::string stories = std::string(RSFIQA_SOURCE_DIR) + "/../shared/models/stories260K.gguf";
  if (fs::exists(stories))
    vocabs.push_back(stories);
  else
    MESSAGE("stories260K.gguf absent; replaying with the two fixture vocabularies only");
  for (const std::string& path : vocabs) {
    INFO(path);
    rsfiqa::Result<rsfiqa::fuzz::FuzzTokenizer> t = rsfiqa::fuzz::load_fuzz_tokenizer(path);
    REQUIRE(t.ok());
    const rsfiqa::fuzz::FuzzTokenizer& ft = *t;
    CHECK(replay("tokenizer", [&](const uint8_t* d, size_t n) { return rsfiqa::fuzz::fuzz_tokenizer(ft, d, n); }) >= 5);
  }
}

// ---------------------------------------------------------------- findings
// Bugs the fuzzers found, each kept as a regression case once fixed.

namespace {

void put_varint(std::vector<uint8_t>* b, uint64_t v) {
  while (v >= 0x80) {
    b->push_back(uint8_t(v | 0x80));
    v >>= 7;
  }
  b->push_back(uint8_t(v));
}
void put_bytes(std::vector<uint8_t>* b, uint32_t field, const std::vector<uint8_t>& v) {
  put_varint(b, (uint64_t(field) << 3) | 2);
  put_varint(b, v.size());
  b->insert(b->end(), v.begin(), v.end());
}

}  // namespace

// Found by fuzz_onnx (90 s smoke run): a float initializer with dims [2^40]
// and 8 bytes of raw_data made OnnxTensor::to_f32 ask for 4 TiB before it
// compared the stored bytes with the shape (io/onnx.hpp, to_f32 and to_i64 call
// out->assign(n) before check_raw_size/check_count). Here the declared size is
// 2^20 elements so the test stays cheap: the conversion must fail with
// kMalformed without sizing its output from the unchecked shape.
TEST_CASE("ONNX to_f32/to_i64 check the stored count before allocating the output") {
  std::vector<uint8_t> tensor;
  put_varint(&tensor, (1 << 3) | 0);  // dims: 2^20
  put_varint(&tensor, uint64_t(1) << 20);
  put_varint(&tensor, (2 << 3) | 0);  // data_type: 1 (float); 7 (int64) below
  put_varint(&tensor, 1);
  put_bytes(&tensor, 8, {'b', 'i', 'g'});
  put_bytes(&tensor, 9, std::vector<uint8_t>(8, 0));  // raw_data: 8 bytes
  std::vector<uint8_t> graph, model;
  put_bytes(&graph, 5, tensor);      // GraphProto.initializer
  put_varint(&model, (1 << 3) | 0);  // ModelProto.ir_version = 8
  put_varint(&model, 8);
  put_bytes(&model, 7, graph);  // ModelProto.graph

  rsfiqa::Result<rsfiqa::io::OnnxModel> m = rsfiqa::io::parse_onnx(model.data(), model.size());
  REQUIRE(m.ok());
  REQUIRE(m->initializers.size() == 1);
  const rsfiqa::io::OnnxTensor& t = m->initializers[0];
  std::vector<float> f;
  const rsfiqa::Status sf = t.to_f32(&f);
  CHECK(sf.code() == rsfiqa::ErrorCode::kMalformed);
  CHECK(f.capacity() < (size_t(1) << 20));

  rsfiqa::io::OnnxTensor ti = t;
  ti.data_type = 7;  // int64: 8 bytes hold one value, the shape asks for 2^20
  std::vector<int64_t> i;
  const rsfiqa::Status si = ti.to_i64(&i);
  CHECK(si.code() == rsfiqa::ErrorCode::kMalformed);
  CHECK(i.capacity() < (size_t(1) << 20));
}

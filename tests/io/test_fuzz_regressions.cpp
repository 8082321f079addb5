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
    CHECK_MESSAGE(broken == nullptr, (broken ? broken : ""));
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

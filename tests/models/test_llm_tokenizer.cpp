// SPDX-License-Identifier: MIT
// Tokenizer tests: a hand-made GPT-2-style byte-level BPE vocabulary (merges
// learned by tools/golden/make_llm_golden.py) whose encodings must equal the
// ids of the independent Python reference encoder, under the Qwen2 and GPT-2
// pre-tokenizer patterns, with and without special-token parsing; the
// stories260K SentencePiece vocabulary against a naive Python SPM-BPE
// reference (skipped when the model file is absent); round trips and
// invalid UTF-8.
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "llm_test_util.hpp"
#include "rsfiqa/models/llm/model.hpp"
#include "rsfiqa/models/llm/tokenizer.hpp"

using namespace rsfiqa;
using namespace rsfiqa::llm;

namespace {

Tokenizer make_bpe(const io::JsonValue& g, const std::string& pre) {
  VocabData v;
  v.type = TokenizerType::kGpt2;
  for (const auto& t : g.find("tokens")->items()) v.tokens.push_back(t.as_string());
  for (const auto& t : g.find("token_types")->items()) v.token_types.push_back((int32_t)t.as_int());
  for (const auto& m : g.find("merges")->items()) v.merges.push_back(m.as_string());
  v.pre = pre;
  v.add_bos = false;
  Result<Tokenizer> t = Tokenizer::create(v);
  REQUIRE_MESSAGE(t.ok(), t.status().to_string());
  return std::move(t).value();
}

}  // namespace

TEST_CASE("gpt2 byte-level BPE matches the Python reference (qwen2 and default patterns)") {
  Result<io::JsonValue> g = llm_test::load_json(llm_test::golden_path("gpt2_bpe.json"));
  REQUIRE_MESSAGE(g.ok(), g.status().to_string());
  for (const char* pre : {"qwen2", "default"}) {
    CAPTURE(pre);
    const Tokenizer tok = make_bpe(*g, pre);
    const io::JsonValue* cases = g->find("patterns")->find(pre);
    REQUIRE(cases);
    REQUIRE(cases->size() > 10);
    for (const auto& c : cases->items()) {
      const std::string text = c.find("text")->as_string();
      const bool ps = c.find("parse_special")->as_bool();
      CAPTURE(text);
      CAPTURE(ps);
      const std::vector<int32_t> got = tok.encode(text, false, ps);
      CHECK(got == llm_test::ids_of(*c.find("ids")));
      // Byte-level BPE is lossless (specials render when parsed as specials).
      CHECK(tok.decode(got, ps) == text);
    }
  }
}

TEST_CASE("gpt2 BPE: invalid UTF-8 and random bytes round-trip without failure") {
  Result<io::JsonValue> g = llm_test::load_json(llm_test::golden_path("gpt2_bpe.json"));
  REQUIRE(g.ok());
  const Tokenizer tok = make_bpe(*g, "qwen2");
  std::mt19937 rng(3);
  for (int it = 0; it < 200; ++it) {
    std::string s((size_t)(rng() % 40), '\0');
    for (char& ch : s) ch = (char)(rng() & 0xFF);
    const std::vector<int32_t> ids = tok.encode(s, false, false);
    CHECK(tok.decode(ids) == s);
  }
}

TEST_CASE("Tokenizer::create rejects inconsistent vocabularies") {
  VocabData v;
  CHECK(Tokenizer::create(v).status().code() == ErrorCode::kMalformed);
  v.tokens = {"a", "b"};
  v.scores = {0.0f};
  CHECK(Tokenizer::create(v).status().code() == ErrorCode::kShapeMismatch);
  v.scores.clear();
  v.bos_id = 7;
  CHECK(Tokenizer::create(v).status().code() == ErrorCode::kInvalidArgument);
  v.bos_id = -1;
  v.type = TokenizerType::kGpt2;
  v.merges = {"ab"};
  CHECK(Tokenizer::create(v).status().code() == ErrorCode::kMalformed);
}

TEST_CASE("llama SPM: tiny vocabulary, scores decide merges, byte fallback") {
  // tokens: specials, bytes for 'x' and 0xC3 0xA9, characters and merges.
  VocabData v;
  v.type = TokenizerType::kLlama;
  v.tokens = {"<unk>", "<s>", "</s>", "<0x78>", "<0xC3>", "<0xA9>", "\xE2\x96\x81", "a", "b", "c", "ab", "bc",
              "\xE2\x96\x81" "a", "abc"};
  v.token_types = {2, 3, 3, 6, 6, 6, 1, 1, 1, 1, 1, 1, 1, 1};
  v.scores = {0, 0, 0, 0, 0, 0, -1, -2, -2, -2, -3, -1, -0.5f, -4};
  v.bos_id = 1;
  v.eos_id = 2;
  v.unk_id = 0;
  Result<Tokenizer> t = Tokenizer::create(v);
  REQUIRE(t.ok());
  // "abc" -> "▁abc": pairs ▁a (-0.5), ab (-3), bc (-1): ▁a first, then bc,
  // then "▁a"+"bc" is not a token -> [▁a, bc].
  CHECK(t->encode("abc", false) == std::vector<int32_t>{12, 11});
  CHECK(t->encode("abc", true) == std::vector<int32_t>{1, 12, 11});
  // 'x' and 'é' are not tokens: byte fallback (x has a byte token; é = C3 A9).
  CHECK(t->encode("x\xC3\xA9", false) == std::vector<int32_t>{6, 3, 4, 5});
  CHECK(t->decode(t->encode("abc x\xC3\xA9", true)) == "abc x\xC3\xA9");
  CHECK(t->encode("", true) == std::vector<int32_t>{1});
  CHECK(t->encode("", false).empty());
}

TEST_CASE("stories260K vocabulary matches the naive Python SPM reference" *
          doctest::skip(!llm_test::file_exists(llm_test::stories_path()))) {
  Result<io::GgufFile> f = io::GgufFile::open(llm_test::stories_path());
  REQUIRE(f.ok());
  Result<Tokenizer> tok = tokenizer_from_gguf(*f);
  REQUIRE(tok.ok());
  Result<io::JsonValue> g = llm_test::load_json(llm_test::golden_path("stories_spm.json"));
  REQUIRE(g.ok());
  for (const auto& c : g->items()) {
    const std::string text = c.find("text")->as_string();
    CAPTURE(text);
    CHECK(tok->encode(text, false) == llm_test::ids_of(*c.find("ids")));
  }
}

// ---------------------------------------------------------------- chat templates

#include "rsfiqa/models/llm/chat.hpp"

TEST_CASE("chat templates: detection from template text and ChatML rendering") {
  CHECK(*detect_chat_template("{% for m in messages %}<|im_start|>{{ m.role }}", false) == ChatTemplate::kChatML);
  CHECK(*detect_chat_template("<|start_header_id|>{{ role }}<|end_header_id|>", false) == ChatTemplate::kLlama3);
  CHECK(*detect_chat_template("<|user|>\n{{ m }}</s><|assistant|>", false) == ChatTemplate::kZephyr);
  CHECK(*detect_chat_template("[INST] {{ m }} [/INST]", false) == ChatTemplate::kLlama2);
  CHECK(*detect_chat_template("", true) == ChatTemplate::kChatML);
  CHECK(detect_chat_template("", false).status().code() == ErrorCode::kNotFound);
  CHECK(detect_chat_template("{{ weird }}", true).status().code() == ErrorCode::kUnsupportedFormat);
  const std::string s = format_chat(ChatTemplate::kChatML, {{"system", "Be brief."}, {"user", "Hi"}});
  CHECK(s == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  // Rendered ChatML encodes its markers as single special tokens.
  Result<io::JsonValue> g = llm_test::load_json(llm_test::golden_path("gpt2_bpe.json"));
  REQUIRE(g.ok());
  const Tokenizer tok = make_bpe(*g, "qwen2");
  const std::vector<int32_t> ids = tok.encode(s, false, true);
  int markers = 0;
  for (int32_t id : ids) markers += tok.token_type(id) == kTokenControl;
  CHECK(markers == 5);
}

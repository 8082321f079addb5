// SPDX-License-Identifier: MIT
// stories260K (Karpathy's TinyStories llama, GGUF F32, in ../shared/models):
// greedy generation from BOS with an empty prompt must reproduce the text
// published in the llama2.c README exactly; tokenizer round trips on ASCII,
// Unicode and byte-fallback strings. Skips with a reason when the file is
// absent (exit code 77 via doctest's skip is not available, so each case
// returns early with a MESSAGE and the main check is guarded).
#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "rsfiqa/models/llm/model.hpp"

using namespace rsfiqa;
using namespace rsfiqa::llm;

namespace {

const char* kStoriesPath = RSFIQA_SOURCE_DIR "/../shared/models/stories260K.gguf";

// The published greedy continuation (llama2.c README, -t 0.0).
const char* kPublished =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a "
    "big, red ball. She wanted to play with it, but it was too high.\n"
    "Lily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. She said, \"I want to "
    "play with your ball, but";

bool have_stories() {
  FILE* f = std::fopen(kStoriesPath, "rb");
  if (!f) return false;
  std::fclose(f);
  return true;
}

}  // namespace

TEST_CASE("stories260K: greedy from BOS reproduces the published text" * doctest::skip(!have_stories())) {
  Result<Model> m = Model::load(kStoriesPath);
  REQUIRE_MESSAGE(m.ok(), m.status().to_string());
  const LlmConfig& c = m->config();
  CHECK(c.n_layer == 5);
  CHECK(c.n_embd == 64);
  CHECK(c.n_head == 8);
  CHECK(c.n_head_kv == 4);
  CHECK(c.n_ff == 172);
  CHECK(c.n_vocab == 512);
  CHECK_FALSE(c.tied_output);
  Result<Session> s = Session::create(*m, 512);
  REQUIRE(s.ok());
  SamplerParams sp;
  sp.temperature = 0.0f;  // greedy
  Sampler sampler(sp);
  const std::vector<int32_t> prompt = m->tokenizer().encode("", true);
  REQUIRE(prompt.size() == 1);
  CHECK(prompt[0] == 1);
  const std::string want = kPublished;
  std::string text;
  GenerateOptions opt;
  opt.n_predict = 200;
  Result<std::vector<int32_t>> out = generate(*s, *m, sampler, prompt, opt, [&](int32_t) {
    return true;
  });
  REQUIRE(out.ok());
  text = m->tokenizer().decode(*out);
  // The published text is a prefix of what the model keeps writing.
  REQUIRE(text.size() >= want.size());
  CHECK(text.substr(0, want.size()) == want);
}

TEST_CASE("stories260K: tokenizer round trips" * doctest::skip(!have_stories())) {
  Result<Model> m = Model::load(kStoriesPath);
  REQUIRE(m.ok());
  const Tokenizer& tok = m->tokenizer();
  for (const std::string& s : {std::string("Once upon a time, there was a little girl."), std::string("  two  spaces"),
                              std::string("caf\xC3\xA9 na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80"),
                              std::string("bad \xFF\xFE utf8 \xC3"), std::string("tab\tnew\nline")}) {
    CAPTURE(s);
    const std::vector<int32_t> ids = tok.encode(s, true);
    REQUIRE(!ids.empty());
    CHECK(ids[0] == tok.bos_id());
    for (int32_t id : ids) CHECK((id >= 0 && id < tok.vocab_size()));
    CHECK(tok.decode(ids) == s);
  }
  // Characters outside the 512-token vocabulary must use byte tokens <0xXX>.
  const std::vector<int32_t> ids = tok.encode("\xE6\x97\xA5", false);
  REQUIRE(ids.size() >= 3);
  int bytes = 0;
  for (int32_t id : ids) bytes += tok.token_type(id) == kTokenByte;
  CHECK(bytes == 3);
}

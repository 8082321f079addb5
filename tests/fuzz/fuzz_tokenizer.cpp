// SPDX-License-Identifier: MIT
// libFuzzer target for both tokenizers (fuzz_entry_tokenizer.hpp says what is
// checked). The llama vocabulary comes from the GGUF named by the environment
// variable RSFIQA_FUZZ_SPM_GGUF (e.g. the stories260K model) and falls back to
// the committed tiny_llama.gguf fixture; the gpt2 one from
// RSFIQA_FUZZ_BPE_GGUF or the tiny_qwen2.gguf fixture. Built only with
// -DRSFIQA_BUILD_FUZZ=ON and clang; run it through tools/fuzz.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz_entry_tokenizer.hpp"

namespace {

rsfiqa::fuzz::FuzzTokenizer load_or_die(const char* env, const char* fixture) {
  const char* p = std::getenv(env);
  const std::string path = p && *p ? std::string(p) : std::string(RSFIQA_TEST_DATA_DIR) + "/golden/llm/" + fixture;
  rsfiqa::Result<rsfiqa::fuzz::FuzzTokenizer> t = rsfiqa::fuzz::load_fuzz_tokenizer(path);
  if (!t.ok()) {
    std::fprintf(stderr, "fuzz_tokenizer: cannot load %s: %s\n", path.c_str(), t.status().message().c_str());
    std::exit(1);
  }
  std::fprintf(stderr, "fuzz_tokenizer: %s (%d tokens, all byte tokens: %s)\n", path.c_str(), t->tok.vocab_size(),
               t->complete ? "yes" : "no");
  return std::move(*t);
}

const rsfiqa::fuzz::FuzzTokenizer& spm() {
  static const rsfiqa::fuzz::FuzzTokenizer t = load_or_die("RSFIQA_FUZZ_SPM_GGUF", "tiny_llama.gguf");
  return t;
}
const rsfiqa::fuzz::FuzzTokenizer& bpe() {
  static const rsfiqa::fuzz::FuzzTokenizer t = load_or_die("RSFIQA_FUZZ_BPE_GGUF", "tiny_qwen2.gguf");
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (const rsfiqa::fuzz::FuzzTokenizer* t : {&spm(), &bpe()}) {
    if (const char* broken = rsfiqa::fuzz::fuzz_tokenizer(*t, data, size)) {
      std::fprintf(stderr, "invariant broken (%s vocabulary): %s\n",
                   t->tok.type() == rsfiqa::llm::TokenizerType::kLlama ? "llama" : "gpt2", broken);
      std::abort();
    }
  }
  return 0;
}

// SPDX-License-Identifier: MIT
// Fuzz entry for binding a GGUF file to the llama/qwen2 model
// (models/llm/model.hpp): GgufFile::from_memory, then Model::from_gguf with
// its metadata checks (architecture, counts, head layout, tensor shapes and
// types, tokenizer). A model that binds is run for two tokens in a 4-token
// context, so a shape the binder let through but the forward pass cannot
// handle shows up as an out-of-bounds access. Logits must have n_vocab values.
// Shared by tests/fuzz/fuzz_llm_model.cpp and tests/io/test_fuzz_regressions.cpp.
// Returns nullptr, or the text of a broken invariant.
#pragma once

#include <cstddef>
#include <cstdint>

#include "rsfiqa/io/gguf.hpp"
#include "rsfiqa/models/llm/model.hpp"

namespace rsfiqa::fuzz {

inline const char* fuzz_llm_model(const uint8_t* data, size_t size) {
  Result<io::GgufFile> f = io::GgufFile::from_memory(data, size);
  if (!f.ok()) return nullptr;
  Result<llm::Model> m = llm::Model::from_gguf(std::move(*f));
  if (!m.ok()) return m.status().message().empty() ? "LLM: error without a message" : nullptr;
  const llm::LlmConfig& c = m->config();
  if (c.n_vocab != m->tokenizer().vocab_size()) return "LLM: vocabulary sizes differ after binding";
  if (c.n_head <= 0 || c.n_head_kv <= 0 || c.n_head % c.n_head_kv != 0) return "LLM: bad head layout accepted";
  if ((int64_t)m->layers().size() != c.n_layer) return "LLM: layer count differs from the config";
  Result<llm::Session> s = llm::Session::create(*m, 4);
  if (!s.ok()) return nullptr;
  const int32_t toks[2] = {0, (int32_t)(c.n_vocab - 1)};
  if (!s->eval(toks, 2).ok()) return nullptr;
  if ((int64_t)s->logits().size() != c.n_vocab) return "LLM: logits of the wrong length";
  return nullptr;
}

}  // namespace rsfiqa::fuzz

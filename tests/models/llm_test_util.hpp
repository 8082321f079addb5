// SPDX-License-Identifier: MIT
// Helpers shared by the LLM tests: golden JSON loading, file checks and the
// greedy continuation that teacher-forcing tests replay.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "rsfiqa/io/file.hpp"
#include "rsfiqa/io/json.hpp"
#include "rsfiqa/models/llm/model.hpp"

namespace llm_test {

inline std::string golden_path(const std::string& name) {
  return std::string(RSFIQA_TEST_DATA_DIR) + "/golden/llm/" + name;
}

inline const char* stories_path() { return RSFIQA_SOURCE_DIR "/../shared/models/stories260K.gguf"; }

inline bool file_exists(const std::string& p) {
  FILE* f = std::fopen(p.c_str(), "rb");
  if (!f) return false;
  std::fclose(f);
  return true;
}

inline rsfiqa::Result<rsfiqa::io::JsonValue> load_json(const std::string& path) {
  RSFIQA_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, rsfiqa::io::read_file_bytes(path, 64u << 20));
  return rsfiqa::io::parse_json((const char*)bytes.data(), bytes.size());
}

inline std::vector<int32_t> ids_of(const rsfiqa::io::JsonValue& a) {
  std::vector<int32_t> v;
  for (const auto& x : a.items()) v.push_back((int32_t)x.as_int());
  return v;
}

// BOS followed by up to n tokens that m generates greedily from it (fewer
// when it stops at an end token); just BOS if the session cannot be made.
inline std::vector<int32_t> greedy_from_bos(const rsfiqa::llm::Model& m, int64_t n) {
  std::vector<int32_t> toks = {m.tokenizer().bos_id()};
  rsfiqa::Result<rsfiqa::llm::Session> s = rsfiqa::llm::Session::create(m, n + 1 > 512 ? n + 1 : 512);
  if (!s.ok()) return toks;
  rsfiqa::llm::SamplerParams sp;
  sp.temperature = 0.0f;
  rsfiqa::llm::Sampler sampler(sp);
  rsfiqa::llm::GenerateOptions opt;
  opt.n_predict = n;
  rsfiqa::Result<std::vector<int32_t>> out = rsfiqa::llm::generate(*s, m, sampler, toks, opt);
  if (out.ok()) toks.insert(toks.end(), out->begin(), out->end());
  return toks;
}

}  // namespace llm_test

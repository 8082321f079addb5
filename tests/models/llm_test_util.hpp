// SPDX-License-Identifier: MIT
// Helpers shared by the LLM tests: golden JSON loading and file checks.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "rsfiqa/io/file.hpp"
#include "rsfiqa/io/json.hpp"

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

}  // namespace llm_test

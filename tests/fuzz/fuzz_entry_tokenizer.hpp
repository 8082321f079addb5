// SPDX-License-Identifier: MIT
// Fuzz entry for both LLM tokenizers (models/llm/tokenizer.hpp): a
// SentencePiece-style "llama" vocabulary and a byte-level "gpt2" one, each
// read from a GGUF file with tokenizer_from_gguf. One input drives both:
// byte 0 holds flags (bit 0 parse_special, bit 1 add_bos), the rest is the
// text to encode and, read as little-endian int32s, a list of ids to decode
// (any value, in range or not). Invariants: every encoded id is inside the
// vocabulary, and when the vocabulary has all 256 byte tokens, decoding an
// encoding without special parsing gives the text back. For llama that holds
// only for valid UTF-8 without U+2581: SentencePiece decodes U+2581 as a
// space by design, and a stray UTF-8 lead byte swallows the following bytes
// into one symbol (as llama.cpp's splitter does), so a space after it comes
// back as the bytes of U+2581 (seed crash_llama_lone_lead_byte_before_space).
// Shared by tests/fuzz/fuzz_tokenizer.cpp and tests/io/test_fuzz_regressions.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "rsfiqa/io/gguf.hpp"
#include "rsfiqa/io/json.hpp"
#include "rsfiqa/models/llm/model.hpp"
#include "rsfiqa/models/llm/tokenizer.hpp"

namespace rsfiqa::fuzz {

struct FuzzTokenizer {
  llm::Tokenizer tok;
  bool complete = false;  // all 256 byte tokens present: encode/decode round-trips
};

// Reads the tokenizer of a GGUF file; `complete` is worked out from the vocabulary.
inline Result<FuzzTokenizer> load_fuzz_tokenizer(const std::string& gguf_path) {
  RSFIQA_ASSIGN_OR_RETURN(io::GgufFile f, io::GgufFile::open(gguf_path));
  FuzzTokenizer out;
  RSFIQA_ASSIGN_OR_RETURN(out.tok, llm::tokenizer_from_gguf(f));
  out.complete = true;
  for (int b = 0; b < 256 && out.complete; ++b) {
    std::string key;
    if (out.tok.type() == llm::TokenizerType::kLlama) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
      key = buf;
    } else {
      llm::detail::append_utf8(key, llm::detail::byte_to_cp()[(size_t)b]);
    }
    if (out.tok.find(key) < 0) out.complete = false;
  }
  return out;
}

inline const char* fuzz_tokenizer(const FuzzTokenizer& ft, const uint8_t* data, size_t size) {
  if (size == 0) return nullptr;
  const llm::Tokenizer& t = ft.tok;
  const bool parse_special = data[0] & 1;
  const bool add_bos = data[0] & 2;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);

  const std::vector<int32_t> ids = t.encode(text, add_bos, parse_special);
  for (int32_t id : ids)
    if (id < 0 || id >= t.vocab_size()) return "tokenizer: encode produced an id outside the vocabulary";

  if (ft.complete && !parse_special) {
    const bool llama = t.type() == llm::TokenizerType::kLlama;
    const std::vector<int32_t> plain = t.encode(text, false, false);
    const std::string back = t.decode(plain, true, true);
    const bool llama_exempt =
        llama && (text.find("\xE2\x96\x81") != std::string::npos || !io::utf8_valid(text.data(), text.size()));
    if (!llama_exempt && back != text) return "tokenizer: decode(encode(text)) differs from the text";
  }

  // Arbitrary ids, in range or not.
  std::vector<int32_t> any((size - 1) / 4);
  if (!any.empty()) std::memcpy(any.data(), data + 1, any.size() * 4);
  size_t total = t.decode(any, parse_special, add_bos).size();
  for (int32_t id : any) total += t.token_to_piece(id, true).size() + (t.is_eog(id) ? 1 : 0);
  volatile size_t sink = total;
  (void)sink;
  return nullptr;
}

}  // namespace rsfiqa::fuzz

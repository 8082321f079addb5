// SPDX-License-Identifier: MIT
// Tokenizers of GGUF language models, built from plain vectors (the
// `tokenizer.ggml.*` arrays) so they can be tested without a file:
//
//   llama  SentencePiece-style BPE driven by token scores: the text gets a
//          leading space (add_space_prefix), spaces become U+2581 '▁', the
//          text is split into UTF-8 characters and the adjacent pair whose
//          concatenation is the highest-scoring token is merged until no pair
//          is a token; characters that are not tokens fall back to the byte
//          tokens <0xXX>. Follows llama.cpp's llm_tokenizer_spm.
//   gpt2   byte-level BPE: a pre-tokenizer regex splits the text (Qwen2's
//          pattern, or GPT-2's), every byte maps to a printable code point
//          (GPT-2's bytes_to_unicode) and merges apply by rank, lowest first.
//
// Special tokens (control and user-defined types) are matched in the text
// before BPE when parse_special is set, longest first. Invalid UTF-8 never
// fails: llama falls back to byte tokens, gpt2 maps each byte as usual.
//
// What it does not do: no WordPiece/Unigram (BERT, T5) vocabularies, no
// normalizers beyond the llama space handling, and only the "qwen2"/"default"
// pre-tokenizer patterns (other names fall back to GPT-2's pattern, which
// the report lists).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <queue>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rsfiqa/core/status.hpp"
#include "rsfiqa/models/llm/unicode_tables.hpp"

namespace rsfiqa::llm {

enum class TokenizerType { kLlama, kGpt2 };

// tokenizer.ggml.token_type values.
enum TokenAttr : int32_t {
  kTokenNormal = 1,
  kTokenUnknown = 2,
  kTokenControl = 3,
  kTokenUserDefined = 4,
  kTokenUnused = 5,
  kTokenByte = 6,
};

// Everything a tokenizer is built from (the GGUF arrays and ids).
struct VocabData {
  TokenizerType type = TokenizerType::kLlama;
  std::vector<std::string> tokens;
  std::vector<float> scores;            // llama: merge priority; may be empty for gpt2
  std::vector<int32_t> token_types;     // TokenAttr per token; empty = all normal
  std::vector<std::string> merges;      // gpt2: "left right", rank = index
  std::string pre = "default";          // gpt2 pre-tokenizer: "qwen2" or "default"/"gpt2"
  int32_t bos_id = -1, eos_id = -1, unk_id = -1, pad_id = -1;
  bool add_bos = true;                  // encode() adds BOS when asked and this is set
  bool add_space_prefix = true;         // llama only
  std::vector<int32_t> eog_ids;         // extra end-of-generation ids (e.g. <|im_end|>)
};

namespace detail {

inline bool in_ranges(uint32_t cp, const CodeRange* r, size_t n) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    if (cp < r[mid].lo) hi = mid;
    else if (cp > r[mid].hi) lo = mid + 1;
    else return true;
  }
  return false;
}
inline bool is_letter(uint32_t cp) {
  return in_ranges(cp, kLetterRanges, sizeof(kLetterRanges) / sizeof(kLetterRanges[0]));
}
inline bool is_number(uint32_t cp) {
  return in_ranges(cp, kNumberRanges, sizeof(kNumberRanges) / sizeof(kNumberRanges[0]));
}
// \s: the White_Space property.
inline bool is_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

// One decoded character: its code point and byte span in the source. An
// invalid byte becomes its own unit with code point 0xFFFD (classified as
// "other"), so every byte of the input is kept.
struct Utf8Unit {
  uint32_t cp;
  uint32_t off, len;
};

inline std::vector<Utf8Unit> decode_utf8(const std::string& s) {
  std::vector<Utf8Unit> out;
  out.reserve(s.size());
  const unsigned char* p = (const unsigned char*)s.data();
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    uint32_t cp = 0;
    size_t len = 0;
    if (c < 0x80) { cp = c; len = 1; }
    else if ((c & 0xE0) == 0xC0) { cp = c & 0x1F; len = 2; }
    else if ((c & 0xF0) == 0xE0) { cp = c & 0x0F; len = 3; }
    else if ((c & 0xF8) == 0xF0) { cp = c & 0x07; len = 4; }
    bool ok = len > 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) ok = false;
      else cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // Reject overlong forms, surrogates and values past U+10FFFF.
    if (ok && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
               (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF))
      ok = false;
    if (!ok) {
      out.push_back({0xFFFD, (uint32_t)i, 1});
      ++i;
    } else {
      out.push_back({cp, (uint32_t)i, (uint32_t)len});
      i += len;
    }
  }
  return out;
}

inline void append_utf8(std::string& s, uint32_t cp) {
  if (cp < 0x80) s += (char)cp;
  else if (cp < 0x800) { s += (char)(0xC0 | (cp >> 6)); s += (char)(0x80 | (cp & 0x3F)); }
  else if (cp < 0x10000) {
    s += (char)(0xE0 | (cp >> 12)); s += (char)(0x80 | ((cp >> 6) & 0x3F)); s += (char)(0x80 | (cp & 0x3F));
  } else {
    s += (char)(0xF0 | (cp >> 18)); s += (char)(0x80 | ((cp >> 12) & 0x3F));
    s += (char)(0x80 | ((cp >> 6) & 0x3F)); s += (char)(0x80 | (cp & 0x3F));
  }
}

// Length of the UTF-8 character starting with byte c (1 for invalid leads).
inline size_t utf8_len(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) return 2;
  if ((c & 0xF0) == 0xE0) return 3;
  if ((c & 0xF8) == 0xF0) return 4;
  return 1;
}

// Pre-tokenizer: splits units [0, n) into pieces, returned as [begin, end)
// unit index pairs. Hand-written equivalents of the two regexes:
//  qwen2:   (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])
//           |[^\r\n\p{L}\p{N}]?\p{L}+ |\p{N} | ?[^\s\p{L}\p{N}]+[\r\n]*
//           |\s*[\r\n]+ |\s+(?!\S) |\s+
//  default: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// Alternatives are tried in order at each position, with the backtracking
// the regex engine would do worked out by hand (see the comments).
inline std::vector<std::pair<size_t, size_t>> pre_tokenize(const std::vector<Utf8Unit>& u, bool qwen2) {
  const size_t n = u.size();
  auto cp = [&](size_t i) -> uint32_t { return i < n ? u[i].cp : 0xFFFFFFFFu; };
  auto L = [&](size_t i) { return i < n && u[i].cp != 0xFFFD && is_letter(u[i].cp); };
  auto N = [&](size_t i) { return i < n && is_number(u[i].cp); };
  auto S = [&](size_t i) { return i < n && is_space(u[i].cp); };
  auto NL = [&](size_t i) { return i < n && (u[i].cp == '\r' || u[i].cp == '\n'); };
  auto other = [&](size_t i) { return i < n && !S(i) && !L(i) && !N(i); };  // [^\s\p{L}\p{N}]
  auto lower = [](uint32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; };
  std::vector<std::pair<size_t, size_t>> out;
  size_t i = 0;
  while (i < n) {
    size_t end = 0;
    // 1. contractions ('s 't 're 've 'm 'll 'd; case-insensitive in qwen2)
    if (cp(i) == '\'') {
      const uint32_t a = qwen2 ? lower(cp(i + 1)) : cp(i + 1);
      const uint32_t b = qwen2 ? lower(cp(i + 2)) : cp(i + 2);
      if (a == 's' || a == 't' || a == 'm' || a == 'd') end = i + 2;
      else if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) end = i + 3;
    }
    if (!end && qwen2) {
      // 2. [^\r\n\p{L}\p{N}]?\p{L}+ : an optional non-letter/number/newline
      // lead (often a space) glued to a letter run.
      size_t j = i;
      if (!L(j) && !N(j) && !NL(j) && L(j + 1)) ++j;
      if (L(j)) {
        while (L(j)) ++j;
        end = j;
      }
      // 3. \p{N}: one number character.
      if (!end && N(i)) end = i + 1;
      // 4.  ?[^\s\p{L}\p{N}]+[\r\n]*
      if (!end) {
        size_t k = i;
        if (cp(k) == ' ' && other(k + 1)) ++k;
        if (other(k)) {
          while (other(k)) ++k;
          while (NL(k)) ++k;
          end = k;
        }
      }
    } else if (!end) {
      //  ?\p{L}+ |  ?\p{N}+ |  ?[^\s\p{L}\p{N}]+
      const size_t j = (cp(i) == ' ') ? i + 1 : i;
      if (L(j)) { size_t k = j; while (L(k)) ++k; end = k; }
      else if (N(j)) { size_t k = j; while (N(k)) ++k; end = k; }
      else if (other(j)) { size_t k = j; while (other(k)) ++k; end = k; }
    }
    if (!end && S(i)) {
      size_t run = i;
      while (S(run)) ++run;  // whitespace run [i, run)
      if (qwen2) {
        // 5. \s*[\r\n]+ : greedy \s* gives back until a newline; the match
        // ends after the last newline inside the run.
        for (size_t k = run; k > i; --k)
          if (NL(k - 1)) { end = k; break; }
      }
      // 6. \s+(?!\S): the whole run at the end of text, else all but its
      // last character (which then starts the next piece).
      if (!end) {
        if (run == n) end = run;
        else if (run - i >= 2) end = run - 1;
        else end = run;  // 7. \s+
      }
    }
    if (!end) end = i + 1;  // nothing matched: the character on its own
    out.emplace_back(i, end);
    i = end;
  }
  return out;
}

// GPT-2's reversible byte -> printable code point map.
inline const std::vector<uint32_t>& byte_to_cp() {
  static const std::vector<uint32_t> table = [] {
    std::vector<uint32_t> t(256);
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      t[b] = printable ? b : next++;
    }
    return t;
  }();
  return table;
}

}  // namespace detail

class Tokenizer {
 public:
  Tokenizer() = default;

  // Validates the vocabulary and builds the lookup tables.
  static Result<Tokenizer> create(VocabData v) {
    const size_t n = v.tokens.size();
    if (n == 0) return make_error(ErrorCode::kMalformed, "tokenizer: empty vocabulary");
    if (n > (size_t)INT32_MAX) return make_error(ErrorCode::kLimitExceeded, "tokenizer: %zu tokens", n);
    if (!v.scores.empty() && v.scores.size() != n)
      return make_error(ErrorCode::kShapeMismatch, "tokenizer: %zu scores for %zu tokens", v.scores.size(), n);
    if (!v.token_types.empty() && v.token_types.size() != n)
      return make_error(ErrorCode::kShapeMismatch, "tokenizer: %zu token types for %zu tokens", v.token_types.size(),
                        n);
    for (int32_t* id : {&v.bos_id, &v.eos_id, &v.unk_id, &v.pad_id})
      if (*id >= (int32_t)n || *id < -1)
        return make_error(ErrorCode::kInvalidArgument, "tokenizer: special token id %d outside the %zu-token vocabulary",
                          *id, n);
    for (int32_t id : v.eog_ids)
      if (id < 0 || id >= (int32_t)n)
        return make_error(ErrorCode::kInvalidArgument, "tokenizer: end-of-generation id %d outside the vocabulary", id);
    Tokenizer t;
    t.v_ = std::move(v);
    if (t.v_.scores.empty()) t.v_.scores.assign(n, 0.0f);
    if (t.v_.token_types.empty()) t.v_.token_types.assign(n, kTokenNormal);
    t.index_.reserve(n * 2);
    for (size_t i = 0; i < n; ++i) t.index_.emplace(t.v_.tokens[i], (int32_t)i);  // first id wins on duplicates
    for (size_t i = 0; i < n; ++i) {
      const int32_t ty = t.v_.token_types[i];
      if ((ty == kTokenControl || ty == kTokenUserDefined) && !t.v_.tokens[i].empty())
        t.specials_.push_back((int32_t)i);
    }
    std::stable_sort(t.specials_.begin(), t.specials_.end(), [&](int32_t a, int32_t b) {
      return t.v_.tokens[(size_t)a].size() > t.v_.tokens[(size_t)b].size();
    });
    t.byte_ids_.assign(256, -1);
    if (t.v_.type == TokenizerType::kLlama) {
      char buf[8];
      for (int b = 0; b < 256; ++b) {
        std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
        auto it = t.index_.find(buf);
        if (it != t.index_.end()) t.byte_ids_[(size_t)b] = it->second;
      }
    } else {
      for (size_t r = 0; r < t.v_.merges.size(); ++r) {
        const std::string& m = t.v_.merges[r];
        const size_t sp = m.find(' ', 1);
        if (sp == std::string::npos)
          return make_error(ErrorCode::kMalformed, "tokenizer: merge %zu ('%s') has no separating space", r,
                            m.substr(0, 64).c_str());
        t.merge_rank_.emplace(m.substr(0, sp) + '\x01' + m.substr(sp + 1), (int32_t)r);  // first rank wins
      }
      const std::vector<uint32_t>& b2c = detail::byte_to_cp();
      for (uint32_t b = 0; b < 256; ++b) t.cp_to_byte_.emplace(b2c[b], (uint8_t)b);
      for (int b = 0; b < 256; ++b) {
        std::string s;
        detail::append_utf8(s, b2c[(size_t)b]);
        auto it = t.index_.find(s);
        if (it != t.index_.end()) t.byte_ids_[(size_t)b] = it->second;
      }
      t.qwen2_ = t.v_.pre == "qwen2";
    }
    return t;
  }

  TokenizerType type() const { return v_.type; }
  int32_t vocab_size() const { return (int32_t)v_.tokens.size(); }
  int32_t bos_id() const { return v_.bos_id; }
  int32_t eos_id() const { return v_.eos_id; }
  bool add_bos() const { return v_.add_bos; }
  const std::string& token_text(int32_t id) const { return v_.tokens[(size_t)id]; }
  int32_t token_type(int32_t id) const { return v_.token_types[(size_t)id]; }
  // -1 when absent.
  int32_t find(const std::string& text) const {
    auto it = index_.find(text);
    return it == index_.end() ? -1 : it->second;
  }
  // End of generation: EOS or one of the extra ids.
  bool is_eog(int32_t id) const {
    if (id == v_.eos_id && id >= 0) return true;
    return std::find(v_.eog_ids.begin(), v_.eog_ids.end(), id) != v_.eog_ids.end();
  }

  // Text -> token ids. add_bos prepends BOS when the vocabulary asks for it
  // (VocabData::add_bos) and has one; parse_special matches control and
  // user-defined token texts in the input (for chat templates).
  std::vector<int32_t> encode(const std::string& text, bool add_bos = true, bool parse_special = false) const {
    std::vector<int32_t> out;
    bool prev_special = true;  // llama: prefix a space to the first text fragment
    if (add_bos && v_.add_bos && v_.bos_id >= 0) out.push_back(v_.bos_id);
    size_t pos = 0;
    while (pos < text.size()) {
      size_t next = text.size();
      int32_t special = -1;
      if (parse_special) find_special(text, pos, &next, &special);
      if (next > pos) {
        const std::string frag = text.substr(pos, next - pos);
        if (v_.type == TokenizerType::kLlama) {
          std::string s = (v_.add_space_prefix && prev_special) ? " " + frag : frag;
          encode_spm(s, out);
        } else {
          encode_bpe(frag, out);
        }
        prev_special = false;
      }
      if (special >= 0) {
        out.push_back(special);
        prev_special = true;
        next += v_.tokens[(size_t)special].size();
      }
      pos = next;
    }
    return out;
  }

  // The bytes of one token: byte tokens give their byte, '▁' becomes a space
  // (llama), GPT-2 code points map back to bytes (gpt2). Control tokens give
  // their text only when render_special is set.
  std::string token_to_piece(int32_t id, bool render_special = false) const {
    if (id < 0 || id >= vocab_size()) return std::string();
    const std::string& t = v_.tokens[(size_t)id];
    const int32_t ty = v_.token_types[(size_t)id];
    if (ty == kTokenControl || ty == kTokenUnknown) return render_special ? t : std::string();
    if (ty == kTokenUserDefined) return t;
    if (v_.type == TokenizerType::kLlama) {
      if (ty == kTokenByte && t.size() == 6 && t.compare(0, 3, "<0x") == 0) {
        return std::string(1, (char)std::strtol(t.substr(3, 2).c_str(), nullptr, 16));
      }
      std::string s;
      s.reserve(t.size());
      for (size_t i = 0; i < t.size(); ++i) {
        if (i + 2 < t.size() && (unsigned char)t[i] == 0xE2 && (unsigned char)t[i + 1] == 0x96 &&
            (unsigned char)t[i + 2] == 0x81) {
          s += ' ';
          i += 2;
        } else {
          s += t[i];
        }
      }
      return s;
    }
    std::string s;
    for (const detail::Utf8Unit& u : detail::decode_utf8(t)) {
      auto it = cp_to_byte_.find(u.cp);
      if (it != cp_to_byte_.end()) s += (char)it->second;
      else s.append(t, u.off, u.len);  // not a mapped code point: keep as is
    }
    return s;
  }

  // Ids -> text. For llama vocabularies with add_space_prefix the space the
  // encoder put in front of the text is removed again (as SentencePiece's
  // decoder does) when strip_prefix_space is set.
  std::string decode(const std::vector<int32_t>& ids, bool render_special = false,
                     bool strip_prefix_space = true) const {
    std::string s;
    bool first_text = true;
    for (int32_t id : ids) {
      std::string p = token_to_piece(id, render_special);
      if (p.empty()) continue;
      if (first_text && strip_prefix_space && v_.type == TokenizerType::kLlama && v_.add_space_prefix && p[0] == ' ')
        p.erase(0, 1);
      first_text = false;
      s += p;
    }
    return s;
  }

 private:
  // Earliest special token at or after pos (longest on ties).
  void find_special(const std::string& text, size_t pos, size_t* at, int32_t* id) const {
    *at = text.size();
    *id = -1;
    for (int32_t sid : specials_) {
      const std::string& st = v_.tokens[(size_t)sid];
      const size_t f = text.find(st, pos);
      if (f != std::string::npos && f < *at) {  // specials_ is longest-first, so ties keep the longest
        *at = f;
        *id = sid;
      }
    }
  }

  void push_bytes(const std::string& s, size_t off, size_t len, std::vector<int32_t>& out) const {
    for (size_t k = 0; k < len; ++k) {
      const int32_t b = byte_ids_[(unsigned char)s[off + k]];
      if (b >= 0) out.push_back(b);
      else if (v_.unk_id >= 0) out.push_back(v_.unk_id);
    }
  }

  // SentencePiece BPE by scores over a doubly linked list of symbols.
  void encode_spm(const std::string& raw, std::vector<int32_t>& out) const {
    std::string text;
    text.reserve(raw.size() + 16);
    for (char c : raw) {
      if (c == ' ') text += "\xE2\x96\x81";  // '▁'
      else text += c;
    }
    struct Sym {
      int prev, next;
      size_t off, len;
    };
    std::vector<Sym> sym;
    for (size_t off = 0; off < text.size();) {
      const size_t len = std::min(detail::utf8_len((unsigned char)text[off]), text.size() - off);
      sym.push_back({(int)sym.size() - 1, (int)sym.size() + 1, off, len});
      off += len;
    }
    if (sym.empty()) return;
    sym.back().next = -1;
    struct Bigram {
      int left, right;
      float score;
      size_t size;
    };
    // Highest score first; on ties the leftmost pair.
    auto cmp = [](const Bigram& a, const Bigram& b) {
      return a.score < b.score || (a.score == b.score && a.left > b.left);
    };
    std::priority_queue<Bigram, std::vector<Bigram>, decltype(cmp)> queue(cmp);
    auto try_add = [&](int l, int r) {
      if (l < 0 || r < 0) return;
      auto it = index_.find(text.substr(sym[(size_t)l].off, sym[(size_t)l].len + sym[(size_t)r].len));
      if (it == index_.end()) return;
      queue.push({l, r, v_.scores[(size_t)it->second], sym[(size_t)l].len + sym[(size_t)r].len});
    };
    for (size_t i = 1; i < sym.size(); ++i) try_add((int)i - 1, (int)i);
    while (!queue.empty()) {
      const Bigram b = queue.top();
      queue.pop();
      Sym& l = sym[(size_t)b.left];
      Sym& r = sym[(size_t)b.right];
      // Stale entry: one side was merged away or grew since it was queued.
      if (l.len == 0 || r.len == 0 || l.len + r.len != b.size) continue;
      l.len += r.len;
      r.len = 0;
      l.next = r.next;
      if (r.next >= 0) sym[(size_t)r.next].prev = b.left;
      try_add(l.prev, b.left);
      try_add(b.left, l.next);
    }
    for (int i = 0; i >= 0; i = sym[(size_t)i].next) {
      const Sym& s = sym[(size_t)i];
      auto it = index_.find(text.substr(s.off, s.len));
      if (it != index_.end()) out.push_back(it->second);
      else push_bytes(text, s.off, s.len, out);  // byte fallback
    }
  }

  // Byte-level BPE over each pre-token.
  void encode_bpe(const std::string& text, std::vector<int32_t>& out) const {
    const std::vector<detail::Utf8Unit> units = detail::decode_utf8(text);
    const std::vector<uint32_t>& b2c = detail::byte_to_cp();
    for (const auto& piece : detail::pre_tokenize(units, qwen2_)) {
      // Symbols: one mapped code point per byte of the piece.
      std::vector<std::string> syms;
      const size_t b0 = units[piece.first].off;
      const size_t b1 = units[piece.second - 1].off + units[piece.second - 1].len;
      for (size_t b = b0; b < b1; ++b) {
        std::string s;
        detail::append_utf8(s, b2c[(unsigned char)text[b]]);
        syms.push_back(std::move(s));
      }
      // Whole piece already a token: common and cheap.
      std::string joined;
      for (const auto& s : syms) joined += s;
      auto whole = index_.find(joined);
      if (whole != index_.end()) {
        out.push_back(whole->second);
        continue;
      }
      // Merge the lowest-rank adjacent pair until none has a rank.
      while (syms.size() > 1) {
        int32_t best = INT32_MAX;
        size_t at = 0;
        for (size_t k = 0; k + 1 < syms.size(); ++k) {
          auto it = merge_rank_.find(syms[k] + '\x01' + syms[k + 1]);
          if (it != merge_rank_.end() && it->second < best) {
            best = it->second;
            at = k;
          }
        }
        if (best == INT32_MAX) break;
        syms[at] += syms[at + 1];
        syms.erase(syms.begin() + (std::ptrdiff_t)at + 1);
      }
      for (const std::string& s : syms) {
        auto it = index_.find(s);
        if (it != index_.end()) {
          out.push_back(it->second);
          continue;
        }
        // A merge product missing from the vocabulary: emit its bytes.
        for (const detail::Utf8Unit& u : detail::decode_utf8(s)) {
          auto bt = cp_to_byte_.find(u.cp);
          const int32_t id = bt != cp_to_byte_.end() ? byte_ids_[bt->second] : -1;
          if (id >= 0) out.push_back(id);
          else if (v_.unk_id >= 0) out.push_back(v_.unk_id);
        }
      }
    }
  }

  VocabData v_;
  std::unordered_map<std::string, int32_t> index_;
  std::unordered_map<std::string, int32_t> merge_rank_;
  std::unordered_map<uint32_t, uint8_t> cp_to_byte_;
  std::vector<int32_t> byte_ids_;  // byte -> token id or -1
  std::vector<int32_t> specials_;  // control/user-defined ids, longest text first
  bool qwen2_ = false;
};

}  // namespace rsfiqa::llm

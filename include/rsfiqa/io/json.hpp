// SPDX-License-Identifier: MIT
// A small strict JSON reader and writer (RFC 8259) for the safetensors header,
// reports and configuration files.
//
// The reader builds a tree of JsonValue from untrusted bytes and rejects
// everything RFC 8259 does not allow: invalid UTF-8 (overlong forms,
// surrogates, code points above U+10FFFF), unescaped control characters, lone
// surrogate escapes, leading zeros, trailing commas, a byte-order mark, and
// anything but whitespace after the top-level value. It also rejects duplicate
// object keys (naming the key) and input over configurable limits (bytes,
// nesting depth, number of values). Every error message carries the byte
// offset of the problem. Numbers are kept as a double and, when the value is
// integral and fits, as an exact int64 (so "18446744073709551615" is not
// silently rounded into an offset).
//
// The writer (JsonWriter) emits valid JSON only: strings are escaped and
// invalid UTF-8 in them is replaced by U+FFFD, doubles are written with the
// shortest text that reads back to the same value, and NaN/infinity (which
// JSON cannot express) are written as null.
//
// Not supported: comments, NaN literals, streaming. No exceptions are thrown.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>
#if __has_include(<charconv>)
#include <charconv>
#endif

#include "rsfiqa/core/status.hpp"

namespace rsfiqa::io {

struct JsonLimits {
  size_t max_bytes = size_t(100) << 20;  // whole document
  int max_depth = 64;                    // nested arrays/objects
  size_t max_values = size_t(1) << 21;   // every value (scalars, arrays, objects) counts one
};

enum class JsonType : uint8_t { kNull, kBool, kNumber, kString, kArray, kObject };

inline const char* json_type_name(JsonType t) {
  switch (t) {
    case JsonType::kNull: return "null";
    case JsonType::kBool: return "bool";
    case JsonType::kNumber: return "number";
    case JsonType::kString: return "string";
    case JsonType::kArray: return "array";
    case JsonType::kObject: return "object";
  }
  return "unknown";
}

// One parsed JSON value. Objects keep their members in document order.
// Accessors on the wrong type return a neutral value (false, 0, "", empty);
// check type() first when the input is untrusted.
class JsonValue {
 public:
  JsonValue() = default;

  JsonType type() const { return type_; }
  bool is_null() const { return type_ == JsonType::kNull; }
  bool is_bool() const { return type_ == JsonType::kBool; }
  bool is_number() const { return type_ == JsonType::kNumber; }
  bool is_string() const { return type_ == JsonType::kString; }
  bool is_array() const { return type_ == JsonType::kArray; }
  bool is_object() const { return type_ == JsonType::kObject; }
  // A number whose value is an integer representable exactly as int64.
  bool is_int() const { return type_ == JsonType::kNumber && has_int_; }

  bool as_bool() const { return type_ == JsonType::kBool && bool_; }
  double as_double() const { return type_ == JsonType::kNumber ? num_ : 0.0; }
  int64_t as_int() const { return is_int() ? int_ : 0; }
  const std::string& as_string() const { return str_; }

  // Array elements, or object member values (parallel to keys()).
  size_t size() const { return items_.size(); }
  const std::vector<JsonValue>& items() const { return items_; }
  const JsonValue& operator[](size_t i) const { return items_[i]; }
  const std::vector<std::string>& keys() const { return keys_; }
  // Member lookup (linear); nullptr when absent or not an object.
  const JsonValue* find(const std::string& key) const {
    if (type_ != JsonType::kObject) return nullptr;
    for (size_t i = 0; i < keys_.size(); ++i)
      if (keys_[i] == key) return &items_[i];
    return nullptr;
  }
  // Byte offset of the value's first character in the parsed text.
  size_t offset() const { return offset_; }

 private:
  friend class JsonParser;
  JsonType type_ = JsonType::kNull;
  bool bool_ = false;
  bool has_int_ = false;
  double num_ = 0.0;
  int64_t int_ = 0;
  size_t offset_ = 0;
  std::string str_;
  std::vector<std::string> keys_;
  std::vector<JsonValue> items_;
};

namespace detail {

// Decodes one UTF-8 sequence at s[i..n). Returns its length (1..4) and the
// code point, or 0 when the bytes are not valid UTF-8 (overlong, surrogate,
// above U+10FFFF, truncated, stray continuation byte).
inline int utf8_decode(const uint8_t* s, size_t i, size_t n, uint32_t* cp) {
  const uint8_t c = s[i];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  int len;
  uint32_t v, min;
  if ((c & 0xe0) == 0xc0) {
    len = 2;
    v = c & 0x1f;
    min = 0x80;
  } else if ((c & 0xf0) == 0xe0) {
    len = 3;
    v = c & 0x0f;
    min = 0x800;
  } else if ((c & 0xf8) == 0xf0) {
    len = 4;
    v = c & 0x07;
    min = 0x10000;
  } else {
    return 0;
  }
  if (n - i < (size_t)len) return 0;
  for (int k = 1; k < len; ++k) {
    const uint8_t cc = s[i + k];
    if ((cc & 0xc0) != 0x80) return 0;
    v = (v << 6) | (cc & 0x3f);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return len;
}

inline void utf8_append(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back((char)cp);
  } else if (cp < 0x800) {
    out->push_back((char)(0xc0 | (cp >> 6)));
    out->push_back((char)(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out->push_back((char)(0xe0 | (cp >> 12)));
    out->push_back((char)(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back((char)(0x80 | (cp & 0x3f)));
  } else {
    out->push_back((char)(0xf0 | (cp >> 18)));
    out->push_back((char)(0x80 | ((cp >> 12) & 0x3f)));
    out->push_back((char)(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back((char)(0x80 | (cp & 0x3f)));
  }
}

}  // namespace detail

// True when [data, data+size) is valid UTF-8; *bad_offset gets the first bad byte.
inline bool utf8_valid(const void* data, size_t size, size_t* bad_offset = nullptr) {
  const uint8_t* s = static_cast<const uint8_t*>(data);
  size_t i = 0;
  while (i < size) {
    uint32_t cp;
    const int len = detail::utf8_decode(s, i, size, &cp);
    if (len == 0) {
      if (bad_offset) *bad_offset = i;
      return false;
    }
    i += (size_t)len;
  }
  return true;
}

// Recursive-descent parser; depth is bounded by JsonLimits::max_depth so the
// recursion cannot exhaust the stack.
class JsonParser {
 public:
  JsonParser(const char* data, size_t size, const JsonLimits& limits)
      : s_(reinterpret_cast<const uint8_t*>(data)), n_(size), limits_(limits) {}

  Result<JsonValue> parse() {
    if (n_ > limits_.max_bytes)
      return make_error(ErrorCode::kLimitExceeded, "JSON: document of %zu bytes is over the limit of %zu bytes", n_,
                        limits_.max_bytes);
    if (n_ >= 3 && s_[0] == 0xef && s_[1] == 0xbb && s_[2] == 0xbf)
      return make_error(ErrorCode::kMalformed, "JSON: byte-order mark at byte 0 is not allowed");
    JsonValue root;
    skip_ws();
    RSFIQA_RETURN_IF_ERROR(parse_value(&root, 0));
    skip_ws();
    if (pos_ != n_) return error_here("unexpected data after the top-level value");
    return root;
  }

 private:
  Status error_at(size_t at, const char* what) const {
    return make_error(ErrorCode::kMalformed, "JSON: %s at byte %zu", what, at);
  }
  Status error_here(const char* what) const {
    if (pos_ >= n_) return make_error(ErrorCode::kMalformed, "JSON: %s: the text ends at byte %zu", what, n_);
    const uint8_t c = s_[pos_];
    if (c >= 0x20 && c < 0x7f)
      return make_error(ErrorCode::kMalformed, "JSON: %s at byte %zu ('%c')", what, pos_, (char)c);
    return make_error(ErrorCode::kMalformed, "JSON: %s at byte %zu (byte 0x%02x)", what, pos_, c);
  }

  void skip_ws() {
    while (pos_ < n_ && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }

  Status count_value() {
    if (++values_ > limits_.max_values)
      return make_error(ErrorCode::kLimitExceeded, "JSON: more than %zu values (at byte %zu)", limits_.max_values,
                        pos_);
    return Status();
  }

  Status parse_value(JsonValue* out, int depth) {
    RSFIQA_RETURN_IF_ERROR(count_value());
    if (pos_ >= n_) return error_here("expected a value");
    out->offset_ = pos_;
    const uint8_t c = s_[pos_];
    switch (c) {
      case '{': return parse_object(out, depth + 1);
      case '[': return parse_array(out, depth + 1);
      case '"': out->type_ = JsonType::kString; return parse_string(&out->str_);
      case 't': return parse_literal(out, "true", JsonType::kBool, true);
      case 'f': return parse_literal(out, "false", JsonType::kBool, false);
      case 'n': return parse_literal(out, "null", JsonType::kNull, false);
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number(out);
        return error_here("expected a value");
    }
  }

  Status parse_literal(JsonValue* out, const char* word, JsonType t, bool b) {
    const size_t len = std::strlen(word);
    if (n_ - pos_ < len || std::memcmp(s_ + pos_, word, len) != 0) return error_here("invalid literal");
    pos_ += len;
    out->type_ = t;
    out->bool_ = b;
    return Status();
  }

  Status parse_number(JsonValue* out) {
    const size_t start = pos_;
    bool neg = false, integral = true;
    if (s_[pos_] == '-') {
      neg = true;
      ++pos_;
    }
    if (pos_ >= n_ || s_[pos_] < '0' || s_[pos_] > '9') return error_here("expected a digit");
    if (s_[pos_] == '0') {
      ++pos_;
      if (pos_ < n_ && s_[pos_] >= '0' && s_[pos_] <= '9') return error_at(pos_ - 1, "leading zero in a number");
    } else {
      while (pos_ < n_ && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    }
    if (pos_ < n_ && s_[pos_] == '.') {
      integral = false;
      ++pos_;
      if (pos_ >= n_ || s_[pos_] < '0' || s_[pos_] > '9') return error_here("expected a digit after '.'");
      while (pos_ < n_ && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    }
    if (pos_ < n_ && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      integral = false;
      ++pos_;
      if (pos_ < n_ && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (pos_ >= n_ || s_[pos_] < '0' || s_[pos_] > '9') return error_here("expected a digit in the exponent");
      while (pos_ < n_ && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    }
    out->type_ = JsonType::kNumber;
    const char* b = reinterpret_cast<const char*>(s_ + start);
    const char* e = reinterpret_cast<const char*>(s_ + pos_);
    // Exact integer path: accumulate digits with overflow checks.
    if (integral) {
      uint64_t mag = 0;
      bool fits = true;
      for (const char* p = b + (neg ? 1 : 0); p < e; ++p) {
        const uint64_t d = (uint64_t)(*p - '0');
        if (mag > (UINT64_MAX - d) / 10) {
          fits = false;
          break;
        }
        mag = mag * 10 + d;
      }
      const uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
      if (fits && mag <= lim) {
        out->has_int_ = true;
        out->int_ = neg ? (mag == lim ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
      }
    }
    out->num_ = to_double(b, e);
    if (!std::isfinite(out->num_)) return error_at(start, "number out of the range of a double");
    // "2.0" or "1e3" are integral too when exactly representable.
    if (!out->has_int_ && std::fabs(out->num_) <= 9007199254740992.0 && std::floor(out->num_) == out->num_) {
      out->has_int_ = true;
      out->int_ = (int64_t)out->num_;
    }
    return Status();
  }

  static double to_double(const char* b, const char* e) {
#if defined(__cpp_lib_to_chars) && __cpp_lib_to_chars >= 201611L
    double v = 0;
    auto r = std::from_chars(b, e, v);
    if (r.ec == std::errc()) return v;
    // Out of range: strtod gives 0 for underflow and HUGE_VAL for overflow.
    std::string tmp(b, e);
    return std::strtod(tmp.c_str(), nullptr);
#else
    // Locale-independent enough for JSON's grammar in the "C" locale.
    std::string tmp(b, e);
    return std::strtod(tmp.c_str(), nullptr);
#endif
  }

  static int hex_value(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  Status read_hex4(uint32_t* v) {
    if (n_ - pos_ < 4) return error_here("truncated \\u escape");
    uint32_t r = 0;
    for (int k = 0; k < 4; ++k) {
      const int h = hex_value(s_[pos_ + k]);
      if (h < 0) return error_at(pos_ + k, "invalid hex digit in a \\u escape");
      r = (r << 4) | (uint32_t)h;
    }
    pos_ += 4;
    *v = r;
    return Status();
  }

  // At an opening quote; leaves pos_ after the closing quote.
  Status parse_string(std::string* out) {
    const size_t start = pos_;
    ++pos_;
    out->clear();
    for (;;) {
      if (pos_ >= n_) return error_at(start, "unterminated string starting");
      const uint8_t c = s_[pos_];
      if (c == '"') {
        ++pos_;
        return Status();
      }
      if (c < 0x20) return error_here("unescaped control character in a string");
      if (c == '\\') {
        if (pos_ + 1 >= n_) return error_at(start, "unterminated string starting");
        const uint8_t e = s_[pos_ + 1];
        pos_ += 2;
        switch (e) {
          case '"': out->push_back('"'); break;
          case '\\': out->push_back('\\'); break;
          case '/': out->push_back('/'); break;
          case 'b': out->push_back('\b'); break;
          case 'f': out->push_back('\f'); break;
          case 'n': out->push_back('\n'); break;
          case 'r': out->push_back('\r'); break;
          case 't': out->push_back('\t'); break;
          case 'u': {
            const size_t esc = pos_ - 2;
            uint32_t cp = 0;
            RSFIQA_RETURN_IF_ERROR(read_hex4(&cp));
            if (cp >= 0xdc00 && cp <= 0xdfff) return error_at(esc, "lone low surrogate escape");
            if (cp >= 0xd800 && cp <= 0xdbff) {
              if (n_ - pos_ < 2 || s_[pos_] != '\\' || s_[pos_ + 1] != 'u')
                return error_at(esc, "high surrogate escape without a low surrogate");
              pos_ += 2;
              uint32_t lo = 0;
              RSFIQA_RETURN_IF_ERROR(read_hex4(&lo));
              if (lo < 0xdc00 || lo > 0xdfff) return error_at(esc, "high surrogate escape without a low surrogate");
              cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            detail::utf8_append(out, cp);
            break;
          }
          default: return error_at(pos_ - 2, "invalid escape in a string");
        }
        continue;
      }
      if (c < 0x80) {
        out->push_back((char)c);
        ++pos_;
        continue;
      }
      uint32_t cp;
      const int len = detail::utf8_decode(s_, pos_, n_, &cp);
      if (len == 0) return error_here("invalid UTF-8 in a string");
      out->append(reinterpret_cast<const char*>(s_ + pos_), (size_t)len);
      pos_ += (size_t)len;
    }
  }

  Status check_depth(int depth) {
    if (depth > limits_.max_depth)
      return make_error(ErrorCode::kLimitExceeded, "JSON: nesting deeper than %d levels at byte %zu", limits_.max_depth,
                        pos_);
    return Status();
  }

  Status parse_array(JsonValue* out, int depth) {
    RSFIQA_RETURN_IF_ERROR(check_depth(depth));
    out->type_ = JsonType::kArray;
    ++pos_;
    skip_ws();
    if (pos_ < n_ && s_[pos_] == ']') {
      ++pos_;
      return Status();
    }
    for (;;) {
      skip_ws();
      out->items_.emplace_back();
      RSFIQA_RETURN_IF_ERROR(parse_value(&out->items_.back(), depth));
      skip_ws();
      if (pos_ < n_ && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < n_ && s_[pos_] == ']') {
        ++pos_;
        return Status();
      }
      return error_here("expected ',' or ']' in an array");
    }
  }

  Status parse_object(JsonValue* out, int depth) {
    RSFIQA_RETURN_IF_ERROR(check_depth(depth));
    out->type_ = JsonType::kObject;
    ++pos_;
    skip_ws();
    if (pos_ < n_ && s_[pos_] == '}') {
      ++pos_;
      return Status();
    }
    std::vector<size_t> key_offsets;
    for (;;) {
      skip_ws();
      if (pos_ >= n_ || s_[pos_] != '"') return error_here("expected a string key in an object");
      key_offsets.push_back(pos_);
      out->keys_.emplace_back();
      RSFIQA_RETURN_IF_ERROR(parse_string(&out->keys_.back()));
      skip_ws();
      if (pos_ >= n_ || s_[pos_] != ':') return error_here("expected ':' after an object key");
      ++pos_;
      skip_ws();
      out->items_.emplace_back();
      RSFIQA_RETURN_IF_ERROR(parse_value(&out->items_.back(), depth));
      skip_ws();
      if (pos_ < n_ && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < n_ && s_[pos_] == '}') {
        ++pos_;
        break;
      }
      return error_here("expected ',' or '}' in an object");
    }
    return check_duplicates(*out, key_offsets);
  }

  // Sorts member indices by key and compares neighbours: O(n log n) even for
  // headers with many thousands of tensors. Reports the later occurrence.
  Status check_duplicates(const JsonValue& obj, const std::vector<size_t>& key_offsets) {
    const std::vector<std::string>& keys = obj.keys_;
    if (keys.size() < 2) return Status();
    std::vector<uint32_t> idx(keys.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = (uint32_t)i;
    std::sort(idx.begin(), idx.end(), [&](uint32_t a, uint32_t b) {
      const int c = keys[a].compare(keys[b]);
      return c < 0 || (c == 0 && a < b);
    });
    for (size_t i = 1; i < idx.size(); ++i) {
      if (keys[idx[i]] == keys[idx[i - 1]]) {
        return make_error(ErrorCode::kDuplicate, "JSON: duplicate key '%.200s' at byte %zu", keys[idx[i]].c_str(),
                          key_offsets[idx[i]]);
      }
    }
    return Status();
  }

  const uint8_t* s_;
  size_t n_;
  JsonLimits limits_;
  size_t pos_ = 0;
  size_t values_ = 0;
};

// Parses a complete JSON document.
inline Result<JsonValue> parse_json(const char* data, size_t size, const JsonLimits& limits = JsonLimits()) {
  if (size > 0 && data == nullptr) return make_error(ErrorCode::kInvalidArgument, "JSON: null data");
  JsonParser p(data, size, limits);
  return p.parse();
}
inline Result<JsonValue> parse_json(const std::string& text, const JsonLimits& limits = JsonLimits()) {
  return parse_json(text.data(), text.size(), limits);
}

// ---------------------------------------------------------------- writing

// Appends `s` as a quoted JSON string. Control characters, quotes and
// backslashes are escaped; invalid UTF-8 bytes become U+FFFD.
inline void json_append_string(std::string* out, const std::string& s) {
  static const char kHex[] = "0123456789abcdef";
  out->push_back('"');
  const uint8_t* p = reinterpret_cast<const uint8_t*>(s.data());
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t c = p[i];
    if (c < 0x80) {
      switch (c) {
        case '"': *out += "\\\""; break;
        case '\\': *out += "\\\\"; break;
        case '\n': *out += "\\n"; break;
        case '\r': *out += "\\r"; break;
        case '\t': *out += "\\t"; break;
        case '\b': *out += "\\b"; break;
        case '\f': *out += "\\f"; break;
        default:
          if (c < 0x20) {
            *out += "\\u00";
            out->push_back(kHex[c >> 4]);
            out->push_back(kHex[c & 15]);
          } else {
            out->push_back((char)c);
          }
      }
      ++i;
      continue;
    }
    uint32_t cp;
    const int len = detail::utf8_decode(p, i, s.size(), &cp);
    if (len == 0) {
      *out += "\xef\xbf\xbd";
      ++i;
    } else {
      out->append(s, i, (size_t)len);
      i += (size_t)len;
    }
  }
  out->push_back('"');
}

inline std::string json_quote(const std::string& s) {
  std::string out;
  json_append_string(&out, s);
  return out;
}

// Shortest decimal text that reads back to exactly `v`; "null" for NaN and
// infinities, which JSON cannot represent.
inline std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
#if defined(__cpp_lib_to_chars) && __cpp_lib_to_chars >= 201611L
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
#else
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
#endif
}

// Builds a JSON document incrementally with commas and (optional) indentation
// handled for the caller:
//   JsonWriter w(2);
//   w.begin_object().key("score").value(3.5).key("tags").begin_array().value("a").end_array().end_object();
//   w.str();  // {"score": 3.5, "tags": ["a"]} (pretty-printed)
// Misuse (a value where a key is expected, unbalanced ends) is recorded and
// reported by status(); the text is then not valid JSON.
class JsonWriter {
 public:
  explicit JsonWriter(int indent = 0) : indent_(indent) {}

  JsonWriter& begin_object() { return open('{', true); }
  JsonWriter& end_object() { return close('}', true); }
  JsonWriter& begin_array() { return open('[', false); }
  JsonWriter& end_array() { return close(']', false); }

  JsonWriter& key(const std::string& k) {
    if (stack_.empty() || !stack_.back().is_object || have_key_) return fail("key outside an object or after a key");
    separator();
    json_append_string(&out_, k);
    out_ += indent_ > 0 ? ": " : ":";
    have_key_ = true;
    return *this;
  }
  JsonWriter& value(const std::string& s) {
    if (!before_value()) return *this;
    json_append_string(&out_, s);
    return *this;
  }
  JsonWriter& value(const char* s) { return value(std::string(s ? s : "")); }
  JsonWriter& value(double v) { return raw_value(json_number(v)); }
  JsonWriter& value(float v) { return raw_value(json_number((double)v)); }
  JsonWriter& value(int64_t v) { return raw_value(std::to_string((long long)v)); }
  JsonWriter& value(uint64_t v) { return raw_value(std::to_string((unsigned long long)v)); }
  JsonWriter& value(int v) { return value((int64_t)v); }
  JsonWriter& value(unsigned v) { return value((uint64_t)v); }
  JsonWriter& value(bool b) { return raw_value(b ? "true" : "false"); }
  JsonWriter& null_value() { return raw_value("null"); }

  const std::string& str() const { return out_; }
  // Ok when the document is complete and every call was legal.
  Status status() const {
    if (!error_.empty()) return Status(ErrorCode::kInvalidArgument, "JsonWriter: " + error_);
    if (!stack_.empty()) return Status(ErrorCode::kInvalidArgument, "JsonWriter: unclosed array or object");
    if (!done_) return Status(ErrorCode::kInvalidArgument, "JsonWriter: empty document");
    return Status();
  }

 private:
  struct Level {
    bool is_object;
    size_t count;
  };

  JsonWriter& fail(const char* what) {
    if (error_.empty()) error_ = what;
    return *this;
  }
  void newline() {
    if (indent_ <= 0) return;
    out_.push_back('\n');
    out_.append(stack_.size() * (size_t)indent_, ' ');
  }
  // Comma + newline before an array element or an object key.
  void separator() {
    Level& l = stack_.back();
    if (l.count++ > 0) out_.push_back(',');
    newline();
  }
  bool before_value() {
    if (stack_.empty()) {
      if (done_) {
        fail("second top-level value");
        return false;
      }
      done_ = true;
      return true;
    }
    if (stack_.back().is_object) {
      if (!have_key_) {
        fail("value in an object without a key");
        return false;
      }
      have_key_ = false;
      return true;
    }
    separator();
    return true;
  }
  JsonWriter& raw_value(const std::string& text) {
    if (before_value()) out_ += text;
    return *this;
  }
  JsonWriter& open(char c, bool is_object) {
    if (!before_value()) return *this;
    out_.push_back(c);
    stack_.push_back({is_object, 0});
    return *this;
  }
  JsonWriter& close(char c, bool is_object) {
    if (stack_.empty() || stack_.back().is_object != is_object || have_key_) return fail("unbalanced end");
    const bool had_items = stack_.back().count > 0;
    stack_.pop_back();
    if (had_items) newline();
    out_.push_back(c);
    return *this;
  }

  int indent_;
  std::string out_;
  std::vector<Level> stack_;
  bool have_key_ = false;
  bool done_ = false;
  std::string error_;
};

}  // namespace rsfiqa::io

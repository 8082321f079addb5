// SPDX-License-Identifier: MIT
// Fuzz entry for the JSON parser (io/json.hpp). Accepted documents are
// written back with json_quote/json_number and parsed again; the second parse
// must succeed and give the same tree (types, keys, strings, integers). Shared
// by tests/fuzz/fuzz_json.cpp and tests/io/test_fuzz_regressions.cpp. Returns
// nullptr, or the text of a broken invariant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "rsfiqa/io/json.hpp"

namespace rsfiqa::fuzz {

namespace detail {

inline void json_write_back(const io::JsonValue& v, std::string* out) {
  switch (v.type()) {
    case io::JsonType::kNull: *out += "null"; break;
    case io::JsonType::kBool: *out += v.as_bool() ? "true" : "false"; break;
    case io::JsonType::kNumber: *out += v.is_int() ? std::to_string(v.as_int()) : io::json_number(v.as_double()); break;
    case io::JsonType::kString: *out += io::json_quote(v.as_string()); break;
    case io::JsonType::kArray:
      *out += '[';
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) *out += ',';
        json_write_back(v[i], out);
      }
      *out += ']';
      break;
    case io::JsonType::kObject:
      *out += '{';
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) *out += ',';
        *out += io::json_quote(v.keys()[i]);
        *out += ':';
        json_write_back(v[i], out);
      }
      *out += '}';
      break;
  }
}

// Same shape, keys, strings and integers (non-integer numbers may print
// differently and are compared by type only).
inline bool json_same(const io::JsonValue& a, const io::JsonValue& b) {
  if (a.type() != b.type() || a.size() != b.size()) return false;
  if (a.is_string() && a.as_string() != b.as_string()) return false;
  if (a.is_bool() && a.as_bool() != b.as_bool()) return false;
  if (a.is_int() && (!b.is_int() || a.as_int() != b.as_int())) return false;
  if (a.is_object() && a.keys() != b.keys()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!json_same(a[i], b[i])) return false;
  return true;
}

}  // namespace detail

inline const char* fuzz_json(const uint8_t* data, size_t size) {
  Result<io::JsonValue> v = io::parse_json(reinterpret_cast<const char*>(data), size);
  if (!v.ok()) return v.status().message().empty() ? "JSON: error without a message" : nullptr;
  std::string text;
  detail::json_write_back(*v, &text);
  Result<io::JsonValue> again = io::parse_json(text);
  if (!again.ok()) return "JSON: a written-back document does not parse";
  if (!detail::json_same(*v, *again)) return "JSON: the written-back document parses to a different tree";
  return nullptr;
}

}  // namespace rsfiqa::fuzz

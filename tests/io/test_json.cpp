// SPDX-License-Identifier: MIT
// Tests of io/json.hpp: the strict reader (grammar, UTF-8, duplicates,
// limits, byte offsets in errors, exact integers) and the writer (escaping,
// number round trips, structure), plus writer -> reader round trips.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>

#include "rsfiqa/io/json.hpp"

using rsfiqa::ErrorCode;
using rsfiqa::io::JsonLimits;
using rsfiqa::io::JsonType;
using rsfiqa::io::parse_json;

TEST_CASE("json: valid documents parse with the right types and values") {
  auto r = parse_json(R"( {"a": [1, -2, 3.5, 1e3, true, false, null], "b": {"c": "x\u00e9\ud83d\ude00\n"}, "": 0} )");
  REQUIRE(r.ok());
  const auto& v = *r;
  REQUIRE(v.is_object());
  REQUIRE(v.size() == 3);
  CHECK(v.keys()[0] == "a");
  CHECK(v.keys()[2] == "");
  const auto* a = v.find("a");
  REQUIRE(a);
  REQUIRE(a->is_array());
  REQUIRE(a->size() == 7);
  CHECK((*a)[0].as_int() == 1);
  CHECK((*a)[1].as_int() == -2);
  CHECK(!(*a)[2].is_int());
  CHECK((*a)[2].as_double() == 3.5);
  CHECK((*a)[3].is_int());
  CHECK((*a)[3].as_int() == 1000);
  CHECK((*a)[4].as_bool());
  CHECK((*a)[5].is_bool());
  CHECK(!(*a)[5].as_bool());
  CHECK((*a)[6].is_null());
  CHECK(v.find("b")->find("c")->as_string() == "x\xc3\xa9\xf0\x9f\x98\x80\n");
  CHECK(v.find("zz") == nullptr);
  CHECK(a->offset() == 7);
}

TEST_CASE("json: integers stay exact up to int64 limits") {
  auto r = parse_json(
      "[9223372036854775807, -9223372036854775808, 9223372036854775808, 18446744073709551616, 123456789012345678]");
  REQUIRE(r.ok());
  CHECK((*r)[0].as_int() == INT64_MAX);
  CHECK((*r)[1].as_int() == INT64_MIN);
  CHECK(!(*r)[2].is_int());
  CHECK(!(*r)[3].is_int());
  CHECK((*r)[3].as_double() == 18446744073709551616.0);
  CHECK((*r)[4].as_int() == 123456789012345678LL);
  auto u = parse_json("[1e-400, 2.0]");
  REQUIRE(u.ok());
  CHECK((*u)[0].as_double() == 0.0);
  CHECK((*u)[1].as_int() == 2);
}

struct BadJson {
  const char* name;
  std::string text;
  ErrorCode code;
  const char* substring;
};

TEST_CASE("json: malformed documents give a specific code and a byte offset") {
  const BadJson cases[] = {
      {"empty", "", ErrorCode::kMalformed, "expected a value"},
      {"trailing comma array", "[1,]", ErrorCode::kMalformed, "byte 3"},
      {"trailing comma object", "{\"a\":1,}", ErrorCode::kMalformed, "expected a string key"},
      {"duplicate key", "{\"a\":1, \"b\":2, \"a\":3}", ErrorCode::kDuplicate, "duplicate key 'a' at byte 15"},
      {"leading zero", "[01]", ErrorCode::kMalformed, "leading zero"},
      {"bare dot", "[1.]", ErrorCode::kMalformed, "after '.'"},
      {"plus sign", "[+1]", ErrorCode::kMalformed, "expected a value"},
      {"nan literal", "[NaN]", ErrorCode::kMalformed, "expected a value"},
      {"huge number", "[1e400]", ErrorCode::kMalformed, "out of the range"},
      {"single quotes", "{'a':1}", ErrorCode::kMalformed, "expected a string key"},
      {"unterminated string", "[\"abc", ErrorCode::kMalformed, "unterminated string"},
      {"control char", std::string("[\"a\x01\"]"), ErrorCode::kMalformed, "control character"},
      {"bad escape", "[\"\\x\"]", ErrorCode::kMalformed, "invalid escape"},
      {"bad hex", "[\"\\u12G4\"]", ErrorCode::kMalformed, "invalid hex digit"},
      {"lone low surrogate", "[\"\\udc00\"]", ErrorCode::kMalformed, "lone low surrogate"},
      {"lone high surrogate", "[\"\\ud800x\"]", ErrorCode::kMalformed, "without a low surrogate"},
      {"overlong utf8", std::string("[\"\xc0\xaf\"]"), ErrorCode::kMalformed, "invalid UTF-8 in a string at byte 2"},
      {"utf8 surrogate", std::string("[\"\xed\xa0\x80\"]"), ErrorCode::kMalformed, "invalid UTF-8"},
      {"utf8 above max", std::string("[\"\xf4\x90\x80\x80\"]"), ErrorCode::kMalformed, "invalid UTF-8"},
      {"truncated utf8", std::string("[\"\xe2\x82\"]"), ErrorCode::kMalformed, "invalid UTF-8"},
      {"stray continuation", std::string("[\"\x80\"]"), ErrorCode::kMalformed, "invalid UTF-8"},
      {"bom", std::string("\xef\xbb\xbf{}"), ErrorCode::kMalformed, "byte-order mark"},
      {"data after value", "{} x", ErrorCode::kMalformed, "after the top-level value at byte 3"},
      {"missing colon", "{\"a\" 1}", ErrorCode::kMalformed, "expected ':'"},
      {"missing bracket", "[1, 2", ErrorCode::kMalformed, "expected ',' or ']'"},
      {"bad literal", "[tru]", ErrorCode::kMalformed, "invalid literal"},
      {"deep nesting", std::string(100, '[') + std::string(100, ']'), ErrorCode::kLimitExceeded, "nesting deeper"},
  };
  for (const auto& c : cases) {
    const std::string name = c.name;
    CAPTURE(name);
    auto r = parse_json(c.text);
    REQUIRE(!r.ok());
    CHECK(r.status().code() == c.code);
    CHECK_MESSAGE(r.status().message().find(c.substring) != std::string::npos, r.status().message());
  }
}

TEST_CASE("json: size and value-count limits") {
  JsonLimits lim;
  lim.max_bytes = 10;
  auto r = parse_json("[1,2,3,4,5,6]", lim);
  REQUIRE(!r.ok());
  CHECK(r.status().code() == ErrorCode::kLimitExceeded);
  lim = JsonLimits();
  lim.max_values = 4;
  r = parse_json("[1,2,3,4]", lim);
  REQUIRE(!r.ok());
  CHECK(r.status().code() == ErrorCode::kLimitExceeded);
  CHECK(parse_json("[1,2,3]", lim).ok());
  lim = JsonLimits();
  lim.max_depth = 3;
  CHECK(parse_json("[[[1]]]", lim).ok());
  CHECK(parse_json("[[[[1]]]]", lim).status().code() == ErrorCode::kLimitExceeded);
}

TEST_CASE("json: truncating a valid document anywhere gives a clean error") {
  const std::string doc =
      R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"s":"\u00e9\ud83d\ude00 x","n":-1.5e-3})";
  REQUIRE(parse_json(doc).ok());
  for (size_t n = 0; n < doc.size(); ++n) {
    CAPTURE(n);
    auto r = parse_json(doc.data(), n);
    CHECK(!r.ok());
    CHECK(r.status().code() == ErrorCode::kMalformed);
  }
}

TEST_CASE("json: writer escapes, formats numbers and round-trips through the reader") {
  rsfiqa::io::JsonWriter w(2);
  const std::string tricky = std::string("q\"b\\n\n\t\x01 \xc3\xa9 bad:\xff end");
  w.begin_object()
      .key("s")
      .value(tricky)
      .key("pi")
      .value(3.141592653589793)
      .key("tiny")
      .value(5e-324)
      .key("big")
      .value((int64_t)INT64_MIN)
      .key("u")
      .value((uint64_t)UINT64_MAX)
      .key("nan")
      .value(std::nan(""))
      .key("f")
      .value(0.1f)
      .key("list")
      .begin_array()
      .value(true)
      .null_value()
      .begin_object()
      .end_object()
      .begin_array()
      .end_array()
      .end_array()
      .end_object();
  REQUIRE(w.status().ok());
  auto r = parse_json(w.str());
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  CHECK(r->find("s")->as_string() == std::string("q\"b\\n\n\t\x01 \xc3\xa9 bad:\xef\xbf\xbd end"));
  CHECK(r->find("pi")->as_double() == 3.141592653589793);
  CHECK(r->find("tiny")->as_double() == 5e-324);
  CHECK(r->find("big")->as_int() == INT64_MIN);
  CHECK(r->find("u")->as_double() == 18446744073709551615.0);
  CHECK(r->find("nan")->is_null());
  CHECK((float)r->find("f")->as_double() == 0.1f);
  const auto* list = r->find("list");
  REQUIRE(list->size() == 4);
  CHECK((*list)[2].is_object());
  CHECK((*list)[3].is_array());
  CHECK(rsfiqa::io::json_number(0.1) == "0.1");
  CHECK(rsfiqa::io::json_quote("\x1f") == "\"\\u001f\"");

  rsfiqa::io::JsonWriter compact;
  compact.begin_object().key("a").value(1).key("b").begin_array().value(2).value("x").end_array().end_object();
  CHECK(compact.str() == "{\"a\":1,\"b\":[2,\"x\"]}");
  CHECK(compact.status().ok());
}

TEST_CASE("json: writer misuse is reported") {
  rsfiqa::io::JsonWriter a;
  a.begin_object().value(1).end_object();
  CHECK(!a.status().ok());
  rsfiqa::io::JsonWriter b;
  b.begin_array().value(1);
  CHECK(!b.status().ok());
  rsfiqa::io::JsonWriter c;
  c.begin_array().end_object();
  CHECK(!c.status().ok());
  rsfiqa::io::JsonWriter d;
  CHECK(!d.status().ok());
}

TEST_CASE("json: utf8_valid") {
  size_t bad = 0;
  CHECK(rsfiqa::io::utf8_valid("abc\xc3\xa9", 5));
  CHECK(!rsfiqa::io::utf8_valid("ab\xc3", 3, &bad));
  CHECK(bad == 2);
}

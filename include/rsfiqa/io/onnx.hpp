// SPDX-License-Identifier: MIT
// A small, bounds-checked reader for ONNX model files, enough for weight
// conversion: the protobuf wire format (ProtoReader) and a read-only view of an
// ONNX ModelProto (OnnxModel) with its opsets, graph inputs/outputs,
// initializers, and nodes with their attributes (including the TensorProto
// carried by `Constant` nodes).
//
// What it does not do: it runs nothing, checks no operator semantics, does
// not read external-data tensors (kUnsupportedFormat), sparse initializers or
// sub-graphs of control-flow attributes (those are skipped and flagged), and
// it never writes ONNX. It follows onnx/onnx.proto (IR version 3 and later) and
// the protobuf encoding guide (varints, zig-zag is not used by ONNX, packed
// and unpacked repeated scalars, wire types 0/1/2/3/4/5).
//
// Format summary. A protobuf message is a sequence of fields; each field starts
// with a varint tag `(field_number << 3) | wire_type`. Wire types: 0 varint
// (up to 10 bytes, 7 bits each, low group first), 1 fixed 8 bytes, 2 a varint
// length then that many bytes (strings, bytes, sub-messages, packed repeated
// scalars), 3/4 start/end of a (deprecated) group, 5 fixed 4 bytes. Unknown
// fields are skipped. Field numbers used here:
//   ModelProto   1 ir_version, 2 producer_name, 3 producer_version, 7 graph,
//                8 opset_import (OperatorSetIdProto: 1 domain, 2 version)
//   GraphProto   1 node, 2 name, 5 initializer, 11 input, 12 output
//   NodeProto    1 input, 2 output, 3 name, 4 op_type, 5 attribute, 7 domain
//   AttributeProto 1 name, 2 f, 3 i, 4 s, 5 t, 6 g, 7 floats, 8 ints,
//                9 strings, 10 tensors, 11 graphs, 20 type
//   TensorProto  1 dims, 2 data_type, 4 float_data, 5 int32_data, 7 int64_data,
//                8 name, 9 raw_data, 10 double_data, 13 external_data,
//                14 data_location (1 = external)
//   ValueInfoProto 1 name, 2 type -> TypeProto 1 tensor_type -> 1 elem_type,
//                2 shape -> TensorShapeProto 1 dim -> 1 dim_value, 2 dim_param
//
// Zero-copy: names are copied into std::string, but `raw_data` stays a pointer
// into the caller's bytes, so the bytes (a MappedFile or a buffer) must
// outlive the OnnxModel. OnnxFile bundles both. Every length, count and offset
// read from the file is checked before use; errors carry the byte offset.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "rsfiqa/core/checked.hpp"
#include "rsfiqa/core/dtype.hpp"
#include "rsfiqa/core/status.hpp"
#include "rsfiqa/io/file.hpp"

namespace rsfiqa::io {

// ---------------------------------------------------------------------------
// Protobuf wire format
// ---------------------------------------------------------------------------

enum class WireType : int {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5,
};

// Limits on untrusted input. The defaults are far above any real ONNX model
// and far below what would exhaust memory through a forged count.
struct OnnxLimits {
  int max_depth = 32;                       // nesting of sub-messages and groups
  int64_t max_dims = 16;                    // rank of one tensor
  int64_t max_nodes = 1 << 20;              // nodes per graph
  int64_t max_initializers = 1 << 20;       // initializers per graph
  int64_t max_attributes = 1 << 12;         // attributes per node
  int64_t max_list = 1 << 24;               // elements of a repeated scalar field
  int64_t max_elements = int64_t(1) << 40;  // elements of one tensor
};

// Reads fields from a byte range [data, data+size). `base` is the absolute
// offset of data[0] in the file, used only for error messages. The reader
// never reads outside its range; every failure is a Status naming the offset.
class ProtoReader {
 public:
  ProtoReader() = default;
  ProtoReader(const uint8_t* data, size_t size, size_t base = 0) : data_(data), size_(size), base_(base) {}

  bool at_end() const { return pos_ >= size_; }
  // Absolute offset of the next unread byte.
  size_t offset() const { return base_ + pos_; }
  size_t remaining() const { return size_ - pos_; }

  // Reads a varint of at most 10 bytes whose value fits in 64 bits.
  Status read_varint(uint64_t* out) {
    const size_t start = pos_;
    uint64_t v = 0;
    for (int i = 0; i < 10; ++i) {
      if (pos_ >= size_)
        return make_error(ErrorCode::kTruncated, "varint at byte %zu runs past the end of its message (byte %zu)",
                          base_ + start, base_ + size_);
      const uint8_t b = data_[pos_++];
      // The 10th byte may only carry the single remaining bit (bit 63).
      if (i == 9 && (b & 0xFE) != 0)
        return make_error(ErrorCode::kMalformed, "varint at byte %zu overflows 64 bits", base_ + start);
      v |= uint64_t(b & 0x7F) << (7 * i);
      if ((b & 0x80) == 0) {
        *out = v;
        return Status();
      }
    }
    return make_error(ErrorCode::kMalformed, "varint at byte %zu is longer than 10 bytes", base_ + start);
  }

  Status read_fixed32(uint32_t* out) {
    if (remaining() < 4)
      return make_error(ErrorCode::kTruncated, "fixed32 at byte %zu runs past the end (byte %zu)", offset(),
                        base_ + size_);
    *out = uint32_t(data_[pos_]) | uint32_t(data_[pos_ + 1]) << 8 | uint32_t(data_[pos_ + 2]) << 16 |
           uint32_t(data_[pos_ + 3]) << 24;
    pos_ += 4;
    return Status();
  }

  Status read_fixed64(uint64_t* out) {
    uint32_t lo = 0, hi = 0;
    RSFIQA_RETURN_IF_ERROR(read_fixed32(&lo));
    RSFIQA_RETURN_IF_ERROR(read_fixed32(&hi));
    *out = uint64_t(lo) | uint64_t(hi) << 32;
    return Status();
  }

  // Reads a field tag. Field number 0 and wire types 6/7 are malformed.
  Status read_tag(uint32_t* field, WireType* wire) {
    const size_t start = offset();
    uint64_t tag = 0;
    RSFIQA_RETURN_IF_ERROR(read_varint(&tag));
    const uint64_t wt = tag & 7u;
    const uint64_t fn = tag >> 3;
    if (wt > 5) return make_error(ErrorCode::kMalformed, "invalid wire type %d at byte %zu", (int)wt, start);
    if (fn == 0 || fn > 0x1FFFFFFFu)
      return make_error(ErrorCode::kMalformed, "invalid field number %llu at byte %zu", (unsigned long long)fn, start);
    *field = (uint32_t)fn;
    *wire = (WireType)wt;
    return Status();
  }

  // Reads a length-delimited payload: a view of its bytes plus its absolute
  // offset. The length is checked against the bytes left.
  Status read_bytes(const uint8_t** p, size_t* n, size_t* abs_offset = nullptr) {
    const size_t start = offset();
    uint64_t len = 0;
    RSFIQA_RETURN_IF_ERROR(read_varint(&len));
    if (len > remaining())
      return make_error(ErrorCode::kTruncated,
                        "length-delimited field at byte %zu declares %llu bytes but only %zu remain", start,
                        (unsigned long long)len, remaining());
    *p = data_ + pos_;
    *n = (size_t)len;
    if (abs_offset) *abs_offset = offset();
    pos_ += (size_t)len;
    return Status();
  }

  Status read_string(std::string* s) {
    const uint8_t* p = nullptr;
    size_t n = 0;
    RSFIQA_RETURN_IF_ERROR(read_bytes(&p, &n));
    s->assign(reinterpret_cast<const char*>(p), n);
    return Status();
  }

  // A reader over a length-delimited sub-message.
  Status read_message(ProtoReader* sub) {
    const uint8_t* p = nullptr;
    size_t n = 0, at = 0;
    RSFIQA_RETURN_IF_ERROR(read_bytes(&p, &n, &at));
    *sub = ProtoReader(p, n, at);
    return Status();
  }

  // Skips one field's payload of any wire type. Groups are skipped up to the
  // matching end-group tag; `depth` counts the nesting left.
  Status skip(uint32_t field, WireType wire, int depth) {
    switch (wire) {
      case WireType::kVarint: {
        uint64_t v = 0;
        return read_varint(&v);
      }
      case WireType::kFixed64: {
        uint64_t v = 0;
        return read_fixed64(&v);
      }
      case WireType::kFixed32: {
        uint32_t v = 0;
        return read_fixed32(&v);
      }
      case WireType::kLengthDelimited: {
        const uint8_t* p = nullptr;
        size_t n = 0;
        return read_bytes(&p, &n);
      }
      case WireType::kStartGroup: {
        if (depth <= 0) return make_error(ErrorCode::kLimitExceeded, "groups nested too deeply at byte %zu", offset());
        for (;;) {
          if (at_end())
            return make_error(ErrorCode::kTruncated, "group of field %u is not closed before byte %zu", field,
                              offset());
          uint32_t f = 0;
          WireType w = WireType::kVarint;
          RSFIQA_RETURN_IF_ERROR(read_tag(&f, &w));
          if (w == WireType::kEndGroup) {
            if (f != field)
              return make_error(ErrorCode::kMalformed, "end-group tag for field %u closes group %u at byte %zu", f,
                                field, offset());
            return Status();
          }
          RSFIQA_RETURN_IF_ERROR(skip(f, w, depth - 1));
        }
      }
      case WireType::kEndGroup:
        return make_error(ErrorCode::kMalformed, "unexpected end-group tag for field %u before byte %zu", field,
                          offset());
    }
    return make_error(ErrorCode::kMalformed, "invalid wire type before byte %zu", offset());
  }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t pos_ = 0;
  size_t base_ = 0;
};

// ---------------------------------------------------------------------------
// ONNX model view
// ---------------------------------------------------------------------------

// TensorProto.DataType numbers.
enum class OnnxDataType : int32_t {
  kUndefined = 0,
  kFloat = 1,
  kUint8 = 2,
  kInt8 = 3,
  kUint16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kDouble = 11,
  kUint32 = 12,
  kUint64 = 13,
  kComplex64 = 14,
  kComplex128 = 15,
  kBFloat16 = 16,
};

inline const char* onnx_data_type_name(int32_t t) {
  static const char* const kNames[] = {"undefined", "float",  "uint8",     "int8",       "uint16",  "int16",
                                       "int32",     "int64",  "string",    "bool",       "float16", "double",
                                       "uint32",    "uint64", "complex64", "complex128", "bfloat16"};
  return (t >= 0 && t <= 16) ? kNames[t] : "unknown";
}

// Bytes per element in raw_data; 0 for types this reader does not decode.
inline size_t onnx_data_type_size(int32_t t) {
  switch ((OnnxDataType)t) {
    case OnnxDataType::kFloat:
    case OnnxDataType::kInt32:
    case OnnxDataType::kUint32: return 4;
    case OnnxDataType::kUint8:
    case OnnxDataType::kInt8:
    case OnnxDataType::kBool: return 1;
    case OnnxDataType::kUint16:
    case OnnxDataType::kInt16:
    case OnnxDataType::kFloat16:
    case OnnxDataType::kBFloat16: return 2;
    case OnnxDataType::kInt64:
    case OnnxDataType::kUint64:
    case OnnxDataType::kDouble: return 8;
    default: return 0;
  }
}

// One TensorProto. Exactly one data source is set: raw_data (zero-copy), or
// one of the typed repeated fields (decoded into vectors; packed float_data is
// also kept as a zero-copy byte view).
struct OnnxTensor {
  std::string name;
  std::vector<int64_t> dims;
  int32_t data_type = 0;
  const uint8_t* raw_data = nullptr;  // little-endian element bytes, or null
  size_t raw_size = 0;
  bool has_raw_data = false;
  std::vector<float> float_data;
  std::vector<int32_t> int32_data;
  std::vector<int64_t> int64_data;
  std::vector<double> double_data;
  bool external = false;  // data_location = EXTERNAL or external_data present
  size_t offset = 0;      // absolute byte offset of the TensorProto message

  // Number of elements (1 for a scalar with no dims); checked for overflow.
  Result<int64_t> numel() const {
    int64_t n = 1;
    for (int64_t d : dims) {
      if (d < 0 || !checked_mul(n, d, &n))
        return make_error(ErrorCode::kOverflow, "tensor '%s' (byte %zu) has an invalid or overflowing shape",
                          name.c_str(), offset);
    }
    return n;
  }

  // Element values converted to float (from float, float16, bfloat16,
  // double and integer tensors). Fails if the stored count differs from dims.
  Status to_f32(std::vector<float>* out) const {
    RSFIQA_ASSIGN_OR_RETURN(const int64_t n, numel());
    RSFIQA_RETURN_IF_ERROR(check_readable());
    RSFIQA_RETURN_IF_ERROR(check_stored(n));  // before the output is sized from the (untrusted) shape
    out->assign((size_t)n, 0.0f);
    float* o = out->data();
    const OnnxDataType t = (OnnxDataType)data_type;
    if (has_raw_data) {
      RSFIQA_RETURN_IF_ERROR(check_raw_size(n));
      const uint8_t* p = raw_data;
      for (int64_t i = 0; i < n; ++i) {
        switch (t) {
          case OnnxDataType::kFloat: std::memcpy(&o[i], p + 4 * i, 4); break;
          case OnnxDataType::kFloat16: o[i] = f16_to_f32(load_u16(p + 2 * i)); break;
          case OnnxDataType::kBFloat16: o[i] = bf16_to_f32(load_u16(p + 2 * i)); break;
          case OnnxDataType::kDouble: {
            double d;
            std::memcpy(&d, p + 8 * i, 8);
            o[i] = (float)d;
            break;
          }
          case OnnxDataType::kInt64: {
            int64_t v;
            std::memcpy(&v, p + 8 * i, 8);
            o[i] = (float)v;
            break;
          }
          case OnnxDataType::kInt32: {
            int32_t v;
            std::memcpy(&v, p + 4 * i, 4);
            o[i] = (float)v;
            break;
          }
          case OnnxDataType::kInt8: o[i] = (float)(int8_t)p[i]; break;
          case OnnxDataType::kUint8:
          case OnnxDataType::kBool: o[i] = (float)p[i]; break;
          default: return unsupported();
        }
      }
      return Status();
    }
    switch (t) {
      case OnnxDataType::kFloat:
        RSFIQA_RETURN_IF_ERROR(check_count(float_data.size(), n));
        for (int64_t i = 0; i < n; ++i) o[i] = float_data[(size_t)i];
        return Status();
      case OnnxDataType::kDouble:
        RSFIQA_RETURN_IF_ERROR(check_count(double_data.size(), n));
        for (int64_t i = 0; i < n; ++i) o[i] = (float)double_data[(size_t)i];
        return Status();
      case OnnxDataType::kInt64:
        RSFIQA_RETURN_IF_ERROR(check_count(int64_data.size(), n));
        for (int64_t i = 0; i < n; ++i) o[i] = (float)int64_data[(size_t)i];
        return Status();
      case OnnxDataType::kFloat16:
      case OnnxDataType::kBFloat16:
      case OnnxDataType::kInt32:
      case OnnxDataType::kInt16:
      case OnnxDataType::kInt8:
      case OnnxDataType::kUint8:
      case OnnxDataType::kUint16:
      case OnnxDataType::kBool:
        RSFIQA_RETURN_IF_ERROR(check_count(int32_data.size(), n));
        for (int64_t i = 0; i < n; ++i) {
          const int32_t v = int32_data[(size_t)i];
          o[i] = t == OnnxDataType::kFloat16    ? f16_to_f32((uint16_t)v)
                 : t == OnnxDataType::kBFloat16 ? bf16_to_f32((uint16_t)v)
                                                : (float)v;
        }
        return Status();
      default: return unsupported();
    }
  }

  // Element values of an integer tensor (int64, int32, int16, int8, uint8,
  // bool) as int64.
  Status to_i64(std::vector<int64_t>* out) const {
    RSFIQA_ASSIGN_OR_RETURN(const int64_t n, numel());
    RSFIQA_RETURN_IF_ERROR(check_readable());
    RSFIQA_RETURN_IF_ERROR(check_stored(n));  // before the output is sized from the (untrusted) shape
    out->assign((size_t)n, 0);
    const OnnxDataType t = (OnnxDataType)data_type;
    if (has_raw_data) {
      RSFIQA_RETURN_IF_ERROR(check_raw_size(n));
      for (int64_t i = 0; i < n; ++i) {
        const uint8_t* p = raw_data;
        switch (t) {
          case OnnxDataType::kInt64: std::memcpy(&(*out)[(size_t)i], p + 8 * i, 8); break;
          case OnnxDataType::kInt32: {
            int32_t v;
            std::memcpy(&v, p + 4 * i, 4);
            (*out)[(size_t)i] = v;
            break;
          }
          case OnnxDataType::kInt16: {
            int16_t v;
            std::memcpy(&v, p + 2 * i, 2);
            (*out)[(size_t)i] = v;
            break;
          }
          case OnnxDataType::kInt8: (*out)[(size_t)i] = (int8_t)p[i]; break;
          case OnnxDataType::kUint8:
          case OnnxDataType::kBool: (*out)[(size_t)i] = p[i]; break;
          default: return unsupported();
        }
      }
      return Status();
    }
    if (t == OnnxDataType::kInt64) {
      RSFIQA_RETURN_IF_ERROR(check_count(int64_data.size(), n));
      *out = int64_data;
      return Status();
    }
    if (t == OnnxDataType::kInt32 || t == OnnxDataType::kInt16 || t == OnnxDataType::kInt8 ||
        t == OnnxDataType::kUint8 || t == OnnxDataType::kBool) {
      RSFIQA_RETURN_IF_ERROR(check_count(int32_data.size(), n));
      for (int64_t i = 0; i < n; ++i) (*out)[(size_t)i] = int32_data[(size_t)i];
      return Status();
    }
    return unsupported();
  }

 private:
  static uint16_t load_u16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }
  Status check_readable() const {
    if (external)
      return make_error(ErrorCode::kUnsupportedFormat,
                        "tensor '%s' (byte %zu) stores its data in an external file, which this reader does not load",
                        name.c_str(), offset);
    return Status();
  }
  Status check_raw_size(int64_t n) const {
    const size_t es = onnx_data_type_size(data_type);
    if (es == 0) return unsupported();
    uint64_t need = 0;
    if (!checked_mul_u64((uint64_t)n, es, &need) || need != raw_size)
      return make_error(ErrorCode::kMalformed, "tensor '%s' (byte %zu): raw_data has %zu bytes, shape needs %lld x %zu",
                        name.c_str(), offset, raw_size, (long long)n, es);
    return Status();
  }
  // The values actually stored (raw bytes or the typed field that the data
  // type uses) must number exactly n: a hostile shape cannot make us allocate
  // more than the file holds.
  Status check_stored(int64_t n) const {
    if (has_raw_data) return check_raw_size(n);
    switch ((OnnxDataType)data_type) {
      case OnnxDataType::kFloat: return check_count(float_data.size(), n);
      case OnnxDataType::kDouble: return check_count(double_data.size(), n);
      case OnnxDataType::kInt64: return check_count(int64_data.size(), n);
      case OnnxDataType::kFloat16:
      case OnnxDataType::kBFloat16:
      case OnnxDataType::kInt32:
      case OnnxDataType::kInt16:
      case OnnxDataType::kInt8:
      case OnnxDataType::kUint8:
      case OnnxDataType::kUint16:
      case OnnxDataType::kBool: return check_count(int32_data.size(), n);
      default: return unsupported();
    }
  }
  Status check_count(size_t have, int64_t n) const {
    if ((int64_t)have != n)
      return make_error(ErrorCode::kMalformed, "tensor '%s' (byte %zu) stores %zu values, its shape has %lld",
                        name.c_str(), offset, have, (long long)n);
    return Status();
  }
  Status unsupported() const {
    return make_error(ErrorCode::kUnsupportedType, "tensor '%s' (byte %zu) has data type %s (%d), not convertible here",
                      name.c_str(), offset, onnx_data_type_name(data_type), (int)data_type);
  }
};

// AttributeProto.AttributeType numbers.
enum class OnnxAttributeType : int32_t {
  kUndefined = 0,
  kFloat = 1,
  kInt = 2,
  kString = 3,
  kTensor = 4,
  kGraph = 5,
  kFloats = 6,
  kInts = 7,
  kStrings = 8,
  kTensors = 9,
  kGraphs = 10,
  kSparseTensor = 11,
  kSparseTensors = 12,
  kTypeProto = 13,
  kTypeProtos = 14,
};

struct OnnxAttribute {
  std::string name;
  int32_t type = 0;  // OnnxAttributeType
  float f = 0.0f;
  int64_t i = 0;
  std::string s;
  bool has_t = false;
  OnnxTensor t;  // `value` of a Constant node, among others
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  std::vector<OnnxTensor> tensors;
  bool has_graph = false;  // g / graphs / sparse tensors were present and skipped
};

struct OnnxNode {
  std::string name;
  std::string op_type;
  std::string domain;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::vector<OnnxAttribute> attributes;
  size_t offset = 0;  // absolute byte offset of the NodeProto message

  const OnnxAttribute* find_attribute(const std::string& attr_name) const {
    for (const auto& a : attributes)
      if (a.name == attr_name) return &a;
    return nullptr;
  }
};

// A graph input or output: name, element type and shape; a symbolic
// dimension (dim_param) or a missing one reads as -1 with its name kept.
struct OnnxValueInfo {
  std::string name;
  int32_t elem_type = 0;
  bool has_shape = false;
  std::vector<int64_t> dims;
  std::vector<std::string> dim_params;  // same length as dims; "" when numeric
};

struct OnnxOpset {
  std::string domain;  // "" is the default ONNX domain
  int64_t version = 0;
};

struct OnnxModel {
  int64_t ir_version = 0;
  std::string producer_name;
  std::string producer_version;
  std::vector<OnnxOpset> opsets;
  std::string graph_name;
  std::vector<OnnxValueInfo> inputs;
  std::vector<OnnxValueInfo> outputs;
  std::vector<OnnxTensor> initializers;
  std::vector<OnnxNode> nodes;
  int64_t sparse_initializers = 0;  // counted, not read

  // Version of the default ("" or "ai.onnx") opset, or 0 if none.
  int64_t opset() const {
    for (const auto& o : opsets)
      if (o.domain.empty() || o.domain == "ai.onnx") return o.version;
    return 0;
  }
  const OnnxTensor* find_initializer(const std::string& n) const {
    for (const auto& t : initializers)
      if (t.name == n) return &t;
    return nullptr;
  }
};

namespace detail {

// Parses one packed or unpacked element of a repeated scalar field into `out`,
// which may hold at most `limit` elements. `Kind` 0: varint as int64,
// 1: fixed32 float, 2: fixed64 double.
template <typename T, int Kind>
inline Status onnx_read_repeated(ProtoReader& r, WireType w, std::vector<T>* out, int64_t limit, const char* what) {
  auto read_one = [&](ProtoReader& rr) -> Status {
    if ((int64_t)out->size() >= limit)
      return make_error(ErrorCode::kLimitExceeded, "%s at byte %zu has more than %lld elements", what, rr.offset(),
                        (long long)limit);
    if (Kind == 0) {
      uint64_t v = 0;
      RSFIQA_RETURN_IF_ERROR(rr.read_varint(&v));
      out->push_back((T)(int64_t)v);
    } else if (Kind == 1) {
      uint32_t v = 0;
      RSFIQA_RETURN_IF_ERROR(rr.read_fixed32(&v));
      float f;
      std::memcpy(&f, &v, 4);
      out->push_back((T)f);
    } else {
      uint64_t v = 0;
      RSFIQA_RETURN_IF_ERROR(rr.read_fixed64(&v));
      double d;
      std::memcpy(&d, &v, 8);
      out->push_back((T)d);
    }
    return Status();
  };
  const WireType scalar_wire = Kind == 0 ? WireType::kVarint : Kind == 1 ? WireType::kFixed32 : WireType::kFixed64;
  if (w == WireType::kLengthDelimited) {
    ProtoReader sub;
    RSFIQA_RETURN_IF_ERROR(r.read_message(&sub));
    // Fixed-size elements: the byte count gives the exact element count.
    // Varints: at least one byte each, so the bytes bound the count. Never
    // reserve more than the limit allows.
    const size_t per = Kind == 0 ? 1 : Kind == 1 ? 4 : 8;
    if (Kind != 0 && sub.remaining() % per != 0)
      return make_error(ErrorCode::kMalformed, "packed %s at byte %zu has %zu bytes, not a multiple of %zu", what,
                        sub.offset(), sub.remaining(), per);
    const size_t bound = sub.remaining() / per;
    if (Kind != 0 && (int64_t)(out->size() + bound) > limit)
      return make_error(ErrorCode::kLimitExceeded, "%s at byte %zu has more than %lld elements", what, sub.offset(),
                        (long long)limit);
    const size_t room = (int64_t)out->size() < limit ? (size_t)(limit - (int64_t)out->size()) : 0;
    out->reserve(out->size() + (bound < room ? bound : room));
    while (!sub.at_end()) RSFIQA_RETURN_IF_ERROR(read_one(sub));
    return Status();
  }
  if (w != scalar_wire)
    return make_error(ErrorCode::kMalformed, "%s before byte %zu has wire type %d, expected %d or 2", what, r.offset(),
                      (int)w, (int)scalar_wire);
  return read_one(r);
}

inline Status onnx_expect(WireType got, WireType want, const char* what, size_t at) {
  if (got != want)
    return make_error(ErrorCode::kMalformed, "field %s before byte %zu has wire type %d, expected %d", what, at,
                      (int)got, (int)want);
  return Status();
}

inline Status onnx_varint_field(ProtoReader& r, WireType w, const char* what, int64_t* out) {
  RSFIQA_RETURN_IF_ERROR(onnx_expect(w, WireType::kVarint, what, r.offset()));
  uint64_t v = 0;
  RSFIQA_RETURN_IF_ERROR(r.read_varint(&v));
  *out = (int64_t)v;
  return Status();
}

inline Status onnx_string_field(ProtoReader& r, WireType w, const char* what, std::string* out) {
  RSFIQA_RETURN_IF_ERROR(onnx_expect(w, WireType::kLengthDelimited, what, r.offset()));
  return r.read_string(out);
}

inline Status onnx_parse_tensor(ProtoReader r, const OnnxLimits& lim, OnnxTensor* t) {
  t->offset = r.offset();
  while (!r.at_end()) {
    uint32_t f = 0;
    WireType w = WireType::kVarint;
    RSFIQA_RETURN_IF_ERROR(r.read_tag(&f, &w));
    switch (f) {
      case 1:
        RSFIQA_RETURN_IF_ERROR((onnx_read_repeated<int64_t, 0>(r, w, &t->dims, lim.max_dims, "TensorProto.dims")));
        break;
      case 2: {
        int64_t v = 0;
        RSFIQA_RETURN_IF_ERROR(onnx_varint_field(r, w, "TensorProto.data_type", &v));
        t->data_type = (int32_t)v;
        break;
      }
      case 4:
        RSFIQA_RETURN_IF_ERROR((onnx_read_repeated<float, 1>(r, w, &t->float_data, lim.max_list, "float_data")));
        break;
      case 5:
        RSFIQA_RETURN_IF_ERROR((onnx_read_repeated<int32_t, 0>(r, w, &t->int32_data, lim.max_list, "int32_data")));
        break;
      case 7:
        RSFIQA_RETURN_IF_ERROR((onnx_read_repeated<int64_t, 0>(r, w, &t->int64_data, lim.max_list, "int64_data")));
        break;
      case 10:
        RSFIQA_RETURN_IF_ERROR((onnx_read_repeated<double, 2>(r, w, &t->double_data, lim.max_list, "double_data")));
        break;
      case 8: RSFIQA_RETURN_IF_ERROR(onnx_string_field(r, w, "TensorProto.name", &t->name)); break;
      case 9:
        RSFIQA_RETURN_IF_ERROR(onnx_expect(w, WireType::kLengthDelimited, "TensorProto.raw_data", r.offset()));
        RSFIQA_RETURN_IF_ERROR(r.read_bytes(&t->raw_data, &t->raw_size));
        t->has_raw_data = true;
        break;
      case 13:
        RSFIQA_RETURN_IF_ERROR(r.skip(f, w, lim.max_depth));
        t->external = true;
        break;
      case 14: {
        int64_t v = 0;
        RSFIQA_RETURN_IF_ERROR(onnx_varint_field(r, w, "TensorProto.data_location", &v));
        if (v == 1) t->external = true;
        break;
      }
      default: RSFIQA_RETURN_IF_ERROR(r.skip(f, w, lim.max_depth)); break;
    }
  }
  for (int64_t d : t->dims)
    if (d < 0)
      return make_error(ErrorCode::kMalformed, "tensor '%s' at byte %zu has a negative dimension %lld", t->name.c_str(),
                        t->offset, (long long)d);
  RSFIQA_ASSIGN_OR_RETURN(const int64_t n, t->numel());
  if (n > lim.max_elements)
    return make_error(ErrorCode::kLimitExceeded, "tensor '%s' at byte %zu has %lld elements (limit %lld)",
                      t->name.c_str(), t->offset, (long long)n, (long long)lim.max_elements);
  return Status();
}

inline Status onnx_parse_attribute(ProtoReader r, const OnnxLimits& lim, OnnxAttribute* a) {
  while (!r.at_end()) {
    uint32_t f = 0;
    WireType w = WireType::kVarint;
    RSFIQA_RETURN_IF_ERROR(r.read_tag(&f, &w));
    switch (f) {
      case 1: RSFIQA_RETURN_IF_ERROR(onnx_string_field(r, w, "AttributeProto.name", &a->name)); break;
      case 20: {
        int64_t v = 0;
        RSFIQA_RETURN_IF_ERROR(onnx_varint_field(r, w, "AttributeProto.type", &v));
        a->type = (int32_t)v;
        break;
      }
      case 2: {
        RSFIQA_RETURN_IF_ERROR(onnx_expect(w, WireType::kFixed32, "AttributeProto.f", r.offset()));
        uint32_t v = 0;
        RSFIQA_RETURN_IF_ERROR(r.read_fixed32(&v));
        std::memcpy(&a->f, &v, 4);
        break;
      }
      case 3: RSFIQA_RETURN_IF_ERROR(onnx_varint_field(r, w, "AttributeProto.i", &a->i)); break;
      case 4: RSFIQA_RETURN_IF_ERROR(onnx_string_field(r, w, "AttributeProto.s", &a->s)); break;
      case 5: {
        RSFIQA_RETURN_IF_ERROR(onnx_expect(w, WireType::kLengthDelimited, "AttributeProto.t", r.offset()));
        ProtoReader sub;
        RSFIQA_RETURN_IF_ERROR(r.read_message(&sub));
        RSFIQA_RETURN_IF_ERROR(onnx_parse_tensor(sub, lim, &a->t));
        a->has_t = true;
        break;
      }
      case 7: RSFIQA_RETURN_IF_ERROR((onnx_read_repeated<float, 1>(r, w, &a->floats, lim.max_list, "floats"))); break;
      case 8: RSFIQA_RETURN_IF_ERROR((onnx_read_repeated<int64_t, 0>(r, w, &a->ints, lim.max_list, "ints"))); break;
      case 9: {
        if ((int64_t)a->strings.size() >= lim.max_list)
          return make_error(ErrorCode::kLimitExceeded, "too many strings in attribute at byte %zu", r.offset());
        a->strings.emplace_back();
        RSFIQA_RETURN_IF_ERROR(onnx_string_field(r, w, "AttributeProto.strings", &a->strings.back()));
        break;
      }
      case 10: {
        RSFIQA_RETURN_IF_ERROR(onnx_expect(w, WireType::kLengthDelimited, "AttributeProto.tensors", r.offset()));
        if ((int64_t)a->tensors.size() >= lim.max_list)
          return make_error(ErrorCode::kLimitExceeded, "too many tensors in attribute at byte %zu", r.offset());
        ProtoReader sub;
        RSFIQA_RETURN_IF_ERROR(r.read_message(&sub));
        a->tensors.emplace_back();
        RSFIQA_RETURN_IF_ERROR(onnx_parse_tensor(sub, lim, &a->tensors.back()));
        break;
      }
      case 6:
      case 11:
      case 22:
      case 23:
        a->has_graph = true;
        RSFIQA_RETURN_IF_ERROR(r.skip(f, w, lim.max_depth));
        break;
      default: RSFIQA_RETURN_IF_ERROR(r.skip(f, w, lim.max_depth)); break;
    }
  }
  return Status();
}

inline Status onnx_parse_node(ProtoReader r, const OnnxLimits& lim, OnnxNode* n) {
  n->offset = r.offset();
  while (!r.at_end()) {
    uint32_t f = 0;
    WireType w = WireType::kVarint;
    RSFIQA_RETURN_IF_ERROR(r.read_tag(&f, &w));
    switch (f) {
      case 1:
        n->inputs.emplace_back();
        RSFIQA_RETURN_IF_ERROR(onnx_string_field(r, w, "NodeProto.input", &n->inputs.back()));
        break;
      case 2:
        n->outputs.emplace_back();
        RSFIQA_RETURN_IF_ERROR(onnx_string_field(r, w, "NodeProto.output", &n->outputs.back()));
        break;
      case 3: RSFIQA_RETURN_IF_ERROR(onnx_string_field(r, w, "NodeProto.name", &n->name)); break;
      case 4: RSFIQA_RETURN_IF_ERROR(onnx_string_field(r, w, "NodeProto.op_type", &n->op_type)); break;
      case 7: RSFIQA_RETURN_IF_ERROR(onnx_string_field(r, w, "NodeProto.domain", &n->domain)); break;
      case 5: {
        RSFIQA_RETURN_IF_ERROR(onnx_expect(w, WireType::kLengthDelimited, "NodeProto.attribute", r.offset()));
        if ((int64_t)n->attributes.size() >= lim.max_attributes)
          return make_error(ErrorCode::kLimitExceeded, "node at byte %zu has more than %lld attributes", n->offset,
                            (long long)lim.max_attributes);
        ProtoReader sub;
        RSFIQA_RETURN_IF_ERROR(r.read_message(&sub));
        n->attributes.emplace_back();
        RSFIQA_RETURN_IF_ERROR(onnx_parse_attribute(sub, lim, &n->attributes.back()));
        break;
      }
      default: RSFIQA_RETURN_IF_ERROR(r.skip(f, w, lim.max_depth)); break;
    }
  }
  return Status();
}

// TensorShapeProto.Dimension
inline Status onnx_parse_dim(ProtoReader r, OnnxValueInfo* v, const OnnxLimits& lim) {
  int64_t value = -1;
  std::string param;
  while (!r.at_end()) {
    uint32_t f = 0;
    WireType w = WireType::kVarint;
    RSFIQA_RETURN_IF_ERROR(r.read_tag(&f, &w));
    if (f == 1) {
      RSFIQA_RETURN_IF_ERROR(onnx_varint_field(r, w, "Dimension.dim_value", &value));
    } else if (f == 2) {
      RSFIQA_RETURN_IF_ERROR(onnx_string_field(r, w, "Dimension.dim_param", &param));
    } else {
      RSFIQA_RETURN_IF_ERROR(r.skip(f, w, lim.max_depth));
    }
  }
  v->dims.push_back(param.empty() ? value : -1);
  v->dim_params.push_back(param);
  return Status();
}

// ValueInfoProto -> TypeProto -> TypeProto.Tensor -> TensorShapeProto.
inline Status onnx_parse_value_info(ProtoReader r, const OnnxLimits& lim, OnnxValueInfo* v) {
  while (!r.at_end()) {
    uint32_t f = 0;
    WireType w = WireType::kVarint;
    RSFIQA_RETURN_IF_ERROR(r.read_tag(&f, &w));
    if (f == 1) {
      RSFIQA_RETURN_IF_ERROR(onnx_string_field(r, w, "ValueInfoProto.name", &v->name));
      continue;
    }
    if (f != 2) {
      RSFIQA_RETURN_IF_ERROR(r.skip(f, w, lim.max_depth));
      continue;
    }
    RSFIQA_RETURN_IF_ERROR(onnx_expect(w, WireType::kLengthDelimited, "ValueInfoProto.type", r.offset()));
    ProtoReader type;
    RSFIQA_RETURN_IF_ERROR(r.read_message(&type));
    while (!type.at_end()) {
      RSFIQA_RETURN_IF_ERROR(type.read_tag(&f, &w));
      if (f != 1) {  // only tensor_type is read; sequences/maps are skipped
        RSFIQA_RETURN_IF_ERROR(type.skip(f, w, lim.max_depth));
        continue;
      }
      RSFIQA_RETURN_IF_ERROR(onnx_expect(w, WireType::kLengthDelimited, "TypeProto.tensor_type", type.offset()));
      ProtoReader tt;
      RSFIQA_RETURN_IF_ERROR(type.read_message(&tt));
      while (!tt.at_end()) {
        RSFIQA_RETURN_IF_ERROR(tt.read_tag(&f, &w));
        if (f == 1) {
          int64_t et = 0;
          RSFIQA_RETURN_IF_ERROR(onnx_varint_field(tt, w, "TypeProto.Tensor.elem_type", &et));
          v->elem_type = (int32_t)et;
        } else if (f == 2) {
          RSFIQA_RETURN_IF_ERROR(onnx_expect(w, WireType::kLengthDelimited, "TypeProto.Tensor.shape", tt.offset()));
          ProtoReader shape;
          RSFIQA_RETURN_IF_ERROR(tt.read_message(&shape));
          v->has_shape = true;
          while (!shape.at_end()) {
            RSFIQA_RETURN_IF_ERROR(shape.read_tag(&f, &w));
            if (f != 1) {
              RSFIQA_RETURN_IF_ERROR(shape.skip(f, w, lim.max_depth));
              continue;
            }
            RSFIQA_RETURN_IF_ERROR(onnx_expect(w, WireType::kLengthDelimited, "TensorShapeProto.dim", shape.offset()));
            if ((int64_t)v->dims.size() >= lim.max_dims)
              return make_error(ErrorCode::kLimitExceeded, "value '%s' has more than %lld dims", v->name.c_str(),
                                (long long)lim.max_dims);
            ProtoReader dim;
            RSFIQA_RETURN_IF_ERROR(shape.read_message(&dim));
            RSFIQA_RETURN_IF_ERROR(onnx_parse_dim(dim, v, lim));
          }
        } else {
          RSFIQA_RETURN_IF_ERROR(tt.skip(f, w, lim.max_depth));
        }
      }
    }
  }
  return Status();
}

inline Status onnx_parse_graph(ProtoReader r, const OnnxLimits& lim, OnnxModel* m) {
  while (!r.at_end()) {
    uint32_t f = 0;
    WireType w = WireType::kVarint;
    RSFIQA_RETURN_IF_ERROR(r.read_tag(&f, &w));
    const size_t at = r.offset();
    if (f == 2) {
      RSFIQA_RETURN_IF_ERROR(onnx_string_field(r, w, "GraphProto.name", &m->graph_name));
      continue;
    }
    if (f == 15) {
      m->sparse_initializers++;
      RSFIQA_RETURN_IF_ERROR(r.skip(f, w, lim.max_depth));
      continue;
    }
    if (f != 1 && f != 5 && f != 11 && f != 12) {
      RSFIQA_RETURN_IF_ERROR(r.skip(f, w, lim.max_depth));
      continue;
    }
    RSFIQA_RETURN_IF_ERROR(onnx_expect(w, WireType::kLengthDelimited, "GraphProto entry", at));
    ProtoReader sub;
    RSFIQA_RETURN_IF_ERROR(r.read_message(&sub));
    if (f == 1) {
      if ((int64_t)m->nodes.size() >= lim.max_nodes)
        return make_error(ErrorCode::kLimitExceeded, "graph has more than %lld nodes (byte %zu)",
                          (long long)lim.max_nodes, at);
      m->nodes.emplace_back();
      RSFIQA_RETURN_IF_ERROR(onnx_parse_node(sub, lim, &m->nodes.back()));
    } else if (f == 5) {
      if ((int64_t)m->initializers.size() >= lim.max_initializers)
        return make_error(ErrorCode::kLimitExceeded, "graph has more than %lld initializers (byte %zu)",
                          (long long)lim.max_initializers, at);
      m->initializers.emplace_back();
      RSFIQA_RETURN_IF_ERROR(onnx_parse_tensor(sub, lim, &m->initializers.back()));
    } else {
      auto& list = f == 11 ? m->inputs : m->outputs;
      if ((int64_t)list.size() >= lim.max_nodes)
        return make_error(ErrorCode::kLimitExceeded, "graph has too many inputs/outputs (byte %zu)", at);
      list.emplace_back();
      RSFIQA_RETURN_IF_ERROR(onnx_parse_value_info(sub, lim, &list.back()));
    }
  }
  return Status();
}

}  // namespace detail

// Parses an ONNX ModelProto from `data`. The result points into `data`
// (raw_data), which must outlive it. Errors: kTruncated / kMalformed with the
// byte offset for broken protobuf, kBadMagic when the bytes parse but hold no
// graph (not an ONNX model), kLimitExceeded for counts over `limits`.
inline Result<OnnxModel> parse_onnx(const uint8_t* data, size_t size, const OnnxLimits& limits = OnnxLimits()) {
  if (size == 0) return make_error(ErrorCode::kEmptyInput, "ONNX input is empty");
  OnnxModel m;
  ProtoReader r(data, size, 0);
  bool has_graph = false;
  bool has_ir = false;
  while (!r.at_end()) {
    uint32_t f = 0;
    WireType w = WireType::kVarint;
    RSFIQA_RETURN_IF_ERROR(r.read_tag(&f, &w));
    switch (f) {
      case 1:
        RSFIQA_RETURN_IF_ERROR(detail::onnx_varint_field(r, w, "ModelProto.ir_version", &m.ir_version));
        has_ir = true;
        break;
      case 2:
        RSFIQA_RETURN_IF_ERROR(detail::onnx_string_field(r, w, "ModelProto.producer_name", &m.producer_name));
        break;
      case 3:
        RSFIQA_RETURN_IF_ERROR(detail::onnx_string_field(r, w, "ModelProto.producer_version", &m.producer_version));
        break;
      case 7: {
        RSFIQA_RETURN_IF_ERROR(detail::onnx_expect(w, WireType::kLengthDelimited, "ModelProto.graph", r.offset()));
        if (has_graph)
          return make_error(ErrorCode::kMalformed, "second ModelProto.graph at byte %zu (merging is not supported)",
                            r.offset());
        ProtoReader g;
        RSFIQA_RETURN_IF_ERROR(r.read_message(&g));
        RSFIQA_RETURN_IF_ERROR(detail::onnx_parse_graph(g, limits, &m));
        has_graph = true;
        break;
      }
      case 8: {
        RSFIQA_RETURN_IF_ERROR(
            detail::onnx_expect(w, WireType::kLengthDelimited, "ModelProto.opset_import", r.offset()));
        ProtoReader o;
        RSFIQA_RETURN_IF_ERROR(r.read_message(&o));
        OnnxOpset op;
        while (!o.at_end()) {
          uint32_t of = 0;
          WireType ow = WireType::kVarint;
          RSFIQA_RETURN_IF_ERROR(o.read_tag(&of, &ow));
          if (of == 1) {
            RSFIQA_RETURN_IF_ERROR(detail::onnx_string_field(o, ow, "OperatorSetIdProto.domain", &op.domain));
          } else if (of == 2) {
            RSFIQA_RETURN_IF_ERROR(detail::onnx_varint_field(o, ow, "OperatorSetIdProto.version", &op.version));
          } else {
            RSFIQA_RETURN_IF_ERROR(o.skip(of, ow, limits.max_depth));
          }
        }
        m.opsets.push_back(op);
        break;
      }
      default: RSFIQA_RETURN_IF_ERROR(r.skip(f, w, limits.max_depth)); break;
    }
  }
  if (!has_graph || !has_ir)
    return make_error(ErrorCode::kBadMagic, "not an ONNX model: %s", !has_graph ? "no graph field" : "no ir_version");
  return m;
}

// A mapped ONNX file together with its parsed view. Move-only; the view's
// raw_data pointers stay valid as long as this object lives.
class OnnxFile {
 public:
  static Result<OnnxFile> open(const std::string& path, const OnnxLimits& limits = OnnxLimits()) {
    OnnxFile f;
    RSFIQA_ASSIGN_OR_RETURN(f.file_, MappedFile::open(path));
    auto m = parse_onnx(f.file_.data(), f.file_.size(), limits);
    if (!m.ok()) {
      Status s = m.status();
      return s.with_context("reading ONNX file '" + path + "'");
    }
    f.model_ = std::move(m).value();
    return f;
  }
  const OnnxModel& model() const { return model_; }
  const MappedFile& file() const { return file_; }

 private:
  MappedFile file_;
  OnnxModel model_;
};

}  // namespace rsfiqa::io

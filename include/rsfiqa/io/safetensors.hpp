// SPDX-License-Identifier: MIT
// safetensors reader and writer, following the format description of the
// huggingface/safetensors project:
//
//   bytes [0, 8)        N, a little-endian uint64: the header length
//   bytes [8, 8+N)      the header: a UTF-8 JSON object
//                         {"__metadata__": {"k": "v", ...},            (optional)
//                          "<name>": {"dtype": "F32", "shape": [2, 3],
//                                     "data_offsets": [begin, end]}, ...}
//                       padded with spaces to a multiple of 8 by most writers
//   bytes [8+N, EOF)    the data section; tensor offsets are relative to 8+N
//
// The reader treats every byte as hostile and enforces each rule of
// RELIABILITY.md before it hands out a pointer: N <= a configurable cap
// (100 MB by default) and 8+N <= file size; the header starts with '{', is
// valid UTF-8 JSON with no duplicate keys; `__metadata__` values are strings;
// dtypes are known; byte lengths equal numel x element size (overflow
// checked); and the tensors, sorted by offset, start at 0, are contiguous and
// non-overlapping, and cover the data section exactly. Empty tensors and
// rank-0 scalars are legal.
//
// Data pointers point into the file mapping (or the caller's buffer) and are
// NOT necessarily aligned for their dtype: the data section starts at 8+N and
// other writers do not pad N. Read them with memcpy, or use to_f32(), which
// copies into an aligned f32 Tensor. Files written by SafeTensorsWriter are
// laid out so every tensor is naturally aligned when the file start is.
//
// Not supported: the F8_* and sub-byte dtypes (rejected as kUnsupportedType),
// writing without the whole file in memory.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "rsfiqa/core/checked.hpp"
#include "rsfiqa/core/dtype.hpp"
#include "rsfiqa/core/status.hpp"
#include "rsfiqa/core/tensor.hpp"
#include "rsfiqa/io/file.hpp"
#include "rsfiqa/io/json.hpp"

namespace rsfiqa::io {

struct SafeTensorsLimits {
  uint64_t max_header_bytes = 100000000;  // 100 MB, the format's own cap
  size_t max_tensors = 200000;
  // Bounds the parsed header's memory (~112 bytes per value); a tensor entry
  // takes about 9 values, so the default allows ~100k tensors.
  size_t max_json_values = size_t(1) << 20;
};

// The dtype names of the format, mapped to rsfiqa::DType. Returns
// DType::kInvalid for names we do not read (F8_E4M3, ...).
inline DType safetensors_parse_dtype(const std::string& s) {
  static const struct {
    const char* name;
    DType t;
  } kTable[] = {{"F64", DType::kF64}, {"F32", DType::kF32},   {"F16", DType::kF16}, {"BF16", DType::kBF16},
                {"I64", DType::kI64}, {"I32", DType::kI32},   {"I16", DType::kI16}, {"I8", DType::kI8},
                {"U8", DType::kU8},   {"BOOL", DType::kBool}, {"U16", DType::kU16}, {"U32", DType::kU32},
                {"U64", DType::kU64}};
  for (const auto& e : kTable)
    if (s == e.name) return e.t;
  return DType::kInvalid;
}

// Inverse of safetensors_parse_dtype; nullptr for dtypes the format lacks
// (the GGUF quant types).
inline const char* safetensors_dtype_name(DType t) {
  switch (t) {
    case DType::kF64: return "F64";
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kI64: return "I64";
    case DType::kI32: return "I32";
    case DType::kI16: return "I16";
    case DType::kI8: return "I8";
    case DType::kU8: return "U8";
    case DType::kBool: return "BOOL";
    case DType::kU16: return "U16";
    case DType::kU32: return "U32";
    case DType::kU64: return "U64";
    default: return nullptr;
  }
}

// One tensor of a safetensors file. `data` may be unaligned (see the file
// comment); `offset` is relative to the start of the data section.
struct SafeTensorInfo {
  std::string name;
  DType dtype = DType::kInvalid;
  Shape shape;  // PyTorch order, as stored
  const uint8_t* data = nullptr;
  int64_t nbytes = 0;
  int64_t offset = 0;
};

// Converts a contiguous run of `numel` elements of a plain dtype to f32.
// Returns false for dtypes that have no f32 meaning here (quant types).
inline bool convert_to_f32(DType t, const uint8_t* src, int64_t numel, float* dst) {
  // memcpy per element: the source may be unaligned.
  if (numel <= 0) return dtype_valid(t) && !dtype_is_quantized(t);
  switch (t) {
    case DType::kF32: std::memcpy(dst, src, (size_t)numel * 4); return true;
    case DType::kF16:
      for (int64_t i = 0; i < numel; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = f16_to_f32(h);
      }
      return true;
    case DType::kBF16:
      for (int64_t i = 0; i < numel; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = bf16_to_f32(h);
      }
      return true;
#define RSFIQA_CONVERT_CASE_(DT, CT)                     \
  case DT:                                               \
    for (int64_t i = 0; i < numel; ++i) {                \
      CT v;                                              \
      std::memcpy(&v, src + sizeof(CT) * i, sizeof(CT)); \
      dst[i] = (float)v;                                 \
    }                                                    \
    return true;
      RSFIQA_CONVERT_CASE_(DType::kF64, double)
      RSFIQA_CONVERT_CASE_(DType::kI64, int64_t)
      RSFIQA_CONVERT_CASE_(DType::kI32, int32_t)
      RSFIQA_CONVERT_CASE_(DType::kI16, int16_t)
      RSFIQA_CONVERT_CASE_(DType::kI8, int8_t)
      RSFIQA_CONVERT_CASE_(DType::kU8, uint8_t)
      RSFIQA_CONVERT_CASE_(DType::kU16, uint16_t)
      RSFIQA_CONVERT_CASE_(DType::kU32, uint32_t)
      RSFIQA_CONVERT_CASE_(DType::kU64, uint64_t)
#undef RSFIQA_CONVERT_CASE_
    case DType::kBool:
      for (int64_t i = 0; i < numel; ++i) dst[i] = src[i] ? 1.0f : 0.0f;
      return true;
    default: return false;
  }
}

class SafeTensorsFile {
 public:
  SafeTensorsFile() = default;
  SafeTensorsFile(SafeTensorsFile&&) = default;
  SafeTensorsFile& operator=(SafeTensorsFile&&) = default;
  SafeTensorsFile(const SafeTensorsFile&) = delete;
  SafeTensorsFile& operator=(const SafeTensorsFile&) = delete;

  // Maps and validates a file; errors are prefixed with the path.
  static Result<SafeTensorsFile> open(const std::string& path, const SafeTensorsLimits& limits = SafeTensorsLimits()) {
    RSFIQA_ASSIGN_OR_RETURN(MappedFile mf, MappedFile::open(path));
    SafeTensorsFile f;
    Status st = f.parse(mf.data(), mf.size(), limits);
    if (!st.ok()) return st.with_context(path);
    f.file_ = std::move(mf);  // the mapping's address does not change on move
    return f;
  }

  // Validates a caller's buffer without copying it: the buffer must outlive
  // the returned object and every pointer or view taken from it.
  static Result<SafeTensorsFile> from_memory(const void* data, size_t size,
                                             const SafeTensorsLimits& limits = SafeTensorsLimits()) {
    if (size > 0 && data == nullptr) return make_error(ErrorCode::kInvalidArgument, "safetensors: null buffer");
    SafeTensorsFile f;
    RSFIQA_RETURN_IF_ERROR(f.parse(static_cast<const uint8_t*>(data), size, limits));
    return f;
  }

  // Tensors in file order (ascending data offset; ties keep header order).
  const std::vector<SafeTensorInfo>& tensors() const { return tensors_; }
  size_t size() const { return tensors_.size(); }
  // nullptr when absent.
  const SafeTensorInfo* find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
  }
  // Like find(), with a kNotFound error naming the tensor.
  Result<const SafeTensorInfo*> get(const std::string& name) const {
    const SafeTensorInfo* t = find(name);
    if (!t) return make_error(ErrorCode::kNotFound, "safetensors: no tensor named '%.300s'", name.c_str());
    return t;
  }
  // A read-only view of the tensor's bytes (the data may be unaligned; the
  // view must not be written through).
  static TensorView view(const SafeTensorInfo& t) { return TensorView(const_cast<uint8_t*>(t.data), t.dtype, t.shape); }
  // Copies any plain-dtype tensor into a new aligned f32 Tensor of the same
  // shape (f16/bf16/f64/integers/bool converted).
  static Result<Tensor> to_f32(const SafeTensorInfo& t) {
    RSFIQA_ASSIGN_OR_RETURN(Tensor out, Tensor::create(DType::kF32, t.shape));
    if (!convert_to_f32(t.dtype, t.data, t.shape.numel(), out.f32()))
      return make_error(ErrorCode::kUnsupportedType, "safetensors: tensor '%.300s' of dtype %s has no f32 conversion",
                        t.name.c_str(), dtype_name(t.dtype));
    return out;
  }
  Result<Tensor> to_f32(const std::string& name) const {
    RSFIQA_ASSIGN_OR_RETURN(const SafeTensorInfo* t, get(name));
    return to_f32(*t);
  }

  // `__metadata__` (empty when absent).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Header length N and the file offset of the data section (8 + N).
  uint64_t header_size() const { return header_size_; }
  uint64_t data_offset() const { return 8 + header_size_; }
  const uint8_t* base() const { return base_; }
  size_t file_size() const { return size_; }

 private:
  Status parse(const uint8_t* p, size_t n, const SafeTensorsLimits& limits) {
    base_ = p;
    size_ = n;
    if (n == 0) return make_error(ErrorCode::kEmptyInput, "safetensors: the file is empty");
    if (n < 8)
      return make_error(ErrorCode::kTruncated, "safetensors: %zu bytes is too short for the 8-byte header length", n);
    // N, little-endian, assembled byte by byte (independent of host order).
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | p[i];
    if (hlen > limits.max_header_bytes)
      return make_error(ErrorCode::kLimitExceeded, "safetensors: header length %llu is over the limit of %llu bytes",
                        (unsigned long long)hlen, (unsigned long long)limits.max_header_bytes);
    if (hlen > (uint64_t)n - 8)
      return make_error(ErrorCode::kTruncated,
                        "safetensors: header of %llu bytes ends at byte %llu but the file has %zu bytes",
                        (unsigned long long)hlen, (unsigned long long)(hlen + 8), n);
    header_size_ = hlen;
    const char* h = reinterpret_cast<const char*>(p + 8);
    if (hlen == 0 || h[0] != '{')
      return make_error(ErrorCode::kMalformed, "safetensors: the header (file byte 8) does not start with '{'");
    // UTF-8 is checked over the whole header first so the error names the
    // rule; the JSON parser would also reject it, less clearly.
    size_t bad = 0;
    if (!utf8_valid(h, (size_t)hlen, &bad))
      return make_error(ErrorCode::kMalformed, "safetensors: the header is not valid UTF-8 at header byte %zu", bad);
    JsonLimits jl;
    jl.max_bytes = (size_t)hlen;
    jl.max_depth = 8;
    jl.max_values = limits.max_json_values;
    auto parsed = parse_json(h, (size_t)hlen, jl);
    if (!parsed.ok()) {
      Status st = parsed.status();
      return st.with_context("safetensors header (offsets relative to file byte 8)");
    }
    const JsonValue& root = *parsed;
    if (!root.is_object())
      return make_error(ErrorCode::kMalformed, "safetensors: the header is a JSON %s, expected an object",
                        json_type_name(root.type()));

    // Each tensor entry is checked on its own (dtype, shape, byte length);
    // the layout across entries is checked after sorting by offset.
    const int64_t data_size = (int64_t)(n - 8 - (size_t)hlen);
    const uint8_t* data = p + 8 + hlen;
    tensors_.clear();
    tensors_.reserve(std::min(root.size(), limits.max_tensors));
    for (size_t i = 0; i < root.size(); ++i) {
      const std::string& key = root.keys()[i];
      const JsonValue& v = root[i];
      if (key == "__metadata__") {
        RSFIQA_RETURN_IF_ERROR(parse_metadata(v));
        continue;
      }
      if (tensors_.size() >= limits.max_tensors)
        return make_error(ErrorCode::kLimitExceeded, "safetensors: more than %zu tensors", limits.max_tensors);
      SafeTensorInfo t;
      RSFIQA_RETURN_IF_ERROR(parse_tensor(key, v, &t));
      tensors_.push_back(std::move(t));
    }

    // Layout: sorted by (begin, end), the tensors must tile [0, data_size).
    std::stable_sort(tensors_.begin(), tensors_.end(), [](const SafeTensorInfo& a, const SafeTensorInfo& b) {
      return a.offset < b.offset || (a.offset == b.offset && a.nbytes < b.nbytes);
    });
    int64_t expect = 0;
    const SafeTensorInfo* prev = nullptr;
    for (SafeTensorInfo& t : tensors_) {
      const int64_t end = t.offset + t.nbytes;  // no overflow: both were checked <= INT64_MAX/2 below
      if (t.offset > expect) {
        if (prev)
          return make_error(ErrorCode::kMalformed,
                            "safetensors: gap of %lld bytes between tensor '%.200s' (ends at %lld) and '%.200s' "
                            "(starts at %lld)",
                            (long long)(t.offset - expect), prev->name.c_str(), (long long)expect, t.name.c_str(),
                            (long long)t.offset);
        return make_error(ErrorCode::kMalformed,
                          "safetensors: the data section does not start at offset 0: first tensor '%.200s' "
                          "starts at %lld",
                          t.name.c_str(), (long long)t.offset);
      }
      if (t.offset < expect)
        return make_error(ErrorCode::kMalformed,
                          "safetensors: tensor '%.200s' [%lld, %lld) overlaps tensor '%.200s' which ends at %lld",
                          t.name.c_str(), (long long)t.offset, (long long)end, prev ? prev->name.c_str() : "",
                          (long long)expect);
      if (end > data_size)
        return make_error(ErrorCode::kTruncated,
                          "safetensors: tensor '%.200s' ends at data byte %lld (file byte %llu) but the data section "
                          "has %lld bytes",
                          t.name.c_str(), (long long)end, (unsigned long long)(8 + hlen + (uint64_t)end),
                          (long long)data_size);
      t.data = data + t.offset;
      expect = end;
      prev = &t;
    }
    if (expect != data_size)
      return make_error(ErrorCode::kMalformed,
                        "safetensors: %lld trailing bytes after the last tensor (data section has %lld bytes, tensors "
                        "cover %lld)",
                        (long long)(data_size - expect), (long long)data_size, (long long)expect);

    index_.clear();
    index_.reserve(tensors_.size());
    for (size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
    return Status();
  }

  Status parse_metadata(const JsonValue& v) {
    if (!v.is_object())
      return make_error(ErrorCode::kMalformed, "safetensors: __metadata__ is a JSON %s, expected an object",
                        json_type_name(v.type()));
    for (size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_string())
        return make_error(ErrorCode::kMalformed,
                          "safetensors: __metadata__ value of key '%.200s' is a %s, expected a string",
                          v.keys()[i].c_str(), json_type_name(v[i].type()));
      metadata_[v.keys()[i]] = v[i].as_string();
    }
    return Status();
  }

  static Status parse_tensor(const std::string& name, const JsonValue& v, SafeTensorInfo* t) {
    const char* nm = name.c_str();
    if (!v.is_object())
      return make_error(ErrorCode::kMalformed, "safetensors: entry '%.200s' is a %s, expected an object", nm,
                        json_type_name(v.type()));
    const JsonValue* dt = v.find("dtype");
    const JsonValue* sh = v.find("shape");
    const JsonValue* off = v.find("data_offsets");
    if (!dt || !dt->is_string())
      return make_error(ErrorCode::kMalformed, "safetensors: tensor '%.200s' has no string 'dtype'", nm);
    if (!sh || !sh->is_array())
      return make_error(ErrorCode::kMalformed, "safetensors: tensor '%.200s' has no array 'shape'", nm);
    if (!off || !off->is_array() || off->size() != 2)
      return make_error(ErrorCode::kMalformed, "safetensors: tensor '%.200s' has no 2-element array 'data_offsets'",
                        nm);
    t->name = name;
    t->dtype = safetensors_parse_dtype(dt->as_string());
    if (t->dtype == DType::kInvalid)
      return make_error(ErrorCode::kUnsupportedType, "safetensors: tensor '%.200s' has unsupported dtype '%.40s'", nm,
                        dt->as_string().c_str());
    if (sh->size() > (size_t)kMaxDims)
      return make_error(ErrorCode::kLimitExceeded,
                        "safetensors: tensor '%.200s' has %zu dimensions, at most %d supported", nm, sh->size(),
                        kMaxDims);
    t->shape = Shape();
    for (size_t d = 0; d < sh->size(); ++d) {
      const JsonValue& e = (*sh)[d];
      if (!e.is_int() || e.as_int() < 0)
        return make_error(ErrorCode::kMalformed,
                          "safetensors: tensor '%.200s' dimension %zu is not a non-negative integer", nm, d);
      t->shape.dims[t->shape.ndim++] = e.as_int();
    }
    const int64_t numel = t->shape.numel();
    const int64_t nbytes = numel < 0 ? -1 : dtype_bytes(t->dtype, numel);
    if (nbytes < 0)
      return make_error(ErrorCode::kOverflow, "safetensors: tensor '%.200s' shape %s overflows the byte count", nm,
                        t->shape.to_string().c_str());
    const JsonValue& b = (*off)[0];
    const JsonValue& e = (*off)[1];
    // Offsets above INT64_MAX/2 cannot fit any file; the cap keeps begin+len overflow-free.
    const int64_t kMaxOffset = INT64_MAX / 2;
    if (!b.is_int() || !e.is_int() || b.as_int() < 0 || e.as_int() < 0 || b.as_int() > kMaxOffset ||
        e.as_int() > kMaxOffset)
      return make_error(ErrorCode::kMalformed,
                        "safetensors: tensor '%.200s' data_offsets are not non-negative integers in range", nm);
    if (e.as_int() < b.as_int())
      return make_error(ErrorCode::kMalformed,
                        "safetensors: tensor '%.200s' data_offsets [%lld, %lld] end before they begin", nm,
                        (long long)b.as_int(), (long long)e.as_int());
    if (e.as_int() - b.as_int() != nbytes)
      return make_error(ErrorCode::kMalformed,
                        "safetensors: tensor '%.200s' of dtype %s and shape %s needs %lld bytes but data_offsets "
                        "[%lld, %lld] span %lld",
                        nm, dt->as_string().c_str(), t->shape.to_string().c_str(), (long long)nbytes,
                        (long long)b.as_int(), (long long)e.as_int(), (long long)(e.as_int() - b.as_int()));
    t->offset = b.as_int();
    t->nbytes = nbytes;
    return Status();
  }

  MappedFile file_;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  uint64_t header_size_ = 0;
  std::vector<SafeTensorInfo> tensors_;
  std::unordered_map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Builds a safetensors file in memory. Tensors are copied in; the output lays
// them out by descending element size, then by name, so the order does not
// depend on the order of add() calls and every tensor is naturally aligned
// relative to the 8-byte-aligned data section. The header is padded with
// spaces to a multiple of 8 bytes.
class SafeTensorsWriter {
 public:
  Status add(const std::string& name, DType dtype, const Shape& shape, const void* data, size_t nbytes) {
    if (name == "__metadata__")
      return make_error(ErrorCode::kInvalidArgument, "safetensors writer: '__metadata__' is not a tensor name");
    if (!safetensors_dtype_name(dtype))
      return make_error(ErrorCode::kUnsupportedType,
                        "safetensors writer: tensor '%.200s': dtype %s has no safetensors name", name.c_str(),
                        dtype_name(dtype));
    if (shape.ndim < 0 || shape.ndim > kMaxDims)
      return make_error(ErrorCode::kInvalidArgument, "safetensors writer: tensor '%.200s' has rank %d", name.c_str(),
                        shape.ndim);
    const int64_t numel = shape.numel();
    const int64_t need = numel < 0 ? -1 : dtype_bytes(dtype, numel);
    if (need < 0 || (uint64_t)need != (uint64_t)nbytes)
      return make_error(ErrorCode::kShapeMismatch,
                        "safetensors writer: tensor '%.200s' of shape %s and dtype %s needs %lld bytes, got %zu",
                        name.c_str(), shape.to_string().c_str(), dtype_name(dtype), (long long)need, nbytes);
    if (nbytes > 0 && !data)
      return make_error(ErrorCode::kInvalidArgument, "safetensors writer: tensor '%.200s' has null data", name.c_str());
    if (!names_.insert(name).second)
      return make_error(ErrorCode::kDuplicate, "safetensors writer: duplicate tensor name '%.200s'", name.c_str());
    Entry e;
    e.name = name;
    e.dtype = dtype;
    e.shape = shape;
    const uint8_t* p = static_cast<const uint8_t*>(data);
    if (nbytes) e.bytes.assign(p, p + nbytes);
    entries_.push_back(std::move(e));
    return Status();
  }
  Status add(const std::string& name, const TensorView& v) {
    if (!v.is_contiguous())
      return make_error(ErrorCode::kInvalidArgument, "safetensors writer: tensor '%.200s' is not contiguous",
                        name.c_str());
    const int64_t nb = v.nbytes();
    if (nb < 0)
      return make_error(ErrorCode::kOverflow, "safetensors writer: tensor '%.200s' has no byte size", name.c_str());
    return add(name, v.dtype, v.shape, v.data, (size_t)nb);
  }
  void add_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

  Result<std::vector<uint8_t>> serialize() const {
    std::vector<const Entry*> order;
    order.reserve(entries_.size());
    for (const Entry& e : entries_) order.push_back(&e);
    std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
      const int sa = dtype_info(a->dtype).block_bytes, sb = dtype_info(b->dtype).block_bytes;
      return sa != sb ? sa > sb : a->name < b->name;
    });
    JsonWriter w;
    w.begin_object();
    if (!metadata_.empty()) {
      w.key("__metadata__").begin_object();
      for (const auto& kv : metadata_) w.key(kv.first).value(kv.second);
      w.end_object();
    }
    uint64_t off = 0;
    for (const Entry* e : order) {
      w.key(e->name).begin_object().key("dtype").value(safetensors_dtype_name(e->dtype)).key("shape").begin_array();
      for (int d = 0; d < e->shape.ndim; ++d) w.value((int64_t)e->shape.dims[d]);
      w.end_array().key("data_offsets").begin_array().value(off).value(off + e->bytes.size()).end_array().end_object();
      off += e->bytes.size();
    }
    w.end_object();
    RSFIQA_RETURN_IF_ERROR(w.status());
    std::string header = w.str();
    while (header.size() % 8 != 0) header.push_back(' ');
    std::vector<uint8_t> out;
    const uint64_t total = 8 + header.size() + off;
    if (total > (uint64_t)SIZE_MAX) return make_error(ErrorCode::kOverflow, "safetensors writer: file too large");
    out.reserve((size_t)total);
    const uint64_t hlen = header.size();
    for (int i = 0; i < 8; ++i) out.push_back((uint8_t)(hlen >> (8 * i)));
    out.insert(out.end(), header.begin(), header.end());
    for (const Entry* e : order) out.insert(out.end(), e->bytes.begin(), e->bytes.end());
    return out;
  }

  // Serializes and writes atomically (temporary file + rename).
  Status write(const std::string& path) const {
    RSFIQA_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, serialize());
    return write_file_atomic(path, bytes.data(), bytes.size());
  }

 private:
  struct Entry {
    std::string name;
    DType dtype;
    Shape shape;
    std::vector<uint8_t> bytes;
  };
  std::vector<Entry> entries_;
  std::unordered_set<std::string> names_;
  std::map<std::string, std::string> metadata_;
};

// Rejects a weight tensor holding NaN or infinity (kMalformed, naming the
// model `what`, the tensor and the first bad element): one such value turns
// every output of a network into NaN, so loaders check their f32 weights
// once. 0·x is NaN exactly when x is NaN or infinite, so the scan is a
// plain vectorisable sum; the index is searched only on failure.
inline Status require_finite(const char* what, const std::string& name, const float* v, int64_t n) {
  float z = 0.0f;
  for (int64_t i = 0; i < n; ++i) z += 0.0f * v[i];
  if (z == z) return Status();
  int64_t at = 0;
  while (at < n && std::isfinite(v[at])) ++at;
  return make_error(ErrorCode::kMalformed, "%s: tensor '%.300s' has a non-finite value at %lld", what, name.c_str(),
                    (long long)at);
}

}  // namespace rsfiqa::io

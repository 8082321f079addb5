// SPDX-License-Identifier: MIT
// GGUF (versions 2 and 3) reader and writer, following the format description
// published with ggml (docs/gguf.md of the ggml project). All integers are
// little-endian:
//
//   uint32 magic "GGUF" (bytes 47 47 55 46), uint32 version (2 or 3)
//   uint64 tensor_count, uint64 kv_count
//   kv_count x { string key, uint32 value_type, value }
//   tensor_count x { string name, uint32 n_dims, uint64 ne[n_dims],
//                    uint32 ggml_type, uint64 offset }
//   zero padding to `general.alignment` (default 32)
//   data section: tensors at their offsets (relative to the section start),
//                 each padded to the alignment
//
//   string = uint64 length + bytes (no terminator)
//   value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool,
//                8 string, 9 array (uint32 elem_type, uint64 count, values),
//                10 u64, 11 i64, 12 f64
//
// ne[0] is the fastest-varying dimension (ggml order); `shape` gives the same
// dimensions in PyTorch order (outermost first), so ne = {64, 512} is
// shape [512, 64].
//
// The reader treats every byte as hostile (RELIABILITY.md): magic and version
// are checked; tensor/KV counts, string lengths, array lengths and array
// nesting are bounded by GgufLimits and checked against the bytes that remain
// before anything is allocated; keys are non-empty and unique; value types are
// known; bools are 0 or 1; `general.alignment` is a uint32 power of two;
// tensor names are non-empty, unique and bounded; 1..4 dims, each <= INT64_MAX;
// element and byte counts are overflow-checked (zero-element tensors are
// legal); ggml types are ones rsfiqa knows; rows (ne[0]) hold whole quant
// blocks; and, sorted by offset, tensors are aligned, start at 0, follow each
// other with only alignment padding between them (no gaps, no overlap) and lie
// inside the file.
//
// Strings and array elements are not copied: they point into the mapping (or
// the caller's buffer). Tensor data pointers are aligned to the file's
// alignment relative to the start of the file, so they are aligned in memory
// when the mapping/buffer start is (mmap is page-aligned).
//
// Not supported: GGUF v1 (32-bit counts), big-endian files, ggml types
// without a rsfiqa DType (IQ*, TQ*, ...), which are reported as
// kUnsupportedType naming the type id and tensor.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rsfiqa/core/checked.hpp"
#include "rsfiqa/core/dtype.hpp"
#include "rsfiqa/core/status.hpp"
#include "rsfiqa/core/tensor.hpp"
#include "rsfiqa/io/file.hpp"

namespace rsfiqa::io {

struct GgufLimits {
  uint64_t max_tensors = uint64_t(1) << 17;        // 131072
  uint64_t max_kvs = uint64_t(1) << 16;            // 65536
  uint64_t max_string_length = uint64_t(1) << 24;  // 16 MiB per string (keys, values, names)
  uint64_t max_array_length = uint64_t(1) << 24;   // 16 Mi elements per array
  int max_array_depth = 4;                         // arrays of arrays of ...
  uint64_t max_nested_arrays = uint64_t(1) << 20;  // inner arrays in the whole file (each costs ~100 bytes of RAM)
  uint64_t max_tensor_name_length = 256;
};

enum class GgufType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};
constexpr uint32_t kGgufTypeCount = 13;
constexpr uint32_t kGgufDefaultAlignment = 32;

inline const char* gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::kU8: return "uint8";
    case GgufType::kI8: return "int8";
    case GgufType::kU16: return "uint16";
    case GgufType::kI16: return "int16";
    case GgufType::kU32: return "uint32";
    case GgufType::kI32: return "int32";
    case GgufType::kF32: return "float32";
    case GgufType::kBool: return "bool";
    case GgufType::kString: return "string";
    case GgufType::kArray: return "array";
    case GgufType::kU64: return "uint64";
    case GgufType::kI64: return "int64";
    case GgufType::kF64: return "float64";
  }
  return "invalid";
}

// Bytes of one element of a fixed-size type; 0 for string and array.
inline size_t gguf_type_size(GgufType t) {
  switch (t) {
    case GgufType::kU8:
    case GgufType::kI8:
    case GgufType::kBool: return 1;
    case GgufType::kU16:
    case GgufType::kI16: return 2;
    case GgufType::kU32:
    case GgufType::kI32:
    case GgufType::kF32: return 4;
    case GgufType::kU64:
    case GgufType::kI64:
    case GgufType::kF64: return 8;
    default: return 0;
  }
}

// C++ type <-> GGUF value type for the numeric types.
template <typename T>
struct GgufTypeOf;
template <>
struct GgufTypeOf<uint8_t> {
  static constexpr GgufType value = GgufType::kU8;
};
template <>
struct GgufTypeOf<int8_t> {
  static constexpr GgufType value = GgufType::kI8;
};
template <>
struct GgufTypeOf<uint16_t> {
  static constexpr GgufType value = GgufType::kU16;
};
template <>
struct GgufTypeOf<int16_t> {
  static constexpr GgufType value = GgufType::kI16;
};
template <>
struct GgufTypeOf<uint32_t> {
  static constexpr GgufType value = GgufType::kU32;
};
template <>
struct GgufTypeOf<int32_t> {
  static constexpr GgufType value = GgufType::kI32;
};
template <>
struct GgufTypeOf<float> {
  static constexpr GgufType value = GgufType::kF32;
};
template <>
struct GgufTypeOf<uint64_t> {
  static constexpr GgufType value = GgufType::kU64;
};
template <>
struct GgufTypeOf<int64_t> {
  static constexpr GgufType value = GgufType::kI64;
};
template <>
struct GgufTypeOf<double> {
  static constexpr GgufType value = GgufType::kF64;
};

// The ggml tensor types rsfiqa reads (those with a DType): f32, f16, bf16,
// f64, i8..i64 and the q4_0..q8_k block types.
inline bool gguf_dtype_from_ggml(uint32_t ggml_type, DType* out) {
  if (ggml_type > 30) return false;  // DType values >= 1000 are safetensors-only
  const DType t = static_cast<DType>(ggml_type);
  if (!dtype_valid(t)) return false;
  *out = t;
  return true;
}

// One metadata value. Scalars, strings and arrays; strings and the elements
// of fixed-size arrays are views into the file bytes.
class GgufValue {
 public:
  GgufType type() const { return type_; }
  bool is_array() const { return type_ == GgufType::kArray; }

  // Scalar of a fixed-size type; T must match type() (checked by the typed
  // getters of GgufFile; here only asserted).
  template <typename T>
  T scalar() const {
    static_assert(std::is_arithmetic<T>::value, "numeric scalar");
    RSFIQA_ASSERT(gguf_type_size(type_) == sizeof(T));
    T v;
    std::memcpy(&v, &bits_, sizeof(T));
    return v;
  }
  bool as_bool() const { return type_ == GgufType::kBool && (bits_ & 1u); }
  std::string_view as_string() const { return str_; }
  // Any integer scalar as int64; false for other types or a uint64 above INT64_MAX.
  bool to_int64(int64_t* out) const {
    switch (type_) {
      case GgufType::kU8: *out = scalar<uint8_t>(); return true;
      case GgufType::kI8: *out = scalar<int8_t>(); return true;
      case GgufType::kU16: *out = scalar<uint16_t>(); return true;
      case GgufType::kI16: *out = scalar<int16_t>(); return true;
      case GgufType::kU32: *out = scalar<uint32_t>(); return true;
      case GgufType::kI32: *out = scalar<int32_t>(); return true;
      case GgufType::kI64: *out = scalar<int64_t>(); return true;
      case GgufType::kU64: {
        const uint64_t u = scalar<uint64_t>();
        if (u > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)u;
        return true;
      }
      default: return false;
    }
  }

  // Arrays: element type and count.
  GgufType array_type() const { return elem_type_; }
  uint64_t size() const { return count_; }
  // Element i of a fixed-size-element array (T must match array_type()).
  template <typename T>
  T at(uint64_t i) const {
    RSFIQA_ASSERT(is_array() && gguf_type_size(elem_type_) == sizeof(T) && i < count_);
    T v;
    std::memcpy(&v, raw_ + i * sizeof(T), sizeof(T));
    return v;
  }
  std::string_view string_at(uint64_t i) const { return strings_[(size_t)i]; }
  const GgufValue& array_at(uint64_t i) const { return arrays_[(size_t)i]; }
  // Raw little-endian element bytes of a fixed-size-element array.
  const uint8_t* raw_data() const { return raw_; }

  // Short human-readable text: scalars in full (strings quoted, cut at
  // `max_items` x 16 characters), arrays as "[uint32 x 5: 1, 2, 3, ...]".
  std::string to_string(size_t max_items = 4) const {
    switch (type_) {
      case GgufType::kString: return quote(str_, max_items * 16);
      case GgufType::kArray: {
        std::string s = "[";
        s += gguf_type_name(elem_type_);
        s += " x " + std::to_string((unsigned long long)count_);
        if (count_ > 0) s += ": ";
        for (uint64_t i = 0; i < count_ && i < max_items; ++i) {
          if (i) s += ", ";
          if (elem_type_ == GgufType::kString)
            s += quote(strings_[(size_t)i], 32);
          else if (elem_type_ == GgufType::kArray)
            s += arrays_[(size_t)i].to_string(max_items);
          else
            s += element_text(elem_type_, raw_ + i * gguf_type_size(elem_type_));
        }
        if (count_ > max_items) s += ", ...";
        return s + "]";
      }
      default: {
        uint8_t b[8];
        std::memcpy(b, &bits_, 8);
        return element_text(type_, b);
      }
    }
  }

 private:
  friend class GgufFile;
  friend class GgufWriter;
  static std::string quote(std::string_view v, size_t max_chars) {
    std::string s = "\"";
    for (size_t i = 0; i < v.size() && i < max_chars; ++i) {
      const unsigned char c = (unsigned char)v[i];
      if (c == '\n')
        s += "\\n";
      else if (c == '"' || c == '\\') {
        s += '\\';
        s += (char)c;
      } else if (c < 0x20 || c == 0x7f) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\x%02x", c);
        s += buf;
      } else
        s += (char)c;
    }
    if (v.size() > max_chars) s += "...";
    return s + "\"";
  }
  static std::string element_text(GgufType t, const uint8_t* p) {
    char buf[64];
    auto get = [p](auto v) {
      std::memcpy(&v, p, sizeof(v));
      return v;
    };
    switch (t) {
      case GgufType::kU8: return std::to_string(get(uint8_t()));
      case GgufType::kI8: return std::to_string(get(int8_t()));
      case GgufType::kU16: return std::to_string(get(uint16_t()));
      case GgufType::kI16: return std::to_string(get(int16_t()));
      case GgufType::kU32: return std::to_string(get(uint32_t()));
      case GgufType::kI32: return std::to_string(get(int32_t()));
      case GgufType::kU64: return std::to_string((unsigned long long)get(uint64_t()));
      case GgufType::kI64: return std::to_string((long long)get(int64_t()));
      case GgufType::kBool: return p[0] ? "true" : "false";
      case GgufType::kF32: std::snprintf(buf, sizeof(buf), "%.9g", (double)get(float())); return buf;
      case GgufType::kF64: std::snprintf(buf, sizeof(buf), "%.17g", get(double())); return buf;
      default: return "?";
    }
  }

  GgufType type_ = GgufType::kU8;
  uint64_t bits_ = 0;     // scalar value, zero-extended
  std::string_view str_;  // kString
  GgufType elem_type_ = GgufType::kU8;
  uint64_t count_ = 0;
  const uint8_t* raw_ = nullptr;           // fixed-size array elements
  std::vector<std::string_view> strings_;  // string array elements
  std::vector<GgufValue> arrays_;          // nested array elements
};

struct GgufKV {
  std::string key;
  GgufValue value;
  uint64_t offset = 0;  // file byte of the key
};

struct GgufTensorInfo {
  std::string name;
  DType dtype = DType::kInvalid;
  uint32_t ggml_type = 0;
  int n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};  // ggml order: ne[0] fastest; unused dims are 1
  Shape shape;                   // PyTorch order: {ne[n_dims-1], ..., ne[0]}
  const uint8_t* data = nullptr;
  int64_t nbytes = 0;
  uint64_t offset = 0;  // relative to the data section
  int64_t numel() const { return shape.numel(); }
};

namespace detail {

// Bounds-checked little-endian reads over untrusted bytes.
class GgufCursor {
 public:
  GgufCursor(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  size_t pos() const { return pos_; }
  size_t remaining() const { return n_ - pos_; }
  const uint8_t* here() const { return p_ + pos_; }

  Status need(uint64_t bytes, const char* what) const {
    if (bytes > remaining())
      return make_error(ErrorCode::kTruncated,
                        "GGUF: file ends at byte %zu while reading %s (needs %llu bytes at byte %zu)", n_, what,
                        (unsigned long long)bytes, pos_);
    return Status();
  }
  template <typename T>
  Status read(T* out, const char* what) {
    RSFIQA_RETURN_IF_ERROR(need(sizeof(T), what));
    std::memcpy(out, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status();
  }
  void skip(size_t bytes) { pos_ += bytes; }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
};

inline bool is_pow2(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

// Rounds v up to a multiple of the power of two `a`; false on overflow.
inline bool align_up_u64(uint64_t v, uint64_t a, uint64_t* out) {
  uint64_t t;
  if (!checked_add_u64(v, a - 1, &t)) return false;
  *out = t & ~(a - 1);
  return true;
}

}  // namespace detail

class GgufFile {
 public:
  GgufFile() = default;
  GgufFile(GgufFile&&) = default;
  GgufFile& operator=(GgufFile&&) = default;
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  // Maps and validates a file; errors are prefixed with the path.
  static Result<GgufFile> open(const std::string& path, const GgufLimits& limits = GgufLimits()) {
    RSFIQA_ASSIGN_OR_RETURN(MappedFile mf, MappedFile::open(path));
    GgufFile f;
    Status st = f.parse(mf.data(), mf.size(), limits);
    if (!st.ok()) return st.with_context(path);
    f.file_ = std::move(mf);  // the mapping's address does not change on move
    return f;
  }

  // Validates a caller's buffer without copying it; the buffer must outlive
  // the returned object and everything taken from it.
  static Result<GgufFile> from_memory(const void* data, size_t size, const GgufLimits& limits = GgufLimits()) {
    if (size > 0 && data == nullptr) return make_error(ErrorCode::kInvalidArgument, "GGUF: null buffer");
    GgufFile f;
    RSFIQA_RETURN_IF_ERROR(f.parse(static_cast<const uint8_t*>(data), size, limits));
    return f;
  }

  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  size_t file_size() const { return size_; }

  // ---- metadata
  const std::vector<GgufKV>& kvs() const { return kvs_; }
  const GgufValue* find_kv(const std::string& key) const {
    auto it = kv_index_.find(key);
    return it == kv_index_.end() ? nullptr : &kvs_[it->second].value;
  }
  bool has(const std::string& key) const { return find_kv(key) != nullptr; }

  // Typed getters: kNotFound "missing key 'x'" or kMalformed
  // "key 'x' has type string, expected uint32".
  Result<uint8_t> get_u8(const std::string& key) const { return get_scalar<uint8_t>(key); }
  Result<int8_t> get_i8(const std::string& key) const { return get_scalar<int8_t>(key); }
  Result<uint16_t> get_u16(const std::string& key) const { return get_scalar<uint16_t>(key); }
  Result<int16_t> get_i16(const std::string& key) const { return get_scalar<int16_t>(key); }
  Result<uint32_t> get_u32(const std::string& key) const { return get_scalar<uint32_t>(key); }
  Result<int32_t> get_i32(const std::string& key) const { return get_scalar<int32_t>(key); }
  Result<uint64_t> get_u64(const std::string& key) const { return get_scalar<uint64_t>(key); }
  Result<int64_t> get_i64(const std::string& key) const { return get_scalar<int64_t>(key); }
  Result<float> get_f32(const std::string& key) const { return get_scalar<float>(key); }
  Result<double> get_f64(const std::string& key) const { return get_scalar<double>(key); }
  Result<bool> get_bool(const std::string& key) const {
    RSFIQA_ASSIGN_OR_RETURN(const GgufValue* v, get_typed(key, GgufType::kBool));
    return v->as_bool();
  }
  Result<std::string> get_string(const std::string& key) const {
    RSFIQA_ASSIGN_OR_RETURN(const GgufValue* v, get_typed(key, GgufType::kString));
    return std::string(v->as_string());
  }
  // Any integer type, range-checked into [lo, hi] (kLimitExceeded otherwise):
  // for counts like block_count whose stored width varies between converters.
  Result<int64_t> get_int(const std::string& key, int64_t lo = INT64_MIN, int64_t hi = INT64_MAX) const {
    RSFIQA_ASSIGN_OR_RETURN(const GgufValue* v, get_any(key));
    int64_t out = 0;
    if (!v->to_int64(&out)) {
      if (v->type() == GgufType::kU64)
        return make_error(ErrorCode::kOverflow, "GGUF: key '%.200s' value does not fit in int64", key.c_str());
      return make_error(ErrorCode::kMalformed, "GGUF: key '%.200s' has type %s, expected an integer", key.c_str(),
                        gguf_type_name(v->type()));
    }
    if (out < lo || out > hi)
      return make_error(ErrorCode::kLimitExceeded, "GGUF: key '%.200s' = %lld is outside [%lld, %lld]", key.c_str(),
                        (long long)out, (long long)lo, (long long)hi);
    return out;
  }
  // float32 or float64 as double.
  Result<double> get_float(const std::string& key) const {
    RSFIQA_ASSIGN_OR_RETURN(const GgufValue* v, get_any(key));
    if (v->type() == GgufType::kF32) return (double)v->scalar<float>();
    if (v->type() == GgufType::kF64) return v->scalar<double>();
    return make_error(ErrorCode::kMalformed, "GGUF: key '%.200s' has type %s, expected float32 or float64", key.c_str(),
                      gguf_type_name(v->type()));
  }
  // An array whose elements have type `elem`.
  Result<const GgufValue*> get_array(const std::string& key, GgufType elem) const {
    RSFIQA_ASSIGN_OR_RETURN(const GgufValue* v, get_typed(key, GgufType::kArray));
    if (v->array_type() != elem)
      return make_error(ErrorCode::kMalformed, "GGUF: key '%.200s' is an array of %s, expected an array of %s",
                        key.c_str(), gguf_type_name(v->array_type()), gguf_type_name(elem));
    return v;
  }
  // Copies of numeric arrays (element type must match T exactly).
  template <typename T>
  Result<std::vector<T>> get_array_values(const std::string& key) const {
    RSFIQA_ASSIGN_OR_RETURN(const GgufValue* v, get_array(key, GgufTypeOf<T>::value));
    std::vector<T> out((size_t)v->size());
    if (!out.empty()) std::memcpy(out.data(), v->raw_data(), out.size() * sizeof(T));
    return out;
  }
  Result<std::vector<std::string>> get_string_array(const std::string& key) const {
    RSFIQA_ASSIGN_OR_RETURN(const GgufValue* v, get_array(key, GgufType::kString));
    std::vector<std::string> out;
    out.reserve((size_t)v->size());
    for (uint64_t i = 0; i < v->size(); ++i) out.emplace_back(v->string_at(i));
    return out;
  }

  // ---- tensors (in the order of the tensor-info table)
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(const std::string& name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
  }
  Result<const GgufTensorInfo*> get_tensor(const std::string& name) const {
    const GgufTensorInfo* t = find_tensor(name);
    if (!t) return make_error(ErrorCode::kNotFound, "GGUF: no tensor named '%.300s'", name.c_str());
    return t;
  }
  // Read-only view (PyTorch-order shape) of a tensor's bytes.
  static TensorView view(const GgufTensorInfo& t) { return TensorView(const_cast<uint8_t*>(t.data), t.dtype, t.shape); }

 private:
  template <typename T>
  Result<T> get_scalar(const std::string& key) const {
    RSFIQA_ASSIGN_OR_RETURN(const GgufValue* v, get_typed(key, GgufTypeOf<T>::value));
    return v->scalar<T>();
  }
  Result<const GgufValue*> get_any(const std::string& key) const {
    const GgufValue* v = find_kv(key);
    if (!v) return make_error(ErrorCode::kNotFound, "GGUF: missing key '%.200s'", key.c_str());
    return v;
  }
  Result<const GgufValue*> get_typed(const std::string& key, GgufType t) const {
    RSFIQA_ASSIGN_OR_RETURN(const GgufValue* v, get_any(key));
    if (v->type() != t)
      return make_error(ErrorCode::kMalformed, "GGUF: key '%.200s' has type %s, expected %s", key.c_str(),
                        gguf_type_name(v->type()), gguf_type_name(t));
    return v;
  }

  Status read_string(detail::GgufCursor& c, uint64_t max_len, const char* what, std::string_view* out) {
    const size_t at = c.pos();
    uint64_t len = 0;
    RSFIQA_RETURN_IF_ERROR(c.read(&len, what));
    if (len > max_len)
      return make_error(ErrorCode::kLimitExceeded, "GGUF: %s at byte %zu has length %llu, over the limit of %llu", what,
                        at, (unsigned long long)len, (unsigned long long)max_len);
    RSFIQA_RETURN_IF_ERROR(c.need(len, what));
    *out = std::string_view(reinterpret_cast<const char*>(c.here()), (size_t)len);
    c.skip((size_t)len);
    return Status();
  }

  Status read_type(detail::GgufCursor& c, const std::string& key, GgufType* out) {
    const size_t at = c.pos();
    uint32_t t = 0;
    RSFIQA_RETURN_IF_ERROR(c.read(&t, "a value type"));
    if (t >= kGgufTypeCount)
      return make_error(ErrorCode::kUnsupportedType, "GGUF: key '%.200s' has unknown value type %u at byte %zu",
                        key.c_str(), t, at);
    *out = static_cast<GgufType>(t);
    return Status();
  }

  // Reads one value of type `t` (already consumed) into *v.
  Status read_value(detail::GgufCursor& c, const std::string& key, GgufType t, int depth, GgufValue* v) {
    v->type_ = t;
    const size_t at = c.pos();
    if (t == GgufType::kString) return read_string(c, limits_.max_string_length, "a string value", &v->str_);
    if (t != GgufType::kArray) {
      const size_t sz = gguf_type_size(t);
      RSFIQA_RETURN_IF_ERROR(c.need(sz, "a scalar value"));
      std::memcpy(&v->bits_, c.here(), sz);
      c.skip(sz);
      if (t == GgufType::kBool && v->bits_ > 1)
        return make_error(ErrorCode::kMalformed, "GGUF: key '%.200s' has bool value %llu at byte %zu (must be 0 or 1)",
                          key.c_str(), (unsigned long long)v->bits_, at);
      return Status();
    }
    // Array: element type, count, elements.
    if (depth >= limits_.max_array_depth)
      return make_error(ErrorCode::kLimitExceeded, "GGUF: key '%.200s' nests arrays deeper than %d at byte %zu",
                        key.c_str(), limits_.max_array_depth, at);
    RSFIQA_RETURN_IF_ERROR(read_type(c, key, &v->elem_type_));
    uint64_t n = 0;
    RSFIQA_RETURN_IF_ERROR(c.read(&n, "an array length"));
    if (n > limits_.max_array_length)
      return make_error(ErrorCode::kLimitExceeded,
                        "GGUF: key '%.200s' array of %llu elements is over the limit of %llu", key.c_str(),
                        (unsigned long long)n, (unsigned long long)limits_.max_array_length);
    v->count_ = n;
    const GgufType et = v->elem_type_;
    // Smallest encoding of one element, checked against the remaining bytes
    // before reserving anything.
    const uint64_t min_elem = et == GgufType::kString ? 8 : et == GgufType::kArray ? 12 : gguf_type_size(et);
    uint64_t min_total = 0;
    if (!checked_mul_u64(n, min_elem, &min_total) || min_total > c.remaining())
      return make_error(ErrorCode::kTruncated,
                        "GGUF: key '%.200s' declares %llu %s elements at byte %zu but only %zu bytes remain",
                        key.c_str(), (unsigned long long)n, gguf_type_name(et), at, c.remaining());
    if (et == GgufType::kString) {
      v->strings_.resize((size_t)n);
      for (uint64_t i = 0; i < n; ++i)
        RSFIQA_RETURN_IF_ERROR(read_string(c, limits_.max_string_length, "an array string", &v->strings_[(size_t)i]));
    } else if (et == GgufType::kArray) {
      nested_arrays_ += n;  // cannot overflow: n <= max_array_length and the sum stays <= the cap
      if (nested_arrays_ > limits_.max_nested_arrays)
        return make_error(ErrorCode::kLimitExceeded,
                          "GGUF: key '%.200s' brings the file over the limit of %llu nested arrays", key.c_str(),
                          (unsigned long long)limits_.max_nested_arrays);
      v->arrays_.resize((size_t)n);
      for (uint64_t i = 0; i < n; ++i) {
        GgufValue& e = v->arrays_[(size_t)i];
        RSFIQA_RETURN_IF_ERROR(read_value(c, key, GgufType::kArray, depth + 1, &e));
      }
    } else {
      v->raw_ = c.here();
      if (et == GgufType::kBool)
        for (uint64_t i = 0; i < n; ++i)
          if (v->raw_[i] > 1)
            return make_error(ErrorCode::kMalformed, "GGUF: key '%.200s' bool element %llu is %u (must be 0 or 1)",
                              key.c_str(), (unsigned long long)i, v->raw_[i]);
      c.skip((size_t)min_total);
    }
    return Status();
  }

  Status parse(const uint8_t* p, size_t n, const GgufLimits& limits) {
    base_ = p;
    size_ = n;
    limits_ = limits;
    nested_arrays_ = 0;
    if (n == 0) return make_error(ErrorCode::kEmptyInput, "GGUF: the file is empty");
    detail::GgufCursor c(p, n);
    RSFIQA_RETURN_IF_ERROR(c.need(4, "the magic"));
    if (std::memcmp(p, "GGUF", 4) != 0)
      return make_error(ErrorCode::kBadMagic, "GGUF: bad magic %02x %02x %02x %02x (expected 47 47 55 46, \"GGUF\")",
                        p[0], n > 1 ? p[1] : 0, n > 2 ? p[2] : 0, n > 3 ? p[3] : 0);
    c.skip(4);
    RSFIQA_RETURN_IF_ERROR(c.read(&version_, "the version"));
    if (version_ != 2 && version_ != 3) {
      // A big-endian file stores the version byte-swapped; name that case
      // instead of reporting "version 50331648".
      const uint32_t swapped =
          ((version_ & 0xffu) << 24) | ((version_ & 0xff00u) << 8) | ((version_ >> 8) & 0xff00u) | (version_ >> 24);
      if (swapped == 2 || swapped == 3)
        return make_error(ErrorCode::kUnsupportedVersion,
                          "GGUF: big-endian file (version %u byte-swapped) is not supported", swapped);
      return make_error(ErrorCode::kUnsupportedVersion, "GGUF: version %u is not supported (only 2 and 3)", version_);
    }
    uint64_t n_tensors = 0, n_kv = 0;
    RSFIQA_RETURN_IF_ERROR(c.read(&n_tensors, "the tensor count"));
    RSFIQA_RETURN_IF_ERROR(c.read(&n_kv, "the metadata count"));
    if (n_tensors > limits.max_tensors)
      return make_error(ErrorCode::kLimitExceeded, "GGUF: %llu tensors is over the limit of %llu",
                        (unsigned long long)n_tensors, (unsigned long long)limits.max_tensors);
    if (n_kv > limits.max_kvs)
      return make_error(ErrorCode::kLimitExceeded, "GGUF: %llu metadata entries is over the limit of %llu",
                        (unsigned long long)n_kv, (unsigned long long)limits.max_kvs);
    // Smallest possible KV: 8-byte key length + 1 key byte + 4-byte type +
    // 1 value byte; smallest tensor info: 8 + 1 + 4 + 8 + 4 + 8.
    uint64_t kv_bytes = 0, tensor_bytes = 0, min_bytes = 0;
    const bool fits = checked_mul_u64(n_kv, 14, &kv_bytes) && checked_mul_u64(n_tensors, 33, &tensor_bytes) &&
                      checked_add_u64(kv_bytes, tensor_bytes, &min_bytes);
    if (!fits || min_bytes > c.remaining())
      return make_error(ErrorCode::kTruncated,
                        "GGUF: %llu metadata entries and %llu tensors need at least %llu bytes but only %zu remain",
                        (unsigned long long)n_kv, (unsigned long long)n_tensors, (unsigned long long)min_bytes,
                        c.remaining());

    // ---- metadata: keys must be unique and non-empty; values are decoded
    // (and bounded) by read_value. Only after all KVs are read do we know
    // general.alignment, which the tensor offsets below depend on.
    kvs_.clear();
    kvs_.reserve((size_t)n_kv);
    kv_index_.reserve((size_t)n_kv);
    for (uint64_t i = 0; i < n_kv; ++i) {
      GgufKV kv;
      kv.offset = c.pos();
      std::string_view key;
      RSFIQA_RETURN_IF_ERROR(read_string(c, limits.max_string_length, "a metadata key", &key));
      if (key.empty())
        return make_error(ErrorCode::kMalformed, "GGUF: metadata entry %llu at byte %llu has an empty key",
                          (unsigned long long)i, (unsigned long long)kv.offset);
      kv.key.assign(key.data(), key.size());
      if (kv_index_.count(kv.key))
        return make_error(ErrorCode::kDuplicate, "GGUF: duplicate key '%.200s' at byte %llu", kv.key.c_str(),
                          (unsigned long long)kv.offset);
      GgufType t = GgufType::kU8;
      RSFIQA_RETURN_IF_ERROR(read_type(c, kv.key, &t));
      RSFIQA_RETURN_IF_ERROR(read_value(c, kv.key, t, 0, &kv.value));
      kv_index_.emplace(kv.key, kvs_.size());
      kvs_.push_back(std::move(kv));
    }
    alignment_ = kGgufDefaultAlignment;
    if (const GgufValue* a = find_kv("general.alignment")) {
      if (a->type() != GgufType::kU32)
        return make_error(ErrorCode::kMalformed, "GGUF: key 'general.alignment' has type %s, expected uint32",
                          gguf_type_name(a->type()));
      const uint32_t al = a->scalar<uint32_t>();
      if (!detail::is_pow2(al))
        return make_error(ErrorCode::kAlignment, "GGUF: general.alignment = %u is not a power of two", al);
      alignment_ = al;
    }

    // ---- tensor infos: name, rank, ne[] (ggml order), type, offset. Each is
    // checked on its own here; their layout relative to each other is checked
    // in the data-section pass.
    tensors_.clear();
    tensors_.reserve((size_t)n_tensors);
    tensor_index_.reserve((size_t)n_tensors);
    for (uint64_t i = 0; i < n_tensors; ++i) {
      GgufTensorInfo t;
      const size_t at = c.pos();
      std::string_view name;
      RSFIQA_RETURN_IF_ERROR(read_string(c, limits.max_tensor_name_length, "a tensor name", &name));
      if (name.empty())
        return make_error(ErrorCode::kMalformed, "GGUF: tensor %llu at byte %zu has an empty name",
                          (unsigned long long)i, at);
      t.name.assign(name.data(), name.size());
      const char* nm = t.name.c_str();
      if (tensor_index_.count(t.name))
        return make_error(ErrorCode::kDuplicate, "GGUF: duplicate tensor name '%.200s' at byte %zu", nm, at);
      uint32_t nd = 0;
      RSFIQA_RETURN_IF_ERROR(c.read(&nd, "a tensor rank"));
      if (nd < 1 || nd > 4)
        return make_error(ErrorCode::kMalformed, "GGUF: tensor '%.200s' has %u dimensions (must be 1 to 4)", nm, nd);
      t.n_dims = (int)nd;
      for (uint32_t d = 0; d < nd; ++d) {
        uint64_t v = 0;
        RSFIQA_RETURN_IF_ERROR(c.read(&v, "a tensor dimension"));
        if (v > (uint64_t)INT64_MAX)
          return make_error(ErrorCode::kOverflow, "GGUF: tensor '%.200s' ne[%u] = %llu is above INT64_MAX", nm, d,
                            (unsigned long long)v);
        t.ne[d] = (int64_t)v;
      }
      RSFIQA_RETURN_IF_ERROR(c.read(&t.ggml_type, "a tensor type"));
      if (!gguf_dtype_from_ggml(t.ggml_type, &t.dtype))
        return make_error(ErrorCode::kUnsupportedType,
                          "GGUF: tensor '%.200s' has ggml type %u, which rsfiqa does not read", nm, t.ggml_type);
      RSFIQA_RETURN_IF_ERROR(c.read(&t.offset, "a tensor offset"));
      // PyTorch order is ggml order reversed: ne = {cols, rows} -> [rows, cols].
      t.shape = Shape();
      t.shape.ndim = t.n_dims;
      for (int d = 0; d < t.n_dims; ++d) t.shape.dims[d] = t.ne[t.n_dims - 1 - d];
      const int64_t numel = t.shape.numel();
      if (numel < 0)
        return make_error(ErrorCode::kOverflow, "GGUF: tensor '%.200s' shape %s has more than INT64_MAX elements", nm,
                          t.shape.to_string().c_str());
      // Quant blocks never straddle rows, so ne[0] must be a multiple of the
      // block size; numel is then one too and dtype_bytes cannot fail on it.
      // A zero dimension gives numel 0 and 0 bytes; nothing divides by it.
      const int block = dtype_info(t.dtype).block_size;
      if (t.ne[0] % block != 0)
        return make_error(ErrorCode::kMalformed,
                          "GGUF: tensor '%.200s' rows of %lld elements are not a whole number of %s blocks of %d", nm,
                          (long long)t.ne[0], dtype_name(t.dtype), block);
      t.nbytes = dtype_bytes(t.dtype, numel);
      if (t.nbytes < 0)
        return make_error(ErrorCode::kOverflow, "GGUF: tensor '%.200s' shape %s overflows the byte count", nm,
                          t.shape.to_string().c_str());
      if (t.offset % alignment_ != 0)
        return make_error(ErrorCode::kAlignment,
                          "GGUF: tensor '%.200s' offset %llu is not a multiple of the alignment %u", nm,
                          (unsigned long long)t.offset, alignment_);
      tensor_index_.emplace(t.name, tensors_.size());
      tensors_.push_back(std::move(t));
    }

    // ---- data section: it starts at the first aligned byte after the infos.
    // Sorted by offset (the infos may list tensors in any order), tensor k+1
    // must start exactly where tensor k ends, rounded up to the alignment, so
    // there are neither holes nor overlaps; the first starts at 0.
    if (!detail::align_up_u64(c.pos(), alignment_, &data_offset_))
      return make_error(ErrorCode::kOverflow, "GGUF: data section offset overflows");
    std::vector<size_t> order(tensors_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [this](size_t a, size_t b) {
      const GgufTensorInfo &ta = tensors_[a], &tb = tensors_[b];
      return ta.offset < tb.offset || (ta.offset == tb.offset && ta.nbytes < tb.nbytes);
    });
    uint64_t expect = 0;
    const GgufTensorInfo* prev = nullptr;
    for (size_t k : order) {
      GgufTensorInfo& t = tensors_[k];
      if (t.offset > expect) {
        if (prev)
          return make_error(
              ErrorCode::kMalformed,
              "GGUF: gap before tensor '%.200s' (offset %llu; previous tensor '%.200s' ends, padded, at %llu)",
              t.name.c_str(), (unsigned long long)t.offset, prev->name.c_str(), (unsigned long long)expect);
        return make_error(ErrorCode::kMalformed, "GGUF: the first tensor '%.200s' starts at offset %llu, not 0",
                          t.name.c_str(), (unsigned long long)t.offset);
      }
      if (t.offset < expect)
        return make_error(ErrorCode::kMalformed,
                          "GGUF: tensor '%.200s' at offset %llu overlaps tensor '%.200s', which ends (padded) at %llu",
                          t.name.c_str(), (unsigned long long)t.offset, prev ? prev->name.c_str() : "",
                          (unsigned long long)expect);
      uint64_t start = 0, end = 0;
      if (!checked_add_u64(data_offset_, t.offset, &start) || !checked_add_u64(start, (uint64_t)t.nbytes, &end) ||
          end > n)
        return make_error(ErrorCode::kTruncated,
                          "GGUF: tensor '%.200s' (%lld bytes at data offset %llu) ends past the end of the file "
                          "(%zu bytes, data section at %llu)",
                          t.name.c_str(), (long long)t.nbytes, (unsigned long long)t.offset, n,
                          (unsigned long long)data_offset_);
      t.data = p + start;
      if (!detail::align_up_u64(t.offset + (uint64_t)t.nbytes, alignment_, &expect))
        return make_error(ErrorCode::kOverflow, "GGUF: tensor '%.200s' end offset overflows", t.name.c_str());
      prev = &t;
    }
    return Status();
  }

  MappedFile file_;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  GgufLimits limits_;
  uint32_t version_ = 0;
  uint32_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
  uint64_t nested_arrays_ = 0;
  std::vector<GgufKV> kvs_;
  std::unordered_map<std::string, size_t> kv_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

// ---------------------------------------------------------------- writing

// An encoded array value for GgufWriter::add_array: element type, count and
// the encoded elements. Arrays of arrays may mix inner element types.
class GgufArray {
 public:
  template <typename T>
  static GgufArray of(const std::vector<T>& v) {
    GgufArray a;
    a.elem_ = GgufTypeOf<T>::value;
    a.count_ = v.size();
    const uint8_t* p = reinterpret_cast<const uint8_t*>(v.data());
    a.bytes_.assign(p, p + v.size() * sizeof(T));
    return a;
  }
  static GgufArray of_bools(const std::vector<bool>& v) {
    GgufArray a;
    a.elem_ = GgufType::kBool;
    a.count_ = v.size();
    for (bool b : v) a.bytes_.push_back(b ? 1 : 0);
    return a;
  }
  static GgufArray of_strings(const std::vector<std::string>& v) {
    GgufArray a;
    a.elem_ = GgufType::kString;
    a.count_ = v.size();
    for (const std::string& s : v) {
      put_u64(&a.bytes_, s.size());
      a.bytes_.insert(a.bytes_.end(), s.begin(), s.end());
    }
    return a;
  }
  static GgufArray of_arrays(const std::vector<GgufArray>& v) {
    GgufArray a;
    a.elem_ = GgufType::kArray;
    a.count_ = v.size();
    for (const GgufArray& e : v) e.encode(&a.bytes_);
    return a;
  }
  GgufType elem_type() const { return elem_; }
  uint64_t size() const { return count_; }
  // Appends uint32 elem_type, uint64 count and the elements.
  void encode(std::vector<uint8_t>* out) const {
    put_u32(out, (uint32_t)elem_);
    put_u64(out, count_);
    out->insert(out->end(), bytes_.begin(), bytes_.end());
  }

  static void put_u32(std::vector<uint8_t>* out, uint32_t v) {
    for (int i = 0; i < 4; ++i) out->push_back((uint8_t)(v >> (8 * i)));
  }
  static void put_u64(std::vector<uint8_t>* out, uint64_t v) {
    for (int i = 0; i < 8; ++i) out->push_back((uint8_t)(v >> (8 * i)));
  }

 private:
  GgufType elem_ = GgufType::kU8;
  uint64_t count_ = 0;
  std::vector<uint8_t> bytes_;
};

// Builds a GGUF v3 file (v2 on request). Metadata and tensors are written in
// the order they were added; tensor data are copied in and laid out
// back-to-back, each padded to the alignment. set_alignment() / adding
// 'general.alignment' as uint32 changes the alignment (power of two).
class GgufWriter {
 public:
  Status add_u8(const std::string& k, uint8_t v) { return add_scalar(k, GgufType::kU8, &v, 1); }
  Status add_i8(const std::string& k, int8_t v) { return add_scalar(k, GgufType::kI8, &v, 1); }
  Status add_u16(const std::string& k, uint16_t v) { return add_scalar(k, GgufType::kU16, &v, 2); }
  Status add_i16(const std::string& k, int16_t v) { return add_scalar(k, GgufType::kI16, &v, 2); }
  Status add_u32(const std::string& k, uint32_t v) {
    if (k == "general.alignment") {
      if (!detail::is_pow2(v))
        return make_error(ErrorCode::kAlignment, "GGUF writer: alignment %u is not a power of two", v);
      RSFIQA_RETURN_IF_ERROR(add_scalar(k, GgufType::kU32, &v, 4));
      alignment_ = v;
      return Status();
    }
    return add_scalar(k, GgufType::kU32, &v, 4);
  }
  Status add_i32(const std::string& k, int32_t v) { return add_scalar(k, GgufType::kI32, &v, 4); }
  Status add_f32(const std::string& k, float v) { return add_scalar(k, GgufType::kF32, &v, 4); }
  Status add_u64(const std::string& k, uint64_t v) { return add_scalar(k, GgufType::kU64, &v, 8); }
  Status add_i64(const std::string& k, int64_t v) { return add_scalar(k, GgufType::kI64, &v, 8); }
  Status add_f64(const std::string& k, double v) { return add_scalar(k, GgufType::kF64, &v, 8); }
  Status add_bool(const std::string& k, bool v) {
    const uint8_t b = v ? 1 : 0;
    return add_scalar(k, GgufType::kBool, &b, 1);
  }
  Status add_string(const std::string& k, const std::string& v) {
    std::vector<uint8_t> bytes;
    GgufArray::put_u64(&bytes, v.size());
    bytes.insert(bytes.end(), v.begin(), v.end());
    return add_kv(k, GgufType::kString, std::move(bytes));
  }
  Status add_array(const std::string& k, const GgufArray& a) {
    std::vector<uint8_t> bytes;
    a.encode(&bytes);
    return add_kv(k, GgufType::kArray, std::move(bytes));
  }
  // Copies a value read by GgufFile verbatim (any type, nested arrays too),
  // e.g. to rewrite a file with changed tensors.
  Status add_value(const std::string& k, const GgufValue& v) {
    if (v.type() == GgufType::kU32) return add_u32(k, v.scalar<uint32_t>());
    std::vector<uint8_t> bytes;
    encode_value(v, &bytes);
    return add_kv(k, v.type(), std::move(bytes));
  }
  Status set_alignment(uint32_t a) { return add_u32("general.alignment", a); }
  // 2 or 3 (default 3; the layouts are identical for little-endian files).
  Status set_version(uint32_t v) {
    if (v != 2 && v != 3) return make_error(ErrorCode::kUnsupportedVersion, "GGUF writer: version %u", v);
    version_ = v;
    return Status();
  }

  // A tensor with dimensions in ggml order (ne[0] fastest), 1..4 dims.
  Status add_tensor(const std::string& name, DType dtype, const int64_t* ne, int n_dims, const void* data,
                    size_t nbytes) {
    const char* nm = name.c_str();
    if (name.empty()) return make_error(ErrorCode::kInvalidArgument, "GGUF writer: empty tensor name");
    if (!names_.emplace(name, 0).second)
      return make_error(ErrorCode::kDuplicate, "GGUF writer: duplicate tensor name '%.200s'", nm);
    Entry e;
    Status st = make_entry(name, dtype, ne, n_dims, data, nbytes, &e);
    if (!st.ok()) {
      names_.erase(name);
      return st;
    }
    tensors_.push_back(std::move(e));
    return Status();
  }
  // The same with a PyTorch-order shape (outermost first).
  Status add_tensor(const std::string& name, DType dtype, const Shape& shape, const void* data, size_t nbytes) {
    if (shape.ndim < 1 || shape.ndim > 4)
      return make_error(ErrorCode::kInvalidArgument, "GGUF writer: tensor '%.200s' has rank %d (must be 1 to 4)",
                        name.c_str(), shape.ndim);
    int64_t ne[4];
    for (int d = 0; d < shape.ndim; ++d) ne[d] = shape.dims[shape.ndim - 1 - d];
    return add_tensor(name, dtype, ne, shape.ndim, data, nbytes);
  }

  Result<std::vector<uint8_t>> serialize() const {
    std::vector<uint8_t> out;
    const uint8_t magic[4] = {'G', 'G', 'U', 'F'};
    out.insert(out.end(), magic, magic + 4);
    GgufArray::put_u32(&out, version_);
    GgufArray::put_u64(&out, tensors_.size());
    GgufArray::put_u64(&out, kvs_.size());
    for (const KV& kv : kvs_) {
      GgufArray::put_u64(&out, kv.key.size());
      out.insert(out.end(), kv.key.begin(), kv.key.end());
      GgufArray::put_u32(&out, (uint32_t)kv.type);
      out.insert(out.end(), kv.bytes.begin(), kv.bytes.end());
    }
    uint64_t off = 0;
    for (const Entry& e : tensors_) {
      GgufArray::put_u64(&out, e.name.size());
      out.insert(out.end(), e.name.begin(), e.name.end());
      GgufArray::put_u32(&out, (uint32_t)e.n_dims);
      for (int d = 0; d < e.n_dims; ++d) GgufArray::put_u64(&out, (uint64_t)e.ne[d]);
      GgufArray::put_u32(&out, (uint32_t)e.dtype);
      GgufArray::put_u64(&out, off);
      off += padded(e.bytes.size());
    }
    out.resize(padded(out.size()), 0);
    for (const Entry& e : tensors_) {
      out.insert(out.end(), e.bytes.begin(), e.bytes.end());
      out.resize(padded(out.size()), 0);
    }
    return out;
  }
  Status write(const std::string& path) const {
    RSFIQA_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, serialize());
    return write_file_atomic(path, bytes.data(), bytes.size());
  }

 private:
  struct KV {
    std::string key;
    GgufType type;
    std::vector<uint8_t> bytes;  // encoded value
  };
  struct Entry {
    std::string name;
    DType dtype;
    int n_dims;
    int64_t ne[4];
    std::vector<uint8_t> bytes;
  };

  size_t padded(size_t v) const { return (v + alignment_ - 1) / alignment_ * alignment_; }

  // The encoding of a value without its type tag.
  static void encode_value(const GgufValue& v, std::vector<uint8_t>* out) {
    if (v.type() == GgufType::kString) {
      GgufArray::put_u64(out, v.str_.size());
      out->insert(out->end(), v.str_.begin(), v.str_.end());
      return;
    }
    if (v.type() != GgufType::kArray) {
      uint8_t b[8];
      std::memcpy(b, &v.bits_, 8);
      out->insert(out->end(), b, b + gguf_type_size(v.type()));
      return;
    }
    GgufArray::put_u32(out, (uint32_t)v.elem_type_);
    GgufArray::put_u64(out, v.count_);
    if (v.elem_type_ == GgufType::kString) {
      for (std::string_view sv : v.strings_) {
        GgufArray::put_u64(out, sv.size());
        out->insert(out->end(), sv.begin(), sv.end());
      }
    } else if (v.elem_type_ == GgufType::kArray) {
      for (const GgufValue& e : v.arrays_) encode_value(e, out);
    } else if (v.count_ > 0) {
      out->insert(out->end(), v.raw_, v.raw_ + v.count_ * gguf_type_size(v.elem_type_));
    }
  }

  Status add_scalar(const std::string& k, GgufType t, const void* v, size_t n) {
    const uint8_t* p = static_cast<const uint8_t*>(v);
    return add_kv(k, t, std::vector<uint8_t>(p, p + n));
  }
  Status add_kv(const std::string& k, GgufType t, std::vector<uint8_t> bytes) {
    if (k.empty()) return make_error(ErrorCode::kInvalidArgument, "GGUF writer: empty key");
    if (k == "general.alignment" && t != GgufType::kU32)
      return make_error(ErrorCode::kMalformed, "GGUF writer: general.alignment must be uint32");
    if (!keys_.emplace(k, 0).second)
      return make_error(ErrorCode::kDuplicate, "GGUF writer: duplicate key '%.200s'", k.c_str());
    kvs_.push_back({k, t, std::move(bytes)});
    return Status();
  }
  static Status make_entry(const std::string& name, DType dtype, const int64_t* ne, int n_dims, const void* data,
                           size_t nbytes, Entry* e) {
    const char* nm = name.c_str();
    DType check;
    if (!gguf_dtype_from_ggml((uint32_t)dtype, &check) || (int)dtype < 0)
      return make_error(ErrorCode::kUnsupportedType, "GGUF writer: tensor '%.200s': dtype %s has no ggml type", nm,
                        dtype_name(dtype));
    if (n_dims < 1 || n_dims > 4 || !ne)
      return make_error(ErrorCode::kInvalidArgument, "GGUF writer: tensor '%.200s' has %d dims (must be 1 to 4)", nm,
                        n_dims);
    int64_t numel = 1;
    for (int d = 0; d < n_dims; ++d)
      if (!checked_mul(numel, ne[d], &numel))
        return make_error(ErrorCode::kOverflow, "GGUF writer: tensor '%.200s' dims overflow or are negative", nm);
    if (ne[0] % dtype_info(dtype).block_size != 0)
      return make_error(ErrorCode::kShapeMismatch, "GGUF writer: tensor '%.200s' rows of %lld are not whole %s blocks",
                        nm, (long long)ne[0], dtype_name(dtype));
    const int64_t need = dtype_bytes(dtype, numel);
    if (need < 0 || (uint64_t)need != (uint64_t)nbytes)
      return make_error(ErrorCode::kShapeMismatch, "GGUF writer: tensor '%.200s' needs %lld bytes, got %zu", nm,
                        (long long)need, nbytes);
    if (nbytes > 0 && !data)
      return make_error(ErrorCode::kInvalidArgument, "GGUF writer: tensor '%.200s' has null data", nm);
    e->name = name;
    e->dtype = dtype;
    e->n_dims = n_dims;
    for (int d = 0; d < 4; ++d) e->ne[d] = d < n_dims ? ne[d] : 1;
    const uint8_t* p = static_cast<const uint8_t*>(data);
    if (nbytes) e->bytes.assign(p, p + nbytes);
    return Status();
  }

  uint32_t version_ = 3;
  uint32_t alignment_ = kGgufDefaultAlignment;
  std::vector<KV> kvs_;
  std::unordered_map<std::string, int> keys_;
  std::vector<Entry> tensors_;
  std::unordered_map<std::string, int> names_;
};

}  // namespace rsfiqa::io

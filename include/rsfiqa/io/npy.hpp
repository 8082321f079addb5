// SPDX-License-Identifier: MIT
// NumPy .npy files of little-endian float32 arrays: an encoder writing format
// version 1.0 and a validating decoder reading versions 1.0, 2.0 and 3.0.
//
// Layout (NumPy's "format.py" NEP 1 description): the magic "\x93NUMPY", a
// major and a minor version byte, the header length (uint16 LE for 1.0,
// uint32 LE for 2.0/3.0), then an ASCII Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (256, 64, 64), }
// padded with spaces and ended by '\n' so the data start at a multiple of 64
// bytes, then the raw C-order data.
//
// What it does not do: no other dtypes (only '<f4'), no Fortran order, no
// pickled objects, no .npz archives; a big-endian host is not supported.
// Errors name the offending field (kBadMagic, kUnsupportedVersion,
// kUnsupportedType, kMalformed, kTruncated, kLimitExceeded).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "rsfiqa/core/checked.hpp"
#include "rsfiqa/core/status.hpp"
#include "rsfiqa/io/file.hpp"

namespace rsfiqa::io {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;  // C order, product(shape) values
};

// The .npy bytes (version 1.0) of a float32 array; `data` holds product(shape) values.
inline Result<std::vector<uint8_t>> npy_encode_f32(const float* data, const std::vector<int64_t>& shape) {
  int64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0) return make_error(ErrorCode::kInvalidArgument, "npy: negative dimension %lld", (long long)d);
    if (!checked_mul(count, d, &count)) return make_error(ErrorCode::kOverflow, "npy: element count overflows");
  }
  if (count > 0 && !data) return make_error(ErrorCode::kInvalidArgument, "npy: null data");
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) {
    dict += std::to_string((long long)shape[i]);
    if (shape.size() == 1 || i + 1 < shape.size()) dict += ",";
    if (i + 1 < shape.size()) dict += " ";
  }
  dict += "), }";
  // Pad so that 10 (preamble) + header length is a multiple of 64, '\n' last.
  size_t total = 10 + dict.size() + 1;
  const size_t pad = (64 - total % 64) % 64;
  dict.append(pad, ' ');
  dict += '\n';
  if (dict.size() > 65535) return make_error(ErrorCode::kLimitExceeded, "npy: header too long for version 1.0");
  std::vector<uint8_t> out;
  out.reserve(10 + dict.size() + (size_t)count * 4);
  const uint8_t magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  out.insert(out.end(), magic, magic + 8);
  out.push_back((uint8_t)(dict.size() & 0xff));
  out.push_back((uint8_t)(dict.size() >> 8));
  out.insert(out.end(), dict.begin(), dict.end());
  const size_t off = out.size();
  out.resize(off + (size_t)count * 4);
  if (count > 0) std::memcpy(out.data() + off, data, (size_t)count * 4);
  return out;
}

inline Status save_npy_f32(const std::string& path, const float* data, const std::vector<int64_t>& shape) {
  RSFIQA_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, npy_encode_f32(data, shape));
  return write_file_atomic(path, bytes.data(), bytes.size());
}

namespace detail {
// Finds `'key':` in the header dict and returns the position after the colon
// and any spaces, or npos.
inline size_t npy_value_pos(const std::string& h, const char* key) {
  const std::string k = std::string("'") + key + "'";
  size_t p = h.find(k);
  if (p == std::string::npos) return p;
  p += k.size();
  while (p < h.size() && h[p] == ' ') ++p;
  if (p >= h.size() || h[p] != ':') return std::string::npos;
  ++p;
  while (p < h.size() && h[p] == ' ') ++p;
  return p;
}
}  // namespace detail

// Parses .npy bytes holding a '<f4' C-order array of at most max_values values.
inline Result<NpyArray> npy_decode_f32(const uint8_t* bytes, size_t size, int64_t max_values = (int64_t)1 << 28) {
  if (size < 10 || std::memcmp(bytes, "\x93NUMPY", 6) != 0)
    return make_error(ErrorCode::kBadMagic, "npy: missing the \\x93NUMPY magic");
  const int major = bytes[6], minor = bytes[7];
  size_t hlen, hoff;
  if (major == 1) {
    hlen = (size_t)bytes[8] | ((size_t)bytes[9] << 8);
    hoff = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) return make_error(ErrorCode::kTruncated, "npy: file ends inside the header length");
    hlen = (size_t)bytes[8] | ((size_t)bytes[9] << 8) | ((size_t)bytes[10] << 16) | ((size_t)bytes[11] << 24);
    hoff = 12;
  } else {
    return make_error(ErrorCode::kUnsupportedVersion, "npy: format version %d.%d (expected 1.0, 2.0 or 3.0)", major,
                      minor);
  }
  if (hlen > 1 << 20) return make_error(ErrorCode::kLimitExceeded, "npy: header length %zu is over 1 MiB", hlen);
  if (hoff + hlen > size)
    return make_error(ErrorCode::kTruncated, "npy: header of %zu bytes at offset %zu runs past the end (%zu bytes)",
                      hlen, hoff, size);
  const std::string h(reinterpret_cast<const char*>(bytes + hoff), hlen);
  size_t p = detail::npy_value_pos(h, "descr");
  if (p == std::string::npos) return make_error(ErrorCode::kMalformed, "npy: header has no 'descr'");
  if (h.compare(p, 5, "'<f4'") != 0) {
    const size_t e = h.find_first_of(",}", p);
    return make_error(ErrorCode::kUnsupportedType, "npy: descr %s is not '<f4' (little-endian float32)",
                      h.substr(p, e == std::string::npos ? 16 : e - p).c_str());
  }
  p = detail::npy_value_pos(h, "fortran_order");
  if (p == std::string::npos) return make_error(ErrorCode::kMalformed, "npy: header has no 'fortran_order'");
  if (h.compare(p, 5, "False") != 0)
    return make_error(ErrorCode::kUnsupportedType, "npy: Fortran-order arrays are not supported");
  p = detail::npy_value_pos(h, "shape");
  if (p == std::string::npos || h[p] != '(')
    return make_error(ErrorCode::kMalformed, "npy: header has no 'shape' tuple");
  ++p;
  NpyArray a;
  int64_t count = 1;
  for (;;) {
    while (p < h.size() && h[p] == ' ') ++p;
    if (p >= h.size()) return make_error(ErrorCode::kMalformed, "npy: unterminated shape tuple");
    if (h[p] == ')') break;
    if (h[p] < '0' || h[p] > '9') return make_error(ErrorCode::kMalformed, "npy: bad character in shape at %zu", p);
    int64_t d = 0;
    while (p < h.size() && h[p] >= '0' && h[p] <= '9') {
      if (d > ((int64_t)1 << 40)) return make_error(ErrorCode::kLimitExceeded, "npy: dimension too large");
      d = d * 10 + (h[p] - '0');
      ++p;
    }
    a.shape.push_back(d);
    if (a.shape.size() > 32) return make_error(ErrorCode::kLimitExceeded, "npy: more than 32 dimensions");
    if (!checked_mul(count, d, &count) || count > max_values)
      return make_error(ErrorCode::kLimitExceeded, "npy: array has more than %lld values", (long long)max_values);
    while (p < h.size() && h[p] == ' ') ++p;
    if (p < h.size() && h[p] == ',') ++p;
  }
  const size_t data_off = hoff + hlen;
  const size_t need = (size_t)count * 4;
  if (size - data_off < need)
    return make_error(ErrorCode::kTruncated, "npy: %zu data bytes at offset %zu, shape needs %zu", size - data_off,
                      data_off, need);
  if (size - data_off > need)
    return make_error(ErrorCode::kMalformed, "npy: %zu trailing bytes after the array data", size - data_off - need);
  a.data.resize((size_t)count);
  if (count > 0) std::memcpy(a.data.data(), bytes + data_off, need);
  return a;
}

inline Result<NpyArray> load_npy_f32(const std::string& path, int64_t max_values = (int64_t)1 << 28) {
  RSFIQA_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, read_file_bytes(path, (size_t)max_values * 4 + (1 << 20)));
  auto r = npy_decode_f32(bytes.data(), bytes.size(), max_values);
  if (!r.ok()) {
    Status st = r.status();
    return st.with_context(path);
  }
  return r;
}

}  // namespace rsfiqa::io

// SPDX-License-Identifier: MIT
// Element types: the dtypes tensors can hold (f32, f16, bf16, integers) and
// the block-quantized GGUF types, with their block size and bytes per block,
// plus scalar f16/bf16 <-> f32 conversions. The quant block *layouts* live in
// kernels/quant.hpp; this file only knows sizes, so io/ can validate files
// without the kernels.
#pragma once

#include <cstdint>
#include <cstring>

#include "rsfiqa/core/config.hpp"

namespace rsfiqa {

// Numeric values of the quant types follow GGUF's ggml_type so a reader can
// map them directly; the plain dtypes follow the same table where it has them.
enum class DType : int {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kBF16 = 30,
  // Types safetensors has and GGUF does not: numbers outside GGUF's range.
  kU8 = 1000,
  kBool = 1001,
  kU16 = 1002,
  kU32 = 1003,
  kU64 = 1004,
  kInvalid = -1,
};

struct DTypeInfo {
  const char* name;   // "f32", "q4_0", ...
  int block_size;     // elements per block (1 for plain types)
  int block_bytes;    // bytes per block
};

inline DTypeInfo dtype_info(DType t) {
  switch (t) {
    case DType::kF32: return {"f32", 1, 4};
    case DType::kF16: return {"f16", 1, 2};
    case DType::kBF16: return {"bf16", 1, 2};
    case DType::kF64: return {"f64", 1, 8};
    case DType::kI8: return {"i8", 1, 1};
    case DType::kI16: return {"i16", 1, 2};
    case DType::kI32: return {"i32", 1, 4};
    case DType::kI64: return {"i64", 1, 8};
    case DType::kU8: return {"u8", 1, 1};
    case DType::kBool: return {"bool", 1, 1};
    case DType::kU16: return {"u16", 1, 2};
    case DType::kU32: return {"u32", 1, 4};
    case DType::kU64: return {"u64", 1, 8};
    case DType::kQ4_0: return {"q4_0", 32, 18};
    case DType::kQ4_1: return {"q4_1", 32, 20};
    case DType::kQ5_0: return {"q5_0", 32, 22};
    case DType::kQ5_1: return {"q5_1", 32, 24};
    case DType::kQ8_0: return {"q8_0", 32, 34};
    case DType::kQ8_1: return {"q8_1", 32, 36};
    case DType::kQ2_K: return {"q2_k", 256, 84};
    case DType::kQ3_K: return {"q3_k", 256, 110};
    case DType::kQ4_K: return {"q4_k", 256, 144};
    case DType::kQ5_K: return {"q5_k", 256, 176};
    case DType::kQ6_K: return {"q6_k", 256, 210};
    case DType::kQ8_K: return {"q8_k", 256, 292};
    case DType::kInvalid: break;
  }
  return {"invalid", 0, 0};
}

inline bool dtype_valid(DType t) { return dtype_info(t).block_size > 0; }
inline bool dtype_is_quantized(DType t) { return dtype_info(t).block_size > 1; }
inline const char* dtype_name(DType t) { return dtype_info(t).name; }

// ---- scalar half-precision conversions (bit-exact IEEE round-to-nearest-even)

inline float bits_to_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint32_t f32_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// IEEE binary16 -> binary32, exact for every input including subnormals,
// infinities and NaN.
inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    if (mant == 0) return bits_to_f32(sign);
    // subnormal: value = mant * 2^-24
    float v = (float)mant * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  if (exp == 31) return bits_to_f32(sign | 0x7f800000u | (mant << 13));
  return bits_to_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

// binary32 -> binary16 with round-to-nearest-even, overflow to infinity, NaN
// kept quiet.
inline uint16_t f32_to_f16(float f) {
  uint32_t x = f32_to_bits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  x &= 0x7fffffffu;
  if (x >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (x > 0x7f800000u ? 0x200u : 0));
  if (x >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);  // rounds to >= 65520 -> inf
  if (x < 0x38800000u) {                                   // below the smallest normal f16
    // subnormal or zero: scale to units of 2^-24 and round to nearest even
    float v = bits_to_f32(x) * 16777216.0f;                // exact (power of two)
    uint32_t r = (uint32_t)v;
    float frac = v - (float)r;
    if (frac > 0.5f || (frac == 0.5f && (r & 1u))) ++r;
    return (uint16_t)(sign | r);
  }
  uint32_t mant = x & 0x7fffffu;
  uint32_t exp = (x >> 23) - 112;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // carry into exp is correct
  return (uint16_t)(sign | h);
}

inline float bf16_to_f32(uint16_t b) { return bits_to_f32((uint32_t)b << 16); }

// binary32 -> bfloat16, round-to-nearest-even, NaN kept quiet.
inline uint16_t f32_to_bf16(float f) {
  uint32_t x = f32_to_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);
  x += 0x7fffu + ((x >> 16) & 1u);
  return (uint16_t)(x >> 16);
}

}  // namespace rsfiqa

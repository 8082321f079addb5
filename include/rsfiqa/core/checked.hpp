// SPDX-License-Identifier: MIT
// Overflow-checked integer arithmetic for sizes derived from untrusted input
// (shape products, byte counts, offsets). Every parser multiplies through
// these helpers before it allocates or indexes anything.
#pragma once

#include <cstdint>
#include <limits>

namespace rsfiqa {

// a*b into *out; false on overflow or on a negative operand.
inline bool checked_mul(int64_t a, int64_t b, int64_t* out) {
  if (a < 0 || b < 0) return false;
#if defined(__GNUC__) || defined(__clang__)
  return !__builtin_mul_overflow(a, b, out);
#else
  if (a != 0 && b > std::numeric_limits<int64_t>::max() / a) return false;
  *out = a * b;
  return true;
#endif
}

inline bool checked_add(int64_t a, int64_t b, int64_t* out) {
  if (a < 0 || b < 0) return false;
#if defined(__GNUC__) || defined(__clang__)
  return !__builtin_add_overflow(a, b, out);
#else
  if (b > std::numeric_limits<int64_t>::max() - a) return false;
  *out = a + b;
  return true;
#endif
}

inline bool checked_mul_u64(uint64_t a, uint64_t b, uint64_t* out) {
#if defined(__GNUC__) || defined(__clang__)
  return !__builtin_mul_overflow(a, b, out);
#else
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return false;
  *out = a * b;
  return true;
#endif
}

inline bool checked_add_u64(uint64_t a, uint64_t b, uint64_t* out) {
#if defined(__GNUC__) || defined(__clang__)
  return !__builtin_add_overflow(a, b, out);
#else
  if (b > std::numeric_limits<uint64_t>::max() - a) return false;
  *out = a + b;
  return true;
#endif
}

}  // namespace rsfiqa

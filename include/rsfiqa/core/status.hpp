// SPDX-License-Identifier: MIT
// The error model: every fallible library call returns a Status or a
// Result<T>. A Status is a stable numeric code plus a message naming the cause
// (file, tensor name, expected vs actual shape, byte offset). The library never
// throws, prints or exits; callers decide what to do with a failure.
//
// Codes are part of the public API: their numbers never change and new ones
// are only appended. `error_code_name` gives a short machine-readable name.
#pragma once

#include <cstdarg>
#include <cstdio>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

#include "rsfiqa/core/config.hpp"

namespace rsfiqa {

enum class ErrorCode : int {
  kOk = 0,
  kInvalidArgument = 1,    // a caller-supplied value is out of range or inconsistent
  kIoError = 2,            // open/read/write/mmap failed
  kNotFound = 3,           // a named tensor, key or file does not exist
  kTruncated = 4,          // the data ends before a declared section does
  kBadMagic = 5,           // not the file type the reader expected
  kUnsupportedVersion = 6, // a known format at a version we do not read
  kUnsupportedType = 7,    // a dtype / quant type / metadata type we do not handle
  kMalformed = 8,          // structurally invalid (bad JSON, overlap, holes, ...)
  kLimitExceeded = 9,      // a count, size or dimension over a configured cap
  kShapeMismatch = 10,     // a tensor's shape is not the one the model expects
  kOutOfMemory = 11,       // an allocation failed
  kDuplicate = 12,         // a duplicate key or tensor name
  kAlignment = 13,         // an offset or alignment value is not acceptable
  kOverflow = 14,          // an arithmetic overflow in sizes derived from input
  kUnsupportedFormat = 15, // an image format we do not decode (GIF, ...)
  kEmptyInput = 16,        // zero-size image, empty file, empty prompt grid
  kInternal = 17,          // a broken invariant that was caught gracefully
  kCancelled = 18,         // a callback asked to stop
};

inline const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return "ok";
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kIoError: return "io_error";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kTruncated: return "truncated";
    case ErrorCode::kBadMagic: return "bad_magic";
    case ErrorCode::kUnsupportedVersion: return "unsupported_version";
    case ErrorCode::kUnsupportedType: return "unsupported_type";
    case ErrorCode::kMalformed: return "malformed";
    case ErrorCode::kLimitExceeded: return "limit_exceeded";
    case ErrorCode::kShapeMismatch: return "shape_mismatch";
    case ErrorCode::kOutOfMemory: return "out_of_memory";
    case ErrorCode::kDuplicate: return "duplicate";
    case ErrorCode::kAlignment: return "alignment";
    case ErrorCode::kOverflow: return "overflow";
    case ErrorCode::kUnsupportedFormat: return "unsupported_format";
    case ErrorCode::kEmptyInput: return "empty_input";
    case ErrorCode::kInternal: return "internal";
    case ErrorCode::kCancelled: return "cancelled";
  }
  return "unknown";
}

// A success or an error with a message. Cheap to return on success (no
// allocation: the message string stays empty).
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return Status(); }

  bool ok() const { return code_ == ErrorCode::kOk; }
  explicit operator bool() const { return ok(); }
  ErrorCode code() const { return code_; }
  int code_value() const { return static_cast<int>(code_); }
  const std::string& message() const { return message_; }

  // "truncated: tensor 'x' ends at byte 90 but the file has 64 bytes"
  std::string to_string() const {
    if (ok()) return "ok";
    return std::string(error_code_name(code_)) + ": " + message_;
  }

  // Prefixes context ("while loading encoder.safetensors: ...") to an error.
  Status& with_context(const std::string& context) {
    if (!ok()) message_ = context + ": " + message_;
    return *this;
  }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

// printf-style message builder for error paths (never used for output: the
// text only travels inside a Status).
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
inline Status make_error(ErrorCode code, const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return Status(code, buf);
}

// Result<T>: a value or a Status, without exceptions. Accessing the value of
// an error result is a broken invariant (RSFIQA_ASSERT), never UB in release
// code paths that check ok() first.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : status_(), has_value_(true) { new (&storage_) T(std::move(value)); }  // NOLINT
  Result(Status status) : status_(std::move(status)), has_value_(false) {                 // NOLINT
    RSFIQA_ASSERT(!status_.ok());
    if (status_.ok()) status_ = Status(ErrorCode::kInternal, "Result built from an ok Status");
  }
  Result(const Result& o) : status_(o.status_), has_value_(o.has_value_) {
    if (has_value_) new (&storage_) T(o.value());
  }
  Result(Result&& o) noexcept : status_(std::move(o.status_)), has_value_(o.has_value_) {
    if (has_value_) new (&storage_) T(std::move(o.value()));
  }
  Result& operator=(Result o) noexcept {
    destroy();
    status_ = std::move(o.status_);
    has_value_ = o.has_value_;
    if (has_value_) new (&storage_) T(std::move(o.value()));
    return *this;
  }
  ~Result() { destroy(); }

  bool ok() const { return has_value_; }
  explicit operator bool() const { return ok(); }
  const Status& status() const { return status_; }

  T& value() & {
    RSFIQA_ASSERT(has_value_);
    return *reinterpret_cast<T*>(&storage_);
  }
  const T& value() const& {
    RSFIQA_ASSERT(has_value_);
    return *reinterpret_cast<const T*>(&storage_);
  }
  T&& value() && {
    RSFIQA_ASSERT(has_value_);
    return std::move(*reinterpret_cast<T*>(&storage_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  void destroy() {
    if (has_value_) reinterpret_cast<T*>(&storage_)->~T();
    has_value_ = false;
  }
  Status status_;
  bool has_value_;
  typename std::aligned_storage<sizeof(T), alignof(T)>::type storage_;
};

}  // namespace rsfiqa

// Propagates an error Status from an expression returning Status.
#define RSFIQA_RETURN_IF_ERROR(expr)             \
  do {                                           \
    ::rsfiqa::Status rsfiqa_status_ = (expr);    \
    if (!rsfiqa_status_.ok()) return rsfiqa_status_; \
  } while (0)

#define RSFIQA_CONCAT_INNER_(a, b) a##b
#define RSFIQA_CONCAT_(a, b) RSFIQA_CONCAT_INNER_(a, b)
// `RSFIQA_ASSIGN_OR_RETURN(auto x, make_x());` declares x from a Result or
// returns its Status.
#define RSFIQA_ASSIGN_OR_RETURN(lhs, expr) \
  RSFIQA_ASSIGN_OR_RETURN_IMPL_(RSFIQA_CONCAT_(rsfiqa_result_, __LINE__), lhs, expr)
#define RSFIQA_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()

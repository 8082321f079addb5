// SPDX-License-Identifier: MIT
// Optional logging through a user callback. The library never writes to
// stdout/stderr itself: with no callback installed, log lines are dropped.
// The CLI installs a callback that prints to stderr.
#pragma once

#include <atomic>
#include <cstdarg>
#include <cstdio>

namespace rsfiqa {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

using LogCallback = void (*)(LogLevel level, const char* message, void* user_data);

namespace detail {
struct LogSink {
  std::atomic<LogCallback> callback{nullptr};
  std::atomic<void*> user_data{nullptr};
};
inline LogSink& log_sink() {
  static LogSink sink;
  return sink;
}
}  // namespace detail

inline void set_log_callback(LogCallback cb, void* user_data = nullptr) {
  detail::log_sink().user_data.store(user_data);
  detail::log_sink().callback.store(cb);
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
inline void log_message(LogLevel level, const char* fmt, ...) {
  LogCallback cb = detail::log_sink().callback.load();
  if (!cb) return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  cb(level, buf, detail::log_sink().user_data.load());
}

}  // namespace rsfiqa

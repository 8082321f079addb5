// SPDX-License-Identifier: MIT
// Batch mode of `rsfiqa assess`: expanding the inputs, writing one JSONL line
// per image the moment it is done, resuming an interrupted run, and progress.
//
//   * expand_inputs: each argument is a file (kept as given, even when it
//     does not exist: that image then gets an error record), a directory
//     (walked recursively; regular files whose extension is .png/.jpg/.jpeg/
//     .bmp, any case, or whose first bytes are a PNG, JPEG or BMP magic; each
//     directory's files are sorted by path bytes, so the order does not depend
//     on the file system), or "@list.txt" (one path per line; blank lines and
//     lines starting with '#' are skipped; paths are used as written, i.e.
//     relative to the working directory; directories in a list are walked
//     too). A path that appears twice is kept once, at its first position.
//   * JsonlWriter: appends "line\n" with write(2) and fsync(2)s it before
//     returning, so a crash loses at most the image being processed. A write
//     that fails part way (ENOSPC, EFBIG) is cut back (ftruncate) to the
//     previous end of the file, so an error leaves only whole lines behind.
//   * load_resume: reads an existing JSONL output and returns the files it
//     already holds (from "image"."file", result and error records alike:
//     "present in the output" is done). A last line cut short by a crash
//     (no final newline, or not valid JSON) is dropped and the file rewritten
//     atomically without it; a bad line elsewhere is an error (kMalformed,
//     naming the line) and the file is left alone.
//   * run_batch: runs one callback per remaining image, sequentially (each
//     image uses all threads inside the models, so memory stays that of one
//     image), writes its line or an error record, and reports progress
//     (done/total, images/s, ETA).
//
// What it does not do: no model code (the callback does the work), no
// concurrency between images (see above), no Windows paths beyond what
// std::filesystem offers. Follows RELIABILITY.md, "Nothing lost".
#pragma once

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "rsfiqa/core/status.hpp"
#include "rsfiqa/io/file.hpp"
#include "rsfiqa/io/image.hpp"
#include "rsfiqa/io/json.hpp"
#include "rsfiqa/pipeline/report.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <unistd.h>
#define RSFIQA_BATCH_POSIX 1
#else
#define RSFIQA_BATCH_POSIX 0
#endif

namespace rsfiqa {

namespace detail {
inline bool has_image_extension(const std::string& path) {
  for (const char* e : {".png", ".jpg", ".jpeg", ".bmp"})
    if (io::detail::ends_with_nocase(path, e)) return true;
  return false;
}

// True when the file starts with a PNG, JPEG or BMP signature.
inline bool has_image_magic(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  uint8_t head[16];
  const size_t n = std::fread(head, 1, sizeof(head), f);
  std::fclose(f);
  const io::ImageFormat fmt = io::sniff_image_format(head, n);
  return fmt == io::ImageFormat::kPng || fmt == io::ImageFormat::kJpeg || fmt == io::ImageFormat::kBmp;
}

inline Status walk_directory(const std::string& dir, std::vector<std::string>* out) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<std::string> found;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
  if (ec) return Status(ErrorCode::kIoError, "cannot read directory '" + dir + "': " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return Status(ErrorCode::kIoError, "cannot read directory '" + dir + "': " + ec.message());
    std::error_code ec2;
    if (!it->is_regular_file(ec2) || ec2) continue;
    const std::string p = it->path().string();
    if (has_image_extension(p) || has_image_magic(p)) found.push_back(p);
  }
  std::sort(found.begin(), found.end());
  out->insert(out->end(), found.begin(), found.end());
  return Status();
}

inline Status expand_one(const std::string& arg, std::vector<std::string>* out) {
  std::error_code ec;
  if (std::filesystem::is_directory(arg, ec)) return walk_directory(arg, out);
  out->push_back(arg);
  return Status();
}

inline std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && (s[a] == ' ' || s[a] == '\t' || s[a] == '\r')) ++a;
  while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r')) --b;
  return s.substr(a, b - a);
}
}  // namespace detail

// Largest "@list.txt" file read (64 MiB: about a million paths).
constexpr size_t kMaxListBytes = size_t(64) << 20;

// Expands files, directories and @lists into the ordered list of images (see
// the header comment). Errors: a list file that cannot be read (kNotFound,
// kIoError), a directory that cannot be walked (kIoError), no image at all
// (kEmptyInput).
inline Result<std::vector<std::string>> expand_inputs(const std::vector<std::string>& args) {
  std::vector<std::string> all;
  for (const std::string& a : args) {
    if (a.size() > 1 && a[0] == '@') {
      const std::string list = a.substr(1);
      auto bytes = io::read_file_bytes(list, kMaxListBytes);
      if (!bytes.ok()) {
        Status s = bytes.status();
        return s.with_context("cannot read input list '" + list + "'");
      }
      const std::string text(bytes->begin(), bytes->end());
      size_t start = 0;
      while (start <= text.size()) {
        size_t nl = text.find('\n', start);
        if (nl == std::string::npos) nl = text.size();
        const std::string line = detail::trim(text.substr(start, nl - start));
        if (!line.empty() && line[0] != '#') RSFIQA_RETURN_IF_ERROR(detail::expand_one(line, &all));
        start = nl + 1;
      }
    } else {
      RSFIQA_RETURN_IF_ERROR(detail::expand_one(a, &all));
    }
  }
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (std::string& p : all)
    if (seen.insert(p).second) out.push_back(std::move(p));
  if (out.empty()) return make_error(ErrorCode::kEmptyInput, "no input images (the arguments name no image files)");
  return out;
}

// Appends lines to a JSONL file, each made durable (fsync) before write_line
// returns. Move-only; closes the file when destroyed.
class JsonlWriter {
 public:
  JsonlWriter() = default;
  JsonlWriter(JsonlWriter&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
  JsonlWriter& operator=(JsonlWriter&& o) noexcept {
    if (this != &o) {
      close();
      fd_ = o.fd_;
      path_ = std::move(o.path_);
      o.fd_ = -1;
    }
    return *this;
  }
  JsonlWriter(const JsonlWriter&) = delete;
  JsonlWriter& operator=(const JsonlWriter&) = delete;
  ~JsonlWriter() { close(); }

  // append = false truncates an existing file. Errors: kIoError naming the
  // path and the system's reason (missing folder, no permission, ...).
  static Result<JsonlWriter> open(const std::string& path, bool append) {
    JsonlWriter w;
    w.path_ = path;
#if RSFIQA_BATCH_POSIX
    const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
    w.fd_ = ::open(path.c_str(), flags, 0644);
    if (w.fd_ < 0) {
      const int err = errno;
      return Status(ErrorCode::kIoError, "cannot open output '" + path + "' for writing: " + std::strerror(err));
    }
#else
    w.file_ = std::fopen(path.c_str(), append ? "ab" : "wb");
    if (!w.file_) return Status(ErrorCode::kIoError, "cannot open output '" + path + "' for writing");
    w.fd_ = 0;
#endif
    return w;
  }

  bool is_open() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }

  // Writes `line` (which must not contain a newline) plus '\n' and flushes
  // it to disk.
  Status write_line(const std::string& line) {
    if (fd_ < 0) return make_error(ErrorCode::kInvalidArgument, "JSONL writer is not open");
    if (line.find('\n') != std::string::npos)
      return make_error(ErrorCode::kInvalidArgument, "JSONL line for '%s' contains a newline", path_.c_str());
    const std::string data = line + "\n";
#if RSFIQA_BATCH_POSIX
    // Where this line starts (O_APPEND writes at the end). A write that fails
    // part way (disk full, file size limit) is cut back to here, so the file
    // keeps only whole lines; on a pipe or a device there is nothing to cut.
    const off_t start = ::lseek(fd_, 0, SEEK_END);
    auto fail = [&](const std::string& message) {
      if (start >= 0) (void)!::ftruncate(fd_, start);
      return Status(ErrorCode::kIoError, message);
    };
    size_t done = 0;
    while (done < data.size()) {
      const ssize_t k = ::write(fd_, data.data() + done, data.size() - done);
      if (k < 0) {
        if (errno == EINTR) continue;
        return fail("cannot write to '" + path_ + "': " + std::strerror(errno));
      }
      done += (size_t)k;
    }
    if (::fsync(fd_) != 0) return fail("cannot flush '" + path_ + "' to disk: " + std::strerror(errno));
#else
    if (std::fwrite(data.data(), 1, data.size(), file_) != data.size() || std::fflush(file_) != 0)
      return Status(ErrorCode::kIoError, "cannot write to '" + path_ + "'");
#endif
    return Status();
  }

  void close() {
#if RSFIQA_BATCH_POSIX
    if (fd_ >= 0) ::close(fd_);
#else
    if (file_) std::fclose(file_);
    file_ = nullptr;
#endif
    fd_ = -1;
  }

 private:
  int fd_ = -1;
#if !RSFIQA_BATCH_POSIX
  std::FILE* file_ = nullptr;
#endif
  std::string path_;
};

struct ResumeState {
  std::set<std::string> done;    // image files already in the output
  size_t lines = 0;              // complete records kept
  bool dropped_partial = false;  // a cut-off last line was removed
};

// Largest JSONL output read back by --resume.
constexpr size_t kMaxResumeBytes = size_t(4) << 30;

// Reads an existing JSONL output for --resume (see the header comment). A
// missing file is an empty state.
inline Result<ResumeState> load_resume(const std::string& path) {
  ResumeState st;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return st;
  RSFIQA_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, io::read_file_bytes(path, kMaxResumeBytes));
  const std::string text(bytes.begin(), bytes.end());
  size_t start = 0, keep = 0, line_no = 0;
  while (start < text.size()) {
    ++line_no;
    const size_t nl = text.find('\n', start);
    const bool complete = nl != std::string::npos;
    const size_t end = complete ? nl : text.size();
    const bool last = !complete || end + 1 >= text.size();
    const std::string line = text.substr(start, end - start);
    if (detail::trim(line).empty()) {
      start = end + 1;
      if (complete) keep = start;
      continue;
    }
    auto v = io::parse_json(line);
    const io::JsonValue* image = v.ok() ? v->find("image") : nullptr;
    const io::JsonValue* file = image ? image->find("file") : nullptr;
    const bool good = file && file->is_string();
    if (!good || !complete) {
      if (last) {
        st.dropped_partial = true;
        break;
      }
      return make_error(ErrorCode::kMalformed, "cannot resume from '%s': line %zu is not a report record%s%s",
                        path.c_str(), line_no, v.ok() ? "" : ": ", v.ok() ? "" : v.status().message().c_str());
    }
    st.done.insert(file->as_string());
    ++st.lines;
    start = end + 1;
    keep = start;
  }
  if (st.dropped_partial) {
    Status s = io::write_file_atomic(path, text.data(), keep);
    if (!s.ok()) return s.with_context("cannot rewrite '" + path + "' without its cut-off last line");
  }
  return st;
}

struct BatchProgress {
  size_t done = 0;   // images finished in this run (including failures)
  size_t total = 0;  // images to do in this run (after --resume skips)
  double elapsed_s = 0;
  double images_per_s = 0;
  double eta_s = 0;  // remaining / rate; 0 until the first image is done
};

// "[12/50] 1.84 img/s, ETA 0:21"
inline std::string format_progress(const BatchProgress& p) {
  char buf[128];
  const long eta = (long)(p.eta_s + 0.5);
  if (eta >= 3600)
    std::snprintf(buf, sizeof(buf), "[%zu/%zu] %.2f img/s, ETA %ld:%02ld:%02ld", p.done, p.total, p.images_per_s,
                  eta / 3600, (eta / 60) % 60, eta % 60);
  else
    std::snprintf(buf, sizeof(buf), "[%zu/%zu] %.2f img/s, ETA %ld:%02ld", p.done, p.total, p.images_per_s, eta / 60,
                  eta % 60);
  return buf;
}

struct BatchStats {
  size_t inputs = 0;   // after expansion
  size_t skipped = 0;  // already in the output (--resume)
  size_t ok = 0;
  size_t failed = 0;
};

// The work for one image: returns its JSON line (one line, no newline) or an
// error, which becomes an error record.
using BatchAssessFn = std::function<Result<std::string>(const std::string& file)>;
using BatchProgressFn = std::function<void(const BatchProgress&)>;

// Where run_batch puts each finished line (a JSONL file, stdout, ...).
using BatchLineSink = std::function<Status(const std::string& line)>;

// Runs `fn` over `inputs` minus `done`, in order, handing each line to `sink`
// as soon as it is ready. Only a failing sink stops the run (returned as the
// error: nothing more can be recorded); everything written before stays.
inline Result<BatchStats> run_batch(const std::vector<std::string>& inputs, const std::set<std::string>& done,
                                    const BatchLineSink& sink, const BatchAssessFn& fn,
                                    const BatchProgressFn& progress = nullptr) {
  if (!sink) return make_error(ErrorCode::kInvalidArgument, "run_batch: no output");
  BatchStats st;
  st.inputs = inputs.size();
  std::vector<const std::string*> todo;
  for (const std::string& f : inputs) {
    if (done.count(f))
      ++st.skipped;
    else
      todo.push_back(&f);
  }
  const auto t0 = std::chrono::steady_clock::now();
  BatchProgress p;
  p.total = todo.size();
  if (progress) progress(p);
  for (const std::string* f : todo) {
    Result<std::string> line = fn(*f);
    if (line.ok()) {
      ++st.ok;
      RSFIQA_RETURN_IF_ERROR(sink(*line));
    } else {
      ++st.failed;
      RSFIQA_RETURN_IF_ERROR(sink(error_record_json(*f, line.status())));
    }
    ++p.done;
    p.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    p.images_per_s = p.elapsed_s > 0 ? (double)p.done / p.elapsed_s : 0;
    p.eta_s = p.images_per_s > 0 ? (double)(p.total - p.done) / p.images_per_s : 0;
    if (progress) progress(p);
  }
  return st;
}

// The same with a JSONL file as the sink (each line fsync'ed).
inline Result<BatchStats> run_batch(const std::vector<std::string>& inputs, const std::set<std::string>& done,
                                    JsonlWriter* out, const BatchAssessFn& fn,
                                    const BatchProgressFn& progress = nullptr) {
  if (!out || !out->is_open()) return make_error(ErrorCode::kInvalidArgument, "run_batch: output is not open");
  return run_batch(
      inputs, done, [out](const std::string& line) { return out->write_line(line); }, fn, progress);
}

}  // namespace rsfiqa

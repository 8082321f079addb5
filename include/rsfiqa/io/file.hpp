// SPDX-License-Identifier: MIT
// File access for the readers and writers of io/: a read-only memory map of a
// whole file (MappedFile), a bounded "read the whole file" helper, and an
// atomic writer that puts bytes into a temporary file next to the target,
// flushes it to disk and renames it into place, so a crash never leaves a
// half-written file behind (the "nothing lost" rule of RELIABILITY.md).
//
// What it does not do: no parsing, no partial or writable maps, no Windows
// mapping API (on non-POSIX systems MappedFile reads the file into an aligned
// Buffer instead). Errors name the path and the operating system's reason.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "rsfiqa/core/status.hpp"
#include "rsfiqa/core/tensor.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#define RSFIQA_IO_POSIX 1
#else
#define RSFIQA_IO_POSIX 0
#endif

namespace rsfiqa::io {

namespace detail {

// "cannot open 'x.gguf': No such file or directory" with kNotFound for a
// missing file and kIoError for every other failure.
inline Status errno_error(const char* what, const std::string& path, int err) {
  const ErrorCode code = (err == ENOENT) ? ErrorCode::kNotFound : ErrorCode::kIoError;
  return Status(code, std::string(what) + " '" + path + "': " + std::strerror(err));
}

#if RSFIQA_IO_POSIX
// Reads exactly `size` bytes from `fd` into `dst`, retrying short reads and
// EINTR. A file that shrank underneath us is an I/O error, not a crash.
inline Status read_fully(int fd, uint8_t* dst, size_t size, const std::string& path) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, dst + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("cannot read", path, errno);
    }
    if (n == 0)
      return make_error(ErrorCode::kIoError, "cannot read '%s': file ended after %zu of %zu bytes", path.c_str(), done,
                        size);
    done += (size_t)n;
  }
  return Status();
}
#endif

}  // namespace detail

// A read-only view of a whole file. On POSIX the file is mmap'ed; when that is
// not possible (mmap fails, the file is empty, or a non-POSIX platform) the
// bytes are read into a kAlignment-aligned Buffer instead. Either way data()
// stays valid and unchanged until the object is destroyed or moved from.
// Move-only. Safe to share read-only between threads.
class MappedFile {
 public:
  MappedFile() = default;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& o) noexcept { take(o); }
  MappedFile& operator=(MappedFile&& o) noexcept {
    if (this != &o) {
      reset();
      take(o);
    }
    return *this;
  }
  ~MappedFile() { reset(); }

  static Result<MappedFile> open(const std::string& path) {
    MappedFile f;
    f.path_ = path;
#if RSFIQA_IO_POSIX
    int fd;
    do {
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return detail::errno_error("cannot open", path, errno);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      return detail::errno_error("cannot stat", path, err);
    }
    if (S_ISDIR(st.st_mode)) {
      ::close(fd);
      return detail::errno_error("cannot open", path, EISDIR);
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
      ::close(fd);
      return make_error(ErrorCode::kIoError, "cannot open '%s': size %lld is not addressable", path.c_str(),
                        (long long)st.st_size);
    }
    const size_t size = (size_t)st.st_size;
    if (size > 0) {
      void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p != MAP_FAILED) {
#if defined(MADV_HUGEPAGE)
        // Model weights are streamed from this map once per decoded token,
        // and with 4 KB pages every page costs a TLB miss (a two-level walk
        // in a virtual machine). Where the kernel and file system support
        // large page-cache folios (Linux 6.x, ext4/xfs), pages read in
        // through an advised map arrive in 2 MB folios and are mapped by one
        // PMD entry each. Only a hint: pages already cached keep their size,
        // and failure changes nothing, so the result is ignored.
        if (size >= (size_t{2} << 20)) (void)::madvise(p, size, MADV_HUGEPAGE);
#endif
        ::close(fd);
        f.map_ = p;
        f.data_ = static_cast<const uint8_t*>(p);
        f.size_ = size;
        return f;
      }
      // Fall through: some file systems (pipes, special files) cannot be mapped.
    }
    Status st_read = f.read_into_buffer(fd, size);
    ::close(fd);
    if (!st_read.ok()) return st_read;
    return f;
#else
    std::FILE* fp = std::fopen(path.c_str(), "rb");
    if (!fp) return detail::errno_error("cannot open", path, errno);
    std::fseek(fp, 0, SEEK_END);
    const long end = std::ftell(fp);
    std::fseek(fp, 0, SEEK_SET);
    if (end < 0) {
      std::fclose(fp);
      return make_error(ErrorCode::kIoError, "cannot determine the size of '%s'", path.c_str());
    }
    auto buf = Buffer::allocate((int64_t)end);
    if (!buf.ok()) {
      std::fclose(fp);
      return buf.status();
    }
    f.buf_ = std::move(buf).value();
    const size_t got = end > 0 ? std::fread(f.buf_.data(), 1, (size_t)end, fp) : 0;
    std::fclose(fp);
    if (got != (size_t)end)
      return make_error(ErrorCode::kIoError, "cannot read '%s': got %zu of %ld bytes", path.c_str(), got, end);
    f.data_ = static_cast<const uint8_t*>(f.buf_.data());
    f.size_ = (size_t)end;
    return f;
#endif
  }

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const std::string& path() const { return path_; }
  // True when the bytes are a memory map (false: an owned copy).
  bool is_mapped() const { return map_ != nullptr; }

 private:
#if RSFIQA_IO_POSIX
  Status read_into_buffer(int fd, size_t size) {
    RSFIQA_ASSIGN_OR_RETURN(buf_, Buffer::allocate((int64_t)size));
    if (size > 0) RSFIQA_RETURN_IF_ERROR(detail::read_fully(fd, static_cast<uint8_t*>(buf_.data()), size, path_));
    data_ = static_cast<const uint8_t*>(buf_.data());
    size_ = size;
    return Status();
  }
#endif

  void take(MappedFile& o) {
    map_ = o.map_;
    data_ = o.data_;
    size_ = o.size_;
    buf_ = std::move(o.buf_);
    path_ = std::move(o.path_);
    o.map_ = nullptr;
    o.data_ = nullptr;
    o.size_ = 0;
  }
  void reset() {
#if RSFIQA_IO_POSIX
    if (map_) ::munmap(map_, size_);
#endif
    map_ = nullptr;
    data_ = nullptr;
    size_ = 0;
    buf_.reset();
  }

  void* map_ = nullptr;  // non-null when data_ is an mmap
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  Buffer buf_;  // owned copy when not mapped
  std::string path_;
};

// Reads a whole file into memory; fails with kLimitExceeded when the file is
// larger than `max_bytes` (checked before reading).
inline Result<std::vector<uint8_t>> read_file_bytes(const std::string& path, size_t max_bytes) {
  std::FILE* fp = std::fopen(path.c_str(), "rb");
  if (!fp) return detail::errno_error("cannot open", path, errno);
  std::vector<uint8_t> out;
  uint8_t chunk[65536];
  for (;;) {
    const size_t n = std::fread(chunk, 1, sizeof(chunk), fp);
    if (n > 0) {
      if (out.size() + n > max_bytes) {
        std::fclose(fp);
        return make_error(ErrorCode::kLimitExceeded, "file '%s' is larger than the limit of %zu bytes", path.c_str(),
                          max_bytes);
      }
      out.insert(out.end(), chunk, chunk + n);
    }
    if (n < sizeof(chunk)) {
      const bool failed = std::ferror(fp) != 0;
      const int err = errno;
      std::fclose(fp);
      if (failed) return detail::errno_error("cannot read", path, err ? err : EIO);
      break;
    }
  }
  return out;
}

// Writes `size` bytes to `path` atomically: the data go to
// "<path>.tmp.<pid>" in the same folder, are flushed to disk (fsync), and the
// temporary file is renamed over `path`. On any failure the temporary file is
// removed and `path` is left as it was.
inline Status write_file_atomic(const std::string& path, const void* data, size_t size) {
  if (path.empty()) return make_error(ErrorCode::kInvalidArgument, "write_file_atomic: empty path");
  if (size > 0 && data == nullptr) return make_error(ErrorCode::kInvalidArgument, "write_file_atomic: null data");
#if RSFIQA_IO_POSIX
  const std::string tmp = path + ".tmp." + std::to_string((long long)::getpid());
  int fd;
  do {
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return detail::errno_error("cannot create", tmp, errno);
  const uint8_t* p = static_cast<const uint8_t*>(data);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, p + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return detail::errno_error("cannot write", tmp, err);
    }
    done += (size_t)n;
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return detail::errno_error("cannot fsync", tmp, err);
  }
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return detail::errno_error("cannot close", tmp, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return detail::errno_error("cannot rename the temporary file onto", path, err);
  }
  // Make the rename itself durable: fsync the folder (best effort; some file
  // systems refuse to open folders read-only, which is not an error here).
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? std::string(".") : (slash == 0 ? "/" : path.substr(0, slash));
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return Status();
#else
  const std::string tmp = path + ".tmp";
  std::FILE* fp = std::fopen(tmp.c_str(), "wb");
  if (!fp) return detail::errno_error("cannot create", tmp, errno);
  const size_t n = size ? std::fwrite(data, 1, size, fp) : 0;
  const bool flushed = std::fflush(fp) == 0;
  const bool closed = std::fclose(fp) == 0;
  if (n != size || !flushed || !closed) {
    std::remove(tmp.c_str());
    return make_error(ErrorCode::kIoError, "cannot write '%s'", tmp.c_str());
  }
  std::remove(path.c_str());
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return make_error(ErrorCode::kIoError, "cannot rename '%s' onto '%s'", tmp.c_str(), path.c_str());
  }
  return Status();
#endif
}

}  // namespace rsfiqa::io

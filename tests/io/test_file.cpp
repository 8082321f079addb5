// SPDX-License-Identifier: MIT
// Tests of io/file.hpp: mapping, bounded whole-file reads and the atomic
// writer (temporary file + rename), including the error codes for missing
// files and folders.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "rsfiqa/io/file.hpp"

namespace {
std::string temp_path(const char* stem) {
  return (std::filesystem::temp_directory_path() / "rsfiqa_test_file_").string() + stem + "_" +
         std::to_string((long long)::getpid());
}
}  // namespace

TEST_CASE("write_file_atomic then MappedFile and read_file_bytes give the same bytes") {
  const std::string path = temp_path("roundtrip");
  std::vector<uint8_t> bytes(100003);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = (uint8_t)(i * 131u + 7u);
  REQUIRE(rsfiqa::io::write_file_atomic(path, bytes.data(), bytes.size()).ok());
  // No temporary file is left behind.
  CHECK(::access((path + ".tmp." + std::to_string((long long)::getpid())).c_str(), F_OK) != 0);

  auto f = rsfiqa::io::MappedFile::open(path);
  REQUIRE(f.ok());
  REQUIRE(f->size() == bytes.size());
  CHECK(std::equal(bytes.begin(), bytes.end(), f->data()));
  CHECK(f->is_mapped());

  // Moving keeps the bytes valid.
  rsfiqa::io::MappedFile moved = std::move(f).value();
  CHECK(moved.size() == bytes.size());
  CHECK(moved.data()[12345] == bytes[12345]);

  auto v = rsfiqa::io::read_file_bytes(path, bytes.size());
  REQUIRE(v.ok());
  CHECK(*v == bytes);
  auto over = rsfiqa::io::read_file_bytes(path, bytes.size() - 1);
  REQUIRE(!over.ok());
  CHECK(over.status().code() == rsfiqa::ErrorCode::kLimitExceeded);

  // Overwriting replaces the file atomically.
  const uint8_t small[3] = {1, 2, 3};
  REQUIRE(rsfiqa::io::write_file_atomic(path, small, 3).ok());
  auto g = rsfiqa::io::MappedFile::open(path);
  REQUIRE(g.ok());
  CHECK(g->size() == 3);
  CHECK(g->data()[2] == 3);
  std::remove(path.c_str());
}

TEST_CASE("empty files open as zero-size views") {
  const std::string path = temp_path("empty");
  REQUIRE(rsfiqa::io::write_file_atomic(path, nullptr, 0).ok());
  auto f = rsfiqa::io::MappedFile::open(path);
  REQUIRE(f.ok());
  CHECK(f->size() == 0);
  CHECK(f->empty());
  auto v = rsfiqa::io::read_file_bytes(path, 10);
  REQUIRE(v.ok());
  CHECK(v->empty());
  std::remove(path.c_str());
}

TEST_CASE("missing files, folders and unwritable targets give named errors") {
  const std::string missing = temp_path("does_not_exist");
  auto f = rsfiqa::io::MappedFile::open(missing);
  REQUIRE(!f.ok());
  CHECK(f.status().code() == rsfiqa::ErrorCode::kNotFound);
  CHECK(f.status().message().find(missing) != std::string::npos);
  CHECK(f.status().message().find("No such file") != std::string::npos);

  auto d = rsfiqa::io::MappedFile::open(std::filesystem::temp_directory_path().string());
  REQUIRE(!d.ok());
  CHECK(d.status().code() == rsfiqa::ErrorCode::kIoError);

  auto r = rsfiqa::io::read_file_bytes(missing, 10);
  REQUIRE(!r.ok());
  CHECK(r.status().code() == rsfiqa::ErrorCode::kNotFound);

  const uint8_t b = 0;
  rsfiqa::Status s = rsfiqa::io::write_file_atomic(missing + "/no_such_dir/x.bin", &b, 1);
  REQUIRE(!s.ok());
  CHECK(s.code() == rsfiqa::ErrorCode::kNotFound);
  CHECK(s.message().find("no_such_dir") != std::string::npos);
  CHECK(!rsfiqa::io::write_file_atomic("", &b, 1).ok());
}

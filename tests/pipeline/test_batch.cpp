// SPDX-License-Identifier: MIT
// Tests of include/rsfiqa/pipeline/batch.hpp: input expansion order (files,
// recursive directories by extension or magic, @lists), JSONL lines written
// and on disk one by one, --resume with a cut-off last line, error records
// for a broken image, and a clear error for an unwritable output path.
#include "rsfiqa/pipeline/batch.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

namespace fs = std::filesystem;

// A fresh scratch folder per test case, removed at the end.
struct TempDir {
  fs::path path;
  TempDir() {
    path =
        fs::temp_directory_path() / ("rsfiqa_batch_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
    std::error_code ec;
    fs::remove_all(path, ec);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

void write_text(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream f(path, std::ios::binary);
  f << text;
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

size_t count_lines(const std::string& s) { return (size_t)std::count(s.begin(), s.end(), '\n'); }

}  // namespace

TEST_CASE("expansion: files as given, directories sorted and filtered, @lists, no duplicates") {
  TempDir t;
  write_text(t / "d/b.png", "x");
  write_text(t / "d/a.JPG", "x");
  write_text(t / "d/sub/c.bmp", "x");
  write_text(t / "d/notes.txt", "x");
  write_text(t / "d/noext", "\x89PNG\r\n\x1a\nrest");  // a PNG by magic
  write_text(t / "list.txt", "# comment\n\n" + (t / "z.jpg") + "\r\n  " + (t / "d/b.png") + "\n");
  auto r = rsfiqa::expand_inputs({t / "missing.png", t / "d", "@" + (t / "list.txt")});
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  const std::vector<std::string> expected = {t / "missing.png", t / "d/a.JPG",     t / "d/b.png",
                                             t / "d/noext",     t / "d/sub/c.bmp", t / "z.jpg"};
  CHECK(*r == expected);
  CHECK(rsfiqa::expand_inputs({"@" + (t / "nolist.txt")}).status().code() == rsfiqa::ErrorCode::kNotFound);
  write_text(t / "empty/readme.md", "x");
  CHECK(rsfiqa::expand_inputs({t / "empty"}).status().code() == rsfiqa::ErrorCode::kEmptyInput);
}

TEST_CASE("JSONL lines reach the file one by one, error records for broken images") {
  TempDir t;
  write_text(t / "broken.png", "\x89PNG\r\n\x1a\n garbage");
  const std::string out_path = t / "out.jsonl";
  auto w = rsfiqa::JsonlWriter::open(out_path, false);
  REQUIRE(w.ok());
  const std::vector<std::string> inputs = {"a.png", t / "broken.png", "c.png"};
  size_t calls = 0;
  std::vector<size_t> lines_seen;
  auto fn = [&](const std::string& f) -> rsfiqa::Result<std::string> {
    // What is on disk when image number `calls` starts: every earlier line.
    lines_seen.push_back(count_lines(read_text(out_path)));
    ++calls;
    if (f.find("broken") != std::string::npos) {
      auto img = rsfiqa::io::load_image(f);
      CHECK(!img.ok());
      return img.status();
    }
    return std::string("{\"image\":{\"file\":\"") + f + "\"}}";
  };
  std::vector<rsfiqa::BatchProgress> progress;
  auto st = rsfiqa::run_batch(inputs, {}, &*w, fn, [&](const rsfiqa::BatchProgress& p) { progress.push_back(p); });
  REQUIRE(st.ok());
  CHECK(st->ok == 2);
  CHECK(st->failed == 1);
  CHECK(lines_seen == std::vector<size_t>{0, 1, 2});
  REQUIRE(progress.size() == 4);
  CHECK(progress.back().done == 3);
  CHECK(progress.back().total == 3);
  CHECK(rsfiqa::format_progress(progress.back()).find("[3/3]") == 0);
  const std::string text = read_text(out_path);
  CHECK(count_lines(text) == 3);
  // The middle line is an error record naming the file, code and message.
  const size_t a = text.find('\n') + 1, b = text.find('\n', a);
  auto rec = rsfiqa::io::parse_json(text.substr(a, b - a));
  REQUIRE(rec.ok());
  CHECK(rec->find("image")->find("file")->as_string() == t / "broken.png");
  REQUIRE(rec->find("error") != nullptr);
  CHECK(!rec->find("error")->find("code")->as_string().empty());
  CHECK(!rec->find("error")->find("message")->as_string().empty());
}

TEST_CASE("resume skips done images and drops a cut-off last line") {
  TempDir t;
  const std::string out_path = t / "out.jsonl";
  write_text(out_path,
             "{\"image\":{\"file\":\"a.png\"},\"quality\":{\"score\":50}}\n"
             "{\"image\":{\"file\":\"b.png\"},\"error\":{\"code\":\"not_found\",\"message\":\"x\"}}\n"
             "{\"image\":{\"file\":\"c.png\"},\"qual");
  auto st = rsfiqa::load_resume(out_path);
  REQUIRE_MESSAGE(st.ok(), st.status().to_string());
  CHECK(st->dropped_partial);
  CHECK(st->lines == 2);
  CHECK(st->done == std::set<std::string>{"a.png", "b.png"});
  const std::string rewritten = read_text(out_path);
  CHECK(count_lines(rewritten) == 2);
  CHECK(rewritten.back() == '\n');
  CHECK(rewritten.find("c.png") == std::string::npos);

  auto w = rsfiqa::JsonlWriter::open(out_path, true);
  REQUIRE(w.ok());
  std::vector<std::string> ran;
  auto fn = [&](const std::string& f) -> rsfiqa::Result<std::string> {
    ran.push_back(f);
    return std::string("{\"image\":{\"file\":\"") + f + "\"}}";
  };
  auto bs = rsfiqa::run_batch({"a.png", "b.png", "c.png", "d.png"}, st->done, &*w, fn);
  REQUIRE(bs.ok());
  CHECK(bs->skipped == 2);
  CHECK(ran == std::vector<std::string>{"c.png", "d.png"});
  const std::string text = read_text(out_path);
  CHECK(count_lines(text) == 4);
  auto again = rsfiqa::load_resume(out_path);
  REQUIRE(again.ok());
  CHECK(!again->dropped_partial);
  CHECK(again->done.size() == 4);
  // A missing file resumes from nothing.
  auto none = rsfiqa::load_resume(t / "nothing.jsonl");
  REQUIRE(none.ok());
  CHECK(none->done.empty());
}

TEST_CASE("resume refuses a damaged line in the middle and leaves the file alone") {
  TempDir t;
  const std::string out_path = t / "out.jsonl";
  const std::string text = "{\"image\":{\"file\":\"a.png\"}}\nnot json\n{\"image\":{\"file\":\"b.png\"}}\n";
  write_text(out_path, text);
  auto st = rsfiqa::load_resume(out_path);
  CHECK(st.status().code() == rsfiqa::ErrorCode::kMalformed);
  CHECK(st.status().message().find("line 2") != std::string::npos);
  CHECK(read_text(out_path) == text);
}

TEST_CASE("unwritable output path is a clear error") {
  TempDir t;
  auto w = rsfiqa::JsonlWriter::open(t / "no/such/folder/out.jsonl", false);
  REQUIRE(!w.ok());
  CHECK(w.status().code() == rsfiqa::ErrorCode::kIoError);
  CHECK(w.status().message().find("no/such/folder/out.jsonl") != std::string::npos);
  CHECK(w.status().message().find("No such file or directory") != std::string::npos);
  rsfiqa::JsonlWriter closed;
  CHECK(closed.write_line("{}").code() == rsfiqa::ErrorCode::kInvalidArgument);
}

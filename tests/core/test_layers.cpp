// SPDX-License-Identifier: MIT
// The written rules about headers, checked on the files themselves (STYLE.md,
// "Layers" and "Errors"). It reads every file under include/rsfiqa and fails
// when:
//   - a file does not open with the SPDX line;
//   - a header includes a higher layer (core < io < kernels < ops < models <
//     pipeline), or kernels/ops include io, or an include uses a relative path
//     that would hide its layer;
//   - library code (comments and string literals removed) throws, prints to
//     stdout/stderr, exits or aborts;
//   - a public header is not reachable from the umbrella include/rsfiqa/rsfiqa.hpp.
// It does not compile anything: -fno-exceptions and no-OpenMP builds are
// proven by the CI jobs. The checker's own scanner is tested first on small
// made-up texts, so a broken scanner cannot pass the real checks vacuously.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

// Rank of each layer folder under include/rsfiqa/. Model families may sit in
// models/<family>/ or, as STYLE.md lists them, in their own folder at model rank.
const std::map<std::string, int>& layer_ranks() {
  static const std::map<std::string, int> ranks = {
      {"core", 0}, {"io", 1},  {"kernels", 2}, {"ops", 3},     {"models", 4},
      {"sam", 4},  {"llm", 4}, {"vit", 4},     {"tinyvit", 4}, {"pipeline", 5},
  };
  return ranks;
}
constexpr int kUmbrellaRank = 100;  // files directly in include/rsfiqa/

// Pairs that are forbidden even though the rank order would allow them.
bool forbidden_pair(const std::string& from, const std::string& to) {
  return (from == "kernels" || from == "ops") && to == "io";
}

// Source text split into what the compiler sees as code. `code` keeps string
// literals (include paths live in them) but blanks comments; `bare` also blanks
// the inside of string and character literals. Newlines are kept in both so
// line numbers stay valid.
struct Scanned {
  std::string code;
  std::string bare;
};

bool is_ident_char(char c) { return std::isalnum((unsigned char)c) || c == '_'; }

Scanned scan(const std::string& s) {
  Scanned out{s, s};
  const size_t n = s.size();
  auto blank = [&](std::string& t, size_t b, size_t e) {
    for (size_t i = b; i < e && i < n; ++i)
      if (t[i] != '\n') t[i] = ' ';
  };
  size_t i = 0;
  size_t token_start = std::string::npos;  // start of the identifier/number being read
  while (i < n) {
    const char c = s[i];
    if (c == '/' && i + 1 < n && s[i + 1] == '/') {
      size_t e = s.find('\n', i);
      if (e == std::string::npos) e = n;
      blank(out.code, i, e);
      blank(out.bare, i, e);
      i = e;
      token_start = std::string::npos;
      continue;
    }
    if (c == '/' && i + 1 < n && s[i + 1] == '*') {
      size_t e = s.find("*/", i + 2);
      e = e == std::string::npos ? n : e + 2;
      blank(out.code, i, e);
      blank(out.bare, i, e);
      i = e;
      token_start = std::string::npos;
      continue;
    }
    if (c == '"') {
      // Raw string R"delim( ... )delim" (possibly with an encoding prefix).
      if (i > 0 && s[i - 1] == 'R' && token_start != std::string::npos) {
        const size_t open = s.find('(', i);
        if (open != std::string::npos) {
          const std::string close = ")" + s.substr(i + 1, open - i - 1) + "\"";
          size_t e = s.find(close, open);
          e = e == std::string::npos ? n : e + close.size();
          blank(out.bare, i + 1, e - 1);
          i = e;
          token_start = std::string::npos;
          continue;
        }
      }
      size_t e = i + 1;
      while (e < n && s[e] != '"' && s[e] != '\n') e += (s[e] == '\\') ? 2 : 1;
      blank(out.bare, i + 1, std::min(e, n));
      i = e + 1;
      token_start = std::string::npos;
      continue;
    }
    if (c == '\'') {
      // A quote inside a number is a digit separator (1'000'000).
      if (token_start != std::string::npos && std::isdigit((unsigned char)s[token_start])) {
        ++i;
        continue;
      }
      size_t e = i + 1;
      while (e < n && s[e] != '\'' && s[e] != '\n') e += (s[e] == '\\') ? 2 : 1;
      blank(out.bare, i + 1, std::min(e, n));
      i = e + 1;
      token_start = std::string::npos;
      continue;
    }
    if (is_ident_char(c)) {
      if (token_start == std::string::npos) token_start = i;
    } else {
      token_start = std::string::npos;
    }
    ++i;
  }
  return out;
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> lines;
  std::string line;
  std::istringstream in(s);
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// Calls the library must never make. Matched as whole identifiers; the ones
// marked `call` only count when followed by '(' (so the format(printf, ...)
// attribute on message builders is not a use).
struct Banned {
  const char* name;
  bool call;
  const char* why;
};
const Banned kBanned[] = {
    {"throw", false, "throws"}, {"printf", true, "prints"},    {"fprintf", true, "prints"}, {"puts", true, "prints"},
    {"cout", false, "prints"},  {"cerr", false, "prints"},     {"clog", false, "prints"},   {"exit", true, "exits"},
    {"_Exit", true, "exits"},   {"quick_exit", true, "exits"}, {"abort", true, "aborts"},
};

// Lines of `bare` code that use a banned call: "line N: <name> (<why>)".
// The default RSFIQA_ASSERT in core/config.hpp may abort: it is the documented
// internal-invariant hook, never reached by bad input.
std::vector<std::string> banned_uses(const std::string& bare) {
  std::vector<std::string> found;
  const std::vector<std::string> lines = split_lines(bare);
  for (size_t ln = 0; ln < lines.size(); ++ln) {
    const std::string& l = lines[ln];
    const bool assert_hook = l.find("#define RSFIQA_ASSERT") != std::string::npos;
    for (const Banned& b : kBanned) {
      const std::string name = b.name;
      for (size_t p = l.find(name); p != std::string::npos; p = l.find(name, p + 1)) {
        if (p > 0 && is_ident_char(l[p - 1])) continue;
        const size_t e = p + name.size();
        if (e < l.size() && is_ident_char(l[e])) continue;
        if (b.call) {
          size_t q = e;
          while (q < l.size() && std::isspace((unsigned char)l[q])) ++q;
          if (q >= l.size() || l[q] != '(') continue;
        }
        if (assert_hook && name == "abort") continue;
        found.push_back("line " + std::to_string(ln + 1) + ": " + name + " (" + b.why + ")");
      }
    }
  }
  return found;
}

struct Include {
  int line;
  std::string path;
  bool quoted;
};

// #include directives of comment-free code.
std::vector<Include> includes_of(const std::string& code) {
  std::vector<Include> out;
  const std::vector<std::string> lines = split_lines(code);
  for (size_t ln = 0; ln < lines.size(); ++ln) {
    const std::string& l = lines[ln];
    size_t p = l.find_first_not_of(" \t");
    if (p == std::string::npos || l[p] != '#') continue;
    p = l.find_first_not_of(" \t", p + 1);
    if (p == std::string::npos || l.compare(p, 7, "include") != 0) continue;
    p = l.find_first_of("<\"", p + 7);
    if (p == std::string::npos) continue;
    const char close = l[p] == '<' ? '>' : '"';
    const size_t e = l.find(close, p + 1);
    if (e == std::string::npos) continue;
    out.push_back({(int)ln + 1, l.substr(p + 1, e - p - 1), l[p] == '"'});
  }
  return out;
}

// Layer folder of a path relative to include/rsfiqa ("" for top-level files).
std::string folder_of(const std::string& rel) {
  const size_t slash = rel.find('/');
  return slash == std::string::npos ? std::string() : rel.substr(0, slash);
}

int rank_of_folder(const std::string& folder) {
  if (folder.empty()) return kUmbrellaRank;
  auto it = layer_ranks().find(folder);
  return it == layer_ranks().end() ? -1 : it->second;
}

struct Header {
  std::string rel;  // relative to include/rsfiqa, '/' separated
  std::string text;
  Scanned scanned;
  std::vector<Include> includes;
};

std::vector<Header> load_headers(std::vector<std::string>* errors) {
  std::vector<Header> out;
  const fs::path root = fs::path(RSFIQA_SOURCE_DIR) / "include" / "rsfiqa";
  std::error_code ec;
  fs::recursive_directory_iterator it(root, ec), end;
  if (ec) {
    errors->push_back("cannot list " + root.string() + ": " + ec.message());
    return out;
  }
  for (; it != end; it.increment(ec)) {
    if (ec) {
      errors->push_back("error while listing " + root.string() + ": " + ec.message());
      break;
    }
    if (!it->is_regular_file(ec)) continue;
    const std::string ext = it->path().extension().string();
    if (ext != ".hpp" && ext != ".h" && ext != ".inl" && ext != ".ipp") continue;
    std::ifstream f(it->path(), std::ios::binary);
    if (!f) {
      errors->push_back("cannot read " + it->path().string());
      continue;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    Header h;
    h.rel = it->path().lexically_relative(root).generic_string();
    h.text = ss.str();
    h.scanned = scan(h.text);
    h.includes = includes_of(h.scanned.code);
    out.push_back(std::move(h));
  }
  std::sort(out.begin(), out.end(), [](const Header& a, const Header& b) { return a.rel < b.rel; });
  return out;
}

const std::vector<Header>& headers() {
  static std::vector<std::string> errors;
  static const std::vector<Header> all = load_headers(&errors);
  for (const std::string& e : errors) FAIL_CHECK(e);
  return all;
}

}  // namespace

TEST_CASE("the scanner blanks comments and literals but keeps code and include paths") {
  const Scanned s = scan(
      "#include \"rsfiqa/io/x.hpp\" // throw\n"
      "/* exit(1); */ int a = 1'000; char q = '\"';\n"
      "const char* m = \"do not throw\"; abort();\n"
      "auto r = R\"x(printf(\"hi\"))x\"; throw 1;\n");
  CHECK(s.code.find("rsfiqa/io/x.hpp") != std::string::npos);
  CHECK(s.code.find("// throw") == std::string::npos);
  CHECK(s.bare.find("do not throw") == std::string::npos);
  const std::vector<std::string> uses = banned_uses(s.bare);
  REQUIRE(uses.size() == 2);
  CHECK(uses[0] == "line 3: abort (aborts)");
  CHECK(uses[1] == "line 4: throw (throws)");

  const std::vector<Include> inc = includes_of(s.code);
  REQUIRE(inc.size() == 1);
  CHECK(inc[0].path == "rsfiqa/io/x.hpp");
  CHECK(inc[0].quoted);

  CHECK(banned_uses("int exit_code = 0; my_abort(); std::snprintf(b, 4, \"x\");").empty());
  CHECK(banned_uses("std::exit (3);").size() == 1);
  CHECK(banned_uses("__attribute__((format(printf, 2, 3)))").empty());
  CHECK(banned_uses("std::fprintf(stderr, \"x\"); std::cerr << 1;").size() == 2);
  CHECK(banned_uses("#define RSFIQA_ASSERT(c) ((c) ? (void)0 : std::abort())").empty());
  CHECK(rank_of_folder("kernels") > rank_of_folder("io"));
  CHECK(forbidden_pair("ops", "io"));
  CHECK_FALSE(forbidden_pair("models", "io"));
}

TEST_CASE("every file under include/rsfiqa opens with the SPDX line") {
  const std::vector<Header>& all = headers();
  CHECK(all.size() >= 10);  // the core headers alone are more; an empty scan is a broken test
  for (const Header& h : all) {
    const std::string first = h.text.substr(0, h.text.find('\n'));
    if (first != "// SPDX-License-Identifier: MIT")
      FAIL_CHECK("include/rsfiqa/" << h.rel << ": first line is '" << first
                                   << "', expected '// SPDX-License-Identifier: MIT'");
  }
}

TEST_CASE("headers include only their own layer or lower ones") {
  const fs::path root = fs::path(RSFIQA_SOURCE_DIR) / "include" / "rsfiqa";
  for (const Header& h : headers()) {
    const std::string from = folder_of(h.rel);
    const int from_rank = rank_of_folder(from);
    if (from_rank < 0) {
      FAIL_CHECK("include/rsfiqa/" << h.rel << ": folder '" << from
                                   << "' is not a layer (core io kernels ops models pipeline)");
      continue;
    }
    for (const Include& inc : h.includes) {
      const std::string where = "include/rsfiqa/" + h.rel + ":" + std::to_string(inc.line) + ": ";
      if (inc.path.rfind("rsfiqa/", 0) != 0) {
        // A quoted relative include would hide which layer it reaches into.
        std::error_code ec;
        const bool local = fs::exists(root / fs::path(h.rel).parent_path() / inc.path, ec);
        if (inc.quoted && (local || inc.path.find("..") != std::string::npos))
          FAIL_CHECK(where << "include \"" << inc.path << "\" by its full path \"rsfiqa/<layer>/...\"");
        continue;
      }
      const std::string target = inc.path.substr(7);
      const std::string to = folder_of(target);
      const int to_rank = rank_of_folder(to);
      if (to_rank < 0) {
        FAIL_CHECK(where << "includes " << inc.path << ", which is not in a layer folder");
      } else if (to_rank > from_rank) {
        FAIL_CHECK(where << "layer '" << from << "' includes the higher layer: " << inc.path);
      } else if (forbidden_pair(from, to)) {
        FAIL_CHECK(where << "layer '" << from << "' must not include io: " << inc.path);
      }
    }
  }
}

TEST_CASE("library headers never throw, print, exit or abort") {
  for (const Header& h : headers()) {
    for (const std::string& use : banned_uses(h.scanned.bare)) FAIL_CHECK("include/rsfiqa/" << h.rel << ": " << use);
  }
}

TEST_CASE("the umbrella header reaches every public header") {
  const std::vector<Header>& all = headers();
  std::map<std::string, const Header*> by_rel;
  for (const Header& h : all) by_rel[h.rel] = &h;
  REQUIRE(by_rel.count("rsfiqa.hpp") == 1);

  // Walk the rsfiqa includes from the umbrella.
  std::set<std::string> reached;
  std::vector<std::string> todo = {"rsfiqa.hpp"};
  while (!todo.empty()) {
    const std::string cur = todo.back();
    todo.pop_back();
    if (!reached.insert(cur).second) continue;
    auto it = by_rel.find(cur);
    if (it == by_rel.end()) continue;
    for (const Include& inc : it->second->includes)
      if (inc.path.rfind("rsfiqa/", 0) == 0) todo.push_back(inc.path.substr(7));
  }
  for (const Header& h : all) {
    if (h.rel.find('/') == std::string::npos) continue;  // other top-level files stand alone
    if (h.rel.find("/detail/") != std::string::npos || h.rel.find("/internal/") != std::string::npos) continue;
    if (!reached.count(h.rel))
      FAIL_CHECK("include/rsfiqa/" << h.rel << " is not reachable from include/rsfiqa/rsfiqa.hpp: list it there");
  }
  for (const Include& inc : by_rel["rsfiqa.hpp"]->includes)
    if (inc.path.rfind("rsfiqa/", 0) == 0 && !by_rel.count(inc.path.substr(7)))
      FAIL_CHECK("rsfiqa.hpp:" << inc.line << ": includes " << inc.path << ", which does not exist");
}

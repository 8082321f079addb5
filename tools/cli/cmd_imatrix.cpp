// SPDX-License-Identifier: MIT
// `rsfiqa imatrix -m MODEL.gguf -f CALIB.txt -o OUT.gguf [-c CHUNK] [-t N]`:
// collects an importance matrix (models/llm/imatrix.hpp) for
// `rsfiqa quantize ... --imatrix OUT.gguf`, as llama.cpp's llama-imatrix:
// the calibration text is tokenized with BOS and cut into chunks of CHUNK
// tokens (default: the model's training context), each evaluated in a fresh
// context with its first token replaced by BOS; the mean squared input of
// every block matrix is recorded. Unlike llama-imatrix, a shorter last
// chunk is kept rather than dropped, and no perplexity is printed. The
// output is llama.cpp's GGUF imatrix layout; a summary goes to stderr.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "command.hpp"
#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/io/file.hpp"
#include "rsfiqa/models/llm/imatrix.hpp"

namespace {

void usage(FILE* out) {
  std::fprintf(out,
               "usage: rsfiqa imatrix -m MODEL.gguf -f CALIB.txt -o OUT.gguf [-c CHUNK] [-t N]\n"
               "  -c CHUNK  tokens per evaluation (default: the model's context length)\n"
               "  -t N      threads\n");
}

bool parse_count(const char* s, long long* out) {
  char* end = nullptr;
  *out = std::strtoll(s, &end, 10);
  return end && end != s && *end == '\0' && *out >= 0 && *out <= (1 << 24);
}

int run(int argc, char** argv) {
  std::string model_path, calib_path, out_path;
  long long chunk = 0, threads = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return rsfiqa::cli::kExitOk;
    }
    const char* v = i + 1 < argc ? argv[++i] : nullptr;
    bool ok = v != nullptr;
    if (ok && a == "-m")
      model_path = v;
    else if (ok && a == "-f")
      calib_path = v;
    else if (ok && a == "-o")
      out_path = v;
    else if (ok && a == "-c")
      ok = parse_count(v, &chunk);
    else if (ok && a == "-t")
      ok = parse_count(v, &threads);
    else if (ok) {
      std::fprintf(stderr, "rsfiqa imatrix: unknown option '%s'\n", a.c_str());
      usage(stderr);
      return rsfiqa::cli::kExitUsage;
    }
    if (!ok) {
      std::fprintf(stderr, "rsfiqa imatrix: option '%s' needs a valid value\n", a.c_str());
      return rsfiqa::cli::kExitUsage;
    }
  }
  if (model_path.empty() || calib_path.empty() || out_path.empty() || chunk == 1) {
    usage(stderr);
    return rsfiqa::cli::kExitUsage;
  }
  if (threads > 0) rsfiqa::set_num_threads((int)threads);
  const auto t0 = std::chrono::steady_clock::now();
  rsfiqa::Result<rsfiqa::llm::Model> m = rsfiqa::llm::Model::load(model_path);
  if (!m.ok()) {
    std::fprintf(stderr, "rsfiqa imatrix: %s\n", m.status().to_string().c_str());
    return rsfiqa::cli::kExitModelError;
  }
  rsfiqa::Result<std::vector<uint8_t>> text = rsfiqa::io::read_file_bytes(calib_path, 1u << 30);
  if (!text.ok()) {
    std::fprintf(stderr, "rsfiqa imatrix: %s\n", text.status().to_string().c_str());
    return rsfiqa::cli::kExitInputError;
  }
  const rsfiqa::llm::Tokenizer& tok = m->tokenizer();
  std::vector<int32_t> ids = tok.encode(std::string(text->begin(), text->end()), true);
  if (ids.size() < 2) {
    std::fprintf(stderr, "rsfiqa imatrix: %s holds no text to calibrate on\n", calib_path.c_str());
    return rsfiqa::cli::kExitInputError;
  }
  const int64_t n = chunk > 0 ? (int64_t)chunk : m->config().n_ctx_train;
  // Every chunk opens with BOS, as llama-imatrix does.
  if (tok.add_bos() && tok.bos_id() >= 0)
    for (size_t b = 0; b < ids.size(); b += (size_t)n) ids[b] = tok.bos_id();
  rsfiqa::Result<rsfiqa::llm::ImportanceMatrix> im = rsfiqa::llm::collect_imatrix(*m, ids, n);
  if (!im.ok()) {
    std::fprintf(stderr, "rsfiqa imatrix: %s\n", im.status().to_string().c_str());
    return rsfiqa::cli::kExitFailure;
  }
  im->datasets.push_back(calib_path);
  rsfiqa::Status st = rsfiqa::llm::save_imatrix(*im, out_path);
  if (!st.ok()) {
    std::fprintf(stderr, "rsfiqa imatrix: %s\n", st.to_string().c_str());
    return rsfiqa::cli::kExitOutputError;
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "imatrix: %zu tokens in %lld chunks of %lld, %zu matrices -> %s; %.2f s\n", ids.size(),
               (long long)im->chunk_count, (long long)n, im->entries.size(), out_path.c_str(), s);
  return rsfiqa::cli::kExitOk;
}

const rsfiqa::cli::Registrar reg("imatrix", "collect an importance matrix for quantize --imatrix", run);

}  // namespace

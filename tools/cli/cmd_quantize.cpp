// SPDX-License-Identifier: MIT
// `rsfiqa quantize IN.gguf OUT.gguf q8_0|q4_0|q4_k [--imatrix FILE]`: requantizes the weight
// matrices of a GGUF language model (models/llm/quantize.hpp): reference
// block rounding, norms and biases kept, output matrix at Q6_K (Q8_0 when
// its rows are not whole 256-blocks) for the 4-bit targets, fallback types
// for rows that do not hold whole blocks, as llama.cpp chooses. The output
// is written atomically. A summary goes to stderr. --imatrix FILE (a GGUF
// importance matrix from `rsfiqa imatrix` or llama-imatrix) switches the
// Q4_0 tensors it covers to the importance-weighted rounding (q4_0 and q8_0
// targets; Q8_0 ignores it).
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include "command.hpp"
#include "rsfiqa/models/llm/quantize.hpp"

namespace {

const char* kUsage = "usage: rsfiqa quantize IN.gguf OUT.gguf q8_0|q4_0|q4_k [--imatrix FILE]\n";

int run(int argc, char** argv) {
  if (argc == 2 && (!std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help"))) {
    std::printf("%s", kUsage);
    return rsfiqa::cli::kExitOk;
  }
  const char* imatrix_path = nullptr;
  if (argc == 6 && !std::strcmp(argv[4], "--imatrix")) {
    imatrix_path = argv[5];
    argc = 4;
  }
  if (argc != 4) {
    std::fprintf(stderr, "%s", kUsage);
    return rsfiqa::cli::kExitUsage;
  }
  rsfiqa::DType target;
  if (!rsfiqa::llm::parse_quant_type(argv[3], &target)) {
    std::fprintf(stderr, "rsfiqa quantize: unknown type '%s' (q8_0, q4_0, q4_k)\n", argv[3]);
    return rsfiqa::cli::kExitUsage;
  }
  const auto t0 = std::chrono::steady_clock::now();
  rsfiqa::Result<rsfiqa::io::GgufFile> in = rsfiqa::io::GgufFile::open(argv[1]);
  if (!in.ok()) {
    std::fprintf(stderr, "rsfiqa quantize: %s\n", in.status().to_string().c_str());
    return rsfiqa::cli::kExitInputError;
  }
  rsfiqa::llm::ImportanceMatrix im;
  if (imatrix_path) {
    rsfiqa::Result<rsfiqa::llm::ImportanceMatrix> r = rsfiqa::llm::load_imatrix(imatrix_path);
    if (!r.ok()) {
      std::fprintf(stderr, "rsfiqa quantize: %s: %s\n", imatrix_path, r.status().to_string().c_str());
      return rsfiqa::cli::kExitInputError;
    }
    im = std::move(r).value();
  }
  rsfiqa::llm::QuantizeReport rep;
  rsfiqa::Result<std::vector<uint8_t>> bytes =
      rsfiqa::llm::quantize_gguf(*in, target, &rep, imatrix_path ? &im : nullptr);
  if (!bytes.ok()) {
    std::fprintf(stderr, "rsfiqa quantize: %s\n", bytes.status().to_string().c_str());
    return rsfiqa::cli::kExitInputError;
  }
  rsfiqa::Status st = rsfiqa::io::write_file_atomic(argv[2], bytes->data(), bytes->size());
  if (!st.ok()) {
    std::fprintf(stderr, "rsfiqa quantize: %s\n", st.to_string().c_str());
    return rsfiqa::cli::kExitOutputError;
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr,
               "quantized %lld tensors (%lld importance-weighted), kept %lld; tensor data %.2f MB -> %.2f MB; %.2f s\n",
               (long long)rep.tensors_quantized, (long long)rep.tensors_weighted, (long long)rep.tensors_kept,
               rep.bytes_in / 1e6, rep.bytes_out / 1e6, s);
  return rsfiqa::cli::kExitOk;
}

const rsfiqa::cli::Registrar reg("quantize", "requantize a GGUF language model to q8_0, q4_0 or q4_k", run);

}  // namespace

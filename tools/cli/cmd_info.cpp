// SPDX-License-Identifier: MIT
// `rsfiqa info FILE`: prints what a weight file holds, after full validation
// by the io/ readers: the format and its header facts, the model kind of
// rsfiqa files (rsfiqa.model and the config's arch), the metadata (arrays
// summarised as type, length and first items) and the tensor table (name,
// dtype, shape in PyTorch order, bytes). GGUF is recognised by its magic,
// everything else is read as safetensors. It never modifies the file.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "command.hpp"
#include "rsfiqa/io/file.hpp"
#include "rsfiqa/io/gguf.hpp"
#include "rsfiqa/io/safetensors.hpp"
#include "rsfiqa/models/sam/image_encoder.hpp"

namespace {

using rsfiqa::cli::kExitInputError;
using rsfiqa::cli::kExitOk;
using rsfiqa::cli::kExitUsage;

void usage(FILE* out) {
  std::fprintf(out,
               "usage: rsfiqa info FILE [-n ITEMS]\n"
               "  print the metadata and the tensor table of a GGUF or safetensors file\n"
               "  -n ITEMS   array elements shown per metadata array (default 4)\n");
}

// Keeps the tensor table readable for long names.
size_t name_width(size_t longest) { return longest < 24 ? 24 : (longest > 64 ? 64 : longest); }

int info_gguf(const std::string& path, size_t items) {
  auto f = rsfiqa::io::GgufFile::open(path);
  if (!f.ok()) {
    std::fprintf(stderr, "rsfiqa info: %s\n", f.status().to_string().c_str());
    return kExitInputError;
  }
  std::printf("file: %s\nformat: GGUF v%u, %zu bytes, alignment %u, data section at byte %llu\n", path.c_str(),
              f->version(), f->file_size(), f->alignment(), (unsigned long long)f->data_offset());
  std::printf("\nmetadata (%zu):\n", f->kvs().size());
  size_t kw = 0;
  for (const auto& kv : f->kvs()) kw = std::max(kw, kv.key.size());
  kw = name_width(kw);
  for (const auto& kv : f->kvs())
    std::printf("  %-*s  %-7s  %s\n", (int)kw, kv.key.c_str(), rsfiqa::io::gguf_type_name(kv.value.type()),
                kv.value.to_string(items).c_str());
  size_t nw = 0;
  int64_t total = 0;
  for (const auto& t : f->tensors()) nw = std::max(nw, t.name.size());
  nw = name_width(nw);
  std::printf("\ntensors (%zu):\n  %-*s  %-6s  %-22s  %12s  %s\n", f->tensors().size(), (int)nw, "name", "dtype",
              "shape", "bytes", "offset");
  for (const auto& t : f->tensors()) {
    std::printf("  %-*s  %-6s  %-22s  %12lld  %llu\n", (int)nw, t.name.c_str(), rsfiqa::dtype_name(t.dtype),
                t.shape.to_string().c_str(), (long long)t.nbytes, (unsigned long long)t.offset);
    total += t.nbytes;
  }
  std::printf("total tensor bytes: %lld\n", (long long)total);
  return kExitOk;
}

int info_safetensors(const std::string& path) {
  auto f = rsfiqa::io::SafeTensorsFile::open(path);
  if (!f.ok()) {
    std::fprintf(stderr, "rsfiqa info: %s\n", f.status().to_string().c_str());
    return kExitInputError;
  }
  std::printf("file: %s\nformat: safetensors, %zu bytes, header %llu bytes, data section at byte %llu\n", path.c_str(),
              f->file_size(), (unsigned long long)f->header_size(), (unsigned long long)f->data_offset());
  // The model kind from rsfiqa.model (+ the config's arch), e.g. which SAM encoder this is.
  const std::string model = rsfiqa::sam::describe_model(*f);
  if (!model.empty()) std::printf("model: %s\n", model.c_str());
  std::printf("\nmetadata (%zu):\n", f->metadata().size());
  size_t kw = 0;
  for (const auto& kv : f->metadata()) kw = std::max(kw, kv.first.size());
  kw = name_width(kw);
  for (const auto& kv : f->metadata()) {
    // Long values (embedded configs) are cut; the reader already checked UTF-8.
    std::string v = kv.second;
    if (v.size() > 120) v = v.substr(0, 117) + "...";
    std::printf("  %-*s  %s\n", (int)kw, kv.first.c_str(), rsfiqa::io::json_quote(v).c_str());
  }
  size_t nw = 0;
  int64_t total = 0;
  for (const auto& t : f->tensors()) nw = std::max(nw, t.name.size());
  nw = name_width(nw);
  std::printf("\ntensors (%zu, in file order):\n  %-*s  %-6s  %-22s  %12s  %s\n", f->tensors().size(), (int)nw, "name",
              "dtype", "shape", "bytes", "offset");
  for (const auto& t : f->tensors()) {
    std::printf("  %-*s  %-6s  %-22s  %12lld  %lld\n", (int)nw, t.name.c_str(),
                rsfiqa::io::safetensors_dtype_name(t.dtype), t.shape.to_string().c_str(), (long long)t.nbytes,
                (long long)t.offset);
    total += t.nbytes;
  }
  std::printf("total tensor bytes: %lld\n", (long long)total);
  return kExitOk;
}

int run_info(int argc, char** argv) {
  std::string path;
  size_t items = 4;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return kExitOk;
    }
    if (a == "-n") {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "rsfiqa info: -n needs a number\n");
        return kExitUsage;
      }
      char* end = nullptr;
      const long v = std::strtol(argv[++i], &end, 10);
      if (!end || *end || v < 0 || v > 1000000) {
        std::fprintf(stderr, "rsfiqa info: bad -n value '%s'\n", argv[i]);
        return kExitUsage;
      }
      items = (size_t)v;
      continue;
    }
    if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "rsfiqa info: unknown option '%s'\n", a.c_str());
      usage(stderr);
      return kExitUsage;
    }
    if (!path.empty()) {
      std::fprintf(stderr, "rsfiqa info: more than one FILE given\n");
      return kExitUsage;
    }
    path = a;
  }
  if (path.empty()) {
    usage(stderr);
    return kExitUsage;
  }
  // Sniff the first bytes; the readers map the file themselves afterwards.
  auto m = rsfiqa::io::MappedFile::open(path);
  if (!m.ok()) {
    std::fprintf(stderr, "rsfiqa info: %s\n", m.status().to_string().c_str());
    return kExitInputError;
  }
  const bool is_gguf = m->size() >= 4 && std::memcmp(m->data(), "GGUF", 4) == 0;
  m = rsfiqa::io::MappedFile();
  return is_gguf ? info_gguf(path, items) : info_safetensors(path);
}

const rsfiqa::cli::Registrar reg("info", "print the metadata and tensors of a GGUF or safetensors file", run_info);

}  // namespace

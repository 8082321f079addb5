// SPDX-License-Identifier: MIT
// Entry point of the `rsfiqa` CLI: dispatches to the registered subcommands.
#include <cstdio>
#include <cstring>
#include <string>

#include "command.hpp"
#include "rsfiqa/core/config.hpp"

namespace {
void print_usage(FILE* out) {
  std::fprintf(out, "rsfiqa %s: region-aware image quality assessment\n\nusage: rsfiqa <command> [options]\n\ncommands:\n",
               rsfiqa::kVersionString);
  for (const auto& kv : rsfiqa::cli::command_registry())
    std::fprintf(out, "  %-10s %s\n", kv.first.c_str(), kv.second.help);
  std::fprintf(out, "\nrun 'rsfiqa <command> -h' for the options of one command\n");
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help")) {
    print_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? rsfiqa::cli::kExitUsage : rsfiqa::cli::kExitOk;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::printf("rsfiqa %s\n", rsfiqa::kVersionString);
    return 0;
  }
  auto& reg = rsfiqa::cli::command_registry();
  auto it = reg.find(argv[1]);
  if (it == reg.end()) {
    std::fprintf(stderr, "rsfiqa: unknown command '%s'\n\n", argv[1]);
    print_usage(stderr);
    return rsfiqa::cli::kExitUsage;
  }
  return it->second.fn(argc - 1, argv + 1);
}

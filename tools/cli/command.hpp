// SPDX-License-Identifier: MIT
// Subcommand registry of the `rsfiqa` CLI. Each tools/cli/cmd_<name>.cpp
// defines `static const rsfiqa::cli::Registrar reg("name", "one-line help", run);`
// and main.cpp dispatches on argv[1]. Commands print results to stdout,
// diagnostics to stderr, and return the process exit code.
#pragma once

#include <map>
#include <string>

namespace rsfiqa::cli {

// Exit codes shared by all subcommands.
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,     // the job ran and some input failed
  kExitUsage = 2,       // bad command line
  kExitInputError = 3,  // unreadable / invalid input file
  kExitModelError = 4,  // missing or invalid weights
  kExitOutputError = 5, // could not write an output
};

using CommandFn = int (*)(int argc, char** argv);  // argv[0] is the subcommand name

struct CommandInfo {
  const char* help;
  CommandFn fn;
};

inline std::map<std::string, CommandInfo>& command_registry() {
  static std::map<std::string, CommandInfo> registry;
  return registry;
}

struct Registrar {
  Registrar(const char* name, const char* help, CommandFn fn) { command_registry()[name] = {help, fn}; }
};

}  // namespace rsfiqa::cli

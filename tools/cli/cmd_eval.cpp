// SPDX-License-Identifier: MIT
// `rsfiqa eval --csv FILE`: correlation of predicted quality with reference
// scores, as pyiqa users expect: SRCC, PLCC, PLCC after the 4-parameter
// logistic fit, and KRCC (pipeline/metrics.hpp has the definitions).
//
//   rsfiqa eval --csv FILE [--image-col C] [--ref-col C] [--pred-col C]
//
// FILE is comma-separated (RFC 4180 quoting); a first row whose reference
// cell is not a number is a header, and columns are then chosen by name or
// by 0-based index. Defaults: image path in column 0, reference score in
// column 1. With --pred-col the predictions are read from that column.
// Without it eval runs the model on each image (pipeline/assess.hpp: SAM
// encoder, AMG partition, token features, quality network; weights from
// --weights DIR, else $RSFIQA_WEIGHTS, else ./weights) and takes the global
// quality. Image paths are used as given, or relative to the CSV's folder
// when they do not exist as given.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "command.hpp"
#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/core/status.hpp"
#include "rsfiqa/io/file.hpp"
#include "rsfiqa/io/image.hpp"
#include "rsfiqa/pipeline/assess.hpp"
#include "rsfiqa/pipeline/metrics.hpp"

namespace {

using rsfiqa::ErrorCode;
using rsfiqa::Result;
using rsfiqa::cli::kExitFailure;
using rsfiqa::cli::kExitInputError;
using rsfiqa::cli::kExitModelError;
using rsfiqa::cli::kExitOk;
using rsfiqa::cli::kExitUsage;

void usage(FILE* out) {
  std::fprintf(out,
               "usage: rsfiqa eval --csv FILE [--image-col C] [--ref-col C] [--pred-col C] [--weights DIR] [-t N]\n"
               "  prints SRCC, PLCC, PLCC after the 4-parameter logistic fit, and KRCC (tau-b)\n"
               "  --csv FILE     rows of: image path, reference score [, predicted score ...]\n"
               "  --image-col C  column of the image path (name or 0-based index, default 0)\n"
               "  --ref-col C    column of the reference score (default 1)\n"
               "  --pred-col C   column of the predicted score; without it the model is run on each image\n"
               "  --weights DIR  weights folder for running the model (default $RSFIQA_WEIGHTS or ./weights)\n"
               "  -t N           threads\n");
}

// Splits one CSV record (RFC 4180: "..." fields, "" inside quotes).
std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char ch = line[i];
    if (quoted) {
      if (ch == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cur += '"';
        ++i;
      } else if (ch == '"') {
        quoted = false;
      } else {
        cur += ch;
      }
    } else if (ch == '"') {
      quoted = true;
    } else if (ch == ',') {
      out.push_back(cur);
      cur.clear();
    } else if (ch != '\r') {
      cur += ch;
    }
  }
  out.push_back(cur);
  return out;
}

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return s.substr(b, e - b);
}

bool parse_double(const std::string& s, double* v) {
  const std::string t = trim(s);
  if (t.empty()) return false;
  char* end = nullptr;
  errno = 0;
  *v = std::strtod(t.c_str(), &end);
  return errno == 0 && end && *end == '\0' && std::isfinite(*v);
}

// Column by 0-based index or header name; -1 when unknown.
int resolve_column(const std::string& spec, const std::vector<std::string>& header) {
  char* end = nullptr;
  const long idx = std::strtol(spec.c_str(), &end, 10);
  if (!spec.empty() && end && *end == '\0') return idx >= 0 && idx < 1 << 20 ? (int)idx : -1;
  for (size_t i = 0; i < header.size(); ++i)
    if (trim(header[i]) == spec) return (int)i;
  return -1;
}

// Global quality of one image from the model (descriptions off).
Result<double> predict_image(const rsfiqa::Assessor& assessor, const std::string& path, const std::string& csv_dir) {
  auto img = rsfiqa::io::load_image(path);
  if (!img.ok() && !csv_dir.empty() && !path.empty() && path[0] != '/') img = rsfiqa::io::load_image(csv_dir + path);
  if (!img.ok()) return img.status();
  rsfiqa::AssessOptions opt;
  opt.describe = rsfiqa::DescribeMode::kNone;
  RSFIQA_ASSIGN_OR_RETURN(rsfiqa::AssessResult r, assessor.assess(*img, opt, path));
  return (double)r.quality;
}

int run(int argc, char** argv) {
  std::string csv, image_col = "0", ref_col = "1", pred_col, weights, threads;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return kExitOk;
    } else if ((a == "--csv" || a == "--image-col" || a == "--ref-col" || a == "--pred-col" || a == "--weights" ||
                a == "-t") &&
               (v = next())) {
      (a == "--csv"         ? csv
       : a == "--image-col" ? image_col
       : a == "--ref-col"   ? ref_col
       : a == "--pred-col"  ? pred_col
       : a == "--weights"   ? weights
                            : threads) = v;
    } else {
      std::fprintf(stderr, "rsfiqa eval: bad argument '%s'\n", a.c_str());
      usage(stderr);
      return kExitUsage;
    }
  }
  if (csv.empty()) {
    usage(stderr);
    return kExitUsage;
  }
  auto bytes = rsfiqa::io::read_file_bytes(csv, size_t(1) << 30);
  if (!bytes.ok()) {
    std::fprintf(stderr, "rsfiqa eval: %s\n", bytes.status().to_string().c_str());
    return kExitInputError;
  }
  // Records, one per non-empty line.
  std::vector<std::vector<std::string>> rows;
  std::vector<int> line_no;
  {
    std::string line;
    int ln = 0;
    const std::string text(bytes->begin(), bytes->end());
    for (size_t i = 0; i <= text.size(); ++i) {
      if (i == text.size() || text[i] == '\n') {
        ++ln;
        if (!trim(line).empty() && trim(line) != "\r") {
          rows.push_back(split_csv(line));
          line_no.push_back(ln);
        }
        line.clear();
      } else {
        line += text[i];
      }
    }
  }
  if (rows.empty()) {
    std::fprintf(stderr, "rsfiqa eval: %s has no rows\n", csv.c_str());
    return kExitInputError;
  }
  // Header: the first row when its reference cell is not a number.
  std::vector<std::string> header;
  {
    const int rc = resolve_column(ref_col, {});
    double tmp = 0;
    const bool numeric = rc >= 0 && rc < (int)rows[0].size() && parse_double(rows[0][(size_t)rc], &tmp);
    if (!numeric) header = rows[0];
  }
  const int ic = resolve_column(image_col, header), rc = resolve_column(ref_col, header),
            pc = pred_col.empty() ? -1 : resolve_column(pred_col, header);
  if (ic < 0 || rc < 0 || (!pred_col.empty() && pc < 0)) {
    std::fprintf(stderr, "rsfiqa eval: unknown column '%s'\n",
                 (ic < 0   ? image_col
                  : rc < 0 ? ref_col
                           : pred_col)
                     .c_str());
    return kExitUsage;
  }
  // The model, loaded once, when predictions are not in the file.
  std::unique_ptr<rsfiqa::Assessor> assessor;
  std::string csv_dir;
  if (pc < 0) {
    if (!threads.empty()) rsfiqa::set_num_threads(std::atoi(threads.c_str()));
    if (weights.empty()) {
      const char* env = std::getenv("RSFIQA_WEIGHTS");
      weights = env && *env ? env : "weights";
    }
    auto a = rsfiqa::Assessor::load_dir(weights);
    if (!a.ok() || !a->has_quality()) {
      std::fprintf(stderr, "rsfiqa eval: %s (or give the predictions with --pred-col)\n",
                   a.ok() ? "the weights folder has no quality network" : a.status().to_string().c_str());
      return kExitModelError;
    }
    assessor = std::make_unique<rsfiqa::Assessor>(std::move(*a));
    const size_t slash = csv.rfind('/');
    if (slash != std::string::npos) csv_dir = csv.substr(0, slash + 1);
  }
  std::vector<double> pred, ref;
  for (size_t r = header.empty() ? 0 : 1; r < rows.size(); ++r) {
    const auto& row = rows[r];
    const int need = std::max(ic, std::max(rc, pc));
    if ((int)row.size() <= need) {
      std::fprintf(stderr, "rsfiqa eval: %s line %d has %zu columns, need %d\n", csv.c_str(), line_no[r], row.size(),
                   need + 1);
      return kExitInputError;
    }
    double y = 0, x = 0;
    if (!parse_double(row[(size_t)rc], &y)) {
      std::fprintf(stderr, "rsfiqa eval: %s line %d: reference score '%s' is not a number\n", csv.c_str(), line_no[r],
                   row[(size_t)rc].c_str());
      return kExitInputError;
    }
    if (pc >= 0) {
      if (!parse_double(row[(size_t)pc], &x)) {
        std::fprintf(stderr, "rsfiqa eval: %s line %d: predicted score '%s' is not a number\n", csv.c_str(), line_no[r],
                     row[(size_t)pc].c_str());
        return kExitInputError;
      }
    } else {
      auto p = predict_image(*assessor, trim(row[(size_t)ic]), csv_dir);
      if (!p.ok()) {
        std::fprintf(stderr, "rsfiqa eval: %s line %d: %s\n", csv.c_str(), line_no[r], p.status().to_string().c_str());
        return kExitInputError;
      }
      x = *p;
    }
    pred.push_back(x);
    ref.push_back(y);
  }
  auto m = rsfiqa::iqa_metrics(pred, ref);
  if (!m.ok()) {
    std::fprintf(stderr, "rsfiqa eval: %s\n", m.status().to_string().c_str());
    return kExitFailure;
  }
  std::printf("n            %lld\n", (long long)m->n);
  std::printf("SRCC         %.4f\n", m->srcc);
  std::printf("PLCC         %.4f\n", m->plcc);
  std::printf("PLCC (fit)   %.4f\n", m->plcc_logistic);
  std::printf("KRCC         %.4f\n", m->krcc);
  std::printf("logistic     b1 %.6g  b2 %.6g  b3 %.6g  b4 %.6g  (%s after %d steps)\n", m->fit.f.b[0], m->fit.f.b[1],
              m->fit.f.b[2], m->fit.f.b[3], m->fit.converged ? "converged" : "not converged", m->fit.iterations);
  return kExitOk;
}

const rsfiqa::cli::Registrar reg("eval", "SRCC / PLCC / logistic PLCC / KRCC of predictions vs reference scores", run);

}  // namespace

// SPDX-License-Identifier: MIT
// `rsfiqa assess`: photo(s) in, per-region quality report, overlay and
// descriptions out (issue 6, PRODUCT.md "The pipeline").
//
//   rsfiqa assess IMAGE... [-m WEIGHTS_DIR] [-t N] [-o OUT] [--overlay OUT.png | --overlay-dir DIR]
//                 [--describe template|llm|none] [--llm FILE.gguf] [--lang en|ja]
//                 [--points-per-side N] [...generator parameters] [--timings] [--quiet] [--resume]
//
// Inputs are files, directories (recursively) or @list.txt (pipeline/batch.hpp).
// Output: -o X.json (one image, pretty JSON, written atomically), -o X.jsonl
// (one line per image, fsync'ed as each image is done; --resume skips images
// already there), -o - (JSON, or JSONL for several images, on stdout and no
// summary). Without -o only the summary is printed. The summary goes to
// stdout; the system line, progress, timings and errors go to stderr.
// Exit status: 0 all images assessed; 1 some image failed (batch); 2 usage;
// 3 the single input failed; 4 weights missing or invalid; 5 an output could
// not be written.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "command.hpp"
#include "rsfiqa/core/cpu.hpp"
#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/io/file.hpp"
#include "rsfiqa/io/image.hpp"
#include "rsfiqa/pipeline/assess.hpp"
#include "rsfiqa/pipeline/batch.hpp"
#include "rsfiqa/pipeline/overlay.hpp"
#include "rsfiqa/pipeline/report.hpp"

namespace {

using Clock = std::chrono::steady_clock;

void usage(FILE* out) {
  std::fprintf(out,
               "usage: rsfiqa assess IMAGE... [options]\n"
               "  IMAGE...                 files, directories (recursive; PNG/JPEG/BMP) or @list.txt\n"
               "  -m DIR                   weights folder (default: $RSFIQA_WEIGHTS or ./weights)\n"
               "  -t N                     threads (default: physical cores)\n"
               "  -o OUT                   OUT.json (one image), OUT.jsonl (any number), - (stdout, no summary)\n"
               "  --overlay OUT.png        overlay image (one input)\n"
               "  --overlay-dir DIR        overlays DIR/<name>.overlay.png (any number of inputs)\n"
               "  --describe MODE          template (default), llm, none\n"
               "  --llm FILE.gguf          language model for descriptions (implies --describe llm)\n"
               "  --lang en|ja             description language (default en)\n"
               "  --resume                 skip images already in OUT.jsonl\n"
               "  --timings                per-stage times on stderr\n"
               "  --quiet                  no summary, progress or system line\n"
               "  generator (SAM names and defaults):\n"
               "  --points-per-side N (32)  --points-per-batch N (64)  --pred-iou-thresh F (0.88)\n"
               "  --stability-score-thresh F (0.95)  --stability-score-offset F (1.0)  --box-nms-thresh F (0.7)\n"
               "  --crop-n-layers N (0)  --crop-nms-thresh F (0.7)  --crop-overlap-ratio F (0.3413)\n"
               "  --crop-n-points-downscale-factor N (1)  --min-mask-region-area N (0)\n");
}

bool parse_double(const char* s, double* out) {
  char* end = nullptr;
  *out = std::strtod(s, &end);
  return end && end != s && *end == '\0';
}

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

std::string base_name_no_ext(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  std::string b = slash == std::string::npos ? path : path.substr(slash + 1);
  const size_t dot = b.find_last_of('.');
  if (dot != std::string::npos && dot > 0) b.resize(dot);
  return b;
}

int run(int argc, char** argv) {
  std::vector<std::string> inputs_args;
  std::string weights, out_path, overlay_path, overlay_dir, llm_path, describe = "template", lang = "en";
  double threads = 0;
  bool timings = false, quiet = false, resume = false;
  rsfiqa::AssessOptions opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    auto num = [&](double* dst) {
      const char* s = next();
      return s && parse_double(s, dst);
    };
    auto fnum = [&](float* dst) {
      double v;
      if (!num(&v)) return false;
      *dst = (float)v;
      return true;
    };
    auto inum = [&](int* dst) {
      double v;
      if (!num(&v) || v != (double)(int)v) return false;
      *dst = (int)v;
      return true;
    };
    auto str = [&](std::string* dst) {
      const char* s = next();
      if (!s) return false;
      *dst = s;
      return true;
    };
    bool ok = true;
    double d = 0;
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return rsfiqa::cli::kExitOk;
    } else if (a == "-m") {
      ok = str(&weights);
    } else if (a == "-t") {
      ok = num(&threads) && threads >= 1;
    } else if (a == "-o") {
      ok = str(&out_path);
    } else if (a == "--overlay") {
      ok = str(&overlay_path);
    } else if (a == "--overlay-dir") {
      ok = str(&overlay_dir);
    } else if (a == "--describe") {
      ok = str(&describe);
    } else if (a == "--llm") {
      ok = str(&llm_path);
      describe = "llm";
    } else if (a == "--lang") {
      ok = str(&lang);
    } else if (a == "--timings") {
      timings = true;
    } else if (a == "--quiet") {
      quiet = true;
    } else if (a == "--resume") {
      resume = true;
    } else if (a == "--points-per-side") {
      ok = inum(&opt.amg.points_per_side);
    } else if (a == "--points-per-batch") {
      ok = inum(&opt.amg.points_per_batch);
    } else if (a == "--pred-iou-thresh") {
      ok = fnum(&opt.amg.pred_iou_thresh);
    } else if (a == "--stability-score-thresh") {
      ok = fnum(&opt.amg.stability_score_thresh);
    } else if (a == "--stability-score-offset") {
      ok = fnum(&opt.amg.stability_score_offset);
    } else if (a == "--box-nms-thresh") {
      ok = fnum(&opt.amg.box_nms_thresh);
    } else if (a == "--crop-n-layers") {
      ok = inum(&opt.amg.crop_n_layers);
    } else if (a == "--crop-nms-thresh") {
      ok = fnum(&opt.amg.crop_nms_thresh);
    } else if (a == "--crop-overlap-ratio") {
      ok = fnum(&opt.amg.crop_overlap_ratio);
    } else if (a == "--crop-n-points-downscale-factor") {
      ok = inum(&opt.amg.crop_n_points_downscale_factor);
    } else if (a == "--min-mask-region-area") {
      ok = num(&d) && d >= 0;
      opt.amg.min_mask_region_area = (int64_t)d;
    } else if (!a.empty() && a[0] == '-' && a != "-") {
      std::fprintf(stderr, "rsfiqa assess: unknown option '%s'\n", a.c_str());
      usage(stderr);
      return rsfiqa::cli::kExitUsage;
    } else {
      inputs_args.push_back(a);
    }
    if (!ok) {
      std::fprintf(stderr, "rsfiqa assess: option '%s' needs a valid value\n", a.c_str());
      return rsfiqa::cli::kExitUsage;
    }
  }
  if (inputs_args.empty()) {
    std::fprintf(stderr, "rsfiqa assess: no input image\n");
    usage(stderr);
    return rsfiqa::cli::kExitUsage;
  }
  auto mode = rsfiqa::parse_describe_mode(describe);
  auto lang_r = rsfiqa::parse_describe_lang(lang);
  for (const rsfiqa::Status& s : {mode.status(), lang_r.status(), rsfiqa::sam::validate_amg_params(opt.amg)})
    if (!s.ok()) {
      std::fprintf(stderr, "rsfiqa assess: %s\n", s.message().c_str());
      return rsfiqa::cli::kExitUsage;
    }
  opt.describe = *mode;
  opt.lang = *lang_r;
  if (opt.describe == rsfiqa::DescribeMode::kLlm && llm_path.empty()) {
    std::fprintf(stderr, "rsfiqa assess: --describe llm needs --llm FILE.gguf\n");
    return rsfiqa::cli::kExitUsage;
  }

  auto inputs = rsfiqa::expand_inputs(inputs_args);
  if (!inputs.ok()) {
    std::fprintf(stderr, "rsfiqa assess: %s\n", inputs.status().message().c_str());
    return rsfiqa::cli::kExitInputError;
  }
  const bool to_stdout = out_path == "-";
  const bool jsonl = ends_with(out_path, ".jsonl");
  const bool single_json = !out_path.empty() && !to_stdout && !jsonl;
  const bool many = inputs->size() > 1;
  if (single_json && many) {
    std::fprintf(stderr, "rsfiqa assess: -o %s holds one report but %zu images were given (use a .jsonl output)\n",
                 out_path.c_str(), inputs->size());
    return rsfiqa::cli::kExitUsage;
  }
  if (!overlay_path.empty() && many) {
    std::fprintf(stderr, "rsfiqa assess: --overlay takes one image; use --overlay-dir DIR for %zu images\n",
                 inputs->size());
    return rsfiqa::cli::kExitUsage;
  }
  if (resume && !jsonl) {
    std::fprintf(stderr, "rsfiqa assess: --resume needs -o OUT.jsonl\n");
    return rsfiqa::cli::kExitUsage;
  }

  if (threads > 0) rsfiqa::set_num_threads((int)threads);
  if (!quiet)
    std::fprintf(stderr, "system: %s, %d threads, isa %s\n", rsfiqa::cpu_features_string().c_str(),
                 rsfiqa::get_num_threads(), rsfiqa::isa_name(rsfiqa::active_isa()));

  // Weights: once for the whole run.
  if (weights.empty()) {
    const char* env = std::getenv("RSFIQA_WEIGHTS");
    weights = env && *env ? env : "weights";
  }
  const auto t_load = Clock::now();
  auto assessor = rsfiqa::Assessor::load_dir(weights);
  if (!assessor.ok()) {
    std::fprintf(stderr, "rsfiqa assess: %s\n", assessor.status().message().c_str());
    return rsfiqa::cli::kExitModelError;
  }
  if (!assessor->has_quality()) {
    std::fprintf(stderr, "rsfiqa assess: %s/%s is absent: the quality network weights are needed to assess images\n",
                 weights.c_str(), rsfiqa::kQualityFile);
    return rsfiqa::cli::kExitModelError;
  }
  std::unique_ptr<rsfiqa::LlmDescriber> llm;
  if (opt.describe == rsfiqa::DescribeMode::kLlm) {
    auto l = rsfiqa::LlmDescriber::load(llm_path);
    if (!l.ok()) {
      std::fprintf(stderr, "rsfiqa assess: %s\n", l.status().message().c_str());
      return rsfiqa::cli::kExitModelError;
    }
    llm.reset(new rsfiqa::LlmDescriber(std::move(*l)));
  }
  if (!quiet)
    std::fprintf(stderr, "load: weights from %s in %.1f ms\n", weights.c_str(),
                 std::chrono::duration<double, std::milli>(Clock::now() - t_load).count());

  // Output sink.
  rsfiqa::JsonlWriter writer;
  std::set<std::string> done;
  if (resume) {
    auto st = rsfiqa::load_resume(out_path);
    if (!st.ok()) {
      std::fprintf(stderr, "rsfiqa assess: %s\n", st.status().message().c_str());
      return rsfiqa::cli::kExitOutputError;
    }
    if (st->dropped_partial && !quiet)
      std::fprintf(stderr, "resume: dropped a cut-off last line of %s\n", out_path.c_str());
    done = std::move(st->done);
  }
  if (jsonl) {
    auto w = rsfiqa::JsonlWriter::open(out_path, resume);
    if (!w.ok()) {
      std::fprintf(stderr, "rsfiqa assess: %s\n", w.status().message().c_str());
      return rsfiqa::cli::kExitOutputError;
    }
    writer = std::move(*w);
  }
  if (!overlay_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(overlay_dir, ec);
    if (ec) {
      std::fprintf(stderr, "rsfiqa assess: cannot create overlay folder '%s': %s\n", overlay_dir.c_str(),
                   ec.message().c_str());
      return rsfiqa::cli::kExitOutputError;
    }
  }
  // Overlay names: <base>.overlay.png, "-2", "-3"... for repeated bases.
  std::map<std::string, std::string> overlay_names;
  {
    std::map<std::string, int> seen;
    for (const std::string& f : *inputs) {
      const std::string b = base_name_no_ext(f);
      const int n = ++seen[b];
      overlay_names[f] = overlay_dir + "/" + b + (n > 1 ? "-" + std::to_string(n) : "") + ".overlay.png";
    }
  }

  bool output_failed = false;
  rsfiqa::Status last_error;
  auto assess_one = [&](const std::string& file) -> rsfiqa::Result<std::string> {
    const auto t0 = Clock::now();
    auto img = rsfiqa::io::load_image(file);
    if (!img.ok()) {
      last_error = img.status();
      if (!quiet || !many) std::fprintf(stderr, "rsfiqa assess: %s\n", img.status().message().c_str());
      return img.status();
    }
    const double decode_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    auto r = assessor->assess(*img, opt, file);
    if (r.ok() && llm) {
      const auto t1 = Clock::now();
      rsfiqa::Status s = llm->describe_all(&*r, opt.lang);
      if (!s.ok())
        r = s;
      else
        r->timings_ms.push_back({"llm", std::chrono::duration<double, std::milli>(Clock::now() - t1).count()});
    }
    if (!r.ok()) {
      last_error = r.status();
      std::fprintf(stderr, "rsfiqa assess: %s: %s\n", file.c_str(), r.status().message().c_str());
      return r.status();
    }
    r->timings_ms.insert(r->timings_ms.begin(), {"decode", decode_ms});
    const std::string ov = !overlay_path.empty() ? overlay_path : (!overlay_dir.empty() ? overlay_names[file] : "");
    if (!ov.empty()) {
      const auto t1 = Clock::now();
      auto o = rsfiqa::render_overlay(*img, *r);
      rsfiqa::Status s = o.ok() ? rsfiqa::io::save_png(ov, *o) : o.status();
      if (!s.ok()) {
        output_failed = true;
        last_error = s;
        std::fprintf(stderr, "rsfiqa assess: %s\n", s.message().c_str());
        return s;
      }
      r->timings_ms.push_back({"overlay", std::chrono::duration<double, std::milli>(Clock::now() - t1).count()});
    }
    double total = 0;
    for (const auto& t : r->timings_ms) total += t.second;
    r->timings_ms.push_back({"total", total});
    if (timings) {
      std::fprintf(stderr, "timings %s:", file.c_str());
      for (const auto& t : r->timings_ms) std::fprintf(stderr, " %s %.1f ms", t.first.c_str(), t.second);
      std::fprintf(stderr, "\n");
    }
    if (!quiet && !to_stdout) {
      std::fputs(rsfiqa::report_summary(*r).c_str(), stdout);
      std::fflush(stdout);
    }
    if (single_json) {
      auto text = rsfiqa::report_to_json(*r, 2);
      if (!text.ok()) return text.status();
      *text += "\n";
      rsfiqa::Status s = rsfiqa::io::write_file_atomic(out_path, text->data(), text->size());
      if (!s.ok()) {
        output_failed = true;
        last_error = s;
        std::fprintf(stderr, "rsfiqa assess: cannot write report: %s\n", s.message().c_str());
        return s;
      }
    }
    if (to_stdout && !many) {
      auto text = rsfiqa::report_to_json(*r, 2);
      if (!text.ok()) return text.status();
      std::fputs(text->c_str(), stdout);
      std::fputs("\n", stdout);
      std::fflush(stdout);
    }
    return rsfiqa::report_to_json(*r, 0);
  };

  rsfiqa::BatchLineSink sink = [&](const std::string& line) -> rsfiqa::Status {
    if (jsonl) return writer.write_line(line);
    if (to_stdout && many) {
      std::fputs(line.c_str(), stdout);
      std::fputs("\n", stdout);
      if (std::fflush(stdout) != 0) return rsfiqa::Status(rsfiqa::ErrorCode::kIoError, "cannot write to stdout");
    }
    return rsfiqa::Status();
  };
  auto progress = [&](const rsfiqa::BatchProgress& p) {
    if (quiet || !many || p.done == 0) return;
    std::fprintf(stderr, "%s\n", rsfiqa::format_progress(p).c_str());
  };
  auto stats = rsfiqa::run_batch(*inputs, done, sink, assess_one, progress);
  if (!stats.ok()) {
    std::fprintf(stderr, "rsfiqa assess: %s\n", stats.status().message().c_str());
    return rsfiqa::cli::kExitOutputError;
  }
  if (many && !quiet)
    std::fprintf(stderr, "done: %zu assessed, %zu failed, %zu skipped (already in %s)\n", stats->ok, stats->failed,
                 stats->skipped, out_path.empty() ? "the output" : out_path.c_str());
  if (stats->failed == 0) return rsfiqa::cli::kExitOk;
  if (output_failed && !many) return rsfiqa::cli::kExitOutputError;
  if (!many) return rsfiqa::cli::kExitInputError;
  return rsfiqa::cli::kExitFailure;
}

const rsfiqa::cli::Registrar reg("assess", "per-region quality report, overlay and descriptions for photos", run);

}  // namespace

// SPDX-License-Identifier: MIT
// `rsfiqa generate`: text generation with a GGUF llama/qwen2 model.
//   rsfiqa generate -m FILE.gguf [-p TEXT | -f FILE] [-n N] [--temp F] [--top-k K] [--top-p F]
//                   [--min-p F] [--repeat-penalty F] [--seed S] [-t N] [-c CTX] [--kv f32|f16] [--chat]
// stdout holds the prompt followed by the generated text and nothing else
// (streamed token by token, no trailing newline); the system line, load time and prompt /
// generation speeds go to stderr. --chat wraps the prompt in the model's chat
// template (models/llm/chat.hpp) as one user turn.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "command.hpp"
#include "rsfiqa/core/cpu.hpp"
#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/io/file.hpp"
#include "rsfiqa/kernels/quant_dot.hpp"
#include "rsfiqa/models/llm/chat.hpp"
#include "rsfiqa/models/llm/model.hpp"

namespace {

using Clock = std::chrono::steady_clock;

void usage(FILE* out) {
  std::fprintf(out,
               "usage: rsfiqa generate -m FILE.gguf [-p TEXT | -f FILE] [-n N] [--temp F] [--top-k K]\n"
               "                       [--top-p F] [--min-p F] [--repeat-penalty F] [--seed S] [-t N]\n"
               "                       [-c CTX] [--kv f32|f16] [--chat]\n"
               "  -n N          tokens to generate (default 128)\n"
               "  --temp F      temperature, 0 = greedy (default 0.8)\n"
               "  --top-k K     (default 40, 0 = off)   --top-p F (default 0.95)   --min-p F (default 0.05)\n"
               "  --repeat-penalty F (default 1.0 = off, last 64 tokens)   --seed S (default 0)\n"
               "  -t N          threads   -c CTX context size (default: the model's)\n"
               "  --kv T        KV cache element type, f32 (default) or f16 (half the memory)\n");
}

bool parse_num(const char* s, double* out) {
  char* end = nullptr;
  *out = std::strtod(s, &end);
  return end && end != s && *end == '\0';
}

int run(int argc, char** argv) {
  std::string model_path, prompt;
  bool have_prompt = false, chat = false;
  rsfiqa::llm::KvType kv_type = rsfiqa::llm::KvType::kF32;
  double n_predict = 128, ctx = 0, threads = 0, seed = 0;
  rsfiqa::llm::SamplerParams sp;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    double v = 0;
    auto num = [&](double* dst) {
      const char* s = next();
      if (!s || !parse_num(s, &v)) return false;
      *dst = v;
      return true;
    };
    bool ok = true;
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return rsfiqa::cli::kExitOk;
    } else if (a == "-m") {
      const char* s = next();
      ok = s != nullptr;
      if (ok) model_path = s;
    } else if (a == "-p") {
      const char* s = next();
      ok = s != nullptr;
      if (ok) prompt = s, have_prompt = true;
    } else if (a == "-f") {
      const char* s = next();
      ok = s != nullptr;
      if (ok) {
        rsfiqa::Result<std::vector<uint8_t>> b = rsfiqa::io::read_file_bytes(s, 64u << 20);
        if (!b.ok()) {
          std::fprintf(stderr, "rsfiqa generate: %s\n", b.status().to_string().c_str());
          return rsfiqa::cli::kExitInputError;
        }
        prompt.assign(b->begin(), b->end());
        have_prompt = true;
      }
    } else if (a == "-n") {
      ok = num(&n_predict);
    } else if (a == "--temp") {
      double t;
      ok = num(&t);
      sp.temperature = (float)t;
    } else if (a == "--top-k") {
      double t;
      ok = num(&t);
      sp.top_k = (int)t;
    } else if (a == "--top-p") {
      double t;
      ok = num(&t);
      sp.top_p = (float)t;
    } else if (a == "--min-p") {
      double t;
      ok = num(&t);
      sp.min_p = (float)t;
    } else if (a == "--repeat-penalty") {
      double t;
      ok = num(&t);
      sp.repeat_penalty = (float)t;
    } else if (a == "--seed") {
      ok = num(&seed);
    } else if (a == "-t") {
      ok = num(&threads);
    } else if (a == "-c") {
      ok = num(&ctx);
    } else if (a == "--kv") {
      const char* t = next();
      ok = t && (!std::strcmp(t, "f32") || !std::strcmp(t, "f16"));
      if (ok) kv_type = !std::strcmp(t, "f16") ? rsfiqa::llm::KvType::kF16 : rsfiqa::llm::KvType::kF32;
    } else if (a == "--chat") {
      chat = true;
    } else {
      std::fprintf(stderr, "rsfiqa generate: unknown option '%s'\n", a.c_str());
      usage(stderr);
      return rsfiqa::cli::kExitUsage;
    }
    if (!ok) {
      std::fprintf(stderr, "rsfiqa generate: option '%s' needs a valid value\n", a.c_str());
      return rsfiqa::cli::kExitUsage;
    }
  }
  if (model_path.empty() || n_predict < 0 || threads < 0 || ctx < 0 || seed < 0) {
    usage(stderr);
    return rsfiqa::cli::kExitUsage;
  }
  sp.seed = (uint64_t)seed;
  if (threads > 0) rsfiqa::set_num_threads((int)threads);
  std::fprintf(stderr, "system: %s, %d threads, dot kernels %s\n", rsfiqa::cpu_features_string().c_str(),
               rsfiqa::get_num_threads(), rsfiqa::kernels::row_dot_kernel_name(rsfiqa::active_isa()));

  const auto t0 = Clock::now();
  rsfiqa::Result<rsfiqa::llm::Model> m = rsfiqa::llm::Model::load(model_path);
  if (!m.ok()) {
    std::fprintf(stderr, "rsfiqa generate: %s\n", m.status().to_string().c_str());
    return rsfiqa::cli::kExitModelError;
  }
  const rsfiqa::llm::Tokenizer& tok = m->tokenizer();
  const double load_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  std::fprintf(stderr, "load: %s (%s, %lld layers, %lld vocab) in %.1f ms\n", model_path.c_str(),
               rsfiqa::llm::arch_name(m->config().arch), (long long)m->config().n_layer,
               (long long)m->config().n_vocab, load_ms);

  std::vector<int32_t> ids;
  if (chat) {
    std::string tmpl;
    if (m->file().has("tokenizer.chat_template")) {
      rsfiqa::Result<std::string> t = m->file().get_string("tokenizer.chat_template");
      if (t.ok()) tmpl = *t;
    }
    rsfiqa::Result<rsfiqa::llm::ChatTemplate> ct = rsfiqa::llm::detect_chat_template(tmpl, tok.find("<|im_start|>") >= 0);
    if (!ct.ok()) {
      std::fprintf(stderr, "rsfiqa generate: %s\n", ct.status().to_string().c_str());
      return rsfiqa::cli::kExitModelError;
    }
    ids = tok.encode(rsfiqa::llm::format_chat(*ct, {{"user", prompt}}), true, true);
  } else {
    ids = tok.encode(prompt, true, false);
  }
  if (ids.empty()) {
    std::fprintf(stderr, "rsfiqa generate: the prompt is empty and the model adds no BOS token\n");
    return rsfiqa::cli::kExitUsage;
  }
  rsfiqa::Result<rsfiqa::llm::Session> s = rsfiqa::llm::Session::create(*m, (int64_t)ctx, kv_type);
  if (!s.ok()) {
    std::fprintf(stderr, "rsfiqa generate: %s\n", s.status().to_string().c_str());
    return rsfiqa::cli::kExitModelError;
  }
  if ((int64_t)ids.size() > s->n_ctx()) {
    std::fprintf(stderr, "rsfiqa generate: the prompt has %zu tokens but the context holds %lld\n", ids.size(),
                 (long long)s->n_ctx());
    return rsfiqa::cli::kExitUsage;
  }
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  std::fflush(stdout);

  rsfiqa::llm::Sampler sampler(sp);
  rsfiqa::llm::GenerateOptions opt;
  opt.n_predict = (int64_t)n_predict;
  // SentencePiece vocabularies put a space before the first word; with an
  // empty prompt that space is not part of the text.
  bool first = !have_prompt || prompt.empty();
  Clock::time_point t_first;
  int64_t n_gen = 0;
  const auto t1 = Clock::now();
  rsfiqa::Result<std::vector<int32_t>> out =
      opt.n_predict == 0 ? rsfiqa::Result<std::vector<int32_t>>(std::vector<int32_t>())
                         : rsfiqa::llm::generate(*s, *m, sampler, ids, opt, [&](int32_t id) {
                             if (n_gen++ == 0) t_first = Clock::now();
                             std::string piece = tok.token_to_piece(id);
                             if (first && !piece.empty()) {
                               if (tok.type() == rsfiqa::llm::TokenizerType::kLlama && piece[0] == ' ')
                                 piece.erase(0, 1);
                               first = false;
                             }
                             std::fwrite(piece.data(), 1, piece.size(), stdout);
                             std::fflush(stdout);
                             return true;
                           });
  const auto t2 = Clock::now();
  if (!out.ok()) {
    std::fprintf(stderr, "rsfiqa generate: %s\n", out.status().to_string().c_str());
    return rsfiqa::cli::kExitFailure;
  }
  if (n_gen > 0) {
    const double prompt_s = std::chrono::duration<double>(t_first - t1).count();
    const double gen_s = std::chrono::duration<double>(t2 - t_first).count();
    std::fprintf(stderr, "prompt: %zu tokens, %.1f tokens/s\n", ids.size(), ids.size() / prompt_s);
    if (n_gen > 1) std::fprintf(stderr, "generation: %lld tokens, %.1f tokens/s\n", (long long)n_gen, (n_gen - 1) / gen_s);
  }
  return rsfiqa::cli::kExitOk;
}

const rsfiqa::cli::Registrar reg("generate", "generate text with a GGUF llama/qwen2 language model", run);

}  // namespace

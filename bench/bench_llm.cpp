// SPDX-License-Identifier: MIT
// LLM speed: prefill (128 tokens) and decode tokens/s on random-weight GGUF
// files with the exact shapes and metadata of SmolLM2-135M (llama) and
// Qwen2.5-0.5B (qwen2), in Q8_0, Q4_0 and Q4_K (the tied embedding/output
// matrix at Q8_0 for the 4-bit types, as llama.cpp's files do), at 1 and 2
// threads; plus a memory read-bandwidth measurement and, per decode case, the
// bandwidth ceiling (weight bytes read per token / measured bandwidth).
//
// The files are written on first use into the system temp folder
// (rsfiqa-bench-<shape>-<type>.gguf) by make_random_llm() below, which is
// also the "make random GGUF" tool of the issue. Counters: tok_s = tokens per
// second (wall clock); cpu_ms_tok = process CPU time (all threads) per token,
// which a loaded machine inflates far less than the wall clock; for decode
// ceiling_tok_s (measured read bandwidth / weight bytes per token) and
// pct_ceiling, plus the memory figures: rss_anon_MB (resident memory not
// backed by the mapped file: KV cache, scratch, tokenizer), kv_MB and
// rss_file_MB (mapped weights resident).
//
// Decode cases take a second argument, the KV cache type (0 = f32, 1 = f16),
// and a third, the decode path (0 = the default thread-team step, 1 = the
// per-projection parallel_for path it replaced, for a same-run comparison).
// Memory/<shape>/<type>/<kv> measures the RSS budget (see BM_Memory).
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/io/gguf.hpp"
#include "rsfiqa/kernels/quant.hpp"
#include "rsfiqa/models/llm/model.hpp"

using namespace rsfiqa;

namespace {

struct Shape_ {
  const char* name;
  const char* arch;
  int64_t E, L, H, Hkv, F, V;
  float theta, eps;
};

const Shape_ kShapes[] = {
    {"smollm2-135m", "llama", 576, 30, 9, 3, 1536, 49152, 100000.0f, 1e-5f},
    {"qwen2.5-0.5b", "qwen2", 896, 24, 14, 2, 4864, 151936, 1000000.0f, 1e-6f},
};

// Cheap deterministic uniform(-1, 1) generator (xorshift64*).
struct Rng {
  uint64_t s;
  float next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return (float)((s * 2685821657736338717ULL) >> 40) * (2.0f / 16777216.0f) - 1.0f;
  }
};

// Writes a random-weight GGUF with the given shape; matrices in `type` (the
// tied embedding in Q8_0 unless type is Q8_0), norms/biases in F32.
Status make_random_llm(const Shape_& sh, DType type, const std::string& path) {
  io::GgufWriter w;
  const std::string a = std::string(sh.arch) + ".";
  RSFIQA_RETURN_IF_ERROR(w.add_string("general.architecture", sh.arch));
  RSFIQA_RETURN_IF_ERROR(w.add_string("general.name", std::string("random ") + sh.name));
  RSFIQA_RETURN_IF_ERROR(w.add_u32(a + "block_count", (uint32_t)sh.L));
  RSFIQA_RETURN_IF_ERROR(w.add_u32(a + "context_length", 8192));
  RSFIQA_RETURN_IF_ERROR(w.add_u32(a + "embedding_length", (uint32_t)sh.E));
  RSFIQA_RETURN_IF_ERROR(w.add_u32(a + "feed_forward_length", (uint32_t)sh.F));
  RSFIQA_RETURN_IF_ERROR(w.add_u32(a + "attention.head_count", (uint32_t)sh.H));
  RSFIQA_RETURN_IF_ERROR(w.add_u32(a + "attention.head_count_kv", (uint32_t)sh.Hkv));
  RSFIQA_RETURN_IF_ERROR(w.add_f32(a + "rope.freq_base", sh.theta));
  RSFIQA_RETURN_IF_ERROR(w.add_f32(a + "attention.layer_norm_rms_epsilon", sh.eps));
  RSFIQA_RETURN_IF_ERROR(w.add_string("tokenizer.ggml.model", "gpt2"));
  RSFIQA_RETURN_IF_ERROR(w.add_string("tokenizer.ggml.pre", std::string(sh.arch) == "qwen2" ? "qwen2" : "smollm"));
  std::vector<std::string> toks((size_t)sh.V);
  for (int64_t i = 0; i < sh.V; ++i) toks[(size_t)i] = "t" + std::to_string(i);
  RSFIQA_RETURN_IF_ERROR(w.add_array("tokenizer.ggml.tokens", io::GgufArray::of_strings(toks)));
  RSFIQA_RETURN_IF_ERROR(w.add_array("tokenizer.ggml.merges", io::GgufArray::of_strings({"t 0"})));
  RSFIQA_RETURN_IF_ERROR(w.add_u32("tokenizer.ggml.eos_token_id", 0));
  std::vector<std::vector<uint8_t>> keep;
  uint64_t seed = 1;
  auto matrix = [&](const std::string& name, DType t, int64_t rows, int64_t cols) -> Status {
    const int64_t rb = dtype_bytes(t, cols);
    keep.emplace_back((size_t)(rb * rows));
    uint8_t* dst = keep.back().data();
    const uint64_t base = seed++ * 0x9E3779B97F4A7C15ULL;
    parallel_for(rows, [&](int64_t b, int64_t e) {
      std::vector<float> row((size_t)cols);
      for (int64_t r = b; r < e; ++r) {
        Rng g{base ^ (uint64_t)(r + 1) * 0xD1B54A32D192ED03ULL};
        for (float& v : row) v = g.next() * 0.05f;
        kernels::quantize_row_ref(t, row.data(), dst + r * rb, cols);
      }
    });
    return w.add_tensor(name, t, rsfiqa::Shape({rows, cols}), dst, keep.back().size());
  };
  auto vec = [&](const std::string& name, int64_t n, float v) -> Status {
    keep.emplace_back((size_t)(n * 4));
    std::vector<float> x((size_t)n, v);
    std::memcpy(keep.back().data(), x.data(), keep.back().size());
    return w.add_tensor(name, DType::kF32, rsfiqa::Shape({n}), keep.back().data(), keep.back().size());
  };
  const int64_t D = sh.E / sh.H;
  RSFIQA_RETURN_IF_ERROR(matrix("token_embd.weight", type == DType::kQ8_0 ? type : DType::kQ8_0, sh.V, sh.E));
  RSFIQA_RETURN_IF_ERROR(vec("output_norm.weight", sh.E, 1.0f));
  for (int64_t il = 0; il < sh.L; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    // Q4_K needs rows of 256: SmolLM2's 576 and Qwen2.5's 896 are not, so
    // those matrices fall back to Q5_0, as llama.cpp's quantizer does; the
    // FFN down projections (1536, 4864 wide) are real Q4_K.
    auto fit = [&](int64_t cols) { return cols % dtype_info(type).block_size == 0 ? type : DType::kQ5_0; };
    RSFIQA_RETURN_IF_ERROR(vec(p + "attn_norm.weight", sh.E, 1.0f));
    RSFIQA_RETURN_IF_ERROR(matrix(p + "attn_q.weight", fit(sh.E), sh.H * D, sh.E));
    RSFIQA_RETURN_IF_ERROR(matrix(p + "attn_k.weight", fit(sh.E), sh.Hkv * D, sh.E));
    RSFIQA_RETURN_IF_ERROR(matrix(p + "attn_v.weight", fit(sh.E), sh.Hkv * D, sh.E));
    RSFIQA_RETURN_IF_ERROR(matrix(p + "attn_output.weight", fit(sh.H * D), sh.E, sh.H * D));
    if (std::string(sh.arch) == "qwen2") {
      RSFIQA_RETURN_IF_ERROR(vec(p + "attn_q.bias", sh.H * D, 0.01f));
      RSFIQA_RETURN_IF_ERROR(vec(p + "attn_k.bias", sh.Hkv * D, 0.01f));
      RSFIQA_RETURN_IF_ERROR(vec(p + "attn_v.bias", sh.Hkv * D, 0.01f));
    }
    RSFIQA_RETURN_IF_ERROR(vec(p + "ffn_norm.weight", sh.E, 1.0f));
    RSFIQA_RETURN_IF_ERROR(matrix(p + "ffn_gate.weight", fit(sh.E), sh.F, sh.E));
    RSFIQA_RETURN_IF_ERROR(matrix(p + "ffn_up.weight", fit(sh.E), sh.F, sh.E));
    RSFIQA_RETURN_IF_ERROR(matrix(p + "ffn_down.weight", fit(sh.F), sh.E, sh.F));
  }
  return w.write(path);
}

// The q4_k files carry a version suffix: "-v2" files use Q5_0 for the rows
// that are not 256-blocks (the first ones used Q4_0), so a stale file left in
// the temp folder is not reused.
std::string bench_path(const Shape_& sh, DType t) {
  const std::string version = t == DType::kQ4_K ? "-v2" : "";
  return (std::filesystem::temp_directory_path() /
          (std::string("rsfiqa-bench-") + sh.name + "-" + dtype_name(t) + version + ".gguf"))
      .string();
}

// Drops the file's pages from the page cache (after flushing them), so the
// next load reads it from disk through the loader's memory map, as after a
// reboot or for a model file that has not been used for a while. The decode
// figures depend on how the cached pages were created: pages brought in
// through io::MappedFile's map (which asks for huge pages) are mapped in 2 MB
// pieces, while pages left over from writing the file in small pieces are
// mapped 4 KB at a time and cost TLB misses (docs/llm.md, "Speed"). Evicting
// first makes every run measure the same state. Best effort: ignored where
// unsupported.
void evict_page_cache(const std::string& path) {
#if defined(POSIX_FADV_DONTNEED)
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fdatasync(fd);
  (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
#else
  (void)path;
#endif
}

// Loads (making the file first if needed) and caches one model at a time.
llm::Model* get_model(const Shape_& sh, DType t) {
  static std::string cached;
  static llm::Model model;
  const std::string path = bench_path(sh, t);
  if (cached == path) return &model;
  if (!std::filesystem::exists(path)) {
    Status st = make_random_llm(sh, t, path);
    if (!st.ok()) {
      std::fprintf(stderr, "make_random_llm: %s\n", st.to_string().c_str());
      return nullptr;
    }
  }
  evict_page_cache(path);
  Result<llm::Model> m = llm::Model::load(path);
  if (!m.ok()) {
    std::fprintf(stderr, "load: %s\n", m.status().to_string().c_str());
    return nullptr;
  }
  model = std::move(m).value();
  cached = path;
  return &model;
}

// CPU time of the whole process (every thread), seconds.
double process_cpu_s() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

// A "Key:   123 kB" line of /proc/self/status (or another /proc file of the
// same form), in MB (0 if absent).
double proc_status_mb(const char* key, const char* file = "/proc/self/status") {
  std::ifstream f(file);
  std::string line;
  const std::string k = std::string(key) + ":";
  while (std::getline(f, line))
    if (line.compare(0, k.size(), k) == 0) return std::atof(line.c_str() + k.size()) / 1024.0;
  return 0.0;
}

// Read bandwidth (bytes/s) of `threads` threads summing a 512 MB buffer;
// the best of a few passes. Measured again for every decode case, right
// after it, because a shared machine's bandwidth drifts.
double measure_read_bandwidth(int threads) {
  const size_t n = (512u << 20) / 8;
  std::vector<uint64_t> buf(n, 1);
  double best = 0;
  for (int pass = 0; pass < 5; ++pass) {
    std::atomic<uint64_t> total{0};
    const auto t0 = std::chrono::steady_clock::now();
    parallel_for(
        (int64_t)n,
        [&](int64_t b, int64_t e) {
          uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
          int64_t i = b;
          for (; i + 4 <= e; i += 4) {
            s0 += buf[(size_t)i];
            s1 += buf[(size_t)i + 1];
            s2 += buf[(size_t)i + 2];
            s3 += buf[(size_t)i + 3];
          }
          for (; i < e; ++i) s0 += buf[(size_t)i];
          total += s0 + s1 + s2 + s3;
        },
        1, threads);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (total.load() != n) return 0;
    best = std::max(best, n * 8.0 / s);
  }
  return best;
}

void BM_ReadBandwidth(benchmark::State& state) {
  const int threads = (int)state.range(0);
  double bw = 0;
  for (auto _ : state) bw = measure_read_bandwidth(threads);
  state.counters["GB_s"] = bw / 1e9;
}

void BM_Decode(benchmark::State& state, const Shape_* sh, DType t) {
  const int threads = (int)state.range(0);
  const llm::KvType kv = state.range(1) ? llm::KvType::kF16 : llm::KvType::kF32;
  set_num_threads(threads);
  llm::Model* m = get_model(*sh, t);
  if (!m) {
    state.SkipWithError("model");
    return;
  }
  // As llama-bench's tg64: single tokens from an empty context, 64 at a
  // time (the cache restarts every 64 tokens, so attention stays short and
  // the weights dominate, as in the reference figures).
  Result<llm::Session> s = llm::Session::create(*m, 64, kv);
  const bool per_projection = state.range(2) != 0;
  if (per_projection) s->set_team_min_bytes(std::numeric_limits<int64_t>::max() / 64);
  int32_t tok = 2;
  int64_t n = 0;
  double cpu = 0, wall = 0;
  for (auto _ : state) {
    if (s->n_past() >= s->n_ctx()) s->reset();
    const double c0 = process_cpu_s();
    const auto w0 = std::chrono::steady_clock::now();
    (void)s->eval(&tok, 1);
    wall += std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
    cpu += process_cpu_s() - c0;
    ++n;
  }
  state.counters["tok_s"] = benchmark::Counter((double)n, benchmark::Counter::kIsRate);
  state.counters["cpu_ms_tok"] = cpu * 1e3 / (double)(n ? n : 1);
  const double bw = measure_read_bandwidth(threads);
  const double ceiling = bw / (double)m->weight_bytes();
  state.counters["ceiling_tok_s"] = ceiling;
  state.counters["pct_ceiling"] = wall > 0 && ceiling > 0 ? 100.0 * ((double)n / wall) / ceiling : 0.0;
  state.counters["weight_MB"] = m->weight_bytes() / 1e6;
  state.counters["kv_MB"] = (double)s->kv_cache_bytes() / 1e6;
  state.counters["rss_anon_MB"] = proc_status_mb("RssAnon") * 1.048576;
  state.counters["rss_file_MB"] = proc_status_mb("RssFile") * 1.048576;
  // Mapped weights held in 2 MB pages (see evict_page_cache).
  state.counters["pmd_MB"] = proc_status_mb("FilePmdMapped", "/proc/self/smaps_rollup") * 1.048576;
  state.SetLabel(std::string(sh->name) + " " + dtype_name(t) + " kv " + llm::kv_type_name(kv) + " " +
                 kernels::row_dot_kernel_name(active_isa()) + (per_projection ? " per-projection" : " team"));
  set_num_threads(0);
}

void BM_Prefill128(benchmark::State& state, const Shape_* sh, DType t) {
  const int threads = (int)state.range(0);
  set_num_threads(threads);
  llm::Model* m = get_model(*sh, t);
  if (!m) {
    state.SkipWithError("model");
    return;
  }
  Result<llm::Session> s = llm::Session::create(*m, 256);
  std::vector<int32_t> prompt(128);
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = (int32_t)(i * 7 % 1000);
  int64_t n = 0;
  const double c0 = process_cpu_s();
  for (auto _ : state) {
    s->reset();
    (void)s->eval(prompt.data(), (int64_t)prompt.size());
    n += 128;
  }
  state.counters["tok_s"] = benchmark::Counter((double)n, benchmark::Counter::kIsRate);
  state.counters["cpu_ms_tok"] = (process_cpu_s() - c0) * 1e3 / (double)(n ? n : 1);
  state.SetLabel(std::string(sh->name) + " " + dtype_name(t) + " " +
                 kernels::row_dot_kernel_name(active_isa()));
  set_num_threads(0);
}

// Memory: resident memory that the mapped file does not back (RssAnon of
// /proc/self/status) grown by loading the model, creating a session of
// 4096 positions and running a 128-token prefill and 64 decode steps,
// against the KV cache size. The budget: growth <= KV + 64 MB.
void BM_Memory(benchmark::State& state, const Shape_* sh, DType t) {
  const llm::KvType kv = state.range(0) ? llm::KvType::kF16 : llm::KvType::kF32;
  const std::string path = bench_path(*sh, t);
  if (!get_model(*sh, t)) {  // makes the file if needed
    state.SkipWithError("model");
    return;
  }
  double grown = 0, kv_mb = 0, file_mb = 0;
  set_num_threads(1);  // memory does not depend on it; spares a loaded machine
  for (auto _ : state) {
    const double before = proc_status_mb("RssAnon");
    Result<llm::Model> m = llm::Model::load(path);
    if (!m.ok()) {
      state.SkipWithError("load");
      return;
    }
    Result<llm::Session> s = llm::Session::create(*m, 4096, kv);
    std::vector<int32_t> prompt(128);
    for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = (int32_t)(i * 7 % 1000);
    (void)s->eval(prompt.data(), (int64_t)prompt.size());
    int32_t tok = 2;
    for (int i = 0; i < 64; ++i) (void)s->eval(&tok, 1);
    grown = (proc_status_mb("RssAnon") - before) * 1.048576;
    kv_mb = (double)s->kv_cache_bytes() / 1e6;
    file_mb = proc_status_mb("RssFile") * 1.048576;
  }
  state.counters["rss_anon_growth_MB"] = grown;
  state.counters["kv_MB"] = kv_mb;
  state.counters["over_kv_MB"] = grown - kv_mb;  // budget: <= 64
  state.counters["rss_file_MB"] = file_mb;
  state.SetLabel(std::string(sh->name) + " " + dtype_name(t) + " kv " + llm::kv_type_name(kv));
  set_num_threads(0);
}

int register_all() {
  benchmark::RegisterBenchmark("ReadBandwidth", BM_ReadBandwidth)->Arg(1)->Arg(2)->Iterations(1)->UseRealTime();
  for (const Shape_& sh : kShapes)
    for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K}) {
      const std::string tag = std::string(sh.name) + "/" + dtype_name(t);
      benchmark::RegisterBenchmark(("Decode/" + tag).c_str(), BM_Decode, &sh, t)
          ->Args({1, 0, 0})->Args({2, 0, 0})->Args({2, 1, 0})->Args({2, 0, 1})->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);
      benchmark::RegisterBenchmark(("Memory/" + tag).c_str(), BM_Memory, &sh, t)
          ->Arg(0)->Arg(1)->Iterations(1)->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark(("Prefill128/" + tag).c_str(), BM_Prefill128, &sh, t)
          ->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);
    }
  return 0;
}
const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();

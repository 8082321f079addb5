// SPDX-License-Identifier: MIT
// Region-aware Semantic Attention (RSA): multi-head attention in which a
// token may only look at tokens of its own image region (docs/rsa.md has the
// math and the proofs; PRODUCT.md "RSA, as we define it" is the definition).
//
//   per head h:  O_h = softmax(Q_h K_hᵀ · scale + M) V_h
//   strict:        M_ij = 0 if r_i == r_j, -inf otherwise
//   strict_global: as strict, plus every query also sees G region-summary keys
//                  (the mean key / mean value of each non-empty region)
//   bias:          M_ij = 0 if r_i == r_j, -beta_h otherwise (soft, never -inf)
//
// Three implementations of the same function, all always compiled:
//   region_attention_ref          literal loops over the allowed (query, key)
//                                 pairs; the test oracle, reads like the math.
//   region_attention_masked_dense builds the additive mask M [N, N + G] and
//                                 runs ordinary dense attention over all keys;
//                                 the comparison point of tests and benchmarks.
//   region_attention              the fast form: stable counting sort of the
//                                 tokens by region, dense attention inside each
//                                 region block (cost sum_k n_k^2 instead of
//                                 N^2), scatter back to the original order.
//                                 For `bias` nothing is block-sparse, so the
//                                 fast form is dense attention with the soft
//                                 mask rows built on the fly (no N x N matrix).
// The two fast paths share one block kernel (kernels/region_attention_kernels.hpp:
// a fused AVX-512 scores/softmax/PV kernel, or gemm_f32 + softmax_f32 on other
// ISAs), so the benchmark compares sparsity, not kernels. Threads: the op owns
// them (parallel_for over (head, region, query block) items); the kernels it
// calls run single-threaded inside.
//
// Layout (TinyViT / SAM style). Tokens are rows. q, k and v are row-major
// [N, num_heads * head_dim] matrices with row strides ldq, ldk, ldv (floats);
// head h owns columns [h * head_dim, (h + 1) * head_dim). A packed qkv tensor
// [N, 3 * dim] from one nn.Linear is passed as q = qkv, k = qkv + dim,
// v = qkv + 2 * dim with all three strides 3 * dim (region_attention_args_packed
// does that). The output is [N, num_heads * head_dim] with row stride ldo,
// heads concatenated (ready for the output projection). labels[i] in
// [0, num_regions) is the region of token i; label ids without tokens are
// allowed (empty regions produce nothing and are ignored). `out` must not
// overlap q, k or v (checked: kInvalidArgument).
//
// What this file does not do: the q/k/v and output projections, the region
// map downsampling, or anything learned (betas are inputs).
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "rsfiqa/core/config.hpp"
#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/core/status.hpp"
#include "rsfiqa/core/tensor.hpp"
#include "rsfiqa/kernels/region_attention_kernels.hpp"

namespace rsfiqa::ops {

enum class RegionAttentionVariant : int {
  kStrict = 0,        // hard mask: attend only inside the own region
  kStrictGlobal = 1,  // hard mask plus one summary key/value per non-empty region
  kBias = 2,          // soft mask: other regions get an additive -beta
};

inline const char* region_attention_variant_name(RegionAttentionVariant v) {
  switch (v) {
    case RegionAttentionVariant::kStrict: return "strict";
    case RegionAttentionVariant::kStrictGlobal: return "strict+global";
    case RegionAttentionVariant::kBias: return "bias";
  }
  return "unknown";
}

// Accepts the names of region_attention_variant_name ("strict_global" too).
inline Result<RegionAttentionVariant> parse_region_attention_variant(const std::string& s) {
  if (s == "strict") return RegionAttentionVariant::kStrict;
  if (s == "strict+global" || s == "strict_global") return RegionAttentionVariant::kStrictGlobal;
  if (s == "bias") return RegionAttentionVariant::kBias;
  return make_error(ErrorCode::kInvalidArgument, "unknown RSA variant '%s' (expected strict, strict+global or bias)",
                    s.c_str());
}

struct RegionAttentionParams {
  int num_heads = 1;
  int head_dim = 0;
  RegionAttentionVariant variant = RegionAttentionVariant::kStrict;
  float scale = 0.0f;                 // multiplies Q·Kᵀ; <= 0 means 1/sqrt(head_dim)
  float bias_beta = 0.0f;             // bias variant: penalty for other regions (all heads)
  const float* bias_betas = nullptr;  // bias variant: [num_heads] per-head penalties (overrides bias_beta)
};

// The tensors of one call. Strides of 0 mean "contiguous" (num_heads * head_dim).
struct RegionAttentionArgs {
  const float* q = nullptr;  // [N, num_heads * head_dim], row stride ldq
  int64_t ldq = 0;
  const float* k = nullptr;  // [N, num_heads * head_dim], row stride ldk
  int64_t ldk = 0;
  const float* v = nullptr;  // [N, num_heads * head_dim], row stride ldv
  int64_t ldv = 0;
  int64_t n_tokens = 0;            // N
  const int32_t* labels = nullptr;  // [n_labels], must equal N
  int64_t n_labels = 0;
  int32_t num_regions = 0;  // K: labels must lie in [0, K)
  float* out = nullptr;     // [N, num_heads * head_dim], row stride ldo
  int64_t ldo = 0;
};

// Args for a packed qkv [N, 3 * dim] (columns: q | k | v, each heads x head_dim)
// and a contiguous out [N, dim].
inline RegionAttentionArgs region_attention_args_packed(const float* qkv, int64_t n_tokens, int64_t dim,
                                                        const int32_t* labels, int32_t num_regions, float* out) {
  RegionAttentionArgs a;
  a.q = qkv;
  a.k = qkv ? qkv + dim : nullptr;
  a.v = qkv ? qkv + 2 * dim : nullptr;
  a.ldq = a.ldk = a.ldv = 3 * dim;
  a.n_tokens = n_tokens;
  a.labels = labels;
  a.n_labels = n_tokens;
  a.num_regions = num_regions;
  a.out = out;
  a.ldo = dim;
  return a;
}

// Scratch memory the fast and masked-dense forms reuse across calls (one per
// concurrent caller; it grows to the largest request and never shrinks).
class RegionAttentionWorkspace {
 public:
  // Returns at least `bytes` bytes, or nullptr when the allocation failed.
  void* reserve(int64_t bytes) {
    if (bytes > buf_.size()) {
      buf_.reset();
      auto r = Buffer::allocate(bytes);
      if (!r.ok()) return nullptr;
      buf_ = std::move(r).value();
    }
    return buf_.data();
  }
  int64_t capacity() const { return buf_.size(); }

 private:
  Buffer buf_;
};

// Hard limit on the label range so a corrupt K cannot ask for gigabytes of
// per-region bookkeeping.
constexpr int32_t kMaxRegionLabels = 1 << 24;

namespace detail {

// The validated, defaulted view of one call.
struct RsaProblem {
  int64_t n = 0;     // tokens N
  int32_t kreg = 0;  // label range K
  int heads = 0;
  int dh = 0;
  int64_t dim = 0;  // heads * dh
  float scale = 0;
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  int64_t ldq = 0, ldk = 0, ldv = 0, ldo = 0;
  const int32_t* labels = nullptr;
  float* out = nullptr;
  RegionAttentionVariant variant = RegionAttentionVariant::kStrict;
  const RegionAttentionParams* params = nullptr;

  float beta(int h) const { return params->bias_betas ? params->bias_betas[h] : params->bias_beta; }
};

inline Status rsa_validate(const RegionAttentionArgs& a, const RegionAttentionParams& p, RsaProblem* pr) {
  if (p.num_heads <= 0 || p.head_dim <= 0)
    return make_error(ErrorCode::kInvalidArgument, "region_attention: num_heads (%d) and head_dim (%d) must be positive",
                      p.num_heads, p.head_dim);
  if ((int)p.variant < 0 || (int)p.variant > 2)
    return make_error(ErrorCode::kInvalidArgument, "region_attention: unknown variant %d", (int)p.variant);
  if (a.n_tokens < 0)
    return make_error(ErrorCode::kInvalidArgument, "region_attention: negative token count %lld",
                      (long long)a.n_tokens);
  if (a.n_tokens == 0) return make_error(ErrorCode::kEmptyInput, "region_attention: no tokens (N = 0)");
  if (a.n_labels != a.n_tokens)
    return make_error(ErrorCode::kInvalidArgument, "region_attention: %lld labels for %lld tokens",
                      (long long)a.n_labels, (long long)a.n_tokens);
  if (a.num_regions <= 0 || a.num_regions > kMaxRegionLabels)
    return make_error(ErrorCode::kInvalidArgument, "region_attention: num_regions %d outside [1, %d]", a.num_regions,
                      kMaxRegionLabels);
  if (!a.q || !a.k || !a.v || !a.labels || !a.out)
    return make_error(ErrorCode::kInvalidArgument, "region_attention: null %s pointer",
                      !a.q ? "q" : !a.k ? "k" : !a.v ? "v" : !a.labels ? "labels" : "out");
  const int64_t dim = (int64_t)p.num_heads * p.head_dim;
  const int64_t ldq = a.ldq ? a.ldq : dim, ldk = a.ldk ? a.ldk : dim, ldv = a.ldv ? a.ldv : dim,
                ldo = a.ldo ? a.ldo : dim;
  if (ldq < dim || ldk < dim || ldv < dim || ldo < dim)
    return make_error(ErrorCode::kInvalidArgument,
                      "region_attention: row strides (q %lld, k %lld, v %lld, out %lld) must be >= heads*head_dim = %lld",
                      (long long)ldq, (long long)ldk, (long long)ldv, (long long)ldo, (long long)dim);
  int64_t total = 0;
  if (!checked_mul(a.n_tokens, std::max(std::max(ldq, ldk), std::max(ldv, ldo)), &total) ||
      !checked_mul(a.n_tokens, a.n_tokens, &total))
    return make_error(ErrorCode::kOverflow, "region_attention: %lld tokens overflow the index range",
                      (long long)a.n_tokens);
  // The output is written while q, k and v are still being read.
  auto span_of = [&](const float* p, int64_t ld) {
    const uintptr_t b = reinterpret_cast<uintptr_t>(p);
    return std::pair<uintptr_t, uintptr_t>(b, b + (uintptr_t)(((a.n_tokens - 1) * ld + dim) * (int64_t)sizeof(float)));
  };
  const auto o_span = span_of(a.out, ldo);
  const std::pair<const char*, std::pair<uintptr_t, uintptr_t>> inputs[] = {
      {"q", span_of(a.q, ldq)}, {"k", span_of(a.k, ldk)}, {"v", span_of(a.v, ldv)}};
  for (const auto& in : inputs)
    if (o_span.first < in.second.second && in.second.first < o_span.second)
      return make_error(ErrorCode::kInvalidArgument, "region_attention: out overlaps %s (in-place is not supported)",
                        in.first);
  for (int64_t i = 0; i < a.n_tokens; ++i) {
    const int32_t r = a.labels[i];
    if (r < 0 || r >= a.num_regions)
      return make_error(ErrorCode::kInvalidArgument, "region_attention: labels[%lld] = %d is outside [0, %d)",
                        (long long)i, r, a.num_regions);
  }
  if (p.variant == RegionAttentionVariant::kBias) {
    for (int h = 0; h < p.num_heads; ++h) {
      const float b = p.bias_betas ? p.bias_betas[h] : p.bias_beta;
      if (!std::isfinite(b))
        return make_error(ErrorCode::kInvalidArgument, "region_attention: bias beta of head %d is not finite", h);
    }
  }
  pr->n = a.n_tokens;
  pr->kreg = a.num_regions;
  pr->heads = p.num_heads;
  pr->dh = p.head_dim;
  pr->dim = dim;
  pr->scale = p.scale > 0.0f ? p.scale : 1.0f / std::sqrt((float)p.head_dim);
  pr->q = a.q;
  pr->k = a.k;
  pr->v = a.v;
  pr->ldq = ldq;
  pr->ldk = ldk;
  pr->ldv = ldv;
  pr->ldo = ldo;
  pr->labels = a.labels;
  pr->out = a.out;
  pr->variant = p.variant;
  pr->params = &p;
  return Status();
}


// Carves typed arrays out of one block of memory. Run once with base ==
// nullptr to learn the size, then again on the real block.
struct RsaCarver {
  char* base = nullptr;
  int64_t used = 0;
  template <typename T>
  T* take(int64_t count) {
    used = (used + (int64_t)kAlignment - 1) / (int64_t)kAlignment * (int64_t)kAlignment;
    T* p = base ? reinterpret_cast<T*>(base + used) : nullptr;
    used += count * (int64_t)sizeof(T);
    return p;
  }
};

// Stable counting sort of the tokens by label, O(N + K):
//   counts[r] = n_r; offsets[r] = first sorted position of region r
//   (offsets[K] = N); perm[p] = token at sorted position p. Within a region
// tokens keep their original order (stable), so the sorted layout is unique.
inline void rsa_counting_sort(const RsaProblem& pr, int64_t* counts, int64_t* offsets, int64_t* perm) {
  std::fill(counts, counts + pr.kreg, int64_t(0));
  for (int64_t i = 0; i < pr.n; ++i) ++counts[pr.labels[i]];
  offsets[0] = 0;
  for (int32_t r = 0; r < pr.kreg; ++r) offsets[r + 1] = offsets[r] + counts[r];
  // `cursor` reuses counts: next free slot of each region.
  for (int32_t r = 0; r < pr.kreg; ++r) counts[r] = offsets[r];
  for (int64_t i = 0; i < pr.n; ++i) perm[counts[pr.labels[i]]++] = i;
  for (int32_t r = 0; r < pr.kreg; ++r) counts[r] = offsets[r + 1] - offsets[r];
}

// Region summaries for strict+global. For every non-empty region k (in label
// order) the summary key is the mean of the region's key rows and the
// summary value the mean of its value rows, all heads at once. The K/V
// projections are affine, so mean_i(W x_i + b) = W mean_i(x_i) + b: this is
// exactly "project the region's mean input token with the same K/V
// projections". Sums run in token order in double, so every form of the op
// gets bit-identical summaries.
//   counts: [K] tokens per region; slot: [K] out, summary row of region k or -1
//   acc: [2 * G_max * dim] doubles of scratch; ksum, vsum: [G, dim] out
// Returns G, the number of non-empty regions.
inline int64_t rsa_region_summaries(const RsaProblem& pr, const int64_t* counts, int64_t* slot, double* acc,
                                    float* ksum, float* vsum) {
  int64_t g = 0;
  for (int32_t r = 0; r < pr.kreg; ++r) slot[r] = counts[r] > 0 ? g++ : -1;
  std::fill(acc, acc + 2 * g * pr.dim, 0.0);
  for (int64_t i = 0; i < pr.n; ++i) {
    const int64_t s = slot[pr.labels[i]];
    double* ak = acc + s * pr.dim;        // running sum of keys of region labels[i]
    double* av = acc + (g + s) * pr.dim;  // running sum of values
    for (int64_t c = 0; c < pr.dim; ++c) {
      ak[c] += pr.k[i * pr.ldk + c];
      av[c] += pr.v[i * pr.ldv + c];
    }
  }
  for (int32_t r = 0; r < pr.kreg; ++r) {
    const int64_t s = slot[r];
    if (s < 0) continue;
    const double inv = 1.0 / (double)counts[r];
    for (int64_t c = 0; c < pr.dim; ++c) {
      ksum[s * pr.dim + c] = (float)(acc[s * pr.dim + c] * inv);
      vsum[s * pr.dim + c] = (float)(acc[(g + s) * pr.dim + c] * inv);
    }
  }
  return g;
}

// Number of summary rows to plan for before the labels are counted.
inline int64_t rsa_max_summaries(const RsaProblem& pr) {
  if (pr.variant != RegionAttentionVariant::kStrictGlobal) return 0;
  return std::min<int64_t>(pr.kreg, pr.n);
}

}  // namespace detail

// ---------------------------------------------------------------------------
// The scalar reference: for every head h and query i, loop over exactly the
// keys the variant allows, take the max score, the exp-sum, and the weighted
// sum of values. Scores and sums in double. O(N^2 * dim), for tests.
inline Status region_attention_ref(const RegionAttentionArgs& args, const RegionAttentionParams& params) {
  detail::RsaProblem pr;
  RSFIQA_RETURN_IF_ERROR(detail::rsa_validate(args, params, &pr));
  const int64_t n = pr.n, dh = pr.dh, gmax = detail::rsa_max_summaries(pr);
  const bool global = pr.variant == RegionAttentionVariant::kStrictGlobal;
  const bool bias = pr.variant == RegionAttentionVariant::kBias;

  int64_t *counts = nullptr, *slot = nullptr;
  double *acc = nullptr, *score = nullptr, *o = nullptr;
  float *ksum = nullptr, *vsum = nullptr;
  auto carve = [&](detail::RsaCarver& c) {
    counts = c.take<int64_t>(pr.kreg);       // [K] tokens per region
    slot = c.take<int64_t>(pr.kreg);         // [K] summary row per region
    acc = c.take<double>(2 * gmax * pr.dim);  // summary sums
    ksum = c.take<float>(gmax * pr.dim);      // [G, dim] summary keys
    vsum = c.take<float>(gmax * pr.dim);      // [G, dim] summary values
    score = c.take<double>(n + gmax);         // [N + G] scores of the current query
    o = c.take<double>(dh);                   // [dh] output of the current query and head
  };
  detail::RsaCarver plan;
  carve(plan);
  RSFIQA_ASSIGN_OR_RETURN(Buffer mem, Buffer::allocate(plan.used));
  detail::RsaCarver real{static_cast<char*>(mem.data()), 0};
  carve(real);

  for (int64_t i = 0; i < n; ++i) ++counts[pr.labels[i]];
  const int64_t g = global ? detail::rsa_region_summaries(pr, counts, slot, acc, ksum, vsum) : 0;
  const double ninf = -std::numeric_limits<double>::infinity();

  for (int h = 0; h < pr.heads; ++h) {
    const int64_t col = h * dh;  // first column of head h
    const double beta = bias ? (double)pr.beta(h) : 0.0;
    for (int64_t i = 0; i < n; ++i) {
      const float* qi = pr.q + i * pr.ldq + col;  // q_i, [dh]
      const int32_t ri = pr.labels[i];
      // 1) s_ij = scale * <q_i, k_j> + M_ij for every allowed key j; track the max.
      double m = ninf;
      for (int64_t j = 0; j < n; ++j) {
        const bool same = pr.labels[j] == ri;
        if (!same && !bias) continue;  // M_ij = -inf: key j does not exist for query i
        const float* kj = pr.k + j * pr.ldk + col;
        double s = 0.0;
        for (int64_t t = 0; t < dh; ++t) s += (double)qi[t] * (double)kj[t];
        s = s * pr.scale + (same ? 0.0 : -beta);
        score[j] = s;
        m = std::max(m, s);
      }
      for (int64_t s_idx = 0; s_idx < g; ++s_idx) {  // strict+global: every summary key
        const float* kj = ksum + s_idx * pr.dim + col;
        double s = 0.0;
        for (int64_t t = 0; t < dh; ++t) s += (double)qi[t] * (double)kj[t];
        score[n + s_idx] = s * pr.scale;
        m = std::max(m, score[n + s_idx]);
      }
      // 2) Z = sum_j exp(s_ij - m) over the same keys.
      double z = 0.0;
      for (int64_t j = 0; j < n; ++j)
        if (bias || pr.labels[j] == ri) z += std::exp(score[j] - m);
      for (int64_t s_idx = 0; s_idx < g; ++s_idx) z += std::exp(score[n + s_idx] - m);
      // 3) o_i = sum_j exp(s_ij - m) / Z * v_j.
      std::fill(o, o + dh, 0.0);
      for (int64_t j = 0; j < n; ++j) {
        if (!bias && pr.labels[j] != ri) continue;
        const double p = std::exp(score[j] - m) / z;
        const float* vj = pr.v + j * pr.ldv + col;
        for (int64_t t = 0; t < dh; ++t) o[t] += p * (double)vj[t];
      }
      for (int64_t s_idx = 0; s_idx < g; ++s_idx) {
        const double p = std::exp(score[n + s_idx] - m) / z;
        const float* vj = vsum + s_idx * pr.dim + col;
        for (int64_t t = 0; t < dh; ++t) o[t] += p * (double)vj[t];
      }
      float* oi = pr.out + i * pr.ldo + col;
      for (int64_t t = 0; t < dh; ++t) oi[t] = (float)o[t];
    }
  }
  return Status();
}

namespace detail {

// Query rows per work item: four 14-row register strips of the AVX-512
// kernel. Fixed (never derived from the thread count), so each output row is
// computed by the same operations whatever the split.
constexpr int64_t kRsaBlockRows = 56;

// One unit of parallel work: query rows [q0, q1) of one head, positions in
// the layout the form works in (sorted for the fast form, original for dense).
struct RsaItem {
  int64_t cost = 0;  // ~ rows * keys, for scheduling only
  int64_t q0 = 0, q1 = 0;
  int32_t head = 0;
  int32_t region = -1;  // fast strict forms: the region of all its queries
};

// Per-thread scratch of the block kernel.
struct RsaScratch {
  float* s = nullptr;  // [kRsaBlockRows, lds] scores, then softmax numerators
  int64_t lds = 0;
  float* o = nullptr;    // [kRsaBlockRows, dh] block output before the scatter
  float* add = nullptr;  // [kRsaBlockRows, N] soft mask rows (bias fast form)
};

// Runs `items` on `threads` workers. Items are ordered by decreasing cost
// (longest first) and handed out through an atomic counter, so one big
// region does not serialise the tail. Worker w uses scratch[w]. Which worker
// runs an item does not change any result bit.
template <typename Fn>
inline void rsa_run_items(RsaItem* items, int64_t n_items, int threads, Fn&& fn) {
  std::sort(items, items + n_items, [](const RsaItem& x, const RsaItem& y) {
    if (x.cost != y.cost) return x.cost > y.cost;
    if (x.head != y.head) return x.head < y.head;
    return x.q0 < y.q0;
  });
  std::atomic<int64_t> next{0};
  parallel_for(
      threads,
      [&](int64_t wb, int64_t we) {
        for (int64_t w = wb; w < we; ++w)
          for (int64_t i = next.fetch_add(1); i < n_items; i = next.fetch_add(1)) fn(items[i], (int)w);
      },
      1, threads);
}

inline int64_t rsa_round16(int64_t n) { return (n + 15) / 16 * 16; }

// Row stride for matrices whose rows the kernels read in groups (scores,
// mask rows, Kᵀ): whole cache lines plus one extra line, so that N = 4096
// (16 KB rows) does not put every row of a strip into the same L1 set.
inline int64_t rsa_padded_ld(int64_t n) { return rsa_round16(n) + 16; }

// kt[c, p] = k[token(p), c] for all dim columns: the keys transposed
// ([dim, N], row stride ldkt) in the order given by perm (nullptr: identity),
// so that head h's keys of positions [a, b) are the [dh, b - a] panel at
// kt + h * dh * ldkt + a. Blocks of 16 positions keep the writes in whole lines.
inline void rsa_gather_keys_t_block(const RsaProblem& pr, const int64_t* perm, int64_t p0, int64_t p1, float* kt,
                                    int64_t ldkt) {
  for (int64_t c = 0; c < pr.dim; ++c)
    for (int64_t p = p0; p < p1; ++p) kt[c * ldkt + p] = pr.k[(perm ? perm[p] : p) * pr.ldk + c];
}

inline void rsa_gather_keys_t(const RsaProblem& pr, const int64_t* perm, float* kt, int64_t ldkt) {
  parallel_for(
      (pr.n + 15) / 16,
      [&](int64_t bb, int64_t be) {
        for (int64_t blk = bb; blk < be; ++blk)
          rsa_gather_keys_t_block(pr, perm, blk * 16, std::min(pr.n, blk * 16 + 16), kt, ldkt);
      },
      16);
}

// Memory of one call, from one block (the caller's workspace or a local buffer).
inline char* rsa_reserve(RegionAttentionWorkspace* workspace, Buffer* local, int64_t bytes) {
  if (workspace) return static_cast<char*>(workspace->reserve(bytes));
  auto r = Buffer::allocate(bytes);
  if (!r.ok()) return nullptr;
  *local = std::move(r).value();
  return static_cast<char*>(local->data());
}

// The summaries of strict+global in the kernel's layout: keys transposed
// ksum_t [dim, G] (row stride G), values vsum [G, dim].
inline void rsa_transpose_summaries(int64_t g, int64_t dim, const float* ksum, float* ksum_t) {
  for (int64_t s = 0; s < g; ++s)
    for (int64_t c = 0; c < dim; ++c) ksum_t[c * g + s] = ksum[s * dim + c];
}

}  // namespace detail

// ---------------------------------------------------------------------------
// Masked dense attention: materialise the additive mask M [N, N + G] (0 /
// -inf; for `bias` 0 / -1, scaled by beta_h per head inside the kernel), then
// ordinary dense attention per head over blocks of all N queries. The
// comparison point for the fast form: the same block kernel, no sparsity.
// Memory O(N^2).
inline Status region_attention_masked_dense(const RegionAttentionArgs& args, const RegionAttentionParams& params,
                                            RegionAttentionWorkspace* workspace = nullptr) {
  detail::RsaProblem pr;
  RSFIQA_RETURN_IF_ERROR(detail::rsa_validate(args, params, &pr));
  const int64_t n = pr.n, dh = pr.dh, dim = pr.dim, gmax = detail::rsa_max_summaries(pr);
  const bool bias = pr.variant == RegionAttentionVariant::kBias;
  const int threads = std::max(1, get_num_threads());
  const int64_t nkeys_max = n + gmax, lds = detail::rsa_padded_ld(nkeys_max), ldkt = detail::rsa_padded_ld(n);
  const int64_t blocks = (n + detail::kRsaBlockRows - 1) / detail::kRsaBlockRows;
  int64_t mask_elems = 0;
  const int64_t ldm = detail::rsa_padded_ld(nkeys_max);  // mask row stride
  if (!checked_mul(n, ldm, &mask_elems))
    return make_error(ErrorCode::kOverflow, "region_attention_masked_dense: mask of %lld x %lld overflows",
                      (long long)n, (long long)nkeys_max);

  int64_t *counts = nullptr, *slot = nullptr;
  double* acc = nullptr;
  float *ksum = nullptr, *ksum_t = nullptr, *vsum = nullptr, *kt = nullptr, *mask = nullptr;
  detail::RsaItem* items = nullptr;
  detail::RsaScratch* scratch = nullptr;
  auto carve = [&](detail::RsaCarver& c) {
    counts = c.take<int64_t>(pr.kreg);  // [K] tokens per region
    slot = c.take<int64_t>(pr.kreg);    // [K] summary row per region
    acc = c.take<double>(2 * gmax * dim);
    ksum = c.take<float>(gmax * dim);    // [G, dim] summary keys
    ksum_t = c.take<float>(gmax * dim);  // [dim, G] the same, transposed
    vsum = c.take<float>(gmax * dim);    // [G, dim] summary values
    kt = c.take<float>(dim * ldkt);      // [dim, N] keys transposed, row stride ldkt
    mask = c.take<float>(mask_elems);    // [N, N + G] additive mask
    items = c.take<detail::RsaItem>(pr.heads * blocks);
    scratch = c.take<detail::RsaScratch>(threads);
    for (int t = 0; t < threads; ++t) {
      float* s = c.take<float>(detail::kRsaBlockRows * lds);
      if (scratch) scratch[t] = detail::RsaScratch{s, lds, nullptr, nullptr};
    }
  };
  detail::RsaCarver plan;
  carve(plan);
  Buffer local;
  char* base = detail::rsa_reserve(workspace, &local, plan.used);
  if (!base)
    return make_error(ErrorCode::kOutOfMemory, "region_attention_masked_dense: cannot allocate %lld bytes",
                      (long long)plan.used);
  detail::RsaCarver real{base, 0};
  carve(real);

  std::fill(counts, counts + pr.kreg, int64_t(0));
  for (int64_t i = 0; i < n; ++i) ++counts[pr.labels[i]];
  const int64_t g = pr.variant == RegionAttentionVariant::kStrictGlobal
                        ? detail::rsa_region_summaries(pr, counts, slot, acc, ksum, vsum)
                        : 0;
  detail::rsa_transpose_summaries(g, dim, ksum, ksum_t);
  detail::rsa_gather_keys_t(pr, nullptr, kt, ldkt);
  const int64_t nk = n + g;
  // M_ij: 0 inside the region, -inf (strict) or -1 (bias, unit penalty) across;
  // summary columns j >= N are open to every query.
  const float across = bias ? -1.0f : -std::numeric_limits<float>::infinity();
  parallel_for(n, [&](int64_t ib, int64_t ie) {
    for (int64_t i = ib; i < ie; ++i) {
      float* mi = mask + i * ldm;
      for (int64_t j = 0; j < n; ++j) mi[j] = pr.labels[j] == pr.labels[i] ? 0.0f : across;
      for (int64_t j = n; j < nk; ++j) mi[j] = 0.0f;
    }
  });

  int64_t n_items = 0;
  for (int h = 0; h < pr.heads; ++h)
    for (int64_t q0 = 0; q0 < n; q0 += detail::kRsaBlockRows) {
      detail::RsaItem it;
      it.head = h;
      it.q0 = q0;
      it.q1 = std::min(n, q0 + detail::kRsaBlockRows);
      it.cost = (it.q1 - it.q0) * nk;
      items[n_items++] = it;
    }
  detail::rsa_run_items(items, n_items, threads, [&](const detail::RsaItem& it, int w) {
    const int64_t col = (int64_t)it.head * dh;
    kernels::RsaBlockArgs b;
    b.rows = it.q1 - it.q0;
    b.dh = dh;
    b.scale = pr.scale;
    b.q = pr.q + it.q0 * pr.ldq + col;
    b.ldq = pr.ldq;
    b.a = kernels::RsaKeyBlock{n, kt + col * ldkt, ldkt, pr.v + col, pr.ldv};
    b.b = kernels::RsaKeyBlock{g, ksum_t + col * g, g, vsum + col, dim};
    b.add = mask + it.q0 * ldm;
    b.ld_add = ldm;
    b.add_scale = bias ? pr.beta(it.head) : 1.0f;
    b.s = scratch[w].s;
    b.lds = scratch[w].lds;
    b.o = pr.out + it.q0 * pr.ldo + col;
    b.ldo = pr.ldo;
    kernels::rsa_block_f32(b);
  });
  return Status();
}

// ---------------------------------------------------------------------------
// The fast form.
//   strict, strict+global: counting-sort the tokens by region, gather q, v
//     (and k, transposed) into region-contiguous order, then for each (head,
//     region, block of 56 queries) run dense attention against that region's
//     keys only (plus the G summary keys for strict+global) and scatter the
//     rows back to their original positions. Work ~ sum_k n_k^2, not N^2.
//   bias: every query sees every key, so there is no block structure; this is
//     dense attention with the soft mask rows (-beta_h across regions) built
//     per block from the labels, without the N x N mask.
// Parallel over items, longest first. Results are bit-identical across runs
// and thread counts.
inline Status region_attention(const RegionAttentionArgs& args, const RegionAttentionParams& params,
                               RegionAttentionWorkspace* workspace = nullptr) {
  detail::RsaProblem pr;
  RSFIQA_RETURN_IF_ERROR(detail::rsa_validate(args, params, &pr));
  const int64_t n = pr.n, dh = pr.dh, dim = pr.dim, gmax = detail::rsa_max_summaries(pr);
  const bool bias = pr.variant == RegionAttentionVariant::kBias;
  const int threads = std::max(1, get_num_threads());
  const int64_t nkeys_max = n + gmax, lds = detail::rsa_padded_ld(nkeys_max), ldkt = detail::rsa_padded_ld(n);
  const int64_t blocks = (n + detail::kRsaBlockRows - 1) / detail::kRsaBlockRows;
  // Each region adds at most one partial block to the N / 56 full ones.
  const int64_t max_items = pr.heads * (blocks + (bias ? 0 : std::min<int64_t>(pr.kreg, n)));
  const int64_t sorted_rows = bias ? 0 : n;  // bias reads q and v in place

  int64_t *counts = nullptr, *offsets = nullptr, *perm = nullptr, *slot = nullptr;
  double* acc = nullptr;
  float *ksum = nullptr, *ksum_t = nullptr, *vsum = nullptr, *qs = nullptr, *kt = nullptr, *vs = nullptr;
  detail::RsaItem* items = nullptr;
  detail::RsaScratch* scratch = nullptr;
  auto carve = [&](detail::RsaCarver& c) {
    counts = c.take<int64_t>(pr.kreg);       // [K] tokens per region
    offsets = c.take<int64_t>(pr.kreg + 1);  // [K + 1] first sorted position per region
    perm = c.take<int64_t>(n);               // [N] sorted position -> token
    slot = c.take<int64_t>(pr.kreg);         // [K] summary row per region
    acc = c.take<double>(2 * gmax * dim);
    ksum = c.take<float>(gmax * dim);        // [G, dim] summary keys
    ksum_t = c.take<float>(gmax * dim);      // [dim, G] the same, transposed
    vsum = c.take<float>(gmax * dim);        // [G, dim] summary values
    qs = c.take<float>(sorted_rows * dim);   // [N, dim] q rows in region order
    kt = c.take<float>(dim * ldkt);          // [dim, N] keys transposed (stride ldkt), region order (bias: original)
    vs = c.take<float>(sorted_rows * dim);   // [N, dim] v rows in region order
    items = c.take<detail::RsaItem>(max_items);
    scratch = c.take<detail::RsaScratch>(threads);
    for (int t = 0; t < threads; ++t) {
      float* s = c.take<float>(detail::kRsaBlockRows * lds);
      float* o = c.take<float>(detail::kRsaBlockRows * dh);
      float* add = c.take<float>(bias ? detail::kRsaBlockRows * ldkt : 0);
      if (scratch) scratch[t] = detail::RsaScratch{s, lds, o, add};
    }
  };
  detail::RsaCarver plan;
  carve(plan);
  Buffer local;
  char* base = detail::rsa_reserve(workspace, &local, plan.used);
  if (!base)
    return make_error(ErrorCode::kOutOfMemory, "region_attention: cannot allocate %lld bytes", (long long)plan.used);
  detail::RsaCarver real{base, 0};
  carve(real);

  int64_t n_items = 0;
  if (bias) {
    // Dense over all tokens in their original order.
    detail::rsa_gather_keys_t(pr, nullptr, kt, ldkt);
    for (int h = 0; h < pr.heads; ++h)
      for (int64_t q0 = 0; q0 < n; q0 += detail::kRsaBlockRows) {
        detail::RsaItem it;
        it.head = h;
        it.q0 = q0;
        it.q1 = std::min(n, q0 + detail::kRsaBlockRows);
        it.cost = (it.q1 - it.q0) * n;
        items[n_items++] = it;
      }
    detail::rsa_run_items(items, n_items, threads, [&](const detail::RsaItem& it, int w) {
      const detail::RsaScratch& ws = scratch[w];
      const int64_t col = (int64_t)it.head * dh;
      // Unit penalty rows: add[r, j] = -1 where token j is in another region.
      for (int64_t r = 0; r < it.q1 - it.q0; ++r) {
        const int32_t ri = pr.labels[it.q0 + r];
        float* ar = ws.add + r * ldkt;
        for (int64_t j = 0; j < n; ++j) ar[j] = pr.labels[j] == ri ? 0.0f : -1.0f;
      }
      kernels::RsaBlockArgs b;
      b.rows = it.q1 - it.q0;
      b.dh = dh;
      b.scale = pr.scale;
      b.q = pr.q + it.q0 * pr.ldq + col;
      b.ldq = pr.ldq;
      b.a = kernels::RsaKeyBlock{n, kt + col * ldkt, ldkt, pr.v + col, pr.ldv};
      b.add = ws.add;
      b.ld_add = ldkt;
      b.add_scale = pr.beta(it.head);
      b.s = ws.s;
      b.lds = ws.lds;
      b.o = pr.out + it.q0 * pr.ldo + col;
      b.ldo = pr.ldo;
      kernels::rsa_block_f32(b);
    });
    return Status();
  }

  // 1) Stable counting sort by region and (strict+global) the summaries.
  detail::rsa_counting_sort(pr, counts, offsets, perm);
  const int64_t g = pr.variant == RegionAttentionVariant::kStrictGlobal
                        ? detail::rsa_region_summaries(pr, counts, slot, acc, ksum, vsum)
                        : 0;
  detail::rsa_transpose_summaries(g, dim, ksum, ksum_t);

  // 2) Gather into region order: row p of qs / vs and column p of kt is token
  //    perm[p]. One parallel region for all three (one barrier, not two).
  parallel_for(
      (n + 15) / 16,
      [&](int64_t bb, int64_t be) {
        for (int64_t blk = bb; blk < be; ++blk) {
          const int64_t p0 = blk * 16, p1 = std::min(n, p0 + 16);
          for (int64_t p = p0; p < p1; ++p) {
            const int64_t i = perm[p];
            std::memcpy(qs + p * dim, pr.q + i * pr.ldq, (size_t)dim * sizeof(float));
            std::memcpy(vs + p * dim, pr.v + i * pr.ldv, (size_t)dim * sizeof(float));
          }
          detail::rsa_gather_keys_t_block(pr, perm, p0, p1, kt, ldkt);
        }
      },
      16);

  // 3) Work items: every (head, region, block of up to 56 queries).
  for (int h = 0; h < pr.heads; ++h)
    for (int32_t r = 0; r < pr.kreg; ++r)
      for (int64_t q0 = offsets[r]; q0 < offsets[r + 1]; q0 += detail::kRsaBlockRows) {
        detail::RsaItem it;
        it.head = h;
        it.region = r;
        it.q0 = q0;
        it.q1 = std::min(offsets[r + 1], q0 + detail::kRsaBlockRows);
        it.cost = (it.q1 - it.q0) * (counts[r] + g);
        items[n_items++] = it;
      }

  // 4) Dense attention inside each region block, scattered back through perm.
  detail::rsa_run_items(items, n_items, threads, [&](const detail::RsaItem& it, int w) {
    const detail::RsaScratch& ws = scratch[w];
    const int64_t col = (int64_t)it.head * dh;
    const int64_t off = offsets[it.region];
    kernels::RsaBlockArgs b;
    b.rows = it.q1 - it.q0;
    b.dh = dh;
    b.scale = pr.scale;
    b.q = qs + it.q0 * dim + col;
    b.ldq = dim;
    b.a = kernels::RsaKeyBlock{counts[it.region], kt + col * ldkt + off, ldkt, vs + off * dim + col, dim};
    b.b = kernels::RsaKeyBlock{g, ksum_t + col * g, g, vsum + col, dim};
    b.s = ws.s;
    b.lds = ws.lds;
    b.o = ws.o;
    b.ldo = dh;
    kernels::rsa_block_f32(b);
    for (int64_t r = 0; r < b.rows; ++r)
      std::memcpy(pr.out + perm[it.q0 + r] * pr.ldo + col, ws.o + r * dh, (size_t)dh * sizeof(float));
  });
  return Status();
}

}  // namespace rsfiqa::ops

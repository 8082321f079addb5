// SPDX-License-Identifier: MIT
// Next-token sampling from logits: repetition penalty, top-k, top-p, min-p,
// temperature and a seeded draw, applied in that order (llama.cpp's default
// chain); temperature <= 0 is greedy (argmax after the penalty).
//
// Semantics follow llama.cpp's samplers:
//   repetition penalty  for each distinct token among the last `repeat_last_n`
//                       accepted ones: logit > 0 ? logit / p : logit * p
//   top-k               keep the k largest logits (k <= 0: keep all)
//   top-p               keep the smallest prefix (by probability, descending)
//                       whose cumulative probability reaches p (>= 1: off)
//   min-p               keep tokens with probability >= min_p * p_max (<= 0: off)
//   temperature         logits / T, then softmax and one uniform draw
// The random numbers come from our own PCG32 (O'Neill's XSH-RR 64/32), so the
// same seed gives the same tokens on every platform and compiler; the draw
// uses float math in a fixed order.
//
// What it does not do: no typical-p, mirostat, DRY, grammar or logit bias.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <vector>

namespace rsfiqa::llm {

// PCG32: 64-bit LCG state, 32-bit output by xorshift-high then a random
// rotation. Reference constants from the PCG paper (O'Neill 2014).
class Pcg32 {
 public:
  explicit Pcg32(uint64_t seed = 0, uint64_t stream = 0x5851f42d4c957f2dULL) { this->seed(seed, stream); }
  void seed(uint64_t seed, uint64_t stream = 0x5851f42d4c957f2dULL) {
    state_ = 0;
    inc_ = (stream << 1) | 1u;
    next_u32();
    state_ += seed;
    next_u32();
  }
  uint32_t next_u32() {
    const uint64_t old = state_;
    state_ = old * 6364136223846793005ULL + inc_;
    const uint32_t xorshifted = (uint32_t)(((old >> 18) ^ old) >> 27);
    const uint32_t rot = (uint32_t)(old >> 59);
    return (xorshifted >> rot) | (xorshifted << ((32 - rot) & 31));
  }
  // Uniform in [0, 1) with 24 random bits (exact in float).
  float next_float() { return (float)(next_u32() >> 8) * (1.0f / 16777216.0f); }

 private:
  uint64_t state_ = 0, inc_ = 1;
};

struct SamplerParams {
  float temperature = 0.8f;   // <= 0: greedy
  int top_k = 40;             // <= 0: off
  float top_p = 0.95f;        // >= 1: off
  float min_p = 0.05f;        // <= 0: off
  float repeat_penalty = 1.0f;  // 1: off
  int repeat_last_n = 64;     // window of accepted tokens the penalty looks at
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& p = SamplerParams()) : p_(p), rng_(p.seed) {}

  const SamplerParams& params() const { return p_; }

  // Forgets the history and reseeds.
  void reset() {
    history_.clear();
    rng_.seed(p_.seed);
  }

  // Records a token that was emitted (or fed as prompt), for the penalty.
  void accept(int32_t token) {
    if (p_.repeat_last_n <= 0) return;
    history_.push_back(token);
    while ((int)history_.size() > p_.repeat_last_n) history_.pop_front();
  }

  // Picks the next token from n_vocab logits (not modified).
  int32_t sample(const float* logits, int32_t n_vocab) {
    if (n_vocab <= 0) return -1;
    cand_.resize((size_t)n_vocab);
    for (int32_t i = 0; i < n_vocab; ++i) cand_[(size_t)i] = {i, logits[i]};
    apply_penalty();
    if (p_.temperature <= 0.0f) {
      // Greedy: the first index among equal maxima.
      size_t best = 0;
      for (size_t i = 1; i < cand_.size(); ++i)
        if (cand_[i].logit > cand_[best].logit) best = i;
      return cand_[best].id;
    }
    // Sort descending by logit (ties by id, so the order is deterministic);
    // only the top k when k is set.
    auto desc = [](const Cand& a, const Cand& b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); };
    size_t keep = cand_.size();
    if (p_.top_k > 0 && (size_t)p_.top_k < keep) {
      keep = (size_t)p_.top_k;
      std::partial_sort(cand_.begin(), cand_.begin() + (std::ptrdiff_t)keep, cand_.end(), desc);
    } else {
      std::sort(cand_.begin(), cand_.end(), desc);
    }
    cand_.resize(keep);
    // Probabilities of the survivors before temperature (as llama.cpp's
    // top-p/min-p see them).
    softmax(1.0f);
    if (p_.top_p < 1.0f) {
      float cum = 0.0f;
      size_t n = cand_.size();
      for (size_t i = 0; i < cand_.size(); ++i) {
        cum += prob_[i];
        if (cum >= p_.top_p) {
          n = i + 1;
          break;
        }
      }
      cand_.resize(n);
      prob_.resize(n);
    }
    if (p_.min_p > 0.0f) {
      const float floor_p = p_.min_p * prob_[0];
      size_t n = 1;
      while (n < cand_.size() && prob_[n] >= floor_p) ++n;
      cand_.resize(n);
    }
    softmax(p_.temperature);
    const float u = rng_.next_float();
    float cum = 0.0f;
    for (size_t i = 0; i < cand_.size(); ++i) {
      cum += prob_[i];
      if (u < cum) return cand_[i].id;
    }
    return cand_.back().id;  // u landed in the rounding slack
  }

 private:
  struct Cand {
    int32_t id;
    float logit;
  };

  void apply_penalty() {
    if (p_.repeat_penalty == 1.0f || history_.empty()) return;
    std::vector<int32_t> seen(history_.begin(), history_.end());
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (int32_t t : seen) {
      if (t < 0 || (size_t)t >= cand_.size()) continue;
      float& l = cand_[(size_t)t].logit;  // cand_ is still in id order here
      l = l > 0.0f ? l / p_.repeat_penalty : l * p_.repeat_penalty;
    }
  }

  // prob_[i] = softmax(cand_[i].logit / temperature), max-subtracted.
  void softmax(float temperature) {
    prob_.resize(cand_.size());
    float mx = cand_[0].logit;
    for (const Cand& c : cand_) mx = std::max(mx, c.logit);
    float sum = 0.0f;
    for (size_t i = 0; i < cand_.size(); ++i) {
      prob_[i] = std::exp((cand_[i].logit - mx) / temperature);
      sum += prob_[i];
    }
    for (float& p : prob_) p /= sum;
  }

  SamplerParams p_;
  Pcg32 rng_;
  std::deque<int32_t> history_;
  std::vector<Cand> cand_;
  std::vector<float> prob_;
};

}  // namespace rsfiqa::llm

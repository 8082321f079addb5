// SPDX-License-Identifier: MIT
// Importance-matrix quantization (models/llm/imatrix.hpp, quantize.hpp):
//   * the weighted Q4_0 row quantizer against a scalar restatement of ggml's
//     quantize_row_q4_0_impl written here from its description, on random
//     rows and weights, and the quality of its blocks with equal weights;
//   * the collector on the tiny llama fixture against a direct float64
//     computation of the inputs of every layer-0 matrix;
//   * the GGUF file layout round trip and the quantizer's use of it;
//   * stories260K: an imatrix from 1024 tokens the F32 model samples itself
//     (fixed protocol, below), the Q4_0 copy made with it against F32 under
//     teacher forcing. Skipped with a reason when the model is absent.
// ctest-labels: weights
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "llm_test_util.hpp"
#include "rsfiqa/io/gguf.hpp"
#include "rsfiqa/kernels/quant.hpp"
#include "rsfiqa/models/llm/imatrix.hpp"
#include "rsfiqa/models/llm/model.hpp"
#include "rsfiqa/models/llm/quantize.hpp"

using namespace rsfiqa;
using namespace rsfiqa::llm;

namespace {

// ggml's Q4_0 weighted rounding restated: weights w_j = imx_j * sqrt(sigma2 +
// x_j²); candidate inverse scales -(8 + 0.1 s) / max for s = 0, -9..-1,
// 1..9 (that order; max = the element of largest magnitude); levels
// round-half-even(iscale * x) clamped to [-8, 7]; a candidate replaces the
// best so far when its (Σ w x l)² / Σ w l² is strictly larger (compared as
// ggml does, without division), and the stored scale is Σ w x l / Σ w l² of
// the winner. Float operations in ggml's order.
void q4_0_weighted_restated(const std::vector<float>& x, const std::vector<float>& imx, std::vector<uint8_t>* out) {
  const size_t n = x.size(), nb = n / 32;
  out->assign(nb * sizeof(kernels::BlockQ4_0), 0);
  float sx2 = 0.0f;
  for (float v : x) sx2 += v * v;
  const float sigma2 = sx2 / (float)n;
  for (size_t b = 0; b < nb; ++b) {
    const float* xb = x.data() + 32 * b;
    float w[32];
    for (int j = 0; j < 32; ++j) w[j] = imx[32 * b + j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    float mx = 0.0f, amx = 0.0f;
    for (int j = 0; j < 32; ++j)
      if (std::fabs(xb[j]) > amx) amx = std::fabs(xb[j]), mx = xb[j];
    int lv[32] = {0};
    float scale = 0.0f;
    if (amx >= 1e-15f) {
      std::vector<int> order = {0};
      for (int s = -9; s <= 9; ++s)
        if (s) order.push_back(s);
      float best = 0.0f;
      bool first = true;
      for (int s : order) {
        const float is = first ? -8.0f / mx : -(8.0f + 0.1f * (float)s) / mx;
        int cand[32];
        float slx = 0.0f, sl2 = 0.0f;
        for (int j = 0; j < 32; ++j) {
          const int l = std::min(7, std::max(-8, (int)std::nearbyint(is * xb[j])));
          cand[j] = l;
          slx += w[j] * xb[j] * (float)l;
          sl2 += w[j] * (float)l * (float)l;
        }
        if (first) {
          scale = sl2 != 0.0f ? slx / sl2 : 0.0f;
          best = scale * slx;
          std::copy(cand, cand + 32, lv);
          first = false;
        } else if (sl2 > 0.0f && slx * slx > best * sl2) {
          scale = slx / sl2;
          best = scale * slx;
          std::copy(cand, cand + 32, lv);
        }
      }
    } else {
      for (int j = 0; j < 32; ++j) lv[j] = -8;  // all-zero group: level 0
    }
    kernels::BlockQ4_0 blk;
    blk.d = f32_to_f16(scale);
    for (int j = 0; j < 16; ++j) blk.qs[j] = (uint8_t)((lv[j] + 8) | ((lv[j + 16] + 8) << 4));
    std::memcpy(out->data() + b * sizeof(blk), &blk, sizeof(blk));
  }
}

std::vector<uint8_t> q4_0_weighted(const std::vector<float>& x, const std::vector<float>& imx) {
  std::vector<uint8_t> out(x.size() / 32 * sizeof(kernels::BlockQ4_0));
  quantize_row_q4_0_imatrix(x.data(), (kernels::BlockQ4_0*)out.data(), (int64_t)x.size(), imx.data());
  return out;
}

// Σ w (x - x̂)² of one decoded block, in double.
double weighted_err(const float* x, const float* w, const kernels::BlockQ4_0& b, double* s_hat) {
  float y[32];
  kernels::dequantize_row_q4_0_ref(&b, y, 32);
  double e = 0, s = 0;
  for (int j = 0; j < 32; ++j) {
    e += (double)w[j] * ((double)x[j] - y[j]) * ((double)x[j] - y[j]);
    s += (double)w[j] * (double)y[j] * y[j];
  }
  if (s_hat) *s_hat = s;
  return e;
}

}  // namespace

TEST_CASE("weighted Q4_0 rounding equals a scalar restatement of ggml's quantize_row_q4_0_impl") {
  std::mt19937 rng(7);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::uniform_real_distribution<float> uni(0.0f, 2.0f);
  int blocks = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const int n = 32 * (1 + (int)(rng() % 12));
    std::vector<float> x((size_t)n), imx((size_t)n);
    const float amp = std::pow(10.0f, (float)((int)(rng() % 7) - 3));
    for (int j = 0; j < n; ++j) {
      x[(size_t)j] = gauss(rng) * amp;
      if (rng() % 50 == 0) x[(size_t)j] *= 8.0f;  // outliers
      if (rng() % 40 == 0) x[(size_t)j] = 0.0f;
      imx[(size_t)j] = rng() % 20 == 0 ? 0.0f : uni(rng) * uni(rng);
    }
    if (trial % 25 == 0) std::fill(x.begin(), x.begin() + 32, 0.0f);  // an all-zero block
    if (trial % 30 == 1) std::fill(imx.begin(), imx.end(), 0.0f);     // no importance at all: d = 0
    if (trial % 7 == 2) std::fill(imx.begin(), imx.end(), 1.0f);      // equal importance
    std::vector<uint8_t> want;
    q4_0_weighted_restated(x, imx, &want);
    const std::vector<uint8_t> got = q4_0_weighted(x, imx);
    CAPTURE(trial);
    CHECK(got == want);
    blocks += n / 32;
  }
  MESSAGE("compared " << blocks << " blocks");
}

// With equal importance (imatrix all ones) the blocks are valid Q4_0 and fit
// at least as well as the reference rounding in the quantizer's own metric
// w_j = sqrt(sigma2 + x_j²). Why the bound holds: the search's first
// candidate has the reference's levels (up to rounding ties) and the
// weighted least-squares scale for them, which cannot fit worse than the
// reference's max/-8; storing d in f16 changes the result's error only at
// second order (its scale is a least-squares optimum), 2^-22 Σ w x̂², and
// the reference's at first order, 2^-10 sqrt(e Σ w x̂²) at most; 1e-5 Σ w x̂²
// covers the float sums of the 19-way comparison.
TEST_CASE("weighted Q4_0 with equal importance gives valid blocks no worse than the reference") {
  std::mt19937 rng(11);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  double sum_w = 0, sum_ref = 0;
  for (int trial = 0; trial < 200; ++trial) {
    const int n = 32 * (1 + (int)(rng() % 8));
    std::vector<float> x((size_t)n), ones((size_t)n, 1.0f);
    for (float& v : x) v = gauss(rng) * (rng() % 30 == 0 ? 6.0f : 1.0f);
    const std::vector<uint8_t> got = q4_0_weighted(x, ones);
    std::vector<kernels::BlockQ4_0> ref((size_t)n / 32);
    kernels::quantize_row_q4_0_ref(x.data(), ref.data(), n);
    float sx2 = 0;
    for (float v : x) sx2 += v * v;
    const float sigma2 = sx2 / (float)n;
    for (int b = 0; b < n / 32; ++b) {
      kernels::BlockQ4_0 blk;
      std::memcpy(&blk, got.data() + b * sizeof(blk), sizeof(blk));
      const float d = f16_to_f32(blk.d);
      REQUIRE(std::isfinite(d));
      float w[32];
      for (int j = 0; j < 32; ++j) w[j] = std::sqrt(sigma2 + x[(size_t)(32 * b + j)] * x[(size_t)(32 * b + j)]);
      double s_w = 0, s_ref = 0;
      const double e_w = weighted_err(x.data() + 32 * b, w, blk, &s_w);
      const double e_ref = weighted_err(x.data() + 32 * b, w, ref[(size_t)b], &s_ref);
      const double bound = e_ref + std::ldexp(std::sqrt(e_ref * s_ref), -10) + std::ldexp(s_w + s_ref, -22) +
                           1e-5 * std::max(s_w, s_ref);
      CAPTURE(trial);
      CAPTURE(b);
      CHECK(e_w <= bound);
      sum_w += e_w;
      sum_ref += e_ref;
    }
  }
  MESSAGE("weighted error, equal importance / reference: " << sum_w / sum_ref);
  CHECK(sum_w < sum_ref);
}

namespace {

// y[r] = Σ_c W[r, c] x[c] in double, W dequantized to f32 row by row.
std::vector<double> matvec(const Weight& w, const std::vector<double>& x) {
  std::vector<double> y((size_t)w.rows);
  std::vector<float> row((size_t)w.cols);
  for (int64_t r = 0; r < w.rows; ++r) {
    kernels::dequantize_row_ref(w.dtype, w.data + r * w.row_bytes, row.data(), w.cols);
    double s = 0;
    for (int64_t c = 0; c < w.cols; ++c) s += (double)row[(size_t)c] * x[(size_t)c];
    y[(size_t)r] = s;
  }
  return y;
}

std::vector<double> rms_norm(const std::vector<double>& x, const std::vector<float>& g, double eps) {
  double sq = 0;
  for (double v : x) sq += v * v;
  const double inv = 1.0 / std::sqrt(sq / (double)x.size() + eps);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv * g[i];
  return y;
}

void add_sq(std::vector<double>* s, const std::vector<double>& x) {
  if (s->empty()) s->assign(x.size(), 0.0);
  for (size_t i = 0; i < x.size(); ++i) (*s)[i] += x[i] * x[i];
}

// Σ|a - b| / Σ|b|.
double rel_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double d = 0, n = 0;
  for (size_t i = 0; i < a.size(); ++i) d += std::fabs(a[i] - b[i]), n += std::fabs(b[i]);
  return d / n;
}

}  // namespace

// Each token alone in a fresh context (chunk 1): layer 0's attention then
// reads only the token's own value vector, so every layer-0 matrix input is
// a short float64 computation from the fixture's weights. The engine works
// in f32 (products of at most 64 terms, norms, silu): 1e-5 relative on sums
// of squares is ~100 times its rounding.
TEST_CASE("imatrix collector on the tiny llama fixture equals a direct computation of layer 0's inputs") {
  Result<Model> m = Model::load(llm_test::golden_path("tiny_llama.gguf"));
  REQUIRE_MESSAGE(m.ok(), m.status().to_string());
  const LlmConfig& c = m->config();
  const std::vector<int32_t> ids = {1, 5, 9, 2, 17, 5, 30, 3};
  Result<ImportanceMatrix> im = collect_imatrix(*m, ids, 1);
  REQUIRE_MESSAGE(im.ok(), im.status().to_string());
  CHECK(im->chunk_count == (int64_t)ids.size());
  CHECK(im->entries.size() == (size_t)(7 * c.n_layer));  // blk.* only: no token_embd, no output
  for (const auto& kv : im->entries) CHECK(kv.second.count == (int64_t)ids.size());
  const LayerWeights& L = m->layers()[0];
  std::vector<double> s_attn, s_o, s_ffn, s_down;
  const int64_t E = c.n_embd, group = c.n_head / c.n_head_kv, D = c.head_dim;
  for (int32_t t : ids) {
    std::vector<float> e((size_t)E);
    kernels::dequantize_row_ref(m->token_embd().dtype, m->token_embd().data + t * m->token_embd().row_bytes, e.data(),
                                E);
    std::vector<double> x(e.begin(), e.end());
    const std::vector<double> n1 = rms_norm(x, L.attn_norm, c.rms_eps);
    add_sq(&s_attn, n1);
    // One key: softmax is 1, so head h outputs value head h / group.
    const std::vector<double> v = matvec(L.wv, n1);
    std::vector<double> att((size_t)(c.n_head * D));
    for (int64_t h = 0; h < c.n_head; ++h)
      for (int64_t i = 0; i < D; ++i) att[(size_t)(h * D + i)] = v[(size_t)((h / group) * D + i)];
    add_sq(&s_o, att);
    const std::vector<double> o = matvec(L.wo, att);
    for (int64_t i = 0; i < E; ++i) x[(size_t)i] += o[(size_t)i];
    const std::vector<double> n2 = rms_norm(x, L.ffn_norm, c.rms_eps);
    add_sq(&s_ffn, n2);
    const std::vector<double> g = matvec(L.w_gate, n2), u = matvec(L.w_up, n2);
    std::vector<double> a(g.size());
    for (size_t i = 0; i < g.size(); ++i) a[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
    add_sq(&s_down, a);
  }
  struct Want {
    const char* name;
    const std::vector<double>* sums;
  };
  for (Want w : {Want{"attn_q", &s_attn}, Want{"attn_k", &s_attn}, Want{"attn_v", &s_attn}, Want{"attn_output", &s_o},
                 Want{"ffn_gate", &s_ffn}, Want{"ffn_up", &s_ffn}, Want{"ffn_down", &s_down}}) {
    const std::string name = std::string("blk.0.") + w.name + ".weight";
    CAPTURE(name);
    const ImatrixEntry* e = im->find(name);
    REQUIRE(e != nullptr);
    CHECK(rel_diff(e->sum2, *w.sums) < 1e-5);
  }
  // One chunk of all tokens: layer 0's attention input does not depend on
  // the context, so its sums are the same; Q/K/V share their input.
  Result<ImportanceMatrix> one = collect_imatrix(*m, ids, (int64_t)ids.size());
  REQUIRE(one.ok());
  CHECK(one->chunk_count == 1);
  CHECK(rel_diff(one->find("blk.0.attn_q.weight")->sum2, s_attn) < 1e-5);
  for (int64_t il = 0; il < c.n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    CHECK(one->find(p + "attn_q.weight")->sum2 == one->find(p + "attn_v.weight")->sum2);
    CHECK(one->find(p + "ffn_gate.weight")->sum2 == one->find(p + "ffn_up.weight")->sum2);
  }
}

TEST_CASE("imatrix GGUF layout round trip and the quantizer's use of it") {
  // A model-like file: token_embd and output (no imatrix entries) and one
  // block matrix with an entry; rows of 96 columns (three Q4_0 blocks).
  const int64_t cols = 96, rows = 40;
  std::mt19937 rng(3);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::vector<std::vector<float>> data(3, std::vector<float>((size_t)(rows * cols)));
  for (auto& v : data)
    for (float& f : v) f = gauss(rng);
  const char* names[3] = {"token_embd.weight", "output.weight", "blk.0.attn_q.weight"};
  io::GgufWriter w;
  REQUIRE(w.add_string("general.architecture", "llama").ok());
  for (int i = 0; i < 3; ++i)
    REQUIRE(w.add_tensor(names[i], DType::kF32, Shape({rows, cols}), data[(size_t)i].data(), data[(size_t)i].size() * 4)
                .ok());
  Result<std::vector<uint8_t>> model_bytes = w.serialize();
  REQUIRE(model_bytes.ok());
  Result<io::GgufFile> mf = io::GgufFile::from_memory(model_bytes->data(), model_bytes->size());
  REQUIRE(mf.ok());

  ImportanceMatrix im;
  im.datasets = {"calib.txt"};
  im.chunk_count = 3;
  im.chunk_size = 512;
  ImatrixEntry& e = im.entries["blk.0.attn_q.weight"];
  std::uniform_real_distribution<float> uni(0.0f, 1000.0f);
  for (int64_t j = 0; j < cols; ++j) e.sum2.push_back((double)uni(rng));
  e.count = 1536;
  Result<std::vector<uint8_t>> ib = imatrix_to_gguf(im);
  REQUIRE(ib.ok());
  Result<io::GgufFile> gf = io::GgufFile::from_memory(ib->data(), ib->size());
  REQUIRE(gf.ok());
  CHECK(gf->get_string("general.type").value() == "imatrix");
  const io::GgufTensorInfo* ts = gf->find_tensor("blk.0.attn_q.weight.in_sum2");
  REQUIRE(ts != nullptr);
  CHECK(ts->dtype == DType::kF32);
  CHECK(ts->ne[0] == cols);
  Result<ImportanceMatrix> back = imatrix_from_gguf(*gf);
  REQUIRE_MESSAGE(back.ok(), back.status().to_string());
  CHECK(back->datasets == im.datasets);
  CHECK(back->chunk_count == 3);
  CHECK(back->chunk_size == 512);
  REQUIRE(back->find("blk.0.attn_q.weight") != nullptr);
  CHECK(back->find("blk.0.attn_q.weight")->count == 1536);
  std::vector<float> mean;
  REQUIRE(back->mean_sq("blk.0.attn_q.weight", cols, &mean).value());
  for (int64_t j = 0; j < cols; ++j) CHECK(mean[(size_t)j] == (float)e.sum2[(size_t)j] / 1536.0f);
  CHECK(back->mean_sq("blk.0.attn_q.weight", cols + 32, &mean).status().code() == ErrorCode::kShapeMismatch);
  CHECK_FALSE(back->mean_sq("blk.0.attn_k.weight", cols, &mean).value());  // no entry
  {
    ImportanceMatrix unseen = *back;  // an entry that saw no rows weighs every column 1, as llama-quantize
    unseen.entries["blk.0.attn_q.weight"].count = 0;
    std::vector<float> ones;
    REQUIRE(unseen.mean_sq("blk.0.attn_q.weight", cols, &ones).value());
    CHECK(ones == std::vector<float>((size_t)cols, 1.0f));
  }

  // q4_0 with the imatrix: the block matrix is the weighted rounding with
  // the mean squares; token_embd (no entry) the reference rounding.
  QuantizeReport rep;
  Result<std::vector<uint8_t>> qb = quantize_gguf(*mf, DType::kQ4_0, &rep, &*back);
  REQUIRE_MESSAGE(qb.ok(), qb.status().to_string());
  CHECK(rep.tensors_weighted == 1);
  Result<io::GgufFile> qf = io::GgufFile::from_memory(qb->data(), qb->size());
  REQUIRE(qf.ok());
  const int64_t rb = cols / 32 * (int64_t)sizeof(kernels::BlockQ4_0);
  const io::GgufTensorInfo* q = qf->find_tensor("blk.0.attn_q.weight");
  const io::GgufTensorInfo* te = qf->find_tensor("token_embd.weight");
  REQUIRE(q != nullptr);
  REQUIRE(te != nullptr);
  REQUIRE(q->dtype == DType::kQ4_0);
  REQUIRE(te->dtype == DType::kQ4_0);
  int differ = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const std::vector<float> row(data[2].begin() + r * cols, data[2].begin() + (r + 1) * cols);
    std::vector<uint8_t> want;
    q4_0_weighted_restated(row, mean, &want);
    CHECK(std::memcmp(q->data + r * rb, want.data(), (size_t)rb) == 0);
    std::vector<kernels::BlockQ4_0> plain((size_t)(cols / 32));
    kernels::quantize_row_q4_0_ref(row.data(), plain.data(), cols);
    differ += std::memcmp(q->data + r * rb, plain.data(), (size_t)rb) != 0;
    std::vector<kernels::BlockQ4_0> ref((size_t)(cols / 32));
    kernels::quantize_row_q4_0_ref(data[0].data() + r * cols, ref.data(), cols);
    CHECK(std::memcmp(te->data + r * rb, ref.data(), (size_t)rb) == 0);
  }
  CHECK(differ > 0);  // the weights changed the rounding
  // q8_0 ignores it; q4_k refuses it (weighted Q4_K/Q5_0 not implemented).
  QuantizeReport rep8;
  CHECK(quantize_gguf(*mf, DType::kQ8_0, &rep8, &*back).ok());
  CHECK(rep8.tensors_weighted == 0);
  CHECK(quantize_gguf(*mf, DType::kQ4_K, nullptr, &*back).status().code() == ErrorCode::kUnsupportedType);
  // An entry whose length is not the tensor's: a named error.
  ImportanceMatrix bad = *back;
  bad.entries["blk.0.attn_q.weight"].sum2.resize(64);
  Result<std::vector<uint8_t>> qbad = quantize_gguf(*mf, DType::kQ4_0, nullptr, &bad);
  REQUIRE_FALSE(qbad.ok());
  CHECK(qbad.status().code() == ErrorCode::kShapeMismatch);
  CHECK(qbad.status().message().find("blk.0.attn_q.weight") != std::string::npos);
}

namespace {

const bool kSkipNoted = [] {
  if (!llm_test::file_exists(llm_test::stories_path()))
    std::fprintf(stderr, "skipping the stories260K imatrix test: %s not found\n", llm_test::stories_path());
  return true;
}();

// The published greedy continuation (llama2.c README, -t 0.0), as in
// test_llm_stories.cpp.
const char* kPublished =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a "
    "big, red ball. She wanted to play with it, but it was too high.\n"
    "Lily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. She said, \"I want to "
    "play with your ball, but";

// Logits of every position of `ids` (teacher forcing), [ids.size(), V].
std::vector<float> all_logits(const Model& m, const std::vector<int32_t>& ids) {
  Result<Session> s = Session::create(m, 512);
  REQUIRE(s.ok());
  REQUIRE(s->eval(ids.data(), (int64_t)ids.size(), true).ok());
  return s->logits();
}

struct Agreement {
  double top1;  // fraction of positions where the greedy tokens agree
  double kl;    // mean KL(F32 || quantized) of the next-token distributions, nats
};

// The quantized model q against ref on `ids`.
Agreement agreement(const Model& ref, const Model& q, const std::vector<int32_t>& ids) {
  const int64_t V = ref.config().n_vocab;
  const std::vector<float> a = all_logits(ref, ids), b = all_logits(q, ids);
  size_t same = 0;
  double kl = 0;
  for (size_t r = 0; r < ids.size(); ++r) {
    const float* la = a.data() + r * V;
    const float* lb = b.data() + r * V;
    same += std::max_element(la, la + V) - la == std::max_element(lb, lb + V) - lb;
    // log-softmax of both rows in double
    const double ma = *std::max_element(la, la + V), mb = *std::max_element(lb, lb + V);
    double za = 0, zb = 0;
    for (int64_t i = 0; i < V; ++i) za += std::exp(la[i] - ma), zb += std::exp(lb[i] - mb);
    for (int64_t i = 0; i < V; ++i) {
      const double pa = std::exp(la[i] - ma) / za;
      kl += pa * ((la[i] - ma - std::log(za)) - (lb[i] - mb - std::log(zb)));
    }
  }
  return {(double)same / (double)ids.size(), kl / (double)ids.size()};
}

}  // namespace

// The protocol, fixed before the result was seen: calibration tokens are
// 1024 tokens the F32 model samples itself from BOS (temperature 1.0, no
// top-k/top-p/min-p, seed 1234; on EOS, or a full 512-token context, BOS
// again in a fresh context) — not the published text the agreement is
// measured on. The imatrix comes from those tokens in two chunks of 512
// (collect_imatrix); the Q4_0 copy uses it (llama.cpp's tensor choice:
// token_embd has no entry and keeps the reference rounding, output Q8_0,
// ffn_down F16). Agreement with F32 is measured on the published text and
// on F32's 400-token greedy continuation, as test_llm_stories.cpp does for
// the plain Q4_0 copy (measured there: 0.876 and 0.913), and by the mean KL
// divergence of the next-token distributions.
//
// Measured (plain -> imatrix; the imatrix copy's figures move by a token or
// two with the kernel ISA, as the calibration forward and the near-ties of
// the quantized model are computed in float):
//   top-1 published  0.876 -> 0.893 (scalar) / 0.901 (AVX2, AVX-512)
//   top-1 long       0.913 -> 0.908 (scalar) / 0.905 (AVX2) / 0.913 (AVX-512)
//   mean KL          0.043 -> 0.039-0.040 (published), 0.040 -> 0.038 (long)
// So the checks are what holds at every ISA level: the imatrix copy agrees
// at least as often as the plain one on the published text and has a lower
// KL on both texts; the long text keeps the 0.90. The 0.90
// on the short published text is reached with the SIMD kernels (109 of 121)
// but not with the scalar ones (108), so it is reported, not checked.
TEST_CASE("stories260K: Q4_0 with an importance matrix from self-sampled text against F32" *
          doctest::skip(!llm_test::file_exists(llm_test::stories_path()))) {
  Result<io::GgufFile> f = io::GgufFile::open(llm_test::stories_path());
  REQUIRE(f.ok());
  Result<Model> ref = Model::load(llm_test::stories_path());
  REQUIRE(ref.ok());
  const Tokenizer& tok = ref->tokenizer();
  const int32_t bos = tok.bos_id();
  const int32_t V = (int32_t)ref->config().n_vocab;

  std::vector<int32_t> calib = {bos};
  {
    Result<Session> s = Session::create(*ref, 512);
    REQUIRE(s.ok());
    SamplerParams sp;
    sp.temperature = 1.0f;
    sp.top_k = 0;
    sp.top_p = 1.0f;
    sp.min_p = 0.0f;
    sp.seed = 1234;
    Sampler sampler(sp);
    REQUIRE(s->eval(&bos, 1).ok());
    while (calib.size() < 1024) {
      const int32_t t = sampler.sample(s->logits().data(), V);
      if (tok.is_eog(t) || s->n_past() >= s->n_ctx()) {
        calib.push_back(bos);
        s->reset();
        REQUIRE(s->eval(&bos, 1).ok());
        continue;
      }
      calib.push_back(t);
      REQUIRE(s->eval(&t, 1).ok());
    }
  }
  int stories = 0;
  for (int32_t t : calib) stories += t == bos;
  MESSAGE("calibration: " << calib.size() << " tokens, " << stories << " stories; opens with \""
                          << tok.decode(std::vector<int32_t>(calib.begin(), calib.begin() + 24)) << "\"");
  Result<ImportanceMatrix> im = collect_imatrix(*ref, calib, 512);
  REQUIRE_MESSAGE(im.ok(), im.status().to_string());
  CHECK(im->chunk_count == 2);

  const std::vector<int32_t> published = tok.encode(kPublished, true);
  const std::vector<int32_t> greedy = llm_test::greedy_from_bos(*ref, 400);
  REQUIRE(greedy.size() > 60);

  Agreement ag[2][2];  // [plain, imatrix][published, greedy]
  for (int use_im = 0; use_im < 2; ++use_im) {
    QuantizeReport rep;
    Result<std::vector<uint8_t>> bytes = quantize_gguf(*f, DType::kQ4_0, &rep, use_im ? &*im : nullptr);
    REQUIRE_MESSAGE(bytes.ok(), bytes.status().to_string());
    // attn_q/k/v/output, ffn_gate/up of 5 layers; ffn_down is F16.
    CHECK(rep.tensors_weighted == (use_im ? 6 * ref->config().n_layer : 0));
    Result<io::GgufFile> qf = io::GgufFile::from_memory(bytes->data(), bytes->size());
    REQUIRE(qf.ok());
    Result<Model> qm = Model::from_gguf(std::move(qf).value());
    REQUIRE_MESSAGE(qm.ok(), qm.status().to_string());
    ag[use_im][0] = agreement(*ref, *qm, published);
    ag[use_im][1] = agreement(*ref, *qm, greedy);
    const std::string name = use_im ? "Q4_0 + imatrix" : "Q4_0 plain";
    MESSAGE(name << ": top-1 agreement " << ag[use_im][0].top1 << " over " << published.size() << " (published), "
                 << ag[use_im][1].top1 << " over " << greedy.size() << " (greedy continuation); mean KL "
                 << ag[use_im][0].kl << " / " << ag[use_im][1].kl);
  }
  CHECK(ag[1][0].top1 >= ag[0][0].top1);
  CHECK(ag[1][0].kl < ag[0][0].kl);
  CHECK(ag[1][1].kl < ag[0][1].kl);
  CHECK(ag[1][1].top1 >= 0.90);
}

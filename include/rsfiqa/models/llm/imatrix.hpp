// SPDX-License-Identifier: MIT
// Importance matrices for weight quantization, as llama.cpp's
// `llama-imatrix`: run the model on calibration tokens and record, for every
// weight matrix W [rows, cols] of the transformer blocks, the sum over all
// input rows x that meet it of x_j² per input column j, and how many rows
// that was. The mean x_j² tells the quantizer (quantize.hpp) which columns of
// W carry large activations, so their rounding error costs more.
//
// Collected: every blk.N.* matrix (attn_q/k/v/output, ffn_gate/up/down),
// from the prefill path (Session::set_matmul_observer). Not collected, as in
// llama-imatrix's default: token_embd (a row lookup, not a product) and the
// output head. Sums are kept in double (llama-imatrix sums in float) and
// stored as f32.
//
// File format: llama.cpp's GGUF imatrix layout, so the files of either tool
// can be read by the other: general.type = "imatrix", imatrix.datasets
// (array of strings), imatrix.chunk_count and imatrix.chunk_size (u32); per
// matrix NAME two f32 tensors, NAME.in_sum2 [cols] (Σ x_j²) and NAME.counts
// [1] (rows seen). The quantizer uses in_sum2 / counts (all ones when counts
// is 0), as llama-quantize does. Files with a second dimension (one row per
// expert) and the older binary .dat layout are not read.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "rsfiqa/core/status.hpp"
#include "rsfiqa/io/file.hpp"
#include "rsfiqa/io/gguf.hpp"
#include "rsfiqa/models/llm/model.hpp"

namespace rsfiqa::llm {

// Activation statistics of one weight matrix.
struct ImatrixEntry {
  std::vector<double> sum2;  // [cols]: Σ over input rows of x_j²
  int64_t count = 0;         // number of input rows
};

struct ImportanceMatrix {
  std::map<std::string, ImatrixEntry> entries;  // by weight tensor name
  std::vector<std::string> datasets;            // names of the calibration sources
  int64_t chunk_count = 0, chunk_size = 0;      // evaluations and their length

  const ImatrixEntry* find(const std::string& name) const {
    auto it = entries.find(name);
    return it == entries.end() ? nullptr : &it->second;
  }

  // Mean x_j² of `name` as f32 (the quantizer's per-column importance),
  // computed as llama-quantize does: f32(sum2) / f32(count), and all ones
  // for an entry that saw no rows. False when there is no entry;
  // kShapeMismatch when its length is not `cols`.
  Result<bool> mean_sq(const std::string& name, int64_t cols, std::vector<float>* out) const {
    const ImatrixEntry* e = find(name);
    if (!e) return false;
    if ((int64_t)e->sum2.size() != cols)
      return make_error(ErrorCode::kShapeMismatch, "imatrix: entry '%s' has %lld columns, the tensor has %lld",
                        name.c_str(), (long long)e->sum2.size(), (long long)cols);
    out->assign((size_t)cols, 1.0f);
    if (e->count <= 0) return true;
    const float n = (float)e->count;
    for (int64_t j = 0; j < cols; ++j) (*out)[(size_t)j] = (float)e->sum2[(size_t)j] / n;
    return true;
  }
};

// Accumulates the inputs of a model's block matrices while attached to a
// Session (which must not outlive the collector while attached). It keys on
// the addresses of the model's Weight records, so the model must not move.
class ImatrixCollector {
 public:
  explicit ImatrixCollector(const Model& model) {
    const char* kinds[7] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
    for (size_t il = 0; il < model.layers().size(); ++il) {
      const LayerWeights& L = model.layers()[il];
      const Weight* ws[7] = {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down};
      for (int k = 0; k < 7; ++k) names_[ws[k]] = "blk." + std::to_string(il) + "." + kinds[k] + ".weight";
    }
  }

  // Routes s's matrix inputs here (replacing any observer s had).
  void attach(Session& s) {
    s.set_matmul_observer([this](const Weight& w, const float* x, int64_t rows) { add(w, x, rows); });
  }
  static void detach(Session& s) { s.set_matmul_observer(nullptr); }

  // Adds x [rows, w.cols] to the entry of w (ignored when w is not a block
  // matrix of the model, e.g. the output head).
  void add(const Weight& w, const float* x, int64_t rows) {
    auto it = names_.find(&w);
    if (it == names_.end()) return;
    ImatrixEntry& e = im_.entries[it->second];
    if (e.sum2.empty()) e.sum2.assign((size_t)w.cols, 0.0);
    double* s = e.sum2.data();
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * w.cols;
      for (int64_t j = 0; j < w.cols; ++j) s[j] += (double)xr[j] * (double)xr[j];
    }
    e.count += rows;
  }

  ImportanceMatrix& result() { return im_; }

 private:
  std::map<const Weight*, std::string> names_;
  ImportanceMatrix im_;
};

// Runs `tokens` through the model in consecutive chunks of `chunk` tokens
// (the last one may be shorter), each in a fresh context as llama-imatrix
// does, and returns the statistics. Tokens are used as given (the caller
// puts BOS where it wants one). chunk <= 0 uses the training context.
inline Result<ImportanceMatrix> collect_imatrix(const Model& model, const std::vector<int32_t>& tokens,
                                                int64_t chunk = 0) {
  if (tokens.empty()) return make_error(ErrorCode::kEmptyInput, "imatrix: no calibration tokens");
  if (chunk <= 0) chunk = model.config().n_ctx_train;
  if (chunk <= 0) return make_error(ErrorCode::kInvalidArgument, "imatrix: chunk length %lld", (long long)chunk);
  RSFIQA_ASSIGN_OR_RETURN(Session s, Session::create(model, chunk));
  ImatrixCollector col(model);
  col.attach(s);
  int64_t n_chunks = 0;
  for (size_t b = 0; b < tokens.size(); b += (size_t)chunk) {
    const int64_t n = std::min<int64_t>(chunk, (int64_t)(tokens.size() - b));
    s.reset();
    RSFIQA_RETURN_IF_ERROR(s.eval(tokens.data() + b, n));
    ++n_chunks;
  }
  ImatrixCollector::detach(s);
  ImportanceMatrix im = std::move(col.result());
  im.chunk_count = n_chunks;
  im.chunk_size = chunk;
  return im;
}

// Serializes `im` in llama.cpp's GGUF imatrix layout (see the file comment).
inline Result<std::vector<uint8_t>> imatrix_to_gguf(const ImportanceMatrix& im) {
  io::GgufWriter w;
  RSFIQA_RETURN_IF_ERROR(w.add_string("general.type", "imatrix"));
  RSFIQA_RETURN_IF_ERROR(w.add_array("imatrix.datasets", io::GgufArray::of_strings(im.datasets)));
  RSFIQA_RETURN_IF_ERROR(w.add_u32("imatrix.chunk_count", (uint32_t)im.chunk_count));
  RSFIQA_RETURN_IF_ERROR(w.add_u32("imatrix.chunk_size", (uint32_t)im.chunk_size));
  for (const auto& kv : im.entries) {
    const ImatrixEntry& e = kv.second;
    std::vector<float> s(e.sum2.begin(), e.sum2.end());
    const float c = (float)e.count;
    const int64_t ne_s[2] = {(int64_t)s.size(), 1}, ne_c[2] = {1, 1};
    RSFIQA_RETURN_IF_ERROR(w.add_tensor(kv.first + ".in_sum2", DType::kF32, ne_s, 2, s.data(), s.size() * 4));
    RSFIQA_RETURN_IF_ERROR(w.add_tensor(kv.first + ".counts", DType::kF32, ne_c, 2, &c, 4));
  }
  return w.serialize();
}

// Reads the GGUF imatrix layout. Every NAME.in_sum2 needs a NAME.counts;
// both must be f32 with one row (a per-expert second dimension is refused).
inline Result<ImportanceMatrix> imatrix_from_gguf(const io::GgufFile& f) {
  ImportanceMatrix im;
  if (f.has("imatrix.datasets")) {
    RSFIQA_ASSIGN_OR_RETURN(im.datasets, f.get_string_array("imatrix.datasets"));
  }
  if (f.has("imatrix.chunk_count")) {
    RSFIQA_ASSIGN_OR_RETURN(im.chunk_count, f.get_int("imatrix.chunk_count", 0, INT64_MAX));
  }
  if (f.has("imatrix.chunk_size")) {
    RSFIQA_ASSIGN_OR_RETURN(im.chunk_size, f.get_int("imatrix.chunk_size", 0, INT64_MAX));
  }
  const std::string suffix = ".in_sum2";
  for (const io::GgufTensorInfo& t : f.tensors()) {
    if (t.name.size() <= suffix.size() || t.name.compare(t.name.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const std::string base = t.name.substr(0, t.name.size() - suffix.size());
    const io::GgufTensorInfo* c = f.find_tensor(base + ".counts");
    if (!c) return make_error(ErrorCode::kNotFound, "imatrix: '%s' has no '%s.counts'", t.name.c_str(), base.c_str());
    if (t.dtype != DType::kF32 || c->dtype != DType::kF32)
      return make_error(ErrorCode::kUnsupportedType, "imatrix: '%s' or its counts is not f32", t.name.c_str());
    if (t.ne[1] != 1 || t.ne[2] != 1 || t.ne[3] != 1 || c->numel() != 1)
      return make_error(ErrorCode::kShapeMismatch,
                        "imatrix: '%s' has %lld rows and %lld counts (per-expert data is not supported)",
                        t.name.c_str(), (long long)(t.ne[1] * t.ne[2] * t.ne[3]), (long long)c->numel());
    float cnt;
    std::memcpy(&cnt, c->data, 4);
    if (!(cnt >= 0.0f) || cnt > 9.0e15f)
      return make_error(ErrorCode::kMalformed, "imatrix: '%s.counts' = %g is not a row count", base.c_str(),
                        (double)cnt);
    ImatrixEntry e;
    e.count = (int64_t)cnt;
    e.sum2.resize((size_t)t.ne[0]);
    for (int64_t j = 0; j < t.ne[0]; ++j) {
      float v;
      std::memcpy(&v, t.data + 4 * j, 4);
      if (!(v >= 0.0f) || v == INFINITY)
        return make_error(ErrorCode::kMalformed, "imatrix: '%s' element %lld = %g is not a finite sum of squares",
                          t.name.c_str(), (long long)j, (double)v);
      e.sum2[(size_t)j] = v;
    }
    im.entries[base] = std::move(e);
  }
  return im;
}

inline Status save_imatrix(const ImportanceMatrix& im, const std::string& path) {
  RSFIQA_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, imatrix_to_gguf(im));
  return io::write_file_atomic(path, bytes.data(), bytes.size());
}

inline Result<ImportanceMatrix> load_imatrix(const std::string& path) {
  RSFIQA_ASSIGN_OR_RETURN(io::GgufFile f, io::GgufFile::open(path));
  return imatrix_from_gguf(f);
}

}  // namespace rsfiqa::llm

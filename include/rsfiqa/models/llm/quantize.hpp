// SPDX-License-Identifier: MIT
// Quantizes the weight matrices of a GGUF language model to Q8_0, Q4_0 or
// Q4_K and writes a new GGUF file with the same metadata (general.file_type
// updated) — what `rsfiqa quantize IN OUT TYPE` runs.
//
// Which tensors: every 2-D tensor whose name ends in ".weight"; 1-D tensors
// (norms, biases) stay as they are. The type of each matrix follows the
// rule of llama.cpp's quantizer (llama_tensor_get_type, no importance
// matrix, no manual overrides):
//   * the output matrix (output.weight, or token_embd.weight when the model
//     ties its head to the embedding) gets more bits: Q6_K when its rows are
//     whole 256-blocks, else Q8_0; a q8_0 target keeps it at Q8_0;
//   * every other matrix (an untied token_embd too) gets the target;
//   * a matrix whose rows do not hold whole blocks of its type falls back
//     as in llama.cpp: Q4_K (256-blocks) -> Q5_0, Q6_K -> Q8_0, and a
//     32-block type (Q5_0, Q4_0, Q8_0) whose rows are not whole 32-blocks
//     -> F16.
// Rounding is the ggml reference rounding (kernels/quant.hpp), so for the
// same types the result is bit-identical to llama.cpp's quantizer.
//
// With an importance matrix (imatrix.hpp; llama-quantize --imatrix) the
// Q4_0 tensors that have an entry use ggml's weighted rounding
// (quantize_row_q4_0_impl: a search over 19 scales minimizing the error
// weighted by imatrix_j * sqrt(sigma2 + x_j^2)), so the bytes equal
// llama.cpp's quantize_q4_0 with the same importance values; Q4_0 tensors
// without an entry (token_embd, which is a lookup) keep the reference
// rounding, and Q8_0 / F16 ignore it as in ggml.
//
// What it does not do: no per-layer mixes such as Q4_K_M's Q6_K layers, no
// Q5_0/Q5_1 targets (Q5_0 only as the fallback), no weighted rounding for
// Q4_K/Q5_0/Q6_K (an importance matrix with entries for tensors of those
// types is refused rather than silently ignored).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/core/status.hpp"
#include "rsfiqa/io/gguf.hpp"
#include "rsfiqa/kernels/quant.hpp"
#include "rsfiqa/models/llm/imatrix.hpp"

namespace rsfiqa::llm {

// Parses "q8_0" / "q4_0" / "q4_k" (case-insensitive 'k').
inline bool parse_quant_type(const std::string& s, DType* out) {
  if (s == "q8_0" || s == "Q8_0") *out = DType::kQ8_0;
  else if (s == "q4_0" || s == "Q4_0") *out = DType::kQ4_0;
  else if (s == "q4_k" || s == "q4_K" || s == "Q4_K") *out = DType::kQ4_K;
  else return false;
  return true;
}

namespace detail {

// Copies one metadata value into the writer (scalars, strings, flat arrays).
inline Status copy_kv(const io::GgufKV& kv, io::GgufWriter* w) {
  const io::GgufValue& v = kv.value;
  const std::string& k = kv.key;
  using io::GgufType;
  switch (v.type()) {
    case GgufType::kU8: return w->add_u8(k, v.scalar<uint8_t>());
    case GgufType::kI8: return w->add_i8(k, v.scalar<int8_t>());
    case GgufType::kU16: return w->add_u16(k, v.scalar<uint16_t>());
    case GgufType::kI16: return w->add_i16(k, v.scalar<int16_t>());
    case GgufType::kU32: return w->add_u32(k, v.scalar<uint32_t>());
    case GgufType::kI32: return w->add_i32(k, v.scalar<int32_t>());
    case GgufType::kF32: return w->add_f32(k, v.scalar<float>());
    case GgufType::kU64: return w->add_u64(k, v.scalar<uint64_t>());
    case GgufType::kI64: return w->add_i64(k, v.scalar<int64_t>());
    case GgufType::kF64: return w->add_f64(k, v.scalar<double>());
    case GgufType::kBool: return w->add_bool(k, v.as_bool());
    case GgufType::kString: return w->add_string(k, std::string(v.as_string()));
    case GgufType::kArray: break;
  }
  const uint64_t n = v.size();
  auto raw = [&](auto tag) {
    using T = decltype(tag);
    std::vector<T> vals((size_t)n);
    if (n) std::memcpy(vals.data(), v.raw_data(), (size_t)n * sizeof(T));
    return w->add_array(k, io::GgufArray::of(vals));
  };
  switch (v.array_type()) {
    case GgufType::kU8: return raw(uint8_t());
    case GgufType::kI8: return raw(int8_t());
    case GgufType::kU16: return raw(uint16_t());
    case GgufType::kI16: return raw(int16_t());
    case GgufType::kU32: return raw(uint32_t());
    case GgufType::kI32: return raw(int32_t());
    case GgufType::kF32: return raw(float());
    case GgufType::kU64: return raw(uint64_t());
    case GgufType::kI64: return raw(int64_t());
    case GgufType::kF64: return raw(double());
    case GgufType::kBool: {
      std::vector<bool> b((size_t)n);
      for (uint64_t i = 0; i < n; ++i) b[(size_t)i] = v.raw_data()[i] != 0;
      return w->add_array(k, io::GgufArray::of_bools(b));
    }
    case GgufType::kString: {
      std::vector<std::string> s;
      s.reserve((size_t)n);
      for (uint64_t i = 0; i < n; ++i) s.emplace_back(v.string_at(i));
      return w->add_array(k, io::GgufArray::of_strings(s));
    }
    default: break;
  }
  return make_error(ErrorCode::kUnsupportedType, "quantize: cannot copy nested array '%s'", k.c_str());
}

// Type for a matrix with rows of `cols` elements: `want` when the rows hold
// whole blocks of it, else llama.cpp's one-step fallback (Q4_K -> Q5_0,
// Q6_K -> Q8_0, others none), and F16 when the rows do not hold whole
// blocks of that either (llama_tensor_get_type's convert_incompatible_tensor).
inline DType fit_type(DType want, int64_t cols) {
  if (cols % dtype_info(want).block_size == 0) return want;
  const DType fallback = want == DType::kQ4_K ? DType::kQ5_0 : want == DType::kQ6_K ? DType::kQ8_0 : want;
  if (cols % dtype_info(fallback).block_size == 0) return fallback;
  return DType::kF16;
}

// Type of the output matrix (rows of `cols` elements) for a target: more
// bits than the body, as llama.cpp does for the head the logits come from.
inline DType output_type(DType target, int64_t cols) {
  return fit_type(target == DType::kQ8_0 ? DType::kQ8_0 : DType::kQ6_K, cols);
}

// ggml's make_qx_quants with caller weights qw[n] (rmse_type 1): levels
// L[i] in 0..2*nmax-1 for x ~ scale * (L - nmax). Tries iscale = -(nmax +
// 0.1 is) / max for is = 0 (nmax / max itself), -9..-1, 1..9, each with the
// weighted least-squares scale for its levels, and keeps the one that
// maximizes (Σ w x l)² / Σ w l² (= minimizes Σ w (x - scale l)²). The float
// operations are ggml's, in its order and without fused multiply-adds.
inline float make_qx_quants_weighted(int n, int nmax, const float* x, int8_t* L, const float* qw) {
  using kernels::quant_detail::nearest_int;
  float max = 0.0f, amax = 0.0f;  // the value of largest magnitude, and its magnitude
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < 1e-15f) {  // an all-zero group (ggml's GROUP_MAX_EPS)
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.0f;
  }
  auto level = [nmax](float v) {
    const int l = nearest_int(v);
    return l < -nmax ? -nmax : (l > nmax - 1 ? nmax - 1 : l);
  };
  float iscale = (float)-nmax / max;
  float sumlx = 0.0f, suml2 = 0.0f;
  for (int i = 0; i < n; ++i) {
    const int l = level(iscale * x[i]);
    L[i] = (int8_t)(l + nmax);
    const float fl = (float)l;
    sumlx += qw[i] * x[i] * fl;
    suml2 += qw[i] * fl * fl;
  }
  float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -((float)nmax + 0.1f * (float)is) / max;
    sumlx = suml2 = 0.0f;
    for (int i = 0; i < n; ++i) {
      const float fl = (float)level(iscale * x[i]);
      sumlx += qw[i] * x[i] * fl;
      suml2 += qw[i] * fl * fl;
    }
    if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) L[i] = (int8_t)(nmax + level(iscale * x[i]));
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

}  // namespace detail

// Q4_0 with importance weights, ggml's quantize_row_q4_0_impl: a row x[k]
// (k a multiple of 32) and per-column importance imx[k] (mean x_j² of the
// inputs this row meets, imatrix.hpp). Element j of a block is weighted
// imx_j * sqrt(sigma2 + x_j²), sigma2 = mean x² over the whole row, and the
// block's scale and levels come from the weighted search
// (make_qx_quants_weighted, nmax 8: levels 0..15 for d * (q - 8)).
inline void quantize_row_q4_0_imatrix(const float* x, kernels::BlockQ4_0* y, int64_t k, const float* imx) {
  constexpr int kQ = kernels::kQK4_0;
  float sum_x2 = 0.0f;
  for (int64_t j = 0; j < k; ++j) sum_x2 += x[j] * x[j];
  const float sigma2 = sum_x2 / (float)k;
  float weight[kQ];
  int8_t L[kQ];
  for (int64_t ib = 0; ib < k / kQ; ++ib) {
    const float* xb = x + ib * kQ;
    const float* qw = imx + ib * kQ;
    for (int j = 0; j < kQ; ++j) weight[j] = qw[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    const float d = detail::make_qx_quants_weighted(kQ, 8, xb, L, weight);
    y[ib].d = f32_to_f16(d);
    for (int j = 0; j < kQ / 2; ++j) y[ib].qs[j] = (uint8_t)(L[j] | (L[j + kQ / 2] << 4));
  }
}

struct QuantizeReport {
  int64_t tensors_quantized = 0;
  int64_t tensors_weighted = 0;  // of those, rounded with importance weights
  int64_t tensors_kept = 0;
  int64_t bytes_in = 0, bytes_out = 0;  // tensor data only
};

// Builds the quantized file in memory (GGUF bytes). `im` (optional): an
// importance matrix for the weighted Q4_0 rounding; refused with a q4_k
// target, and for any tensor it covers whose type would be Q4_K, Q5_0 or
// Q6_K (their weighted variants are not implemented).
inline Result<std::vector<uint8_t>> quantize_gguf(const io::GgufFile& in, DType target,
                                                  QuantizeReport* report = nullptr,
                                                  const ImportanceMatrix* im = nullptr) {
  if (target != DType::kQ8_0 && target != DType::kQ4_0 && target != DType::kQ4_K)
    return make_error(ErrorCode::kInvalidArgument, "quantize: target type %s is not one of q8_0, q4_0, q4_k",
                      dtype_name(target));
  if (im && target == DType::kQ4_K)
    return make_error(ErrorCode::kUnsupportedType,
                      "quantize: an importance matrix is used by q4_0 only (q4_k's weighted rounding is not "
                      "implemented)");
  QuantizeReport rep;
  io::GgufWriter w;
  for (const io::GgufKV& kv : in.kvs()) {
    if (kv.key == "general.file_type" || kv.key == "general.quantization_version") continue;
    if (kv.key == "general.alignment") {
      RSFIQA_RETURN_IF_ERROR(w.set_alignment(in.alignment()));
      continue;
    }
    RSFIQA_RETURN_IF_ERROR(detail::copy_kv(kv, &w));
  }
  // llama.cpp's ftype numbers: 7 = MOSTLY_Q8_0, 2 = MOSTLY_Q4_0, 14 = MOSTLY_Q4_K_S.
  RSFIQA_RETURN_IF_ERROR(
      w.add_u32("general.file_type", target == DType::kQ8_0 ? 7u : target == DType::kQ4_0 ? 2u : 14u));
  RSFIQA_RETURN_IF_ERROR(w.add_u32("general.quantization_version", 2));
  const bool tied = in.find_tensor("output.weight") == nullptr;
  std::vector<uint8_t> buf;
  std::vector<float> rowf;
  for (const io::GgufTensorInfo& t : in.tensors()) {
    rep.bytes_in += t.nbytes;
    const bool matrix = t.n_dims == 2 && t.name.size() > 7 && t.name.compare(t.name.size() - 7, 7, ".weight") == 0;
    if (!matrix || !kernels::quant_row_supported(t.dtype) || t.dtype == target) {
      RSFIQA_RETURN_IF_ERROR(w.add_tensor(t.name, t.dtype, t.ne, t.n_dims, t.data, (size_t)t.nbytes));
      rep.bytes_out += t.nbytes;
      ++rep.tensors_kept;
      continue;
    }
    const bool is_output = t.name == "output.weight" || (tied && t.name == "token_embd.weight");
    const int64_t cols = t.ne[0], rows = t.ne[1];
    const DType dt = is_output ? detail::output_type(target, cols) : detail::fit_type(target, cols);
    const int64_t in_row = dtype_bytes(t.dtype, cols), out_row = dtype_bytes(dt, cols);
    if (in_row <= 0 || out_row <= 0)
      return make_error(ErrorCode::kMalformed, "quantize: tensor '%s' rows of %lld elements are not whole blocks",
                        t.name.c_str(), (long long)cols);
    // Importance of each column, when the matrix has an imatrix entry.
    std::vector<float> imx;
    bool weighted = false;
    if (im) {
      RSFIQA_ASSIGN_OR_RETURN(weighted, im->mean_sq(t.name, cols, &imx));
      if (weighted && dt != DType::kQ4_0 && dt != DType::kQ8_0 && dt != DType::kF16)
        return make_error(ErrorCode::kUnsupportedType,
                          "quantize: tensor '%s' becomes %s, whose importance-weighted rounding is not implemented",
                          t.name.c_str(), dtype_name(dt));
      weighted = weighted && dt == DType::kQ4_0;  // Q8_0 and F16 ignore it, as in ggml
    }
    buf.assign((size_t)(out_row * rows), 0);
    // Rows are independent: dequantize to f32, requantize, in parallel.
    parallel_for(rows, [&](int64_t b, int64_t e) {
      std::vector<float> row((size_t)cols);
      for (int64_t r = b; r < e; ++r) {
        kernels::dequantize_row_ref(t.dtype, t.data + r * in_row, row.data(), cols);
        uint8_t* dst = buf.data() + r * out_row;
        if (weighted) quantize_row_q4_0_imatrix(row.data(), (kernels::BlockQ4_0*)dst, cols, imx.data());
        else kernels::quantize_row_ref(dt, row.data(), dst, cols);
      }
    });
    rep.tensors_weighted += weighted;
    RSFIQA_RETURN_IF_ERROR(w.add_tensor(t.name, dt, t.ne, t.n_dims, buf.data(), buf.size()));
    rep.bytes_out += (int64_t)buf.size();
    ++rep.tensors_quantized;
  }
  if (report) *report = rep;
  return w.serialize();
}

// Quantizes IN into the file OUT (written atomically).
inline Status quantize_gguf_file(const std::string& in_path, const std::string& out_path, DType target,
                                 QuantizeReport* report = nullptr, const ImportanceMatrix* im = nullptr) {
  RSFIQA_ASSIGN_OR_RETURN(io::GgufFile in, io::GgufFile::open(in_path));
  RSFIQA_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, quantize_gguf(in, target, report, im));
  return io::write_file_atomic(out_path, bytes.data(), bytes.size());
}

}  // namespace rsfiqa::llm

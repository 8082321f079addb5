// SPDX-License-Identifier: MIT
// The quantizer's choice of tensor types (models/llm/quantize.hpp), on small
// synthetic GGUF files: the output matrix (or the tied embedding) gets Q6_K
// when its rows are whole 256-blocks and Q8_0 otherwise, other matrices the
// target, with llama.cpp's fallbacks for rows that are not whole blocks
// (Q4_K -> Q5_0 -> F16, Q6_K -> Q8_0 -> F16, Q4_0/Q8_0 -> F16);
// 1-D tensors are copied; the quantized bytes are the reference rounding of
// kernels/quant.hpp. The rule being checked is llama.cpp's
// (llama_tensor_get_type without importance matrix), written down in the
// header; nothing here depends on a model file.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "rsfiqa/io/gguf.hpp"
#include "rsfiqa/kernels/quant.hpp"
#include "rsfiqa/models/llm/quantize.hpp"

using namespace rsfiqa;
using namespace rsfiqa::llm;

namespace {

struct Mat {
  std::string name;
  int64_t rows, cols;
};

// A GGUF with F32 matrices of the given shapes (values a fixed function of
// the position) and one 1-D norm vector.
Result<io::GgufFile> make_file(const std::vector<Mat>& mats, std::vector<std::vector<float>>* keep) {
  io::GgufWriter w;
  RSFIQA_RETURN_IF_ERROR(w.add_string("general.architecture", "llama"));
  for (const Mat& m : mats) {
    keep->emplace_back((size_t)(m.rows * m.cols));
    std::vector<float>& v = keep->back();
    for (size_t i = 0; i < v.size(); ++i) v[i] = (float)((i * 37 + m.cols) % 101) / 50.0f - 1.0f;
    RSFIQA_RETURN_IF_ERROR(
        w.add_tensor(m.name, DType::kF32, rsfiqa::Shape({m.rows, m.cols}), v.data(), v.size() * sizeof(float)));
  }
  keep->emplace_back(64, 1.0f);
  RSFIQA_RETURN_IF_ERROR(w.add_tensor("output_norm.weight", DType::kF32, rsfiqa::Shape({64}), keep->back().data(),
                                      64 * sizeof(float)));
  RSFIQA_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, w.serialize());
  static thread_local std::vector<std::vector<uint8_t>> files;  // from_memory does not copy
  files.push_back(std::move(bytes));
  return io::GgufFile::from_memory(files.back().data(), files.back().size());
}

// Quantizes `in` to `target` and returns the output file's type per tensor.
io::GgufFile quantized(const io::GgufFile& in, DType target, std::vector<std::vector<uint8_t>>* store) {
  Result<std::vector<uint8_t>> bytes = quantize_gguf(in, target);
  REQUIRE_MESSAGE(bytes.ok(), bytes.status().to_string());
  store->push_back(std::move(bytes).value());
  Result<io::GgufFile> f = io::GgufFile::from_memory(store->back().data(), store->back().size());
  REQUIRE_MESSAGE(f.ok(), f.status().to_string());
  return std::move(f).value();
}

DType type_of(const io::GgufFile& f, const std::string& name) {
  const io::GgufTensorInfo* t = f.find_tensor(name);
  REQUIRE_MESSAGE(t != nullptr, name);
  return t->dtype;
}

}  // namespace

TEST_CASE("quantizer: separate output matrix gets Q6_K on 256-blocks, the rest the target with fallbacks") {
  std::vector<std::vector<float>> keep;
  Result<io::GgufFile> in = make_file({{"token_embd.weight", 16, 256},
                                       {"output.weight", 16, 256},
                                       {"blk.0.ffn_down.weight", 8, 96},
                                       {"blk.0.ffn_up.weight", 8, 40},
                                       {"blk.0.ffn_gate.weight", 8, 512}},
                                      &keep);
  REQUIRE_MESSAGE(in.ok(), in.status().to_string());
  std::vector<std::vector<uint8_t>> store;
  const char* names[] = {"token_embd.weight", "output.weight", "blk.0.ffn_down.weight", "blk.0.ffn_up.weight",
                         "blk.0.ffn_gate.weight"};
  const int64_t rows[] = {16, 16, 8, 8, 8}, cols[] = {256, 256, 96, 40, 512};
  struct Want {
    DType target, types[5];  // in the order of `names`
  };
  // 96-wide rows hold no 256-block (Q4_K -> Q5_0) but three 32-blocks;
  // 40-wide rows hold neither (F16).
  for (Want w : {Want{DType::kQ4_0, {DType::kQ4_0, DType::kQ6_K, DType::kQ4_0, DType::kF16, DType::kQ4_0}},
                 Want{DType::kQ4_K, {DType::kQ4_K, DType::kQ6_K, DType::kQ5_0, DType::kF16, DType::kQ4_K}},
                 Want{DType::kQ8_0, {DType::kQ8_0, DType::kQ8_0, DType::kQ8_0, DType::kF16, DType::kQ8_0}}}) {
    CAPTURE(dtype_name(w.target));
    io::GgufFile q = quantized(*in, w.target, &store);
    CHECK(type_of(q, "output_norm.weight") == DType::kF32);
    for (int i = 0; i < 5; ++i) {
      CAPTURE(names[i]);
      CHECK(type_of(q, names[i]) == w.types[i]);
      // The bytes are the reference rounding of the original rows.
      const io::GgufTensorInfo* t = q.find_tensor(names[i]);
      const int64_t rb = dtype_bytes(w.types[i], cols[i]);
      REQUIRE(t->nbytes == rows[i] * rb);
      std::vector<uint8_t> want((size_t)rb);
      for (int64_t r = 0; r < rows[i]; ++r) {
        REQUIRE(kernels::quantize_row_ref(w.types[i], keep[(size_t)i].data() + r * cols[i], want.data(), cols[i]));
        CHECK(std::memcmp(t->data + r * rb, want.data(), (size_t)rb) == 0);
      }
    }
  }
}

TEST_CASE("quantizer: a tied embedding is quantized as the output matrix") {
  std::vector<std::vector<uint8_t>> store;
  for (int64_t cols : {256, 64, 40}) {
    CAPTURE(cols);
    std::vector<std::vector<float>> keep;
    Result<io::GgufFile> in = make_file({{"token_embd.weight", 16, cols}, {"blk.0.attn_q.weight", 8, 64}}, &keep);
    REQUIRE_MESSAGE(in.ok(), in.status().to_string());
    for (DType target : {DType::kQ4_0, DType::kQ4_K}) {
      CAPTURE(dtype_name(target));
      io::GgufFile q = quantized(*in, target, &store);
      // Q6_K on 256-blocks, else its fallback Q8_0, else F16.
      CHECK(type_of(q, "token_embd.weight") == (cols == 256 ? DType::kQ6_K : cols == 64 ? DType::kQ8_0 : DType::kF16));
      // 64-wide rows: Q4_0 fits; Q4_K does not and falls back to Q5_0.
      CHECK(type_of(q, "blk.0.attn_q.weight") == (target == DType::kQ4_0 ? DType::kQ4_0 : DType::kQ5_0));
    }
  }
}

// SPDX-License-Identifier: MIT
// The ops against an independent reference: PyTorch's own F.layer_norm,
// SAM's LayerNorm2d, F.gelu (erf and tanh), F.silu, softmax, F.conv2d
// (stride 2 padding 1, depthwise, 1×1), F.conv_transpose2d (k = 2, stride 2)
// and matmul + softmax attention with an additive bias and a boolean mask.
// The fixtures in tests/data/golden/ops/*.safetensors were written by
// tools/golden/make_ops_golden.py (torch, float64 math on float32 inputs);
// this test only reads them. Tolerance: max |ours - torch| <= 1e-5 · max(1, |torch|max).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "rsfiqa/core/cpu.hpp"
#include "rsfiqa/core/tensor.hpp"
#include "rsfiqa/io/safetensors.hpp"
#include "rsfiqa/ops/activation.hpp"
#include "rsfiqa/ops/attention.hpp"
#include "rsfiqa/ops/conv.hpp"
#include "rsfiqa/ops/norm.hpp"
#include "rsfiqa/ops/softmax.hpp"

using namespace rsfiqa;

namespace {

std::vector<Isa> isa_levels() {
  std::vector<Isa> v{Isa::kScalar};
  if ((int)cpu_best_isa() >= (int)Isa::kAvx2) v.push_back(Isa::kAvx2);
  if ((int)cpu_best_isa() >= (int)Isa::kAvx512) v.push_back(Isa::kAvx512);
  return v;
}
struct Restore {
  ~Restore() { clear_isa_cap(); }
};

// One fixture file: tensors by name (as f32) and metadata scalars.
struct Golden {
  io::SafeTensorsFile file;
  Tensor get(const std::string& name) const {
    auto t = file.to_f32(name);
    REQUIRE_MESSAGE(t.ok(), t.status().to_string());
    return std::move(t).value();
  }
  double scalar(const std::string& key) const {
    auto it = file.metadata().find(key);
    INFO("metadata key ", key);
    REQUIRE(it != file.metadata().end());
    return std::strtod(it->second.c_str(), nullptr);
  }
};

Golden load(const char* name) {
  const std::string path = std::string(RSFIQA_TEST_DATA_DIR) + "/golden/ops/" + name;
  auto f = io::SafeTensorsFile::open(path);
  REQUIRE_MESSAGE(f.ok(), f.status().to_string());
  return Golden{std::move(f).value()};
}

Tensor like(const Tensor& t) {
  auto r = Tensor::create(DType::kF32, t.shape());
  REQUIRE(r.ok());
  return std::move(r).value();
}

// Checks ours against torch's with the tolerance of the file comment.
void check_close(const Tensor& ours, const Tensor& want, const char* what) {
  REQUIRE(ours.shape() == want.shape());
  double err = 0, mag = 1;
  for (int64_t i = 0; i < want.numel(); ++i) {
    err = std::fmax(err, std::fabs((double)ours.f32()[i] - want.f32()[i]));
    mag = std::fmax(mag, std::fabs((double)want.f32()[i]));
  }
  INFO(std::string(what), ": max abs error ", err, " (output magnitude ", mag, ")");
  CHECK(err <= 1e-5 * mag);
}

}  // namespace

TEST_CASE("golden: F.layer_norm and SAM LayerNorm2d") {
  Restore restore;
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    {
      Golden g = load("layer_norm.safetensors");
      Tensor x = g.get("x"), w = g.get("weight"), b = g.get("bias"), want = g.get("y"), y = like(want);
      REQUIRE(ops::layer_norm(x.view(), w.view(), b.view(), (float)g.scalar("eps"), y.view()).ok());
      check_close(y, want, "layer_norm");
    }
    {
      Golden g = load("layer_norm_2d.safetensors");
      Tensor x = g.get("x"), w = g.get("weight"), b = g.get("bias"), want = g.get("y"), y = like(want);
      REQUIRE(ops::layer_norm_2d(x.view(), w.view(), b.view(), (float)g.scalar("eps"), y.view()).ok());
      check_close(y, want, "layer_norm_2d");
    }
  }
}

TEST_CASE("golden: F.gelu (erf, tanh), F.silu, softmax") {
  Restore restore;
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    Golden g = load("activations.safetensors");
    Tensor x = g.get("x");
    Tensor want = g.get("gelu"), y = like(want);
    REQUIRE(ops::gelu(x.view(), y.view()).ok());
    check_close(y, want, "gelu erf");
    want = g.get("gelu_tanh");
    REQUIRE(ops::gelu(x.view(), y.view(), ops::GeluApprox::kTanh).ok());
    check_close(y, want, "gelu tanh");
    want = g.get("silu");
    REQUIRE(ops::silu(x.view(), y.view()).ok());
    check_close(y, want, "silu");

    Golden s = load("softmax.safetensors");
    Tensor sx = s.get("x"), swant = s.get("y"), sy = like(swant);
    REQUIRE(ops::softmax(sx.view(), sy.view()).ok());
    check_close(sy, swant, "softmax");
  }
}

TEST_CASE("golden: F.conv2d (stride 2 pad 1, depthwise, 1x1) and F.conv_transpose2d (k2 s2)") {
  Restore restore;
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    Golden g = load("conv2d.safetensors");
    Tensor x = g.get("x");
    {
      Tensor w = g.get("weight"), b = g.get("bias"), want = g.get("y_s2p1"), y = like(want);
      REQUIRE(ops::conv2d(x.view(), w.view(), b.view(), ops::conv2d_params(2, 1), y.view()).ok());
      check_close(y, want, "conv2d stride 2 pad 1");
    }
    {
      Tensor w = g.get("weight_dw"), b = g.get("bias_dw");
      Tensor want = g.get("y_dw_s1p1"), y = like(want);
      REQUIRE(ops::conv2d(x.view(), w.view(), b.view(), ops::conv2d_params(1, 1, x.shape()[1]), y.view()).ok());
      check_close(y, want, "depthwise stride 1");
      Tensor want2 = g.get("y_dw_s2p1"), y2 = like(want2);
      REQUIRE(ops::conv2d(x.view(), w.view(), b.view(), ops::conv2d_params(2, 1, x.shape()[1]), y2.view()).ok());
      check_close(y2, want2, "depthwise stride 2");
    }
    {
      Tensor w = g.get("weight_pw"), want = g.get("y_pw"), y = like(want);
      REQUIRE(ops::conv2d(x.view(), w.view(), {}, ops::conv2d_params(1, 0), y.view()).ok());
      check_close(y, want, "conv2d 1x1");
    }
    Golden t = load("conv_transpose2d.safetensors");
    Tensor tx = t.get("x"), tw = t.get("weight"), tb = t.get("bias"), twant = t.get("y"), ty = like(twant);
    REQUIRE(ops::conv_transpose2d(tx.view(), tw.view(), tb.view(),
                                  ops::conv_transpose2d_params((int64_t)t.scalar("stride")), ty.view())
                .ok());
    check_close(ty, twant, "conv_transpose2d");
  }
}

TEST_CASE("golden: attention with additive bias, and with bias and boolean mask") {
  Restore restore;
  Golden g = load("attention.safetensors");
  Tensor q = g.get("q"), k = g.get("k"), v = g.get("v"), bias = g.get("bias"), maskf = g.get("mask");
  std::vector<uint8_t> mask((size_t)maskf.numel());
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = maskf.f32()[i] != 0.0f;
  const TensorView mask_view(mask.data(), DType::kU8, maskf.shape());
  const float scale = (float)g.scalar("scale");
  for (Isa isa : isa_levels()) {
    set_isa_cap(isa);
    Tensor want = g.get("y_bias"), y = like(want);
    REQUIRE(ops::attention(q.view(), k.view(), v.view(), y.view(), bias.view(), {}, scale).ok());
    check_close(y, want, "attention + bias");
    // Default scale is 1/sqrt(d), which is what the fixture used.
    REQUIRE(ops::attention(q.view(), k.view(), v.view(), y.view(), bias.view()).ok());
    check_close(y, want, "attention + bias, default scale");
    Tensor want_m = g.get("y_bias_mask"), ym = like(want_m);
    REQUIRE(ops::attention(q.view(), k.view(), v.view(), ym.view(), bias.view(), mask_view).ok());
    check_close(ym, want_m, "attention + bias + mask");
  }
}

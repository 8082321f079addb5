// SPDX-License-Identifier: MIT
// Consumer program for the find_package packaging test: it includes only the
// umbrella header and calls a few core and kernel APIs, so it fails to build
// if the package misses a header, an include path or a dependency, and fails
// at run time if the calls misbehave. It checks results against values it
// derives itself, not against a stored output.
#include <rsfiqa/rsfiqa.hpp>

#include <cmath>
#include <cstdio>

int main() {
  // Result<T> carries a value or a Status with a stable code.
  rsfiqa::Result<rsfiqa::Tensor> bad = rsfiqa::Tensor::create(rsfiqa::DType::kF32, {-1, 4});
  if (bad.ok()) return 1;

  // C[3x5] = A[3x4] * W[5x4]^T through the dispatching GEMM and the scalar oracle.
  auto a = rsfiqa::Tensor::create(rsfiqa::DType::kF32, {3, 4});
  auto w = rsfiqa::Tensor::create(rsfiqa::DType::kF32, {5, 4});
  auto c = rsfiqa::Tensor::create(rsfiqa::DType::kF32, {3, 5});
  auto c_ref = rsfiqa::Tensor::create(rsfiqa::DType::kF32, {3, 5});
  if (!a.ok() || !w.ok() || !c.ok() || !c_ref.ok()) return 1;
  for (int i = 0; i < 12; ++i) a->f32()[i] = 0.25f * (float)(i - 5);
  for (int i = 0; i < 20; ++i) w->f32()[i] = 0.125f * (float)(i % 7 - 3);
  rsfiqa::kernels::gemm_f32(3, 5, 4, a->f32(), 4, w->f32(), 4, c->f32(), 5);
  rsfiqa::kernels::gemm_f32_ref(3, 5, 4, a->f32(), 4, w->f32(), 4, c_ref->f32(), 5);
  for (int i = 0; i < 15; ++i)
    if (std::fabs(c->f32()[i] - c_ref->f32()[i]) > 1e-5f) return 1;

  // Deterministic reduction over parallel_for: the sum of 0..999.
  const long long sum = rsfiqa::parallel_reduce_chunks(
      1000, 64, 0LL,
      [](int64_t b, int64_t e) {
        long long s = 0;
        for (int64_t i = b; i < e; ++i) s += i;
        return s;
      },
      [](long long x, long long y) { return x + y; });
  if (sum != 999LL * 1000 / 2) return 1;

  std::printf("rsfiqa %s via find_package: isa %s, %d thread(s)\n", rsfiqa::kVersionString,
              rsfiqa::isa_name(rsfiqa::active_isa()), rsfiqa::get_num_threads());
  return 0;
}

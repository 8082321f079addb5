// SPDX-License-Identifier: MIT
// 2-D convolution and transposed convolution on channels-first tensors, as
// torch.nn.functional.conv2d / conv_transpose2d compute them (cross-
// correlation, zero padding).
//
//   conv2d            x [N, C, H, W] (or [C, H, W]), weight [O, C/groups, kh, kw],
//                     bias [O] (optional) -> y [N, O, Ho, Wo],
//                     Ho = (H + 2·pad_h - dilation_h·(kh - 1) - 1) / stride_h + 1
//   conv_transpose2d  x [N, C, H, W], weight [C, O, kh, kw] (PyTorch's
//                     ConvTranspose2d layout), bias [O] -> y [N, O, Ho, Wo],
//                     Ho = (H - 1)·stride_h - 2·pad_h + dilation_h·(kh - 1) + output_pad_h + 1
//                     (groups = 1; SAM's output upscaling is k = 2, stride 2)
//
// Paths chosen by conv2d:
//   1×1, stride 1, no padding, groups 1   one GEMM per image: y = W[O, C] · x[C, H·W]
//   depthwise (C/groups = O/groups = 1)    direct loops per channel plane; each
//                                          kernel row is one SIMD row filter over an
//                                          output row (TinyViT's MBConv 3×3; stride 2
//                                          filters at stride 1 and keeps every 2nd column)
//   everything else                        im2col of a tile of output pixels, then a
//                                          GEMM per group: y_g = W_g[O/g, C/g·kh·kw] · col
// conv_transpose2d computes T = Wᵀ[O·kh·kw, C] · x[C, H·W] with one GEMM and
// scatters (adds, where taps overlap) T into y.
//
// Threads: the GEMMs own them (gemm_f32 splits its work); im2col, the depthwise
// planes and the scatter use parallel_for. Workspaces (the im2col tile, the
// transposed weight) are allocated per call and their failure is reported as
// kOutOfMemory. y must not alias x.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/core/status.hpp"
#include "rsfiqa/core/tensor.hpp"
#include "rsfiqa/kernels/elementwise.hpp"
#include "rsfiqa/kernels/gemm.hpp"
#include "rsfiqa/ops/common.hpp"

namespace rsfiqa::ops {

struct Conv2dParams {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;
};

// Square shorthand: conv2d_params(2, 1) is stride 2, padding 1.
inline Conv2dParams conv2d_params(int64_t stride, int64_t padding, int64_t groups = 1, int64_t dilation = 1) {
  Conv2dParams p;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = padding;
  p.dilation_h = p.dilation_w = dilation;
  p.groups = groups;
  return p;
}

struct ConvTranspose2dParams {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t output_pad_h = 0, output_pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
};

inline ConvTranspose2dParams conv_transpose2d_params(int64_t stride, int64_t padding = 0, int64_t output_padding = 0) {
  ConvTranspose2dParams p;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = padding;
  p.output_pad_h = p.output_pad_w = output_padding;
  return p;
}

// Sizes of one convolution, resolved from the shapes (batch folded in N).
struct Conv2dGeometry {
  int64_t N = 1, C = 0, H = 0, W = 0;  // input
  int64_t O = 0, kh = 0, kw = 0;       // output channels, kernel
  int64_t Ho = 0, Wo = 0;              // output
};

namespace detail {

// y[o, :] = bias[o] (or 0) for the O planes of HW values of one image.
inline void fill_bias_planes(int64_t O, int64_t HW, const float* bias, float* y) {
  parallel_for(
      O,
      [&](int64_t o0, int64_t o1) {
        for (int64_t o = o0; o < o1; ++o) std::fill(y + o * HW, y + (o + 1) * HW, bias ? bias[o] : 0.0f);
      },
      std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(HW, 1)));
}

// One kernel row of a depthwise convolution at stride 1 along the row:
// yrow[ox] += sum_kx w[kx] · xrow[ox - pad + kx·dil] for ox in [0, Wf), terms
// outside [0, W) skipped. Output columns [lo, hi) see every tap inside the
// input row, and one SIMD row filter applies all the taps there; the few
// border columns take the bounds-checked loop.
inline void depthwise_row_s1(int64_t W, int64_t Wf, int64_t kw, int64_t pad, int64_t dil, const float* xrow,
                             const float* wrow, float* yrow) {
  const int64_t lo = std::min<int64_t>(Wf, pad);
  const int64_t hi = std::max<int64_t>(lo, std::min<int64_t>(Wf, W + pad - (kw - 1) * dil));
  auto border = [&](int64_t a, int64_t b) {
    for (int64_t ox = a; ox < b; ++ox)
      for (int64_t kx = 0; kx < kw; ++kx) {
        const int64_t ix = ox - pad + kx * dil;
        if (ix >= 0 && ix < W) yrow[ox] += wrow[kx] * xrow[ix];
      }
  };
  border(0, lo);
  if (lo < hi) kernels::vec_row_taps_f32(hi - lo, kw, wrow, dil, xrow + lo - pad, yrow + lo);
  border(hi, Wf);
}

// Widest row the strided depthwise path filters on the stack.
constexpr int64_t kDepthwiseRowMax = 4096;

// One depthwise plane: y[Ho, Wo] (pre-filled with the bias) += x[H, W] ⋆ w[kh, kw].
// With a column stride s > 1 the row is filtered at stride 1 into a stack
// buffer (Wf columns) and every s-th column is added: s times the
// arithmetic, but vectorised.
inline void depthwise_plane(const Conv2dGeometry& g, const Conv2dParams& p, const float* x, const float* w, float* y) {
  const int64_t Wf = g.W + 2 * p.pad_w - (g.kw - 1) * p.dilation_w;  // stride-1 output width
  const bool strided_simd = p.stride_w > 1 && Wf <= kDepthwiseRowMax;
  float full[kDepthwiseRowMax];  // 16 KiB of stack
  for (int64_t oy = 0; oy < g.Ho; ++oy) {
    float* yrow = y + oy * g.Wo;
    if (strided_simd) std::fill(full, full + Wf, 0.0f);
    for (int64_t ky = 0; ky < g.kh; ++ky) {
      const int64_t iy = oy * p.stride_h - p.pad_h + ky * p.dilation_h;
      if (iy < 0 || iy >= g.H) continue;
      const float* xrow = x + iy * g.W;
      const float* wrow = w + ky * g.kw;
      if (p.stride_w == 1) {
        depthwise_row_s1(g.W, g.Wo, g.kw, p.pad_w, p.dilation_w, xrow, wrow, yrow);
      } else if (strided_simd) {
        depthwise_row_s1(g.W, Wf, g.kw, p.pad_w, p.dilation_w, xrow, wrow, full);
      } else {
        for (int64_t ox = 0; ox < g.Wo; ++ox)
          for (int64_t kx = 0; kx < g.kw; ++kx) {
            const int64_t ix = ox * p.stride_w - p.pad_w + kx * p.dilation_w;
            if (ix >= 0 && ix < g.W) yrow[ox] += wrow[kx] * xrow[ix];
          }
      }
    }
    if (strided_simd)
      for (int64_t ox = 0; ox < g.Wo; ++ox) yrow[ox] += full[ox * p.stride_w];
  }
}

// Rows [k0, k1) of the im2col matrix for output pixels [p0, p0 + np) of one
// image and group: row k = (c, ky, kx) holds x[c, iy, ix] for every pixel
// (0 in the padding). col has np columns.
inline void im2col_rows(const Conv2dGeometry& g, const Conv2dParams& p, const float* xg, int64_t p0, int64_t np,
                        int64_t k0, int64_t k1, float* col) {
  const int64_t kk = g.kh * g.kw;
  for (int64_t k = k0; k < k1; ++k) {
    const int64_t c = k / kk, ky = (k % kk) / g.kw, kx = k % g.kw;
    const float* xc = xg + c * g.H * g.W;
    float* row = col + k * np;
    int64_t oy = p0 / g.Wo, ox = p0 % g.Wo;
    for (int64_t j = 0; j < np; ++j) {
      const int64_t iy = oy * p.stride_h - p.pad_h + ky * p.dilation_h;
      const int64_t ix = ox * p.stride_w - p.pad_w + kx * p.dilation_w;
      row[j] = (iy >= 0 && iy < g.H && ix >= 0 && ix < g.W) ? xc[iy * g.W + ix] : 0.0f;
      if (++ox == g.Wo) {
        ox = 0;
        ++oy;
      }
    }
  }
}

// Floats of im2col workspace per tile (4 MiB): bounds memory for large images.
constexpr int64_t kIm2colBudget = 1 << 20;

}  // namespace detail

// Output size of conv2d, or kShapeMismatch / kInvalidArgument naming the shapes.
inline Result<Conv2dGeometry> conv2d_geometry(const Shape& x, const Shape& w, const Conv2dParams& p) {
  if (x.ndim != 3 && x.ndim != 4)
    return make_error(ErrorCode::kShapeMismatch, "conv2d input: expected [N, C, H, W] or [C, H, W], got %s",
                      x.to_string().c_str());
  if (w.ndim != 4)
    return make_error(ErrorCode::kShapeMismatch, "conv2d weight: expected [out, in/groups, kh, kw], got %s",
                      w.to_string().c_str());
  if (p.stride_h < 1 || p.stride_w < 1 || p.dilation_h < 1 || p.dilation_w < 1 || p.pad_h < 0 || p.pad_w < 0 ||
      p.groups < 1)
    return make_error(ErrorCode::kInvalidArgument,
                      "conv2d: stride (%lld, %lld) and dilation (%lld, %lld) must be >= 1, padding (%lld, %lld) >= 0, "
                      "groups %lld >= 1",
                      (long long)p.stride_h, (long long)p.stride_w, (long long)p.dilation_h, (long long)p.dilation_w,
                      (long long)p.pad_h, (long long)p.pad_w, (long long)p.groups);
  Conv2dGeometry g;
  const int o = x.ndim - 3;
  g.N = x.ndim == 4 ? x[0] : 1;
  g.C = x[o];
  g.H = x[o + 1];
  g.W = x[o + 2];
  g.O = w[0];
  g.kh = w[2];
  g.kw = w[3];
  if (g.C % p.groups != 0 || g.O % p.groups != 0)
    return make_error(ErrorCode::kShapeMismatch,
                      "conv2d: groups %lld must divide input channels of %s and output "
                      "channels of weight %s",
                      (long long)p.groups, x.to_string().c_str(), w.to_string().c_str());
  if (w[1] != g.C / p.groups)
    return make_error(ErrorCode::kShapeMismatch,
                      "conv2d: input %s has %lld channels but weight %s expects %lld (= %lld per group x %lld groups)",
                      x.to_string().c_str(), (long long)g.C, w.to_string().c_str(), (long long)(w[1] * p.groups),
                      (long long)w[1], (long long)p.groups);
  if (g.kh < 1 || g.kw < 1)
    return make_error(ErrorCode::kShapeMismatch, "conv2d weight %s: empty kernel", w.to_string().c_str());
  const int64_t span_h = p.dilation_h * (g.kh - 1) + 1, span_w = p.dilation_w * (g.kw - 1) + 1;
  if (g.H + 2 * p.pad_h < span_h || g.W + 2 * p.pad_w < span_w)
    return make_error(ErrorCode::kShapeMismatch,
                      "conv2d: kernel of weight %s (dilated %lldx%lld) is larger than the "
                      "padded input %s",
                      w.to_string().c_str(), (long long)span_h, (long long)span_w, x.to_string().c_str());
  g.Ho = (g.H + 2 * p.pad_h - span_h) / p.stride_h + 1;
  g.Wo = (g.W + 2 * p.pad_w - span_w) / p.stride_w + 1;
  return g;
}

// Pointer form: x [N, C, H, W], weight [O, C/groups, kh, kw], bias [O] or
// null, y [N, O, Ho, Wo], sizes from conv2d_geometry. Fails only on OOM.
inline Status conv2d_f32(const Conv2dGeometry& g, const Conv2dParams& p, const float* x, const float* weight,
                         const float* bias, float* y) {
  // Per group: Cg input and Og output channels; K is the GEMM depth (one
  // output pixel's receptive field within its group).
  const int64_t G = p.groups, Cg = g.C / G, Og = g.O / G;
  const int64_t HW = g.H * g.W, HWo = g.Ho * g.Wo, K = Cg * g.kh * g.kw;
  kernels::GemmParams gp;
  gp.trans_b = false;               // B (the input or im2col tile) is K x pixels
  gp.accumulate = bias != nullptr;  // the bias is pre-filled into y

  if (g.kh == 1 && g.kw == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 && p.pad_w == 0 && G == 1) {
    // Pointwise: y[n] (O x HW) = W (O x C) · x[n] (C x HW).
    for (int64_t n = 0; n < g.N; ++n) {
      float* yn = y + n * g.O * HWo;
      if (bias) detail::fill_bias_planes(g.O, HWo, bias, yn);
      kernels::gemm_f32(g.O, HWo, g.C, weight, g.C, x + n * g.C * HW, HW, yn, HWo, gp);
    }
    return Status();
  }

  if (Cg == 1 && Og == 1) {
    // Depthwise: plane (n, c) of y depends only on plane (n, c) of x.
    parallel_for(g.N * g.C, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t c = t % g.C;
        float* yp = y + t * HWo;
        std::fill(yp, yp + HWo, bias ? bias[c] : 0.0f);
        detail::depthwise_plane(g, p, x + t * HW, weight + c * g.kh * g.kw, yp);
      }
    });
    return Status();
  }

  // General: im2col tiles of output pixels, one GEMM per group and tile.
  // A tile holds at most kIm2colBudget floats (at least 64 pixels wide), so
  // memory stays bounded for large images; small images take one tile.
  const int64_t tile = std::min<int64_t>(HWo, std::max<int64_t>(64, detail::kIm2colBudget / std::max<int64_t>(K, 1)));
  RSFIQA_ASSIGN_OR_RETURN(Buffer col, Buffer::allocate(K * tile * (int64_t)sizeof(float)));
  float* colp = static_cast<float*>(col.data());
  for (int64_t n = 0; n < g.N; ++n) {
    float* yn = y + n * g.O * HWo;
    if (bias) detail::fill_bias_planes(g.O, HWo, bias, yn);
    for (int64_t gi = 0; gi < G; ++gi) {
      const float* xg = x + (n * g.C + gi * Cg) * HW;
      const float* wg = weight + gi * Og * K;  // [Og, K] rows
      for (int64_t p0 = 0; p0 < HWo; p0 += tile) {
        const int64_t np = std::min(tile, HWo - p0);
        // col [K, np]: row k = (c, ky, kx) of this group's input, column j =
        // output pixel p0 + j; rows are independent, so they split over threads.
        parallel_for(
            K, [&](int64_t k0, int64_t k1) { detail::im2col_rows(g, p, xg, p0, np, k0, k1, colp); },
            std::max<int64_t>(1, detail::kElementwiseGrain / np));
        // y_g[:, p0 : p0 + np] (+)= W_g [Og, K] · col [K, np]; gemm_f32 owns the threads.
        kernels::gemm_f32(Og, np, K, wg, K, colp, np, yn + gi * Og * HWo + p0, HWo, gp);
      }
    }
  }
  return Status();
}

// Checked form. x [N, C, H, W] or [C, H, W]; y has the same rank.
inline Status conv2d(const TensorView& x, const TensorView& weight, const TensorView& bias, const Conv2dParams& p,
                     const TensorView& y) {
  RSFIQA_RETURN_IF_ERROR(detail::check_f32(x, "conv2d input"));
  RSFIQA_RETURN_IF_ERROR(detail::check_f32(weight, "conv2d weight"));
  RSFIQA_RETURN_IF_ERROR(detail::check_f32(y, "conv2d output"));
  RSFIQA_ASSIGN_OR_RETURN(Conv2dGeometry g, conv2d_geometry(x.shape, weight.shape, p));
  RSFIQA_RETURN_IF_ERROR(detail::check_optional_vector(bias, "conv2d bias", g.O, "output channels"));
  const Shape want = x.ndim() == 4 ? Shape{g.N, g.O, g.Ho, g.Wo} : Shape{g.O, g.Ho, g.Wo};
  if (y.shape != want)
    return make_error(ErrorCode::kShapeMismatch, "conv2d output: expected %s for input %s and weight %s, got %s",
                      want.to_string().c_str(), x.shape.to_string().c_str(), weight.shape.to_string().c_str(),
                      y.shape.to_string().c_str());
  if (y.numel() == 0) return Status();
  if (x.data == y.data) return make_error(ErrorCode::kInvalidArgument, "conv2d: output must not alias the input");
  return conv2d_f32(g, p, x.f32(), weight.f32(), detail::optional_f32(bias), y.f32());
}

// Output size of conv_transpose2d; weight is [C, O, kh, kw].
inline Result<Conv2dGeometry> conv_transpose2d_geometry(const Shape& x, const Shape& w,
                                                        const ConvTranspose2dParams& p) {
  if (x.ndim != 3 && x.ndim != 4)
    return make_error(ErrorCode::kShapeMismatch, "conv_transpose2d input: expected [N, C, H, W] or [C, H, W], got %s",
                      x.to_string().c_str());
  if (w.ndim != 4)
    return make_error(ErrorCode::kShapeMismatch, "conv_transpose2d weight: expected [in, out, kh, kw], got %s",
                      w.to_string().c_str());
  if (p.stride_h < 1 || p.stride_w < 1 || p.dilation_h < 1 || p.dilation_w < 1 || p.pad_h < 0 || p.pad_w < 0 ||
      p.output_pad_h < 0 || p.output_pad_w < 0 || (p.output_pad_h >= p.stride_h && p.output_pad_h >= p.dilation_h) ||
      (p.output_pad_w >= p.stride_w && p.output_pad_w >= p.dilation_w))
    return make_error(ErrorCode::kInvalidArgument,
                      "conv_transpose2d: bad stride/padding/output_padding/dilation (output padding must be smaller "
                      "than stride or dilation)");
  Conv2dGeometry g;
  const int o = x.ndim - 3;
  g.N = x.ndim == 4 ? x[0] : 1;
  g.C = x[o];
  g.H = x[o + 1];
  g.W = x[o + 2];
  g.O = w[1];
  g.kh = w[2];
  g.kw = w[3];
  if (w[0] != g.C)
    return make_error(ErrorCode::kShapeMismatch,
                      "conv_transpose2d: input %s has %lld channels but weight %s expects %lld", x.to_string().c_str(),
                      (long long)g.C, w.to_string().c_str(), (long long)w[0]);
  if (g.kh < 1 || g.kw < 1)
    return make_error(ErrorCode::kShapeMismatch, "conv_transpose2d weight %s: empty kernel", w.to_string().c_str());
  g.Ho = (g.H - 1) * p.stride_h - 2 * p.pad_h + p.dilation_h * (g.kh - 1) + p.output_pad_h + 1;
  g.Wo = (g.W - 1) * p.stride_w - 2 * p.pad_w + p.dilation_w * (g.kw - 1) + p.output_pad_w + 1;
  if (g.Ho < 1 || g.Wo < 1)
    return make_error(ErrorCode::kShapeMismatch,
                      "conv_transpose2d: padding leaves no output for input %s and weight %s", x.to_string().c_str(),
                      w.to_string().c_str());
  return g;
}

// Pointer form: x [N, C, H, W], weight [C, O, kh, kw], bias [O] or null,
// y [N, O, Ho, Wo]. Fails only on OOM.
inline Status conv_transpose2d_f32(const Conv2dGeometry& g, const ConvTranspose2dParams& p, const float* x,
                                   const float* weight, const float* bias, float* y) {
  const int64_t kk = g.kh * g.kw, R = g.O * kk, HW = g.H * g.W, HWo = g.Ho * g.Wo;
  // wt[(o, ky, kx), c] = weight[c, o, ky, kx]: the GEMM's A operand.
  RSFIQA_ASSIGN_OR_RETURN(Buffer wt_buf, Buffer::allocate(R * g.C * (int64_t)sizeof(float)));
  RSFIQA_ASSIGN_OR_RETURN(Buffer t_buf, Buffer::allocate(R * HW * (int64_t)sizeof(float)));
  float* wt = static_cast<float*>(wt_buf.data());
  float* t = static_cast<float*>(t_buf.data());
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t r = 0; r < R; ++r) wt[r * g.C + c] = weight[c * R + r];
  kernels::GemmParams gp;
  gp.trans_b = false;
  for (int64_t n = 0; n < g.N; ++n) {
    // t[(o, ky, kx), (iy, ix)] = sum_c weight[c, o, ky, kx] · x[n, c, iy, ix]
    kernels::gemm_f32(R, HW, g.C, wt, g.C, x + n * g.C * HW, HW, t, HW, gp);
    float* yn = y + n * g.O * HWo;
    // Scatter: y[o, iy·s - pad + ky·d, ix·s - pad + kx·d] += t[(o, ky, kx), (iy, ix)].
    parallel_for(g.O, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        float* yo = yn + o * HWo;
        std::fill(yo, yo + HWo, bias ? bias[o] : 0.0f);
        for (int64_t ky = 0; ky < g.kh; ++ky)
          for (int64_t kx = 0; kx < g.kw; ++kx) {
            const float* tr = t + ((o * g.kh + ky) * g.kw + kx) * HW;
            for (int64_t iy = 0; iy < g.H; ++iy) {
              const int64_t oy = iy * p.stride_h - p.pad_h + ky * p.dilation_h;
              if (oy < 0 || oy >= g.Ho) continue;
              for (int64_t ix = 0; ix < g.W; ++ix) {
                const int64_t ox = ix * p.stride_w - p.pad_w + kx * p.dilation_w;
                if (ox >= 0 && ox < g.Wo) yo[oy * g.Wo + ox] += tr[iy * g.W + ix];
              }
            }
          }
      }
    });
  }
  return Status();
}

// Checked form. x [N, C, H, W] or [C, H, W], weight [C, O, kh, kw], bias [O].
inline Status conv_transpose2d(const TensorView& x, const TensorView& weight, const TensorView& bias,
                               const ConvTranspose2dParams& p, const TensorView& y) {
  RSFIQA_RETURN_IF_ERROR(detail::check_f32(x, "conv_transpose2d input"));
  RSFIQA_RETURN_IF_ERROR(detail::check_f32(weight, "conv_transpose2d weight"));
  RSFIQA_RETURN_IF_ERROR(detail::check_f32(y, "conv_transpose2d output"));
  RSFIQA_ASSIGN_OR_RETURN(Conv2dGeometry g, conv_transpose2d_geometry(x.shape, weight.shape, p));
  RSFIQA_RETURN_IF_ERROR(detail::check_optional_vector(bias, "conv_transpose2d bias", g.O, "output channels"));
  const Shape want = x.ndim() == 4 ? Shape{g.N, g.O, g.Ho, g.Wo} : Shape{g.O, g.Ho, g.Wo};
  if (y.shape != want)
    return make_error(ErrorCode::kShapeMismatch,
                      "conv_transpose2d output: expected %s for input %s and weight %s, got %s",
                      want.to_string().c_str(), x.shape.to_string().c_str(), weight.shape.to_string().c_str(),
                      y.shape.to_string().c_str());
  if (y.numel() == 0) return Status();
  if (x.data == y.data)
    return make_error(ErrorCode::kInvalidArgument, "conv_transpose2d: output must not alias the input");
  return conv_transpose2d_f32(g, p, x.f32(), weight.f32(), detail::optional_f32(bias), y.f32());
}

}  // namespace rsfiqa::ops

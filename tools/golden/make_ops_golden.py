#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Golden fixtures for the model-agnostic ops, computed by PyTorch.

Writes one safetensors file per op family to tests/data/golden/ops/. Inputs
and weights are random float32 (fixed seeds); the expected outputs are
computed by torch in float64 from those float32 values and stored as float32,
so the fixtures hold PyTorch's answer, not ours. Scalars (eps, stride, ...)
travel in the safetensors "__metadata__" block as strings.

Run from anywhere with the system Python that has torch:
    python3 tools/golden/make_ops_golden.py
The tests (tests/ops/test_torch_golden.cpp) read the files with rsfiqa's own
safetensors reader and never need Python. Keep the total under 200 KB.
"""
import json
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "golden", "ops")


def write_safetensors(path, tensors, metadata):
    """Minimal safetensors writer: 8-byte little-endian header length, JSON
    header (padded with spaces to a multiple of 8), then the raw tensors."""
    header = {"__metadata__": {k: str(v) for k, v in metadata.items()}}
    blobs, offset = [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().to(torch.float32).numpy()).astype("<f4")
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    print(f"{os.path.relpath(path)}: {8 + len(h) + offset} bytes, {len(tensors)} tensors")


def rand(gen, *shape, scale=1.0, shift=0.0):
    return (torch.randn(*shape, generator=gen, dtype=torch.float32) * scale + shift)


def d(t):
    """float64 copy for the reference computation."""
    return t.to(torch.float64)


def layer_norm(gen):
    x = rand(gen, 6, 40, scale=2.0, shift=1.5)
    w, b = rand(gen, 40, scale=0.3, shift=1.0), rand(gen, 40, scale=0.5)
    eps = 1e-5
    y = F.layer_norm(d(x), (40,), d(w), d(b), eps)
    write_safetensors(os.path.join(OUT_DIR, "layer_norm.safetensors"),
                      {"x": x, "weight": w, "bias": b, "y": y}, {"eps": eps})


def layer_norm_2d(gen):
    # segment_anything.modeling.common.LayerNorm2d, written out as in SAM:
    # u = x.mean(1); s = ((x - u)^2).mean(1); x = (x - u) / sqrt(s + eps); w x + b.
    x = rand(gen, 2, 24, 5, 7, scale=1.5, shift=-0.5)
    w, b = rand(gen, 24, scale=0.3, shift=1.0), rand(gen, 24, scale=0.5)
    eps = 1e-6
    xd = d(x)
    u = xd.mean(1, keepdim=True)
    s = (xd - u).pow(2).mean(1, keepdim=True)
    y = (xd - u) / torch.sqrt(s + eps)
    y = d(w)[:, None, None] * y + d(b)[:, None, None]
    write_safetensors(os.path.join(OUT_DIR, "layer_norm_2d.safetensors"),
                      {"x": x, "weight": w, "bias": b, "y": y}, {"eps": eps})


def activations(gen):
    # A dense sweep of [-8, 8] plus random values, 1000 in all.
    x = torch.cat([torch.linspace(-8, 8, 601, dtype=torch.float32), rand(gen, 399, scale=3.0)])
    xd = d(x)
    write_safetensors(os.path.join(OUT_DIR, "activations.safetensors"),
                      {"x": x,
                       "gelu": F.gelu(xd),
                       "gelu_tanh": F.gelu(xd, approximate="tanh"),
                       "silu": F.silu(xd)}, {})


def softmax(gen):
    x = rand(gen, 8, 77, scale=5.0)
    write_safetensors(os.path.join(OUT_DIR, "softmax.safetensors"),
                      {"x": x, "y": torch.softmax(d(x), dim=-1)}, {})


def conv2d(gen):
    x = rand(gen, 1, 8, 15, 13)
    w = rand(gen, 12, 8, 3, 3, scale=0.3)
    b = rand(gen, 12, scale=0.5)
    w_dw = rand(gen, 8, 1, 3, 3, scale=0.5)
    b_dw = rand(gen, 8, scale=0.5)
    w_pw = rand(gen, 5, 8, 1, 1, scale=0.5)
    xd = d(x)
    write_safetensors(os.path.join(OUT_DIR, "conv2d.safetensors"), {
        "x": x, "weight": w, "bias": b, "weight_dw": w_dw, "bias_dw": b_dw, "weight_pw": w_pw,
        # groups = 1, stride 2, padding 1
        "y_s2p1": F.conv2d(xd, d(w), d(b), stride=2, padding=1),
        # depthwise (groups = channels), stride 1 and stride 2, padding 1
        "y_dw_s1p1": F.conv2d(xd, d(w_dw), d(b_dw), stride=1, padding=1, groups=8),
        "y_dw_s2p1": F.conv2d(xd, d(w_dw), d(b_dw), stride=2, padding=1, groups=8),
        # 1x1, no bias
        "y_pw": F.conv2d(xd, d(w_pw)),
    }, {})


def conv_transpose2d(gen):
    x = rand(gen, 1, 16, 6, 5)
    w = rand(gen, 16, 8, 2, 2, scale=0.3)  # [in, out, kh, kw]
    b = rand(gen, 8, scale=0.5)
    write_safetensors(os.path.join(OUT_DIR, "conv_transpose2d.safetensors"),
                      {"x": x, "weight": w, "bias": b,
                       "y": F.conv_transpose2d(d(x), d(w), d(b), stride=2)}, {"stride": 2})


def attention(gen):
    # softmax(q kᵀ · scale + bias, masked) v per head, written with matmul +
    # softmax (torch 1.13 has no F.scaled_dot_product_attention).
    heads, nq, nk, dh = 3, 20, 24, 16
    q, k, v = rand(gen, heads, nq, dh), rand(gen, heads, nk, dh), rand(gen, heads, nk, dh)
    bias = rand(gen, heads, nq, nk, scale=2.0)
    # Mask (1 = attend) with at least one key per query row.
    mask = (torch.rand(heads, nq, nk, generator=gen) > 0.3)
    mask[:, :, 0] = True
    scale = 1.0 / dh ** 0.5
    s = torch.matmul(d(q), d(k).transpose(-1, -2)) * scale + d(bias)
    y_bias = torch.matmul(torch.softmax(s, dim=-1), d(v))
    y_bias_mask = torch.matmul(torch.softmax(s.masked_fill(~mask, float("-inf")), dim=-1), d(v))
    write_safetensors(os.path.join(OUT_DIR, "attention.safetensors"),
                      {"q": q, "k": k, "v": v, "bias": bias, "mask": mask.to(torch.float32),
                       "y_bias": y_bias, "y_bias_mask": y_bias_mask}, {"scale": repr(scale)})


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    gen = torch.Generator().manual_seed(20261126)
    layer_norm(gen)
    layer_norm_2d(gen)
    activations(gen)
    softmax(gen)
    conv2d(gen)
    conv_transpose2d(gen)
    attention(gen)


if __name__ == "__main__":
    main()

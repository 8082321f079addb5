#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Golden outputs for Region-aware Semantic Attention (ops/region_attention.hpp).

An independent PyTorch implementation of the definition in docs/rsa.md,
written as plain masked attention (no sorting, no blocks):

    per head h:  out_h = softmax(q_h @ k_h.T * scale + M) @ v_h

  strict         M_ij = 0 if labels[i] == labels[j] else -inf
  strict_global  keys/values get G extra rows, the mean key / mean value of
                 each non-empty region (label order), open to every query
  bias           M_ij = 0 if labels[i] == labels[j] else -beta_h

It draws one small fixed random case (a 6 x 7 token grid, 2 heads of size 8,
region ids 0..6 with id 4 unused) and writes one file per variant to
tests/data/golden/rsa/<variant>.bin. Computed in float64, stored as float32.
Run with Debian's PyTorch:  python3 tools/golden/make_rsa_golden.py

File format (little-endian, no padding):
    char[4]  magic "RSAG"
    int32    version (1)
    int32    N          tokens
    int32    H          heads
    int32    Dh         head size (dim = H * Dh)
    int32    K          label range, labels in [0, K)
    int32    variant    0 strict, 1 strict+global, 2 bias
    float32  scale      1 / sqrt(Dh)
    float32  beta[H]    per-head penalty (used by bias only)
    int32    labels[N]
    float32  qkv[N, 3 * dim]   columns q | k | v, each H blocks of Dh
    float32  out[N, dim]       expected output, heads concatenated
"""
import os
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "..", "..", "tests", "data", "golden", "rsa")


def make_labels(gen, h, w):
    """Voronoi cells of 6 seeds, renumbered so that id 4 is unused (a gap)."""
    seeds = torch.stack([torch.randint(0, h, (6,), generator=gen), torch.randint(0, w, (6,), generator=gen)], 1)
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    pos = torch.stack([ys.reshape(-1), xs.reshape(-1)], 1)
    d = ((pos[:, None, :] - seeds[None, :, :]) ** 2).sum(-1)
    cell = d.argmin(1)
    remap = torch.tensor([0, 1, 2, 3, 5, 6])
    return remap[cell].to(torch.int32)


def rsa_torch(q, k, v, labels, heads, dh, variant, betas):
    """Masked dense attention in float64; q, k, v: [N, H*Dh]."""
    n = q.shape[0]
    scale = 1.0 / (dh ** 0.5)
    same = labels[:, None] == labels[None, :]
    if variant == "strict_global":
        present = sorted(set(labels.tolist()))
        ks = torch.stack([k[labels == r].mean(0) for r in present])
        vs = torch.stack([v[labels == r].mean(0) for r in present])
        k = torch.cat([k, ks], 0)
        v = torch.cat([v, vs], 0)
        same = torch.cat([same, torch.ones(n, len(present), dtype=torch.bool)], 1)
    outs = []
    for h in range(heads):
        cols = slice(h * dh, (h + 1) * dh)
        s = q[:, cols] @ k[:, cols].T * scale
        if variant == "bias":
            mask = torch.where(same, 0.0, -float(betas[h])).to(torch.float64)
        else:
            mask = torch.where(same, 0.0, float("-inf")).to(torch.float64)
        outs.append(torch.softmax(s + mask, dim=-1) @ v[:, cols])
    return torch.cat(outs, 1), scale


def main():
    gen = torch.Generator().manual_seed(20261126)
    h, w, heads, dh, kreg = 6, 7, 2, 8, 7
    n, dim = h * w, heads * dh
    labels = make_labels(gen, h, w)
    qkv = torch.randn(n, 3 * dim, generator=gen, dtype=torch.float32)
    betas = torch.tensor([1.5, 3.0], dtype=torch.float32)
    q, k, v = (qkv[:, i * dim:(i + 1) * dim].to(torch.float64) for i in range(3))
    os.makedirs(OUT_DIR, exist_ok=True)
    for code, variant in enumerate(["strict", "strict_global", "bias"]):
        out, scale = rsa_torch(q, k, v, labels, heads, dh, variant, betas)
        path = os.path.join(OUT_DIR, variant + ".bin")
        with open(path, "wb") as f:
            f.write(b"RSAG")
            f.write(struct.pack("<6i", 1, n, heads, dh, kreg, code))
            f.write(struct.pack("<f", scale))
            f.write(betas.numpy().astype("<f4").tobytes())
            f.write(labels.numpy().astype("<i4").tobytes())
            f.write(qkv.numpy().astype("<f4").tobytes())
            f.write(out.to(torch.float32).numpy().astype("<f4").tobytes())
        print(f"{path}: N={n} heads={heads} head_dim={dh} K={kreg} regions present="
              f"{sorted(set(labels.tolist()))}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Golden Q5_0 / Q5_1 blocks for tests/kernels/test_quant.cpp, from an
independent numpy reference of ggml's reference quantizers
(quantize_row_q5_0_ref / quantize_row_q5_1_ref in ggml-quants.c), in the form
llama.cpp's x86-64 builds run them and gguf-py reproduces: the level is
trunc(x*id + 16.5) (Q5_0) or trunc((x - min)*id + 0.5) (Q5_1) with the
multiply-add rounded once to float32 (the compilers fuse ggml's two float
operations into an FMA).

Output: tests/data/golden/quant/q5_blocks.bin, little-endian:
  u32 n                   number of blocks
  n x 32 float32          the input blocks
  n x 22 bytes            Q5_0 blocks  (d f16, qh[4], qs[16])
  n x 24 bytes            Q5_1 blocks  (d f16, m f16, qh[4], qs[16])

The inputs: Gaussian blocks, a block of zeros, a constant block, blocks with
the largest magnitude negative and positive, and blocks holding values for
which the fused and the two-step (round the product, then the sum) rounding
give different levels; the script finds those by search and reports how
many blocks differ between the two forms (4 for Q5_0, none found for Q5_1),
so the test checks the fused form.

Needs Debian's python3-numpy. Run from the repository root:
  /usr/bin/python3 tools/golden/make_q5_golden.py
The tests never need Python: the output is committed.
"""
import os
import struct

import numpy as np

OUT = os.path.join("tests", "data", "golden", "quant", "q5_blocks.bin")
F32 = np.float32


def pack_levels(q):
    """32 levels 0..31 -> (qh as 4 bytes, qs as 16 bytes)."""
    q = [int(v) for v in q]
    qs = bytes((q[j] & 15) | ((q[j + 16] & 15) << 4) for j in range(16))
    h = 0
    for j in range(32):
        h |= ((q[j] >> 4) & 1) << j
    return struct.pack("<I", h), qs


def levels_q5_0(x, fused=True):
    x = x.astype(F32)
    amax, mx = F32(0), F32(0)
    for v in x:  # first value of largest magnitude, as the C loop
        if amax < abs(v):
            amax, mx = abs(v), v
    d = F32(mx / F32(-16))
    idv = F32(F32(1) / d) if d != 0 else F32(0)
    if fused:
        v = (x.astype(np.float64) * np.float64(idv) + 16.5).astype(F32)
    else:
        v = (x * idv).astype(F32) + F32(16.5)
    q = np.minimum(np.trunc(v), 31).astype(np.int64)
    return d, q


def levels_q5_1(x, fused=True):
    x = x.astype(F32)
    mn, mx = x.min(), x.max()
    d = F32((mx - mn) / F32(31))
    idv = F32(F32(1) / d) if d != 0 else F32(0)
    diff = (x - mn).astype(F32)
    if fused:
        v = (diff.astype(np.float64) * np.float64(idv) + 0.5).astype(F32)
    else:
        v = (diff * idv).astype(F32) + F32(0.5)
    q = np.minimum(np.trunc(v), 31).astype(np.int64)
    return d, mn, q


def block_q5_0(x):
    d, q = levels_q5_0(x)
    qh, qs = pack_levels(q)
    return np.array([d], dtype=np.float16).tobytes() + qh + qs


def block_q5_1(x):
    d, mn, q = levels_q5_1(x)
    qh, qs = pack_levels(q)
    return np.array([d], dtype=np.float16).tobytes() + np.array([mn], dtype=np.float16).tobytes() + qh + qs


def find_rounding_cases(rng, kind, want, max_tries):
    """Blocks where the fused and the two-step rounding give other levels."""
    found = []
    tries = 0
    while len(found) < want and tries < max_tries:
        tries += 1
        x = rng.normal(0, 1, 32).astype(F32)
        # Put values on the edge between two levels: x = (k + 0.5 - off)/id
        # for the block's own id, nudged by a few ulps either way.
        if kind == 0:
            d, _ = levels_q5_0(x)
            idv = F32(1) / d
            base = np.arange(1, 32, dtype=F32)
            cand = ((base - F32(16.5)) / idv).astype(F32)
        else:
            d, mn, _ = levels_q5_1(x)
            idv = F32(1) / d
            cand = (mn + (np.arange(1, 32, dtype=F32) - F32(0.5)) / idv).astype(F32)
        for k in range(1, 31):
            for nudge in (-2, -1, 1, 2):
                y = x.copy()
                y[k] = np.nextafter(cand[k - 1], F32(np.sign(nudge) * np.inf), dtype=F32)
                if abs(nudge) == 2:
                    y[k] = np.nextafter(y[k], F32(np.sign(nudge) * np.inf), dtype=F32)
                if np.abs(y).argmax() == np.abs(x).argmax() and abs(y[k]) < np.abs(x).max() and y.min() == x.min() \
                        and y.max() == x.max():
                    f = levels_q5_0(y) if kind == 0 else levels_q5_1(y)
                    u = levels_q5_0(y, fused=False) if kind == 0 else levels_q5_1(y, fused=False)
                    if not np.array_equal(f[-1], u[-1]):
                        found.append(y)
                        break
            if len(found) >= want:
                break
    return found


def main():
    rng = np.random.default_rng(20261127)
    blocks = [rng.normal(0, s, 32).astype(F32) for s in (1.0, 0.02, 300.0) for _ in range(3)]
    blocks.append(np.zeros(32, F32))
    blocks.append(np.full(32, 0.75, F32))
    neg = rng.normal(0, 1, 32).astype(F32)
    neg[7] = F32(-9.5)
    blocks.append(neg)
    pos = rng.normal(0, 1, 32).astype(F32)
    pos[30] = F32(7.25)
    blocks.append(pos)
    # Q5_0 adds 16.5 to products in [-16, 16], so the sum often lands in
    # another binade than the product and a second rounding can move a level.
    # Q5_1 adds 0.5 to products in [0, 31], mostly exact in float32: cases
    # are rare there and the search gives up after a few hundred blocks.
    r0 = find_rounding_cases(rng, 0, 4, 20000)
    r1 = find_rounding_cases(rng, 1, 4, 300)
    blocks += r0 + r1
    q50 = b"".join(block_q5_0(b) for b in blocks)
    q51 = b"".join(block_q5_1(b) for b in blocks)
    differ0 = sum(not np.array_equal(levels_q5_0(b)[1], levels_q5_0(b, fused=False)[1]) for b in blocks)
    differ1 = sum(not np.array_equal(levels_q5_1(b)[2], levels_q5_1(b, fused=False)[2]) for b in blocks)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "wb") as f:
        f.write(struct.pack("<I", len(blocks)))
        f.write(np.concatenate(blocks).astype("<f4").tobytes())
        f.write(q50)
        f.write(q51)
    print(f"{OUT}: {len(blocks)} blocks; fused and two-step rounding differ in {differ0} Q5_0 and "
          f"{differ1} Q5_1 blocks")


if __name__ == "__main__":
    main()

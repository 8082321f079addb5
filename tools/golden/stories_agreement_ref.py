#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Teacher-forced top-1 agreement of quantized stories260K copies with the F32
model, computed by the float64 PyTorch reference decoder of
make_llm_golden.py instead of the engine: weights are dequantized from the
GGUF copy (F32, F16, Q8_0, Q4_0, Q5_0), activations stay float64.

It separates what the weights' format costs from what the engine's
arithmetic (8-bit activations, float summation order) adds: the engine's
tests/models/test_llm_stories.cpp measures the same positions with the
engine. Positions: BOS plus the F32 model's greedy continuation (its first
121 tokens are the published text of ../shared/models/README.md), logits at
every position, first 121 and first 401 positions.

Analysis only; no test needs it. Needs Debian's python3-torch, python3-numpy
and python3-regex. From the repository root, after making copies with
`rsfiqa quantize ../shared/models/stories260K.gguf OUT.gguf q4_0` (etc.):

    /usr/bin/python3 tools/golden/stories_agreement_ref.py OUT.gguf [MORE.gguf ...]
"""
import sys

import numpy as np
import torch

sys.path.insert(0, "tools/golden")
from make_llm_golden import RefDecoder, read_gguf_header  # noqa: E402

STORIES = "../shared/models/stories260K.gguf"

def _f16(blocks):
    """First two bytes of each block row as float64 (the f16 block scale d)."""
    return blocks[:, :2].copy().view(np.float16).astype(np.float64)


def dequantize(buf, ggml_type, n, pos):
    """n values of one tensor starting at byte pos, as float64."""
    if ggml_type == 0:  # F32
        return np.frombuffer(buf, np.float32, n, pos).astype(np.float64)
    if ggml_type == 1:  # F16
        return np.frombuffer(buf, np.float16, n, pos).astype(np.float64)
    nb = n // 32
    if ggml_type == 8:  # Q8_0: d, 32 int8
        blk = np.frombuffer(buf, np.uint8, nb * 34, pos).reshape(nb, 34)
        return (blk[:, 2:].view(np.int8).astype(np.float64) * _f16(blk)).reshape(-1)
    if ggml_type == 2:  # Q4_0: d, 16 bytes of nibbles (low: elements 0..15, high: 16..31), level - 8
        blk = np.frombuffer(buf, np.uint8, nb * 18, pos).reshape(nb, 18)
        q = np.concatenate([blk[:, 2:] & 15, blk[:, 2:] >> 4], axis=1).astype(np.float64) - 8
        return (q * _f16(blk)).reshape(-1)
    if ggml_type == 6:  # Q5_0: d, qh (bit e = bit 4 of element e), nibbles as Q4_0, level - 16
        blk = np.frombuffer(buf, np.uint8, nb * 22, pos).reshape(nb, 22)
        qh = blk[:, 2:6].copy().view(np.uint32)[:, 0].astype(np.int64)
        lo = np.concatenate([blk[:, 6:] & 15, blk[:, 6:] >> 4], axis=1).astype(np.int64)
        hi = (qh[:, None] >> np.arange(32)[None, :]) & 1
        q = ((lo | (hi << 4)) - 16).astype(np.float64)
        return (q * _f16(blk)).reshape(-1)
    raise SystemExit(f"tensor type {ggml_type} is not handled here")


def read_gguf(path):
    """(metadata dict, {tensor name: float64 torch tensor in PyTorch order})."""
    buf = open(path, "rb").read()
    kv, infos, data = read_gguf_header(buf)
    weights = {}
    for name, dims, t, off in infos:
        a = dequantize(buf, t, int(np.prod(dims)), data + off)
        weights[name] = torch.from_numpy(a.reshape(list(reversed(dims))).copy())
    return kv, weights

def main():
    kv0, W0 = read_gguf(STORIES)
    cfg = dict(n_head=kv0["llama.attention.head_count"], n_head_kv=kv0["llama.attention.head_count_kv"],
               n_layer=kv0["llama.block_count"], eps=kv0["llama.attention.layer_norm_rms_epsilon"],
               theta=kv0.get("llama.rope.freq_base", 10000.0), neox=False)
    cfg["head_dim"] = kv0["llama.embedding_length"] // cfg["n_head"]
    cfg["n_rot"] = cfg["head_dim"]
    ref = RefDecoder(cfg, W0)
    ids = [1]  # BOS
    with torch.no_grad():
        while len(ids) < 401:
            ids.append(int(ref.forward(ids)[-1].argmax()))
        want = ref.forward(ids).argmax(-1)
        for path in sys.argv[1:]:
            _, Wq = read_gguf(path)
            got = RefDecoder(cfg, Wq).forward(ids).argmax(-1)
            for n in (121, 401):
                agree = int((got[:n] == want[:n]).sum())
                print(f"{path}: float64 reference, first {n} positions: top-1 agreement {agree / n:.4f} ({agree}/{n})")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Golden outputs for the plain-ViT SAM image encoder (models/sam/vit.hpp).

An independent PyTorch reference of SAM's ImageEncoderViT written as plain
functions over a state_dict with the official key names
(image_encoder.patch_embed.proj.weight, image_encoder.blocks.N.attn.qkv.weight,
image_encoder.blocks.N.attn.rel_pos_h, image_encoder.neck.0.weight, ...). It
follows the published description of the model: 16x16 patch embedding,
absolute position embedding, blocks with windowed attention (zero padding
bottom/right after norm1) or global attention, decomposed relative position
terms (tables resampled by linear interpolation when their length is not
2S - 1), MLP with exact GELU, and the neck conv1x1 -> LayerNorm2d -> conv3x3
-> LayerNorm2d. Computed in float64; the engine runs float32.

Weights and input are not stored: both sides draw them from the same
deterministic generator (splitmix64 over an FNV-1a hash of the tensor name,
see `uniform`), so the C++ test rebuilds the identical model
(tests/models/test_vit_util.hpp). Every value is a 24-bit uniform in [-1, 1)
times a power of two, exact in float32.

Writes:
  tests/data/golden/vit_small.safetensors  reduced model (2 blocks, width 64,
      4 heads, one windowed and one global block, 128x128 input, patch 8,
      window 6 with padding, the global block's rel-pos tables of length 19
      resampled to 31): the full embedding [32, 16, 16] and tokens [256, 64].
  tests/data/golden/vit_b_stats.safetensors  full ViT-B shapes at 1024x1024:
      embedding statistics and every 997th value (--skip-vit-b to skip; it
      takes a few minutes on two cores).

Run with Debian's PyTorch:  python3 tools/golden/make_vit_golden.py
The ViT-B part is about 1 TFLOP in float64: with Debian's default reference
BLAS that is an hour of CPU; with OpenBLAS (libopenblas0-pthread, possibly
only on LD_LIBRARY_PATH for this run) it is a few minutes.
"""
import argparse
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "..", "..", "tests", "data", "golden")

# ---------------------------------------------------------------- generator

M64 = (1 << 64) - 1


def fnv1a64(s):
    h = 0xCBF29CE484222325
    for b in s.encode("utf-8"):
        h ^= b
        h = (h * 0x100000001B3) & M64
    return h


def uniform(name, n):
    """n float32 values in [-1, 1): splitmix64(fnv1a64(name) + (j + 1)·gamma)
    for j < n, top 24 bits scaled by 2^-23, minus 1."""
    with np.errstate(over="ignore"):
        j = np.arange(1, n + 1, dtype=np.uint64)
        z = np.uint64(fnv1a64(name)) + j * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    top = (z >> np.uint64(40)).astype(np.float64)
    return (top * 2.0 ** -23 - 1.0).astype(np.float32)


def amplitude_exp(name, shape):
    """Power-of-two exponent e of the tensor's amplitude 2^-e, and the offset."""
    if name.endswith("rel_pos_h") or name.endswith("rel_pos_w"):
        return 2, 0.0
    if name.endswith("pos_embed"):
        return 3, 0.0
    if len(shape) == 1:
        # LayerNorm weights around 1, every other vector (biases) small.
        is_norm = ".norm" in name or name.startswith(("image_encoder.neck.1.", "image_encoder.neck.3."))
        if is_norm and name.endswith(".weight"):
            return 3, 1.0
        return 4 if is_norm else 5, 0.0
    fan_in = int(np.prod(shape[1:]))
    return (fan_in.bit_length() - 1) // 2, 0.0


def random_tensor(name, shape):
    e, off = amplitude_exp(name, shape)
    u = uniform(name, int(np.prod(shape)))
    v = u * np.float32(2.0 ** -e)
    if off != 0.0:
        v = np.float32(off) + v
    return torch.from_numpy(v.reshape(shape).copy())


def random_input(cfg):
    s = cfg["img_size"]
    return torch.from_numpy((uniform("input", 3 * s * s) * np.float32(2.0)).reshape(3, s, s).copy())


# ---------------------------------------------------------------- model spec


def tensor_shapes(cfg, rel_len=None):
    """Official state_dict names and shapes; rel_len maps block -> stored table length."""
    D, p, G = cfg["embed_dim"], cfg["patch_size"], cfg["img_size"] // cfg["patch_size"]
    hd = D // cfg["num_heads"]
    pre = "image_encoder."
    out = [(pre + "patch_embed.proj.weight", (D, cfg["in_chans"], p, p)), (pre + "patch_embed.proj.bias", (D,))]
    if cfg["use_abs_pos"]:
        out.append((pre + "pos_embed", (1, G, G, D)))
    for i in range(cfg["depth"]):
        b = pre + "blocks.%d." % i
        S = G if (i in cfg["global_attn_indexes"] or cfg["window_size"] == 0) else cfg["window_size"]
        n = (rel_len or {}).get(i, 2 * S - 1)
        out += [(b + "norm1.weight", (D,)), (b + "norm1.bias", (D,)), (b + "attn.qkv.weight", (3 * D, D))]
        if cfg["qkv_bias"]:
            out.append((b + "attn.qkv.bias", (3 * D,)))
        out += [(b + "attn.proj.weight", (D, D)), (b + "attn.proj.bias", (D,))]
        if cfg["use_rel_pos"]:
            out += [(b + "attn.rel_pos_h", (n, hd)), (b + "attn.rel_pos_w", (n, hd))]
        out += [(b + "norm2.weight", (D,)), (b + "norm2.bias", (D,)),
                (b + "mlp.lin1.weight", (cfg["mlp_dim"], D)), (b + "mlp.lin1.bias", (cfg["mlp_dim"],)),
                (b + "mlp.lin2.weight", (D, cfg["mlp_dim"])), (b + "mlp.lin2.bias", (D,))]
    E = cfg["out_chans"]
    out += [(pre + "neck.0.weight", (E, D, 1, 1)), (pre + "neck.1.weight", (E,)), (pre + "neck.1.bias", (E,)),
            (pre + "neck.2.weight", (E, E, 3, 3)), (pre + "neck.3.weight", (E,)), (pre + "neck.3.bias", (E,))]
    return out


# ---------------------------------------------------------------- reference


def layer_norm_2d(x, w, b, eps):
    """x [C, H, W]: normalise over C per pixel (SAM's LayerNorm2d)."""
    u = x.mean(0, keepdim=True)
    s = (x - u).pow(2).mean(0, keepdim=True)
    x = (x - u) / torch.sqrt(s + eps)
    return w[:, None, None] * x + b[:, None, None]


def rel_table(table, S):
    """Rows of `table` for offsets -(S-1)..S-1, resampled if its length differs."""
    n = 2 * S - 1
    if table.shape[0] != n:
        t = F.interpolate(table.t().unsqueeze(0), size=n, mode="linear", align_corners=False)
        table = t.squeeze(0).t()
    q = torch.arange(S)[:, None]
    k = torch.arange(S)[None, :]
    return table[(q - k + (S - 1)).long()]  # [S, S, hd]


def attention(x, sd, b, heads, rel):
    """x [h, w, D] (one window or the whole grid) -> [h, w, D] before proj."""
    h, w, D = x.shape
    hd = D // heads
    qkv = F.linear(x.reshape(h * w, D), sd[b + "attn.qkv.weight"], sd.get(b + "attn.qkv.bias"))
    qkv = qkv.reshape(h * w, 3, heads, hd).permute(1, 2, 0, 3)  # [3, heads, hw, hd]
    outs = []
    for n in range(heads):  # one head at a time keeps ViT-B's global scores at 4096² per head
        q, k, v = qkv[0, n], qkv[1, n], qkv[2, n]  # [hw, hd]
        att = (q * hd ** -0.5) @ k.t()  # [hw, hw]
        if rel:
            Rh = rel_table(sd[b + "attn.rel_pos_h"], h)  # [h, h, hd]
            Rw = rel_table(sd[b + "attn.rel_pos_w"], w)
            rq = q.reshape(h, w, hd)
            rel_h = torch.einsum("hwc,hkc->hwk", rq, Rh)
            rel_w = torch.einsum("hwc,wkc->hwk", rq, Rw)
            att = (att.reshape(h, w, h, w) + rel_h[:, :, :, None] + rel_w[:, :, None, :]).reshape(h * w, h * w)
        outs.append(att.softmax(-1) @ v)
    o = torch.stack(outs)  # [heads, hw, hd]
    return o.permute(1, 0, 2).reshape(h, w, D)


def block(x, sd, i, cfg):
    b = "image_encoder.blocks.%d." % i
    G, D = x.shape[0], x.shape[2]
    eps = cfg["layer_norm_eps"]
    y = F.layer_norm(x, (D,), sd[b + "norm1.weight"], sd[b + "norm1.bias"], eps)
    ws = cfg["window_size"]
    if i in cfg["global_attn_indexes"] or ws == 0:
        y = attention(y, sd, b, cfg["num_heads"], cfg["use_rel_pos"])
    else:
        pad = (ws - G % ws) % ws
        yp = F.pad(y, (0, 0, 0, pad, 0, pad))  # zeros bottom/right
        P = G + pad
        out = torch.zeros_like(yp)
        for wy in range(0, P, ws):
            for wx in range(0, P, ws):
                out[wy:wy + ws, wx:wx + ws] = attention(yp[wy:wy + ws, wx:wx + ws], sd, b, cfg["num_heads"],
                                                        cfg["use_rel_pos"])
        y = out[:G, :G]
    y = F.linear(y, sd[b + "attn.proj.weight"], sd[b + "attn.proj.bias"])
    x = x + y
    y = F.layer_norm(x, (D,), sd[b + "norm2.weight"], sd[b + "norm2.bias"], eps)
    y = F.linear(F.gelu(F.linear(y, sd[b + "mlp.lin1.weight"], sd[b + "mlp.lin1.bias"])), sd[b + "mlp.lin2.weight"],
                 sd[b + "mlp.lin2.bias"])
    return x + y


def encoder(img, sd, cfg):
    """img [3, S, S] -> (embedding [E, G, G], tokens [G·G, D])."""
    p = "image_encoder."
    x = F.conv2d(img[None], sd[p + "patch_embed.proj.weight"], sd[p + "patch_embed.proj.bias"],
                 stride=cfg["patch_size"])[0].permute(1, 2, 0)  # [G, G, D]
    if cfg["use_abs_pos"]:
        x = x + sd[p + "pos_embed"][0]
    for i in range(cfg["depth"]):
        x = block(x, sd, i, cfg)
    G, D = x.shape[0], x.shape[2]
    tokens = x.reshape(G * G, D)
    eps = cfg["neck_layer_norm_eps"]
    y = F.conv2d(x.permute(2, 0, 1)[None], sd[p + "neck.0.weight"])[0]
    y = layer_norm_2d(y, sd[p + "neck.1.weight"], sd[p + "neck.1.bias"], eps)
    y = F.conv2d(y[None], sd[p + "neck.2.weight"], padding=1)[0]
    y = layer_norm_2d(y, sd[p + "neck.3.weight"], sd[p + "neck.3.bias"], eps)
    return y, tokens


# ---------------------------------------------------------------- output


def write_safetensors(path, tensors, metadata):
    """Minimal safetensors writer (name -> numpy array), header padded to 8."""
    header, blobs, off = {"__metadata__": metadata}, [], 0
    codes = {np.dtype("float32"): "F32", np.dtype("float64"): "F64", np.dtype("int64"): "I64"}
    for name, a in tensors:
        a = np.ascontiguousarray(a)
        raw = a.tobytes()
        header[name] = {"dtype": codes[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def run(cfg, rel_len):
    sd = {n: random_tensor(n, s).double() for n, s in tensor_shapes(cfg, rel_len)}
    img = random_input(cfg).double()
    with torch.no_grad():
        return encoder(img, sd, cfg)


SMALL = {"arch": "custom", "img_size": 128, "patch_size": 8, "in_chans": 3, "embed_dim": 64, "depth": 2,
         "num_heads": 4, "mlp_dim": 256, "out_chans": 32, "window_size": 6, "global_attn_indexes": [1],
         "use_abs_pos": True, "use_rel_pos": True, "qkv_bias": True, "layer_norm_eps": 1e-6,
         "neck_layer_norm_eps": 1e-6, "activation": "gelu_erf"}
SMALL_REL_LEN = {1: 19}  # block 1's tables are stored shorter than 2·16 - 1 = 31

VIT_B = {"arch": "vit_b", "img_size": 1024, "patch_size": 16, "in_chans": 3, "embed_dim": 768, "depth": 12,
         "num_heads": 12, "mlp_dim": 3072, "out_chans": 256, "window_size": 14, "global_attn_indexes": [2, 5, 8, 11],
         "use_abs_pos": True, "use_rel_pos": True, "qkv_bias": True, "layer_norm_eps": 1e-6,
         "neck_layer_norm_eps": 1e-6, "activation": "gelu_erf"}
SAMPLE_STRIDE = 997


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-vit-b", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(OUT_DIR, exist_ok=True)

    emb, tok = run(SMALL, SMALL_REL_LEN)
    md = {"config": json.dumps(SMALL), "rel_pos_lengths": json.dumps({str(k): v for k, v in SMALL_REL_LEN.items()}),
          "generator": "splitmix64-fnv1a-v1", "reference": "tools/golden/make_vit_golden.py (float64)"}
    write_safetensors(os.path.join(OUT_DIR, "vit_small.safetensors"),
                      [("embedding", emb.float().numpy()), ("tokens", tok.float().numpy())], md)
    print("vit_small: embedding", tuple(emb.shape), "max |v| %.4f" % emb.abs().max().item())

    if args.skip_vit_b:
        return
    emb, _ = run(VIT_B, {})
    flat = emb.reshape(-1)
    idx = torch.arange(0, flat.numel(), SAMPLE_STRIDE)
    stats = np.array([flat.mean().item(), flat.std(unbiased=False).item(), flat.min().item(), flat.max().item(),
                      flat.abs().max().item(), math.sqrt(flat.pow(2).sum().item())], dtype=np.float64)
    md = {"config": json.dumps(VIT_B), "generator": "splitmix64-fnv1a-v1",
          "stats": "mean, std, min, max, max_abs, frobenius", "sample_stride": str(SAMPLE_STRIDE),
          "reference": "tools/golden/make_vit_golden.py (float64)"}
    write_safetensors(os.path.join(OUT_DIR, "vit_b_stats.safetensors"),
                      [("stats", stats), ("sample_index", idx.numpy().astype(np.int64)),
                       ("sample_value", flat[idx].float().numpy())], md)
    print("vit_b: stats", stats)


if __name__ == "__main__":
    main()

# SPDX-License-Identifier: MIT
"""PyTorch twin of the rsfiqa quality network (include/rsfiqa/models/quality/quality_net.hpp).

Used for training and for the parity goldens. It implements the network
literally: region-restricted attention is dense attention over all N keys
with an additive mask (-inf across regions for `strict`, -beta_h for `bias`;
`strict+global` appends one summary key/value per non-empty region, the mean
of that region's key/value rows, visible to every query). It therefore does
not share the sorted-block fast form of the C++ op, which the parity test
checks as a side effect. Parameter names equal the tensor names of the C++
weight spec, so `state_dict()` is the weights file.

Shapes follow PyTorch: features [N, n_in], labels [N] int64, one image at a
time (the training script batches images by looping or padding itself).
Run with Debian's python3-torch; never needed at run time.
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MODEL_KIND = "rsfiqa_quality"
PROFILE_DIMS = ("blur", "noise", "compression", "color", "exposure")


def default_config(**kw):
    """The shipped architecture (QualityConfig::full() in C++)."""
    c = dict(arch=MODEL_KIND, feature_set="rsfiqa-features-v1", n_deep=544, n_low=18, dim=128,
             depth=2, heads=4, mlp_ratio=2, head_hidden=64, variant="strict", ln_eps=1e-5)
    c.update(kw)
    return c


class Mlp(nn.Module):
    """Linear -> GELU (erf) -> Linear."""

    def __init__(self, d_in, hidden, d_out):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)  # weight [hidden, d_in]
        self.fc2 = nn.Linear(hidden, d_out)  # weight [d_out, hidden]

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class RegionAttention(nn.Module):
    """Multi-head self-attention restricted by region labels (masked dense form)."""

    def __init__(self, dim, heads, variant):
        super().__init__()
        self.dim, self.heads, self.variant = dim, heads, variant
        self.qkv = nn.Linear(dim, 3 * dim)  # [3 dim, dim]: q | k | v
        self.proj = nn.Linear(dim, dim)
        if variant == "bias":
            # Penalty added (negated) to scores across regions, one per head.
            self.beta = nn.Parameter(torch.full((heads,), 4.0))

    def forward(self, x, labels):
        n, d = x.shape
        h, dh = self.heads, d // self.heads
        qkv = self.qkv(x)  # [N, 3 dim]
        q, k, v = qkv[:, :d], qkv[:, d:2 * d], qkv[:, 2 * d:]
        same = labels[:, None] == labels[None, :]  # [N, N]
        if self.variant == "strict+global":
            regions = torch.unique(labels)  # sorted non-empty labels
            onehot = (labels[None, :] == regions[:, None]).to(x.dtype)  # [G, N]
            cnt = onehot.sum(1, keepdim=True)
            k = torch.cat([k, onehot @ k / cnt], 0)  # [N + G, dim]
            v = torch.cat([v, onehot @ v / cnt], 0)
            same = torch.cat([same, torch.ones(n, regions.numel(), dtype=torch.bool)], 1)
        qh = q.view(n, h, dh).transpose(0, 1)  # [H, N, dh]
        kh = k.view(-1, h, dh).transpose(0, 1)  # [H, N(+G), dh]
        vh = v.view(-1, h, dh).transpose(0, 1)
        s = qh @ kh.transpose(1, 2) / math.sqrt(dh)  # [H, N, N(+G)]
        if self.variant == "bias":
            mask = (~same).to(x.dtype)[None] * (-self.beta[:, None, None])
        else:
            mask = torch.zeros(same.shape, dtype=x.dtype).masked_fill(~same, float("-inf"))[None]
        a = torch.softmax(s + mask, dim=-1) @ vh  # [H, N, dh]
        return self.proj(a.transpose(0, 1).reshape(n, d))


class Block(nn.Module):
    """Pre-norm block: x += RSA(LN(x)); x += MLP(LN(x))."""

    def __init__(self, c):
        super().__init__()
        d = c["dim"]
        self.norm1 = nn.LayerNorm(d, eps=c["ln_eps"])
        self.attn = RegionAttention(d, c["heads"], c["variant"])
        self.norm2 = nn.LayerNorm(d, eps=c["ln_eps"])
        self.mlp = Mlp(d, c["mlp_ratio"] * d, d)

    def forward(self, x, labels):
        x = x + self.attn(self.norm1(x), labels)
        return x + self.mlp(self.norm2(x))


class QualityNet(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = dict(c)
        n_in, d, e = c["n_deep"] + c["n_low"], c["dim"], c["ln_eps"]
        # Fixed standardisation constants (set from training-set statistics).
        self.register_buffer("feat_mean", torch.zeros(n_in))
        self.register_buffer("feat_std", torch.ones(n_in))
        self.in_norm = nn.LayerNorm(n_in, eps=e)
        self.in_proj = nn.Linear(n_in, d)
        self.blocks = nn.ModuleList([Block(c) for _ in range(c["depth"])])
        self.pool_norm = nn.LayerNorm(d, eps=e)
        self.pool_score = nn.Linear(d, 1)
        self.head_norm = nn.LayerNorm(d, eps=e)
        self.quality_head = Mlp(d, c["head_hidden"], 1)
        self.profile_head = Mlp(d, c["head_hidden"], len(PROFILE_DIMS))
        self.weight_head = Mlp(d, c["head_hidden"], 1)

    def forward(self, feats, labels, num_regions):
        """feats [N, n_in], labels [N] in [0, num_regions).

        Returns a dict: quality (scalar), profile [5], region_quality [K],
        region_profile [K, 5], region_weight [K], region_tokens [K]. Empty
        regions get weight 0 and the global quality/profile (as in C++)."""
        x = self.in_proj(self.in_norm((feats - self.feat_mean) / self.feat_std))  # [N, dim]
        for b in self.blocks:
            x = b(x, labels)
        s = self.pool_score(self.pool_norm(x))[:, 0]  # [N]
        onehot = labels[None, :] == torch.arange(num_regions)[:, None]  # [K, N]
        count = onehot.sum(1)  # [K]
        present = count > 0
        logits = s[None, :].masked_fill(~onehot, float("-inf"))[present]  # [G, N]
        att = torch.softmax(logits, dim=-1)
        z = att @ x  # [G, dim]
        u = self.head_norm(z)
        q = 100.0 * torch.sigmoid(self.quality_head(u)[:, 0])  # [G]
        p = torch.sigmoid(self.profile_head(u))  # [G, 5]
        sk = self.weight_head(u)[:, 0] + torch.log(count[present].to(x.dtype))
        w = torch.softmax(sk, 0)  # [G]
        gq = (w * q).sum()
        gp = (w[:, None] * p).sum(0)
        K = num_regions
        rq = gq.expand(K).clone()
        rp = gp.expand(K, len(PROFILE_DIMS)).clone()
        rw = torch.zeros(K, dtype=x.dtype)
        rq[present], rp[present], rw[present] = q, p, w
        return dict(quality=gq, profile=gp, region_quality=rq, region_profile=rp, region_weight=rw,
                    region_tokens=count)


# ------------------------------------------------------------ safetensors I/O
# A minimal writer (the `safetensors` package is not a Debian package).

_DT = {np.float32: "F32", np.int32: "I32", np.float64: "F64"}


def save_safetensors(path, tensors, metadata=None):
    """tensors: name -> numpy array (float32/int32). Writes the file."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        dt = _DT[a.dtype.type]
        b = a.tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def save_weights(model, path):
    """Writes the model as an rsfiqa weights file (f32, config in metadata)."""
    t = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    meta = {"rsfiqa.model": MODEL_KIND, "rsfiqa.config": json.dumps(model.config, separators=(",", ":"))}
    save_safetensors(path, t, meta)


def set_feature_standardisation(model, features, min_std=1e-3):
    """Sets feat_mean / feat_std from training features.

    features: an iterable of [N_i, n_in] arrays or tensors (one per photo).
    A std below min_std (a constant column) is raised to min_std, so the
    C++ loader's check feat_std > 0 holds and values stay finite."""
    total, s, s2 = 0, None, None
    for f in features:
        f = torch.as_tensor(f, dtype=torch.float64)
        s = f.sum(0) if s is None else s + f.sum(0)
        s2 = (f * f).sum(0) if s2 is None else s2 + (f * f).sum(0)
        total += f.shape[0]
    mean = s / total
    std = (s2 / total - mean * mean).clamp_min(0).sqrt().clamp_min(min_std)
    with torch.no_grad():
        model.feat_mean.copy_(mean.to(model.feat_mean.dtype))
        model.feat_std.copy_(std.to(model.feat_std.dtype))

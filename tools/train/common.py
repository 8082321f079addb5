# SPDX-License-Identifier: MIT
"""Shared helpers of train.py and evaluate.py: reading the samples written
by `rsfiqa dataset`, and a training-speed form of the quality network.

FastQualityNet is tools/train/model.py's QualityNet with one change: the
`strict` region attention runs per region block (tokens pre-sorted by
label, dense attention inside each contiguous block) instead of over an
N x N masked matrix. That is the sorted-block form the C++ op uses and is
mathematically the same as the masked form for `strict` (docs/rsa.md); the
parameters and their names are untouched, so model.save_weights() writes a
file quality_net.hpp loads. Region pooling is invariant to the token order,
so sorting the tokens of a sample once at load time changes no output.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as M  # noqa: E402  (tools/train/model.py, owned by the quality network)

_NP = {"F32": np.float32, "I32": np.int32, "F64": np.float64, "F16": np.float16}


def read_safetensors(path, names=None):
    """Returns (tensors: name -> numpy array, metadata dict). With names, only
    those tensors are read (seeking past the others, e.g. the features)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        meta = header.pop("__metadata__", {})
        out = {}
        for name in header if names is None else names:
            h = header[name]
            a, b = h["data_offsets"]
            f.seek(8 + n + a)
            out[name] = np.frombuffer(f.read(b - a), dtype=_NP[h["dtype"]]).reshape(h["shape"])
    return out, meta


def photo_of(file_name):
    """The photo of a sample file name <photo>__<index>.safetensors."""
    return file_name.rsplit("__", 1)[0]


class Sample:
    """One training sample, tokens sorted by region label."""

    def __init__(self, path):
        t, meta = read_safetensors(path)
        lab = t["token_labels"].astype(np.int64)
        order = np.argsort(lab, kind="stable")
        self.path = path
        self.photo = meta.get("photo", "")
        self.distortion = meta.get("distortion", "none")
        self.feats = torch.from_numpy(np.ascontiguousarray(t["features"][order]))  # [N, F]
        self.labels = torch.from_numpy(lab[order])  # [N] sorted
        self.K = int(t["region_pixels"].shape[0])
        self.region_pixels = t["region_pixels"].astype(np.int64)
        self.region_touched = t["region_touched"].astype(bool)
        self.region_quality = torch.from_numpy(t["region_quality"].astype(np.float32))
        self.region_severity = torch.from_numpy(t["region_severity"].astype(np.float32))
        self.global_quality = float(t["global_quality"][0])
        self.global_severity = torch.from_numpy(t["global_severity"].astype(np.float32))
        info = t["info"]
        self.type, self.level, self.n_regions = int(info[0]), int(info[1]), int(info[2])


def split_photos(path, split):
    """The photo names (cache file names without .png) of one split of a
    splits file (tools/train/splits.json or splits-v1.json)."""
    with open(path) as f:
        return {os.path.splitext(p)[0] for p in json.load(f)[split]}


def load_dir(d, half=False, max_per_photo=0, photos=None):
    """All samples of a directory; with half=True the token features are
    kept as f16 (half the memory; the features stay within a few tens, so
    the rounding is relative ~5e-4) and callers cast them back to f32.
    max_per_photo > 0 keeps only samples 0 .. max_per_photo - 1 of each photo
    (file names <photo>__<index>.safetensors), so photos with many samples do
    not outweigh the others. photos (a set of photo names) keeps only the
    samples of those photos."""
    files = sorted(f for f in os.listdir(d) if f.endswith(".safetensors")) if os.path.isdir(d) else []
    if max_per_photo > 0:
        files = [f for f in files if int(f[:-len(".safetensors")].rsplit("__", 1)[1]) < max_per_photo]
    if photos is not None:
        files = [f for f in files if photo_of(f) in photos]
    out = []
    for f in files:
        s = Sample(os.path.join(d, f))
        if half:
            s.feats = s.feats.half()
        out.append(s)
    return out


class BlockRegionAttention(M.RegionAttention):
    """`strict` attention on label-sorted tokens, one dense block per region."""

    def forward(self, x, labels):
        if self.variant != "strict":
            return super().forward(x, labels)
        n, d = x.shape
        h, dh = self.heads, d // self.heads
        qkv = self.qkv(x)  # [N, 3 dim]
        _, counts = torch.unique_consecutive(labels, return_counts=True)
        outs, s = [], 0
        for c in counts.tolist():
            blk = qkv[s:s + c]
            q = blk[:, :d].view(c, h, dh).transpose(0, 1)  # [H, c, dh]
            k = blk[:, d:2 * d].view(c, h, dh).transpose(0, 1)
            v = blk[:, 2 * d:].view(c, h, dh).transpose(0, 1)
            a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(dh), dim=-1) @ v  # [H, c, dh]
            outs.append(a.transpose(0, 1).reshape(c, d))
            s += c
        return self.proj(torch.cat(outs, 0))


def fast_model(config):
    """QualityNet with block attention (same parameters, same names)."""
    net = M.QualityNet(config)
    for b in net.blocks:
        fast = BlockRegionAttention(config["dim"], config["heads"], config["variant"])
        fast.load_state_dict(b.attn.state_dict())
        b.attn = fast
    return net


def load_weights(path):
    t, meta = read_safetensors(path)
    cfg = json.loads(meta["rsfiqa.config"])
    net = fast_model(cfg)
    net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in t.items()})
    return net.eval()


def one_region_counts(samples, region_q, region_p, present):
    """Localisation and dimension hits on the one-region distortions at
    levels 2..5 (the issue's definition; shared by evaluate.py and the
    per-epoch validation of train.py). region_q [K] and region_p [K, 5] are
    the predictions per sample, present [K] marks regions with tokens.
    Returns (localisation hits, dimension hits, samples counted): a hit is
    the distorted region having the lowest predicted quality among the
    present regions, resp. the applied dimension being the largest entry
    of that region's predicted profile."""
    loc, dim, n1 = 0, 0, 0
    for s, rq, rp, pr in zip(samples, region_q, region_p, present):
        if s.type < 0 or s.n_regions != 1 or s.level < 2:
            continue
        r = int(np.flatnonzero(s.region_touched)[0])
        if not pr[r]:
            continue
        n1 += 1
        cand = np.flatnonzero(pr)
        loc += int(cand[np.argmin(rq[cand])] == r)
        true_dim = int(np.argmax(s.region_severity[r].numpy()))
        dim += int(np.argmax(rp[r]) == true_dim)
    return loc, dim, n1


def srcc(a, b):
    """Spearman rank correlation (average ranks for ties)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 3:
        return float("nan")

    def rank(x):
        o = np.argsort(x, kind="stable")
        r = np.empty(len(x))
        r[o] = np.arange(len(x), dtype=float)
        xs = x[o]
        i = 0
        while i < len(x):
            j = i
            while j + 1 < len(x) and xs[j + 1] == xs[i]:
                j += 1
            r[o[i:j + 1]] = (i + j) / 2.0
            i = j + 1
        return r

    ra, rb = rank(a), rank(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])

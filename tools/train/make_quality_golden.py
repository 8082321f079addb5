# SPDX-License-Identifier: MIT
"""Parity goldens for the quality network (tests/models/test_quality_net.cpp).

For a tiny config in each RSA variant and for the full shipped config it
draws random weights (every tensor perturbed, so LayerNorm affines and biases
are exercised), random token features, a random blob-shaped region map with
an empty label and a one-token region, runs tools/train/model.py in float64
and writes into tests/data/golden/quality/:
  <name>.weights.safetensors  the weights, exactly as the C++ loader reads them
  <name>.io.safetensors       features [N, n_in], labels [N] (I32),
                              num_regions [1] (I32) and the outputs quality [1],
                              profile [5], region_quality [K],
                              region_profile [K, 5], region_weight [K],
                              region_tokens [K] (I32)
The full config is stored in float16 (weights and features) to keep the
files small; the model runs on the same f16-rounded values.
Run: /usr/bin/python3 tools/train/make_quality_golden.py
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as qm  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "golden", "quality")


def blob_labels(rng, gh, gw, k):
    """Labels on a gh x gw grid: nearest of k-2 random seeds; label k-2 is one
    token; label k-1 is left empty."""
    seeds = rng.uniform(0, 1, size=(k - 2, 2)) * [gh, gw]
    yy, xx = np.mgrid[0:gh, 0:gw]
    d = (yy[..., None] - seeds[:, 0]) ** 2 + (xx[..., None] - seeds[:, 1]) ** 2
    lab = d.argmin(-1).astype(np.int32)
    lab[rng.integers(gh), rng.integers(gw)] = k - 2
    return lab.reshape(-1)


def make(name, cfg, gh, gw, k, seed, half=False):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    net = qm.QualityNet(cfg)
    n_in = cfg["n_deep"] + cfg["n_low"]
    with torch.no_grad():
        for pname, p in net.named_parameters():
            if pname.endswith("beta"):
                p.copy_(torch.from_numpy(rng.uniform(0.5, 4.0, p.shape)))
            elif p.dim() == 1:  # LayerNorm affine and biases
                base = 1.0 if ("norm" in pname and pname.endswith("weight")) else 0.0
                p.copy_(torch.from_numpy(base + 0.2 * rng.standard_normal(p.shape)))
            else:
                p.mul_(1.5)
        net.feat_mean.copy_(torch.from_numpy(rng.standard_normal(n_in)))
        net.feat_std.copy_(torch.from_numpy(rng.uniform(0.5, 2.0, n_in)))
    feats = (rng.standard_normal((gh * gw, n_in)) * 1.5 + 0.3).astype(np.float32)
    labels = blob_labels(rng, gh, gw, k)
    dt = np.float16 if half else np.float32
    # Round everything to the stored precision, then compute in float64.
    sd = {kk: v.numpy().astype(dt) for kk, v in net.state_dict().items()}
    feats = feats.astype(dt)
    net = net.double()
    net.load_state_dict({kk: torch.from_numpy(v.astype(np.float64)) for kk, v in sd.items()})
    with torch.no_grad():
        o = net(torch.from_numpy(feats.astype(np.float64)), torch.from_numpy(labels.astype(np.int64)), k)
    meta = {"rsfiqa.model": qm.MODEL_KIND, "rsfiqa.config": qm.json.dumps(cfg, separators=(",", ":"))}
    qm._DT[np.float16] = "F16"
    qm.save_safetensors(os.path.join(OUT, name + ".weights.safetensors"), sd, meta)
    f32 = lambda t: t.numpy().astype(np.float32).reshape(-1) if t.dim() == 0 else t.numpy().astype(np.float32)
    io = dict(features=feats, labels=labels, num_regions=np.array([k], np.int32),
              quality=f32(o["quality"]), profile=f32(o["profile"]), region_quality=f32(o["region_quality"]),
              region_profile=f32(o["region_profile"]), region_weight=f32(o["region_weight"]),
              region_tokens=o["region_tokens"].numpy().astype(np.int32))
    qm.save_safetensors(os.path.join(OUT, name + ".io.safetensors"), io)
    print(name, "N", gh * gw, "K", k, "quality %.4f" % float(o["quality"]))


def main():
    os.makedirs(OUT, exist_ok=True)
    tiny = dict(n_deep=12, n_low=6, dim=16, depth=2, heads=2, mlp_ratio=2, head_hidden=8)
    make("tiny_strict", qm.default_config(variant="strict", **tiny), 9, 7, 6, 1)
    make("tiny_strict_global", qm.default_config(variant="strict+global", **tiny), 9, 7, 6, 2)
    make("tiny_bias", qm.default_config(variant="bias", **tiny), 9, 7, 6, 3)
    make("full_strict", qm.default_config(), 10, 8, 7, 4, half=True)


if __name__ == "__main__":
    main()

# SPDX-License-Identifier: MIT
"""Evaluates the quality network on the held-out synthetic test set.

The test set is made by run_all.sh: `rsfiqa dataset --save-images` on the
test-split photos of splits.json (never seen in training or validation),
so every sample has its token features (from our engine), its targets and
its distorted pixels. Predictions come from the PyTorch twin
(tools/train/model.py, block form in common.py) on those features; the C++
engine gives the same scores to 1e-4 (the parity test of the quality
network), so this is also the engine's result.

Reported metrics:
  global SRCC      predicted global quality vs the full-reference target,
                   over all test samples (pristine ones included)
  SRCC vs level    within each distortion type (all photos and scopes of the
                   type), predicted quality vs -level; the median over types
                   with >= 3 samples and >= 2 levels is summarised
  localisation     samples with exactly one distorted region at level 2..5:
                   top-1 = the distorted region has the lowest predicted
                   region quality among the regions present on the grid
  right dimension  the same samples: the distortion's dimension is the
                   largest entry of the distorted region's predicted profile
  intervals        95% bootstrap interval of the global SRCC (resampling
                   whole test photos) and 95% Wilson intervals of the two
                   top-1 proportions
  BRISQUE          OpenCV's BRISQUE (opencv-data's LIVE model, python3-opencv
                   cv2.quality) on the same distorted images; its score is
                   0 best .. 100 worst, so SRCC uses -score
Writes the numbers as JSON (--json) and prints a table.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import model as M  # noqa: E402

BRISQUE_MODEL = "/usr/share/opencv4/quality/brisque_model_live.yml"
BRISQUE_RANGE = "/usr/share/opencv4/quality/brisque_range_live.yml"


def brisque_scores(samples):
    try:
        import cv2
    except ImportError:
        return None, "python3-opencv is not installed"
    if not hasattr(cv2, "quality") or not os.path.exists(BRISQUE_MODEL):
        return None, "cv2.quality or the opencv-data BRISQUE model is missing"
    out = []
    for s in samples:
        png = s.path[:-len(".safetensors")] + ".png"
        if not os.path.exists(png):
            return None, "no distorted image %s (run rsfiqa dataset --save-images)" % png
        img = cv2.imread(png)
        out.append(float(cv2.quality.QualityBRISQUE_compute(img, BRISQUE_MODEL, BRISQUE_RANGE)[0]))
    return out, ""


def wilson(k, n, z=1.96):
    """95% Wilson score interval of a proportion k / n."""
    if n == 0:
        return [float("nan"), float("nan")]
    p = k / n
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [float(c - h), float(c + h)]


def boot_srcc(pred, tgt, photos, reps=1000, seed=0):
    """95% percentile interval of the global SRCC under a bootstrap that
    resamples whole test photos (samples of one photo are not independent)."""
    rng = np.random.default_rng(seed)
    names = sorted(set(photos))
    idx = {p: [i for i, q in enumerate(photos) if q == p] for p in names}
    pred, tgt = np.asarray(pred), np.asarray(tgt)
    vals = []
    for _ in range(reps):
        pick = np.concatenate([idx[names[j]] for j in rng.integers(0, len(names), len(names))])
        v = common.srcc(pred[pick], tgt[pick])
        if not np.isnan(v):
            vals.append(v)
    return [float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))] if vals else [float("nan")] * 2


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cache = os.environ.get("RSFIQA_CACHE", os.path.join(root, ".cache"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", default=os.path.join(cache, "samples", "test"))
    ap.add_argument("--weights", default=os.path.join(root, "weights", "rsfiqa-quality-v1.safetensors"))
    ap.add_argument("--json", default=os.path.join(cache, "eval.json"))
    ap.add_argument("--no-brisque", action="store_true")
    ap.add_argument("--split", default="", help="a splits file: evaluate only the samples of its test photos")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    samples = common.load_dir(a.samples, photos=common.split_photos(a.split, "test") if a.split else None)
    if not samples:
        sys.exit("no test samples in " + a.samples)
    net = common.load_weights(a.weights)
    pred_q, region_q, region_p = [], [], []
    with torch.no_grad():
        for s in samples:
            o = net(s.feats, s.labels, s.K)
            pred_q.append(float(o["quality"]))
            region_q.append(o["region_quality"].numpy())
            region_p.append(o["region_profile"].numpy())
            tok = o["region_tokens"].numpy()
            s.present = tok > 0
    tgt = [s.global_quality for s in samples]
    res = {"samples": len(samples), "photos": sorted({s.photo for s in samples})}
    res["global_srcc"] = common.srcc(pred_q, tgt)
    res["global_mae"] = float(np.mean(np.abs(np.array(pred_q) - np.array(tgt))))

    # SRCC vs level within each type.
    per_type = {}
    for s, q in zip(samples, pred_q):
        if s.type >= 0:
            per_type.setdefault(s.distortion, []).append((s.level, q))
    lev = {}
    for name, v in sorted(per_type.items()):
        levels = [x[0] for x in v]
        if len(v) >= 3 and len(set(levels)) >= 2:
            lev[name] = common.srcc([-x for x in levels], [x[1] for x in v])
    res["level_srcc_per_type"] = lev
    vals = [x for x in lev.values() if not np.isnan(x)]
    res["level_srcc_median"] = float(np.median(vals)) if vals else float("nan")
    res["level_srcc_types"] = len(vals)

    # Localisation and dimension on one-region distortions at levels 2..5.
    loc, dim, n1 = common.one_region_counts(samples, region_q, region_p, [s.present for s in samples])
    res["one_region_samples"] = n1
    res["localisation_top1"] = loc / n1 if n1 else float("nan")
    res["dimension_top1"] = dim / n1 if n1 else float("nan")
    res["localisation_top1_wilson95"] = wilson(loc, n1)
    res["dimension_top1_wilson95"] = wilson(dim, n1)
    res["global_srcc_boot95"] = boot_srcc(pred_q, tgt, [s.photo for s in samples])

    if not a.no_brisque:
        b, why = brisque_scores(samples)
        if b is None:
            res["brisque_global_srcc"] = None
            res["brisque_note"] = why
        else:
            res["brisque_global_srcc"] = common.srcc([-x for x in b], tgt)

    print("test photos %d, samples %d" % (len(res["photos"]), res["samples"]))
    print("%-40s %s" % ("metric", "value"))
    for k in ("global_srcc", "global_mae", "level_srcc_median", "level_srcc_types", "one_region_samples",
              "localisation_top1", "dimension_top1", "brisque_global_srcc", "global_srcc_boot95",
              "localisation_top1_wilson95", "dimension_top1_wilson95"):
        v = res.get(k)
        if isinstance(v, list):
            v = "[%.3f, %.3f]" % tuple(v)
        print("%-40s %s" % (k, "%.4f" % v if isinstance(v, float) else v))
    with open(a.json, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()

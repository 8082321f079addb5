# SPDX-License-Identifier: MIT
"""Diagnostic: how predictable is the global quality target from our token
features when they are simply pooled over the image?

For every sample of `rsfiqa dataset` (SAMPLES/train, val, test) it pools the
token features into one vector (mean and standard deviation of each of the
562 columns over all tokens, plus the 10th/50th/90th percentiles of the 18
low-level columns) and fits a ridge regression to the global full-reference
target on the training samples, for a few regularisation strengths and
three column groups (all, deep only, low-level only). It prints the SRCC on
train, validation and test, and a learning curve: the ridge fit on k
randomly drawn training photos (k = 6, 12, 18, 24, 36 and all), scored on validation +
test together. A large train/validation gap that does not close with more
photos says the limit is generalisation across photo content, not the
capacity of the network.

It is a probe only: nothing here is used for training or selection (the
test figures it prints are for the diagnosis, see the model card). Numpy
only; reads the samples with common.py. The pooled features are cached in
--cache (an .npz) because reading 900 samples takes a minute.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

N_DEEP, N_IN = 544, 562


def pooled(path):
    """One pooled vector per sample: [mean(562), std(562), low-level percentiles(3 x 18)]."""
    t, meta = common.read_safetensors(path)
    x = t["features"].astype(np.float64)  # [N, 562]
    low = x[:, N_DEEP:]
    v = np.concatenate([x.mean(0), x.std(0), np.percentile(low, [10, 50, 90], axis=0).ravel()])
    return v, float(t["global_quality"][0]), meta.get("photo", "")


def load(samples, cache):
    if cache and os.path.exists(cache):
        return dict(np.load(cache))
    out = {}
    for split in ("train", "val", "test"):
        d = os.path.join(samples, split)
        files = sorted(f for f in os.listdir(d) if f.endswith(".safetensors"))
        rows = [pooled(os.path.join(d, f)) for f in files]
        out[split + "_X"] = np.stack([r[0] for r in rows])
        out[split + "_y"] = np.array([r[1] for r in rows])
        out[split + "_photo"] = np.array([r[2] for r in rows])
    if cache:
        np.savez(cache, **out)
    return out


def ridge(a, y, lam):
    """Closed-form ridge on standardised columns; returns a predictor."""
    mu, sd = a.mean(0), a.std(0) + 1e-6
    z = (a - mu) / sd
    w = np.linalg.solve(z.T @ z + lam * np.eye(z.shape[1]), z.T @ (y - y.mean()))
    return lambda b: ((b - mu) / sd) @ w + y.mean()


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cache = os.environ.get("RSFIQA_CACHE", os.path.join(root, ".cache"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", default=os.path.join(cache, "samples"))
    ap.add_argument("--cache", default=os.path.join(cache, "probe_pooled.npz"))
    a = ap.parse_args()
    d = load(a.samples, a.cache)
    tr, va, te = (d[k + "_X"] for k in ("train", "val", "test"))
    ytr, yva, yte = (d[k + "_y"] for k in ("train", "val", "test"))
    n_pool = tr.shape[1]
    groups = {
        "all": np.arange(n_pool),
        "deep mean+std": np.r_[0:N_DEEP, N_IN:N_IN + N_DEEP],
        "low-level": np.r_[N_DEEP:N_IN, N_IN + N_DEEP:2 * N_IN, 2 * N_IN:n_pool],
    }
    print("train %d, val %d, test %d samples" % (len(ytr), len(yva), len(yte)))
    for name, c in groups.items():
        for lam in (1, 10, 100, 1000, 10000):
            f = ridge(tr[:, c], ytr, lam)
            print("%-14s lambda %6g  SRCC train %.3f  val %.3f  test %.3f" %
                  (name, lam, common.srcc(f(tr[:, c]), ytr), common.srcc(f(va[:, c]), yva),
                   common.srcc(f(te[:, c]), yte)))
    # Learning curve over the number of training photos (all columns).
    ev, yev = np.concatenate([va, te]), np.concatenate([yva, yte])
    photos = sorted(set(d["train_photo"]))
    rng = np.random.default_rng(0)
    for k in sorted({k for k in (6, 12, 18, 24, 36) if k < len(photos)} | {len(photos)}):
        r = []
        for _ in range(10 if k < len(photos) else 1):
            pick = set(rng.choice(photos, k, replace=False))
            m = np.array([p in pick for p in d["train_photo"]])
            r.append(common.srcc(ridge(tr[m], ytr[m], 30.0)(ev), yev))
        print("train photos %2d  val+test SRCC %.3f (sd %.3f over %d draws)" % (k, np.mean(r), np.std(r), len(r)))


if __name__ == "__main__":
    main()

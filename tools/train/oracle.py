# SPDX-License-Identifier: MIT
"""Diagnostic: how far can the global quality target be ranked by someone who
knows exactly which distortion was applied, but nothing about the photo?

Every sample of `rsfiqa dataset` records its distortion type, its level
(1..5) and, through the global severity (level / 5 x touched pixel
fraction), the fraction of the image it touched. This "distortion-parameter
oracle" predicts the full-reference target as

    Q = 100 - a[type, level] * fraction        (pristine samples: Q = 100)

with a[type, level] fitted by least squares on the training samples, and
reports its SRCC against the real targets on validation and test. It is the
best a content-blind model can do in this family: a no-reference network
has to recover the type, level and extent from the distorted pixels alone
(which is impossible for, e.g., a mild brightness or hue change without the
pristine photo), and anything it gains above the oracle must come from
predicting how the content reacts to the distortion. The same fit made on
the test samples themselves is printed as the in-sample ceiling. A second
line gives the oracle that knows the type and extent but not the level of
the colour and exposure distortions (one a[type] over all levels): for
those, the level is a shift of the photo's own colours or tones that no
reference-free method can measure exactly. A third line gives a
content-aware oracle: it also knows the pristine photo's low-level
statistics (mean and standard deviation over the tokens of the 18 low-level
feature columns of sample 0) and fits, per type and level, a ridge
regression of the quality drop on fraction x (1, standardised statistics).

With --localisation it also scores the localisation top-1 of
common.one_region_counts with the region targets themselves as the
prediction (is the distorted region always the lowest target?); that reads
every validation and test sample in full (about a minute).

It is a probe only: nothing here is used for training or selection. It
reads only the small tensors of each sample file, and the features of the
pristine samples only, so it takes seconds. Usage: python3 tools/train/oracle.py [--samples CACHE/samples]
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

N_DEEP = 544  # the low-level columns of rsfiqa-features-v1 follow the deep ones


def load(d):
    """(type, level, touched fraction, target, dimension, photo) per sample;
    type -1 = pristine; dimension 0..4 = blur, noise, compression, color,
    exposure."""
    rows = []
    for f in sorted(os.listdir(d)):
        if not f.endswith(".safetensors"):
            continue
        t, _ = common.read_safetensors(os.path.join(d, f), ("info", "global_quality", "global_severity"))
        typ, lvl = int(t["info"][0]), int(t["info"][1])
        frac = float(t["global_severity"].max()) * 5.0 / lvl if typ >= 0 and lvl > 0 else 0.0
        dim = int(np.argmax(t["global_severity"])) if typ >= 0 else -1
        rows.append((typ, lvl, min(frac, 1.0), float(t["global_quality"][0]), dim, common.photo_of(f)))
    return rows


def fit(rows):
    """a[type, level] of Q = 100 - a * fraction, least squares through (0, 100)."""
    a = {}
    for key in {(r[0], r[1]) for r in rows if r[0] >= 0}:
        x = np.array([r[2] for r in rows if (r[0], r[1]) == key])
        y = np.array([100.0 - r[3] for r in rows if (r[0], r[1]) == key])
        a[key] = float(x @ y / max(float(x @ x), 1e-9))
    return a


def score(a, rows):
    p = np.array([100.0 if r[0] < 0 else 100.0 - a.get((r[0], r[1]), 0.0) * r[2] for r in rows])
    return common.srcc(p, np.array([r[3] for r in rows]))


def pristine_stats(d):
    """Photo -> mean and std of the low-level columns of its pristine sample."""
    out = {}
    for f in sorted(os.listdir(d)):
        if f.endswith("__0.safetensors"):
            t, _ = common.read_safetensors(os.path.join(d, f))
            x = t["features"][:, N_DEEP:].astype(np.float64)
            out[common.photo_of(f)] = np.concatenate([x.mean(0), x.std(0)])
    return out


def content_oracle(dirs, splits, lam=10.0):
    """SRCC of the content-aware oracle on splits[1:], fitted on splits[0]
    (rows of load(), read from dirs)."""
    data = []
    for d, rows in zip(dirs, splits):
        st = pristine_stats(d)
        data.append([(r, st[r[5]]) for r in rows])
    z = np.stack([c for _, c in data[0]])
    mu, sd = z.mean(0), z.std(0) + 1e-9
    row = lambda r, c: r[2] * np.concatenate([[1.0], (c - mu) / sd])
    w = {}
    for key in {(r[0], r[1]) for r, _ in data[0] if r[0] >= 0}:
        x = np.stack([row(r, c) for r, c in data[0] if (r[0], r[1]) == key])
        y = np.array([100.0 - r[3] for r, c in data[0] if (r[0], r[1]) == key])
        reg = lam * np.eye(x.shape[1])
        reg[0, 0] = 1e-9  # the plain slope is not shrunk
        w[key] = np.linalg.solve(x.T @ x + reg, x.T @ y)
    out = []
    for rows in data[1:]:
        # A (type, level) never seen in training predicts no drop.
        p = [100.0 - (float(row(r, c) @ w[(r[0], r[1])]) if (r[0], r[1]) in w else 0.0) for r, c in rows]
        out.append(common.srcc(np.array(p), np.array([r[3] for r, _ in rows])))
    return out


def target_localisation(d):
    """(hits, counted) of one_region_counts with region_quality as the prediction."""
    hits = n = 0
    for f in sorted(os.listdir(d)):
        if f.endswith(".safetensors"):
            smp = common.Sample(os.path.join(d, f))
            present = np.zeros(smp.K, bool)
            present[np.unique(smp.labels.numpy())] = True
            h, _, c = common.one_region_counts([smp], [smp.region_quality.numpy()], [np.zeros((smp.K, 5))], [present])
            hits, n = hits + h, n + c
    return hits, n


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cache = os.environ.get("RSFIQA_CACHE", os.path.join(root, ".cache"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", default=os.path.join(cache, "samples"))
    ap.add_argument("--localisation", action="store_true", help="also the localisation rate of the targets")
    args = ap.parse_args()
    s = args.samples
    tr, va, te = (load(os.path.join(s, k)) for k in ("train", "val", "test"))
    a = fit(tr)
    print("distortion-parameter oracle, fitted on %d training samples:" % len(tr))
    print("  val  (%d samples) SRCC %.3f" % (len(va), score(a, va)))
    print("  test (%d samples) SRCC %.3f" % (len(te), score(a, te)))
    print("  test, fitted on the test samples themselves: SRCC %.3f" % score(fit(te), te))
    # Level unknown for colour (3) and exposure (4): every level of such a
    # type gets the one slope fitted over all its levels.
    blind = [(r[0], 0 if r[4] in (3, 4) else r[1]) + r[2:] for r in tr]
    b = fit(blind)
    hide = lambda rows: [(r[0], 0 if r[4] in (3, 4) else r[1]) + r[2:] for r in rows]
    print("same oracle without the level of colour and exposure distortions:")
    print("  val SRCC %.3f, test SRCC %.3f" % (score(b, hide(va)), score(b, hide(te))))
    cv, ct = content_oracle([os.path.join(s, k) for k in ("train", "val", "test")], (tr, va, te))
    print("content-aware oracle (also knows the pristine photo's low-level statistics):")
    print("  val SRCC %.3f, test SRCC %.3f" % (cv, ct))
    if args.localisation:
        for k in ("val", "test"):
            print("localisation top-1 of the region targets themselves, %s: %d / %d" % ((k,) + target_localisation(
                os.path.join(s, k))))


if __name__ == "__main__":
    main()

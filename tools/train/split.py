# SPDX-License-Identifier: MIT
"""Splits the source photos into train / val / test, by source photo.

Every distorted sample inherits the split of the pristine photo it was made
from, so no test photo (in any distorted form) is ever seen in training.
The split is deterministic: photos are ordered by the SHA-256 of their file
name (not of their bytes, so a re-encoded package does not move photos) and
cut into test (20%), val (15%) and train (the rest). Within each source
package the cut is applied separately, so every package contributes to every
split where it has enough photos.

Usage: python3 tools/train/split.py [--photos CACHE/photos/photos.json]
                                    [--out tools/train/splits.json]
"""
import argparse
import hashlib
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def split(records, test_frac=0.20, val_frac=0.15):
    by_src = {}
    for r in records:
        by_src.setdefault(r["source"], []).append(r["file"])
    out = {"train": [], "val": [], "test": []}
    for src in sorted(by_src):
        files = sorted(by_src[src], key=lambda f: hashlib.sha256(f.encode()).hexdigest())
        n = len(files)
        n_test = int(round(test_frac * n))
        n_val = int(round(val_frac * n))
        out["test"] += files[:n_test]
        out["val"] += files[n_test:n_test + n_val]
        out["train"] += files[n_test + n_val:]
    return {k: sorted(v) for k, v in out.items()}


def main():
    cache = os.environ.get("RSFIQA_CACHE", os.path.join(ROOT, ".cache"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", default=os.path.join(cache, "photos", "photos.json"))
    ap.add_argument("--out", default=os.path.join(HERE, "splits.json"))
    a = ap.parse_args()
    records = json.load(open(a.photos))
    s = split(records)
    s["rule"] = "per source package: sha256(file name) order; 20% test, 15% val, rest train"
    with open(a.out, "w") as f:
        json.dump(s, f, indent=1, sort_keys=True)
        f.write("\n")
    print({k: len(v) for k, v in s.items() if k != "rule"})


if __name__ == "__main__":
    main()

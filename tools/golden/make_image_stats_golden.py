# SPDX-License-Identifier: MIT
"""Goldens for include/rsfiqa/ops/image_stats.hpp, written independently in numpy/scipy.

Builds a small synthetic RGB image (smooth gradients, noise, a block-quantised
8x8 area, clipped highlights and shadows, a saturated patch), computes the 18
per-cell statistics with whole-array numpy formulas (scipy.ndimage for the
separable Gaussian with mode "reflect", which repeats the edge pixel) on two
grids, and writes to tests/data/golden/image_stats/:
  image.npy          [H, W, 3] float32 (integer values 0..255)
  uniform_5x6.npy    [5, 6, 18] float32, cells i*H//5 .. (i+1)*H//5
  sam_t64_p16.npy    [rows, cols, 18] float32, SAM token cells for target 64, patch 16
Run: /usr/bin/python3 tools/golden/make_image_stats_golden.py
"""
import os

import numpy as np
from scipy import ndimage

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "golden", "image_stats")


def make_image(h=53, w=70, seed=5):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([40 + 3 * xx, 60 + 2.5 * yy, 200 - 1.5 * xx - yy], -1)
    img += rng.normal(0, 6, img.shape) * (xx[..., None] > w / 2)
    blk = img[8:40, 0:32]
    img[8:40, 0:32] = blk.reshape(4, 8, 4, 8, 3).mean((1, 3)).repeat(8, 0).repeat(8, 1)
    img[0:10, 50:70] = 255  # clipped highlight
    img[44:53, 0:12] = 2  # crushed shadow
    img[20:30, 40:52] = [230, 20, 30]  # saturated red
    return np.clip(np.round(img), 0, 255)


def maps(img):
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    Y = 0.299 * r + 0.587 * g + 0.114 * b
    s = 7.0 / 6.0
    k = np.exp(-0.5 * (np.arange(7) - 3) ** 2 / s ** 2)
    k /= k.sum()
    gauss = lambda a: ndimage.correlate1d(ndimage.correlate1d(a, k, axis=1, mode="reflect"), k, axis=0,
                                          mode="reflect")
    mu = gauss(Y)
    sig = np.sqrt(np.maximum(gauss(Y * Y) - mu * mu, 0))
    m = (Y - mu) / (sig + 1)
    P = np.pad(Y, 1, mode="symmetric")
    up, dn, lf, rt = P[:-2, 1:-1], P[2:, 1:-1], P[1:-1, :-2], P[1:-1, 2:]
    g2 = (0.5 * (rt - lf)) ** 2 + (0.5 * (dn - up)) ** 2
    L = up + dn + lf + rt - 4 * Y
    return Y, m, g2, L


def stats(img, ys, xs):
    """ys, xs: lists of (lo, hi) pixel ranges per cell row / column."""
    h, w, _ = img.shape
    Y, m, g2, L = maps(img)
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    mx, mn = img.max(-1), img.min(-1)
    sat = np.where(mx > 0, (mx - mn) / np.where(mx > 0, mx, 1), 0)
    rg, yb = r - g, 0.5 * (r + g) - b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b
    # Differences with the left / upper neighbour, on the 8x8 block grid or not.
    dh = np.full((h, w), np.nan)
    dh[:, 1:] = np.abs(Y[:, 1:] - Y[:, :-1])
    dv = np.full((h, w), np.nan)
    dv[1:, :] = np.abs(Y[1:, :] - Y[:-1, :])
    colb = (np.arange(w) % 8 == 0)[None, :].repeat(h, 0)
    rowb = (np.arange(h) % 8 == 0)[:, None].repeat(w, 1)
    hp = np.full((h, w), np.nan)
    hp[:, :-1] = m[:, :-1] * m[:, 1:]
    out = np.zeros((len(ys), len(xs), 18))
    for i, (y0, y1) in enumerate(ys):
        for j, (x0, x1) in enumerate(xs):
            c = (slice(y0, y1), slice(x0, x1))
            Yc, mc = Y[c], m[c]
            m2 = (mc ** 2).mean()
            hpc = hp[c][~np.isnan(hp[c])]
            bvals = np.concatenate([dh[c][colb[c] & ~np.isnan(dh[c])], dv[c][rowb[c] & ~np.isnan(dv[c])]])
            ivals = np.concatenate([dh[c][~colb[c] & ~np.isnan(dh[c])], dv[c][~rowb[c] & ~np.isnan(dv[c])]])
            blk = np.log((bvals.mean() + 1) / (ivals.mean() + 1)) if len(bvals) and len(ivals) else 0.0
            out[i, j] = [
                Yc.mean() / 255, Yc.std() / 255, (mx[c] <= 5).mean(), (mx[c] >= 250).mean(),
                np.abs(mc).mean(), mc.var(), np.log(1 + (mc ** 4).mean() / (m2 ** 2 + 1e-6)),
                hpc.mean() if len(hpc) else 0.0,
                np.log(1 + g2[c].mean()), np.log(1 + (L[c] ** 2).mean()),
                np.log(((L[c] ** 2).mean() + 1) / (g2[c].mean() + 1)),
                np.log(1 + np.median(np.abs(L[c])) / 0.6745 / np.sqrt(20)), blk,
                (np.sqrt(rg[c].var() + yb[c].var()) + 0.3 * np.sqrt(rg[c].mean() ** 2 + yb[c].mean() ** 2)) / 255,
                sat[c].mean(), sat[c].std(), cb[c].mean() / 255, cr[c].mean() / 255]
    return out.astype(np.float32)


def ranges(n, cells):
    return [(i * n // cells, max((i + 1) * n // cells, i * n // cells + 1)) for i in range(cells)]


def sam_ranges(n, resized, patch):
    cells = -(-resized // patch)
    out = []
    for i in range(cells):
        lo, hi = patch * i * n // resized, min(patch * (i + 1), resized) * n // resized
        out.append((min(lo, n - 1), min(lo, n - 1) + 1) if hi <= lo else (lo, hi))
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    img = make_image()
    h, w, _ = img.shape
    np.save(os.path.join(OUT, "image.npy"), img.astype(np.float32))
    np.save(os.path.join(OUT, "uniform_5x6.npy"), stats(img, ranges(h, 5), ranges(w, 6)))
    s = 64 / max(h, w)
    rh, rw = int(h * s + 0.5), int(w * s + 0.5)
    sam = stats(img, sam_ranges(h, rh, 16), sam_ranges(w, rw, 16))
    np.save(os.path.join(OUT, "sam_t64_p16.npy"), sam)
    print("image", img.shape, "sam grid", sam.shape[:2], "resized", rh, rw)


if __name__ == "__main__":
    main()

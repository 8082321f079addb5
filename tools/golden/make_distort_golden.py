# SPDX-License-Identifier: MIT
"""Golden files for include/rsfiqa/pipeline/distort.hpp and fr_quality.hpp.

An independent numpy/scipy implementation of
  - a few deterministic distortions whose formula is short: Gaussian blur
    (scipy.ndimage.gaussian_filter, truncate=3, mode='reflect'), saturation,
    brightness, contrast, hue rotation, over/under exposure, the 8x8 DCT
    quantisation (scipy.fft.dctn with norm='ortho'), and three noise types
    from the documented counter-based RNG (splitmix64 + Box-Muller);
  - the full-reference measure: luma SSIM with a Gaussian window (sigma 1.5,
    truncate 3.5, mode='reflect'), CIE76 dE in CIELAB (D65), the score
    100 * max(s,0)^2 * exp(-dE/20), globally and per region.
The parameters are copied from the level table in distort.hpp (they are the
specification; the code below is written from the formulas, not from the
C++). The input is a crop of tests/data/images/chelsea.png.

Run with Debian's python3 (numpy, scipy, PIL) from the repository root:
    python3 tools/golden/make_distort_golden.py
It writes tests/data/golden/distort/ (a few small PNGs and fr_golden.txt).
"""
import math
import os

import numpy as np
from PIL import Image
from scipy import fft, ndimage

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "golden", "distort")

# Odd sizes on purpose: mirrored borders and partial 8x8 blocks are exercised.
CROP_X, CROP_Y, CROP_W, CROP_H = 150, 80, 61, 45


def to_u8(x):
    """Round half away from zero and clamp, as distort.hpp does."""
    return np.clip(np.floor(np.asarray(x, np.float64) + 0.5), 0, 255).astype(np.uint8)


def luma601(img):
    return 0.299 * img[..., 0] + 0.587 * img[..., 1] + 0.114 * img[..., 2]


def gaussian_blur(img, sigma):
    f = img.astype(np.float64)
    out = np.stack([ndimage.gaussian_filter(f[..., c], sigma, truncate=3.0, mode="reflect") for c in range(3)], -1)
    return to_u8(out)


def saturation(img, factor):
    f = img.astype(np.float64)
    y = luma601(f)[..., None]
    return to_u8(y + factor * (f - y))


def brightness(img, offset):
    return to_u8(img.astype(np.float64) + offset)


def contrast(img, factor):
    f = img.astype(np.float64)
    m = luma601(f).mean()
    return to_u8(m + factor * (f - m))


def hue_shift(img, degrees):
    """Rotation about the unit grey axis k = (1,1,1)/sqrt(3), by Rodrigues' formula
    R = cos t I + sin t [k]x + (1 - cos t) k k^T."""
    t = np.deg2rad(degrees)
    k = np.ones(3) / np.sqrt(3.0)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    r = np.cos(t) * np.eye(3) + np.sin(t) * kx + (1 - np.cos(t)) * np.outer(k, k)
    return to_u8(img.astype(np.float64) @ r.T)


def srgb_to_linear(v):
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(v):
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * np.power(np.maximum(v, 0), 1 / 2.4) - 0.055)


def exposure(img, gain, black=None):
    lin = np.minimum(1.0, gain * srgb_to_linear(img.astype(np.float64) / 255.0))
    e = linear_to_srgb(lin)
    if black is not None:
        e = np.maximum(0.0, e - black) / (1.0 - black)
    return to_u8(255.0 * e)


# JPEG quantisation tables, ITU-T T.81 Annex K (K.1 luminance, K.2 chrominance).
Q_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], np.float64).reshape(8, 8)
Q_CHROMA = np.full((8, 8), 99.0)
Q_CHROMA[:4, :4] = [[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]]


def dct_quantize(img, scale):
    f = img.astype(np.float64)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    # JFIF full-range YCbCr, Y level-shifted by 128.
    planes = [0.299 * r + 0.587 * g + 0.114 * b - 128.0,
              -0.168736 * r - 0.331264 * g + 0.5 * b,
              0.5 * r - 0.418688 * g - 0.081312 * b]
    h, w = r.shape
    hp, wp = (h + 7) // 8 * 8, (w + 7) // 8 * 8
    out = []
    for c, p in enumerate(planes):
        q = np.maximum(1.0, np.round((Q_LUMA if c == 0 else Q_CHROMA) * scale))
        pad = np.pad(p, ((0, hp - h), (0, wp - w)), mode="symmetric")
        res = np.empty_like(pad)
        for by in range(0, hp, 8):
            for bx in range(0, wp, 8):
                F = fft.dctn(pad[by:by + 8, bx:bx + 8], norm="ortho")
                F = np.round(F / q) * q
                res[by:by + 8, bx:bx + 8] = fft.idctn(F, norm="ortho")
        out.append(res[:h, :w])
    y, cb, cr = out[0] + 128.0, out[1], out[2]
    return to_u8(np.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], -1))


# ---------------------------------------------------------------------------
# The counter-based RNG of distort.hpp, from its documented definition:
# key = mix(seed * G + K * (type + 1)), value n = mix(key + (n + 1) * G), with
# mix = splitmix64's output function, G = 0x9E3779B97F4A7C15, K = 0x632BE59BD9B4E019;
# uniform = ((v >> 11) + 0.5) / 2^53; normal n from uniforms 2n, 2n+1 (Box-Muller).
# ---------------------------------------------------------------------------

M64 = (1 << 64) - 1
G = 0x9E3779B97F4A7C15


def mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def key(seed, type_id):
    return mix((seed * G + 0x632BE59BD9B4E019 * (type_id + 1)) & M64)


def uniform(k, n):
    return ((mix((k + (n + 1) * G) & M64) >> 11) + 0.5) / 9007199254740992.0


def normal(k, n):
    return math.sqrt(-2.0 * math.log(uniform(k, 2 * n))) * math.cos(6.283185307179586 * uniform(k, 2 * n + 1))


def gaussian_noise(img, sigma, seed):
    k = key(seed, 4)  # DistortionType::kGaussianNoise
    h, w = img.shape[:2]
    z = np.array([sigma * normal(k, i) for i in range(h * w)]).reshape(h, w, 1)
    return to_u8(img.astype(np.float64) + z)


def color_noise(img, sigma, seed):
    k = key(seed, 5)  # DistortionType::kColorNoise, counter = pixel * 3 + channel
    z = np.array([sigma * normal(k, i) for i in range(img.size)]).reshape(img.shape)
    return to_u8(img.astype(np.float64) + z)


def impulse_noise(img, frac, seed):
    k = key(seed, 6)  # DistortionType::kImpulseNoise, counter = pixel
    h, w = img.shape[:2]
    u = np.array([uniform(k, i) for i in range(h * w)]).reshape(h, w)
    out = img.copy()
    out[u < frac] = 255
    out[u < 0.5 * frac] = 0
    return out


# ---------------------------------------------------------------------------
# Full-reference measure.
# ---------------------------------------------------------------------------

C1 = (0.01 * 255) ** 2
C2 = (0.03 * 255) ** 2


def ssim_map(x, y):
    g = lambda a: ndimage.gaussian_filter(a, 1.5, truncate=3.5, mode="reflect")
    mx, my = g(x), g(y)
    vx, vy, cxy = g(x * x) - mx * mx, g(y * y) - my * my, g(x * y) - mx * my
    return ((2 * mx * my + C1) * (2 * cxy + C2)) / ((mx * mx + my * my + C1) * (vx + vy + C2))


def lab(img):
    lin = srgb_to_linear(img.astype(np.float64) / 255.0)
    m = np.array([[0.4124564, 0.3575761, 0.1804375],
                  [0.2126729, 0.7151522, 0.0721750],
                  [0.0193339, 0.1191920, 0.9503041]])
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    d = 6.0 / 29.0
    f = np.where(xyz > d ** 3, np.cbrt(xyz), xyz / (3 * d * d) + 4.0 / 29.0)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def score(s, e):
    return 100.0 * max(0.0, min(1.0, s)) ** 2 * np.exp(-max(0.0, e) / 20.0)


def fr(ref, dist, labels, k):
    s = ssim_map(luma601(ref.astype(np.float64)), luma601(dist.astype(np.float64)))
    e = np.sqrt(((lab(ref) - lab(dist)) ** 2).sum(-1))
    rows = [(-1, score(s.mean(), e.mean()), s.mean(), e.mean())]
    for r in range(k):
        sel = labels == r
        rows.append((r, score(s[sel].mean(), e[sel].mean()), s[sel].mean(), e[sel].mean()))
    return rows


def main():
    os.makedirs(OUT, exist_ok=True)
    full = np.asarray(Image.open(os.path.join(ROOT, "tests", "data", "images", "chelsea.png")).convert("RGB"))
    img = full[CROP_Y:CROP_Y + CROP_H, CROP_X:CROP_X + CROP_W].copy()
    Image.fromarray(img).save(os.path.join(OUT, "input.png"))

    # Distortion goldens: (file stem = "<type>_l<level>", output).
    cases = {
        "gaussian_blur_l2": gaussian_blur(img, 1.5),
        "gaussian_blur_l4": gaussian_blur(img, 4.0),
        "saturation_up_l3": saturation(img, 2.0),
        "saturation_down_l2": saturation(img, 0.55),
        "brightness_up_l3": brightness(img, 36),
        "brightness_down_l4": brightness(img, -54),
        "contrast_up_l2": contrast(img, 1.5),
        "contrast_down_l4": contrast(img, 0.3),
        "hue_shift_l3": hue_shift(img, 45),
        "over_exposure_l3": exposure(img, 2.0),
        "under_exposure_l4": exposure(img, 0.25, 0.06),
        "dct_quantization_l3": dct_quantize(img, 6.0),
        "gaussian_noise_l3_seed11": gaussian_noise(img, 10.0, 11),
        "color_noise_l2_seed12": color_noise(img, 6.0, 12),
        "impulse_noise_l5_seed13": impulse_noise(img, 0.14, 13),
    }
    for name, out in cases.items():
        Image.fromarray(out).save(os.path.join(OUT, name + ".png"))

    # FR goldens: distorted inputs made here (any image pair will do), a
    # three-region label map stored as a grey PNG (value = label).
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    labels = np.full((h, w), 2, np.int32)
    labels[: h // 2, : w // 3] = 0
    labels[(yy - 28) ** 2 + (xx - 40) ** 2 < 12 ** 2] = 1
    Image.fromarray(labels.astype(np.uint8)).save(os.path.join(OUT, "labels.png"))
    rng = np.random.default_rng(4)
    fr_inputs = {
        "fr_blur": gaussian_blur(img, 2.0),
        "fr_noise": to_u8(img.astype(np.float64) + rng.normal(0, 12, img.shape)),
        "fr_sat": saturation(img, 0.3),
        "fr_bright": brightness(img, 30),
    }
    lines = ["# name region quality ssim delta_e (region -1 = global); made by make_distort_golden.py"]
    for name, dist in fr_inputs.items():
        Image.fromarray(dist).save(os.path.join(OUT, name + ".png"))
        for r, q, s, e in fr(img, dist, labels, 3):
            lines.append(f"{name} {r} {q:.10f} {s:.12f} {e:.12f}")
    with open(os.path.join(OUT, "fr_golden.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {len(cases) + len(fr_inputs) + 2} PNGs and fr_golden.txt to {OUT}")


if __name__ == "__main__":
    main()

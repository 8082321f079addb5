#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the golden files for tests/io/test_preprocess.cpp.

The references are independent of rsfiqa:
  * Pillow's Image.resize(size, Image.BILINEAR) for the antialiased 8-bit
    resize. segment-anything's ResizeLongestSide.apply_image calls
    torchvision.transforms.functional.resize on a PIL image, and torchvision
    forwards PIL images to Image.resize((w, h), BILINEAR); we call Pillow
    directly so torchvision is not needed.
  * PyTorch for SAM's normalisation and padding (Sam.preprocess) and for
    F.interpolate(mode="bilinear", align_corners=False).

Inputs are the committed sample photos under tests/data/images (PNG ones, so
Pillow and stb_image decode identical pixels) and small random images this
script writes next to the goldens (as PNG, lossless).

Outputs, all under tests/data/golden/preprocess/:
  rand_<h>x<w>.png                  random RGB inputs
  <name>__<W>x<H>.png               full Pillow resize results (small cases)
  sam_<name>_<T>.txt                SAM resize (hash, size, sampled pixels)
                                    and normalised tensor (sums, samples)
  interp_<case>_in.f32/_out.f32     F.interpolate input/output, raw float32 LE
  interp_cases.txt                  the shapes of those cases
  decode_rocket.txt                 Pillow's decode of rocket.jpg (samples),
                                    to report how far stb's JPEG decode is

Run with Debian's interpreter (python3-pil, python3-torch, python3-numpy):
    /usr/bin/python3 tools/golden/make_preprocess_golden.py
"""
import pathlib

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[2]
IMAGES = ROOT / "tests" / "data" / "images"
OUT = ROOT / "tests" / "data" / "golden" / "preprocess"

SAM_MEAN = [123.675, 116.28, 103.53]
SAM_STD = [58.395, 57.12, 57.375]


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def get_preprocess_shape(oldh, oldw, long_side_length):
    # Same arithmetic as segment_anything/utils/transforms.py.
    scale = long_side_length * 1.0 / max(oldh, oldw)
    newh, neww = oldh * scale, oldw * scale
    return int(newh + 0.5), int(neww + 0.5)


def pil_resize(img: Image.Image, w: int, h: int) -> Image.Image:
    return img.resize((w, h), Image.BILINEAR)


def write_full_resizes():
    rng = np.random.default_rng(20261126)
    inputs = {}
    for h, w in [(47, 61), (5, 3), (1, 9), (64, 48)]:
        a = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        name = f"rand_{h}x{w}"
        Image.fromarray(a, "RGB").save(OUT / f"{name}.png")
        inputs[name] = Image.fromarray(a, "RGB")
    inputs["chelsea"] = Image.open(IMAGES / "chelsea.png").convert("RGB")
    inputs["camera"] = Image.open(IMAGES / "camera.png").convert("RGB")

    # (input, out_w, out_h): shrink, grow, mixed, one axis only, extremes.
    cases = [
        ("rand_47x61", 17, 29), ("rand_47x61", 123, 90), ("rand_47x61", 30, 47),
        ("rand_47x61", 61, 20), ("rand_47x61", 1, 1), ("rand_47x61", 200, 5),
        ("rand_5x3", 11, 7), ("rand_5x3", 2, 2), ("rand_1x9", 4, 3),
        ("rand_64x48", 21, 28), ("rand_64x48", 7, 9),
    ]
    for name, T in [("chelsea", 160), ("camera", 100), ("chelsea", 97)]:
        img = inputs[name]
        h, w = get_preprocess_shape(img.height, img.width, T)
        cases.append((name, w, h))
    lines = []
    for name, w, h in cases:
        out = pil_resize(inputs[name], w, h)
        fn = f"{name}__{w}x{h}.png"
        out.save(OUT / fn)
        lines.append(f"{name} {w} {h} {fn}")
    (OUT / "resize_cases.txt").write_text("\n".join(lines) + "\n")


def write_sam_case(name: str, T: int):
    img = Image.open(IMAGES / f"{name}.png").convert("RGB")
    h, w = get_preprocess_shape(img.height, img.width, T)
    resized = np.array(pil_resize(img, w, h))  # [h, w, 3] uint8
    lines = [f"original {img.height} {img.width}", f"input {h} {w}",
             f"resized_fnv1a64 {fnv1a64(resized.tobytes()):016x}"]
    ys = np.linspace(0, h - 1, 23).round().astype(int)
    xs = np.linspace(0, w - 1, 19).round().astype(int)
    for y in ys:
        for x in xs:
            r, g, b = resized[y, x]
            lines.append(f"px {y} {x} {r} {g} {b}")

    # Sam.preprocess: (x - mean) / std on the float-promoted uint8 tensor, pad.
    x = torch.as_tensor(resized).permute(2, 0, 1).contiguous()[None, :, :, :]
    mean = torch.Tensor(SAM_MEAN).view(-1, 1, 1)
    std = torch.Tensor(SAM_STD).view(-1, 1, 1)
    x = (x - mean) / std
    x = F.pad(x, (0, T - w, 0, T - h))[0]  # [3, T, T] float32
    assert x.dtype == torch.float32
    for c in range(3):
        lines.append(f"sum {c} {x[c].double().sum().item():.10f}")
    ty = np.linspace(0, T - 1, 15).round().astype(int)
    tx = np.linspace(0, T - 1, 17).round().astype(int)
    for c in range(3):
        for y in ty:
            for xx in tx:
                lines.append(f"t {c} {y} {xx} {x[c, y, xx].item():.9g}")
    (OUT / f"sam_{name}_{T}.txt").write_text("\n".join(lines) + "\n")


def write_interp_cases():
    g = torch.Generator().manual_seed(7)
    cases = [
        ("up", 2, 13, 17, 29, 31),
        ("down", 2, 13, 17, 5, 7),
        ("mixed", 1, 13, 17, 40, 6),
        ("mask", 1, 32, 32, 64, 80),
        ("same", 1, 9, 11, 9, 11),
    ]
    lines = []
    for name, p, ih, iw, oh, ow in cases:
        x = torch.randn(1, p, ih, iw, generator=g, dtype=torch.float32) * 4.0
        y = F.interpolate(x, (oh, ow), mode="bilinear", align_corners=False)
        x.numpy().astype("<f4").tofile(OUT / f"interp_{name}_in.f32")
        y.numpy().astype("<f4").tofile(OUT / f"interp_{name}_out.f32")
        lines.append(f"{name} {p} {ih} {iw} {oh} {ow}")
    (OUT / "interp_cases.txt").write_text("\n".join(lines) + "\n")


def write_jpeg_decode():
    img = np.array(Image.open(IMAGES / "rocket.jpg").convert("RGB"))
    h, w, _ = img.shape
    lines = [f"size {h} {w}"]
    for y in range(0, h, 13):
        for x in range(0, w, 13):
            r, g, b = img[y, x]
            lines.append(f"px {y} {x} {r} {g} {b}")
    (OUT / "decode_rocket.txt").write_text("\n".join(lines) + "\n")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    write_full_resizes()
    write_sam_case("chelsea", 1024)
    write_sam_case("camera", 1024)
    write_interp_cases()
    write_jpeg_decode()


if __name__ == "__main__":
    main()

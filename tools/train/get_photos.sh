#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Downloads the Debian packages that ship real photographs (see the model
# card, docs/model-card-quality.md, "Data"), unpacks them without installing
# anything, and collects the photos as 8-bit RGB PNG files in
# $CACHE/photos/rgb/<source>__<name>.png, plus $CACHE/photos/photos.json with
# one record per photo (source package, original path, licence, size).
#
# It does not split or distort anything (split.py, `rsfiqa dataset`). Greyscale
# and RGBA files are converted to RGB (grey replicated, alpha dropped).
# Only photographs are kept (an allow-list below: no drawings, logos,
# synthetic test charts, wallpapers of the abstract/desktop folders, nor the
# second motorcycle view, which is the same scene as the first). Photos with
# a long side above 1024 px are downscaled (Lanczos) so the long side is
# 1024: the encoder sees 1024 px anyway, and the native-resolution
# statistics and the full-reference targets stay affordable on 2 cores.
#
# Usage: tools/train/get_photos.sh   (CACHE defaults to $RSFIQA_CACHE or .cache)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="${RSFIQA_CACHE:-$ROOT/.cache}"
OUT="$CACHE/photos"
mkdir -p "$OUT/debs" "$OUT/extract" "$OUT/rgb"

# package -> licence of its photos (per the packages' copyright files).
PKGS="python3-skimage python3-sklearn python-matplotlib-data python3-scipy darknet mate-backgrounds
      plasma-workspace-wallpapers opencv-doc"
for p in $PKGS; do
  if ! ls "$OUT/debs/${p}"_*.deb >/dev/null 2>&1; then
    (cd "$OUT/debs" && apt-get download "$p")
  fi
  if [ ! -d "$OUT/extract/$p" ]; then
    mkdir -p "$OUT/extract/$p"
    dpkg-deb -x "$(ls "$OUT/debs/${p}"_*.deb | head -n1)" "$OUT/extract/$p"
  fi
done

/usr/bin/python3 - "$OUT" <<'PY'
import bz2, json, os, sys
import numpy as np
from PIL import Image

out = sys.argv[1]
ext = os.path.join(out, "extract")
licences = {
    "python3-skimage": "CC0 / public domain (scikit-image data README)",
    "python3-sklearn": "CC-BY-2.0 (scikit-learn images README)",
    "python-matplotlib-data": "public domain (U.S. Navy photo)",
    "python3-scipy": "BSD-3-Clause (SciPy misc data)",
    "darknet": "darknet package data (public domain per its copyright file)",
    "mate-backgrounds": "GPL-2+ (mate-backgrounds copyright file)",
    "plasma-workspace-wallpapers": "GPL-2+ (plasma-workspace-wallpapers copyright file)",
    "opencv-doc": "Apache-2.0 / BSD-3-Clause (opencv-doc copyright file)",
}
records = []

# Added in round 4 for more distinct scenes. KDE wallpapers that are
# photographs (the rest are renders and drawings), largest size of each.
PLASMA = {"BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey", "Kite",
          "OneStandsOut", "Path", "Volna", "summer_1am"}
# OpenCV's sample photographs (examples/...), by path; no charts, drawings,
# synthetic shapes, calibration boards, text-only scans or paintings, and one
# view of each stereo / aerial / video pair. Value = name in the cache.
OPENCV = {"data/" + n: n for n in (
    "apple.jpg baboon.jpg building.jpg butterfly.jpg fruits.jpg home.jpg messi5.jpg orange.jpg aero1.jpg "
    "aloeL.jpg basketball1.png leuvenA.jpg squirrel_cls.jpg stuff.jpg box_in_scene.png graf1.png "
    "rubberwhale1.png chicky_512.jpg ela_original.jpg left.jpg board.jpg").split()}
OPENCV.update({"text/scenetext0%d.jpg" % i: "scenetext0%d.jpg" % i for i in range(1, 7)})
OPENCV.update({"hfs/data/00%d.jpg" % i: "hfs_00%d.jpg" % i for i in range(3)})
OPENCV.update({"alphamat/input_images/plant.jpg": "plant.jpg", "reg/home.png": "reg_home.png"})
OPENCV_DIR = "/usr/share/doc/opencv-doc/examples/"


def plasma_largest(path):
    """True when path is the largest size of a wallpaper in PLASMA."""
    d = os.path.dirname(path)
    if os.path.basename(os.path.dirname(os.path.dirname(d))) not in PLASMA:
        return False
    size = lambda f: int(f.split("x")[0]) * int(os.path.splitext(f)[0].split("x")[1])
    return os.path.basename(path) == max(os.listdir(d), key=size)


def cache_name(src, path):
    if src == "plasma-workspace-wallpapers":
        return path.split("/")[-4]
    if src == "opencv-doc":
        return os.path.splitext(OPENCV[path.split(OPENCV_DIR, 1)[1]])[0]
    return os.path.splitext(os.path.basename(path))[0]

SKIMAGE = {"astronaut", "brick", "camera", "chelsea", "coffee", "coins", "grass", "gravel", "hubble_deep_field",
           "moon", "motorcycle_left", "retina", "rocket"}


def wanted(src, path):
    stem = os.path.splitext(os.path.basename(path))[0]
    if src == "python3-skimage":
        return "/skimage/data/" in path and stem in SKIMAGE
    if src == "mate-backgrounds":
        return "/mate/nature/" in path
    if src == "darknet":
        return "/darknet/data/" in path and "/labels/" not in path and stem != "scream"
    if src == "python3-sklearn":
        return "/datasets/images/" in path
    if src == "python-matplotlib-data":
        return stem == "grace_hopper"
    if src == "plasma-workspace-wallpapers":
        return "/contents/images/" in path and plasma_largest(path)
    if src == "opencv-doc":
        return OPENCV_DIR in path and path.split(OPENCV_DIR, 1)[1] in OPENCV
    return False


def keep(src, path, arr):
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, -1)
    arr = arr[..., :3]
    if arr.dtype != np.uint8:
        return
    h, w = arr.shape[:2]
    if max(h, w) > 1024:
        s = 1024.0 / max(h, w)
        w, h = max(1, round(w * s)), max(1, round(h * s))
        arr = np.asarray(Image.fromarray(np.ascontiguousarray(arr)).resize((w, h), Image.LANCZOS))
    name = src + "__" + cache_name(src, path) + ".png"
    dst = os.path.join(out, "rgb", name)
    if not os.path.exists(dst):
        Image.fromarray(np.ascontiguousarray(arr)).save(dst)
    records.append(dict(file=name, source=src, original=os.path.relpath(path, ext).split("/", 1)[1], width=w, height=h,
                        licence=licences[src]))

for src in sorted(licences):
    root = os.path.join(ext, src)
    for d, _, files in sorted(os.walk(root)):
        for f in sorted(files):
            p = os.path.join(d, f)
            low = f.lower()
            if src == "python3-scipy":
                if f == "face.dat":
                    raw = bz2.decompress(open(p, "rb").read())
                    keep(src, p, np.frombuffer(raw, np.uint8).reshape(768, 1024, 3))
                continue
            if not low.endswith((".png", ".jpg", ".jpeg")) or not wanted(src, p):
                continue
            try:
                im = Image.open(p)
                im.load()
            except Exception:
                continue
            if im.mode not in ("RGB", "RGBA", "L", "LA", "P"):
                continue
            if im.mode == "P":
                im = im.convert("RGB")
            a = np.asarray(im)
            if a.ndim == 3 and a.shape[2] == 2:
                a = a[..., 0]
            keep(src, p, a)

json.dump(sorted(records, key=lambda r: r["file"]), open(os.path.join(out, "photos.json"), "w"), indent=1)
print("photos:", len(records), "in", os.path.join(out, "rgb"))
PY

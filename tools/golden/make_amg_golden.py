#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Goldens for the automatic mask generator's post-processing, computed with
# independent libraries: PyTorch (F.interpolate for SAM's mask upsampling),
# torchvision (batched_nms, box IoU) and OpenCV (connectedComponentsWithStats
# for small-region removal), plus numpy.save files for the .npy reader.
#
# The masks are synthetic: "blob" logits on SAM's 256x256 low-res grid,
#   logit(u, v) = amp * (1 - (d - r0)^2 / r^2),  d = sqrt((u - cx)^2 + (v - cy)^2)
# (a disc for r0 = 0, a ring with a hole for r0 > r) evaluated in float64 and rounded to float32 (the C++ test evaluates the
# same formula), so no model and no large file is needed. The pipeline
# applied to them follows SAM's AMG steps for one crop covering the image:
# IoU filter (>), bilinear upsampling 256 -> 1024 -> crop to the resized
# image -> original size, stability score (>=), threshold 0, boxes, NMS,
# column-major RLE, COCO compressed strings (pycocotools' rleToString
# algorithm, written out here), and small-region removal (holes then islands)
# with a re-NMS that prefers unchanged masks.
#
# Dev-only: tests never run this. Usage (Debian python3-torch,
# python3-torchvision, python3-opencv):
#   /usr/bin/python3 tools/golden/make_amg_golden.py [tests/data/golden/amg]
import json
import os
import sys

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import batched_nms

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data",
                                                         "golden", "amg")

# Original image size (h, w): the long side is not 1024 so both resizes run.
H, W = 120, 160
# Blobs: (cx, cy, r, amp, r0) in low-res pixels; three masks per prompt, four
# prompts. Some fail the IoU filter, some the stability filter (low amp), some
# overlap (NMS), one is a ring with a small hole and one a tiny disc (cleanup).
BLOBS = [
    (60.0, 50.0, 30.0, 40.0, 0.0), (60.0, 50.0, 33.0, 30.0, 0.0), (61.0, 51.0, 20.0, 60.0, 0.0),
    (180.0, 60.0, 20.0, 60.0, 26.0), (180.0, 62.0, 38.0, 8.0, 0.0), (150.0, 150.0, 10.0, 50.0, 0.0),
    (100.0, 140.0, 50.0, 45.0, 0.0), (101.0, 141.0, 49.0, 45.0, 0.0), (20.0, 180.0, 15.0, 30.0, 0.0),
    (230.0, 170.0, 25.0, 35.0, 0.0), (120.0, 100.0, 90.0, 5.0, 0.0), (40.0, 200.0, 4.0, 80.0, 0.0),
]
IOUS = [0.95, 0.91, 0.97, 0.93, 0.89, 0.99, 0.96, 0.98, 0.92, 0.94, 0.90, 0.87]
PRED_IOU_THRESH = 0.88
STABILITY_THRESH = 0.9
OFFSET = 1.0
NMS_THRESH = 0.7
MIN_AREA = 40


def blob_logits(cx, cy, r, amp, r0):
    v, u = np.mgrid[0:256, 0:256].astype(np.float64)
    d = np.sqrt((u - cx) * (u - cx) + (v - cy) * (v - cy))
    return (amp * (1.0 - (d - r0) * (d - r0) / (r * r))).astype(np.float32)


def preprocess_shape(h, w, target=1024):
    s = target * 1.0 / max(h, w)
    return int(h * s + 0.5), int(w * s + 0.5)


def rle_counts(mask):
    flat = mask.T.reshape(-1).astype(np.uint8)  # column-major
    counts, cur, run = [], 0, 0
    for v in flat:
        if v != cur:
            counts.append(run)
            run, cur = 0, v
        run += 1
    counts.append(run)
    return [int(c) for c in counts]


def coco_string(counts):
    # pycocotools maskApi.c rleToString.
    s = []
    for i, c in enumerate(counts):
        x = c - counts[i - 2] if i > 2 else c
        more = True
        while more:
            ch = x & 0x1F
            x >>= 5
            more = (x != -1) if (ch & 0x10) else (x != 0)
            if more:
                ch |= 0x20
            s.append(chr(ch + 48))
    return "".join(s)


def mask_box(m):
    ys, xs = np.nonzero(m)
    if len(xs) == 0:
        return [0, 0, 0, 0]
    return [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]


def remove_small(mask, area, mode):
    holes = mode == "holes"
    work = (holes ^ mask).astype(np.uint8)
    n, regions, stats, _ = cv2.connectedComponentsWithStats(work, 8)
    sizes = stats[:, -1][1:]
    small = [i + 1 for i, s in enumerate(sizes) if s < area]
    if not small:
        return mask, False
    fill = [0] + small
    if not holes:
        fill = [i for i in range(n) if i not in fill]
        if not fill:
            fill = [int(np.argmax(sizes)) + 1]
    return np.isin(regions, fill), True


def main():
    os.makedirs(OUT, exist_ok=True)
    ih, iw = preprocess_shape(H, W)
    low = torch.from_numpy(np.stack([blob_logits(*b) for b in BLOBS]))[:, None]
    up = F.interpolate(low, (1024, 1024), mode="bilinear", align_corners=False)
    up = up[..., :ih, :iw]
    full = F.interpolate(up, (H, W), mode="bilinear", align_corners=False)[:, 0]

    kept = []
    for i in range(len(BLOBS)):
        if not IOUS[i] > PRED_IOU_THRESH:
            continue
        lg = full[i]
        inter = int((lg > OFFSET).sum())
        union = int((lg > -OFFSET).sum())
        stab = inter / union if union > 0 else 0.0
        if not stab >= STABILITY_THRESH:
            continue
        m = (lg > 0).numpy()
        kept.append(dict(index=i, iou=IOUS[i], stability=stab, mask=m, box=mask_box(m)))
    boxes = torch.tensor([k["box"] for k in kept], dtype=torch.float32)
    scores = torch.tensor([k["iou"] for k in kept], dtype=torch.float32)
    keep = batched_nms(boxes, scores, torch.zeros(len(kept)), NMS_THRESH).tolist()
    after_nms = [kept[k] for k in keep]

    def record(k, m):
        c = rle_counts(m)
        return dict(index=k["index"], predicted_iou=k["iou"], stability_score=k["stability"], bbox_xyxy=mask_box(m),
                    area=int(m.sum()), counts=c, coco=coco_string(c))

    # Small-region cleanup on the NMS survivors (SAM postprocess_small_regions).
    new_masks, unchanged = [], []
    for k in after_nms:
        m, ch1 = remove_small(k["mask"], MIN_AREA, "holes")
        m, ch2 = remove_small(m, MIN_AREA, "islands")
        new_masks.append(m)
        unchanged.append(not (ch1 or ch2))
    boxes2 = torch.tensor([mask_box(m) for m in new_masks], dtype=torch.float32)
    scores2 = torch.tensor([1.0 if u else 0.0 for u in unchanged], dtype=torch.float32)
    keep2 = batched_nms(boxes2, scores2, torch.zeros(len(new_masks)), NMS_THRESH).tolist()

    # A standalone remove_small_regions case: a noisy random mask.
    rng = np.random.default_rng(5)
    noisy = rng.random((40, 50)) < 0.55
    holes, _ = remove_small(noisy, 6, "holes")
    islands, _ = remove_small(noisy, 6, "islands")

    golden = {
        "about": "tools/golden/make_amg_golden.py: torch F.interpolate, torchvision batched_nms, cv2 components",
        "height": H, "width": W, "blobs": BLOBS, "ious": IOUS,
        "pred_iou_thresh": PRED_IOU_THRESH, "stability_score_thresh": STABILITY_THRESH,
        "stability_score_offset": OFFSET, "box_nms_thresh": NMS_THRESH, "min_mask_region_area": MIN_AREA,
        "masks": [record(k, k["mask"]) for k in after_nms],
        "masks_small_regions": [record(after_nms[k], new_masks[k]) for k in keep2],
        "remove_small": {"h": 40, "w": 50, "area": 6, "input": rle_counts(noisy), "holes": rle_counts(holes),
                         "islands": rle_counts(islands)},
    }
    with open(os.path.join(OUT, "amg_postprocess.json"), "w") as f:
        json.dump(golden, f, separators=(",", ":"))

    # numpy.save files for the .npy reader test.
    np.save(os.path.join(OUT, "npy_f32_2x3x4.npy"), np.arange(24, dtype="<f4").reshape(2, 3, 4) * 0.5 - 3)
    np.save(os.path.join(OUT, "npy_f32_5.npy"), np.arange(5, dtype="<f4") / 4)
    np.save(os.path.join(OUT, "npy_f64_2.npy"), np.arange(2, dtype="<f8"))
    print("kept", [k["index"] for k in after_nms], "after cleanup", [after_nms[k]["index"] for k in keep2])


if __name__ == "__main__":
    main()

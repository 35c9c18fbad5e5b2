"""Fabricates a predict-pair folder (no model needed): tiles, GT, two predictions, CSV and JSON.

Scenes are a few field parcels (Voronoi cells) with class-like colours and textures; A is the
clean truth, B a blotchy variant, and GT has a parcel relabelled in some tiles, so the page looks
like a real review. One image has an HTML-like name to check that names are never rendered.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from landseg.classes import BIODIVERSITY
from landseg.correction import PREDICTION_COLUMNS

EVIL = "<img src=x onerror=alert(1)>"
#: (name, label quality); the queue shows the lowest quality first.
TILES = [("tile_003", 0.62), ("tile_001", 0.04), (EVIL, 0.11), ("tile_004", 0.35),
         ("tile_002", 0.88), ("tile_005", 0.47)]
_RGB = {0: (46, 70, 92), 1: (38, 74, 34), 2: (108, 168, 66), 3: (206, 182, 98), 4: (150, 148, 150),
        5: (132, 110, 66)}


@dataclass
class ReviewDir:
    root: Path                 # the predict-pair folder (DIR)
    data: Path                 # the dataset root its images come from
    queue: list[str]           # names, worst label quality first
    rows: dict[str, dict[str, str]]


def _scene(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size]
    seeds = rng.uniform(0, size, (7, 2))
    cell = np.argmin((yy[..., None] - seeds[:, 0]) ** 2 + (xx[..., None] - seeds[:, 1]) ** 2, axis=-1)
    classes = rng.permutation(np.r_[np.arange(6), rng.integers(0, 6, 1)])
    mask = classes[cell].astype(np.uint8)
    rgb = np.zeros((size, size, 3), np.float32)
    for c, colour in _RGB.items():
        rgb[mask == c] = colour
    stripes = (np.sin((xx + yy) / 1.6) * 14)[..., None]
    rgb += np.where((mask == 3)[..., None], stripes, 0) + rng.normal(0, 9, rgb.shape)
    edges = (np.diff(cell, axis=0, prepend=cell[:1]) != 0) | (np.diff(cell, axis=1, prepend=cell[:, :1]) != 0)
    rgb[edges] = (40, 58, 30)  # hedgerows
    return np.clip(rgb, 0, 255).astype(np.uint8), mask


def _scores(mask: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    valid = gt != 255
    ious = []
    for c in range(6):
        p, t = (mask == c) & valid, (gt == c) & valid
        union = (p | t).sum()
        if union:
            ious.append((p & t).sum() / union)
    return float(np.mean(ious)), float((mask[valid] == gt[valid]).mean())


def _palette_png(mask: np.ndarray, path: Path) -> None:
    img = Image.fromarray(mask, mode="P")
    img.putpalette(BIODIVERSITY.palette())
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def _overlay(rgb: np.ndarray, mask: np.ndarray, path: Path) -> None:
    colours = np.array(BIODIVERSITY.colors + [(255, 255, 255)] * 250, np.float32)
    out = 0.5 * rgb + 0.5 * colours[np.minimum(mask, 255)]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(out.astype(np.uint8)).save(path, quality=85)


def make_review_dir(base: Path, size: int = 96) -> ReviewDir:
    data, root = base / "data", base / "review"
    images, masks = data / "Val" / "Rural" / "images_png", data / "Val" / "Rural" / "masks_png"
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    rows: dict[str, dict[str, str]] = {}
    for i, (name, quality) in enumerate(TILES):
        rng = np.random.default_rng(i)
        rgb, clean = _scene(rng, size)
        gt = clean.copy()
        if i % 2 == 0:  # a parcel labelled as the wrong class, as annotators do
            gt[clean == clean[size // 2, size // 2]] = (clean[size // 2, size // 2] + 1) % 6
        gt[:, :3] = 255  # an unlabelled strip (ignore)
        b = clean.copy()
        blob = (np.add.outer((np.arange(size) - size * 0.3) ** 2, (np.arange(size) - size * 0.6) ** 2)
                < (size * 0.18) ** 2)
        b[blob] = 2
        Image.fromarray(rgb).save(images / f"{name}.png")
        Image.fromarray(gt, mode="L").save(masks / f"{name}.png")
        for label, pred in (("A", clean), ("B", b)):
            _palette_png(pred, root / f"pred_{label}" / f"{name}.png")
            _overlay(rgb, pred, root / f"overlay_{label}" / f"{name}.jpg")
        _overlay(rgb, gt, root / "overlay_GT" / f"{name}.jpg")
        iou_a, acc_a = _scores(clean, gt)
        iou_b, acc_b = _scores(b, gt)
        valid = gt != 255
        rows[name] = {
            "name": name, "split": "Val/Rural", "image": str(images / f"{name}.png"),
            "gt_mask": str(masks / f"{name}.png"), "pred_A": f"pred_A/{name}.png", "pred_B": f"pred_B/{name}.png",
            "iou_A": f"{iou_a:.4f}", "iou_B": f"{iou_b:.4f}", "acc_A": f"{acc_a:.4f}", "acc_B": f"{acc_b:.4f}",
            "agreement": f"{float((clean[valid] == b[valid]).mean()):.4f}", "label_quality": f"{quality:.4f}",
            "gt_classes": ";".join(str(c) for c in np.unique(gt[valid])),
        }
    with (root / "predictions.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=PREDICTION_COLUMNS)
        writer.writeheader()
        writer.writerows(rows.values())
    info = {"models": {"A": str(base / "ckpt" / "teacher_swinb.ckpt"), "B": str(base / "ckpt" / "student_tiny.ckpt")},
            "data": str(data), "split": "Val", "mask_dir": "masks_png", "classes": BIODIVERSITY.to_list(),
            "ignore_index": 255, "tta": False}
    (root / "predict_pair.json").write_text(json.dumps(info, indent=2))
    queue = [n for n, _ in sorted(TILES, key=lambda t: t[1])]
    return ReviewDir(root, data, queue, rows)

"""What the review page shows: the rows of ``predictions.csv`` in queue order, and safe file access.

Only files the review needs are ever served: files inside DIR (after resolving symlinks) and the
dataset images and masks that ``predictions.csv`` names. Masks are re-encoded as palette PNGs
with the class colours and a transparent ignore value, because a class-index PNG (mode L) looks
black in a browser.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from landseg.classes import BIODIVERSITY, ClassInfo, ClassTable
from landseg.correction import PREDICTION_COLUMNS
from landseg.errors import DatasetError

LABELS = ("A", "B")
REQUIRED_COLUMNS = ("name", "image", "gt_mask", "pred_A", "pred_B")
#: Suffixes /files/ may serve from DIR (never review.sqlite or anything else).
SERVABLE_SUFFIXES = {".png", ".jpg", ".jpeg", ".json", ".csv"}
BROWSER_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
_EXTRA_COLOURS = [(31, 119, 180), (255, 127, 14), (148, 103, 189), (23, 190, 207), (227, 119, 194)]


class Forbidden(Exception):
    """A requested path lies outside the folders the review may serve."""


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    return None if value is None or math.isnan(value) else value


@dataclass(frozen=True)
class Item:
    """One image under review: its files, scores and the classes in its ground truth."""

    name: str
    split: str
    image: Path
    gt_mask: Path
    preds: dict[str, str]                       # label -> path relative to DIR
    scores: dict[str, float | None]            # iou_A, iou_B, acc_A, acc_B, agreement, label_quality
    gt_classes: tuple[int, ...] = field(default=())

    @property
    def label_quality(self) -> float | None:
        return self.scores.get("label_quality")


@dataclass
class ReviewSet:
    """A predict-pair output folder, ready to review."""

    root: Path
    items: list[Item]                           # queue order: worst label quality first
    classes: ClassTable
    models: dict[str, str]
    info: dict[str, Any]
    by_name: dict[str, Item] = field(init=False)

    def __post_init__(self) -> None:
        self.by_name = {it.name: it for it in self.items}

    def queue(self, class_index: int | None = None) -> list[Item]:
        """Items in review order, optionally only those whose GT contains ``class_index``."""
        if class_index is None:
            return list(self.items)
        return [it for it in self.items if class_index in it.gt_classes]

    def class_index(self, text: str) -> int:
        """A class by name (case-insensitive) or index; the error lists the valid names."""
        if text.strip().isdigit() and int(text) < len(self.classes):
            return int(text)
        return self.classes.index(text.strip())

    def prediction_path(self, item: Item, choice: str) -> str:
        """The absolute path recorded for a choice (empty for GT and skip), as decisions.csv wants."""
        if choice not in LABELS:
            return ""
        return os.path.normpath(os.path.join(self.root, item.preds[choice]))


def parse_classes(info: dict[str, Any]) -> ClassTable:
    """The class table from predict_pair.json (list of {name, color}, plain names, or absent)."""
    raw = info.get("classes")
    ignore = int(info.get("ignore_index", BIODIVERSITY.ignore_index))
    if isinstance(raw, dict):
        ignore = int(raw.get("ignore_index", ignore))
        raw = raw.get("classes")
    if not raw:
        return BIODIVERSITY
    if all(isinstance(c, str) for c in raw):
        known = {c.name.lower(): c.color for c in BIODIVERSITY.classes}
        colours = [known.get(n.lower(), _EXTRA_COLOURS[i % len(_EXTRA_COLOURS)]) for i, n in enumerate(raw)]
        return ClassTable(tuple(ClassInfo(n, c) for n, c in zip(raw, colours, strict=True)), ignore)
    return ClassTable.from_list(raw, ignore_index=ignore)


def read_prediction_rows(root: str | Path) -> list[dict[str, str]]:
    """The rows of ``DIR/predictions.csv`` as written (strings), checked for the needed columns."""
    path = Path(root) / "predictions.csv"
    if not path.is_file():
        raise DatasetError(f"{path} not found; run `landseg predict-pair` to create DIR first "
                           "(DIR must hold predictions.csv and predict_pair.json).")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"{path} lacks column(s) {', '.join(missing)}; expected "
                               f"{', '.join(PREDICTION_COLUMNS)}. Re-run `landseg predict-pair`.")
        rows = list(reader)
    seen: set[str] = set()
    for lineno, row in enumerate(rows, start=2):
        if not row["name"]:
            raise DatasetError(f"{path}:{lineno}: empty name.")
        if row["name"] in seen:
            raise DatasetError(f"{path}:{lineno}: image {row['name']!r} appears twice; names must be unique.")
        seen.add(row["name"])
    return rows


def _item(row: dict[str, str]) -> Item:
    scores = {k: _number(row.get(k)) for k in ("iou_A", "iou_B", "acc_A", "acc_B", "agreement", "label_quality")}
    classes = tuple(int(t) for t in (row.get("gt_classes") or "").split(";") if t.strip().isdigit())
    return Item(row["name"], row.get("split") or "", Path(row["image"]), Path(row["gt_mask"]),
                {label: row[f"pred_{label}"] for label in LABELS}, scores, classes)


def load_review_set(root: str | Path) -> ReviewSet:
    """Read DIR; the queue puts the lowest label quality first (unknown quality last, then by name)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"review folder {root} does not exist; pass the folder `landseg predict-pair` wrote.")
    root = root.resolve()
    info_path = root / "predict_pair.json"
    info: dict[str, Any] = {}
    if info_path.is_file():
        try:
            info = json.loads(info_path.read_text())
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{info_path} is not valid JSON ({exc}); re-run `landseg predict-pair`.") from exc
    items = [_item(r) for r in read_prediction_rows(root)]
    items.sort(key=lambda it: (it.label_quality is None, it.label_quality or 0.0, it.name))
    models = {str(k): str(v) for k, v in (info.get("models") or {}).items()}
    return ReviewSet(root, items, parse_classes(info), models, info)


def resolve_inside(root: Path, rel: str) -> Path:
    """The real path of ``rel`` under ``root``; Forbidden for absolute paths, ``..`` or symlinks leading out."""
    if not rel or "\x00" in rel or rel.startswith(("/", "\\")) or (len(rel) > 1 and rel[1] == ":"):
        raise Forbidden(rel)
    if ".." in rel.replace("\\", "/").split("/"):
        raise Forbidden(rel)
    real = Path(os.path.realpath(root / rel))
    base = Path(os.path.realpath(root))
    if real != base and base not in real.parents:
        raise Forbidden(rel)
    if not real.is_file():
        raise FileNotFoundError(rel)
    return real


def dataset_file(path: Path) -> Path:
    """A dataset file named in predictions.csv (allowed because the CSV names it), resolved."""
    real = Path(os.path.realpath(path))
    if not real.is_file():
        raise FileNotFoundError(str(path))
    return real


@lru_cache(maxsize=64)
def _mask_png(path: str, mtime_ns: int, palette: tuple[int, ...], alpha: bytes) -> bytes:
    from landseg.data.files import read_mask

    img = Image.fromarray(np.ascontiguousarray(read_mask(path)), mode="P")
    img.putpalette(list(palette))
    buf = io.BytesIO()
    img.save(buf, format="PNG", transparency=alpha)
    return buf.getvalue()


def mask_png(path: Path, classes: ClassTable) -> bytes:
    """A class-index mask as a palette PNG: class colours, ignore transparent, unknown values magenta."""
    palette = [255, 0, 255] * 256
    palette[: 3 * len(classes)] = [v for c in classes.colors for v in c]
    alpha = bytearray([255] * 256)
    if 0 <= classes.ignore_index < 256:
        alpha[classes.ignore_index] = 0
    return _mask_png(str(path), path.stat().st_mtime_ns, tuple(palette), bytes(alpha))


def browser_image(path: Path) -> bytes | None:
    """PNG bytes for images a browser cannot show (TIFF); None when the file can be sent as is."""
    if path.suffix.lower() in BROWSER_IMAGE_SUFFIXES:
        return None
    from landseg.data.files import read_image

    buf = io.BytesIO()
    Image.fromarray(read_image(path)).save(buf, format="PNG")
    return buf.getvalue()

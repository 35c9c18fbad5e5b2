"""Predict every tile of a split with two models and rank the ground truth by label quality.

Why two models: where two independently trained models agree with each other but not with the
annotation, the annotation is the likely culprit. Each tile gets both predictions (palette PNGs a
reviewer can adopt as the new mask), colour overlays for the review app, per-model mean IoU and
pixel accuracy against the ground truth, the A/B agreement and cleanlab's label-quality score of
the ground truth under the models' averaged probabilities. ``predictions.csv`` lists the tiles
worst first, so review starts where the labels are most likely wrong.

Memory stays flat whatever the split size: probabilities exist for one batch at a time and every
per-tile output is written (atomically) before the next batch is predicted. The dataset is only
read, never written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from landseg.classes import ClassTable
from landseg.correction import PREDICTION_COLUMNS
from landseg.errors import ConfigError, DatasetError

LABELS = ("A", "B")
GT_LABEL = "GT"
PREDICTIONS_CSV = "predictions.csv"
META_JSON = "predict_pair.json"
#: Fixed decimals of the float columns of predictions.csv (undefined values are empty cells).
FLOAT_DECIMALS = 6
OVERLAY_ALPHA = 0.5
JPEG_QUALITY = 90
#: cleanlab's softmin image score (temperature 0.1): dominated by the worst-scored pixels.
QUALITY_METHOD = "softmin"
_LOAD_KEYS = {"model", "options", "num_classes"}


def pred_dir(label: str) -> str:
    """Folder (relative to the output DIR) of a model's predicted masks."""
    return f"pred_{label}"


def overlay_dir(label: str) -> str:
    """Folder (relative to the output DIR) of the overlays of a model, or of the ground truth ("GT")."""
    return f"overlay_{label}"


# --------------------------------------------------------------------------------------------
# pure scoring functions
# --------------------------------------------------------------------------------------------


def label_quality(labels: np.ndarray, probs: np.ndarray, ignore_index: int | None = 255) -> float:
    """cleanlab's label-quality score (softmin) of one ``HxW`` mask under ``CxHxW`` probabilities.

    Low means the mask is likely wrong somewhere. Ignored pixels are left out entirely (the
    annotator made no claim about them): the score is cleanlab's softmin over the labelled pixels
    only, which for a mask without ignore equals ``get_label_quality_scores`` on the whole image.
    A mask without labelled pixels scores 1.0 (nothing to doubt).
    """
    from cleanlab.segmentation.rank import get_label_quality_scores

    labels, probs = np.asarray(labels), np.asarray(probs)
    if labels.ndim != 2 or probs.ndim != 3 or probs.shape[1:] != labels.shape:
        raise ValueError(f"label_quality needs labels HxW and probs CxHxW of the same size, got {labels.shape} "
                         f"and {probs.shape}.")
    keep = labels != ignore_index if ignore_index is not None else np.ones(labels.shape, bool)
    flat = labels[keep].astype(np.int64)
    if flat.size == 0:
        return 1.0
    if flat.min() < 0 or flat.max() >= probs.shape[0]:
        raise ValueError(f"labels hold values outside 0..{probs.shape[0] - 1} that are not the ignore value "
                         f"{ignore_index}: {sorted(set(np.unique(flat).tolist()) - set(range(probs.shape[0])))}.")
    # One row of labelled pixels is an image to cleanlab: same scores, ignored pixels excluded.
    scores, _ = get_label_quality_scores(flat[None, None, :], probs[:, keep][None, :, None, :],
                                         method=QUALITY_METHOD, verbose=False)
    return float(scores[0])


def confusion_matrix(truth: np.ndarray, pred: np.ndarray, num_classes: int,
                     ignore_index: int | None = 255) -> np.ndarray:
    """``num_classes``² pixel counts (rows truth, columns prediction) over the labelled pixels."""
    keep = truth != ignore_index if ignore_index is not None else np.ones(truth.shape, bool)
    t, p = truth[keep].astype(np.int64), pred[keep].astype(np.int64)
    return np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def pair_scores(truth: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray,
                classes: ClassTable) -> dict[str, float | None]:
    """``iou_A``, ``iou_B``, ``acc_A``, ``acc_B`` against the truth and the A/B ``agreement``.

    Mean IoU is over the classes present in truth or prediction (as in ``hard-samples``);
    accuracy and agreement are over the labelled pixels. None when the tile has none.
    """
    from landseg.evaluation.weight_policy import tile_stats

    labelled = truth != classes.ignore_index
    n = int(labelled.sum())
    out: dict[str, float | None] = {}
    for label, pred in zip(LABELS, (pred_a, pred_b), strict=True):
        cm = confusion_matrix(truth, pred, len(classes), classes.ignore_index)
        out[f"iou_{label}"] = tile_stats("", cm, classes.names).mean_iou if n else None
        out[f"acc_{label}"] = float(np.trace(cm) / n) if n else None
    out["agreement"] = float(np.mean(pred_a[labelled] == pred_b[labelled])) if n else None
    return out


def predict_probs(net: Any, images: Any, *, tta: str = "none", precision: str = "32") -> Any:
    """Softmax probabilities (N, C, H, W) on the images' device; ``tta`` averages views (``flip``: as
    is, left-right, up-down; ``d4``: all 8) each mapped back, by the one TTA implementation
    (:func:`landseg.inference.tiling.tta_predict`, which ``landseg predict`` uses too)."""
    import torch

    from landseg.inference import predict_logits
    from landseg.inference.tiling import tta_predict

    _check_tta(tta)
    device = images.device

    def probs(batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(batch).to(device)
        return predict_logits(net, x, precision=precision).softmax(1).cpu().numpy()

    return torch.from_numpy(tta_predict(probs, images.cpu().numpy(), tta)).to(device)


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------


def palette_png(mask: np.ndarray, classes: ClassTable) -> bytes:
    """A mode-P PNG whose palette index is the class index, so ``read_mask`` gives class indices back."""
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(mask, dtype=np.uint8))  # 2-D uint8: mode L
    img.putpalette(classes.palette())
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.{FLOAT_DECIMALS}f}"


def predictions_csv_text(rows: Sequence[Mapping[str, str]]) -> str:
    """``predictions.csv`` content: :data:`PREDICTION_COLUMNS`, rows in the given order."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=PREDICTION_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def read_predictions(path: str | Path) -> list[dict[str, str]]:
    """Rows of a ``predictions.csv`` (or of ``DIR/predictions.csv`` given DIR), as strings."""
    path = Path(path)
    if path.is_dir():
        path = path / PREDICTIONS_CSV
    if not path.is_file():
        raise DatasetError(f"{path} does not exist; run `landseg predict-pair ... --out DIR` first.")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != PREDICTION_COLUMNS:
            raise DatasetError(f"{path} has columns {reader.fieldnames}; expected {PREDICTION_COLUMNS}. "
                               "Re-create it with `landseg predict-pair`.")
        return list(reader)


# --------------------------------------------------------------------------------------------
# running the two models
# --------------------------------------------------------------------------------------------


@dataclass
class PredictPairResult:
    """What :func:`predict_pair` wrote; ``rows`` are the CSV rows (strings), worst label quality first."""

    out_dir: Path
    predictions_csv: Path
    meta_json: Path
    rows: list[dict[str, str]]
    classes: ClassTable
    tta: str
    #: The precision the models ran in, with its reason (landseg.precision).
    precision: dict[str, str] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.rows)


def _check_tta(tta: str) -> None:
    from landseg.inference.tiling import TTA_MODES

    if tta not in TTA_MODES:
        raise ConfigError(f"tta={tta!r} (--tta) is not valid; choose one of {', '.join(TTA_MODES)}.")


def _check_models(models: Mapping[str, str | Path] | Sequence[str | Path]) -> dict[str, Path]:
    """Labelled checkpoints: exactly A and B, because predictions.csv has fixed A/B columns."""
    if isinstance(models, str | Path):
        models = [models]
    if not isinstance(models, Mapping):
        models = dict(zip(LABELS, models, strict=False)) if len(models) == len(LABELS) else {
            f"#{i + 1}": m for i, m in enumerate(models)}
    if sorted(models) != sorted(LABELS):
        got = ", ".join(f"{k}={v}" for k, v in models.items()) or "none"
        raise ConfigError(f"predict-pair needs exactly two models labelled A and B (--model A=CKPT --model B=CKPT); "
                          f"got {len(models)}: {got}.")
    return {label: Path(models[label]) for label in LABELS}


def _load_kwargs(model_options: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    options = dict(model_options or {})
    stray = sorted(set(options) - set(LABELS))
    if stray:
        raise ConfigError(f"model options given for unknown model label(s) {', '.join(stray)}; the labels are A and B.")
    out = {}
    for label in LABELS:
        kw = dict(options.get(label) or {})
        bad = sorted(set(kw) - _LOAD_KEYS)
        if bad:
            raise ConfigError(f"model options of {label}: unknown key(s) {', '.join(bad)}; valid: "
                              f"{', '.join(sorted(_LOAD_KEYS))}.")
        out[label] = kw
    return out


def _same_classes(loaded: Mapping[str, Any], paths: Mapping[str, Path]) -> ClassTable:
    a, b = (loaded[label].classes for label in LABELS)
    if a != b:
        def show(t: ClassTable) -> str:
            return f"[{', '.join(t.names)}] (ignore {t.ignore_index})"

        raise ConfigError(f"the two models predict different classes: A ({paths['A']}) {show(a)}, B ({paths['B']}) "
                          f"{show(b)}. Both must share one class table (names, colours, order, ignore value).")
    return a


def _check_out(out: Path, data: Path) -> None:
    out_r, data_r = out.resolve(), data.resolve()
    if out_r == data_r or data_r in out_r.parents:
        raise ConfigError(f"output folder {out} lies inside the dataset {data}; predict-pair never writes into "
                          "a dataset, choose a folder outside it (e.g. runs/correction).")


def _tile_batches(ds: Any, batch_size: int) -> Iterator[list[tuple[int, np.ndarray, np.ndarray]]]:
    """``(index, image, mask)`` runs of up to ``batch_size`` consecutive tiles of one size (so they stack)."""
    batch: list[tuple[int, np.ndarray, np.ndarray]] = []
    for i in range(len(ds)):
        image, mask = ds.load(i)
        if batch and (len(batch) == batch_size or image.shape != batch[0][1].shape):
            yield batch
            batch = []
        batch.append((i, image, mask))
    if batch:
        yield batch


def _split_of(image: Path, root: Path) -> str:
    """``Val/Rural`` for ``ROOT/Val/Rural/images_png/x.png``; ``""`` for a flat dataset."""
    rel = image.parent.parent.resolve().relative_to(root.resolve()).as_posix()
    return "" if rel == "." else rel


def predict_pair(models: Mapping[str, str | Path] | Sequence[str | Path], data: str | Path,
                 split: str | None = "Val", out: str | Path = "runs/correction", *, mask_dir: str = "masks_png",
                 tta: str = "none", batch_size: int = 8, precision: str = "auto", device: str = "cpu",
                 model_options: Mapping[str, Mapping[str, Any]] | None = None, progress: bool = True,
                 on_image: Callable[[int, str], None] | None = None) -> PredictPairResult:
    """Predict ``data/split`` with models A and B and write the shared correction files into ``out``.

    ``models`` maps the labels "A" and "B" to checkpoints (a sequence of two means A, B).
    ``model_options`` holds per-label :func:`~landseg.inference.load_model` arguments for
    checkpoints that record no model (GeoSeg), e.g. ``{"A": {"model": "ftunetformer"}}``.
    Writes ``pred_A|pred_B/<name>.png``, ``overlay_A|overlay_B|overlay_GT/<name>.jpg``,
    ``predictions.csv`` (worst label quality first) and ``predict_pair.json``; re-running into
    the same ``out`` overwrites them. ``on_image(done, name)`` is called after each tile.
    """
    import torch
    from tqdm import tqdm

    from landseg.curation.remap import write_bytes_atomic
    from landseg.data import SegmentationDataset, val_transform
    from landseg.inference import load_model
    from landseg.plots import overlay
    from landseg.precision import resolve_precision
    from landseg.utils import atomic_write_text, write_json

    paths = _check_models(models)
    kwargs = _load_kwargs(model_options)
    _check_tta(tta)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size={batch_size!r} (--batch-size) must be a positive integer, e.g. 8.")
    root, out_dir = Path(data), Path(out)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist; check --data.")
    _check_out(out_dir, root)

    choice = resolve_precision(precision, device, "predict-pair")
    loaded = {label: load_model(paths[label], **kwargs[label]) for label in LABELS}
    classes = _same_classes(loaded, paths)
    ds = SegmentationDataset(root, split, classes=classes, mask_dir=mask_dir)
    nets = {label: loaded[label].model.to(device) for label in LABELS}
    norms = {label: val_transform(mean=tuple(loaded[label].mean), std=tuple(loaded[label].std)) for label in LABELS}

    rows: list[dict[str, str]] = []
    done = 0
    with tqdm(total=len(ds), desc=f"predict-pair {root.name}/{split or ''}", unit="tile", disable=not progress) as bar:
        for batch in _tile_batches(ds, batch_size):
            probs = {}
            for label in LABELS:
                x = torch.stack([norms[label](image, mask)[0] for _, image, mask in batch]).to(device)
                probs[label] = predict_probs(nets[label], x, tta=tta, precision=choice.name).cpu().numpy()
            for j, (i, image, truth) in enumerate(batch):
                image_path, mask_path = ds.pairs[i]
                name = ds.names[i]
                tile = {label: probs[label][j] for label in LABELS}
                preds = {label: tile[label].argmax(0).astype(np.uint8) for label in LABELS}
                quality = label_quality(truth, (tile["A"] + tile["B"]) / 2.0, classes.ignore_index)
                scores = pair_scores(truth, preds["A"], preds["B"], classes)
                for label in LABELS:
                    write_bytes_atomic(out_dir / pred_dir(label) / f"{name}.png", palette_png(preds[label], classes))
                    write_bytes_atomic(out_dir / overlay_dir(label) / f"{name}.jpg",
                                       _jpeg(overlay(image, preds[label], classes, OVERLAY_ALPHA)))
                write_bytes_atomic(out_dir / overlay_dir(GT_LABEL) / f"{name}.jpg",
                                   _jpeg(overlay(image, truth, classes, OVERLAY_ALPHA)))
                present = [c for c in np.unique(truth).tolist() if c != classes.ignore_index]
                rows.append({
                    "name": name, "split": _split_of(image_path, root),
                    "image": str(image_path.resolve()), "gt_mask": str(Path(str(mask_path)).resolve()),
                    **{f"pred_{label}": f"{pred_dir(label)}/{name}.png" for label in LABELS},
                    **{key: _fmt(value) for key, value in scores.items()},
                    "label_quality": _fmt(quality), "gt_classes": ";".join(map(str, present)),
                })
                done += 1
                bar.update(1)
                if on_image is not None:
                    on_image(done, name)
            del probs

    rows.sort(key=lambda r: (float(r["label_quality"]), r["name"]))
    csv_path = atomic_write_text(out_dir / PREDICTIONS_CSV, predictions_csv_text(rows))
    per_split: dict[str, int] = {}
    for r in rows:
        per_split[r["split"]] = per_split.get(r["split"], 0) + 1
    meta = write_json(out_dir / META_JSON, {
        "models": {label: str(paths[label].resolve()) for label in LABELS},
        "model_options": {label: kwargs[label] for label in LABELS if kwargs[label]},
        "data": str(root.resolve()), "split": split, "mask_dir": mask_dir,
        "classes": classes.to_list(), "ignore_index": classes.ignore_index,
        "tta": tta, "precision": choice.to_dict(),
        "label_quality": {"library": "cleanlab", "method": QUALITY_METHOD, "probabilities": "mean of A and B",
                          "ignored_pixels": "excluded"},
        "counts": {"images": len(rows), "splits": dict(sorted(per_split.items()))},
    })
    return PredictPairResult(out_dir=out_dir, predictions_csv=csv_path, meta_json=meta, rows=rows,
                             classes=classes, tta=tta, precision=choice.to_dict())

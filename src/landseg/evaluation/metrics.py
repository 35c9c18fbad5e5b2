"""Segmentation metrics, all derived from one confusion matrix.

Every number in a report (OA, per-class IoU/F1/precision/recall and their means) comes from a
single pixel confusion matrix, so the numbers are mutually consistent and the matrix is the only
state that has to be synchronised across DDP ranks (a plain sum).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric

from landseg.classes import DEFAULT_IGNORE_INDEX, ClassTable
from landseg.utils import jsonable as to_jsonable  # the one strict-JSON converter
from landseg.utils import markdown_table

__all__ = [
    "ConfusionMatrix",
    "per_class_markdown",
    "segmentation_scores",
    "to_jsonable",
]

#: Per-class metric keys in :func:`segmentation_scores` and the prefix of their mean keys.
_PER_CLASS = {"IoU": "mIoU", "F1": "mF1", "precision": "mPrecision", "recall": "mRecall"}
#: Human names of the means, used in labels such as ``"mIoU (5 classes, Background excluded)"``.
_MEAN_NAMES = {"mIoU": "mIoU", "mF1": "mean F1", "mPrecision": "mean precision", "mRecall": "mean recall"}


class ConfusionMatrix(Metric):
    """Pixel confusion matrix (rows = ground truth, columns = prediction).

    The state is a C×C int64 tensor reduced with ``sum``, so torchmetrics/Lightning add the
    matrices of all DDP ranks before :meth:`compute` and every rank reports global numbers.
    int64 matters: a validation set of a few hundred 1024² tiles overflows int32.
    """

    is_differentiable = False
    higher_is_better = None
    full_state_update = False

    confmat: Tensor

    def __init__(self, num_classes: int, ignore_index: int | None = DEFAULT_IGNORE_INDEX, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}.")
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        self.add_state(
            "confmat",
            default=torch.zeros(num_classes, num_classes, dtype=torch.int64),
            dist_reduce_fx="sum",
        )

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Add a batch: ``preds`` are logits (N,C,H,W) or labels (N,H,W); ``target`` is (N,H,W)."""
        if preds.ndim == target.ndim + 1:
            if preds.shape[1] != self.num_classes:
                raise ValueError(
                    f"Logits have {preds.shape[1]} channels but the metric has {self.num_classes} classes."
                )
            preds = preds.argmax(dim=1)
        if preds.shape != target.shape:
            raise ValueError(
                f"Prediction shape {tuple(preds.shape)} does not match target shape {tuple(target.shape)}."
            )
        preds = preds.reshape(-1).long()
        target = target.reshape(-1).long()
        if self.ignore_index is not None:
            keep = target != self.ignore_index
            preds, target = preds[keep], target[keep]
        c = self.num_classes
        # Out-of-range labels would silently land in the wrong cell (or grow the bincount):
        # name them instead, since they almost always mean a wrong class table or ignore value.
        bad = (target < 0) | (target >= c) | (preds < 0) | (preds >= c)
        if bool(bad.any()):
            values = torch.unique(torch.cat([target[bad], preds[bad]])).tolist()
            raise ValueError(
                f"Labels outside 0..{c - 1} (and not ignore_index={self.ignore_index}) found: "
                f"{values[:10]}. Check the class table and the dataset's ignore value."
            )
        counts = torch.bincount(target * c + preds, minlength=c * c)
        self.confmat += counts.reshape(c, c)

    def compute(self) -> Tensor:
        """The (synchronised) C×C matrix."""
        return self.confmat

    def scores(self, classes: ClassTable | None = None, exclude: Sequence[int | str] | None = None) -> dict:
        """Shortcut for :func:`segmentation_scores` on :meth:`compute`."""
        return segmentation_scores(self.compute(), classes, exclude)


def _ratio(num: np.ndarray, den: np.ndarray, undefined: np.ndarray) -> np.ndarray:
    """num/den with 0/0 → 0 (torchmetrics' zero_division=0), but NaN where ``undefined``."""
    out = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    out[undefined] = np.nan
    return out


def _nanmean(values: np.ndarray) -> float:
    """Mean ignoring NaN (absent classes); NaN if nothing is left, without numpy's warning."""
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else math.nan


def _resolve_exclude(exclude: Sequence[int | str], classes: ClassTable | None, n: int) -> set[int]:
    out = set()
    for item in exclude:
        if isinstance(item, str):
            if classes is None:
                raise ValueError(f"Cannot exclude class {item!r} by name without a class table.")
            out.add(classes.index(item))
        elif 0 <= int(item) < n:
            out.add(int(item))
        else:
            raise ValueError(f"Cannot exclude class index {item}: valid indices are 0..{n - 1}.")
    return out


def _means_label(counted: list[int], names: list[str]) -> str:
    """E.g. ``"5 classes, Background excluded"`` or ``"6 classes"`` (says what the mean covers)."""
    n = len(counted)
    text = f"{n} class{'es' if n != 1 else ''}"
    excluded = [names[i] for i in range(len(names)) if i not in counted]
    if excluded:
        text += f", {', '.join(excluded)} excluded"
    return text


def segmentation_scores(
    confmat: Tensor | np.ndarray,
    classes: ClassTable | None = None,
    exclude: Sequence[int | str] | None = None,
) -> dict:
    """All segmentation scores from one confusion matrix (rows = truth, cols = prediction).

    Per-class values are lists indexed like the class table. A class absent from both truth and
    prediction has no defined score: it gets NaN and is skipped in means (rather than counting as
    0 or 1 and moving the mean for a class the data never exercised). Other 0/0 cases (e.g.
    precision of a class never predicted) are 0, as in torchmetrics.

    Means are given twice with unambiguous keys: ``mIoU`` etc. over the classes that count
    (``classes.mean_indices``, or all classes minus ``exclude`` if given — indices or names) and
    ``mIoU_all`` etc. over every class; ``labels`` holds matching human-readable names such as
    ``"mIoU (5 classes, Background excluded)"``. Values are Python floats (NaN where undefined);
    pass the result through :func:`to_jsonable` before writing strict JSON.
    """
    cm = confmat.detach().cpu().numpy() if isinstance(confmat, Tensor) else np.asarray(confmat)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"Expected a square confusion matrix, got shape {cm.shape}.")
    n = cm.shape[0]
    if classes is not None and len(classes) != n:
        raise ValueError(f"Confusion matrix is {n}×{n} but the class table has {len(classes)} classes.")
    names = classes.names if classes is not None else [f"class {i}" for i in range(n)]
    if exclude is not None:
        dropped = _resolve_exclude(exclude, classes, n)
        counted = [i for i in range(n) if i not in dropped]
    else:
        counted = classes.mean_indices if classes is not None else list(range(n))

    cm = cm.astype(np.float64)
    tp = np.diag(cm)
    truth = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    fp, fn = predicted - tp, truth - tp
    absent = (truth == 0) & (predicted == 0)
    per_class = {
        "IoU": _ratio(tp, tp + fp + fn, absent),
        "F1": _ratio(2 * tp, 2 * tp + fp + fn, absent),
        "precision": _ratio(tp, predicted, absent),
        "recall": _ratio(tp, truth, absent),
    }
    total = float(cm.sum())

    label_counted, label_all = _means_label(counted, names), _means_label(list(range(n)), names)
    scores: dict[str, Any] = {
        "num_classes": n,
        "class_names": list(names),
        "OA": float(tp.sum() / total) if total > 0 else math.nan,
        "pixels": [int(v) for v in truth],
        "predicted_pixels": [int(v) for v in predicted],
        "total_pixels": int(total),
        **{key: [float(v) for v in arr] for key, arr in per_class.items()},
        "means_over": [names[i] for i in counted],
        "means_over_indices": list(counted),
        "means_label": label_counted,
        "means_all_label": label_all,
        "labels": {},
    }
    for key, mean_key in _PER_CLASS.items():
        arr = per_class[key]
        scores[mean_key] = _nanmean(arr[counted]) if counted else math.nan
        scores[f"{mean_key}_all"] = _nanmean(arr)
        scores["labels"][mean_key] = f"{_MEAN_NAMES[mean_key]} ({label_counted})"
        scores["labels"][f"{mean_key}_all"] = f"{_MEAN_NAMES[mean_key]} ({label_all})"
    return scores


def _fmt_pct(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.2f}"


def per_class_markdown(scores: dict, classes: ClassTable) -> str:
    """A Markdown table of per-class scores (in %) with one row per mean variant, then OA.

    Classes left out of the counted means are marked with † so the table explains the label.
    """
    if len(classes) != scores["num_classes"]:
        raise ValueError(
            f"Scores are for {scores['num_classes']} classes but the class table has {len(classes)}."
        )
    counted = set(scores["means_over_indices"])
    rows = []
    for i, name in enumerate(classes.names):
        mark = "" if i in counted else " †"
        rows.append([f"{name}{mark}", *(_fmt_pct(scores[key][i]) for key in _PER_CLASS), f"{scores['pixels'][i]:,}"])

    variants = [("", scores["means_label"], sorted(counted))]
    if len(counted) != len(classes):
        variants.append(("_all", scores["means_all_label"], list(range(len(classes)))))
    for suffix, label, indices in variants:
        cells = [_fmt_pct(scores[f"{mean_key}{suffix}"]) for mean_key in _PER_CLASS.values()]
        pixels = sum(scores["pixels"][i] for i in indices)
        rows.append([f"**Mean ({label})**", *(f"**{c}**" for c in cells), f"{pixels:,}"])
    lines = [markdown_table(["class", "IoU (%)", "F1 (%)", "precision (%)", "recall (%)", "pixels"], rows,
                            [False, True, True, True, True, True], pad=False)]

    footer = [f"\nOverall accuracy (OA): {_fmt_pct(scores['OA'])}% of {scores['total_pixels']:,} labelled pixels."]
    if len(counted) != len(classes):
        footer.append("† not counted in the first mean row.")
    return "\n".join(lines + footer) + "\n"

"""The report's figures: per-class IoU by stage, training curves, confusion matrices.

Drawn like :mod:`landseg.plots` on an explicit Agg canvas (no pyplot state), in class colours
from the run's class table, at a fixed size and dpi so they read well embedded in the HTML.
"""

from __future__ import annotations

import csv
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from landseg.classes import ClassTable

DPI = 120


def _new(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _style(ax: Any) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#d9e2ec", linewidth=0.8)
    ax.set_axisbelow(True)


def _rgb(colour: tuple[int, int, int]) -> tuple[float, float, float]:
    r, g, b = colour
    return r / 255, g / 255, b / 255


def per_class_iou_figure(models: list[str], iou: list[list[float | None]], classes: ClassTable, baseline: int,
                         path: Path, split: str) -> Path:
    """Grouped bars, one group per stage and one bar per class (class colours); below: Δ vs baseline."""
    vals = np.array([[np.nan if v is None else 100 * v for v in row] for row in iou], dtype=float)
    n_models, n_cls = vals.shape
    others = [i for i in range(n_models) if i != baseline]
    fig = _new(max(8.0, 1.6 * n_models + 2.5), 7.4 if others else 4.2)
    axes = fig.subplots(2 if others else 1, 1, squeeze=False, height_ratios=[1.25, 1] if others else [1])[:, 0]
    width = 0.84 / n_cls
    offsets = (np.arange(n_cls) - (n_cls - 1) / 2) * width
    colours = [_rgb(c) for c in classes.colors]

    ax = axes[0]
    for c in range(n_cls):
        ax.bar(np.arange(n_models) + offsets[c], np.nan_to_num(vals[:, c]), width, color=colours[c],
               edgecolor="#33333380", linewidth=0.6, label=classes.names[c])
    ax.set_xticks(range(n_models), models)
    ax.set_ylabel("IoU (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"Per-class IoU on {split}")
    _style(ax)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper", frameon=False, title="class")

    if others:
        ax = axes[1]
        delta = vals[others] - vals[baseline]
        for c in range(n_cls):
            ax.bar(np.arange(len(others)) + offsets[c], np.nan_to_num(delta[:, c]), width, color=colours[c],
                   edgecolor="#33333380", linewidth=0.6)
        ax.axhline(0, color="#333333", linewidth=0.9)
        ax.set_xticks(range(len(others)), [models[i] for i in others])
        ax.set_ylabel(f"Δ IoU vs {models[baseline]} (pp)")
        finite = delta[np.isfinite(delta)]
        lo, hi = (min(0.0, float(finite.min())), max(0.0, float(finite.max()))) if finite.size else (0.0, 0.0)
        pad = max(0.5, 0.12 * (hi - lo))
        ax.set_ylim(lo - (pad if lo < 0 else 0.25 * pad), hi + (pad if hi > 0 else 0.25 * pad))
        ax.set_title(f"Change against {models[baseline]}")
        _style(ax)
    fig.savefig(path, dpi=DPI, format="png")
    return path


@dataclass
class Curve:
    stage: str
    loss_epochs: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    val_epochs: list[int] = field(default_factory=list)
    val: list[float] = field(default_factory=list)


def _num(text: str | None) -> float | None:
    try:
        v = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    return v if v is not None and math.isfinite(v) else None


def read_curve(stage: str, metrics_csv: Path, monitor: str = "val_mIoU") -> Curve:
    """Per-epoch train loss and validation score from Lightning's CSV log (last value per epoch).

    The CSV logger writes train and validation values of an epoch on separate rows; step-level
    rows without an epoch (learning-rate logs) are skipped.
    """
    loss: dict[int, float] = {}
    val: dict[int, float] = {}
    with metrics_csv.open(newline="") as fh:
        for row in csv.DictReader(fh):
            epoch = _num(row.get("epoch"))
            if epoch is None:
                continue
            train = _num(row.get("train_loss_epoch"))
            train = _num(row.get("train_loss")) if train is None else train
            if train is not None:
                loss[int(epoch)] = train
            score = _num(row.get(monitor))
            if score is not None:
                val[int(epoch)] = score
    c = Curve(stage)
    c.loss_epochs, c.loss = list(loss), list(loss.values())
    c.val_epochs, c.val = list(val), list(val.values())
    return c


def training_curves_figure(curves: list[Curve], path: Path, monitor: str = "val_mIoU") -> Path:
    """Train loss and validation score per epoch, one line per training stage, side by side."""
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    fig = _new(11.5, 4.3)
    ax_loss, ax_val = fig.subplots(1, 2)
    for i, c in enumerate(curves):
        colour = cmap(i % 10)
        ax_loss.plot(c.loss_epochs, c.loss, marker="o", markersize=3.5, color=colour, label=c.stage)
        ax_val.plot(c.val_epochs, [100 * v for v in c.val], marker="o", markersize=3.5, color=colour, label=c.stage)
        if c.val:
            best = int(np.argmax(c.val))
            ax_val.plot([c.val_epochs[best]], [100 * c.val[best]], marker="*", markersize=11, color=colour,
                        markeredgecolor="white", linestyle="none")
    ax_loss.set_title("Training loss")
    ax_loss.set_ylabel("train_loss")
    ax_val.set_title(f"Validation {monitor.removeprefix('val_')} (★ best epoch)")
    ax_val.set_ylabel(f"{monitor} (%)")
    for ax in (ax_loss, ax_val):
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        _style(ax)
    fig.legend(*ax_loss.get_legend_handles_labels(), loc="outside right upper", frameon=False, title="stage")
    fig.savefig(path, dpi=DPI, format="png")
    return path


def confusion_png(png: Path | None, metrics: dict[str, Any] | None, classes: ClassTable, dest: Path,
                  title: str) -> Path | None:
    """The evaluate stage's confusion-matrix PNG, copied; re-plotted from metrics.json if it is gone."""
    if png is not None and png.is_file():
        shutil.copyfile(png, dest)
        return dest
    cm = (metrics or {}).get("confusion_matrix")
    if not cm or len(cm) != len(classes):
        return None
    from landseg.plots import plot_confusion_matrix

    return plot_confusion_matrix(np.asarray(cm), classes, dest, normalize="true", title=title)

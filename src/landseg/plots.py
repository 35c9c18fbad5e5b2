"""Figures and colour previews: confusion-matrix plots, coloured masks and image overlays.

Figures are drawn on an explicit Agg canvas (no pyplot), so this works headless, in worker
threads and next to code that set another pyplot backend, without touching global state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor

from landseg.classes import ClassTable

__all__ = ["colorize_mask", "confusion_matrix_figure", "overlay", "plot_confusion_matrix"]

Normalize = Literal["true", "pred", "all"] | None
_NORM_AXIS_TITLES = {
    "true": "share of each true class (rows sum to 100%)",
    "pred": "share of each predicted class (columns sum to 100%)",
    "all": "share of all labelled pixels",
    None: "pixel counts",
}


def _compact(n: float) -> str:
    """1234567 → '1.2M': pixel counts fit in a tick label."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.1f}{suffix}"
    return f"{int(n)}"


def _normalise(cm: np.ndarray, normalize: Normalize) -> np.ndarray:
    """Normalised copy; rows/columns with no pixels become NaN (drawn blank, not as 0%)."""
    cm = cm.astype(np.float64)
    if normalize is None:
        return cm
    if normalize == "true":
        den = cm.sum(axis=1, keepdims=True)
    elif normalize == "pred":
        den = cm.sum(axis=0, keepdims=True)
    elif normalize == "all":
        den = np.full((1, 1), cm.sum())
    else:
        raise ValueError(f"normalize must be 'true', 'pred', 'all' or None, got {normalize!r}.")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, cm / np.where(den > 0, den, 1), np.nan)


def confusion_matrix_figure(
    confmat: Tensor | np.ndarray,
    classes: ClassTable,
    normalize: Normalize = "true",
    title: str | None = None,
) -> Figure:
    """The confusion-matrix figure (e.g. for TensorBoard's ``add_figure``); see :func:`plot_confusion_matrix`."""
    cm = confmat.detach().cpu().numpy() if isinstance(confmat, Tensor) else np.asarray(confmat)
    n = len(classes)
    if cm.shape != (n, n):
        raise ValueError(f"Confusion matrix has shape {cm.shape} but the class table has {n} classes.")
    values = _normalise(cm, normalize)
    truth_pixels = cm.sum(axis=1)

    size = max(6.0, 0.9 * n + 2.5)
    fig = Figure(figsize=(size + 1.2, size), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    vmax = 1.0 if normalize is not None else max(float(np.nanmax(values)) if values.size else 1.0, 1.0)
    shown = np.ma.masked_invalid(values)
    # Rows without truth pixels are grey ("no data"), not white like 0%.
    cmap = matplotlib.colormaps["Blues"].with_extremes(bad="#dddddd")
    im = ax.imshow(shown, cmap=cmap, vmin=0.0, vmax=vmax, interpolation="nearest")
    cbar = fig.colorbar(im, ax=ax, shrink=0.85)
    if normalize is not None:
        cbar.ax.yaxis.set_major_formatter(lambda v, _pos: f"{100 * v:.0f}%")

    font = 10 if n <= 8 else max(5, 10 - (n - 8) // 2)
    for i in range(n):
        for j in range(n):
            v = values[i, j]
            if np.isnan(v):
                text = "–"
            elif normalize is None:
                text = _compact(v)
            else:
                text = f"{100 * v:.1f}%"
            dark = not np.isnan(v) and v > 0.55 * vmax
            ax.text(j, i, text, ha="center", va="center", fontsize=font,
                    color="white" if dark else "black")

    ax.set_xticks(range(n), classes.names, rotation=35, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(n), [f"{name}\n(n={_compact(truth_pixels[i])})" for i, name in enumerate(classes.names)])
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    ax.set_title(title or f"Confusion matrix — {_NORM_AXIS_TITLES[normalize]}")
    return fig


def plot_confusion_matrix(
    confmat: Tensor | np.ndarray,
    classes: ClassTable,
    path: str | Path,
    normalize: Normalize = "true",
    title: str | None = None,
) -> Path:
    """Save the confusion matrix as a PNG (150 dpi) and return its path.

    Default ``normalize="true"`` divides each row by its true-pixel count, so the diagonal reads as
    per-class recall and class imbalance does not hide errors on rare classes; each y label shows
    the row's pixel count so the percentages can be weighed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = confusion_matrix_figure(confmat, classes, normalize=normalize, title=title)
    fig.savefig(path, dpi=150, format="png")
    return path


def _lut(classes: ClassTable, size: int) -> np.ndarray:
    """Label → RGB lookup: class colours, ignore white, any other value black (as in mask PNGs)."""
    lut = np.zeros((max(size, 256), 3), dtype=np.uint8)
    lut[: len(classes)] = np.asarray(classes.colors, dtype=np.uint8)
    if 0 <= classes.ignore_index < len(lut):
        lut[classes.ignore_index] = 255
    return lut


def colorize_mask(mask: np.ndarray | Tensor, classes: ClassTable) -> np.ndarray:
    """H×W label mask → H×W×3 uint8 RGB using the class colours (ignore → white)."""
    mask = mask.detach().cpu().numpy() if isinstance(mask, Tensor) else np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"Expected an H×W label mask, got shape {mask.shape}.")
    if not np.issubdtype(mask.dtype, np.integer):
        raise ValueError(f"Mask must hold integer labels, got dtype {mask.dtype}.")
    if mask.size and mask.min() < 0:
        raise ValueError(f"Mask has negative labels (min {mask.min()}).")
    top = int(mask.max()) + 1 if mask.size else 0
    return _lut(classes, top)[mask]


def overlay(
    image: np.ndarray, mask: np.ndarray | Tensor, classes: ClassTable, alpha: float = 0.5
) -> np.ndarray:
    """Blend class colours over an H×W×3 (or H×W) uint8 image; ignored pixels show the image only."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"overlay expects a uint8 image (0..255), got dtype {image.dtype}.")
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"Expected an H×W×3 image, got shape {image.shape}.")
    image = image[..., :3]
    colours = colorize_mask(mask, classes)
    if colours.shape[:2] != image.shape[:2]:
        raise ValueError(f"Mask size {colours.shape[:2]} does not match image size {image.shape[:2]}.")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}.")
    mask_np = mask.detach().cpu().numpy() if isinstance(mask, Tensor) else np.asarray(mask)
    weight = np.where(mask_np == classes.ignore_index, 0.0, alpha)[..., None]
    blended = (1.0 - weight) * image.astype(np.float32) + weight * colours.astype(np.float32)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)

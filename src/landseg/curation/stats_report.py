"""What class statistics look like: per-class histograms (PNG) and the Markdown tables `landseg stats` prints.

Split from :mod:`landseg.curation.stats` (counting and caching) so each reads on its own.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from landseg.classes import ClassTable
from landseg.curation.stats import DENOMINATORS, DatasetStats, Denominator

# --------------------------------------------------------------------------- figure


def plot_class_histograms(stats: DatasetStats, classes: ClassTable | None, path: str | Path,
                          denominator: Denominator = "labelled", bins: int = 20) -> Path:
    """One histogram per class of the per-tile fraction, in the class colour; saved as PNG.

    ``classes`` (default: the stats' table) only supplies names and colours, e.g. to restyle.

    Drawn on an explicit Agg canvas (no pyplot), like :mod:`landseg.plots`, which itself cannot
    be used here because it imports torch.
    """
    from matplotlib import patheffects
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    classes = classes or stats.classes
    if len(classes) != len(stats.classes):
        raise ValueError(f"class table has {len(classes)} classes but the stats have {len(stats.classes)}.")
    path = Path(path)
    frac = stats.fractions(denominator)
    summary = stats.summary_table(denominator)
    ncols = min(3, len(classes))
    nrows = math.ceil(len(classes) / ncols)
    fig = Figure(figsize=(4.4 * ncols, 3.3 * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    edges = np.linspace(0.0, 1.0, bins + 1)
    for i, (ax, row) in enumerate(zip(axes, summary, strict=False)):
        values = frac[:, i][~np.isnan(frac[:, i])]
        colour = np.asarray(classes.colors[i]) / 255.0
        ax.hist(values, bins=edges, color=colour, edgecolor="#333333", linewidth=0.6)
        if values.size:
            # White-outlined so the median shows on any class colour, black included.
            ax.axvline(row.median, color="black", linestyle="--", linewidth=1.2,
                       path_effects=[patheffects.withStroke(linewidth=3, foreground="white")])
        ax.set_title(classes.names[i], fontsize=11)
        ax.set_xlim(0, 1)
        ax.set_xlabel("fraction of the tile")
        ax.set_ylabel("tiles")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.text(0.97, 0.95, f"in {row.tiles}/{len(stats)} tiles\nmean {row.mean:.3f}\nmedian {row.median:.3f}",
                transform=ax.transAxes, ha="right", va="top", fontsize=9,
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
    for ax in axes[len(classes):]:
        ax.set_visible(False)
    what = "labelled pixels" if denominator == "labelled" else "all pixels (incl. ignore)"
    fig.suptitle(f"Per-tile class fraction (share of {what}), {len(stats)} tiles; dashed: median")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, format="png")
    return path


# --------------------------------------------------------------------------- report


def render_tables(stats: DatasetStats, denominator: Denominator = "labelled") -> str:
    """The pixel-share and per-tile fraction tables as aligned Markdown (printed by ``landseg stats``)."""
    from landseg.utils import markdown_table

    c = len(stats.classes)
    totals = stats.counts.sum(axis=0)
    share = {d: stats.pixel_share(d) for d in DENOMINATORS}
    all_pixels = int(totals.sum())

    def pct(v: float) -> str:
        return "–" if math.isnan(v) else f"{100 * v:.2f}"

    rows = [[n, f"{int(totals[i]):,}", pct(share["labelled"][i]), pct(share["all"][i])]
            for i, n in enumerate(stats.classes.names)]
    for label, i in ((f"(ignore {stats.classes.ignore_index})", c), ("(other values)", c + 1)):
        rows.append([label, f"{int(totals[i]):,}", "–", pct(totals[i] / all_pixels if all_pixels else math.nan)])
    pixels = markdown_table(["class", "pixels", "% of labelled", "% of all"], rows, [False, True, True, True])

    def num(v: float) -> str:
        return "–" if math.isnan(v) else f"{v:.3f}"

    summary = markdown_table(
        ["class", "mean", "median", "max", "tiles with class", "% of tiles"],
        [[r.name, num(r.mean), num(r.median), num(r.max), str(r.tiles), pct(r.tiles / len(stats))]
         for r in stats.summary_table(denominator)],
        [False, True, True, True, True, True],
    )
    what = "labelled pixels" if denominator == "labelled" else "all pixels, incl. ignore"
    return (f"## Pixel share per class ({len(stats)} tiles)\n\n{pixels}\n\n"
            f"## Per-tile class fraction (share of {what})\n\n{summary}")

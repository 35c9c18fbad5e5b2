"""Per-tile difficulty of a checkpoint on a split, and sampling weights keyed by tile name.

Why this exists: training can show the tiles a model gets wrong more often. The seed's
``analyze_hard_samples.py`` scored random training crops (a different answer on every run) and
wrote its weights by row position (silently misaligned as soon as the file list changed). Here
every tile is scored whole with the validation transform, so two runs give the same bytes, and
every output is keyed by tile name (the file stem) and sorted by it.

The pipeline is a chain of pure functions, testable without a model::

    per-tile confusion matrix --tile_stats--> TileStats --weigh_tiles(policy)--> WeightedTile
        --> tier_table / class_table --> render_report

:func:`analyze_hard_samples` runs the model and writes ``hard_samples_analysis.json``,
``sample_weights.tsv`` and ``hard_samples_tables.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from landseg.classes import ClassTable
from landseg.errors import DatasetError
from landseg.evaluation.weight_policy import (
    HARD_CLASS_IOU,
    WEIGHT_DECIMALS,
    ClassRow,
    TierRow,
    TileStats,
    WeightedTile,
    WeightPolicy,
    class_table,
    tier_table,
    tile_stats,
    weigh_tiles,
)
from landseg.utils import atomic_write_text, markdown_table, write_json

ANALYSIS_JSON = "hard_samples_analysis.json"
WEIGHTS_TSV = "sample_weights.tsv"
TABLES_MD = "hard_samples_tables.md"


def summary_line(tiles: Sequence[WeightedTile]) -> str:
    """E.g. "6 unique tiles; sum of weights = 22.50 (... would show 23 samples)" (rounded half up)."""
    total = sum(t.weight for t in tiles)
    return (f"{len(tiles)} unique tiles; sum of weights = {total:.2f} (an epoch with sum_of_weights sampling "
            f"would show {math.floor(total + 0.5)} samples)")


def render_report(tiles: Sequence[WeightedTile], tier_rows: Sequence[TierRow], class_rows: Sequence[ClassRow],
                  policy: WeightPolicy, hard_iou: float = HARD_CLASS_IOU) -> str:
    """Both tables and the summary line as Markdown (also what the CLI prints)."""
    tiers = markdown_table(
        ["weight", "samples", "%", "meaning"],
        [[r.weight, str(r.samples), f"{r.percent:.1f}", r.meaning] for r in tier_rows],
        [True, True, True, False])
    classes = markdown_table(
        ["class", "hard samples", "tiles with class", "% hard", "avg weight"],
        [[r.name, str(r.hard), str(r.tiles), "–" if r.percent_hard is None else f"{r.percent_hard:.1f}",
          "–" if r.mean_weight is None else f"{r.mean_weight:.2f}"] for r in class_rows],
        [False, True, True, True, True])
    return (f"## Weight tiers (policy: {policy.kind})\n\n{tiers}\n\n"
            f"## Per-class difficulty (hard: class IoU < {hard_iou:g} in a tile that contains the class)\n\n"
            f"{classes}\n\n{summary_line(tiles)}\n")


def weights_tsv(tiles: Sequence[WeightedTile]) -> str:
    """``name<TAB>weight`` rows sorted by name: what a weighted sampler reads."""
    for t in tiles:
        if any(ch in t.name for ch in "\t\r\n"):
            raise DatasetError(f"tile name {t.name!r} contains a tab or newline; rename the file.")
    rows = [f"{t.name}\t{t.weight:.{WEIGHT_DECIMALS}f}" for t in sorted(tiles, key=lambda t: t.name)]
    return "\n".join(["name\tweight", *rows]) + "\n"


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def _tile_record(t: WeightedTile) -> dict[str, Any]:
    return {"name": t.name, "iou": {k: _round(v) for k, v in t.stats.iou.items()}, "pixels": dict(t.stats.pixels),
            "mean_iou": _round(t.stats.mean_iou), "weight": t.weight, "why": t.why}


# --------------------------------------------------------------------------------------------
# running a checkpoint
# --------------------------------------------------------------------------------------------


@dataclass
class HardSampleResult:
    tiles: list[WeightedTile]
    policy: WeightPolicy
    class_names: list[str]
    tier_rows: list[TierRow]
    class_rows: list[ClassRow]
    report: str
    out_dir: Path
    analysis_json: Path
    weights_tsv: Path
    tables_md: Path
    #: The precision the model ran in, with its reason (landseg.precision).
    precision: dict[str, str] = field(default_factory=dict)
    weights: dict[str, float] = field(init=False)

    def __post_init__(self) -> None:
        self.weights = {t.name: t.weight for t in self.tiles}

    @property
    def sum_of_weights(self) -> float:
        return sum(self.weights.values())


def _tile_stats_from_model(net: Any, ds: Any, classes: ClassTable, *, window: int | None, overlap: int,
                           batch_size: int, precision: str, device: str, progress: bool, desc: str) -> list[TileStats]:
    """Whole-tile (or sliding-window) predictions → one confusion matrix and TileStats per tile."""
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from landseg.evaluation.metrics import ConfusionMatrix
    from landseg.inference import predict_logits, predict_sliding

    confmat = ConfusionMatrix(len(classes), ignore_index=classes.ignore_index)
    stats = []
    for batch in tqdm(DataLoader(ds, batch_size=batch_size), desc=desc, disable=not progress, unit="batch"):
        images = batch["image"].to(device)
        if window is None:
            logits = predict_logits(net, images, precision=precision)
        else:
            logits = predict_sliding(net, images, window, overlap, precision=precision)
        for name, pred, mask in zip(batch["name"], logits.argmax(1).cpu(), batch["mask"], strict=True):
            confmat.reset()
            confmat.update(pred[None], mask[None])
            stats.append(tile_stats(name, confmat.compute(), classes.names))
    return stats


def analyze_hard_samples(checkpoint: str | Path, data: str | Path, split: str | None = "Train",
                         out: str | Path = "runs/hard_samples", *, policy: WeightPolicy = WeightPolicy(),
                         model: str | None = None, options: dict[str, Any] | None = None,
                         num_classes: int | None = None, mask_dir: str = "masks_png", window: int | None = None,
                         overlap: int = 128, batch_size: int = 1, precision: str = "auto", device: str = "cpu",
                         progress: bool = True) -> HardSampleResult:
    """Score every tile of ``data/split`` with ``checkpoint`` and turn the scores into weights.

    Deterministic: whole tiles, validation transform, no augmentation; with ``window`` a tile
    larger than it is predicted with overlapping windows (``overlap`` pixels) and averaged logits.
    Keep ``batch_size`` at 1 for tiles of different sizes. Writes ``hard_samples_analysis.json``,
    ``sample_weights.tsv`` and ``hard_samples_tables.md`` into ``out`` (paths stored as given).
    """
    from landseg.data import SegmentationDataset, val_transform
    from landseg.inference import load_model
    from landseg.inference.sliding import check_window
    from landseg.precision import resolve_precision

    choice = resolve_precision(precision, device, "hard-samples")
    if window is not None:
        check_window(window, overlap)
    loaded = load_model(checkpoint, model=model, options=options, num_classes=num_classes)
    classes = loaded.classes
    policy = policy.for_classes(classes)
    ds = SegmentationDataset(data, split, classes=classes, mask_dir=mask_dir,
                             transform=val_transform(mean=tuple(loaded.mean), std=tuple(loaded.std)))
    stats = _tile_stats_from_model(loaded.model.to(device), ds, classes, window=window, overlap=overlap,
                                   batch_size=batch_size, precision=choice.name, device=device, progress=progress,
                                   desc=f"hard-samples {Path(data).name}/{split}")
    tiles = weigh_tiles(stats, policy)
    tier_rows, class_rows = tier_table(tiles, policy), class_table(tiles, classes.names)
    report = render_report(tiles, tier_rows, class_rows, policy)

    out_dir = Path(out)
    payload = {
        "checkpoint": str(checkpoint), "data": str(data), "split": split, "mask_dir": mask_dir,
        "window": window, "overlap": overlap if window is not None else None, "precision": choice.to_dict(),
        "policy": {"kind": policy.kind, **policy.params()}, "classes": classes.names,
        "hard_class_iou": HARD_CLASS_IOU, "tiles_count": len(tiles),
        "sum_of_weights": round(sum(t.weight for t in tiles), WEIGHT_DECIMALS),
        "tier_table": [asdict(r) | {"percent": round(r.percent, 4)} for r in tier_rows],
        "class_table": [asdict(r) | {"percent_hard": _round(r.percent_hard, 4),
                                     "mean_weight": _round(r.mean_weight, WEIGHT_DECIMALS)} for r in class_rows],
        "tiles": [_tile_record(t) for t in tiles],
    }
    analysis = write_json(out_dir / ANALYSIS_JSON, payload)
    tsv = atomic_write_text(out_dir / WEIGHTS_TSV, weights_tsv(tiles))
    title = f"# Hard samples: {Path(str(checkpoint)).name} on {split} ({len(tiles)} tiles)\n\n"
    md = atomic_write_text(out_dir / TABLES_MD, title + report)
    return HardSampleResult(tiles=tiles, policy=policy, class_names=classes.names, tier_rows=tier_rows,
                            class_rows=class_rows, report=report, out_dir=out_dir, analysis_json=analysis,
                            weights_tsv=tsv, tables_md=md, precision=choice.to_dict())

"""``filter_dataset``: move tiles dominated by one class (e.g. > 50% Settlement) out of a dataset.

Tiles are never deleted: image and mask move to a backup folder through the journal, so the
change can be resumed after a crash and undone byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from landseg.classes import BIODIVERSITY, ClassTable
from landseg.curation.journal import Journal, Op, describe_ops
from landseg.data.files import find_pairs
from landseg.errors import ConfigError, DatasetError

DENOMINATORS = ("labelled", "all")


@dataclass
class FilterResult:
    class_name: str
    denominator: str
    max_fraction: float
    tiles: int
    removed: list[tuple[str, float]]  # (file name, fraction), highest first
    mean: float
    median: float
    maximum: float
    backup: Path
    journal: Path | None
    dry_run: bool
    plan_text: str = ""
    resumed: bool = False
    notes: list[str] = field(default_factory=list)

    def report(self, top: int = 10) -> str:
        pct = lambda v: f"{100 * v:.1f}%"  # noqa: E731
        name = self.class_name.lower()
        lines = [
            f"{self.class_name} share per tile ({self.denominator} pixels) over {self.tiles} tiles: "
            f"mean {pct(self.mean)}, median {pct(self.median)}, max {pct(self.maximum)}",
            f"{'Would remove' if self.dry_run else 'Removed'} {len(self.removed)} tiles with more than "
            f"{pct(self.max_fraction)} {name}" + ("" if self.dry_run else f" (moved to {self.backup})"),
        ]
        if self.removed:
            lines.append("Top examples:")
            lines += [f"  {n} - {pct(f)} {name}" for n, f in self.removed[:top]]
        if self.journal and not self.dry_run:
            lines.append(f"Journal: {self.journal}  (undo with: landseg undo {self.journal})")
        return "\n".join(lines + self.notes)


def default_backup(root: Path, class_name: str) -> Path:
    return root.parent / f"{root.name}_{class_name.replace(' ', '_')}_filtered_backup"


def filter_dataset(root: str | Path, class_name: str, max_fraction: float = 0.5, *, denominator: str = "labelled",
                   split: str | None = None, classes: ClassTable = BIODIVERSITY, backup: str | Path | None = None,
                   dry_run: bool = False, workers: int = 1, progress: bool = True) -> FilterResult:
    """Move every tile whose ``class_name`` fraction exceeds ``max_fraction`` into ``backup``.

    ``denominator`` is explicit: "labelled" divides by pixels that carry a class, "all" by every
    pixel (they differ when a tile has ignore pixels).
    """
    from landseg.curation.stats import dataset_stats

    root = Path(root).resolve()
    if not 0.0 <= max_fraction <= 1.0:
        raise ConfigError(f"--max-fraction must be between 0 and 1, got {max_fraction}.")
    if denominator not in DENOMINATORS:
        raise ConfigError(f"--denominator must be 'labelled' or 'all', got {denominator!r}.")
    try:
        cls = classes.index(class_name)
    except KeyError as exc:
        raise ConfigError(exc.args[0]) from None
    cname = classes.names[cls]
    backup = Path(backup).resolve() if backup else default_backup(root, cname)
    signature = f"filter|{root}|{split}|{cname}|{max_fraction!r}|{denominator}|{backup}"
    pending = Journal.resume_or_check(root, signature)
    if pending is not None and not dry_run:
        # A killed run of this same command: finish exactly its plan (the dataset is half-moved,
        # so recomputing statistics now would plan something else).
        pending.apply(progress=progress)
        s = pending.plan["summary"]
        return FilterResult(cname, denominator, max_fraction, s["tiles"], [tuple(r) for r in s["removed"]],
                            s["mean"], s["median"], s["maximum"], backup, pending.path, False, resumed=True,
                            notes=["(resumed an interrupted run and finished it)"])

    pairs = find_pairs(root, split)
    stats = dataset_stats(root, split, classes=classes, workers=workers, progress=progress)
    frac = stats.fractions(denominator)[:, cls]
    by_name = dict(zip(stats.names, frac.tolist(), strict=True))
    removed: list[tuple[str, float]] = []
    ops: list[Op] = []
    for image, mask in pairs:
        f = by_name[image.stem]
        if not f > max_fraction:  # also keeps tiles without labelled pixels (fraction NaN)
            continue
        removed.append((image.name, f))
        for path in (image, mask):
            assert path is not None
            dst = backup / path.resolve().relative_to(root)
            if dst.exists():
                raise DatasetError(f"Backup folder {backup} already holds {dst.relative_to(backup)}; "
                                   "choose another --backup (or undo the earlier filter).")
            ops.append(Op.plan("move", path, dst))
    removed.sort(key=lambda r: -r[1])
    defined = frac[~np.isnan(frac)]
    summary = {"tiles": len(pairs), "removed": removed, "mean": float(np.mean(defined)) if len(defined) else 0.0,
               "median": float(np.median(defined)) if len(defined) else 0.0,
               "maximum": float(np.max(defined)) if len(defined) else 0.0}
    result = FilterResult(cname, denominator, max_fraction, len(pairs), removed, summary["mean"], summary["median"],
                          summary["maximum"], backup, None, dry_run, plan_text=describe_ops("filter", ops))
    if dry_run or not ops:
        return result
    journal = Journal.create(root, "filter", signature, ops, summary=summary)
    journal.apply(progress=progress)
    result.journal = journal.path
    return result

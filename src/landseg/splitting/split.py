"""Spatially blocked Train/Val/Test splits, so evaluation tiles are ground the model never saw.

Tiles cut on an overlapping stride and split at random put most "held-out" ground into training
too (public work on this workflow withdrew its numbers: ~93% of it had been seen). Here tiles go
to square blocks of ``block_size`` metres by their centre; whole blocks, not tiles, are drawn at
random (seeded) into the splits by the ratios; and where two splits meet, tiles that overlap or
come closer than ``buffer`` metres to a tile of another split are dropped or held out. The
result is written in LoveDA layout as hard links to the original files.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from landseg.data.files import available_splits, find_pairs
from landseg.errors import ConfigError, DatasetError
from landseg.splitting.georef import Georef, GridPattern, load_georefs, metric_boxes, near_pairs

SPLITS = ("Train", "Val", "Test")
BUFFER = "buffer"
#: Folder of held-out buffer tiles with ``buffer_policy="holdout"``.
BUFFER_DIR = "Buffer"
SPLIT_MANIFEST = "split_manifest.csv"
MANIFEST_COLUMNS = ("name", "split", "block", "x", "y", "crs", "transform", "width", "height", "georef", "image")
#: Where two splits meet, the buffer tile is removed from the split that comes first here, so the
#: (small) evaluation splits stay whole and Test is never cut.
_GIVES_WAY = {"Train": 0, "Val": 1, "Test": 2}


@dataclass(frozen=True)
class Tile:
    """An image/mask pair and where it lies (None: unknown, allowed only for random splits)."""

    name: str
    image: Path
    mask: Path
    georef: Georef | None


def parse_ratios(text: str | Sequence[float]) -> tuple[float, float, float]:
    """Three shares of Train, Val, Test that sum to 1, from ``"0.7,0.15,0.15"`` or a sequence."""
    try:
        values = [float(v) for v in (text.split(",") if isinstance(text, str) else text)]
    except ValueError:
        values = []
    if len(values) != 3 or any(not math.isfinite(v) or v < 0 for v in values):
        raise ConfigError(f"--ratios {text!r}: give three non-negative shares of Train,Val,Test, "
                          "e.g. 0.7,0.15,0.15.")
    if abs(sum(values) - 1) > 1e-6:
        raise ConfigError(f"--ratios {text!r} sum to {sum(values):g}, not 1; e.g. 0.7,0.15,0.15.")
    if values[0] == 0:
        raise ConfigError(f"--ratios {text!r} give Train no share; Train needs a share > 0.")
    return values[0], values[1], values[2]


def allocate(n: int, ratios: Sequence[float]) -> list[int]:
    """Counts per split summing to ``n``, nearest to the ratios (largest remainder), with at least
    one item for every split whose ratio is positive."""
    raw = [n * r for r in ratios]
    counts = [math.floor(v) for v in raw]
    for k in sorted(range(len(raw)), key=lambda k: (counts[k] - raw[k], k))[: n - sum(counts)]:
        counts[k] += 1
    for k, r in enumerate(ratios):
        if r > 0 and counts[k] == 0 and max(counts) > 1:
            counts[counts.index(max(counts))] -= 1
            counts[k] += 1
    return counts


def collect_tiles(root: Path) -> list[Tile]:
    """Every image/mask pair of a flat or LoveDA-layout dataset, with unique names."""
    leaves = [] if (root / "images_png").is_dir() or not root.is_dir() else \
        [s for s in available_splits(root) if (root / s / "images_png").is_dir()]
    # No split folders: find_pairs reads a flat dataset or raises its "no images found" error.
    pairs = [p for s in leaves for p in find_pairs(root, s)] if leaves else find_pairs(root)
    seen: dict[str, Path] = {}
    for image, _ in pairs:
        if image.stem in seen:
            raise DatasetError(f"duplicate tile name {image.stem!r}: {seen[image.stem]} and {image}; names "
                               "must be unique across the dataset to be split. Rename one of them.")
        seen[image.stem] = image
    return [Tile(image.stem, image, mask, None) for image, mask in pairs if mask is not None]


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a new or empty folder.")
    if out.is_dir() and any(out.iterdir()):
        found = ", ".join(sorted(p.name for p in out.iterdir())[:5])
        raise ConfigError(f"--out {out} is not empty (found: {found}); choose a new or empty folder.")


@dataclass
class SplitResult:
    """What was written: tiles per split, the buffer, blocks per split and how files were placed."""

    out: Path
    by: str
    assignment: dict[str, str]
    blocks: dict[str, int] = field(default_factory=dict)
    georef_sources: dict[str, int] = field(default_factory=dict)
    buffer_policy: str = "drop"
    linked: int = 0
    copied: int = 0

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(self.assignment.values())
        return {s: c.get(s, 0) for s in (*SPLITS, BUFFER)}

    def report(self) -> str:
        n = len(self.assignment)
        counts = self.counts
        lines = [f"Split {n} tiles {'by space' if self.by == 'space' else 'at random'} into {self.out}"]
        for s in SPLITS:
            blocks = f" in {self.blocks[s]} blocks" if self.blocks else ""
            lines.append(f"  {s:<6} {counts[s]:>6} tiles ({100 * counts[s] / max(n, 1):5.1f}%){blocks}")
        if self.by == "space":
            where = f"held out in {self.out / BUFFER_DIR}" if self.buffer_policy == "holdout" else "dropped"
            lines.append(f"  buffer {counts[BUFFER]:>6} tiles ({100 * counts[BUFFER] / max(n, 1):5.1f}%) {where}")
        if self.georef_sources:
            lines.append("Georeferencing: " + ", ".join(f"{k} ({v})" for k, v in sorted(self.georef_sources.items())))
        how = f"{self.linked} hard-linked" + (f", {self.copied} copied (no hard links possible)" if self.copied else "")
        lines.append(f"Files: {how}; manifest {self.out / SPLIT_MANIFEST}")
        return "\n".join(lines)


def _assign_blocks(block_size: float, ratios: Sequence[float], seed: int,
                   boxes: np.ndarray, group: np.ndarray, crs: list[str]) -> tuple[list[str], list[str], dict[str, int]]:
    """Block id and split of every tile; blocks are drawn in a seeded random order."""
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    bx, by = np.floor(cx / block_size).astype(np.int64), np.floor(cy / block_size).astype(np.int64)
    tag = [c if len(c) <= 40 else "crs-" + hashlib.sha1(c.encode()).hexdigest()[:8] for c in crs]
    ids = [f"{tag[g]}:{x}_{y}" if len(crs) > 1 else f"{x}_{y}" for g, x, y in zip(group, bx, by, strict=True)]
    keys = sorted({(int(g), int(x), int(y)) for g, x, y in zip(group, bx, by, strict=True)})
    needed = sum(r > 0 for r in ratios)
    if len(keys) < needed:
        w, h = boxes[:, 2].max() - boxes[:, 0].min(), boxes[:, 3].max() - boxes[:, 1].min()
        raise ConfigError(f"the tiles fall into only {len(keys)} block(s) of {block_size:g} m (they span "
                          f"{w:,.0f} x {h:,.0f} m), too few for {needed} splits; use a smaller --block-size.")
    order = np.random.default_rng(seed).permutation(len(keys))
    counts = allocate(len(keys), ratios)
    split_of_block: dict[tuple[int, int, int], str] = {}
    start = 0
    for split, count in zip(SPLITS, counts, strict=True):
        for k in order[start:start + count]:
            split_of_block[keys[k]] = split
        start += count
    splits = [split_of_block[(int(g), int(x), int(y))] for g, x, y in zip(group, bx, by, strict=True)]
    return ids, splits, dict(zip(SPLITS, counts, strict=True))


def _random_splits(n: int, ratios: Sequence[float], seed: int) -> list[str]:
    """The baseline: single tiles drawn at random (seeded) into the splits by the ratios."""
    splits = [""] * n
    order = np.random.default_rng(seed).permutation(n)
    bounds = np.cumsum([0, *allocate(n, ratios)])
    for split, lo, hi in zip(SPLITS, bounds[:-1], bounds[1:], strict=True):
        for k in order[lo:hi]:
            splits[k] = split
    return splits


def _buffer(splits: list[str], boxes: np.ndarray, group: np.ndarray, buffer: float) -> list[str]:
    """Mark tiles that overlap, or are closer than ``buffer`` to, a kept tile of a split that does
    not give way to theirs: first Val next to Test, then Train next to what is left of both."""
    out = list(splits)
    for giving in ("Val", "Train"):
        rank = np.array([_GIVES_WAY.get(s, -1) for s in out])
        mine, theirs = np.flatnonzero(rank == _GIVES_WAY[giving]), np.flatnonzero(rank > _GIVES_WAY[giving])
        if not mine.size or not theirs.size:
            continue
        i, _, _ = near_pairs(boxes[mine], group[mine], boxes[theirs], group[theirs], within=buffer)
        for k in np.unique(i):
            out[mine[k]] = BUFFER
    return out


def _write_manifest(path: Path, rows: list[dict[str, str]]) -> None:
    from landseg.curation.remap import write_bytes_atomic

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_bytes_atomic(path, buf.getvalue().encode())


def split_dataset(
    dataset: str | Path,
    out: str | Path,
    *,
    by: str = "space",
    block_size: float | None = None,
    buffer: float = 0.0,
    ratios: str | Sequence[float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    pattern: str | None = None,
    tile_size_m: float | None = None,
    grid_step_m: float | None = None,
    buffer_policy: str = "drop",
    domain: str = "Rural",
) -> SplitResult:
    """Split a dataset into ``out/{Train,Val,Test}/<domain>/{images_png,masks_png}`` (hard links).

    ``by="space"`` assigns whole blocks and removes the buffer (see the module docstring);
    ``by="random"`` assigns tiles independently, as a baseline that leaks when tiles overlap.
    Every input is checked before anything is written; ``out`` must be new or empty.
    """
    root, out = Path(dataset), Path(out)
    r = parse_ratios(ratios)
    if by not in ("space", "random"):
        raise ConfigError(f"--by {by!r} is not valid; use 'space' or 'random'.")
    if buffer_policy not in ("drop", "holdout"):
        raise ConfigError(f"--buffer-policy {buffer_policy!r} is not valid; use 'drop' or 'holdout'.")
    if by == "space":
        if block_size is None or not block_size > 0:
            raise ConfigError(f"--by space needs --block-size in metres (> 0), e.g. 1000; got {block_size}.")
        if not buffer >= 0:
            raise ConfigError(f"--buffer must be >= 0 metres; got {buffer}.")
    elif block_size is not None or buffer:
        raise ConfigError("--by random assigns single tiles: --block-size and --buffer do not apply; drop them.")
    grid = GridPattern.build(pattern, tile_size_m, grid_step_m) if pattern else None
    if grid is None and (tile_size_m is not None or grid_step_m is not None):
        raise ConfigError("--tile-size-m and --grid-step-m only apply with --pattern; drop them or add --pattern.")
    _check_out(out)
    tiles = collect_tiles(root)
    refs = load_georefs([t.image for t in tiles], root, grid, required=by == "space")
    tiles = [Tile(t.name, t.image, t.mask, g) for t, g in zip(tiles, refs, strict=True)]

    group, boxes, crs = metric_boxes([t.georef for t in tiles if t.georef is not None])
    result = SplitResult(out=out, by=by, assignment={}, buffer_policy=buffer_policy,
                         georef_sources=dict(Counter(t.georef.source for t in tiles if t.georef)))
    if by == "space":
        blocks, splits, result.blocks = _assign_blocks(float(block_size), r, seed, boxes, group, crs)
        splits = _buffer(splits, boxes, group, float(buffer))
    else:
        blocks, splits = [""] * len(tiles), _random_splits(len(tiles), r, seed)
    emptied = [s for s, share in zip(SPLITS, r, strict=True) if share > 0 and s not in splits]
    if emptied:
        why = (f"the buffer of {buffer:g} m took them all; use a smaller --buffer or a larger --block-size"
               if by == "space" else f"{len(tiles)} tiles are too few")
        raise ConfigError(f"no tile is left in {', '.join(emptied)}: {why}.")

    centres = iter((boxes[:, :2] + boxes[:, 2:]) / 2)
    rows = []
    for tile, split, block in zip(tiles, splits, blocks, strict=True):
        g = tile.georef
        x, y = next(centres) if g else (None, None)
        rows.append({"name": tile.name, "split": split, "block": block,
                     "x": "" if g is None else f"{x:.3f}", "y": "" if g is None else f"{y:.3f}",
                     "crs": g.crs if g else "", "transform": g.transform_text() if g else "",
                     "width": str(g.width) if g else "", "height": str(g.height) if g else "",
                     "georef": g.source if g else "", "image": str(tile.image)})
        result.assignment[tile.name] = split
    _link_all(tiles, splits, out, domain, buffer_policy, result)
    _write_manifest(out / SPLIT_MANIFEST, rows)
    return result


def _link_all(tiles: list[Tile], splits: list[str], out: Path, domain: str, buffer_policy: str,
              result: SplitResult) -> None:
    from landseg.curation.journal import copy_atomic

    for tile, split in zip(tiles, splits, strict=True):
        folder = BUFFER_DIR if split == BUFFER else split
        if split == BUFFER and buffer_policy == "drop":
            continue
        for src, sub in ((tile.image, "images_png"), (tile.mask, "masks_png")):
            dst = out / folder / domain / sub / src.name
            copy_atomic(src, dst, link=True)
            if os.path.samefile(src, dst):
                result.linked += 1
            else:
                result.copied += 1

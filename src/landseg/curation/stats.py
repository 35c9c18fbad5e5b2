"""Per-mask class pixel counts, cached by content hash, and dataset-level class statistics.

Why: every curation command (stats, filter, combine) needs each mask's class fractions, and
decoding thousands of PNGs is the slow part. Each mask is read once; the same bytes are hashed
(sha256) and, only on a cache miss, decoded and counted. The cache (SQLite, WAL) lives in
``<dataset>/.landseg/stats_cache.sqlite`` and is keyed by content alone: it stores the full
256-value histogram, so a different class table or ignore value folds the same entry instead of
decoding again, and an edited file (new hash) is recounted.

Counts of one mask are ``[class 0 .. C-1, ignore, other]`` (``other``: values that are neither a
class nor the ignore value). This module imports no torch, so it is cheap in worker processes.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import multiprocessing
import os
import re
import sqlite3
import warnings
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from landseg.classes import BIODIVERSITY, ClassTable
from landseg.data.files import mask_array
from landseg.errors import DatasetError
from landseg.utils import jsonable

__all__ = [
    "CACHE_FILE",
    "DENOMINATORS",
    "ClassSummary",
    "DatasetStats",
    "StatsCache",
    "dataset_stats",
    "decode_mask",
    "find_masks",
    "fold_counts",
    "mask_counts",
    "value_histogram",
]

Denominator = Literal["labelled", "all"]
DENOMINATORS: tuple[str, ...] = ("labelled", "all")
#: Cache location relative to the dataset root.
CACHE_FILE = Path(".landseg") / "stats_cache.sqlite"

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_GREY = 0
# cv2.calcHist counts in float32 bins, exact only below 2**24; larger masks are counted in blocks.
_PIL_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)


# --------------------------------------------------------------------------- one mask


def decode_mask(data: bytes, path: str | Path = "<bytes>") -> np.ndarray:
    """Class-index mask (uint8 H×W) from a mask file's bytes, with ``read_mask``'s rules.

    8-bit greyscale PNGs go to OpenCV (about 1.5× faster than PIL). Everything else goes to PIL:
    OpenCV would expand a palette PNG's indices to colours, and PIL gives the precise error for
    colour or 16-bit masks. The PNG colour type is byte 25 of the header, so the check is free.
    """
    if data[:8] == _PNG_SIGNATURE and data[12:16] == b"IHDR" and len(data) > 25 and data[24] == 8 \
            and data[25] == _PNG_GREY:
        mask = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if mask is not None and mask.ndim == 2 and mask.dtype == np.uint8:
            return mask
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return mask_array(img, path)
    except _PIL_ERRORS as exc:
        raise DatasetError(
            f"cannot read mask {path}: {exc}. The file is corrupt, truncated or not an image; "
            "re-export it or remove it (and its image)."
        ) from exc


def value_histogram(mask: np.ndarray) -> np.ndarray:
    """Pixels per value 0..255 (int64) of a uint8 mask.

    Counting is the only work stats adds on top of decoding, so it sets the cost over the floor;
    a run-skipping kernel (:mod:`landseg.curation._runcount`, why and measurements there) counts
    a 512² mask about twice as fast as Pillow's histogram, the fastest library counter measured.
    """
    from landseg.curation._runcount import run_histogram  # numba: imported when first counting

    if mask.dtype != np.uint8 or mask.ndim != 2:
        raise ValueError(f"expected a uint8 H×W mask, got {mask.dtype} with shape {mask.shape}.")
    return run_histogram(mask)


def _check_table(num_classes: int, ignore_index: int) -> None:
    if not 1 <= num_classes <= 256:
        raise ValueError(f"num_classes must be 1..256 for 8-bit masks, got {num_classes}.")
    if 0 <= ignore_index < num_classes:
        raise ValueError(f"ignore_index {ignore_index} collides with class {ignore_index}; use a value >= "
                         f"{num_classes}, e.g. 255.")


def _slots(values: np.ndarray, num_classes: int, ignore_index: int) -> np.ndarray:
    """Column of each mask value in the counts: itself for a class, then ignore, then other."""
    return np.where(values < num_classes, values, np.where(values == ignore_index, num_classes, num_classes + 1))


def fold_counts(values: np.ndarray, counts: np.ndarray, num_classes: int, ignore_index: int = 255) -> np.ndarray:
    """Fold a (sparse) value histogram into ``[class 0..C-1, ignore, other]`` pixel counts (int64)."""
    out = np.zeros(num_classes + 2, np.int64)
    np.add.at(out, _slots(np.asarray(values, np.int64), num_classes, ignore_index), np.asarray(counts, np.int64))
    return out


def mask_counts(path: str | Path, num_classes: int, ignore_index: int = 255) -> np.ndarray:
    """Pixel counts ``[class 0..C-1, ignore, other]`` of one class-index mask file (no cache)."""
    _check_table(num_classes, ignore_index)
    hist = value_histogram(decode_mask(_read(path), path))
    return fold_counts(np.arange(256), hist, num_classes, ignore_index)


def _read(path: str | Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise DatasetError(f"cannot read mask {path}: {exc.strerror or exc}.") from exc


# Histograms travel (to the cache and between processes) sparse: int64 [values..., counts...].
def _pack(hist: np.ndarray) -> bytes:
    values = hist.nonzero()[0]
    return np.concatenate((values, hist[values])).astype("<i8", copy=False).tobytes()


def _unpack(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    arr = np.frombuffer(blob, "<i8")
    half = arr.size // 2
    return arr[:half], arr[half:]


# --------------------------------------------------------------------------- cache


class StatsCache:
    """SQLite cache: mask content sha256 → the mask's value histogram.

    WAL mode lets readers run while another command writes. A schema change (``user_version``)
    drops old entries rather than misreading them. Use as a context manager.
    """

    SCHEMA_VERSION = 1

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            with self._db:
                if self._db.execute("PRAGMA user_version").fetchone()[0] != self.SCHEMA_VERSION:
                    self._db.execute("DROP TABLE IF EXISTS histograms")
                    self._db.execute(f"PRAGMA user_version = {self.SCHEMA_VERSION}")
                self._db.execute("CREATE TABLE IF NOT EXISTS histograms "
                                 "(sha256 BLOB PRIMARY KEY, histogram BLOB NOT NULL) WITHOUT ROWID")
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def for_dataset(cls, root: str | Path) -> StatsCache:
        return cls(Path(root) / CACHE_FILE)

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM histograms").fetchone()[0])

    def load(self) -> dict[bytes, bytes]:
        """Every entry (digest → packed histogram); one query beats one lookup per mask."""
        return dict(self._db.execute("SELECT sha256, histogram FROM histograms"))

    def put_many(self, items: Mapping[bytes, bytes]) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO histograms VALUES (?, ?)", items.items())

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> StatsCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- finding masks


def _natural_key(path: Path) -> list[Any]:
    """``2.png`` before ``10.png``: the order find_pairs uses, so rows line up with datasets."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.stem)]


def _mask_folders(base: Path, mask_dir: str, levels: int = 2) -> list[Path]:
    """Folders holding ``mask_dir``: ``base`` (flat) or below it (splits, domains), sorted."""
    if (base / mask_dir).is_dir():
        return [base]
    if levels == 0:
        return []
    subs = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [f for sub in subs for f in _mask_folders(sub, mask_dir, levels - 1)]


def _splits_hint(root: Path, mask_dir: str) -> str:
    rel = [f.relative_to(root).parts for f in _mask_folders(root, mask_dir)]
    splits = sorted({"/".join(p[:i]) for p in rel for i in range(1, len(p) + 1)})
    if not splits:
        return f"no folders with {mask_dir}/ exist under {root}"
    return f"splits with {mask_dir}/ under {root}: {', '.join(splits)}"


def find_masks(root: str | Path, split: str | None = None, mask_dir: str = "masks_png") -> list[Path]:
    """Mask PNGs of a dataset (LoveDA ``root/<Split>/<Domain>/mask_dir`` or flat ``root/mask_dir``).

    ``split=None`` takes every split. Masks are listed directly (no images needed, no torch import)
    in ``find_pairs``' order: by folder, then naturally by name. Names (stems) must be unique.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist; check the path.")
    if split and (Path(split).is_absolute() or ".." in Path(split).parts):
        raise DatasetError(f"split {split!r} must be a folder inside the dataset, e.g. Train or Train/Rural.")
    base = root / split if split else root
    if not base.is_dir():
        raise DatasetError(f"split {split!r} not found: {base} does not exist; {_splits_hint(root, mask_dir)}.")
    folders = _mask_folders(base, mask_dir)
    if not folders:
        raise DatasetError(f"no {mask_dir}/ folder in {base} or its subfolders; {_splits_hint(root, mask_dir)}. "
                           "Pass one of them as the split, or --mask-dir if the masks live elsewhere.")
    masks: list[Path] = []
    seen: dict[str, Path] = {}
    for folder in folders:
        with os.scandir(folder / mask_dir) as entries:  # d_type from the directory: no stat per file
            files = [Path(e.path) for e in entries if e.name.lower().endswith(".png") and e.is_file()]
        for mask in sorted(files, key=_natural_key):
            if mask.stem in seen:
                raise DatasetError(f"duplicate tile name {mask.stem!r}: {seen[mask.stem]} and {mask}; names must be "
                                   "unique, pass a split (e.g. --split Train) or rename one of them.")
            seen[mask.stem] = mask
            masks.append(mask)
    if not masks:
        looked = ", ".join(str(f / mask_dir) for f in folders)
        raise DatasetError(f"no .png masks in {looked}; put the class-index masks there or pass --mask-dir.")
    return masks


# --------------------------------------------------------------------------- scanning

_known: frozenset[bytes] = frozenset()


def _scan(path: str, known: frozenset[bytes]) -> tuple[bytes, bytes | None]:
    """One read serves hash and decode; a mask whose hash is cached is not decoded."""
    data = _read(path)
    digest = hashlib.sha256(data).digest()
    if digest in known:
        return digest, None
    return digest, _pack(value_histogram(decode_mask(data, path)))


def _init_worker(known: frozenset[bytes]) -> None:
    global _known
    _known = known


def _scan_chunk(paths: list[str]) -> list[tuple[bytes, bytes | None]]:
    return [_scan(p, _known) for p in paths]


def _scan_all(paths: Sequence[str], known: frozenset[bytes], workers: int,
              progress: bool) -> Iterator[tuple[bytes, bytes | None]]:
    """Results in input order, so any worker count gives identical output."""
    from tqdm import tqdm

    if workers <= 1 or len(paths) < 2:
        for p in tqdm(paths, desc="stats", unit="mask", disable=not progress):
            yield _scan(p, known)
        return
    size = max(1, min(256, math.ceil(len(paths) / (workers * 8))))
    chunks = [list(paths[i : i + size]) for i in range(0, len(paths), size)]
    # fork: workers start in milliseconds (spawn would re-import numpy/OpenCV, ~0.4 s each) and
    # inherit `known` without pickling. With fork every worker starts at the first submit; OpenCV's
    # thread pool is stopped meanwhile, because a child inheriting a copy of it can deadlock, and
    # the children keep OpenCV single-threaded: one core per worker.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    if method == "fork":  # compile (or load) the counting kernel once, not once per worker
        from landseg.curation._runcount import warm_up

        warm_up()
    pool = ProcessPoolExecutor(min(workers, len(chunks)), mp_context=multiprocessing.get_context(method),
                               initializer=_init_worker, initargs=(known,))
    try:
        cv_threads = cv2.getNumThreads()
        cv2.setNumThreads(0)
        try:
            futures = [pool.submit(_scan_chunk, c) for c in chunks]  # all workers start before tqdm's thread
        finally:
            cv2.setNumThreads(cv_threads)
        with tqdm(total=len(paths), desc="stats", unit="mask", disable=not progress) as bar:
            for fut, chunk in zip(futures, chunks, strict=True):
                yield from fut.result()
                bar.update(len(chunk))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------- dataset statistics


@dataclass(frozen=True)
class ClassSummary:
    """One class over the tiles: mean/median/max of the per-tile fraction, tiles containing it."""

    name: str
    mean: float
    median: float
    max: float
    tiles: int


@dataclass(frozen=True, eq=False)
class DatasetStats:
    """Per-tile pixel counts of a dataset; rows follow ``names`` (tile name = mask file stem).

    ``counts`` is N × (C+2) int64: classes 0..C-1, then ignore, then other values.
    """

    root: Path
    split: str | None
    mask_dir: str
    classes: ClassTable
    names: list[str]
    paths: list[Path]
    sha256: list[str]
    counts: np.ndarray
    cache_hits: int = 0
    computed: int = 0
    cache_path: Path | None = None
    _index: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {n: i for i, n in enumerate(self.names)})

    def __len__(self) -> int:
        return len(self.names)

    @property
    def columns(self) -> list[str]:
        """Column names of ``counts``."""
        return [*self.classes.names, "ignore", "other"]

    def row(self, name: str) -> int:
        """Row of the tile called ``name``; the error names the dataset."""
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"no tile named {name!r} in {self.root} (split {self.split!r}).") from None

    def _denominators(self, denominator: str) -> np.ndarray:
        c = len(self.classes)
        if denominator == "labelled":
            return self.counts[:, :c].sum(axis=1)
        if denominator == "all":
            return self.counts.sum(axis=1)
        raise ValueError(f"denominator must be one of {', '.join(DENOMINATORS)}, got {denominator!r}.")

    def fractions(self, denominator: Denominator = "labelled") -> np.ndarray:
        """N × C per-tile class fractions.

        ``labelled``: class pixels / pixels that carry a class (ignore and other values excluded);
        ``all``: class pixels / all pixels. NaN where the denominator is 0 (a fully ignored tile has
        no labelled share), so a threshold test such as ``f > 0.9`` never selects it.
        """
        den = self._denominators(denominator).astype(np.float64)[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, self.counts[:, : len(self.classes)] / np.where(den > 0, den, 1), np.nan)

    def pixel_share(self, denominator: Denominator = "labelled") -> np.ndarray:
        """Per-class share of the dataset's pixels (C,), NaN when the dataset has no such pixels."""
        total = float(self._denominators(denominator).sum())
        pixels = self.counts[:, : len(self.classes)].sum(axis=0)
        return pixels / total if total > 0 else np.full(len(self.classes), np.nan)

    def summary_table(self, denominator: Denominator = "labelled") -> list[ClassSummary]:
        """Per class: mean / median / max of the per-tile fraction (tiles where it is defined) and
        the number of tiles holding at least one pixel of the class."""
        frac = self.fractions(denominator)
        rows = []
        for i, name in enumerate(self.classes.names):
            col = frac[:, i][~np.isnan(frac[:, i])]
            stats = (float(col.mean()), float(np.median(col)), float(col.max())) if col.size else (math.nan,) * 3
            rows.append(ClassSummary(name, *stats, tiles=int((self.counts[:, i] > 0).sum())))
        return rows

    def as_dict(self) -> dict[str, Any]:
        """Plain data (no timings or cache state, so equal inputs give equal files)."""
        totals = self.counts.sum(axis=0)
        return {
            "dataset": str(self.root),
            "split": self.split,
            "mask_dir": self.mask_dir,
            "classes": self.classes.to_list(),
            "ignore_index": self.classes.ignore_index,
            "tiles": len(self),
            "columns": self.columns,
            "pixels": dict(zip(self.columns, totals.tolist(), strict=True)),
            "pixel_share": {d: dict(zip(self.classes.names, self.pixel_share(d).tolist(), strict=True))
                            for d in DENOMINATORS},
            "summary": {d: [vars(r) for r in self.summary_table(d)] for d in DENOMINATORS},
            "per_tile": [
                {"name": n, "mask": _relative(p, self.root), "sha256": h, "counts": c}
                for n, p, h, c in zip(self.names, self.paths, self.sha256, self.counts.tolist(), strict=True)
            ],
        }

    def to_json(self) -> str:
        """JSON text of :meth:`as_dict` (NaN as null)."""
        return json.dumps(jsonable(self.as_dict()), indent=2) + "\n"

    def fractions_csv(self, denominator: Denominator = "labelled") -> str:
        """``name,<class>...`` per tile (6 decimals; empty where undefined)."""
        lines = [",".join(["name", *(_csv_cell(n) for n in self.classes.names)])]
        for name, row in zip(self.names, self.fractions(denominator), strict=True):
            lines.append(",".join([_csv_cell(name), *("" if np.isnan(v) else f"{v:.6f}" for v in row)]))
        return "\n".join(lines) + "\n"


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _csv_cell(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(ch in text for ch in ',"\n') else text


def _open_cache(root: Path, cache: bool | str | Path) -> StatsCache | None:
    """The cache, or None with a warning when it cannot be used (e.g. a read-only dataset)."""
    if cache is False:
        return None
    path = root / CACHE_FILE if cache is True else Path(cache)
    try:
        return StatsCache(path)
    except (OSError, sqlite3.Error) as exc:
        warnings.warn(f"stats cache {path} unavailable ({exc}); counting every mask without a cache.",
                      RuntimeWarning, stacklevel=3)
        return None


def dataset_stats(
    root: str | Path,
    split: str | None = None,
    classes: ClassTable = BIODIVERSITY,
    workers: int = 1,
    cache: bool | str | Path = True,
    progress: bool = True,
    mask_dir: str = "masks_png",
) -> DatasetStats:
    """Pixel counts of every mask of a dataset (or split), reusing and filling the stats cache.

    ``cache``: True for ``<root>/.landseg/stats_cache.sqlite``, a path for another file, False for
    none. With ``workers > 1`` masks are scanned by a process pool; the result is identical and
    only this process writes the cache.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}.")
    _check_table(len(classes), classes.ignore_index)
    root = Path(root)
    masks = find_masks(root, split, mask_dir)
    store = _open_cache(root, cache)
    cached: dict[bytes, bytes] = {}
    if store is not None:
        with store:  # closed before workers fork; reopened only to write
            cached = store.load()
    results = list(_scan_all([str(p) for p in masks], frozenset(cached), workers, progress))
    new = {digest: packed for digest, packed in results if packed is not None}
    if store is not None and new:
        try:
            with StatsCache(store.path) as writer:
                writer.put_many(new)
        except (OSError, sqlite3.Error) as exc:  # the counts are right; only the next run is slower
            warnings.warn(f"could not update the stats cache {store.path} ({exc}); the next run will count "
                          "these masks again.", RuntimeWarning, stacklevel=2)
    sparse = [_unpack(packed if packed is not None else cached[digest]) for digest, packed in results]
    counts = np.zeros((len(masks), len(classes) + 2), np.int64)
    if sparse:  # one scatter-add for all tiles instead of one small numpy call per tile
        values = np.concatenate([v for v, _ in sparse])
        rows = np.repeat(np.arange(len(sparse)), [v.size for v, _ in sparse])
        np.add.at(counts, (rows, _slots(values, len(classes), classes.ignore_index)),
                  np.concatenate([c for _, c in sparse]))
    computed = sum(packed is not None for _, packed in results)
    return DatasetStats(root=root, split=split, mask_dir=mask_dir, classes=classes,
                        names=[p.stem for p in masks], paths=masks, sha256=[d.hex() for d, _ in results],
                        counts=counts, cache_hits=len(results) - computed, computed=computed,
                        cache_path=store.path if store is not None else None)

"""Where each tile lies on the ground: georeferencing from the files a dataset already has.

Splits and leakage checks need every tile's footprint. PNG tiles cannot carry it, so it is read,
per tile, from the first of: a sidecar ``<stem>.json`` (``crs``, ``transform``), a world file
(``<stem>.pgw``/``.pngw``/``.wld``/``.tfw``/``.jgw``, with ``<stem>.prj`` for the CRS) next to the
image, a row of a ``manifest.csv``/``split_manifest.csv`` (``landseg import-oem`` and
``landseg split`` write them) in the image folder or any folder above it up to the dataset, or
the GeoTIFF's own transform. Without any of these, a name pattern such as
``{region}_{row}_{col}`` puts tiles on a grid of ``tile_size_m`` squares.

Footprints are axis-aligned boxes in metres: projected CRSs are taken as metres, geographic ones
(degrees) are projected locally (equirectangular about the tiles' mean latitude), which is
accurate to well under a percent at the scale of blocks and buffers.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from landseg.data.files import TIFF_SUFFIXES, image_size, open_raster
from landseg.errors import ConfigError, DatasetError

WORLD_FILE_SUFFIXES = (".pgw", ".pngw", ".wld", ".tfw", ".tifw", ".jgw", ".jpgw")
MANIFEST_NAMES = ("split_manifest.csv", "manifest.csv")
GRID_CRS_PREFIX = "grid:"
_METRES_PER_DEGREE = 111_320.0
_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@dataclass(frozen=True)
class Georef:
    """A tile's CRS, affine transform ``a b c d e f`` (x = a*col + b*row + c) and size in pixels."""

    crs: str
    transform: tuple[float, float, float, float, float, float]
    width: int
    height: int
    source: str

    def bounds(self) -> tuple[float, float, float, float]:
        """``(minx, miny, maxx, maxy)`` in CRS units, from the four corners (rotation allowed)."""
        a, b, c, d, e, f = self.transform
        corners = [(col, row) for col in (0, self.width) for row in (0, self.height)]
        xs = [a * col + b * row + c for col, row in corners]
        ys = [d * col + e * row + f for col, row in corners]
        return min(xs), min(ys), max(xs), max(ys)

    def transform_text(self) -> str:
        """The manifest.csv form of the transform (the one ``landseg import-oem`` writes)."""
        return " ".join(repr(float(v)) for v in self.transform)


def parse_transform(value: object, where: str) -> tuple[float, float, float, float, float, float]:
    """Six numbers from ``"a b c d e f"`` or a list (a 9-number affine matrix is cut to 6)."""
    items = value.split() if isinstance(value, str) else value
    try:
        numbers = [float(v) for v in items]  # type: ignore[union-attr]
    except (TypeError, ValueError):
        numbers = []
    if len(numbers) not in (6, 9) or not all(math.isfinite(v) for v in numbers):
        raise DatasetError(f"{where}: transform {value!r} is not 6 numbers 'a b c d e f' "
                           "(x = a*col + b*row + c, y = d*col + e*row + f); fix or remove it.")
    a, b, c, d, e, f = numbers[:6]
    if a * e - b * d == 0:
        raise DatasetError(f"{where}: transform {value!r} is degenerate (zero pixel size); fix or remove it.")
    return a, b, c, d, e, f


# --------------------------------------------------------------------------- sources next to the image


def _sidecar(image: Path) -> Georef | None:
    path = image.with_suffix(".json")
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DatasetError(f"sidecar {path} is not readable JSON ({exc}); fix or remove it.") from None
    if not isinstance(meta, dict) or "transform" not in meta:
        raise DatasetError(f"sidecar {path} has no 'transform'; expected {{\"crs\": \"EPSG:...\", "
                           "\"transform\": [a, b, c, d, e, f]}.")
    width, height = (int(meta["width"]), int(meta["height"])) if "width" in meta and "height" in meta \
        else image_size(image, "image")
    return Georef(str(meta.get("crs") or ""), parse_transform(meta["transform"], str(path)), width, height,
                  "sidecar .json")


def _world_file(image: Path) -> Georef | None:
    path = next((p for p in (image.with_suffix(s) for s in WORLD_FILE_SUFFIXES) if p.is_file()), None)
    if path is None:
        return None
    lines = path.read_text().split()
    try:
        A, D, B, E, C, F = (float(v) for v in lines)  # noqa: N806 (the world-file letters)
    except ValueError:
        raise DatasetError(f"world file {path} must hold 6 numbers (one per line: A D B E C F); "
                           f"found {len(lines)} value(s). Fix or remove it.") from None
    prj = image.with_suffix(".prj")
    crs = prj.read_text().strip() if prj.is_file() else ""
    # World files give the centre of the top-left pixel; the affine origin is its corner.
    transform = parse_transform([A, B, C - A / 2 - B / 2, D, E, F - D / 2 - E / 2], str(path))
    width, height = image_size(image, "image")
    return Georef(crs, transform, width, height, f"world file {path.suffix}")


def _geotiff(image: Path) -> Georef | None:
    if image.suffix.lower() not in TIFF_SUFFIXES:
        return None
    from landseg.curation.oem import crs_text

    with open_raster(image, "image") as src:
        transform = tuple(src.transform)[:6]
        if src.crs is None and tuple(map(float, transform)) == _IDENTITY:
            return None
        return Georef(crs_text(src.crs), parse_transform(transform, str(image)), src.width, src.height, "GeoTIFF")


# --------------------------------------------------------------------------- manifests


@lru_cache(maxsize=64)
def _read_manifest(path: Path, mtime: float) -> dict[str, Georef]:
    """Rows with georeferencing of one manifest, by tile stem (cached: read once per folder)."""
    del mtime  # part of the cache key only
    out: dict[str, Georef] = {}
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        cols = set(reader.fieldnames or ())
        key = "file" if "file" in cols else "name" if "name" in cols else None
        if key is None or not {"transform", "width", "height"} <= cols:
            return out
        for n, row in enumerate(reader, start=2):
            if not (row.get("transform") or "").strip():
                continue
            where = f"{path} line {n}"
            try:
                width, height = int(row["width"]), int(row["height"])
            except (TypeError, ValueError):
                raise DatasetError(f"{where}: width/height {row.get('width')!r}/{row.get('height')!r} "
                                   "are not integers; fix the manifest.") from None
            out.setdefault(Path(row[key]).stem, Georef(row.get("crs") or "", parse_transform(row["transform"], where),
                                                       width, height, f"{path.name}"))
    return out


def _manifests(folder: Path, root: Path) -> list[Path]:
    """Manifest files from the image folder up to the dataset root, nearest first."""
    found = []
    for parent in (folder, *folder.parents):
        found += [parent / n for n in MANIFEST_NAMES if (parent / n).is_file()]
        if parent == root:
            break
    return found


def _from_manifests(image: Path, root: Path) -> Georef | None:
    for path in _manifests(image.parent.parent, root):
        hit = _read_manifest(path, path.stat().st_mtime).get(image.stem)
        if hit is not None:
            return hit
    return None


# --------------------------------------------------------------------------- name patterns


@dataclass(frozen=True)
class GridPattern:
    """A tile-name pattern like ``{region}_{row}_{col}``: row/col are grid indices, other fields
    name separate grids (e.g. regions), so tiles of different regions are never neighbours."""

    pattern: str
    tile_size_m: float
    grid_step_m: float

    @classmethod
    def build(cls, pattern: str, tile_size_m: float | None, grid_step_m: float | None = None) -> GridPattern:
        fields = re.findall(r"{([^{}]*)}", pattern)
        if "row" not in fields or "col" not in fields:
            raise ConfigError(f"--pattern {pattern!r} needs both {{row}} and {{col}} (grid indices in the "
                              "tile names), e.g. '{region}_{row}_{col}'.")
        bad = [f for f in fields if not f.isidentifier()]
        if bad or len(set(fields)) != len(fields):
            raise ConfigError(f"--pattern {pattern!r}: fields must be distinct names like {{region}}; "
                              f"got {', '.join('{' + f + '}' for f in fields)}.")
        if tile_size_m is None or not tile_size_m > 0:
            raise ConfigError(f"--pattern needs --tile-size-m (the side of a tile on the ground in metres, "
                              f"> 0); got {tile_size_m}.")
        step = tile_size_m if grid_step_m is None else grid_step_m
        if not step > 0:
            raise ConfigError(f"--grid-step-m must be > 0; got {grid_step_m}.")
        return cls(pattern, float(tile_size_m), float(step))

    @property
    def regex(self) -> re.Pattern[str]:
        parts = re.split(r"({[^{}]*})", self.pattern)
        body = "".join(
            (r"(?P<%s>-?\d+)" if p in ("{row}", "{col}") else r"(?P<%s>.+?)") % p[1:-1]
            if p.startswith("{") else re.escape(p) for p in parts)
        return re.compile(body)

    def georef(self, stem: str, width: int, height: int) -> Georef | None:
        m = self.regex.fullmatch(stem)
        if m is None:
            return None
        fields = {k: v for k, v in m.groupdict().items() if k not in ("row", "col")}
        crs = GRID_CRS_PREFIX + ",".join(f"{k}={v}" for k, v in fields.items())
        row, col = int(m["row"]), int(m["col"])
        transform = (self.tile_size_m / width, 0.0, col * self.grid_step_m,
                     0.0, -self.tile_size_m / height, -row * self.grid_step_m)
        return Georef(crs, transform, width, height, f"pattern {self.pattern}")


# --------------------------------------------------------------------------- per-dataset loading


def _short(items: Sequence[str], limit: int = 5) -> str:
    more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def tile_georef(image: Path, root: Path) -> Georef | None:
    """The tile's georeferencing from files, in the documented order; None when there is none."""
    for source in (_sidecar, _world_file):
        hit = source(image)
        if hit is not None:
            return hit
    return _from_manifests(image, root) or _geotiff(image)


def load_georefs(images: Sequence[Path], root: str | Path, pattern: GridPattern | None = None,
                 required: bool = True) -> list[Georef | None]:
    """Georeferencing of every image; ``pattern`` (when given) is used for all of them.

    With ``required`` a tile without georeferencing (or not matching the pattern) is an error
    that lists examples and says what to do; otherwise it gets None.
    """
    root = Path(root)
    if pattern is not None:
        refs: list[Georef | None] = [pattern.georef(p.stem, *image_size(p, "image")) for p in images]
    else:
        refs = [tile_georef(p, root) for p in images]
    missing = [p for p, g in zip(images, refs, strict=True) if g is None]
    if not missing or not required:
        return refs
    if pattern is not None:
        matched = [p.stem for p, g in zip(images, refs, strict=True) if g is not None]
        raise ConfigError(
            f"--pattern {pattern.pattern!r} does not match {len(missing)} of {len(images)} tile names, "
            f"e.g. {_short([p.stem for p in missing])} (matched: {_short(matched, 3) or 'none'}). The pattern "
            "must match the whole file stem; {row} and {col} match integers, other fields any text.")
    example = missing[0]
    raise DatasetError(
        f"no georeferencing for {len(missing)} of {len(images)} tiles, e.g. {_short([str(p) for p in missing], 3)}. "
        f"Looked for {example.with_suffix('.json').name} or a world file ({example.with_suffix('.pgw').name}, "
        f".wld, ...) next to the image, a row for {example.stem!r} in manifest.csv/split_manifest.csv, and a "
        "GeoTIFF transform. Give the tile-name grid instead, e.g. --pattern '{region}_{row}_{col}' "
        "--tile-size-m 256, or use --by random (which leaks when tiles overlap).")


def _is_geographic(crs: str) -> bool:
    if not crs or crs.startswith(GRID_CRS_PREFIX):
        return False
    return _crs_is_geographic(crs)


@lru_cache(maxsize=32)
def _crs_is_geographic(crs: str) -> bool:
    from rasterio.crs import CRS
    from rasterio.errors import CRSError

    try:
        return bool(CRS.from_user_input(crs).is_geographic)
    except CRSError:
        return False  # unknown CRS text: take its units as metres


def metric_boxes(refs: Iterable[Georef]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(group, boxes)``: a group index per tile (one per CRS) and ``N x 4`` boxes in metres.

    Tiles of different groups are never compared: their coordinates mean different places.
    """
    refs = list(refs)
    crs_list = sorted({g.crs for g in refs})
    index = {c: i for i, c in enumerate(crs_list)}
    group = np.array([index[g.crs] for g in refs], dtype=np.int64)
    boxes = np.array([g.bounds() for g in refs], dtype=np.float64).reshape(-1, 4)
    for i, crs in enumerate(crs_list):
        if _is_geographic(crs):
            sel = group == i
            lat0 = math.radians(float(np.mean(boxes[sel][:, [1, 3]])))
            boxes[sel] *= np.array([math.cos(lat0), 1.0, math.cos(lat0), 1.0]) * _METRES_PER_DEGREE
    return group, boxes, crs_list


def near_pairs(a: np.ndarray, ga: np.ndarray, b: np.ndarray, gb: np.ndarray,
               within: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``(i, j)`` of boxes ``a[i]``, ``b[j]`` in the same group that overlap with positive
    area or are closer than ``within`` metres, and the overlap as a share of the smaller box.

    A sweep over x (boxes sorted by their left edge) keeps this near-linear for tile grids.
    """
    order = np.lexsort((b[:, 0], gb))
    bs, gs = b[order], gb[order]
    widest = float((b[:, 2] - b[:, 0]).max()) if len(b) else 0.0
    area_b = (bs[:, 2] - bs[:, 0]) * (bs[:, 3] - bs[:, 1])
    out_i, out_j, out_f = [], [], []
    for g in np.unique(ga):
        lo_g, hi_g = np.searchsorted(gs, g, "left"), np.searchsorted(gs, g, "right")
        left = bs[lo_g:hi_g, 0]
        for i in np.flatnonzero(ga == g):
            x0, y0, x1, y1 = a[i]
            lo = lo_g + np.searchsorted(left, x0 - within - widest, "left")
            hi = lo_g + np.searchsorted(left, x1 + within, "right")
            cand = bs[lo:hi]
            dx = np.maximum(cand[:, 0], x0) - np.minimum(cand[:, 2], x1)  # < 0: overlap width
            dy = np.maximum(cand[:, 1], y0) - np.minimum(cand[:, 3], y1)
            inter = np.where((dx < 0) & (dy < 0), dx * dy, 0.0)
            smaller = np.minimum(area_b[lo:hi], (x1 - x0) * (y1 - y0))
            share = inter / smaller
            gap = np.hypot(np.maximum(dx, 0), np.maximum(dy, 0))
            hit = np.flatnonzero((share > 1e-6) | (gap < within))
            out_i.append(np.full(hit.size, i))
            out_j.append(order[lo + hit])
            out_f.append(share[hit])
    if not out_i:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(out_i).astype(np.int64), np.concatenate(out_j).astype(np.int64), np.concatenate(out_f)

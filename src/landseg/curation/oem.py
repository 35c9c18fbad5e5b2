"""``import_oem``: OpenEarthMap GeoTIFFs in the official layout -> remapped PNG tiles + manifest.

OpenEarthMap ships ``<region>/images/<region>_<n>.tif`` and ``<region>/labels/<region>_<n>.tif``
(1000² or 1024², some other sizes) with split lists ``train.txt``/``val.txt``/``test.txt`` of bare
file names. Training wants fixed-size PNG tiles with our classes, so each listed image is cut into
``tile``-sized pairs, its labels remapped by a :class:`~landseg.curation.mapping.ClassMapping`, and
the georeferencing PNGs cannot carry goes into ``manifest.csv``. Writing, resuming and the
manifest are shared with ``landseg remap`` (:mod:`landseg.curation.remap`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from landseg.curation.mapping import ClassMapping, load_mapping
from landseg.curation.remap import (
    CurationResult,
    ManifestRow,
    attempt,
    check_output,
    check_unique,
    claim_output,
    count_pixels,
    encode_png,
    parallel_map,
    raise_problems,
    sha256_bytes,
    short_list,
    sum_pixels,
    write_all,
    write_bytes_atomic,
    write_manifest,
)
from landseg.errors import ConfigError, DatasetError

EDGES = ("pad", "drop")
COMMAND = "import-oem"


@dataclass(frozen=True)
class TileWindow:
    """Real pixels ``[y, y+h) x [x, x+w)`` of one output tile; row/col are None for a whole image."""

    row: int | None
    col: int | None
    x: int
    y: int
    w: int
    h: int


def tile_windows(width: int, height: int, tile: int, edge: str = "pad",
                 min_valid: float = 0.5) -> tuple[list[TileWindow], int]:
    """The tiles of a ``width x height`` image and how many edge tiles were dropped.

    An image exactly ``tile`` square is one tile. Otherwise a grid of ``ceil(h/tile) x
    ceil(w/tile)``; partial edge tiles are kept (and padded) with ``edge="pad"``, and with
    ``edge="drop"`` only when at least ``min_valid`` of the tile is real image.
    """
    if width == tile and height == tile:
        return [TileWindow(None, None, 0, 0, tile, tile)], 0
    kept, dropped = [], 0
    for row in range(math.ceil(height / tile)):
        for col in range(math.ceil(width / tile)):
            x, y = col * tile, row * tile
            w, h = min(tile, width - x), min(tile, height - y)
            if edge == "drop" and w * h < min_valid * tile * tile:
                dropped += 1
                continue
            kept.append(TileWindow(row, col, x, y, w, h))
    return kept, dropped


def tile_name(stem: str, win: TileWindow) -> str:
    return f"oem_{stem}.png" if win.row is None else f"oem_{stem}_{win.row}_{win.col}.png"


def shift_transform(transform: Sequence[float], x: int, y: int) -> tuple[float, ...]:
    """Affine ``(a, b, c, d, e, f)`` of a window whose top-left is pixel ``(x, y)`` of the source."""
    a, b, c, d, e, f = (float(v) for v in transform[:6])
    return a, b, a * x + b * y + c, d, e, d * x + e * y + f


def crs_text(crs: Any) -> str:
    """``EPSG:4326`` when the CRS has an EPSG code, else its WKT ("" when there is none)."""
    if crs is None:
        return ""
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


# --------------------------------------------------------------------------- finding sources


@dataclass(frozen=True)
class _Source:
    split: str
    stem: str
    image: Path
    label: Path


def _split_names(root: Path, split: str) -> list[str]:
    listing = root / f"{split}.txt"
    if not listing.is_file():
        have = ", ".join(sorted(p.name for p in root.glob("*.txt"))) or "none"
        raise DatasetError(f"split list {listing} not found (split lists in {root}: {have}); an OpenEarthMap root "
                           "holds train.txt, val.txt and test.txt. Pass --splits with lists that exist.")
    names = [Path(line.strip()).name for line in listing.read_text().splitlines() if line.strip()]
    return [n if Path(n).suffix else f"{n}.tif" for n in names]


def find_sources(root: Path, splits: Sequence[str]) -> tuple[list[_Source], list[str], list[str]]:
    """Listed images with labels, listed images without a label file, and listed images not found."""
    sources: list[_Source] = []
    unlabelled: list[str] = []
    missing: list[str] = []
    listed: dict[str, str] = {}
    for split in splits:
        for name in _split_names(root, split):
            if name in listed:
                raise DatasetError(f"{name} is listed in {listed[name]}.txt and in {split}.txt under {root}; "
                                   "an image belongs to one split, remove one of the lines.")
            listed[name] = split
            stem = Path(name).stem
            region = stem.rsplit("_", 1)[0]
            image, label = root / region / "images" / name, root / region / "labels" / name
            if not image.is_file():
                missing.append(f"{image} ({split})")
            elif not label.is_file():
                unlabelled.append(f"{image} ({split})")
            else:
                sources.append(_Source(split, stem, image, label))
    return sources, unlabelled, missing


# --------------------------------------------------------------------------- per-file work


@dataclass(frozen=True)
class _Meta:
    width: int
    height: int
    crs: str
    transform: tuple[float, ...]


@dataclass(frozen=True)
class _Job:
    source: _Source
    meta: _Meta
    windows: tuple[TileWindow, ...]


def _read(reader: Any, path: Path) -> np.ndarray:
    """landseg's readers, with errors in the pixel data (not only the header) named too."""
    from rasterio.errors import RasterioError

    try:
        return reader(path)
    except (RasterioError, OSError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}. The file is corrupt or truncated; re-download it or "
                           "remove it from the split list.") from exc


def _scan(src: _Source, mapping: ClassMapping) -> _Meta:
    """Checking pass: headers agree and every label code is mapped (labels are small to read)."""
    from landseg.data.files import check_same_size, open_raster, read_mask

    with open_raster(src.image, "image") as ds:
        width, height, bands, dtype = ds.width, ds.height, ds.count, ds.dtypes[0]
        crs, transform = crs_text(ds.crs), tuple(ds.transform)[:6]
    if bands < 3 or dtype != "uint8":
        raise DatasetError(f"image {src.image} has {bands} band(s) of {dtype}; expected 8-bit RGB (3 bands of uint8).")
    labels = _read(read_mask, src.label)
    check_same_size(src.image, (width, height), src.label, labels.shape[1::-1])
    mapping.apply(labels, str(src.label))
    return _Meta(width, height, crs, transform)


def _import_source(job: _Job, mapping: ClassMapping, out: Path, tile: int) -> tuple[list[ManifestRow], int, dict]:
    """Cut, remap and write one source image; both files are read in full before any tile is written."""
    from landseg.data.files import read_image, read_mask

    src, ignore = job.source, mapping.target.ignore_index
    image = _read(read_image, src.image)
    labels = mapping.apply(_read(read_mask, src.label), str(src.label))
    rows, masks, written = [], [], 0
    for win in job.windows:
        img = np.zeros((tile, tile, 3), np.uint8)
        mask = np.full((tile, tile), ignore, np.uint8)
        img[: win.h, : win.w] = image[win.y : win.y + win.h, win.x : win.x + win.w]
        mask[: win.h, : win.w] = labels[win.y : win.y + win.h, win.x : win.x + win.w]
        name, mask_png = tile_name(src.stem, win), encode_png(mask)
        wrote_image = write_bytes_atomic(out / "images_png" / name, encode_png(img))
        wrote_mask = write_bytes_atomic(out / "masks_png" / name, mask_png)
        written += wrote_image or wrote_mask
        rows.append(ManifestRow(
            file=name, source=mapping.source_name or "openearthmap", source_image=str(src.image),
            source_label=str(src.label), split=src.split, width=tile, height=tile, sha256=sha256_bytes(mask_png),
            row=win.row, col=win.col, crs=job.meta.crs, transform=shift_transform(job.meta.transform, win.x, win.y)))
        masks.append(mask)
    return rows, written, count_pixels(masks, mapping.target)


# --------------------------------------------------------------------------- import_oem


@dataclass
class ImportResult(CurationResult):
    """What ``import_oem`` did; ``sources`` counts imported images per split."""

    tile: int = 512
    sources: dict[str, int] = field(default_factory=dict)
    dropped: int = 0
    missing: list[str] = field(default_factory=list)

    def report(self) -> str:
        per_split = ", ".join(f"{s}: {n}" for s, n in self.sources.items())
        lines = [f"Imported {sum(self.sources.values())} OpenEarthMap image(s) ({per_split}) into {self.out}: "
                 f"{self.tiles} tile pair(s) of {self.tile}x{self.tile} ({self.written} written, {self.skipped} "
                 f"already present, {self.dropped} edge tile(s) dropped)"
                 + (" - resumed a previous run" if self.resumed else "") + ".",
                 self.shares_text()]
        if self.unlabelled:
            lines.append(f"Not imported: {len(self.unlabelled)} listed image(s) without a label file: "
                         f"{short_list(self.unlabelled)}")
        if self.missing:
            lines.append(f"Not found: {len(self.missing)} listed image(s): {short_list(self.missing)}")
        lines.append(f"Manifest (with georeferencing): {self.manifest}")
        return "\n".join(lines)


def _check_options(tile: int, splits: Sequence[str], edge: str, min_valid: float) -> None:
    if tile < 1:
        raise ConfigError(f"--tile must be a positive number of pixels, got {tile}.")
    if edge not in EDGES:
        raise ConfigError(f"--edge must be one of {', '.join(EDGES)}, got {edge!r}.")
    if not 0.0 < min_valid <= 1.0:
        raise ConfigError(f"--min-valid must be in (0, 1], got {min_valid}.")
    if not splits or not all(splits):
        raise ConfigError(f"--splits needs split names such as train,val; got {list(splits)}.")


def import_oem(oem_root: str | Path, out: str | Path, mapping: str | Path | ClassMapping, tile: int = 512,
               splits: Sequence[str] | str = ("train", "val"), edge: str = "pad", min_valid: float = 0.5,
               workers: int = 1, progress: bool = True) -> ImportResult:
    """Import the listed OpenEarthMap images of ``splits`` as remapped ``tile``² PNG pairs into ``out``.

    Writes ``out/images_png``, ``out/masks_png`` (flat) and ``out/manifest.csv``. Every input is
    checked before anything is written; a non-empty ``out`` is refused unless it holds this same
    import, which is then resumed (files already holding the right bytes are kept).
    """
    root, out = Path(oem_root).resolve(), Path(out).resolve()
    splits = [s.strip() for s in splits.split(",")] if isinstance(splits, str) else list(splits)
    _check_options(tile, splits, edge, min_valid)
    if not isinstance(mapping, ClassMapping):
        mapping = load_mapping(mapping)
    if not root.is_dir():
        raise DatasetError(f"OpenEarthMap folder {root} does not exist; check --oem-root.")
    sources, unlabelled, missing = find_sources(root, splits)
    arguments = {"oem_root": str(root), "splits": splits, "tile": tile, "edge": edge,
                 "min_valid": min_valid if edge == "drop" else None, "mapping": mapping.fingerprint()}
    resumed = check_output(out, COMMAND, arguments)
    if not sources:
        raise DatasetError(f"no listed image with a label file in {root} for split(s) {', '.join(splits)} "
                           f"({len(unlabelled)} without labels, {len(missing)} not found); nothing to import.")

    scans = parallel_map(partial(attempt, partial(_scan, mapping=mapping)), sources, workers, progress, "check")
    raise_problems(scans)
    jobs, dropped = [], 0
    for src, (meta, _) in zip(sources, scans, strict=True):
        assert meta is not None
        windows, n = tile_windows(meta.width, meta.height, tile, edge, min_valid)
        jobs.append(_Job(src, meta, tuple(windows)))
        dropped += n
    check_unique((tile_name(j.source.stem, w), f"{j.source.image} ({j.source.split})")
                 for j in jobs for w in j.windows)

    claim_output(out, COMMAND, arguments)
    done = write_all(partial(_import_source, mapping=mapping, out=out, tile=tile), jobs, workers, progress, COMMAND)
    rows = [row for rows, _, _ in done for row in rows]
    manifest = write_manifest(out, rows)
    written = sum(w for _, w, _ in done)
    per_split = {s: sum(1 for src in sources if src.split == s) for s in splits}
    return ImportResult(out=out, manifest=manifest, classes=mapping.target, tiles=len(rows), written=written,
                        skipped=len(rows) - written, pixels=sum_pixels((p for _, _, p in done), mapping.target),
                        resumed=resumed, unlabelled=unlabelled, tile=tile, sources=per_split, dropped=dropped,
                        missing=missing)

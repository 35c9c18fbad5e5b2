"""Georeferenced rasters in and out: window-by-window GeoTIFF prediction, class areas, previews.

The output is a single-band uint8 GeoTIFF of class indices with the input's CRS and transform,
tiled 256² and deflate-compressed (with horizontal differencing, which suits runs of one class),
a colour table with the class colours, nodata 255 where the input had no data, and overviews so
GIS software shows a county-sized map at once. It is written to a temporary name and renamed when
complete, so an interrupted run never leaves a half map under the final name.
"""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from landseg import __version__
from landseg.classes import ClassTable
from landseg.errors import DatasetError
from landseg.inference.tiling import Tiler, column_bands
from landseg.utils import atomic_output

__all__ = ["AreaTable", "RASTER_SUFFIXES", "is_georeferenced", "merge_parts", "pixel_area", "predict_raster"]

RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".img", ".jp2")
#: Radius of the sphere with the WGS84 ellipsoid's surface area: cell areas on it are within
#: ~0.3% of ellipsoidal ones at mid latitudes, plenty for land-cover statistics.
AUTHALIC_RADIUS_M = 6_371_007.181
BLOCK = 256
GDAL_ENV = {"GDAL_CACHEMAX": 256, "GDAL_NUM_THREADS": 1}  # MB; bounds GDAL's share of memory


@dataclass
class AreaTable:
    """Pixels and area (m²) per class over one or more maps, plus nodata pixels."""

    classes: ClassTable
    pixels: np.ndarray = field(default=None)  # type: ignore[assignment]
    area_m2: np.ndarray | None = field(default=None)
    nodata: int = 0
    note: str = ""

    def __post_init__(self) -> None:
        if self.pixels is None:
            self.pixels = np.zeros(len(self.classes), np.int64)

    def add(self, other: AreaTable) -> None:
        """Add another table (hectares stay known only if both know them)."""
        self.pixels = self.pixels + other.pixels
        self.nodata += other.nodata
        known = self.area_m2 is not None and other.area_m2 is not None
        self.area_m2 = self.area_m2 + other.area_m2 if known else None  # type: ignore[operator]
        self.note = self.note or other.note

    def count(self, labels: np.ndarray, valid: np.ndarray | None, row_area_m2: np.ndarray | None) -> None:
        """Add a block of labels; ``row_area_m2`` (one value per row) gives hectares."""
        c = len(self.classes)
        lab = labels if valid is None else np.where(valid, labels, 255)
        if valid is not None:
            self.nodata += int(valid.size - np.count_nonzero(valid))
        if row_area_m2 is None:
            self.pixels += np.bincount(lab.ravel(), minlength=256)[:c]
            return
        rows = np.repeat(np.arange(lab.shape[0]), lab.shape[1])
        per_row = np.bincount(rows * 256 + lab.ravel(), minlength=lab.shape[0] * 256).reshape(lab.shape[0], 256)
        self.pixels += per_row[:, :c].sum(axis=0)
        area = (per_row[:, :c] * row_area_m2[:, None]).sum(axis=0)
        self.area_m2 = area if self.area_m2 is None else self.area_m2 + area

    def to_dict(self) -> dict[str, Any]:
        return {"classes": self.classes.names, "pixels": self.pixels.tolist(), "nodata": self.nodata,
                "area_m2": None if self.area_m2 is None else self.area_m2.tolist(), "note": self.note}

    @classmethod
    def from_dict(cls, classes: ClassTable, data: dict[str, Any]) -> AreaTable:
        area = data.get("area_m2")
        return cls(classes, np.asarray(data["pixels"], np.int64), None if area is None else np.asarray(area),
                   int(data["nodata"]), data.get("note", ""))

    def to_csv(self) -> str:
        """``class_index,class,pixels,hectares,percent`` per class, then nodata and total rows.

        Percent is of the pixels with data; hectares are empty when the pixel size is unknown.
        """
        buf = io.StringIO()
        out = csv.writer(buf, lineterminator="\n")
        out.writerow(["class_index", "class", "pixels", "hectares", "percent"])
        total = int(self.pixels.sum())
        ha = None if self.area_m2 is None else self.area_m2 / 10_000.0
        for i, name in enumerate(self.classes.names):
            pct = f"{100.0 * self.pixels[i] / total:.4f}" if total else ""
            out.writerow([i, name, int(self.pixels[i]), "" if ha is None else f"{ha[i]:.4f}", pct])
        out.writerow(["", "nodata", self.nodata, "", ""])
        out.writerow(["", "total", total, "" if ha is None else f"{ha.sum():.4f}", "100.0000" if total else ""])
        return buf.getvalue()


def is_georeferenced(path: str | Path) -> bool:
    """True for a raster GDAL opens with a CRS (GeoTIFF, VRT, …), False for plain pictures."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                return src.crs is not None
    except RasterioIOError:
        return False


def pixel_area(src: Any, pixel_size: float | None = None) -> tuple[Callable[[int, int], np.ndarray] | None, str]:
    """A function (row0, row1) → m² per pixel of each row, or None when it cannot be known, and a note.

    Projected CRS: the transform's cell area in the CRS's linear unit, converted to metres.
    Geographic CRS (e.g. EPSG:4326): each row's cells on the authalic sphere, exact per latitude.
    No CRS: ``pixel_size`` (metres) if given.
    """
    t = src.transform
    if src.crs is None:
        if pixel_size:
            return (lambda r0, r1: np.full(r1 - r0, pixel_size**2)), f"pixel size {pixel_size} m (given)"
        return None, "no CRS and no --pixel-size: hectares unknown"
    if src.crs.is_geographic:
        if t.b != 0 or t.d != 0:
            return None, "rotated geographic grid: hectares not computed"
        lam = math.radians(abs(t.a))
        r2 = AUTHALIC_RADIUS_M**2

        def rows(r0: int, r1: int) -> np.ndarray:
            lat = np.radians(t.f + t.e * np.arange(r0, r1 + 1, dtype=np.float64))
            return r2 * lam * np.abs(np.diff(np.sin(lat)))

        return rows, f"{src.crs.to_string()}: cell areas per latitude on the authalic sphere (R = 6371007 m)"
    factor = src.crs.linear_units_factor[1]
    cell = abs(t.a * t.e - t.b * t.d) * factor**2
    return (lambda r0, r1: np.full(r1 - r0, cell)), f"{src.crs.to_string()}: {math.sqrt(cell):.4g} m pixels"


def _check_source(src: Any, path: Path, bands: Sequence[int]) -> None:
    if max(bands) > src.count or min(bands) < 1:
        raise DatasetError(f"{path} has {src.count} band(s); --bands {','.join(map(str, bands))} asks for others. "
                           "The model needs 3 bands in RGB order, e.g. --bands 1,2,3.")
    dtypes = {src.dtypes[b - 1] for b in bands}
    if dtypes != {"uint8"}:
        raise DatasetError(f"{path} is {'/'.join(sorted(dtypes))}; the model was trained on 8-bit RGB. Rescale it to "
                           "0..255 first, e.g. gdal_translate -ot Byte -scale <min> <max> 0 255 in.tif out.tif.")


def _profile(src: Any, width: int, col0: int, nodata: int) -> dict[str, Any]:
    from rasterio.transform import Affine

    big = src.height * width > 2**31
    return {"driver": "GTiff", "height": src.height, "width": width, "count": 1, "dtype": "uint8",
            "crs": src.crs, "transform": src.transform @ Affine.translation(col0, 0), "nodata": nodata,
            "tiled": True, "blockxsize": BLOCK, "blockysize": BLOCK, "compress": "deflate", "predictor": 2,
            "BIGTIFF": "YES" if big else "IF_SAFER"}


def _colormap(classes: ClassTable, nodata: int) -> dict[int, tuple[int, int, int, int]]:
    cmap = {i: (*map(int, c.color), 255) for i, c in enumerate(classes.classes)}
    cmap[nodata] = (0, 0, 0, 0)
    return cmap


def _tags(classes: ClassTable, model: str) -> dict[str, str]:
    return {"landseg_version": __version__, "model": model,
            "classes": json.dumps({i: n for i, n in enumerate(classes.names)})}


def predict_raster(tiler: Tiler, classes: ClassTable, src_path: str | Path, dst_path: str | Path, *,
                   bands: Sequence[int] = (1, 2, 3), column_band_ids: Sequence[int] | None = None,
                   pixel_size: float | None = None, model_name: str = "", advance: Callable[[int], object] | None = None,
                   finalize: bool = True) -> AreaTable:
    """Predict ``src_path`` window by window into the GeoTIFF ``dst_path``; returns the class areas.

    ``column_band_ids`` (contiguous) restricts the work to those column bands of the tiler; the file
    then covers just their columns (a *part*, merged by :func:`merge_parts`). ``finalize`` adds
    overviews; parts skip it.
    """
    import rasterio
    from rasterio.windows import Window

    src_path, dst_path = Path(src_path), Path(dst_path)
    nodata = classes.ignore_index
    with rasterio.Env(**GDAL_ENV):
        try:
            src = rasterio.open(src_path)
        except rasterio.errors.RasterioIOError as exc:
            raise DatasetError(f"cannot open raster {src_path}: {exc}. Is it a GeoTIFF/VRT GDAL can read?") from exc
        with src:
            _check_source(src, src_path, bands)
            all_bands = column_bands(src.width, tiler.band_width)
            ids = list(range(len(all_bands))) if column_band_ids is None else list(column_band_ids)
            col0, col1 = all_bands[ids[0]][0], all_bands[ids[-1]][1]
            row_area, note = pixel_area(src, pixel_size)
            table = AreaTable(classes, note=note)
            has_mask = any(flag.name != "all_valid" for b in bands for flag in src.mask_flag_enums[b - 1])

            def read(r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
                try:
                    return src.read(list(bands), window=Window(c0, r0, c1 - c0, r1 - r0))
                except rasterio.errors.RasterioIOError as exc:
                    raise DatasetError(f"cannot read rows {r0}-{r1} of {src_path}: {exc} (corrupt or truncated "
                                       "file?); nothing was written.") from exc

            with atomic_output(dst_path) as tmp:
                with rasterio.open(tmp, "w", **_profile(src, col1 - col0, col0, nodata)) as dst:
                    dst.write_colormap(1, _colormap(classes, nodata))
                    dst.update_tags(**_tags(classes, model_name))

                    rows = _BlockRows(lambda r0, c0, labels: dst.write(
                        labels[None], window=Window(c0 - col0, r0, labels.shape[1], labels.shape[0])), src.height)

                    def write(r0: int, r1: int, c0: int, c1: int, labels: np.ndarray) -> None:
                        valid = None
                        if has_mask:
                            masks = src.read_masks(list(bands), window=Window(c0, r0, c1 - c0, r1 - r0))
                            valid = masks.any(axis=0)
                            labels = np.where(valid, labels, np.uint8(nodata))
                        rows.add(r0, c0, labels)
                        table.count(labels, valid, None if row_area is None else row_area(r0, r1))

                    tiler.run(src.height, src.width, read, write, bands=ids, advance=advance)
                if finalize:
                    _overviews(tmp)
    return table


class _BlockRows:
    """Hands rows to ``write`` in whole 256-row block strips.

    Why: the tiler finishes rows in strips of ``tile - overlap``; writing those straight into a
    compressed tiled GeoTIFF would compress each block several times and leave the superseded
    copies in the file (measured: a 2× larger file). Rows are held until a block row is complete.
    """

    def __init__(self, write: Callable[[int, int, np.ndarray], None], height: int) -> None:
        self.write, self.height = write, height
        self.parts: list[np.ndarray] = []
        self.start = self.col = 0

    def add(self, r0: int, c0: int, labels: np.ndarray) -> None:
        if self.parts and c0 != self.col:  # a new column band starts at row 0
            self._flush(len(self._rows()))
        if not self.parts:
            self.start, self.col = r0, c0
        self.parts.append(labels)
        pending = self._rows()
        end = self.start + len(pending)
        cut = end if end == self.height else end - end % BLOCK
        if cut > self.start:
            self._flush(cut - self.start)

    def _rows(self) -> np.ndarray:
        if len(self.parts) > 1:
            self.parts = [np.concatenate(self.parts, axis=0)]
        return self.parts[0]

    def _flush(self, n: int) -> None:
        pending = self._rows()
        self.write(self.start, self.col, pending[:n])
        rest = pending[n:]
        self.parts = [rest] if len(rest) else []
        self.start += n


def _overviews(path: Path) -> None:
    import rasterio
    from rasterio.enums import Resampling

    with rasterio.open(path, "r+") as ds:
        factors, f = [], 2
        while min(ds.height, ds.width) // f >= BLOCK:
            factors.append(f)
            f *= 2
        if factors:
            ds.build_overviews(factors, Resampling.mode)
            ds.update_tags(ns="rio_overview", resampling="mode")


def merge_parts(src_path: str | Path, parts: Sequence[Path], dst_path: str | Path, classes: ClassTable,
                model_name: str = "", rows_per_copy: int = 1024) -> None:
    """Assemble column-band parts (from :func:`predict_raster` with ``column_band_ids``) into one map."""
    import rasterio
    from rasterio.windows import Window

    dst_path = Path(dst_path)
    nodata = classes.ignore_index
    with rasterio.Env(**GDAL_ENV), rasterio.open(src_path) as src, atomic_output(dst_path) as tmp:
        with rasterio.open(tmp, "w", **_profile(src, src.width, 0, nodata)) as dst:
            dst.write_colormap(1, _colormap(classes, nodata))
            dst.update_tags(**_tags(classes, model_name))
            for part in parts:
                with rasterio.open(part) as p:
                    col0 = round((p.transform.c - src.transform.c) / src.transform.a)
                    for r0 in range(0, p.height, rows_per_copy):
                        win = Window(0, r0, p.width, min(rows_per_copy, p.height - r0))
                        dst.write(p.read(1, window=win)[None], window=Window(col0, r0, win.width, win.height))
        _overviews(tmp)


def write_preview(map_path: str | Path, png_path: str | Path, classes: ClassTable, max_side: int = 1024) -> Path:
    """A small colour PNG of a class map (nodata transparent), read from its overviews."""
    import rasterio
    from PIL import Image
    from rasterio.enums import Resampling

    with rasterio.open(map_path) as ds:
        scale = max(ds.height, ds.width) / max_side
        shape = (max(1, round(ds.height / max(scale, 1))), max(1, round(ds.width / max(scale, 1))))
        labels = ds.read(1, out_shape=shape, resampling=Resampling.nearest)
    cmap = np.zeros((256, 4), np.uint8)
    for i, c in enumerate(classes.classes):
        cmap[i] = (*map(int, c.color), 255)
    png_path = Path(png_path)
    Image.fromarray(cmap[labels], "RGBA").save(png_path)
    return png_path

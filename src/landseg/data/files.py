"""Find image/mask pairs on disk, read them and check them: no torch, so curation commands start fast.

Bad files raise :class:`~landseg.errors.DatasetError` naming the file and the fix, because a
traceback from deep inside PIL or a DataLoader worker tells a user nothing.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from landseg.classes import ClassTable
from landseg.errors import DatasetError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
MASK_SUFFIX = ".png"
TIFF_SUFFIXES = (".tif", ".tiff")

Pair = tuple[Path, Path | None]
Transform = Callable[[np.ndarray, np.ndarray], tuple[Any, Any]]

# PIL errors for files that are not images or are damaged (truncated data, bad chunks, bombs).
_PIL_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)


# --------------------------------------------------------------------------- finding pairs


def _natural_key(path: Path) -> list[Any]:
    """Sort ``2.png`` before ``10.png`` (LoveDA names are numbers)."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.stem)]


def _subdirs(folder: Path, skip: set[str]) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name not in skip)


def available_splits(root: Path, image_dir: str = "images_png", mask_dir: str = "masks_png") -> list[str]:
    """Split names under ``root`` that hold images: ``Train``, ``Train/Rural``, ... (two levels deep)."""
    skip = {image_dir, mask_dir}
    found: set[str] = set()
    for first in _subdirs(root, skip):
        if (first / image_dir).is_dir():
            found.add(first.name)
        for second in _subdirs(first, skip):
            if (second / image_dir).is_dir():
                found.update({first.name, f"{first.name}/{second.name}"})
    return sorted(found)


def _splits_hint(root: Path, image_dir: str, mask_dir: str) -> str:
    splits = available_splits(root, image_dir, mask_dir)
    if not splits:
        return f"no split folders with {image_dir}/ exist under {root}"
    return f"available splits under {root}: {', '.join(splits)}"


def _image_folders(base: Path, root: Path, image_dir: str, mask_dir: str) -> list[Path]:
    """Folders holding ``image_dir``: ``base`` itself (flat) or its domain subfolders (LoveDA)."""
    if (base / image_dir).is_dir():
        return [base]
    domains = [d for d in _subdirs(base, {image_dir, mask_dir}) if (d / image_dir).is_dir()]
    if not domains:
        raise DatasetError(
            f"no images found in {base} (looked for {base / image_dir}/ and {base}/<domain>/{image_dir}/); "
            f"{_splits_hint(root, image_dir, mask_dir)}. Pass one of them as the split."
        )
    return domains


def find_pairs(
    root: str | Path,
    split: str | None = None,
    image_dir: str = "images_png",
    mask_dir: str = "masks_png",
    require_masks: bool = True,
) -> list[Pair]:
    """List ``(image, mask)`` pairs, matched by file stem, in a deterministic order.

    Layouts: LoveDA ``root/<Split>/<Domain>/{image_dir,mask_dir}`` (``split="Train"`` takes every
    domain, ``"Train/Rural"`` one) and flat ``root[/<split>]/{image_dir,mask_dir}``. Pairs are
    ordered by domain, then naturally by name. The mask is ``None`` only when ``require_masks``
    is false and the mask file is absent.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist; check the path.")
    base = root / split if split else root
    if not base.is_dir():
        raise DatasetError(
            f"split {split!r} not found: {base} does not exist; {_splits_hint(root, image_dir, mask_dir)}."
        )
    pairs: list[Pair] = []
    seen: dict[str, Path] = {}
    folders = _image_folders(base, root, image_dir, mask_dir)
    for folder in folders:
        images = sorted(
            (p for p in (folder / image_dir).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
            key=_natural_key,
        )
        for image in images:
            if image.stem in seen:
                raise DatasetError(
                    f"duplicate sample name {image.stem!r}: {seen[image.stem]} and {image}; "
                    "sample names (file stems) must be unique within a split, rename one of them."
                )
            seen[image.stem] = image
            mask = folder / mask_dir / f"{image.stem}{MASK_SUFFIX}"
            has_mask = mask.is_file()
            if require_masks and not has_mask:
                raise DatasetError(
                    f"missing mask for image {image}: expected {mask}. Add the mask, remove the image, "
                    "or use require_masks=False for unlabelled images."
                )
            pairs.append((image, mask if has_mask else None))
    if not pairs:
        looked = ", ".join(str(folder / image_dir) for folder in folders)
        raise DatasetError(
            f"no images found in {base} (looked for {'/'.join(IMAGE_SUFFIXES)} files in {looked}); "
            "put the images there or point to the right folder."
        )
    return pairs


# --------------------------------------------------------------------------- reading files


def _is_tiff(path: Path) -> bool:
    return path.suffix.lower() in TIFF_SUFFIXES


def _unreadable(kind: str, path: Path, exc: BaseException) -> DatasetError:
    return DatasetError(
        f"cannot read {kind} {path}: {exc}. The file is corrupt, truncated or not an image; "
        "re-export it or remove it (and its pair)."
    )


@contextmanager
def open_raster(path: Path, kind: str) -> Iterator[Any]:
    """Open a (Geo)TIFF with rasterio (PIL cannot read most GeoTIFFs); plain TIFFs are fine too."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = rasterio.open(path)
    except (RasterioError, OSError) as exc:
        raise _unreadable(kind, path, exc) from exc
    with src:
        yield src


def _read_tiff(path: Path, kind: str) -> np.ndarray:
    """All bands as ``bands x H x W`` uint8."""
    with open_raster(path, kind) as src:
        data = src.read()
    if data.dtype != np.uint8:
        raise DatasetError(f"{kind} {path} has {data.dtype} pixels; expected 8-bit (uint8). "
                           "Convert it to 8-bit before training.")
    return data


def _open_pil(path: Path, kind: str, decode: bool = True) -> Image.Image:
    """Open (and by default fully decode) with PIL, turning its many failure modes into one error."""
    try:
        img = Image.open(path)
        if decode:
            img.load()
    except FileNotFoundError as exc:
        raise DatasetError(f"{kind} {path} does not exist.") from exc
    except _PIL_ERRORS as exc:
        raise _unreadable(kind, path, exc) from exc
    return img


def read_image(path: str | Path) -> np.ndarray:
    """Read an image as RGB uint8 ``HxWx3``; TIFFs keep their first three bands."""
    path = Path(path)
    if _is_tiff(path):
        data = _read_tiff(path, "image")
        if data.shape[0] < 3:
            raise DatasetError(f"image {path} has {data.shape[0]} band(s); expected at least 3 (RGB).")
        return np.ascontiguousarray(data[:3].transpose(1, 2, 0))
    with _open_pil(path, "image") as img:
        if img.mode not in ("RGB", "RGBA", "L", "LA", "P", "CMYK", "YCbCr"):
            raise DatasetError(f"image {path} has pixel mode {img.mode}; expected an 8-bit RGB image.")
        return np.array(img.convert("RGB"), dtype=np.uint8)


def read_mask(path: str | Path) -> np.ndarray:
    """Read a class-index mask as uint8 ``HxW`` (mode L, or P whose palette indices are classes)."""
    path = Path(path)
    if _is_tiff(path):
        data = _read_tiff(path, "mask")
        if data.shape[0] != 1:
            raise DatasetError(f"mask {path} has {data.shape[0]} bands; masks must have one band of class indices.")
        return data[0]
    with _open_pil(path, "mask") as img:
        return mask_array(img, path)


def mask_array(img: Image.Image, path: str | Path) -> np.ndarray:
    """Class indices of an opened mask image; colour (RGB) masks are refused with what to do."""
    if img.mode not in ("L", "P"):
        raise DatasetError(
            f"mask {path} is a mode-{img.mode} image; masks must be class-index PNGs: one 8-bit band "
            "(mode L or P) whose values are class indices (0, 1, 2, ...), not colours. Convert colour "
            "masks to class indices first."
        )
    return np.array(img, dtype=np.uint8)


def image_size(path: str | Path, kind: str = "file") -> tuple[int, int]:
    """``(width, height)`` from the file header only (cheap: no pixel decoding)."""
    path = Path(path)
    if _is_tiff(path):
        with open_raster(path, kind) as src:
            return src.width, src.height
    with _open_pil(path, kind, decode=False) as img:
        return img.size


def check_same_size(image_path: Path, image_wh: tuple[int, int], mask_path: Path, mask_wh: tuple[int, int]) -> None:
    """Raise if an image and its mask differ in size (a mask must label every pixel)."""
    if tuple(image_wh) != tuple(mask_wh):
        raise DatasetError(
            f"size mismatch for image {image_path}: image is {image_wh[0]}x{image_wh[1]} but mask {mask_path} "
            f"is {mask_wh[0]}x{mask_wh[1]} (width x height); re-export the mask at the image size."
        )


def check_mask_values(mask: np.ndarray, classes: ClassTable, path: Path) -> None:
    """Raise if the mask holds values that are neither a class index nor the ignore value."""
    counts = np.bincount(mask.ravel(), minlength=256)
    counts[: len(classes)] = 0
    if 0 <= classes.ignore_index < counts.size:
        counts[classes.ignore_index] = 0
    bad = np.flatnonzero(counts)
    if bad.size:
        raise DatasetError(
            f"mask {path} has values {', '.join(map(str, bad.tolist()))} outside the valid class range "
            f"0..{len(classes) - 1} ({len(classes)} classes: {', '.join(classes.names)}); "
            f"{classes.ignore_index} is the ignore value and is allowed. Remap the mask or use a class "
            "table that matches it."
        )

"""A synthetic OpenEarthMap-like source: georeferenced GeoTIFFs in the official OEM layout.

The demo pipeline (``import-oem`` -> ``combine`` -> ``filter``) must run without the real
OpenEarthMap download, so this writes what the release looks like::

    OUT/<region>/images/<region>_<n>.tif   RGB, 3 bands of uint8
    OUT/<region>/labels/<region>_<n>.tif   1 band of uint8, the 9 OEM codes
    OUT/train.txt, val.txt, test.txt       bare file names, one per line

The scenes come from :mod:`landseg.data.synth` (same parcels, textures and camera effects) and
are labelled in OEM's taxonomy: grassland and semi-natural parcels are *rangeland*, cropland is
*agriculture*, forest and copses are *tree*, background is *water* or *bareland*, and settlement
is split into *building* (grey roofs), *road* and *developed space* (the paving between them).
Small *unknown* (code 0) patches stand for OEM's unlabelled areas. Every fourth tile
(``<region>_2``, ``_6``, ...) is an urban scene whose labelled pixels are mostly built-up, so the
settlement filter has tiles to remove. The last region's tiles are ``large_size`` square (1000²,
OEM's usual size: ``import-oem --tile 512`` cuts and pads them). An "xBD-like" region is listed
in ``train.txt`` with images but no label files, as in the release (import-oem reports these).

Georeferencing: all files share one CRS; each region sits at its own offset, its tiles on a
non-overlapping grid, and an image and its label have the same affine transform.

Determinism: each tile draws from its own streams keyed by ``(seed, region name, tile number)``,
and the GeoTIFFs are written with fixed creation options and no timestamps, so the same arguments
give byte-identical files (and a region's tiles do not depend on which other regions exist).
"""

from __future__ import annotations

import json
import math
import re
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from landseg.data import synth, synth_scene
from landseg.errors import ConfigError, DatasetError
from landseg.utils import atomic_write_bytes

#: OpenEarthMap's label codes (config/mappings/oem_to_biodiversity.yaml).
OEM_CODES: dict[int, str] = {
    0: "unknown", 1: "bareland", 2: "rangeland", 3: "developed space", 4: "road",
    5: "tree", 6: "water", 7: "agriculture", 8: "building",
}
UNKNOWN, BARELAND, RANGELAND, DEVELOPED, ROAD, TREE, WATER, AGRICULTURE, BUILDING = range(9)
#: codes that become Settlement, and codes ignored (not labelled), under the default mapping
SETTLEMENT_CODES = (DEVELOPED, ROAD, BUILDING)
IGNORED_CODES = (UNKNOWN, BARELAND, WATER)

#: region names used when ``regions`` is a count ("delta" is left to the xBD-like region)
REGION_NAMES: tuple[str, ...] = (
    "alpha", "bravo", "charlie", "echo", "foxtrot", "golf", "hotel", "india", "juliett", "kilo", "lima",
    "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform", "victor",
    "whiskey", "xray", "yankee", "zulu",
)
SPLIT_FILES: tuple[str, ...] = ("train", "val", "test")
MANIFEST_NAME = "synth_oem_manifest.json"
MIN_SIZE = 32

#: synth class -> OEM code (background is refined into water/bareland, settlement into 3/4/8)
_TO_OEM = np.array([BARELAND, TREE, RANGELAND, AGRICULTURE, DEVELOPED, RANGELAND], np.uint8)
#: parcel class chances of an urban scene (order of synth's classes: background, forest,
#: grassland, cropland, settlement, semi-natural)
URBAN_CLASS_P = np.array([0.04, 0.08, 0.12, 0.02, 0.68, 0.06])
#: an urban scene is built up until Settlement is at least this share of its labelled pixels
URBAN_MIN_SHARE = 0.6
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class SynthOemResult:
    """What :func:`generate_oem_like` wrote, for summaries and for tests."""

    out: Path
    #: labelled regions, in order, and the region whose images have no labels (or None)
    regions: tuple[str, ...]
    unlabelled_region: str | None
    #: tile side (pixels) per region, the unlabelled one included
    sizes: dict[str, int]
    #: file names listed per split file ("train" includes the unlabelled images)
    counts: dict[str, int]
    labelled: int
    unlabelled: int
    #: file names of the urban scenes, and of all tiles whose labelled pixels are > 50%
    #: Settlement under the default mapping (codes 3, 4, 8 of codes other than 0, 1, 6)
    urban: tuple[str, ...]
    settlement_heavy: tuple[str, ...]
    #: share of all label pixels per OEM code name
    code_fractions: dict[str, float]
    manifest: Path
    seconds: float


# --------------------------------------------------------------------------------------------
# parameters and output folder
# --------------------------------------------------------------------------------------------


def _int(value: object, name: str, flag: str, minimum: int, example: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name}={value!r} ({flag}) must be an integer >= {minimum}, e.g. {example}.")


def resolve_regions(regions: Sequence[str] | int) -> tuple[str, ...]:
    """Region names from a list of names or a count (the first N of :data:`REGION_NAMES`)."""
    if isinstance(regions, int) and not isinstance(regions, bool):
        if not 1 <= regions <= len(REGION_NAMES):
            raise ConfigError(f"regions={regions} (--regions) must be between 1 and {len(REGION_NAMES)}, e.g. 3.")
        return REGION_NAMES[:regions]
    if isinstance(regions, str):
        raise ConfigError(f"regions={regions!r} must be a list of region names such as ('alpha', 'bravo') "
                          "or a count, not one string.")
    names = tuple(regions)
    if not names:
        raise ConfigError("regions is empty; give at least one region name (or a count), e.g. 3.")
    return names


def _check_name(name: object, what: str) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(f"{what} name {name!r} must be letters, digits, '_' or '-' (starting with a letter "
                          "or digit); it names a folder and the files <region>_<n>.tif, e.g. 'alpha'.")


def check_parameters(regions: tuple[str, ...], tiles_per_region: int, size: int, large_size: int | None,
                     seed: int, unlabelled_region: str | None, crs: str, pixel_size: float,
                     val_fraction: float, test_fraction: float) -> None:
    """Reject bad settings before anything is written (shared by the API and the CLI)."""
    for region in regions:
        _check_name(region, "region")
    if len(set(regions)) != len(regions):
        raise ConfigError(f"regions {list(regions)} name a region twice; region names must be unique.")
    if unlabelled_region is not None:
        _check_name(unlabelled_region, "unlabelled_region")
        if unlabelled_region in regions:
            raise ConfigError(f"unlabelled_region {unlabelled_region!r} is also a labelled region; "
                              "choose another name (e.g. 'xbd_delta') or None.")
    _int(tiles_per_region, "tiles_per_region", "--tiles-per-region", 1, "8")
    _int(size, "size", "--size", MIN_SIZE, "512")
    if large_size is not None:
        _int(large_size, "large_size", "--large-size", MIN_SIZE, "1000")
    _int(seed, "seed", "--seed", 0, "0")
    if isinstance(pixel_size, bool) or not isinstance(pixel_size, int | float) or not pixel_size > 0:
        raise ConfigError(f"pixel_size={pixel_size!r} must be a positive ground distance per pixel in CRS "
                          "units, e.g. 0.5 (metres).")
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"{name}={value!r} (--{name.replace('_', '-')}) must be in [0, 1), e.g. 0.25.")
    counts = synth.split_counts(tiles_per_region, val_fraction, test_fraction)
    if counts["Train"] < 1:
        raise ConfigError(f"val_fraction={val_fraction} and test_fraction={test_fraction} leave no train tiles "
                          f"out of {tiles_per_region} per region; lower the fractions or raise --tiles-per-region.")
    _parse_crs(crs)


def _parse_crs(crs: str):  # -> rasterio.crs.CRS (rasterio is imported lazily)
    from rasterio.crs import CRS
    from rasterio.errors import CRSError

    try:
        return CRS.from_user_input(crs)
    except CRSError as exc:
        raise ConfigError(f"crs={crs!r} is not a coordinate reference system rasterio knows ({exc}); "
                          "use e.g. 'EPSG:32629' (UTM 29N, Ireland).") from exc


def _owned(folder: Path, region: str) -> list[Path]:
    """This generator's files of ``region`` in one of its folders (and leftover temp files)."""
    pattern = re.compile(rf"\.?{re.escape(region)}_\d+\.tif(\.\d+\.tmp)?")
    return [p for p in folder.glob("*") if p.is_file() and pattern.fullmatch(p.name)] if folder.is_dir() else []


def _prepare_out(out: Path, regions: Sequence[str], overwrite: bool) -> None:
    """Refuse a non-empty folder unless asked; with ``overwrite`` remove only our own tiles.

    Our own: ``<region>_<n>.tif`` in the images/labels folders of the regions written now and of
    those named by an earlier manifest of ours; the split lists are rewritten, other files kept.
    """
    if out.exists() and not out.is_dir():
        raise DatasetError(f"Output path {out} exists and is not a folder; choose another path.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise DatasetError(f"Output folder {out} is not empty; choose a new folder or pass overwrite=True "
                           "(--overwrite) to replace the synthetic OpenEarthMap-like tiles in it.")
    out.mkdir(parents=True, exist_ok=True)
    if not overwrite:
        return
    old: list[str] = []
    try:
        previous = json.loads((out / MANIFEST_NAME).read_text())
        if previous.get("generator") == __name__:
            old = [str(r) for r in previous.get("all_regions", [])]
    except (OSError, ValueError, AttributeError):
        pass
    for region in dict.fromkeys([*regions, *old]):
        if not _NAME.fullmatch(region):
            continue
        for kind in ("images", "labels"):
            for path in _owned(out / region / kind, region):
                path.unlink()
    (out / MANIFEST_NAME).unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# scenes in OEM's taxonomy
# --------------------------------------------------------------------------------------------


def is_urban(number: int) -> bool:
    """Tile ``<region>_<number>`` is an urban scene: numbers 2, 6, 10, ... (one in four)."""
    return number % 4 == 2


def _urbanise(rng: np.random.Generator, scene: synth_scene.Scene) -> None:
    """A street grid, then parcels turned built-up until Settlement dominates the labelled pixels."""
    size = scene.size
    layer = scene.road.astype(np.uint8)
    angle = rng.uniform(0.0, np.pi)
    for k in range(int(rng.integers(2, 5))):
        a = angle + (np.pi / 2 if k % 2 else 0.0) + rng.normal(0.0, 0.04)
        cx, cy = rng.uniform(0.1, 0.9, 2) * size
        dx, dy = np.cos(a) * 2 * size, np.sin(a) * 2 * size
        cv2.line(layer, (int(cx - dx), int(cy - dy)), (int(cx + dx), int(cy + dy)), 1,
                 thickness=int(rng.integers(6, 11)))
    scene.road = layer.astype(bool)
    scene.mask[scene.road] = synth_scene.SETTLEMENT
    ids, mask = scene.ids, scene.mask
    while True:
        settled = mask == synth_scene.SETTLEMENT
        labelled = int(np.count_nonzero(mask != synth_scene.BACKGROUND))
        if labelled and np.count_nonzero(settled) >= URBAN_MIN_SHARE * labelled:
            return
        # the largest parcel not yet built up (by area outside Settlement) becomes Settlement
        area = np.bincount(ids[~settled], minlength=len(scene.parcel_class))
        parcel = int(area.argmax())
        if area[parcel] == 0:
            return
        scene.parcel_class[parcel] = synth_scene.SETTLEMENT
        mask[ids == parcel] = synth_scene.SETTLEMENT


def _oem_labels(scene: synth_scene.Scene) -> np.ndarray:
    """The scene's clean mask in OEM codes (call after painting: roofs are known only then)."""
    codes = _TO_OEM[scene.mask]
    codes[(scene.mask == synth_scene.BACKGROUND) & scene.water[scene.ids]] = WATER
    if scene.roofs is not None:
        codes[scene.roofs & (scene.mask == synth_scene.SETTLEMENT)] = BUILDING
    codes[scene.road] = ROAD  # painted over roofs, as in the image
    return codes


def _add_unknown(rng: np.random.Generator, codes: np.ndarray) -> None:
    """Zero, one or two small elliptical 'unknown' (code 0) patches: OEM's unlabelled areas."""
    size = codes.shape[0]
    for _ in range(int(rng.choice(3, p=[0.5, 0.35, 0.15]))):
        cx, cy = (int(v) for v in rng.integers(0, size, 2))
        ax, ay = (max(2, int(v)) for v in rng.uniform(0.03, 0.09, 2) * size)
        cv2.ellipse(codes, (cx, cy), (ax, ay), float(rng.uniform(0.0, 180.0)), 0.0, 360.0, UNKNOWN, thickness=-1)


def render_oem_tile(seed: int, region: str, number: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Image (H, W, 3) and OEM label codes (H, W) of tile ``<region>_<number>``, both uint8."""
    key = zlib.crc32(region.encode())
    scene_rng = np.random.default_rng([seed, key, number, 0])
    extra_rng = np.random.default_rng([seed, key, number, 1])
    urban = is_urban(number)
    scene = synth_scene.build_scene(scene_rng, size, URBAN_CLASS_P if urban else synth_scene.PARCEL_CLASS_P)
    if urban:
        _urbanise(extra_rng, scene)
    image = synth_scene.paint_scene(scene_rng, scene)
    labels = _oem_labels(scene)
    _add_unknown(extra_rng, labels)
    return image, labels


def settlement_share(labels: np.ndarray) -> float:
    """Share of Settlement (codes 3, 4, 8) in the pixels the default mapping keeps (not 0, 1, 6)."""
    hist = np.bincount(labels.ravel(), minlength=len(OEM_CODES))
    labelled = hist.sum() - hist[list(IGNORED_CODES)].sum()
    return float(hist[list(SETTLEMENT_CODES)].sum() / labelled) if labelled else 0.0


# --------------------------------------------------------------------------------------------
# GeoTIFFs
# --------------------------------------------------------------------------------------------


def _geotiff_bytes(data: np.ndarray, crs: object, transform: tuple[float, ...]) -> bytes:
    """A (bands, H, W) uint8 array as GeoTIFF bytes; fixed creation options, no timestamp tags."""
    import rasterio
    from rasterio.io import MemoryFile

    bands, height, width = data.shape
    options = ({"compress": "deflate", "zlevel": 1, "predictor": 2, "photometric": "RGB", "interleave": "pixel"}
               if bands == 3 else {"compress": "deflate", "zlevel": 6})
    with MemoryFile() as mem:
        with mem.open(driver="GTiff", width=width, height=height, count=bands, dtype="uint8", crs=crs,
                      transform=rasterio.Affine(*transform), tiled=False, **options) as dst:
            dst.write(data)
        return bytes(mem.read())


def _region_layout(sizes: dict[str, int], counts: dict[str, int], pixel_size: float,
                   geographic: bool) -> dict[str, tuple[float, float, int]]:
    """Top-left corner and grid columns per region: regions side by side west to east, apart."""
    x0, y0 = (-9.5, 53.5) if geographic else (440000.0, 5920000.0)  # Ireland, in lon/lat or UTM 29N
    cols = {r: math.ceil(math.sqrt(counts[r])) for r in sizes}
    step = max(cols[r] * sizes[r] for r in sizes) * pixel_size
    step += max(sizes.values()) * pixel_size * 4  # a gap of a few tiles between regions
    return {r: (x0 + k * step, y0 - (k % 2) * step / 4, cols[r]) for k, r in enumerate(sizes)}


def _tile_transform(corner: tuple[float, float, int], number: int, side: int,
                    pixel_size: float) -> tuple[float, ...]:
    x0, y0, cols = corner
    row, col = divmod(number - 1, cols)
    return (pixel_size, 0.0, x0 + col * side * pixel_size, 0.0, -pixel_size, y0 - row * side * pixel_size)


# --------------------------------------------------------------------------------------------
# public entry point
# --------------------------------------------------------------------------------------------


def generate_oem_like(
    out: str | Path,
    regions: Sequence[str] | int = ("alpha", "bravo", "charlie"),
    tiles_per_region: int = 8,
    size: int = 512,
    seed: int = 0,
    unlabelled_region: str | None = "xbd_delta",
    crs: str = "EPSG:32629",
    pixel_size: float = 0.5,
    val_fraction: float = 0.25,
    progress: bool = True,
    overwrite: bool = False,
    *,
    test_fraction: float = 0.125,
    large_size: int | None = 1000,
) -> SynthOemResult:
    """Write a synthetic OpenEarthMap-like source in the official layout and return a summary.

    ``regions`` are names or a count (first N of :data:`REGION_NAMES`); each gets
    ``tiles_per_region`` ``size``² image/label pairs, except the last, whose tiles are
    ``large_size``² (None: ``size`` too). Per region, ``val_fraction`` and ``test_fraction`` of the
    tiles go to ``val.txt`` and ``test.txt`` (at least one each when non-zero), the rest to
    ``train.txt``. ``unlabelled_region`` (None for none) gets ``max(1, tiles_per_region // 4)``
    ``size``² images without labels, listed in ``train.txt``. ``crs`` and ``pixel_size`` (CRS units
    per pixel) set the georeferencing. ``synth_oem_manifest.json`` records every tile.
    Byte-identical for the same arguments. Raises ConfigError for bad arguments and DatasetError
    for an unusable OUT (non-empty without ``overwrite``).
    """
    from tqdm import tqdm

    names = resolve_regions(regions)
    check_parameters(names, tiles_per_region, size, large_size, seed, unlabelled_region, crs, pixel_size,
                     val_fraction, test_fraction)
    started = time.perf_counter()
    out = Path(out)
    crs_obj = _parse_crs(crs)

    sizes = {r: size for r in names}
    sizes[names[-1]] = large_size or size
    counts = dict.fromkeys(names, tiles_per_region)
    if unlabelled_region is not None:
        sizes[unlabelled_region] = size
        counts[unlabelled_region] = max(1, tiles_per_region // 4)
    corners = _region_layout(sizes, counts, float(pixel_size), bool(crs_obj.is_geographic))
    _prepare_out(out, list(sizes), overwrite)

    # split of each labelled region's tiles: a seeded permutation of the tile numbers
    per_split = synth.split_counts(tiles_per_region, val_fraction, test_fraction)
    split_of: dict[tuple[str, int], str] = {}
    for region in names:
        order = 1 + np.random.default_rng([seed, zlib.crc32(region.encode()), 0, 2]).permutation(tiles_per_region)
        n_val, n_test = per_split["Val"], per_split["Test"]
        for i, number in enumerate(order.tolist()):
            split_of[region, number] = "val" if i < n_val else "test" if i < n_val + n_test else "train"

    plan = [(r, n) for r in sizes for n in range(1, counts[r] + 1)]
    lists: dict[str, list[str]] = {s: [] for s in SPLIT_FILES}
    pixels = np.zeros(len(OEM_CODES), np.int64)
    records, urban, heavy = [], [], []
    for region, number in tqdm(plan, desc="synth-oem", unit="tile", disable=not progress):
        labelled = region != unlabelled_region
        side = sizes[region]
        image, labels = render_oem_tile(seed, region, number, side)
        transform = _tile_transform(corners[region], number, side, float(pixel_size))
        name = f"{region}_{number}.tif"
        for kind in ("images", "labels") if labelled else ("images",):
            (out / region / kind).mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / region / "images" / name,
                            _geotiff_bytes(image.transpose(2, 0, 1), crs_obj, transform))
        split = split_of.get((region, number), "train")
        lists[split].append(name)
        record: dict[str, object] = {"name": name, "region": region, "split": split, "width": side,
                                     "height": side, "labelled": labelled, "transform": list(transform)}
        if labelled:
            atomic_write_bytes(out / region / "labels" / name, _geotiff_bytes(labels[None], crs_obj, transform))
            pixels += np.bincount(labels.ravel(), minlength=len(OEM_CODES))
            share = settlement_share(labels)
            record |= {"urban": is_urban(number), "settlement_share": round(share, 6)}
            urban += [name] if is_urban(number) else []
            heavy += [name] if share > 0.5 else []
        records.append(record)

    for split in SPLIT_FILES:
        atomic_write_bytes(out / f"{split}.txt", "".join(f"{n}\n" for n in lists[split]).encode())
    fractions = {OEM_CODES[c]: float(v) for c, v in enumerate(pixels / max(1, int(pixels.sum())))}
    manifest = {
        "generator": __name__,
        "format_version": 1,
        "parameters": {"regions": list(names), "tiles_per_region": tiles_per_region, "size": size,
                       "large_size": large_size, "seed": seed, "unlabelled_region": unlabelled_region,
                       "crs": crs, "pixel_size": pixel_size, "val_fraction": val_fraction,
                       "test_fraction": test_fraction},
        "all_regions": list(sizes),
        "codes": {str(c): n for c, n in OEM_CODES.items()},
        "counts": {s: len(v) for s, v in lists.items()},
        "code_fractions": {n: round(v, 6) for n, v in fractions.items()},
        "tiles": records,
    }
    manifest_path = out / MANIFEST_NAME
    atomic_write_bytes(manifest_path, (json.dumps(manifest, indent=1) + "\n").encode())
    n_unlabelled = counts.get(unlabelled_region, 0) if unlabelled_region is not None else 0
    return SynthOemResult(
        out=out, regions=names, unlabelled_region=unlabelled_region, sizes=sizes,
        counts={s: len(v) for s, v in lists.items()}, labelled=len(plan) - n_unlabelled,
        unlabelled=n_unlabelled, urban=tuple(urban), settlement_heavy=tuple(heavy), code_fractions=fractions,
        manifest=manifest_path, seconds=time.perf_counter() - started)

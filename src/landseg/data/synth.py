"""A procedurally generated aerial benchmark in LoveDA layout, with optional realistic label noise.

Real rural imagery cannot ship with the package, yet every later stage (training, evaluation,
label-noise curation) needs a dataset whose ground truth is known exactly. The scenes here are
field parcels with hedgerows, copses, roads and farmsteads; each class has its own colour *and*
texture so a small model can learn it, while illumination changes and sensor noise keep it from
being trivial. Label noise imitates what annotators really get wrong (semi-natural grassland
called grassland, a boundary drawn a few pixels off, a small copse missed) and the clean truth is
always written beside the noisy masks so curation methods can be scored.

Determinism: each tile draws from its own random stream keyed by ``(seed, tile index)``, and the
noise from a separate stream, so images and clean masks do not depend on ``label_noise`` and the
noisy tiles at a lower noise rate are a subset of those at a higher one.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from landseg.classes import BIODIVERSITY
from landseg.errors import ConfigError, DatasetError

SPLITS: tuple[str, ...] = ("Train", "Val", "Test")
DOMAIN = "Rural"
IMAGES_DIR = "images_png"
MASKS_DIR = "masks_png"
CLEAN_MASKS_DIR = "masks_png_clean"
MANIFEST_NAME = "synth_manifest.json"
NAME_PREFIX = "synth_"

BACKGROUND, FOREST, GRASSLAND, CROPLAND, SETTLEMENT, SEMINATURAL = range(6)
NUM_CLASSES = 6

#: How often a parcel gets each class; settlement is rarer because roads also add it.
PARCEL_CLASS_P = np.array([0.15, 0.17, 0.22, 0.21, 0.07, 0.18])
#: Field-like classes that get hedgerows around them and may contain a copse.
_OPEN_LAND = (GRASSLAND, CROPLAND, SEMINATURAL)

_Color = tuple[float, float, float]
_SOIL: _Color = (176.0, 148.0, 110.0)
_WATER: _Color = (36.0, 56.0, 78.0)
_FOREST_SHADOW: _Color = (16.0, 32.0, 18.0)
_FOREST_CROWN: _Color = (50.0, 86.0, 40.0)
_GRASS: _Color = (104.0, 166.0, 62.0)
_GRASS_DRY: _Color = (146.0, 158.0, 78.0)
_SEMI_OLIVE: _Color = (116.0, 122.0, 62.0)
_SEMI_BROWN: _Color = (132.0, 102.0, 66.0)
_CROP_PALETTES: tuple[tuple[_Color, _Color], ...] = (
    ((212.0, 188.0, 96.0), (168.0, 138.0, 68.0)),  # ripe cereal, yellow
    ((166.0, 122.0, 80.0), (118.0, 86.0, 56.0)),  # ploughed, brown
    ((196.0, 170.0, 110.0), (150.0, 120.0, 74.0)),  # stubble, pale
)
_PAVEMENT: _Color = (150.0, 147.0, 140.0)
_ROAD: _Color = (102.0, 102.0, 106.0)
_HEDGE: _Color = (46.0, 60.0, 34.0)


@dataclass(frozen=True)
class SynthResult:
    """What :func:`generate_benchmark` wrote, for summaries and for tests."""

    out: Path
    counts: dict[str, int]
    noisy_masks: int
    noisy_per_split: dict[str, int]
    #: share of all (clean) mask pixels per class name
    class_fractions: dict[str, float]
    #: share of tiles in which each class name appears at all
    class_tile_shares: dict[str, float]
    manifest: Path
    seconds: float


# --------------------------------------------------------------------------------------------
# validation and output folder
# --------------------------------------------------------------------------------------------


def check_parameters(tiles: int, size: int, seed: int, label_noise: float, val_fraction: float,
                     test_fraction: float) -> None:
    """Reject bad settings before anything is written (shared by the API and the CLI)."""
    if isinstance(tiles, bool) or not isinstance(tiles, int) or tiles < 3:
        raise ConfigError(f"tiles={tiles!r} (--tiles) must be an integer >= 3 so that Train, Val "
                          "and Test can each get a tile; e.g. 60.")
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0 or size % 32:
        hint = f"; try {max(32, 32 * round(size / 32))}" if isinstance(size, int) else ""
        raise ConfigError(f"size={size!r} (--size) must be a positive multiple of 32 (models "
                          f"downsample by 32){hint}.")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed={seed!r} (--seed) must be a non-negative integer, e.g. 0.")
    if not 0.0 <= label_noise <= 1.0:
        raise ConfigError(f"label_noise={label_noise!r} (--label-noise) must be between 0 and 1 "
                          "(the fraction of Train/Val masks that get errors), e.g. 0.2.")
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"{name}={value!r} (--{name.replace('_', '-')}) must be in [0, 1), "
                              "e.g. 0.2.")
    counts = split_counts(tiles, val_fraction, test_fraction)
    if counts["Train"] < 1:
        raise ConfigError(f"val_fraction={val_fraction} and test_fraction={test_fraction} leave no "
                          f"Train tiles out of {tiles}; lower the fractions or raise --tiles.")


def _share(fraction: float, total: int) -> int:
    """``fraction * total`` rounded half up (Python's round() would turn 2.5 into 2)."""
    return int(np.floor(fraction * total + 0.5))


def split_counts(tiles: int, val_fraction: float, test_fraction: float) -> dict[str, int]:
    """Tiles per split; a non-zero fraction always yields at least one tile."""
    def n(frac: float) -> int:
        return max(1, _share(frac, tiles)) if frac > 0 else 0

    n_val, n_test = n(val_fraction), n(test_fraction)
    return {"Train": tiles - n_val - n_test, "Val": n_val, "Test": n_test}


def _split_dir(out: Path, split: str, kind: str) -> Path:
    return out / split / DOMAIN / kind


def _prepare_out(out: Path, overwrite: bool) -> None:
    """Create the LoveDA folders; refuse a non-empty folder unless asked to replace our files.

    With ``overwrite`` only files this generator owns (``synth_*.png`` in the split folders and the
    manifest) are removed, so a stray real dataset in the same folder is never deleted.
    """
    if out.exists() and not out.is_dir():
        raise DatasetError(f"Output path {out} exists and is not a folder; choose another path.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise DatasetError(f"Output folder {out} is not empty; choose a new folder or pass "
                           "overwrite=True (--overwrite) to replace the synthetic tiles in it.")
    for split in SPLITS:
        for kind in (IMAGES_DIR, MASKS_DIR, CLEAN_MASKS_DIR):
            folder = _split_dir(out, split, kind)
            folder.mkdir(parents=True, exist_ok=True)
            if overwrite:
                for old in [*folder.glob(f"{NAME_PREFIX}*.png"), *folder.glob(f".{NAME_PREFIX}*.tmp")]:
                    old.unlink()
    (out / MANIFEST_NAME).unlink(missing_ok=True)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write via a hidden temp file in the same folder so readers never see half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _png_bytes(array: np.ndarray) -> bytes:
    """Encode an RGB (H, W, 3) or label (H, W) uint8 array; labels become mode 'L' PNGs."""
    pixels = cv2.cvtColor(array, cv2.COLOR_RGB2BGR) if array.ndim == 3 else array
    ok, buf = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # pragma: no cover - cv2 only fails on unsupported dtypes
        raise DatasetError(f"Could not encode a PNG of shape {array.shape} and dtype {array.dtype}.")
    return buf.tobytes()


# --------------------------------------------------------------------------------------------
# scene generation
# --------------------------------------------------------------------------------------------


def _noise(rng: np.random.Generator, size: int, cell: float) -> np.ndarray:
    """Smooth value noise (roughly 0..1) with blobs about ``cell`` pixels wide: the texture base."""
    grid_n = int(np.ceil(size / cell)) + 2
    grid = rng.random((grid_n, grid_n), dtype=np.float32)
    side = int(round(grid_n * cell))
    return cv2.resize(grid, (side, side), interpolation=cv2.INTER_CUBIC)[:size, :size]


def _mix(a: _Color, b: _Color, t: np.ndarray) -> np.ndarray:
    """Per-pixel blend of two colours by ``t`` in 0..1 -> (H, W, 3)."""
    ca, cb = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return ca + (cb - ca) * t[..., None]


@dataclass
class _Scene:
    size: int
    ids: np.ndarray  # (H, W) int32 parcel index
    parcel_class: np.ndarray  # (n,) class per parcel
    water: np.ndarray  # (n,) bool, background parcels that are water rather than bare soil
    mask: np.ndarray  # (H, W) uint8 clean labels (parcels + copses + roads)
    road: np.ndarray  # (H, W) bool
    dryness: float = 0.0  # 0 lush .. 1 late summer; pushes grassland towards semi-natural colours
    #: (H, W) bool roof polygons, set by the settlement painter (None until it runs); roofs show
    #: only where ``mask`` is Settlement and no road crosses them
    roofs: np.ndarray | None = None


#: Public name of a tile's scene, for generators that build on this one (landseg.data.synth_oem).
Scene = _Scene


def _layout(rng: np.random.Generator, size: int, class_p: np.ndarray = PARCEL_CLASS_P) -> _Scene:
    """Warped, anisotropic Voronoi parcels: convex-ish fields, elongated along one direction.

    ``class_p`` is the chance of each class per parcel (default :data:`PARCEL_CLASS_P`).
    """
    base = 14.0 * size / 512.0
    lo = max(4, round(0.7 * base))
    n = int(rng.integers(lo, max(lo + 1, round(1.4 * base)) + 1))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    yy += 14.0 * (_noise(rng, size, 96.0) - 0.5)
    xx += 14.0 * (_noise(rng, size, 96.0) - 0.5)
    angle = rng.uniform(0.0, np.pi)
    stretch = rng.uniform(1.0, 1.8)
    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    u, v = xx * c + yy * s, (yy * c - xx * s) * np.float32(stretch)
    pts = rng.random((n, 2)) * size
    pu, pv = pts[:, 0] * c + pts[:, 1] * s, (pts[:, 1] * c - pts[:, 0] * s) * stretch
    best = np.full((size, size), np.inf, np.float32)
    ids = np.zeros((size, size), np.int32)
    d, dv, closer = np.empty_like(best), np.empty_like(best), np.empty(best.shape, bool)
    for k in range(n):  # in-place ops: this nearest-seed loop is the hot spot of the layout
        np.square(np.subtract(u, np.float32(pu[k]), out=d), out=d)
        d += np.square(np.subtract(v, np.float32(pv[k]), out=dv), out=dv)
        np.less(d, best, out=closer)
        np.copyto(best, d, where=closer)
        np.copyto(ids, k, where=closer)
    classes = rng.choice(NUM_CLASSES, size=n, p=class_p)
    if np.all(classes == classes[0]):  # a one-class tile teaches nothing and cannot get label noise
        classes[rng.integers(n)] = (classes[0] + 1 + rng.integers(NUM_CLASSES - 1)) % NUM_CLASSES
    water = rng.random(n) < 0.4
    mask = classes.astype(np.uint8)[ids]
    return _Scene(size, ids, classes, water, mask, np.zeros((size, size), bool), float(rng.uniform(0.0, 1.0)))


def _add_copses(rng: np.random.Generator, scene: _Scene) -> None:
    """Small irregular woods inside open fields: the patches annotators tend to miss."""
    size = scene.size
    for _ in range(int(rng.poisson(2.2 * (size / 512.0) ** 2 + 0.3))):
        cy, cx = rng.integers(0, size, 2)
        ry, rx = rng.uniform(6.0, 24.0, 2)
        if scene.mask[cy, cx] not in _OPEN_LAND:
            continue
        r = int(np.ceil(max(ry, rx) * 1.4))
        y0, y1, x0, x1 = max(cy - r, 0), min(cy + r + 1, size), max(cx - r, 0), min(cx + r + 1, size)
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        rough = _noise(rng, 2 * r + 1, 5.0)[: y1 - y0, : x1 - x0]
        blob = 1.0 - ((yy - cy) / ry) ** 2 - ((xx - cx) / rx) ** 2 + 0.7 * (rough - 0.5) > 0
        scene.mask[y0:y1, x0:x1][blob] = FOREST


def _add_roads(rng: np.random.Generator, scene: _Scene) -> None:
    """Straight roads across the tile, labelled Settlement (built-up land)."""
    size = scene.size
    n_roads = int(rng.choice([0, 1, 2], p=[0.45, 0.4, 0.15]))
    layer = np.zeros((size, size), np.uint8)
    for _ in range(n_roads):
        cx, cy = rng.uniform(0, size, 2)
        angle = rng.uniform(0.0, np.pi)
        dx, dy = np.cos(angle) * 2 * size, np.sin(angle) * 2 * size
        p1, p2 = (int(cx - dx), int(cy - dy)), (int(cx + dx), int(cy + dy))
        cv2.line(layer, p1, p2, 1, thickness=int(rng.integers(6, 11)))
    scene.road = layer.astype(bool)
    scene.mask[scene.road] = SETTLEMENT


def _paint_background(rng: np.random.Generator, scene: _Scene) -> np.ndarray:
    """Bare tan soil with grain, or dark blue-grey water with faint ripples."""
    size = scene.size
    fine, coarse = _noise(rng, size, 2.5), _noise(rng, size, 40.0)
    is_water = scene.water[scene.ids]
    shade = np.where(is_water, 1 + 0.08 * (coarse - 0.5), 1 + 0.12 * (fine - 0.5) + 0.12 * (coarse - 0.5))
    return np.where(is_water[..., None], np.float32(_WATER), np.float32(_SOIL)) * shade[..., None]


def _paint_forest(rng: np.random.Generator, scene: _Scene) -> np.ndarray:
    """Dark clumpy canopy: tree crowns with deep shadows between them."""
    size = scene.size
    n = _noise(rng, size, 6.0) + 0.45 * _noise(rng, size, 2.5)
    return _mix(_FOREST_SHADOW, _FOREST_CROWN, np.clip((n - 0.45) * 2.2, 0.0, 1.0))


def _paint_grassland(rng: np.random.Generator, scene: _Scene) -> np.ndarray:
    """Bright, smooth, uniform green: improved pasture has little texture."""
    size = scene.size
    shade = 1 + 0.07 * (_noise(rng, size, 48.0) - 0.5) + 0.04 * (_noise(rng, size, 4.0) - 0.5)
    color = _mix(_GRASS, _GRASS_DRY, np.float32(0.6 * scene.dryness))
    return color * shade[..., None]


def _paint_seminatural(rng: np.random.Generator, scene: _Scene) -> np.ndarray:
    """Rough mixed sward: olive and brown mottled at high frequency, with tussocks."""
    size = scene.size
    base = _mix(_SEMI_OLIVE, _SEMI_BROWN, np.clip(_noise(rng, size, 7.0) * 1.4 - 0.2, 0.0, 1.0))
    return base * (1 + 0.45 * (_noise(rng, size, 1.6) - 0.5))[..., None]


def _paint_cropland(rng: np.random.Generator, scene: _Scene) -> np.ndarray:
    """Oriented tramline/furrow stripes in yellow or brown, own direction and period per field."""
    size = scene.size
    out = np.zeros((size, size, 3), np.float32)
    grain = 1 + 0.08 * (_noise(rng, size, 2.0) - 0.5)
    for p in np.flatnonzero(scene.parcel_class == CROPLAND):
        ys, xs = np.nonzero(scene.ids == p)
        if ys.size == 0:
            continue
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        angle, period = rng.uniform(0.0, np.pi), rng.uniform(6.0, 12.0)
        phase = (xx * np.cos(angle) + yy * np.sin(angle)) * (2 * np.pi / period)
        light, dark = _CROP_PALETTES[int(rng.integers(len(_CROP_PALETTES)))]
        out[y0:y1, x0:x1] = _mix(dark, light, 0.5 + 0.5 * np.sin(phase))
    return out * grain[..., None]


def _paint_settlement(rng: np.random.Generator, scene: _Scene) -> np.ndarray:
    """Pale paving with grey roofs (and their shadows) in rows, plus asphalt roads."""
    size = scene.size
    img = np.asarray(_PAVEMENT, np.float32) * (1 + 0.1 * (_noise(rng, size, 3.0) - 0.5))[..., None]
    shadow = np.zeros((size, size), np.uint8)
    roofs: list[tuple[np.ndarray, tuple[float, float, float]]] = []
    for p in np.flatnonzero(scene.parcel_class == SETTLEMENT):
        ys, xs = np.nonzero(scene.ids == p)
        if ys.size == 0:
            continue
        angle = rng.uniform(0.0, np.pi / 2)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        gap = rng.uniform(22.0, 30.0)
        cy, cx = ys.mean(), xs.mean()
        half = max(ys.max() - ys.min(), xs.max() - xs.min())
        for gy in np.arange(-half, half, gap):
            for gx in np.arange(-half, half, gap):
                oy, ox = rot @ (np.array([gy, gx]) + rng.uniform(-3.0, 3.0, 2))
                y, x = int(cy + oy), int(cx + ox)
                if not (0 <= y < size and 0 <= x < size) or scene.ids[y, x] != p:
                    continue
                h, w = rng.uniform(8.0, 13.0), rng.uniform(10.0, 18.0)
                corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
                poly = (corners @ rot.T + [x, y]).round().astype(np.int32)
                cv2.fillPoly(shadow, [poly + 3], 1)
                grey = rng.uniform(85.0, 200.0)
                roofs.append((poly, (grey, grey, grey * rng.uniform(1.0, 1.12))))
    np.multiply(img, np.float32(0.6), out=img, where=shadow.astype(bool)[..., None])
    roof_mask = np.zeros((size, size), np.uint8)
    for poly, color in roofs:  # after all shadows, so no shadow falls on a roof
        cv2.fillPoly(img, [poly], color)
        cv2.fillPoly(roof_mask, [poly], 1)
    scene.roofs = roof_mask.astype(bool)
    road = np.asarray(_ROAD, np.float32) * (1 + 0.06 * (_noise(rng, size, 2.0) - 0.5))[..., None]
    np.copyto(img, road, where=scene.road[..., None])
    return img


_PAINTERS: dict[int, Callable[[np.random.Generator, _Scene], np.ndarray]] = {
    BACKGROUND: _paint_background,
    FOREST: _paint_forest,
    GRASSLAND: _paint_grassland,
    CROPLAND: _paint_cropland,
    SETTLEMENT: _paint_settlement,
    SEMINATURAL: _paint_seminatural,
}


def _hedgerows(rng: np.random.Generator, scene: _Scene) -> np.ndarray:
    """Gappy dark borders between fields (image only: annotators label the parcel, not the hedge)."""
    ids = scene.ids
    edge = np.zeros(ids.shape, np.uint8)
    edge[:, 1:] |= ids[:, 1:] != ids[:, :-1]
    edge[1:, :] |= ids[1:, :] != ids[:-1, :]
    edge = cv2.dilate(edge, np.ones((2, 2), np.uint8)).astype(bool)
    gaps = _noise(rng, scene.size, 24.0) > 0.32
    return edge & gaps & np.isin(scene.mask, _OPEN_LAND)


def build_scene(rng: np.random.Generator, size: int, class_p: np.ndarray = PARCEL_CLASS_P) -> _Scene:
    """A tile's layout and clean mask (parcels, copses, roads); nothing is painted yet.

    The scene may be edited (more roads, parcels changing class) before :func:`paint_scene`.
    """
    scene = _layout(rng, size, class_p)
    _add_copses(rng, scene)
    _add_roads(rng, scene)
    return scene


def _render(rng: np.random.Generator, size: int) -> tuple[np.ndarray, _Scene]:
    """One tile: layout, clean mask, then the image with class textures, hedges and camera effects."""
    scene = build_scene(rng, size)
    return paint_scene(rng, scene), scene


def paint_scene(rng: np.random.Generator, scene: _Scene) -> np.ndarray:
    """The RGB uint8 image of a scene: class textures, hedgerows, then camera effects."""
    size = scene.size
    n = len(scene.parcel_class)
    tint = (1 + rng.normal(0.0, 0.025, (n, 3))) * rng.uniform(0.86, 1.14, (n, 1))
    img = np.zeros((size, size, 3), np.float32)
    for cls in np.unique(scene.mask):
        np.copyto(img, _PAINTERS[int(cls)](rng, scene), where=(scene.mask == cls)[..., None])
    hedge = _hedgerows(rng, scene)
    np.copyto(img, _mix(_FOREST_SHADOW, _HEDGE, _noise(rng, size, 2.0)), where=hedge[..., None])

    # camera: per-field tint, exposure with a fall-off gradient, colour cast, slight blur, sensor
    # noise (in-place float32 arithmetic: these full-frame passes dominate the render time)
    gain = tint.astype(np.float32)[scene.ids]
    ramp = np.arange(size, dtype=np.float32) / size - 0.5
    angle, slope = rng.uniform(0.0, 2 * np.pi), rng.uniform(-0.15, 0.15)
    light = 1 + slope * (ramp[None, :] * np.cos(angle) + ramp[:, None] * np.sin(angle))
    gain *= (light * rng.uniform(0.75, 1.2)).astype(np.float32)[..., None]
    gain *= (1 + rng.normal(0.0, 0.03, 3)).astype(np.float32)
    img *= gain
    img = cv2.GaussianBlur(img, (0, 0), 0.6)
    noise = rng.standard_normal(img.shape, dtype=np.float32)
    noise *= np.float32(rng.uniform(3.0, 8.0))
    img += noise
    img += np.float32(0.5)
    return np.clip(img, 0, 255, out=img).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# label noise
# --------------------------------------------------------------------------------------------


def _seminatural_as_grassland(rng: np.random.Generator, mask: np.ndarray, scene: _Scene) -> bool:
    """An annotator calls one rough semi-natural field 'grassland' (the commonest confusion)."""
    semi = mask == SEMINATURAL
    parcels = np.unique(scene.ids[semi])
    if parcels.size == 0:
        return False
    mask[semi & (scene.ids == rng.choice(parcels))] = GRASSLAND
    return True


def _boundary_shift(rng: np.random.Generator, mask: np.ndarray, scene: _Scene) -> bool:
    """One region is outlined several pixels too large, eating into its neighbours."""
    present = [c for c in np.unique(mask) if 0 < np.count_nonzero(mask == c) < mask.size]
    if not present:
        return False
    cls = int(rng.choice(present))
    n_comp, comp, stats, _ = cv2.connectedComponentsWithStats((mask == cls).astype(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    big = np.flatnonzero(areas >= 0.01 * mask.size)
    pick = 1 + int(rng.choice(big if big.size else np.arange(n_comp - 1)))
    k = int(rng.integers(3, 9))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    grown = cv2.dilate((comp == pick).astype(np.uint8), kernel).astype(bool) & (mask != cls)
    mask[grown] = cls
    return bool(grown.any())


def _forest_patch_missed(rng: np.random.Generator, mask: np.ndarray, scene: _Scene) -> bool:
    """A small wood is not drawn; its pixels take the class that surrounds it."""
    n_comp, comp, stats, _ = cv2.connectedComponentsWithStats((mask == FOREST).astype(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    # copse-sized: big enough to matter, small enough to be overlooked (not a whole wood)
    small = np.flatnonzero((areas >= max(24, 0.0004 * mask.size)) & (areas <= max(0.03 * mask.size, 64)))
    if small.size == 0:
        return False
    patch = comp == 1 + int(rng.choice(small))
    ring = cv2.dilate(patch.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & ~patch
    around = mask[ring]
    if around.size == 0:
        return False
    mask[patch] = np.bincount(around, minlength=NUM_CLASSES).argmax()
    return True


NOISE_KINDS: dict[str, Callable[[np.random.Generator, np.ndarray, _Scene], bool]] = {
    "seminatural_as_grassland": _seminatural_as_grassland,
    "boundary_shift": _boundary_shift,
    "forest_patch_missed": _forest_patch_missed,
}


def _corrupt(rng: np.random.Generator, clean: np.ndarray, scene: _Scene) -> tuple[np.ndarray, list[str]]:
    """Apply one or two error kinds; boundary_shift always applies, so the mask always changes."""
    noisy = clean.copy()
    wanted = 1 + int(rng.random() < 0.35)
    applied: list[str] = []
    for kind in rng.permutation(list(NOISE_KINDS)):
        if len(applied) == wanted:
            break
        if NOISE_KINDS[str(kind)](rng, noisy, scene):
            applied.append(str(kind))
    return noisy, applied


# --------------------------------------------------------------------------------------------
# public entry point
# --------------------------------------------------------------------------------------------


def generate_benchmark(
    out: str | Path,
    tiles: int = 60,
    size: int = 512,
    seed: int = 0,
    label_noise: float = 0.0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    progress: bool = True,
    *,
    overwrite: bool = False,
) -> SynthResult:
    """Write a synthetic LoveDA-layout benchmark (``OUT/{Train,Val,Test}/Rural/...``) and return a summary.

    ``label_noise`` is the fraction of Train and Val masks given realistic errors in
    ``masks_png``; ``masks_png_clean`` always holds the truth (in every split), and
    ``synth_manifest.json`` records which tiles are noisy and how. Output is byte-identical for
    the same arguments. Raises ConfigError for bad arguments and DatasetError for an unusable OUT.
    """
    from tqdm import tqdm

    check_parameters(tiles, size, seed, label_noise, val_fraction, test_fraction)
    started = time.perf_counter()
    out = Path(out)
    _prepare_out(out, overwrite)

    counts = split_counts(tiles, val_fraction, test_fraction)
    plan = [split for split in SPLITS for _ in range(counts[split])]
    pick_rng = np.random.default_rng([seed, 0, 2])
    noisy_idx: set[int] = set()
    first = 0
    for split in SPLITS:
        order = pick_rng.permutation(counts[split])  # nested: noisy sets grow with label_noise
        if split != "Test":
            noisy_idx.update((first + order[: _share(label_noise, counts[split])]).tolist())
        first += counts[split]

    width = max(4, len(str(tiles)))
    pixels = np.zeros(NUM_CLASSES, np.int64)
    tiles_with = np.zeros(NUM_CLASSES, np.int64)
    records = []
    for i, split in enumerate(tqdm(plan, desc="synth", unit="tile", disable=not progress)):
        image, scene = _render(np.random.default_rng([seed, i, 0]), size)
        clean = scene.mask
        mask, kinds = clean, []
        if i in noisy_idx:
            mask, kinds = _corrupt(np.random.default_rng([seed, i, 1]), clean, scene)
        name = f"{NAME_PREFIX}{i + 1:0{width}d}.png"
        clean_png = _png_bytes(clean)
        _atomic_write(_split_dir(out, split, IMAGES_DIR) / name, _png_bytes(image))
        _atomic_write(_split_dir(out, split, CLEAN_MASKS_DIR) / name, clean_png)
        _atomic_write(_split_dir(out, split, MASKS_DIR) / name, _png_bytes(mask) if kinds else clean_png)
        hist = np.bincount(clean.ravel(), minlength=NUM_CLASSES)
        pixels += hist
        tiles_with += hist > 0
        records.append({"split": split, "name": name, "noisy": bool(kinds), "noise": kinds,
                        "changed_fraction": round(float(np.mean(mask != clean)), 6)})

    names = BIODIVERSITY.names
    fractions = {n: float(v) for n, v in zip(names, pixels / pixels.sum(), strict=True)}
    tile_shares = {n: float(v) for n, v in zip(names, tiles_with / tiles, strict=True)}
    noisy_per_split = {s: sum(r["noisy"] for r in records if r["split"] == s) for s in SPLITS}
    manifest = {
        "generator": "landseg.data.synth",
        "format_version": 1,
        "parameters": {"tiles": tiles, "size": size, "seed": seed, "label_noise": label_noise,
                       "val_fraction": val_fraction, "test_fraction": test_fraction},
        "domain": DOMAIN,
        "classes": names,
        "noise_kinds": list(NOISE_KINDS),
        "counts": counts,
        "class_fractions": {n: round(v, 6) for n, v in fractions.items()},
        "tiles": records,
    }
    manifest_path = out / MANIFEST_NAME
    _atomic_write(manifest_path, (json.dumps(manifest, indent=1) + "\n").encode())
    return SynthResult(out=out, counts=counts, noisy_masks=sum(noisy_per_split.values()),
                       noisy_per_split=noisy_per_split, class_fractions=fractions,
                       class_tile_shares=tile_shares, manifest=manifest_path,
                       seconds=time.perf_counter() - started)

"""Procedural aerial-like scenes for the synthetic benchmark: a parcel layout with copses, roads and
hedgerows, painted per class (soil, crowns, crop rows, roofs), with the class mask as clean truth.

Split from :mod:`landseg.data.synth`, which adds label noise and writes the benchmark.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

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


def render_tile(rng: np.random.Generator, size: int) -> tuple[np.ndarray, _Scene]:
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

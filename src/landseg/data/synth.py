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
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from landseg.classes import BIODIVERSITY
from landseg.data.synth_scene import FOREST, GRASSLAND, NUM_CLASSES, SEMINATURAL, Scene, render_tile
from landseg.errors import ConfigError, DatasetError
from landseg.models.defaults import DEFAULT_STRIDE
from landseg.utils import atomic_write_bytes

SPLITS: tuple[str, ...] = ("Train", "Val", "Test")
DOMAIN = "Rural"
IMAGES_DIR = "images_png"
MASKS_DIR = "masks_png"
CLEAN_MASKS_DIR = "masks_png_clean"
MANIFEST_NAME = "synth_manifest.json"
NAME_PREFIX = "synth_"


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
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0 or size % DEFAULT_STRIDE:
        k = DEFAULT_STRIDE
        hint = f"; try {max(k, k * round(size / k))}" if isinstance(size, int) else ""
        raise ConfigError(f"size={size!r} (--size) must be a positive multiple of {k} (models "
                          f"downsample by {k}){hint}.")
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


def _png_bytes(array: np.ndarray) -> bytes:
    """Encode an RGB (H, W, 3) or label (H, W) uint8 array; labels become mode 'L' PNGs."""
    pixels = cv2.cvtColor(array, cv2.COLOR_RGB2BGR) if array.ndim == 3 else array
    ok, buf = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # pragma: no cover - cv2 only fails on unsupported dtypes
        raise DatasetError(f"Could not encode a PNG of shape {array.shape} and dtype {array.dtype}.")
    return buf.tobytes()


# --------------------------------------------------------------------------------------------
# label noise
# --------------------------------------------------------------------------------------------


def _seminatural_as_grassland(rng: np.random.Generator, mask: np.ndarray, scene: Scene) -> bool:
    """An annotator calls one rough semi-natural field 'grassland' (the commonest confusion)."""
    semi = mask == SEMINATURAL
    parcels = np.unique(scene.ids[semi])
    if parcels.size == 0:
        return False
    mask[semi & (scene.ids == rng.choice(parcels))] = GRASSLAND
    return True


def _boundary_shift(rng: np.random.Generator, mask: np.ndarray, scene: Scene) -> bool:
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


def _forest_patch_missed(rng: np.random.Generator, mask: np.ndarray, scene: Scene) -> bool:
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


NOISE_KINDS: dict[str, Callable[[np.random.Generator, np.ndarray, Scene], bool]] = {
    "seminatural_as_grassland": _seminatural_as_grassland,
    "boundary_shift": _boundary_shift,
    "forest_patch_missed": _forest_patch_missed,
}


def _corrupt(rng: np.random.Generator, clean: np.ndarray, scene: Scene) -> tuple[np.ndarray, list[str]]:
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
        image, scene = render_tile(np.random.default_rng([seed, i, 0]), size)
        clean = scene.mask
        mask, kinds = clean, []
        if i in noisy_idx:
            mask, kinds = _corrupt(np.random.default_rng([seed, i, 1]), clean, scene)
        name = f"{NAME_PREFIX}{i + 1:0{width}d}.png"
        clean_png = _png_bytes(clean)
        atomic_write_bytes(_split_dir(out, split, IMAGES_DIR) / name, _png_bytes(image))
        atomic_write_bytes(_split_dir(out, split, CLEAN_MASKS_DIR) / name, clean_png)
        atomic_write_bytes(_split_dir(out, split, MASKS_DIR) / name, _png_bytes(mask) if kinds else clean_png)
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
    atomic_write_bytes(manifest_path, (json.dumps(manifest, indent=1) + "\n").encode())
    return SynthResult(out=out, counts=counts, noisy_masks=sum(noisy_per_split.values()),
                       noisy_per_split=noisy_per_split, class_fractions=fractions,
                       class_tile_shares=tile_shares, manifest=manifest_path,
                       seconds=time.perf_counter() - started)

"""Find tiles that share ground across splits, from their footprints and from their pixels.

A test score only means something for ground the model never saw. Tiles cut on an overlapping
stride and split at random break this silently (public work on this workflow withdrew its
numbers: ~93% of its "held-out" ground had been in training). Two independent kinds of evidence:

* **geometry** — footprints (from sidecars, world files, manifests, GeoTIFFs or a name pattern;
  see :mod:`landseg.splitting.georef`) of tiles in different splits that intersect with
  positive area;
* **content** — a 64-bit DCT hash (pHash) of every tile, of its halves and of its quarters (at
  offsets of a quarter tile), compared across splits by Hamming distance. A tile shifted by half
  its size shares a half (a quarter, when shifted diagonally) with its neighbour, so those hashes
  are equal; exact and near duplicates match on the whole tile. Hashes find candidates, the
  pixels confirm them: different ground with the same structure (parallel crop rows, an edge at
  the same place) can hash alike but differs pixel by pixel. Hashes are compared all-pairs with
  ``numpy.bitwise_count`` on ``uint64`` arrays, in chunks: 3,000 tiles take a few seconds, most of
  it decoding the images.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from landseg.data.files import find_pairs, read_image
from landseg.errors import ConfigError, DatasetError
from landseg.splitting.georef import GridPattern, load_georefs, metric_boxes, near_pairs

DEFAULT_SPLITS = ("Train", "Val", "Test")
DEFAULT_HASH_THRESHOLD = 8
MAX_HASH_THRESHOLD = 32
#: Tiles are compared as 128 x 128 grey thumbnails. Sub-regions: kind -> (y, x, height, width)
#: windows; only windows of the same kind are compared; the first kind is the strongest evidence.
_GRID = 128
_REGIONS: dict[str, list[tuple[int, int, int, int]]] = {
    "whole tile": [(0, 0, 128, 128)],
    "left/right half": [(0, x, 128, 64) for x in (0, 32, 64)],
    "top/bottom half": [(y, 0, 64, 128) for y in (0, 32, 64)],
    "quarter": [(y, x, 64, 64) for y in (0, 32, 64) for x in (0, 32, 64)],
}
#: Windows this flat (grey-level std of the 32 x 32 hash input) hash to noise and match any other
#: flat window (no-data padding, water): they are not compared.
_MIN_CONTRAST = 2.0
#: A hash match is confirmed on the thumbnails: the mean absolute grey difference of the two
#: windows must be at most this, and at most this share of their contrast. Different ground with
#: the same structure (parallel crop rows, a field edge at the same place) has similar hashes but
#: differs pixel by pixel; the same ground differs only by re-encoding.
_MAX_DIFFERENCE = 3.0
_MAX_RELATIVE_DIFFERENCE = 0.15
_CHUNK = 1 << 22


def _dct_matrix(n: int = 32) -> np.ndarray:
    k = np.arange(n)
    m = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n)) * np.sqrt(2 / n)
    m[0] /= np.sqrt(2)
    return m.astype(np.float32)


_DCT8 = _dct_matrix()[:8]


def thumbnail(image: np.ndarray) -> np.ndarray:
    """The ``128 x 128`` uint8 grey version of a tile that hashes and comparisons work on."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    return cv2.resize(grey, (_GRID, _GRID), interpolation=cv2.INTER_AREA)


def region_hashes(thumbs: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """64-bit DCT hashes (pHash: the 8 x 8 lowest frequencies of a 32 x 32 image against their
    median) of the whole, halves and quarters of ``N x 128 x 128`` thumbnails: ``kind -> N x
    windows`` uint64, and per window whether it has enough contrast to be compared."""
    n = len(thumbs)
    small = thumbs.astype(np.float32)
    hashes, valid = {}, {}
    for kind, windows in _REGIONS.items():
        _, _, h, w = windows[0]
        fy, fx = h // 32, w // 32  # pool the thumbnail once, then every window is a 32 x 32 slice
        pooled = small.reshape(n, _GRID // fy, fy, _GRID // fx, fx).mean(axis=(2, 4))
        inputs = np.stack([pooled[:, y // fy:y // fy + 32, x // fx:x // fx + 32] for y, x, _, _ in windows], axis=1)
        low = (_DCT8 @ inputs @ _DCT8.T).reshape(n, len(windows), 64)
        bits = low > np.median(low, axis=2, keepdims=True)
        hashes[kind] = np.packbits(bits, axis=2, bitorder="little").view(np.uint64)[..., 0]
        valid[kind] = inputs.reshape(n, len(windows), -1).std(axis=2) >= _MIN_CONTRAST
    return hashes, valid


@dataclass
class TileHashes:
    """Thumbnails (``N x 128 x 128``) of a set of tiles and, per kind of window, their
    ``N x windows`` hashes and whether each window has enough contrast to be compared."""

    thumbs: np.ndarray
    hashes: dict[str, np.ndarray]
    valid: dict[str, np.ndarray]

    def windows(self, kind: str, tiles: np.ndarray, which: np.ndarray) -> np.ndarray:
        """Pixels of window ``which[k]`` of tile ``tiles[k]``, as ``K x h x w`` int16."""
        _, _, h, w = _REGIONS[kind][0]
        ys, xs = (np.array([win[i] for win in _REGIONS[kind]]) for i in (0, 1))
        view = np.lib.stride_tricks.sliding_window_view(self.thumbs, (h, w), axis=(1, 2))
        return view[tiles, ys[which], xs[which]].astype(np.int16)


def _confirm(a: TileHashes, b: TileHashes, kind: str, ia: np.ndarray, wa: np.ndarray, ib: np.ndarray,
             wb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which candidate window pairs really show the same ground, and their mean grey difference."""
    pa, pb = a.windows(kind, ia, wa), b.windows(kind, ib, wb)
    diff = np.abs(pa - pb).mean(axis=(1, 2))
    contrast = np.minimum(pa.std(axis=(1, 2)), pb.std(axis=(1, 2)))
    return diff <= np.minimum(_MAX_DIFFERENCE, _MAX_RELATIVE_DIFFERENCE * contrast), diff


def matching_windows(a: TileHashes, b: TileHashes, kind: str,
                     threshold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tile pairs ``(i, j, hash distance, grey difference)`` where a window of ``a``'s tile ``i``
    and one of ``b``'s tile ``j`` are within ``threshold`` bits and confirmed on the pixels.

    All-pairs XOR + popcount over ``uint64`` arrays, chunked so memory stays bounded."""
    ia, wa = np.nonzero(a.valid[kind])
    ib, wb = np.nonzero(b.valid[kind])
    ha, hb = a.hashes[kind][ia, wa], b.hashes[kind][ib, wb]
    found: list[tuple[np.ndarray, ...]] = []
    step = max(1, _CHUNK // max(hb.size, 1))
    for lo in range(0, ha.size, step):
        dist = np.bitwise_count(ha[lo:lo + step, None] ^ hb[None, :])
        r, c = np.nonzero(dist <= threshold)
        for k in range(0, r.size, 4096):  # confirm in slices: candidates can be many
            rr, cc = lo + r[k:k + 4096], c[k:k + 4096]
            ok, diff = _confirm(a, b, kind, ia[rr], wa[rr], ib[cc], wb[cc])
            found.append((ia[rr][ok], ib[cc][ok], dist[rr - lo, cc][ok].astype(np.int64), diff[ok]))
    if not found:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return tuple(np.concatenate(x) for x in zip(*found, strict=True))  # type: ignore[return-value]


@dataclass(frozen=True)
class LeakPair:
    """Two tiles of different splits that share ground, and the evidence."""

    split_a: str
    file_a: str
    split_b: str
    file_b: str
    overlap: float | None = None  # share of the smaller footprint, 0..1
    hash_distance: int | None = None
    region: str | None = None  # which windows matched: "whole tile", "left/right half", ...
    difference: float | None = None  # mean grey-level difference of the matched windows

    @property
    def reason(self) -> str:
        parts = []
        if self.overlap is not None:
            parts.append(f"geometry overlap {100 * self.overlap:.1f}%")
        if self.hash_distance is not None:
            parts.append(f"{self.region} hash distance {self.hash_distance}, "
                         f"mean grey difference {self.difference:.1f}")
        return "; ".join(parts)


@dataclass
class LeakageReport:
    """Result of :func:`check_leakage`; ``leaking`` is what a caller tests."""

    root: Path
    splits: list[str]
    tiles: dict[str, int]
    pairs: list[LeakPair]
    hash_threshold: int
    georeferenced: dict[str, int] = field(default_factory=dict)
    georef_sources: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    geometry: bool = True
    content: bool = True

    @property
    def leaking(self) -> bool:
        return bool(self.pairs)

    def leaked_tiles(self, split: str) -> set[str]:
        """Files of ``split`` that share ground with a tile of another split."""
        return {p.file_a for p in self.pairs if p.split_a == split} | \
            {p.file_b for p in self.pairs if p.split_b == split}

    def _evidence(self) -> list[str]:
        lines = []
        if self.geometry:
            located = sum(self.georeferenced.values())
            total = sum(self.tiles.values())
            if located:
                sources = ", ".join(f"{k} ({v})" for k, v in sorted(self.georef_sources.items()))
                n = sum(p.overlap is not None for p in self.pairs)
                lines.append(f"geometry: {located} of {total} tiles georeferenced ({sources}); "
                             f"{n} pairs of footprints overlap")
            else:
                lines.append("geometry: not checked, no tile is georeferenced (content hashes only)")
        if self.content:
            n = sum(p.hash_distance is not None for p in self.pairs)
            lines.append(f"content: {n} pairs with a whole tile, half or quarter within hash distance "
                         f"{self.hash_threshold} and confirmed on the pixels")
        if self.skipped:
            lines.append(f"not found, skipped: {', '.join(self.skipped)}")
        return lines

    def report(self, max_pairs: int = 20) -> str:
        counts = ", ".join(f"{s} {self.tiles[s]}" for s in self.splits)
        if not self.leaking:
            head = f"No leakage found between {', '.join(self.splits)} ({counts} tiles)."
            return "\n".join([head, *("  " + line for line in self._evidence())])
        lines = [f"LEAKAGE: {len(self.pairs)} pairs of tiles in different splits share ground ({counts} tiles)."]
        for s in self.splits:
            leaked = len(self.leaked_tiles(s))
            if leaked:
                lines.append(f"  {s}: {leaked} of {self.tiles[s]} tiles ({100 * leaked / self.tiles[s]:.0f}%) "
                             "share ground with another split")
        lines += ["  " + line for line in self._evidence()]
        shown = self.pairs if max_pairs <= 0 else self.pairs[:max_pairs]
        lines.append("")
        lines += [f"{p.split_a}: {p.file_a}  <->  {p.split_b}: {p.file_b}  ({p.reason})" for p in shown]
        if len(shown) < len(self.pairs):
            lines.append(f"... and {len(self.pairs) - len(shown)} more (--max-report 0 lists all)")
        lines.append("Split by space with a buffer to fix it: landseg split DATASET --by space --block-size M "
                     "--buffer M --out NEW")
        return "\n".join(lines)


@dataclass
class _Split:
    name: str
    images: list[Path]
    files: list[str]


def _load_splits(root: Path, splits: Sequence[str], skip_missing: bool) -> tuple[list[_Split], list[str]]:
    found, skipped = [], []
    for name in splits:
        if skip_missing and not (root / name).is_dir():
            skipped.append(name)
            continue
        images = [image for image, _ in find_pairs(root, name, require_masks=False)]
        found.append(_Split(name, images, [str(p.relative_to(root)) for p in images]))
    if len(found) < 2:
        raise DatasetError(f"check-leakage needs at least two splits; found {', '.join(s.name for s in found) or 'none'} "
                           f"of {', '.join(splits)} under {root}. Pass the split folders with --splits.")
    return found, skipped


def hash_tiles(images: Sequence[Path], progress: bool = False, desc: str = "hash") -> TileHashes:
    """Read and hash every image (the only slow part of a check: one decode per tile)."""
    from tqdm import tqdm

    thumbs = np.stack([thumbnail(read_image(p)) for p in tqdm(images, desc=desc, unit="tile", disable=not progress)])
    return TileHashes(thumbs, *region_hashes(thumbs))


def check_leakage(
    root: str | Path,
    splits: Sequence[str] = DEFAULT_SPLITS,
    *,
    hash_threshold: int = DEFAULT_HASH_THRESHOLD,
    geometry: bool = True,
    content: bool = True,
    pattern: str | None = None,
    tile_size_m: float | None = None,
    grid_step_m: float | None = None,
    skip_missing: bool = False,
    progress: bool = False,
) -> LeakageReport:
    """Compare every tile of each split with every tile of the other splits (see module docstring).

    ``splits`` are folders under ``root`` (``"Train"`` or ``"Train/Rural"``); with ``skip_missing``
    absent ones are skipped (and listed in the report) instead of raising. Tiles without
    georeferencing are checked by content only.
    """
    root = Path(root)
    if not 0 <= hash_threshold <= MAX_HASH_THRESHOLD:
        raise ConfigError(f"--hash-threshold {hash_threshold} must be 0..{MAX_HASH_THRESHOLD} bits of the 64-bit "
                          f"hashes (default {DEFAULT_HASH_THRESHOLD}; above {MAX_HASH_THRESHOLD} unrelated "
                          "windows match as often as not).")
    if not (geometry or content):
        raise ConfigError("nothing to check: enable geometry, content or both.")
    grid = GridPattern.build(pattern, tile_size_m, grid_step_m) if pattern else None
    found, skipped = _load_splits(root, splits, skip_missing)
    report = LeakageReport(root=root, splits=[s.name for s in found],
                           tiles={s.name: len(s.images) for s in found}, pairs=[],
                           hash_threshold=hash_threshold, skipped=skipped, geometry=geometry, content=content)
    evidence: dict[tuple[int, int, int, int], dict[str, object]] = {}

    if geometry:
        refs = [load_georefs(s.images, root, grid, required=False) for s in found]
        located = [[i for i, g in enumerate(r) if g is not None] for r in refs]
        group, boxes, _ = metric_boxes([g for r in refs for g in r if g is not None])
        starts = np.cumsum([0, *map(len, located)])
        report.georeferenced = {s.name: len(ix) for s, ix in zip(found, located, strict=True)}
        report.georef_sources = dict(Counter(g.source for r in refs for g in r if g is not None))
        for a in range(len(found)):
            for b in range(a + 1, len(found)):
                sa, sb = slice(starts[a], starts[a + 1]), slice(starts[b], starts[b + 1])
                i, j, share = near_pairs(boxes[sa], group[sa], boxes[sb], group[sb])
                for ii, jj, f in zip(i, j, share, strict=True):
                    evidence.setdefault((a, located[a][ii], b, located[b][jj]), {})["overlap"] = float(f)

    if content:
        hashed = [hash_tiles(s.images, progress, f"hash {s.name}") for s in found]
        for a in range(len(found)):
            for b in range(a + 1, len(found)):
                for kind in _REGIONS:  # strongest evidence first; keep it
                    for i, j, d, diff in zip(*matching_windows(hashed[a], hashed[b], kind, hash_threshold),
                                             strict=True):
                        e = evidence.setdefault((a, int(i), b, int(j)), {})
                        if "hash_distance" not in e or (e["region"] == kind and d < e["hash_distance"]):
                            e.update(hash_distance=int(d), region=kind, difference=float(diff))

    report.pairs = sorted(
        (LeakPair(found[a].name, found[a].files[i], found[b].name, found[b].files[j], **e)  # type: ignore[arg-type]
         for (a, i, b, j), e in evidence.items()),
        key=lambda p: (-(p.overlap or 0.0), p.hash_distance if p.hash_distance is not None else 65,
                       p.split_a, p.file_a, p.split_b, p.file_b))
    return report

"""Seamless sliding-window prediction that streams: images of any size, bounded memory.

Why not :func:`~landseg.inference.sliding.predict_sliding`: that blends logits of a whole tensor
in memory (with the same window placement and the same weights, :mod:`landseg.inference.sliding`),
fine for a 1024² tile, impossible for a 60 000² orthomosaic. Here the image is read
and written through callbacks, one *strip* of windows at a time:

* windows of ``tile`` px step by ``tile - overlap`` on one global grid, the last one flush with
  the edge (:func:`~landseg.inference.sliding.window_starts`), so every pixel is predicted;
* each window's class probabilities are weighted by a smooth taper (``sliding.window_weights``: sin² over the overlap, 1 in
  the middle) and summed; the label is the argmax of the sum. Window borders, where a model sees
  least context, count least, so there are no seams (GeoSeg's huge-image script tiles without
  overlap and shows them);
* once a strip of windows is done, the rows above the next strip are final: they are written and
  the accumulator shifts up. Memory is ``C × tile × band_width`` floats whatever the height;
  wider rasters are cut into column *bands* that include the neighbouring windows, so results do
  not depend on the band width (only a few windows per band boundary are computed twice).

The reader returns ``(3, h, w)`` uint8 RGB; the writer receives ``(rows, cols)`` uint8 labels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from landseg.errors import ConfigError
from landseg.inference.sliding import check_window, window_starts, window_weights

__all__ = ["TTA_MODES", "Tiler", "column_bands", "tta_predict"]

TTA_MODES = ("none", "flip", "d4")
Reader = Callable[[int, int, int, int], np.ndarray]
Writer = Callable[[int, int, int, int, np.ndarray], None]


def tta_predict(predict: Callable[[np.ndarray], np.ndarray], batch: np.ndarray, mode: str = "none") -> np.ndarray:
    """Probabilities averaged over flips (``flip``: as is, left-right, up-down) or all 8 rotations
    and reflections (``d4``); each prediction is mapped back before averaging."""
    if mode not in TTA_MODES:
        raise ConfigError(f"tta {mode!r} (--tta) must be one of {', '.join(TTA_MODES)}.")
    if mode == "none":
        return predict(batch)
    if mode == "flip":
        views = [(lambda a: a, lambda a: a), (lambda a: a[..., ::-1], lambda a: a[..., ::-1]),
                 (lambda a: a[..., ::-1, :], lambda a: a[..., ::-1, :])]
    else:
        views = []
        for k in range(4):
            for flip in (False, True):
                def fwd(a: np.ndarray, k: int = k, flip: bool = flip) -> np.ndarray:
                    a = np.rot90(a, k, axes=(2, 3))
                    return a[..., ::-1] if flip else a

                def back(a: np.ndarray, k: int = k, flip: bool = flip) -> np.ndarray:
                    a = a[..., ::-1] if flip else a
                    return np.rot90(a, -k, axes=(2, 3))

                views.append((fwd, back))
    total = None
    for fwd, back in views:
        probs = back(predict(np.ascontiguousarray(fwd(batch))))
        total = probs.copy() if total is None else total + probs
    assert total is not None
    return total / len(views)


def column_bands(width: int, band_width: int) -> list[tuple[int, int]]:
    """Output column ranges ``[start, stop)`` of at most ``band_width`` px covering ``width``."""
    if band_width < 1:
        raise ConfigError(f"band width must be positive, got {band_width}.")
    return [(x, min(x + band_width, width)) for x in range(0, width, band_width)]


@dataclass
class Tiler:
    """Sliding-window prediction with a predictor (see :mod:`landseg.inference.runners`)."""

    predict: Callable[[np.ndarray], np.ndarray]
    mean: Sequence[float]
    std: Sequence[float]
    num_classes: int
    tile: int = 512
    overlap: int = 128
    batch_size: int = 2
    tta: str = "none"
    band_width: int = 8192

    def __post_init__(self) -> None:
        check_window(self.tile, self.overlap)
        if self.batch_size < 1:
            raise ConfigError(f"batch size must be positive, got {self.batch_size}.")
        if self.tta not in TTA_MODES:
            raise ConfigError(f"tta {self.tta!r} (--tta) must be one of {', '.join(TTA_MODES)}.")
        # Bands in whole 256-px GeoTIFF blocks, so no block is shared by two bands.
        self.band_width = max(256, (max(self.band_width, self.tile) + 255) // 256 * 256)
        self._scale = (1.0 / (255.0 * np.asarray(self.std, np.float32))).reshape(3, 1, 1)
        self._shift = (np.asarray(self.mean, np.float32) / np.asarray(self.std, np.float32)).reshape(3, 1, 1)

    def normalise(self, rgb: np.ndarray) -> np.ndarray:
        """(3, h, w) uint8 → float32 ``(rgb / 255 - mean) / std``."""
        return rgb.astype(np.float32) * self._scale - self._shift

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        return tta_predict(self.predict, batch, self.tta)

    def windows(self, height: int, width: int, bands: Sequence[int] | None = None) -> int:
        """How many model windows :meth:`run` evaluates (for progress bars)."""
        tops = window_starts(height, self.tile, self.overlap)
        return len(tops) * sum(len(lefts) for _, _, lefts in self._bands(width, bands))

    def _bands(self, width: int, bands: Sequence[int] | None) -> Iterator[tuple[int, int, list[int]]]:
        lefts = window_starts(width, self.tile, self.overlap)
        ww = min(self.tile, width)
        all_bands = column_bands(width, self.band_width)
        for index in range(len(all_bands)) if bands is None else bands:
            x0, x1 = all_bands[index]
            yield x0, x1, [left for left in lefts if left < x1 and left + ww > x0]

    def run(self, height: int, width: int, read: Reader, write: Writer, bands: Sequence[int] | None = None,
            advance: Callable[[int], object] | None = None) -> None:
        """Predict an image of ``height``×``width`` through ``read``/``write``; ``bands`` picks column
        bands (:func:`column_bands` of ``band_width``; default all); ``advance(n)`` after n windows."""
        tops = window_starts(height, self.tile, self.overlap)
        wh, ww = min(self.tile, height), min(self.tile, width)
        weights = window_weights(wh, ww, self.overlap)
        for x0, x1, lefts in self._bands(width, bands):
            s0, s1 = lefts[0], lefts[-1] + ww
            acc = np.zeros((self.num_classes, wh, s1 - s0), np.float32)
            for i, top in enumerate(tops):
                strip = read(top, top + wh, s0, s1)  # uint8; normalised per batch, 4× smaller than floats
                for j in range(0, len(lefts), self.batch_size):
                    chunk = lefts[j : j + self.batch_size]
                    probs = self.probabilities(np.stack([self.normalise(strip[:, :, c - s0 : c - s0 + ww])
                                                         for c in chunk]))
                    for left, p in zip(chunk, probs, strict=True):
                        acc[:, :, left - s0 : left - s0 + ww] += p * weights
                    if advance is not None:
                        advance(len(chunk))
                stop = tops[i + 1] if i + 1 < len(tops) else height
                rows = stop - top  # final now: no later window reaches above `stop`
                write(top, stop, x0, x1, acc[:, :rows, x0 - s0 : x1 - s0].argmax(axis=0).astype(np.uint8))
                acc[:, : wh - rows] = acc[:, rows:]
                acc[:, wh - rows :] = 0.0

    def predict_image(self, rgb: np.ndarray) -> np.ndarray:
        """Labels (H, W) uint8 of one in-memory (3, H, W) uint8 image."""
        _, h, w = rgb.shape
        out = np.empty((h, w), np.uint8)

        def write(r0: int, r1: int, c0: int, c1: int, labels: np.ndarray) -> None:
            out[r0:r1, c0:c1] = labels

        self.run(h, w, lambda r0, r1, c0, c1: rgb[:, r0:r1, c0:c1], write)
        return out

    def predict_batch(self, images: np.ndarray) -> np.ndarray:
        """Labels (N, h, w) for same-sized images that fit one window: one forward pass, no blending."""
        if images.shape[2] > self.tile or images.shape[3] > self.tile:
            raise ConfigError(f"images of {images.shape[2]}×{images.shape[3]} do not fit one {self.tile}² window.")
        x = np.stack([self.normalise(im) for im in images])
        return self.probabilities(x).argmax(axis=1).astype(np.uint8)


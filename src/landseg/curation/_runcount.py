"""Exact value histogram of a uint8 mask that skips runs eight pixels at a time (numba).

Why hand-written: counting is the only work class statistics add on top of decoding a PNG, and
no library counts label masks fast. Measured on 512² field masks, one core: Pillow's
``histogram`` 0.15 ms, ``cv2.calcHist`` 0.16 ms, ``torch.bincount`` 0.25 ms, ``np.bincount``
~0.5 ms (it widens every pixel to intp), this kernel 0.07 ms. Byte-at-a-time counters are slow
on masks because long runs of one value make every increment wait for the previous one to the
same counter; here a whole 8-byte word equal to the current run's value costs one compare, and
only words where the value changes are counted byte by byte. On noise (a change at nearly every
pixel) it is ~1.4× slower than Pillow, which never happens for class masks.

numba compiles on first use (~1-3 s) and caches the machine code next to this file (or in
``NUMBA_CACHE_DIR``), so later processes load it in milliseconds.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["run_histogram"]

_REPEAT = np.uint64(0x0101010101010101)  # a byte value times this = that byte in all 8 lanes


@numba.njit(cache=True, nogil=True)
def _count(flat: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled; tested via run_histogram
    hist = np.zeros(256, np.int64)
    n = flat.size
    if n == 0:
        return hist
    n_words = n // 8
    words = flat[: n_words * 8].view(np.uint64)
    value = flat[0]
    pattern = np.uint64(value) * _REPEAT
    run = 0  # pixels of `value` seen in whole words since it was last flushed
    for j in range(n_words):
        if words[j] == pattern:
            run += 8
            continue
        hist[value] += run
        run = 0
        for i in range(8 * j, 8 * j + 8):
            hist[flat[i]] += 1
        value = flat[8 * j + 7]
        pattern = np.uint64(value) * _REPEAT
    hist[value] += run
    for i in range(n_words * 8, n):
        hist[flat[i]] += 1
    return hist


def run_histogram(mask: np.ndarray) -> np.ndarray:
    """Pixels per value 0..255 (int64) of a uint8 array of any shape."""
    if mask.dtype != np.uint8:
        raise ValueError(f"expected a uint8 array, got {mask.dtype}.")
    return _count(np.ascontiguousarray(mask).reshape(-1))


def warm_up() -> None:
    """Compile (or load the cached machine code) now, e.g. before forking worker processes."""
    run_histogram(np.zeros(9, np.uint8))

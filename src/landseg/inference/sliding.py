"""Sliding-window prediction for tiles larger than the model was trained on.

Why: a model trained on 512-pixel crops sees a different context (and needs far more memory)
when run on a 2048-pixel tile in one pass. Windows of the training size, overlapping so every
pixel away from the border is seen more than once, and logits averaged where windows overlap,
give seamless predictions. A tile no larger than the window is predicted in one pass, exactly as
:func:`~landseg.inference.forward.predict_logits` does.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from landseg.errors import ConfigError
from landseg.inference.forward import predict_logits


def check_window(window: int, overlap: int) -> None:
    """Reject window settings that would never advance or leave pixels unpredicted."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ConfigError(f"window={window!r} (--window) must be a positive number of pixels, e.g. 512.")
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap < window:
        raise ConfigError(f"overlap={overlap!r} (--overlap) must be at least 0 and smaller than the window "
                          f"({window}), e.g. {window // 4}.")


def window_starts(size: int, window: int, overlap: int) -> list[int]:
    """Window offsets along one side: step ``window - overlap``, the last window flush with the end."""
    check_window(window, overlap)
    if size <= window:
        return [0]
    step = window - overlap
    return [*range(0, size - window, step), size - window]


def window_weights(height: int, width: int, overlap: int) -> np.ndarray:
    """``height``×``width`` float32 blending weights: sin² ramps over ``overlap`` px at each edge.

    Strictly positive everywhere, so a pixel that only one window covers (the raster border)
    still gets that window's prediction.
    """

    def ramp(n: int) -> np.ndarray:
        if overlap <= 0:
            return np.ones(n, np.float32)
        i = np.arange(n, dtype=np.float64) + 0.5
        r = np.minimum(1.0, np.minimum(i, n - i) / overlap)
        return (np.sin(0.5 * np.pi * r) ** 2).astype(np.float32)

    return np.outer(ramp(height), ramp(width))


@torch.inference_mode()
def predict_sliding(model: nn.Module, images: torch.Tensor, window: int, overlap: int = 128,
                    precision: str = "32") -> torch.Tensor:
    """Float32 logits (N, C, H, W) for normalised images (N, 3, H, W), window by window.

    Logits of overlapping windows are blended with :func:`window_weights` (sin² ramps over the
    overlap), the same rule ``landseg predict``'s streaming :class:`~landseg.inference.tiling.Tiler`
    applies to probabilities, so a window's edge, where it sees least context, counts least. Windows
    whose sides are not multiples of 32 are padded by :func:`predict_logits` as usual. With
    ``window`` ≥ both sides the result *is* ``predict_logits(model, images, precision)``.
    """
    h, w = images.shape[-2:]
    tops, lefts = window_starts(h, window, overlap), window_starts(w, window, overlap)
    if len(tops) == 1 and len(lefts) == 1:
        return predict_logits(model, images, precision=precision)
    wh, ww = min(window, h), min(window, w)
    weight = torch.from_numpy(window_weights(wh, ww, overlap)).to(images.device)
    sums: torch.Tensor | None = None
    total = torch.zeros((1, 1, h, w), device=images.device)
    for top in tops:
        for left in lefts:
            logits = predict_logits(model, images[..., top:top + wh, left:left + ww], precision=precision)
            if sums is None:
                sums = logits.new_zeros((images.shape[0], logits.shape[1], h, w))
            sums[..., top:top + wh, left:left + ww] += logits * weight
            total[..., top:top + wh, left:left + ww] += weight
    assert sums is not None  # at least one window always runs
    return sums / total

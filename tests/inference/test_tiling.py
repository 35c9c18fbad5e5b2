"""Streaming sliding windows: exact placement, blending, bands, TTA, and no seams with a real model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from landseg.data.synth_scene import build_scene, paint_scene
from landseg.errors import ConfigError
from landseg.inference.sliding import window_weights
from landseg.inference.tiling import Tiler, column_bands, tta_predict

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def pixelwise(batch: np.ndarray) -> np.ndarray:
    """A 'model' that looks at each pixel alone: tiling must reproduce it exactly."""
    w = np.array([[1.0, -2.0, 0.5], [-1.0, 1.5, 0.3], [0.2, 0.1, -1.2], [0.7, -0.4, 0.9]], np.float32)
    logits = np.einsum("kc,nchw->nkhw", w, batch)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def direct(rgb: np.ndarray) -> np.ndarray:
    t = Tiler(pixelwise, MEAN, STD, 4)
    return pixelwise(t.normalise(rgb)[None])[0].argmax(0)


@pytest.mark.parametrize(("h", "w", "tile", "overlap", "band"), [
    (200, 530, 64, 16, 256),   # several bands, last window flush with the edge
    (50, 40, 64, 16, 8192),    # smaller than one window
    (64, 64, 64, 0, 8192),     # exactly one window, no overlap
    (130, 700, 96, 95, 256),   # overlap one pixel short of the window
])
def test_streaming_reproduces_a_per_pixel_model_exactly(h: int, w: int, tile: int, overlap: int, band: int) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (3, h, w), dtype=np.uint8)
    tiler = Tiler(pixelwise, MEAN, STD, 4, tile=tile, overlap=overlap, batch_size=3, band_width=band)
    written = np.full((h, w), 99, np.uint8)
    calls = []

    def write(r0: int, r1: int, c0: int, c1: int, labels: np.ndarray) -> None:
        assert (written[r0:r1, c0:c1] == 99).all(), "a pixel was written twice"
        written[r0:r1, c0:c1] = labels
        calls.append((r1 - r0, c1 - c0))

    reads = []

    def read(r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        reads.append(r1 - r0)
        return rgb[:, r0:r1, c0:c1]

    tiler.run(h, w, read, write)
    np.testing.assert_array_equal(written, direct(rgb))
    assert max(reads) <= tile  # never more than one strip of windows in memory
    assert sum(r for r, c in calls if c) == h * len(column_bands(w, tiler.band_width))


def test_bands_do_not_change_the_result_of_a_context_model() -> None:
    """A model whose output depends on its whole window: any band width gives the same map."""

    def contextual(batch: np.ndarray) -> np.ndarray:
        m = batch.mean(axis=(2, 3), keepdims=True)
        return pixelwise(batch - m)

    rgb = np.random.default_rng(1).integers(0, 256, (3, 150, 900), dtype=np.uint8)
    maps = [Tiler(contextual, MEAN, STD, 4, tile=64, overlap=24, band_width=b).predict_image(rgb)
            for b in (256, 512, 8192)]
    np.testing.assert_array_equal(maps[0], maps[2])
    np.testing.assert_array_equal(maps[1], maps[2])


def test_window_weights_taper_smoothly_and_stay_positive() -> None:
    w = window_weights(64, 48, 16)
    assert w.shape == (64, 48) and w.min() > 0 and w.max() == pytest.approx(1.0)
    assert w[32, 24] == 1.0 and w[0, 0] < 0.01
    np.testing.assert_allclose(w, w[::-1, ::-1])  # symmetric
    assert np.all(np.diff(w[:16, 24]) > 0)  # rises over the overlap
    assert (window_weights(8, 8, 0) == 1).all()


@pytest.mark.parametrize("mode", ["flip", "d4"])
def test_tta_maps_each_view_back(mode: str) -> None:
    batch = np.random.default_rng(2).normal(size=(2, 3, 32, 32)).astype(np.float32)
    # An equivariant model gives the same probabilities under any TTA only if every view is undone.
    np.testing.assert_allclose(tta_predict(pixelwise, batch, mode), pixelwise(batch), atol=1e-6)

    def left_biased(x: np.ndarray) -> np.ndarray:  # not equivariant: depends on the column
        p = pixelwise(x)
        p[:, 0] += np.linspace(0, 1, x.shape[3], dtype=np.float32)
        return p / p.sum(axis=1, keepdims=True)

    assert not np.allclose(tta_predict(left_biased, batch, mode), left_biased(batch), atol=1e-3)
    with pytest.raises(ConfigError, match="tta"):
        tta_predict(pixelwise, batch, "d8")


def test_bad_window_settings_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="overlap"):
        Tiler(pixelwise, MEAN, STD, 4, tile=64, overlap=64)
    with pytest.raises(ConfigError, match="batch size"):
        Tiler(pixelwise, MEAN, STD, 4, batch_size=0)


def test_no_seams_with_a_real_model(tiny_checkpoint: Path) -> None:
    """FT-UNetFormer sees different context in a window than in the whole image; with overlap and
    blending, pixels on window borders agree with a single whole-image pass as well as others do.
    Without overlap (GeoSeg's huge-image script) they visibly do not: the check can fail."""
    from landseg.inference.runners import open_predictor

    torch.manual_seed(0)
    predictor = open_predictor(tiny_checkpoint, precision="32")
    rng = np.random.default_rng(0)
    rgb = paint_scene(rng, build_scene(rng, 256)).transpose(2, 0, 1)
    blended = Tiler(predictor, predictor.mean, predictor.std, 6, tile=64, overlap=32, batch_size=8)
    whole = predictor(blended.normalise(rgb)[None])[0].argmax(0)
    border = np.zeros((256, 256), bool)
    for k in range(64, 256, 64):
        border[:, k - 2 : k + 2] = border[k - 2 : k + 2, :] = True

    def agreement(overlap: int) -> tuple[float, float]:
        tiler = Tiler(predictor, predictor.mean, predictor.std, 6, tile=64, overlap=overlap, batch_size=8)
        same = tiler.predict_image(rgb) == whole
        return float(same[border].mean()), float(same[~border].mean())

    at_border, inside = agreement(32)
    assert at_border >= 0.95 and at_border >= inside - 0.02, (at_border, inside)
    naive_border, naive_inside = agreement(0)
    assert naive_border < 0.9 and naive_border < naive_inside - 0.1, (naive_border, naive_inside)

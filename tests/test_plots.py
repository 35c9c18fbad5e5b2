"""Plots: confusion-matrix PNGs and colour previews."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from landseg.classes import BIODIVERSITY
from landseg.plots import colorize_mask, confusion_matrix_figure, overlay, plot_confusion_matrix

C = len(BIODIVERSITY)
IGNORE = BIODIVERSITY.ignore_index


def _confmat() -> np.ndarray:
    rng = np.random.default_rng(0)
    cm = rng.integers(0, 500, size=(C, C)) + np.diag(rng.integers(1000, 50_000, size=C))
    cm[5] = 0  # a class with no truth pixels must not break the plot
    return cm


@pytest.mark.parametrize("normalize", ["true", None])
def test_plot_confusion_matrix_writes_png(tmp_path, normalize):
    out = plot_confusion_matrix(
        torch.as_tensor(_confmat()), BIODIVERSITY, tmp_path / "sub" / "cm.png", normalize=normalize
    )
    assert out == tmp_path / "sub" / "cm.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 10_000 < out.stat().st_size < 2_000_000
    with Image.open(out) as im:
        w, h = im.size
    assert 700 < w < 2500 and 700 < h < 2500


def test_confusion_matrix_figure_validates_shape():
    fig = confusion_matrix_figure(_confmat(), BIODIVERSITY, title="val")
    assert fig.axes[0].get_title() == "val"
    with pytest.raises(ValueError, match="class table"):
        confusion_matrix_figure(np.zeros((3, 3)), BIODIVERSITY)


def test_colorize_maps_classes_and_ignore():
    mask = np.array([[0, 1, 2], [3, 4, 5], [IGNORE, 1, 0]], dtype=np.uint8)
    rgb = colorize_mask(mask, BIODIVERSITY)
    assert rgb.shape == (3, 3, 3) and rgb.dtype == np.uint8
    for (i, j), label in np.ndenumerate(mask):
        expected = (255, 255, 255) if label == IGNORE else BIODIVERSITY.colors[label]
        assert tuple(rgb[i, j]) == expected
    assert np.array_equal(colorize_mask(torch.as_tensor(mask.astype(np.int64)), BIODIVERSITY), rgb)


def test_overlay_blends_labelled_pixels_only():
    image = np.full((2, 2, 3), 100, dtype=np.uint8)
    mask = np.array([[1, IGNORE], [4, 0]])
    out = overlay(image, mask, BIODIVERSITY, alpha=0.5)
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3)
    assert tuple(out[0, 1]) == (100, 100, 100)
    expected = np.rint(0.5 * 100 + 0.5 * np.array(BIODIVERSITY.colors[1]))
    assert np.array_equal(out[0, 0], expected)
    assert np.array_equal(overlay(image, mask, BIODIVERSITY, alpha=0.0), image)
    with pytest.raises(ValueError, match="uint8"):
        overlay(image.astype(np.float32), mask, BIODIVERSITY)

"""Per-model settings a checkpoint may not record (normalisation, stride, tile), like timm's pretrained configs.

Torch-free, so configs and data transforms can name the defaults without importing a model. The
registry (:mod:`landseg.models.registry`) keeps each registered model's entry; everything that needs
a model's mean, std, stride or tile size asks ``registry.model_defaults`` instead of repeating numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_STRIDE", "DEFAULT_TILE", "IMAGENET_MEAN", "IMAGENET_STD", "ModelDefaults"]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
#: Every landseg model downsamples by 32: inputs are padded to a multiple of it.
DEFAULT_STRIDE = 32
#: The tile size GeoSeg's recipes train and predict at (a GeoSeg checkpoint records none).
DEFAULT_TILE = 512


@dataclass(frozen=True)
class ModelDefaults:
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    stride: int = DEFAULT_STRIDE
    tile: int = DEFAULT_TILE

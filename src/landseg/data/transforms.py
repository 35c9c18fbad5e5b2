"""Training and validation transforms in the one format the data layer uses.

Every transform here is a callable ``(image uint8 HxWx3, mask uint8 HxW) -> (float32 tensor 3xHxW,
int64 tensor HxW)``, so datasets, training and inference never care which pipeline they got.

Seeding (albumentations 2.0.x keeps its own RNG; ``np.random.seed``/``torch.manual_seed`` do not
reach it):

* ``A.Compose(..., seed=s)`` is *not* used: in 2.0.x it seeds every child transform with the same
  seed, so e.g. HorizontalFlip and VerticalFlip draw identical numbers and always fire together
  (no pure reflections are ever produced). Instead :meth:`PairTransform.reseed` hands one shared
  ``numpy.random.Generator`` and ``random.Random`` to all steps via ``Compose.set_random_state``.
* Inside a ``DataLoader`` worker each worker holds a copy of the transform; without reseeding all
  workers (and, with non-persistent workers, all epochs) would replay the same augmentations.
  :class:`PairTransform` therefore reseeds itself on its first call in a worker from
  ``get_worker_info().seed`` (which torch derives from its global seed / the loader's
  ``generator``, and which changes every epoch) mixed with the transform's own ``seed``. So
  ``torch.manual_seed(s)`` before building the loader makes multi-worker runs reproducible, with
  no ``worker_init_fn`` needed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import albumentations as A
import cv2
import numpy as np
import torch
from albumentations.augmentations.crops.transforms import BaseCrop
from torch.utils.data import get_worker_info

from landseg.classes import DEFAULT_IGNORE_INDEX
from landseg.models.defaults import IMAGENET_MEAN, IMAGENET_STD


class ClassMixCrop(BaseCrop):
    """Random crop that re-draws crops dominated by one class (GeoSeg's ``SmartCropV1``).

    Why: rural tiles are mostly grass or cropland, so plain random crops often hold a single class
    and teach the model nothing about boundaries or rarer classes. A crop is accepted when it has
    at least ``min_classes`` labelled classes and no class covers more than ``max_class_ratio`` of
    its labelled (non-ignore) pixels. Up to ``max_retries`` extra crops are drawn; if all fail the
    last one is kept, so a tile that really is one class still yields a sample. The image must
    already be at least the crop size (pad first).
    """

    def __init__(
        self,
        height: int,
        width: int,
        ignore_index: int = DEFAULT_IGNORE_INDEX,
        max_retries: int = 10,
        min_classes: int = 2,
        max_class_ratio: float = 0.75,
        p: float = 1.0,
    ) -> None:
        super().__init__(p=p)
        self.height = height
        self.width = width
        self.ignore_index = ignore_index
        self.max_retries = max_retries
        self.min_classes = min_classes
        self.max_class_ratio = max_class_ratio

    def is_mixed(self, mask: np.ndarray) -> bool:
        """Whether a mask crop holds enough classes with none dominating."""
        counts = np.bincount(mask.ravel(), minlength=256)
        if 0 <= self.ignore_index < counts.size:
            counts[self.ignore_index] = 0
        counts = counts[counts > 0]
        if counts.size < self.min_classes:
            return False
        return counts.max() <= self.max_class_ratio * counts.sum()

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        mask = data["mask"]
        h, w = mask.shape[:2]
        if h < self.height or w < self.width:
            raise ValueError(
                f"ClassMixCrop: input {w}x{h} is smaller than the crop {self.width}x{self.height}; "
                "put PadIfNeeded before it."
            )
        for _ in range(max(0, self.max_retries) + 1):
            y = self.py_random.randint(0, h - self.height)
            x = self.py_random.randint(0, w - self.width)
            if self.is_mixed(mask[y : y + self.height, x : x + self.width]):
                break
        return {"crop_coords": (x, y, x + self.width, y + self.height)}

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("height", "width", "ignore_index", "max_retries", "min_classes", "max_class_ratio")


class PairTransform:
    """Wrap an ``A.Compose`` into the project's ``(image, mask) -> (tensor, tensor)`` callable.

    Owns the seeding policy described in the module docstring.
    """

    def __init__(self, compose: A.Compose, seed: int | None = None) -> None:
        self.compose = compose
        self.seed = seed
        self._worker_seed: int | None = None
        self.reseed(seed)

    def reseed(self, seed: int | None) -> None:
        """Restart the random stream; the same seed replays the same augmentations."""
        self.compose.set_random_state(np.random.default_rng(seed), random.Random(seed))

    def _follow_worker_seed(self) -> None:
        info = get_worker_info()
        if info is None or info.seed == self._worker_seed:
            return
        self._worker_seed = info.seed
        entropy = [info.seed] if self.seed is None else [info.seed, self.seed]
        self.reseed(int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0]))

    def __call__(self, image: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected a uint8 HxWx3 image, got {image.dtype} {image.shape}")
        if mask.dtype != np.uint8 or mask.shape != image.shape[:2]:
            raise ValueError(f"expected a uint8 mask of shape {image.shape[:2]}, got {mask.dtype} {mask.shape}")
        self._follow_worker_seed()
        out = self.compose(image=image, mask=mask)
        img = torch.from_numpy(np.ascontiguousarray(out["image"].transpose(2, 0, 1), dtype=np.float32))
        return img, torch.from_numpy(out["mask"].astype(np.int64))

    def __repr__(self) -> str:
        return f"PairTransform(seed={self.seed}, {self.compose!r})"


def _normalize(mean: Sequence[float], std: Sequence[float]) -> A.Normalize:
    return A.Normalize(mean=tuple(mean), std=tuple(std), max_pixel_value=255.0, p=1.0)


def train_transform(
    crop_size: int = 512,
    scale_range: tuple[float, float] = (0.75, 1.5),
    ignore_index: int = DEFAULT_IGNORE_INDEX,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    max_crop_retries: int = 10,
    min_classes: int = 2,
    *,
    max_class_ratio: float = 0.75,
    seed: int | None = None,
) -> PairTransform:
    """Random scale, pad, class-mixing crop, flips/rot90, normalisation (GeoSeg's LoveDA recipe).

    Padding fills the image with 0 and the mask with ``ignore_index`` so padded pixels never count
    in the loss. ``max_crop_retries=0`` gives a plain random crop.
    """
    lo, hi = scale_range
    if not 0 < lo <= hi:
        raise ValueError(f"scale_range must be (low, high) with 0 < low <= high, got {scale_range}")
    steps = [
        A.RandomScale(scale_limit=(lo - 1.0, hi - 1.0), interpolation=cv2.INTER_LINEAR,
                      mask_interpolation=cv2.INTER_NEAREST, p=1.0),
        A.PadIfNeeded(min_height=crop_size, min_width=crop_size, border_mode=cv2.BORDER_CONSTANT,
                      fill=0, fill_mask=ignore_index),
        ClassMixCrop(crop_size, crop_size, ignore_index=ignore_index, max_retries=max_crop_retries,
                     min_classes=min_classes, max_class_ratio=max_class_ratio),
        A.HorizontalFlip(p=0.5),
        A.VerticalFlip(p=0.5),
        A.RandomRotate90(p=1.0),
        _normalize(mean, std),
    ]
    return PairTransform(A.Compose(steps), seed=seed)


def val_transform(mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> PairTransform:
    """Normalisation only: validation, test and inference see whole, unaltered tiles."""
    return PairTransform(A.Compose([_normalize(mean, std)]))

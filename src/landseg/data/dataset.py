"""Serve image/mask pairs as samples in the one format used everywhere.

A sample is ``{"image": float32 tensor 3xHxW, "mask": int64 tensor HxW, "name": file stem}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from landseg.classes import BIODIVERSITY, ClassTable
from landseg.data.files import (  # noqa: F401  (re-exported: the public data API)
    IMAGE_SUFFIXES,
    MASK_SUFFIX,
    Pair,
    Transform,
    available_splits,
    check_mask_values,
    check_same_size,
    find_pairs,
    image_size,
    read_image,
    read_mask,
)
from landseg.data.transforms import val_transform

# --------------------------------------------------------------------------- dataset


class SegmentationDataset(Dataset):
    """Image/mask pairs from :func:`find_pairs`, validated and served as sample dicts.

    Cheap checks (files readable, image and mask sizes equal) run up front when ``check`` is true so
    a bad tile fails before training starts; pixel-value checks run on every ``__getitem__``
    because they need the decoded mask.
    """

    def __init__(
        self,
        root: str | Path,
        split: str | None = None,
        *,
        classes: ClassTable = BIODIVERSITY,
        transform: Transform | None = None,
        image_dir: str = "images_png",
        mask_dir: str = "masks_png",
        require_masks: bool = True,
        check: bool = True,
    ) -> None:
        if not 0 <= classes.ignore_index <= 255:
            raise ValueError(f"ignore_index {classes.ignore_index} cannot be stored in 8-bit masks; use 0..255.")
        self.root = Path(root)
        self.split = split
        self.classes = classes
        self.transform: Transform = transform if transform is not None else val_transform()
        self.pairs: list[Pair] = find_pairs(root, split, image_dir, mask_dir, require_masks)
        self.names: list[str] = [image.stem for image, _ in self.pairs]
        self._index = {name: i for i, name in enumerate(self.names)}
        if check:
            self.check_sizes()

    def check_sizes(self) -> None:
        """Header-only pass: every file opens and each mask matches its image's size."""
        for image, mask in self.pairs:
            image_wh = image_size(image, "image")
            if mask is not None:
                check_same_size(image, image_wh, mask, image_size(mask, "mask"))

    def __len__(self) -> int:
        return len(self.pairs)

    def mask_path_for(self, name: str) -> Path | None:
        """Mask file of the sample called ``name`` (``None`` for an unlabelled sample)."""
        try:
            return self.pairs[self._index[name]][1]
        except KeyError:
            raise KeyError(f"no sample named {name!r} in {self.root} (split {self.split!r}).") from None

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw, validated ``(image uint8 HxWx3, mask uint8 HxW)`` before any transform."""
        image_path, mask_path = self.pairs[index]
        image = read_image(image_path)
        if mask_path is None:
            return image, np.full(image.shape[:2], self.classes.ignore_index, dtype=np.uint8)
        mask = read_mask(mask_path)
        check_same_size(image_path, image.shape[1::-1], mask_path, mask.shape[1::-1])
        check_mask_values(mask, self.classes, mask_path)
        return image, mask

    def __getitem__(self, index: int) -> dict[str, Any]:
        image, mask = self.load(index)
        image_t, mask_t = self.transform(image, mask)
        return {
            "image": torch.as_tensor(image_t, dtype=torch.float32),
            "mask": torch.as_tensor(mask_t, dtype=torch.int64),
            "name": self.names[index],
        }

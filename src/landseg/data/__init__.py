"""Data layer: find image/mask pairs, read and validate them, and augment them.

Exports load lazily so torch-free users (curation commands, ``landseg.data.files``) start fast.
"""

from __future__ import annotations

from landseg.utils import lazy_exports

_EXPORTS = {
    "SegmentationDataset": "landseg.data.dataset",
    "find_pairs": "landseg.data.files",
    "read_image": "landseg.data.files",
    "read_mask": "landseg.data.files",
    "IMAGENET_MEAN": "landseg.models.defaults",
    "IMAGENET_STD": "landseg.models.defaults",
    "train_transform": "landseg.data.transforms",
    "val_transform": "landseg.data.transforms",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)

"""Data layer: find image/mask pairs, read and validate them, and augment them."""

from landseg.data.dataset import SegmentationDataset, find_pairs, read_image, read_mask
from landseg.data.transforms import IMAGENET_MEAN, IMAGENET_STD, train_transform, val_transform

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SegmentationDataset",
    "find_pairs",
    "read_image",
    "read_mask",
    "train_transform",
    "val_transform",
]

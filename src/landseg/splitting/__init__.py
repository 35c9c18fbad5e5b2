"""Leakage-free evaluation splits: tiles grouped into spatial blocks, with a buffer between splits.

``split_dataset`` writes the split; :mod:`landseg.splitting.leakage` checks any split for shared ground.
"""

from landseg.splitting.georef import Georef, GridPattern, load_georefs, metric_boxes, near_pairs, tile_georef
from landseg.splitting.split import SPLIT_MANIFEST, SplitResult, allocate, parse_ratios, split_dataset

__all__ = [
    "SPLIT_MANIFEST",
    "Georef",
    "GridPattern",
    "SplitResult",
    "allocate",
    "load_georefs",
    "metric_boxes",
    "near_pairs",
    "parse_ratios",
    "split_dataset",
    "tile_georef",
]

"""Remap the masks of a LoveDA-layout or flat dataset through a class mapping into a new folder.

The input layout is kept (DATASET/Train/Rural/images_png -> OUT/Train/Rural/images_png); images
are hard-linked or copied byte for byte, masks are rewritten with the mapped class indices (mode L
PNG), and OUT/manifest.csv lists every pair with its source files and the mask's sha256. A mask
code the mapping does not define is an error naming the file; every mask is checked before
anything is written. A non-empty OUT is refused unless it holds this same remap (then resumed).

Examples:
  landseg remap data/LoveDA --mapping config/mappings/loveda_to_biodiversity.yaml --out data/loveda_bio
  landseg remap data/LoveDA --split Train/Rural --mapping config/mappings/loveda_to_biodiversity.yaml \\
      --out data/loveda_bio_rural --prefix loveda_
"""

from __future__ import annotations

import argparse

NAME = "remap"
HELP = "rewrite a dataset's masks through a class mapping into a new folder (same layout)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="dataset folder (LoveDA layout or flat images_png/masks_png)")
    p.add_argument("--mapping", required=True, help="class mapping YAML, e.g. config/mappings/loveda_to_biodiversity.yaml")
    p.add_argument("--out", required=True, help="new (or empty) output folder; an earlier run of the same remap resumes")
    p.add_argument("--split", default=None, help="only this split, e.g. Train or Train/Rural (default: all)")
    p.add_argument("--prefix", default="", help="prefix for output file names, e.g. loveda_")
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from landseg.curation.remap import remap_dataset

    res = remap_dataset(args.dataset, args.mapping, args.out, split=args.split, prefix=args.prefix,
                        workers=args.workers, progress=not args.no_progress)
    print(res.report())
    return 0
